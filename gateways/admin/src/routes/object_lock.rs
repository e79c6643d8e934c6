//! A bucket's object lock (S3's ObjectLockConfiguration): whether it is on and the default
//! retention new versions get. Enabling it needs versioning enabled, and it is never turned
//! off (the store refuses). Per-version retention and legal holds are the S3 API's.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::StoreError;
use gatehouse_store::model::{DefaultRetention, LockMode};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param};

/// A default retention as JSON: `{"mode": "GOVERNANCE"|"COMPLIANCE", "days"|"years": n}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retention {
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    years: Option<u32>,
}

impl From<DefaultRetention> for Retention {
    fn from(d: DefaultRetention) -> Self {
        Retention {
            mode: d.mode.as_str().to_string(),
            days: d.days,
            years: d.years,
        }
    }
}

#[derive(Serialize)]
struct LockState {
    bucket: String,
    enabled: bool,
    /// `null`: versions get no retention unless their writer asks for one.
    default_retention: Option<Retention>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    /// `null` or absent: no default retention.
    #[serde(default)]
    default_retention: Option<Retention>,
}

fn state(st: &AdminState, c: &Caller, bucket: String) -> ApiResult<LockState> {
    match st.store.object_lock(&c.principal, &bucket) {
        Ok(cfg) => Ok(LockState {
            bucket,
            enabled: true,
            default_retention: cfg.default.map(Retention::from),
        }),
        // The state of a bucket without object lock, not an error to the page or the CLI.
        Err(StoreError::NoObjectLockConfiguration) => Ok(LockState {
            bucket,
            enabled: false,
            default_retention: None,
        }),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/buckets/{b}/object-lock`.
pub async fn get(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&state(&st, &c, bucket)?))
}

/// `PUT /api/buckets/{b}/object-lock` `{"default_retention": {…} | null}`: enables object lock
/// (on a bucket with versioning enabled) and sets or clears its default retention; answers
/// with the state as the store now has it.
pub async fn set(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: SetBody = json::read(Some(&c.payload), body).await?;
    let default = b
        .default_retention
        .map(|r| {
            let mode = LockMode::parse(&r.mode).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "mode must be GOVERNANCE or COMPLIANCE, not {:?}",
                    r.mode
                ))
            })?;
            Ok::<_, ApiError>(DefaultRetention {
                mode,
                days: r.days,
                years: r.years,
            })
        })
        .transpose()?;
    st.store
        .put_object_lock(&c.principal, &bucket, default)
        .await?;
    Ok(json::ok(&state(&st, &c, bucket)?))
}
