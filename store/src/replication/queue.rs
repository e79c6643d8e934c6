//! The replication queue's writes, made in the transaction of the change they record (so a
//! crash loses no change and a key's rows follow its changes in order). Called from the three
//! places the namespace changes (`txn::link_at`, `txn::unlink_object`, and the file view's
//! writes of an inode through [`inode_changed`]) only for buckets whose record says
//! `replicated`: other buckets pay one bool test.

use std::sync::atomic::{AtomicBool, Ordering};

use redb::ReadableTable;

use crate::codec;
use crate::error::Result;
use crate::model::{BucketRecord, ObjectRecord, QueueRow, ReplOp, RuleRecord};
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::tables;

/// User metadata name (`x-amz-meta-gatehouse-replica`) a replicated write carries: the node
/// that sent it. A write carrying it is not queued again (no ping-pong between two sites).
pub const REPLICA_MARKER: &str = "gatehouse-replica";

/// Request header a replicated DELETE carries (a DELETE has no metadata): the sending node. A
/// gatehouse target honours it from a caller with the replication grant on the bucket.
pub const REPLICA_HEADER: &str = "x-gatehouse-replica";

/// META counter of queue sequence numbers.
const SEQ: &str = "repl_seq";

/// Something was queued since the worker last looked (a hint: it also polls).
static QUEUED: AtomicBool = AtomicBool::new(false);

/// Whether anything was queued since the last call (and resets).
pub(crate) fn take_queued() -> bool {
    QUEUED.swap(false, Ordering::AcqRel)
}

pub(crate) fn read_rule(ns: &Ns, bucket_id: u64) -> Result<Option<RuleRecord>> {
    ns.repl_rules()?
        .get(bucket_id)?
        .map(|v| codec::decode(v.value()))
        .transpose()
}

pub(crate) fn write_rule(ns: &mut Ns, bucket_id: u64, rule: &RuleRecord) -> Result<()> {
    ns.repl_rules_mut()?
        .insert(bucket_id, codec::encode(rule)?.as_slice())?;
    Ok(())
}

/// `key` now names a record `rec`.
pub(crate) fn key_linked(
    ns: &mut Ns,
    b: &BucketRecord,
    key: &str,
    rec: &ObjectRecord,
) -> Result<()> {
    if rec.meta.user.iter().any(|(k, _)| k == REPLICA_MARKER) {
        // The other site's write: what this site had queued for the key is older than it and
        // must not overwrite or delete it there.
        return dequeue(ns, b, key);
    }
    enqueue(ns, b, key, ReplOp::Put)
}

/// Drops `key`'s queued row and failure, if any.
fn dequeue(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    let Some(mut rule) = read_rule(ns, b.id)? else {
        return Ok(());
    };
    let lk = tables::entry_key(b.id, key);
    let mut changed = false;
    let latest = ns
        .repl_latest_mut()?
        .remove(lk.as_slice())?
        .map(|v| v.value());
    if let Some(seq) = latest {
        ns.repl_queue_mut()?
            .remove(tables::queue_key(b.id, seq).as_slice())?;
        rule.queued = rule.queued.saturating_sub(1);
        changed = true;
    }
    if ns.repl_failed_mut()?.remove(lk.as_slice())?.is_some() {
        rule.failed = rule.failed.saturating_sub(1);
        changed = true;
    }
    if changed {
        write_rule(ns, b.id, &rule)?;
    }
    Ok(())
}

/// Whether `rec` came from the other site of a replication pair.
pub(crate) fn is_replica(rec: &ObjectRecord) -> bool {
    rec.meta.user.iter().any(|(k, _)| k == REPLICA_MARKER)
}

/// A local change of a record that came from the other site makes it this site's own:
/// without the marker, it is sent (and not mistaken for a replica again).
pub(crate) fn make_local(rec: &mut ObjectRecord) {
    rec.meta.user.retain(|(k, _)| k != REPLICA_MARKER);
}

/// `key` is gone (`replica`: deleted by the other site, which is not told again; what was
/// queued here for the key is older than that delete and goes).
pub(crate) fn key_unlinked(ns: &mut Ns, b: &BucketRecord, key: &str, replica: bool) -> Result<()> {
    if replica {
        return dequeue(ns, b, key);
    }
    enqueue(ns, b, key, ReplOp::Delete)
}

/// A new name `key` for an inode (a hard link): sent as a put.
pub(crate) fn key_added(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    enqueue(ns, b, key, ReplOp::Put)
}

/// An inode moved from name `src` to `dst` (a rename): the target deletes the one and gets
/// the other.
pub(crate) fn key_renamed(ns: &mut Ns, b: &BucketRecord, src: &str, dst: &str) -> Result<()> {
    key_unlinked(ns, b, src, false)?;
    key_added(ns, b, dst)
}

/// Inode `ino`'s data or attributes changed through the file view (which names inodes, not
/// keys): every key naming it is queued.
pub(crate) fn inode_changed(ns: &mut Ns, b: &BucketRecord, ino: u64) -> Result<()> {
    for key in crate::ops::names::of_ns(ns, b.id, ino)? {
        enqueue(ns, b, &key, ReplOp::Put)?;
    }
    Ok(())
}

/// Queues `key` in `b`'s rule (if it has one and the key is in its prefix): a row the key
/// already had is replaced, so the queue holds each key once, at its last change.
pub(crate) fn enqueue(ns: &mut Ns, b: &BucketRecord, key: &str, op: ReplOp) -> Result<()> {
    let Some(mut rule) = read_rule(ns, b.id)? else {
        return Ok(());
    };
    let lk = tables::entry_key(b.id, key);
    let mut changed = false;
    // A key that changes again is not failed any more, whether or not this change is sent.
    if ns.repl_failed_mut()?.remove(lk.as_slice())?.is_some() {
        rule.failed = rule.failed.saturating_sub(1);
        changed = true;
    }
    if !key.starts_with(rule.prefix.as_str()) || (op == ReplOp::Delete && !rule.deletes) {
        if changed {
            write_rule(ns, b.id, &rule)?;
        }
        return Ok(());
    }
    let prev = ns.repl_latest()?.get(lk.as_slice())?.map(|v| v.value());
    match prev {
        Some(s) => {
            ns.repl_queue_mut()?
                .remove(tables::queue_key(b.id, s).as_slice())?;
        }
        None => {
            rule.queued += 1;
            changed = true;
        }
    }
    let seq = txn::next_counter(ns, SEQ)?;
    let row = QueueRow {
        key: key.to_string(),
        op,
        enqueued_ms: crate::now_ms(),
    };
    ns.repl_queue_mut()?.insert(
        tables::queue_key(b.id, seq).as_slice(),
        codec::encode(&row)?.as_slice(),
    )?;
    ns.repl_latest_mut()?.insert(lk.as_slice(), seq)?;
    if changed {
        write_rule(ns, b.id, &rule)?;
    }
    QUEUED.store(true, Ordering::Release);
    Ok(())
}

/// Retires bucket `id`'s rule (removed, or its bucket deleted): the record stays, inert, until
/// the worker has cleared its rows in bounded steps ([`purge_step`]); a share's index may hold
/// a row per file.
pub(crate) fn retire(ns: &mut Ns, id: u64) -> Result<()> {
    if let Some(mut rule) = read_rule(ns, id)? {
        rule.removing = true;
        rule.paused = true;
        rule.backfill = None;
        write_rule(ns, id, &rule)?;
    }
    Ok(())
}

/// Removes at most `limit` rows of a retired rule's queue, latest and failure rows;
/// the rule record too once none is left. Returns whether rows remain.
pub(crate) fn purge_step(ns: &mut Ns, id: u64, limit: usize) -> Result<bool> {
    let lo = id.to_be_bytes();
    let hi = id.saturating_add(1).to_be_bytes();
    let range = lo.as_slice()..hi.as_slice();
    let mut left = limit;
    macro_rules! purge {
        ($get:ident, $get_mut:ident) => {{
            let keys: Vec<Vec<u8>> = ns
                .$get()?
                .range(range.clone())?
                .take(left)
                .map(|e| e.map(|(k, _)| k.value().to_vec()))
                .collect::<std::result::Result<_, _>>()?;
            left -= keys.len();
            let t = ns.$get_mut()?;
            for k in keys {
                t.remove(k.as_slice())?;
            }
        }};
    }
    purge!(repl_queue, repl_queue_mut);
    purge!(repl_latest, repl_latest_mut);
    purge!(repl_failed, repl_failed_mut);
    if left == 0 {
        return Ok(true);
    }
    ns.repl_rules_mut()?.remove(id)?;
    Ok(false)
}
