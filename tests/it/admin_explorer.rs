//! The Data tab's explorer endpoints (list, download, upload, delete, presign), storage status,
//! health and the OpenAPI document, each with an allowed and a denied caller, and bad input.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, admin_addr, anonymous, cli, err, ok};
use crate::common::*;

/// A raw request with Bearer credentials (no signature), returning the response itself so
/// headers can be checked.
async fn bearer(
    api_srv: &TestServer,
    who: (&str, &str),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(
            method.parse().expect("method"),
            format!("http://{}{path}", admin_addr(api_srv)),
        )
        .bearer_auth(format!("{}:{}", who.0, who.1));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.expect("send")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

async fn make_bucket(api: &Api, name: &str) {
    let (st, b) = api
        .call("POST", "/api/buckets", Some(json!({ "name": name })))
        .await;
    assert_eq!(st, 201, "{b}");
}

async fn presign(api: &Api, bucket: &str, body: Value) -> Reply {
    api.call(
        "POST",
        &format!("/api/buckets/{bucket}/presign"),
        Some(body),
    )
    .await
}

/// A user with one binding, made through the API as the admin.
async fn user_with(srv: &TestServer, name: &str, binding: Option<Value>) -> Api {
    let u = srv.new_user(name).await;
    if let Some(mut b) = binding {
        b["user"] = json!(u.user_id);
        let (st, r) = Api::admin(srv).call("POST", "/api/bindings", Some(b)).await;
        assert_eq!(st, 201, "{r}");
    }
    Api::with(srv, &u.access_key, &u.secret_key)
}

#[tokio::test]
async fn explorer_lists_folders_pages_downloads_ranges_and_deletes() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let admin = (srv.access.as_str(), srv.secret.as_str());
    make_bucket(&api, "photos").await;

    // A multi-chunk upload (chunks are 1 MiB) with a content type.
    let big = bytes(3 << 20 | 123, 7);
    let r = bearer(
        &srv,
        admin,
        "PUT",
        "/api/buckets/photos/objects/2024/r%C3%A9sum%C3%A9.pdf",
        &[("content-type", "application/pdf")],
        big.clone(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let stored: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON");
    assert_eq!(stored["key"], "2024/résumé.pdf");
    assert_eq!(stored["size"], big.len());
    for key in [
        "2023/a.jpg",
        "2023/b.jpg",
        "2024/c.jpg",
        "top.txt",
        "zz/d.jpg",
    ] {
        let r = api
            .basic(
                "PUT",
                &format!("/api/buckets/photos/objects/{key}"),
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.0, 200, "{r:?}");
    }

    // Folders: common prefixes, then the objects beside them.
    let (st, l) = api
        .call("GET", "/api/buckets/photos/objects?delimiter=/", None)
        .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["prefixes"], json!(["2023/", "2024/", "zz/"]));
    assert_eq!(l["objects"].as_array().expect("objects").len(), 1);
    assert_eq!(l["objects"][0]["key"], "top.txt");
    let (_, l) = api
        .call(
            "GET",
            "/api/buckets/photos/objects?delimiter=/&prefix=2024/",
            None,
        )
        .await;
    let keys: Vec<&str> = l["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(keys, ["2024/c.jpg", "2024/résumé.pdf"]);

    // Pages of two, followed by continuation token: every key once, in order.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let q = match &token {
            Some(t) => format!("max_keys=2&continuation_token={t}"),
            None => "max_keys=2".into(),
        };
        let (st, l) = api
            .call("GET", &format!("/api/buckets/photos/objects?{q}"), None)
            .await;
        assert_eq!(st, 200, "{l}");
        for o in l["objects"].as_array().expect("objects") {
            seen.push(o["key"].as_str().expect("key").to_string());
        }
        match l["next_continuation_token"].as_str() {
            Some(t) => {
                assert_eq!(l["truncated"], true);
                token = Some(t.to_string());
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "2023/a.jpg",
            "2023/b.jpg",
            "2024/c.jpg",
            "2024/résumé.pdf",
            "top.txt",
            "zz/d.jpg"
        ]
    );
    // max_keys above 1000 is capped, not refused.
    let (st, _) = api
        .call("GET", "/api/buckets/photos/objects?max_keys=5000", None)
        .await;
    assert_eq!(st, 200);

    // Download: streamed bytes and the headers a browser needs.
    let path = "/api/buckets/photos/objects/2024/r%C3%A9sum%C3%A9.pdf";
    let r = bearer(&srv, admin, "GET", path, &[], vec![]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/pdf");
    assert_eq!(header(&r, "content-length"), big.len().to_string());
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert!(header(&r, "etag").starts_with('"'), "{:?}", r.headers());
    assert!(!header(&r, "last-modified").is_empty());
    assert_eq!(
        header(&r, "content-disposition"),
        "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), big.as_slice());

    // HEAD: the same headers, no body.
    let r = bearer(&srv, admin, "HEAD", path, &[], vec![]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), big.len().to_string());
    assert!(r.bytes().await.expect("body").is_empty());

    // A range across a chunk boundary, a suffix range, and one past the end.
    let r = bearer(
        &srv,
        admin,
        "GET",
        path,
        &[("range", "bytes=1048570-1048585")],
        vec![],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 1048570-1048585/{}", big.len())
    );
    assert_eq!(
        r.bytes().await.expect("body").as_ref(),
        &big[1_048_570..=1_048_585]
    );
    let r = bearer(&srv, admin, "GET", path, &[("range", "bytes=-10")], vec![]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.expect("body").as_ref(),
        &big[big.len() - 10..]
    );
    let r = bearer(
        &srv,
        admin,
        "GET",
        path,
        &[("range", "bytes=999999999-")],
        vec![],
    )
    .await;
    assert_eq!(r.status(), 416);
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON error");
    assert_eq!(v["error"], "store.invalid_range", "{v}");

    // Delete, then it is gone.
    let (st, _) = api.call("DELETE", path, None).await;
    assert_eq!(st, 204);
    err(&api.call("GET", path, None).await, 404, "store.not_found");
    srv.stop().await;
}

#[tokio::test]
async fn presigned_urls_work_on_the_s3_endpoint() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    make_bucket(&api, "pub").await;
    let data = bytes(100_000, 11);
    let r = api
        .basic(
            "PUT",
            "/api/buckets/pub/objects/dir/a b+c.bin",
            data.clone(),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");

    // GET: default method and expiry.
    let before = now_ms();
    let (st, p) = presign(&api, "pub", json!({ "key": "dir/a b+c.bin" })).await;
    assert_eq!(st, 200, "{p}");
    let url = p["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("http://{}/pub/dir/a%20b%2Bc.bin?", srv.addr)),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=3600"), "{url}");
    let at = p["expires_at_ms"].as_u64().expect("expires_at_ms");
    assert!(
        at >= before + 3_600_000 && at <= now_ms() + 3_600_000,
        "{at}"
    );
    let got = reqwest::get(url).await.expect("fetch");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());

    // Non-ASCII keys and reserved characters survive the signing.
    let r = api
        .basic(
            "PUT",
            "/api/buckets/pub/objects/%C3%BC/%C3%A9%20%26%3D%3F.txt",
            b"unicode".to_vec(),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    let (st, p) = presign(&api, "pub", json!({ "key": "ü/é &=?.txt" })).await;
    assert_eq!(st, 200, "{p}");
    let got = reqwest::get(p["url"].as_str().expect("url"))
        .await
        .expect("fetch");
    assert_eq!(got.text().await.expect("text"), "unicode");

    // PUT through a presigned URL, then read it back through the API.
    let (st, p) = presign(
        &api,
        "pub",
        json!({ "key": "up/new.txt", "method": "PUT", "expires_secs": 60 }),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let put = reqwest::Client::new()
        .put(p["url"].as_str().expect("url"))
        .body("hello through a presigned PUT")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    let r = bearer(
        &srv,
        (&srv.access, &srv.secret),
        "GET",
        "/api/buckets/pub/objects/up/new.txt",
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        r.text().await.expect("text"),
        "hello through a presigned PUT"
    );

    // A key with a `..` segment is a plain key, and its URL still names it.
    let (st, p) = presign(
        &api,
        "pub",
        json!({ "key": "../escape.txt", "method": "PUT" }),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let put = reqwest::Client::new()
        .put(p["url"].as_str().expect("url"))
        .body("dots")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    let (_, l) = api
        .call("GET", "/api/buckets/pub/objects?prefix=../", None)
        .await;
    assert_eq!(l["objects"][0]["key"], "../escape.txt", "{l}");
    srv.stop().await;
}

#[tokio::test]
async fn who_may_use_the_explorer_presign_and_storage() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    make_bucket(&admin, "team").await;
    let r = admin
        .basic(
            "PUT",
            "/api/buckets/team/objects/doc.txt",
            b"team doc".to_vec(),
        )
        .await;
    assert_eq!(r.0, 200);
    let (st, _) = admin.call("GET", "/api/storage", None).await;
    assert_eq!(st, 200);

    // No bindings: refused everywhere, with the reason.
    let bob = user_with(&srv, "bob", None).await;
    let denied = |r: &Reply, verb: &str, what: &str| {
        let why = err(r, 403, "rbac.denied");
        assert!(
            why.contains("bob") && why.contains(verb) && why.contains(what),
            "{why}"
        );
    };
    denied(
        &bob.call("GET", "/api/buckets/team/objects", None).await,
        "list",
        "team",
    );
    denied(
        &bob.call("GET", "/api/buckets/team/objects/doc.txt", None)
            .await,
        "get",
        "team",
    );
    denied(
        &bob.basic("PUT", "/api/buckets/team/objects/x", b"x".to_vec())
            .await,
        "put",
        "team",
    );
    denied(
        &bob.call("DELETE", "/api/buckets/team/objects/doc.txt", None)
            .await,
        "delete",
        "team",
    );
    denied(
        &presign(&bob, "team", json!({ "key": "doc.txt" })).await,
        "get",
        "team",
    );
    denied(
        &bob.call("GET", "/api/storage", None).await,
        "get",
        "panel storage",
    );

    // bucket-read on the bucket: list, download, presign GET; not upload, delete, presign PUT.
    let carol = user_with(
        &srv,
        "carol",
        Some(json!({ "role": "bucket-read", "bucket": "team" })),
    )
    .await;
    let (st, l) = carol.call("GET", "/api/buckets/team/objects", None).await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["objects"][0]["key"], "doc.txt");
    let r = bearer(
        &srv,
        (&carol.access, &carol.secret),
        "GET",
        "/api/buckets/team/objects/doc.txt",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.text().await.expect("text"), "team doc");
    let (st, p) = presign(&carol, "team", json!({ "key": "doc.txt" })).await;
    assert_eq!(st, 200, "{p}");
    let got = reqwest::get(p["url"].as_str().expect("url"))
        .await
        .expect("fetch");
    assert_eq!(got.text().await.expect("text"), "team doc");
    let why = err(
        &carol
            .basic("PUT", "/api/buckets/team/objects/x", b"x".to_vec())
            .await,
        403,
        "rbac.denied",
    );
    assert!(why.contains("put") && why.contains("carol"), "{why}");
    err(
        &carol
            .call("DELETE", "/api/buckets/team/objects/doc.txt", None)
            .await,
        403,
        "rbac.denied",
    );
    let why = err(
        &presign(&carol, "team", json!({ "key": "x", "method": "PUT" })).await,
        403,
        "rbac.denied",
    );
    assert!(why.contains("put"), "{why}");
    err(
        &carol.call("GET", "/api/storage", None).await,
        403,
        "rbac.denied",
    );
    // Her reach ends at her bucket.
    make_bucket(&admin, "other").await;
    err(
        &presign(&carol, "other", json!({ "key": "doc.txt" })).await,
        403,
        "rbac.denied",
    );

    // panel-viewer on the storage panel: the status, and nothing of the data.
    let dave = user_with(
        &srv,
        "dave",
        Some(json!({ "role": "panel-viewer", "panel": "storage" })),
    )
    .await;
    let (st, s) = dave.call("GET", "/api/storage", None).await;
    assert_eq!(st, 200, "{s}");
    assert!(s["buckets"].as_array().is_some_and(|b| b.len() >= 2), "{s}");
    let (_, me) = dave.call("GET", "/api/me", None).await;
    assert!(
        me["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .any(|p| p["id"] == "storage" && p["allowed"] == true),
        "{me}"
    );
    err(
        &dave.call("GET", "/api/buckets/team/objects", None).await,
        403,
        "rbac.denied",
    );

    // Health needs nobody; storage needs someone.
    let (st, h) = anonymous(&srv, "GET", "/api/health", None).await;
    assert_eq!((st, &h["status"]), (200, &json!("ok")));
    err(
        &anonymous(&srv, "GET", "/api/storage", None).await,
        401,
        "auth.missing",
    );
    err(
        &anonymous(
            &srv,
            "POST",
            "/api/buckets/team/presign",
            Some(json!({ "key": "doc.txt" })),
        )
        .await,
        401,
        "auth.missing",
    );
    srv.stop().await;
}

#[tokio::test]
async fn storage_status_counts_buckets_and_the_disk() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    make_bucket(&api, "one").await;
    make_bucket(&api, "two").await;
    for (key, n) in [("a", 1000), ("b", 70_000)] {
        let r = api
            .basic(
                "PUT",
                &format!("/api/buckets/one/objects/{key}"),
                bytes(n, 1),
            )
            .await;
        assert_eq!(r.0, 200);
    }
    let (st, s) = api.call("GET", "/api/storage", None).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(
        s["total_bytes_limit"],
        1u64 << 30,
        "the default s3.max_size"
    );
    assert_eq!(s["used_bytes"], 71_000);
    assert_eq!(s["object_count"], 2);
    let one = s["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .find(|b| b["name"] == "one")
        .expect("bucket one")
        .clone();
    let mut one = one;
    let room = one
        .as_object_mut()
        .expect("object")
        .remove("available_bytes");
    assert!(
        room.and_then(|r| r.as_u64())
            .is_some_and(|r| r <= (1 << 30) - 71_000)
    );
    assert_eq!(
        one,
        json!({ "name": "one", "kind": "plain", "used_bytes": 71_000, "noncurrent_bytes": 0,
                "object_count": 2, "quota_bytes": 0, "quota_pct": null,
                "binding": one["binding"] })
    );
    assert!(
        one["binding"] == "server" || one["binding"] == "disk",
        "{one}"
    );
    let disk = &s["disk"];
    let (free, total) = (
        disk["free_bytes"].as_u64().expect("free"),
        disk["total_bytes"].as_u64().expect("total"),
    );
    assert!(total > 0 && free <= total, "{disk}");
    srv.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_json_errors() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    make_bucket(&api, "bbb").await;
    let bad = |r: &Reply, status: u16, code: &str, hint: &str| {
        let why = err(r, status, code);
        assert!(why.contains(hint), "{why:?} should mention {hint:?}");
    };

    // Presign bodies.
    bad(
        &presign(&api, "bbb", json!({ "key": "k", "verb": "GET" })).await,
        400,
        "api.invalid_json",
        "unknown field",
    );
    bad(
        &presign(&api, "bbb", json!({ "key": "k", "expires_secs": "soon" })).await,
        400,
        "api.invalid_json",
        "invalid type",
    );
    bad(
        &presign(&api, "bbb", json!({ "key": 5 })).await,
        400,
        "api.invalid_json",
        "invalid type",
    );
    bad(
        &presign(&api, "bbb", json!({ "key": "k", "method": "POST" })).await,
        400,
        "api.invalid_json",
        "unknown variant",
    );
    bad(
        &presign(&api, "bbb", json!({ "method": "GET" })).await,
        400,
        "api.invalid_json",
        "missing field",
    );
    for secs in [0u64, 604_801] {
        bad(
            &presign(&api, "bbb", json!({ "key": "k", "expires_secs": secs })).await,
            400,
            "api.invalid_request",
            "expires_secs",
        );
    }
    let (st, p) = presign(&api, "bbb", json!({ "key": "k", "expires_secs": 604_800 })).await;
    assert_eq!(st, 200, "{p}");
    bad(
        &presign(&api, "bbb", json!({ "key": "" })).await,
        400,
        "store.invalid_key",
        "empty",
    );
    bad(
        &presign(&api, "bbb", json!({ "key": ".." })).await,
        400,
        "api.invalid_request",
        "URL",
    );
    bad(
        &presign(&api, "nope", json!({ "key": "k" })).await,
        404,
        "store.no_such_bucket",
        "",
    );
    let huge = format!(r#"{{"key":"{}"}}"#, "k".repeat(1 << 20));
    let r = api
        .raw(
            "POST",
            "/api/buckets/bbb/presign",
            huge.clone().into_bytes(),
            huge.as_bytes(),
        )
        .await;
    bad(&r, 413, "api.payload_too_large", "1048576");
    bad(
        &api.raw(
            "POST",
            "/api/buckets/bbb/presign",
            b"{not json".to_vec(),
            b"{not json",
        )
        .await,
        400,
        "api.invalid_json",
        "",
    );

    // Listing parameters.
    bad(
        &api.call("GET", "/api/buckets/bbb/objects?max_keys=many", None)
            .await,
        400,
        "api.invalid_request",
        "max_keys",
    );
    bad(
        &api.call(
            "GET",
            "/api/buckets/bbb/objects?continuation_token=%21%21",
            None,
        )
        .await,
        400,
        "api.invalid_request",
        "continuation_token",
    );
    bad(
        &api.call("GET", "/api/buckets/bbb/objects?prefx=a", None)
            .await,
        400,
        "api.invalid_request",
        "prefx",
    );

    // `../x` is a key like any other: stored, listed and read back as itself, and nothing is
    // written outside the data directory.
    let r = api
        .basic(
            "PUT",
            "/api/buckets/bbb/objects/..%2F..%2Fx",
            b"inside".to_vec(),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["key"], "../../x");
    let (_, l) = api.call("GET", "/api/buckets/bbb/objects", None).await;
    assert_eq!(l["objects"][0]["key"], "../../x", "{l}");
    let parent = srv.data_dir().parent().expect("parent").to_path_buf();
    assert!(!parent.join("x").exists());
    let r = bearer(
        &srv,
        (&srv.access, &srv.secret),
        "GET",
        "/api/buckets/bbb/objects/..%2F..%2Fx",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.text().await.expect("text"), "inside");
    srv.stop().await;
}

#[tokio::test]
async fn health_info_and_the_openapi_document_are_public() {
    let srv = TestServer::start().await;
    let (st, h) = anonymous(&srv, "GET", "/api/health", None).await;
    assert_eq!(st, 200);
    let (_, info) = anonymous(&srv, "GET", "/api/info", None).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], info["version"]);
    assert_eq!(h["store"]["blobs_writable"], true);

    let (st, doc) = anonymous(&srv, "GET", "/api/openapi.json", None).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for (path, method) in [
        ("/api/health", "get"),
        ("/api/storage", "get"),
        ("/api/buckets/{bucket}/presign", "post"),
        ("/api/buckets/{bucket}/objects/{key}", "put"),
        ("/api/shares/{name}/restore", "post"),
        ("/api/peers/{address}", "delete"),
        ("/api/session", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // The document lists what the router serves.
    for (method, path) in gatehouse_admin::route_list() {
        let path = path.replace("{*", "{");
        assert!(
            doc["paths"][&path][method.to_ascii_lowercase()].is_object(),
            "{method} {path} undocumented"
        );
    }
    srv.stop().await;
}

/// Peak resident memory of this process (the server runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_and_download_stream_in_bounded_memory() {
    // Large enough that the other tests running beside this one (each with its own server)
    // cannot account for half of it.
    const SIZE: usize = 256 << 20;
    const PIECE: usize = 1 << 20;
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    make_bucket(&api, "big").await;
    let before = peak_rss();
    let piece = bytes(PIECE, 5);
    let body = futures_util::stream::iter(
        (0..SIZE / PIECE).map(move |_| Ok::<_, std::io::Error>(piece.clone())),
    );
    let r = reqwest::Client::new()
        .put(format!(
            "http://{}/api/buckets/big/objects/large.bin",
            admin_addr(&srv)
        ))
        .bearer_auth(format!("{}:{}", srv.access, srv.secret))
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let mut got = bearer(
        &srv,
        (&srv.access, &srv.secret),
        "GET",
        "/api/buckets/big/objects/large.bin",
        &[],
        vec![],
    )
    .await;
    let mut n = 0usize;
    while let Some(c) = got.chunk().await.expect("chunk") {
        n += c.len();
    }
    assert_eq!(n, SIZE);
    let grew = peak_rss().saturating_sub(before);
    eprintln!("peak RSS grew by {grew} bytes");
    if before > 0 {
        assert!(
            grew < (SIZE as u64) / 2,
            "peak memory grew by {grew} bytes for a {SIZE}-byte object"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_storage_status_table_and_json() {
    let srv = TestServer::start().await;
    make_bucket(&Api::admin(&srv), "cli-store").await;
    let home = tempfile::tempdir().expect("home");
    let data_dir = srv.data_dir();
    let dd = data_dir.to_str().expect("utf-8");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &["--data-dir", dd, "storage", "status"],
    )
    .await);
    assert!(
        out.contains("Total: 0 B / 1.0 GiB (0.0%)")
            && out.contains("disk:")
            && out.contains("cli-store"),
        "{out}"
    );
    assert!(out.contains("QUOTA%"), "{out}");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &["--data-dir", dd, "storage", "status", "--json"],
    )
    .await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["total_bytes_limit"], 1u64 << 30);
    assert!(
        v["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .any(|b| b["name"] == "cli-store"),
        "{v}"
    );
    // A plain user is told why not.
    let eve = srv.new_user("eve").await;
    let o = cli(
        &srv,
        home.path(),
        &[
            ("AWS_ACCESS_KEY_ID", eve.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", eve.secret_key.as_str()),
        ],
        &["storage", "status"],
    )
    .await;
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("panel storage"), "{stderr}");
    srv.stop().await;
}

#[tokio::test]
async fn presigned_urls_name_the_configured_public_endpoint() {
    let srv = TestServer::start_with(|raw| {
        raw.s3.public_url = Some("https://s3.example.org/".into());
    })
    .await;
    let api = Api::admin(&srv);
    make_bucket(&api, "pub").await;
    let (st, p) = presign(&api, "pub", json!({ "key": "a/b.txt" })).await;
    assert_eq!(st, 200, "{p}");
    let url = p["url"].as_str().expect("url");
    assert!(
        url.starts_with("https://s3.example.org/pub/a/b.txt?X-Amz-"),
        "{url}"
    );
    let (_, info) = anonymous(&srv, "GET", "/api/info", None).await;
    assert_eq!(info["s3_endpoint"], "https://s3.example.org");
    srv.stop().await;
}
