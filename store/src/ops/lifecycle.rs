//! Object expiry: S3 lifecycle rules per bucket (expiration by age, abort of incomplete
//! multipart uploads, by key prefix) and the server-wide `object_expiry_days`, applied by one
//! sweeper in small, bounded steps.
//!
//! The sweeper never holds a write transaction for long (deletions commit in batches of
//! [`BATCH`]) and one sweep deletes at most `budget` objects: a clock that jumps years ahead
//! cannot empty the store in one go — the bound is hit, logged, and the next sweep continues
//! (by then an operator can see the warning and fix the clock). Rule evaluation is stateless
//! (object mtime vs now), so a restart simply starts scanning again.

use redb::{ReadableDatabase, ReadableTable};

use crate::error::Result;
use crate::model::{
    BucketKind, BucketRecord, LifecycleRule, ObjectRecord, Principal, UploadRecord,
};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{
    self, BUCKETS, COMPLETED_BY_TIME, COMPLETED_UPLOADS, ENTRIES, INODES, UPLOADS,
};
use crate::{Store, StoreError, codec, deny};

use super::ns::Ns;
use super::txn;

const DAY_MS: i64 = 86_400_000;
/// Deletions per write transaction.
const BATCH: usize = 256;
/// Lifecycle rules per bucket (S3's limit).
pub const MAX_RULES: usize = 1000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpirySweep {
    pub scanned: u64,
    pub expired: u64,
    pub uploads_aborted: u64,
    /// Completed uploads forgotten (older than [`super::multipart::COMPLETION_KEPT_MS`]).
    pub completions_forgotten: u64,
    /// The deletion budget ran out: more objects are due.
    pub budget_exhausted: bool,
}

impl Store {
    /// Replaces a bucket's lifecycle rules (`put` on the bucket: administrators).
    pub async fn put_lifecycle(
        &self,
        p: &Principal,
        bucket: &str,
        rules: Vec<LifecycleRule>,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        validate_rules(&rules)?;
        let name = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &name)?;
                b.lifecycle = rules;
                txn::put_bucket(&mut ns, &b)
            })
            .await?;
        super::audit_action(p, "bucket.lifecycle.put", bucket);
        Ok(())
    }

    /// A bucket's lifecycle rules; `NoSuchLifecycleConfiguration` when it has none.
    pub fn get_lifecycle(&self, p: &Principal, bucket: &str) -> Result<Vec<LifecycleRule>> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        let b = self.bucket_record(bucket)?;
        if b.lifecycle.is_empty() {
            return Err(StoreError::NoSuchLifecycleConfiguration);
        }
        Ok(b.lifecycle)
    }

    pub async fn delete_lifecycle(&self, p: &Principal, bucket: &str) -> Result<()> {
        self.put_lifecycle(p, bucket, Vec::new()).await
    }

    /// Applies every bucket's rules and `object_expiry_days` as of `now_ms`, deleting at most
    /// `budget` objects.
    pub async fn sweep_expiry(&self, now_ms: i64, budget: u64) -> Result<ExpirySweep> {
        let global_days = (self.inner.cfg.object_expiry.as_secs() / 86_400) as u32;
        let buckets: Vec<BucketRecord> = {
            let rtxn = self.db().begin_read()?;
            let t = rtxn.open_table(BUCKETS)?;
            let mut v = Vec::new();
            for e in t.iter()? {
                let (_, val) = e?;
                v.push(codec::decode(val.value())?);
            }
            v
        };
        let mut stats = ExpirySweep::default();
        for b in buckets {
            if b.kind == BucketKind::System {
                continue;
            }
            let mut rules: Vec<LifecycleRule> =
                b.lifecycle.iter().filter(|r| r.enabled).cloned().collect();
            if global_days > 0 {
                rules.push(LifecycleRule {
                    id: "object_expiry_days".into(),
                    prefix: String::new(),
                    enabled: true,
                    expiration_days: Some(global_days),
                    abort_incomplete_days: None,
                });
            }
            for r in &rules {
                if let Some(days) = r.abort_incomplete_days {
                    stats.uploads_aborted += self
                        .abort_old_uploads(&b.name, &r.prefix, now_ms - i64::from(days) * DAY_MS)
                        .await?;
                }
                let Some(days) = r.expiration_days else {
                    continue;
                };
                let cutoff = now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
                let left = budget.saturating_sub(stats.expired);
                if left == 0 {
                    stats.budget_exhausted = true;
                    break;
                }
                let (scanned, expired, more) =
                    self.expire_prefix(&b, &r.prefix, cutoff, left).await?;
                stats.scanned += scanned;
                stats.expired += expired;
                if more {
                    stats.budget_exhausted = true;
                }
            }
        }
        stats.completions_forgotten = self.forget_completions(now_ms, budget).await?;
        if stats.budget_exhausted {
            tracing::warn!(
                target: "audit",
                expired = stats.expired,
                budget,
                "expiry sweep hit its deletion budget; more objects are due (if the clock jumped forward, check it now)"
            );
        } else if stats.expired + stats.uploads_aborted > 0 {
            tracing::info!(target: "audit", expired = stats.expired, uploads_aborted = stats.uploads_aborted, "expiry sweep");
        }
        Ok(stats)
    }

    /// Deletes objects under `prefix` last modified before `cutoff`, at most `budget`.
    /// Returns (scanned, deleted, more due).
    async fn expire_prefix(
        &self,
        b: &BucketRecord,
        prefix: &str,
        cutoff: i64,
        budget: u64,
    ) -> Result<(u64, u64, bool)> {
        let start = tables::entry_key(b.id, prefix);
        let end = tables::prefix_successor(&start);
        let mut due: Vec<String> = Vec::new();
        let mut scanned = 0;
        let mut more = false;
        {
            let rtxn = self.db().begin_read()?;
            let entries = rtxn.open_table(ENTRIES)?;
            let inodes = rtxn.open_table(INODES)?;
            let range = match &end {
                Some(e) => entries.range(start.as_slice()..e.as_slice())?,
                None => entries.range(start.as_slice()..)?,
            };
            for e in range {
                let (k, v) = e?;
                scanned += 1;
                let Some(rec) = inodes.get(v.value())? else {
                    continue;
                };
                let rec: ObjectRecord = codec::decode(rec.value())?;
                if rec.mtime_ms <= cutoff {
                    if due.len() as u64 == budget {
                        more = true;
                        break;
                    }
                    let key = String::from_utf8_lossy(&k.value()[8..]).into_owned();
                    due.push(key);
                }
            }
        }
        let mut deleted = 0;
        for batch in due.chunks(BATCH) {
            let (name, keys) = (b.name.clone(), batch.to_vec());
            deleted += self
                .inner
                .committer
                .write(move |t| {
                    let mut ns = Ns::new(t);
                    let mut b = match txn::get_bucket(&ns, &name) {
                        Ok(b) => b,
                        Err(StoreError::NoSuchBucket) => return Ok(0),
                        Err(e) => return Err(e),
                    };
                    let mut n = 0;
                    for k in &keys {
                        // Re-check: it may have been overwritten since the scan.
                        if let Some(ino) = txn::lookup(&ns, b.id, k)?
                            && txn::get_inode(&ns, ino)?.mtime_ms <= cutoff
                            && txn::unlink_object(&mut ns, &mut b, k)?
                        {
                            n += 1;
                        }
                    }
                    Ok(n)
                })
                .await?;
        }
        Ok((scanned, deleted, more))
    }

    /// Forgets completed uploads older than [`super::multipart::COMPLETION_KEPT_MS`], at most
    /// `budget` per sweep (the rest next time), in batches of [`BATCH`]. Reads only due rows:
    /// the time index is in completion order.
    async fn forget_completions(&self, now_ms: i64, budget: u64) -> Result<u64> {
        let cutoff = now_ms.saturating_sub(super::multipart::COMPLETION_KEPT_MS);
        if cutoff < 0 {
            return Ok(0);
        }
        // Every key of a completion at or before `cutoff` is below this one.
        let end = tables::completed_key(cutoff.saturating_add(1), "");
        let due: Vec<(Vec<u8>, String)> = {
            let rtxn = self.db().begin_read()?;
            let t = rtxn.open_table(COMPLETED_BY_TIME)?;
            let mut v = Vec::new();
            for e in t.range(..end.as_slice())?.take(budget as usize) {
                let (k, id) = e?;
                v.push((k.value().to_vec(), id.value().to_string()));
            }
            v
        };
        for batch in due.chunks(BATCH) {
            let batch = batch.to_vec();
            self.inner
                .committer
                .write(move |t| {
                    let mut by_time = t.open_table(COMPLETED_BY_TIME)?;
                    let mut completed = t.open_table(COMPLETED_UPLOADS)?;
                    for (k, id) in &batch {
                        by_time.remove(k.as_slice())?;
                        completed.remove(id.as_str())?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(due.len() as u64)
    }

    async fn abort_old_uploads(&self, bucket: &str, prefix: &str, cutoff: i64) -> Result<u64> {
        let ids: Vec<String> = {
            let rtxn = self.db().begin_read()?;
            let t = rtxn.open_table(UPLOADS)?;
            let mut v = Vec::new();
            for e in t.iter()? {
                let (k, val) = e?;
                let u: UploadRecord = codec::decode(val.value())?;
                if u.bucket == bucket && u.key.starts_with(prefix) && u.initiated_ms <= cutoff {
                    v.push(k.value().to_string());
                }
            }
            v
        };
        let n = ids.len() as u64;
        for batch in ids.chunks(BATCH) {
            let batch = batch.to_vec();
            self.inner
                .committer
                .write(move |t| {
                    for id in &batch {
                        if t.open_table(UPLOADS)?.get(id.as_str())?.is_some() {
                            // A share deleted since the scan keeps its uploads (abort_in).
                            match super::multipart::abort_in(&mut Ns::new(t), id) {
                                Ok(()) | Err(StoreError::NoSuchBucket) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(n)
    }
}

fn validate_rules(rules: &[LifecycleRule]) -> Result<()> {
    if rules.len() > MAX_RULES {
        return Err(StoreError::InvalidArgument(format!(
            "at most {MAX_RULES} lifecycle rules"
        )));
    }
    let mut ids = std::collections::HashSet::new();
    for r in rules {
        if r.id.len() > 255 {
            return Err(StoreError::InvalidArgument(
                "a rule ID has at most 255 characters".into(),
            ));
        }
        if !r.id.is_empty() && !ids.insert(r.id.as_str()) {
            return Err(StoreError::InvalidArgument(format!(
                "rule ID {:?} is used twice",
                r.id
            )));
        }
        if r.expiration_days.is_none() && r.abort_incomplete_days.is_none() {
            return Err(StoreError::InvalidArgument(
                "a rule needs Expiration Days or AbortIncompleteMultipartUpload".into(),
            ));
        }
        if r.expiration_days == Some(0) || r.abort_incomplete_days == Some(0) {
            return Err(StoreError::InvalidArgument(
                "Days must be a positive integer".into(),
            ));
        }
        if r.prefix.len() > 1024 {
            return Err(StoreError::InvalidArgument("the prefix is too long".into()));
        }
    }
    Ok(())
}
