//! The server-wide limit (`s3.max_size`) on every write path, checked before the body is
//! read when its size is declared, and usage counters that match a full recount.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use gatehouse::config::Size;

use crate::common::*;

const MIB: usize = 1 << 20;

async fn put(c: &aws_sdk_s3::Client, key: &str, n: usize) -> Result<(), String> {
    c.put_object()
        .bucket("qta")
        .key(key)
        .body(ByteStream::from(vec![7u8; n]))
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

/// Sum of listed sizes and count, to compare with the bucket's counters.
async fn recount(c: &aws_sdk_s3::Client) -> (u64, u64) {
    let mut pages = c.list_objects_v2().bucket("qta").into_paginator().send();
    let (mut bytes, mut n) = (0u64, 0u64);
    while let Some(p) = pages.next().await {
        for o in p.expect("page").contents() {
            bytes += o.size().unwrap_or(0) as u64;
            n += 1;
        }
    }
    (bytes, n)
}

#[tokio::test]
async fn max_size_holds_on_put_copy_and_multipart_and_counters_stay_exact() {
    let srv = TestServer::start_with(|raw| raw.s3.max_size = Some(Size(12 * MIB as u64))).await;
    let c = srv.client();
    c.create_bucket().bucket("qta").send().await.expect("mb");
    put(&c, "a", 4 * MIB).await.expect("fits");
    put(&c, "b", 4 * MIB).await.expect("fits");
    assert_eq!(put(&c, "c", 5 * MIB).await, Err("QuotaExceeded".into()));

    // The refusal is a 403 with an S3 XML body, sent before the body is read.
    let r = srv
        .signed("PUT", "/qta/raw", None, &[], vec![1u8; 5 * MIB])
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("<Code>QuotaExceeded</Code>") && text.contains("s3.max_size"),
        "{text}"
    );

    // Overwrites count only the growth; deletes free room.
    put(&c, "a", 7 * MIB)
        .await
        .expect("a grows into the room left");
    assert_eq!(put(&c, "d", MIB + 1).await, Err("QuotaExceeded".into()));
    c.delete_object()
        .bucket("qta")
        .key("b")
        .send()
        .await
        .expect("delete");
    put(&c, "d", 4 * MIB).await.expect("room again");

    // Copy is a write.
    let e = c
        .copy_object()
        .bucket("qta")
        .key("copy")
        .copy_source("qta/a")
        .send()
        .await
        .expect_err("copy over the limit");
    assert_eq!(code(&e), "QuotaExceeded");

    // Multipart: parts count as they are uploaded, so the part that would pass the limit is
    // refused (not the completion), and the upload goes on once there is room.
    c.delete_object()
        .bucket("qta")
        .key("d")
        .send()
        .await
        .expect("delete");
    let up = c
        .create_multipart_upload()
        .bucket("qta")
        .key("mp")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let upload = |n: i32| {
        c.upload_part()
            .bucket("qta")
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; 5 * MIB]))
            .send()
    };
    let mut parts = Vec::new();
    let p = upload(1).await.expect("5 MiB fits next to a's 7");
    parts.push(
        CompletedPart::builder()
            .part_number(1)
            .e_tag(p.e_tag().expect("etag"))
            .build(),
    );
    let e = upload(2).await.expect_err("5 MiB more does not fit");
    assert_eq!(code(&e), "QuotaExceeded");
    c.delete_object()
        .bucket("qta")
        .key("a")
        .send()
        .await
        .expect("delete a");
    let p = upload(2).await.expect("fits now");
    parts.push(
        CompletedPart::builder()
            .part_number(2)
            .e_tag(p.e_tag().expect("etag"))
            .build(),
    );
    let complete = || {
        c.complete_multipart_upload()
            .bucket("qta")
            .key("mp")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts.clone()))
                    .build(),
            )
            .send()
    };
    complete().await.expect("fits now");
    // An aborted upload leaves the counters as they were.
    let up = c
        .create_multipart_upload()
        .bucket("qta")
        .key("gone")
        .send()
        .await
        .expect("create");
    let gone_id = up.upload_id().expect("id").to_string();
    c.upload_part()
        .bucket("qta")
        .key("gone")
        .upload_id(&gone_id)
        .part_number(1)
        .body(ByteStream::from(vec![9u8; MIB]))
        .send()
        .await
        .expect("part");
    c.abort_multipart_upload()
        .bucket("qta")
        .key("gone")
        .upload_id(&gone_id)
        .send()
        .await
        .expect("abort");

    // Counters match a full recount through the whole sequence.
    let (bytes, n) = recount(&c).await;
    let head = srv.store().head_bucket(&srv.admin(), "qta").expect("head");
    assert_eq!((head.usage_bytes, head.object_count), (bytes, n));
    assert_eq!(bytes, 10 * MIB as u64);
    assert_eq!(srv.store().total_usage().expect("total"), bytes);
}

/// The server's total (what `s3.max_size` is checked against) is a running count kept in the
/// transaction of every change, not a sum over the buckets: a deleted share's bytes still count
/// while it waits for purge, a restore (by `share restore` or by creating the name again)
/// counts them once, a purge and a bucket delete free them; a restart keeps the count and
/// fsck's recount agrees with it.
#[tokio::test]
async fn max_size_total_follows_shares_parked_restored_and_purged() {
    let srv = TestServer::start_with(|raw| raw.s3.max_size = Some(Size(12 * MIB as u64))).await;
    let c = srv.client();
    c.create_bucket().bucket("qta").send().await.expect("mb");
    put(&c, "plain", 4 * MIB).await.expect("fits");
    crate::nfs::share(&srv, "tot", false).await;
    crate::nfs::s3_put(&srv, "fs+tot", "six", vec![1u8; 6 * MIB]).await;
    assert_eq!(put(&c, "x", 3 * MIB).await, Err("QuotaExceeded".into()));

    let store = srv.store();
    let admin = srv.admin();
    // The metrics' gauges are running totals too: objects in live buckets, bytes held.
    let g = store.storage_gauges().expect("gauges");
    assert_eq!((g.objects, g.used_bytes), (2, 10 * MIB as u64));
    let buckets = g.buckets;
    // Deleted, the share's 6 MiB are still on disk: still counted.
    store.delete_share(&admin, "tot").await.expect("delete");
    assert_eq!(put(&c, "x", 3 * MIB).await, Err("QuotaExceeded".into()));
    let g = store.storage_gauges().expect("gauges");
    assert_eq!(
        (g.objects, g.buckets, g.used_bytes),
        (1, buckets - 1, 10 * MIB as u64)
    );
    // Back by creating the name again: counted once (4 + 6 + 2 = 12 fits, one byte more not).
    let back = store
        .create_share(
            &admin,
            gatehouse_store::ops::NewShare {
                name: "tot".into(),
                ..Default::default()
            },
        )
        .await
        .expect("create again");
    assert!(back.restored, "{back:?}");
    put(&c, "two", 2 * MIB).await.expect("12 MiB in all fits");
    assert_eq!(put(&c, "one", 1).await, Err("QuotaExceeded".into()));
    // Deleted and restored by name: still once.
    store.delete_share(&admin, "tot").await.expect("delete");
    store.restore_share(&admin, "tot").await.expect("restore");
    assert_eq!(put(&c, "one", 1).await, Err("QuotaExceeded".into()));

    // A restart keeps the running count.
    let dir = srv.stop().await;
    let srv =
        TestServer::start_in_with(dir, |raw| raw.s3.max_size = Some(Size(12 * MIB as u64))).await;
    let c = srv.client();
    assert_eq!(put(&c, "one", 1).await, Err("QuotaExceeded".into()));

    // Purged: its 6 MiB are free (4 + 2 + 5 = 11).
    srv.store()
        .delete_share(&srv.admin(), "tot")
        .await
        .expect("delete");
    let swept = srv
        .store()
        .sweep_shares(gatehouse_store::now_unix_ms() + 400 * 86_400_000)
        .await
        .expect("sweep");
    assert_eq!(swept.purged, 1);
    put(&c, "five", 5 * MIB)
        .await
        .expect("the purged share's room");
    // A deleted bucket frees what it held (its objects deleted first, as S3 requires).
    c.create_bucket().bucket("other").send().await.expect("mb");
    for k in ["plain", "two", "five"] {
        c.delete_object()
            .bucket("qta")
            .key(k)
            .send()
            .await
            .expect("rm");
    }
    c.delete_bucket().bucket("qta").send().await.expect("rb");
    c.put_object()
        .bucket("other")
        .key("big")
        .body(ByteStream::from(vec![3u8; 11 * MIB]))
        .send()
        .await
        .expect("the whole server is free again");
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// A store from before the running total (schema 7, no `usage_total`) gets it from the
/// migration, deleted shares' bytes included: the limit holds on the first write after the
/// upgrade.
#[tokio::test]
async fn max_size_total_of_an_upgraded_store() {
    let srv = TestServer::start_with(|raw| raw.s3.max_size = Some(Size(12 * MIB as u64))).await;
    let c = srv.client();
    c.create_bucket().bucket("qta").send().await.expect("mb");
    put(&c, "plain", 4 * MIB).await.expect("fits");
    crate::nfs::share(&srv, "gone", false).await;
    crate::nfs::s3_put(&srv, "fs+gone", "six", vec![1u8; 6 * MIB]).await;
    srv.store()
        .delete_share(&srv.admin(), "gone")
        .await
        .expect("delete");
    let dir = srv.stop().await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .remove("usage_total")
            .expect("remove")
            .expect("schema 8 keeps the total");
        t.commit().expect("commit");
        gatehouse_migrations::force_schema_version(&db, 7).expect("version");
    }
    let srv =
        TestServer::start_in_with(dir, |raw| raw.s3.max_size = Some(Size(12 * MIB as u64))).await;
    let c = srv.client();
    assert_eq!(put(&c, "x", 3 * MIB).await, Err("QuotaExceeded".into()));
    put(&c, "x", 2 * MIB).await.expect("4 + 6 + 2 fits");
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// fsck recounts the server's running totals (bytes held, chunk rows): a wrong one is reported
/// with both numbers and repaired.
#[tokio::test]
async fn fsck_finds_and_repairs_a_wrong_server_total() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("qta").send().await.expect("mb");
    put(&c, "a", 3 * MIB).await.expect("put");
    let dir = srv.stop().await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .insert("usage_total", 5u64.to_le_bytes().as_slice())
            .expect("insert");
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .insert("chunk_rows", 9u64.to_le_bytes().as_slice())
            .expect("insert");
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .insert("live_objects", 7u64.to_le_bytes().as_slice())
            .expect("insert");
        t.commit().expect("commit");
    }
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.usage_total_mismatch, Some((5, 3 * MIB as u64)), "{r:?}");
    assert_eq!(r.live_objects_mismatch, Some((7, 1)), "{r:?}");
    // 3 MiB of one byte value: three identical 1 MiB chunks, stored once.
    assert_eq!(
        r.chunk_totals_mismatch,
        Some(((9, MIB as u64), (1, MIB as u64))),
        "{r:?}"
    );
    assert!(!r.clean());
    let r = gatehouse_store::fsck::fsck(dir.path(), true).expect("repair");
    assert!(r.repaired, "{r:?}");
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}
