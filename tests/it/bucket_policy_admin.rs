//! A bucket's policy through the admin API, the CLI and the web console (decision 0041): the
//! presets (private, public) and a custom document, each checked with unsigned S3 requests;
//! a malformed document refused with its reason and nothing changed; the same refused to a
//! user without rights on the bucket, and to a public policy under a public access block.

use std::io::Write;
use std::process::{Output, Stdio};

use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use gatehouse_store::bucket_access::public_preset;
use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, admin_addr, cli, err, ok};
use crate::common::*;

/// `PUT bucket/key` through S3.
async fn put(srv: &TestServer, bucket: &str, key: &str, body: &str) {
    srv.client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put");
}

/// An unsigned S3 GET (as a browser or `curl` sends it): its status.
async fn unsigned(srv: &TestServer, path: &str) -> u16 {
    reqwest::Client::new()
        .get(srv.url(path))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

/// The policy state an answer carries: (preset, policy, public).
fn state(r: &Reply) -> (String, Option<String>, bool) {
    assert_eq!(r.0, 200, "{r:?}");
    (
        r.1["preset"].as_str().expect("preset").to_string(),
        r.1["policy"].as_str().map(str::to_string),
        r.1["public"].as_bool().expect("public"),
    )
}

fn private() -> (String, Option<String>, bool) {
    ("private".into(), None, false)
}

/// Anyone may read the objects under `prefix`.
fn read_prefix(bucket: &str, prefix: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"ReadPrefix","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/{prefix}*"}}]}}"#
    )
}

/// A document that names another bucket's objects: refused.
fn elsewhere() -> String {
    read_prefix("some-other-bucket", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_round_trip_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "site" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    put(&srv, "site", "index.html", "<p>hi</p>").await;
    put(&srv, "site", "pub/a.txt", "a").await;
    let path = "/api/buckets/site/policy";
    let set = async |body: Value| api.call("PUT", path, Some(body)).await;

    // Private: no policy, refused without credentials.
    let r = api.call("GET", path, None).await;
    assert_eq!(
        r,
        (
            200,
            json!({ "bucket": "site", "preset": "private", "policy": null, "public": false })
        )
    );
    assert_eq!(unsigned(&srv, "/site/index.html").await, 403);

    // Public: anyone reads and lists.
    let r = set(json!({ "preset": "public" })).await;
    assert_eq!(
        state(&r),
        ("public".into(), Some(public_preset("site")), true),
        "{r:?}"
    );
    assert_eq!(r.1["bucket"], "site");
    let doc: Value = serde_json::from_str(&public_preset("site")).expect("JSON");
    let statements = doc["Statement"].as_array().expect("statements");
    assert!(
        statements
            .iter()
            .all(|s| s["Effect"] == "Allow" && s["Principal"] == "*"),
        "{doc}"
    );
    assert_eq!(api.call("GET", path, None).await, r, "as the PUT answered");
    assert_eq!(unsigned(&srv, "/site/index.html").await, 200);
    assert_eq!(unsigned(&srv, "/site?list-type=2").await, 200);

    // Custom: kept as sent, in force at once (only pub/ readable, nothing listed).
    let custom = read_prefix("site", "pub/");
    let r = set(json!({ "policy": custom })).await;
    assert_eq!(
        state(&r),
        ("custom".into(), Some(custom.clone()), true),
        "{r:?}"
    );
    assert_eq!(state(&api.call("GET", path, None).await), state(&r));
    assert_eq!(unsigned(&srv, "/site/pub/a.txt").await, 200);
    assert_eq!(unsigned(&srv, "/site/index.html").await, 403);
    assert_eq!(unsigned(&srv, "/site?list-type=2").await, 403);
    // `"preset": "custom"` with the document says the same.
    let r = set(json!({ "preset": "custom", "policy": custom })).await;
    assert_eq!(state(&r).0, "custom", "{r:?}");
    // The public preset's text sent as a document is the public preset.
    let r = set(json!({ "policy": public_preset("site") })).await;
    assert_eq!(state(&r).0, "public", "{r:?}");
    let r = set(json!({ "policy": custom })).await;
    assert_eq!(state(&r).0, "custom", "{r:?}");

    // Malformed documents: 400 with the reason; nothing changes.
    let msg = err(
        &set(json!({ "policy": elsewhere() })).await,
        400,
        "access.malformed_policy",
    );
    assert!(msg.starts_with("malformed policy: "), "{msg}");
    assert!(msg.to_lowercase().contains("resource"), "{msg}");
    for bad in [
        "not json".to_string(),
        String::new(),
        r#"{"Statement":[]}"#.to_string(),
        custom.replace("s3:GetObject", "s3:FlyAway"),
    ] {
        let msg = err(
            &set(json!({ "policy": bad })).await,
            400,
            "access.malformed_policy",
        );
        assert!(
            msg.len() > "malformed policy: ".len() + 2,
            "a reason for {bad:?}: {msg}"
        );
    }
    // Bodies that say neither a preset nor a document.
    for body in [
        json!({}),
        json!({ "preset": "open" }),
        json!({ "preset": "custom" }),
        json!({ "preset": "public", "policy": custom }),
        json!({ "preset": "private", "policy": custom }),
    ] {
        err(&set(body.clone()).await, 400, "api.invalid_request");
    }
    err(
        &set(json!({ "preset": "private", "mode": "x" })).await,
        400,
        "api.invalid_json",
    );
    assert_eq!(
        state(&api.call("GET", path, None).await),
        ("custom".into(), Some(custom.clone()), true),
        "nothing refused replaced it"
    );
    assert_eq!(unsigned(&srv, "/site/pub/a.txt").await, 200);

    // A bucket's public access block refuses a public policy (403), not a private one.
    srv.client()
        .put_public_access_block()
        .bucket("site")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_policy(true)
                .build(),
        )
        .send()
        .await
        .expect("block");
    let msg = err(
        &set(json!({ "preset": "public" })).await,
        403,
        "rbac.denied",
    );
    assert!(msg.contains("public access block"), "{msg}");
    let msg = err(
        &set(json!({ "policy": read_prefix("site", "") })).await,
        403,
        "rbac.denied",
    );
    assert!(msg.contains("public access block"), "{msg}");
    assert_eq!(state(&api.call("GET", path, None).await).1, Some(custom));

    // Private again, twice (no policy is no error).
    for _ in 0..2 {
        let r = set(json!({ "preset": "private" })).await;
        assert_eq!(state(&r), private(), "{r:?}");
    }
    assert_eq!(state(&api.call("GET", path, None).await), private());
    assert_eq!(unsigned(&srv, "/site/pub/a.txt").await, 403);
    assert_eq!(unsigned(&srv, "/site/index.html").await, 403);

    // A bucket that does not exist.
    err(
        &api.call("GET", "/api/buckets/nowhere/policy", None).await,
        404,
        "store.no_such_bucket",
    );
    for body in [
        json!({ "preset": "private" }),
        json!({ "preset": "public" }),
        json!({ "policy": read_prefix("nowhere", "") }),
    ] {
        err(
            &api.call("PUT", "/api/buckets/nowhere/policy", Some(body))
                .await,
            404,
            "store.no_such_bucket",
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_is_refused_without_rights_on_the_bucket() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "guarded" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    put(&srv, "guarded", "k", "v").await;
    let path = "/api/buckets/guarded/policy";
    let public = api
        .call("PUT", path, Some(json!({ "preset": "public" })))
        .await;
    assert_eq!(state(&public).0, "public", "{public:?}");

    // Nobody's user: neither reads nor sets it (a public bucket's objects are not its policy).
    let u = srv.new_user("stranger").await;
    let who = Api::with(&srv, &u.access_key, &u.secret_key);
    err(&who.call("GET", path, None).await, 403, "rbac.denied");
    for body in [
        json!({ "preset": "private" }),
        json!({ "preset": "public" }),
        json!({ "policy": read_prefix("guarded", "") }),
        json!({ "policy": elsewhere() }),
    ] {
        err(&who.call("PUT", path, Some(body)).await, 403, "rbac.denied");
    }

    // A reader of the bucket sees the policy but changes nothing.
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "stranger", "role": "bucket-read", "bucket": "guarded" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(who.call("GET", path, None).await, public);
    for body in [
        json!({ "preset": "private" }),
        json!({ "policy": read_prefix("guarded", "") }),
    ] {
        err(&who.call("PUT", path, Some(body)).await, 403, "rbac.denied");
    }

    // All as it was.
    assert_eq!(api.call("GET", path, None).await, public);
    assert_eq!(unsigned(&srv, "/guarded/k").await, 200);
    srv.stop().await;
}

/// `gatehouse <args>` with `input` on its standard input.
async fn cli_stdin(srv: &TestServer, home: &std::path::Path, args: &[&str], input: &str) -> Output {
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
    let input = input.to_string();
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bucket_policy() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "clipol" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    put(&srv, "clipol", "k", "value").await;
    let reader = srv.new_user("reader").await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let run = async |args: &[&str]| {
        let mut all = vec!["--credentials", creds.as_str()];
        all.extend_from_slice(args);
        cli(&srv, h, &[], &all).await
    };
    let get = async || ok(&run(&["bucket", "policy", "clipol", "get"]).await);

    let out = get().await;
    assert_eq!(out, "Policy of clipol: private\n");

    // public: the preset's document under the line.
    let out = ok(&run(&["bucket", "policy", "clipol", "public"]).await);
    assert_eq!(
        out,
        format!(
            "Policy of clipol: public (public)\n{}\n",
            public_preset("clipol")
        )
    );
    assert_eq!(get().await, out);
    assert_eq!(unsigned(&srv, "/clipol/k").await, 200);
    let out = ok(&run(&["--json", "bucket", "policy", "clipol", "get"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (&v["bucket"], &v["preset"], &v["public"]),
        (&json!("clipol"), &json!("public"), &json!(true)),
        "{v}"
    );

    // set FILE: a document on several lines, printed as it was put.
    let file = h.join("policy.json");
    let doc = serde_json::to_string_pretty(
        &serde_json::from_str::<Value>(&read_prefix("clipol", "")).expect("JSON"),
    )
    .expect("pretty");
    std::fs::write(&file, &doc).expect("write");
    let file = file.to_str().expect("utf-8");
    let out = ok(&run(&["bucket", "policy", "clipol", "set", file]).await);
    assert_eq!(out, format!("Policy of clipol: custom (public)\n{doc}\n"));
    assert_eq!(get().await, out);
    assert_eq!(unsigned(&srv, "/clipol/k").await, 200);

    // set -: from stdin, a document for one named user (not public).
    let named = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam:::user/reader"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::clipol/*"}]}"#;
    let o = cli_stdin(
        &srv,
        h,
        &[
            "--credentials",
            &creds,
            "bucket",
            "policy",
            "clipol",
            "set",
            "-",
        ],
        named,
    )
    .await;
    let out = ok(&o);
    assert_eq!(out, format!("Policy of clipol: custom\n{named}\n"));
    assert_eq!(
        unsigned(&srv, "/clipol/k").await,
        403,
        "not public any more"
    );
    let got = client_with(srv.addr, &reader.access_key, &reader.secret_key)
        .get_object()
        .bucket("clipol")
        .key("k")
        .send()
        .await
        .expect("the named user reads");
    assert_eq!(body_bytes(got).await, b"value");

    // Refusals: a malformed document (exit 1, the reason), a file that is not there, a bucket
    // that is not there (3), a verb that does not exist (2), a user without rights (4).
    let bad = h.join("bad.json");
    std::fs::write(&bad, elsewhere()).expect("write");
    let bad = bad.to_str().expect("utf-8");
    let o = run(&["bucket", "policy", "clipol", "set", bad]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("malformed policy: "), "{}", stderr(&o));
    let o = run(&["--json", "bucket", "policy", "clipol", "set", bad]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e: Value = serde_json::from_str(stderr(&o).trim()).expect("JSON error");
    assert_eq!(e["error"], "access.malformed_policy", "{e}");
    let o = cli_stdin(
        &srv,
        h,
        &[
            "--credentials",
            &creds,
            "bucket",
            "policy",
            "clipol",
            "set",
            "-",
        ],
        "{ not json",
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("malformed policy"), "{}", stderr(&o));
    let missing = h.join("missing.json");
    let o = run(&[
        "bucket",
        "policy",
        "clipol",
        "set",
        missing.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let o = run(&["bucket", "policy", "no-such-bucket", "public"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = run(&["bucket", "policy", "no-such-bucket", "get"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = run(&["bucket", "policy", "clipol", "open"]).await;
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = run(&["bucket", "policy", "clipol", "set"]).await;
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let as_reader = [
        ("AWS_ACCESS_KEY_ID", reader.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", reader.secret_key.as_str()),
    ];
    let o = cli(
        &srv,
        h,
        &as_reader,
        &["bucket", "policy", "clipol", "public"],
    )
    .await;
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let o = cli(&srv, h, &as_reader, &["bucket", "policy", "clipol", "get"]).await;
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert_eq!(
        get().await,
        format!("Policy of clipol: custom\n{named}\n"),
        "nothing refused changed it"
    );

    // private: the document goes.
    let out = ok(&run(&["bucket", "policy", "clipol", "private"]).await);
    assert_eq!(out, "Policy of clipol: private\n");
    assert_eq!(get().await, out);
    assert_eq!(
        state(&api.call("GET", "/api/buckets/clipol/policy", None).await),
        private()
    );
    assert_eq!(unsigned(&srv, "/clipol/k").await, 403);
    srv.stop().await;
}

/// The console's policy setting: `tests/browser/policy.test.mjs`.
#[test]
fn console_policy_setting_in_chromium() {
    crate::web_browser::run_in_chromium("policy.test.mjs");
}
