//! gatehouse-admin: the admin JSON API (users, join, groups, roles, bindings, buckets,
//! objects) that the CLI and the Data tab drive. Thin: authenticate → one `store` call →
//! render JSON.
//!
//! # Layout
//! - `routes/`: the route table (`routes/mod.rs`, which lists every endpoint) and one module
//!   per family: `info` (info, me, panels), `users` (users, self-service join), `access`
//!   (groups, roles, bindings), `buckets`, `objects` (streamed bodies).
//! - `auth`: the [`Caller`](auth::Caller) extractor: S3 credentials (SigV4, presigned, Basic,
//!   Bearer) checked by `gatehouse_s3::auth`, resolved into the store's `Principal`.
//! - `json`: JSON bodies (1 MiB, signed SHA-256 checked), path and query parameters, replies.
//! - `error`: [`ApiError`](error::ApiError) and the one table from `StoreError` to HTTP status
//!   and stable code; every error is `{"error": code, "message": text}`.
//! - `request_log`: request ids and one log line per request.
//!
//! Invariant: no access decision is made here. Every store operation calls
//! `gatehouse_store::rbac::authorize` itself; this crate only authenticates, calls, renders.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod error;
pub mod json;
mod request_log;
mod routes;

use std::sync::Arc;

use axum::Router;
use gatehouse_store::Store;

/// Settings of the admin API.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Region accepted in SigV4 signatures (any region signs, as on S3).
    pub region: String,
    /// Where the S3 gateway listens, reported by `GET /api/info`.
    pub s3_endpoint: String,
    /// Where NFS + MOUNT listen (`ADDR:PORT`), reported by `GET /api/info`.
    pub nfs_endpoint: String,
}

#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub cfg: AdminConfig,
    ids: Arc<request_log::RequestIds>,
}

impl AdminState {
    pub fn new(store: Store, cfg: AdminConfig) -> Self {
        AdminState {
            store,
            cfg,
            ids: Arc::new(request_log::RequestIds::new()),
        }
    }
}

/// The admin API as an axum router (every route under `/api/`).
pub fn router(state: AdminState) -> Router {
    routes::table()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_log::log_request,
        ))
        .with_state(state)
}
