//! Issue 17, S3 edges: unsigned `x-amz-*` headers, SigV2 presigned lifetime, refused SSE /
//! object lock / storage classes, unconfigured bucket sub-resources, ListBuckets paging and
//! share aliases, `fs--` in `x-amz-copy-source`, Content-Encoding kept verbatim, ListObjects
//! v1 `<Prefix>` under `encoding-type=url`, ACLs as on an ACL-disabled bucket, answers naming
//! the bucket as addressed, `x-amz-tagging` on CreateMultipartUpload.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectLockMode, ServerSideEncryption, StorageClass,
};
use base64::Engine;
use gatehouse_s3::auth::{SigningParams, presign_url, sign_request_v4};
use gatehouse_store::ops::NewShare;

use crate::common::*;

/// A raw SigV4 request signed over `signed` headers, then sent with `unsigned` added on top:
/// what a party replaying a captured request could send.
async fn replayed(
    srv: &TestServer,
    method: &str,
    path: &str,
    signed: &[(&str, &str)],
    unsigned: &[(&str, &str)],
    body: &[u8],
) -> reqwest::Response {
    use sha2::Digest;
    let mut headers = http::HeaderMap::new();
    headers.insert("host", srv.addr.to_string().parse().expect("host"));
    for (k, v) in signed {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    let hash = hex::encode(sha2::Sha256::digest(body));
    let params = SigningParams {
        access_key: &srv.access,
        secret_key: &srv.secret,
        region: "us-east-1",
        time: SystemTime::now(),
    };
    sign_request_v4(method, path, None, &mut headers, &hash, &params).expect("sign");
    let mut req = reqwest::Client::new().request(method.parse().expect("m"), srv.url(path));
    for (k, v) in headers.iter().filter(|(k, _)| k.as_str() != "host") {
        req = req.header(k.as_str(), v.as_bytes());
    }
    for (k, v) in unsigned {
        req = req.header(*k, *v);
    }
    req.body(body.to_vec()).send().await.expect("send")
}

async fn exists(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    c.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn unsigned_amz_headers_are_refused_before_anything_happens() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("edges").send().await.expect("mb");
    c.put_object()
        .bucket("edges")
        .key("secret.txt")
        .body(ByteStream::from_static(b"top secret"))
        .send()
        .await
        .expect("put");

    // A captured signed PUT, replayed with an unsigned header added.
    for (name, value) in [
        ("x-amz-copy-source", "/edges/secret.txt"),
        ("x-amz-meta-injected", "1"),
        ("x-amz-tagging", "a=b"),
    ] {
        let r = replayed(
            &srv,
            "PUT",
            "/edges/victim.txt",
            &[],
            &[(name, value)],
            b"mine",
        )
        .await;
        assert_eq!(r.status().as_u16(), 403, "{name}");
        let text = r.text().await.expect("t");
        assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
        assert!(
            text.contains("There were headers present in the request which were not signed"),
            "{text}"
        );
        assert!(
            text.contains(&format!("<HeadersNotSigned>{name}</HeadersNotSigned>")),
            "{text}"
        );
        assert!(
            !exists(&c, "edges", "victim.txt").await,
            "{name}: nothing stored"
        );
    }
    // Signed, the same headers work.
    let r = replayed(
        &srv,
        "PUT",
        "/edges/victim.txt",
        &[("x-amz-meta-ok", "1"), ("x-amz-tagging", "a=b")],
        &[],
        b"mine",
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let head = c
        .head_object()
        .bucket("edges")
        .key("victim.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("ok"))
            .map(String::as_str),
        Some("1")
    );

    // A presigned PUT URL (signs only host): extra x-amz-* headers are unsigned.
    let url = srv.presign("PUT", "/edges/pre.txt", 300, SystemTime::now());
    let http = reqwest::Client::new();
    for (name, value) in [
        ("x-amz-copy-source", "/edges/secret.txt"),
        ("x-amz-meta-injected", "1"),
        ("x-amz-tagging", "a=b"),
    ] {
        let r = http
            .put(&url)
            .header(name, value)
            .body("presigned")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 403, "{name}");
        let text = r.text().await.expect("t");
        assert!(text.contains("<HeadersNotSigned>"), "{text}");
        assert!(
            !exists(&c, "edges", "pre.txt").await,
            "{name}: nothing stored"
        );
    }
    let r = http.put(&url).body("presigned").send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let got = c
        .get_object()
        .bucket("edges")
        .key("pre.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"presigned");

    // The SDK's own presigned PUT, sent with the headers it says to send.
    let cfg =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).expect("cfg");
    let pre = c
        .put_object()
        .bucket("edges")
        .key("sdk-pre.txt")
        .content_type("text/plain")
        .presigned(cfg)
        .await
        .expect("presign");
    let mut req = http.put(pre.uri());
    for (k, v) in pre.headers() {
        req = req.header(k, v);
    }
    let r = req.body("sdk presigned").send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);

    // The SDK's ordinary calls sign what they send: metadata, tagging, copy, multipart.
    c.put_object()
        .bucket("edges")
        .key("sdk.txt")
        .metadata("k", "v")
        .tagging("t=1")
        .body(ByteStream::from_static(b"sdk"))
        .send()
        .await
        .expect("sdk put with metadata and tags");
    c.copy_object()
        .bucket("edges")
        .key("sdk-copy.txt")
        .copy_source("edges/sdk.txt")
        .send()
        .await
        .expect("sdk copy");
    let up = c
        .create_multipart_upload()
        .bucket("edges")
        .key("mp.bin")
        .metadata("m", "1")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("edges")
        .key("mp.bin")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(bytes(1000, 7)))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("edges")
        .key("mp.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    srv.stop().await;
}

#[tokio::test]
async fn sigv2_presigned_urls_live_at_most_seven_days() {
    use hmac::{Hmac, KeyInit, Mac};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("v2life").send().await.expect("mb");
    c.put_object()
        .bucket("v2life")
        .key("k")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .expect("put");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("now")
        .as_secs();
    let get = |expires: u64| {
        let sts = format!("GET\n\n\n{expires}\n/v2life/k");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(srv.secret.as_bytes()).expect("key");
        mac.update(sts.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sig = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
        let url = format!(
            "{}?AWSAccessKeyId={}&Signature={sig}&Expires={expires}",
            srv.url("/v2life/k"),
            srv.access
        );
        async move { reqwest::get(url).await.expect("get") }
    };
    assert_eq!(get(now + 6 * 86_400).await.status().as_u16(), 200);
    let r = get(now + 8 * 86_400).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .expect("t")
            .contains("AuthorizationQueryParametersError")
    );
    srv.stop().await;
}

#[tokio::test]
async fn encryption_object_lock_and_storage_classes_are_refused() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("plain").send().await.expect("mb");
    let put = || {
        c.put_object()
            .bucket("plain")
            .key("k")
            .body(ByteStream::from_static(b"data"))
    };
    let not_impl = |r: Result<(), String>, what: &str| {
        assert_eq!(r, Err("NotImplemented".to_string()), "{what}");
    };
    // SSE-C is carried out (tests/it/encryption.rs), over TLS only: this plain-HTTP server
    // refuses it before anything else.
    let tls_only = |r: Result<(), String>, what: &str| {
        assert_eq!(r, Err("InvalidRequest".to_string()), "{what}");
    };
    let key_b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let key_md5 = {
        use md5::Digest;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest([7u8; 32]))
    };
    // SSE-S3 and SSE-KMS are carried out (tests/it/encryption.rs, kms.rs); `aws:kms` without
    // a key id in a bucket without a default key has no key to use (no AWS managed key).
    assert_eq!(
        put()
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        Err("InvalidArgument".to_string()),
        "SSE-KMS put without a key"
    );
    tls_only(
        put()
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key_b64)
            .sse_customer_key_md5(&key_md5)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "SSE-C put",
    );
    not_impl(
        put()
            .storage_class(StorageClass::Glacier)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "GLACIER put",
    );
    // Object lock on a bucket created without it: InvalidRequest, as S3 answers (decision
    // 0039), never a 200 without the lock.
    assert_eq!(
        put()
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                4_000_000_000,
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        Err("InvalidRequest".to_string()),
        "object lock put"
    );
    assert!(!exists(&c, "plain", "k").await, "nothing was stored");
    put()
        .storage_class(StorageClass::Standard)
        .send()
        .await
        .expect("STANDARD is the storage class there is");
    tls_only(
        c.get_object()
            .bucket("plain")
            .key("k")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key_b64)
            .sse_customer_key_md5(&key_md5)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "SSE-C get",
    );
    tls_only(
        c.copy_object()
            .bucket("plain")
            .key("k2")
            .copy_source("plain/k")
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&key_b64)
            .copy_source_sse_customer_key_md5(&key_md5)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "copy with SSE-C source",
    );
    let no_key = |r: Result<(), String>, what: &str| {
        assert_eq!(r, Err("InvalidArgument".to_string()), "{what}");
    };
    no_key(
        c.copy_object()
            .bucket("plain")
            .key("k2")
            .copy_source("plain/k")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "copy with SSE-KMS and no key",
    );
    assert!(!exists(&c, "plain", "k2").await);
    no_key(
        c.create_multipart_upload()
            .bucket("plain")
            .key("mp")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "SSE-KMS multipart with no key",
    );
    let up = c
        .create_multipart_upload()
        .bucket("plain")
        .key("mp")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    tls_only(
        c.upload_part()
            .bucket("plain")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key_b64)
            .sse_customer_key_md5(&key_md5)
            .body(ByteStream::from_static(b"p"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "SSE-C part",
    );
    tls_only(
        c.upload_part_copy()
            .bucket("plain")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .copy_source("plain/k")
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&key_b64)
            .copy_source_sse_customer_key_md5(&key_md5)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "SSE-C part copy",
    );
    // Object lock on an operation that does not take it is refused (decision 0039).
    not_impl(
        c.get_object()
            .bucket("plain")
            .key("k")
            .customize()
            .mutate_request(|r| {
                r.headers_mut()
                    .insert("x-amz-bypass-governance-retention", "true");
            })
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
        "bypass governance on a GET",
    );
    assert!(exists(&c, "plain", "k").await, "not deleted");
    // The message names the header: a key id without aws:kms.
    let r = srv
        .signed(
            "PUT",
            "/plain/named",
            None,
            &[("x-amz-server-side-encryption-aws-kms-key-id", "k")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.expect("t");
    assert!(text.contains("x-amz-server-side-encryption"), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn unconfigured_bucket_subresources_answer_as_aws() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("sub").send().await.expect("mb");
    let e = |r: Result<(), String>| r.expect_err("an error");
    macro_rules! code_of {
        ($call:expr) => {
            e($call.send().await.map(|_| ()).map_err(|e| code(&e)))
        };
    }
    assert_eq!(
        code_of!(c.get_bucket_tagging().bucket("sub")),
        "NoSuchTagSet"
    );
    assert_eq!(
        code_of!(c.get_bucket_cors().bucket("sub")),
        "NoSuchCORSConfiguration"
    );
    assert_eq!(
        code_of!(c.get_bucket_policy().bucket("sub")),
        "NoSuchBucketPolicy"
    );
    assert_eq!(
        code_of!(c.get_bucket_encryption().bucket("sub")),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    assert_eq!(
        code_of!(c.get_object_lock_configuration().bucket("sub")),
        "ObjectLockConfigurationNotFoundError"
    );
    assert_eq!(
        code_of!(c.get_bucket_replication().bucket("sub")),
        "ReplicationConfigurationNotFoundError"
    );
    assert_eq!(
        code_of!(c.get_bucket_website().bucket("sub")),
        "NoSuchWebsiteConfiguration"
    );
    let r = srv.signed("GET", "/sub", Some("policy"), &[], vec![]).await;
    assert_eq!(r.status().as_u16(), 404);
    // Features that are off answer with their empty document.
    let logging = c
        .get_bucket_logging()
        .bucket("sub")
        .send()
        .await
        .expect("logging");
    assert!(logging.logging_enabled().is_none());
    // Setting one is not implemented; deleting one that is not there is done.
    assert_eq!(
        code_of!(
            c.put_bucket_website().bucket("sub").website_configuration(
                aws_sdk_s3::types::WebsiteConfiguration::builder()
                    .index_document(
                        aws_sdk_s3::types::IndexDocument::builder()
                            .suffix("index.html")
                            .build()
                            .expect("index")
                    )
                    .build()
            )
        ),
        "NotImplemented"
    );
    c.delete_bucket_cors()
        .bucket("sub")
        .send()
        .await
        .expect("nothing to delete");
    c.delete_bucket_tagging()
        .bucket("sub")
        .send()
        .await
        .expect("nothing to delete");
    // The bucket must exist, and the caller must be allowed to read it.
    assert_eq!(
        code_of!(c.get_bucket_tagging().bucket("nonesuch")),
        "NoSuchBucket"
    );
    let bob = srv.new_user("bob").await;
    let b = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    assert_eq!(code_of!(b.get_bucket_cors().bucket("sub")), "AccessDenied");
    assert_eq!(
        code_of!(b.delete_bucket_cors().bucket("sub")),
        "AccessDenied"
    );
    srv.stop().await;
}

#[tokio::test]
async fn list_buckets_pages_and_every_listed_name_is_usable() {
    let srv = TestServer::start().await;
    let c = srv.client();
    for b in ["bk1", "bk2", "bk3", "bk4", "ck1"] {
        c.create_bucket().bucket(b).send().await.expect("mb");
    }
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "team-files".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let all: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(all.contains(&"fs--team-files".to_string()), "{all:?}");
    assert!(!all.iter().any(|n| n.contains('+')), "{all:?}");
    // Every listed name works in the same client's next calls.
    for name in &all {
        c.put_object()
            .bucket(name)
            .key("probe.txt")
            .body(ByteStream::from_static(b"probe"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put into {name}: {e:?}"));
        let l = c
            .list_objects_v2()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list {name}: {e:?}"));
        assert_eq!(l.key_count(), Some(1), "{name}");
        let o = c
            .get_object()
            .bucket(name)
            .key("probe.txt")
            .send()
            .await
            .unwrap_or_else(|e| panic!("get from {name}: {e:?}"));
        assert_eq!(body_bytes(o).await, b"probe");
    }
    // Pages of two, in name order, until no continuation token.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_buckets()
            .max_buckets(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(out.buckets().len() <= 2);
        paged.extend(
            out.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_string)),
        );
        match out.continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(paged, sorted);
    assert_eq!(pages, all.len().div_ceil(2));
    let b = c.list_buckets().prefix("b").send().await.expect("prefix");
    assert_eq!(b.prefix(), Some("b"));
    let names: Vec<_> = b.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bk1", "bk2", "bk3", "bk4"]);
    let r = srv
        .signed("GET", "/", Some("max-buckets=0"), &[], vec![])
        .await;
    assert_eq!(r.status().as_u16(), 400);
    srv.stop().await;
}

#[tokio::test]
async fn copy_source_takes_the_share_alias() {
    let srv = TestServer::start().await;
    let admin = srv.admin();
    srv.store()
        .create_share(
            &admin,
            NewShare {
                name: "team".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let c = srv.client();
    c.put_object()
        .bucket("fs--team")
        .key("a.txt")
        .body(ByteStream::from(bytes(6 << 20, 3)))
        .send()
        .await
        .expect("put");
    c.copy_object()
        .bucket("fs--team")
        .key("b.txt")
        .copy_source("fs--team/a.txt")
        .send()
        .await
        .expect("admin copies within the share by its alias");
    // A writer on the share only (no rights anywhere else).
    let w = srv.new_user("writer").await;
    srv.store()
        .bind(
            &admin,
            gatehouse_store::ops::SubjectRef::User(w.user_id.clone()),
            "bucket-write",
            gatehouse_store::rbac::Scope::Bucket("fs+team".into()),
        )
        .await
        .expect("bind");
    let wc = client_with(srv.addr, &w.access_key, &w.secret_key);
    wc.copy_object()
        .bucket("fs--team")
        .key("c.txt")
        .copy_source("fs--team/a.txt")
        .send()
        .await
        .expect("writer copies by the alias");
    let up = wc
        .create_multipart_upload()
        .bucket("fs--team")
        .key("d.bin")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let part = wc
        .upload_part_copy()
        .bucket("fs--team")
        .key("d.bin")
        .upload_id(id)
        .part_number(1)
        .copy_source("fs--team/a.txt")
        .send()
        .await
        .expect("part copy by the alias");
    let etag = part
        .copy_part_result()
        .and_then(|p| p.e_tag())
        .expect("etag")
        .to_string();
    wc.complete_multipart_upload()
        .bucket("fs--team")
        .key("d.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .expect("complete");
    for k in ["b.txt", "c.txt", "d.bin"] {
        let o = c
            .get_object()
            .bucket("fs+team")
            .key(k)
            .send()
            .await
            .expect("get");
        assert_eq!(body_bytes(o).await, bytes(6 << 20, 3), "{k}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn content_encoding_is_kept_verbatim() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("enc").send().await.expect("mb");
    for (sent, kept) in [
        ("gzip, deflate", Some("gzip, deflate")),
        ("aws-chunked,gzip", Some("gzip")),
        ("aws-chunked", None),
    ] {
        let r = srv
            .signed(
                "PUT",
                "/enc/k",
                None,
                &[("content-encoding", sent)],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200, "{sent}");
        let h = c
            .head_object()
            .bucket("enc")
            .key("k")
            .send()
            .await
            .expect("head");
        assert_eq!(h.content_encoding(), kept, "{sent}");
    }
    // The SDK adds aws-chunked to its own value when it streams with a checksum trailer.
    c.put_object()
        .bucket("enc")
        .key("sdk")
        .content_encoding("br")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"zz"))
        .send()
        .await
        .expect("put");
    let h = c
        .head_object()
        .bucket("enc")
        .key("sdk")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_encoding(), Some("br"));
    srv.stop().await;
}

#[tokio::test]
async fn list_objects_v1_prefix_under_url_encoding() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("lv1").send().await.expect("mb");
    c.put_object()
        .bucket("lv1")
        .key("a b/c d")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    // What botocore sends for list_objects(Prefix='a b/'): encoding-type=url, always.
    let r = srv
        .signed(
            "GET",
            "/lv1",
            Some("encoding-type=url&prefix=a%20b%2F&delimiter=%2F"),
            &[],
            vec![],
        )
        .await;
    let text = r.text().await.expect("t");
    assert!(text.contains("<Prefix>a b/</Prefix>"), "{text}");
    assert!(text.contains("<Delimiter>/</Delimiter>"), "{text}");
    assert!(text.contains("<Key>a%20b/c%20d</Key>"), "{text}");
    // ListObjectsV2 encodes Prefix (botocore decodes it there).
    let r = srv
        .signed(
            "GET",
            "/lv1",
            Some("list-type=2&encoding-type=url&prefix=a%20b%2F"),
            &[],
            vec![],
        )
        .await;
    let text = r.text().await.expect("t");
    assert!(text.contains("<Prefix>a%20b/</Prefix>"), "{text}");
    srv.stop().await;
}

/// A bucket with ACLs disabled (Object Ownership BucketOwnerEnforced, decision 0042): an ACL
/// that says what the bucket already is (the owner's full control) is accepted, anything wider
/// is refused with AccessControlListNotSupported and nothing is created or changed; reading an
/// ACL reports the owner's FULL_CONTROL. (Buckets with ACLs in force: `acls.rs`.)
#[tokio::test]
async fn acls_other_than_the_owners_full_control_are_refused() {
    use aws_sdk_s3::types::{
        AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership,
        Permission, Type,
    };
    const REFUSED: &str = "AccessControlListNotSupported";
    let srv = TestServer::start().await;
    let c = srv.client();

    // CreateBucket.
    let e = c
        .create_bucket()
        .bucket("acl-public")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("public bucket");
    assert_eq!(code(&e), REFUSED);
    let e = c
        .create_bucket()
        .bucket("acl-public")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .send()
        .await
        .expect_err("granted bucket");
    assert_eq!(code(&e), REFUSED);
    assert!(c.head_bucket().bucket("acl-public").send().await.is_err());
    c.create_bucket()
        .bucket("acl")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("private bucket");

    // PutObject, CopyObject, CreateMultipartUpload.
    for (key, acl) in [
        ("private", ObjectCannedAcl::Private),
        ("owner-full", ObjectCannedAcl::BucketOwnerFullControl),
    ] {
        c.put_object()
            .bucket("acl")
            .key(key)
            .acl(acl)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("accepted canned ACL");
    }
    for acl in [
        ObjectCannedAcl::PublicRead,
        ObjectCannedAcl::PublicReadWrite,
        ObjectCannedAcl::AuthenticatedRead,
        ObjectCannedAcl::BucketOwnerRead,
    ] {
        let e = c
            .put_object()
            .bucket("acl")
            .key("public")
            .acl(acl.clone())
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("wider ACL");
        assert_eq!(code(&e), REFUSED, "{acl:?}");
    }
    let e = c
        .put_object()
        .bucket("acl")
        .key("public")
        .grant_full_control("id=\"someone-else\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("grant header");
    assert_eq!(code(&e), REFUSED);
    let e = c
        .copy_object()
        .bucket("acl")
        .key("public")
        .copy_source("acl/private")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("public copy");
    assert_eq!(code(&e), REFUSED);
    let e = c
        .create_multipart_upload()
        .bucket("acl")
        .key("public")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("public upload");
    assert_eq!(code(&e), REFUSED);
    assert!(!exists(&c, "acl", "public").await);
    let ups = c
        .list_multipart_uploads()
        .bucket("acl")
        .send()
        .await
        .expect("uploads");
    assert!(ups.uploads().is_empty());

    // PutBucketAcl / PutObjectAcl: canned, then the XML policy GetBucketAcl returns.
    let got = c.get_bucket_acl().bucket("acl").send().await.expect("acl");
    let owner = got.owner().cloned().expect("owner");
    let owner_id = owner.id().expect("owner id").to_string();
    assert_eq!(got.grants().len(), 1);
    assert_eq!(got.grants()[0].permission(), Some(&Permission::FullControl));
    let grant =
        |grantee: Grantee, p: Permission| Grant::builder().grantee(grantee).permission(p).build();
    let me = Grantee::builder()
        .r#type(Type::CanonicalUser)
        .id(&owner_id)
        .build()
        .expect("grantee");
    let everyone = Grantee::builder()
        .r#type(Type::Group)
        .uri("http://acs.amazonaws.com/groups/global/AllUsers")
        .build()
        .expect("grantee");
    let owner_only = AccessControlPolicy::builder()
        .owner(owner.clone())
        .grants(grant(me.clone(), Permission::FullControl))
        .build();
    let public = AccessControlPolicy::builder()
        .owner(owner.clone())
        .grants(grant(me.clone(), Permission::FullControl))
        .grants(grant(everyone, Permission::Read))
        .build();
    c.put_bucket_acl()
        .bucket("acl")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("canned private");
    c.put_bucket_acl()
        .bucket("acl")
        .access_control_policy(owner_only.clone())
        .send()
        .await
        .expect("owner-only policy");
    let e = c
        .put_bucket_acl()
        .bucket("acl")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .expect_err("public bucket ACL");
    assert_eq!(code(&e), REFUSED);
    let e = c
        .put_bucket_acl()
        .bucket("acl")
        .access_control_policy(public.clone())
        .send()
        .await
        .expect_err("public policy");
    assert_eq!(code(&e), REFUSED);
    c.put_object_acl()
        .bucket("acl")
        .key("private")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .expect("canned object ACL");
    c.put_object_acl()
        .bucket("acl")
        .key("private")
        .access_control_policy(owner_only)
        .send()
        .await
        .expect("owner-only object policy");
    let e = c
        .put_object_acl()
        .bucket("acl")
        .key("private")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("public object ACL");
    assert_eq!(code(&e), REFUSED);
    let e = c
        .put_object_acl()
        .bucket("acl")
        .key("private")
        .access_control_policy(public)
        .send()
        .await
        .expect_err("public object policy");
    assert_eq!(code(&e), REFUSED);

    // Reading still reports the owner's full control and nothing else.
    let got = c
        .get_object_acl()
        .bucket("acl")
        .key("private")
        .send()
        .await
        .expect("object acl");
    assert_eq!(got.grants().len(), 1);
    assert_eq!(got.grants()[0].permission(), Some(&Permission::FullControl));
    let grantee = got.grants()[0].grantee().expect("grantee");
    assert_eq!(grantee.id(), Some(owner_id.as_str()));
}

/// Answers that name the bucket carry the name the client addressed: a share addressed as
/// `fs--team` is `fs--team` in ListObjects `<Name>`, multipart `<Bucket>` and the
/// CompleteMultipartUpload `<Location>`, not `fs+team` (which botocore refuses to send back).
#[tokio::test]
async fn answers_name_the_bucket_as_the_client_addressed_it() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "team".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let c = srv.client();
    c.put_object()
        .bucket("fs--team")
        .key("a.txt")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .expect("put");
    let v2 = c
        .list_objects_v2()
        .bucket("fs--team")
        .send()
        .await
        .expect("v2");
    assert_eq!(v2.name(), Some("fs--team"));
    let v1 = c
        .list_objects()
        .bucket("fs--team")
        .send()
        .await
        .expect("v1");
    assert_eq!(v1.name(), Some("fs--team"));
    let vs = c
        .list_object_versions()
        .bucket("fs--team")
        .send()
        .await
        .expect("versions");
    assert_eq!(vs.name(), Some("fs--team"));

    let up = c
        .create_multipart_upload()
        .bucket("fs--team")
        .key("big.bin")
        .send()
        .await
        .expect("create");
    assert_eq!(up.bucket(), Some("fs--team"));
    let id = up.upload_id().expect("id").to_string();
    let part = c
        .upload_part()
        .bucket("fs--team")
        .key("big.bin")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    let parts = c
        .list_parts()
        .bucket("fs--team")
        .key("big.bin")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(parts.bucket(), Some("fs--team"));
    let ups = c
        .list_multipart_uploads()
        .bucket("fs--team")
        .send()
        .await
        .expect("list uploads");
    assert_eq!(ups.bucket(), Some("fs--team"));
    let done = c
        .complete_multipart_upload()
        .bucket("fs--team")
        .key("big.bin")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert_eq!(done.bucket(), Some("fs--team"));
    assert_eq!(done.location(), Some("/fs--team/big.bin"));

    // Addressed by its canonical name, the answers say that name.
    let r = srv
        .signed("GET", "/fs%2Bteam", Some("list-type=2"), &[], vec![])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("<Name>fs+team</Name>"), "{body}");
}

/// `x-amz-tagging` on CreateMultipartUpload is judged as on PutObject, and the tags land on the
/// completed object.
#[tokio::test]
async fn multipart_upload_tags_are_validated_and_kept() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("mptags").send().await.expect("mb");
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let long_key = format!("{}=v", "k".repeat(129));
    for (bad, want) in [
        (eleven.join("&"), "BadRequest"),
        ("a=1&a=2".to_string(), "InvalidTag"),
        (long_key, "InvalidTag"),
    ] {
        let e = c
            .create_multipart_upload()
            .bucket("mptags")
            .key("t.bin")
            .tagging(&bad)
            .send()
            .await
            .expect_err("bad tags");
        assert_eq!(code(&e), want, "{bad}");
    }
    let ups = c
        .list_multipart_uploads()
        .bucket("mptags")
        .send()
        .await
        .expect("uploads");
    assert!(ups.uploads().is_empty(), "a refused upload was created");

    let up = c
        .create_multipart_upload()
        .bucket("mptags")
        .key("t.bin")
        .tagging("team=blue&stage=a%20b")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let part = c
        .upload_part()
        .bucket("mptags")
        .key("t.bin")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"tagged"))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("mptags")
        .key("t.bin")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let tags = c
        .get_object_tagging()
        .bucket("mptags")
        .key("t.bin")
        .send()
        .await
        .expect("tags");
    let mut got: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("stage".to_string(), "a b".to_string()),
            ("team".to_string(), "blue".to_string())
        ]
    );
    let head = c
        .head_object()
        .bucket("mptags")
        .key("t.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.tag_count(), Some(2));
}

/// Setting an ACL, even the owner-only one that changes nothing, is a write: a reader gets
/// AccessDenied on PutObjectAcl, a writer may set an object's ACL but not the bucket's.
#[tokio::test]
async fn setting_an_acl_needs_write_permission() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
    let srv = TestServer::start().await;
    let admin = srv.admin();
    let c = srv.client();
    c.create_bucket().bucket("aclrw").send().await.expect("mb");
    c.put_object()
        .bucket("aclrw")
        .key("o")
        .body(ByteStream::from_static(b"o"))
        .send()
        .await
        .expect("put");
    let mut clients = Vec::new();
    for (user, role) in [("reader", "bucket-read"), ("writer", "bucket-write")] {
        let u = srv.new_user(user).await;
        srv.store()
            .bind(
                &admin,
                gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
                role,
                gatehouse_store::rbac::Scope::Bucket("aclrw".into()),
            )
            .await
            .expect("bind");
        clients.push(client_with(srv.addr, &u.access_key, &u.secret_key));
    }
    let (reader, writer) = (&clients[0], &clients[1]);
    reader
        .get_object_acl()
        .bucket("aclrw")
        .key("o")
        .send()
        .await
        .expect("a reader reads the ACL");
    let e = reader
        .put_object_acl()
        .bucket("aclrw")
        .key("o")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .expect_err("a reader sets no ACL");
    assert_eq!(code(&e), "AccessDenied");
    writer
        .put_object_acl()
        .bucket("aclrw")
        .key("o")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .expect("a writer sets an object's ACL");
    let e = writer
        .put_bucket_acl()
        .bucket("aclrw")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect_err("a writer does not set the bucket's ACL");
    assert_eq!(code(&e), "AccessDenied");
    c.put_bucket_acl()
        .bucket("aclrw")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("the admin does");
}

/// Bucket tagging: tags set, read back in order, replaced and deleted; refused as AWS refuses
/// them (more than 50, a bad key or value, a key twice, the `aws:` namespace) with nothing
/// changed; another user may neither read nor set them.
#[tokio::test]
async fn bucket_tags_round_trip_and_are_checked() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("tagged").send().await.expect("mb");
    let tagging = |pairs: &[(&str, &str)]| {
        Tagging::builder()
            .set_tag_set(Some(
                pairs
                    .iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"))
                    .collect(),
            ))
            .build()
            .expect("tagging")
    };
    let read = || async {
        c.get_bucket_tagging()
            .bucket("tagged")
            .send()
            .await
            .map(|o| {
                o.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect::<Vec<_>>()
            })
    };
    c.put_bucket_tagging()
        .bucket("tagged")
        .tagging(tagging(&[("team", "data"), ("cost centre", "a/b")]))
        .send()
        .await
        .expect("PutBucketTagging");
    assert_eq!(
        read().await.expect("tags"),
        [
            ("team".to_string(), "data".to_string()),
            ("cost centre".to_string(), "a/b".to_string())
        ]
    );
    // A put replaces the whole set.
    c.put_bucket_tagging()
        .bucket("tagged")
        .tagging(tagging(&[("env", "prod")]))
        .send()
        .await
        .expect("replace");
    assert_eq!(
        read().await.expect("tags"),
        [("env".to_string(), "prod".to_string())]
    );
    let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    let fifty_one: Vec<(&str, &str)> = fifty_one
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for bad in [
        fifty_one,
        vec![("k", "v"), ("k", "w")],
        vec![("aws:owner", "me")],
        vec![("bad<key", "v")],
    ] {
        let e = c
            .put_bucket_tagging()
            .bucket("tagged")
            .tagging(tagging(&bad))
            .send()
            .await
            .expect_err("refused");
        assert_eq!(code(&e), "InvalidTag", "{bad:?}");
    }
    assert_eq!(
        read().await.expect("unchanged"),
        [("env".to_string(), "prod".to_string())]
    );
    // Others may not read or change them.
    let bob = srv.new_user("bob").await;
    let b = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    let e = b
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .expect_err("bob reads");
    assert_eq!(code(&e), "AccessDenied");
    let e = b
        .put_bucket_tagging()
        .bucket("tagged")
        .tagging(tagging(&[("mine", "now")]))
        .send()
        .await
        .expect_err("bob writes");
    assert_eq!(code(&e), "AccessDenied");
    c.delete_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .expect("DeleteBucketTagging");
    let e = read().await.expect_err("none left");
    assert_eq!(code(&e), "NoSuchTagSet");
    srv.stop().await;
}

/// A presigned URL whose query carries `x-amz-*` headers (as the JavaScript SDK v3's presigner
/// moves them there, signed).
fn presigned_with(srv: &TestServer, method: &str, path: &str, query: &str) -> String {
    let q = presign_url(
        method,
        path,
        Some(query),
        &srv.addr.to_string(),
        300,
        &SigningParams {
            access_key: &srv.access,
            secret_key: &srv.secret,
            region: "us-east-1",
            time: SystemTime::now(),
        },
    )
    .expect("presign");
    format!("http://{}{}?{}", srv.addr, path, q)
}

#[tokio::test]
async fn a_presigned_urls_x_amz_query_parameters_are_its_headers() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("presigned")
        .send()
        .await
        .expect("create");
    let http = reqwest::Client::new();
    // Metadata and tags in the query: kept as if sent as headers.
    let url = presigned_with(
        &srv,
        "PUT",
        "/presigned/k",
        "x-amz-meta-color=blue&x-amz-tagging=team%3Dred",
    );
    let r = http.put(url).body("hello").send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let head = c
        .head_object()
        .bucket("presigned")
        .key("k")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    let tags = c
        .get_object_tagging()
        .bucket("presigned")
        .key("k")
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].key(), "team");
    // A refused header is refused from the query too, and nothing is stored.
    let url = presigned_with(
        &srv,
        "PUT",
        "/presigned/cold",
        "x-amz-storage-class=GLACIER",
    );
    let r = http.put(url).body("x").send().await.expect("send");
    assert_eq!(r.status(), 501);
    // The same header also sent, unsigned, with another value: refused (an unsigned `x-amz-*`
    // header is refused before anything else), never one of the two values picked.
    let url = presigned_with(&srv, "PUT", "/presigned/two", "x-amz-meta-color=blue");
    let r = http
        .put(url)
        .header("x-amz-meta-color", "green")
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    for k in ["cold", "two"] {
        let e = c
            .head_object()
            .bucket("presigned")
            .key(k)
            .send()
            .await
            .expect_err("not stored");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    }
    // Checksum parameters are not read from a query (S3 does not: the JavaScript SDK signs an
    // empty body's CRC32 into every presigned PutObject).
    let url = presigned_with(
        &srv,
        "PUT",
        "/presigned/crc",
        "x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32",
    );
    let r = http.put(url).body("not empty").send().await.expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_range_under_an_if_range_the_object_no_longer_matches_gets_the_whole_object() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("ifrange")
        .send()
        .await
        .expect("create");
    let old = c
        .put_object()
        .bucket("ifrange")
        .key("k")
        .body(ByteStream::from_static(b"old bytes"))
        .send()
        .await
        .expect("put");
    let old_etag = old.e_tag().expect("etag").to_string();
    let new = c
        .put_object()
        .bucket("ifrange")
        .key("k")
        .body(ByteStream::from_static(b"new contents"))
        .send()
        .await
        .expect("replace");
    let new_etag = new.e_tag().expect("etag").to_string();
    let head = c
        .head_object()
        .bucket("ifrange")
        .key("k")
        .send()
        .await
        .expect("head");
    let modified = head
        .last_modified()
        .expect("last modified")
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .expect("date");
    let http = reqwest::Client::new();
    let get = |if_range: String| {
        let url = srv.presign("GET", "/ifrange/k", 300, SystemTime::now());
        let http = http.clone();
        async move {
            let r = http
                .get(url)
                .header("range", "bytes=0-2")
                .header("if-range", if_range)
                .send()
                .await
                .expect("send");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    // A download resumed with the replaced object's tag: the whole new object, not a splice.
    assert_eq!(get(old_etag).await, (200, "new contents".to_string()));
    assert_eq!(
        get(format!("W/{new_etag}")).await.0,
        200,
        "a weak tag never matches"
    );
    assert_eq!(get(new_etag).await, (206, "new".to_string()));
    assert_eq!(get(modified).await, (206, "new".to_string()));
    assert_eq!(
        get("Mon, 01 Jan 2001 00:00:00 GMT".into()).await.0,
        200,
        "another date"
    );
}

#[tokio::test]
async fn part_numbers_storage_classes_and_getpart_are_answered_as_s3_does() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("partnums")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("partnums")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let e = c
        .get_object()
        .bucket("partnums")
        .key("k")
        .part_number(10_001)
        .send()
        .await
        .expect_err("past the last part number there is");
    assert_eq!(code(&e), "InvalidArgument");
    let e = c
        .put_object()
        .bucket("partnums")
        .key("f")
        .storage_class(StorageClass::from("FROZEN"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no such class");
    assert_eq!(code(&e), "InvalidStorageClass");
    let e = c
        .put_object()
        .bucket("partnums")
        .key("g")
        .storage_class(StorageClass::DeepArchive)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a class not offered");
    assert_eq!(code(&e), "NotImplemented");
    // GET ?uploadId&partNumber asks for one part's bytes (GetPart), not the part list.
    let up = c
        .create_multipart_upload()
        .bucket("partnums")
        .key("m")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let r = srv
        .signed(
            "GET",
            "/partnums/m",
            Some(&format!("partNumber=1&uploadId={id}")),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status(), 501);
    assert!(r.text().await.unwrap_or_default().contains("GetPart"));
    // Tags with CreateBucket would be dropped: refused, and no bucket is made.
    let r = srv
        .signed(
            "PUT",
            "/tagged-at-birth",
            None,
            &[],
            b"<CreateBucketConfiguration><Tags><Tag><Key>a</Key><Value>1</Value></Tag></Tags></CreateBucketConfiguration>".to_vec(),
        )
        .await;
    assert_eq!(r.status(), 501);
    let e = c
        .head_bucket()
        .bucket("tagged-at-birth")
        .send()
        .await
        .expect_err("not made");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
}

/// A checksum header whose value is base64 of the wrong length for its algorithm is no
/// checksum: InvalidRequest, as S3 answers, not BadDigest after the body was read.
#[tokio::test]
async fn a_checksum_of_the_wrong_length_is_invalid_not_a_mismatch() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("sums")
        .send()
        .await
        .expect("create");
    for (header, value) in [
        ("x-amz-checksum-crc32", "AAAA"),
        ("x-amz-checksum-sha256", "AAAAAA=="),
    ] {
        let r = srv
            .signed("PUT", "/sums/k", None, &[(header, value)], b"data".to_vec())
            .await;
        assert_eq!(r.status(), 400, "{header}");
        let text = r.text().await.unwrap_or_default();
        assert!(
            text.contains("InvalidRequest") && text.contains("is invalid"),
            "{text}"
        );
    }
    let e = c
        .head_object()
        .bucket("sums")
        .key("k")
        .send()
        .await
        .expect_err("nothing stored");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
}
