//! Exposed to a network: header and idle timeouts and connection caps on every listener, the
//! open-file limit, listeners switched off, private data files, plain logs, process metrics.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Waits until the server closes `s` (EOF or reset); returns how long that took, or `None`
/// if it was still open after `limit`. Whatever the server sends first is read and dropped.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((t + limit).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends one HTTP/1.1 request on `s` and reads the status line of its answer.
async fn http_status(s: &mut TcpStream, path: &str) -> Option<String> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the header and the (small) body are in: enough to see the status line.
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    // The health body is short; give it a moment so it does not count as the next read.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = String::from_utf8_lossy(&got);
    text.lines().next().map(str::to_string)
}

fn admin_addr(srv: &TestServer) -> SocketAddr {
    crate::admin_api::admin_addr(srv)
}

#[tokio::test]
async fn http_listeners_close_silent_slow_and_idle_connections() {
    let srv = TestServer::start_with(|raw| {
        raw.admin.header_timeout_secs = Some(1);
        raw.admin.idle_timeout_secs = Some(3);
        raw.s3.header_timeout_secs = Some(1);
    })
    .await;
    // Connected, never a byte: closed after the header timeout.
    let mut silent = TcpStream::connect(srv.addr).await.expect("connect");
    let t = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("a silent connection is closed");
    assert!(t >= Duration::from_millis(800), "closed too early: {t:?}");

    // A header trickled a line at a time never completes in time: closed ~1 s after its first
    // byte although bytes keep coming.
    let mut slow = TcpStream::connect(admin_addr(&srv)).await.expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET /api/health HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut closed = false;
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow
            .write_all(format!("x-slow-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
    }
    if !closed {
        closed = closed_within(&mut slow, Duration::from_millis(500))
            .await
            .is_some();
    }
    assert!(closed, "a trickled header kept the connection open");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Keep-alive: between requests the idle bound (3 s) applies, not the header bound.
    let mut keep = TcpStream::connect(admin_addr(&srv)).await.expect("connect");
    assert_eq!(
        http_status(&mut keep, "/api/health").await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        http_status(&mut keep, "/api/health").await.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "idle for longer than the header timeout, still open"
    );
    let t = closed_within(&mut keep, Duration::from_secs(6))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        t >= Duration::from_millis(2500),
        "closed after {t:?}, before the idle timeout"
    );
    srv.stop().await;
}

#[tokio::test]
async fn http_connection_cap_makes_new_clients_wait_not_fail() {
    let srv = TestServer::start_with(|raw| {
        raw.admin.max_connections = Some(2);
        raw.admin.header_timeout_secs = Some(30);
    })
    .await;
    let admin = admin_addr(&srv);
    let mut a = TcpStream::connect(admin).await.expect("connect");
    let b = TcpStream::connect(admin).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = tokio::spawn(async move {
        let mut c = TcpStream::connect(admin).await.expect("connect");
        let status = http_status(&mut c, "/api/health").await;
        (status, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served past the cap of 2"
    );
    let freed = Instant::now();
    a.shutdown().await.expect("close");
    drop(a);
    let (status, at) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot is free")
        .expect("task");
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(at >= freed);
    drop(b);
    srv.stop().await;
}

/// One NULL call (program 100003, version 3, procedure 0, AUTH_NONE) as a record.
pub(crate) fn nfs_null_call(xid: u32) -> Vec<u8> {
    let mut body = Vec::new();
    for w in [xid, 0, 2, 100_003, 3, 0, 0, 0, 0, 0] {
        body.extend_from_slice(&w.to_be_bytes());
    }
    let mut rec = (0x8000_0000u32 | body.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&body);
    rec
}

async fn nfs_null_answered(s: &mut TcpStream, xid: u32) -> bool {
    if s.write_all(&nfs_null_call(xid)).await.is_err() {
        return false;
    }
    let mut mark = [0u8; 4];
    if s.read_exact(&mut mark).await.is_err() {
        return false;
    }
    let mut reply = vec![0u8; (u32::from_be_bytes(mark) & 0x7fff_ffff) as usize];
    s.read_exact(&mut reply).await.is_ok() && reply.get(..4) == Some(&xid.to_be_bytes()[..])
}

#[tokio::test]
async fn nfs_closes_idle_connections_and_caps_them() {
    let srv = TestServer::start_with(|raw| {
        raw.nfs.idle_timeout_secs = Some(1);
        raw.nfs.max_connections = Some(1);
    })
    .await;
    let mut first = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    assert!(nfs_null_answered(&mut first, 1).await);
    // The cap is one: a second client waits while the first is open...
    let nfs = srv.nfs_addr;
    let second = tokio::spawn(async move {
        let mut s = TcpStream::connect(nfs).await.expect("connect");
        let ok = nfs_null_answered(&mut s, 2).await;
        (ok, s)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!second.is_finished(), "served past the cap of 1");
    // ...until the idle first one is closed (1 s), then it is served.
    let t = closed_within(&mut first, Duration::from_secs(4))
        .await
        .expect("an idle nfs connection is closed");
    assert!(t >= Duration::from_millis(300), "closed after {t:?}");
    let (ok, mut s) = tokio::time::timeout(Duration::from_secs(4), second)
        .await
        .expect("served once the first closed")
        .expect("task");
    assert!(ok, "NULL answered");
    // A connection with calls going on is not idle: calls every 600 ms for 2 s keep it.
    for xid in 3..6 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(nfs_null_answered(&mut s, xid).await, "call {xid}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn listeners_switched_off_bind_nothing() {
    // Something else holds a port: a server told to use it for NFS cannot start...
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tmp");
    let overrides = |nfs: String| gatehouse::config::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        s3_listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("off".into()),
        nfs_listen: Some(nfs),
    };
    let cfg = gatehouse::config::RawConfig::default()
        .validate(&overrides(format!("127.0.0.1:{port}")))
        .expect("config");
    let err = match gatehouse::app::start(cfg).await {
        Ok(_) => panic!("started on a port in use"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("NFS listener"), "{err}");
    // ...and one with NFS and admin off starts beside it and serves S3.
    let cfg = gatehouse::config::RawConfig::default()
        .validate(&overrides("off".into()))
        .expect("config");
    let running = gatehouse::app::start(cfg).await.expect("starts");
    assert_eq!((running.nfs_addr, running.admin_addr), (None, None));
    let (ak, sk) = read_credentials(&dir.path().join("admin.credentials"));
    let s3 = running.s3_addr.expect("S3 on");
    client_with(s3, &ak, &sk)
        .list_buckets()
        .send()
        .await
        .expect("S3 answers");
    running.shutdown().await;
}

/// The built binary, started through `sh -c '<prefix>; exec gatehouse serve …'`, its stderr
/// collected. Killed when dropped.
/// The real binary, started by `sh -c PREFIX; exec gatehouse serve ...` on a data directory of
/// its own, its stderr collected.
pub(crate) struct Spawned {
    child: std::process::Child,
    stderr: Arc<Mutex<String>>,
    s3: SocketAddr,
    admin: SocketAddr,
    data: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Spawned {
    pub(crate) fn start(prefix: &str, yaml: &str, args: &[&str]) -> Spawned {
        Self::start_in(tempfile::tempdir().expect("tmp"), prefix, yaml, args)
    }

    /// [`Spawned::start`] on `dir` (its `data` and `config.yaml`), e.g. one a killed server left.
    pub(crate) fn start_in(
        dir: tempfile::TempDir,
        prefix: &str,
        yaml: &str,
        args: &[&str],
    ) -> Spawned {
        let data = dir.path().join("data");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).expect("config");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{prefix}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--s3-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let pipe = child.stderr.take().expect("stderr");
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    // Kept before it is announced: whoever hears of the start line finds it
                    // in the log.
                    {
                        let mut s = stderr.lock().expect("lock");
                        s.push_str(&line);
                        s.push('\n');
                    }
                    if line.contains("gatehouse serving") {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no start line: {}", stderr.lock().expect("lock")));
        let addr = |field: &str| -> SocketAddr {
            let at = line.find(&format!("{field}=")).expect(field) + field.len() + 1;
            line[at..]
                .split_whitespace()
                .next()
                .expect("value")
                .parse()
                .expect("address")
        };
        Spawned {
            s3: addr("s3_addr"),
            admin: addr("admin_addr"),
            child,
            stderr,
            data,
            dir: Some(dir),
        }
    }

    pub(crate) fn log(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// SIGKILL, as `kill -9`: no shutdown runs. Returns the directory for a restart.
    pub(crate) fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().expect("dir")
    }

    pub(crate) fn client(&self) -> aws_sdk_s3::Client {
        let (ak, sk) = read_credentials(&self.data.join("admin.credentials"));
        client_with(self.s3, &ak, &sk)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn under_umask_022_data_is_private_logs_are_plain_and_metrics_have_the_process() {
    let srv = Spawned::start("umask 022", "", &["--nfs-listen", "off"]);
    let c = srv.client();
    c.create_bucket()
        .bucket("private-bits")
        .send()
        .await
        .expect("mb");
    c.put_object()
        .bucket("private-bits")
        .key("big")
        .body(ByteStream::from(bytes(300 << 10, 3)))
        .send()
        .await
        .expect("put");
    assert_eq!(mode(&srv.data), 0o700, "data dir");
    assert_eq!(mode(&srv.data.join("meta.redb")), 0o600, "meta.redb");
    let blobs = srv.data.join("blobs");
    assert_eq!(mode(&blobs), 0o700, "blobs");
    assert_eq!(mode(&blobs.join("tmp")), 0o700, "blobs/tmp");
    let mut chunks = Vec::new();
    let mut stack = vec![blobs.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
                stack.push(p);
            } else {
                chunks.push(p);
            }
        }
    }
    assert!(!chunks.is_empty(), "a 300 KiB object wrote chunk files");
    for f in &chunks {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    let metrics = reqwest::get(format!("http://{}/metrics", srv.admin))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .parse()
            .expect("a number");
        // CPU time is counted in clock ticks (10 ms): a fresh server may not have used one yet
        // (seen once in a full run), so for it only present and not negative.
        let least = if name == "process_cpu_seconds_total" {
            0.0
        } else {
            f64::MIN_POSITIVE
        };
        assert!(value >= least, "{name} = {value}");
    }
    let rss: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.parse().ok())
        .expect("rss");
    assert!(rss > 1e6, "a running server holds more than 1 MB: {rss}");
    let start: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_start_time_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("start");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - start).abs() < 120.0,
        "started just now: {start} vs {now}"
    );
    // Another request after the scrape, so its log line is surely written.
    let health = reqwest::get(format!("http://{}/api/info", srv.admin))
        .await
        .expect("info");
    assert!(health.status().is_success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = srv.log();
    assert!(log.contains("path=/api/info"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI escapes in a piped log:\n{log}");
    assert!(
        !log.contains("path=/metrics"),
        "a scrape is logged at info:\n{log}"
    );
    assert!(log.contains("the NFS listener is off"), "{log}");
}

#[tokio::test]
async fn idle_sockets_past_the_open_file_limit_do_not_starve_other_clients() {
    // This test opens 600 sockets itself.
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|n| n < 2048) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        );
    }
    let srv = Spawned::start(
        "ulimit -n 512",
        "s3:\n  header_timeout_secs: 1\n",
        &["--nfs-listen", "off"],
    );
    assert!(srv.log().contains("open_files=512"), "{}", srv.log());
    let mut idle = Vec::new();
    for _ in 0..600 {
        idle.push(TcpStream::connect(srv.s3).await.expect("connect"));
    }
    let t = Instant::now();
    // Another client: its signed request and the health check are answered.
    let health = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::get(format!("http://{}/api/health", srv.admin)),
    )
    .await
    .expect("health answered in time")
    .expect("health");
    assert!(health.status().is_success());
    tokio::time::timeout(Duration::from_secs(30), srv.client().list_buckets().send())
        .await
        .expect("signed request answered in time")
        .expect("list buckets");
    eprintln!("answered {:?} after 600 idle sockets", t.elapsed());
    // The idle ones were closed by the server.
    let closed = closed_within(&mut idle[0], Duration::from_secs(3)).await;
    assert!(closed.is_some(), "an idle socket is still open");
    assert!(
        srv.log().contains("connection limit"),
        "the cap was reached and said so"
    );
}

#[tokio::test]
async fn a_silent_tls_connection_is_closed_within_the_header_timeout() {
    let certs = tempfile::tempdir().expect("tmp");
    if crate::tls::make_certs(certs.path()).is_none() {
        eprintln!("SKIPPED: openssl not installed (the CI installs it)");
        return;
    }
    let srv = TestServer::start_with(|raw| {
        raw.tls = Some(gatehouse::config::RawTls {
            cert_file: certs.path().join("cert.pem"),
            key_file: certs.path().join("key.pem"),
        });
        raw.s3.header_timeout_secs = Some(1);
    })
    .await;
    // No ClientHello: the handshake's bound is the header timeout (1 s), not 10 s.
    let mut silent = TcpStream::connect(srv.addr).await.expect("connect");
    let t = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        t >= Duration::from_millis(800) && t < Duration::from_secs(3),
        "{t:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn running_out_of_descriptors_backs_off_and_keeps_serving() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|n| n < 2048) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        );
    }
    // A cap above the limit (configured so): accept runs into EMFILE.
    let srv = Spawned::start(
        "ulimit -n 256",
        "s3:\n  header_timeout_secs: 3\n  max_connections: 2000\n",
        &["--nfs-listen", "off"],
    );
    assert!(
        srv.log().contains("add up to the open-file limit"),
        "{}",
        srv.log()
    );
    let t = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(TcpStream::connect(srv.s3).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The idle ones time out, the loop accepts again: a signed request is answered.
    tokio::time::timeout(Duration::from_secs(30), srv.client().list_buckets().send())
        .await
        .expect("answered in time")
        .expect("list buckets");
    let log = srv.log();
    let failures = log.matches("accept failed").count();
    assert!(failures >= 1, "EMFILE was reached:\n{log}");
    let secs = t.elapsed().as_secs() as usize;
    assert!(
        failures <= secs + 2,
        "{failures} accept-failure lines in {secs} s: not rate-limited"
    );
    drop(idle);
}

/// Access lines (target `access`, apart from the operational log): `log.access_every: N` writes
/// one for one request in N and for every failed request; 0 writes none, failures included.
#[tokio::test]
async fn access_lines_follow_log_access_every() {
    async fn traffic(srv: &Spawned) {
        let c = srv.client();
        c.create_bucket().bucket("acc").send().await.expect("mb");
        for i in 0..8 {
            c.put_object()
                .bucket("acc")
                .key(format!("k{i}"))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect("put");
        }
        for _ in 0..2 {
            c.get_object()
                .bucket("acc")
                .key("missing")
                .send()
                .await
                .expect_err("404");
        }
    }
    // Lines come through a pipe: wait for `want` (and a little longer, for extras).
    async fn access_lines(srv: &Spawned, want: usize) -> Vec<String> {
        let lines = || -> Vec<String> {
            srv.log()
                .lines()
                .filter(|l| l.contains(" access: "))
                .map(str::to_string)
                .collect()
        };
        let until = Instant::now() + Duration::from_secs(5);
        while lines().len() < want && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        lines()
    }

    let every = Spawned::start("true", "", &["--nfs-listen", "off"]);
    traffic(&every).await;
    assert_eq!(access_lines(&every, 11).await.len(), 11, "{}", every.log());

    let third = Spawned::start(
        "true",
        "log:\n  access_every: 3\n",
        &["--nfs-listen", "off"],
    );
    traffic(&third).await;
    let lines = access_lines(&third, 5).await;
    // Nine successes: the 1st, 4th and 7th; both 404s.
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("status=404")).count(), 2);

    let none = Spawned::start(
        "true",
        "log:\n  access_every: 0\n",
        &["--nfs-listen", "off"],
    );
    traffic(&none).await;
    assert_eq!(access_lines(&none, 1).await, Vec::<String>::new());
    // The operational log is still there.
    assert!(none.log().contains("gatehouse serving"));
}
