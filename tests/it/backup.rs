//! Online backup while writes go on, and restore into a new data directory: the CLI as the
//! real binary against the running server.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;

use crate::admin_api::{Api, cli, err, ok};
use crate::common::*;

fn content(key: &str) -> Vec<u8> {
    let n = if key.ends_with('0') { 200 << 10 } else { 3000 };
    (0..n)
        .map(|i| (i as u8) ^ (key.len() as u8) ^ key.as_bytes()[key.len() - 1])
        .collect()
}

async fn everything(c: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pages = c.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(p) = pages.next().await {
        for o in p.expect("page").contents() {
            let k = o.key().expect("key").to_string();
            let got = c
                .get_object()
                .bucket(bucket)
                .key(&k)
                .send()
                .await
                .expect("get");
            out.insert(k, body_bytes(got).await);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_during_writes_restores_one_consistent_instant() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("bkp").send().await.expect("mb");
    for i in 0..30 {
        let k = format!("before/{i:03}");
        c.put_object()
            .bucket("bkp")
            .key(&k)
            .body(ByteStream::from(content(&k)))
            .send()
            .await
            .expect("put");
    }
    let user = srv.new_user("kept").await;
    // A replication connection and rule travel with the backup (paused: the target is made up).
    let repl = srv.store().replication();
    repl.add_connection(
        &srv.admin(),
        "offsite",
        "http://127.0.0.1:1",
        "",
        "AKOFFSITE",
        "offsite-secret",
    )
    .await
    .expect("connection");
    repl.set_rule(
        &srv.admin(),
        "bkp",
        gatehouse_store::replication::RuleSpec {
            connection: "offsite".into(),
            target_bucket: "bkp-copy".into(),
            paused: true,
            existing: true,
            ..Default::default()
        },
    )
    .await
    .expect("rule");

    // A writer keeps creating and deleting while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = format!("live/{i:05}");
                c.put_object()
                    .bucket("bkp")
                    .key(&k)
                    .body(ByteStream::from(content(&k)))
                    .send()
                    .await
                    .expect("live put");
                if i % 3 == 2 {
                    let old = format!("live/{:05}", i - 2);
                    c.delete_object()
                        .bucket("bkp")
                        .key(&old)
                        .send()
                        .await
                        .expect("live delete");
                }
                i += 1;
            }
            i
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let bdir = home.path().join("backup");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            &creds,
            "backup",
            "--to",
            bdir.to_str().expect("p"),
        ],
    )
    .await);
    assert!(out.contains("Backup written"), "{out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(
        written > 3,
        "the writer ran during the backup ({written} puts)"
    );
    // A second backup into the same (now full) directory is refused.
    let o = cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            &creds,
            "backup",
            "--to",
            bdir.to_str().expect("p"),
        ],
    )
    .await;
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not empty"),
        "{o:?}"
    );
    // Not for a plain user.
    let r = Api::with(&srv, &user.access_key, &user.secret_key)
        .call("GET", "/api/backup", None)
        .await;
    err(&r, 403, "rbac.denied");
    let tar = home.path().join("b.tar");
    let o = cli(
        &srv,
        home.path(),
        &[],
        &["--credentials", &creds, "backup", "--to", "-"],
    )
    .await;
    assert!(o.status.success());
    std::fs::write(&tar, &o.stdout).expect("tar");
    srv.stop().await;

    // Restore into a new directory; a non-empty one is refused.
    let newd = tempfile::tempdir().expect("new");
    std::fs::write(newd.path().join("junk"), b"x").expect("junk");
    let restore = |from: &std::path::Path, to: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["restore", "--from"])
            .arg(from)
            .arg("--data-dir")
            .arg(to)
            .output()
            .expect("restore")
    };
    let o = restore(&bdir, newd.path());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not empty"));
    std::fs::remove_file(newd.path().join("junk")).expect("rm");
    let o = restore(&bdir, newd.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Restored"));
    let tard = tempfile::tempdir().expect("from tar");
    let o = restore(&tar, tard.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    for d in [newd, tard] {
        let srv = TestServer::start_in(d).await;
        // The rule came back with its queue, and the sealed secret opens (the master key
        // travelled with the data).
        let repl = srv.store().replication();
        let st = repl.status(&srv.admin(), "bkp").expect("rule restored");
        assert!(st.paused && st.target_bucket == "bkp-copy", "{st:?}");
        assert!(st.queued > 0, "{st:?}");
        assert_eq!(
            repl.remote("offsite").expect("remote").secret_key,
            "offsite-secret"
        );
        // The same admin credentials work (the master key travelled with the data).
        let c = srv.client();
        let all = everything(&c, "bkp").await;
        for i in 0..30 {
            let k = format!("before/{i:03}");
            assert_eq!(all.get(&k), Some(&content(&k)), "{k}");
        }
        // One instant: every object has its own bytes, and the live/ keys are a prefix of the
        // writer's sequence minus exactly the deletions that had happened by then.
        let live: Vec<u32> = all
            .keys()
            .filter_map(|k| k.strip_prefix("live/"))
            .map(|n| n.parse().expect("n"))
            .collect();
        for (k, v) in &all {
            assert_eq!(v, &content(k), "{k}");
        }
        if let Some(&max) = live.iter().max() {
            for i in 0..=max {
                // i was deleted once i+2 was written, i.e. when i % 3 == 0 and i + 2 <= max.
                let deleted = i % 3 == 0 && i + 2 <= max;
                let present = live.contains(&i);
                // The delete of i follows the put of i+2, so at the very edge either is fine.
                if i + 2 != max {
                    assert_eq!(present, !deleted, "live/{i:05} with max {max}");
                }
            }
        }
        let head = srv.store().head_bucket(&srv.admin(), "bkp").expect("head");
        assert_eq!(head.object_count, all.len() as u64);
        assert_eq!(
            head.usage_bytes,
            all.values().map(|v| v.len() as u64).sum::<u64>()
        );
        // A user registered before the backup keeps their credentials.
        let cu = client_with(srv.addr, &user.access_key, &user.secret_key);
        cu.list_buckets()
            .send()
            .await
            .expect("user credentials survive the restore");
        srv.stop().await;
    }
}

/// The documented offline backup: stop, copy meta.redb, blobs/ and the key files, start the
/// copy elsewhere; every object's bytes are there.
#[tokio::test]
async fn offline_copy_of_a_stopped_server_is_a_working_backup() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("offline")
        .send()
        .await
        .expect("mb");
    let mut want = BTreeMap::new();
    for i in 0..20 {
        let k = format!("k/{i:02}0");
        let v = content(&k);
        c.put_object()
            .bucket("offline")
            .key(&k)
            .body(ByteStream::from(v.clone()))
            .send()
            .await
            .expect("put");
        want.insert(k, v);
    }
    let dir = srv.stop().await;
    let copy = tempfile::tempdir().expect("copy");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(dir.path().join("meta.redb"))
        .arg(dir.path().join("blobs"))
        .arg(dir.path().join("master.key"))
        .arg(dir.path().join("admin_ed25519"))
        .arg(dir.path().join("admin_ed25519.pub"))
        .arg(dir.path().join("admin.credentials"))
        .arg(copy.path())
        .status()
        .expect("cp");
    assert!(st.success());
    drop(dir);
    let srv = TestServer::start_in(copy).await;
    assert_eq!(everything(&srv.client(), "offline").await, want);
}

/// A backup target without room: a clear error, nothing half-written left behind, and the
/// server unaffected. Needs root for a small tmpfs (CI runs as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_target_fails_clearly_and_leaves_nothing() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("big-bk").send().await.expect("mb");
    let data: Vec<u8> = (0..(3 << 20)).map(|i| (i % 241) as u8).collect();
    c.put_object()
        .bucket("big-bk")
        .key("x")
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put");
    let Some(mnt) = Tmpfs::mount("1m") else {
        eprintln!("SKIPPED full backup target test: cannot mount a tmpfs here (not root?)");
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let target = mnt.path().join("b");
    let o = cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            creds.to_str().expect("p"),
            "backup",
            "--to",
            target.to_str().expect("p"),
        ],
    )
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.to_lowercase().contains("space"), "{err}");
    let left: Vec<_> = std::fs::read_dir(mnt.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert!(
        left.iter().all(|n| !n.to_string_lossy().ends_with(".tar")),
        "no partial archive left: {left:?}"
    );
    // The server is fine: a backup elsewhere still works.
    let ok_dir = home.path().join("fine");
    ok(&cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            creds.to_str().expect("p"),
            "backup",
            "--to",
            ok_dir.to_str().expect("p"),
        ],
    )
    .await);
}
