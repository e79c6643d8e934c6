//! fsck's look at replication's rows (decision 0036): each rule's running totals against a
//! recount, the queue and its per-key index against each other, rows of buckets without a
//! rule, and the bucket records' `replicated` flag against the rules. Repair rewrites what
//! the rows say.

use std::collections::{HashMap, HashSet};

use redb::{ReadableTable, WriteTransaction};

use crate::codec;
use crate::error::Result;
use crate::model::{BucketRecord, QueueRow, RuleRecord};
use crate::tables::{BUCKETS, REPL_FAILED, REPL_LATEST, REPL_QUEUE, REPL_RULES, entry_key};

/// What repair writes.
#[derive(Default)]
pub(crate) struct Fixes {
    /// Rule → (queued, failed) as recounted.
    counts: Vec<(u64, u64, u64)>,
    stale_queue: Vec<Vec<u8>>,
    stale_latest: Vec<Vec<u8>>,
    stale_failed: Vec<Vec<u8>>,
    /// Bucket name → what its `replicated` flag should be.
    flags: Vec<(String, bool)>,
}

/// The bucket id a row's key starts with (0, which no bucket has, for a key too short).
fn bucket_of(k: &[u8]) -> u64 {
    k.first_chunk::<8>().map_or(0, |b| u64::from_be_bytes(*b))
}

/// The mismatches found (one line each) and their fixes.
pub(crate) fn check(rtxn: &redb::ReadTransaction) -> Result<(Vec<String>, Fixes)> {
    let mut found = Vec::new();
    let mut fixes = Fixes::default();
    let mut rules: HashMap<u64, RuleRecord> = HashMap::new();
    for e in rtxn.open_table(REPL_RULES)?.iter()? {
        let (k, v) = e?;
        rules.insert(k.value(), codec::decode(v.value())?);
    }
    // Rows of a rule being removed are the worker's to clear; of no rule at all, stale.
    let live = |id: u64| rules.get(&id).is_some_and(|r| !r.removing);
    let retired = |id: u64| rules.get(&id).is_some_and(|r| r.removing);

    let latest_t = rtxn.open_table(REPL_LATEST)?;
    let mut queued: HashMap<u64, u64> = HashMap::new();
    let mut queued_keys: HashSet<Vec<u8>> = HashSet::new();
    for e in rtxn.open_table(REPL_QUEUE)?.iter()? {
        let (k, v) = e?;
        let k = k.value();
        let id = bucket_of(k);
        if retired(id) {
            continue;
        }
        let (Ok(row), Some(seq)) = (
            codec::decode::<QueueRow>(v.value()),
            k.get(8..16)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes),
        ) else {
            found.push(format!(
                "queue row {} of bucket {id} is unreadable",
                hex::encode(k)
            ));
            fixes.stale_queue.push(k.to_vec());
            continue;
        };
        let lk = entry_key(id, &row.key);
        if !live(id) || latest_t.get(lk.as_slice())?.map(|v| v.value()) != Some(seq) {
            found.push(format!("queue row {id}/{seq} ({}) is stale", row.key));
            fixes.stale_queue.push(k.to_vec());
            continue;
        }
        *queued.entry(id).or_default() += 1;
        queued_keys.insert(lk);
    }
    for e in latest_t.iter()? {
        let (k, _) = e?;
        let id = bucket_of(k.value());
        if !retired(id) && !queued_keys.contains(k.value()) {
            found.push(format!("queue index row of bucket {id} names no queue row"));
            fixes.stale_latest.push(k.value().to_vec());
        }
    }
    let mut failed: HashMap<u64, u64> = HashMap::new();
    for e in rtxn.open_table(REPL_FAILED)?.iter()? {
        let (k, _) = e?;
        let id = bucket_of(k.value());
        if retired(id) {
            continue;
        }
        if !live(id) {
            found.push(format!("failed-key row of bucket {id}, which has no rule"));
            fixes.stale_failed.push(k.value().to_vec());
            continue;
        }
        *failed.entry(id).or_default() += 1;
    }
    for (id, r) in rules.iter().filter(|(_, r)| !r.removing) {
        let (q, f) = (
            queued.get(id).copied().unwrap_or(0),
            failed.get(id).copied().unwrap_or(0),
        );
        if (r.queued, r.failed) != (q, f) {
            found.push(format!(
                "replication of {}: queued {} / failed {} recorded, {q} / {f} counted",
                r.bucket, r.queued, r.failed
            ));
            fixes.counts.push((*id, q, f));
        }
    }
    for e in rtxn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: BucketRecord = codec::decode(v.value())?;
        if b.replicated != live(b.id) {
            found.push(format!(
                "bucket {} says replicated={}, its rule says otherwise",
                b.name, b.replicated
            ));
            fixes.flags.push((b.name.clone(), live(b.id)));
        }
    }
    Ok((found, fixes))
}

/// Writes `fixes` in `wtxn`.
pub(crate) fn repair(wtxn: &WriteTransaction, fixes: &Fixes) -> Result<()> {
    let mut q = wtxn.open_table(REPL_QUEUE)?;
    for k in &fixes.stale_queue {
        q.remove(k.as_slice())?;
    }
    let mut l = wtxn.open_table(REPL_LATEST)?;
    for k in &fixes.stale_latest {
        l.remove(k.as_slice())?;
    }
    let mut f = wtxn.open_table(REPL_FAILED)?;
    for k in &fixes.stale_failed {
        f.remove(k.as_slice())?;
    }
    let mut rules = wtxn.open_table(REPL_RULES)?;
    for (id, queued, failed) in &fixes.counts {
        let rec = match rules.get(*id)? {
            Some(v) => {
                let mut r: RuleRecord = codec::decode(v.value())?;
                r.queued = *queued;
                r.failed = *failed;
                Some(r)
            }
            None => None,
        };
        if let Some(r) = rec {
            rules.insert(*id, codec::encode(&r)?.as_slice())?;
        }
    }
    let mut b = wtxn.open_table(BUCKETS)?;
    for (name, flag) in &fixes.flags {
        let rec = match b.get(name.as_str())? {
            Some(v) => {
                let mut r: BucketRecord = codec::decode(v.value())?;
                r.replicated = *flag;
                Some(r)
            }
            None => None,
        };
        if let Some(r) = rec {
            b.insert(name.as_str(), codec::encode(&r)?.as_slice())?;
        }
    }
    Ok(())
}
