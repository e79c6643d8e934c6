//! Browser uploads, POST Object (issue 22): a SigV4-signed POST policy document with its
//! conditions, `${filename}`, metadata and content type from form fields, success_action_status
//! and _redirect, anonymous POSTs only where a bucket policy allows them, and the AWS errors
//! for a bad signature, an expired policy, a field outside the conditions and a file outside
//! content-length-range (nothing stored each time). boto3's generate_presigned_post is driven
//! against the server in tests/cli/run_all.sh; Chromium posts a form in tests/browser.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::common::*;

const BOUNDARY: &str = "----gatehouse-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart/form-data body: the fields in order, then the file.
fn form(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(file);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

/// The SigV4 POST fields for `policy` (a JSON document), signed with the admin's secret.
fn signed_fields(srv: &TestServer, policy: &str) -> Vec<(String, String)> {
    let now = std::time::SystemTime::now();
    let amz_date = gatehouse_s3::auth::sigv4::format_amz_date(now);
    let day = &amz_date[..8];
    let encoded = base64::engine::general_purpose::STANDARD.encode(policy);
    let key = gatehouse_s3::auth::sigv4::signing_key(&srv.secret, day, "us-east-1");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("key");
    mac.update(encoded.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    vec![
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        (
            "x-amz-credential".into(),
            format!("{}/{day}/us-east-1/s3/aws4_request", srv.access),
        ),
        ("x-amz-date".into(), amz_date.clone()),
        ("policy".into(), encoded),
        ("x-amz-signature".into(), signature),
    ]
}

fn expires_in(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("date")
}

async fn post(srv: &TestServer, bucket: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(srv.url(&format!("/{bucket}")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("origin", "https://uploader.example")
        .body(body)
        .send()
        .await
        .expect("send")
}

async fn stored(srv: &TestServer, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let r = srv
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    match r {
        Ok(o) => Some(body_bytes(o).await),
        Err(_) => None,
    }
}

fn policy(bucket: &str, expiration: &str, extra: &str) -> String {
    format!(
        r#"{{"expiration":"{expiration}","conditions":[{{"bucket":"{bucket}"}},["starts-with","$key","uploads/"],["starts-with","$Content-Type","image/"],["content-length-range",1,1024],{{"success_action_status":"201"}},["starts-with","$x-amz-meta-owner",""],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},["starts-with","$x-amz-credential",""],["starts-with","$x-amz-date",""]{extra}]}}"#
    )
}

#[tokio::test]
async fn a_signed_form_uploads_within_its_policy() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("drop")
        .send()
        .await
        .expect("create");
    let mut fields = signed_fields(&srv, &policy("drop", &expires_in(600), ""));
    for (k, v) in [
        ("key", "uploads/${filename}"),
        ("Content-Type", "image/png"),
        ("success_action_status", "201"),
        ("x-amz-meta-owner", "alice"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post(&srv, "drop", form(&pairs, "cat.png", b"\x89PNG fake image")).await;
    let status = r.status();
    let headers = r.headers().clone();
    let xml = r.text().await.expect("body");
    assert_eq!(status, 201, "{xml}");
    assert!(headers.get("etag").is_some());
    assert!(xml.contains("<Key>uploads/cat.png</Key>"), "{xml}");
    assert!(xml.contains("<Bucket>drop</Bucket>"), "{xml}");
    assert_eq!(
        stored(&srv, "drop", "uploads/cat.png").await.as_deref(),
        Some(&b"\x89PNG fake image"[..])
    );
    let head = srv
        .client()
        .head_object()
        .bucket("drop")
        .key("uploads/cat.png")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("alice")
    );

    // Each refusal stores nothing.
    type Refusal<'a> = (&'a str, Vec<(String, String)>, &'a [u8], u16, &'a str);
    let refusals: Vec<Refusal> = vec![
        // The key outside starts-with.
        (
            "elsewhere/x",
            signed_fields(&srv, &policy("drop", &expires_in(600), "")),
            b"data",
            403,
            "AccessDenied",
        ),
        // Expired.
        (
            "uploads/old",
            signed_fields(&srv, &policy("drop", &expires_in(-60), "")),
            b"data",
            403,
            "AccessDenied",
        ),
        // Too large for content-length-range.
        (
            "uploads/big",
            signed_fields(&srv, &policy("drop", &expires_in(600), "")),
            &[7u8; 2048],
            400,
            "EntityTooLarge",
        ),
    ];
    for (key, mut fields, file, status, code) in refusals {
        for (k, v) in [
            ("key", key),
            ("Content-Type", "image/png"),
            ("success_action_status", "201"),
            ("x-amz-meta-owner", "bob"),
        ] {
            fields.push((k.into(), v.into()));
        }
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = post(&srv, "drop", form(&pairs, "f", file)).await;
        assert_eq!(r.status(), status, "{key}");
        let body = r.text().await.expect("body");
        assert!(
            body.contains(&format!("<Code>{code}</Code>")),
            "{key}: {body}"
        );
        assert_eq!(stored(&srv, "drop", key).await, None, "{key}");
    }

    // A field no condition covers.
    let mut fields = signed_fields(&srv, &policy("drop", &expires_in(600), ""));
    for (k, v) in [
        ("key", "uploads/extra"),
        ("Content-Type", "image/png"),
        ("success_action_status", "201"),
        ("x-amz-meta-owner", "bob"),
        ("x-amz-meta-sneaky", "1"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post(&srv, "drop", form(&pairs, "f", b"x")).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("Extra input fields"));

    // A signature made with the wrong secret.
    let mut fields = signed_fields(&srv, &policy("drop", &expires_in(600), ""));
    if let Some(sig) = fields.iter_mut().find(|(k, _)| k == "x-amz-signature") {
        sig.1 = "0".repeat(64);
    }
    for (k, v) in [
        ("key", "uploads/forged"),
        ("Content-Type", "image/png"),
        ("success_action_status", "201"),
        ("x-amz-meta-owner", "eve"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post(&srv, "drop", form(&pairs, "f", b"x")).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
    assert_eq!(stored(&srv, "drop", "uploads/forged").await, None);
}

#[tokio::test]
async fn an_anonymous_form_needs_a_policy_that_allows_it() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("inbox")
        .send()
        .await
        .expect("create");
    let fields = [
        ("key", "drop/${filename}"),
        ("success_action_status", "200"),
    ];
    let r = post(&srv, "inbox", form(&fields, "note.txt", b"hello")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(stored(&srv, "inbox", "drop/note.txt").await, None);
    c.put_bucket_policy()
        .bucket("inbox")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/drop/*"}]}"#)
        .send()
        .await
        .expect("policy");
    let r = post(&srv, "inbox", form(&fields, "note.txt", b"hello")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        stored(&srv, "inbox", "drop/note.txt").await.as_deref(),
        Some(&b"hello"[..])
    );
    // The policy's resource still binds: outside drop/ is refused.
    let r = post(
        &srv,
        "inbox",
        form(&[("key", "other/${filename}")], "note.txt", b"hello"),
    )
    .await;
    assert_eq!(r.status(), 403);
    // success_action_redirect: 303 to it with bucket, key and etag.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(srv.url("/inbox"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(
            &[
                ("key", "drop/r.txt"),
                ("success_action_redirect", "https://app.example/done"),
            ],
            "r.txt",
            b"r",
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 303);
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    assert!(
        loc.starts_with("https://app.example/done?bucket=inbox&key=drop%2Fr.txt&etag="),
        "{loc}"
    );
}

/// Encryption fields of a form (decision 0044): `x-amz-server-side-encryption: AES256` stores
/// the upload encrypted (covered by the policy, as every field must be); a customer key
/// (SSE-C) in form fields over plain HTTP is refused like one in headers, nothing stored.
#[tokio::test]
async fn form_encryption_fields_are_honoured_or_refused() {
    use base64::Engine;
    use md5::Digest;
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("encdrop")
        .send()
        .await
        .expect("create");
    let upload = |extra_policy: &'static str, extra: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let mut fields = signed_fields(srv, &policy("encdrop", &expires_in(600), extra_policy));
            for (k, v) in [
                ("key", "uploads/${filename}".to_string()),
                ("Content-Type", "image/png".to_string()),
                ("success_action_status", "201".to_string()),
                ("x-amz-meta-owner", "alice".to_string()),
            ]
            .into_iter()
            .chain(extra)
            {
                fields.push((k.into(), v));
            }
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post(srv, "encdrop", form(&pairs, "e.png", b"\x89PNG sealed")).await
        }
    };
    let r = upload(
        r#",{"x-amz-server-side-encryption":"AES256"}"#,
        vec![("x-amz-server-side-encryption", "AES256".into())],
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()
            .get("x-amz-server-side-encryption")
            .and_then(|v| v.to_str().ok()),
        Some("AES256")
    );
    let head = srv
        .client()
        .head_object()
        .bucket("encdrop")
        .key("uploads/e.png")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = [9u8; 32];
    let r = upload(
        r#",["starts-with","$x-amz-server-side-encryption-customer-algorithm",""],["starts-with","$x-amz-server-side-encryption-customer-key",""],["starts-with","$x-amz-server-side-encryption-customer-key-MD5",""]"#,
        vec![
            ("x-amz-server-side-encryption-customer-algorithm", "AES256".into()),
            ("x-amz-server-side-encryption-customer-key", b64.encode(key)),
            (
                "x-amz-server-side-encryption-customer-key-MD5",
                b64.encode(md5::Md5::digest(key)),
            ),
        ],
    )
    .await;
    let status = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("secure connection"), "{text}");
}
