//! Bucket replication (issue 20) against real S3 servers gatehouse's worker did not write the
//! other side of: a second gatehouse instance and s3s-fs. What a user sees: objects, their
//! metadata, tags and multipart ETags arrive at the target; deletes follow when the rule says
//! so; a two-way pair does not echo; a target that is down, or a source restarted meanwhile,
//! loses nothing; pause holds changes back and resume sends them.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use gatehouse_store::replication::{RuleSpec, RuleStatus};

use crate::common::*;
use crate::s3s_peer::{AK, S3sFs, SK};

/// Connects `src` to `dst` (its admin's keys) as connection `name`.
async fn connect(src: &TestServer, name: &str, endpoint: &str, ak: &str, sk: &str) {
    src.store()
        .replication()
        .add_connection(&src.admin(), name, endpoint, "us-east-1", ak, sk)
        .await
        .expect("add connection");
}

async fn rule(src: &TestServer, bucket: &str, conn: &str, target: &str, deletes: bool) {
    src.store()
        .replication()
        .set_rule(
            &src.admin(),
            bucket,
            RuleSpec {
                connection: conn.into(),
                target_bucket: target.into(),
                deletes,
                existing: true,
                ..Default::default()
            },
        )
        .await
        .expect("set rule");
}

/// Two servers: A with bucket `bucket` replicating (as connection `b`) to B's bucket of the
/// same name, with `deletes`; the rule paused when `paused`.
async fn pair(
    bucket: &str,
    deletes: bool,
    paused: bool,
) -> (
    TestServer,
    TestServer,
    aws_sdk_s3::Client,
    aws_sdk_s3::Client,
) {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket(bucket).send().await.expect("a");
    cb.create_bucket().bucket(bucket).send().await.expect("b");
    connect(&a, "b", &format!("http://{}", b.addr), &b.access, &b.secret).await;
    rule(&a, bucket, "b", bucket, deletes).await;
    if paused {
        a.store()
            .replication()
            .set_paused(&a.admin(), bucket, true)
            .await
            .expect("pause");
    }
    (a, b, ca, cb)
}

fn status(srv: &TestServer, bucket: &str) -> RuleStatus {
    srv.store()
        .replication()
        .status(&srv.admin(), bucket)
        .expect("status")
}

/// Waits until `bucket`'s queue is empty and nothing is in flight.
async fn drained(srv: &TestServer, bucket: &str, within: Duration) -> RuleStatus {
    let t0 = Instant::now();
    loop {
        let s = status(srv, bucket);
        if s.queued == 0 && s.in_flight == 0 && !s.backfilling {
            return s;
        }
        assert!(t0.elapsed() < within, "replication did not drain: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Some(body_bytes(o).await),
        Err(e) => {
            assert_eq!(code(&e), "NoSuchKey", "{e:?}");
            None
        }
    }
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, data: Vec<u8>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_to_a_second_gatehouse_carries_bytes_metadata_tags_parts_and_deletes() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("src").send().await.expect("src");
    cb.create_bucket().bucket("dst").send().await.expect("dst");
    // There before the rule: the backfill sends it.
    put(&ca, "src", "old/one", bytes(1000, 1)).await;
    connect(
        &a,
        "site-b",
        &format!("http://{}", b.addr),
        &b.access,
        &b.secret,
    )
    .await;
    rule(&a, "src", "site-b", "dst", true).await;
    drained(&a, "src", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "dst", "old/one").await, Some(bytes(1000, 1)));

    // A put with metadata and tags, a multipart upload, a tag change, a delete.
    ca.put_object()
        .bucket("src")
        .key("doc.json")
        .content_type("application/json")
        .cache_control("max-age=60")
        .metadata("colour", "blue")
        .tagging("team=a&tier=gold")
        .body(ByteStream::from(b"{\"a\":1}".to_vec()))
        .send()
        .await
        .expect("put doc");
    let up = ca
        .create_multipart_upload()
        .bucket("src")
        .key("big.bin")
        .content_type("application/x-big")
        .send()
        .await
        .expect("create mpu");
    let id = up.upload_id().expect("id");
    let parts = [bytes(5 << 20, 2), bytes(1 << 20, 3)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let r = ca
            .upload_part()
            .bucket("src")
            .key("big.bin")
            .upload_id(id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("part");
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(r.e_tag().expect("etag"))
                .build(),
        );
    }
    let fin = ca
        .complete_multipart_upload()
        .bucket("src")
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    ca.delete_object()
        .bucket("src")
        .key("old/one")
        .send()
        .await
        .expect("delete");
    drained(&a, "src", Duration::from_secs(20)).await;

    let doc = cb
        .get_object()
        .bucket("dst")
        .key("doc.json")
        .send()
        .await
        .expect("doc at the target");
    assert_eq!(doc.content_type(), Some("application/json"));
    assert_eq!(doc.cache_control(), Some("max-age=60"));
    let meta = doc.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("colour").map(String::as_str), Some("blue"));
    assert!(
        meta.contains_key("gatehouse-replica"),
        "a replica is marked: {meta:?}"
    );
    assert_eq!(body_bytes(doc).await, b"{\"a\":1}");
    let tags = cb
        .get_object_tagging()
        .bucket("dst")
        .key("doc.json")
        .send()
        .await
        .expect("tags");
    let mut t: Vec<_> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    t.sort();
    assert_eq!(
        t,
        [("team".into(), "a".into()), ("tier".into(), "gold".into())]
    );

    // Sent as multipart with the same parts: the same ETag.
    let big = cb
        .head_object()
        .bucket("dst")
        .key("big.bin")
        .send()
        .await
        .expect("big at the target");
    assert_eq!(big.e_tag(), fin.e_tag());
    assert_eq!(big.content_type(), Some("application/x-big"));
    let mut all = parts[0].clone();
    all.extend_from_slice(&parts[1]);
    assert_eq!(get(&cb, "dst", "big.bin").await, Some(all));
    assert_eq!(
        get(&cb, "dst", "old/one").await,
        None,
        "the delete followed"
    );

    // A tag change alone is sent too.
    ca.put_object_tagging()
        .bucket("src")
        .key("doc.json")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("b").build().expect("tag"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("retag");
    let s = drained(&a, "src", Duration::from_secs(20)).await;
    let tags = cb
        .get_object_tagging()
        .bucket("dst")
        .key("doc.json")
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "b");
    assert_eq!(s.failed, 0);
    assert!(s.replicated >= 5, "{s:?}");
    assert!(s.last_error.is_none(), "{s:?}");
    // The same figures in /metrics, per rule.
    let admin = a
        .running
        .as_ref()
        .and_then(|r| r.admin_addr)
        .expect("admin");
    let m = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let id = s.bucket_id;
    assert!(
        m.contains(&format!(
            "gatehouse_replication_replicated_total{{bucket_id=\"{id}\"}} {}",
            s.replicated
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "gatehouse_replication_queued{{bucket_id=\"{id}\"}} 0"
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "gatehouse_replication_lag_seconds{{bucket_id=\"{id}\"}} 0"
        )),
        "{m}"
    );
    assert!(
        !m.contains("\"src\""),
        "no bucket names on the open page: {m}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_way_replication_does_not_echo() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("both").send().await.expect("a");
    cb.create_bucket().bucket("both").send().await.expect("b");
    connect(
        &a,
        "to-b",
        &format!("http://{}", b.addr),
        &b.access,
        &b.secret,
    )
    .await;
    connect(
        &b,
        "to-a",
        &format!("http://{}", a.addr),
        &a.access,
        &a.secret,
    )
    .await;
    rule(&a, "both", "to-b", "both", true).await;
    rule(&b, "both", "to-a", "both", true).await;

    put(&ca, "both", "from-a", b"A".to_vec()).await;
    put(&cb, "both", "from-b", b"B".to_vec()).await;
    drained(&a, "both", Duration::from_secs(20)).await;
    drained(&b, "both", Duration::from_secs(20)).await;
    // Give an echo time to happen, then look: each side sent exactly its own write.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (sa, sb) = (
        drained(&a, "both", Duration::from_secs(5)).await,
        drained(&b, "both", Duration::from_secs(5)).await,
    );
    assert_eq!(sa.replicated, 1, "A sent only its own write: {sa:?}");
    assert_eq!(sb.replicated, 1, "B sent only its own write: {sb:?}");
    assert_eq!(get(&cb, "both", "from-a").await, Some(b"A".to_vec()));
    assert_eq!(get(&ca, "both", "from-b").await, Some(b"B".to_vec()));

    // A delete on one side reaches the other, and stops there.
    ca.delete_object()
        .bucket("both")
        .key("from-b")
        .send()
        .await
        .expect("delete");
    drained(&a, "both", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "both", "from-b").await, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sb = drained(&b, "both", Duration::from_secs(20)).await;
    assert_eq!(
        sb.replicated, 1,
        "B did not send A's delete back (it came marked): {sb:?}"
    );
    assert_eq!(get(&ca, "both", "from-a").await, Some(b"A".to_vec()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paused_rule_holds_changes_until_resumed() {
    let (a, b, ca, cb) = pair("pause-me", false, true).await;
    put(&ca, "pause-me", "held", b"x".to_vec()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = status(&a, "pause-me");
    assert!(s.paused);
    assert_eq!(s.queued, 1, "{s:?}");
    assert_eq!(
        get(&cb, "pause-me", "held").await,
        None,
        "nothing is sent while paused"
    );
    a.store()
        .replication()
        .set_paused(&a.admin(), "pause-me", false)
        .await
        .expect("resume");
    drained(&a, "pause-me", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "pause-me", "held").await, Some(b"x".to_vec()));
    // Deletes are not sent by this rule.
    ca.delete_object()
        .bucket("pause-me")
        .key("held")
        .send()
        .await
        .expect("delete");
    drained(&a, "pause-me", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&cb, "pause-me", "held").await, Some(b"x".to_vec()));
    // Removed, with changes still queued: gone at once for users, its rows cleared by the
    // worker; a new rule for the bucket is taken once they are.
    a.store()
        .replication()
        .set_paused(&a.admin(), "pause-me", true)
        .await
        .expect("pause");
    for i in 0..30 {
        put(&ca, "pause-me", &format!("q{i}"), b"q".to_vec()).await;
    }
    a.store()
        .replication()
        .remove_rule(&a.admin(), "pause-me")
        .await
        .expect("remove");
    let e = a
        .store()
        .replication()
        .status(&a.admin(), "pause-me")
        .expect_err("no rule");
    assert!(
        matches!(
            e,
            gatehouse_store::StoreError::NoSuchReplicationConfiguration
        ),
        "{e:?}"
    );
    let t0 = Instant::now();
    loop {
        let spec = RuleSpec {
            connection: "b".into(),
            target_bucket: "pause-me".into(),
            ..Default::default()
        };
        match a
            .store()
            .replication()
            .set_rule(&a.admin(), "pause-me", spec)
            .await
        {
            Ok(()) => break,
            Err(gatehouse_store::StoreError::Conflict(_)) => {
                assert!(t0.elapsed() < Duration::from_secs(10), "never cleared");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(
        status(&a, "pause-me").queued,
        0,
        "the old queue went with the old rule"
    );
    a.stop().await;
    b.stop().await;
}

/// s3s-fs as the target, stopped mid-queue and the source restarted meanwhile: every change
/// arrives once the target is back, with the right bytes; a key the target cannot take is
/// counted failed and does not hold the others back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn target_down_and_source_restarted_lose_nothing() {
    let Some(mut s3s) = S3sFs::start(&["replica"]) else {
        return;
    };
    let a = TestServer::start().await;
    let ca = a.client();
    ca.create_bucket().bucket("src").send().await.expect("src");
    connect(&a, "s3s", &format!("http://{}", s3s.addr), AK, SK).await;
    rule(&a, "src", "s3s", "replica", true).await;
    put(&ca, "src", "first", bytes(300, 1)).await;
    drained(&a, "src", Duration::from_secs(20)).await;
    assert_eq!(
        get(&s3s.client(), "replica", "first").await,
        Some(bytes(300, 1))
    );

    s3s.stop();
    for i in 0..20 {
        put(&ca, "src", &format!("k{i:02}"), bytes(10_000 + i, i as u64)).await;
    }
    ca.delete_object()
        .bucket("src")
        .key("first")
        .send()
        .await
        .expect("delete");
    // The target is down: the rule backs off and says why.
    let t0 = Instant::now();
    let s = loop {
        let s = status(&a, "src");
        if s.last_error.is_some() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no error shown: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s.queued, 21, "{s:?}");
    assert!(s.lag_seconds >= 0.0);

    // The source stops and starts again: the queue is in its database.
    let dir = a.stop().await;
    let a = TestServer::start_in(dir).await;
    assert_eq!(status(&a, "src").queued, 21);
    s3s.resume();
    // Back within the longest pause the outage could have caused (a few seconds here).
    let s = drained(&a, "src", Duration::from_secs(30)).await;
    let c = s3s.client();
    for i in 0..20 {
        assert_eq!(
            get(&c, "replica", &format!("k{i:02}")).await,
            Some(bytes(10_000 + i, i as u64)),
            "k{i:02}"
        );
    }
    assert_eq!(get(&c, "replica", "first").await, None);
    assert_eq!(s.failed, 0);
    a.stop().await;
}

/// A share replicated: files written over NFS (created, then changed in place, renamed and
/// removed) reach the target as objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nfs_writes_in_a_replicated_share_reach_the_target() {
    use nfs3_client::nfs3_types::nfs3::{createhow3, sattr3};
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let cb = b.client();
    cb.create_bucket().bucket("mirror").send().await.expect("b");
    let (mut c, root) = crate::nfs::writer(&a, "docs").await;
    connect(&a, "b", &format!("http://{}", b.addr), &b.access, &b.secret).await;
    rule(&a, "fs+docs", "b", "mirror", true).await;

    let f = crate::nfs::create(
        &mut c,
        &root,
        "notes.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    crate::nfs::write(&mut c, &f, 0, b"hello world")
        .await
        .expect("write");
    drained(&a, "fs+docs", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "notes.txt").await,
        Some(b"hello world".to_vec())
    );
    // Changed in place (the file view names the inode, not the key).
    crate::nfs::write(&mut c, &f, 6, b"WORLD")
        .await
        .expect("write");
    drained(&a, "fs+docs", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "notes.txt").await,
        Some(b"hello WORLD".to_vec())
    );
    // Renamed: the old name goes, the new one comes.
    crate::nfs::rename(&mut c, (&root, "notes.txt"), (&root, "final.txt"))
        .await
        .expect("rename");
    drained(&a, "fs+docs", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "mirror", "notes.txt").await, None);
    assert_eq!(
        get(&cb, "mirror", "final.txt").await,
        Some(b"hello WORLD".to_vec())
    );
    // ...and still changes in place under its new name.
    crate::nfs::write(&mut c, &f, 0, b"HELLO")
        .await
        .expect("write");
    drained(&a, "fs+docs", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "final.txt").await,
        Some(b"HELLO WORLD".to_vec())
    );
    crate::nfs::remove(&mut c, &root, "final.txt")
        .await
        .expect("remove");
    let s = drained(&a, "fs+docs", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "mirror", "final.txt").await, None);
    assert_eq!(s.failed, 0, "{s:?}");
    a.stop().await;
    b.stop().await;
}

/// A key the target refuses (a 2,000-byte share path into a plain bucket, whose keys stop at
/// 1,024 bytes) is counted failed with the target's words; the rest go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_the_target_refuses_is_failed_and_the_rest_go_on() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let cb = b.client();
    cb.create_bucket().bucket("plain").send().await.expect("b");
    crate::nfs::share(&a, "deep", false).await;
    connect(&a, "b", &format!("http://{}", b.addr), &b.access, &b.secret).await;
    rule(&a, "fs+deep", "b", "plain", false).await;
    let long = format!("{}/x", vec!["d".repeat(200); 10].join("/"));
    let ca = a.client();
    put(&ca, "fs+deep", &long, b"deep".to_vec()).await;
    put(&ca, "fs+deep", "short", b"ok".to_vec()).await;
    let s = drained(&a, "fs+deep", Duration::from_secs(20)).await;
    assert_eq!(s.failed, 1, "{s:?}");
    assert_eq!(get(&cb, "plain", "short").await, Some(b"ok".to_vec()));
    let failed = a
        .store()
        .replication()
        .failed_keys(&a.admin(), "fs+deep", 10)
        .expect("failed keys");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, long);
    assert!(failed[0].error.contains("KeyTooLong"), "{:?}", failed[0]);
    a.stop().await;
    b.stop().await;
}

/// The AWS PutBucketReplication document, its destination naming a connection, sets the
/// bucket's rule; GetBucketReplication shows it; what is not built is refused; delete removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_bucket_replication_xml_sets_the_rule() {
    use aws_sdk_s3::types::{
        DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
        ExistingObjectReplication, ExistingObjectReplicationStatus, ReplicationConfiguration,
        ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
    };
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket()
        .bucket("xml-src")
        .send()
        .await
        .expect("a");
    cb.create_bucket()
        .bucket("xml-dst")
        .send()
        .await
        .expect("b");
    put(&ca, "xml-src", "logs/before", b"1".to_vec()).await;
    connect(
        &a,
        "site-b",
        &format!("http://{}", b.addr),
        &b.access,
        &b.secret,
    )
    .await;
    let conf = |dest: &str| {
        ReplicationConfiguration::builder()
            .role("arn:aws:iam::123456789012:role/unused")
            .rules(
                ReplicationRule::builder()
                    .id("r1")
                    .priority(1)
                    .status(ReplicationRuleStatus::Enabled)
                    .filter(ReplicationRuleFilter::builder().prefix("logs/").build())
                    .destination(Destination::builder().bucket(dest).build().expect("dest"))
                    .delete_marker_replication(
                        DeleteMarkerReplication::builder()
                            .status(DeleteMarkerReplicationStatus::Enabled)
                            .build(),
                    )
                    .existing_object_replication(
                        ExistingObjectReplication::builder()
                            .status(ExistingObjectReplicationStatus::Enabled)
                            .build()
                            .expect("existing"),
                    )
                    .build()
                    .expect("rule"),
            )
            .build()
            .expect("conf")
    };
    // An AWS bucket ARN names no connection: refused, with how to name one.
    let e = ca
        .put_bucket_replication()
        .bucket("xml-src")
        .replication_configuration(conf("arn:aws:s3:::xml-dst"))
        .send()
        .await
        .expect_err("aws arn");
    assert_eq!(code(&e), "InvalidArgument");
    ca.put_bucket_replication()
        .bucket("xml-src")
        .replication_configuration(conf("arn:gatehouse:replication::site-b:xml-dst"))
        .send()
        .await
        .expect("put replication");
    let got = ca
        .get_bucket_replication()
        .bucket("xml-src")
        .send()
        .await
        .expect("get replication");
    let c = got.replication_configuration().expect("conf");
    assert_eq!(
        c.role(),
        "arn:aws:iam::123456789012:role/unused",
        "the role is shown back"
    );
    let r = &c.rules()[0];
    assert_eq!(r.id(), Some("r1"), "the rule's ID is shown back");
    assert_eq!(
        r.destination().map(|d| d.bucket()),
        Some("arn:gatehouse:replication::site-b:xml-dst")
    );
    assert_eq!(r.status(), &ReplicationRuleStatus::Enabled);
    put(&ca, "xml-src", "logs/after", b"2".to_vec()).await;
    put(&ca, "xml-src", "other/skipped", b"3".to_vec()).await;
    drained(&a, "xml-src", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "xml-dst", "logs/before").await,
        Some(b"1".to_vec())
    );
    assert_eq!(get(&cb, "xml-dst", "logs/after").await, Some(b"2".to_vec()));
    assert_eq!(
        get(&cb, "xml-dst", "other/skipped").await,
        None,
        "outside the prefix"
    );

    // A bucket user cannot configure replication.
    let u = a.new_user("writer").await;
    a.store()
        .bind(
            &a.admin(),
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-admin",
            gatehouse_store::rbac::Scope::Bucket("xml-src".into()),
        )
        .await
        .expect("bind");
    let cu = client_with(a.addr, &u.access_key, &u.secret_key);
    let e = cu
        .put_bucket_replication()
        .bucket("xml-src")
        .replication_configuration(conf("arn:gatehouse:replication::site-b:xml-dst"))
        .send()
        .await
        .expect_err("only admins configure");
    assert_eq!(code(&e), "AccessDenied");
    // ...but a bucket admin sees it.
    cu.get_bucket_replication()
        .bucket("xml-src")
        .send()
        .await
        .expect("bucket admin reads the rule");
    ca.delete_bucket_replication()
        .bucket("xml-src")
        .send()
        .await
        .expect("delete replication");
    let e = ca
        .get_bucket_replication()
        .bucket("xml-src")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "ReplicationConfigurationNotFoundError");
    a.stop().await;
    b.stop().await;
}

/// Review fixes (session 14): a share rule without existing objects still finds the old files
/// NFS changes; a two-way pair does not let an older queued delete undo the other site's newer
/// write; an ordinary writer cannot opt out of replication with the marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_edges_found_in_review() {
    use nfs3_client::nfs3_types::nfs3::{createhow3, sattr3};
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (ca, cb) = (a.client(), b.client());

    // 1. A file already in the share, a rule that does not send existing objects (the AWS
    //    document's default): an NFS write to the old file is still sent.
    cb.create_bucket().bucket("mirror").send().await.expect("b");
    let (mut c, root) = crate::nfs::writer(&a, "old").await;
    let f = crate::nfs::create(
        &mut c,
        &root,
        "kept.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    crate::nfs::write(&mut c, &f, 0, b"before the rule")
        .await
        .expect("write");
    connect(&a, "b", &format!("http://{}", b.addr), &b.access, &b.secret).await;
    a.store()
        .replication()
        .set_rule(
            &a.admin(),
            "fs+old",
            RuleSpec {
                connection: "b".into(),
                target_bucket: "mirror".into(),
                existing: false,
                ..Default::default()
            },
        )
        .await
        .expect("rule");
    drained(&a, "fs+old", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "kept.txt").await,
        None,
        "existing objects not sent"
    );
    crate::nfs::write(&mut c, &f, 0, b"BEFORE")
        .await
        .expect("write");
    drained(&a, "fs+old", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "kept.txt").await,
        Some(b"BEFORE the rule".to_vec())
    );

    // A replica (written with the marker by a user holding the grant) renamed over NFS here is
    // this site's own file under its new name: sent.
    ca.put_object()
        .bucket("fs+old")
        .key("rep.txt")
        .metadata("gatehouse-replica", "elsewhere")
        .body(ByteStream::from(b"from elsewhere".to_vec()))
        .send()
        .await
        .expect("replica put");
    drained(&a, "fs+old", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "rep.txt").await,
        None,
        "a replica is not sent on"
    );
    crate::nfs::rename(&mut c, (&root, "rep.txt"), (&root, "renamed.txt"))
        .await
        .expect("rename");
    drained(&a, "fs+old", Duration::from_secs(20)).await;
    assert_eq!(
        get(&cb, "mirror", "renamed.txt").await,
        Some(b"from elsewhere".to_vec())
    );

    // 2. Two ways; A's rule paused holds a delete of k; B's user writes k anew, which reaches
    //    A; resumed, A must not delete B's new k.
    ca.create_bucket().bucket("duo").send().await.expect("a");
    cb.create_bucket().bucket("duo").send().await.expect("b");
    connect(&b, "a", &format!("http://{}", a.addr), &a.access, &a.secret).await;
    rule(&a, "duo", "b", "duo", true).await;
    rule(&b, "duo", "a", "duo", true).await;
    put(&ca, "duo", "k", b"one".to_vec()).await;
    drained(&a, "duo", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "duo", "k").await, Some(b"one".to_vec()));
    a.store()
        .replication()
        .set_paused(&a.admin(), "duo", true)
        .await
        .expect("pause");
    ca.delete_object()
        .bucket("duo")
        .key("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(status(&a, "duo").queued, 1);
    put(&cb, "duo", "k", b"two".to_vec()).await;
    drained(&b, "duo", Duration::from_secs(20)).await;
    assert_eq!(get(&ca, "duo", "k").await, Some(b"two".to_vec()));
    assert_eq!(status(&a, "duo").queued, 0, "the older delete was dropped");
    a.store()
        .replication()
        .set_paused(&a.admin(), "duo", false)
        .await
        .expect("resume");
    drained(&a, "duo", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&cb, "duo", "k").await, Some(b"two".to_vec()));
    assert_eq!(get(&ca, "duo", "k").await, Some(b"two".to_vec()));

    // 3. A writer without the replication grant sends the marker: it is dropped, and the
    //    object is replicated like any other.
    let u = a.new_user("plainwriter").await;
    a.store()
        .bind(
            &a.admin(),
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-write",
            gatehouse_store::rbac::Scope::Bucket("duo".into()),
        )
        .await
        .expect("bind");
    let cu = client_with(a.addr, &u.access_key, &u.secret_key);
    cu.put_object()
        .bucket("duo")
        .key("sneaky")
        .metadata("gatehouse-replica", "not-really")
        .body(ByteStream::from(b"x".to_vec()))
        .send()
        .await
        .expect("put");
    drained(&a, "duo", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "duo", "sneaky").await, Some(b"x".to_vec()));
    a.stop().await;
    b.stop().await;
}

/// fsck recounts replication's rows: clean after ordinary use; a queue row whose index row is
/// gone (damage done here with redb) is found, `--repair` drops it and fixes the rule's count,
/// and the rest of the queue is sent once the rule resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fsck_checks_and_repairs_the_replication_rows() {
    let (a, b, ca, cb) = pair("checked", true, true).await;
    for k in ["k1", "k2", "k3"] {
        put(&ca, "checked", k, k.as_bytes().to_vec()).await;
    }
    let dir = a.stop().await;
    let fsck = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("fsck")
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .output()
            .expect("fsck")
    };
    let o = fsck(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let w = db.begin_write().expect("write");
        {
            let def: redb::TableDefinition<&[u8], u64> = redb::TableDefinition::new("repl_latest");
            let mut t = w.open_table(def).expect("repl_latest");
            let first = {
                use redb::ReadableTable;
                t.iter()
                    .expect("iter")
                    .next()
                    .expect("a row")
                    .expect("row")
                    .0
                    .value()
                    .to_vec()
            };
            t.remove(first.as_slice()).expect("remove");
        }
        w.commit().expect("commit");
    }
    let o = fsck(&[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is stale") && out.contains("queued 3 / failed 0 recorded, 2 / 0 counted"),
        "{out}"
    );
    let o = fsck(&["--repair"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = fsck(&[]);
    assert!(
        o.status.success(),
        "not clean after --repair: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let a = TestServer::start_in(dir).await;
    assert_eq!(status(&a, "checked").queued, 2);
    a.store()
        .replication()
        .set_paused(&a.admin(), "checked", false)
        .await
        .expect("resume");
    drained(&a, "checked", Duration::from_secs(20)).await;
    assert_eq!(get(&cb, "checked", "k3").await, Some(b"k3".to_vec()));
    a.stop().await;
    b.stop().await;
}

/// A versioned source replicating to a versioned target (decision 0038): each new version
/// that reaches the target is a new version there, and a delete arrives as a delete marker,
/// the versions before it kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_and_delete_markers_reach_a_versioned_target() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let (a, b, ca, cb) = pair("vrep", true, false).await;
    for c in [&ca, &cb] {
        c.put_bucket_versioning()
            .bucket("vrep")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
    }
    for body in [&b"one"[..], b"two", b"three"] {
        put(&ca, "vrep", "k", body.to_vec()).await;
        drained(&a, "vrep", Duration::from_secs(30)).await;
    }
    ca.delete_object()
        .bucket("vrep")
        .key("k")
        .send()
        .await
        .expect("delete");
    drained(&a, "vrep", Duration::from_secs(30)).await;
    let l = cb
        .list_object_versions()
        .bucket("vrep")
        .send()
        .await
        .expect("target versions");
    let sizes: Vec<i64> = l
        .versions()
        .iter()
        .map(|v| v.size().unwrap_or(-1))
        .collect();
    assert_eq!(
        sizes,
        vec![5, 3, 3],
        "every version sent arrived as a version"
    );
    assert_eq!(l.delete_markers().len(), 1);
    assert_eq!(l.delete_markers()[0].is_latest(), Some(true));
    assert_eq!(get(&cb, "vrep", "k").await, None);
    let oldest = l.versions()[2].version_id().expect("id");
    let o = cb
        .get_object()
        .bucket("vrep")
        .key("k")
        .version_id(oldest)
        .send()
        .await
        .expect("old version at the target");
    assert_eq!(body_bytes(o).await, b"one");
    drop((a, b));
}

/// An object stored encrypted (decision 0044) leaves only over TLS: to an `http://` target it
/// is failed with the reason, never sent in the clear; a plain object of the same rule goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_objects_are_not_replicated_without_tls() {
    let (a, b, ca, cb) = pair("sealed", false, false).await;
    ca.put_object()
        .bucket("sealed")
        .key("secret")
        .body(ByteStream::from_static(b"secret bytes"))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("put encrypted");
    put(&ca, "sealed", "plain", b"plain bytes".to_vec()).await;
    let s = drained(&a, "sealed", Duration::from_secs(20)).await;
    assert_eq!(s.failed, 1, "{s:?}");
    assert_eq!(
        get(&cb, "sealed", "plain").await,
        Some(b"plain bytes".to_vec())
    );
    assert_eq!(get(&cb, "sealed", "secret").await, None);
    let failed = a
        .store()
        .replication()
        .failed_keys(&a.admin(), "sealed", 10)
        .expect("failed keys");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.contains("TLS"), "{:?}", failed[0]);
    a.stop().await;
    b.stop().await;
}
