//! `GET /api/info` (no auth), `GET /api/me`, `GET /api/panels`.

use axum::extract::State;
use axum::response::Response;
use gatehouse_store::model::AdminMatch;
use gatehouse_store::ops::PanelInfo;
use serde::Serialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::json;

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
        version: env!("CARGO_PKG_VERSION"),
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
