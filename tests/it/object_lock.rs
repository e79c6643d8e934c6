//! S3 object lock (decision 0039) through aws-sdk-s3: buckets created with lock, default
//! retention, per-object retention and legal hold on writes and through their own calls,
//! GOVERNANCE bypassed only with the header by a principal granted `bypass-governance`,
//! COMPLIANCE by nobody (not even admin), retention extended but not shortened, lifecycle and
//! share deletion waiting for locks, the NFS view of a locked file read-only, and the AWS
//! errors for contradictory requests.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
    ObjectLockRule,
};
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::Scope;

use crate::common::*;

const DAY_S: i64 = 86_400;

fn in_days(days: i64) -> DateTime {
    DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            + days * DAY_S,
    )
}

async fn put(c: &Client, b: &str, k: &str) -> String {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("a version id")
        .to_string()
}

async fn delete_version(c: &Client, b: &str, k: &str, v: &str, bypass: bool) -> Result<(), String> {
    let mut req = c.delete_object().bucket(b).key(k).version_id(v);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(drop).map_err(|e| code(&e))
}

async fn retention(
    c: &Client,
    b: &str,
    k: &str,
    v: &str,
    mode: ObjectLockRetentionMode,
    days: i64,
) -> Result<(), String> {
    c.put_object_retention()
        .bucket(b)
        .key(k)
        .version_id(v)
        .retention(
            ObjectLockRetention::builder()
                .mode(mode)
                .retain_until_date(in_days(days))
                .build(),
        )
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

async fn version_count(c: &Client, b: &str, k: &str) -> usize {
    let l = c
        .list_object_versions()
        .bucket(b)
        .prefix(k)
        .send()
        .await
        .expect("list");
    l.versions().len() + l.delete_markers().len()
}

#[tokio::test]
async fn governance_compliance_and_legal_hold() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("mb with lock");
    // Lock turns versioning on, for good.
    let v = c
        .get_bucket_versioning()
        .bucket("locked")
        .send()
        .await
        .expect("get");
    assert_eq!(
        v.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
    );
    let e = c
        .put_bucket_versioning()
        .bucket("locked")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect_err("no suspending under lock");
    assert_eq!(code(&e), "InvalidBucketState");
    let cfg = c
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .expect("cfg");
    let cfg = cfg.object_lock_configuration().expect("cfg");
    assert_eq!(cfg.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(cfg.rule().is_none());

    // A default retention: GOVERNANCE for a day.
    c.put_object_lock_configuration()
        .bucket("locked")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("default retention");
    let g = put(&c, "locked", "gov").await;
    let h = c
        .head_object()
        .bucket("locked")
        .key("gov")
        .send()
        .await
        .expect("head");
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert!(h.object_lock_retain_until_date().is_some());

    // A writer without bypass-governance (bucket-write) cannot remove it, header or not.
    let u = srv.new_user("writer").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "bucket-write",
            Scope::Bucket("locked".into()),
        )
        .await
        .expect("bind");
    let w = client_with(srv.addr, &u.access_key, &u.secret_key);
    assert_eq!(
        delete_version(&w, "locked", "gov", &g, false).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        delete_version(&w, "locked", "gov", &g, true).await,
        Err("AccessDenied".into())
    );
    // Nor can it lift or set a lock: that is the `lock` verb (bucket-admin's, not bucket-write's).
    let e = w
        .put_object_legal_hold()
        .bucket("locked")
        .key("gov")
        .version_id(&g)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .expect_err("no lock verb");
    assert_eq!(code(&e), "AccessDenied");
    // A DELETE without a version id only adds a delete marker: allowed.
    w.delete_object()
        .bucket("locked")
        .key("gov")
        .send()
        .await
        .expect("marker over a locked version");
    // Admin (granted every verb) without the header: refused; with it: removed.
    assert_eq!(
        delete_version(&c, "locked", "gov", &g, false).await,
        Err("AccessDenied".into())
    );
    delete_version(&c, "locked", "gov", &g, true)
        .await
        .expect("bypassed");

    // COMPLIANCE: nobody removes it or weakens it, admin with the header included.
    let k = c
        .put_object()
        .bucket("locked")
        .key("comp")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_days(2))
        .body(ByteStream::from_static(b"compliance"))
        .send()
        .await
        .expect("put compliance")
        .version_id()
        .expect("id")
        .to_string();
    assert_eq!(
        delete_version(&c, "locked", "comp", &k, true).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        retention(
            &c,
            "locked",
            "comp",
            &k,
            ObjectLockRetentionMode::Compliance,
            1
        )
        .await,
        Err("AccessDenied".into()),
        "shortened"
    );
    // GOVERNANCE to COMPLIANCE is a change of mode: it needs the bypass too (as S3).
    let g2 = put(&c, "locked", "gov2").await;
    assert_eq!(
        retention(
            &c,
            "locked",
            "gov2",
            &g2,
            ObjectLockRetentionMode::Compliance,
            1
        )
        .await,
        Err("AccessDenied".into()),
        "mode changed without bypass"
    );
    retention(
        &c,
        "locked",
        "gov2",
        &g2,
        ObjectLockRetentionMode::Governance,
        3,
    )
    .await
    .expect("extended in the same mode");
    assert_eq!(
        retention(
            &c,
            "locked",
            "comp",
            &k,
            ObjectLockRetentionMode::Governance,
            5
        )
        .await,
        Err("AccessDenied".into()),
        "weakened to GOVERNANCE"
    );
    retention(
        &c,
        "locked",
        "comp",
        &k,
        ObjectLockRetentionMode::Compliance,
        3,
    )
    .await
    .expect("extended");
    let r = c
        .get_object_retention()
        .bucket("locked")
        .key("comp")
        .version_id(&k)
        .send()
        .await
        .expect("get retention");
    let r = r.retention().expect("retention");
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Compliance));
    let until = r.retain_until_date().expect("date").secs();
    assert!(until >= in_days(3).secs() - 60, "{until}");
    // A date in the past is refused.
    assert_eq!(
        retention(
            &c,
            "locked",
            "comp",
            &k,
            ObjectLockRetentionMode::Compliance,
            -1
        )
        .await,
        Err("InvalidArgument".into())
    );

    // Legal hold: blocks removal until lifted.
    let l = put(&c, "locked", "held").await;
    // (past its default GOVERNANCE retention only by bypass; the hold blocks even that.)
    c.put_object_legal_hold()
        .bucket("locked")
        .key("held")
        .version_id(&l)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .expect("hold on");
    let got = c
        .get_object_legal_hold()
        .bucket("locked")
        .key("held")
        .version_id(&l)
        .send()
        .await
        .expect("get hold");
    assert_eq!(
        got.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        delete_version(&c, "locked", "held", &l, true).await,
        Err("AccessDenied".into())
    );
    c.put_object_legal_hold()
        .bucket("locked")
        .key("held")
        .version_id(&l)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .expect("hold off");
    delete_version(&c, "locked", "held", &l, true)
        .await
        .expect("removed once the hold is lifted");

    // Multipart completion takes the lock of its CreateMultipartUpload.
    let up = c
        .create_multipart_upload()
        .bucket("locked")
        .key("mp")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("mpu");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("locked")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("locked")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or(""))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let h = c
        .head_object()
        .bucket("locked")
        .key("mp")
        .send()
        .await
        .expect("head");
    assert_eq!(
        h.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
}

#[tokio::test]
async fn contradictory_lock_requests_get_aws_errors() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("plain").send().await.expect("mb");
    // Lock headers on a bucket without lock.
    let e = c
        .put_object()
        .bucket("plain")
        .key("k")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no lock here");
    assert_eq!(code(&e), "InvalidRequest");
    // Lock configuration on an unversioned bucket.
    let e = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .expect_err("not versioned");
    assert_eq!(code(&e), "InvalidBucketState");
    let e = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .expect_err("none");
    assert_eq!(code(&e), "ObjectLockConfigurationNotFoundError");

    c.create_bucket()
        .bucket("lkb")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("mb");
    // Days and Years together; a mode without a date; a date in the past.
    for body in [
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>",
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>SOMETIMES</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
    ] {
        let r = srv
            .signed(
                "PUT",
                "/lkb",
                Some("object-lock"),
                &[],
                body.as_bytes().to_vec(),
            )
            .await;
        let text = r.text().await.expect("body");
        assert!(text.contains("MalformedXML"), "{body}: {text}");
    }
    let e = c
        .put_object()
        .bucket("lkb")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("mode without a date");
    assert_eq!(code(&e), "InvalidArgument");
    let e = c
        .put_object()
        .bucket("lkb")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(-1))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("in the past");
    assert_eq!(code(&e), "InvalidArgument");
    // So is a multipart upload asking it, when it begins (not after every part is sent).
    let e = c
        .create_multipart_upload()
        .bucket("lkb")
        .key("mpu")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(-1))
        .send()
        .await
        .expect_err("in the past");
    assert_eq!(code(&e), "InvalidArgument");
    // Event holds (S3's newer object lock feature) are refused as not implemented, not
    // dropped; an element outside the schema is MalformedXML; a default past 100 years is
    // InvalidRetentionPeriod.
    put(&c, "lkb", "held").await;
    for (path, query, body, want) in [
        (
            "/lkb",
            "object-lock",
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><DefaultEventHold><Days>3</Days></DefaultEventHold></DefaultRetention></Rule></ObjectLockConfiguration>",
            "NotImplemented",
        ),
        (
            "/lkb",
            "object-lock",
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Years>101</Years></DefaultRetention></Rule></ObjectLockConfiguration>",
            "InvalidRetentionPeriod",
        ),
        (
            "/lkb",
            "object-lock",
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Surprise/></ObjectLockConfiguration>",
            "MalformedXML",
        ),
        (
            "/lkb/held",
            "retention",
            "<Retention><EventHold>ON</EventHold></Retention>",
            "NotImplemented",
        ),
        (
            "/lkb/held",
            "retention",
            "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate><EventHoldDuration>5</EventHoldDuration></Retention>",
            "NotImplemented",
        ),
        (
            "/lkb/held",
            "retention",
            "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>10000-01-01T00:00:00Z</RetainUntilDate></Retention>",
            "InvalidArgument",
        ),
        (
            "/lkb/held",
            "legal-hold",
            "<LegalHold><Status>ON</Status><Until>x</Until></LegalHold>",
            "MalformedXML",
        ),
    ] {
        let r = srv
            .signed("PUT", path, Some(query), &[], body.as_bytes().to_vec())
            .await;
        let text = r.text().await.expect("body");
        assert!(text.contains(want), "{body}: {text}");
    }
    let r = srv
        .signed(
            "PUT",
            "/lkb/evented",
            None,
            &[("x-amz-object-lock-event-hold", "ON")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status(), 501);
    let held = c
        .get_object_legal_hold()
        .bucket("lkb")
        .key("held")
        .send()
        .await
        .expect("legal hold");
    assert_eq!(
        held.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off),
        "nothing applied"
    );
    // No retention on a version: GetObjectRetention says so.
    put(&c, "lkb", "free").await;
    let e = c
        .get_object_retention()
        .bucket("lkb")
        .key("free")
        .send()
        .await
        .expect_err("none");
    assert_eq!(code(&e), "NoSuchObjectLockConfiguration");
    // Nothing above was half-applied.
    let l = c
        .list_object_versions()
        .bucket("lkb")
        .send()
        .await
        .expect("list");
    assert_eq!(l.versions().len(), 2, "held and free");
}

/// Lifecycle and share deletion wait for locks; over NFS a locked file is read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_hold_against_lifecycle_shares_and_nfs() {
    use gatehouse_store::model::{LifecycleRule, Versioning};
    use nfs3_client::nfs3_types::nfs3::*;
    const DAY: i64 = 86_400_000;
    let srv = TestServer::start().await;
    crate::nfs::share(&srv, "vault", false).await;
    let store = srv.store();
    store
        .set_versioning(&srv.admin(), "fs+vault", Versioning::Enabled)
        .await
        .expect("versioning");
    store
        .put_object_lock(&srv.admin(), "fs+vault", None)
        .await
        .expect("lock on a versioned share");
    let c = srv.client();
    let (mut nfs, root) = crate::nfs::admin_mount(&srv, "vault").await;
    let f = crate::nfs::create(
        &mut nfs,
        &root,
        "ledger.txt",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    crate::nfs::write(&mut nfs, &f, 0, b"v1")
        .await
        .expect("write");
    let head = c
        .head_object()
        .bucket("fs+vault")
        .key("ledger.txt")
        .send()
        .await
        .expect("head");
    let v1 = head.version_id().expect("id").to_string();
    retention(
        &c,
        "fs+vault",
        "ledger.txt",
        &v1,
        ObjectLockRetentionMode::Compliance,
        30,
    )
    .await
    .expect("retention");
    // Read-only over NFS: no write, no remove, no rename over it.
    assert_eq!(
        crate::nfs::write(&mut nfs, &f, 0, b"v2").await,
        Err(nfsstat3::NFS3ERR_ACCES)
    );
    assert_eq!(
        crate::nfs::remove(&mut nfs, &root, "ledger.txt").await,
        Err(nfsstat3::NFS3ERR_ACCES)
    );
    assert_eq!(crate::nfs::read_all(&mut nfs, &f).await, b"v1");
    // S3 writes a new version over it (the locked one stays).
    c.put_object()
        .bucket("fs+vault")
        .key("ledger.txt")
        .body(ByteStream::from_static(b"v2 over s3"))
        .send()
        .await
        .expect("new version");
    // Lifecycle: a noncurrent rule of one day does not take the locked version.
    store
        .put_lifecycle(
            &srv.admin(),
            "fs+vault",
            vec![LifecycleRule {
                id: "old".into(),
                prefix: String::new(),
                enabled: true,
                expiration_days: None,
                abort_incomplete_days: None,
                noncurrent_days: Some(1),
                newer_noncurrent: None,
                expired_object_delete_marker: false,
                ..Default::default()
            }],
        )
        .await
        .expect("lifecycle");
    let now = gatehouse_store::now_unix_ms();
    let s = store
        .sweep_expiry(now + 5 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.versions_expired, 0, "{s:?}");
    assert_eq!(version_count(&c, "fs+vault", "ledger.txt").await, 2);
    // ...and takes it once the retention is over.
    let s = store
        .sweep_expiry(now + 31 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.versions_expired, 1, "{s:?}");
    assert_eq!(version_count(&c, "fs+vault", "ledger.txt").await, 1);
    // A share holding a locked version is not deleted.
    let v2 = c
        .head_object()
        .bucket("fs+vault")
        .key("ledger.txt")
        .send()
        .await
        .expect("head")
        .version_id()
        .expect("id")
        .to_string();
    retention(
        &c,
        "fs+vault",
        "ledger.txt",
        &v2,
        ObjectLockRetentionMode::Governance,
        2,
    )
    .await
    .expect("retention");
    let e = store
        .delete_share(&srv.admin(), "vault")
        .await
        .expect_err("locked");
    assert!(e.to_string().contains("object lock"), "{e}");
    // fsck sees the lock, and repair leaves it be.
    drop(nfs);
    let dir = srv.stop().await;
    let report = gatehouse_store::fsck::fsck(dir.path(), true).expect("fsck");
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.locked_versions, 1);
}
