//! The only public way to read or write stored data. Every function takes the caller's
//! [`Principal`](crate::Principal) and asks [`crate::rbac::authorize`] before touching anything.

mod access;
mod buckets;
mod credential_cache;
pub(crate) mod expiry_index;
mod fs;
pub(crate) mod fs_gate;
mod fs_link;
mod fs_write;
mod gc;
mod lifecycle;
mod list;
mod multipart;
pub(crate) mod names;
pub(crate) mod ns;
pub(crate) mod objects;
mod peers;
pub(crate) mod shares;
mod storage;
pub(crate) mod txn;
mod users;

pub(crate) use access::drop_bucket_bindings;
pub use access::{BindingInfo, GroupInfo, PanelInfo, RoleInfo, SubjectRef};
pub use buckets::BucketInfo;
pub(crate) use credential_cache::CredentialCache;
pub use expiry_index::Expiration;
pub(crate) use fs::file_times;
pub use fs::{
    FsAccess, FsAttr, FsData, FsDirEntry, FsDirPage, FsKind, FsMade, FsRead, FsShare, MAX_LINK,
    SNAPSHOTS_DIR, SNAPSHOTS_INO, dev_numbers, dev_value,
};
pub use fs_link::{FsSpecial, LINK_MAX};
pub(crate) use fs_write::FileLocks;
pub use fs_write::{ExtentBytes, FsCreate, FsExtents, FsSetAttr, FsTime};
pub(crate) use gc::GcTrigger;
pub use lifecycle::{ExpirySweep, MAX_RULES};
pub use list::{ListEntry, ListPage, ListQuery};
pub use multipart::{
    COMPLETION_KEPT_MS, CompleteClaims, CompletePart, Completion, PartInfo, UploadInfo,
    UploadsEntry, UploadsQuery,
};
pub use objects::{CopyOptions, ObjectInfo, PutOptions, WriteCondition, etag_in_list};
pub(crate) use peers::PeerPrincipals;
pub use peers::{PeerInfo, PeerNet, parse_peer_address};
pub use shares::{CreatedShare, MAX_SHARE_QUOTA, NewShare, ShareInfo, SweepStats};
pub use storage::{
    Binding, BucketUsage, DiskSpace, FILES_UNCOUNTED, Room, STORAGE_PANEL, SpaceView,
    StorageStatus, room,
};
pub(crate) use users::Nonces;
pub(crate) use users::audit as audit_action;
pub use users::{
    JOIN_NONCE_TTL, JoinRequest, Registered, SERVICE_PREFIX, UserInfo, validate_user_name,
};
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_gc;
