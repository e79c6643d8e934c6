//! `GET /api/health`, `GET /api/info`, `GET /api/openapi.json` (no auth), `GET /api/me`, `GET /api/me/nfs-token`,
//! `GET /api/panels`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_store::model::AdminMatch;
use gatehouse_store::ops::PanelInfo;
use serde::Serialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json;

/// The server's version, as `/api/health` and `/api/info` both report it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The OpenAPI document of this API (hand-written; checked against the route table by a test).
pub(super) const OPENAPI: &str = include_str!("../../openapi.json");

#[derive(Serialize)]
struct Health {
    /// "ok", or "degraded" (with HTTP 503) when the database does not answer or the data disk
    /// takes no writes.
    status: &'static str,
    version: &'static str,
    store: gatehouse_store::StoreHealth,
    /// With metadata snapshots shipped to a remote chunk backend: the age of the newest one,
    /// what a restore from the backend would lose now (absent before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata_snapshot_age_seconds: Option<f64>,
}

/// Health for load balancers and probes: 200 while the store reads and writes, 503 otherwise.
pub async fn health(State(st): State<AdminState>) -> Response {
    let store = st.store.clone();
    let h = match tokio::task::spawn_blocking(move || store.health()).await {
        Ok(h) => h,
        Err(e) => gatehouse_store::StoreHealth {
            schema_version: None,
            database_error: Some(e.to_string()),
            blobs_writable: false,
        },
    };
    let ok = h.ok();
    json::reply(
        if ok {
            http::StatusCode::OK
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        },
        &Health {
            status: if ok { "ok" } else { "degraded" },
            version: VERSION,
            store: h,
            metadata_snapshot_age_seconds: st.store.metrics().snapshot_age_seconds(),
        },
    )
}

pub async fn openapi() -> Response {
    let mut resp = OPENAPI.into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[derive(Serialize)]
struct Info<'a> {
    service: &'static str,
    version: &'static str,
    s3_endpoint: &'a str,
    /// `ADDR:PORT` of NFSv3 and MOUNT (one port).
    nfs_endpoint: &'a str,
    region: &'a str,
}

pub async fn info(State(st): State<AdminState>) -> Response {
    json::ok(&Info {
        service: "gatehouse",
        version: VERSION,
        s3_endpoint: &st.cfg.s3_endpoint,
        nfs_endpoint: &st.cfg.nfs_endpoint,
        region: &st.cfg.region,
    })
}

#[derive(Serialize)]
struct Me {
    user_id: String,
    name: String,
    admin: bool,
    /// "peer-id" or "name": how config `admin_peers` matched.
    admin_match: Option<&'static str>,
    service: bool,
    groups: Vec<String>,
    access_key: String,
    panels: Vec<PanelInfo>,
}

/// The caller as this request runs: resolved from the policy current when it arrived.
pub async fn me(State(st): State<AdminState>, c: Caller) -> Response {
    let panels = st.store.panels(&c.principal);
    let p = c.principal;
    json::ok(&Me {
        admin: p.is_admin(),
        admin_match: p.admin.map(admin_match_name),
        service: p.service,
        user_id: p.user_id,
        name: p.name,
        groups: p.groups,
        access_key: c.access_key,
        panels,
    })
}

#[derive(serde::Serialize)]
struct NfsToken {
    user_id: String,
    token: String,
}

/// `GET /api/me/nfs-token`: the caller's own NFS mount token (mount `/<share>@<token>`).
pub async fn nfs_token(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    let token = st.store.nfs_mount_token(&c.principal)?;
    Ok(json::ok(&NfsToken {
        user_id: c.principal.user_id,
        token,
    }))
}

pub async fn panels(State(st): State<AdminState>, c: Caller) -> Response {
    json::ok(&st.store.panels(&c.principal))
}

/// The spelling `UserInfo::admin_match` uses too.
fn admin_match_name(m: AdminMatch) -> &'static str {
    match m {
        AdminMatch::PeerId => "peer-id",
        AdminMatch::Name => "name",
    }
}

/// `GET /metrics`: Prometheus text format, no credentials (aggregate numbers only; keep the
/// admin listener on a trusted network, as by default on loopback).
pub async fn metrics(State(st): State<AdminState>) -> Response {
    let store = st.store.clone();
    let (gauges, rules) = tokio::task::spawn_blocking(move || {
        (store.storage_gauges(), store.replication().all_statuses())
    })
    .await
    .unwrap_or_else(|e| {
        let e = || gatehouse_store::StoreError::Internal(e.to_string());
        (Err(e()), Err(e()))
    });
    let gauges = gauges
        .map_err(|e| tracing::warn!(error = %e, "metrics gauges"))
        .unwrap_or_default();
    let rules = rules
        .map_err(|e| tracing::warn!(error = %e, "replication metrics"))
        .unwrap_or_default();
    let mut body = st.store.metrics().render(&gauges);
    body.push_str(&gatehouse_store::metrics::render_replication(&rules));
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
