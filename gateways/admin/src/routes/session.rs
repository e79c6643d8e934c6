//! `/api/session`: web sign-in with an access key and secret, who is signed in, sign-out.
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/`, and `Secure` only when the admin listener
//! itself speaks TLS (`tls:` in the config): on plain HTTP (loopback by default) a `Secure`
//! cookie would never be sent back. Behind a TLS-terminating proxy the cookie travels inside
//! the proxy's TLS just the same, without the flag.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use gatehouse_store::{Principal, StoreError};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::live_session;
use crate::error::{ApiError, ApiResult};
use crate::json;
use crate::session::{self, COOKIE, SESSION_TTL, SessionInfo};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    access_key: String,
    secret_key: String,
}

#[derive(Serialize)]
struct Signed {
    user_id: String,
    name: String,
    access_key: String,
    /// Send as `X-CSRF-Token` with every POST/PUT/PATCH/DELETE.
    csrf_token: String,
    expires_in_secs: u64,
}

impl Signed {
    fn new(p: Principal, info: SessionInfo) -> Self {
        Signed {
            user_id: p.user_id,
            name: p.name,
            access_key: info.access_key,
            csrf_token: info.csrf,
            expires_in_secs: info.expires_in.as_secs(),
        }
    }
}

/// The client's address, when the listener records it: the peer, or what a trusted proxy
/// says in `X-Forwarded-For` ([`session::client_addr`]).
pub struct ClientAddr(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<AdminState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(session::client_addr(
            peer,
            &parts.headers,
            &st.cfg.trusted_proxies,
        )))
    }
}

/// `POST /api/session {"access_key","secret_key"}`: 200 with the CSRF token and a cookie;
/// 401 on a wrong key or secret; 429 while the key is locked out, or for a wrong key or
/// secret while the address is; 403 from a page of another origin (below).
pub async fn sign_in(
    State(st): State<AdminState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    refuse_other_origins(&headers)?;
    let b: SignIn = json::read(None, body).await?;
    let locked = |left: std::time::Duration| {
        tracing::info!(target: "audit", access_key = %b.access_key, ?addr, "web sign-in refused: locked out");
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "auth.locked_out",
            format!(
                "too many failed sign-ins: try again in {} minute(s)",
                left.as_secs().div_ceil(60).max(1)
            ),
        )
    };
    // A locked key is refused whatever the secret; a locked address only refuses wrong ones.
    if let Some(left) = st.sessions.key_locked_out(&b.access_key) {
        return Err(locked(left));
    }
    let addr_locked = st.sessions.addr_locked_out(addr);
    let found = st.store.lookup_credential(&b.access_key)?;
    let principal = match found {
        Some((secret, p)) if session::same_secret(&b.secret_key, &secret) => p,
        _ => {
            st.sessions.failed(&b.access_key, addr);
            if let Some(left) = addr_locked {
                return Err(locked(left));
            }
            tracing::info!(target: "audit", access_key = %b.access_key, ?addr, "web sign-in failed");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.bad_credentials",
                "unknown access key or wrong secret",
            ));
        }
    };
    st.sessions.succeeded(&b.access_key);
    // Signing in again replaces the browser's previous session rather than leaving it live.
    if let Some(old) = session::cookie_id(&headers) {
        st.sessions.end(old);
    }
    let (id, csrf) = st
        .sessions
        .create(&b.access_key, &b.secret_key)
        .map_err(StoreError::Internal)?;
    tracing::info!(target: "audit", user = %principal.name, ?addr, "web sign-in");
    let info = SessionInfo {
        access_key: b.access_key,
        csrf,
        expires_in: SESSION_TTL,
    };
    let mut resp = json::ok(&Signed::new(principal, info));
    set_cookie(&mut resp, &id, SESSION_TTL.as_secs(), st.cfg.secure_cookie)?;
    Ok(resp)
}

/// A sign-in comes from this origin's own page (`Sec-Fetch-Site: same-origin`) or from no
/// page at all (`none`, or no header: the CLI, curl, an older browser). A page of the same
/// site on another port (the S3 endpoint serves bucket content) or of another site must not
/// sign the viewer's browser in as somebody else (login CSRF). The JSON content type, which
/// such a page cannot send without a preflight this API never answers, is required too
/// (`crate::takes`).
fn refuse_other_origins(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
        None | Some(b"same-origin" | b"none") => Ok(()),
        Some(other) => {
            tracing::info!(target: "audit", sec_fetch_site = %String::from_utf8_lossy(other), "web sign-in refused: another origin");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.cross_origin",
                "sign in from this server's own page: a sign-in from another origin is refused",
            ))
        }
    }
}

/// `GET /api/session`: who the cookie signs in, with the CSRF token; 401 without a live one.
pub async fn show(State(st): State<AdminState>, headers: HeaderMap) -> ApiResult<Response> {
    let live = match session::cookie_id(&headers) {
        Some(id) => live_session(&st, id)?,
        None => None,
    };
    match live {
        Some((info, p)) => Ok(json::ok(&Signed::new(p, info))),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.no_session",
            "not signed in",
        )),
    }
}

/// `DELETE /api/session`: ends the session (if any) and clears the cookie. Needs no CSRF
/// token: signing somebody out is no attack worth a failed sign-out.
pub async fn sign_out(State(st): State<AdminState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(id) = session::cookie_id(&headers) {
        st.sessions.end(id);
    }
    let mut resp = json::no_content();
    set_cookie(&mut resp, "", 0, st.cfg.secure_cookie)?;
    Ok(resp)
}

fn set_cookie(resp: &mut Response, id: &str, max_age: u64, secure: bool) -> ApiResult<()> {
    let secure = if secure { "; Secure" } else { "" };
    let v = HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| StoreError::Internal(format!("session cookie: {e}")))?;
    resp.headers_mut().insert(http::header::SET_COOKIE, v);
    Ok(())
}
