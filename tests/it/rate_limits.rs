//! Rate limits (issue 22): unsigned S3 requests counted per client address, signed ones per
//! principal (a role may have its own rate; admins are unlimited by default), answered with
//! 503 SlowDown (S3) or 429 (admin API) and `Retry-After`; NFS calls delayed, not failed.

use std::time::Instant;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::Scope;

use crate::admin_api::Api;
use crate::common::*;
use crate::nfs::{getattr, mount, share};

/// An aws-sdk client that does not retry (the SDK retries SlowDown on its own).
fn no_retry(srv: &TestServer, access: &str, secret: &str) -> aws_sdk_s3::Client {
    let base = client_with(srv.addr, access, secret);
    let conf = base
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn unsigned_requests_are_limited_per_address() {
    let srv = TestServer::start_with(|c| {
        c.rate_limits.anonymous_per_minute = Some(60);
        c.rate_limits.anonymous_burst = Some(5);
    })
    .await;
    let c = srv.client();
    c.create_bucket()
        .bucket("pub")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("pub")
        .key("k")
        .body(ByteStream::from_static(b"k"))
        .send()
        .await
        .expect("put");
    c.put_bucket_policy()
        .bucket("pub")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}"#)
        .send()
        .await
        .expect("policy");
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let r = http.get(srv.url("/pub/k")).send().await.expect("send");
        if r.status() == 503 {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = r.text().await.expect("body");
            assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
            statuses.push(503);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    // The burst of 5 passes, then one a second.
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&503), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    // Requests that fail authentication count against the address as well.
    let bogus = http
        .get(srv.url("/pub/k"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=NOPE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        )
        .send()
        .await
        .expect("send");
    assert_eq!(bogus.status(), 503);
    // Signed requests are not counted under the address: the admin goes on.
    for _ in 0..10 {
        c.get_object()
            .bucket("pub")
            .key("k")
            .send()
            .await
            .expect("admin is unlimited");
    }
}

#[tokio::test]
async fn signed_users_are_limited_per_principal_unless_a_role_says_otherwise() {
    let srv = TestServer::start_with(|c| {
        c.rate_limits.user_per_minute = Some(60);
        c.rate_limits.user_burst = Some(4);
        c.rate_limits.roles = Some([("bucket-read".to_string(), 0)].into_iter().collect());
    })
    .await;
    let admin = srv.client();
    admin
        .create_bucket()
        .bucket("lim")
        .send()
        .await
        .expect("create");
    let slow = srv.new_user("slow").await;
    let fast = srv.new_user("fast").await;
    for (u, role) in [(&slow, "bucket-write"), (&fast, "bucket-read")] {
        srv.store()
            .bind(
                &srv.admin(),
                SubjectRef::User(u.user_id.clone()),
                role,
                Scope::Bucket("lim".into()),
            )
            .await
            .expect("bind");
    }
    let s = no_retry(&srv, &slow.access_key, &slow.secret_key);
    let mut codes = Vec::new();
    for _ in 0..7 {
        match s.list_objects_v2().bucket("lim").send().await {
            Ok(_) => codes.push("ok".to_string()),
            Err(e) => codes.push(code(&e)),
        }
    }
    assert_eq!(&codes[..4], &["ok"; 4], "{codes:?}");
    assert!(codes[4..].iter().any(|c| c == "SlowDown"), "{codes:?}");
    // The admin API counts the same principal: 429 with Retry-After.
    let api = Api::with(&srv, &slow.access_key, &slow.secret_key);
    let (status, body) = api.call("GET", "/api/buckets", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "api.rate_limited");
    // A role with its own rate (0: unlimited) lifts the default for its holders.
    let f = no_retry(&srv, &fast.access_key, &fast.secret_key);
    for _ in 0..20 {
        f.list_objects_v2()
            .bucket("lim")
            .send()
            .await
            .expect("bucket-read is unlimited here");
    }
}

#[tokio::test]
async fn nfs_calls_over_the_rate_wait_instead_of_failing() {
    let srv = TestServer::start_with(|c| {
        c.rate_limits.nfs_per_minute = Some(120);
        c.rate_limits.nfs_burst = Some(3);
    })
    .await;
    share(&srv, "slow", true).await;
    // Mounted as the guest (no peer for 127.0.0.1): counted per address.
    let mut c = mount(&srv, "slow").await.expect("mount");
    let root = c.root_nfs_fh3();
    let t = Instant::now();
    for _ in 0..7 {
        getattr(&mut c, &root).await.expect("each call answers");
    }
    // Three at once, then one every half second: the last four wait about 2 s in all.
    let took = t.elapsed();
    assert!(took.as_millis() >= 1500, "{took:?}");
}
