//! Objects: put/get/head/delete, metadata, ranges, conditions, copy, tags, dedup.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{MetadataDirective, Tag, Tagging};

use crate::common::*;

#[tokio::test]
async fn put_get_head_delete_with_metadata() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("objs").send().await.expect("mb");
    let data = bytes(100_000, 1);
    let put = c
        .put_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .body(ByteStream::from(data.clone()))
        .content_type("application/x-test")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"one.bin\"")
        .cache_control("max-age=60")
        .metadata("color", "blue")
        .metadata("mode", "0644")
        .send()
        .await
        .expect("put");
    let md5 = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&data))
    );
    assert_eq!(put.e_tag(), Some(md5.as_str()));

    let head = c
        .head_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(100_000));
    assert_eq!(head.e_tag(), Some(md5.as_str()));
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"one.bin\"")
    );
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert!(head.last_modified().is_some());

    let got = c
        .get_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, data);

    // response-* overrides
    let got = c
        .get_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .response_content_type("text/plain")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("text/plain"));

    c.delete_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .send()
        .await
        .expect("rm");
    let e = c
        .get_object()
        .bucket("objs")
        .key("dir/file one.bin")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "NoSuchKey");
    // Deleting a missing key is not an error in S3.
    c.delete_object()
        .bucket("objs")
        .key("never")
        .send()
        .await
        .expect("rm missing");
    // Empty object.
    c.put_object()
        .bucket("objs")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .expect("put empty");
    let got = c
        .get_object()
        .bucket("objs")
        .key("empty")
        .send()
        .await
        .expect("get empty");
    assert_eq!(got.content_length(), Some(0));
    assert!(body_bytes(got).await.is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn ranges_and_part_numbers() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("rng").send().await.expect("mb");
    let data = bytes(3 * (1 << 20) + 17, 2);
    c.put_object()
        .bucket("rng")
        .key("k")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    for (range, lo, hi) in [
        ("bytes=0-9", 0usize, 10usize),
        ("bytes=1048570-1048590", 1_048_570, 1_048_591),
        ("bytes=-100", data.len() - 100, data.len()),
        ("bytes=3145000-", 3_145_000, data.len()),
    ] {
        let o = c
            .get_object()
            .bucket("rng")
            .key("k")
            .range(range)
            .send()
            .await
            .expect("range");
        assert_eq!(o.content_length(), Some((hi - lo) as i64), "{range}");
        assert_eq!(
            o.content_range(),
            Some(format!("bytes {lo}-{}/{}", hi - 1, data.len()).as_str())
        );
        assert_eq!(body_bytes(o).await, &data[lo..hi], "{range}");
    }
    let e = c
        .get_object()
        .bucket("rng")
        .key("k")
        .range("bytes=99999999-")
        .send()
        .await
        .expect_err("416");
    assert_eq!(code(&e), "InvalidRange");
    let o = c
        .get_object()
        .bucket("rng")
        .key("k")
        .part_number(1)
        .send()
        .await
        .expect("part 1");
    assert_eq!(body_bytes(o).await, data);
    srv.stop().await;
}

#[tokio::test]
async fn conditional_requests() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("cond").send().await.expect("mb");
    let put = c
        .put_object()
        .bucket("cond")
        .key("k")
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_string();
    c.get_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .expect("if-match ok");
    let e = c
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match("\"nope\"")
        .send()
        .await
        .expect_err("412");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
    let e = c
        .get_object()
        .bucket("cond")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("304");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(304));
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    let e = c
        .get_object()
        .bucket("cond")
        .key("k")
        .if_unmodified_since(past)
        .send()
        .await
        .expect_err("412");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
    c.get_object()
        .bucket("cond")
        .key("k")
        .if_modified_since(past)
        .send()
        .await
        .expect("modified since 2001");
    c.get_object()
        .bucket("cond")
        .key("k")
        .if_unmodified_since(future)
        .send()
        .await
        .expect("unmodified");
    // Conditional create.
    let r = srv
        .signed(
            "PUT",
            "/cond/k",
            None,
            &[("if-none-match", "*")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 412);
    srv.stop().await;
}

#[tokio::test]
async fn copy_shares_chunks_and_honours_directives() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("src").send().await.expect("mb");
    c.create_bucket().bucket("dst").send().await.expect("mb");
    let data = bytes(4 << 20, 3);
    c.put_object()
        .bucket("src")
        .key("a b+c")
        .metadata("k", "v")
        .content_type("text/x-one")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let before = srv.chunk_files();
    let out = c
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/a%20b%2Bc")
        .send()
        .await
        .expect("copy");
    assert!(out.copy_object_result().and_then(|r| r.e_tag()).is_some());
    assert_eq!(srv.chunk_files(), before, "a copy stores no new chunks");
    let h = c
        .head_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("text/x-one"));
    assert_eq!(
        h.metadata().and_then(|m| m.get("k")).map(String::as_str),
        Some("v")
    );
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("dst")
                .key("copy")
                .send()
                .await
                .expect("get")
        )
        .await,
        data
    );

    c.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source("src/a%20b%2Bc")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("new", "yes")
        .content_type("text/x-two")
        .send()
        .await
        .expect("copy replace");
    let h = c
        .head_object()
        .bucket("dst")
        .key("replaced")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("text/x-two"));
    assert!(h.metadata().and_then(|m| m.get("k")).is_none());

    let e = c
        .copy_object()
        .bucket("dst")
        .key("cond")
        .copy_source("src/a%20b%2Bc")
        .copy_source_if_match("\"0000\"")
        .send()
        .await
        .expect_err("412");
    assert_eq!(code(&e), "PreconditionFailed");
    let e = c
        .copy_object()
        .bucket("src")
        .key("a b+c")
        .copy_source("src/a%20b%2Bc")
        .send()
        .await
        .expect_err("self");
    assert_eq!(code(&e), "InvalidRequest");

    // Deleting the source keeps the copy readable (refcounts).
    c.delete_object()
        .bucket("src")
        .key("a b+c")
        .send()
        .await
        .expect("rm");
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("dst")
                .key("copy")
                .send()
                .await
                .expect("get")
        )
        .await,
        data
    );
    srv.stop().await;
}

#[tokio::test]
async fn same_bytes_twice_take_the_space_once() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("dedup").send().await.expect("mb");
    let data = bytes(8 << 20, 4);
    c.put_object()
        .bucket("dedup")
        .key("one")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let after_one = srv.chunk_files();
    assert_eq!(after_one, 8);
    c.put_object()
        .bucket("dedup")
        .key("two")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(srv.chunk_files(), after_one);
    srv.stop().await;
}

#[tokio::test]
async fn tagging_and_versions_listing() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("tags").send().await.expect("mb");
    c.put_object()
        .bucket("tags")
        .key("t")
        .tagging("a=1&b=two")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let t = c
        .get_object_tagging()
        .bucket("tags")
        .key("t")
        .send()
        .await
        .expect("get tags");
    let got: Vec<(String, String)> = t
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(
        got,
        vec![("a".into(), "1".into()), ("b".into(), "two".into())]
    );
    c.put_object_tagging()
        .bucket("tags")
        .key("t")
        .tagging(
            Tagging::builder()
                .tag_set(
                    Tag::builder()
                        .key("only")
                        .value("this")
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("put tags");
    let t = c
        .get_object_tagging()
        .bucket("tags")
        .key("t")
        .send()
        .await
        .expect("get tags");
    assert_eq!(t.tag_set().len(), 1);
    c.delete_object_tagging()
        .bucket("tags")
        .key("t")
        .send()
        .await
        .expect("del tags");
    let t = c
        .get_object_tagging()
        .bucket("tags")
        .key("t")
        .send()
        .await
        .expect("get tags");
    assert!(t.tag_set().is_empty());

    let v = c
        .list_object_versions()
        .bucket("tags")
        .send()
        .await
        .expect("versions");
    assert_eq!(v.versions().len(), 1);
    assert_eq!(v.versions()[0].version_id(), Some("null"));
    assert_eq!(v.versions()[0].is_latest(), Some(true));
    srv.stop().await;
}

#[tokio::test]
async fn delete_objects_quiet_and_verbose() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("del").send().await.expect("mb");
    for i in 0..5 {
        c.put_object()
            .bucket("del")
            .key(format!("k{i}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    }
    let ids = |keys: &[&str]| {
        aws_sdk_s3::types::Delete::builder().set_objects(Some(
            keys.iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(*k)
                        .build()
                        .expect("id")
                })
                .collect(),
        ))
    };
    let out = c
        .delete_objects()
        .bucket("del")
        .delete(ids(&["k0", "k1", "missing"]).build().expect("d"))
        .send()
        .await
        .expect("verbose");
    assert_eq!(out.deleted().len(), 3);
    let out = c
        .delete_objects()
        .bucket("del")
        .delete(ids(&["k2", "k3"]).quiet(true).build().expect("d"))
        .send()
        .await
        .expect("quiet");
    assert!(out.deleted().is_empty());
    let left = c
        .list_objects_v2()
        .bucket("del")
        .send()
        .await
        .expect("list");
    assert_eq!(
        left.contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        vec!["k4"]
    );
    srv.stop().await;
}
