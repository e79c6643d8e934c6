//! Bucket operations through aws-sdk-s3.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn bucket_lifecycle() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("create");
    c.create_bucket()
        .bucket("beta.v2")
        .send()
        .await
        .expect("create");
    // Its owner re-creating it in us-east-1 (the server's region) gets 200 OK and the bucket's
    // ACL reset to private, AWS's legacy rule there (the BucketAlreadyOwnedByYou reference).
    c.put_bucket_acl()
        .bucket("alpha")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect("public-read");
    let grants = |c: aws_sdk_s3::Client| async move {
        c.get_bucket_acl()
            .bucket("alpha")
            .send()
            .await
            .expect("acl")
            .grants()
            .len()
    };
    assert_eq!(grants(c.clone()).await, 2, "owner + AllUsers READ");
    c.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("re-create by its owner in us-east-1");
    assert_eq!(
        grants(c.clone()).await,
        1,
        "the ACL is back to the owner's alone"
    );
    // A re-create asking for what is not reset (object lock) still gets the 409.
    let e = c
        .create_bucket()
        .bucket("alpha")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect_err("dup with object lock");
    assert_eq!(code(&e), "BucketAlreadyOwnedByYou");
    c.head_bucket().bucket("alpha").send().await.expect("head");
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["alpha", "beta.v2"]);
    let loc = c
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .expect("loc");
    assert!(
        loc.location_constraint().is_none()
            || loc.location_constraint().map(|l| l.as_str()) == Some("")
    );

    c.put_object()
        .bucket("alpha")
        .key("x")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .expect("put");
    let e = c
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&e), "BucketNotEmpty");
    c.delete_object()
        .bucket("alpha")
        .key("x")
        .send()
        .await
        .expect("rm");
    c.delete_bucket().bucket("alpha").send().await.expect("rb");
    let e = c
        .head_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("gone");
    assert!(
        e.raw_response().map(|r| r.status().as_u16()) == Some(404),
        "{e:?}"
    );
    let e = c
        .list_objects_v2()
        .bucket("alpha")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "NoSuchBucket");
    srv.stop().await;
}

#[tokio::test]
async fn bucket_names_follow_the_rules() {
    let srv = TestServer::start().await;
    for bad in [
        "ab",
        "Upper",
        "under_score",
        "-lead",
        "a..b",
        "192.168.0.1",
        "fs--alias",
    ] {
        let r = srv
            .signed("PUT", &format!("/{bad}"), None, &[], vec![])
            .await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        let body = r.text().await.expect("text");
        assert!(
            body.contains("<Code>InvalidBucketName</Code>"),
            "{bad}: {body}"
        );
    }
    // The share form is a valid name, but a share is created as a share, not as a bucket.
    let r = srv
        .signed("PUT", "/fs%2Bteam-files", None, &[], vec![])
        .await;
    assert_eq!(r.status().as_u16(), 400, "{:?}", r.text().await);
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "team-files".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    // A client that allows '+' sends it encoded.
    let r = srv
        .signed("GET", "/fs%2Bteam-files", Some("list-type=2"), &[], vec![])
        .await;
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let r = srv.signed("GET", "/", None, &[], vec![]).await;
    assert!(
        r.text()
            .await
            .expect("t")
            .contains("<Name>fs--team-files</Name>"),
        "ListBuckets names a share by its alias (decision 0012)"
    );
    srv.stop().await;
}

#[tokio::test]
async fn virtual_host_addressing() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("vhost")
        .send()
        .await
        .expect("mb");
    let host = format!("vhost.localhost:{}", srv.addr.port());
    let r = srv
        .signed(
            "PUT",
            "/dir/file.txt",
            None,
            &[("host", &host)],
            b"via vhost".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let got = body_bytes(
        srv.client()
            .get_object()
            .bucket("vhost")
            .key("dir/file.txt")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(got, b"via vhost");
    srv.stop().await;
}
