//! Authentication: wrong secrets, unsigned requests, presigned URLs, Basic and Bearer.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;

use crate::common::*;

/// A GET of `path` signed with SigV4 headers dated `time`, sent without `drop` if given.
async fn signed_get(
    srv: &TestServer,
    path: &str,
    time: SystemTime,
    drop: Option<&str>,
) -> reqwest::Response {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", srv.addr.to_string().parse().expect("h"));
    gatehouse_s3::auth::sign_request_v4(
        "GET",
        path,
        None,
        &mut headers,
        "UNSIGNED-PAYLOAD",
        &gatehouse_s3::auth::SigningParams {
            access_key: &srv.access,
            secret_key: &srv.secret,
            region: "us-east-1",
            time,
        },
    )
    .expect("sign");
    if let Some(name) = drop {
        headers.remove(name);
    }
    let mut req = reqwest::Client::new().get(srv.url(path));
    for (k, v) in headers.iter() {
        req = req.header(k.as_str(), v.as_bytes());
    }
    req.send().await.expect("send")
}

#[tokio::test]
async fn wrong_secret_unknown_key_and_anonymous_are_denied() {
    let srv = TestServer::start().await;
    let bad = client_with(
        srv.addr,
        &srv.access,
        "wrong-secret-wrong-secret-wrong-secret00",
    );
    let e = bad.list_buckets().send().await.expect_err("denied");
    assert_eq!(code(&e), "SignatureDoesNotMatch");
    let unknown = client_with(srv.addr, "GHNOSUCHKEY000000000", "x");
    let e = unknown.list_buckets().send().await.expect_err("denied");
    assert_eq!(code(&e), "InvalidAccessKeyId");
    let r = reqwest::get(srv.url("/")).await.expect("anon");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().contains_key("x-amz-request-id"));
    assert!(
        r.text()
            .await
            .expect("t")
            .contains("<Code>AccessDenied</Code>")
    );
    srv.stop().await;
}

#[tokio::test]
async fn presigned_get_put_delete_and_expiry() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("pre").send().await.expect("mb");
    let http = reqwest::Client::new();

    let put_url = srv.presign("PUT", "/pre/up%20loaded.txt", 300, SystemTime::now());
    let r = http
        .put(&put_url)
        .body("presigned body")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let get_url = srv.presign("GET", "/pre/up%20loaded.txt", 300, SystemTime::now());
    let r = http.get(&get_url).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("t"), "presigned body");

    // The SDK's own presigner.
    let cfg =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).expect("cfg");
    let p = c
        .get_object()
        .bucket("pre")
        .key("up loaded.txt")
        .presigned(cfg)
        .await
        .expect("presign");
    let r = http.get(p.uri()).send().await.expect("get");
    assert_eq!(r.text().await.expect("t"), "presigned body");

    // Expired: signed 2 hours ago for 1 hour.
    let old = srv.presign(
        "GET",
        "/pre/up%20loaded.txt",
        3600,
        SystemTime::now() - Duration::from_secs(7200),
    );
    let r = http.get(&old).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.expect("t").contains("expired"));
    // Tampered signature.
    let r = http
        .get(get_url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);
    // Expires out of range.
    let r = http
        .get(get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 400);
    // Zero: expired as made (AWS: 403, as an expired URL).
    let r = http
        .get(get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=0"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.expect("t").contains("expired"));

    let del_url = srv.presign("DELETE", "/pre/up%20loaded.txt", 300, SystemTime::now());
    let r = http.delete(&del_url).send().await.expect("del");
    assert_eq!(r.status().as_u16(), 204);
    assert!(
        c.head_object()
            .bucket("pre")
            .key("up loaded.txt")
            .send()
            .await
            .is_err()
    );
    srv.stop().await;
}

#[tokio::test]
async fn clock_skew_is_enforced() {
    let srv = TestServer::start().await;
    // A request dated 20 minutes ago.
    let r = srv.presign(
        "GET",
        "/",
        60,
        SystemTime::now() - Duration::from_secs(1200),
    );
    let resp = reqwest::get(&r).await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    let resp = signed_get(
        &srv,
        "/",
        SystemTime::now() + Duration::from_secs(20 * 60),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.text()
            .await
            .expect("t")
            .contains("RequestTimeTooSkewed")
    );
    srv.stop().await;
}

#[tokio::test]
async fn basic_and_bearer() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("plain")
        .send()
        .await
        .expect("mb");
    srv.client()
        .put_object()
        .bucket("plain")
        .key("f")
        .body(ByteStream::from_static(b"basic"))
        .send()
        .await
        .expect("put");
    let http = reqwest::Client::new();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret));
    let r = http
        .get(srv.url("/plain/f"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.text().await.expect("t"), "basic");
    let r = http
        .get(srv.url("/plain/f"))
        .header(
            "authorization",
            format!("Bearer {}:{}", srv.access, srv.secret),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{}:nope", srv.access));
    let r = http
        .get(srv.url("/plain/f"))
        .header("authorization", format!("Basic {wrong}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);
    srv.stop().await;
}

/// boto3 and aws CLI v1 presign with Signature V2 on custom endpoints by default.
#[tokio::test]
async fn sigv2_presigned_urls_as_boto3_makes_them() {
    use hmac::{Hmac, KeyInit, Mac};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("sigv2").send().await.expect("mb");
    c.put_object()
        .bucket("sigv2")
        .key("a b.txt")
        .body(ByteStream::from_static(b"v2 body"))
        .send()
        .await
        .expect("put");
    let sign = |method: &str, resource: &str, expires: u64| {
        let sts = format!("{method}\n\n\n{expires}\n{resource}");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(srv.secret.as_bytes()).expect("key");
        mac.update(sts.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("now")
        .as_secs();
    let url = |resource: &str, sig: String, exp: u64| {
        format!(
            "{}?AWSAccessKeyId={}&Signature={sig}&Expires={exp}",
            srv.url(resource),
            srv.access
        )
    };
    let r = reqwest::get(url(
        "/sigv2/a%20b.txt",
        sign("GET", "/sigv2/a%20b.txt", now + 60),
        now + 60,
    ))
    .await
    .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("t"), "v2 body");
    let r = reqwest::get(url(
        "/sigv2/a%20b.txt",
        sign("GET", "/sigv2/a%20b.txt", now - 10),
        now - 10,
    ))
    .await
    .expect("get");
    assert_eq!(r.status().as_u16(), 403, "expired");
    let r = reqwest::get(url(
        "/sigv2/a%20b.txt",
        sign("GET", "/sigv2/other", now + 60),
        now + 60,
    ))
    .await
    .expect("get");
    assert_eq!(r.status().as_u16(), 403, "signature for another resource");
    // `?retention` is in minio-go's SigV2 sub-resource list (mc in S3v2 mode) and not in
    // botocore's: either signature is taken (the answer is about the object, not 403).
    for signed in ["/sigv2/a%20b.txt?retention", "/sigv2/a%20b.txt"] {
        let r = reqwest::get(format!(
            "{}?retention&AWSAccessKeyId={}&Signature={}&Expires={}",
            srv.url("/sigv2/a%20b.txt"),
            srv.access,
            sign("GET", signed, now + 60),
            now + 60
        ))
        .await
        .expect("get");
        assert_ne!(r.status().as_u16(), 403, "signed as {signed}");
    }
    srv.stop().await;
}

/// Refusals worded as S3 words them: a presigned URL dated ahead is "not yet valid"
/// (AccessDenied), part of a SigV2 query signature is AccessDenied (not an unsigned request),
/// and a SigV4 header signature without `x-amz-content-sha256` is InvalidRequest.
#[tokio::test]
async fn early_partial_and_hashless_signatures_are_refused_as_s3_does() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("open")
        .send()
        .await
        .expect("create");
    srv.client()
        .put_bucket_policy()
        .bucket("open")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::open"}]}"#)
        .send()
        .await
        .expect("policy");
    let body = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };
    let ahead = srv.presign(
        "GET",
        "/open",
        300,
        SystemTime::now() + Duration::from_secs(20 * 60),
    );
    let (status, text) = body(reqwest::get(&ahead).await.expect("get")).await;
    assert_eq!(status, 403);
    assert!(
        text.contains("AccessDenied") && text.contains("not yet valid"),
        "{text}"
    );
    // The bucket is open to anyone: a request carrying half a SigV2 signature is still refused,
    // not served as an unsigned one.
    assert_eq!(
        reqwest::get(srv.url("/open")).await.expect("get").status(),
        200
    );
    for q in [
        "AWSAccessKeyId=AK&Signature=x",
        "Signature=x&Expires=9999999999",
    ] {
        let (status, text) = body(
            reqwest::get(srv.url(&format!("/open?{q}")))
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, 403, "{q}");
        assert!(
            text.contains("requires the Signature, Expires and AWSAccessKeyId"),
            "{text}"
        );
    }
    let sent = signed_get(
        &srv,
        "/open",
        SystemTime::now(),
        Some("x-amz-content-sha256"),
    )
    .await;
    let (status, text) = body(sent).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("InvalidRequest") && text.contains("x-amz-content-sha256"),
        "{text}"
    );
}

/// A SigV2 query signature does not sign the query's other parameters: SigV4 parameters beside
/// it are refused ("one auth mechanism"), so an `x-amz-*` parameter appended to a SigV2
/// presigned URL can never be taken as a signed header (a PUT turned into a public copy).
#[tokio::test]
async fn sigv2_presigned_urls_take_no_sigv4_parameters() {
    use hmac::{Hmac, KeyInit, Mac};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("v2only").send().await.expect("mb");
    c.put_object()
        .bucket("v2only")
        .key("secret")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .expect("put");
    let exp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("now")
        .as_secs()
        + 60;
    let sts = format!("PUT\n\n\n{exp}\n/v2only/upload");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(srv.secret.as_bytes()).expect("key");
    mac.update(sts.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
    let base = format!(
        "{}?AWSAccessKeyId={}&Signature={sig}&Expires={exp}",
        srv.url("/v2only/upload"),
        srv.access
    );
    let http = reqwest::Client::new();
    let r = http
        .put(format!(
            "{base}&X-Amz-Signature=x&x-amz-copy-source=v2only%2Fsecret&x-amz-acl=public-read"
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Only one auth mechanism"),
        "refused"
    );
    // Without the SigV4 parameter, `x-amz-*` query parameters stay parameters: a plain upload.
    let r = http
        .put(format!("{base}&x-amz-copy-source=v2only%2Fsecret"))
        .body("uploaded")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let got = c
        .get_object()
        .bucket("v2only")
        .key("upload")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"uploaded");
}

/// Every request's signed payload hash is checked, also on operations that read no body: a
/// DELETE signed over bytes it never sent is XAmzContentSHA256Mismatch, and deletes nothing.
#[tokio::test]
async fn a_signed_payload_hash_is_checked_on_bodiless_operations_too() {
    use sha2::Digest;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("hashes").send().await.expect("mb");
    c.put_object()
        .bucket("hashes")
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("put");
    let other = hex::encode(sha2::Sha256::digest(b"bytes never sent"));
    let mut headers = http::HeaderMap::new();
    headers.insert("host", srv.addr.to_string().parse().expect("h"));
    gatehouse_s3::auth::sign_request_v4(
        "DELETE",
        "/hashes/k",
        None,
        &mut headers,
        &other,
        &gatehouse_s3::auth::SigningParams {
            access_key: &srv.access,
            secret_key: &srv.secret,
            region: "us-east-1",
            time: SystemTime::now(),
        },
    )
    .expect("sign");
    let mut req = reqwest::Client::new().delete(srv.url("/hashes/k"));
    for (k, v) in headers.iter() {
        req = req.header(k.as_str(), v.as_bytes());
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("XAmzContentSHA256Mismatch")
    );
    c.head_object()
        .bucket("hashes")
        .key("k")
        .send()
        .await
        .expect("not deleted");
    // Signed over the empty body it sends: as always.
    let r = srv
        .signed("DELETE", "/hashes/k", None, &[], Vec::new())
        .await;
    assert_eq!(r.status(), 204);
}
