//! Browser uploads from another origin (issue 22): headless Chromium, on a page served by a
//! second HTTP server in this test (another origin than the S3 port), uploads a file with a
//! plain HTML form (`success_action_redirect`, the browser lands on the redirect target) and
//! with `fetch()` + `FormData` (`success_action_status` 201, readable only thanks to the
//! bucket's CORS rule); the same `fetch()` from an origin the rule does not name fails in the
//! page. The POST policies are built and signed here; the browser side is
//! `tests/browser/post_upload.test.mjs`, which finds what it needs in a JSON file (see
//! [`ConfigFile`]). Afterwards aws-sdk-s3 reads back what was stored.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use axum::Router;
use axum::extract::RawQuery;
use axum::response::Html;
use axum::routing::get;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use md5::Digest as _;
use sha2::Sha256;

use crate::common::*;

const BUCKET: &str = "browser-drop";
const FORM_FILE: &str = "note.txt";
const FORM_TEXT: &str = "uploaded by an HTML form in headless Chromium\n";
const FETCH_FILE: &str = "fetched.txt";
const FETCH_TEXT: &str = "uploaded by fetch() + FormData from another origin\n";
const BLOCKED_FILE: &str = "blocked.txt";
const BLOCKED_TEXT: &str = "posted from an origin the CORS rule does not name\n";

/// The SigV4 POST fields for `policy` (a JSON document), signed with the admin's secret
/// (as in `post_object.rs`).
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

/// A POST policy for keys under `uploads/` of at most 1 KiB, with `extra` conditions.
fn policy(extra: &str) -> String {
    format!(
        r#"{{"expiration":"{}","conditions":[{{"bucket":"{BUCKET}"}},["starts-with","$key","uploads/"],["content-length-range",1,1024],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},["starts-with","$x-amz-credential",""],["starts-with","$x-amz-date",""],{extra}]}}"#,
        expires_in(600)
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The uploader page: (a) a form posting to S3 with the redirect fields, (b) `fetchUpload`,
/// a `fetch()` + `FormData` upload with the 201 fields, telling what the page could read.
fn upload_page(s3_action: &str, form: &[(String, String)], fetch: &[(String, String)]) -> String {
    let hidden: String = form
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=hidden name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    // Inside <script>: no `<` at all, so no `</script>` either.
    let js = |v: serde_json::Value| v.to_string().replace('<', "\\u003c");
    let action = js(serde_json::json!(s3_action));
    let fields = js(serde_json::json!(fetch));
    format!(
        r#"<!doctype html>
<html><head><meta charset=utf-8><link rel=icon href="data:,"><title>uploader</title></head>
<body>
<form id=upload method=post enctype=multipart/form-data action="{action_attr}">
{hidden}<input type=file name=file>
<button id=submit type=submit>Upload</button>
</form>
<script>
const ACTION = {action};
const FIELDS = {fields};
window.fetchUpload = async (name, text) => {{
  const body = new FormData();
  for (const [k, v] of FIELDS) body.append(k, v);
  body.append('file', new Blob([text], {{ type: 'text/plain' }}), name);
  try {{
    const r = await fetch(ACTION, {{ method: 'POST', body }});
    return {{ ok: true, status: r.status, etag: r.headers.get('etag'), body: await r.text() }};
  }} catch (e) {{
    return {{ ok: false, error: String(e) }};
  }}
}};
</script>
</body></html>
"#,
        action_attr = html_escape(s3_action),
    )
}

/// The redirect target: shows the parameters S3 added to it.
const DONE_PAGE: &str = r#"<!doctype html>
<html><head><meta charset=utf-8><link rel=icon href="data:,"><title>uploaded</title></head>
<body><dl><dt>bucket<dd id=bucket><dt>key<dd id=key><dt>etag<dd id=etag></dl>
<script>
const q = new URLSearchParams(location.search);
for (const n of ['bucket', 'key', 'etag']) document.getElementById(n).textContent = q.get(n) ?? '(none)';
</script></body></html>
"#;

/// What the browser script reads, written to `$TMPDIR/gatehouse-post-upload-<pid>.json`: the
/// script cannot be handed an environment variable (`run_in_chromium` builds the command), so
/// it looks for the file named by the pid of its ancestors (this test binary). Removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn write(value: &serde_json::Value) -> ConfigFile {
        let path =
            std::env::temp_dir().join(format!("gatehouse-post-upload-{}.json", std::process::id()));
        std::fs::write(&path, value.to_string()).expect("write config");
        ConfigFile(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn stored(srv: &TestServer, key: &str) -> Option<(Vec<u8>, Option<String>)> {
    let o = srv
        .client()
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    let content_type = o.content_type().map(str::to_string);
    Some((body_bytes(o).await, content_type))
}

fn etag_of(text: &str) -> String {
    format!("\"{}\"", hex::encode(md5::Md5::digest(text.as_bytes())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_uploads_from_another_origin() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create");

    // Two origins for the page: `allowed` is in the CORS rule, `other` is not.
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let other = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let allowed_origin = format!(
        "http://127.0.0.1:{}",
        allowed.local_addr().expect("addr").port()
    );
    let other_origin = format!(
        "http://127.0.0.1:{}",
        other.local_addr().expect("addr").port()
    );

    c.put_bucket_cors()
        .bucket(BUCKET)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_origins(&allowed_origin)
                        .allowed_methods("POST")
                        .allowed_headers("*")
                        .expose_headers("ETag")
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("cors"),
        )
        .send()
        .await
        .expect("put cors");
    // The rule as a preflight sees it (the uploads below are simple requests, not preflighted).
    let preflight = async |origin: &str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, srv.url(&format!("/{BUCKET}")))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .expect("preflight")
            .status()
            .as_u16()
    };
    assert_eq!(preflight(&allowed_origin).await, 200);
    assert_eq!(preflight(&other_origin).await, 403);

    // The form: lands on `<allowed>/done` with bucket, key and etag; a text/ content type.
    let done_url = format!("{allowed_origin}/done");
    let mut form_fields = signed_fields(
        &srv,
        &policy(&format!(
            r#"{{"success_action_redirect":"{done_url}"}},["starts-with","$Content-Type","text/"]"#
        )),
    );
    form_fields.extend(
        [
            ("key", "uploads/${filename}"),
            ("Content-Type", "text/plain"),
            ("success_action_redirect", done_url.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    // fetch(): a 201 with the PostResponse document.
    let mut fetch_fields = signed_fields(&srv, &policy(r#"{"success_action_status":"201"}"#));
    fetch_fields.extend(
        [
            ("key", "uploads/${filename}"),
            ("success_action_status", "201"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );

    let s3_action = srv.url(&format!("/{BUCKET}"));
    let page = Arc::new(upload_page(&s3_action, &form_fields, &fetch_fields));
    let queries = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = {
        let queries = queries.clone();
        Router::new()
            .route("/", get(move || async move { Html(page.to_string()) }))
            .route(
                "/done",
                get(move |RawQuery(q): RawQuery| async move {
                    queries.lock().expect("lock").push(q.unwrap_or_default());
                    Html(DONE_PAGE)
                }),
            )
    };
    let pages = [allowed, other].map(|l| {
        let app = app.clone();
        tokio::spawn(async move { axum::serve(l, app).await })
    });

    let config = ConfigFile::write(&serde_json::json!({
        "allowed": allowed_origin,
        "other": other_origin,
        "s3": s3_action,
        "bucket": BUCKET,
        "form": { "file": FORM_FILE, "text": FORM_TEXT, "etag": etag_of(FORM_TEXT) },
        "fetch": { "file": FETCH_FILE, "text": FETCH_TEXT, "etag": etag_of(FETCH_TEXT) },
        "blocked": { "file": BLOCKED_FILE, "text": BLOCKED_TEXT },
    }));
    // Blocking (node runs to its end) while the servers go on answering on the runtime.
    tokio::task::spawn_blocking(|| crate::web_browser::run_in_chromium("post_upload.test.mjs"))
        .await
        .expect("browser test");
    drop(config);
    for p in pages {
        p.abort();
    }

    let got = queries.lock().expect("lock").clone();
    if got.is_empty() {
        // Skipped (no Chromium / node / playwright-core): run_in_chromium said so and passed.
        assert_eq!(stored(&srv, &format!("uploads/{FORM_FILE}")).await, None);
        return;
    }
    // The redirect target got S3's parameters, once, form-urlencoded.
    assert_eq!(
        got,
        vec![format!(
            "bucket={BUCKET}&key=uploads%2F{FORM_FILE}&etag={}",
            etag_of(FORM_TEXT).replace('"', "%22")
        )]
    );
    assert_eq!(
        stored(&srv, &format!("uploads/{FORM_FILE}")).await,
        Some((FORM_TEXT.as_bytes().to_vec(), Some("text/plain".into())))
    );
    assert_eq!(
        stored(&srv, &format!("uploads/{FETCH_FILE}"))
            .await
            .map(|o| o.0),
        Some(FETCH_TEXT.as_bytes().to_vec())
    );
    // CORS only keeps the page from reading the answer: a multipart/form-data POST is a
    // "simple" request, sent without a preflight, so the browser delivered it and S3 (like
    // Amazon S3, which does not check Origin against CORS rules on actual requests) stored
    // it; the page only saw a failed fetch().
    assert_eq!(
        stored(&srv, &format!("uploads/{BLOCKED_FILE}"))
            .await
            .map(|o| o.0),
        Some(BLOCKED_TEXT.as_bytes().to_vec())
    );
}
