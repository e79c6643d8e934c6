//! Multipart uploads as clients rely on them: a retried CompleteMultipartUpload gets the same
//! answer, a part uploaded twice is the last one uploaded, parts count against quotas while
//! they wait, and Abort/Complete give that room back.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

const B: &str = "mpp";
const HOUR: i64 = 3_600_000;

async fn create(c: &Client, b: &str, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(b)
        .key(key)
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string()
}

async fn part(
    c: &Client,
    b: &str,
    key: &str,
    id: &str,
    n: i32,
    body: Vec<u8>,
) -> Result<String, String> {
    c.upload_part()
        .bucket(b)
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
    b: &str,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> Result<String, String> {
    c.complete_multipart_upload()
        .bucket(b)
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
    let id = create(&c, B, "obj").await;
    let e1 = part(&c, B, "obj", &id, 1, bytes(5 << 20, 1))
        .await
        .expect("p1");
    let e2 = part(&c, B, "obj", &id, 2, bytes(1000, 2))
        .await
        .expect("p2");
    let parts = [(1, e1.as_str()), (2, e2.as_str())];
    let etag = complete(&c, B, "obj", &id, &parts).await.expect("complete");
    assert!(etag.ends_with("-2\""), "{etag}");

    // The reply was "lost": the SDK sends the same request again.
    assert_eq!(complete(&c, B, "obj", &id, &parts).await, Ok(etag.clone()));
    // ETags as clients send them: unquoted is the same list.
    let unquoted = [(1, e1.trim_matches('"')), (2, e2.trim_matches('"'))];
    assert_eq!(
        complete(&c, B, "obj", &id, &unquoted).await,
        Ok(etag.clone())
    );
    // Another part list is not that request.
    assert_eq!(
        complete(&c, B, "obj", &id, &[(1, e1.as_str())]).await,
        Err("NoSuchUpload".into())
    );
    // Nor is another key.
    assert_eq!(
        complete(&c, B, "other", &id, &parts).await,
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
    assert_eq!(complete(&c, B, "obj", &id, &parts).await, Ok(etag.clone()));
    let s = srv
        .store()
        .sweep_expiry(now + 25 * HOUR, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.completions_forgotten, 1);
    assert_eq!(
        complete(&c, B, "obj", &id, &parts).await,
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
pub(crate) async fn stop_and_fsck(srv: TestServer) {
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
    let id = create(&c, B, "twice").await;

    // One after the other: the second upload replaces the first.
    let first = part(&c, B, "twice", &id, 1, bytes(5 << 20, 10))
        .await
        .expect("a");
    let second = part(&c, B, "twice", &id, 1, bytes(5 << 20, 11))
        .await
        .expect("b");
    assert_ne!(first, second);

    // Racing: the same part number from two uploads at once (different bytes), and an
    // identical retry of part 3 racing its original.
    let race = |n: i32, seed: u64| {
        let (c, id) = (c.clone(), id.clone());
        tokio::spawn(async move { part(&c, B, "twice", &id, n, bytes(5 << 20, seed)).await })
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
        complete(&c, B, "twice", &id, &[(1, &first), (2, &winner), (3, &r1)]).await,
        Err("InvalidPart".into())
    );
    assert_eq!(
        complete(&c, B, "twice", &id, &[(1, &second), (2, &loser), (3, &r1)]).await,
        Err("InvalidPart".into())
    );
    complete(&c, B, "twice", &id, &[(1, &second), (2, &winner), (3, &r1)])
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

const MIB: usize = 1 << 20;

/// Bytes the storage status shows for `bucket` (what `gatehouse storage status` prints).
fn status_used(srv: &TestServer, bucket: &str) -> u64 {
    let s = srv.store().storage_status(&srv.admin()).expect("status");
    s.buckets
        .iter()
        .find(|b| b.name == bucket)
        .map(|b| b.used_bytes)
        .expect("bucket listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_count_against_a_share_quota_as_they_are_uploaded() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "tight".into(),
                quota_bytes: 10 * MIB as u64,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    const S: &str = "fs+tight";
    let c = srv.client();

    // Eight 5 MiB parts into a 10 MiB share: the third is refused, at that part.
    let id = create(&c, S, "big.bin").await;
    let mut tags = Vec::new();
    for n in 1..=8 {
        match part(&c, S, "big.bin", &id, n, bytes(5 * MIB, n as u64)).await {
            Ok(t) => tags.push(t),
            Err(code) => {
                assert_eq!((n, code.as_str()), (3, "QuotaExceeded"));
                break;
            }
        }
    }
    assert_eq!(tags.len(), 2);
    // Parts in flight show in the storage status and in the share's usage.
    assert_eq!(status_used(&srv, S), 10 * MIB as u64);
    // Declared up front, the refusal comes before the body is read.
    let r = srv
        .signed(
            "PUT",
            "/fs+tight/big.bin",
            Some(&format!("partNumber=3&uploadId={id}")),
            &[],
            vec![3u8; MIB],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.expect("t").contains("QuotaExceeded"));
    // A retry of a part replaces it: only the difference counts.
    let again = part(&c, S, "big.bin", &id, 2, bytes(5 * MIB, 2))
        .await
        .expect("same size again");
    assert_eq!(again, tags[1]);
    assert_eq!(status_used(&srv, S), 10 * MIB as u64);

    // Abort gives the room back.
    c.abort_multipart_upload()
        .bucket(S)
        .key("big.bin")
        .upload_id(&id)
        .send()
        .await
        .expect("abort");
    assert_eq!(status_used(&srv, S), 0);

    // Complete moves the parts' bytes to the object without counting them twice; a part the
    // completion does not name is released.
    let id = create(&c, S, "obj.bin").await;
    let p1 = part(&c, S, "obj.bin", &id, 1, bytes(5 * MIB, 21))
        .await
        .expect("p1");
    let _unused = part(&c, S, "obj.bin", &id, 2, bytes(4 * MIB, 22))
        .await
        .expect("p2");
    assert_eq!(status_used(&srv, S), 9 * MIB as u64);
    complete(&c, S, "obj.bin", &id, &[(1, &p1)])
        .await
        .expect("complete with part 1 only");
    assert_eq!(status_used(&srv, S), 5 * MIB as u64);

    // The abort-incomplete sweep releases too.
    srv.store()
        .put_lifecycle(
            &srv.admin(),
            S,
            vec![gatehouse_store::model::LifecycleRule {
                id: "abort-1d".into(),
                prefix: String::new(),
                enabled: true,
                expiration_days: None,
                abort_incomplete_days: Some(1),
                noncurrent_days: None,
                newer_noncurrent: None,
                expired_object_delete_marker: false,
                ..Default::default()
            }],
        )
        .await
        .expect("lifecycle");
    let id = create(&c, S, "stale.bin").await;
    part(&c, S, "stale.bin", &id, 1, bytes(4 * MIB, 31))
        .await
        .expect("fits next to obj.bin");
    assert_eq!(
        part(&c, S, "stale.bin", &id, 2, bytes(2 * MIB, 32)).await,
        Err("QuotaExceeded".into())
    );
    assert_eq!(status_used(&srv, S), 9 * MIB as u64);
    let s = srv
        .store()
        .sweep_expiry(gatehouse_store::now_unix_ms() + 2 * 86_400_000, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.uploads_aborted, 1);
    assert_eq!(status_used(&srv, S), 5 * MIB as u64);
    let info = srv.store().show_share(&srv.admin(), "tight").expect("info");
    assert_eq!(info.used_bytes, 5 * MIB as u64);
    // Nothing refused or released left chunks or counters behind.
    stop_and_fsck(srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_count_against_the_server_limit_and_fsck_counts_them() {
    let srv = TestServer::start_with(|raw| {
        raw.s3.max_size = Some(gatehouse::config::Size(12 * MIB as u64))
    })
    .await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    c.put_object()
        .bucket(B)
        .key("src")
        .body(ByteStream::from(vec![1u8; MIB]))
        .send()
        .await
        .expect("src");
    let id = create(&c, B, "a").await;
    part(&c, B, "a", &id, 1, bytes(5 * MIB, 1))
        .await
        .expect("1");
    part(&c, B, "a", &id, 2, bytes(5 * MIB, 2))
        .await
        .expect("2");
    assert_eq!(
        part(&c, B, "a", &id, 3, bytes(5 * MIB, 3)).await,
        Err("QuotaExceeded".into())
    );
    // A plain PUT sees the parts' bytes too.
    let e = c
        .put_object()
        .bucket(B)
        .key("p")
        .body(ByteStream::from(vec![0u8; 3 * MIB]))
        .send()
        .await
        .expect_err("parts hold the room");
    assert_eq!(code(&e), "QuotaExceeded");
    // UploadPartCopy is a part like any other: 1 MiB fits exactly, a second one does not.
    let copy_part = |n: i32| {
        c.upload_part_copy()
            .bucket(B)
            .key("a")
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{B}/src"))
            .send()
    };
    copy_part(3).await.expect("fits exactly");
    let e = copy_part(4).await.expect_err("over the limit");
    assert_eq!(code(&e), "QuotaExceeded");
    assert_eq!(srv.store().total_usage().expect("total"), 12 * MIB as u64);
    // Left in progress: fsck's recount includes the parts.
    stop_and_fsck(srv).await;
}
