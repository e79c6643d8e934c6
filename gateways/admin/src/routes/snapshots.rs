//! Share snapshots as the Shares panel and the CLI see them: take one, list them, delete one,
//! and put a file, a directory or the whole share back as a snapshot has it. A snapshot is
//! read as bucket `fs+<share>@<name>` over S3 and under `/<share>/.snapshots/<name>/` over
//! NFS; these routes only manage them. Who may do what is the store's call.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json::{self, Param};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Default: `snap-<unix seconds>`.
    #[serde(default)]
    name: Option<String>,
}

/// `GET /api/shares/{share}/snapshots`: oldest first.
pub async fn list(
    State(st): State<AdminState>,
    c: Caller,
    Param(share): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.list_snapshots(&c.principal, &share)?))
}

/// `POST /api/shares/{share}/snapshots` `{"name"?}` (an empty body takes the default name).
pub async fn create(
    State(st): State<AdminState>,
    c: Caller,
    Param(share): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: CreateBody = json::read_optional(Some(&c.payload), body).await?;
    let name = b.name.filter(|n| !n.is_empty());
    let info = st
        .store
        .create_snapshot(&c.principal, &share, name.as_deref())
        .await?;
    Ok(json::created(&info))
}

/// `DELETE /api/shares/{share}/snapshots/{name}`.
pub async fn delete(
    State(st): State<AdminState>,
    c: Caller,
    Param((share, name)): Param<(String, String)>,
) -> ApiResult<Response> {
    st.store
        .delete_snapshot(&c.principal, &share, &name)
        .await?;
    Ok(json::no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// `""` the whole share, `dir/` (or `dir`) a directory, `a/b.txt` one file.
    #[serde(default)]
    path: String,
}

#[derive(Serialize)]
struct Restored {
    share: String,
    snapshot: String,
    path: String,
    /// Files put back as the snapshot has them.
    restored: u64,
    /// Files under the path that the snapshot did not have, removed.
    removed: u64,
}

/// `POST /api/shares/{share}/snapshots/{name}/restore` `{"path": ""}`: one commit.
pub async fn restore(
    State(st): State<AdminState>,
    c: Caller,
    Param((share, name)): Param<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let b: RestoreBody = json::read(Some(&c.payload), body).await?;
    let r = st
        .store
        .restore_snapshot(&c.principal, &share, &name, &b.path)
        .await?;
    Ok(json::ok(&Restored {
        share,
        snapshot: name,
        path: b.path,
        restored: r.restored,
        removed: r.removed,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    /// Days a snapshot is kept; `null` (or absent): until deleted.
    #[serde(default)]
    days: Option<u32>,
}

/// `PUT /api/shares/{share}/snapshot-retention` `{"days": N | null}`: the sweeper deletes the
/// share's snapshots older than N days.
pub async fn retention(
    State(st): State<AdminState>,
    c: Caller,
    Param(share): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: RetentionBody = json::read(Some(&c.payload), body).await?;
    st.store
        .set_snapshot_retention(&c.principal, &share, b.days)
        .await?;
    Ok(json::ok(
        &serde_json::json!({ "share": share, "days": b.days }),
    ))
}
