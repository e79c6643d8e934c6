//! Objects: listing (JSON), and raw bodies streamed both ways — a PUT or GET never holds the
//! object in memory, and the only size limit is the store's.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_s3::auth::PayloadMode;
use gatehouse_store::ops::{ListEntry, ListQuery, PutOptions};
use gatehouse_store::{StageError, StoreError};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

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
}

/// `GET /api/buckets/{b}/objects?prefix=&delimiter=&start_after=&max_keys=`
pub async fn list(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    q: Query,
) -> ApiResult<Response> {
    q.only(&["prefix", "delimiter", "start_after", "max_keys"])?;
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
        after: q.get("start_after").map(str::to_string),
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
        next_start_after,
    }))
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

/// `GET /api/buckets/{b}/objects/{key}`: the bytes, streamed, each chunk verified by the store.
pub async fn get(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
) -> ApiResult<Response> {
    let info = st.store.get_object(&c.principal, &bucket, &key)?;
    let rec = &info.record;
    let stream = st.store.read_data(&rec.data, 0..rec.size);
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(rec.size));
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
    // This origin also serves the signed-in web page: an uploaded HTML or SVG file must never
    // render here (its script would act with the viewer's session). Always a download, never
    // sniffed, and sandboxed should a browser open it anyway.
    h.insert(
        http::header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
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

/// Succeeds whether or not the key existed (as on S3).
pub async fn delete(
    State(st): State<AdminState>,
    c: Caller,
    Param((bucket, key)): Param<(String, String)>,
) -> ApiResult<Response> {
    st.store.delete_object(&c.principal, &bucket, &key).await?;
    Ok(json::no_content())
}
