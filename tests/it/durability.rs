//! `storage.fsync` (as Garage's data_fsync/metadata_fsync) with the real binary and `kill -9`:
//! `always` and `metadata` keep every answered write through a process kill; `never` keeps a
//! consistent database and what was answered more than its window (1 s) before the kill. What
//! only a power loss tells apart (chunk files left to the OS under `metadata` and `never`) is
//! documented, not tested.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use crate::exposure::Spawned;

const OBJECTS: u64 = 12;

/// Every second object is chunked (2 MiB), the others inline.
fn body(i: u64) -> Vec<u8> {
    bytes(
        if i.is_multiple_of(2) {
            (2 << 20) + 77
        } else {
            100
        },
        i,
    )
}

async fn put_all(srv: &Spawned, prefix: &str) {
    let c = srv.client();
    let _ = c.create_bucket().bucket("dur").send().await;
    for i in 0..OBJECTS {
        c.put_object()
            .bucket("dur")
            .key(format!("{prefix}{i}"))
            .body(ByteStream::from(body(i)))
            .send()
            .await
            .expect("put answered");
    }
}

async fn check_all(srv: &Spawned, prefix: &str) {
    let c = srv.client();
    for i in 0..OBJECTS {
        let got = c
            .get_object()
            .bucket("dur")
            .key(format!("{prefix}{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{prefix}{i} lost: {e:?}"))
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert!(got == body(i), "{prefix}{i} differs");
    }
}

fn yaml(mode: &str) -> String {
    format!("storage:\n  fsync: {mode}\n")
}

fn fsck_clean(dir: &std::path::Path) {
    let r = gatehouse_store::fsck::fsck(&dir.join("data"), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}

#[tokio::test]
async fn always_and_metadata_keep_every_answered_write_through_kill_9() {
    for mode in ["always", "metadata"] {
        let srv = Spawned::start("true", &yaml(mode), &["--nfs-listen", "off"]);
        assert!(
            srv.log().contains("gatehouse serving"),
            "{mode}: {}",
            srv.log()
        );
        put_all(&srv, "k").await;
        // Killed the moment the last PUT was answered.
        let dir = srv.kill9();
        fsck_clean(dir.path());
        let srv = Spawned::start_in(dir, "true", &yaml(mode), &["--nfs-listen", "off"]);
        check_all(&srv, "k").await;
    }
}

#[tokio::test]
async fn never_keeps_a_consistent_store_and_what_was_answered_a_window_before_the_kill() {
    let srv = Spawned::start("true", &yaml("never"), &["--nfs-listen", "off"]);
    put_all(&srv, "early").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    put_all(&srv, "late").await;
    let dir = srv.kill9();
    fsck_clean(dir.path());
    let srv = Spawned::start_in(dir, "true", &yaml("never"), &["--nfs-listen", "off"]);
    check_all(&srv, "early").await;
}

#[test]
fn an_unknown_fsync_mode_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, yaml("sometimes")).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("storage.fsync must be always, metadata or never"),
        "{err}"
    );
}
