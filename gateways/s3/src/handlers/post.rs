//! Browser uploads: POST Object (`POST /{bucket}`, `multipart/form-data`) with a signed POST
//! policy (SigV4 or SigV2) or none (anonymous, allowed only where a bucket policy says so).
//! `crate::post_form` reads the fields and checks the signature and the policy's conditions;
//! the file then streams into the same PutObject path as any upload: the form's fields become
//! the headers a PutObject would carry, so what PutObject refuses (SSE, wider ACLs, storage
//! classes) is refused here too, never ignored.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use gatehouse_store::Principal;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::S3State;
use crate::auth::PayloadMode;
use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::facts::{self, Signing};
use crate::post_form::{self, Auth, PostError, PostForm};
use crate::request::Ctx;
use crate::util::Query;

/// Whether a request is a POST Object: `POST /{bucket}` with a form body and no sub-resource.
pub fn is_post_object(
    method: &http::Method,
    key: bool,
    query: Option<&str>,
    h: &HeaderMap,
) -> bool {
    *method == http::Method::POST
        && !key
        && query.is_none_or(str::is_empty)
        && h.get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            })
}

fn post_error(e: &PostError) -> S3Error {
    let mut err = S3Error::new(e.status().as_u16(), e.code(), e.message().into_owned());
    for (name, value) in e.extra_elements() {
        err = err.with(name, value);
    }
    err
}

/// Form fields that are the POST protocol's own, not object headers.
const PROTOCOL_FIELDS: &[&str] = &[
    "key",
    "policy",
    "signature",
    "awsaccesskeyid",
    "x-amz-signature",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "success_action_status",
    "success_action_redirect",
    "redirect",
    "bucket",
    "file",
];

/// The headers a PutObject of this form would carry.
fn headers_of(form: &PostForm) -> Result<HeaderMap, S3Error> {
    let mut h = HeaderMap::new();
    for (name, value) in &form.fields {
        if PROTOCOL_FIELDS.contains(&name.as_str()) || name.starts_with("x-ignore-") {
            continue;
        }
        let (header, value) = match name.as_str() {
            "acl" => ("x-amz-acl".to_string(), value.clone()),
            "tagging" => ("x-amz-tagging".to_string(), tagging_query(value)?),
            "content-type"
            | "cache-control"
            | "content-disposition"
            | "content-encoding"
            | "expires"
            | "content-md5" => (name.clone(), value.clone()),
            n if n.starts_with("x-amz-") => (name.clone(), value.clone()),
            other => {
                return Err(S3Error::invalid_argument(format!(
                    "POST form field {other} is not supported"
                ))
                .with("ArgumentName", other.to_string()));
            }
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::try_from(header.as_str()),
            HeaderValue::from_str(&value),
        ) else {
            return Err(S3Error::invalid_argument(format!(
                "POST form field {name} has a value that cannot be a header"
            )));
        };
        h.append(n, v);
    }
    Ok(h)
}

/// The form's `tagging` field (a `<Tagging>` document) as `x-amz-tagging`'s query string,
/// read by the same parser as PutObjectTagging's body.
fn tagging_query(xml: &str) -> Result<String, S3Error> {
    let doc = crate::xml::parse(xml.as_bytes()).ok_or_else(S3Error::malformed_xml)?;
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(super::object::tagging_document(&doc)?
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// `POST /{bucket}` with a form: authenticate by the form's signature, then PutObject.
pub async fn post_object(
    state: &S3State,
    headers: &HeaderMap,
    body: Body,
    bucket: String,
    named: Option<String>,
    source_ip: Option<std::net::IpAddr>,
    secure: bool,
) -> (Result<Response, S3Error>, Option<String>) {
    let store = &state.inner.store;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let lookup = |ak: &str| store.lookup_credential(ak).ok().flatten().map(|(s, _)| s);
    let stream = body.into_data_stream();
    let now = std::time::SystemTime::now();
    // The policy's `bucket` condition names the bucket as the client addressed it (botocore's
    // generate_presigned_post puts the `fs--<share>` alias there, not `fs+<share>`).
    let addressed = named.clone().unwrap_or_else(|| bucket.clone());
    let (form, file) = match post_form::parse(content_type, stream, &addressed, now, &lookup).await
    {
        Ok(f) => f,
        Err(e) => {
            // A form that fails its checks counts against its address's rate.
            let err = match store.admit_address(source_ip) {
                Ok(()) => post_error(&e),
                Err(retry) => S3Error::slow_down(retry),
            };
            return (Err(err), None);
        }
    };
    let (principal, signing): (Principal, Option<Signing>) = match &form.auth {
        Auth::Anonymous => (store.anonymous(), None),
        Auth::V4 { access_key, .. } | Auth::V2 { access_key } => {
            match store.lookup_credential(access_key) {
                Ok(Some((_, p))) => {
                    let version = if matches!(form.auth, Auth::V4 { .. }) {
                        "AWS4-HMAC-SHA256"
                    } else {
                        "AWS"
                    };
                    (
                        p,
                        Some(Signing {
                            auth_type: "POST",
                            version,
                        }),
                    )
                }
                Ok(None) => {
                    return (Err(crate::auth::AuthError::InvalidAccessKeyId.into()), None);
                }
                Err(e) => return (Err(e.into()), None),
            }
        }
    };
    let who = Some(principal.name.clone());
    if let Err(retry) = store.admit(&principal, source_ip) {
        return (Err(S3Error::slow_down(retry)), who);
    }
    let put_headers = match headers_of(&form) {
        Ok(h) => h,
        Err(e) => return (Err(e), who),
    };
    if let Err(e) = crate::refusals::check(Endpoint::PutObject, &put_headers)
        .and_then(|()| crate::acl::check_headers(Endpoint::PutObject, &put_headers))
    {
        return (Err(e), who);
    }
    // A customer's key (SSE-C) in a form field travels over TLS only, as in a header.
    if !secure && !state.inner.cfg.sse_c_over_http && crate::sse::customer_asked(&put_headers) {
        return (
            Err(S3Error::invalid_request(
                "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
            )),
            who,
        );
    }
    let query = Query::default();
    let request_facts = facts::build(
        Endpoint::PutObject,
        &query,
        &put_headers,
        source_ip,
        secure,
        signing,
    );
    let ctx = Ctx {
        principal: principal.with_facts(request_facts),
        bucket: Some(bucket.clone()),
        named: named.clone(),
        key: Some(form.key.clone()),
        query,
        headers: put_headers,
    };
    // The file's own errors (a size outside content-length-range, a cut body) are the answer
    // when the upload fails on them, not the generic body error PutObject would report.
    let failed: Arc<Mutex<Option<PostError>>> = Arc::default();
    let seen = failed.clone();
    let body = Body::from_stream(file.map(move |r| {
        r.map_err(|e| {
            let msg = e.message().into_owned();
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            std::io::Error::other(msg)
        })
    }));
    let put = super::object::put(store, &ctx, body, &PayloadMode::Unsigned).await;
    let resp = match put {
        Ok(r) => r,
        Err(e) => {
            let file_error = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
            return (Err(file_error.map_or(e, |fe| post_error(&fe))), who);
        }
    };
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let shown = named.unwrap_or(bucket);
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if secure { "https" } else { "http" };
    let location = format!(
        "{scheme}://{host}/{}/{}",
        shown,
        crate::util::url_encode(&form.key)
    );
    let (status, loc, xml) = post_form::success_response(
        form.success_action_status,
        form.success_action_redirect.as_deref(),
        &shown,
        &form.key,
        &etag,
        &location,
    );
    let mut out = match xml {
        Some(x) => (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), x).into_response(),
        None => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response(),
    };
    let h = out.headers_mut();
    for (name, value) in resp.headers() {
        if name == "etag" || name.as_str().starts_with("x-amz-") {
            h.insert(name.clone(), value.clone());
        }
    }
    if let Some(l) = loc.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(http::header::LOCATION, l);
    }
    if status == 201 {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
    }
    (Ok(out), who)
}
