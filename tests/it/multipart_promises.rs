//! Multipart uploads as clients rely on them: a retried CompleteMultipartUpload gets the same
//! answer, a part uploaded twice is the last one uploaded, parts count against quotas while
//! they wait, and Abort/Complete give that room back.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

const B: &str = "mpp";
const HOUR: i64 = 3_600_000;

async fn create(c: &Client, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string()
}

async fn part(c: &Client, key: &str, id: &str, n: i32, body: Vec<u8>) -> Result<String, String> {
    c.upload_part()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_string())
        .map_err(|e| code(&e))
}

fn list(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

async fn complete(
    c: &Client,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> Result<String, String> {
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .multipart_upload(list(parts))
        .send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_string())
        .map_err(|e| code(&e))
}

#[tokio::test]
async fn retried_completion_answers_the_same_for_a_day() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    let id = create(&c, "obj").await;
    let e1 = part(&c, "obj", &id, 1, bytes(5 << 20, 1))
        .await
        .expect("p1");
    let e2 = part(&c, "obj", &id, 2, bytes(1000, 2)).await.expect("p2");
    let parts = [(1, e1.as_str()), (2, e2.as_str())];
    let etag = complete(&c, "obj", &id, &parts).await.expect("complete");
    assert!(etag.ends_with("-2\""), "{etag}");

    // The reply was "lost": the SDK sends the same request again.
    assert_eq!(complete(&c, "obj", &id, &parts).await, Ok(etag.clone()));
    // ETags as clients send them: unquoted is the same list.
    let unquoted = [(1, e1.trim_matches('"')), (2, e2.trim_matches('"'))];
    assert_eq!(complete(&c, "obj", &id, &unquoted).await, Ok(etag.clone()));
    // Another part list is not that request.
    assert_eq!(
        complete(&c, "obj", &id, &[(1, e1.as_str())]).await,
        Err("NoSuchUpload".into())
    );
    // Nor is another key.
    assert_eq!(
        complete(&c, "other", &id, &parts).await,
        Err("NoSuchUpload".into())
    );
    // The upload itself is gone: no parts to list, no second object.
    let e = c
        .list_parts()
        .bucket(B)
        .key("obj")
        .upload_id(&id)
        .send()
        .await
        .expect_err("completed");
    assert_eq!(code(&e), "NoSuchUpload");

    // Kept for at least a day, then the sweeper forgets it.
    let now = gatehouse_store::now_unix_ms();
    let s = srv
        .store()
        .sweep_expiry(now + 23 * HOUR, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.completions_forgotten, 0);
    assert_eq!(complete(&c, "obj", &id, &parts).await, Ok(etag.clone()));
    let s = srv
        .store()
        .sweep_expiry(now + 25 * HOUR, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.completions_forgotten, 1);
    assert_eq!(
        complete(&c, "obj", &id, &parts).await,
        Err("NoSuchUpload".into())
    );
    let got = c
        .get_object()
        .bucket(B)
        .key("obj")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
}

/// fsck of a stopped server's data directory: refcounts and counters agree with a recount.
async fn stop_and_fsck(srv: TestServer) {
    let dir = srv.stop().await;
    let path = dir.path().to_path_buf();
    let report = tokio::task::spawn_blocking(move || gatehouse_store::fsck::fsck(&path, false))
        .await
        .expect("join")
        .expect("fsck");
    assert!(report.clean(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_uploaded_twice_is_the_last_one_uploaded() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    let id = create(&c, "twice").await;

    // One after the other: the second upload replaces the first.
    let first = part(&c, "twice", &id, 1, bytes(5 << 20, 10))
        .await
        .expect("a");
    let second = part(&c, "twice", &id, 1, bytes(5 << 20, 11))
        .await
        .expect("b");
    assert_ne!(first, second);

    // Racing: the same part number from two uploads at once (different bytes), and an
    // identical retry of part 3 racing its original.
    let race = |n: i32, seed: u64| {
        let (c, id) = (c.clone(), id.clone());
        tokio::spawn(async move { part(&c, "twice", &id, n, bytes(5 << 20, seed)).await })
    };
    let (x, y, r1, r2) = (race(2, 20), race(2, 21), race(3, 30), race(3, 30));
    let (x, y) = (
        x.await.expect("j").expect("x"),
        y.await.expect("j").expect("y"),
    );
    let (r1, r2) = (
        r1.await.expect("j").expect("r1"),
        r2.await.expect("j").expect("r2"),
    );
    assert_eq!(r1, r2);
    let listed = c
        .list_parts()
        .bucket(B)
        .key("twice")
        .upload_id(&id)
        .send()
        .await
        .expect("list");
    let tags: Vec<(i32, String)> = listed
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap_or(0),
                p.e_tag().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert_eq!(tags[0], (1, second.clone()));
    let winner = tags[1].1.clone();
    assert!(
        winner == x || winner == y,
        "{winner} is neither {x} nor {y}"
    );
    let (loser, seed) = if winner == x { (y, 20) } else { (x, 21) };

    // The replaced uploads are not parts any more; the last ones are.
    assert_eq!(
        complete(&c, "twice", &id, &[(1, &first), (2, &winner), (3, &r1)]).await,
        Err("InvalidPart".into())
    );
    assert_eq!(
        complete(&c, "twice", &id, &[(1, &second), (2, &loser), (3, &r1)]).await,
        Err("InvalidPart".into())
    );
    complete(&c, "twice", &id, &[(1, &second), (2, &winner), (3, &r1)])
        .await
        .expect("the last uploads");
    let got = body_bytes(
        c.get_object()
            .bucket(B)
            .key("twice")
            .send()
            .await
            .expect("get"),
    )
    .await;
    let mut want = bytes(5 << 20, 11);
    want.extend(bytes(5 << 20, seed));
    want.extend(bytes(5 << 20, 30));
    assert!(got == want, "content is the last uploads'");
    stop_and_fsck(srv).await;
}
