//! Bucket replication's admin API and CLI against the real server: connections (the secret
//! goes in and never comes out, nor lies in the database in clear), rules, status,
//! pause/resume, and the two tiers (admins configure; a `replication-operator` binding on one
//! bucket reads and pauses that bucket's rule only). The connections point at a closed port:
//! nothing here checks what the worker sends.

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, admin_addr, cli, err, ok};
use crate::common::*;

/// Nothing listens there.
const ENDPOINT: &str = "http://127.0.0.1:1";
const SECRET: &str = "Repl1cationSecret-never-shown-0123456789";

fn connection(name: &str) -> Value {
    json!({
        "name": name,
        "endpoint": ENDPOINT,
        "access_key": "remote-ak",
        "secret_key": SECRET,
    })
}

fn rule(conn: &str, target: &str) -> Value {
    json!({ "connection": conn, "target_bucket": target })
}

/// The reply, asserted free of the secret.
fn no_secret(r: Reply) -> Reply {
    let text = r.1.to_string();
    assert!(!text.contains(SECRET), "the secret came back: {text}");
    assert!(!text.contains("secret"), "a secret field came back: {text}");
    r
}

async fn create_bucket(api: &Api, name: &str) {
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": name })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_rules_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    create_bucket(&api, "repl-src").await;

    // Connections: added (201), listed, never with the secret.
    let r = no_secret(
        api.call(
            "POST",
            "/api/replication/connections",
            Some(connection("site-b")),
        )
        .await,
    );
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["name"], "site-b");
    assert_eq!(r.1["endpoint"], ENDPOINT);
    assert_eq!(r.1["region"], "us-east-1", "the default region");
    assert_eq!(r.1["access_key"], "remote-ak");
    let r = no_secret(api.call("GET", "/api/replication/connections", None).await);
    assert_eq!(r.0, 200, "{r:?}");
    let list = r.1.as_array().expect("array");
    assert_eq!(list.len(), 1, "{r:?}");
    assert_eq!(list[0]["name"], "site-b");

    // Bodies as every route reads them: malformed or with unknown fields, 400 in the API's shape.
    let bad = |body: &'static str| {
        api.raw(
            "POST",
            "/api/replication/connections",
            body.as_bytes().to_vec(),
            body.as_bytes(),
        )
    };
    err(&bad("{\"name\":").await, 400, "api.invalid_json");
    err(&bad("[]").await, 400, "api.invalid_json");
    let mut extra = connection("site-c");
    extra["colour"] = json!("blue");
    err(
        &api.call("POST", "/api/replication/connections", Some(extra))
            .await,
        400,
        "api.invalid_json",
    );
    let mut no_url = connection("site-c");
    no_url["endpoint"] = json!("ftp://example");
    err(
        &api.call("POST", "/api/replication/connections", Some(no_url))
            .await,
        400,
        "store.invalid_argument",
    );
    err(
        &api.call(
            "POST",
            "/api/replication/connections",
            Some(connection("Bad Name")),
        )
        .await,
        400,
        "store.invalid_argument",
    );

    // Rules: an unknown connection or bucket is 404 and sets nothing.
    let put = async |bucket: &str, body: Value| {
        api.call(
            "PUT",
            &format!("/api/replication/rules/{bucket}"),
            Some(body),
        )
        .await
    };
    let m = err(
        &put("repl-src", rule("nowhere", "target")).await,
        404,
        "replication.no_such_connection",
    );
    assert!(m.contains("nowhere"), "{m}");
    err(
        &put("no-such-bucket", rule("site-b", "target")).await,
        404,
        "store.no_such_bucket",
    );
    err(
        &api.call("GET", "/api/replication/rules/repl-src", None)
            .await,
        404,
        "replication.no_such_rule",
    );
    let mut unknown = rule("site-b", "target");
    unknown["mirror"] = json!(true);
    err(&put("repl-src", unknown).await, 400, "api.invalid_json");
    err(
        &put("repl-src", rule("site-b", "NO")).await,
        400,
        "store.invalid_argument",
    );

    // Set: 200 with the status; the defaults are no prefix, no deletes, not paused.
    let r = put("repl-src", rule("site-b", "target")).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["bucket"], "repl-src");
    assert_eq!(r.1["connection"], "site-b");
    assert_eq!(r.1["target_bucket"], "target");
    assert_eq!(r.1["prefix"], "");
    assert_eq!(r.1["deletes"], false);
    assert_eq!(r.1["paused"], false);
    for field in ["queued", "in_flight", "replicated", "failed", "lag_seconds"] {
        assert!(r.1[field].is_number(), "{field}: {r:?}");
    }
    let mut full = rule("site-b", "target2");
    full["prefix"] = json!("logs/");
    full["deletes"] = json!(true);
    full["existing"] = json!(false);
    full["paused"] = json!(true);
    let r = put("repl-src", full).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["target_bucket"], "target2");
    assert_eq!(r.1["prefix"], "logs/");
    assert_eq!(r.1["deletes"], true);
    assert_eq!(r.1["paused"], true);

    let r = api.call("GET", "/api/replication/rules", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1.as_array().expect("array").len(), 1, "{r:?}");
    assert_eq!(r.1[0]["bucket"], "repl-src");
    let r = api
        .call("GET", "/api/replication/rules/repl-src", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(true)), "{r:?}");
    let r = api
        .call("GET", "/api/replication/rules/repl-src/failed", None)
        .await;
    assert_eq!((r.0, r.1.clone()), (200, json!([])), "{r:?}");

    // Pause and resume answer with the rule as it now is.
    let r = api
        .call("POST", "/api/replication/rules/repl-src/resume", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(false)), "{r:?}");
    let r = api
        .call("POST", "/api/replication/rules/repl-src/pause", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(true)), "{r:?}");

    // A share's bucket by its alias `fs--<name>` is the share's `fs+<name>`.
    let r = api
        .call("POST", "/api/shares", Some(json!({ "name": "team" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = put("fs--team", rule("site-b", "team-copy")).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["bucket"], "fs+team");
    let r = api
        .call("POST", "/api/replication/rules/fs--team/pause", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(true)), "{r:?}");
    let r = api
        .call("GET", "/api/replication/rules/fs%2Bteam", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(true)), "{r:?}");
    assert_eq!(
        api.call("DELETE", "/api/replication/rules/fs--team", None)
            .await
            .0,
        204
    );

    // A connection in use is not removed; once its rule is gone it is.
    let m = err(
        &api.call("DELETE", "/api/replication/connections/site-b", None)
            .await,
        409,
        "store.conflict",
    );
    assert!(m.contains("repl-src"), "{m}");
    let r = api
        .call("DELETE", "/api/replication/rules/repl-src", None)
        .await;
    assert_eq!(r.0, 204, "{r:?}");
    err(
        &api.call("DELETE", "/api/replication/rules/repl-src", None)
            .await,
        404,
        "replication.no_such_rule",
    );
    let r = api
        .call("DELETE", "/api/replication/connections/site-b", None)
        .await;
    assert_eq!(r.0, 204, "{r:?}");
    err(
        &api.call("DELETE", "/api/replication/connections/site-b", None)
            .await,
        404,
        "replication.no_such_connection",
    );
    let r = api.call("GET", "/api/replication/connections", None).await;
    assert_eq!(r.1, json!([]), "{r:?}");

    // Sealed at rest: the database file never holds the secret's bytes.
    let r = api
        .call(
            "POST",
            "/api/replication/connections",
            Some(connection("kept")),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let dir = srv.stop().await;
    let db = std::fs::read(dir.path().join("meta.redb")).expect("meta.redb");
    assert!(
        !db.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret lies in meta.redb in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_of_one_bucket_pauses_that_one_only() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    create_bucket(&api, "ops-a").await;
    create_bucket(&api, "ops-b").await;
    let r = api
        .call(
            "POST",
            "/api/replication/connections",
            Some(connection("dr")),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    for b in ["ops-a", "ops-b"] {
        let r = api
            .call(
                "PUT",
                &format!("/api/replication/rules/{b}"),
                Some(rule("dr", "copy")),
            )
            .await;
        assert_eq!(r.0, 200, "{r:?}");
    }
    let u = srv.new_user("oper").await;
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "oper", "role": "replication-operator", "bucket": "ops-a" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let op = Api::with(&srv, &u.access_key, &u.secret_key);

    // Its bucket: listed alone, shown, paused and resumed.
    let r = op.call("GET", "/api/replication/rules", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    let buckets: Vec<&Value> = r.1.as_array().expect("array").iter().collect();
    assert_eq!(buckets.len(), 1, "{r:?}");
    assert_eq!(buckets[0]["bucket"], "ops-a");
    let r = op.call("GET", "/api/replication/rules/ops-a", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    let r = op
        .call("POST", "/api/replication/rules/ops-a/pause", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(true)), "{r:?}");
    let r = op
        .call("POST", "/api/replication/rules/ops-a/resume", None)
        .await;
    assert_eq!((r.0, &r.1["paused"]), (200, &json!(false)), "{r:?}");
    let r = op
        .call("GET", "/api/replication/rules/ops-a/failed", None)
        .await;
    assert_eq!(r.0, 200, "{r:?}");

    // Another bucket: refused, however asked.
    for (m, p) in [
        ("GET", "/api/replication/rules/ops-b"),
        ("POST", "/api/replication/rules/ops-b/pause"),
        ("POST", "/api/replication/rules/ops-b/resume"),
        ("GET", "/api/replication/rules/ops-b/failed"),
    ] {
        err(&op.call(m, p, None).await, 403, "rbac.denied");
    }
    let r = api.call("GET", "/api/replication/rules/ops-b", None).await;
    assert_eq!(r.1["paused"], false, "ops-b untouched: {r:?}");

    // Configuration: admins only, on its own bucket too.
    let denied: [(&str, &str, Option<Value>); 6] = [
        ("GET", "/api/replication/connections", None),
        (
            "POST",
            "/api/replication/connections",
            Some(connection("mine")),
        ),
        ("DELETE", "/api/replication/connections/dr", None),
        (
            "PUT",
            "/api/replication/rules/ops-a",
            Some(rule("dr", "elsewhere")),
        ),
        ("DELETE", "/api/replication/rules/ops-a", None),
        (
            "PUT",
            "/api/replication/rules/ops-b",
            Some(rule("dr", "elsewhere")),
        ),
    ];
    for (m, p, body) in denied {
        err(&op.call(m, p, body).await, 403, "rbac.denied");
    }
    let r = api.call("GET", "/api/replication/rules/ops-a", None).await;
    assert_eq!(r.1["target_bucket"], "copy", "{r:?}");

    // A user without the binding sees no rule and may touch none.
    let plain = srv.new_user("plain").await;
    let pl = Api::with(&srv, &plain.access_key, &plain.secret_key);
    let r = pl.call("GET", "/api/replication/rules", None).await;
    assert_eq!((r.0, r.1.clone()), (200, json!([])), "{r:?}");
    err(
        &pl.call("POST", "/api/replication/rules/ops-a/pause", None)
            .await,
        403,
        "rbac.denied",
    );
}

/// `gatehouse <args>` with `stdin` on its standard input.
async fn cli_stdin(srv: &TestServer, home: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env("GATEHOUSE_SERVER", format!("http://{}", admin_addr(srv)))
        .env("HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("GATEHOUSE_ENROLMENT_TOKEN")
        .current_dir(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("runs the binary");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("output")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_replication_commands() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    create_bucket(&api, "cli-src").await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let secret_file = h.join("remote.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret file");
    let secret_file = secret_file.to_str().expect("utf-8").to_string();
    // Everything the CLI printed, to check that the secret is nowhere in it.
    let seen = std::cell::RefCell::new(String::new());
    let saw = |o: &Output| {
        let mut s = seen.borrow_mut();
        s.push_str(&String::from_utf8_lossy(&o.stdout));
        s.push_str(&String::from_utf8_lossy(&o.stderr));
    };
    let run = async |args: &[&str]| {
        let mut all = vec!["--credentials", creds.as_str()];
        all.extend_from_slice(args);
        let o = cli(&srv, h, &[], &all).await;
        saw(&o);
        o
    };

    // Connections: from a file (its trailing newline is not part of the secret) and from stdin.
    let out = ok(&run(&[
        "replication",
        "connection",
        "add",
        "site-b",
        "--endpoint",
        ENDPOINT,
        "--access-key",
        "remote-ak",
        "--secret-key-file",
        &secret_file,
    ])
    .await);
    assert!(out.contains("site-b") && out.contains(ENDPOINT), "{out}");
    let o = cli_stdin(
        &srv,
        h,
        &[
            "--credentials",
            &creds,
            "--json",
            "replication",
            "connection",
            "add",
            "site-c",
            "--endpoint",
            "https://s3.example.net",
            "--access-key",
            "other-ak",
            "--secret-key-file",
            "-",
            "--region",
            "eu-west-3",
        ],
        &format!("{SECRET}\r\n"),
    )
    .await;
    saw(&o);
    let out = ok(&o);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["region"], "eu-west-3");
    assert_eq!(v["access_key"], "other-ak");
    // The worker opens what the CLI sent: the secret without its line end.
    for name in ["site-b", "site-c"] {
        let remote = srv.store().replication().remote(name).expect("remote");
        assert_eq!(remote.secret_key, SECRET, "{name}");
    }
    let empty = h.join("empty.secret");
    std::fs::write(&empty, "\n").expect("empty file");
    let o = run(&[
        "replication",
        "connection",
        "add",
        "site-d",
        "--endpoint",
        ENDPOINT,
        "--access-key",
        "ak",
        "--secret-key-file",
        empty.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let out = ok(&run(&["replication", "connection", "list"]).await);
    assert!(
        out.contains("site-b") && out.contains("site-c") && out.contains("eu-west-3"),
        "{out}"
    );
    let out = ok(&run(&["--json", "replication", "connection", "list"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v.as_array().expect("array").len(), 2, "{out}");
    assert!(!out.contains("secret"), "{out}");

    // Rules: an unknown connection is "not found" (exit 3) with the server's reason.
    let o = run(&[
        "replication",
        "rule",
        "add",
        "cli-src",
        "--connection",
        "nowhere",
        "--target-bucket",
        "copy",
    ])
    .await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such replication connection"),
        "{o:?}"
    );
    let out = ok(&run(&[
        "replication",
        "rule",
        "add",
        "cli-src",
        "--connection",
        "site-b",
        "--target-bucket",
        "copy",
        "--prefix",
        "logs/",
        "--deletes",
        "--no-existing",
        "--paused",
    ])
    .await);
    assert!(
        out.contains("cli-src") && out.contains("site-b/copy") && out.contains("paused"),
        "{out}"
    );
    let out = ok(&run(&["replication", "rule", "list"]).await);
    assert!(
        out.contains("cli-src") && out.contains("site-b") && out.contains("logs/"),
        "{out}"
    );
    let out = ok(&run(&["--json", "replication", "rule", "list"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v[0]["deletes"], true, "{out}");
    assert_eq!(v[0]["prefix"], "logs/", "{out}");

    // Status: the table, one bucket's as JSON, and pause/resume flipping the state.
    let out = ok(&run(&["replication", "status"]).await);
    let header = out.lines().next().unwrap_or_default();
    for col in [
        "BUCKET",
        "TARGET",
        "STATE",
        "QUEUED",
        "IN FLIGHT",
        "REPLICATED",
        "FAILED",
        "LAG S",
        "LAST ERROR",
    ] {
        assert!(header.contains(col), "{col}: {out}");
    }
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("cli-src") && row.contains("site-b/copy") && row.contains("paused"),
        "{out}"
    );
    let out = ok(&run(&["replication", "resume", "cli-src"]).await);
    assert!(out.contains("Resumed replication of cli-src"), "{out}");
    let out = ok(&run(&["replication", "status", "cli-src", "--json"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (&v["bucket"], &v["paused"]),
        (&json!("cli-src"), &json!(false))
    );
    let out = ok(&run(&["replication", "status", "cli-src"]).await);
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains("active")),
        "{out}"
    );
    let out = ok(&run(&["replication", "pause", "cli-src"]).await);
    assert!(out.contains("Paused replication of cli-src"), "{out}");
    let out = ok(&run(&["--json", "replication", "pause", "cli-src"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["paused"], true);
    let o = run(&["replication", "status", "no-rule-here"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");

    // Removal: the connection only once no rule uses it.
    let o = run(&["replication", "connection", "remove", "site-b"]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("remove that rule first"),
        "{o:?}"
    );
    let out = ok(&run(&["replication", "rule", "remove", "cli-src"]).await);
    assert!(out.contains("cli-src"), "{out}");
    let out = ok(&run(&["replication", "connection", "remove", "site-b"]).await);
    assert!(out.contains("Removed connection site-b"), "{out}");
    let out = ok(&run(&["--json", "replication", "connection", "remove", "site-c"]).await);
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("JSON"),
        json!({ "ok": true })
    );
    let out = ok(&run(&["replication", "status"]).await);
    assert_eq!(out.lines().count(), 1, "only the header: {out}");

    let seen = seen.into_inner();
    assert!(!seen.contains(SECRET), "the CLI showed the secret: {seen}");
}
