//! Plain records stored in redb (encoded by [`crate::codec`]). No behaviour beyond small helpers.

mod bucket;
mod credential;
mod object;
mod upload;

pub use bucket::{BucketKind, BucketRecord};
pub use credential::{CredentialRecord, Principal};
pub use object::{ChecksumValue, ChunkRef, Data, ObjectMeta, ObjectRecord};
pub use upload::{PartRecord, UploadRecord};
