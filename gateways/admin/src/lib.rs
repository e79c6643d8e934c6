//! gatehouse-admin: the admin JSON API (users, join, groups, roles, bindings, buckets,
//! objects, presigned URLs, storage status) that the CLI and the Data tab drive. Thin: authenticate → one `store` call →
//! render JSON.
//!
//! # Layout
//! - `routes/`: the route table (`routes/mod.rs`, which lists every endpoint) and one module
//!   per family: `info` (health, info, me, panels, the OpenAPI document), `users` (users,
//!   self-service join), `access` (groups, roles, bindings), `buckets`, `objects` (streamed
//!   bodies, ranges, presigned S3 URLs), `storage` (usage and disk space), `replication`
//!   (connections, rules, status, pause/resume).
//! - `openapi.json` (beside `src/`): the hand-written OpenAPI 3.1 document of every route; a
//!   unit test checks it against the route table.
//! - `auth`: the [`Caller`](auth::Caller) extractor: S3 credentials (SigV4, presigned, Basic,
//!   Bearer) checked by `gatehouse_s3::auth`, resolved into the store's `Principal`.
//! - `json`: JSON bodies (1 MiB, signed SHA-256 checked), path and query parameters, replies.
//! - `error`: [`ApiError`](error::ApiError) and the one table from `StoreError` to HTTP status
//!   and stable code; every error is `{"error": code, "message": text}`.
//! - `session`: web sign-in sessions (cookie id → access key, CSRF token, expiry) and the
//!   failed-attempt lockout; `routes/session` is `/api/session`.
//! - `web`: the web page (`/`, `/assets/…`), plain HTML/JS/CSS from `web/` embedded in the
//!   binary and served with a strict Content-Security-Policy.
//! - `request_log`: request ids and one log line per request.
//! - `share_alias`: `/api/buckets/fs--<share>/…` (and `/api/replication/rules/fs--<share>/…`)
//!   is routed as the share's bucket `fs+<share>`.
//! - `takes`: what each endpoint takes (query names, no body / JSON / bytes), declared in the
//!   route table and checked before its handler: nothing sent is silently ignored.
//!
//! Invariant: no access decision is made here. Every store operation calls
//! `gatehouse_store::rbac::authorize` itself; this crate only authenticates, calls, renders.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod error;
pub mod json;
mod request_log;
mod routes;
pub mod session;
mod share_alias;
mod takes;
mod web;

pub use routes::route_list;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gatehouse_store::Store;

/// Settings of the admin API.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Region accepted in SigV4 signatures (any region signs, as on S3).
    pub region: String,
    /// Where the S3 gateway listens, reported by `GET /api/info`; presigned URLs point here.
    pub s3_endpoint: String,
    /// Where NFS + MOUNT listen (`ADDR:PORT`), reported by `GET /api/info`.
    pub nfs_endpoint: String,
    /// Total storage limit (config `s3.max_size`), reported by `GET /api/storage`.
    pub max_size: u64,
    /// Failed web sign-ins (per access key, and per client address) before a lockout.
    pub login_max_failures: u32,
    /// How long a lockout lasts; failures further apart than this do not add up.
    pub login_lockout: Duration,
    /// Mark the session cookie `Secure`: set when the admin listener speaks TLS (a `Secure`
    /// cookie would never come back over plain HTTP).
    pub secure_cookie: bool,
    /// Proxies whose `X-Forwarded-For` names the client (config `admin.trusted_proxies`);
    /// from any other peer the header is ignored.
    pub trusted_proxies: Vec<gatehouse_store::ops::PeerNet>,
}

impl AdminConfig {
    pub const DEFAULT_LOGIN_MAX_FAILURES: u32 = 5;
    pub const DEFAULT_LOGIN_LOCKOUT: Duration = Duration::from_secs(15 * 60);
}

#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub cfg: AdminConfig,
    ids: Arc<request_log::RequestIds>,
    sessions: Arc<session::Sessions>,
}

impl AdminState {
    pub fn new(store: Store, cfg: AdminConfig) -> Self {
        AdminState {
            sessions: Arc::new(session::Sessions::new(
                cfg.login_max_failures,
                cfg.login_lockout,
            )),
            store,
            cfg,
            ids: Arc::new(request_log::RequestIds::new()),
        }
    }
}

/// The admin API (every route under `/api/`) and the web page, as an axum router. Serve it
/// with `into_make_service_with_connect_info::<SocketAddr>()` so sign-in lockouts can count
/// per client address (without it they count per access key only).
pub fn router(state: AdminState) -> Router {
    let api = routes::table()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_log::log_request,
        ))
        .with_state(state);
    // Resolved before the inner router matches the path (see `share_alias`).
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::map_request(share_alias::resolve))
        .layer(axum::middleware::map_response(nosniff))
}

/// Every response, errors included, is what its `Content-Type` says: a browser must never
/// sniff an object's bytes or an error's text into something that runs.
async fn nosniff(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    resp
}
