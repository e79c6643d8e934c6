//! Chunks in a remote S3 service (issue 20): a real s3s-fs (`cargo install s3s-fs --version
//! 0.14.1 --features binary`; `S3S_FS=path` or `s3s-fs` on PATH) holds gatehouse's chunks.
//! What a user sees must not change: bytes round-trip, dedup, GC, fsck and backup work; a
//! dead backend is `503 SlowDown` and the server recovers by itself when it returns.
//!
//! Without s3s-fs the tests say so loudly and pass — unless `GATEHOUSE_S3S_TEST=required`
//! (set by `.ci/run`), where a missing s3s-fs fails them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use gatehouse::config::RawConfig;

use crate::common::*;
use crate::s3s_peer::{AK, S3sFs, SK};

const BUCKET: &str = "ghchunks";

async fn chunk_objects(s3s: &S3sFs) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3s
            .client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("node-a/chunks/")
            .set_continuation_token(token)
            .send()
            .await
            .expect("list the backend");
        for o in page.contents() {
            out.push((
                o.key().unwrap_or_default().to_string(),
                o.size().unwrap_or(0),
            ));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

fn backend_config(s3s: &S3sFs, dir: &Path, secret: &str, cache: &str) -> RawConfig {
    let f = config_file(s3s, dir, secret, cache, 0);
    RawConfig::load(&f).expect("config parses")
}

/// The config file of a node with its chunks in `s3s`; `snapshot_every` seconds between
/// shipped metadata snapshots (0: none, and then no GC grace).
fn config_file(s3s: &S3sFs, dir: &Path, secret: &str, cache: &str, snapshot_every: u64) -> PathBuf {
    let key_file = dir.join("backend.secret");
    std::fs::write(&key_file, format!("{secret}\n")).expect("secret file");
    let grace = if snapshot_every == 0 { 0 } else { 900 };
    let yaml = format!(
        "storage:\n  gc_grace_secs: {grace}\n  backend:\n    kind: s3\n    endpoint: http://{}\n    \
         bucket: {BUCKET}\n    prefix: node-a/\n    access_key: {AK}\n    secret_key_file: {}\n    \
         snapshot_every_secs: {snapshot_every}\n  \
         cache:\n    max_size: {cache}\n",
        s3s.addr,
        key_file.display()
    );
    let f = dir.join("backend.yaml");
    std::fs::write(&f, yaml).expect("config");
    f
}

async fn start_on(s3s: &S3sFs, cache: &str) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = backend_config(s3s, dir.path(), SK, cache);
    TestServer::start_in_with(dir, move |r| *r = raw).await
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .expect("put");
}

async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    body_bytes(
        c.get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get"),
    )
    .await
}

/// `data` written UNSTABLE in 64 KiB WRITEs; the write verifier of the last.
async fn write_unstable(
    nfs: &mut crate::nfs::Conn,
    f: &nfs3_client::nfs3_types::nfs3::nfs_fh3,
    data: &[u8],
) -> [u8; 8] {
    let mut verf = [0u8; 8];
    for (i, piece) in data.chunks(64 << 10).enumerate() {
        verf = crate::nfs::write_as(
            nfs,
            f,
            (i as u64) << 16,
            piece,
            nfs3_client::nfs3_types::nfs3::stable_how::UNSTABLE,
        )
        .await
        .expect("unstable write")
        .1;
    }
    verf
}

/// COMMIT, again after each JUKEBOX as the Linux client does (for up to 40 s); the verifier.
async fn commit_retrying(
    nfs: &mut crate::nfs::Conn,
    f: &nfs3_client::nfs3_types::nfs3::nfs_fh3,
) -> [u8; 8] {
    let t0 = Instant::now();
    loop {
        match crate::nfs::commit(nfs, f).await {
            Ok(v) => return v,
            Err(nfs3_client::nfs3_types::nfs3::nfsstat3::NFS3ERR_JUKEBOX)
                if t0.elapsed() < Duration::from_secs(40) =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("commit: {e:?}"),
        }
    }
}

/// Whether an fsck report names missing or corrupt chunks.
fn damaged(report: &serde_json::Value) -> bool {
    ["missing_chunks", "corrupt_chunks"]
        .iter()
        .any(|f| !report[f].as_array().is_some_and(|a| a.is_empty()))
}

fn cache_files(srv: &TestServer) -> usize {
    count_files(&srv.data_dir().join("blobs/cache"))
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_live_in_the_backend_and_everything_still_works() {
    let Some(s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    // A cache of two chunks: most reads below go to the backend.
    let srv = start_on(&s3s, "2Mi").await;
    let c = srv.client();
    c.create_bucket().bucket("data").send().await.expect("mb");

    // 5 MiB + 1 KiB: six chunks, stored in the backend, none as files of the data directory.
    let big = bytes((5 << 20) + 1024, 7);
    put(&c, "data", "big", &big).await;
    let stored = chunk_objects(&s3s).await;
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert_eq!(
        stored.iter().map(|(_, n)| *n as usize).sum::<usize>(),
        big.len()
    );
    assert!(cache_files(&srv) <= 2, "the cache keeps to its bound");
    assert_eq!(get(&c, "data", "big").await, big);

    // Dedup: the same bytes under another key store nothing new.
    put(&c, "data", "copy", &big).await;
    assert_eq!(chunk_objects(&s3s).await.len(), 6);

    // A read with an empty cache fetches, checks and caches again.
    for d in std::fs::read_dir(srv.data_dir().join("blobs/cache")).expect("cache dir") {
        let d = d.expect("entry").path();
        if d.is_dir() && !d.ends_with("tmp") {
            std::fs::remove_dir_all(d).expect("empty the cache");
        }
    }
    let ranged = c
        .get_object()
        .bucket("data")
        .key("copy")
        .range("bytes=3000000-3000099")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(body_bytes(ranged).await, big[3_000_000..3_000_100]);
    assert_eq!(get(&c, "data", "copy").await, big);

    // fsck of the running server reads every chunk back from the backend: clean.
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("POST", "/api/fsck", Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!damaged(&body), "{body}");

    // A damaged chunk object in the backend is found by fsck, and a GET of it refuses to
    // send wrong bytes.
    let (victim, _) = chunk_objects(&s3s).await[0].clone();
    s3s.client()
        .put_object()
        .bucket(BUCKET)
        .key(&victim)
        .body(ByteStream::from(vec![0u8; 1 << 20]))
        .send()
        .await
        .expect("damage a chunk");
    // (evict the good copy from the cache so the damaged one is what a read meets)
    let hex = victim.rsplit('/').next().expect("hash").to_string();
    let _ = std::fs::remove_file(
        srv.data_dir()
            .join("blobs/cache")
            .join(&hex[..2])
            .join(&hex),
    );
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("POST", "/api/fsck", Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(damaged(&body), "{body}");
    // Put it right again (the bytes it should hold), for the rest of the test.
    let idx = (0..6)
        .find(|i| {
            let end = ((i + 1) << 20).min(big.len());
            blake3::hash(&big[i << 20..end]).to_hex().as_str() == hex
        })
        .expect("which chunk");
    let end = ((idx + 1) << 20).min(big.len());
    s3s.client()
        .put_object()
        .bucket(BUCKET)
        .key(&victim)
        .body(ByteStream::from(big[idx << 20..end].to_vec()))
        .send()
        .await
        .expect("repair the chunk");

    // Deleting both keys frees the chunks; GC removes the objects from the backend.
    c.delete_object()
        .bucket("data")
        .key("big")
        .send()
        .await
        .expect("rm");
    assert_eq!(
        chunk_objects(&s3s).await.len(),
        6,
        "still referenced by copy"
    );
    c.delete_object()
        .bucket("data")
        .key("copy")
        .send()
        .await
        .expect("rm");
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("POST", "/api/gc", Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        chunk_objects(&s3s).await.is_empty(),
        "GC emptied the backend"
    );
    assert_eq!(cache_files(&srv), 0, "and the cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_backend_is_slowdown_and_the_server_recovers_by_itself() {
    let Some(mut s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    let srv = start_on(&s3s, "64Mi").await;
    let c = srv.client();
    c.create_bucket().bucket("data").send().await.expect("mb");
    let before = bytes(3 << 20, 1);
    put(&c, "data", "before", &before).await;

    s3s.stop();
    let during = bytes(2 << 20, 2);
    let err = c
        .put_object()
        .bucket("data")
        .key("during")
        .body(ByteStream::from(during.clone()))
        .send()
        .await
        .expect_err("no backend, no write");
    assert_eq!(code(&err), "SlowDown", "{err:?}");
    // Nothing half-visible: the key does not exist.
    let miss = c
        .head_object()
        .bucket("data")
        .key("during")
        .send()
        .await
        .expect_err("not stored");
    assert!(
        format!("{miss:?}").contains("404") || code(&miss) == "NotFound",
        "{miss:?}"
    );
    // Cached chunks still read; small objects (inline in the database) still write.
    assert_eq!(get(&c, "data", "before").await, before);
    put(&c, "data", "small", b"inline bytes").await;

    // NFS: UNSTABLE writes wait on the data disk; the COMMIT that must store them in the
    // backend says "try again later" (JUKEBOX), and succeeds once the backend is back.
    let (mut nfs, root) = crate::nfs::writer(&srv, "files").await;
    let f = crate::nfs::create(
        &mut nfs,
        &root,
        "doc.bin",
        nfs3_client::nfs3_types::nfs3::createhow3::UNCHECKED(Default::default()),
    )
    .await
    .expect("create");
    let doc = bytes(3 << 20, 4);
    let written = write_unstable(&mut nfs, &f, &doc).await;
    assert_eq!(
        crate::nfs::commit(&mut nfs, &f).await,
        Err(nfs3_client::nfs3_types::nfs3::nfsstat3::NFS3ERR_JUKEBOX)
    );

    s3s.resume();
    // The client retries its COMMIT after JUKEBOX, as the Linux client does, until the
    // server asks the service again (it waits a few seconds after failures). The buffered
    // bytes waited for it: the verifier is the one its WRITEs got, nothing to send again.
    assert_eq!(commit_retrying(&mut nfs, &f).await, written);
    assert_eq!(crate::nfs::read_all(&mut nfs, &f).await, doc);
    assert_eq!(crate::nfs::s3_get(&srv, "fs+files", "doc.bin").await, doc);
    put(&c, "data", "during", &during).await;
    assert_eq!(get(&c, "data", "during").await, during);
    assert_eq!(get(&c, "data", "small").await, b"inline bytes");
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("POST", "/api/fsck", Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!damaged(&body), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_or_a_switched_backend_are_clear_start_errors() {
    let Some(s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = backend_config(&s3s, dir.path(), "not-the-secret", "8Mi");
    let err = match gatehouse::app::start(config_from(raw, dir.path())).await {
        Ok(_) => panic!("started with wrong backend credentials"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("refused access"), "{err}");

    // A data directory whose chunks are local files cannot be pointed at the backend...
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("data").send().await.expect("mb");
    let (k1, k2) = (bytes((2 << 20) + 9, 3), bytes(3 << 20, 5));
    put(&c, "data", "k1", &k1).await;
    put(&c, "data", "k2", &k2).await;
    put(&c, "data", "tiny", b"inline").await;
    let dir = srv.stop().await;
    let raw = backend_config(&s3s, dir.path(), SK, "8Mi");
    let err = match gatehouse::app::start(config_from(raw, dir.path())).await {
        Ok(_) => panic!("started with chunks in the wrong place"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("chunks are in local"), "{err}");

    // ...until `storage migrate --to-backend` moves them there (checked, then the local files
    // go); a second run has nothing left to do.
    let cfg = dir.path().join("backend.yaml");
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["storage", "migrate", "--to-backend", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("migrate runs")
    };
    let o = migrate();
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        said.contains("6 chunks") && said.contains("6 stored now"),
        "{said}"
    );
    assert_eq!(chunk_objects(&s3s).await.len(), 6);
    let local_chunks = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs")
        .filter(|e| {
            let n = e.as_ref().expect("entry").file_name();
            n != "tmp" && n != "cache"
        })
        .map(|e| count_files(&e.expect("entry").path()))
        .sum::<usize>();
    assert_eq!(local_chunks, 0, "the local chunk files are gone");
    let o = migrate();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("already keeps"),
        "{o:?}"
    );
    let raw = backend_config(&s3s, dir.path(), SK, "8Mi");
    let srv = TestServer::start_in_with(dir, move |r| *r = raw).await;
    let c = srv.client();
    assert_eq!(get(&c, "data", "k1").await, k1);
    assert_eq!(get(&c, "data", "k2").await, k2);
    assert_eq!(get(&c, "data", "tiny").await, b"inline");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_node_comes_back_elsewhere_from_its_shipped_metadata() {
    let Some(s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    let etc = tempfile::tempdir().expect("config dir");
    let cfg = config_file(&s3s, etc.path(), SK, "8Mi", 1);
    let raw = RawConfig::load(&cfg).expect("config");
    let srv =
        TestServer::start_in_with(tempfile::tempdir().expect("node a"), move |r| *r = raw).await;
    let c = srv.client();
    c.create_bucket().bucket("keep").send().await.expect("mb");
    let objects: Vec<(String, Vec<u8>)> = vec![
        ("big".into(), bytes((3 << 20) + 5, 11)),
        ("small".into(), b"held in the database itself".to_vec()),
        ("dir/two-chunks".into(), bytes(2 << 20, 12)),
    ];
    for (k, v) in &objects {
        put(&c, "keep", k, v).await;
    }
    let acked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;

    // Wait for a snapshot taken after the last acknowledgement.
    let t0 = Instant::now();
    loop {
        let page = s3s
            .client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("node-a/meta/")
            .send()
            .await
            .expect("list snapshots");
        let newest = page
            .contents()
            .iter()
            .filter_map(|o| {
                o.key()?
                    .rsplit('/')
                    .next()?
                    .strip_suffix(".tar")?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        if newest.is_some_and(|t| t > acked) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no snapshot shipped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Operators see how old the newest shipped snapshot is.
    let metrics = crate::admin_api::metrics_text(&srv).await;
    let age: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_metadata_snapshot_age_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("snapshot age in /metrics");
    assert!((0.0..30.0).contains(&age), "{age}");
    assert!(
        !metrics.contains("gatehouse_metadata_snapshots_shipped_total 0"),
        "{metrics}"
    );
    // ...and so does a health probe.
    let health: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!(
            "http://{}/api/health",
            crate::admin_api::admin_addr(&srv)
        ))
        .await
        .expect("health")
        .text()
        .await
        .expect("health text"),
    )
    .expect("health json");
    let age = health["metadata_snapshot_age_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no snapshot age in {health}"));
    assert!((0.0..30.0).contains(&age), "{age}");

    // The machine is lost: its data directory with it.
    let dir = srv.stop().await;
    drop(dir);

    let new = tempfile::tempdir().expect("node b");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["restore", "--from-backend", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(new.path())
        .output()
        .expect("restore runs");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("all in the backend"), "{said}");

    let raw = RawConfig::load(&cfg).expect("config");
    let srv = TestServer::start_in_with(new, move |r| *r = raw).await;
    let c = srv.client();
    for (k, v) in &objects {
        assert_eq!(&get(&c, "keep", k).await, v, "{k}");
    }

    // Without a backend in the config, or into a directory that is not empty: clear refusals.
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["restore", "--from-backend", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(srv.data_dir())
        .output()
        .expect("runs");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not empty"),
        "{o:?}"
    );
}

/// A metadata snapshot larger than a single PUT should carry goes up in parts and comes back
/// byte for byte (the real threshold is 512 MiB; this one is shrunk to 1 MiB).
#[test]
fn large_snapshot_ships_in_parts_and_fetches_whole() {
    let Some(s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let backend = gatehouse_chunks_s3::S3Backend::connect(
        &gatehouse_chunks_s3::S3BackendConfig {
            endpoint: format!("http://{}", s3s.addr),
            bucket: BUCKET.into(),
            prefix: "node-a/".into(),
            region: "us-east-1".into(),
            access_key: AK.into(),
            secret_key: SK.into(),
            cache_max: 1 << 20,
        },
        &dir.path().join("cache"),
    )
    .expect("connect");
    let data = bytes(12 << 20, 7);
    let file = dir.path().join("snap.tar");
    std::fs::write(&file, &data).expect("write");
    let key = backend
        .ship_snapshot_in_parts(&file, 1_000, 3, 1 << 20, 5 << 20)
        .expect("ship in parts");
    let listed = backend.snapshots().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].bytes, data.len() as u64);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let head = rt
        .block_on(s3s.client().head_object().bucket(BUCKET).key(&key).send())
        .expect("head");
    assert!(
        head.e_tag()
            .is_some_and(|e| e.trim_matches('"').ends_with("-3")),
        "three parts: {:?}",
        head.e_tag()
    );
    let back = dir.path().join("back.tar");
    backend.fetch_snapshot(&key, &back).expect("fetch");
    assert!(std::fs::read(&back).expect("read") == data, "bytes differ");
}

/// None of the backend's chunk objects `stored` holds `marker`.
async fn no_plaintext_in_backend(s3s: &S3sFs, stored: &[(String, i64)], marker: &[u8]) {
    for (key, _) in stored {
        let o = s3s
            .client()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .expect("backend get");
        let bytes = body_bytes(o).await;
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{key} holds plaintext"
        );
    }
}

/// Encrypted objects (decision 0044) leave for the backend sealed: the backend's objects hold
/// no plaintext (each is its chunk's ciphertext and tag), and the bytes still read back.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_chunks_leave_sealed() {
    let Some(s3s) = S3sFs::start(&[BUCKET]) else {
        return;
    };
    let srv = start_on(&s3s, "1Mi").await;
    let c = srv.client();
    c.create_bucket().bucket("sealed").send().await.expect("mb");
    let line = b"BACKENDSECRET-0123456789abcdef0123456789abcdef0123456789abcdef\n";
    let body: Vec<u8> = line.iter().copied().cycle().take(3 << 20).collect();
    c.put_object()
        .bucket("sealed")
        .key("k")
        .body(ByteStream::from(body.clone()))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("put");
    let stored = chunk_objects(&s3s).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (key, size) in &stored {
        assert_eq!(
            *size,
            (1 << 20) + 16,
            "{key}: the chunk's ciphertext and its tag"
        );
    }
    no_plaintext_in_backend(&s3s, &stored, b"BACKENDSECRET").await;
    assert_eq!(get(&c, "sealed", "k").await, body);
    // Under a key of the key service (decision 0046) too.
    srv.store()
        .kms()
        .create(
            &srv.admin(),
            gatehouse_store::kms::KeySpec {
                alias: Some("backend".into()),
                description: String::new(),
            },
        )
        .await
        .expect("key");
    let kbody: Vec<u8> = b"BACKENDKMS-0123456789abcdef0123456789abcdef0123456789abcdef0123\n"
        .iter()
        .copied()
        .cycle()
        .take(2 << 20)
        .collect();
    c.put_object()
        .bucket("sealed")
        .key("kms")
        .body(ByteStream::from(kbody.clone()))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/backend")
        .send()
        .await
        .expect("put sse-kms");
    let stored = chunk_objects(&s3s).await;
    // Its two 1 MiB chunks are equal: one sealed chunk in the key's domain (dedup inside it).
    assert_eq!(stored.len(), 4, "{stored:?}");
    no_plaintext_in_backend(&s3s, &stored, b"BACKENDKMS").await;
    assert_eq!(get(&c, "sealed", "kms").await, kbody);
    srv.stop().await;
}
