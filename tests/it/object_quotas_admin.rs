//! Bucket and share limits (issue 22) through the admin API and the web console: an admin's
//! round trip of `PUT /api/buckets/{b}/quota` (both limits, one leaving the other as it was,
//! 0 for unlimited) with S3 writes refused past them; the same refused to a user with
//! bucket-admin on the bucket (only the storage operator sets limits), for a bucket that is not
//! there, and for bodies that are not the two limits; a share created with `max_objects`.

use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, err};
use crate::common::*;

/// `PUT bucket/key` through S3: the error code when refused.
async fn put(srv: &TestServer, bucket: &str, key: &str, body: &str) -> Result<(), String> {
    srv.client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

/// The limits a bucket answer carries: (quota_bytes, quota_objects).
fn limits(r: &Reply) -> (u64, u64) {
    assert_eq!(r.0, 200, "{r:?}");
    (
        r.1["quota_bytes"].as_u64().expect("quota_bytes"),
        r.1["quota_objects"].as_u64().expect("quota_objects"),
    )
}

/// Its usage: (usage_bytes, object_count).
fn usage(r: &Reply) -> (u64, u64) {
    assert_eq!(r.0, 200, "{r:?}");
    (
        r.1["usage_bytes"].as_u64().expect("usage_bytes"),
        r.1["object_count"].as_u64().expect("object_count"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_round_trip_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "capped" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(
        (&r.1["quota_bytes"], &r.1["quota_objects"]),
        (&json!(0), &json!(0)),
        "unlimited at first"
    );
    let path = "/api/buckets/capped/quota";
    let set = async |body: Value| api.call("PUT", path, Some(body)).await;
    let get = async || api.call("GET", "/api/buckets/capped", None).await;
    assert_eq!(limits(&get().await), (0, 0));
    assert_eq!(usage(&get().await), (0, 0));

    // Both limits: the answer is the bucket, as GET shows it.
    let r = set(json!({ "max_size_bytes": 1u64 << 30, "max_objects": 10 })).await;
    assert_eq!(limits(&r), (1 << 30, 10), "{r:?}");
    assert_eq!(r.1["name"], "capped", "{r:?}");
    assert_eq!(r.1["kind"], "plain", "{r:?}");
    assert_eq!(get().await, r, "as the PUT answered");

    // One limit leaves the other as it was; an empty body changes nothing.
    let r = set(json!({ "max_objects": 3 })).await;
    assert_eq!(limits(&r), (1 << 30, 3), "{r:?}");
    let r = set(json!({ "max_size_bytes": 100 })).await;
    assert_eq!(limits(&r), (100, 3), "{r:?}");
    let r = set(json!({})).await;
    assert_eq!(limits(&r), (100, 3), "{r:?}");
    // null is "absent" too.
    let r = set(json!({ "max_size_bytes": null, "max_objects": 3 })).await;
    assert_eq!(limits(&r), (100, 3), "{r:?}");
    assert_eq!(limits(&get().await), (100, 3));

    // In force for S3 at once: three objects, not a fourth; the usage follows.
    for k in ["a", "b", "c"] {
        put(&srv, "capped", k, "0123456789")
            .await
            .expect("within the limits");
    }
    assert_eq!(
        put(&srv, "capped", "d", "x").await,
        Err("QuotaExceeded".into())
    );
    // An overwrite adds no object.
    put(&srv, "capped", "a", "01234").await.expect("overwrite");
    assert_eq!(usage(&get().await), (25, 3));
    // The size limit: 100 bytes, 25 held.
    set(json!({ "max_objects": 0 })).await;
    assert_eq!(
        put(&srv, "capped", "big", &"x".repeat(90)).await,
        Err("QuotaExceeded".into())
    );
    put(&srv, "capped", "small", &"x".repeat(75))
        .await
        .expect("fits exactly");
    assert_eq!(usage(&get().await), (100, 4));
    assert_eq!(
        put(&srv, "capped", "one-more", "x").await,
        Err("QuotaExceeded".into())
    );

    // A limit below what the bucket holds: it keeps it and takes no more.
    let r = set(json!({ "max_size_bytes": 0, "max_objects": 2 })).await;
    assert_eq!(limits(&r), (0, 2), "{r:?}");
    assert_eq!(usage(&r), (100, 4));
    assert_eq!(
        put(&srv, "capped", "e", "x").await,
        Err("QuotaExceeded".into())
    );
    // 0 is unlimited.
    let r = set(json!({ "max_size_bytes": 0, "max_objects": 0 })).await;
    assert_eq!(limits(&r), (0, 0), "{r:?}");
    put(&srv, "capped", "e", "x").await.expect("unlimited");
    assert_eq!(usage(&get().await), (101, 5));

    // The largest value is taken as it is.
    let r = set(json!({ "max_size_bytes": u64::MAX })).await;
    assert_eq!(limits(&r), (u64::MAX, 0), "{r:?}");
    set(json!({ "max_size_bytes": 0 })).await;

    // Bodies that are not the two limits: 400, nothing changed.
    set(json!({ "max_objects": 7 })).await;
    for body in [
        json!({ "max_objects": -1 }),
        json!({ "max_size_bytes": -5 }),
        json!({ "max_objects": 1.5 }),
        json!({ "max_size_bytes": "10Gi" }),
        json!({ "max_objects": "5" }),
        json!({ "max_size": 10 }),
        json!({ "max_objects": 1, "quota_bytes": 10 }),
        json!({ "max_size_bytes": 18_446_744_073_709_551_616.0 }),
        json!([1, 2]),
        json!("max_objects"),
    ] {
        err(&set(body.clone()).await, 400, "api.invalid_json");
    }
    // Not JSON at all.
    let r = api
        .raw("PUT", path, b"max_objects=1".to_vec(), b"max_objects=1")
        .await;
    err(&r, 400, "api.invalid_json");
    assert_eq!(limits(&get().await), (0, 7), "nothing refused changed it");

    // A bucket that is not there.
    for body in [
        json!({ "max_objects": 1 }),
        json!({ "max_size_bytes": 1 }),
        json!({}),
    ] {
        err(
            &api.call("PUT", "/api/buckets/nowhere/quota", Some(body))
                .await,
            404,
            "store.no_such_bucket",
        );
    }
    err(
        &api.call("GET", "/api/buckets/nowhere", None).await,
        404,
        "store.no_such_bucket",
    );

    // The system bucket takes no limits.
    let msg = err(
        &api.call(
            "PUT",
            "/api/buckets/gatehouse-system/quota",
            Some(json!({ "max_objects": 1 })),
        )
        .await,
        403,
        "rbac.denied",
    );
    assert!(msg.contains("takes no quota"), "{msg}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_the_storage_operators_not_the_bucket_admins() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "owned" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let r = api
        .call(
            "PUT",
            "/api/buckets/owned/quota",
            Some(json!({ "max_size_bytes": 4096, "max_objects": 2 })),
        )
        .await;
    assert_eq!(limits(&r), (4096, 2), "{r:?}");
    let path = "/api/buckets/owned/quota";

    // A user with bucket-admin on the bucket: sees its limits, sets none.
    let u = srv.new_user("keeper").await;
    let who = Api::with(&srv, &u.access_key, &u.secret_key);
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "keeper", "role": "bucket-admin", "bucket": "owned" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let mine = who.call("GET", "/api/buckets/owned", None).await;
    assert_eq!(limits(&mine), (4096, 2), "{mine:?}");
    for body in [
        json!({ "max_objects": 0 }),
        json!({ "max_size_bytes": 0 }),
        json!({ "max_size_bytes": 1u64 << 40, "max_objects": 1000 }),
        json!({ "max_objects": 1 }),
        json!({}),
    ] {
        err(&who.call("PUT", path, Some(body)).await, 403, "rbac.denied");
    }

    // Someone with no rights at all: refused too; a bucket that is not there is no
    // different for them.
    let s = srv.new_user("stranger").await;
    let stranger = Api::with(&srv, &s.access_key, &s.secret_key);
    err(
        &stranger
            .call("PUT", path, Some(json!({ "max_objects": 0 })))
            .await,
        403,
        "rbac.denied",
    );
    err(
        &stranger
            .call(
                "PUT",
                "/api/buckets/nowhere/quota",
                Some(json!({ "max_objects": 0 })),
            )
            .await,
        403,
        "rbac.denied",
    );

    // All as it was, and in force for the bucket-admin's own S3 writes.
    assert_eq!(
        limits(&api.call("GET", "/api/buckets/owned", None).await),
        (4096, 2)
    );
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    for k in ["a", "b"] {
        c.put_object()
            .bucket("owned")
            .key(k)
            .body(b"x".to_vec().into())
            .send()
            .await
            .expect("within the limit");
    }
    let e = c
        .put_object()
        .bucket("owned")
        .key("c")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("over the limit");
    assert_eq!(code(&e), "QuotaExceeded");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_created_with_max_objects() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({ "name": "few", "quota_bytes": 1u64 << 20, "max_objects": 5 })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(
        (&r.1["max_objects"], &r.1["quota_bytes"]),
        (&json!(5), &json!(1u64 << 20)),
        "{r:?}"
    );
    let r = api.call("GET", "/api/shares/few", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(
        (&r.1["max_objects"], &r.1["quota_bytes"], &r.1["bucket"]),
        (&json!(5), &json!(1u64 << 20), &json!("fs+few")),
        "{r:?}"
    );
    let listed = api.call("GET", "/api/shares", None).await;
    let row = listed
        .1
        .as_array()
        .expect("shares")
        .iter()
        .find(|s| s["name"] == "few")
        .cloned()
        .expect("listed");
    assert_eq!(row["max_objects"], 5, "{row}");
    // Its bucket carries the same limits.
    let b = api.call("GET", "/api/buckets/fs+few", None).await;
    assert_eq!(limits(&b), (1 << 20, 5), "{b:?}");

    // Without max_objects: unlimited (0).
    let r = api
        .call("POST", "/api/shares", Some(json!({ "name": "open" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["max_objects"], 0, "{r:?}");
    let r = api.call("GET", "/api/shares/open", None).await;
    assert_eq!(
        (&r.1["max_objects"], &r.1["quota_bytes"]),
        (&json!(0), &json!(0)),
        "{r:?}"
    );

    // A negative or fractional one: 400, no share.
    for bad in [json!(-1), json!(2.5), json!("5")] {
        let r = api
            .call(
                "POST",
                "/api/shares",
                Some(json!({ "name": "bad", "max_objects": bad })),
            )
            .await;
        err(&r, 400, "api.invalid_json");
    }
    err(
        &api.call("GET", "/api/shares/bad", None).await,
        404,
        "share.no_such_share",
    );

    // The share's limits set through its bucket show in the share.
    let r = api
        .call(
            "PUT",
            "/api/buckets/fs+few/quota",
            Some(json!({ "max_objects": 7 })),
        )
        .await;
    assert_eq!(limits(&r), (1 << 20, 7), "{r:?}");
    let r = api.call("GET", "/api/shares/few", None).await;
    assert_eq!(
        (&r.1["max_objects"], &r.1["quota_bytes"]),
        (&json!(7), &json!(1u64 << 20)),
        "{r:?}"
    );
    // And in force over S3 (the share's bucket by its alias).
    let r = api
        .call(
            "PUT",
            "/api/buckets/fs+few/quota",
            Some(json!({ "max_objects": 1 })),
        )
        .await;
    assert_eq!(limits(&r), (1 << 20, 1), "{r:?}");
    put(&srv, "fs--few", "one", "1").await.expect("the first");
    assert_eq!(
        put(&srv, "fs--few", "two", "2").await,
        Err("QuotaExceeded".into())
    );
    let r = api.call("GET", "/api/shares/few", None).await;
    assert_eq!(
        (&r.1["max_objects"], &r.1["object_count"]),
        (&json!(1), &json!(1)),
        "{r:?}"
    );
    // Its bucket by the alias (`fs--few`) is the same bucket, and the share shows it.
    let r = api
        .call(
            "PUT",
            "/api/buckets/fs--few/quota",
            Some(json!({ "max_objects": 9 })),
        )
        .await;
    assert_eq!((limits(&r), &r.1["name"]), ((1 << 20, 9), &json!("fs+few")));
    let r = api.call("GET", "/api/shares/few", None).await;
    assert_eq!(r.1["max_objects"], 9, "{r:?}");
    srv.stop().await;
}

/// The console's limits setting and the share form's max objects:
/// `tests/browser/limits.test.mjs`.
#[test]
fn console_limits_setting_in_chromium() {
    crate::web_browser::run_in_chromium("limits.test.mjs");
}
