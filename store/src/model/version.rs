use serde::{Deserialize, Serialize};

/// One noncurrent version of a key, or a delete marker (decision 0038): in a `version_log` row
/// or an `inode_versions` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRow {
    /// As S3 shows it: an id, or `null`.
    pub version_id: String,
    /// The version's inode (its attributes and data, as a current object's); `None`: a delete
    /// marker.
    pub inode: Option<u64>,
    /// When the version was written (a marker: when the delete was made), Unix ms.
    pub mtime_ms: i64,
    /// Logical bytes (0 for a marker).
    pub size: u64,
    /// When it became noncurrent, Unix ms (lifecycle's NoncurrentDays count from it); 0 in a
    /// delete marker: its `mtime_ms` counts.
    #[serde(default)]
    pub noncurrent_ms: i64,
}

impl VersionRow {
    pub fn is_marker(&self) -> bool {
        self.inode.is_none()
    }

    /// Since when the version has been noncurrent.
    pub fn noncurrent_since(&self) -> i64 {
        if self.noncurrent_ms > 0 {
            self.noncurrent_ms
        } else {
            self.mtime_ms
        }
    }
}

/// A row of the version log (decision 0053): a noncurrent version or delete marker of `key`,
/// linked to the key's next older row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLogRow {
    pub key: String,
    /// The sequence number of `key`'s next older row, if any.
    pub older: Option<u64>,
    pub row: VersionRow,
}
