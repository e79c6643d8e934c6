//! Who is calling: the same credentials as S3 (SigV4 header or presigned query, Basic
//! `access:secret`, Bearer `access:secret`), checked by `gatehouse_s3::auth`, then resolved into
//! the store's [`Principal`]. Nothing here decides what the caller may do: every store call
//! asks `rbac::authorize` itself.

use std::cell::RefCell;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use gatehouse_s3::auth::{AuthError, PayloadMode, RequestParts, authenticate};
use gatehouse_store::{Principal, Store, StoreError};
use http::HeaderValue;
use http::request::Parts;

use crate::AdminState;
use crate::error::ApiError;
use crate::request_log::WhoSlot;

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
        let caller = identify(&state.store, parts)?;
        if let Some(slot) = parts.extensions.get::<WhoSlot>() {
            slot.set(&caller.principal.name);
        }
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
    let rp = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
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
