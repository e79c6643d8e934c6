//! A reader in flight keeps its data: a GET streaming a large object that is deleted and
//! garbage-collected meanwhile still sends every byte; once it ends, GC frees the chunks.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// `POST /api/gc` as the bootstrap admin.
async fn gc_now(srv: &TestServer) {
    use base64::Engine as _;
    let addr = srv
        .running
        .as_ref()
        .expect("running")
        .admin_addr
        .expect("admin listener");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret));
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/gc"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("gc");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_get_in_flight_survives_delete_and_gc_and_its_chunks_are_freed_after() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("rdb").send().await.expect("mb");
    // 48 chunks: far more than the socket buffers hold, so most of them are still unopened
    // when the first bytes arrive.
    let data = bytes(48 << 20, 41);
    c.put_object()
        .bucket("rdb")
        .key("big")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let files = srv.chunk_files();
    assert!(files >= 48, "{files} chunk files");

    let got = c
        .get_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect("get");
    let mut body = got.body;
    let mut received = Vec::with_capacity(data.len());
    while received.len() < 64 << 10 {
        let piece = body.next().await.expect("more body").expect("first bytes");
        received.extend_from_slice(&piece);
    }

    // The object goes away and GC runs at once while the GET is still streaming.
    c.delete_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect("delete");
    gc_now(&srv).await;
    let kept = srv.chunk_files();

    while let Some(piece) = body.next().await {
        received.extend_from_slice(&piece.expect("the rest of the body arrives"));
    }
    assert_eq!(received.len(), data.len(), "every byte arrived");
    assert!(received == data, "and they are the object's bytes");
    assert_eq!(kept, files, "GC kept the chunks of the object being read");
    drop(body);

    // The GET is over: its pins are gone, so the next GC frees the chunks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        gc_now(&srv).await;
        if srv.chunk_files() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} chunk files stayed after the GET ended",
            srv.chunk_files()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = c
        .get_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&e), "NoSuchKey");
}
