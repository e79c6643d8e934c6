//! gatehouse-s3: the S3 HTTP gateway. Thin: parse → authenticate → one `store` call → render.
//!
//! # Layout
//! - [`auth`]: SigV4 (header, presigned, streaming chunk signatures), Basic, Bearer; the
//!   aws-chunked body decoder.
//! - `request`: addressing (path / virtual host), the parsed request context.
//! - `endpoint`: method + query → the S3 operation ([`Endpoint`]).
//! - `refusals`: headers asking for features we lack (SSE, object lock, storage classes).
//! - `refused_body`: the unread rest of a refused request's body, read before the error goes out.
//! - `handlers/`: one module per family of operations, each a few lines over `store::ops`.
//! - `error`: the S3 error type and the one mapping table from store errors.
//! - `xml`, `util`: rendering and small HTTP helpers.
//!
//! Invariant: no storage logic here and no redb; every decision about access is made by
//! `gatehouse_store::rbac::authorize`, called inside the store.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod acl;
pub mod auth;
mod body;
mod cors;
mod endpoint;
mod error;
mod expected_owner;
mod facts;
mod handlers;
mod post_form;
mod refusals;
mod refused_body;
mod request;
mod sse;
mod util;
mod xml;

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::cors::{CorsConfig, preflight_check};
    pub use crate::post_form::{
        Auth, PostError, PostForm, parse as parse_post_form, success_response,
    };
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::metrics::RequestRecord;
use http::{HeaderValue, header};

pub use endpoint::{BucketConfig, Endpoint};
pub use error::S3Error;

/// How the connection a request came on was made: put in the request's extensions by the
/// listener (bucket policies' `aws:SecureTransport`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    pub secure: bool,
}

/// Settings of the S3 gateway.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Region reported by GetBucketLocation and accepted in signatures (any region signs).
    pub region: String,
    /// Domains for virtual-host addressing: `bucket.<domain>` names a bucket.
    pub domains: Vec<String>,
    /// `s3.sse_c_over_http`: take customer-provided keys (SSE-C) over plain HTTP (test setups
    /// only; AWS refuses them there).
    pub sse_c_over_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".into(),
            domains: vec!["localhost".into()],
            sse_c_over_http: false,
        }
    }
}

#[derive(Clone)]
pub struct S3State {
    inner: Arc<StateInner>,
}

struct StateInner {
    store: Store,
    cfg: S3Config,
    seq: AtomicU64,
    instance: u32,
}

impl S3State {
    pub fn new(store: Store, cfg: S3Config) -> Self {
        let mut r = [0u8; 4];
        let _ = getrandom::fill(&mut r);
        S3State {
            inner: Arc::new(StateInner {
                store,
                cfg,
                seq: AtomicU64::new(0),
                instance: u32::from_le_bytes(r),
            }),
        }
    }

    fn next_request_id(&self) -> String {
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:08X}", self.inner.instance, n)
    }
}

/// A message's declared body size (0 when streamed without one).
fn content_length(h: &http::HeaderMap) -> u64 {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `Expect: 100-continue` on a request with no body (`Content-Length: 0`): hyper answers with
/// the final status and no `100 Continue`, which RFC 9110 §10.1.1 allows, but botocore (aws CLI
/// v1 and v2, boto3) then reads the *next* response on that connection with the stale early
/// status line and waits 60 s for a body that never comes. Closing such a connection after the
/// response costs one TCP connect and sidesteps it; real S3 always sends the 100.
fn expects_continue_without_body(h: &http::HeaderMap) -> bool {
    let expects = h
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let empty = match h.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().map(str::trim) == Some("0"),
        None => !h.contains_key(header::TRANSFER_ENCODING),
    };
    expects && empty
}

/// The S3 service as an axum router (every path goes to one dispatcher: S3 routes by query).
pub fn router(state: S3State) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(state): State<S3State>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = state.next_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let close_after = expects_continue_without_body(req.headers());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes_in = content_length(req.headers());
    // A client waiting for 100 Continue sends nothing more after an early answer: no drain.
    let waits_for_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = req.into_parts();
    let (body, unread) = refused_body::Returning::wrap(body);
    let req = Request::from_parts(parts, body);
    // Everything logged while handling carries the request id.
    let span = tracing::info_span!("s3", request_id = %request_id);
    let (result, op, principal, bucket) = {
        use tracing::Instrument as _;
        handlers::handle(&state, req).instrument(span).await
    };
    let mut error_code = None;
    let mut cut_short = false;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            // The error goes out after the body the client is still sending has been read.
            cut_short = !waits_for_continue && !refused_body::drain(&unread, bytes_in).await;
            if e.status.is_server_error() {
                tracing::warn!(code = e.code, message = %e.message, "S3 request failed");
            }
            error_code = Some(e.code);
            e.into_response_with(&path, &request_id)
        }
    };
    if let (Some(origin), Some(b), false) = (&origin, &bucket, method == http::Method::OPTIONS) {
        handlers::cors_headers(&state.inner.store, b, origin, method.as_str(), &mut resp);
    }
    let status = resp.status().as_u16();
    state.inner.store.metrics().record(RequestRecord {
        protocol: "s3",
        op,
        status,
        error: error_code,
        latency: started.elapsed(),
        bytes_in,
        bytes_out: content_length(resp.headers()),
    });
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    h.insert("server", HeaderValue::from_static("gatehouse"));
    if close_after || cut_short {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    // The access line (`log.access_every`; target `access`, apart from the operational log).
    if state.inner.store.metrics().access_line(status) {
        tracing::info!(
            target: "access",
            request_id = %request_id,
            principal = principal.as_deref().unwrap_or("-"),
            op = op,
            bucket = bucket.as_deref().unwrap_or("-"),
            method = %method,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            bytes_in,
            bytes_out = content_length(resp.headers()),
            "s3"
        );
    }
    resp
}
