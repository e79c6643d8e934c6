//! `gatehouse fsck` as the real binary over a stopped server's data directory: clean after
//! ordinary use, names missing and corrupt chunks per object, repairs what it can, refuses a
//! running server; and a kill -9 in the middle of uploads leaves a consistent store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

fn fsck(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("fsck")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("runs fsck")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                if p.file_name().and_then(|n| n.to_str()) != Some("tmp") {
                    stack.push(p);
                }
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_finds_damage_per_object_and_repairs_what_it_can() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("fsck").send().await.expect("mb");
    for (k, n) in [
        ("small.txt", 100usize),
        ("one.bin", 300 << 10),
        ("two.bin", 2 << 20),
    ] {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + k.len()) as u8).collect();
        c.put_object()
            .bucket("fsck")
            .key(k)
            .body(ByteStream::from(data))
            .send()
            .await
            .expect("put");
    }
    // A running server's data dir is refused.
    let o = tokio::task::spawn_blocking({
        let d = srv.data_dir();
        move || fsck(&d, &[])
    })
    .await
    .expect("join");
    assert!(!o.status.success());
    assert!(text(&o).contains("stop the server"), "{}", text(&o));
    let dir = srv.stop().await;
    let d = dir.path();

    let o = fsck(d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("3 objects") && text(&o).contains("clean"),
        "{}",
        text(&o)
    );

    // An orphan file: reported, not damage; --repair removes it.
    let files = chunk_files(d);
    assert!(files.len() >= 2, "{files:?}");
    let orphan_hash = blake3::hash(b"nobody refers to me");
    let hex = orphan_hash.to_hex();
    let orphan = d
        .join("blobs")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(hex.as_str());
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"nobody refers to me").expect("write");
    let o = fsck(d, &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["orphan_files"], 1, "{v}");
    assert_eq!(
        o.status.code(),
        Some(0),
        "orphans alone are not damage: {}",
        text(&o)
    );
    let o = fsck(d, &["--repair"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!orphan.exists(), "the orphan is gone");
    assert_eq!(chunk_files(d), files, "no referenced chunk was touched");

    // A corrupt chunk and a missing one: damage, named by object key; repair keeps them.
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(victim, &bytes).expect("corrupt");
    let gone = &files[files.len() - 1];
    let saved = std::fs::read(gone).expect("read");
    std::fs::remove_file(gone).expect("remove");
    let o = fsck(d, &["--repair"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("CORRUPT chunk") && t.contains("MISSING chunk") && t.contains("fsck/"),
        "{t}"
    );
    assert!(
        victim.exists(),
        "a referenced chunk is never deleted, even when corrupt"
    );

    // Put the bytes back: clean again, and the server serves every object.
    bytes[0] ^= 0xff;
    std::fs::write(victim, &bytes).expect("fix");
    std::fs::write(gone, &saved).expect("fix");
    let o = fsck(d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let srv = TestServer::start_in(dir).await;
    let got = srv
        .client()
        .get_object()
        .bucket("fsck")
        .key("two.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await.len(), 2 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_uploads_leaves_every_acknowledged_object_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let admin_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--s3-listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .args(["--nfs-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let creds = dir.path().join("admin.credentials");
    for _ in 0..300 {
        if std::fs::read_to_string(&creds).is_ok_and(|s| s.contains("secret"))
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ak, sk) = read_credentials(&creds);
    let c = client_with(format!("127.0.0.1:{port}").parse().expect("addr"), &ak, &sk);
    c.create_bucket().bucket("crash").send().await.expect("mb");
    // Four writers; each records what the server acknowledged.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let key = format!("w{w}/{i:05}");
                let size = if i % 3 == 0 { 1 << 20 } else { 20 << 10 };
                let body: Vec<u8> = (0..size).map(|j| (j + i + w) as u8).collect();
                match c
                    .put_object()
                    .bucket("crash")
                    .key(&key)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                {
                    Ok(_) => acked.push((key, size)),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("join"));
    }
    assert!(
        acked.len() > 10,
        "only {} uploads before the kill",
        acked.len()
    );

    let o = fsck(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("clean"), "{}", text(&o));

    // Restart: every acknowledged object is intact; nothing else is visible.
    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    let mut listed = std::collections::BTreeSet::new();
    let mut pages = c.list_objects_v2().bucket("crash").into_paginator().send();
    while let Some(p) = pages.next().await {
        for o in p.expect("page").contents() {
            listed.insert(o.key().expect("key").to_string());
        }
    }
    for (key, size) in &acked {
        assert!(listed.contains(key), "acknowledged {key} is missing");
        let o = c
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .expect("get");
        let b = body_bytes(o).await;
        assert_eq!(b.len(), *size, "{key}");
    }
    // At most one in-flight upload per writer may have committed without its reply arriving.
    assert!(
        listed.len() <= acked.len() + 4,
        "{} listed, {} acknowledged",
        listed.len(),
        acked.len()
    );
}

/// `gatehouse fsck --server` (and `POST /api/fsck`): the running server checked from a snapshot
/// while a writer goes on — clean after ordinary use, a corrupt chunk named by its object (exit
/// 2), a bounded read rate, `--repair` refused with `--server`, administrators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_online_checks_a_running_server_while_it_takes_writes() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("live").send().await.expect("mb");
    for i in 0..4u64 {
        c.put_object()
            .bucket("live")
            .key(format!("obj{i}"))
            .body(ByteStream::from(bytes((2 << 20) + 5, i)))
            .send()
            .await
            .expect("put");
    }
    let url = format!("http://{}", crate::admin_api::admin_addr(&srv));
    let online = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["fsck", "--server", &url, "--data-dir"])
            .arg(srv.data_dir())
            .args(extra)
            .stdin(Stdio::null());
        cmd
    };
    let o = tokio::task::spawn_blocking({
        let mut cmd = online(&["--json"]);
        move || cmd.output().expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (v["objects"].as_u64(), v["chunks_verified"].as_u64()),
        (Some(4), Some(12)),
        "{v}"
    );

    // At 1 MiB/s the 12 MiB take about 12 s; a PUT meanwhile is not held up.
    let slow = tokio::task::spawn_blocking({
        let mut cmd = online(&["--rate-mib", "1"]);
        move || {
            let t = std::time::Instant::now();
            let o = cmd.output().expect("runs");
            (o, t.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = std::time::Instant::now();
    c.put_object()
        .bucket("live")
        .key("during")
        .body(ByteStream::from(bytes(3 << 20, 9)))
        .send()
        .await
        .expect("put during fsck");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let (o, took) = slow.await.expect("join");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        took >= Duration::from_secs(8),
        "the rate bounds the reads: {took:?}"
    );

    // A damaged chunk on disk: named by its object, exit 2.
    let files = chunk_files(&srv.data_dir());
    let victim = files
        .iter()
        .find(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 1000))
        .expect("a full chunk");
    let mut b = std::fs::read(victim).expect("read");
    b[10] ^= 0x55;
    std::fs::write(victim, &b).expect("corrupt");
    let o = tokio::task::spawn_blocking({
        let mut cmd = online(&[]);
        move || cmd.output().expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("CORRUPT chunk"), "{}", text(&o));

    // Repair needs the server stopped; the API is for administrators.
    let o = online(&["--repair"]).output().expect("runs");
    assert!(!o.status.success());
    let (status, _) = crate::admin_api::Api::with(&srv, "nobody", "wrong")
        .basic("POST", "/api/fsck", Vec::new())
        .await;
    assert!(status == 401 || status == 403, "{status}");
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("POST", "/api/fsck?rate_mib=0", Vec::new())
        .await;
    assert_eq!(status, 400, "{body}");
}
