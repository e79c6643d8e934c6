//! File shares: a named, quota'd, expiring bucket `fs+<name>` with ordinary bindings.
//!
//! Lifecycle: create (bucket + `bucket-admin` for the creator + `bucket-read` for `everyone`
//! when guest read is on) → delete or expiry (tombstone: the bucket record is parked in the
//! share record, so S3 and the API stop seeing the bucket while its entries and chunks stay) →
//! create or restore within `tombstone_retention` (the bucket comes back with its content) →
//! after it, [`Store::sweep_shares`] purges the entries, their chunk references and the
//! bindings scoped to the bucket.
//!
//! Authorization speaks the bucket vocabulary, since a share is a bucket: creating or
//! restoring needs `create` on the share's bucket, deleting needs `delete` on it, reading its
//! record needs `get`, and listings show the shares whose bucket the caller may `list`.

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::model::{BindingRecord, BucketKind, BucketRecord, ShareRecord, Subject};
use crate::naming::{share_alias, share_bucket, validate_share_name};
use crate::rbac::{Resource, Scope, Verb, authorize};
use crate::tables::{BINDINGS, BUCKETS, SHARES, UPLOADS};
use crate::{Store, StoreError, codec, deny, now_ms};

use super::ns::Ns;
use super::txn;
use super::users::audit;

/// The largest per-share quota: 1 TiB.
pub const MAX_SHARE_QUOTA: u64 = 1 << 40;

/// A share as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ShareInfo {
    pub name: String,
    pub description: String,
    /// `fs+<name>`: the canonical bucket name.
    pub bucket: String,
    /// `fs--<name>`: the same bucket for clients that reject `+` (aws CLI, boto3).
    pub s3_alias: String,
    pub owner: String,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Objects it may hold (versions included); 0 = unlimited.
    pub max_objects: u64,
    pub used_bytes: u64,
    pub object_count: u64,
    pub guest_read: bool,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// "active", "deleted" or "expired".
    pub state: &'static str,
    pub deleted_ms: Option<i64>,
    /// When a tombstoned share's data will be purged.
    pub purge_after_ms: Option<i64>,
    /// Snapshots older than this many days are deleted by the sweeper (decision 0040).
    pub snapshot_retention_days: Option<u32>,
}

/// What a caller asks for when creating a share.
#[derive(Debug, Clone, Default)]
pub struct NewShare {
    pub name: String,
    pub description: String,
    pub quota_bytes: u64,
    /// Objects the share may hold (versions included); 0 = unlimited.
    pub max_objects: u64,
    /// Unix ms; `None`: `share_expiry` from now.
    pub expires_ms: Option<i64>,
    /// `None`: on.
    pub guest_read: Option<bool>,
}

/// The result of creating a share: `restored` when a tombstoned share of that name came back
/// with its content.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedShare {
    #[serde(flatten)]
    pub share: ShareInfo,
    pub restored: bool,
    /// Said to whoever created it, e.g. a quota the server cannot give (the share is created).
    pub warnings: Vec<String>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub expired: usize,
    pub purged: usize,
    pub entries_removed: u64,
    /// Snapshots deleted by their share's snapshot retention (decision 0040).
    pub snapshots_expired: usize,
}

const MAX_DESCRIPTION: usize = 1024;

impl Store {
    pub(crate) fn retention_ms(&self) -> i64 {
        i64::try_from(self.inner.cfg.tombstone_retention.as_millis()).unwrap_or(i64::MAX)
    }

    fn share_info(&self, s: &ShareRecord, bucket: Option<&BucketRecord>) -> ShareInfo {
        let b = bucket.or(s.parked_bucket.as_ref());
        let state = match (&s.deleted_ms, s.deleted_reason.as_deref()) {
            (None, _) => "active",
            (Some(_), Some("expired")) => "expired",
            (Some(_), _) => "deleted",
        };
        ShareInfo {
            name: s.name.clone(),
            description: s.description.clone(),
            bucket: share_bucket(&s.name),
            s3_alias: share_alias(&s.name),
            owner: s.owner.clone(),
            quota_bytes: s.quota_bytes,
            max_objects: s.max_objects,
            used_bytes: b.map_or(0, |b| b.usage_bytes),
            object_count: b.map_or(0, |b| b.object_count),
            guest_read: s.guest_read,
            created_ms: s.created_ms,
            expires_ms: s.expires_ms,
            state,
            deleted_ms: s.deleted_ms,
            purge_after_ms: s.deleted_ms.map(|d| d.saturating_add(self.retention_ms())),
            snapshot_retention_days: s.snapshot_retention_days,
        }
    }

    /// Creates a share, or brings back a tombstoned one of the same name with its content.
    pub async fn create_share(&self, p: &crate::Principal, req: NewShare) -> Result<CreatedShare> {
        validate_share_name(&req.name)?;
        let bucket = share_bucket(&req.name);
        deny(authorize(p, Verb::Create, Resource::Buckets(Some(&bucket))))?;
        if req.quota_bytes > MAX_SHARE_QUOTA {
            return Err(StoreError::InvalidArgument(format!(
                "quota_bytes {} is over the 1 TiB maximum ({MAX_SHARE_QUOTA}); use 0 for unlimited",
                req.quota_bytes
            )));
        }
        if req.description.len() > MAX_DESCRIPTION {
            return Err(StoreError::InvalidArgument(format!(
                "the description is {} bytes; at most {MAX_DESCRIPTION}",
                req.description.len()
            )));
        }
        let now = now_ms();
        let expiry_ms = i64::try_from(self.inner.cfg.share_expiry.as_millis()).unwrap_or(i64::MAX);
        let expires_ms = match req.expires_ms {
            Some(t) if t <= now => {
                return Err(StoreError::InvalidArgument(
                    "expires_at is in the past".into(),
                ));
            }
            Some(t) => t,
            None => now.saturating_add(expiry_ms),
        };
        let guest_read = req.guest_read.unwrap_or(true);
        let retention = self.retention_ms();
        // A tombstone of this name past its retention that the sweep has not reached yet is
        // purged first, in the sweep's bounded steps (decision 0028), so the create's own
        // transaction does not remove a whole share's entries at once.
        if self.tombstone_due(&req.name, now, retention)?
            && self.purge_share(&req.name, now, retention).await?.is_some()
        {
            self.reload_policy()?;
        }
        let owner = p.user_id.clone();
        let (rec, b, restored) = self
            .inner
            .committer
            .write_then(
                move |wtxn| {
                    let existing: Option<ShareRecord> = {
                        let t = wtxn.open_table(SHARES)?;
                        let v = t.get(req.name.as_str())?;
                        v.map(|v| codec::decode(v.value())).transpose()?
                    };
                    if wtxn.open_table(BUCKETS)?.get(bucket.as_str())?.is_some()
                        && existing.as_ref().is_none_or(|s| s.deleted_ms.is_none())
                    {
                        return Err(StoreError::Conflict(format!(
                            "share {} already exists",
                            req.name
                        )));
                    }
                    let mut restored = false;
                    let b = match existing {
                        Some(old)
                            if old
                                .deleted_ms
                                .is_some_and(|d| d.saturating_add(retention) > now) =>
                        {
                            restored = true;
                            old.parked_bucket.ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "deleted share {} has no parked bucket",
                                    old.name
                                ))
                            })?
                        }
                        Some(old) => {
                            // Past retention since the purge above (or retention 0): whatever is
                            // left goes now, then the share starts afresh.
                            purge_in(wtxn, &old)?;
                            new_bucket(wtxn, &bucket, &owner, now)?
                        }
                        None => new_bucket(wtxn, &bucket, &owner, now)?,
                    };
                    let mut b = b;
                    b.quota_bytes = req.quota_bytes;
                    b.quota_objects = req.max_objects;
                    let mut ns = Ns::new(wtxn);
                    if restored {
                        // Unparked: put_bucket counts its bytes again as a live bucket's.
                        txn::add_usage_total(&mut ns, -i128::from(b.usage_bytes))?;
                    }
                    txn::put_bucket(&mut ns, &b)?;
                    drop(ns);
                    if restored {
                        // Its objects' rows were dropped while it was parked.
                        super::expiry_index::mark_rebuild(wtxn, b.id)?;
                    }
                    let rec = ShareRecord {
                        name: req.name.clone(),
                        description: req.description,
                        owner: owner.clone(),
                        quota_bytes: req.quota_bytes,
                        max_objects: req.max_objects,
                        guest_read,
                        created_ms: now,
                        expires_ms,
                        deleted_ms: None,
                        deleted_reason: None,
                        parked_bucket: None,
                        parked_snapshots: Vec::new(),
                        snapshot_retention_days: None,
                        purging: false,
                    };
                    wtxn.open_table(SHARES)?
                        .insert(req.name.as_str(), codec::encode(&rec)?.as_slice())?;
                    let scope = Scope::Bucket(bucket.clone());
                    super::access::put_binding(
                        wtxn,
                        Subject::User(owner),
                        "bucket-admin",
                        &scope,
                        now,
                    )?;
                    let everyone = Subject::Group("everyone".into());
                    if guest_read {
                        super::access::put_binding(wtxn, everyone, "bucket-read", &scope, now)?;
                    } else {
                        remove_binding(wtxn, &everyone, "bucket-read", &scope)?;
                    }
                    Ok((rec, b, restored))
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(
            p,
            if restored {
                "share.restore"
            } else {
                "share.create"
            },
            &rec.name,
        );
        let warnings = self
            .quota_warning(b.quota_bytes, b.usage_bytes)?
            .into_iter()
            .collect();
        Ok(CreatedShare {
            share: self.share_info(&rec, Some(&b)),
            restored,
            warnings,
        })
    }

    /// Shares whose bucket the caller may list; with `deleted`, the tombstoned ones the caller
    /// could restore instead.
    pub fn list_shares(&self, p: &crate::Principal, deleted: bool) -> Result<Vec<ShareInfo>> {
        let rtxn = self.db().begin_read()?;
        let shares = rtxn.open_table(SHARES)?;
        let buckets = rtxn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for e in shares.iter()? {
            let (_, v) = e?;
            let s: ShareRecord = codec::decode(v.value())?;
            let bucket = share_bucket(&s.name);
            let (verb, show) = if deleted {
                (Verb::Create, s.deleted_ms.is_some())
            } else {
                (Verb::List, s.deleted_ms.is_none())
            };
            if !show || !authorize(p, verb, Resource::Buckets(Some(&bucket))).allowed {
                continue;
            }
            let b: Option<BucketRecord> = buckets
                .get(bucket.as_str())?
                .map(|v| codec::decode(v.value()))
                .transpose()?;
            out.push(self.share_info(&s, b.as_ref()));
        }
        Ok(out)
    }

    /// One live share. A deleted or expired share is not found.
    pub fn show_share(&self, p: &crate::Principal, name: &str) -> Result<ShareInfo> {
        validate_share_name(name)?;
        let bucket = share_bucket(name);
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(&bucket))))?;
        let rtxn = self.db().begin_read()?;
        let s = live_share(&rtxn.open_table(SHARES)?, name)?;
        let b: Option<BucketRecord> = rtxn
            .open_table(BUCKETS)?
            .get(bucket.as_str())?
            .map(|v| codec::decode(v.value()))
            .transpose()?;
        Ok(self.share_info(&s, b.as_ref()))
    }

    /// Tombstones a share: its bucket disappears from S3 and the API; the data stays for
    /// `tombstone_retention`.
    pub async fn delete_share(&self, p: &crate::Principal, name: &str) -> Result<ShareInfo> {
        validate_share_name(name)?;
        let bucket = share_bucket(name);
        deny(authorize(p, Verb::Delete, Resource::Buckets(Some(&bucket))))?;
        let name_s = name.to_string();
        let rec = self
            .inner
            .committer
            .write(move |wtxn| tombstone(wtxn, &name_s, now_ms(), "deleted"))
            .await?;
        audit(p, "share.delete", name);
        Ok(self.share_info(&rec, None))
    }

    /// Brings back a tombstoned share with its content and settings.
    pub async fn restore_share(&self, p: &crate::Principal, name: &str) -> Result<ShareInfo> {
        validate_share_name(name)?;
        let bucket = share_bucket(name);
        deny(authorize(p, Verb::Create, Resource::Buckets(Some(&bucket))))?;
        let name_s = name.to_string();
        let retention = self.retention_ms();
        let share_expiry =
            i64::try_from(self.inner.cfg.share_expiry.as_millis()).unwrap_or(i64::MAX);
        let (rec, b) = self
            .inner
            .committer
            .write_then(
                move |wtxn| {
                    let mut s: ShareRecord = {
                        let t = wtxn.open_table(SHARES)?;
                        let v = t
                            .get(name_s.as_str())?
                            .ok_or_else(|| StoreError::NoSuchShare(name_s.clone()))?;
                        codec::decode(v.value())?
                    };
                    let now = now_ms();
                    let Some(deleted) = s.deleted_ms else {
                        return Err(StoreError::Conflict(format!(
                            "share {name_s} is not deleted"
                        )));
                    };
                    if deleted.saturating_add(retention) <= now || s.purging {
                        return Err(StoreError::NoSuchShare(format!(
                            "{name_s} (its retention has passed; the data is gone)"
                        )));
                    }
                    let b = s.parked_bucket.take().ok_or_else(|| {
                        StoreError::Corrupt(format!("deleted share {name_s} has no parked bucket"))
                    })?;
                    let mut ns = Ns::new(wtxn);
                    // Unparked: put_bucket counts its bytes again as a live bucket's.
                    txn::add_usage_total(&mut ns, -i128::from(b.usage_bytes))?;
                    txn::put_bucket(&mut ns, &b)?;
                    for snap in std::mem::take(&mut s.parked_snapshots) {
                        txn::add_usage_total(&mut ns, -i128::from(snap.usage_bytes))?;
                        txn::put_bucket(&mut ns, &snap)?;
                    }
                    drop(ns);
                    // Its objects' rows were dropped while it was parked.
                    super::expiry_index::mark_rebuild(wtxn, b.id)?;
                    s.deleted_ms = None;
                    if s.deleted_reason.take().as_deref() == Some("expired") || s.expires_ms <= now
                    {
                        // An expired share comes back with a fresh lifetime.
                        s.expires_ms = now.saturating_add(share_expiry);
                    }
                    wtxn.open_table(SHARES)?
                        .insert(name_s.as_str(), codec::encode(&s)?.as_slice())?;
                    Ok((s, b))
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "share.restore", name);
        Ok(self.share_info(&rec, Some(&b)))
    }

    /// Tombstones shares whose expiry has passed and purges tombstones older than the
    /// retention, as of `now_ms` (the background loop passes the clock; tests pass the future).
    pub async fn sweep_shares(&self, now_ms: i64) -> Result<SweepStats> {
        let retention = self.retention_ms();
        let (expire, purge) = {
            let rtxn = self.db().begin_read()?;
            let t = rtxn.open_table(SHARES)?;
            let (mut expire, mut purge) = (Vec::new(), Vec::new());
            for e in t.iter()? {
                let (k, v) = e?;
                let s: ShareRecord = codec::decode(v.value())?;
                match s.deleted_ms {
                    None if s.expires_ms <= now_ms => expire.push(k.value().to_string()),
                    Some(d) if d.saturating_add(retention) <= now_ms => {
                        purge.push(k.value().to_string())
                    }
                    _ => {}
                }
            }
            (expire, purge)
        };
        let mut stats = SweepStats::default();
        for name in expire {
            let name_for_log = name.clone();
            let r = self
                .inner
                .committer
                .write(move |wtxn| tombstone(wtxn, &name, now_ms, "expired"))
                .await;
            match r {
                Ok(s) => {
                    tracing::info!(target: "audit", share = %s.name, "share expired: tombstoned");
                    stats.expired += 1;
                }
                // Restored or deleted in between: nothing to do.
                Err(StoreError::NoSuchShare(_)) => {}
                // A version under object lock keeps the share until no lock is left (decision
                // 0039); the sweep goes on with the others.
                Err(StoreError::AccessDenied(why)) => {
                    tracing::warn!(target: "audit", share = %name_for_log, %why, "expired share kept: object lock");
                }
                Err(e) => return Err(e),
            }
        }
        for share in purge {
            if let Some(removed) = self.purge_share(&share, now_ms, retention).await? {
                stats.purged += 1;
                stats.entries_removed += removed;
            }
        }
        stats.snapshots_expired = self.expire_snapshots(now_ms).await?;
        if stats.purged > 0 {
            self.reload_policy()?;
        }
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.metrics();
        m.sweeper_runs.fetch_add(1, Relaxed);
        m.shares_expired.fetch_add(stats.expired as u64, Relaxed);
        Ok(stats)
    }

    /// Whether share `name` is a tombstone past `retention` at `now_ms` (one read).
    fn tombstone_due(&self, name: &str, now_ms: i64, retention: i64) -> Result<bool> {
        let rtxn = self.db().begin_read()?;
        let Some(v) = rtxn.open_table(SHARES)?.get(name)? else {
            return Ok(false);
        };
        let s: ShareRecord = codec::decode(v.value())?;
        Ok(s.deleted_ms
            .is_some_and(|d| d.saturating_add(retention) <= now_ms))
    }

    /// Purges tombstoned share `name` if it is past `retention` at `now_ms`, in transactions
    /// of at most [`PURGE_STEP`] entries each, so a share of millions of files never holds the
    /// writer for long; the last one removes the rest. The entries removed, when it was purged
    /// (the caller reloads the policy once for all it purged).
    async fn purge_share(&self, name: &str, now_ms: i64, retention: i64) -> Result<Option<u64>> {
        let mut removed = 0u64;
        loop {
            match self.purge_step(name, now_ms, retention, PURGE_STEP).await? {
                None => return Ok(None),
                Some((n, false)) => removed += n,
                Some((n, true)) => {
                    removed += n;
                    tracing::info!(target: "audit", share = %name, entries = removed, "share purged");
                    self.metrics()
                        .shares_purged
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(Some(removed));
                }
            }
        }
    }

    /// One bounded step of purging tombstoned share `name`: removes up to `limit` of its
    /// entries and, when none are left, the rest of it. `None` when there is nothing to purge
    /// (gone, restored, or not yet past `retention` at `now_ms`); else the entries removed and
    /// whether the share is gone.
    pub(crate) async fn purge_step(
        &self,
        name: &str,
        now_ms: i64,
        retention: i64,
        limit: usize,
    ) -> Result<Option<(u64, bool)>> {
        let name = name.to_string();
        self.inner
            .committer
            .write_then(
                move |wtxn| {
                    let mut s: ShareRecord = {
                        let t = wtxn.open_table(SHARES)?;
                        let Some(v) = t.get(name.as_str())? else {
                            return Ok(None);
                        };
                        codec::decode(v.value())?
                    };
                    // Re-check inside the transaction: it may have been restored meanwhile.
                    match s.deleted_ms {
                        Some(d) if d.saturating_add(retention) <= now_ms => {}
                        _ => return Ok(None),
                    }
                    let n = purge_entries(wtxn, &s, limit)?;
                    if n < limit as u64 {
                        purge_rest(wtxn, &s)?;
                        return Ok(Some((n, true)));
                    }
                    if !s.purging {
                        s.purging = true;
                        wtxn.open_table(SHARES)?
                            .insert(name.as_str(), codec::encode(&s)?.as_slice())?;
                    }
                    Ok(Some((n, false)))
                },
                self.policy_changed(),
            )
            .await
    }
}

fn live_share(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<ShareRecord> {
    let v = t
        .get(name)?
        .ok_or_else(|| StoreError::NoSuchShare(name.to_string()))?;
    let s: ShareRecord = codec::decode(v.value())?;
    if s.deleted_ms.is_some() {
        return Err(StoreError::NoSuchShare(name.to_string()));
    }
    Ok(s)
}

fn new_bucket(
    wtxn: &redb::WriteTransaction,
    bucket: &str,
    owner: &str,
    now: i64,
) -> Result<BucketRecord> {
    Ok(BucketRecord::new(
        txn::next_counter(&mut Ns::new(wtxn), "next_bucket_id")?,
        bucket.to_string(),
        BucketKind::Share,
        owner.to_string(),
        now,
    ))
}

/// Parks the bucket record in the share record; the entries stay, keyed by bucket id.
fn tombstone(
    wtxn: &redb::WriteTransaction,
    name: &str,
    now: i64,
    reason: &str,
) -> Result<ShareRecord> {
    let mut s: ShareRecord = {
        let t = wtxn.open_table(SHARES)?;
        live_share(&t, name)?
    };
    let bucket = share_bucket(name);
    let mut ns = Ns::new(wtxn);
    // A share holding a locked version is not deleted (its purge would destroy it): the
    // delete waits until no lock is left (decision 0039).
    if let Ok(b) = txn::get_bucket(&ns, &bucket)
        && crate::locks::any_locked(&ns, &b)?
    {
        return Err(StoreError::AccessDenied(format!(
            "share {name} holds versions under object lock; it can be deleted once no lock is left"
        )));
    }
    let b = txn::remove_bucket(&mut ns, &bucket)?.ok_or(StoreError::NoSuchBucket)?;
    // Parked, its bytes are still on disk: they still count in the server's total.
    txn::add_usage_total(&mut ns, i128::from(b.usage_bytes))?;
    // Its snapshots are parked with it (decision 0040).
    let snaps = crate::snapshots::snapshots_of(ns.buckets()?, &bucket)?;
    for snap in &snaps {
        txn::remove_bucket(&mut ns, &snap.name)?;
        txn::add_usage_total(&mut ns, i128::from(snap.usage_bytes))?;
    }
    s.parked_snapshots = snaps;
    drop(ns);
    s.deleted_ms = Some(now);
    s.deleted_reason = Some(reason.to_string());
    s.parked_bucket = Some(b);
    wtxn.open_table(SHARES)?
        .insert(name, codec::encode(&s)?.as_slice())?;
    Ok(s)
}

/// Removes a tombstoned share for good: its entries and inodes (dropping their chunk references,
/// once per inode; the chunk GC deletes the files), its NFS directory inodes, its unfinished uploads, the bindings scoped to its bucket, and
/// the share record. Returns the number of entries removed.
fn purge_in(wtxn: &redb::WriteTransaction, s: &ShareRecord) -> Result<u64> {
    let removed = purge_entries(wtxn, s, usize::MAX)?;
    purge_rest(wtxn, s)?;
    Ok(removed)
}

/// What is left of a tombstoned share once its entries are gone ([`purge_entries`]): its NFS
/// directory inodes, unfinished uploads, bindings, bytes in the server's total, and record.
fn purge_rest(wtxn: &redb::WriteTransaction, s: &ShareRecord) -> Result<()> {
    let bucket = share_bucket(&s.name);
    let mut ns = Ns::new(wtxn);
    if let Some(b) = &s.parked_bucket {
        drop_dir_rows(&mut ns, b.id)?;
    }
    let doomed: Vec<String> = {
        let uploads = wtxn.open_table(UPLOADS)?;
        let mut v = Vec::new();
        for e in uploads.iter()? {
            let (k, val) = e?;
            let u: crate::model::UploadRecord = codec::decode(val.value())?;
            if u.bucket == bucket {
                v.push(k.value().to_string());
            }
        }
        v
    };
    for id in doomed {
        super::multipart::drop_upload(&mut ns, &id)?;
    }
    // Its bytes (the parts' included) leave the server's total with the parked record.
    if let Some(b) = &s.parked_bucket {
        txn::add_usage_total(&mut ns, -i128::from(b.usage_bytes))?;
    }
    // Its snapshots' last rows and bytes go too (their entries went in the steps before).
    for snap in &s.parked_snapshots {
        crate::snapshots::drop_bucket_contents(&mut ns, snap.id, usize::MAX)?;
        txn::add_usage_total(&mut ns, -i128::from(snap.usage_bytes))?;
    }
    drop(ns);
    super::drop_bucket_bindings(wtxn, &bucket)?;
    crate::bucket_access::forget(wtxn, &bucket)?;
    wtxn.open_table(SHARES)?.remove(s.name.as_str())?;
    Ok(())
}

/// Entries a purge step removes at most (with their inodes and chunk references).
const PURGE_STEP: usize = 10_000;

/// Removes up to `limit` entries of a tombstoned share's parked bucket, the first in key order,
/// with their inodes and chunk references; returns how many. An inode with names still left
/// (hard links past this step) keeps its data until its last name goes.
fn purge_entries(wtxn: &redb::WriteTransaction, s: &ShareRecord, limit: usize) -> Result<u64> {
    let Some(b) = &s.parked_bucket else {
        return Ok(0);
    };
    let mut ns = Ns::new(wtxn);
    // Its snapshots' entries first, in the same budget (decision 0040).
    let mut removed = 0u64;
    for snap in &s.parked_snapshots {
        let left = limit.saturating_sub(removed as usize);
        if left == 0 {
            return Ok(removed);
        }
        removed += crate::snapshots::drop_bucket_contents(&mut ns, snap.id, left)?;
    }
    removed += drop_entries(&mut ns, b.id, limit.saturating_sub(removed as usize))?;
    let start = b.id.to_be_bytes();
    let end = (b.id + 1).to_be_bytes();
    // Then its noncurrent versions and delete markers (decision 0038), in the same budget:
    // the log's rows, those the file view kept with an inode, then the keys' heads.
    let mut rows: Vec<(bool, Vec<u8>, Option<u64>)> = Vec::new();
    for keyed in [true, false] {
        let t = if keyed {
            ns.version_log()?
        } else {
            ns.inode_versions()?
        };
        for e in t
            .range(start.as_slice()..end.as_slice())?
            .take(limit.saturating_sub(removed as usize + rows.len()))
        {
            let (k, v) = e?;
            let inode = if keyed {
                codec::decode::<crate::model::VersionLogRow>(v.value())?
                    .row
                    .inode
            } else {
                codec::decode::<crate::model::VersionRow>(v.value())?.inode
            };
            rows.push((keyed, k.value().to_vec(), inode));
        }
    }
    let heads: Vec<Vec<u8>> = ns
        .version_heads()?
        .range(start.as_slice()..end.as_slice())?
        .take(limit.saturating_sub(removed as usize + rows.len()))
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<std::result::Result<_, _>>()?;
    for k in heads {
        ns.version_heads_mut()?.remove(k.as_slice())?;
        removed += 1;
    }
    for (keyed, k, vino) in rows {
        if keyed {
            ns.version_log_mut()?.remove(k.as_slice())?;
        } else {
            ns.inode_versions_mut()?.remove(k.as_slice())?;
        }
        removed += 1;
        if let Some(vino) = vino {
            let old = txn::get_inode(&ns, vino)?;
            txn::decref(&mut ns, old.data.chunks())?;
            ns.inodes_mut()?.remove(vino)?;
            ns.data_mut()?.remove(vino)?;
        }
    }
    Ok(removed)
}

/// Removes up to `limit` entries of bucket `id`, the first in key order, with their inodes and
/// chunk references; returns how many. An inode with names still left (hard links past this
/// step) keeps its data until its last name goes. (Share purges and snapshot deletion.)
pub(crate) fn drop_entries(ns: &mut Ns, id: u64, limit: usize) -> Result<u64> {
    let start = id.to_be_bytes();
    let end = (id + 1).to_be_bytes();
    let names: Vec<(Vec<u8>, u64)> = ns
        .entries()?
        .range(start.as_slice()..end.as_slice())?
        .take(limit)
        .map(|e| e.map(|(k, v)| (k.value().to_vec(), v.value())))
        .collect::<std::result::Result<_, _>>()?;
    let n = names.len() as u64;
    for (key, ino) in names {
        ns.entries_mut()?.remove(key.as_slice())?;
        ns.inode_names_mut()?
            .remove(super::names::row(id, ino, &key[8..]).as_slice())?;
        // Chunk references are held once per inode, however many names (hard links) it
        // has: dropped with its last name.
        let Some(old) = ns.inodes()?.get(ino)?.map(|v| v.value().to_vec()) else {
            continue; // already gone with an earlier name
        };
        let rec: crate::model::ObjectRecord = codec::decode(&old)?;
        if rec.nlink > 1 {
            let mut rec = rec;
            rec.nlink -= 1;
            ns.inodes_mut()?
                .insert(ino, codec::encode(&rec)?.as_slice())?;
            continue;
        }
        let old = txn::get_inode(ns, ino)?;
        txn::decref(ns, old.data.chunks())?;
        ns.inodes_mut()?.remove(ino)?;
        ns.data_mut()?.remove(ino)?;
    }
    Ok(n)
}

/// Removes the NFS view's directory rows of bucket `id`: directory inodes (and the root's
/// attributes kept under its inode, decision 0023), change times, subdirectory counts.
pub(crate) fn drop_dir_rows(ns: &mut Ns, id: u64) -> Result<()> {
    let start = id.to_be_bytes();
    let end = (id + 1).to_be_bytes();
    let dirs: Vec<(Vec<u8>, u64)> = ns
        .dir_inodes()?
        .range(start.as_slice()..end.as_slice())?
        .map(|e| e.map(|(k, v)| (k.value().to_vec(), v.value())))
        .collect::<std::result::Result<_, _>>()?;
    for (key, ino) in dirs {
        ns.dir_inodes_mut()?.remove(key.as_slice())?;
        ns.dir_paths_mut()?.remove(ino)?;
        ns.inodes_mut()?.remove(ino)?;
    }
    ns.dir_times_mut()?
        .retain_in(start.as_slice()..end.as_slice(), |_, _| false)?;
    ns.dir_subdirs_mut()?
        .retain_in(start.as_slice()..end.as_slice(), |_, _| false)?;
    Ok(())
}

fn remove_binding(
    wtxn: &redb::WriteTransaction,
    subject: &Subject,
    role: &str,
    scope: &Scope,
) -> Result<()> {
    let key = BindingRecord::key(subject, role, scope);
    wtxn.open_table(BINDINGS)?.remove(key.as_str())?;
    Ok(())
}
