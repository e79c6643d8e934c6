//! Conditional writes (`If-Match`, `If-None-Match: *`) on PutObject, CopyObject's destination
//! and CompleteMultipartUpload: decided inside the store's commit, so racing writers cannot
//! both pass, and never through the caller's read permission.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::{Rule, Scope};

use crate::common::*;

const B: &str = "cond";

async fn put(c: &Client, key: &str, body: &'static [u8]) -> Result<String, String> {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_string())
        .map_err(|e| code(&e))
}

async fn get(c: &Client, key: &str) -> Vec<u8> {
    body_bytes(c.get_object().bucket(B).key(key).send().await.expect("get")).await
}

#[tokio::test]
async fn put_if_none_match_and_if_match_are_kept() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");

    // If-None-Match: * creates once, then refuses without touching the object.
    let put_new = |body: &'static [u8]| {
        c.put_object()
            .bucket(B)
            .key("k")
            .if_none_match("*")
            .body(ByteStream::from_static(body))
            .send()
    };
    let first = put_new(b"one").await.expect("free key");
    let e = put_new(b"two").await.expect_err("taken");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert_eq!(get(&c, "k").await, b"one");

    // If-Match: the current ETag passes, another one is refused, a missing key is 404.
    let etag = first.e_tag().expect("etag").to_string();
    let put_match = |key: &'static str, tag: String, body: &'static [u8]| {
        c.put_object()
            .bucket(B)
            .key(key)
            .if_match(tag)
            .body(ByteStream::from_static(body))
            .send()
    };
    let e = put_match("k", "\"0123456789abcdef0123456789abcdef\"".into(), b"x")
        .await
        .expect_err("stale etag");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&c, "k").await, b"one");
    let second = put_match("k", etag.clone(), b"three")
        .await
        .expect("current etag");
    assert_eq!(get(&c, "k").await, b"three");
    let e = put_match("k", etag, b"four")
        .await
        .expect_err("the etag it replaced");
    assert_eq!(code(&e), "PreconditionFailed");
    let e = put_match("absent", second.e_tag().expect("etag").into(), b"x")
        .await
        .expect_err("no object");
    assert_eq!(code(&e), "NoSuchKey");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));

    // If-None-Match with an ETag is not something S3 does on writes: refused, nothing stored.
    let r = srv
        .signed(
            "PUT",
            &format!("/{B}/etag-inm"),
            None,
            &[("if-none-match", "\"abc\"")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 501);
    let text = r.text().await.expect("text");
    assert!(text.contains("<Code>NotImplemented</Code>"), "{text}");
    assert_eq!(put(&c, "etag-inm", b"y").await.map(drop), Ok(()));
}

#[tokio::test]
async fn racing_if_none_match_puts_give_exactly_one_success() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    for round in 0..3 {
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..12u8)
            .map(|i| {
                let (c, key) = (c.clone(), key.clone());
                tokio::spawn(async move {
                    c.put_object()
                        .bucket(B)
                        .key(key)
                        .if_none_match("*")
                        .body(ByteStream::from(vec![i; 1000 + usize::from(i)]))
                        .send()
                        .await
                        .map(|_| i)
                        .map_err(|e| code(&e))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("join") {
                Ok(i) => winners.push(i),
                Err(code) => assert_eq!(code, "PreconditionFailed"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let w = winners[0];
        assert_eq!(get(&c, &key).await, vec![w; 1000 + usize::from(w)]);
    }
}

#[tokio::test]
async fn write_only_user_gets_the_same_answers() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    put(&c, "held", b"original").await.expect("seed");
    let store = srv.store();
    let admin = srv.admin();
    store
        .create_role(
            &admin,
            "writer-only",
            "put only",
            vec![Rule::parse("put", "objects").expect("rule")],
        )
        .await
        .expect("role");
    let u = srv.new_user("wo").await;
    store
        .bind(
            &admin,
            SubjectRef::User("wo".into()),
            "writer-only",
            Scope::Bucket(B.into()),
        )
        .await
        .expect("bind");
    let w = client_with(srv.addr, &u.access_key, &u.secret_key);
    // It cannot read, so the old gateway check (a GET as the caller) saw "absent" and let the
    // write through.
    let e = w
        .get_object()
        .bucket(B)
        .key("held")
        .send()
        .await
        .expect_err("no read");
    assert_eq!(code(&e), "AccessDenied");
    let e = w
        .put_object()
        .bucket(B)
        .key("held")
        .if_none_match("*")
        .body(ByteStream::from_static(b"clobbered"))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&c, "held").await, b"original");
    w.put_object()
        .bucket(B)
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .expect("free key");
    // If-Match is decided on the stored ETag whatever the caller may read: a wrong one is 412
    // (nothing written), the current one (told by someone who can read) writes.
    let e = w
        .put_object()
        .bucket(B)
        .key("held")
        .if_match("\"whatever\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("another ETag");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&c, "held").await, b"original");
    let current = c
        .head_object()
        .bucket(B)
        .key("held")
        .send()
        .await
        .expect("head")
        .e_tag
        .expect("etag");
    w.put_object()
        .bucket(B)
        .key("held")
        .if_match(current)
        .body(ByteStream::from_static(b"replaced"))
        .send()
        .await
        .expect("the current ETag");
    assert_eq!(get(&c, "held").await, b"replaced");
}

#[tokio::test]
async fn copy_destination_conditions() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    put(&c, "src", b"source").await.expect("src");
    let dst_etag = put(&c, "dst", b"dest").await.expect("dst");
    let copy = |extra: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let mut h: Vec<(&str, &str)> = vec![("x-amz-copy-source", "/cond/src")];
            h.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            let r = srv.signed("PUT", "/cond/dst", None, &h, Vec::new()).await;
            let status = r.status().as_u16();
            (status, r.text().await.expect("text"))
        }
    };
    let (st, text) = copy(vec![("if-none-match", "*".into())]).await;
    assert_eq!(st, 412, "{text}");
    assert!(text.contains("PreconditionFailed"), "{text}");
    assert_eq!(get(&c, "dst").await, b"dest");
    let (st, text) = copy(vec![("if-match", "\"feedface\"".into())]).await;
    assert_eq!(st, 412, "{text}");
    assert_eq!(get(&c, "dst").await, b"dest");
    let (st, text) = copy(vec![("if-match", dst_etag)]).await;
    assert_eq!(st, 200, "{text}");
    assert_eq!(get(&c, "dst").await, b"source");
    // A free destination with If-None-Match: * is written.
    let r = srv
        .signed(
            "PUT",
            "/cond/new",
            None,
            &[("x-amz-copy-source", "/cond/src"), ("if-none-match", "*")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get(&c, "new").await, b"source");
}

#[tokio::test]
async fn complete_multipart_upload_conditions() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    let old = put(&c, "mp", b"older").await.expect("seed");
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string();
    let p = c
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart body"))
        .send()
        .await
        .expect("part");
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(p.e_tag().expect("etag"))
                .build(),
        )
        .build();
    let e = c
        .complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .if_none_match("*")
        .multipart_upload(parts.clone())
        .send()
        .await
        .expect_err("key exists");
    assert_eq!(code(&e), "PreconditionFailed");
    let e = c
        .complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .if_match("\"not-it\"")
        .multipart_upload(parts.clone())
        .send()
        .await
        .expect_err("other etag");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&c, "mp").await, b"older");
    // The refused completions left the upload as it was: the right condition completes it.
    c.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .if_match(old)
        .multipart_upload(parts)
        .send()
        .await
        .expect("current etag");
    assert_eq!(get(&c, "mp").await, b"multipart body");
}

#[tokio::test]
async fn delete_if_match_is_decided_in_the_commit_and_other_conditions_are_refused() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket(B).send().await.expect("mb");
    let etag = put(&c, "gone", b"bytes").await.expect("put");
    let delete = |h: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = srv
                .signed("DELETE", "/cond/gone", None, &h, Vec::new())
                .await;
            let status = r.status().as_u16();
            (status, r.text().await.expect("text"))
        }
    };
    // Another ETag: 412, the object stays.
    let (st, text) = delete(vec![("if-match", "\"0123\"".into())]).await;
    assert_eq!(st, 412, "{text}");
    assert_eq!(get(&c, "gone").await, b"bytes");
    // Conditions a delete does not implement are refused by name, never ignored.
    for h in ["if-none-match", "x-amz-if-match-size"] {
        let (st, text) = delete(vec![(h, "*".into())]).await;
        assert_eq!(st, 501, "{h}: {text}");
        assert!(text.contains(h), "{text}");
    }
    assert_eq!(get(&c, "gone").await, b"bytes");
    // The current ETag: deleted; then If-Match finds no object.
    let (st, text) = delete(vec![("if-match", etag.clone())]).await;
    assert_eq!(st, 204, "{text}");
    let (st, text) = delete(vec![("if-match", etag)]).await;
    assert_eq!(st, 404, "{text}");
}
