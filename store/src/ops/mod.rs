//! The only public way to read or write stored data. Every function takes the caller's
//! [`Principal`](crate::Principal) and asks [`crate::rbac::authorize`] before touching anything.

mod buckets;
mod credentials;
mod list;
mod multipart;
mod objects;
mod txn;

pub use buckets::BucketInfo;
pub use list::{ListEntry, ListPage, ListQuery};
pub use multipart::{CompletePart, PartInfo, UploadInfo};
pub use objects::{CopyOptions, ObjectInfo, PutOptions};
#[cfg(test)]
mod tests;
