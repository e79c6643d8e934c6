//! S3 errors: one type, one exhaustive mapping from store errors, rendered as S3 XML.

use axum::response::{IntoResponse, Response};
use gatehouse_store::{BucketSetting, StoreError};
use http::{HeaderValue, StatusCode};

use crate::auth::AuthError;
use crate::xml::XmlWriter;

#[derive(Debug, Clone)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements for the body, such as `<BucketName>`.
    pub extra: Vec<(&'static str, String)>,
    /// Response headers the error carries (`x-amz-delete-marker`, `x-amz-version-id`).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    /// 503 SlowDown with `Retry-After` (whole seconds): over the caller's request rate.
    pub fn slow_down(retry_after: std::time::Duration) -> Self {
        S3Error::new(503, "SlowDown", "Please reduce your request rate.")
            .header("retry-after", retry_after.as_secs().max(1).to_string())
    }

    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }
    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    pub fn access_denied(msg: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", msg)
    }
    pub fn invalid_argument(msg: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", msg)
    }
    /// A version id that names no version of the key.
    pub fn no_such_version() -> Self {
        Self::new(
            404,
            "NoSuchVersion",
            "The specified version does not exist.",
        )
    }
    pub fn invalid_request(msg: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", msg)
    }
    pub fn malformed_xml() -> Self {
        Self::new(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }
    pub fn not_implemented(what: &str) -> Self {
        Self::new(501, "NotImplemented", format!("{what} is not implemented"))
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }
    pub fn precondition_failed() -> Self {
        Self::new(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// Renders the XML error body; `resource` is the request path, `request_id` our id.
    pub fn into_response_with(self, resource: &str, request_id: &str) -> Response {
        let mut w = XmlWriter::new();
        w.open("Error");
        w.elem("Code", self.code);
        w.elem("Message", &self.message);
        for (k, v) in &self.extra {
            w.elem(k, v);
        }
        w.elem("Resource", resource);
        w.elem("RequestId", request_id);
        w.close("Error");
        let mut resp = (self.status, w.finish()).into_response();
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                resp.headers_mut().insert(*k, v);
            }
        }
        resp
    }
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        use StoreError as E;
        match e {
            E::NoSuchBucket => {
                S3Error::new(404, "NoSuchBucket", "The specified bucket does not exist")
            }
            E::BucketAlreadyOwnedByYou => S3Error::new(
                409,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
            E::BucketAlreadyExists => S3Error::new(
                409,
                "BucketAlreadyExists",
                "The requested bucket name is not available.",
            ),
            E::BucketNotEmpty => S3Error::new(
                409,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
            ),
            E::InvalidBucketName(m) => S3Error::new(
                400,
                "InvalidBucketName",
                format!("The specified bucket is not valid: {m}"),
            ),
            E::NoSuchKey => S3Error::new(404, "NoSuchKey", "The specified key does not exist."),
            E::NoSuchVersion => S3Error::no_such_version(),
            E::InvalidBucketState(m) => S3Error::new(409, "InvalidBucketState", m),
            E::InvalidRequest(m) => S3Error::invalid_request(m),
            E::NoObjectLockConfiguration => S3Error::new(
                404,
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
            ),
            E::NoObjectLock => S3Error::new(
                404,
                "NoSuchObjectLockConfiguration",
                "The specified object does not have a ObjectLock configuration",
            ),
            E::NoSuchBucketSetting(BucketSetting::Policy) => S3Error::new(
                404,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            ),
            E::NoSuchBucketSetting(BucketSetting::PublicAccessBlock) => S3Error::new(
                404,
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
            ),
            E::NoSuchBucketSetting(BucketSetting::Cors) => S3Error::new(
                404,
                "NoSuchCORSConfiguration",
                "The CORS configuration does not exist",
            ),
            E::MalformedPolicy(m) => S3Error::new(400, "MalformedPolicy", m),
            E::AclNotSupported(m) => S3Error::new(
                400,
                "AccessControlListNotSupported",
                format!("The bucket does not allow ACLs: {m}"),
            ),
            E::InvalidVersionId => S3Error::invalid_argument("Invalid version id specified"),
            E::DeleteMarker {
                version_id,
                mtime_ms,
            } => S3Error::method_not_allowed()
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", version_id)
                .header("last-modified", crate::util::http_date(mtime_ms)),
            E::InvalidKey(m) => {
                S3Error::new(400, "InvalidArgument", format!("Invalid object key: {m}"))
            }
            E::KeyTooLong => S3Error::new(400, "KeyTooLongError", "Your key is too long"),
            E::NoSuchUpload => S3Error::new(
                404,
                "NoSuchUpload",
                "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
            ),
            E::InvalidPart(m) => S3Error::new(
                400,
                "InvalidPart",
                format!("One or more of the specified parts could not be found: {m}"),
            ),
            E::InvalidPartOrder => S3Error::new(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
            ),
            E::EntityTooSmall { part, size } => S3Error::new(
                400,
                "EntityTooSmall",
                format!(
                    "Your proposed upload is smaller than the minimum allowed object size (part {part} is {size} bytes; minimum 5 MiB except the last part)."
                ),
            ),
            E::EntityTooLarge(m) => S3Error::new(
                400,
                "EntityTooLarge",
                format!("Your proposed upload exceeds the maximum allowed object size: {m}"),
            ),
            E::BadDigest => S3Error::new(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ),
            E::ChecksumMismatch {
                algorithm,
                computed,
            } => S3Error::new(
                400,
                "BadDigest",
                format!(
                    "The {algorithm} you specified did not match the calculated checksum ({computed})."
                ),
            ),
            E::ContentSha256Mismatch => S3Error::new(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            E::IncompleteBody => S3Error::new(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ),
            E::InvalidRange => S3Error::new(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
            ),
            E::PreconditionFailed => S3Error::precondition_failed(),
            E::InvalidArgument(m) => S3Error::invalid_argument(m),
            // Identity and RBAC administration is not reachable over S3; should one of these
            // surface anyway, it is the caller's request that named something wrong.
            E::NoSuchUser(_)
            | E::NoSuchGroup(_)
            | E::NoSuchRole(_)
            | E::NoSuchBinding(_)
            | E::NoSuchShare(_)
            | E::NoSuchPeer(_)
            | E::NoSuchConnection(_) => S3Error::invalid_argument(e.to_string()),
            E::NoSuchReplicationConfiguration => S3Error::new(
                404,
                "ReplicationConfigurationNotFoundError",
                "The replication configuration was not found",
            ),
            E::NoSuchLifecycleConfiguration => S3Error::new(
                404,
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
            ),
            // File-view errors come from NFS operations, which S3 never calls.
            E::Stale
            | E::NotADirectory(_)
            | E::IsADirectory(_)
            | E::NotPermitted(_)
            | E::TooManyLinks(_) => S3Error::invalid_argument(e.to_string()),
            E::Conflict(m) => S3Error::new(409, "OperationAborted", m),
            // As S3 answers for its key service's refusals (400, `KMS.` + KMS's exception).
            E::NoSuchKmsKey(m) => S3Error::new(400, "KMS.NotFoundException", m),
            E::KmsKeyDisabled(m) => S3Error::new(400, "KMS.DisabledException", m),
            E::KmsInvalidState(m) => S3Error::new(400, "KMS.KMSInvalidStateException", m),
            E::AccessDenied(m) => S3Error::access_denied(format!("Access Denied: {m}")),
            E::NoSpace => S3Error::new(
                507,
                "InsufficientStorage",
                "The server has no space left to store the data; nothing was stored.",
            ),
            E::QuotaExceeded(m) => S3Error::new(403, "QuotaExceeded", m),
            E::Unavailable(m) => {
                tracing::warn!(error = %m, "chunk backend unavailable");
                S3Error::new(503, "SlowDown", "Please reduce your request rate.")
            }
            E::Body(m) => S3Error::new(
                400,
                "IncompleteBody",
                format!("The request body could not be read: {m}"),
            ),
            E::Corrupt(m) | E::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                S3Error::internal()
            }
        }
    }
}

impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        let err = S3Error::new(e.http_status(), e.s3_code(), e.to_string());
        match e {
            AuthError::HeadersNotSigned(names) => err.with("HeadersNotSigned", names),
            _ => err,
        }
    }
}
