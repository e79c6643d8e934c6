use serde::{Deserialize, Serialize};

use super::{ChecksumValue, ChunkRef, ObjectMeta};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub initiated_ms: i64,
    pub meta: ObjectMeta,
    pub tags: Vec<(String, String)>,
    /// Flexible checksum algorithm announced at CreateMultipartUpload, if any.
    pub checksum_algorithm: Option<String>,
    pub owner: String,
    /// Its parts' bytes are in the bucket's `usage_bytes` (counted against quotas while they
    /// wait; Complete and Abort release them). False for uploads begun before parts counted.
    #[serde(default)]
    pub parts_counted: bool,
    /// `x-amz-object-lock-*` of CreateMultipartUpload, applied at completion.
    #[serde(default)]
    pub lock: crate::locks::LockRequest,
    /// The object's ACL, given at CreateMultipartUpload (decision 0042).
    #[serde(default)]
    pub acl: Option<crate::model::Acl>,
    /// Encryption of every part and of the object (its header at CreateMultipartUpload, or
    /// the bucket's default then; decision 0044).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::sse::SseMode>,
    /// `FULL_OBJECT` or `COMPOSITE` (`x-amz-checksum-type` at CreateMultipartUpload, or the
    /// algorithm's default); absent: composite (uploads begun before full-object checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

/// An uploaded part. It holds one reference on each of its chunks until the upload completes
/// (the references move to the object) or is aborted (they are dropped).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub size: u64,
    /// Hex MD5 of the part.
    pub md5: String,
    pub mtime_ms: i64,
    pub chunks: Vec<ChunkRef>,
    pub checksum: Option<String>,
    /// The algorithm of `checksum` (`CRC32`, …); `None` in records from before it was kept,
    /// whose checksum is their upload's algorithm when it has one.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
}

/// A completed upload, kept for a day after CompleteMultipartUpload so that the same request
/// sent again (a retry after a lost reply) answers 200 with the same ETag.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedUploadRecord {
    pub bucket: String,
    /// The bucket's id then: a bucket deleted and created again under the name is another
    /// bucket, whose retries get no answer from this one. `None` in records from before it.
    #[serde(default)]
    pub bucket_id: Option<u64>,
    pub key: String,
    /// The object's ETag as completed (unquoted).
    pub etag: String,
    pub checksum: Option<ChecksumValue>,
    /// BLAKE3 (hex) of the part list the completion named: only the same list gets the answer.
    pub parts_digest: String,
    /// Unix milliseconds.
    pub completed_ms: i64,
    /// The version id the completion made (a versioned bucket).
    #[serde(default)]
    pub version_id: Option<String>,
    /// How the object is encrypted (decision 0044).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::sse::SseMode>,
}
