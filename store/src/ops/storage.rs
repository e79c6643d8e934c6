//! Access questions asked ahead of time (may this caller do that?), and the storage status the
//! Storage panel shows: usage per bucket from the counters kept in each bucket's record, and the
//! free space of the filesystem holding the data directory.

use redb::{ReadableDatabase, ReadableTable};

use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, Principal};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::BUCKETS;
use crate::{Store, codec, deny, naming};

/// The admin panel that shows [`StorageStatus`]; reading it needs `get` on this panel (admins,
/// or a `panel-viewer` binding scoped to it).
pub const STORAGE_PANEL: &str = "storage";

#[derive(Debug, Clone)]
pub struct StorageStatus {
    /// Logical bytes of all current objects (dedup does not reduce it).
    pub used_bytes: u64,
    pub object_count: u64,
    /// Every bucket, in name order.
    pub buckets: Vec<BucketUsage>,
    /// `None` when the filesystem could not be asked (the cause is logged).
    pub disk: Option<DiskSpace>,
}

#[derive(Debug, Clone)]
pub struct BucketUsage {
    pub name: String,
    pub kind: BucketKind,
    pub used_bytes: u64,
    pub object_count: u64,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Share of the quota used, in percent (one decimal); `None` without a quota.
    pub quota_pct: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub struct DiskSpace {
    /// Bytes an unprivileged process may still write.
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl Store {
    /// Whether `p` may `verb` on `resource`: the same decision the operation itself would
    /// make, for callers that must answer before doing it (the UI, presigned URLs).
    pub fn may(&self, p: &Principal, verb: Verb, resource: Resource<'_>) -> Result<()> {
        deny(authorize(p, verb, resource))
    }

    /// Whether `p` may `verb` (get or put) the object `bucket/key` later, e.g. through a
    /// presigned URL: allowed, the bucket exists, and the key is valid there.
    pub fn may_object(&self, p: &Principal, verb: Verb, bucket: &str, key: &str) -> Result<()> {
        self.may(p, verb, Resource::Objects(bucket))?;
        let b = self.bucket_record(bucket)?;
        naming::validate_key(b.kind, key)
    }

    /// The secret that signs a presigned URL for `verb` on `bucket/key`: the caller's own,
    /// found by the access key it authenticated with, and only if [`Store::may_object`] says
    /// yes. A URL is never minted for something its holder could not do.
    pub fn presign_secret(
        &self,
        p: &Principal,
        access_key: &str,
        verb: Verb,
        bucket: &str,
        key: &str,
    ) -> Result<String> {
        self.may_object(p, verb, bucket, key)?;
        match self.lookup_credential(access_key)? {
            Some((secret, owner)) if owner.user_id == p.user_id => Ok(secret),
            // Rotated since the request was authenticated.
            _ => Err(StoreError::AccessDenied(format!(
                "the access key {access_key} no longer belongs to {}",
                p.name
            ))),
        }
    }

    /// Usage of every bucket and of the disk under the data directory.
    pub fn storage_status(&self, p: &Principal) -> Result<StorageStatus> {
        self.may(p, Verb::Get, Resource::Panels(Some(STORAGE_PANEL)))?;
        let txn = self.db().begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let mut out = StorageStatus {
            used_bytes: 0,
            object_count: 0,
            buckets: Vec::new(),
            disk: disk_space(self.data_dir()),
        };
        for e in t.iter()? {
            let (_, v) = e?;
            let b: BucketRecord = codec::decode(v.value())?;
            out.used_bytes = out.used_bytes.saturating_add(b.usage_bytes);
            out.object_count = out.object_count.saturating_add(b.object_count);
            out.buckets.push(BucketUsage {
                quota_pct: quota_pct(b.usage_bytes, b.quota_bytes),
                name: b.name,
                kind: b.kind,
                used_bytes: b.usage_bytes,
                object_count: b.object_count,
                quota_bytes: b.quota_bytes,
            });
        }
        Ok(out)
    }
}

fn quota_pct(used: u64, quota: u64) -> Option<f64> {
    (quota > 0).then(|| (used as f64 * 1000.0 / quota as f64).round() / 10.0)
}

/// statvfs of the data directory. A failure is not the caller's problem: it is logged and the
/// status shows no disk figures.
fn disk_space(dir: &std::path::Path) -> Option<DiskSpace> {
    match rustix::fs::statvfs(dir) {
        Ok(s) => Some(DiskSpace {
            free_bytes: s.f_bavail.saturating_mul(s.f_frsize),
            total_bytes: s.f_blocks.saturating_mul(s.f_frsize),
        }),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "statvfs of the data directory failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quota_pct;

    #[test]
    fn quota_percentages() {
        assert_eq!(quota_pct(5, 0), None);
        assert_eq!(quota_pct(0, 100), Some(0.0));
        assert_eq!(quota_pct(1, 3), Some(33.3));
        assert_eq!(quota_pct(200, 100), Some(200.0));
    }
}
