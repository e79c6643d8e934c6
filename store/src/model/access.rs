//! A bucket's access settings beyond RBAC bindings (issue 22), stored in `bucket_access`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAccessRecord {
    /// The bucket policy as the client sent it (GetBucketPolicy returns it verbatim); parsed
    /// and validated when it was put, parsed again when the snapshot is built.
    #[serde(default)]
    pub policy: Option<String>,
    /// PutPublicAccessBlock's four flags; `None` = never set (all false).
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// PutBucketCors's rules, in the S3 gateway's canonical XML.
    #[serde(default)]
    pub cors: Option<String>,
}

impl BucketAccessRecord {
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.public_access_block.is_none() && self.cors.is_none()
    }
}

/// S3's PublicAccessBlockConfiguration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Public ACLs grant nothing.
    pub ignore_public_acls: bool,
    /// Refuse a PutBucketPolicy whose policy is public.
    pub block_public_policy: bool,
    /// A public policy grants nothing to anonymous callers.
    pub restrict_public_buckets: bool,
}
