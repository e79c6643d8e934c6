//! Multipart uploads through aws-sdk-s3.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::Digest;

use crate::common::*;

const MIB: usize = 1 << 20;

fn completed(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn multipart_upload_complete_list_abort() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("mpart").send().await.expect("mb");
    let parts_data = [bytes(5 * MIB, 10), bytes(5 * MIB, 11), bytes(1234, 12)];
    let up = c
        .create_multipart_upload()
        .bucket("mpart")
        .key("big")
        .content_type("video/x")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let mut etags = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let r = c
            .upload_part()
            .bucket("mpart")
            .key("big")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .expect("part");
        etags.push((i as i32 + 1, r.e_tag().expect("etag").to_string()));
    }
    let listed = c
        .list_parts()
        .bucket("mpart")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(listed.parts().len(), 3);
    assert_eq!(listed.parts()[0].size(), Some(5 * MIB as i64));
    let uploads = c
        .list_multipart_uploads()
        .bucket("mpart")
        .send()
        .await
        .expect("list uploads");
    assert_eq!(uploads.uploads().len(), 1);

    let chunks_before = srv.chunk_files();
    let done = c
        .complete_multipart_upload()
        .bucket("mpart")
        .key("big")
        .upload_id(&id)
        .multipart_upload(completed(&etags))
        .send()
        .await
        .expect("complete");
    assert_eq!(srv.chunk_files(), chunks_before, "complete copies no data");
    let mut cat = md5::Md5::new();
    for (_, e) in &etags {
        cat.update(hex::decode(e.trim_matches('"')).expect("hex"));
    }
    let want = format!("\"{}-3\"", hex::encode(cat.finalize()));
    assert_eq!(done.e_tag(), Some(want.as_str()));

    let all: Vec<u8> = parts_data.concat();
    let got = c
        .get_object()
        .bucket("mpart")
        .key("big")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("video/x"));
    assert_eq!(body_bytes(got).await, all);
    let p2 = c
        .get_object()
        .bucket("mpart")
        .key("big")
        .part_number(2)
        .send()
        .await
        .expect("part 2");
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(body_bytes(p2).await, parts_data[1]);
    let e = c
        .list_parts()
        .bucket("mpart")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect_err("completed");
    assert_eq!(code(&e), "NoSuchUpload");

    // Abort drops the parts.
    let up = c
        .create_multipart_upload()
        .bucket("mpart")
        .key("gone")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    c.upload_part()
        .bucket("mpart")
        .key("gone")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(bytes(MIB, 99)))
        .send()
        .await
        .expect("part");
    c.abort_multipart_upload()
        .bucket("mpart")
        .key("gone")
        .upload_id(&id)
        .send()
        .await
        .expect("abort");
    let e = c
        .list_parts()
        .bucket("mpart")
        .key("gone")
        .upload_id(&id)
        .send()
        .await
        .expect_err("aborted");
    assert_eq!(code(&e), "NoSuchUpload");
    let gc = srv
        .running
        .as_ref()
        .expect("running")
        .store
        .gc(Some(std::time::Duration::ZERO))
        .await
        .expect("gc");
    assert_eq!(gc.deleted, 1, "the aborted part's chunk is collected");
    srv.stop().await;
}

#[tokio::test]
async fn multipart_rules() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("rules").send().await.expect("mb");
    let id = c
        .create_multipart_upload()
        .bucket("rules")
        .key("k")
        .send()
        .await
        .expect("c")
        .upload_id()
        .expect("id")
        .to_string();
    let mut etags = Vec::new();
    for n in 1..=2 {
        let r = c
            .upload_part()
            .bucket("rules")
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(bytes(MIB, n as u64)))
            .send()
            .await
            .expect("part");
        etags.push((n, r.e_tag().expect("etag").to_string()));
    }
    let e = c
        .complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&etags))
        .send()
        .await
        .expect_err("small");
    assert_eq!(code(&e), "EntityTooSmall");
    let e = c
        .complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[
            (2, etags[1].1.clone()),
            (1, etags[0].1.clone()),
        ]))
        .send()
        .await
        .expect_err("order");
    assert_eq!(code(&e), "InvalidPartOrder");
    let e = c
        .complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(
            1,
            "\"00000000000000000000000000000000\"".into(),
        )]))
        .send()
        .await
        .expect_err("etag");
    assert_eq!(code(&e), "InvalidPart");
    // A single small part is a valid upload (the last part may be small).
    c.complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&etags[..1]))
        .send()
        .await
        .expect("one part");
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("rules")
                .key("k")
                .send()
                .await
                .expect("get")
        )
        .await,
        bytes(MIB, 1)
    );
    let e = c
        .upload_part()
        .bucket("rules")
        .key("k")
        .upload_id("nope")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no upload");
    assert_eq!(code(&e), "NoSuchUpload");
    srv.stop().await;
}

#[tokio::test]
async fn upload_part_copy_builds_from_ranges() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("pcopy").send().await.expect("mb");
    let src = bytes(12 * MIB + 5, 20);
    c.put_object()
        .bucket("pcopy")
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .expect("put");
    let id = c
        .create_multipart_upload()
        .bucket("pcopy")
        .key("dst")
        .send()
        .await
        .expect("c")
        .upload_id()
        .expect("id")
        .to_string();
    let mut etags = Vec::new();
    for (n, range) in [(1, "bytes=0-6291455"), (2, "bytes=6291456-12582916")] {
        let r = c
            .upload_part_copy()
            .bucket("pcopy")
            .key("dst")
            .upload_id(&id)
            .part_number(n)
            .copy_source("pcopy/src")
            .copy_source_range(range)
            .send()
            .await
            .expect("part copy");
        etags.push((
            n,
            r.copy_part_result()
                .and_then(|p| p.e_tag())
                .expect("etag")
                .to_string(),
        ));
    }
    c.complete_multipart_upload()
        .bucket("pcopy")
        .key("dst")
        .upload_id(&id)
        .multipart_upload(completed(&etags))
        .send()
        .await
        .expect("complete");
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("pcopy")
                .key("dst")
                .send()
                .await
                .expect("get")
        )
        .await,
        src
    );
    srv.stop().await;
}
