use serde::{Deserialize, Serialize};

use super::BucketRecord;

/// `shares`: share name → this. The share's data lives in bucket `fs+<name>`; while the share is
/// deleted (tombstoned) that bucket's record is parked here, so S3 and the API no longer see the
/// bucket but its entries and chunks stay until the purge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareRecord {
    pub name: String,
    pub description: String,
    /// User id of the creator (holds `bucket-admin` on the share's bucket).
    pub owner: String,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Objects the share may hold (0 = unlimited); its bucket record carries the same.
    #[serde(default)]
    pub max_objects: u64,
    /// Whether `everyone` got `bucket-read` on the share when it was created or restored.
    pub guest_read: bool,
    pub created_ms: i64,
    /// Unix ms after which the share behaves as deleted.
    pub expires_ms: i64,
    /// Set while tombstoned: when it was deleted (or found expired).
    #[serde(default)]
    pub deleted_ms: Option<i64>,
    /// Why it was tombstoned: "deleted" or "expired".
    #[serde(default)]
    pub deleted_reason: Option<String>,
    /// The bucket record, parked while tombstoned.
    #[serde(default)]
    pub parked_bucket: Option<BucketRecord>,
    /// Its snapshots' bucket records, parked with it (decision 0040).
    #[serde(default)]
    pub parked_snapshots: Vec<BucketRecord>,
    /// Snapshots older than this many days are deleted by the sweeper (`None`: kept until
    /// deleted).
    #[serde(default)]
    pub snapshot_retention_days: Option<u32>,
    /// Set once the sweep has started removing its entries in bounded steps: a share half
    /// purged cannot be restored.
    #[serde(default)]
    pub purging: bool,
}

/// `peers`: client address → this. A registered peer is a host the network vouches for: NFS
/// requests from that address act as this user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRecord {
    pub user_id: String,
    pub description: String,
    pub created_ms: i64,
}
