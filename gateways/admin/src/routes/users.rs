//! Users (`/api/users…`) and the self-service join (`/api/join…`, no auth: the join proves
//! possession of the private key and of the enrolment token instead).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::ops::{JOIN_NONCE_TTL, JoinRequest, Registered};
use serde::{Deserialize, Serialize};

use super::session::ClientAddr;
use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param};

pub async fn list(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.list_users(&c.principal)?))
}

pub async fn show(
    State(st): State<AdminState>,
    c: Caller,
    Param(who): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.show_user(&c.principal, &who)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    /// OpenSSH line (`ssh-ed25519 AAAA… comment`) or 64 hex characters.
    public_key: String,
    name: String,
}

/// 201 with the new user's credentials. A key registered already: 200 with its user's
/// credentials (`created: false`) for an admin, 409 naming the user for anyone else (public
/// keys are listed; naming one must not hand out its secret).
pub async fn register(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: RegisterBody = json::read(Some(&c.payload), body).await?;
    let r = st
        .store
        .register_user(&c.principal, b.public_key.as_bytes(), &b.name)
        .await?;
    Ok(registered(&r))
}

pub async fn remove(
    State(st): State<AdminState>,
    c: Caller,
    Param(who): Param<String>,
) -> ApiResult<Response> {
    st.store.remove_user(&c.principal, &who).await?;
    Ok(json::no_content())
}

/// New credentials; the old access key stops working at once. One's own, or anyone's by an
/// admin (403 otherwise, whether or not the user exists).
pub async fn rotate(
    State(st): State<AdminState>,
    c: Caller,
    Param(who): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.rotate_credentials(&c.principal, &who).await?,
    ))
}

#[derive(Serialize)]
struct Nonce {
    nonce: String,
    expires_in_secs: u64,
}

/// Unauthenticated requests count against their address's rate, as unsigned S3 requests do:
/// a flood of nonces or join attempts from one address is slowed, not served.
fn admit(st: &AdminState, addr: ClientAddr) -> ApiResult<()> {
    st.store
        .admit_address(addr.0)
        .map_err(ApiError::rate_limited)
}

pub async fn join_nonce(State(st): State<AdminState>, addr: ClientAddr) -> ApiResult<Response> {
    admit(&st, addr)?;
    Ok(json::ok(&Nonce {
        nonce: st.store.join_nonce()?,
        expires_in_secs: JOIN_NONCE_TTL.as_secs(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinBody {
    public_key: String,
    name: String,
    nonce: String,
    /// Hex or base64 Ed25519 signature of `identity::join_message(nonce, name, key)`.
    signature: String,
    token: String,
}

pub async fn join(
    State(st): State<AdminState>,
    addr: ClientAddr,
    body: Body,
) -> ApiResult<Response> {
    admit(&st, addr)?;
    let b: JoinBody = json::read(None, body).await?;
    let r = st
        .store
        .join(JoinRequest {
            public_key: b.public_key,
            name: b.name,
            nonce: b.nonce,
            signature: b.signature,
            token: b.token,
        })
        .await?;
    Ok(registered(&r))
}

fn registered(r: &Registered) -> Response {
    if r.created {
        json::created(r)
    } else {
        json::ok(r)
    }
}
