//! The one `StoreError → nfsstat3` table (and its MOUNT counterpart). Exhaustive on purpose: a
//! new store error must be placed here.

use gatehouse_store::StoreError;
use nfs3_types::mount::mountstat3;
use nfs3_types::nfs3::nfsstat3;

pub fn nfsstat(e: &StoreError) -> nfsstat3 {
    use StoreError as E;
    use nfsstat3 as N;
    match e {
        E::NoSuchKey | E::NoSuchVersion | E::DeleteMarker { .. } => N::NFS3ERR_NOENT,
        // The share or the inode went away under a handle the client holds.
        E::Stale | E::NoSuchBucket | E::NoSuchShare(_) => N::NFS3ERR_STALE,
        E::AccessDenied(_) => N::NFS3ERR_ACCES,
        // The file's key (SSE-KMS) is missing, disabled or being deleted: its bytes cannot be
        // read or written now, as when the caller may not use the key.
        E::NoSuchKmsKey(_) | E::KmsKeyDisabled(_) | E::KmsInvalidState(_) => N::NFS3ERR_ACCES,
        E::NotADirectory(_) => N::NFS3ERR_NOTDIR,
        E::IsADirectory(_) => N::NFS3ERR_ISDIR,
        E::NotPermitted(_) => N::NFS3ERR_PERM,
        E::TooManyLinks(_) => N::NFS3ERR_MLINK,
        E::KeyTooLong => N::NFS3ERR_NAMETOOLONG,
        E::QuotaExceeded(_) => N::NFS3ERR_DQUOT,
        E::NoSpace => N::NFS3ERR_NOSPC,
        // The chunk backend is down or slow: "try again later", the client retries.
        E::Unavailable(_) => N::NFS3ERR_JUKEBOX,
        E::EntityTooLarge(_) => N::NFS3ERR_FBIG,
        E::Conflict(_) | E::BucketAlreadyOwnedByYou | E::BucketAlreadyExists => N::NFS3ERR_EXIST,
        E::BucketNotEmpty => N::NFS3ERR_NOTEMPTY,
        E::InvalidKey(_)
        | E::InvalidBucketName(_)
        | E::InvalidArgument(_)
        | E::InvalidRange
        | E::InvalidVersionId
        | E::InvalidRequest(_) => N::NFS3ERR_INVAL,
        // The one precondition of the file view: SETATTR's guard (sattrguard3).
        E::PreconditionFailed => N::NFS3ERR_NOT_SYNC,
        E::BadDigest
        | E::ChecksumMismatch { .. }
        | E::ContentSha256Mismatch
        | E::IncompleteBody
        | E::Body(_)
        | E::Corrupt(_) => N::NFS3ERR_IO,
        // Not reachable from a file operation; if one surfaces, it is the server's fault.
        E::NoSuchUpload
        | E::InvalidPart(_)
        | E::InvalidPartOrder
        | E::EntityTooSmall { .. }
        | E::NoSuchUser(_)
        | E::NoSuchGroup(_)
        | E::NoSuchRole(_)
        | E::NoSuchBinding(_)
        | E::NoSuchPeer(_)
        | E::NoSuchReplicationConfiguration
        | E::NoSuchConnection(_)
        | E::NoSuchLifecycleConfiguration
        | E::NoObjectLockConfiguration
        | E::NoObjectLock
        | E::NoSuchBucketSetting(_)
        | E::MalformedPolicy(_)
        | E::AclNotSupported(_)
        | E::InvalidBucketState(_)
        | E::Internal(_) => N::NFS3ERR_SERVERFAULT,
    }
}

pub fn mountstat(e: &StoreError) -> mountstat3 {
    match nfsstat(e) {
        nfsstat3::NFS3ERR_ACCES => mountstat3::MNT3ERR_ACCES,
        nfsstat3::NFS3ERR_NOENT | nfsstat3::NFS3ERR_STALE => mountstat3::MNT3ERR_NOENT,
        nfsstat3::NFS3ERR_INVAL => mountstat3::MNT3ERR_INVAL,
        nfsstat3::NFS3ERR_IO => mountstat3::MNT3ERR_IO,
        _ => mountstat3::MNT3ERR_SERVERFAULT,
    }
}

/// Logs what the client will not see: server-side failures, once, at the boundary.
pub fn log(op: &str, e: &StoreError) {
    match nfsstat(e) {
        nfsstat3::NFS3ERR_SERVERFAULT | nfsstat3::NFS3ERR_IO => {
            tracing::warn!(op, code = e.code(), error = %e, "nfs operation failed")
        }
        _ => tracing::debug!(op, code = e.code(), error = %e, "nfs operation refused"),
    }
}
