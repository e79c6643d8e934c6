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
