//! NFS peers: client address → user.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json::{self, Param};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    address: String,
    /// User id or name.
    user: String,
    #[serde(default)]
    description: String,
}

pub async fn list(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.list_peers(&c.principal)?))
}

pub async fn add(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: AddBody = json::read(Some(&c.payload), body).await?;
    let info = st
        .store
        .add_peer(&c.principal, &b.address, &b.user, &b.description)
        .await?;
    Ok(json::created(&info))
}

pub async fn remove(
    State(st): State<AdminState>,
    c: Caller,
    Param(address): Param<String>,
) -> ApiResult<Response> {
    st.store.remove_peer(&c.principal, &address).await?;
    Ok(json::no_content())
}
