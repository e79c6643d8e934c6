use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketKind {
    /// An ordinary S3 bucket: full S3 key freedom, not exported over NFS.
    Plain,
    /// `fs+<share>`: the S3 view of a file share; path rules apply to keys.
    Share,
    /// The reserved system bucket.
    System,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub id: u64,
    pub name: String,
    pub kind: BucketKind,
    pub owner: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Logical bytes of current objects (dedup does not reduce it).
    pub usage_bytes: u64,
    pub object_count: u64,
    /// S3 lifecycle rules (`PUT /{bucket}?lifecycle`), applied by the sweeper.
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRule>,
    /// The bucket has a replication rule: its writes enter the replication queue (decision
    /// 0036). Set and cleared with the rule, in its transaction.
    #[serde(default)]
    pub replicated: bool,
}

/// One lifecycle rule: what this server implements of S3's (expiration by age and the abort of
/// incomplete multipart uploads, filtered by key prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub prefix: String,
    pub enabled: bool,
    /// Delete objects this many days after their last modification.
    pub expiration_days: Option<u32>,
    /// Abort multipart uploads this many days after they were initiated.
    pub abort_incomplete_days: Option<u32>,
}
