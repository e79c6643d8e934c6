//! Object expiry: S3 lifecycle rules per bucket (expiration by age or date, by key prefix,
//! tags and size; abort of incomplete multipart uploads and version expiry by key prefix) and
//! the server-wide `object_expiry_days`, applied by one sweeper in small, bounded steps.
//!
//! The sweeper finds objects through the due-time index (`expiry_index`, decision 0028), never
//! holds a write transaction for long (rows are looked at in batches of [`BATCH`]) and one sweep
//! deletes at most `budget` objects: a clock that jumps years ahead cannot empty the store in
//! one go — the bound is hit, logged, and the next sweep continues (by then an operator can see
//! the warning and fix the clock). Each row is checked against the rules as they are then
//! (object mtime, size and tags vs now), so nothing is lost across restarts.

use redb::ReadableDatabase;

use crate::error::Result;
use crate::model::{LifecycleRule, Principal};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, COMPLETED_BY_TIME, COMPLETED_UPLOADS};
use crate::{Store, StoreError, deny};

use super::ns::Ns;
use super::txn;

use super::expiry_index;

/// Due rows looked at per write transaction.
const BATCH: usize = 256;
/// Due rows looked at per sweep at most (the rest next time).
const SCAN_PER_SWEEP: u64 = 100_000;
/// Entries entered into the due-time index per write transaction, and per sweep, while a
/// bucket's rules changed.
const REBUILD_BATCH: usize = 2048;
const REBUILD_PER_SWEEP: u64 = 200_000;
/// Lifecycle rules per bucket (S3's limit).
pub const MAX_RULES: usize = 1000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpirySweep {
    /// Objects entered into the due-time index again (buckets whose rules changed).
    pub entered: u64,
    /// Due rows looked at.
    pub scanned: u64,
    pub expired: u64,
    /// Noncurrent versions and lone delete markers removed (decision 0038).
    pub versions_expired: u64,
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
        mut rules: Vec<LifecycleRule>,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        validate_rules(&rules)?;
        // A rule given without an ID gets one, as S3 assigns it (random, shown back).
        for r in rules.iter_mut().filter(|r| r.id.is_empty()) {
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw)
                .map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
            r.id = hex::encode(raw);
        }
        let name = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &name)?;
                b.lifecycle = rules;
                txn::put_bucket(&mut ns, &b)?;
                drop(ns);
                // Objects may fall due sooner now: enter them again.
                expiry_index::mark_rebuild(t, b.id)
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
    /// `budget` objects. Objects are found through the due-time index (decision 0028): the
    /// work is what is due, not every entry. Buckets whose rules changed are entered into it
    /// first, at most [`REBUILD_PER_SWEEP`] entries per sweep.
    pub async fn sweep_expiry(&self, now_ms: i64, budget: u64) -> Result<ExpirySweep> {
        let mut stats = ExpirySweep::default();
        // Every 90 days every bucket with a rule is entered again: objects written with a due
        // time past the horizon get their rows before they are due.
        let horizon_due = {
            let rtxn = self.db().begin_read()?;
            expiry_index::horizon_rebuild_due(&rtxn.open_table(crate::tables::META)?, now_ms)?
        };
        if horizon_due {
            self.inner
                .committer
                .write(move |t| expiry_index::due_for_horizon_rebuild(t, now_ms))
                .await?;
        }
        while stats.entered < REBUILD_PER_SWEEP {
            let step = self
                .inner
                .committer
                .write(move |t| expiry_index::rebuild_step(t, REBUILD_BATCH, now_ms))
                .await?;
            match step {
                None => break,
                // A mark dropped (no rule, bucket gone) counts as one, so the loop is bounded.
                Some(n) => stats.entered += n.max(1),
            }
        }
        loop {
            let left = budget.saturating_sub(stats.expired);
            let pass = self
                .inner
                .committer
                .write(move |t| expiry_index::expire_due(t, now_ms, BATCH, left))
                .await?;
            stats.scanned += pass.rows;
            stats.expired += pass.expired;
            if pass.budget_hit {
                stats.budget_exhausted = true;
                break;
            }
            if !pass.more || stats.scanned >= SCAN_PER_SWEEP {
                break;
            }
        }
        // Noncurrent versions and lone delete markers (decision 0038), through theirs.
        loop {
            let left = budget.saturating_sub(stats.expired + stats.versions_expired);
            let pass = self
                .inner
                .committer
                .write(move |t| crate::versioning::expiry::expire_due(t, now_ms, BATCH, left))
                .await?;
            stats.scanned += pass.rows;
            stats.versions_expired += pass.removed;
            if pass.budget_hit {
                stats.budget_exhausted = true;
                break;
            }
            if !pass.more || stats.scanned >= SCAN_PER_SWEEP {
                break;
            }
        }
        // Uploads due for their abort-incomplete rules, through their own due-time index.
        loop {
            let (rows, aborted) = self
                .inner
                .committer
                .write(move |t| expiry_index::abort_due(t, now_ms, BATCH))
                .await?;
            stats.uploads_aborted += aborted;
            if rows < BATCH as u64 {
                break;
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
        } else if stats.expired + stats.versions_expired + stats.uploads_aborted > 0 {
            tracing::info!(target: "audit", expired = stats.expired, versions_expired = stats.versions_expired, uploads_aborted = stats.uploads_aborted, "expiry sweep");
        }
        Ok(stats)
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
}

fn validate_rules(rules: &[LifecycleRule]) -> Result<()> {
    if rules.len() > MAX_RULES {
        return Err(StoreError::InvalidArgument(format!(
            "at most {MAX_RULES} lifecycle rules"
        )));
    }
    let mut ids = std::collections::HashSet::new();
    for r in rules {
        if r.id.chars().any(char::is_control) {
            return Err(StoreError::InvalidArgument(
                "a rule ID has no control characters".into(),
            ));
        }
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
        if r.expiration_days.is_none()
            && r.expiration_date_ms.is_none()
            && r.abort_incomplete_days.is_none()
            && r.noncurrent_days.is_none()
            && !r.expired_object_delete_marker
        {
            return Err(StoreError::InvalidArgument(
                "a rule needs an action: Expiration, NoncurrentVersionExpiration or AbortIncompleteMultipartUpload".into(),
            ));
        }
        if r.expiration_days.is_some() && r.expiration_date_ms.is_some() {
            return Err(StoreError::InvalidArgument(
                "an Expiration has Days or Date, not both".into(),
            ));
        }
        if (r.expiration_days.is_some() || r.expiration_date_ms.is_some())
            && r.expired_object_delete_marker
        {
            return Err(StoreError::InvalidArgument(
                "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy".into(),
            ));
        }
        if r.newer_noncurrent.is_some() && r.noncurrent_days.is_none() {
            return Err(StoreError::InvalidArgument(
                "NewerNoncurrentVersions needs NoncurrentDays".into(),
            ));
        }
        if r.newer_noncurrent.is_some_and(|n| n == 0 || n > 100) {
            return Err(StoreError::InvalidArgument(
                "NewerNoncurrentVersions must be between 1 and 100".into(),
            ));
        }
        if r.expiration_days == Some(0)
            || r.abort_incomplete_days == Some(0)
            || r.noncurrent_days == Some(0)
        {
            return Err(StoreError::InvalidArgument(
                "Days must be a positive integer".into(),
            ));
        }
        let f = &r.object;
        if !f.is_empty() && (r.abort_incomplete_days.is_some() || r.expired_object_delete_marker) {
            return Err(StoreError::InvalidRequest(
                "a rule filtering by tags or object size cannot abort incomplete multipart uploads or remove expired object delete markers (neither has tags or a size)".into(),
            ));
        }
        if let (Some(gt), Some(lt)) = (f.size_greater_than, f.size_less_than)
            && gt >= lt
        {
            return Err(StoreError::InvalidArgument(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
        if f.size_less_than == Some(0) {
            return Err(StoreError::InvalidArgument(
                "ObjectSizeLessThan must be greater than 0".into(),
            ));
        }
        for (i, (k, _)) in f.tags.iter().enumerate() {
            if f.tags[..i].iter().any(|(o, _)| o == k) {
                return Err(StoreError::InvalidRequest(
                    "Duplicate Tag Keys are not allowed.".into(),
                ));
            }
        }
        if r.prefix.len() > 1024 {
            return Err(StoreError::InvalidArgument("the prefix is too long".into()));
        }
    }
    Ok(())
}
