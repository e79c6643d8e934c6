//! S3 versioning through the admin API, the CLI and the web console: a bucket's setting, the
//! versions of a key (written with aws-sdk-s3), one version downloaded, restored as current
//! and deleted, and the same refused to a user without rights on the bucket; object lock's
//! setting and the bytes noncurrent versions hold.

use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, admin_addr, cli, err, ok};
use crate::common::*;

/// A GET of the admin API with Bearer credentials: status and the raw body (a download is
/// not JSON).
async fn download(srv: &TestServer, who: (&str, &str), path: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(format!("http://{}{path}", admin_addr(srv)))
        .bearer_auth(format!("{}:{}", who.0, who.1))
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// `PUT bucket/key` through S3; the version id S3 answers with.
async fn put(srv: &TestServer, bucket: &str, key: &str, body: &str) -> Option<String> {
    srv.client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put")
        .version_id
}

/// The versions of one key as (version id, is latest, delete marker), newest first.
fn lines(r: &Reply) -> Vec<(String, bool, bool)> {
    assert_eq!(r.0, 200, "{r:?}");
    r.1["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version_id"].as_str().expect("id").to_string(),
                v["is_latest"].as_bool().expect("is_latest"),
                v["delete_marker"].as_bool().expect("delete_marker"),
            )
        })
        .collect()
}

fn id(v: &Option<String>) -> String {
    v.clone().expect("a version id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_round_trip_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let admin = (srv.access.as_str(), srv.secret.as_str());
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "vers" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");

    // The setting: unversioned at first, enabled, never back to unversioned.
    let r = api.call("GET", "/api/buckets/vers/versioning", None).await;
    assert_eq!(
        (r.0, r.1.clone()),
        (200, json!({ "bucket": "vers", "status": "unversioned" }))
    );
    let r = api.call("GET", "/api/buckets/vers", None).await;
    assert_eq!(r.1["versioning"], "unversioned", "{r:?}");
    let set = async |status: &str| {
        api.call(
            "PUT",
            "/api/buckets/vers/versioning",
            Some(json!({ "status": status })),
        )
        .await
    };
    let r = set("enabled").await;
    assert_eq!((r.0, &r.1["status"]), (200, &json!("enabled")), "{r:?}");
    let r = api.call("GET", "/api/buckets/vers", None).await;
    assert_eq!(r.1["versioning"], "enabled", "{r:?}");
    err(&set("unversioned").await, 400, "store.invalid_argument");
    err(&set("on").await, 400, "api.invalid_json");
    err(
        &api.call(
            "PUT",
            "/api/buckets/nowhere/versioning",
            Some(json!({ "status": "enabled" })),
        )
        .await,
        404,
        "store.no_such_bucket",
    );

    // Two writes of one key through S3, and a key it prefixes that is not its version.
    let v1 = id(&put(&srv, "vers", "doc.txt", "first").await);
    let v2 = id(&put(&srv, "vers", "doc.txt", "second!").await);
    put(&srv, "vers", "doc.txt.bak", "other").await;
    let r = api
        .call("GET", "/api/buckets/vers/versions?key=doc.txt", None)
        .await;
    assert_eq!(
        lines(&r),
        vec![(v2.clone(), true, false), (v1.clone(), false, false)],
        "{r:?}"
    );
    assert_eq!(r.1["truncated"], false, "{r:?}");
    let newest = &r.1["versions"][0];
    assert_eq!(
        (&newest["key"], &newest["size"]),
        (&json!("doc.txt"), &json!(7))
    );
    assert!(
        newest["etag"].as_str().is_some_and(|e| e.len() == 32),
        "{r:?}"
    );
    assert!(
        newest["modified_ms"].as_i64().is_some_and(|t| t > 0),
        "{r:?}"
    );
    // The whole bucket, and one key a page at a time.
    let r = api.call("GET", "/api/buckets/vers/versions", None).await;
    assert_eq!(r.1["versions"].as_array().map(Vec::len), Some(3), "{r:?}");
    let r = api
        .call(
            "GET",
            "/api/buckets/vers/versions?key=doc.txt&max_keys=1",
            None,
        )
        .await;
    assert_eq!(lines(&r), vec![(v2.clone(), true, false)]);
    assert_eq!(
        (&r.1["truncated"], &r.1["next_key_marker"]),
        (&json!(true), &json!("doc.txt")),
        "{r:?}"
    );
    let r = api
        .call(
            "GET",
            &format!(
                "/api/buckets/vers/versions?key=doc.txt&key_marker=doc.txt&version_id_marker={v2}"
            ),
            None,
        )
        .await;
    assert_eq!(lines(&r), vec![(v1.clone(), false, false)]);
    err(
        &api.call("GET", "/api/buckets/vers/versions?key=a&prefix=a", None)
            .await,
        400,
        "api.invalid_request",
    );
    err(
        &api.call(
            "GET",
            "/api/buckets/vers/versions?version_id_marker=x",
            None,
        )
        .await,
        400,
        "api.invalid_request",
    );

    // Download: the current version, or the one named.
    let obj = "/api/buckets/vers/objects/doc.txt";
    assert_eq!(download(&srv, admin, obj).await, (200, b"second!".to_vec()));
    assert_eq!(
        download(&srv, admin, &format!("{obj}?version_id={v1}")).await,
        (200, b"first".to_vec())
    );
    let (st, body) = download(&srv, admin, &format!("{obj}?version_id=nonsense")).await;
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    // A misspelt parameter is refused, not answered with the current version.
    let (st, _) = download(&srv, admin, &format!("{obj}?versionId={v1}")).await;
    assert_eq!(st, 400);

    // Restore the first version: a new current version with its bytes; the rest stay.
    let r = api
        .call(
            "POST",
            "/api/buckets/vers/restore",
            Some(json!({ "key": "doc.txt", "version_id": v1 })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["restored_from"], json!(v1));
    assert_eq!(r.1["size"], 5);
    let v3 = r.1["version_id"].as_str().expect("new id").to_string();
    assert!(v3 != v1 && v3 != v2, "{r:?}");
    assert_eq!(download(&srv, admin, obj).await, (200, b"first".to_vec()));
    let r = api
        .call("GET", "/api/buckets/vers/versions?key=doc.txt", None)
        .await;
    assert_eq!(
        lines(&r),
        vec![
            (v3.clone(), true, false),
            (v2.clone(), false, false),
            (v1.clone(), false, false)
        ]
    );
    err(
        &api.call(
            "POST",
            "/api/buckets/vers/restore",
            Some(json!({ "key": "doc.txt", "version_id": "null" })),
        )
        .await,
        404,
        "store.no_such_version",
    );

    // Delete one version for good: gone from the listing and from S3.
    let r = api
        .call("DELETE", &format!("{obj}?version_id={v2}"), None)
        .await;
    assert_eq!(r.0, 204, "{r:?}");
    let r = api
        .call("GET", "/api/buckets/vers/versions?key=doc.txt", None)
        .await;
    assert_eq!(
        lines(&r),
        vec![(v3.clone(), true, false), (v1.clone(), false, false)]
    );
    let e = srv
        .client()
        .get_object()
        .bucket("vers")
        .key("doc.txt")
        .version_id(&v2)
        .send()
        .await
        .expect_err("deleted version");
    assert_eq!(code(&e), "NoSuchVersion");

    // A plain delete leaves a marker on top; restoring brings the key back.
    let r = api.call("DELETE", obj, None).await;
    assert_eq!(r.0, 204, "{r:?}");
    let r = api
        .call("GET", "/api/buckets/vers/versions?key=doc.txt", None)
        .await;
    let l = lines(&r);
    assert_eq!(l.len(), 3, "{r:?}");
    let marker = l[0].0.clone();
    assert_eq!(l[0], (marker.clone(), true, true), "{r:?}");
    assert_eq!(
        (&r.1["versions"][0]["etag"], &r.1["versions"][0]["size"]),
        (&Value::Null, &json!(0))
    );
    assert_eq!(download(&srv, admin, obj).await.0, 404);
    err(
        &api.call(
            "POST",
            "/api/buckets/vers/restore",
            Some(json!({ "key": "doc.txt", "version_id": marker })),
        )
        .await,
        400,
        "store.invalid_request",
    );
    let r = api
        .call(
            "POST",
            "/api/buckets/vers/restore",
            Some(json!({ "key": "doc.txt", "version_id": v3 })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(download(&srv, admin, obj).await, (200, b"first".to_vec()));

    let r = set("suspended").await;
    assert_eq!((r.0, &r.1["status"]), (200, &json!("suspended")), "{r:?}");
    let r = api.call("GET", "/api/buckets/vers", None).await;
    assert_eq!(r.1["versioning"], "suspended", "{r:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_refused_without_rights_on_the_bucket() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "kept" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = api
        .call(
            "PUT",
            "/api/buckets/kept/versioning",
            Some(json!({ "status": "enabled" })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    let v1 = id(&put(&srv, "kept", "k", "one").await);
    put(&srv, "kept", "k", "two").await;

    // Nobody's user: refused everything, and nothing changes.
    let u = srv.new_user("stranger").await;
    let who = Api::with(&srv, &u.access_key, &u.secret_key);
    let obj = "/api/buckets/kept/objects/k";
    let refused: [(&str, String, Option<Value>); 6] = [
        ("GET", "/api/buckets/kept/versioning".into(), None),
        (
            "PUT",
            "/api/buckets/kept/versioning".into(),
            Some(json!({ "status": "suspended" })),
        ),
        ("GET", "/api/buckets/kept/versions?key=k".into(), None),
        (
            "POST",
            "/api/buckets/kept/restore".into(),
            Some(json!({ "key": "k", "version_id": v1 })),
        ),
        ("DELETE", format!("{obj}?version_id={v1}"), None),
        ("GET", "/api/buckets/kept".into(), None),
    ];
    for (m, p, body) in refused {
        err(&who.call(m, &p, body).await, 403, "rbac.denied");
    }
    let (st, _) = download(
        &srv,
        (&u.access_key, &u.secret_key),
        &format!("{obj}?version_id={v1}"),
    )
    .await;
    assert_eq!(st, 403);

    // A reader of the bucket lists and downloads versions, but restores and deletes none.
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "stranger", "role": "bucket-read", "bucket": "kept" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = who
        .call("GET", "/api/buckets/kept/versions?key=k", None)
        .await;
    assert_eq!(lines(&r).len(), 2, "{r:?}");
    assert_eq!(
        download(
            &srv,
            (&u.access_key, &u.secret_key),
            &format!("{obj}?version_id={v1}")
        )
        .await,
        (200, b"one".to_vec())
    );
    err(
        &who.call(
            "POST",
            "/api/buckets/kept/restore",
            Some(json!({ "key": "k", "version_id": v1 })),
        )
        .await,
        403,
        "rbac.denied",
    );
    err(
        &who.call("DELETE", &format!("{obj}?version_id={v1}"), None)
            .await,
        403,
        "rbac.denied",
    );
    err(
        &who.call(
            "PUT",
            "/api/buckets/kept/versioning",
            Some(json!({ "status": "suspended" })),
        )
        .await,
        403,
        "rbac.denied",
    );

    // All as it was.
    let r = api
        .call("GET", "/api/buckets/kept/versions?key=k", None)
        .await;
    assert_eq!(lines(&r).len(), 2, "{r:?}");
    assert_eq!(lines(&r)[1].0, v1);
    let r = api.call("GET", "/api/buckets/kept/versioning", None).await;
    assert_eq!(r.1["status"], "enabled");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_and_noncurrent_bytes_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "vault" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = api.call("GET", "/api/buckets/vault", None).await;
    assert_eq!(
        (
            &r.1["versioning"],
            &r.1["object_lock"],
            &r.1["noncurrent_bytes"]
        ),
        (&json!("unversioned"), &json!(false), &json!(0)),
        "{r:?}"
    );
    let lock = "/api/buckets/vault/object-lock";
    let r = api.call("GET", lock, None).await;
    assert_eq!(
        r,
        (
            200,
            json!({ "bucket": "vault", "enabled": false, "default_retention": null })
        )
    );
    let governance = json!({ "default_retention": { "mode": "GOVERNANCE", "days": 2 } });
    // Not without versioning enabled.
    err(
        &api.call("PUT", lock, Some(governance.clone())).await,
        409,
        "store.invalid_bucket_state",
    );
    let r = api
        .call(
            "PUT",
            "/api/buckets/vault/versioning",
            Some(json!({ "status": "enabled" })),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    let r = api.call("PUT", lock, Some(governance.clone())).await;
    assert_eq!(
        r,
        (
            200,
            json!({
                "bucket": "vault",
                "enabled": true,
                "default_retention": { "mode": "GOVERNANCE", "days": 2 },
            })
        )
    );
    assert_eq!(api.call("GET", lock, None).await.1["enabled"], true);
    err(
        &api.call(
            "PUT",
            lock,
            Some(json!({ "default_retention": { "mode": "FOREVER", "days": 2 } })),
        )
        .await,
        400,
        "api.invalid_request",
    );
    err(
        &api.call(
            "PUT",
            lock,
            Some(json!({ "default_retention": { "mode": "COMPLIANCE", "days": 1, "years": 1 } })),
        )
        .await,
        400,
        "store.invalid_argument",
    );
    // Cleared default retention: object lock stays on.
    let r = api
        .call("PUT", lock, Some(json!({ "default_retention": null })))
        .await;
    assert_eq!(
        (&r.1["enabled"], &r.1["default_retention"]),
        (&json!(true), &Value::Null),
        "{r:?}"
    );
    err(
        &api.call("GET", "/api/buckets/nowhere/object-lock", None)
            .await,
        404,
        "store.no_such_bucket",
    );

    // Two writes of a key: the first is noncurrent, in bucket info and in the storage status.
    put(&srv, "vault", "k", "0123456789").await;
    put(&srv, "vault", "k", "abc").await;
    let r = api.call("GET", "/api/buckets/vault", None).await;
    assert_eq!(
        (
            &r.1["object_lock"],
            &r.1["usage_bytes"],
            &r.1["noncurrent_bytes"]
        ),
        (&json!(true), &json!(13), &json!(10)),
        "{r:?}"
    );
    let r = api.call("GET", "/api/storage", None).await;
    let row = r.1["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .find(|b| b["name"] == "vault")
        .cloned()
        .expect("row");
    assert_eq!(
        (&row["used_bytes"], &row["noncurrent_bytes"]),
        (&json!(13), &json!(10)),
        "{row}"
    );

    // Nobody's user neither reads nor sets it.
    let u = srv.new_user("outsider").await;
    let who = Api::with(&srv, &u.access_key, &u.secret_key);
    err(&who.call("GET", lock, None).await, 403, "rbac.denied");
    err(
        &who.call("PUT", lock, Some(governance)).await,
        403,
        "rbac.denied",
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_versioning_and_versions() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "clivers" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let run = async |args: &[&str]| {
        let mut all = vec!["--credentials", creds.as_str()];
        all.extend_from_slice(args);
        cli(&srv, h, &[], &all).await
    };

    // The setting.
    let out = ok(&run(&["bucket", "versioning", "clivers", "status"]).await);
    assert_eq!(out.trim(), "Versioning of clivers: unversioned");
    let out = ok(&run(&["bucket", "versioning", "clivers", "enable"]).await);
    assert_eq!(out.trim(), "Versioning of clivers: enabled");
    let out = ok(&run(&["bucket", "info", "clivers"]).await);
    assert!(
        out.lines()
            .any(|l| l.starts_with("versioning:") && l.ends_with("enabled")),
        "{out}"
    );
    let out = ok(&run(&["--json", "bucket", "versioning", "clivers", "status"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["status"], "enabled");
    let o = run(&["bucket", "versioning", "clivers", "off"]).await;
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = run(&["bucket", "versioning", "no-such-bucket", "enable"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");

    // Two versions: newest first, the latest marked.
    let v1 = id(&put(&srv, "clivers", "notes.md", "one").await);
    let v2 = id(&put(&srv, "clivers", "notes.md", "version two").await);
    put(&srv, "clivers", "notes.md.old", "not a version").await;
    let out = ok(&run(&["object", "versions", "clivers", "notes.md"]).await);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "a header and two versions: {out}");
    for col in ["MODIFIED", "SIZE", "LATEST", "MARKER", "VERSION ID"] {
        assert!(rows[0].contains(col), "{col}: {out}");
    }
    let cells = |row: &str| {
        row.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(rows[1])[1..],
        ["11 B", "yes", "-", v2.as_str()],
        "{out}"
    );
    assert_eq!(
        cells(rows[2])[1..],
        ["3 B", "no", "-", v1.as_str()],
        "{out}"
    );

    // An old version downloaded, then restored as current.
    let file = h.join("old.md");
    let file = file.to_str().expect("utf-8");
    let out = ok(&run(&[
        "object",
        "get",
        "clivers",
        "notes.md",
        file,
        "--version-id",
        &v1,
    ])
    .await);
    assert!(out.contains(&format!("version {v1}")), "{out}");
    assert_eq!(std::fs::read(file).expect("file"), b"one");
    let out = ok(&run(&["object", "restore", "clivers", "notes.md", &v1]).await);
    assert!(
        out.starts_with(&format!("Restored version {v1} of clivers/notes.md")),
        "{out}"
    );
    let out = ok(&run(&["object", "get", "clivers", "notes.md", "-"]).await);
    assert_eq!(out, "one");

    // A delete leaves a marker on top; deleting the marker brings the key back.
    ok(&run(&["object", "delete", "clivers", "notes.md"]).await);
    let out = ok(&run(&["object", "versions", "clivers", "notes.md"]).await);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 5, "{out}");
    let top = cells(rows[1]);
    assert_eq!(top[1..4], ["-", "yes", "delete marker"], "{out}");
    let marker = top[4].clone();
    let o = run(&["object", "get", "clivers", "notes.md", "-"]).await;
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let out = ok(&run(&[
        "object",
        "delete",
        "clivers",
        "notes.md",
        "--version-id",
        &marker,
    ])
    .await);
    assert!(out.contains(&format!("Deleted version {marker}")), "{out}");
    let out = ok(&run(&["object", "get", "clivers", "notes.md", "-"]).await);
    assert_eq!(out, "one");
    let out = ok(&run(&["--json", "object", "versions", "clivers", "notes.md"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let ids: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x["version_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert_eq!(ids[1..], [v2.as_str(), v1.as_str()], "{out}");

    let out = ok(&run(&["bucket", "versioning", "clivers", "suspend"]).await);
    assert_eq!(out.trim(), "Versioning of clivers: suspended");
    srv.stop().await;
}

/// The console's versioning setting and versions view: `tests/browser/versions.test.mjs`.
#[test]
fn console_versions_view_in_chromium() {
    crate::web_browser::run_in_chromium("versions.test.mjs");
}
