//! Plain records stored in redb (encoded by [`crate::codec`]). No behaviour beyond small helpers.

mod access;
mod bucket;
mod identity;
mod object;
mod replication;
mod share;
mod upload;
mod version;

pub use access::{
    Acl, AclGrant, AclPermission, BucketAccessRecord, Grantee, ObjectOwnership, PublicAccessBlock,
};
pub use bucket::{
    BucketKind, BucketRecord, DefaultRetention, LifecycleRule, ObjectFilter, ObjectLockConfig,
    Versioning,
};
pub use identity::{
    AdminMatch, BindingRecord, CredentialRef, GroupRecord, Principal, RoleRecord, Subject,
    UserKind, UserRecord,
};
pub(crate) use object::serde_hash as object_serde_hash;
pub use object::{
    ChecksumValue, ChunkRef, Data, FileTimes, LockMode, ObjectMeta, ObjectRecord, Retention,
};
pub use replication::{ConnectionRecord, FailedRow, QueueRow, ReplOp, RuleRecord};
pub use share::{PeerRecord, ShareRecord};
pub use upload::{CompletedUploadRecord, PartRecord, UploadRecord};
pub use version::{VersionLogRow, VersionRow};
