//! Start-up: credentials file, reuse across restarts, data persists, newer schema refused.

use std::os::unix::fs::PermissionsExt;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn credentials_file_is_0600_and_reused_and_data_survives_restart() {
    let srv = TestServer::start().await;
    let path = srv.data_dir().join("admin.credentials");
    let text = std::fs::read_to_string(&path).expect("file");
    assert!(
        text.starts_with("[default]\naws_access_key_id = "),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    assert!(srv.data_dir().join("meta.redb").exists());
    assert!(srv.data_dir().join("blobs").is_dir());

    let c = srv.client();
    c.create_bucket()
        .bucket("persist")
        .send()
        .await
        .expect("mb");
    let data = bytes(3 << 20, 7);
    c.put_object()
        .bucket("persist")
        .key("k")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let (access, _) = (srv.access.clone(), srv.secret.clone());
    let dir = srv.stop().await;

    let srv = TestServer::start_in(dir).await;
    assert_eq!(
        srv.access, access,
        "the credential is reused, not recreated"
    );
    let got = body_bytes(
        srv.client()
            .get_object()
            .bucket("persist")
            .key("k")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(got, data);
    srv.stop().await;
}

#[tokio::test]
async fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let db = redb::Database::create(dir.path().join("meta.redb")).expect("db");
        gatehouse_migrations::force_schema_version(&db, gatehouse_migrations::CURRENT_VERSION + 5)
            .expect("force");
    }
    let err = match gatehouse::app::start(config(dir.path())).await {
        Ok(_) => panic!("a newer database must be refused"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("newer gatehouse"), "{err}");
}

#[test]
fn check_config_accepts_the_example_and_names_what_is_wrong() {
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("check-config")
            .arg(file)
            .output()
            .expect("runs")
    };
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gatehouse.yaml");
    let o = run(&example);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("valid"));
    let dir = tempfile::tempdir().expect("tmp");
    for (text, needle) in [
        ("s3:\n  max_size: 10Xi\n", "10Xi"),
        ("colour: red\n", "colour"),
        ("share_expiry_days: -3\n", "share_expiry_days"),
        (
            "tombstone_retention_days: 99999\n",
            "tombstone_retention_days",
        ),
        ("s3:\n  listen: nowhere\n", "nowhere"),
    ] {
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, text).expect("write");
        let o = run(&f);
        assert!(!o.status.success(), "{text:?} was accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn a_damaged_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(dir.path().join("meta.redb"), &garbage).expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--nfs-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("runs");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gatehouse restore") && err.contains("meta.redb"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("meta.redb")).expect("read"),
        garbage,
        "never re-initialised over"
    );
}

#[test]
fn show_config_prints_the_effective_config_that_reads_back_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("in.yaml");
    std::fs::write(
        &f,
        "data_dir: /srv/g h\nadmin_peers: [3c775d68b172c1b6, ops]\nenrolment_token: a-very-secret-token-123\nobject_expiry_days: 30\nadmin:\n  login_max_failures: 3\n  login_lockout_secs: 60\ns3:\n  listen: 0.0.0.0:9100\n  max_size: 2Gi\n  domains: [s3.example.org, localhost]\nstorage:\n  chunk_size: 2Mi\nlog:\n  format: json\n",
    )
    .expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["show-config", "--config"])
        .arg(&f)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = String::from_utf8(o.stdout).expect("utf-8");
    assert!(
        !shown.contains("a-very-secret-token-123"),
        "the token is not shown"
    );
    assert!(
        shown.contains("max_size: 2147483648") && shown.contains("chunk_size: 2097152"),
        "{shown}"
    );
    let back = dir.path().join("back.yaml");
    std::fs::write(&back, &shown).expect("write");
    let load = |p: &std::path::Path| {
        let mut c = gatehouse::config::RawConfig::load(p)
            .expect("load")
            .validate(&gatehouse::config::Overrides::default())
            .expect("valid");
        c.enrolment_token = None;
        format!("{c:?}")
    };
    assert_eq!(load(&back), load(&f));
}

#[test]
fn an_unusable_data_dir_is_a_clear_start_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(file.join("data"))
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--nfs-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("runs");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a-file/data") && err.to_lowercase().contains("not a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).expect("read"), b"x", "nothing touched");
}

/// A data directory on a full disk: a clear start error, not a half-made store. Needs root for
/// a tiny tmpfs (CI runs as root).
#[test]
fn a_full_data_disk_at_start_is_a_clear_error() {
    let Some(mnt) = Tmpfs::mount("16k") else {
        eprintln!("SKIPPED full data disk test: cannot mount a tmpfs here (not root?)");
        return;
    };
    // Fill it.
    let _ = std::fs::write(mnt.path().join("filler"), vec![0u8; 64 << 10]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(mnt.path().join("data"))
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--nfs-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("runs");
    assert!(!o.status.success(), "started on a full disk");
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(err.contains("space") || err.contains("full"), "{err}");
}
