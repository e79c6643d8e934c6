//! Users (`/api/users…`) and the self-service join (`/api/join…`, no auth: the join proves
//! possession of the private key and of the enrolment token instead).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::ops::{JOIN_NONCE_TTL, JoinRequest, Registered};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
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

/// 201 with the new user's credentials; 200 with the existing user's when the key was
/// already registered (`created: false`).
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

/// New credentials; the old access key stops working at once.
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

pub async fn join_nonce(State(st): State<AdminState>) -> ApiResult<Response> {
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

pub async fn join(State(st): State<AdminState>, body: Body) -> ApiResult<Response> {
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
