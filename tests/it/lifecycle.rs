//! S3 lifecycle configuration through aws-sdk-s3, and the expiry sweeper with an injected
//! clock: prefix rules, aborting old uploads, the server-wide object_expiry_days, the
//! per-sweep deletion budget.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, Transition, TransitionStorageClass,
};

use crate::common::*;

const DAY: i64 = 86_400_000;

async fn put(c: &aws_sdk_s3::Client, b: &str, k: &str) {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
}

async fn keys(c: &aws_sdk_s3::Client, b: &str) -> Vec<String> {
    let out = c.list_objects_v2().bucket(b).send().await.expect("list");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .status(ExpirationStatus::Enabled)
}

#[tokio::test]
async fn lifecycle_rules_expire_by_prefix_and_abort_old_uploads() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("life").send().await.expect("mb");
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("life")
        .send()
        .await
        .expect_err("none yet");
    assert_eq!(code(&e), "NoSuchLifecycleConfiguration");
    let cfg = BucketLifecycleConfiguration::builder()
        .rules(
            rule("logs-30d", "logs/")
                .expiration(LifecycleExpiration::builder().days(30).build())
                .build()
                .expect("rule"),
        )
        .rules(
            rule("uploads-7d", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(7)
                        .build(),
                )
                .build()
                .expect("rule"),
        )
        .build()
        .expect("cfg");
    c.put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(cfg)
        .send()
        .await
        .expect("put lifecycle");
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("life")
        .send()
        .await
        .expect("get");
    assert_eq!(got.rules().len(), 2);
    assert_eq!(got.rules()[0].id(), Some("logs-30d"));
    assert_eq!(got.rules()[0].expiration().and_then(|e| e.days()), Some(30));
    assert_eq!(
        got.rules()[1]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );

    for k in ["logs/a", "logs/b", "keep/c", "logsx"] {
        put(&c, "life", k).await;
    }
    let up = c
        .create_multipart_upload()
        .bucket("life")
        .key("big")
        .send()
        .await
        .expect("mpu");
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    // Not yet due.
    let s = store
        .sweep_expiry(now + 6 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!((s.expired, s.uploads_aborted), (0, 0));
    let s = store
        .sweep_expiry(now + 31 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!((s.expired, s.uploads_aborted), (2, 1), "{s:?}");
    assert_eq!(keys(&c, "life").await, ["keep/c", "logsx"]);
    let e = c
        .list_parts()
        .bucket("life")
        .key("big")
        .upload_id(up.upload_id().expect("id"))
        .send()
        .await
        .expect_err("aborted");
    assert_eq!(code(&e), "NoSuchUpload");

    // Unsupported actions are refused, not ignored; malformed XML is MalformedXML.
    let transition = BucketLifecycleConfiguration::builder()
        .rules(
            rule("cold", "")
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                )
                .build()
                .expect("rule"),
        )
        .build()
        .expect("cfg");
    let e = c
        .put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(transition)
        .send()
        .await
        .expect_err("transition");
    assert_eq!(code(&e), "NotImplemented");
    let r = srv
        .signed(
            "PUT",
            "/life",
            Some("lifecycle"),
            &[],
            b"<LifecycleConfiguration><Rule>".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("t").contains("MalformedXML"));
    // A reader may not change it.
    let u = srv.new_user("reader").await;
    srv.store()
        .bind(
            &srv.admin(),
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-read",
            gatehouse_store::rbac::Scope::Global,
        )
        .await
        .expect("bind");
    let cu = client_with(srv.addr, &u.access_key, &u.secret_key);
    let e = cu
        .delete_bucket_lifecycle()
        .bucket("life")
        .send()
        .await
        .expect_err("reader");
    assert_eq!(code(&e), "AccessDenied");

    c.delete_bucket_lifecycle()
        .bucket("life")
        .send()
        .await
        .expect("delete");
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("life")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&e), "NoSuchLifecycleConfiguration");
}

#[tokio::test]
async fn object_expiry_days_and_the_sweep_budget() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(10)).await;
    let c = srv.client();
    c.create_bucket().bucket("old").send().await.expect("mb");
    for i in 0..5 {
        put(&c, "old", &format!("k{i}")).await;
    }
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    assert_eq!(
        store
            .sweep_expiry(now + 9 * DAY, 10)
            .await
            .expect("s")
            .expired,
        0
    );
    // A clock far ahead: one sweep deletes no more than its budget and says so.
    let s = store.sweep_expiry(now + 3650 * DAY, 2).await.expect("s");
    assert_eq!(s.expired, 2);
    assert!(s.budget_exhausted);
    assert_eq!(keys(&c, "old").await.len(), 3);
    let s = store.sweep_expiry(now + 11 * DAY, 10).await.expect("s");
    assert_eq!(s.expired, 3);
    assert!(!s.budget_exhausted);
    assert!(keys(&c, "old").await.is_empty());
    let head = store.head_bucket(&srv.admin(), "old").expect("head");
    assert_eq!((head.object_count, head.usage_bytes), (0, 0));
}

#[tokio::test]
async fn a_clock_that_jumps_backwards_expires_nothing() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(1)).await;
    let c = srv.client();
    c.create_bucket().bucket("back").send().await.expect("mb");
    put(&c, "back", "k").await;
    let now = gatehouse_store::now_unix_ms();
    let s = srv
        .store()
        .sweep_expiry(now - 3650 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 0);
    assert_eq!(keys(&c, "back").await, ["k"]);
}
