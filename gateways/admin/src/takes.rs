//! What a request may carry besides its path, declared per endpoint in the route table and
//! checked here, once, before any handler runs: so nothing a client sends is silently ignored.
//!
//! - Query parameters: only the names the endpoint declares (and those of a presigned
//!   signature); anything else is 400 `api.invalid_request`, so `GET …/metadata/k?version_id=V`
//!   on a route without versions cannot answer for the current version instead.
//! - Bodies: an endpoint that takes none refuses a non-empty one (400 `api.unexpected_body`);
//!   one that takes JSON needs `Content-Type: application/json` on a body (415
//!   `api.unsupported_media_type`). A browser sends that type across origins only after a CORS
//!   preflight, which this API never answers: a page elsewhere (the S3 endpoint's origin
//!   included) cannot post JSON here with the viewer's cookie or to the sign-in.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use crate::error::{ApiError, ApiResult};
use crate::json;

/// An endpoint's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// None: a non-empty body is refused.
    None,
    /// A JSON object, required.
    Json,
    /// A JSON object, or nothing (defaults).
    OptionalJson,
    /// Raw bytes (an object's content), any type.
    Bytes,
}

/// What an endpoint takes besides its path.
#[derive(Debug, Clone, Copy)]
pub struct Takes {
    pub query: &'static [&'static str],
    pub body: BodyKind,
}

impl Takes {
    pub const NOTHING: Takes = Takes {
        query: &[],
        body: BodyKind::None,
    };

    /// Refuses what the endpoint does not take; the request as it goes on (a body-less
    /// request's body read to check it is empty is put back empty).
    pub async fn admit(self, req: Request) -> ApiResult<Request> {
        let query = json::parse_query(req.uri().query().unwrap_or(""))?;
        if let Some(k) = query
            .keys()
            .filter(|k| !self.query.contains(&k.as_str()) && !signature_param(k))
            .min()
        {
            return Err(ApiError::invalid_request(if self.query.is_empty() {
                format!("unknown query parameter {k:?}: this route takes none")
            } else {
                format!(
                    "unknown query parameter {k:?} (known: {})",
                    self.query.join(", ")
                )
            }));
        }
        match self.body {
            BodyKind::Bytes => Ok(req),
            BodyKind::Json | BodyKind::OptionalJson => {
                if body_len(&req) != Some(0) && !is_json(&req) {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "api.unsupported_media_type",
                        "a JSON body needs Content-Type: application/json",
                    ));
                }
                Ok(req)
            }
            BodyKind::None => match body_len(&req) {
                Some(0) => Ok(req),
                Some(_) => Err(unexpected_body()),
                None => {
                    // Length unknown (chunked): read a little to tell empty from not.
                    let (parts, body) = req.into_parts();
                    let empty = Limited::new(body, 1024)
                        .collect()
                        .await
                        .is_ok_and(|c| c.to_bytes().is_empty());
                    if !empty {
                        return Err(unexpected_body());
                    }
                    Ok(Request::from_parts(parts, Body::empty()))
                }
            },
        }
    }
}

/// The middleware form of [`Takes::admit`].
pub async fn check(takes: Takes, req: Request, next: Next) -> Response {
    match takes.admit(req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn unexpected_body() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "api.unexpected_body",
        "this route takes no request body",
    )
}

/// The body's length when known: `Content-Length`, or a body that says it is empty.
fn body_len(req: &Request) -> Option<u64> {
    if let Some(v) = req.headers().get(http::header::CONTENT_LENGTH) {
        return v.to_str().ok().and_then(|v| v.trim().parse().ok());
    }
    axum::body::HttpBody::size_hint(req.body()).exact()
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Query names of a presigned request's signature (SigV4, SigV2): authentication, not input.
fn signature_param(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
        || matches!(name, "AWSAccessKeyId" | "Signature" | "Expires")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)], body: &'static str) -> Request {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body)).unwrap()
    }

    fn status(r: ApiResult<Request>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    #[tokio::test]
    async fn only_what_the_route_declares() {
        let q = Takes {
            query: &["version_id"],
            body: BodyKind::None,
        };
        assert_eq!(status(q.admit(req("/x?version_id=1", &[], "")).await), 200);
        assert_eq!(status(q.admit(req("/x?versionid=1", &[], "")).await), 400);
        let none = Takes::NOTHING;
        assert_eq!(
            status(none.admit(req("/x?version_id=1", &[], "")).await),
            400
        );
        let presigned = "/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab&X-Amz-Credential=c";
        assert_eq!(status(none.admit(req(presigned, &[], "")).await), 200);
        assert_eq!(status(none.admit(req("/x", &[], "{}")).await), 400);
        assert_eq!(status(none.admit(req("/x", &[], "")).await), 200);
    }

    #[tokio::test]
    async fn json_bodies_say_so() {
        let j = Takes {
            query: &[],
            body: BodyKind::Json,
        };
        let ct = |v| [("content-type", v)];
        assert_eq!(status(j.admit(req("/x", &[], "{}")).await), 415);
        assert_eq!(
            status(j.admit(req("/x", &ct("text/plain"), "{}")).await),
            415
        );
        assert_eq!(
            status(j.admit(req("/x", &ct("application/json"), "{}")).await),
            200
        );
        let charset = ct("Application/JSON; charset=utf-8");
        assert_eq!(status(j.admit(req("/x", &charset, "{}")).await), 200);
        let opt = Takes {
            query: &[],
            body: BodyKind::OptionalJson,
        };
        assert_eq!(status(opt.admit(req("/x", &[], "")).await), 200);
        assert_eq!(status(opt.admit(req("/x", &[], "{}")).await), 415);
        let bytes = Takes {
            query: &[],
            body: BodyKind::Bytes,
        };
        assert_eq!(
            status(bytes.admit(req("/x", &ct("text/html"), "<p>")).await),
            200
        );
    }
}
