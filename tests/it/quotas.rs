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
