//! Object-count limits (issue 22): a bucket's or share's `max_objects`, set by the storage
//! operator through the admin API or the CLI, enforced in the commit for every way an object
//! arrives — S3 PUT, CopyObject, multipart completion, versions of a versioned bucket, NFS
//! CREATE, MKDIR, LINK, MKNOD — and nothing written by a refused request.

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;
use serde_json::json;

use crate::admin_api::{Api, cli, ok};
use crate::common::*;
use crate::nfs::{create, writer};

async fn put(c: &aws_sdk_s3::Client, b: &str, k: &str) -> Result<(), String> {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

async fn count(c: &aws_sdk_s3::Client, b: &str) -> usize {
    c.list_objects_v2()
        .bucket(b)
        .send()
        .await
        .expect("list")
        .contents()
        .len()
}

#[tokio::test]
async fn a_bucket_holds_at_most_its_max_objects() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("few")
        .send()
        .await
        .expect("create");
    let api = Api::admin(&srv);
    let (status, body) = api
        .call(
            "PUT",
            "/api/buckets/few/quota",
            Some(json!({ "max_objects": 3 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quota_objects"], 3);
    for k in ["a", "b", "c"] {
        put(&c, "few", k).await.expect("within the limit");
    }
    assert_eq!(put(&c, "few", "d").await, Err("QuotaExceeded".into()));
    // Overwriting an existing key adds no object.
    put(&c, "few", "a").await.expect("overwrite");
    // A copy to a new key and a multipart completion are new objects too.
    let e = c
        .copy_object()
        .bucket("few")
        .key("copy")
        .copy_source("few/a")
        .send()
        .await
        .expect_err("copy");
    assert_eq!(code(&e), "QuotaExceeded");
    let up = c
        .create_multipart_upload()
        .bucket("few")
        .key("mp")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("few")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    let e = c
        .complete_multipart_upload()
        .bucket("few")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("complete");
    assert_eq!(code(&e), "QuotaExceeded");
    assert_eq!(count(&c, "few").await, 3);
    // Deleting one makes room.
    c.delete_object()
        .bucket("few")
        .key("b")
        .send()
        .await
        .expect("delete");
    put(&c, "few", "d").await.expect("room again");

    // Versions count: in a versioned bucket an overwrite is one more object.
    c.create_bucket()
        .bucket("vers")
        .send()
        .await
        .expect("create");
    c.put_bucket_versioning()
        .bucket("vers")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let out = cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            &creds,
            "bucket",
            "quota",
            "vers",
            "--max-objects",
            "2",
            "--max-size",
            "1Mi",
        ],
    )
    .await;
    let text = ok(&out);
    assert!(text.starts_with("Limits of vers: 1.0 MiB"), "{text}");
    assert!(text.contains("2 objects"), "{text}");
    put(&c, "vers", "k").await.expect("first version");
    put(&c, "vers", "k").await.expect("second version");
    assert_eq!(put(&c, "vers", "k").await, Err("QuotaExceeded".into()));
    // A delete marker for a key with no object is one more row: counted too.
    let e = c
        .delete_object()
        .bucket("vers")
        .key("never-written")
        .send()
        .await
        .expect_err("marker over the limit");
    assert_eq!(code(&e), "QuotaExceeded");

    // Only the storage operator sets limits, not a bucket's owner.
    let u = srv.new_user("owner").await;
    let owner = Api::with(&srv, &u.access_key, &u.secret_key);
    let (status, _) = owner
        .call(
            "PUT",
            "/api/buckets/few/quota",
            Some(json!({ "max_objects": 0 })),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_share_limits_nfs_creations_too() {
    let srv = TestServer::start().await;
    let (mut conn, root) = writer(&srv, "tiny").await;
    let api = Api::admin(&srv);
    let (status, body) = api
        .call(
            "PUT",
            "/api/buckets/fs+tiny/quota",
            Some(json!({ "max_objects": 2 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, share) = api.call("GET", "/api/shares/tiny", None).await;
    assert_eq!(status, 200);
    assert_eq!(share["max_objects"], 2);
    let f = create(
        &mut conn,
        &root,
        "one",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("first");
    // A directory is an object too (its marker key).
    let made = conn
        .mkdir(&MKDIR3args {
            where_: diropargs3 {
                dir: root.clone(),
                name: b"sub".as_slice().into(),
            },
            attributes: sattr3::default(),
        })
        .await
        .expect("rpc");
    assert!(matches!(made, Nfs3Result::Ok(_)), "mkdir within the limit");
    let e = create(
        &mut conn,
        &root,
        "three",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect_err("over");
    assert_eq!(e, nfsstat3::NFS3ERR_DQUOT);
    let linked = conn
        .link(&LINK3args {
            file: f,
            link: diropargs3 {
                dir: root.clone(),
                name: b"alias".as_slice().into(),
            },
        })
        .await
        .expect("rpc");
    assert!(
        matches!(linked, Nfs3Result::Err((nfsstat3::NFS3ERR_DQUOT, _))),
        "a hard link is one more name"
    );
    assert_eq!(count(&srv.client(), "fs--tiny").await, 2);
}

/// `?quota` over S3 (the JSON of the product docs' server, MyFSIO): put, get with usage,
/// enforced, deleted; bad documents refused; only the storage operator may set it.
#[tokio::test]
async fn the_quota_subresource_sets_shows_and_clears_limits() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("qta").send().await.expect("mb");
    let none = srv.signed("GET", "/qta", Some("quota"), &[], vec![]).await;
    assert_eq!(none.status(), 404);
    assert!(
        none.text()
            .await
            .expect("body")
            .contains("NoSuchQuotaConfiguration")
    );
    for bad in [
        &br#"{}"#[..],
        br#"{"max_objects": -1}"#,
        br#"{"max_objects": 2, "max_files": 1}"#,
        br#"{"max_objects": "#,
    ] {
        let r = srv
            .signed("PUT", "/qta", Some("quota"), &[], bad.to_vec())
            .await;
        assert_eq!(r.status(), 400, "{}", String::from_utf8_lossy(bad));
        assert!(r.text().await.expect("body").contains("InvalidArgument"));
    }
    let r = srv
        .signed(
            "PUT",
            "/qta",
            Some("quota"),
            &[("content-type", "application/json")],
            br#"{"max_objects": 2}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status(), 200);
    put(&c, "qta", "a").await.expect("first");
    put(&c, "qta", "b").await.expect("second");
    assert!(
        put(&c, "qta", "c").await.is_err(),
        "the third is one too many"
    );
    let got = srv.signed("GET", "/qta", Some("quota"), &[], vec![]).await;
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["content-type"].to_str().expect("type"),
        "application/json"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&got.bytes().await.expect("body")).expect("json");
    assert_eq!(
        v,
        json!({"quota": {"max_size_bytes": null, "max_objects": 2}, "usage": {"bytes": 2, "objects": 2}})
    );
    // A user who may write the bucket may not lift its limits.
    let u = srv.new_user("u").await;
    srv.store()
        .bind(
            &srv.admin(),
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-admin",
            gatehouse_store::rbac::Scope::Bucket("qta".into()),
        )
        .await
        .expect("bind");
    let as_u = srv
        .signed_with_keys(
            &u.access_key,
            &u.secret_key,
            "DELETE",
            "/qta",
            Some("quota"),
        )
        .await;
    assert_eq!(as_u.status(), 403);
    let r = srv
        .signed("DELETE", "/qta", Some("quota"), &[], vec![])
        .await;
    assert_eq!(r.status(), 204);
    put(&c, "qta", "c").await.expect("no limit any more");
    assert_eq!(
        srv.signed("GET", "/qta", Some("quota"), &[], vec![])
            .await
            .status(),
        404
    );
}
