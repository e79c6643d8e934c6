//! Objects: listing (JSON), raw bodies streamed both ways — a PUT or GET never holds the
//! object in memory, and the only size limit is the store's — and presigned S3 URLs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_s3::auth::{PayloadMode, SigningParams, presign_url};
use gatehouse_store::ops::{ListEntry, ListQuery, PutOptions};
use gatehouse_store::rbac::Verb;
use gatehouse_store::{StageError, StoreError};
use http::{HeaderMap, HeaderValue, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param, Query};

/// Largest page of a listing.
const MAX_KEYS: usize = 1000;

#[derive(Serialize)]
struct Object {
    key: String,
    size: u64,
    etag: String,
    modified_ms: i64,
}

#[derive(Serialize)]
struct Listing {
    bucket: String,
    objects: Vec<Object>,
    /// Common prefixes when a delimiter was given.
    prefixes: Vec<String>,
    truncated: bool,
    /// Pass as `start_after` for the next page.
    next_start_after: Option<String>,
    /// The same position, opaque: pass as `continuation_token`.
    next_continuation_token: Option<String>,
}

/// `GET /api/buckets/{b}/objects?prefix=&delimiter=&start_after=&continuation_token=&max_keys=`
/// (a continuation token, when given, wins over `start_after`, as on S3).
pub async fn list(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    q: Query,
) -> ApiResult<Response> {
    let max_keys = match q.get("max_keys") {
        None => MAX_KEYS,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_request("max_keys must be a whole number"))?
            .min(MAX_KEYS),
    };
    let query = ListQuery {
        prefix: q.get("prefix").unwrap_or("").to_string(),
        delimiter: q.get("delimiter").map(str::to_string),
        after: match q.get("continuation_token") {
            Some(t) => Some(decode_token(t)?),
            None => q.get("start_after").map(str::to_string),
        },
        max_keys,
    };
    let page = st.store.list_objects(&c.principal, &bucket, &query)?;
    let next_start_after = page
        .truncated
        .then(|| page.last().map(str::to_string))
        .flatten();
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    for e in page.entries {
        match e {
            ListEntry::Object { key, record } => objects.push(Object {
                key,
                size: record.size,
                etag: record.etag,
                modified_ms: record.mtime_ms,
            }),
            ListEntry::Prefix(p) => prefixes.push(p),
        }
    }
    Ok(json::ok(&Listing {
        bucket,
        objects,
        prefixes,
        truncated: page.truncated,
        next_continuation_token: next_start_after.as_deref().map(encode_token),
        next_start_after,
    }))
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Tag<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    bucket: &'a str,
    key: &'a str,
    size: u64,
    etag: &'a str,
    modified_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_encoding: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_disposition: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<&'a str>,
    metadata: Vec<Named<'a>>,
    tags: Vec<Tag<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<&'a gatehouse_store::model::ChecksumValue>,
    parts: usize,
}

/// `GET /api/buckets/{b}/metadata/{*key}`: what HeadObject and GetObjectTagging tell, as JSON
/// (the console's object details). Same permission as reading the object.
pub async fn metadata(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
) -> ApiResult<Response> {
    let info = st.store.get_object(&c.principal, &bucket, &key)?;
    let r = &info.record;
    let m = &r.meta;
    Ok(json::ok(&Metadata {
        bucket: &bucket,
        key: &info.key,
        size: r.size,
        etag: &r.etag,
        modified_ms: r.mtime_ms,
        content_type: m.content_type.as_deref(),
        content_encoding: m.content_encoding.as_deref(),
        content_disposition: m.content_disposition.as_deref(),
        content_language: m.content_language.as_deref(),
        cache_control: m.cache_control.as_deref(),
        expires: m.expires.as_deref(),
        metadata: m
            .user
            .iter()
            .map(|(name, value)| Named { name, value })
            .collect(),
        tags: r
            .tags
            .iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
        checksum: r.checksum.as_ref(),
        parts: r.parts.len(),
    }))
}

fn encode_token(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(after)
}

fn decode_token(t: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::invalid_request("continuation_token is not one this server handed out")
        })
}

#[derive(Serialize)]
struct Stored {
    bucket: String,
    key: String,
    size: u64,
    etag: String,
}

/// `PUT /api/buckets/{b}/objects/{key}`: the raw body, streamed into the store. A signed
/// SHA-256 is verified by the store before the object becomes visible.
pub async fn put(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let content_sha256 = match c.payload {
        PayloadMode::Signed(h) => Some(h),
        PayloadMode::Unsigned => None,
        PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer => {
            return Err(json::streaming_refused());
        }
    };
    let mut opts = PutOptions {
        content_sha256,
        ..PutOptions::default()
    };
    opts.meta.content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let info = st
        .store
        .put_object(
            &c.principal,
            &bucket,
            &key,
            body.into_data_stream(),
            opts,
            |_| Ok(()),
        )
        .await
        .map_err(|e| match e {
            StageError::Body(e) => ApiError::from(StoreError::Body(e.to_string())),
            StageError::Store(e) => e.into(),
        })?;
    Ok(json::ok(&Stored {
        bucket,
        key: info.key,
        size: info.record.size,
        etag: info.record.etag,
    }))
}

/// `GET /api/buckets/{b}/objects/{key}[?version_id=]`: the bytes (of the current version, or
/// of the one named), streamed, each chunk verified by the store. A single `Range: bytes=…`
/// is honoured (206); a browser saving the reply gets the key's last segment as file name.
pub async fn get(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (info, pins) = match q.get("version_id") {
        Some(id) => st.store.open_version(&c.principal, &bucket, &key, id)?,
        None => st.store.open_object(&c.principal, &bucket, &key)?,
    };
    let rec = &info.record;
    // The page has no customer's key (SSE-C): refused before any byte, not cut off midway.
    if matches!(
        rec.sse,
        Some(gatehouse_store::sse::SseMode::Customer { .. })
    ) {
        return Err(gatehouse_store::StoreError::AccessDenied(
            "encrypted with a customer-provided key (SSE-C): downloaded over S3 with that key only"
                .into(),
        )
        .into());
    }
    let range = match headers.get(http::header::RANGE) {
        Some(v) => parse_range(v.to_str().unwrap_or(""), rec.size)?,
        None => None,
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..rec.size),
    };
    let stream = st.store.read_data_pinned(&rec.data, span.clone(), pins);
    let mut resp = (status, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(span.end - span.start),
    );
    h.insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            span.start,
            span.end - 1,
            rec.size
        ))
    {
        h.insert(http::header::CONTENT_RANGE, v);
    }
    let ctype = rec
        .meta
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(http::header::CONTENT_TYPE, ctype);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", rec.etag)) {
        h.insert(http::header::ETAG, v);
    }
    if let Ok(ms) = u64::try_from(rec.mtime_ms) {
        let t = UNIX_EPOCH + Duration::from_millis(ms);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
            h.insert(http::header::LAST_MODIFIED, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&key)) {
        h.insert(http::header::CONTENT_DISPOSITION, v);
    }
    // This origin also serves the signed-in web page: an uploaded HTML or SVG file must never
    // render here (its script would act with the viewer's session). Besides the attachment
    // disposition above: never sniffed, and sandboxed should a browser open it anyway.
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range of an object of `size` bytes. Anything else
/// (other units, several ranges, garbage) is ignored and the whole object is served, as
/// RFC 9110 allows; a range starting past the end is 416.
fn parse_range(h: &str, size: u64) -> ApiResult<Option<std::ops::Range<u64>>> {
    let Some((a, b)) = h
        .trim()
        .strip_prefix("bytes=")
        .filter(|s| !s.contains(','))
        .and_then(|s| s.split_once('-'))
    else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Positions past u64 are past any end: as S3, `bytes=5-99999999999999999999` reads to the
    // end and a start that large is 416.
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let r = match (num(a), num(b)) {
        (None, Some(n)) if a.is_empty() && n > 0 && size > 0 => size.saturating_sub(n)..size,
        (None, Some(_)) if a.is_empty() => return Err(StoreError::InvalidRange.into()),
        (Some(s), None) if b.is_empty() => s..size,
        (Some(s), Some(e)) if e >= s => s..e.saturating_add(1).min(size),
        _ => return Ok(None),
    };
    if r.start >= size {
        return Err(StoreError::InvalidRange.into());
    }
    Ok(Some(r))
}

/// `attachment` with the key's last segment: a plain ASCII `filename` (quotes and controls
/// replaced) and the exact name as RFC 8187 `filename*`.
fn content_disposition(key: &str) -> String {
    let name = key
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, RFC8187);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

/// RFC 8187 `attr-char`s stay, everything else is percent-encoded.
const RFC8187: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `DELETE /api/buckets/{b}/objects/{key}[?version_id=]`: the key (in a versioned bucket, a
/// delete marker hides it and its versions stay), or that one version for good. Succeeds
/// whether or not the key or version existed (as on S3).
pub async fn delete(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
    q: Query,
) -> ApiResult<Response> {
    match q.get("version_id") {
        Some(id) => {
            st.store
                .delete_version(&c.principal, &bucket, &key, id, false)
                .await?;
        }
        None => {
            st.store.delete_object(&c.principal, &bucket, &key).await?;
        }
    }
    Ok(json::no_content())
}

/// Longest validity of a presigned URL (SigV4's limit: seven days).
const MAX_EXPIRES_SECS: u64 = 604_800;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresignBody {
    key: String,
    #[serde(default)]
    method: PresignMethod,
    expires_secs: Option<u64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
enum PresignMethod {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "PUT")]
    Put,
}

#[derive(Serialize)]
struct Presigned {
    url: String,
    expires_at_ms: u64,
}

/// `POST /api/buckets/{b}/presign` `{"key", "method": "GET"|"PUT", "expires_secs"}`: a SigV4
/// presigned URL on the S3 endpoint, signed with the caller's own credentials, minted only if
/// the store says the caller may do that now (the S3 gateway checks again when it is used).
pub async fn presign(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: PresignBody = json::read(Some(&c.payload), body).await?;
    let expires = b.expires_secs.unwrap_or(3600);
    if !(1..=MAX_EXPIRES_SECS).contains(&expires) {
        return Err(ApiError::invalid_request(format!(
            "expires_secs must be between 1 and {MAX_EXPIRES_SECS} (7 days)"
        )));
    }
    if b.key == "." || b.key == ".." {
        // Every URL parser resolves such a path segment: no URL can name this key.
        return Err(ApiError::invalid_request(format!(
            "the key {:?} cannot be addressed by a URL",
            b.key
        )));
    }
    let (verb, method) = match b.method {
        PresignMethod::Get => (Verb::Get, "GET"),
        PresignMethod::Put => (Verb::Put, "PUT"),
    };
    let secret = st
        .store
        .presign_secret(&c.principal, &c.access_key, verb, &bucket, &b.key)?;
    let now = SystemTime::now();
    let signer = SigningParams {
        access_key: &c.access_key,
        secret_key: &secret,
        region: &st.cfg.region,
        time: now,
    };
    let url = presigned_url(
        &st.cfg.s3_endpoint,
        method,
        &bucket,
        &b.key,
        expires,
        &signer,
    )?;
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(json::ok(&Presigned {
        url,
        expires_at_ms: now_ms + expires * 1000,
    }))
}

/// `<endpoint>/<bucket>/<key>?X-Amz-…` (path-style, so any bucket name works).
fn presigned_url(
    endpoint: &str,
    method: &str,
    bucket: &str,
    key: &str,
    expires: u64,
    signer: &SigningParams<'_>,
) -> ApiResult<String> {
    if endpoint.is_empty() {
        // The S3 listener is off and no s3.public_url names another way in: a URL would
        // point nowhere. A setting of this server, not a fault: 409 with what to change.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "api.no_s3_endpoint",
            "this server has no S3 endpoint to presign for: its S3 listener is off and \
             s3.public_url is not set",
        ));
    }
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| StoreError::Internal(format!("s3_endpoint is not a URL: {e}")))?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.authority()) else {
        return Err(StoreError::Internal("s3_endpoint has no scheme or host".into()).into());
    };
    let path = format!("/{}/{}", s3_path_encode(bucket, true), s3_key_path(key));
    let query = presign_url(method, &path, None, host.as_str(), expires, signer)?;
    Ok(format!("{scheme}://{host}{path}?{query}"))
}

/// AWS URI encoding: everything but `A-Za-z0-9-._~` (and `/` unless `encode_slash`) as `%XX`.
fn s3_path_encode(s: &str, encode_slash: bool) -> String {
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    const KEEP_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');
    utf8_percent_encode(s, if encode_slash { UNRESERVED } else { KEEP_SLASH }).to_string()
}

/// The key as a URL path. `/` stays readable, except in a key with a `.` or `..` segment:
/// URL parsers (WHATWG, so browsers and most HTTP clients) would resolve those segments and
/// fetch another key, so there every `/` is sent as `%2F`, which the S3 gateway decodes back.
fn s3_key_path(key: &str) -> String {
    let dotted = key.split('/').any(|seg| seg == "." || seg == "..");
    s3_path_encode(key, dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |h: &str, size: u64| parse_range(h, size).map_err(|e| e.status.as_u16());
        assert_eq!(r("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(r("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(r("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(r("bytes=-500", 100), Ok(Some(0..100)));
        assert_eq!(r("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(r("bytes=100-", 100), Err(416));
        assert_eq!(r("bytes=-0", 100), Err(416));
        assert_eq!(r("bytes=5-1", 100), Ok(None));
        assert_eq!(r("bytes=0-1,3-4", 100), Ok(None));
        assert_eq!(r("items=0-1", 100), Ok(None));
        // The last position u64 has, and beyond: to the end, without overflowing.
        assert_eq!(r("bytes=5-18446744073709551615", 100), Ok(Some(5..100)));
        assert_eq!(r("bytes=5-99999999999999999999999", 100), Ok(Some(5..100)));
        assert_eq!(r("bytes=0-18446744073709551614", 100), Ok(Some(0..100)));
        assert_eq!(r("bytes=18446744073709551615-", 100), Err(416));
        assert_eq!(r("bytes=99999999999999999999999-", 100), Err(416));
        assert_eq!(r("bytes=-18446744073709551615", 100), Ok(Some(0..100)));
        assert_eq!(r("bytes=+5-9", 100), Ok(None));
    }

    #[test]
    fn key_paths_survive_url_parsers() {
        assert_eq!(s3_key_path("a/b c/ü.txt"), "a/b%20c/%C3%BC.txt");
        assert_eq!(s3_key_path("../x"), "..%2Fx");
        assert_eq!(s3_key_path("a/./b"), "a%2F.%2Fb");
        assert_eq!(s3_key_path("a..b/c"), "a..b/c");
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("dir/r\u{e9}sum\u{e9} \"1\".pdf"),
            "attachment; filename=\"r_sum_ _1_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"
        );
        assert_eq!(
            content_disposition("dir/"),
            "attachment; filename=\"dir\"; filename*=UTF-8''dir"
        );
    }

    #[test]
    fn tokens_round_trip() {
        let t = encode_token("a/b c");
        assert_eq!(decode_token(&t).ok().as_deref(), Some("a/b c"));
        assert!(decode_token("!!").is_err());
    }
}
