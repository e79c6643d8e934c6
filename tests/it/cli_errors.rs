//! The CLI as scripts see it (the real binary): `--json` failures are one `{"error",
//! "message"}` object on stderr, exit codes tell usage, not found, denied and unreachable
//! apart, a reader closing the pipe early ends the command quietly, and the offline verbs
//! neither list nor accept the client's server flags.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::admin_api::{admin_addr, cli};
use crate::common::TestServer;

/// The stderr JSON object of a failed `--json` command, after checking the exit code.
fn json_failure(o: &Output, exit: i32) -> Value {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(exit), "stderr: {stderr}");
    assert!(o.stdout.is_empty(), "nothing on stdout");
    let v: Value = serde_json::from_str(stderr.trim()).expect("stderr is one JSON object");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_and_exit_codes_tell_the_failures_apart() {
    let srv = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let dd = srv.data_dir();
    let dd = dd.to_str().expect("utf-8");
    let with_admin = |args: &[&str]| -> Vec<String> {
        ["--data-dir", dd]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect()
    };

    // Not found: the server's own code, exit 3.
    let o = cli(
        &srv,
        h,
        &[],
        &refs(&with_admin(&["bucket", "info", "nosuch", "--json"])),
    )
    .await;
    assert_eq!(json_failure(&o, 3)["error"], "store.no_such_bucket");
    // The same failure for a human: one line, no JSON, same exit code.
    let o = cli(
        &srv,
        h,
        &[],
        &refs(&with_admin(&["bucket", "info", "nosuch"])),
    )
    .await;
    assert_eq!(o.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with("gatehouse: ") && !stderr.contains('{'),
        "{stderr}"
    );

    // Denied: a user without bindings, exit 4 with rbac.denied.
    let bob = srv.new_user("bob").await;
    let bob_env = [
        ("AWS_ACCESS_KEY_ID", bob.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", bob.secret_key.as_str()),
    ];
    let o = cli(&srv, h, &bob_env, &["bucket", "create", "bobs", "--json"]).await;
    assert_eq!(json_failure(&o, 4)["error"], "rbac.denied");
    // A wrong secret and no credentials at all are denials too.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", bob.access_key.as_str()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "not-the-secret-not-the-secret-0000",
        ),
    ];
    let o = cli(&srv, h, &wrong, &["bucket", "list", "--json"]).await;
    assert_eq!(json_failure(&o, 4)["error"], "auth.bad_signature");
    let o = cli(&srv, h, &[], &["bucket", "list", "--json"]).await;
    assert_eq!(json_failure(&o, 4)["error"], "cli.no_credentials");

    // Unreachable: exit 5 (a port nobody listens on: bind one, then free it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let o = cli(
        &srv,
        h,
        &[],
        &refs(&with_admin(&[
            "--server", &server, "bucket", "list", "--json",
        ])),
    )
    .await;
    assert_eq!(json_failure(&o, 5)["error"], "cli.unreachable");

    // Usage: clap's refusal, as JSON when --json is anywhere on the line; exit 2 either way.
    let o = cli(&srv, h, &[], &["--json", "bucket", "lsit"]).await;
    let v = json_failure(&o, 2);
    assert_eq!(v["error"], "cli.usage");
    assert!(v["message"].as_str().expect("text").contains("lsit"), "{v}");
    let o = cli(&srv, h, &[], &["bucket", "lsit"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = cli(
        &srv,
        h,
        &[],
        &refs(&with_admin(&["--server", "ftp://x", "status", "--json"])),
    )
    .await;
    assert_eq!(json_failure(&o, 2)["error"], "cli.usage");

    // The table is in --help.
    let o = cli(&srv, h, &[], &["--help"]).await;
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for line in [
        "2  usage",
        "3  not found",
        "4  denied",
        "5  the server cannot be reached",
    ] {
        assert!(help.contains(line), "{line:?} missing from --help:\n{help}");
    }
    srv.stop().await;
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs the binary with its stdout read end closed before it writes anything.
fn run_into_closed_pipe(srv: &TestServer, home: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_SERVER", format!("http://{}", admin_addr(srv)))
        .env("HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("RUST_BACKTRACE")
        .current_dir(home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_command_quietly() {
    let srv = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path().to_path_buf();
    let dd = srv.data_dir();
    let dd = dd.to_str().expect("utf-8").to_string();
    let client = srv.client();
    client
        .create_bucket()
        .bucket("piped")
        .send()
        .await
        .expect("create");
    client
        .put_object()
        .bucket("piped")
        .key("big")
        .body(vec![7u8; 1 << 20].into())
        .send()
        .await
        .expect("put");

    for args in [
        vec!["--data-dir", dd.as_str(), "role", "list"],
        vec!["--data-dir", dd.as_str(), "bucket", "list", "--json"],
        vec![
            "--data-dir",
            dd.as_str(),
            "object",
            "get",
            "piped",
            "big",
            "-",
        ],
    ] {
        let (srv_ref, h2) = (&srv, h.clone());
        let o = tokio::task::block_in_place(|| run_into_closed_pipe(srv_ref, &h2, &args));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: exit {:?}, stderr: {stderr}",
            o.status
        );
    }
    // A backup streamed to a reader that stops early is cut short: that is a failure.
    let args = ["--data-dir", dd.as_str(), "backup", "--to", "-"];
    let o = tokio::task::block_in_place(|| run_into_closed_pipe(&srv, &h, &args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("backup is incomplete") && !stderr.contains("panicked"),
        "{stderr}"
    );
    srv.stop().await;
}

#[test]
fn offline_verbs_list_and_accept_only_their_own_flags() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .env_remove("GATEHOUSE_SERVER")
            .output()
            .expect("runs")
    };
    for verb in ["fsck", "restore", "check-config", "show-config"] {
        let o = run(&[verb, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{verb}");
        // fsck takes them for its online check (`fsck --server URL`).
        for flag in ["--server", "--credentials"] {
            assert_eq!(
                help.contains(flag),
                verb == "fsck",
                "{verb} --help and {flag}:\n{help}"
            );
        }
        // Every flag it lists says what it does: no option line ends at its value name.
        for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
            let words = line.split_whitespace().count();
            assert!(words > 2, "{verb}: {line:?} has no help text");
        }
    }
    // Without them, they run (the flags' own defaults pass).
    let o = run(&["show-config"]);
    assert!(o.status.success(), "{o:?}");
    let o = run(&["restore", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("--from") && help.contains("--data-dir"),
        "{help}"
    );
    // Given anyway, before or after the verb: refused as usage, not ignored.
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_str().expect("utf-8");
    for args in [
        // Online, fsck repairs nothing: `--repair` with `--server` is refused.
        &[
            "fsck",
            "--data-dir",
            d,
            "--server",
            "http://h:1",
            "--repair",
        ][..],
        &["fsck", "--data-dir", d, "--rate-mib", "5"][..],
        &[
            "restore",
            "--from",
            d,
            "--data-dir",
            d,
            "--credentials",
            "x",
        ][..],
        &["--json", "show-config", "--data-dir", d][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
    }
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_into_a_closed_pipe_keeps_its_verdict() {
    let srv = TestServer::start().await;
    let s3 = srv.client();
    s3.create_bucket()
        .bucket("fsckpipe")
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket("fsckpipe")
        .key("big")
        .body(vec![1u8; 256 << 10].into())
        .send()
        .await
        .expect("put");
    let dir = srv.stop().await;
    let chunk = files_under(&dir.path().join("blobs"))
        .into_iter()
        .next()
        .expect("a chunk file");
    let mut bytes = std::fs::read(&chunk).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(&chunk, &bytes).expect("corrupt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["fsck", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "damage stays exit 2: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
