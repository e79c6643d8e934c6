//! Defects found reviewing issue 17's first wave (store, S3 gateway), each pinned by what a
//! client sees.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

const MIB: usize = 1 << 20;

fn share_used(srv: &TestServer, share: &str) -> u64 {
    srv.store()
        .show_share(&srv.admin(), share)
        .expect("share")
        .used_bytes
}

async fn stop_and_fsck(srv: TestServer) {
    let dir = srv.stop().await;
    let path = dir.path().to_path_buf();
    let report = tokio::task::spawn_blocking(move || gatehouse_store::fsck::fsck(&path, false))
        .await
        .expect("join")
        .expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// An upload's parts count in its share's usage. Aborting it while the share is deleted used
/// to succeed and drop the parts without giving their bytes back (the counters were parked with
/// the share), so a restored share reported 5 MiB used that nothing held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_a_deleted_share_is_not_aborted_behind_its_counters() {
    let srv = TestServer::start().await;
    let admin = srv.admin();
    srv.store()
        .create_share(
            &admin,
            gatehouse_store::ops::NewShare {
                name: "parked".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    const S: &str = "fs--parked";
    let c = srv.client();
    let id = c
        .create_multipart_upload()
        .bucket(S)
        .key("big.bin")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string();
    c.upload_part()
        .bucket(S)
        .key("big.bin")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(bytes(5 * MIB, 1)))
        .send()
        .await
        .expect("part");
    assert_eq!(share_used(&srv, "parked"), 5 * MIB as u64);

    srv.store()
        .delete_share(&admin, "parked")
        .await
        .expect("delete share");
    let abort = c
        .abort_multipart_upload()
        .bucket(S)
        .key("big.bin")
        .upload_id(&id)
        .send()
        .await
        .expect_err("the bucket is gone");
    assert_eq!(code(&abort), "NoSuchBucket");

    srv.store()
        .restore_share(&admin, "parked")
        .await
        .expect("restore");
    // The upload came back with the share, its bytes still counted; aborting it now frees them.
    assert_eq!(share_used(&srv, "parked"), 5 * MIB as u64);
    c.abort_multipart_upload()
        .bucket(S)
        .key("big.bin")
        .upload_id(&id)
        .send()
        .await
        .expect("abort after restore");
    assert_eq!(share_used(&srv, "parked"), 0);
    stop_and_fsck(srv).await;
}

/// A request through the S3 port with `Authorization: Bearer access:secret` and raw headers
/// (repeated names and bytes that are not text allowed).
async fn bearer(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &'static [u8],
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(method, srv.url(path))
        .header(
            "authorization",
            format!("Bearer {}:{}", srv.access, srv.secret),
        );
    for (n, v) in headers {
        req = req.header(
            *n,
            reqwest::header::HeaderValue::from_bytes(v).expect("value"),
        );
    }
    req.body(body).send().await.expect("send")
}

/// Conditions and refusals judge every value of a header: an `If-Match` whose value is not
/// plain text used to pass for no condition at all (the object was overwritten), and a second
/// `x-amz-storage-class` line went unseen (GLACIER asked for, a 200 given).
#[tokio::test]
async fn a_garbled_or_repeated_header_is_not_a_missing_one() {
    use reqwest::Method;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("hdr").send().await.expect("mb");
    let put = bearer(&srv, Method::PUT, "/hdr/k", &[], b"first").await;
    assert_eq!(put.status().as_u16(), 200);

    let r = bearer(
        &srv,
        Method::PUT,
        "/hdr/k",
        &[("if-match", b"\"\xff\"")],
        b"second",
    )
    .await;
    assert_eq!(r.status().as_u16(), 412);
    let got = c
        .get_object()
        .bucket("hdr")
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"first");

    let r = bearer(
        &srv,
        Method::PUT,
        "/hdr/cold",
        &[
            ("x-amz-storage-class", b"STANDARD"),
            ("x-amz-storage-class", b"GLACIER"),
        ],
        b"x",
    )
    .await;
    assert_eq!(r.status().as_u16(), 501);
    assert!(r.text().await.expect("text").contains("GLACIER"));
    let head = c.head_object().bucket("hdr").key("cold").send().await;
    assert!(head.is_err(), "nothing stored");
}
