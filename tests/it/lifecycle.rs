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

/// Objects under `prefix` expire `days` after their last change.
fn expire_rule(id: &str, prefix: &str, days: i32) -> LifecycleRule {
    rule(id, prefix)
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .expect("rule")
}

/// Uploads under `prefix` are aborted `days` after they began.
fn abort_rule(id: &str, prefix: &str, days: i32) -> LifecycleRule {
    rule(id, prefix)
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(days)
                .build(),
        )
        .build()
        .expect("rule")
}

/// PutBucketLifecycleConfiguration with `rules`.
async fn put_rules(c: &aws_sdk_s3::Client, bucket: &str, rules: Vec<LifecycleRule>) {
    let cfg = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .expect("cfg");
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(cfg)
        .send()
        .await
        .expect("put lifecycle");
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
    put_rules(
        &c,
        "life",
        vec![
            expire_rule("logs-30d", "logs/", 30),
            abort_rule("uploads-7d", "", 7),
        ],
    )
    .await;
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
    assert!(
        got.rules()[0].filter().is_some(),
        "a Filter comes back as one"
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

/// A 30-day rule on `logs/` of bucket `b`, put with aws-sdk-s3.
async fn logs_rule(c: &aws_sdk_s3::Client, b: &str) {
    put_rules(c, b, vec![expire_rule("logs-30d", "logs/", 30)]).await;
}

/// The sweeper reads what is due, not every entry: with 300 objects under a 30-day rule a
/// sweep a day later looks at no row; at day 31 it looks at the due ones only, and deleted
/// objects left no row behind. A rule put after
/// the objects exist enters them (in bounded steps) before they can fall due.
#[tokio::test]
async fn expiry_reads_what_is_due_not_every_object() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(0)).await;
    let c = srv.client();
    c.create_bucket().bucket("due").send().await.expect("mb");
    for i in 0..200 {
        put(&c, "due", &format!("keep/{i:03}")).await;
    }
    for i in 0..100 {
        put(&c, "due", &format!("logs/{i:03}")).await;
    }
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    // No rule yet: nothing is indexed, nothing looked at.
    let s = store
        .sweep_expiry(now + 400 * DAY, 10_000)
        .await
        .expect("s");
    assert_eq!((s.entered, s.scanned, s.expired), (0, 0, 0), "{s:?}");
    // A rule on objects that exist: the sweep enters the bucket's 300 keys once.
    logs_rule(&c, "due").await;
    let s = store.sweep_expiry(now + DAY, 10_000).await.expect("s");
    assert_eq!((s.entered, s.scanned, s.expired), (300, 0, 0), "{s:?}");
    // Quiet sweeps cost nothing per object.
    let s = store.sweep_expiry(now + 2 * DAY, 10_000).await.expect("s");
    assert_eq!((s.entered, s.scanned, s.expired), (0, 0, 0), "{s:?}");
    // Deleted objects take their rows with them: the sweep looks at the 50 left.
    for i in 0..50 {
        c.delete_object()
            .bucket("due")
            .key(format!("logs/{i:03}"))
            .send()
            .await
            .expect("rm");
    }
    let s = store.sweep_expiry(now + 31 * DAY, 10_000).await.expect("s");
    assert_eq!((s.scanned, s.expired), (50, 50), "{s:?}");
    assert_eq!(keys(&c, "due").await.len(), 200);
    let s = store.sweep_expiry(now + 32 * DAY, 10_000).await.expect("s");
    assert_eq!((s.scanned, s.expired), (0, 0), "{s:?}");
}

/// `object_expiry_days` changed between starts: the objects already stored follow the new
/// value (entered again after a restart), in both directions.
#[tokio::test]
async fn object_expiry_days_changed_between_restarts() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(0)).await;
    let c = srv.client();
    c.create_bucket().bucket("cfg").send().await.expect("mb");
    put(&c, "cfg", "a").await;
    let now = gatehouse_store::now_unix_ms();
    let s = srv
        .store()
        .sweep_expiry(now + 11 * DAY, 100)
        .await
        .expect("s");
    assert_eq!(s.expired, 0);
    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |raw| raw.object_expiry_days = Some(10)).await;
    let c = srv.client();
    put(&c, "cfg", "b").await;
    let s = srv
        .store()
        .sweep_expiry(now + 9 * DAY, 100)
        .await
        .expect("s");
    assert_eq!(s.expired, 0, "{s:?}");
    // Back to never: the rows written under 10 days expire nothing.
    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |raw| raw.object_expiry_days = Some(0)).await;
    let s = srv
        .store()
        .sweep_expiry(now + 11 * DAY, 100)
        .await
        .expect("s");
    assert_eq!(s.expired, 0, "{s:?}");
    assert_eq!(keys(&srv.client(), "cfg").await, ["a", "b"]);
    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |raw| raw.object_expiry_days = Some(10)).await;
    let s = srv
        .store()
        .sweep_expiry(now + 11 * DAY, 100)
        .await
        .expect("s");
    assert_eq!(
        s.expired, 2,
        "both, the one from before any rule too: {s:?}"
    );
    assert!(keys(&srv.client(), "cfg").await.is_empty());
}

/// Names that move: an NFS rename into a rule's prefix falls due by that rule, one out of it
/// does not; so does a directory renamed into it, and a hard link's new name. A restored share's
/// objects are entered again.
#[tokio::test]
async fn renames_links_and_restored_shares_follow_the_rules_of_their_names() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(0)).await;
    crate::nfs::share(&srv, "life", false).await;
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let c = srv.client();
    for k in ["logs/out", "in", "d/x", "d/y", "target"] {
        crate::nfs::s3_put(&srv, "fs+life", k, b"x".to_vec()).await;
    }
    logs_rule(&c, "fs+life").await;
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    store.sweep_expiry(now, 10).await.expect("entered");
    let mut m = crate::nfs::mount(&srv, "life").await.expect("mount");
    let root = m.root_nfs_fh3();
    let (logs, _) = crate::nfs::lookup(&mut m, &root, "logs")
        .await
        .expect("logs");
    crate::nfs::rename(&mut m, (&root, "in"), (&logs, "in"))
        .await
        .expect("in");
    crate::nfs::rename(&mut m, (&logs, "out"), (&root, "out"))
        .await
        .expect("out");
    crate::nfs::rename(&mut m, (&root, "d"), (&logs, "d"))
        .await
        .expect("dir");
    let (target, _) = crate::nfs::lookup(&mut m, &root, "target")
        .await
        .expect("t");
    let link = m
        .link(&nfs3_client::nfs3_types::nfs3::LINK3args {
            file: target,
            link: crate::nfs::dirop(&logs, "link"),
        })
        .await
        .expect("rpc");
    assert!(matches!(
        link,
        nfs3_client::nfs3_types::nfs3::Nfs3Result::Ok(_)
    ));
    drop(m);
    let s = store.sweep_expiry(now + 31 * DAY, 100).await.expect("s");
    assert_eq!(s.expired, 4, "{s:?}");
    assert_eq!(keys(&c, "fs+life").await, ["out", "target"]);

    // A deleted share's rows go while it is parked; restored, its objects are entered again.
    crate::nfs::s3_put(&srv, "fs+life", "logs/again", b"x".to_vec()).await;
    store
        .delete_share(&srv.admin(), "life")
        .await
        .expect("delete");
    let s = store.sweep_expiry(now + 31 * DAY, 100).await.expect("s");
    assert_eq!(s.expired, 0, "parked: {s:?}");
    store
        .restore_share(&srv.admin(), "life")
        .await
        .expect("restore");
    let s = store.sweep_expiry(now + 31 * DAY, 100).await.expect("s");
    assert_eq!(s.expired, 1, "{s:?}");
    assert_eq!(keys(&c, "fs+life").await, ["out", "target"]);
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// A store from before the index (schema 8): its buckets are entered by the first sweeps after
/// the upgrade, so objects written before it expire on time.
#[tokio::test]
async fn objects_from_before_the_index_expire_after_an_upgrade() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(0)).await;
    let c = srv.client();
    c.create_bucket().bucket("old").send().await.expect("mb");
    logs_rule(&c, "old").await;
    put(&c, "old", "logs/a").await;
    put(&c, "old", "keep").await;
    let dir = srv.stop().await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        assert!(
            t.delete_table(redb::TableDefinition::<&[u8], ()>::new("expiry_due"))
                .expect("delete")
        );
        assert!(
            t.delete_table(redb::TableDefinition::<u64, &[u8]>::new("expiry_rebuild"))
                .expect("delete")
        );
        t.commit().expect("commit");
        gatehouse_migrations::force_schema_version(&db, 8).expect("version");
    }
    let srv = TestServer::start_in_with(dir, |raw| raw.object_expiry_days = Some(0)).await;
    let now = gatehouse_store::now_unix_ms();
    let s = srv
        .store()
        .sweep_expiry(now + 31 * DAY, 100)
        .await
        .expect("s");
    assert_eq!((s.entered, s.expired), (2, 1), "{s:?}");
    assert_eq!(keys(&srv.client(), "old").await, ["keep"]);
}

/// Abort-incomplete rules find uploads through their own due-time index: an upload begun
/// before the rule is entered when the rule is put; one under another prefix is left alone; a
/// quiet sweep aborts nothing and a due one aborts only what is due.
#[tokio::test]
async fn abort_incomplete_rules_follow_uploads_begun_before_and_after() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(0)).await;
    let c = srv.client();
    c.create_bucket().bucket("ups").send().await.expect("mb");
    let create = |key: &'static str| {
        let c = c.clone();
        async move {
            c.create_multipart_upload()
                .bucket("ups")
                .key(key)
                .send()
                .await
                .expect("mpu")
                .upload_id()
                .expect("id")
                .to_string()
        }
    };
    let before = create("tmp/before").await;
    put_rules(&c, "ups", vec![abort_rule("tmp-7d", "tmp/", 7)]).await;
    let after = create("tmp/after").await;
    let other = create("keep/other").await;
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    let s = store.sweep_expiry(now + 6 * DAY, 100).await.expect("s");
    assert_eq!(s.uploads_aborted, 0, "{s:?}");
    let s = store.sweep_expiry(now + 8 * DAY, 100).await.expect("s");
    assert_eq!(s.uploads_aborted, 2, "{s:?}");
    let listed = c
        .list_multipart_uploads()
        .bucket("ups")
        .send()
        .await
        .expect("list");
    let ids: Vec<&str> = listed
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(ids, [other.as_str()]);
    assert!(!ids.contains(&before.as_str()) && !ids.contains(&after.as_str()));
    let s = store.sweep_expiry(now + 9 * DAY, 100).await.expect("s");
    assert_eq!(s.uploads_aborted, 0, "{s:?}");
}

/// Objects due past the 180-day horizon get no row when written (the default 25-year
/// `object_expiry_days` costs no row per object); the sweeper enters every bucket again every
/// 90 days, so such an object still expires on time.
#[tokio::test]
async fn an_object_due_past_the_horizon_still_expires_on_time() {
    let srv = TestServer::start_with(|raw| raw.object_expiry_days = Some(400)).await;
    let c = srv.client();
    c.create_bucket().bucket("far").send().await.expect("mb");
    put(&c, "far", "k").await;
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    let s = store.sweep_expiry(now + DAY, 100).await.expect("s");
    assert_eq!((s.scanned, s.expired), (0, 0), "no row yet: {s:?}");
    let s = store.sweep_expiry(now + 250 * DAY, 100).await.expect("s");
    assert_eq!(
        (s.entered, s.expired),
        (1, 0),
        "entered within the horizon: {s:?}"
    );
    let s = store.sweep_expiry(now + 399 * DAY, 100).await.expect("s");
    assert_eq!(s.expired, 0, "{s:?}");
    let s = store.sweep_expiry(now + 401 * DAY, 100).await.expect("s");
    assert_eq!((s.scanned, s.expired), (1, 1), "{s:?}");
    assert!(keys(&c, "far").await.is_empty());
}

/// A rule given in S3's older form, its prefix as the rule's own `<Prefix>`, comes back in that
/// form (found by the ceph s3-tests suite: it came back as `<Filter><Prefix>`).
#[tokio::test]
#[allow(deprecated)]
async fn a_rule_prefix_in_the_older_form_comes_back_so() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("legacy").send().await.expect("mb");
    let old = LifecycleRule::builder()
        .id("old-form")
        .prefix("tmp/")
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(3).build())
        .build()
        .expect("rule");
    put_rules(&c, "legacy", vec![old]).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("legacy")
        .send()
        .await
        .expect("get");
    let r = &got.rules()[0];
    assert_eq!(r.prefix(), Some("tmp/"));
    assert!(r.filter().is_none(), "{r:?}");
    assert_eq!(r.expiration().and_then(|e| e.days()), Some(3));
}

async fn put_sized(c: &aws_sdk_s3::Client, b: &str, k: &str, len: usize, tagging: Option<&str>) {
    let mut r = c
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from(vec![b'x'; len]));
    if let Some(t) = tagging {
        r = r.tagging(t);
    }
    r.send().await.expect("put");
}

/// Expiration filtered by tags, by object size and by both with a prefix (`And`), and
/// Expiration by Date: only the objects the filter selects expire, an object tagged later is
/// expired once it is selected, the rules come back as they were put, and what S3 refuses is
/// refused.
#[tokio::test]
async fn lifecycle_filters_by_tags_and_size_and_expires_by_date() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{LifecycleRuleAndOperator, Tag, Tagging};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("filt").send().await.expect("mb");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().expect("tag");
    let with = |id: &str, filter: LifecycleRuleFilter, exp: LifecycleExpiration| {
        LifecycleRule::builder()
            .id(id)
            .filter(filter)
            .status(ExpirationStatus::Enabled)
            .expiration(exp)
            .build()
            .expect("rule")
    };
    let days = |d: i32| LifecycleExpiration::builder().days(d).build();
    let date = |secs: i64| {
        LifecycleExpiration::builder()
            .date(DateTime::from_secs(secs))
            .build()
    };
    let later = (gatehouse_store::now_unix_ms() / DAY + 11) * DAY;
    put_rules(
        &c,
        "filt",
        vec![
            with(
                "temp",
                LifecycleRuleFilter::builder()
                    .tag(tag("temp", "true"))
                    .build(),
                days(1),
            ),
            with(
                "big-logs",
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix("big/")
                            .object_size_greater_than(10)
                            .object_size_less_than(1000)
                            .build(),
                    )
                    .build(),
                days(1),
            ),
            // 2020-01-01: passed, so everything under old/ expires now.
            with(
                "old",
                LifecycleRuleFilter::builder().prefix("old/").build(),
                date(1_577_836_800),
            ),
            // Midnight ten or eleven days from now.
            with(
                "later",
                LifecycleRuleFilter::builder().prefix("later/").build(),
                date(later / 1000),
            ),
        ],
    )
    .await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("filt")
        .send()
        .await
        .expect("get");
    let rules = got.rules();
    assert_eq!(rules.len(), 4);
    let f0 = rules[0].filter().expect("filter");
    assert_eq!(
        f0.tag().map(|t| (t.key(), t.value())),
        Some(("temp", "true"))
    );
    let and = rules[1].filter().and_then(|f| f.and()).expect("And");
    assert_eq!(and.prefix(), Some("big/"));
    assert_eq!(
        (and.object_size_greater_than(), and.object_size_less_than()),
        (Some(10), Some(1000))
    );
    assert_eq!(
        rules[2]
            .expiration()
            .and_then(|e| e.date())
            .map(|d| d.secs()),
        Some(1_577_836_800)
    );

    put_sized(&c, "filt", "a-temp", 1, Some("temp=true")).await;
    put_sized(&c, "filt", "b-untagged", 1, None).await;
    put_sized(&c, "filt", "c-temp-false", 1, Some("temp=false")).await;
    put_sized(&c, "filt", "big/small", 5, None).await;
    put_sized(&c, "filt", "big/mid", 100, None).await;
    put_sized(&c, "filt", "big/huge", 5000, None).await;
    put_sized(&c, "filt", "other/mid", 100, None).await;
    put_sized(&c, "filt", "old/x", 1, None).await;
    put_sized(&c, "filt", "later/y", 1, None).await;
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();

    // x-amz-expiration names the rule that expires an object first and when: its write time
    // plus the rule's days rounded up to midnight UTC (as S3 computes it), or the rule's date.
    let expiration = |k: &'static str| {
        let c = c.clone();
        async move {
            c.head_object()
                .bucket("filt")
                .key(k)
                .send()
                .await
                .expect("head")
                .expiration()
                .map(str::to_string)
        }
    };
    let midnight_after = |ms: i64| ms.div_euclid(DAY) * DAY + DAY;
    let http_date = |ms: i64| {
        DateTime::from_millis(ms)
            .fmt(aws_sdk_s3::primitives::DateTimeFormat::HttpDate)
            .expect("date")
    };
    let head = expiration("a-temp").await.expect("a rule expires it");
    let mtime = c
        .head_object()
        .bucket("filt")
        .key("a-temp")
        .send()
        .await
        .expect("head")
        .last_modified()
        .map(|t| t.to_millis().expect("ms"))
        .expect("mtime");
    let due = midnight_after(mtime + DAY);
    assert!(
        head == format!("expiry-date=\"{}\", rule-id=\"temp\"", http_date(due))
            || head == format!("expiry-date=\"{}\", rule-id=\"temp\"", http_date(due + DAY)),
        "{head}"
    );
    assert_eq!(
        expiration("later/y").await.as_deref(),
        Some(format!("expiry-date=\"{}\", rule-id=\"later\"", http_date(later)).as_str())
    );
    assert_eq!(expiration("b-untagged").await, None, "no rule selects it");
    assert_eq!(expiration("big/small").await, None, "too small");
    let put = c
        .put_object()
        .bucket("filt")
        .key("big/again")
        .body(ByteStream::from(vec![b'x'; 100]))
        .send()
        .await
        .expect("put");
    assert!(
        put.expiration()
            .is_some_and(|e| e.contains("rule-id=\"big-logs\"")),
        "{:?}",
        put.expiration()
    );
    c.delete_object()
        .bucket("filt")
        .key("big/again")
        .send()
        .await
        .expect("delete");
    // A completed multipart upload is told too.
    let up = c
        .create_multipart_upload()
        .bucket("filt")
        .key("big/parts")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("filt")
        .key("big/parts")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(vec![b'x'; 100]))
        .send()
        .await
        .expect("part");
    let done = c
        .complete_multipart_upload()
        .bucket("filt")
        .key("big/parts")
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
        .expect("complete");
    assert!(
        done.expiration()
            .is_some_and(|e| e.contains("rule-id=\"big-logs\"")),
        "{:?}",
        done.expiration()
    );
    c.delete_object()
        .bucket("filt")
        .key("big/parts")
        .send()
        .await
        .expect("delete");

    // The past date: due at once; nothing else yet.
    let s = store.sweep_expiry(now, 10_000).await.expect("sweep");
    assert_eq!(s.expired, 1, "{s:?}");
    let s = store
        .sweep_expiry(now + 2 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 2, "{s:?}");
    assert_eq!(
        keys(&c, "filt").await,
        [
            "b-untagged",
            "big/huge",
            "big/small",
            "c-temp-false",
            "later/y",
            "other/mid"
        ]
    );

    // Tagged later: selected now, and its age is already past the rule's day.
    c.put_object_tagging()
        .bucket("filt")
        .key("b-untagged")
        .tagging(
            Tagging::builder()
                .tag_set(tag("temp", "true"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tag it");
    let s = store
        .sweep_expiry(now + 3 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 1, "{s:?}");
    // The future date: not before it, at it.
    let s = store
        .sweep_expiry(later - DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 0, "{s:?}");
    let s = store.sweep_expiry(later, 10_000).await.expect("sweep");
    assert_eq!(s.expired, 1, "{s:?}");
    assert_eq!(
        keys(&c, "filt").await,
        ["big/huge", "big/small", "c-temp-false", "other/mid"]
    );

    // Refused: Days with Date, a date not at midnight, sizes that select nothing, a tag
    // filter on a rule that aborts uploads or removes lone delete markers.
    let refused = |rule: LifecycleRule| {
        let c = c.clone();
        async move {
            let cfg = BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .expect("cfg");
            let e = c
                .put_bucket_lifecycle_configuration()
                .bucket("filt")
                .lifecycle_configuration(cfg)
                .send()
                .await
                .expect_err("refused");
            code(&e)
        }
    };
    assert_eq!(
        refused(with(
            "both",
            LifecycleRuleFilter::builder().prefix("").build(),
            LifecycleExpiration::builder()
                .days(1)
                .date(DateTime::from_secs(1_577_836_800))
                .build(),
        ))
        .await,
        "InvalidArgument"
    );
    assert_eq!(
        refused(with(
            "noon",
            LifecycleRuleFilter::builder().prefix("").build(),
            date(1_577_836_800 + 43_200),
        ))
        .await,
        "InvalidArgument"
    );
    assert_eq!(
        refused(with(
            "sizes",
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .object_size_greater_than(100)
                        .object_size_less_than(100)
                        .build(),
                )
                .build(),
            days(1),
        ))
        .await,
        "InvalidArgument"
    );
    let tagged = || {
        LifecycleRuleFilter::builder()
            .tag(tag("temp", "true"))
            .build()
    };
    assert_eq!(
        refused(
            LifecycleRule::builder()
                .id("abort")
                .filter(tagged())
                .status(ExpirationStatus::Enabled)
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build()
                )
                .build()
                .expect("rule")
        )
        .await,
        "InvalidRequest"
    );
    // Nor a lone delete marker's removal (a marker has neither tags nor a size).
    assert_eq!(
        refused(
            LifecycleRule::builder()
                .id("markers")
                .filter(tagged())
                .status(ExpirationStatus::Enabled)
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build()
                )
                .build()
                .expect("rule")
        )
        .await,
        "InvalidRequest"
    );
    // Nothing refused replaced the rules in force.
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("filt")
        .send()
        .await
        .expect("get");
    assert_eq!(got.rules().len(), 4);
    srv.stop().await;
}

/// A rule put without an ID gets one, as S3 assigns it, and shows it back.
#[tokio::test]
async fn a_rule_without_an_id_gets_one() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("noid").send().await.expect("mb");
    let rule = LifecycleRule::builder()
        .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(3).build())
        .build()
        .expect("rule");
    put_rules(&c, "noid", vec![rule.clone(), rule]).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("noid")
        .send()
        .await
        .expect("get");
    let ids: Vec<&str> = got.rules().iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.iter().all(|id| id.len() == 48), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    srv.stop().await;
}

/// A rule of millions of days (due past the year 9999) answers PUT and HEAD without the
/// x-amz-expiration header an HTTP date cannot carry, instead of failing them.
#[tokio::test]
async fn a_rule_due_past_year_9999_leaves_the_header_out() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("far").send().await.expect("mb");
    put_rules(&c, "far", vec![expire_rule("far", "", 3_000_000)]).await;
    let put = c
        .put_object()
        .bucket("far")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    assert!(put.expiration().is_none());
    let head = c
        .head_object()
        .bucket("far")
        .key("k")
        .send()
        .await
        .expect("head");
    assert!(head.expiration().is_none());
    srv.stop().await;
}

/// A file that an NFS write grows past a rule's ObjectSizeGreaterThan is expired once due,
/// though its row was dropped while it was too small.
#[tokio::test]
async fn a_file_grown_over_nfs_comes_under_a_size_rule() {
    let srv = TestServer::start().await;
    let (mut c, root) = crate::nfs::writer(&srv, "grow").await;
    let s3 = srv.client();
    crate::nfs::s3_put(&srv, "fs+grow", "f.bin", b"tiny".to_vec()).await;
    let rule = LifecycleRule::builder()
        .id("big")
        .filter(
            LifecycleRuleFilter::builder()
                .object_size_greater_than(100)
                .build(),
        )
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .expect("rule");
    put_rules(&s3, "fs+grow", vec![rule]).await;
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    // Too small when it falls due: its row goes.
    let s = store
        .sweep_expiry(now + 3 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 0, "{s:?}");
    let (fh, _) = crate::nfs::lookup(&mut c, &root, "f.bin")
        .await
        .expect("lookup");
    crate::nfs::write(&mut c, &fh, 0, &[b'x'; 4096])
        .await
        .expect("grow");
    assert_eq!(keys(&s3, "fs+grow").await, ["f.bin"]);
    let s = store
        .sweep_expiry(now + 5 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.expired, 1, "{s:?}");
    assert!(keys(&s3, "fs+grow").await.is_empty());
}

/// NoncurrentVersionExpiration filtered by tags: only the noncurrent versions carrying the tag
/// go; one tagged later (by version id) goes once it is; NewerNoncurrentVersions counts the
/// versions the rule selects.
#[tokio::test]
async fn noncurrent_versions_expire_by_their_tags() {
    use aws_sdk_s3::types::{BucketVersioningStatus, NoncurrentVersionExpiration, Tag, Tagging};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("ncv").send().await.expect("mb");
    crate::versioning::set_versioning(&c, "ncv", BucketVersioningStatus::Enabled).await;
    let rule = LifecycleRule::builder()
        .id("tmp-versions")
        .filter(
            LifecycleRuleFilter::builder()
                .tag(
                    Tag::builder()
                        .key("temp")
                        .value("yes")
                        .build()
                        .expect("tag"),
                )
                .build(),
        )
        .status(ExpirationStatus::Enabled)
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(1)
                .newer_noncurrent_versions(1)
                .build(),
        )
        .build()
        .expect("rule");
    put_rules(&c, "ncv", vec![rule]).await;
    // Oldest first: tagged, untagged, tagged, tagged, then the current one.
    let mut ids = Vec::new();
    for tagging in [
        Some("temp=yes"),
        None,
        Some("temp=yes"),
        Some("temp=yes"),
        None,
    ] {
        let mut r = c
            .put_object()
            .bucket("ncv")
            .key("k")
            .body(ByteStream::from_static(b"v"));
        if let Some(t) = tagging {
            r = r.tagging(t);
        }
        ids.push(
            r.send()
                .await
                .expect("put")
                .version_id()
                .expect("id")
                .to_string(),
        );
    }
    let versions = || async {
        let out = c
            .list_object_versions()
            .bucket("ncv")
            .send()
            .await
            .expect("versions");
        let mut v: Vec<String> = out
            .versions()
            .iter()
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect();
        v.reverse(); // oldest first, as `ids`
        v
    };
    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    let s = store
        .sweep_expiry(now + 3 * DAY, 10_000)
        .await
        .expect("sweep");
    // The newest tagged noncurrent version (ids[3]) is kept by NewerNoncurrentVersions; the
    // untagged one is not selected; the two older tagged ones go.
    assert_eq!(s.versions_expired, 2, "{s:?}");
    assert_eq!(
        versions().await,
        [ids[1].clone(), ids[3].clone(), ids[4].clone()]
    );
    // Tagging the untagged version brings it under the rule: it is older than ids[3], the one
    // newer tagged version kept, so it goes.
    c.put_object_tagging()
        .bucket("ncv")
        .key("k")
        .version_id(&ids[1])
        .tagging(
            Tagging::builder()
                .tag_set(
                    Tag::builder()
                        .key("temp")
                        .value("yes")
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tag the version");
    let s = store
        .sweep_expiry(now + 4 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.versions_expired, 1, "{s:?}");
    assert_eq!(versions().await, [ids[3].clone(), ids[4].clone()]);
    srv.stop().await;
}
