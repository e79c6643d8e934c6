//! Admin API routes the web console needs beyond the CLI's: an object's metadata and tags as
//! JSON (`GET /api/buckets/{bucket}/metadata/{*key}`), under the object's read permission.

use aws_sdk_s3::types::ChecksumAlgorithm;
use serde_json::{Value, json};

use crate::admin_api::Api;
use crate::common::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_metadata_and_tags_as_json() {
    let srv = TestServer::start().await;
    let s3 = srv.client();
    s3.create_bucket()
        .bucket("docs")
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket("docs")
        .key("a b/report.txt")
        .body(b"quarterly".to_vec().into())
        .content_type("text/plain")
        .cache_control("no-cache")
        .metadata("Owner", "alice")
        .metadata("mode", "644")
        .tagging("team=blue&stage=draft")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("put");

    let api = Api::admin(&srv);
    let (st, v) = api
        .call("GET", "/api/buckets/docs/metadata/a%20b/report.txt", None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["key"], "a b/report.txt");
    assert_eq!(v["size"], 9);
    assert_eq!(v["content_type"], "text/plain");
    assert_eq!(v["cache_control"], "no-cache");
    assert!(
        v.get("content_encoding").is_none(),
        "absent headers are left out: {v}"
    );
    // The SDK sends its metadata map in no set order: compare sorted.
    let mut meta: Vec<Value> = v["metadata"].as_array().expect("metadata").clone();
    meta.sort_by_key(|m| m["name"].as_str().map(str::to_string));
    assert_eq!(
        meta,
        [
            json!({"name": "mode", "value": "644"}),
            json!({"name": "owner", "value": "alice"})
        ]
    );
    let mut tags: Vec<(String, String)> = v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["key"].as_str().expect("k").into(),
                t["value"].as_str().expect("v").into(),
            )
        })
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("stage".into(), "draft".into()),
            ("team".into(), "blue".into())
        ]
    );
    assert_eq!(v["checksum"]["algorithm"], "SHA256");
    assert_eq!(v["parts"], 0);

    // Missing object, and a user who may not read the bucket.
    let (st, v) = api
        .call("GET", "/api/buckets/docs/metadata/nope", None)
        .await;
    assert_eq!((st, v["error"].as_str()), (404, Some("store.not_found")));
    let eve = srv.new_user("eve").await;
    let eve = Api::with(&srv, &eve.access_key, &eve.secret_key);
    let (st, v) = eve
        .call("GET", "/api/buckets/docs/metadata/a%20b/report.txt", None)
        .await;
    assert_eq!((st, v["error"].as_str()), (403, Some("rbac.denied")));
    srv.stop().await;
}
