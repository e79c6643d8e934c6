//! Helpers used inside write transactions: bucket lookup, inode allocation, refcounts and the
//! entry overwrite rule. All of them leave the transaction unchanged when they return a
//! user-level error (see the contract in `commit`).

use redb::{ReadableTable, Table, WriteTransaction};

use super::ns::Ns;
use crate::versioning::rows::Kept;

use super::fs::{inode_changed, parent_path};
use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, ChunkRef, Data, ObjectRecord, Versioning};
use crate::tables::{self, META};

pub(crate) fn get_bucket(ns: &Ns, name: &str) -> Result<BucketRecord> {
    let v = ns.buckets()?.get(name)?.ok_or(StoreError::NoSuchBucket)?;
    codec::decode(v.value())
}

/// Stores a live bucket record. The server's running totals ([`USAGE_TOTAL`],
/// [`LIVE_OBJECTS`]) move by the change in its `usage_bytes` and `object_count`: every change
/// of a live bucket's counts comes through here.
pub(crate) fn put_bucket(ns: &mut Ns, b: &BucketRecord) -> Result<()> {
    let (old_bytes, old_objects) = ns
        .buckets_mut()?
        .insert(b.name.as_str(), codec::encode(b)?.as_slice())?
        .map(|v| codec::decode::<BucketRecord>(v.value()))
        .transpose()?
        .map_or((0, 0), |o| (o.usage_bytes, o.object_count));
    if old_bytes != b.usage_bytes {
        add_usage_total(ns, i128::from(b.usage_bytes) - i128::from(old_bytes))?;
    }
    if old_objects != b.object_count {
        let delta = i128::from(b.object_count) - i128::from(old_objects);
        add_to_counter(ns.meta_mut()?, LIVE_OBJECTS, delta)?;
    }
    Ok(())
}

/// Removes a live bucket record (a deleted bucket; a share's bucket parked by its tombstone),
/// its usage leaving the running total; returns it.
pub(crate) fn remove_bucket(ns: &mut Ns, name: &str) -> Result<Option<BucketRecord>> {
    let old = ns
        .buckets_mut()?
        .remove(name)?
        .map(|v| codec::decode::<BucketRecord>(v.value()))
        .transpose()?;
    if let Some(b) = &old {
        add_usage_total(ns, -i128::from(b.usage_bytes))?;
        add_to_counter(ns.meta_mut()?, LIVE_OBJECTS, -i128::from(b.object_count))?;
    }
    let mut old = old;
    if let Some(b) = old.as_mut().filter(|b| b.replicated) {
        // Its replication rule goes with it, queue and all (a restored share has none): the
        // worker clears the rows in bounded steps.
        crate::replication::queue::retire(ns, b.id)?;
        b.replicated = false;
    }
    Ok(old)
}

/// META key: the logical bytes held by every bucket record, live (`buckets`) or parked in a
/// deleted share awaiting purge (`shares`), kept in the same transaction as every change of
/// them, so checking `s3.max_size` costs one read, not a pass over the buckets. Set by
/// migration m0008; fsck recounts it.
pub const USAGE_TOTAL: &str = "usage_total";

/// META key: the objects in live buckets (the sum of their `object_count`), kept by
/// [`put_bucket`]/[`remove_bucket`], so a metrics scrape reads one row. Set by migration
/// m0010; fsck recounts it.
pub const LIVE_OBJECTS: &str = "live_objects";

/// Moves [`USAGE_TOTAL`] by `delta` (parking or unparking a share's bucket, purging one, and
/// [`put_bucket`]/[`remove_bucket`]).
pub(crate) fn add_usage_total(ns: &mut Ns, delta: i128) -> Result<()> {
    add_to_counter(ns.meta_mut()?, USAGE_TOTAL, delta)
}

/// Moves the running total `name` of META by `delta`, floored at 0: the one place the running
/// totals ([`USAGE_TOTAL`], [`LIVE_OBJECTS`], [`CHUNK_ROWS`], [`CHUNK_BYTES`]) change.
fn add_to_counter(
    meta: &mut Table<&'static str, &'static [u8]>,
    name: &str,
    delta: i128,
) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    let next = u64::try_from((i128::from(counter(meta, name)?) + delta).max(0)).unwrap_or(u64::MAX);
    meta.insert(name, next.to_le_bytes().as_slice())?;
    Ok(())
}

/// Next value of a u64 counter in `meta` (starting at 1).
/// META key: 1 while a server has the store open, 0 after a clean stop.
const OPEN: &str = "open";
/// Inode numbers skipped after an unclean stop (see [`mark_open`]).
const INO_GAP: u64 = 1 << 20;

/// Records that the store is open (durably) and says whether the previous run stopped without
/// [`mark_closed`]. After such a stop, `next_ino` moves on by [`INO_GAP`]: a run with
/// `nfs.async` may have handed out inode numbers (in replies, so in client handles) whose
/// commits never became durable, and a number must never name a second file.
pub(crate) fn mark_open(db: &redb::Database) -> Result<bool> {
    let t = crate::commit::begin_write(db, true)?;
    let unclean = {
        let mut meta = t.open_table(META)?;
        let unclean = meta.get(OPEN)?.is_some_and(|v| v.value() != [0u8]);
        if unclean {
            skip_inos(&mut meta)?;
        }
        meta.insert(OPEN, [1u8].as_slice())?;
        unclean
    };
    // Created here rather than by a migration (see the table): readers can count on it.
    t.open_table(tables::CHUNK_FREED_AT)?;
    t.commit()?;
    Ok(unclean)
}

/// Moves `next_ino` on by [`INO_GAP`]: the numbers below may be in client handles already.
fn skip_inos(meta: &mut Table<&'static str, &'static [u8]>) -> Result<()> {
    let cur = counter(meta, "next_ino")?;
    meta.insert(
        "next_ino",
        cur.saturating_add(INO_GAP).to_le_bytes().as_slice(),
    )?;
    Ok(())
}

/// After answered changes were lost without a restart (a failed commit under `nfs.async`):
/// the inode numbers they handed out must not name other files.
pub(crate) fn skip_lost_inos(txn: &WriteTransaction) -> Result<()> {
    skip_inos(&mut txn.open_table(META)?)
}

/// Records a clean stop (every commit durable).
pub(crate) fn mark_closed(db: &redb::Database) -> Result<()> {
    let t = crate::commit::begin_write(db, true)?;
    t.open_table(META)?.insert(OPEN, [0u8].as_slice())?;
    t.commit()?;
    Ok(())
}

/// A counter's value in META (0 before its first use).
fn counter(meta: &impl ReadableTable<&'static str, &'static [u8]>, name: &str) -> Result<u64> {
    match meta.get(name)? {
        Some(v) => {
            let b: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("counter {name}")))?;
            Ok(u64::from_le_bytes(b))
        }
        None => Ok(0),
    }
}

pub(crate) fn next_counter(ns: &mut Ns, name: &str) -> Result<u64> {
    let t = ns.meta_mut()?;
    let cur = counter(t, name)?;
    let next = cur + 1;
    t.insert(name, next.to_le_bytes().as_slice())?;
    Ok(next)
}

/// META keys: how many chunk rows exist and the bytes they name (each stored chunk once), kept
/// by [`incref`]/[`decref`] as rows appear and vanish, so a metrics scrape reads two rows
/// instead of every chunk row (decision 0027). Set by migration m0008; fsck recounts them.
pub const CHUNK_ROWS: &str = "chunk_rows";
pub const CHUNK_BYTES: &str = "chunk_bytes";

/// Takes one reference on each chunk (a new row for a chunk stored for the first time).
pub(crate) fn incref(ns: &mut Ns, refs: &[ChunkRef]) -> Result<()> {
    let (mut rows, mut bytes) = (0i128, 0i128);
    let chunks = ns.chunks_mut()?;
    for c in refs {
        let (n, len) = match chunks.get(&c.hash)?.map(|v| v.value()) {
            Some(v) => v,
            None => {
                rows += 1;
                bytes += i128::from(c.stored_len());
                (0, u64::from(c.stored_len()))
            }
        };
        chunks.insert(&c.hash, (n + 1, len))?;
    }
    add_chunk_totals(ns, rows, bytes)
}

/// Moves [`CHUNK_ROWS`] and [`CHUNK_BYTES`].
fn add_chunk_totals(ns: &mut Ns, rows: i128, bytes: i128) -> Result<()> {
    if rows == 0 && bytes == 0 {
        return Ok(());
    }
    let meta = ns.meta_mut()?;
    add_to_counter(meta, CHUNK_ROWS, rows)?;
    add_to_counter(meta, CHUNK_BYTES, bytes)
}

thread_local! {
    /// Set when [`decref`] drops a chunk's last reference on this thread (the commit thread,
    /// or a deferred mutation's caller).
    static FREED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a chunk lost its last reference on this thread since the last call (and resets).
/// The committer makes such a commit durable before GC looks, even when its mutations were
/// deferred: GC deletes a chunk file once no visible row refers to it, so a row count of zero
/// it acts on must never be one a crash can roll back.
pub(crate) fn take_freed() -> bool {
    FREED.with(|f| f.replace(false))
}

/// Drops one reference on each chunk; a row whose last reference goes is removed and the chunk
/// entered in `chunk_freed` (the chunk GC deletes its file after its grace). A chunk freed
/// before and still waiting there (referenced again since) gets its row moved to now: the
/// grace counts from the latest free. Found by hash in `chunk_freed_at`: two lookups, not a scan.
pub(crate) fn decref(ns: &mut Ns, refs: &[ChunkRef]) -> Result<()> {
    let (mut rows, mut bytes) = (0i128, 0i128);
    let mut freed: Vec<[u8; 32]> = Vec::new();
    let chunks = ns.chunks_mut()?;
    for c in refs {
        let cur = chunks.get(&c.hash)?.map(|v| v.value());
        match cur {
            Some((n, len)) if n > 1 => {
                chunks.insert(&c.hash, (n - 1, len))?;
            }
            Some((_, len)) => {
                chunks.remove(&c.hash)?;
                rows -= 1;
                bytes -= i128::from(len);
                freed.push(c.hash);
                FREED.with(|f| f.set(true));
            }
            None => {
                tracing::warn!(chunk = %hex::encode(c.hash), "refcount underflow ignored");
            }
        }
    }
    if !freed.is_empty() {
        let now = crate::now_unix_ms().max(0) as u64;
        for h in freed {
            let earlier = ns.chunk_freed_at_mut()?.insert(&h, now)?.map(|v| v.value());
            let t = ns.chunk_freed_mut()?;
            if let Some(earlier) = earlier {
                t.remove(tables::freed_key(earlier, &h).as_slice())?;
            }
            t.insert(tables::freed_key(now, &h).as_slice(), ())?;
        }
    }
    add_chunk_totals(ns, rows, bytes)
}

/// An inode's attributes and data.
pub(crate) fn get_inode(ns: &Ns, ino: u64) -> Result<ObjectRecord> {
    let v = ns
        .inodes()?
        .get(ino)?
        .ok_or_else(|| StoreError::Corrupt(format!("entry points at missing inode {ino}")))?;
    let mut rec: ObjectRecord = codec::decode(v.value())?;
    rec.data = inode_data(ns, ino)?;
    Ok(rec)
}

/// An inode's data alone (a missing row is empty data).
fn inode_data(ns: &Ns, ino: u64) -> Result<Data> {
    match ns.data()?.get(ino)? {
        Some(v) => codec::decode(v.value()),
        None => Ok(Data::default()),
    }
}

/// Writes attributes and, when `with_data`, the data of an inode. Empty data has no
/// `INODE_DATA` row (every reader takes a missing row as empty): a new empty file, what NFS
/// creates most, writes one table fewer.
pub(crate) fn put_inode(ns: &mut Ns, ino: u64, rec: &ObjectRecord, with_data: bool) -> Result<()> {
    ns.inodes_mut()?
        .insert(ino, codec::encode(rec)?.as_slice())?;
    if with_data {
        let d = ns.data_mut()?;
        if is_empty(&rec.data) {
            d.remove(ino)?;
        } else {
            d.insert(ino, codec::encode(&rec.data)?.as_slice())?;
        }
    }
    Ok(())
}

fn is_empty(d: &Data) -> bool {
    match d {
        Data::Inline(v) => v.is_empty(),
        Data::Sealed { .. } => false,
        Data::Chunks(c) => c.is_empty(),
    }
}

pub(crate) fn lookup(ns: &Ns, bucket_id: u64, key: &str) -> Result<Option<u64>> {
    let t = ns.entries()?;
    Ok(t.get(tables::entry_key(bucket_id, key).as_slice())?
        .map(|v| v.value()))
}

/// In share buckets a key may not be both a file and a directory: `a` and `a/x` cannot coexist.
pub(crate) fn check_share_conflicts(ns: &Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if b.kind != BucketKind::Share {
        return Ok(());
    }
    let t = ns.entries()?;
    // An ancestor stored as a file? For a folder marker `K/`, `K` itself is one.
    let body = key.strip_suffix('/').unwrap_or(key);
    let ancestors = body
        .char_indices()
        .filter(|&(_, ch)| ch == '/')
        .map(|(i, _)| &body[..i])
        .chain(key.ends_with('/').then_some(body));
    for dir in ancestors {
        if t.get(tables::entry_key(b.id, dir).as_slice())?.is_some() {
            return Err(StoreError::InvalidKey(format!(
                "{dir:?} is a file, so it cannot be a directory"
            )));
        }
    }
    // Writing a file where a directory exists?
    if !key.ends_with('/') {
        let dir = tables::entry_key(b.id, &format!("{key}/"));
        if let Some(e) = t.range(dir.as_slice()..)?.next() {
            let (k, _) = e?;
            if k.value().starts_with(&dir) {
                return Err(StoreError::InvalidKey(format!(
                    "{key:?} is a directory, so it cannot be a file"
                )));
            }
        }
    }
    Ok(())
}

/// Limits a write must fit: the bucket's (or share's) quota and the server's total
/// (`s3.max_size`), 0 meaning none. `size` more bytes must fit once `key`'s current object, if
/// any, is replaced. Call before taking chunk references, so a refusal writes nothing.
pub(crate) fn check_quota(
    ns: &Ns,
    bucket: &BucketRecord,
    key: &str,
    size: u64,
    total_limit: u64,
) -> Result<()> {
    check_quota_releasing(ns, bucket, key, size, 0, total_limit)
}

/// [`check_quota`] for a write that also gives back `released` bytes the bucket's usage holds
/// (the parts of the upload that CompleteMultipartUpload consumes).
pub(crate) fn check_quota_releasing(
    ns: &Ns,
    bucket: &BucketRecord,
    key: &str,
    size: u64,
    released: u64,
    total_limit: u64,
) -> Result<()> {
    check_object_room(ns, bucket, key)?;
    if size == 0 || (bucket.quota_bytes == 0 && total_limit == 0) {
        return Ok(());
    }
    // A key that breaks out of a hard link frees nothing: its bytes stay with the other names;
    // nor does one whose version a versioned bucket keeps.
    let replaced = match lookup(ns, bucket.id, key)? {
        Some(ino) => {
            let old = inode_attrs(ns, ino)?;
            let kept = match bucket.versioning {
                Versioning::Unversioned => false,
                Versioning::Enabled => true,
                Versioning::Suspended => old.version_id.is_some(),
            };
            if old.links() > 1 || kept { 0 } else { old.size }
        }
        None => 0,
    };
    ensure_room(
        bucket,
        size.saturating_sub(replaced.saturating_add(released)),
        total_limit,
        || total_usage(ns),
    )
}

/// The object-count rule (issue 22): a write that adds an object to `bucket` — a new key, or
/// one more version where a versioned bucket keeps what it replaces — must fit its
/// `quota_objects`, which counts current objects, noncurrent versions and delete markers.
/// Checked inside the commit, before anything is written.
pub(crate) fn check_object_room(ns: &Ns, bucket: &BucketRecord, key: &str) -> Result<()> {
    if bucket.quota_objects == 0 {
        return Ok(());
    }
    let adds = match lookup(ns, bucket.id, key)? {
        None => true,
        Some(ino) => match bucket.versioning {
            Versioning::Unversioned => false,
            Versioning::Enabled => true,
            Versioning::Suspended => inode_attrs(ns, ino)?.version_id.is_some(),
        },
    };
    let held = bucket.object_count.saturating_add(bucket.version_rows);
    if adds && held >= bucket.quota_objects {
        return Err(StoreError::QuotaExceeded(format!(
            "{} holds {held} of its {} objects (versions included)",
            bucket.name, bucket.quota_objects
        )));
    }
    Ok(())
}

/// The one quota rule, for every write path (S3, multipart, copy, NFS; at commit and ahead of
/// it): `grow` more bytes must fit the bucket's quota and the server's total. `total_used` is
/// only asked when a total limit is set.
pub(crate) fn ensure_room(
    bucket: &BucketRecord,
    grow: u64,
    total_limit: u64,
    total_used: impl FnOnce() -> Result<u64>,
) -> Result<()> {
    if grow == 0 {
        return Ok(());
    }
    // A share's snapshots hold their bytes against its quota (decision 0040).
    let held = bucket.usage_bytes.saturating_add(bucket.snapshot_bytes);
    if bucket.quota_bytes > 0 && held.saturating_add(grow) > bucket.quota_bytes {
        return Err(StoreError::QuotaExceeded(format!(
            "{} holds {held} of its {} bytes; this write needs {grow} more",
            bucket.name, bucket.quota_bytes
        )));
    }
    if total_limit > 0 {
        let used = total_used()?;
        if used.saturating_add(grow) > total_limit {
            return Err(StoreError::QuotaExceeded(format!(
                "the server holds {used} of its {total_limit} bytes (s3.max_size); this write needs {grow} more"
            )));
        }
    }
    Ok(())
}

/// Logical bytes held by every bucket, deleted shares awaiting purge included (their data is
/// still on disk): the running total, one read.
pub(crate) fn total_usage(ns: &Ns) -> Result<u64> {
    counter(ns.meta()?, USAGE_TOTAL)
}

/// A running total or counter of META in any transaction (0 before its first use).
pub(crate) fn read_counter(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<u64> {
    counter(meta, name)
}

/// Links `key` to a new record, replacing what was there (the replaced data's chunk references
/// are dropped, the inode number is kept so NFS handles stay valid). `rec`'s chunks must already
/// carry one reference taken by the caller. Updates the bucket's usage counters.
pub(crate) fn link_object(
    ns: &mut Ns,
    bucket: &mut BucketRecord,
    key: &str,
    rec: &mut ObjectRecord,
) -> Result<u64> {
    let existing = lookup(ns, bucket.id, key)?;
    link_at(ns, bucket, key, rec, existing)
}

/// [`link_object`] when the caller has just looked `key` up in this transaction: `existing`
/// is what it found. Every replace of a key goes through here (S3 PUT, CopyObject,
/// CompleteMultipartUpload, the file view's creates).
///
/// A key whose inode has other names (hard links, decision 0021) breaks out: the other names
/// keep the inode, its data and its bytes in the usage; the inode loses one link (its ctime
/// moves) and `key` gets a new inode holding `rec`. `rec` is stored with one link.
///
/// In a versioned bucket (decision 0038) the replaced version is kept as a noncurrent one
/// and `rec` gets its version id (`None`, the null version, while versioning is suspended).
pub(crate) fn link_at(
    ns: &mut Ns,
    bucket: &mut BucketRecord,
    key: &str,
    rec: &mut ObjectRecord,
    existing: Option<u64>,
) -> Result<u64> {
    let (ino, reused) = match existing {
        Some(ino) => {
            let mut old = inode_attrs(ns, ino)?;
            super::expiry_index::unschedule(ns, bucket, key, old.mtime_ms)?;
            bucket.object_count = bucket.object_count.saturating_sub(1);
            // (Versioning, once on, is never off again: an unversioned bucket has no rows.)
            let kept = if bucket.versioning.is_on() {
                crate::versioning::rows::settle_inode_versions(ns, bucket, key, ino, old.links())?;
                crate::versioning::rows::keep_replaced(ns, bucket, key, ino, &old)?
            } else {
                Kept::Not
            };
            if old.links() > 1 {
                drop_link(ns, ino, &mut old)?;
                // The name now leads to another inode: its directory changed, as after a
                // rename over it (clients revalidate cached lookups by the directory's times).
                entry_added(ns, bucket, key)?;
                (next_counter(ns, "next_ino")?, false)
            } else if kept == Kept::Moved {
                // The old inode is the version's now (a plain bucket, decision 0038).
                (next_counter(ns, "next_ino")?, false)
            } else {
                if kept == Kept::Not {
                    let data = inode_data(ns, ino)?;
                    decref(ns, data.chunks())?;
                    bucket.usage_bytes = bucket.usage_bytes.saturating_sub(old.size);
                }
                (ino, true)
            }
        }
        None => {
            entry_added(ns, bucket, key)?;
            (next_counter(ns, "next_ino")?, false)
        }
    };
    rec.version_id = match bucket.versioning {
        Versioning::Enabled => Some(crate::versioning::rows::new_version(ns)?.1),
        Versioning::Suspended => {
            crate::versioning::rows::drop_null_row(ns, bucket, key)?;
            None
        }
        Versioning::Unversioned => None,
    };
    // A new inode has no data row to replace: an empty one needs none.
    let with_data = reused || !is_empty(&rec.data);
    // A copy of a linked inode's record (CopyObject) is a new file with one name.
    rec.nlink = 1;
    put_inode(ns, ino, rec, with_data)?;
    ns.entries_mut()?
        .insert(tables::entry_key(bucket.id, key).as_slice(), ino)?;
    super::expiry_index::schedule(ns, bucket, key, rec.mtime_ms)?;
    super::names::set(ns, bucket, key, ino, existing)?;
    if bucket.replicated {
        crate::replication::queue::key_linked(ns, bucket, key, rec)?;
    }
    bucket.usage_bytes += rec.size;
    bucket.object_count += 1;
    put_bucket(ns, bucket)?;
    Ok(ino)
}

/// An inode's attributes without its data (the manifest is not decoded).
pub(crate) fn inode_attrs(ns: &Ns, ino: u64) -> Result<ObjectRecord> {
    let v = ns
        .inodes()?
        .get(ino)?
        .ok_or_else(|| StoreError::Corrupt(format!("entry points at missing inode {ino}")))?;
    codec::decode(v.value())
}

/// One name of inode `ino` (`old`, its attributes, with more than one link) went away: it
/// keeps its data and its bytes in the usage, loses a link, and its ctime moves.
fn drop_link(ns: &mut Ns, ino: u64, old: &mut ObjectRecord) -> Result<()> {
    old.nlink = old.links() - 1;
    inode_changed(old, crate::now_unix_ns());
    put_inode(ns, ino, old, false)
}

/// Removes `key`; returns whether it existed. An inode with other names (hard links) stays,
/// with its data, one link fewer; the last name takes the inode and its chunk references.
/// In a versioned bucket the removed version is kept and a delete marker made (decision 0038).
pub(crate) fn unlink_object(ns: &mut Ns, bucket: &mut BucketRecord, key: &str) -> Result<bool> {
    unlink_as(ns, bucket, key, false)
}

/// [`unlink_object`]; `replica`: the delete came from the other site of a replication pair,
/// so it is not queued back there (decision 0036).
pub(crate) fn unlink_as(
    ns: &mut Ns,
    bucket: &mut BucketRecord,
    key: &str,
    replica: bool,
) -> Result<bool> {
    Ok(unlink_marking(ns, bucket, key, replica, false)?.0)
}

/// Removes `key` (whether it existed is returned) and, in a versioned bucket, makes a delete
/// marker (its id is returned): when the key existed, or always when `always_mark` (an S3
/// DELETE makes a marker for a key that has no current version too).
pub(crate) fn unlink_marking(
    ns: &mut Ns,
    bucket: &mut BucketRecord,
    key: &str,
    replica: bool,
    always_mark: bool,
) -> Result<(bool, Option<String>)> {
    let existed = match lookup(ns, bucket.id, key)? {
        Some(ino) => {
            let old = inode_attrs(ns, ino)?;
            remove_name(
                ns,
                bucket,
                key,
                ino,
                old,
                bucket.versioning.is_on(),
                replica,
            )?;
            true
        }
        None => false,
    };
    let marker = if bucket.versioning.is_on() && (existed || always_mark) {
        Some(crate::versioning::rows::add_marker(ns, bucket, key)?)
    } else {
        None
    };
    if existed || marker.is_some() {
        put_bucket(ns, bucket)?;
    }
    Ok((existed, marker))
}

/// Removes `key` because another name takes its place (a rename over it): in a versioned
/// bucket what it held is kept as a noncurrent version, with no delete marker (the key gets a
/// current version at once). Returns whether it existed.
pub(crate) fn unlink_replaced(ns: &mut Ns, bucket: &mut BucketRecord, key: &str) -> Result<bool> {
    let Some(ino) = lookup(ns, bucket.id, key)? else {
        return Ok(false);
    };
    let old = inode_attrs(ns, ino)?;
    remove_name(ns, bucket, key, ino, old, bucket.versioning.is_on(), false)?;
    put_bucket(ns, bucket)?;
    Ok(true)
}

/// Removes name `key` of inode `ino` (attributes `old`); `keep`: the version it names is kept
/// as a noncurrent one (a versioned bucket). The caller stores the bucket record.
pub(crate) fn remove_name(
    ns: &mut Ns,
    bucket: &mut BucketRecord,
    key: &str,
    ino: u64,
    mut old: ObjectRecord,
    keep: bool,
    replica: bool,
) -> Result<()> {
    super::expiry_index::unschedule(ns, bucket, key, old.mtime_ms)?;
    if bucket.versioning.is_on() {
        crate::versioning::rows::settle_inode_versions(ns, bucket, key, ino, old.links())?;
    }
    let kept = if keep {
        crate::versioning::rows::keep_replaced(ns, bucket, key, ino, &old)?
    } else {
        Kept::Not
    };
    if old.links() > 1 {
        drop_link(ns, ino, &mut old)?;
    } else if kept == Kept::Moved {
        // The inode is the version's now.
    } else {
        if kept == Kept::Not {
            let data = inode_data(ns, ino)?;
            decref(ns, data.chunks())?;
            bucket.usage_bytes = bucket.usage_bytes.saturating_sub(old.size);
        }
        ns.inodes_mut()?.remove(ino)?;
        ns.data_mut()?.remove(ino)?;
    }
    ns.entries_mut()?
        .remove(tables::entry_key(bucket.id, key).as_slice())?;
    entry_removed(ns, bucket, key)?;
    super::names::clear(ns, bucket, key, ino)?;
    if bucket.replicated {
        crate::replication::queue::key_unlinked(ns, bucket, key, replica)?;
    }
    bucket.object_count = bucket.object_count.saturating_sub(1);
    Ok(())
}

/// Whether any entry starts with `prefix` (bucket-id-prefixed key bytes).
pub(crate) fn prefix_used(
    t: &impl ReadableTable<&'static [u8], u64>,
    prefix: &[u8],
) -> Result<bool> {
    let mut it = t.range(prefix..)?;
    Ok(match it.next() {
        Some(e) => e?.0.value().starts_with(prefix),
        None => false,
    })
}

/// Whether any entry of bucket `bucket_id` starts with `path`.
fn dir_in_use(ns: &Ns, bucket_id: u64, path: &str) -> Result<bool> {
    prefix_used(ns.entries()?, &tables::entry_key(bucket_id, path))
}

/// Records that directory `path`'s listing changed now: its change time moves forward, by at
/// least 1 ns, so two changes in one clock tick still look different to a client.
pub(crate) fn dir_touched(ns: &mut Ns, bucket_id: u64, path: &str) -> Result<()> {
    let k = tables::entry_key(bucket_id, path);
    let t = ns.dir_times_mut()?;
    let last = t.get(k.as_slice())?.map_or(0, |v| v.value());
    t.insert(k.as_slice(), now_ns().max(last + 1))?;
    Ok(())
}

/// Unix nanoseconds now.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Counts one more (`up`) or one fewer subdirectory of directory `dir` of bucket `bucket_id`
/// (no row while it has none).
fn subdir_counted(ns: &mut Ns, bucket_id: u64, dir: &str, up: bool) -> Result<()> {
    let k = tables::entry_key(bucket_id, dir);
    let t = ns.dir_subdirs_mut()?;
    let n = t.get(k.as_slice())?.map_or(0, |v| v.value());
    let n = if up {
        n.saturating_add(1)
    } else {
        n.saturating_sub(1)
    };
    if n == 0 {
        t.remove(k.as_slice())?;
    } else {
        t.insert(k.as_slice(), n)?;
    }
    Ok(())
}

/// Call before entry `key` is inserted into share `b`: its directory changes, and so does
/// each parent of a directory that the new entry brings into being (`a/b/c` with no `a/`
/// yet makes `a` appear in the root), which counts one more subdirectory. A marker (`a/b/`)
/// brings its own directory into being too. Buckets that are not shares have no directories.
pub(crate) fn entry_added(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if b.kind != BucketKind::Share {
        return Ok(());
    }
    // Whether a directory under `dir` (the one the loop looks at) appears with this entry.
    let mut child_appears = key.ends_with('/') && !dir_in_use(ns, b.id, key)?;
    let mut dir = parent_path(key);
    loop {
        if child_appears {
            subdir_counted(ns, b.id, dir, true)?;
        }
        let appears = !dir.is_empty() && !dir_in_use(ns, b.id, dir)?;
        dir_touched(ns, b.id, dir)?;
        if !appears {
            return Ok(());
        }
        child_appears = true;
        dir = parent_path(dir);
    }
}

/// Call after entry `key` was removed from share `b`: the mirror of [`entry_added`], for the
/// directories that go with their last entry (their change times and counts go too).
pub(crate) fn entry_removed(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if b.kind != BucketKind::Share {
        return Ok(());
    }
    // A removed marker whose directory is now gone takes that directory's rows with it.
    let mut child_gone = key.ends_with('/') && !dir_in_use(ns, b.id, key)?;
    if child_gone {
        dir_forgotten(ns, b.id, key)?;
    }
    let mut dir = parent_path(key);
    loop {
        if child_gone {
            subdir_counted(ns, b.id, dir, false)?;
        }
        if dir.is_empty() || dir_in_use(ns, b.id, dir)? {
            break;
        }
        dir_forgotten(ns, b.id, dir)?;
        child_gone = true;
        dir = parent_path(dir);
    }
    dir_touched(ns, b.id, dir)
}

/// Directory `dir` is gone: its change time and subdirectory count with it.
fn dir_forgotten(ns: &mut Ns, bucket_id: u64, dir: &str) -> Result<()> {
    let k = tables::entry_key(bucket_id, dir);
    ns.dir_times_mut()?.remove(k.as_slice())?;
    ns.dir_subdirs_mut()?.remove(k.as_slice())?;
    Ok(())
}
