//! The key service (decision 0046) as the Keys panel and the CLI see it: keys created,
//! listed, described, enabled/disabled, rotated, scheduled for deletion (and cancelled), and
//! the audit log of their uses and changes. `{key}` is a key id, `alias/<name>` (its slash
//! percent-encoded) or an ARN. Who may do what is the store's call (`manage`/`use` on `kms`).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param, Query};

/// `GET /api/kms/keys`: the keys the caller may manage or use.
pub async fn list(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.kms().list(&c.principal)?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// `alias/<name>` or `<name>`.
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/kms/keys` `{"alias"?, "description"?}`.
pub async fn create(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: CreateBody = json::read_optional(Some(&c.payload), body).await?;
    let spec = gatehouse_store::kms::KeySpec {
        alias: b.alias.filter(|a| !a.is_empty()),
        description: b.description.unwrap_or_default(),
    };
    Ok(json::created(
        &st.store.kms().create(&c.principal, spec).await?,
    ))
}

/// `GET /api/kms/keys/{key}`.
pub async fn describe(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.kms().describe(&c.principal, &key)?))
}

/// `POST /api/kms/keys/{key}/enable`.
pub async fn enable(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.kms().set_enabled(&c.principal, &key, true).await?,
    ))
}

/// `POST /api/kms/keys/{key}/disable`.
pub async fn disable(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store
            .kms()
            .set_enabled(&c.principal, &key, false)
            .await?,
    ))
}

/// `POST /api/kms/keys/{key}/rotate`: a new material version for new writes.
pub async fn rotate(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.kms().rotate(&c.principal, &key).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    /// The waiting period (7–30 days; default 30).
    #[serde(default)]
    days: Option<u32>,
}

/// `POST /api/kms/keys/{key}/schedule-deletion` `{"days"?}`.
pub async fn schedule_deletion(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: ScheduleBody = json::read_optional(Some(&c.payload), body).await?;
    Ok(json::ok(
        &st.store
            .kms()
            .schedule_deletion(&c.principal, &key, b.days)
            .await?,
    ))
}

/// `POST /api/kms/keys/{key}/cancel-deletion`: back to disabled.
pub async fn cancel_deletion(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.kms().cancel_deletion(&c.principal, &key).await?,
    ))
}

fn limit(q: &Query) -> ApiResult<usize> {
    match q.get("limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::invalid_request("limit is 1 to 10000")),
    }
}

/// `GET /api/kms/keys/{key}/audit?limit=`: the key's newest events, newest first.
pub async fn key_audit(
    State(st): State<AdminState>,
    c: Caller,
    Param(key): Param<String>,
    q: Query,
) -> ApiResult<Response> {
    let n = limit(&q)?;
    Ok(json::ok(
        &st.store.kms().audit(&c.principal, Some(&key), n).await?,
    ))
}

/// `GET /api/kms/audit?limit=`: every key's newest events, newest first.
pub async fn audit(State(st): State<AdminState>, c: Caller, q: Query) -> ApiResult<Response> {
    let n = limit(&q)?;
    Ok(json::ok(
        &st.store.kms().audit(&c.principal, None, n).await?,
    ))
}
