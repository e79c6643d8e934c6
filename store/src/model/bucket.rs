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
}
