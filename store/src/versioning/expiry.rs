//! Lifecycle for versions (decisions 0038, 0049): NoncurrentVersionExpiration (NoncurrentDays,
//! NewerNoncurrentVersions) and ExpiredObjectDeleteMarker, through their own due-time index
//! (`noncurrent_due`), so a sweep reads what is due, as object expiry does (decision 0028).
//!
//! A key is entered when one of its versions becomes noncurrent (at that time plus the rule's
//! days) and, under an ExpiredObjectDeleteMarker rule, when a delete marker may have become its
//! only version (now). A row is a hint: when it falls due the sweeper looks at the key's rows
//! under the rules then, removes what is due, and enters the key again at its next due time.
//! A rule put later enters every key with versions through the bucket's rebuild
//! (`expiry_index::rebuild_step`), due at once.

use redb::{ReadableTable, WriteTransaction};

use super::rows;
use crate::error::Result;
use crate::model::{BucketKind, BucketRecord, LifecycleRule};
use crate::ops::expiry_index::{DAY_MS, due_at, live_buckets, parse_row, row_key};
use crate::ops::ns::Ns;
use crate::ops::txn;

/// The fewest NoncurrentDays of the enabled rules for `key`'s prefix: when a version that
/// became noncurrent is looked at first (their tag and size filters are asked then).
pub(crate) fn noncurrent_rule(b: &BucketRecord, key: &str) -> Option<u32> {
    noncurrent_rules(b, key)
        .iter()
        .filter_map(|r| r.noncurrent_days)
        .min()
}

/// The enabled NoncurrentVersionExpiration rules for `key`'s prefix.
fn noncurrent_rules<'a>(b: &'a BucketRecord, key: &str) -> Vec<&'a LifecycleRule> {
    if b.kind == BucketKind::System {
        return Vec::new();
    }
    b.lifecycle
        .iter()
        .filter(|r| r.covers(key) && r.noncurrent_days.is_some())
        .collect()
}

/// Whether a lone delete marker of `key` is removed (ExpiredObjectDeleteMarker).
pub(crate) fn marker_rule(b: &BucketRecord, key: &str) -> bool {
    b.kind != BucketKind::System
        && b.lifecycle
            .iter()
            .any(|r| r.expired_object_delete_marker && r.covers(key))
}

/// Whether the bucket has any rule for versions (its keys with versions are entered when
/// its rules change).
pub(crate) fn any_rule(b: &BucketRecord) -> bool {
    b.lifecycle
        .iter()
        .any(|r| r.enabled && (r.noncurrent_days.is_some() || r.expired_object_delete_marker))
}

pub(crate) fn enter(ns: &mut Ns, due_ms: i64, bucket_id: u64, key: &str) -> Result<()> {
    ns.noncurrent_due_mut()?
        .insert(row_key(due_ms, bucket_id, key).as_slice(), ())?;
    Ok(())
}

/// A version of `key` became noncurrent at `at_ms`.
pub(crate) fn became_noncurrent(
    ns: &mut Ns,
    b: &BucketRecord,
    key: &str,
    at_ms: i64,
) -> Result<()> {
    if let Some(days) = noncurrent_rule(b, key) {
        enter(ns, due_at(at_ms, days), b.id, key)?;
    }
    Ok(())
}

/// A delete marker was made or a version removed: under an ExpiredObjectDeleteMarker rule the
/// key is looked at on the next sweep.
pub(crate) fn marker_may_be_alone(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if marker_rule(b, key) {
        enter(ns, crate::now_unix_ms(), b.id, key)?;
    }
    Ok(())
}

/// What one pass over due rows did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Pass {
    pub rows: u64,
    /// Versions and markers removed.
    pub removed: u64,
    pub more: bool,
    pub budget_hit: bool,
}

/// Looks at up to `batch` keys due at `now_ms`: removes the noncurrent versions and lone
/// delete markers the rules say are due (at most `budget`), enters each key again at its next
/// due time.
pub(crate) fn expire_due(
    t: &WriteTransaction,
    now_ms: i64,
    batch: usize,
    budget: u64,
) -> Result<Pass> {
    let mut buckets = live_buckets(t)?;
    let mut ns = Ns::new(t);
    let end = row_key(now_ms.saturating_add(1), 0, "");
    let due: Vec<Vec<u8>> = ns
        .noncurrent_due()?
        .range(..end.as_slice())?
        .take(batch)
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<std::result::Result<_, _>>()?;
    let mut pass = Pass {
        rows: due.len() as u64,
        more: due.len() == batch,
        ..Default::default()
    };
    let mut touched: Vec<u64> = Vec::new();
    for row in due {
        if pass.removed >= budget {
            pass.budget_hit = true;
            pass.more = true;
            break;
        }
        ns.noncurrent_due_mut()?.remove(row.as_slice())?;
        let Some((_, id, key)) = parse_row(&row) else {
            continue;
        };
        let Some(b) = buckets.get_mut(&id) else {
            continue;
        };
        let left = budget - pass.removed;
        let (removed, next) = expire_key(&mut ns, b, &key, now_ms, left)?;
        pass.removed += removed;
        if removed > 0 && !touched.contains(&id) {
            touched.push(id);
        }
        if let Some(next) = next {
            enter(&mut ns, next, id, &key)?;
        }
    }
    for id in touched {
        if let Some(b) = buckets.get(&id) {
            txn::put_bucket(&mut ns, b)?;
        }
    }
    Ok(pass)
}

/// Applies the rules to `key`'s versions at `now_ms`, removing at most `budget`; returns how
/// many went and when the key is due next (if ever).
fn expire_key(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    now_ms: i64,
    budget: u64,
) -> Result<(u64, Option<i64>)> {
    let current = txn::lookup(ns, b.id, key)?.is_some();
    let all = rows::chains(ns)?.rows_of(b.id, key)?;
    let mut removed = 0u64;
    let mut next: Option<i64> = None;
    // Owned: removing a version below changes `b`'s counters.
    let rules: Vec<LifecycleRule> = noncurrent_rules(b, key).into_iter().cloned().collect();
    if !rules.is_empty() {
        let filtered = rules.iter().any(|r| !r.object.is_empty());
        // Per rule, the noncurrent versions it selects that are newer than the one looked at:
        // its NewerNoncurrentVersions are counted among those (a rule without a filter
        // selects every version and delete marker).
        let mut newer_seen = vec![0u32; rules.len()];
        // Without a current version the newest row is the latest (a delete marker): not
        // noncurrent.
        let skip = usize::from(!current);
        // The newest row left before the one looked at: its link is the one a removal
        // rewrites (no walk of the chain per removal).
        let mut newer: Option<&[u8]> = all.first().filter(|_| skip == 1).map(|(k, _)| k.as_slice());
        for (k, row) in all.iter().skip(skip) {
            let rec = match row.inode {
                Some(vino) if filtered => Some(txn::inode_attrs(ns, vino)?),
                _ => None,
            };
            let mut due: Option<i64> = None;
            for (r, seen) in rules.iter().zip(newer_seen.iter_mut()) {
                // A delete marker has no tags or size: a filter never selects it.
                let selected = r.object.is_empty()
                    || rec
                        .as_ref()
                        .is_some_and(|rec| r.object.passes(rec.size, &rec.tags));
                if !selected {
                    continue;
                }
                *seen += 1;
                if *seen <= r.newer_noncurrent.unwrap_or(0) {
                    continue; // one of the rule's newest NewerNoncurrentVersions: kept
                }
                let d = due_at(
                    row.noncurrent_since(),
                    r.noncurrent_days.unwrap_or(u32::MAX),
                );
                due = Some(due.map_or(d, |x: i64| x.min(d)));
            }
            let Some(mut due) = due else {
                newer = Some(k);
                continue; // no rule selects it (until its tags change)
            };
            // A locked version waits for its lock (decision 0039): its retention's end, or a
            // day at a time while a legal hold lasts.
            if let Some(vino) = row.inode {
                let rec = match rec {
                    Some(rec) => rec,
                    None => txn::inode_attrs(ns, vino)?,
                };
                if crate::locks::is_locked(&rec, now_ms) {
                    due = due.max(match rec.retention {
                        Some(r) if !rec.legal_hold => r.until_ms,
                        _ => now_ms.saturating_add(DAY_MS),
                    });
                }
            }
            if due > now_ms {
                next = Some(next.map_or(due, |n: i64| n.min(due)));
                newer = Some(k);
            } else if removed < budget {
                rows::remove_row_after(ns, b, k, row, newer)?;
                removed += 1;
            } else {
                next = Some(now_ms);
                newer = Some(k);
            }
        }
    }
    // A delete marker left as the key's only version goes.
    if marker_rule(b, key) && !current {
        let left = rows::chains(ns)?.rows_of(b.id, key)?;
        if let [(k, row)] = left.as_slice()
            && row.is_marker()
        {
            if removed < budget {
                rows::remove_row(ns, b, k, row)?;
                removed += 1;
            } else {
                next = Some(now_ms);
            }
        }
    }
    Ok((removed, next))
}

/// Enters up to `batch` keys with versions of bucket `b` after `cursor` (a key; empty: from
/// the start), due at `now_ms`; returns the last key entered and how many were.
pub(crate) fn rebuild_step(
    ns: &mut Ns,
    b: &BucketRecord,
    cursor: &[u8],
    batch: usize,
    now_ms: i64,
) -> Result<(Option<Vec<u8>>, usize)> {
    if !any_rule(b) {
        return Ok((None, 0));
    }
    let id = b.id.to_be_bytes();
    // Every key with versions has one row in `version_heads` (bucket id ++ key).
    let from = [id.as_slice(), cursor].concat();
    let lo = if cursor.is_empty() {
        std::ops::Bound::Included(from.as_slice())
    } else {
        std::ops::Bound::Excluded(from.as_slice())
    };
    let end = (b.id + 1).to_be_bytes();
    let mut keys: Vec<String> = Vec::new();
    for e in ns
        .version_heads()?
        .range::<&[u8]>((lo, std::ops::Bound::Excluded(end.as_slice())))?
        .take(batch)
    {
        let (k, _) = e?;
        let Some(key) = k.value().get(8..).and_then(|k| std::str::from_utf8(k).ok()) else {
            continue;
        };
        keys.push(key.to_string());
    }
    for k in &keys {
        enter(ns, now_ms, b.id, k)?;
    }
    let n = keys.len();
    Ok((
        (n == batch)
            .then(|| keys.pop().map(String::into_bytes))
            .flatten(),
        n,
    ))
}
