//! Hostile and broken input: each gets the right S3 error, nothing stored is damaged, and the
//! server keeps serving.

use std::io::{Read, Write};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

async fn still_serving(srv: &TestServer) {
    srv.client()
        .list_buckets()
        .send()
        .await
        .expect("server still serving");
}

#[tokio::test]
async fn hostile_keys_are_plain_keys() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("keys").send().await.expect("mb");
    for k in [
        "../../etc/passwd",
        "..",
        "./a",
        "a//b",
        "%2e%2e/x",
        "\u{202e}rtl",
    ] {
        c.put_object()
            .bucket("keys")
            .key(k)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .expect(k);
        let got = body_bytes(c.get_object().bucket("keys").key(k).send().await.expect(k)).await;
        assert_eq!(got, b"data", "{k}");
    }
    assert!(!srv.data_dir().join("etc").exists());
    assert!(
        !srv.data_dir()
            .parent()
            .expect("p")
            .join("etc/passwd")
            .exists()
            || std::path::Path::new("/etc/passwd").exists()
    );

    let long = "k".repeat(1025);
    let e = c
        .put_object()
        .bucket("keys")
        .key(&long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("long");
    assert_eq!(code(&e), "KeyTooLongError");
    let r = srv
        .signed("PUT", "/keys/bad%01key", None, &[], b"x".to_vec())
        .await;
    assert_eq!(r.status().as_u16(), 400);
    let r = srv.signed("GET", "/keys/%FF%FE", None, &[], vec![]).await;
    assert_eq!(r.status().as_u16(), 400, "non-UTF-8 key");
    still_serving(&srv).await;
    srv.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_xml() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("xml")
        .send()
        .await
        .expect("mb");
    for body in [
        b"<Delete><Object><Key>a</Key></Object>".to_vec(),
        b"this is not xml".to_vec(),
        b"<Delete></Delete>".to_vec(),
        b"<Wrong><Object><Key>a</Key></Object></Wrong>".to_vec(),
        format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(1001)
        )
        .into_bytes(),
        vec![b'<'; 3 << 20],
    ] {
        let r = srv.signed("POST", "/xml", Some("delete"), &[], body).await;
        assert_eq!(r.status().as_u16(), 400);
        let t = r.text().await.expect("t");
        assert!(t.contains("<Code>MalformedXML</Code>"), "{t}");
    }
    let r = srv
        .signed(
            "POST",
            "/xml/k",
            Some("uploadId=nope"),
            &[],
            b"<CompleteMultipartUpload><Part></CompleteMultipartUpload>".to_vec(),
        )
        .await;
    assert!(r.text().await.expect("t").contains("MalformedXML"));
    still_serving(&srv).await;
    srv.stop().await;
}

#[tokio::test]
async fn truncated_body_and_content_length_lies_store_nothing() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("trunc").send().await.expect("mb");
    c.put_object()
        .bucket("trunc")
        .key("k")
        .body(ByteStream::from_static(b"original"))
        .send()
        .await
        .expect("put");
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret))
    };
    // Promise 1 MiB, send 1000 bytes, close.
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "PUT /trunc/k HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\nContent-Length: 1048576\r\n\r\n"
        )
        .expect("w");
        s.write_all(&[7u8; 1000]).expect("w");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
    })
    .await
    .expect("join");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = body_bytes(
        c.get_object()
            .bucket("trunc")
            .key("k")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(got, b"original", "the old object is intact");
    still_serving(&srv).await;
    srv.stop().await;
}

#[tokio::test]
async fn a_header_block_past_the_read_buffer_is_431_and_one_within_it_is_read() {
    // The HTTP/1 read buffer (`listen::HTTP1_READ_BUFFER`, 64 KiB) bounds a request's
    // header block: ten headers of 7 KiB are refused with 431, five are read and answered.
    let srv = TestServer::start().await;
    let http = reqwest::Client::new();
    let send = |n: usize| {
        let mut req = http.get(srv.url("/"));
        for i in 0..n {
            req = req.header(format!("x-junk-{i}"), "v".repeat(7 << 10));
        }
        req.send()
    };
    let past = send(10).await.expect("an answer, not a dropped connection");
    assert_eq!(past.status().as_u16(), 431, "70 KiB of headers");
    let within = send(5).await.expect("send");
    assert_eq!(
        within.status().as_u16(),
        403,
        "35 KiB of headers are read: the anonymous listing is refused as usual"
    );
    still_serving(&srv).await;
    srv.stop().await;
}

#[tokio::test]
async fn huge_header_sets_and_bad_dates() {
    let srv = TestServer::start().await;
    let http = reqwest::Client::new();
    let mut req = http.get(srv.url("/"));
    for i in 0..200 {
        req = req.header(format!("x-junk-{i}"), "v".repeat(100));
    }
    let r = req.send().await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let r = http
        .get(srv.url("/"))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=x/bad/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
        .header("x-amz-date", "yesterday")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error());
    let big_meta = "m".repeat(3000);
    let r = srv.signed("PUT", "/", None, &[], vec![]).await;
    assert!(r.status().is_client_error());
    srv.client()
        .create_bucket()
        .bucket("meta")
        .send()
        .await
        .expect("mb");
    let r = srv
        .signed(
            "PUT",
            "/meta/k",
            None,
            &[("x-amz-meta-big", &big_meta)],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("t").contains("MetadataTooLarge"));
    still_serving(&srv).await;
    srv.stop().await;
}

#[tokio::test]
async fn oversized_declared_body_is_refused_up_front() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("huge")
        .send()
        .await
        .expect("mb");
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret))
    };
    let addr = srv.addr;
    // Declare 6 GiB and send nothing: the answer must come without reading the body.
    let reply = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        write!(
            s,
            "PUT /huge/k HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\nContent-Length: 6442450944\r\n\r\n"
        )
        .expect("w");
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .expect("join");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("EntityTooLarge"), "{reply}");
    still_serving(&srv).await;
    srv.stop().await;
}

/// A full disk: the upload fails cleanly, nothing of it stays on disk, earlier data is intact,
/// and the server keeps serving (and accepts writes again once they fit). Needs root to mount a
/// small tmpfs; CI runs as root.
#[tokio::test]
async fn full_disk_fails_cleanly_and_the_server_keeps_serving() {
    let Some(mnt) = Tmpfs::mount("24m") else {
        eprintln!("SKIPPED full_disk test: cannot mount a tmpfs here (not root?)");
        return;
    };
    let data_dir = tempfile::Builder::new()
        .tempdir_in(mnt.path())
        .expect("dir in tmpfs");
    let srv = TestServer::start_in(data_dir).await;
    let c = srv.client();
    c.create_bucket().bucket("full").send().await.expect("mb");
    let keep = bytes(2 << 20, 50);
    c.put_object()
        .bucket("full")
        .key("keep")
        .body(ByteStream::from(keep.clone()))
        .send()
        .await
        .expect("put");
    let e = c
        .put_object()
        .bucket("full")
        .key("too-big")
        .body(ByteStream::from(bytes(40 << 20, 51)))
        .send()
        .await
        .expect_err("disk full");
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(507), "{e:?}");
    assert!(
        c.head_object()
            .bucket("full")
            .key("too-big")
            .send()
            .await
            .is_err()
    );
    assert_eq!(srv.chunk_files(), 2, "only the kept object's chunks remain");
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("full")
                .key("keep")
                .send()
                .await
                .expect("get")
        )
        .await,
        keep
    );
    c.put_object()
        .bucket("full")
        .key("fits")
        .body(ByteStream::from(bytes(3 << 20, 52)))
        .send()
        .await
        .expect("writes work again");
    still_serving(&srv).await;
    srv.stop().await;
}
