//! Share snapshots through the admin API, the CLI and the web console: one taken, listed, read
//! over S3 as `fs+<share>@<name>` after the share changed, a file and then the whole share
//! restored from it, deleted; the same refused to a user without rights on the share; the
//! storage status's share and snapshot rows.

use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, cli, err, ok};
use crate::common::*;

/// `PUT bucket/key` through S3.
async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put");
}

/// `GET bucket/key` through S3: the bytes as text, or the S3 error code.
async fn get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String, String> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(String::from_utf8(body_bytes(o).await).expect("utf-8")),
        Err(e) => Err(code(&e)),
    }
}

/// The keys of `bucket`, through S3.
async fn keys(srv: &TestServer, bucket: &str) -> Vec<String> {
    srv.client()
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

/// The snapshot names of a listing reply, in its order.
fn names(r: &Reply) -> Vec<String> {
    assert_eq!(r.0, 200, "{r:?}");
    r.1.as_array()
        .expect("an array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

/// A share (guests may not read it) with `a.txt` and `dir/b.txt`.
async fn share_with_files(srv: &TestServer, api: &Api, name: &str) {
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({ "name": name, "guest_read": false })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let bucket = format!("fs+{name}");
    put(&srv.client(), &bucket, "a.txt", "monday").await;
    put(&srv.client(), &bucket, "dir/b.txt", "bee").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_round_trip_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    share_with_files(&srv, &api, "team").await;
    let s3 = srv.client();

    // Take one by name: its bucket, alias and size are those of the share now.
    let r = api
        .call(
            "POST",
            "/api/shares/team/snapshots",
            Some(json!({ "name": "monday" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(
        (
            &r.1["share"],
            &r.1["name"],
            &r.1["bucket"],
            &r.1["alias"],
            &r.1["bytes"],
            &r.1["objects"]
        ),
        (
            &json!("team"),
            &json!("monday"),
            &json!("fs+team@monday"),
            &json!("fs--team.monday"),
            &json!(9),
            &json!(2)
        ),
        "{r:?}"
    );
    assert!(r.1["created_ms"].as_i64().is_some_and(|t| t > 0), "{r:?}");
    // Another without a name (an empty body), and the first name again.
    let r = api.call("POST", "/api/shares/team/snapshots", None).await;
    assert_eq!(r.0, 201, "{r:?}");
    let auto = r.1["name"].as_str().expect("name").to_string();
    assert!(auto.starts_with("snap-"), "{r:?}");
    err(
        &api.call(
            "POST",
            "/api/shares/team/snapshots",
            Some(json!({ "name": "monday" })),
        )
        .await,
        409,
        "store.conflict",
    );
    err(
        &api.call(
            "POST",
            "/api/shares/team/snapshots",
            Some(json!({ "name": "Not.Valid" })),
        )
        .await,
        400,
        "store.invalid_argument",
    );
    err(
        &api.call("POST", "/api/shares/nowhere/snapshots", None)
            .await,
        404,
        "share.no_such_share",
    );
    let r = api.call("GET", "/api/shares/team/snapshots", None).await;
    assert_eq!(names(&r), ["monday", auto.as_str()], "oldest first");

    // The share changes; the snapshot still has the old bytes, over S3 by name and alias.
    put(&s3, "fs+team", "a.txt", "tuesday!!").await;
    put(&s3, "fs+team", "new.txt", "fresh").await;
    s3.delete_object()
        .bucket("fs+team")
        .key("dir/b.txt")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        get(&s3, "fs+team", "a.txt").await.as_deref(),
        Ok("tuesday!!")
    );
    assert_eq!(
        get(&s3, "fs+team@monday", "a.txt").await.as_deref(),
        Ok("monday")
    );
    assert_eq!(
        get(&s3, "fs--team.monday", "dir/b.txt").await.as_deref(),
        Ok("bee")
    );
    assert_eq!(keys(&srv, "fs+team@monday").await, ["a.txt", "dir/b.txt"]);

    // The storage status: the share's row counts its snapshots' bytes, each snapshot has a
    // row naming its share, and every row says what noncurrent versions hold.
    let r = api.call("GET", "/api/storage", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    let rows = r.1["buckets"].as_array().expect("buckets");
    let row = |name: &str| {
        rows.iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {r:?}"))
    };
    assert_eq!(row("fs+team")["snapshot_bytes"], json!(18), "{r:?}");
    assert_eq!(row("fs+team")["noncurrent_bytes"], json!(0), "{r:?}");
    assert_eq!(row("fs+team@monday")["snapshot_of"], "fs+team", "{r:?}");
    assert_eq!(row("fs+team@monday")["used_bytes"], json!(9), "{r:?}");
    assert!(rows.iter().all(|b| b["noncurrent_bytes"].is_u64()), "{r:?}");

    // One file back: the rest of the share stays as it is now.
    let restore = async |snap: &str, path: &str| {
        api.call(
            "POST",
            &format!("/api/shares/team/snapshots/{snap}/restore"),
            Some(json!({ "path": path })),
        )
        .await
    };
    let r = restore("monday", "a.txt").await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(
        (&r.1["restored"], &r.1["removed"], &r.1["path"]),
        (&json!(1), &json!(0), &json!("a.txt")),
        "{r:?}"
    );
    assert_eq!(get(&s3, "fs+team", "a.txt").await.as_deref(), Ok("monday"));
    assert_eq!(keys(&srv, "fs+team").await, ["a.txt", "new.txt"]);
    // The whole share: the deleted file comes back, the new one goes.
    let r = restore("monday", "").await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(
        (&r.1["restored"], &r.1["removed"]),
        (&json!(2), &json!(1)),
        "{r:?}"
    );
    assert_eq!(keys(&srv, "fs+team").await, ["a.txt", "dir/b.txt"]);
    assert_eq!(get(&s3, "fs+team", "dir/b.txt").await.as_deref(), Ok("bee"));
    err(&restore("monday", "nothing/").await, 404, "store.not_found");
    err(&restore("sunday", "").await, 404, "store.no_such_bucket");

    // Delete: gone from the list and from S3; the other stays.
    let r = api
        .call("DELETE", "/api/shares/team/snapshots/monday", None)
        .await;
    assert_eq!(r.0, 204, "{r:?}");
    let r = api.call("GET", "/api/shares/team/snapshots", None).await;
    assert_eq!(names(&r), [auto.as_str()]);
    assert_eq!(
        get(&s3, "fs+team@monday", "a.txt").await,
        Err("NoSuchBucket".to_string())
    );
    err(
        &api.call("DELETE", "/api/shares/team/snapshots/monday", None)
            .await,
        404,
        "share.no_such_share",
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_refused_without_rights_on_the_share() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    share_with_files(&srv, &api, "private").await;
    let r = api
        .call(
            "POST",
            "/api/shares/private/snapshots",
            Some(json!({ "name": "kept" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    put(&srv.client(), "fs+private", "a.txt", "changed").await;

    // Nobody's user: refused everything, and nothing changes.
    let u = srv.new_user("stranger").await;
    let who = Api::with(&srv, &u.access_key, &u.secret_key);
    let their_s3 = client_with(srv.addr, &u.access_key, &u.secret_key);
    let refused: [(&str, &str, Option<Value>); 4] = [
        ("GET", "/api/shares/private/snapshots", None),
        (
            "POST",
            "/api/shares/private/snapshots",
            Some(json!({ "name": "theirs" })),
        ),
        ("DELETE", "/api/shares/private/snapshots/kept", None),
        (
            "POST",
            "/api/shares/private/snapshots/kept/restore",
            Some(json!({ "path": "" })),
        ),
    ];
    for (m, p, body) in refused.clone() {
        err(&who.call(m, p, body).await, 403, "rbac.denied");
    }
    assert_eq!(
        get(&their_s3, "fs+private@kept", "a.txt").await,
        Err("AccessDenied".to_string())
    );

    // A reader of the share lists the snapshots and reads one over S3, but takes, deletes
    // and restores none.
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "stranger", "role": "bucket-read", "bucket": "fs+private" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = who.call("GET", "/api/shares/private/snapshots", None).await;
    assert_eq!(names(&r), ["kept"]);
    assert_eq!(
        get(&their_s3, "fs+private@kept", "a.txt").await.as_deref(),
        Ok("monday")
    );
    for (m, p, body) in refused.into_iter().skip(1) {
        err(&who.call(m, p, body).await, 403, "rbac.denied");
    }

    // All as it was.
    let r = api.call("GET", "/api/shares/private/snapshots", None).await;
    assert_eq!(names(&r), ["kept"]);
    assert_eq!(
        get(&srv.client(), "fs+private", "a.txt").await.as_deref(),
        Ok("changed")
    );
    srv.stop().await;
}

/// The cells of a table row (columns are two or more spaces apart).
fn cells(row: &str) -> Vec<String> {
    row.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_share_snapshots_and_storage_status() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    share_with_files(&srv, &api, "docs").await;
    let s3 = srv.client();
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let run = async |args: &[&str]| {
        let mut all = vec!["--credentials", creds.as_str()];
        all.extend_from_slice(args);
        cli(&srv, h, &[], &all).await
    };

    // Create: where to read it.
    let out = ok(&run(&["share", "snapshot", "create", "docs", "v1"]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "Created snapshot v1 of share docs (9 B in 2 objects)",
        "{out}"
    );
    assert!(
        lines[1].contains("fs+docs@v1") && lines[1].contains("s3://fs--docs.v1"),
        "{out}"
    );
    assert_eq!(lines[2].trim(), "NFS: /docs/.snapshots/v1/", "{out}");
    let out = ok(&run(&["--json", "share", "snapshot", "create", "docs"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let auto = v["name"].as_str().expect("name").to_string();
    assert!(auto.starts_with("snap-"), "{out}");
    let o = run(&["share", "snapshot", "create", "nowhere", "x"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");

    // List: oldest first, with size and alias.
    let out = ok(&run(&["share", "snapshot", "list", "docs"]).await);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "a header and two snapshots: {out}");
    for col in ["CREATED", "OBJECTS", "SIZE", "NAME", "S3 ALIAS"] {
        assert!(rows[0].contains(col), "{col}: {out}");
    }
    assert_eq!(
        cells(rows[1])[1..],
        ["2", "9 B", "v1", "fs--docs.v1"],
        "{out}"
    );
    assert_eq!(cells(rows[2])[3], auto, "{out}");

    // The share changes; one call restores a file, another the whole share.
    put(&s3, "fs+docs", "a.txt", "changed a lot").await;
    put(&s3, "fs+docs", "extra.txt", "new").await;
    let out = ok(&run(&["share", "snapshot", "restore", "docs", "v1", "a.txt"]).await);
    assert_eq!(
        out.trim(),
        "Restored docs/a.txt from snapshot v1: 1 file put back, 0 files removed"
    );
    assert_eq!(get(&s3, "fs+docs", "a.txt").await.as_deref(), Ok("monday"));
    assert_eq!(
        keys(&srv, "fs+docs").await,
        ["a.txt", "dir/b.txt", "extra.txt"]
    );
    let out = ok(&run(&["share", "snapshot", "restore", "docs", "v1"]).await);
    assert_eq!(
        out.trim(),
        "Restored share docs from snapshot v1: 2 files put back, 1 file removed"
    );
    assert_eq!(keys(&srv, "fs+docs").await, ["a.txt", "dir/b.txt"]);
    let o = run(&["share", "snapshot", "restore", "docs", "v1", "missing/"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");

    // Storage status: current, noncurrent and snapshot bytes per bucket; snapshots as rows.
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "hist" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = api
        .call(
            "PUT",
            "/api/buckets/hist/versioning",
            Some(json!({ "status": "enabled" })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    put(&s3, "hist", "k", "0123456789").await;
    put(&s3, "hist", "k", "abc").await;
    let out = ok(&run(&["storage", "status"]).await);
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("KIND")).collect();
    let header = cells(table[0]);
    for col in ["USED", "CURRENT", "NONCURRENT", "SNAPSHOTS"] {
        assert!(header.iter().any(|c| c == col), "{col}: {out}");
    }
    let row = |name: &str| {
        let r = table
            .iter()
            .map(|l| cells(l))
            .find(|c| c.last().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("no row {name}: {out}"));
        // KIND OBJECTS USED CURRENT NONCURRENT SNAPSHOTS …
        r[..6].to_vec()
    };
    assert_eq!(
        row("hist"),
        ["plain", "1", "13 B", "3 B", "10 B", "-"],
        "{out}"
    );
    assert_eq!(
        row("fs+docs"),
        ["share", "2", "9 B", "9 B", "0 B", "18 B"],
        "{out}"
    );
    assert_eq!(
        row("fs+docs@v1"),
        ["snapshot", "2", "9 B", "9 B", "0 B", "-"],
        "{out}"
    );

    // Bucket info: noncurrent bytes and object lock.
    let out = ok(&run(&["bucket", "info", "hist"]).await);
    let field = |out: &str, k: &str| {
        out.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{k}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {k}: {out}"))
    };
    assert_eq!(field(&out, "noncurrent"), "10 B");
    assert_eq!(field(&out, "object lock"), "off");
    let r = api
        .call(
            "PUT",
            "/api/buckets/hist/object-lock",
            Some(json!({ "default_retention": { "mode": "COMPLIANCE", "days": 30 } })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    let out = ok(&run(&["bucket", "info", "hist"]).await);
    assert_eq!(
        field(&out, "object lock"),
        "on, new versions kept 30 days (COMPLIANCE)"
    );

    // Delete, then it is gone.
    let out = ok(&run(&["share", "snapshot", "delete", "docs", "v1"]).await);
    assert_eq!(out.trim(), "Deleted snapshot v1 of share docs");
    let out = ok(&run(&["--json", "share", "snapshot", "list", "docs"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let left: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(left, [auto.as_str()], "{out}");

    // Someone without rights on the share: refused (exit 4).
    let u = srv.new_user("nobody").await;
    let their = h.join("nobody.credentials");
    std::fs::write(
        &their,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            u.access_key, u.secret_key
        ),
    )
    .expect("write credentials");
    let their = their.to_str().expect("utf-8");
    for args in [
        &["share", "snapshot", "list", "docs"][..],
        &["share", "snapshot", "create", "docs", "theirs"],
        &["share", "snapshot", "restore", "docs", &auto],
    ] {
        let mut all = vec!["--credentials", their];
        all.extend_from_slice(args);
        let o = cli(&srv, h, &[], &all).await;
        assert_eq!(o.status.code(), Some(4), "{args:?}: {o:?}");
        let why = String::from_utf8_lossy(&o.stderr);
        assert!(why.contains("access denied"), "{why}");
    }
    srv.stop().await;
}

/// The console's Snapshots card, the Storage panel's bytes and the object lock state:
/// `tests/browser/snapshots.test.mjs`.
#[test]
fn console_snapshots_card_in_chromium() {
    crate::web_browser::run_in_chromium("snapshots.test.mjs");
}
