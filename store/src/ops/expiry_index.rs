//! Object expiry's due-time index (decision 0028): which objects a rule may expire, in the order
//! they fall due, so the sweeper reads only what is due instead of walking every entry.
//!
//! Every write that links a key to a record (PUT, copy, completion, a file-view create, a hard
//! link, a rename) enters it at its due time: the earliest of `mtime + days` for the bucket's
//! enabled expiration rules whose prefix the key has (and `Date` for a rule with one) and of
//! the server's `object_expiry_days`. A rule's tag and size filter is not asked then (the row
//! may come early), and a change of an object's tags enters it again. A row is a hint: when
//! it falls due the sweeper looks at the key under the rules as they are then and expires it, moves the row to a later due time (the object was overwritten, a rule
//! lengthened) or drops it (the key is gone, no rule applies). So writes that only move an
//! object's due time later need no row, and deletes need not find theirs.
//!
//! Only objects due within [`HORIZON_MS`] (180 days) get a row; every 90 days every bucket
//! with a rule is entered again, so the rest get theirs in time. The default
//! `object_expiry_days` (25 years) thus costs no row per object.
//!
//! When rules change in a way that can make objects due sooner — a lifecycle configuration put,
//! `object_expiry_days` changed between starts, a deleted share restored — the bucket is marked
//! in `expiry_rebuild` and the sweeper enters its objects again in bounded steps, resuming
//! after the last key it entered.

use std::collections::HashMap;

use redb::{ReadableTable, WriteTransaction};

use super::ns::Ns;
use super::txn;
use crate::codec;
use crate::error::Result;
use crate::model::{BucketKind, BucketRecord, UploadRecord};
use crate::tables::{self, ABORT_DUE, BUCKETS, EXPIRY_REBUILD, META, UPLOADS};

pub(crate) const DAY_MS: i64 = 86_400_000;
/// META key: the `object_expiry_days` the write paths use (0: none), set at start.
const GLOBAL_DAYS: &str = "expiry_global_days";
/// Only objects due within this of now have a row: the default `object_expiry_days` (25 years)
/// then costs no row per object. Every [`HORIZON_MS`] / 2 the sweeper enters every bucket again
/// ([`due_for_horizon_rebuild`]), so an object comes within the horizon before it is due.
pub(crate) const HORIZON_MS: i64 = 180 * DAY_MS;
/// First byte of an `expiry_rebuild` cursor in its second pass, over the bucket's versions.
const VERSIONS_PASS: u8 = 1;
/// META key: when every bucket was last marked to be entered again for the horizon.
const HORIZON_MARKED: &str = "expiry_horizon_marked_ms";

/// When `key` of `b`, last modified at `mtime_ms`, expires: the earliest of what the bucket's
/// enabled expiration rules for the key's prefix say (`mtime + Days`, or `Date`) and of the
/// server's `global_days` (0: none). `object` is the object's (size, tags), to ask the rules'
/// object filters; `None` (an index hint) takes every rule as passing them, so the answer is
/// never later than the object's true due time.
pub(crate) fn due_for(
    b: &BucketRecord,
    key: &str,
    global_days: u32,
    mtime_ms: i64,
    object: Option<(u64, &[(String, String)])>,
) -> Option<i64> {
    // A snapshot keeps what it holds until it is deleted (decision 0040).
    if b.kind == BucketKind::System || b.snapshot_of.is_some() {
        return None;
    }
    b.lifecycle
        .iter()
        .filter(|r| r.covers(key))
        .filter(|r| object.is_none_or(|(size, tags)| r.object.passes(size, tags)))
        .filter_map(|r| rule_due(r, mtime_ms))
        .chain((global_days > 0).then(|| due_at(mtime_ms, global_days)))
        .min()
}

/// Whether any of `b`'s enabled expiration rules filters by tags or size: a change of an
/// object's tags or size enters it again (its row may have been dropped while no rule
/// selected it).
pub(crate) fn object_filter_rules(b: &BucketRecord) -> bool {
    b.lifecycle
        .iter()
        .any(|r| r.enabled && !r.object.is_empty())
}

/// Enters every name of inode `ino` of `b` (one for a plain bucket's object, each hard link of
/// a share's file) at its due time, after a change of its tags or size under
/// [`object_filter_rules`].
pub(crate) fn reschedule_names(
    ns: &mut Ns,
    b: &BucketRecord,
    key: Option<&str>,
    ino: u64,
    mtime_ms: i64,
) -> Result<()> {
    let names = match (b.kind, key) {
        (BucketKind::Share, _) | (_, None) => super::names::of_ns(ns, b.id, ino)?,
        (_, Some(k)) => vec![k.to_string()],
    };
    for name in names {
        schedule(ns, b, &name, mtime_ms)?;
    }
    Ok(())
}

/// Days after its initiation at which an incomplete upload of `key` to `b` is aborted: the least
/// of the bucket's enabled abort-incomplete rules for the key's prefix.
pub(crate) fn abort_days_for(b: &BucketRecord, key: &str) -> Option<u32> {
    if b.kind == BucketKind::System {
        return None;
    }
    b.lifecycle
        .iter()
        .filter(|r| r.covers(key))
        .filter_map(|r| r.abort_incomplete_days)
        .min()
}

/// Enters upload `id` (of `key` to `b`, begun at `initiated_ms`) at its abort time, if a rule
/// applies.
pub(crate) fn schedule_upload(
    t: &WriteTransaction,
    b: &BucketRecord,
    id: &str,
    u: &UploadRecord,
) -> Result<()> {
    if let Some(days) = abort_days_for(b, &u.key) {
        let due = due_at(u.initiated_ms, days);
        t.open_table(ABORT_DUE)?
            .insert(upload_row(due, id).as_slice(), ())?;
    }
    Ok(())
}

fn upload_row(due_ms: i64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&(due_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// Whether any key of `b` can have a due time.
pub(crate) fn any_rule(b: &BucketRecord, global_days: u32) -> bool {
    b.kind != BucketKind::System
        && b.snapshot_of.is_none()
        && (global_days > 0
            || b.lifecycle.iter().any(|r| {
                r.enabled && (r.expiration_days.is_some() || r.expiration_date_ms.is_some())
            }))
}

/// When something last changed at `since_ms` falls due `days` later: as S3 computes it, the
/// time `days` later rounded up to the next midnight UTC.
pub(crate) fn due_at(since_ms: i64, days: u32) -> i64 {
    let t = since_ms.saturating_add(i64::from(days).saturating_mul(DAY_MS));
    match t.rem_euclid(DAY_MS) {
        0 => t,
        r => t.saturating_add(DAY_MS - r),
    }
}

/// What S3's `x-amz-expiration` says of an object: when the lifecycle rule that expires it
/// first makes it due, and that rule's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiration {
    pub due_ms: i64,
    pub rule_id: String,
}

/// The [`Expiration`] of `key` of `b` holding `rec`: the enabled rule that selects it (prefix,
/// tags, size) and makes it due first. `None` without such a rule (the server's
/// `object_expiry_days` is no lifecycle rule and is not shown).
pub(crate) fn expiration_of(
    b: &BucketRecord,
    key: &str,
    rec: &crate::model::ObjectRecord,
) -> Option<Expiration> {
    if b.lifecycle.is_empty() || b.kind == BucketKind::System || b.snapshot_of.is_some() {
        return None;
    }
    b.lifecycle
        .iter()
        .filter(|r| r.covers(key) && r.object.passes(rec.size, &rec.tags))
        .filter_map(|r| {
            rule_due(r, rec.mtime_ms).map(|due_ms| Expiration {
                due_ms,
                rule_id: r.id.clone(),
            })
        })
        .min_by_key(|e| e.due_ms)
}

/// When rule `r`'s Expiration makes an object last modified at `mtime_ms` due: its Days
/// later, or its Date; `None` for a rule without one.
fn rule_due(r: &crate::model::LifecycleRule, mtime_ms: i64) -> Option<i64> {
    match (r.expiration_days, r.expiration_date_ms) {
        (Some(days), _) => Some(due_at(mtime_ms, days)),
        (None, date) => date,
    }
}

/// The row of `key` of bucket `bucket_id` due at `due_ms` (before 1970: at 0).
pub(crate) fn row_key(due_ms: i64, bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + key.len());
    k.extend_from_slice(&(due_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// (due ms, bucket id, key) of a row; `None` for a row this build did not write.
pub(crate) fn parse_row(k: &[u8]) -> Option<(i64, u64, String)> {
    let due = i64::try_from(u64::from_be_bytes(k.get(..8)?.try_into().ok()?)).ok()?;
    let id = u64::from_be_bytes(k.get(8..16)?.try_into().ok()?);
    let key = std::str::from_utf8(k.get(16..)?).ok()?;
    Some((due, id, key.to_string()))
}

/// The `object_expiry_days` the write paths use, as set at start.
pub(crate) fn global_days(ns: &Ns) -> Result<u32> {
    let d = txn::read_counter(ns.meta()?, GLOBAL_DAYS)?;
    Ok(u32::try_from(d).unwrap_or(u32::MAX))
}

/// Enters `key` of `b`, last modified at `mtime_ms`, at its due time, if a rule applies and
/// that time is within [`HORIZON_MS`] of now.
pub(crate) fn schedule(ns: &mut Ns, b: &BucketRecord, key: &str, mtime_ms: i64) -> Result<()> {
    schedule_at(ns, b, key, mtime_ms, crate::now_unix_ms())
}

/// [`schedule`] with the sweeper's clock.
fn schedule_at(ns: &mut Ns, b: &BucketRecord, key: &str, mtime_ms: i64, now: i64) -> Result<()> {
    if b.kind == BucketKind::System {
        return Ok(());
    }
    if let Some(due) = due_for(b, key, global_days(ns)?, mtime_ms, None) {
        enter(ns, due, b.id, key, now)?;
    }
    Ok(())
}

/// Writes the row of `key` due at `due` unless that is past the horizon from `now`.
fn enter(ns: &mut Ns, due: i64, bucket_id: u64, key: &str, now: i64) -> Result<()> {
    if due <= now.saturating_add(HORIZON_MS) {
        ns.expiry_due_mut()?
            .insert(row_key(due, bucket_id, key).as_slice(), ())?;
    }
    Ok(())
}

/// Marks every live bucket a rule applies to, when the last such marking is
/// [`HORIZON_MS`] / 2 old (or never happened): objects whose due time was past the horizon
/// when they were written get their rows before they are due. Returns whether it marked.
pub(crate) fn due_for_horizon_rebuild(t: &WriteTransaction, now: i64) -> Result<bool> {
    if !horizon_rebuild_due(&t.open_table(META)?, now)? {
        return Ok(false);
    }
    let global = {
        let meta = t.open_table(META)?;
        u32::try_from(txn::read_counter(&meta, GLOBAL_DAYS)?).unwrap_or(u32::MAX)
    };
    let ids: Vec<u64> = live_buckets(t)?
        .into_values()
        .filter(|b| any_rule(b, global))
        .map(|b| b.id)
        .collect();
    for id in ids {
        mark_rebuild(t, id)?;
    }
    t.open_table(META)?
        .insert(HORIZON_MARKED, (now.max(0) as u64).to_le_bytes().as_slice())?;
    Ok(true)
}

/// Removes the row [`schedule`] wrote for `key` of `b` last modified at `mtime_ms` (the name
/// goes or is replaced), so deleted objects leave no rows behind. Under rules changed since,
/// the row may not be found: it is dropped when it falls due.
pub(crate) fn unschedule(ns: &mut Ns, b: &BucketRecord, key: &str, mtime_ms: i64) -> Result<()> {
    if b.kind == BucketKind::System {
        return Ok(());
    }
    if let Some(due) = due_for(b, key, global_days(ns)?, mtime_ms, None) {
        // Past the horizon now, it had none (it could only be entered while within it).
        if due <= crate::now_unix_ms().saturating_add(HORIZON_MS) {
            ns.expiry_due_mut()?
                .remove(row_key(due, b.id, key).as_slice())?;
        }
    }
    Ok(())
}

/// Whether [`due_for_horizon_rebuild`] would mark anything at `now` (read only, so a quiet
/// sweep writes nothing).
pub(crate) fn horizon_rebuild_due(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    now: i64,
) -> Result<bool> {
    let last = i64::try_from(txn::read_counter(meta, HORIZON_MARKED)?).unwrap_or(0);
    Ok(now.saturating_sub(last) >= HORIZON_MS / 2)
}

/// Marks bucket `id` to have its objects entered again (its rules changed), from the start.
pub(crate) fn mark_rebuild(t: &WriteTransaction, id: u64) -> Result<()> {
    t.open_table(EXPIRY_REBUILD)?.insert(id, [].as_slice())?;
    Ok(())
}

/// At start: records `object_expiry_days` for the write paths and the sweeper; when it differs
/// from what the index was built for, every live bucket is entered again.
pub(crate) fn configure(db: &redb::Database, days: u32) -> Result<()> {
    let t = crate::commit::begin_write(db, true)?;
    let (changed, first) = {
        let mut meta = t.open_table(META)?;
        let was = txn::read_counter(&meta, GLOBAL_DAYS)?;
        if was != u64::from(days) {
            meta.insert(GLOBAL_DAYS, u64::from(days).to_le_bytes().as_slice())?;
        }
        // A new store (or one just migrated, whose buckets m0009 marked): the first pass for
        // the horizon is due 90 days from now.
        let first = txn::read_counter(&meta, HORIZON_MARKED)? == 0;
        if first {
            let now = crate::now_unix_ms().max(0) as u64;
            meta.insert(HORIZON_MARKED, now.to_le_bytes().as_slice())?;
        }
        (was != u64::from(days), first)
    };
    if !changed {
        if first {
            t.commit()?;
        } else {
            t.abort()?;
        }
        return Ok(());
    }
    let ids: Vec<u64> = live_buckets(&t)?.into_keys().collect();
    for id in ids {
        mark_rebuild(&t, id)?;
    }
    t.commit()?;
    Ok(())
}

/// Live buckets by id (system bucket left out).
pub(crate) fn live_buckets(t: &WriteTransaction) -> Result<HashMap<u64, BucketRecord>> {
    let mut out = HashMap::new();
    for e in t.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: BucketRecord = codec::decode(v.value())?;
        if b.kind != BucketKind::System {
            out.insert(b.id, b);
        }
    }
    Ok(out)
}

/// One step of a rebuild: enters up to `batch` objects of the first marked bucket after its
/// cursor (those due within the horizon from `now`). Returns how many entries it looked at, or
/// `None` when no bucket is marked.
pub(crate) fn rebuild_step(t: &WriteTransaction, batch: usize, now: i64) -> Result<Option<u64>> {
    let first = t
        .open_table(EXPIRY_REBUILD)?
        .first()?
        .map(|(k, v)| (k.value(), v.value().to_vec()));
    let Some((id, cursor)) = first else {
        return Ok(None);
    };
    let bucket = live_buckets(t)?.remove(&id);
    if cursor.is_empty()
        && let Some(b) = &bucket
        && b.lifecycle
            .iter()
            .any(|r| r.abort_incomplete_days.is_some())
    {
        // Its uploads first (few: one pass over the upload table per rule change).
        let mine: Vec<(String, UploadRecord)> = {
            let uploads = t.open_table(UPLOADS)?;
            let mut v = Vec::new();
            for e in uploads.iter()? {
                let (k, val) = e?;
                let u: UploadRecord = codec::decode(val.value())?;
                if u.bucket == b.name {
                    v.push((k.value().to_string(), u));
                }
            }
            v
        };
        for (uid, u) in &mine {
            schedule_upload(t, b, uid, u)?;
        }
    }
    let mut ns = Ns::new(t);
    let global = global_days(&ns)?;
    let versions_rule = bucket
        .as_ref()
        .is_some_and(crate::versioning::expiry::any_rule);
    let Some(b) = bucket.filter(|b| any_rule(b, global) || versions_rule) else {
        drop(ns);
        t.open_table(EXPIRY_REBUILD)?.remove(id)?;
        return Ok(Some(0));
    };
    // Second pass (decision 0038): the keys with noncurrent versions or delete markers, the
    // cursor marked by a leading 0x01 (no key starts with a control character).
    if let Some(vcursor) = cursor.strip_prefix(&[VERSIONS_PASS]) {
        let (last, n) = crate::versioning::expiry::rebuild_step(&mut ns, &b, vcursor, batch, now)?;
        drop(ns);
        let mut rebuild = t.open_table(EXPIRY_REBUILD)?;
        match last {
            Some(last) => {
                rebuild.insert(id, [&[VERSIONS_PASS], last.as_slice()].concat().as_slice())?;
            }
            None => {
                rebuild.remove(id)?;
            }
        }
        return Ok(Some(n as u64));
    }
    if !any_rule(&b, global) {
        drop(ns);
        t.open_table(EXPIRY_REBUILD)?
            .insert(id, [VERSIONS_PASS].as_slice())?;
        return Ok(Some(0));
    }
    let start = tables::entry_key(id, "");
    let from = [start.as_slice(), cursor.as_slice()].concat();
    let end = (id + 1).to_be_bytes();
    let mut found: Vec<(Vec<u8>, u64)> = Vec::with_capacity(batch);
    for e in ns.entries()?.range(from.as_slice()..end.as_slice())? {
        let (k, v) = e?;
        let k = k.value();
        // The cursor's own key was entered by the step before.
        if !cursor.is_empty() && k == from.as_slice() {
            continue;
        }
        if found.len() == batch {
            break;
        }
        found.push((k[8..].to_vec(), v.value()));
    }
    for (key, ino) in &found {
        let mtime = txn::inode_attrs(&ns, *ino)?.mtime_ms;
        schedule_at(&mut ns, &b, &String::from_utf8_lossy(key), mtime, now)?;
    }
    drop(ns);
    let mut rebuild = t.open_table(EXPIRY_REBUILD)?;
    match found.last() {
        Some((last, _)) if found.len() == batch => {
            rebuild.insert(id, last.as_slice())?;
        }
        _ if versions_rule => {
            rebuild.insert(id, [VERSIONS_PASS].as_slice())?;
        }
        _ => {
            rebuild.remove(id)?;
        }
    }
    Ok(Some(found.len() as u64))
}

/// What one pass over due rows did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DuePass {
    pub rows: u64,
    pub expired: u64,
    /// Rows due are left: the pass stopped at its batch or at the deletion budget.
    pub more: bool,
    pub budget_hit: bool,
}

/// Looks at up to `batch` rows due at `now_ms`: expires what the rules say is due (at most
/// `budget`), moves the others to their due time, drops the rest.
pub(crate) fn expire_due(
    t: &WriteTransaction,
    now_ms: i64,
    batch: usize,
    budget: u64,
) -> Result<DuePass> {
    let mut buckets = live_buckets(t)?;
    let mut ns = Ns::new(t);
    let global = global_days(&ns)?;
    // Every row due at `now_ms` sorts below this one.
    let end = row_key(now_ms.saturating_add(1), 0, "");
    let rows: Vec<Vec<u8>> = ns
        .expiry_due()?
        .range(..end.as_slice())?
        .take(batch)
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<std::result::Result<_, _>>()?;
    let mut pass = DuePass {
        rows: rows.len() as u64,
        more: rows.len() == batch,
        ..Default::default()
    };
    for row in rows {
        ns.expiry_due_mut()?.remove(row.as_slice())?;
        let Some((_, id, key)) = parse_row(&row) else {
            continue;
        };
        // Its bucket deleted (a deleted share's is parked: a restore enters it again).
        let Some(b) = buckets.get_mut(&id) else {
            continue;
        };
        let Some(ino) = txn::lookup(&ns, id, &key)? else {
            continue;
        };
        let rec = txn::inode_attrs(&ns, ino)?;
        let Some(due) = due_for(b, &key, global, rec.mtime_ms, Some((rec.size, &rec.tags))) else {
            continue;
        };
        if due > now_ms {
            enter(&mut ns, due, id, &key, now_ms)?;
        } else if pass.expired < budget {
            if txn::unlink_object(&mut ns, b, &key)? {
                pass.expired += 1;
            }
        } else {
            // Due, past the budget: kept for the next sweep.
            ns.expiry_due_mut()?.insert(row.as_slice(), ())?;
            pass.budget_hit = true;
            pass.more = true;
            break;
        }
    }
    Ok(pass)
}

/// Looks at up to `batch` upload rows due at `now_ms`: aborts the uploads a rule says are due
/// (their parts' bytes go back to the bucket), moves the others to their due time, drops the
/// rest (upload completed or gone, bucket deleted or parked, rule removed). Returns (rows looked
/// at, uploads aborted).
pub(crate) fn abort_due(t: &WriteTransaction, now_ms: i64, batch: usize) -> Result<(u64, u64)> {
    let end = upload_row(now_ms.saturating_add(1), "");
    let rows: Vec<Vec<u8>> = t
        .open_table(ABORT_DUE)?
        .range(..end.as_slice())?
        .take(batch)
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<std::result::Result<_, _>>()?;
    let mut aborted = 0;
    for row in &rows {
        t.open_table(ABORT_DUE)?.remove(row.as_slice())?;
        let Some(id) = row.get(8..).and_then(|r| std::str::from_utf8(r).ok()) else {
            continue;
        };
        let u: UploadRecord = {
            let uploads = t.open_table(UPLOADS)?;
            let Some(v) = uploads.get(id)? else {
                continue;
            };
            codec::decode(v.value())?
        };
        let b = match txn::get_bucket(&Ns::new(t), &u.bucket) {
            Ok(b) => b,
            // A deleted share's bucket is parked: a restore enters its uploads again.
            Err(crate::StoreError::NoSuchBucket) => continue,
            Err(e) => return Err(e),
        };
        let Some(days) = abort_days_for(&b, &u.key) else {
            continue;
        };
        let due = due_at(u.initiated_ms, days);
        if due > now_ms {
            t.open_table(ABORT_DUE)?
                .insert(upload_row(due, id).as_slice(), ())?;
        } else {
            super::multipart::abort_in(&mut Ns::new(t), id)?;
            aborted += 1;
        }
    }
    Ok((rows.len() as u64, aborted))
}
