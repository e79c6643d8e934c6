//! The store's one error enum. Gateways map it to their protocol in one table each
//! (`gatehouse-s3::error`, later NFS and admin); every variant has a stable code for logs.

use std::fmt;

/// A bucket access setting (issue 22), named in [`StoreError::NoSuchBucketSetting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSetting {
    Policy,
    PublicAccessBlock,
    Cors,
}

impl fmt::Display for BucketSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BucketSetting::Policy => "bucket policy",
            BucketSetting::PublicAccessBlock => "public access block configuration",
            BucketSetting::Cors => "CORS configuration",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// A key of the key service that does not exist (or whose material was deleted).
    #[error("{0}")]
    NoSuchKmsKey(String),
    /// A key of the key service that is disabled.
    #[error("{0}")]
    KmsKeyDisabled(String),
    /// A key of the key service in a state that does not allow the operation (pending
    /// deletion, deleted).
    #[error("{0}")]
    KmsInvalidState(String),
    #[error("the bucket already exists and is yours")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket name is taken")]
    BucketAlreadyExists,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("the key does not exist")]
    NoSuchKey,
    #[error("the version does not exist")]
    NoSuchVersion,
    #[error("invalid version id")]
    InvalidVersionId,
    /// The version a request named is a delete marker (S3 answers 405 with its headers).
    #[error("the version is a delete marker")]
    DeleteMarker { version_id: String, mtime_ms: i64 },
    /// The bucket's state does not allow the request (object lock without versioning,
    /// suspending versioning under object lock).
    #[error("invalid bucket state: {0}")]
    InvalidBucketState(String),
    /// A request S3 answers `InvalidRequest` (e.g. object lock headers on a bucket without it).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The bucket has no object lock configuration.
    #[error("the bucket has no object lock configuration")]
    NoObjectLockConfiguration,
    /// The bucket has no such access setting (policy, public access block, CORS rules).
    #[error("the bucket has no {0}")]
    NoSuchBucketSetting(BucketSetting),
    /// An ACL on a bucket whose Object Ownership disables ACLs (S3's
    /// AccessControlListNotSupported).
    #[error("ACLs are not supported here: {0}")]
    AclNotSupported(String),
    /// A bucket policy that does not parse or validate; the reason is shown to the client.
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    /// The version has no retention (or legal hold) to show.
    #[error("the object has no object lock configuration")]
    NoObjectLock,
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error(
        "key too long: at most 1024 bytes in a bucket, 4096 per path and 255 per name in a share"
    )]
    KeyTooLong,
    #[error("the upload does not exist or was completed or aborted")]
    NoSuchUpload,
    #[error("one or more of the specified parts could not be found: {0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("a part is smaller than the 5 MiB minimum (part {part}, {size} bytes)")]
    EntityTooSmall { part: u32, size: u64 },
    #[error("the object is larger than allowed ({0})")]
    EntityTooLarge(String),
    #[error("the body did not match Content-MD5")]
    BadDigest,
    #[error("the {algorithm} checksum did not match: computed {computed}")]
    ChecksumMismatch {
        algorithm: &'static str,
        computed: String,
    },
    #[error("the body's SHA-256 did not match x-amz-content-sha256")]
    ContentSha256Mismatch,
    #[error("the body ended before Content-Length bytes arrived")]
    IncompleteBody,
    #[error("the requested range cannot be satisfied")]
    InvalidRange,
    #[error("a precondition did not hold")]
    PreconditionFailed,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("no such group: {0}")]
    NoSuchGroup(String),
    #[error("no such role: {0}")]
    NoSuchRole(String),
    #[error("no such binding: {0}")]
    NoSuchBinding(String),
    #[error("the bucket has no lifecycle configuration")]
    NoSuchLifecycleConfiguration,
    #[error("no such share: {0}")]
    NoSuchShare(String),
    #[error("no such peer: {0}")]
    NoSuchPeer(String),
    #[error("the bucket has no replication configuration")]
    NoSuchReplicationConfiguration,
    #[error("no such replication connection: {0}")]
    NoSuchConnection(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the file or directory no longer exists")]
    Stale,
    #[error("not a directory: {0}")]
    NotADirectory(String),
    #[error("is a directory: {0}")]
    IsADirectory(String),
    /// POSIX `EPERM` in the file view: e.g. a hard link to a directory.
    #[error("operation not permitted: {0}")]
    NotPermitted(String),
    /// An inode already has the most names it may have (`LINK_MAX`).
    #[error("too many links: {0}")]
    TooManyLinks(String),
    #[error("no space left on the data disk")]
    NoSpace,
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The chunk backend (a remote object store) is down, slow or refusing: nothing was
    /// stored or read; the client should retry (S3 `503 SlowDown`, NFS `JUKEBOX`).
    #[error("the chunk backend is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("the request body could not be read: {0}")]
    Body(String),
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Stable code for logs and the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NoSuchBucket => "store.no_such_bucket",
            StoreError::NoSuchKmsKey(_) => "kms.not_found",
            StoreError::KmsKeyDisabled(_) => "kms.disabled",
            StoreError::KmsInvalidState(_) => "kms.invalid_state",
            StoreError::BucketAlreadyOwnedByYou => "store.bucket_owned",
            StoreError::BucketAlreadyExists => "store.bucket_exists",
            StoreError::BucketNotEmpty => "store.bucket_not_empty",
            StoreError::InvalidBucketName(_) => "store.invalid_bucket_name",
            StoreError::NoSuchKey => "store.not_found",
            StoreError::NoSuchVersion => "store.no_such_version",
            StoreError::InvalidVersionId => "store.invalid_version_id",
            StoreError::DeleteMarker { .. } => "store.delete_marker",
            StoreError::InvalidBucketState(_) => "store.invalid_bucket_state",
            StoreError::InvalidRequest(_) => "store.invalid_request",
            StoreError::NoObjectLockConfiguration => "lock.no_configuration",
            StoreError::NoObjectLock => "lock.none",
            StoreError::NoSuchBucketSetting(_) => "access.no_setting",
            StoreError::MalformedPolicy(_) => "access.malformed_policy",
            StoreError::AclNotSupported(_) => "access.acl_not_supported",
            StoreError::InvalidKey(_) => "store.invalid_key",
            StoreError::KeyTooLong => "store.key_too_long",
            StoreError::NoSuchUpload => "store.no_such_upload",
            StoreError::InvalidPart(_) => "store.invalid_part",
            StoreError::InvalidPartOrder => "store.invalid_part_order",
            StoreError::EntityTooSmall { .. } => "store.entity_too_small",
            StoreError::EntityTooLarge(_) => "store.entity_too_large",
            StoreError::BadDigest => "store.bad_digest",
            StoreError::ChecksumMismatch { .. } => "store.checksum_mismatch",
            StoreError::ContentSha256Mismatch => "store.sha256_mismatch",
            StoreError::IncompleteBody => "store.incomplete_body",
            StoreError::InvalidRange => "store.invalid_range",
            StoreError::PreconditionFailed => "store.precondition_failed",
            StoreError::InvalidArgument(_) => "store.invalid_argument",
            StoreError::AccessDenied(_) => "rbac.denied",
            StoreError::NoSuchUser(_) => "identity.no_such_user",
            StoreError::NoSuchGroup(_) => "rbac.no_such_group",
            StoreError::NoSuchRole(_) => "rbac.no_such_role",
            StoreError::NoSuchBinding(_) => "rbac.no_such_binding",
            StoreError::NoSuchLifecycleConfiguration => "store.no_such_lifecycle",
            StoreError::NoSuchShare(_) => "share.no_such_share",
            StoreError::NoSuchPeer(_) => "peer.no_such_peer",
            StoreError::NoSuchReplicationConfiguration => "replication.no_such_rule",
            StoreError::NoSuchConnection(_) => "replication.no_such_connection",
            StoreError::Conflict(_) => "store.conflict",
            StoreError::Stale => "fs.stale",
            StoreError::NotADirectory(_) => "fs.not_a_directory",
            StoreError::IsADirectory(_) => "fs.is_a_directory",
            StoreError::NotPermitted(_) => "fs.not_permitted",
            StoreError::TooManyLinks(_) => "fs.too_many_links",
            StoreError::NoSpace => "store.no_space",
            StoreError::QuotaExceeded(_) => "store.quota_exceeded",
            StoreError::Unavailable(_) => "store.backend_unavailable",
            StoreError::Corrupt(_) => "store.corrupt",
            StoreError::Body(_) => "store.body",
            StoreError::Internal(_) => "store.internal",
        }
    }

    pub(crate) fn internal(e: impl fmt::Display) -> Self {
        StoreError::Internal(e.to_string())
    }

    /// Maps an I/O error from the blob directory; a full disk is its own case so clients get a
    /// clear answer and the server keeps serving.
    pub fn io(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            StoreError::NoSpace
        } else {
            StoreError::Internal(format!("I/O: {e}"))
        }
    }
}

/// What redb's `PreviousIo` becomes: after a failed write (a full disk at commit, say) the
/// database refuses every later transaction until it is opened again. The commit thread notes
/// it and `GET /api/health` reports it, so the server does not look healthy while every write
/// fails.
pub(crate) const DATABASE_FAILED: &str =
    "the database refuses writes after an earlier I/O error (a full disk?); restart gatehouse";

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                let e: redb::Error = e.into();
                match e {
                    redb::Error::Io(io) => StoreError::io(io),
                    redb::Error::PreviousIo => StoreError::Internal(DATABASE_FAILED.into()),
                    other => StoreError::Internal(format!("database: {other}")),
                }
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::io(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
