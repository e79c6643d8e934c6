//! Share snapshots (decision 0040): a read-only, point-in-time copy of a whole share as of one
//! commit, costing metadata only — its entries and inode records are copied, its chunks shared
//! by one more reference each. A snapshot is a bucket `fs+<share>@<name>` (alias
//! `fs--<share>.<name>`) that RBAC lets whoever may read the share read, and nobody write; the
//! NFS view reaches it as `/<share>/.snapshots/<name>/`.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, Principal};
use crate::naming::{self, share_bucket, snapshot_alias, snapshot_bucket};
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, BUCKETS};
use crate::{Store, deny};

/// A snapshot as the admin API, CLI and page show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotInfo {
    pub share: String,
    pub name: String,
    /// `fs+<share>@<name>`.
    pub bucket: String,
    /// `fs--<share>.<name>`, for clients that reject `+` and `@`.
    pub alias: String,
    pub created_ms: i64,
    /// Logical bytes it holds (counted against the share's quota).
    pub bytes: u64,
    pub objects: u64,
}

fn info(share: &str, b: &BucketRecord) -> SnapshotInfo {
    let name = naming::snapshot_parts(&b.name)
        .map(|(_, n)| n.to_string())
        .unwrap_or_default();
    SnapshotInfo {
        share: share.to_string(),
        alias: snapshot_alias(share, &name),
        name,
        bucket: b.name.clone(),
        created_ms: b.created_ms,
        bytes: b.usage_bytes,
        objects: b.object_count,
    }
}

/// What a restore from a snapshot did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Restored {
    /// Files put back as they were in the snapshot.
    pub restored: u64,
    /// Files under the restored path that the snapshot did not have, removed.
    pub removed: u64,
}

impl Store {
    /// Takes snapshot `name` (default: `snap-<unix seconds>`) of share `share` in one commit.
    pub async fn create_snapshot(
        &self,
        p: &Principal,
        share: &str,
        name: Option<&str>,
    ) -> Result<SnapshotInfo> {
        naming::validate_share_name(share)?;
        let sb = share_bucket(share);
        // Who may make a snapshot may also delete it (a share's bucket-admin); creating buckets
        // alone (s3-user) is not enough.
        deny(authorize(p, Verb::Create, Resource::Buckets(Some(&sb))))?;
        deny(authorize(p, Verb::Delete, Resource::Buckets(Some(&sb))))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => format!("snap-{}", crate::now_unix_ms().div_euclid(1000)),
        };
        naming::validate_share_name(&name).map_err(|_| {
            StoreError::InvalidArgument(format!(
                "invalid snapshot name {:?}: 1 to 63 lowercase letters, digits and '-'",
                crate::rbac::roles::truncate(&name, 80)
            ))
        })?;
        let share_s = share.to_string();
        let created = self
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut live = txn::get_bucket(&ns, &sb).map_err(|e| match e {
                    StoreError::NoSuchBucket => StoreError::NoSuchShare(share_s.clone()),
                    e => e,
                })?;
                let bucket = snapshot_bucket(&share_s, &name);
                if ns.buckets()?.get(bucket.as_str())?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "share {share_s} already has a snapshot {name}"
                    )));
                }
                let mut snap = BucketRecord::new(
                    txn::next_counter(&mut ns, "next_bucket_id")?,
                    bucket,
                    BucketKind::Share,
                    live.owner.clone(),
                    crate::now_unix_ms(),
                );
                snap.snapshot_of = Some(sb.clone());
                copy_entries(&mut ns, &live, &mut snap)?;
                txn::put_bucket(&mut ns, &snap)?;
                live.snapshot_bytes = live.snapshot_bytes.saturating_add(snap.usage_bytes);
                txn::put_bucket(&mut ns, &live)?;
                Ok(info(&share_s, &snap))
            })
            .await?;
        crate::ops::audit_action(p, "share.snapshot.create", &created.bucket);
        Ok(created)
    }

    /// The snapshots of share `share`, oldest first.
    pub fn list_snapshots(&self, p: &Principal, share: &str) -> Result<Vec<SnapshotInfo>> {
        naming::validate_share_name(share)?;
        let sb = share_bucket(share);
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(&sb))))?;
        let rtxn = self.db().begin_read()?;
        let mut out: Vec<SnapshotInfo> = snapshots_of(&rtxn.open_table(BUCKETS)?, &sb)?
            .iter()
            .map(|b| info(share, b))
            .collect();
        out.sort_by_key(|s| s.created_ms);
        Ok(out)
    }

    /// Deletes snapshot `name` of `share`: its entries and inodes go, its chunk references
    /// with them (the chunk GC frees what nothing else holds).
    pub async fn delete_snapshot(&self, p: &Principal, share: &str, name: &str) -> Result<()> {
        naming::validate_share_name(share)?;
        let sb = share_bucket(share);
        deny(authorize(p, Verb::Delete, Resource::Buckets(Some(&sb))))?;
        let bucket = snapshot_bucket(share, name);
        let b2 = bucket.clone();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                if drop_snapshot(&mut ns, &b2, &sb)? {
                    Ok(())
                } else {
                    Err(StoreError::NoSuchShare(format!("{b2} (no such snapshot)")))
                }
            })
            .await?;
        crate::ops::audit_action(p, "share.snapshot.delete", &bucket);
        Ok(())
    }

    /// Puts `path` (a file, a directory `a/b/`, or the whole share when empty) back as it was
    /// in snapshot `name`: every file the snapshot has there replaces the live one (chunks
    /// shared, nothing copied; a versioned share keeps what it replaced), and files there the
    /// snapshot did not have are removed. One commit.
    pub async fn restore_snapshot(
        &self,
        p: &Principal,
        share: &str,
        name: &str,
        path: &str,
    ) -> Result<Restored> {
        naming::validate_share_name(share)?;
        let sb = share_bucket(share);
        let bucket = snapshot_bucket(share, name);
        deny(authorize(p, Verb::Get, Resource::Objects(&bucket)))?;
        deny(authorize(p, Verb::Put, Resource::Objects(&sb)))?;
        deny(authorize(p, Verb::Delete, Resource::Objects(&sb)))?;
        let path = path.trim_start_matches('/').to_string();
        let limit = self.inner.cfg.max_size;
        let stats = self
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let snap = txn::get_bucket(&ns, &bucket)?;
                let mut live = txn::get_bucket(&ns, &sb)?;
                // A file path names that file; anything else (a directory, "") a prefix.
                let exact = !path.is_empty()
                    && !path.ends_with('/')
                    && txn::lookup(&ns, snap.id, &path)?.is_some();
                let prefix = if exact || path.is_empty() || path.ends_with('/') {
                    path.clone()
                } else {
                    format!("{path}/")
                };
                let wanted: Vec<(String, u64)> = if exact {
                    vec![(path.clone(), txn::lookup(&ns, snap.id, &path)?.unwrap_or(0))]
                } else {
                    keys_under(&ns, snap.id, &prefix)?
                };
                // A path the snapshot has nothing under is a mistake, not an order to empty
                // it; the whole share restored from an empty snapshot is emptied.
                if wanted.is_empty() && !exact && !prefix.is_empty() {
                    return Err(StoreError::NoSuchKey);
                }
                // Every check before the first write: a refusal changes nothing (the commit
                // contract).
                let to_remove: Vec<String> = if exact {
                    Vec::new()
                } else {
                    let have: std::collections::HashSet<&str> =
                        wanted.iter().map(|(k, _)| k.as_str()).collect();
                    keys_under(&ns, live.id, &prefix)?
                        .into_iter()
                        .map(|(k, _)| k)
                        .filter(|k| !have.contains(k.as_str()))
                        .collect()
                };
                for k in to_remove.iter().chain(wanted.iter().map(|(k, _)| k)) {
                    crate::locks::check_file_view_key(&ns, &live, k)?;
                }
                if exact {
                    txn::check_share_conflicts(&ns, &live, &path)?;
                } else if let Some(body) = prefix.strip_suffix('/') {
                    // Inside the prefix the snapshot's own tree replaces the live one; above it,
                    // a live file where the snapshot has a directory is a conflict.
                    txn::check_share_conflicts(&ns, &live, &format!("{body}/"))?;
                }
                let mut grow: i128 = 0;
                let frees = !live.versioning.is_on();
                for (k, ino) in &wanted {
                    grow += i128::from(txn::inode_attrs(&ns, *ino)?.size);
                    if frees && let Some(old) = txn::lookup(&ns, live.id, k)? {
                        let old = txn::inode_attrs(&ns, old)?;
                        if old.links() <= 1 {
                            grow -= i128::from(old.size);
                        }
                    }
                }
                if frees {
                    for k in &to_remove {
                        if let Some(old) = txn::lookup(&ns, live.id, k)? {
                            let old = txn::inode_attrs(&ns, old)?;
                            if old.links() <= 1 {
                                grow -= i128::from(old.size);
                            }
                        }
                    }
                }
                txn::ensure_room(&live, u64::try_from(grow).unwrap_or(0), limit, || {
                    txn::total_usage(&ns)
                })?;
                // The object-count limit, for the objects the restore adds (new keys, or kept
                // versions in a versioned share) less those it removes without keeping.
                if live.quota_objects > 0 {
                    let mut added: i128 = 0;
                    for (k, _) in &wanted {
                        let exists = txn::lookup(&ns, live.id, k)?.is_some();
                        added += i128::from(!exists || live.versioning.is_on());
                    }
                    if frees {
                        added -= to_remove.len() as i128;
                    }
                    let held = i128::from(live.object_count) + i128::from(live.version_rows);
                    if added > 0 && held + added > i128::from(live.quota_objects) {
                        return Err(StoreError::QuotaExceeded(format!(
                            "{} holds {held} of its {} objects; the restore adds {added}",
                            live.name, live.quota_objects
                        )));
                    }
                }
                let mut out = Restored::default();
                for k in &to_remove {
                    txn::unlink_object(&mut ns, &mut live, k)?;
                    out.removed += 1;
                }
                for (k, ino) in wanted {
                    let mut rec = txn::get_inode(&ns, ino)?;
                    rec.nlink = 1;
                    rec.version_id = None;
                    crate::locks::apply_to_new(
                        &live,
                        &crate::locks::LockRequest::default(),
                        &mut rec,
                        crate::now_unix_ms(),
                    )?;
                    txn::incref(&mut ns, rec.data.chunks())?;
                    txn::link_object(&mut ns, &mut live, &k, &mut rec)?;
                    out.restored += 1;
                }
                Ok(out)
            })
            .await?;
        crate::ops::audit_action(p, "share.snapshot.restore", share);
        Ok(stats)
    }

    /// Sets share `share`'s snapshot retention: snapshots older than `days` are deleted by the
    /// sweeper (`None`: kept until deleted). The right to delete snapshots is asked.
    pub async fn set_snapshot_retention(
        &self,
        p: &Principal,
        share: &str,
        days: Option<u32>,
    ) -> Result<()> {
        naming::validate_share_name(share)?;
        let sb = share_bucket(share);
        deny(authorize(p, Verb::Delete, Resource::Buckets(Some(&sb))))?;
        if days == Some(0) {
            return Err(StoreError::InvalidArgument(
                "a snapshot retention is a positive number of days (or off)".into(),
            ));
        }
        let share_s = share.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut shares = t.open_table(crate::tables::SHARES)?;
                let mut s: crate::model::ShareRecord = match shares.get(share_s.as_str())? {
                    Some(v) => codec::decode(v.value())?,
                    None => return Err(StoreError::NoSuchShare(share_s.clone())),
                };
                if s.deleted_ms.is_some() {
                    return Err(StoreError::NoSuchShare(share_s.clone()));
                }
                s.snapshot_retention_days = days;
                shares.insert(share_s.as_str(), codec::encode(&s)?.as_slice())?;
                Ok(())
            })
            .await?;
        crate::ops::audit_action(p, "share.snapshot.retention", share);
        Ok(())
    }

    /// Deletes the snapshots older than their share's snapshot retention at `now_ms`, each in a
    /// transaction of its own; returns how many went.
    pub(crate) async fn expire_snapshots(&self, now_ms: i64) -> Result<usize> {
        let due: Vec<(String, String)> = {
            let rtxn = self.db().begin_read()?;
            let buckets = rtxn.open_table(BUCKETS)?;
            let mut due = Vec::new();
            for e in rtxn.open_table(crate::tables::SHARES)?.iter()? {
                let (_, v) = e?;
                let s: crate::model::ShareRecord = codec::decode(v.value())?;
                let (None, Some(days)) = (s.deleted_ms, s.snapshot_retention_days) else {
                    continue;
                };
                let cutoff = now_ms.saturating_sub(i64::from(days).saturating_mul(86_400_000));
                for b in snapshots_of(&buckets, &share_bucket(&s.name))? {
                    if b.created_ms <= cutoff {
                        due.push((s.name.clone(), b.name));
                    }
                }
            }
            due
        };
        let n = due.len();
        for (share, bucket) in due {
            let sb = share_bucket(&share);
            self.inner
                .committer
                .write(move |t| drop_snapshot(&mut Ns::new(t), &bucket, &sb).map(drop))
                .await?;
            tracing::info!(target: "audit", share = %share, "snapshot deleted by its share's snapshot retention");
        }
        Ok(n)
    }

    /// The NFS view's `.snapshots` directory of share bucket `bucket`: its snapshots as
    /// (name, bucket id, bucket name), oldest first.
    pub fn fs_snapshots(&self, p: &Principal, bucket: &str) -> Result<Vec<(String, u64, String)>> {
        // A listing in the share's root (`.snapshots`), decided as the gate decides listings.
        crate::ops::fs_gate::Gate::new(p, &[Verb::List], bucket)?.listing("")?;
        let rtxn = self.db().begin_read()?;
        let mut v = snapshots_of(&rtxn.open_table(BUCKETS)?, bucket)?;
        v.sort_by_key(|b| b.created_ms);
        Ok(v.into_iter()
            .map(|b| {
                let name = naming::snapshot_parts(&b.name)
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_default();
                (name, b.id, b.name)
            })
            .collect())
    }
}

/// Deletes snapshot bucket `bucket` of share bucket `share_bucket` (its entries, inodes and
/// chunk references, its record, its bytes from the share's); `false` when there is none.
fn drop_snapshot(ns: &mut Ns, bucket: &str, share_bucket: &str) -> Result<bool> {
    let snap = match txn::get_bucket(ns, bucket) {
        Ok(b) => b,
        Err(StoreError::NoSuchBucket) => return Ok(false),
        Err(e) => return Err(e),
    };
    drop_bucket_contents(ns, snap.id, usize::MAX)?;
    txn::remove_bucket(ns, bucket)?;
    if let Ok(mut live) = txn::get_bucket(ns, share_bucket) {
        live.snapshot_bytes = live.snapshot_bytes.saturating_sub(snap.usage_bytes);
        txn::put_bucket(ns, &live)?;
    }
    Ok(true)
}

/// The live snapshot buckets of share bucket `share_bucket`.
pub(crate) fn snapshots_of(
    buckets: &impl ReadableTable<&'static str, &'static [u8]>,
    share_bucket: &str,
) -> Result<Vec<BucketRecord>> {
    let from = format!("{share_bucket}{}", naming::SNAPSHOT_SEP);
    let mut out = Vec::new();
    for e in buckets.range(from.as_str()..)? {
        let (k, v) = e?;
        if !k.value().starts_with(&from) {
            break;
        }
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

/// Every (key, inode) of bucket `id` under `prefix`.
fn keys_under(ns: &Ns, id: u64, prefix: &str) -> Result<Vec<(String, u64)>> {
    let lo = tables::entry_key(id, prefix);
    let mut out = Vec::new();
    for e in ns.entries()?.range(lo.as_slice()..)? {
        let (k, v) = e?;
        if !k.value().starts_with(&lo) {
            break;
        }
        let key = std::str::from_utf8(&k.value()[8..])
            .map_err(|_| StoreError::Corrupt("non-UTF-8 key in entries".into()))?;
        out.push((key.to_string(), v.value()));
    }
    Ok(out)
}

/// Copies the current entries of share `live` into snapshot `snap`: a new inode per inode
/// (hard links stay links), each chunk one more reference, and the directories' change times
/// and subdirectory counts.
fn copy_entries(ns: &mut Ns, live: &BucketRecord, snap: &mut BucketRecord) -> Result<()> {
    let names = keys_under(ns, live.id, "")?;
    let mut copies: HashMap<u64, u64> = HashMap::new();
    let mut links: HashMap<u64, u32> = HashMap::new();
    for (_, ino) in &names {
        *links.entry(*ino).or_default() += 1;
    }
    for (key, ino) in &names {
        let new = match copies.get(ino) {
            Some(n) => *n,
            None => {
                let mut rec = txn::get_inode(ns, *ino)?;
                rec.nlink = links.get(ino).copied().unwrap_or(1);
                rec.version_id = None;
                rec.retention = None;
                rec.legal_hold = false;
                let n = txn::next_counter(ns, "next_ino")?;
                txn::incref(ns, rec.data.chunks())?;
                txn::put_inode(ns, n, &rec, true)?;
                snap.usage_bytes = snap.usage_bytes.saturating_add(rec.size);
                copies.insert(*ino, n);
                n
            }
        };
        ns.entries_mut()?
            .insert(tables::entry_key(snap.id, key).as_slice(), new)?;
        crate::ops::names::set(ns, snap, key, new, None)?;
        snap.object_count += 1;
    }
    for table in [Dir::Times, Dir::Subdirs] {
        let lo = live.id.to_be_bytes();
        let hi = (live.id + 1).to_be_bytes();
        let rows: Vec<(Vec<u8>, u64)> = {
            let t = match table {
                Dir::Times => ns.dir_times()?,
                Dir::Subdirs => ns.dir_subdirs()?,
            };
            t.range(lo.as_slice()..hi.as_slice())?
                .map(|e| e.map(|(k, v)| (k.value()[8..].to_vec(), v.value())))
                .collect::<std::result::Result<_, _>>()?
        };
        let t = match table {
            Dir::Times => ns.dir_times_mut()?,
            Dir::Subdirs => ns.dir_subdirs_mut()?,
        };
        for (path, v) in rows {
            t.insert(
                [snap.id.to_be_bytes().as_slice(), &path]
                    .concat()
                    .as_slice(),
                v,
            )?;
        }
    }
    Ok(())
}

enum Dir {
    Times,
    Subdirs,
}

/// Removes up to `limit` entries of snapshot bucket `id` with their inodes (once per inode, its
/// chunk references dropped), and when none are left its directory rows; returns how many
/// entries went.
pub(crate) fn drop_bucket_contents(ns: &mut Ns, id: u64, limit: usize) -> Result<u64> {
    let n = crate::ops::shares::drop_entries(ns, id, limit)?;
    if (n as usize) < limit || limit == usize::MAX {
        crate::ops::shares::drop_dir_rows(ns, id)?;
    }
    Ok(n)
}
