//! Integrity: Content-MD5, flexible checksums (header and trailer), every aws-chunked mode.

use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use gatehouse_s3::auth::{ChunkSigner, SigningParams, StreamingContext, sign_request_v4};
use gatehouse_store::checksum::ChecksumAlgorithm as Alg;

use crate::common::*;

fn b64_checksum(alg: Alg, data: &[u8]) -> String {
    let mut h = alg.hasher();
    h.update(data);
    h.finish_base64()
}

#[tokio::test]
async fn sdk_checksums_are_verified_stored_and_returned() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("cksum").send().await.expect("mb");
    let data = bytes(2 * (1 << 20) + 3, 30);
    for (alg, sdk_alg) in [
        (Alg::Crc32, ChecksumAlgorithm::Crc32),
        (Alg::Crc32c, ChecksumAlgorithm::Crc32C),
        (Alg::Sha1, ChecksumAlgorithm::Sha1),
        (Alg::Sha256, ChecksumAlgorithm::Sha256),
        (Alg::Crc64Nvme, ChecksumAlgorithm::Crc64Nvme),
    ] {
        let key = format!("k-{}", alg.name());
        c.put_object()
            .bucket("cksum")
            .key(&key)
            .checksum_algorithm(sdk_alg)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("put");
        let got = c
            .get_object()
            .bucket("cksum")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get");
        let want = b64_checksum(alg, &data);
        let returned = match alg {
            Alg::Crc32 => got.checksum_crc32(),
            Alg::Crc32c => got.checksum_crc32_c(),
            Alg::Sha1 => got.checksum_sha1(),
            Alg::Sha256 => got.checksum_sha256(),
            Alg::Crc64Nvme => got.checksum_crc64_nvme(),
        }
        .map(str::to_string);
        assert_eq!(returned.as_deref(), Some(want.as_str()), "{}", alg.name());
        assert_eq!(body_bytes(got).await, data, "{}", alg.name());
    }
    // A wrong checksum stores nothing.
    let e = c
        .put_object()
        .bucket("cksum")
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .expect_err("mismatch");
    assert_eq!(code(&e), "BadDigest");
    let e = c
        .head_object()
        .bucket("cksum")
        .key("bad")
        .send()
        .await
        .expect_err("nothing stored");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    srv.stop().await;
}

#[tokio::test]
async fn content_md5_is_checked() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("md5")
        .send()
        .await
        .expect("mb");
    let r = srv
        .signed(
            "PUT",
            "/md5/k",
            None,
            &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
            b"not empty".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .expect("t")
            .contains("<Code>BadDigest</Code>")
    );
    let r = srv
        .signed(
            "PUT",
            "/md5/k",
            None,
            &[("content-md5", "!!!")],
            b"x".to_vec(),
        )
        .await;
    assert!(
        r.text()
            .await
            .expect("t")
            .contains("<Code>InvalidDigest</Code>")
    );
    let r = srv
        .signed(
            "PUT",
            "/md5/k",
            None,
            &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
            vec![],
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        200,
        "MD5 of the empty body is accepted"
    );
    srv.stop().await;
}

/// Sends an aws-chunked PUT in `mode`, returning (status, body text).
async fn chunked_put(
    srv: &TestServer,
    path: &str,
    mode: &str,
    data: &[u8],
    trailer: Option<(&str, String)>,
    tamper: bool,
) -> (u16, String) {
    let now = SystemTime::now();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", srv.addr.to_string().parse().expect("h"));
    headers.insert("content-encoding", "aws-chunked".parse().expect("h"));
    headers.insert(
        "x-amz-decoded-content-length",
        data.len().to_string().parse().expect("h"),
    );
    if let Some((name, _)) = &trailer {
        headers.insert("x-amz-trailer", name.parse().expect("h"));
    }
    let params = SigningParams {
        access_key: &srv.access,
        secret_key: &srv.secret,
        region: "us-east-1",
        time: now,
    };
    let sig = sign_request_v4("PUT", path, None, &mut headers, mode, &params).expect("sign");
    let trailers: Vec<(&str, &str)> = trailer
        .as_ref()
        .map(|(n, v)| vec![(*n, v.as_str())])
        .unwrap_or_default();
    let mut body = Vec::new();
    if mode.starts_with("STREAMING-AWS4") {
        let mut s = ChunkSigner::new(StreamingContext::new(
            &srv.secret,
            now,
            "us-east-1",
            &sig.signature,
        ));
        for piece in data.chunks(64 * 1024) {
            body.extend(s.chunk(piece));
        }
        body.extend(s.finish(&trailers));
    } else {
        for piece in data.chunks(64 * 1024) {
            body.extend(format!("{:x}\r\n", piece.len()).into_bytes());
            body.extend_from_slice(piece);
            body.extend(b"\r\n");
        }
        body.extend(b"0\r\n");
        for (n, v) in &trailers {
            body.extend(format!("{n}:{v}\r\n").into_bytes());
        }
        body.extend(b"\r\n");
    }
    if tamper {
        let i = body.len() / 2;
        body[i] ^= 1;
    }
    let mut req = reqwest::Client::new().put(srv.url(path));
    for (k, v) in headers.iter() {
        req = req.header(k.as_str(), v.as_bytes());
    }
    let r = req.body(body).send().await.expect("send");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_streaming_payload_mode_stores_exactly_the_payload() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("chunked")
        .send()
        .await
        .expect("mb");
    let data = bytes(300_000, 40);
    let crc = b64_checksum(Alg::Crc32, &data);
    let cases: Vec<(&str, Option<(&str, String)>)> = vec![
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            Some(("x-amz-checksum-crc32", crc.clone())),
        ),
        (
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            Some(("x-amz-checksum-crc32", crc.clone())),
        ),
    ];
    for (i, (mode, trailer)) in cases.into_iter().enumerate() {
        let path = format!("/chunked/obj{i}");
        let (status, text) = chunked_put(&srv, &path, mode, &data, trailer, false).await;
        assert_eq!(status, 200, "{mode}: {text}");
        let got = c
            .get_object()
            .bucket("chunked")
            .key(format!("obj{i}"))
            .send()
            .await
            .expect("get");
        assert_eq!(got.content_length(), Some(data.len() as i64), "{mode}");
        assert!(
            got.content_encoding().is_none(),
            "aws-chunked is not stored as an encoding"
        );
        assert_eq!(
            body_bytes(got).await,
            data,
            "{mode}: framing must not reach the object"
        );
    }
    // A wrong trailing checksum stores nothing.
    let (status, text) = chunked_put(
        &srv,
        "/chunked/badtrailer",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        &data,
        Some(("x-amz-checksum-crc32", "AAAAAA==".into())),
        false,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("BadDigest"), "{text}");
    // A tampered signed chunk is refused and stores nothing.
    let (status, text) = chunked_put(
        &srv,
        "/chunked/tampered",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        &data,
        None,
        true,
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    for k in ["badtrailer", "tampered"] {
        assert!(
            c.head_object()
                .bucket("chunked")
                .key(k)
                .send()
                .await
                .is_err(),
            "{k} must not exist"
        );
    }
    srv.stop().await;
}

/// Part `n` of upload `id` of `mpck/key`, sent with its `alg` checksum, as CompleteMultipartUpload
/// lists it (ETag and that checksum).
async fn checksummed_part(
    c: &aws_sdk_s3::Client,
    (key, id): (&str, &str),
    n: i32,
    body: &[u8],
    alg: Alg,
) -> aws_sdk_s3::types::CompletedPart {
    let p = c
        .upload_part()
        .bucket("mpck")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .checksum_algorithm(ChecksumAlgorithm::from(alg.name()))
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("part");
    let part = aws_sdk_s3::types::CompletedPart::builder()
        .part_number(n)
        .e_tag(p.e_tag().expect("etag"));
    match alg {
        Alg::Crc32 => part.checksum_crc32(p.checksum_crc32().expect("crc32")),
        Alg::Crc32c => part.checksum_crc32_c(p.checksum_crc32_c().expect("crc32c")),
        Alg::Crc64Nvme => part.checksum_crc64_nvme(p.checksum_crc64_nvme().expect("crc64")),
        Alg::Sha1 => part.checksum_sha1(p.checksum_sha1().expect("sha1")),
        Alg::Sha256 => part.checksum_sha256(p.checksum_sha256().expect("sha256")),
    }
    .build()
}

/// A multipart upload's object checksum (found by the ceph s3-tests suite: the completion's
/// `x-amz-checksum-*` header was checked against its XML body, and `x-amz-checksum-type` was
/// ignored): FULL_OBJECT CRCs are the whole object's, combined from the parts'; COMPOSITE
/// values are the checksum of the parts' checksums with `-<parts>`; the completion's header
/// is checked against them before anything is linked, as is `x-amz-mp-object-size`; pairs S3
/// refuses are refused.
#[tokio::test]
async fn multipart_checksums_full_object_and_composite() {
    use aws_sdk_s3::types::{ChecksumType, CompletedMultipartUpload};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("mpck")
        .send()
        .await
        .expect("bucket");
    let (a, b) = (vec![b'A'; 5 << 20], vec![b'B'; 1000]);
    let whole = [a.clone(), b.clone()].concat();

    for (alg, store_alg) in [
        (ChecksumAlgorithm::Crc32, Alg::Crc32),
        (ChecksumAlgorithm::Crc32C, Alg::Crc32c),
        (ChecksumAlgorithm::Crc64Nvme, Alg::Crc64Nvme),
    ] {
        let key = format!("full-{}", store_alg.name());
        let u = c
            .create_multipart_upload()
            .bucket("mpck")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .expect("create");
        assert_eq!(u.checksum_type(), Some(&ChecksumType::FullObject));
        let id = u.upload_id().expect("id");
        let mut parts = Vec::new();
        for (n, body) in [(1, &a), (2, &b)] {
            parts.push(checksummed_part(&c, (&key, id), n, body, store_alg).await);
        }
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        let want = b64_checksum(store_alg, &whole);
        let wrong = b64_checksum(store_alg, b"something else");
        let complete = |value: String| {
            let r = c
                .complete_multipart_upload()
                .bucket("mpck")
                .key(&key)
                .upload_id(id)
                .multipart_upload(done.clone())
                .checksum_type(ChecksumType::FullObject);
            match store_alg {
                Alg::Crc32 => r.checksum_crc32(value),
                Alg::Crc32c => r.checksum_crc32_c(value),
                _ => r.checksum_crc64_nvme(value),
            }
        };
        let e = complete(wrong).send().await.expect_err("a wrong checksum");
        assert_eq!(code(&e), "BadDigest", "{}", store_alg.name());
        // x-amz-mp-object-size is checked too, not ignored.
        let e = complete(want.clone())
            .mpu_object_size(whole.len() as i64 + 1)
            .send()
            .await
            .expect_err("a wrong object size");
        assert_eq!(code(&e), "InvalidRequest", "{}", store_alg.name());
        let ok = complete(want.clone())
            .mpu_object_size(whole.len() as i64)
            .send()
            .await
            .expect("complete");
        assert_eq!(ok.checksum_type(), Some(&ChecksumType::FullObject));
        let head = c
            .head_object()
            .bucket("mpck")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("head");
        let shown = match store_alg {
            Alg::Crc32 => head.checksum_crc32(),
            Alg::Crc32c => head.checksum_crc32_c(),
            _ => head.checksum_crc64_nvme(),
        };
        assert_eq!(shown, Some(want.as_str()), "{}", store_alg.name());
        assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    }

    // COMPOSITE SHA-256: the checksum of the parts' checksums, with and without `-1`.
    let u = c
        .create_multipart_upload()
        .bucket("mpck")
        .key("comp")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("create");
    assert_eq!(u.checksum_type(), Some(&ChecksumType::Composite));
    let id = u.upload_id().expect("id");
    let part = checksummed_part(&c, ("comp", id), 1, &a, Alg::Sha256).await;
    let part_sum = gatehouse_store::checksum::base64_decode(part.checksum_sha256().expect("sha"))
        .expect("b64");
    let composite = format!("{}-1", b64_checksum(Alg::Sha256, &part_sum));
    let ok = c
        .complete_multipart_upload()
        .bucket("mpck")
        .key("comp")
        .upload_id(id)
        .checksum_sha256(composite.trim_end_matches("-1"))
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .expect("complete");
    assert_eq!(ok.checksum_sha256(), Some(composite.as_str()));
    assert_eq!(ok.checksum_type(), Some(&ChecksumType::Composite));

    // What S3 refuses: SHA-256 full-object, CRC64NVME composite, a type without an algorithm.
    for (alg, kind) in [
        (Some(ChecksumAlgorithm::Sha256), ChecksumType::FullObject),
        (Some(ChecksumAlgorithm::Crc64Nvme), ChecksumType::Composite),
        (None, ChecksumType::FullObject),
    ] {
        let e = c
            .create_multipart_upload()
            .bucket("mpck")
            .key("refused")
            .set_checksum_algorithm(alg)
            .checksum_type(kind)
            .send()
            .await
            .expect_err("refused pair");
        assert_eq!(code(&e), "InvalidRequest");
    }
}

/// GetObjectAttributes as the AWS reference describes it: the ETag unquoted, the object's
/// checksum, a multipart object's part count and (only when its parts have checksums) its
/// parts, paged; the size and storage class; a version by id; a bad attribute name refused.
#[tokio::test]
async fn get_object_attributes_answers_as_aws() {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, ChecksumType, CompletedMultipartUpload, ObjectAttributes as A,
    };
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("mpck").send().await.expect("mb");
    let all = [
        A::Etag,
        A::Checksum,
        A::ObjectParts,
        A::StorageClass,
        A::ObjectSize,
    ];
    let attrs = |key: &str| {
        let mut r = c.get_object_attributes().bucket("mpck").key(key);
        for a in &all {
            r = r.object_attributes(a.clone());
        }
        r
    };

    // A single PUT with a SHA-256 checksum.
    let small = bytes(1024, 61);
    let put = c
        .put_object()
        .bucket("mpck")
        .key("single")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .expect("put");
    let got = attrs("single").send().await.expect("attributes");
    assert_eq!(
        got.e_tag(),
        put.e_tag().map(|e| e.trim_matches('"')),
        "unquoted"
    );
    assert_eq!(got.object_size(), Some(1024));
    assert_eq!(got.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    let ck = got.checksum().expect("checksum");
    assert_eq!(
        ck.checksum_sha256(),
        Some(b64_checksum(Alg::Sha256, &small).as_str())
    );
    assert_eq!(ck.checksum_type(), Some(&ChecksumType::FullObject));
    assert!(got.object_parts().is_none(), "not a multipart object");
    assert!(got.last_modified().is_some());
    assert!(got.version_id().is_none());

    // Only what was asked for.
    let got = c
        .get_object_attributes()
        .bucket("mpck")
        .key("single")
        .object_attributes(A::ObjectSize)
        .send()
        .await
        .expect("size only");
    assert_eq!(got.object_size(), Some(1024));
    assert!(got.e_tag().is_none() && got.checksum().is_none() && got.storage_class().is_none());

    // Multipart with CRC32 part checksums (composite): the parts are listed, paged.
    let part = 5 << 20;
    let data = bytes(3 * part + 100, 62);
    let up = c
        .create_multipart_upload()
        .bucket("mpck")
        .key("parts")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let mut done = Vec::new();
    for (i, body) in data.chunks(part).enumerate() {
        done.push(checksummed_part(&c, ("parts", id), i as i32 + 1, body, Alg::Crc32).await);
    }
    let sums: Vec<String> = done
        .iter()
        .map(|p| p.checksum_crc32().expect("crc").to_string())
        .collect();
    let complete = c
        .complete_multipart_upload()
        .bucket("mpck")
        .key("parts")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let got = attrs("parts").send().await.expect("attributes");
    assert_eq!(got.object_size(), Some(data.len() as i64));
    assert_eq!(got.e_tag(), complete.e_tag().map(|e| e.trim_matches('"')));
    let ck = got.checksum().expect("checksum");
    assert_eq!(ck.checksum_crc32(), complete.checksum_crc32());
    assert_eq!(ck.checksum_type(), Some(&ChecksumType::Composite));
    let parts = got.object_parts().expect("parts");
    assert_eq!(parts.total_parts_count(), Some(4));
    assert_eq!(parts.is_truncated(), Some(false));
    let listed: Vec<(i32, i64, String)> = parts
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap_or_default(),
                p.size().unwrap_or_default(),
                p.checksum_crc32().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, part as i64, sums[0].clone()),
            (2, part as i64, sums[1].clone()),
            (3, part as i64, sums[2].clone()),
            (4, 100, sums[3].clone()),
        ]
    );
    let page = attrs("parts")
        .max_parts(2)
        .part_number_marker("1")
        .send()
        .await
        .expect("a page");
    let parts = page.object_parts().expect("parts");
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.next_part_number_marker(), Some("3"));
    assert_eq!(parts.max_parts(), Some(2));
    let numbers: Vec<i32> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [2, 3]);

    // Multipart without checksums: the count only (AWS lists parts only with checksums).
    let up = c
        .create_multipart_upload()
        .bucket("mpck")
        .key("plain")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let mut done = Vec::new();
    for (i, body) in data.chunks(part).enumerate() {
        let p = c
            .upload_part()
            .bucket("mpck")
            .key("plain")
            .upload_id(id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .expect("part");
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(p.e_tag().expect("etag"))
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("mpck")
        .key("plain")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let got = attrs("plain").send().await.expect("attributes");
    let parts = got.object_parts().expect("parts");
    assert_eq!(parts.total_parts_count(), Some(4));
    assert!(parts.parts().is_empty());
    assert!(got.checksum().is_none());

    // A version by id, after it was replaced.
    crate::versioning::set_versioning(&c, "mpck", BucketVersioningStatus::Enabled).await;
    let v1 = c
        .put_object()
        .bucket("mpck")
        .key("v")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .expect("v1");
    c.put_object()
        .bucket("mpck")
        .key("v")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .expect("v2");
    let got = attrs("v")
        .version_id(v1.version_id().expect("id"))
        .send()
        .await
        .expect("v1's attributes");
    assert_eq!(got.version_id(), v1.version_id());
    assert_eq!(got.object_size(), Some(3));
    let got = attrs("v").send().await.expect("current");
    assert_eq!(got.object_size(), Some(6));

    // Refusals: an unknown attribute, no attributes at all, a missing key.
    let e = c
        .get_object_attributes()
        .bucket("mpck")
        .key("single")
        .object_attributes(A::from("Colour"))
        .send()
        .await
        .expect_err("unknown attribute");
    assert_eq!(code(&e), "InvalidArgument");
    let r = srv
        .signed("GET", "/mpck/single", Some("attributes"), &[], Vec::new())
        .await;
    assert_eq!(r.status().as_u16(), 400, "no x-amz-object-attributes");
    let e = attrs("nothing-here").send().await.expect_err("missing");
    assert_eq!(code(&e), "NoSuchKey");
    // It needs the read too (AWS: s3:GetObject and s3:GetObjectAttributes): a Deny of
    // s3:GetObject refuses it.
    c.put_bucket_policy()
        .bucket("mpck")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::mpck/single"}]}"#,
        )
        .send()
        .await
        .expect("policy");
    let e = attrs("single").send().await.expect_err("reads denied");
    assert_eq!(code(&e), "AccessDenied");
    attrs("parts").send().await.expect("another key");
    srv.stop().await;
}
