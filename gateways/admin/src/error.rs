//! The admin API's one error type and the one table from store errors to HTTP.
//!
//! Every error renders as `{"error": code, "message": text}`. Codes are stable: a store error
//! keeps its own code from the store's registry ([`StoreError::code`]: `rbac.denied`,
//! `identity.no_such_user`, …); errors born here use the `api.` and `auth.` namespaces below.
//! Internal errors show the client a generic message; the cause is logged once, here.

use axum::response::{IntoResponse, Response};
use gatehouse_s3::auth::AuthError;
use gatehouse_store::StoreError;
use http::{HeaderValue, StatusCode};

/// The error code of a response, for the request log line.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 over a rate limit).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The request is well-formed JSON but asks for something inconsistent.
    /// 429 with `Retry-After`: over the caller's request rate (issue 22).
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "api.rate_limited",
                format!("too many requests: retry after {secs} s"),
            )
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "api.invalid_request", message)
    }

    pub fn invalid_json(e: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "api.invalid_json",
            format!("the request body is not the expected JSON: {e}"),
        )
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "api.no_such_route",
            format!("no API route {method} {path}"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "api.method_not_allowed",
            format!("{path} does not accept {method}"),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "api.payload_too_large",
            format!("JSON request bodies are limited to {limit} bytes"),
        )
    }

    pub(crate) fn internal(cause: &str) -> Self {
        tracing::warn!(cause, "admin API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store.internal",
            "internal error; the server log has the cause",
        )
    }
}

impl From<StoreError> for ApiError {
    /// The one mapping table. Exhaustive on purpose: a new store error must be placed here.
    ///
    /// `QuotaExceeded` is 403, as on S3: the caller's allowance is used up, which retrying will
    /// not fix; 507 is kept for the disk itself being full (`NoSpace`).
    fn from(e: StoreError) -> Self {
        use StatusCode as S;
        use StoreError as E;
        let status = match &e {
            E::NoSuchBucket
            | E::NoSuchKey
            | E::NoSuchVersion
            | E::DeleteMarker { .. }
            | E::NoObjectLockConfiguration
            | E::NoObjectLock
            | E::NoSuchBucketSetting(_)
            | E::NoSuchUpload
            | E::NoSuchUser(_)
            | E::NoSuchGroup(_)
            | E::NoSuchRole(_)
            | E::NoSuchBinding(_)
            | E::NoSuchShare(_)
            | E::NoSuchLifecycleConfiguration
            | E::NoSuchPeer(_)
            | E::NoSuchReplicationConfiguration
            | E::NoSuchConnection(_)
            | E::NoSuchKmsKey(_)
            | E::Stale => S::NOT_FOUND,
            E::BucketAlreadyOwnedByYou
            | E::BucketAlreadyExists
            | E::BucketNotEmpty
            | E::InvalidBucketState(_)
            | E::KmsKeyDisabled(_)
            | E::KmsInvalidState(_)
            | E::Conflict(_) => S::CONFLICT,
            E::InvalidBucketName(_)
            | E::InvalidKey(_)
            | E::KeyTooLong
            | E::InvalidPart(_)
            | E::InvalidPartOrder
            | E::EntityTooSmall { .. }
            | E::BadDigest
            | E::ChecksumMismatch { .. }
            | E::ContentSha256Mismatch
            | E::IncompleteBody
            | E::InvalidArgument(_)
            | E::InvalidVersionId
            | E::InvalidRequest(_)
            | E::MalformedPolicy(_)
            | E::AclNotSupported(_)
            | E::NotADirectory(_)
            | E::IsADirectory(_)
            | E::NotPermitted(_)
            | E::TooManyLinks(_)
            | E::Body(_) => S::BAD_REQUEST,
            E::EntityTooLarge(_) => S::PAYLOAD_TOO_LARGE,
            E::InvalidRange => S::RANGE_NOT_SATISFIABLE,
            E::PreconditionFailed => S::PRECONDITION_FAILED,
            E::AccessDenied(_) | E::QuotaExceeded(_) => S::FORBIDDEN,
            E::NoSpace => S::INSUFFICIENT_STORAGE,
            E::Unavailable(_) => S::SERVICE_UNAVAILABLE,
            E::Corrupt(_) | E::Internal(_) => {
                let mut err = ApiError::internal(&e.to_string());
                err.code = e.code();
                return err;
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<AuthError> for ApiError {
    /// Who-are-you failures: 401 when the server does not know the caller (no credentials, an
    /// unknown access key), 403 when it does and the proof is wrong or stale, 400 when the
    /// credentials cannot even be read.
    fn from(e: AuthError) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            AuthError::Missing => (S::UNAUTHORIZED, "auth.missing"),
            AuthError::InvalidAccessKeyId => (S::UNAUTHORIZED, "auth.unknown_access_key"),
            AuthError::SignatureDoesNotMatch => (S::FORBIDDEN, "auth.bad_signature"),
            AuthError::HeadersNotSigned(_) => (S::FORBIDDEN, "auth.unsigned_headers"),
            AuthError::RequestTimeTooSkewed => (S::FORBIDDEN, "auth.clock_skew"),
            AuthError::Expired => (S::FORBIDDEN, "auth.expired"),
            AuthError::NotYetValid => (S::FORBIDDEN, "auth.not_yet_valid"),
            AuthError::IncompleteQueryAuth => (S::FORBIDDEN, "auth.malformed"),
            AuthError::AuthorizationHeaderMalformed(_)
            | AuthError::AuthorizationQueryParametersError(_)
            | AuthError::InvalidArgument(_)
            | AuthError::InvalidRequest(_) => (S::BAD_REQUEST, "auth.malformed"),
            AuthError::IncompleteBody | AuthError::InvalidChunk(_) => {
                (S::BAD_REQUEST, "auth.bad_body")
            }
        };
        let message = match &e {
            AuthError::Missing => "authentication required: sign the request with SigV4, or send \
                 Authorization: Basic base64(access:secret) or Bearer access:secret"
                .to_string(),
            other => other.to_string(),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut resp = crate::json::reply(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            // Bearer, not Basic: a browser would pop up a password dialog for Basic.
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
