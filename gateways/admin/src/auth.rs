//! Who is calling: the same credentials as S3 (SigV4 header or presigned query, Basic
//! `access:secret`, Bearer `access:secret`), checked by `gatehouse_s3::auth`, then resolved into
//! the store's [`Principal`]. Nothing here decides what the caller may do: every store call
//! asks `rbac::authorize` itself.

use std::cell::RefCell;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use gatehouse_s3::auth::{AuthError, PayloadMode, RequestParts, authenticate};
use gatehouse_store::{Principal, Store, StoreError};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};

use crate::AdminState;
use crate::error::ApiError;
use crate::request_log::WhoSlot;
use crate::session::{self, SessionInfo};

/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated request: who, with which access key, and what the body must still prove.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub access_key: String,
    pub payload: PayloadMode,
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let caller = if carries_credentials(parts) {
            identify(&state.store, parts)?
        } else if let Some(id) = session::cookie_id(&parts.headers) {
            from_session(state, parts, id)?
        } else {
            identify(&state.store, parts)?
        };
        if let Some(slot) = parts.extensions.get::<WhoSlot>() {
            slot.set(&caller.principal.name);
        }
        // Rate limits (issue 22), counted per principal as S3 requests are.
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let addr = crate::session::client_addr(peer, &parts.headers, &state.cfg.trusted_proxies);
        state
            .store
            .admit(&caller.principal, addr)
            .map_err(ApiError::rate_limited)?;
        Ok(caller)
    }
}

/// Checks the request's credentials and resolves the principal from the same lookup that
/// supplied the secret, so a rotation between the two cannot mix users.
pub fn identify(store: &Store, parts: &Parts) -> Result<Caller, ApiError> {
    // HTTP/2 carries the host in `:authority`; signatures cover it as `host`.
    let with_host;
    let headers = if parts.headers.contains_key(http::header::HOST) {
        &parts.headers
    } else {
        let mut h = parts.headers.clone();
        if let Some(a) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            h.insert(http::header::HOST, v);
        }
        with_host = h;
        &with_host
    };
    let found: RefCell<Option<Result<Principal, StoreError>>> = RefCell::new(None);
    let lookup = |access_key: &str| match store.lookup_credential(access_key) {
        Ok(Some((secret, p))) => {
            *found.borrow_mut() = Some(Ok(p));
            Some(secret)
        }
        Ok(None) => None,
        Err(e) => {
            *found.borrow_mut() = Some(Err(e));
            None
        }
    };
    // A signature covers the URI as sent, before a share alias in it was resolved.
    let uri = parts
        .extensions
        .get::<crate::share_alias::SignedUri>()
        .map_or(&parts.uri, |s| &s.0);
    let rp = RequestParts {
        method: parts.method.as_str(),
        raw_path: uri.path(),
        raw_query: uri.query(),
        headers,
    };
    let outcome = authenticate(&rp, SystemTime::now(), &lookup);
    match (outcome, found.into_inner()) {
        // A failing store is not an unknown key: say so.
        (_, Some(Err(e))) => Err(e.into()),
        (Ok(a), Some(Ok(principal))) => Ok(Caller {
            principal,
            access_key: a.access_key,
            payload: a.payload,
        }),
        (Ok(_), None) => Err(AuthError::InvalidAccessKeyId.into()),
        (Err(e), _) => Err(e.into()),
    }
}

/// Whether the request brings its own credentials (header or presigned query), which win
/// over any cookie.
fn carries_credentials(parts: &Parts) -> bool {
    parts.headers.contains_key(http::header::AUTHORIZATION)
        || parts.uri.query().is_some_and(|q| {
            q.split('&').any(|p| {
                let name = p.split_once('=').map_or(p, |(n, _)| n);
                matches!(
                    name,
                    "X-Amz-Algorithm" | "X-Amz-Signature" | "X-Amz-Credential" | "AWSAccessKeyId"
                )
            })
        })
}

/// The session behind a cookie id and the principal its access key resolves to now; `None`
/// when the session is unknown, expired, or its key no longer has the secret it signed in with.
pub fn live_session(
    state: &AdminState,
    id: &str,
) -> Result<Option<(SessionInfo, Principal)>, ApiError> {
    let mut principal = None;
    let info = state.sessions.check(id, |ak| {
        Ok::<_, StoreError>(state.store.lookup_credential(ak)?.map(|(secret, p)| {
            principal = Some(p);
            secret
        }))
    })?;
    Ok(info.zip(principal))
}

fn from_session(state: &AdminState, parts: &Parts, id: &str) -> Result<Caller, ApiError> {
    let dead = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.session_expired",
            "the session has ended (signed out, expired, or the credentials changed): sign in again",
        )
    };
    let (info, principal) = live_session(state, id)?.ok_or_else(dead)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same_secret(sent, &info.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.csrf",
                "a request signed in by cookie that changes something must send the session's \
                 CSRF token in X-CSRF-Token",
            ));
        }
    }
    Ok(Caller {
        principal,
        access_key: info.access_key,
        payload: PayloadMode::Unsigned,
    })
}
