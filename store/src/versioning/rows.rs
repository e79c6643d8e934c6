//! The noncurrent versions of keys inside a write transaction: keeping what a write replaces,
//! delete markers, removing one version, and putting the newest version back as current. Every
//! write path reaches these through `ops::txn` (link, unlink) or the version-addressed
//! operations of this module, so a version is kept or freed in the transaction of the change.
//!
//! Where they are (decision 0053): `version_log` holds every row in write order (bucket id ++
//! sequence number), each naming its key and the key's next older row; `version_heads` holds
//! each key's newest. A key's rows are a chain, newest first ([`Chains`]); a row is handed
//! around by its log key.

use redb::{ReadableTable, Table};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, ObjectRecord, VersionLogRow, VersionRow, Versioning};
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::tables;

/// META key: the last version sequence number handed out (ids and row order come from it).
const NEXT_VERSION: &str = "next_version";

/// A new version id: the sequence number (16 hex digits, so ids sort as they were made)
/// and 16 hex digits no client can predict (ids of one bucket cannot be guessed from
/// another's): a keyed BLAKE3 of the number under a key drawn once per process, so each id
/// costs no system call.
pub(crate) fn new_version(ns: &mut Ns) -> Result<(u64, String)> {
    let seq = txn::next_counter(ns, NEXT_VERSION)?;
    Ok((seq, id_of(seq)?))
}

/// The version id of sequence number `seq`.
fn id_of(seq: u64) -> Result<String> {
    let h = blake3::keyed_hash(id_key()?, &seq.to_be_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&h.as_bytes()[..8]);
    Ok(format!("{seq:016x}{:016x}", u64::from_be_bytes(tail)))
}

/// The key of [`new_version`]'s unpredictable half, drawn on first use.
fn id_key() -> Result<&'static [u8; 32]> {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    if let Some(k) = KEY.get() {
        return Ok(k);
    }
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(KEY.get_or_init(|| k))
}

/// The sequence number of a version id this server made (`None`: not one of ours, so no
/// version has it).
pub fn parse_id(id: &str) -> Option<u64> {
    if id.len() != 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

/// Whether `id` (as a request names it; `null` for the null version) is `rec`'s.
pub(crate) fn names(rec: &ObjectRecord, id: &str) -> bool {
    match &rec.version_id {
        Some(v) => v == id,
        None => id == "null",
    }
}

/// The id S3 shows for a record's version.
pub(crate) fn shown_id(rec: &ObjectRecord) -> String {
    rec.version_id.clone().unwrap_or_else(|| "null".into())
}

/// How [`keep_replaced`] kept a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Not kept: the caller drops it as in an unversioned bucket.
    Not,
    /// Its record and data were copied to a new inode; the key keeps `ino`.
    Copied,
    /// Inode `ino` itself became the version's; the key needs a new inode.
    Moved,
}

/// Keeps the version `key` holds now (inode `ino`, attributes `old`) as a noncurrent version
/// before a write or delete replaces it. Not kept: the `null` version while versioning is
/// suspended (a new null version replaces it, as in S3).
///
/// In a plain bucket (never exported over NFS) the inode itself moves to the version and the
/// key gets a new one: nothing is copied. In a share the key keeps `ino`, so NFS handles stay
/// with the name: the version gets a new inode, its data moved there, or, when other names
/// still link `ino` (hard links), shared by one more reference on each chunk. Its bytes stay
/// in the bucket's usage, now noncurrent.
pub(crate) fn keep_replaced(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    ino: u64,
    old: &ObjectRecord,
) -> Result<Kept> {
    if b.versioning == Versioning::Suspended && old.version_id.is_none() {
        return Ok(Kept::Not);
    }
    let (vino, how) = if b.kind != crate::model::BucketKind::Share && old.links() <= 1 {
        (ino, Kept::Moved)
    } else {
        let mut kept = txn::get_inode(ns, ino)?;
        kept.nlink = 1;
        let vino = txn::next_counter(ns, "next_ino")?;
        if old.links() > 1 {
            txn::incref(ns, kept.data.chunks())?;
            b.usage_bytes += old.size;
        }
        txn::put_inode(ns, vino, &kept, true)?;
        (vino, Kept::Copied)
    };
    // A version written before versioning (null) has no sequence number yet: it is the newest
    // of the key's noncurrent versions, so the next number orders it right.
    let seq = match old.version_id.as_deref().and_then(parse_id) {
        Some(seq) => seq,
        None => new_version(ns)?.0,
    };
    let now = crate::now_unix_ms();
    let row = VersionRow {
        version_id: shown_id(old),
        inode: Some(vino),
        mtime_ms: old.mtime_ms,
        size: old.size,
        noncurrent_ms: now,
    };
    if how == Kept::Moved {
        // A plain bucket's inode with one name: its version's number is its own, no other
        // row has it (the log's insert would refuse one that did).
        link(ns, b.id, key, seq, row)?;
    } else {
        insert_row(ns, b, key, seq, row)?;
    }
    b.version_rows += 1;
    b.noncurrent_bytes += old.size;
    super::expiry::became_noncurrent(ns, b, key, now)?;
    Ok(how)
}

/// Inserts `row` as version `seq` of `key`, never over another row: when that number is taken
/// (two names of one hard-linked inode kept the same version), the row gets a new sequence
/// number and id of its own; a second `null` replaces the first. The caller counts the row.
fn insert_row(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    mut seq: u64,
    mut row: VersionRow,
) -> Result<()> {
    if ns
        .version_log()?
        .get(tables::log_key(b.id, seq).as_slice())?
        .is_some()
    {
        if row.version_id == "null" {
            drop_null_row(ns, b, key)?;
        }
        let (fresh, id) = new_version(ns)?;
        if row.version_id != "null" {
            row.version_id = id;
        }
        seq = fresh;
    }
    link(ns, b.id, key, seq, row)
}

/// Puts `row` into the log as `seq` and into `key`'s chain by its number: at the head when it
/// is the newest (a write's replaced version always is), else after the last newer row (a
/// version the file view kept with an inode, moving under a name).
fn link(ns: &mut Ns, bucket_id: u64, key: &str, seq: u64, row: VersionRow) -> Result<()> {
    let hk = tables::entry_key(bucket_id, key);
    // The new row is the key's newest nearly always (a write's replaced version is): the head
    // is set first, one descent of the heads table, and put back in the rare other case.
    let heads = ns.version_heads_mut()?;
    let head = heads.insert(hk.as_slice(), seq)?.map(|v| v.value());
    let older = match head {
        Some(h) if h > seq => {
            heads.insert(hk.as_slice(), h)?;
            let mut at = h;
            loop {
                let lk = tables::log_key(bucket_id, at);
                let mut newer = log_row(ns.version_log()?, &lk)?;
                match newer.older {
                    Some(o) if o > seq => at = o,
                    older => {
                        newer.older = Some(seq);
                        ns.version_log_mut()?
                            .insert(lk.as_slice(), codec::encode(&newer)?.as_slice())?;
                        break older;
                    }
                }
            }
        }
        head => head,
    };
    let r = VersionLogRow {
        key: key.to_string(),
        older,
        row,
    };
    let taken = ns
        .version_log_mut()?
        .insert(
            tables::log_key(bucket_id, seq).as_slice(),
            codec::encode(&r)?.as_slice(),
        )?
        .is_some();
    if taken {
        // Callers give numbers no row has (`insert_row` renumbers): never one over another.
        return Err(StoreError::Internal(format!(
            "version {seq} of bucket #{bucket_id} was already in the log"
        )));
    }
    Ok(())
}

/// Takes the row at log key `lk` out of the log and out of its key's chain; returns it.
/// `newer`: the log key of the row just newer in the chain, when the caller knows it (a pass
/// over a key's rows removing several); otherwise the chain is walked from its head.
fn unlink(ns: &mut Ns, lk: &[u8], newer: Option<&[u8]>) -> Result<VersionLogRow> {
    let (bucket_id, seq) =
        tables::split_log_key(lk).ok_or_else(|| StoreError::Corrupt("malformed log key".into()))?;
    let gone: VersionLogRow = match ns.version_log_mut()?.remove(lk)? {
        Some(v) => codec::decode(v.value())?,
        None => return Err(StoreError::Corrupt(format!("no version {seq} to remove"))),
    };
    let hk = tables::entry_key(bucket_id, &gone.key);
    let head = ns.version_heads()?.get(hk.as_slice())?.map(|v| v.value());
    if head == Some(seq) {
        match gone.older {
            Some(o) => ns.version_heads_mut()?.insert(hk.as_slice(), o)?,
            None => ns.version_heads_mut()?.remove(hk.as_slice())?,
        };
        return Ok(gone);
    }
    if let Some(n) = newer {
        let mut r = log_row(ns.version_log()?, n)?;
        if r.older == Some(seq) {
            r.older = gone.older;
            ns.version_log_mut()?
                .insert(n, codec::encode(&r)?.as_slice())?;
            return Ok(gone);
        }
    }
    let mut at = head;
    while let Some(s) = at.filter(|s| *s > seq) {
        let k = tables::log_key(bucket_id, s);
        let mut newer = log_row(ns.version_log()?, &k)?;
        if newer.older == Some(seq) {
            newer.older = gone.older;
            ns.version_log_mut()?
                .insert(k.as_slice(), codec::encode(&newer)?.as_slice())?;
            return Ok(gone);
        }
        at = newer.older;
    }
    Err(StoreError::Corrupt(format!(
        "version {seq} of bucket #{bucket_id} is not in its key's chain"
    )))
}

/// The log row at `lk`, which a chain names (its absence is damage).
fn log_row(
    log: &impl ReadableTable<&'static [u8], &'static [u8]>,
    lk: &[u8],
) -> Result<VersionLogRow> {
    match log.get(lk)? {
        Some(v) => codec::decode(v.value()),
        None => Err(StoreError::Corrupt(format!(
            "a version chain names a missing row {}",
            tables::split_log_key(lk).map_or(0, |(_, s)| s)
        ))),
    }
}

/// Adds a delete marker as `key`'s newest version: an id while versioning is enabled, the
/// `null` version (replacing a null one) while suspended. Returns its id.
pub(crate) fn add_marker(ns: &mut Ns, b: &mut BucketRecord, key: &str) -> Result<String> {
    let (seq, id) = new_version(ns)?;
    let id = if b.versioning == Versioning::Enabled {
        id
    } else {
        drop_null_row(ns, b, key)?;
        "null".to_string()
    };
    let row = VersionRow {
        version_id: id.clone(),
        inode: None,
        mtime_ms: crate::now_unix_ms(),
        size: 0,
        noncurrent_ms: 0,
    };
    insert_row(ns, b, key, seq, row)?;
    b.version_rows += 1;
    super::expiry::marker_may_be_alone(ns, b, key)?;
    Ok(id)
}

/// The tables a key's rows are read from: its head in `version_heads`, its chain in
/// `version_log`. A row is named by its log key.
pub(crate) struct Chains<'a, H, L> {
    pub heads: &'a H,
    pub log: &'a L,
}

/// The chains of a write transaction's tables.
pub(crate) type NsChains<'a, 't> =
    Chains<'a, Table<'t, &'static [u8], u64>, Table<'t, &'static [u8], &'static [u8]>>;

/// The chains of `ns`.
pub(crate) fn chains<'a, 't>(ns: &'a Ns<'t>) -> Result<NsChains<'a, 't>> {
    Ok(Chains {
        heads: ns.version_heads()?,
        log: ns.version_log()?,
    })
}

impl<H, L> Chains<'_, H, L>
where
    H: ReadableTable<&'static [u8], u64>,
    L: ReadableTable<&'static [u8], &'static [u8]>,
{
    /// `key`'s rows, newest first, as (log key, row).
    pub(crate) fn rows_of(&self, bucket_id: u64, key: &str) -> Result<Vec<(Vec<u8>, VersionRow)>> {
        let head = self.head(bucket_id, key)?;
        self.rows_from(bucket_id, key, head, usize::MAX)
    }

    /// At most `limit` of `key`'s rows, newest first, from the row numbered `from` on (`None`:
    /// none): what a page of a listing needs, not the whole chain.
    pub(crate) fn rows_from(
        &self,
        bucket_id: u64,
        key: &str,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionRow)>> {
        let mut out = Vec::new();
        let mut next = from;
        let mut last = u64::MAX;
        while let Some(seq) = next.filter(|_| out.len() < limit) {
            let lk = tables::log_key(bucket_id, seq);
            let r = log_row(self.log, &lk)?;
            if seq >= last || r.key != key {
                return Err(StoreError::Corrupt(format!(
                    "the version chain of {key:?} is out of order or crosses keys at {seq}"
                )));
            }
            last = seq;
            next = r.older;
            out.push((lk.to_vec(), r.row));
        }
        Ok(out)
    }

    /// `key`'s newest row, if any.
    pub(crate) fn newest_row(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<(Vec<u8>, VersionRow)>> {
        let Some(seq) = self.head(bucket_id, key)? else {
            return Ok(None);
        };
        let lk = tables::log_key(bucket_id, seq);
        Ok(Some((lk.to_vec(), log_row(self.log, &lk)?.row)))
    }

    /// The row of version `id` of `key` (`null` included), if it exists: one lookup by the
    /// sequence number the id carries (`null`: a walk of the key's chain).
    pub(crate) fn find_row(
        &self,
        bucket_id: u64,
        key: &str,
        id: &str,
    ) -> Result<Option<(Vec<u8>, VersionRow)>> {
        Ok(self.named(bucket_id, key, id)?.map(|(lk, r)| (lk, r.row)))
    }

    /// Where `key`'s chain goes on after its row of version `id`: `Some(older)` (`None` inside:
    /// that row is the oldest) when the chain has the row, `None` when it does not.
    pub(crate) fn after_row(
        &self,
        bucket_id: u64,
        key: &str,
        id: &str,
    ) -> Result<Option<Option<u64>>> {
        Ok(self.named(bucket_id, key, id)?.map(|(_, r)| r.older))
    }

    /// The log key and log row of version `id` of `key`, if it has one.
    fn named(
        &self,
        bucket_id: u64,
        key: &str,
        id: &str,
    ) -> Result<Option<(Vec<u8>, VersionLogRow)>> {
        if id == "null" {
            let mut next = self.head(bucket_id, key)?;
            let mut last = u64::MAX;
            while let Some(seq) = next {
                let lk = tables::log_key(bucket_id, seq);
                let r = log_row(self.log, &lk)?;
                if seq >= last || r.key != key {
                    return Err(StoreError::Corrupt(format!(
                        "the version chain of {key:?} is out of order or crosses keys at {seq}"
                    )));
                }
                if r.row.version_id == "null" {
                    return Ok(Some((lk.to_vec(), r)));
                }
                last = seq;
                next = r.older;
            }
            return Ok(None);
        }
        let Some(seq) = parse_id(id) else {
            return Ok(None);
        };
        let lk = tables::log_key(bucket_id, seq);
        Ok(match self.log.get(lk.as_slice())? {
            Some(v) => {
                let r: VersionLogRow = codec::decode(v.value())?;
                (r.key == key && r.row.version_id == id).then(|| (lk.to_vec(), r))
            }
            None => None,
        })
    }

    /// The number of `key`'s newest row, if any.
    pub(crate) fn head(&self, bucket_id: u64, key: &str) -> Result<Option<u64>> {
        Ok(self
            .heads
            .get(tables::entry_key(bucket_id, key).as_slice())?
            .map(|v| v.value()))
    }
}

/// Removes the noncurrent `null` version of `key`, if there is one (a new null version
/// replaces it).
pub(crate) fn drop_null_row(ns: &mut Ns, b: &mut BucketRecord, key: &str) -> Result<()> {
    if let Some((k, row)) = chains(ns)?.find_row(b.id, key, "null")? {
        remove_row(ns, b, &k, &row)?;
    }
    Ok(())
}

/// Removes one row of the version log and, for a version, its inode and chunk references.
pub(crate) fn remove_row(
    ns: &mut Ns,
    b: &mut BucketRecord,
    k: &[u8],
    row: &VersionRow,
) -> Result<()> {
    remove_at(ns, b, Place::Key, k, row)
}

/// [`remove_row`] when the caller knows the row just newer in the key's chain (`None`: it is
/// the head): no walk from the head.
pub(crate) fn remove_row_after(
    ns: &mut Ns,
    b: &mut BucketRecord,
    k: &[u8],
    row: &VersionRow,
    newer: Option<&[u8]>,
) -> Result<()> {
    let key = unlink(ns, k, newer)?.key;
    forget(ns, b, row)?;
    super::expiry::marker_may_be_alone(ns, b, &key)
}

/// Which table a version row is in: `version_log` (a key's) or `inode_versions` (kept by the
/// file view with the inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Key,
    Inode,
}

/// Removes one row of either table and, for a version, its inode and chunk references.
pub(crate) fn remove_at(
    ns: &mut Ns,
    b: &mut BucketRecord,
    place: Place,
    k: &[u8],
    row: &VersionRow,
) -> Result<()> {
    match place {
        Place::Key => remove_row_after(ns, b, k, row, None),
        Place::Inode => {
            ns.inode_versions_mut()?.remove(k)?;
            forget(ns, b, row)
        }
    }
}

/// A removed row's counts, and a version's inode and chunk references.
fn forget(ns: &mut Ns, b: &mut BucketRecord, row: &VersionRow) -> Result<()> {
    b.version_rows = b.version_rows.saturating_sub(1);
    if let Some(vino) = row.inode {
        let rec = txn::get_inode(ns, vino)?;
        txn::decref(ns, rec.data.chunks())?;
        ns.inodes_mut()?.remove(vino)?;
        ns.data_mut()?.remove(vino)?;
        b.usage_bytes = b.usage_bytes.saturating_sub(row.size);
        b.noncurrent_bytes = b.noncurrent_bytes.saturating_sub(row.size);
    }
    Ok(())
}

/// The file view ends a quiet spell of a file: its content is kept as a version before the
/// first change after [`SETTLE_MS`] without one (decision 0038: at most one version per flush
/// of buffered writes, not one per WRITE call).
pub(crate) const SETTLE_MS: i64 = 2_000;

/// Whether the file view keeps the content of file `old` of share `b` as a version before it
/// changes it now: versioning enabled, the content not empty, and not changed within
/// [`SETTLE_MS`] (the same run of writes). Suspended shares write the null version in place.
pub(crate) fn keeps_inode_version(b: &BucketRecord, old: &ObjectRecord, now_ms: i64) -> bool {
    b.versioning == Versioning::Enabled
        && old.size > 0
        && now_ms.saturating_sub(old.mtime_ms) >= SETTLE_MS
}

/// Keeps the content of inode `ino` (`old`, its record with data) in versioned share `b` as a
/// version of the inode, when [`keeps_inode_version`] said so. The kept copy takes its own
/// chunk references; the caller drops the current's as it replaces them. Returns the id the
/// current version gets.
pub(crate) fn keep_inode_version(
    ns: &mut Ns,
    b: &mut BucketRecord,
    ino: u64,
    old: &ObjectRecord,
    now_ms: i64,
) -> Result<String> {
    let mut kept = old.clone();
    kept.nlink = 1;
    let vino = txn::next_counter(ns, "next_ino")?;
    txn::incref(ns, kept.data.chunks())?;
    txn::put_inode(ns, vino, &kept, true)?;
    let seq = match old.version_id.as_deref().and_then(parse_id) {
        Some(seq) => seq,
        None => new_version(ns)?.0,
    };
    let row = VersionRow {
        version_id: shown_id(old),
        inode: Some(vino),
        mtime_ms: old.mtime_ms,
        size: old.size,
        noncurrent_ms: now_ms,
    };
    let mut k = tables::inode_version_prefix(b.id, ino).to_vec();
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    ns.inode_versions_mut()?
        .insert(k.as_slice(), codec::encode(&row)?.as_slice())?;
    b.version_rows += 1;
    b.usage_bytes += old.size;
    b.noncurrent_bytes += old.size;
    Ok(new_version(ns)?.1)
}

/// A file moved to name `key` in versioned share `b` (a rename): S3 sees a copy and a delete,
/// so the moved file is a new version of `key` — a fresh id (the `null` version, replacing a
/// null row, while suspended) — never an old id filed among `key`'s versions out of order.
pub(crate) fn renamed_to(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    rec: &mut ObjectRecord,
) -> Result<()> {
    match b.versioning {
        Versioning::Enabled => rec.version_id = Some(new_version(ns)?.1),
        Versioning::Suspended => {
            drop_null_row(ns, b, key)?;
            rec.version_id = None;
        }
        Versioning::Unversioned => {}
    }
    Ok(())
}

/// The versions the file view kept of inode `ino`, newest first, as (table key, row).
pub(crate) fn inode_rows(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    bucket_id: u64,
    ino: u64,
) -> Result<Vec<(Vec<u8>, VersionRow)>> {
    let lo = tables::inode_version_prefix(bucket_id, ino);
    let mut out = Vec::new();
    for e in t.range::<&[u8]>(lo.as_slice()..)? {
        let (k, v) = e?;
        if !k.value().starts_with(&lo) {
            break;
        }
        out.push((k.value().to_vec(), codec::decode(v.value())?));
    }
    Ok(out)
}

/// Name `key` of inode `ino` is replaced or removed: the versions the file view kept of the
/// inode become versions of the key (an inode with other names keeps them: they are theirs
/// too).
pub(crate) fn settle_inode_versions(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    ino: u64,
    links: u32,
) -> Result<()> {
    if links > 1 || b.kind != crate::model::BucketKind::Share {
        return Ok(());
    }
    for (k, row) in inode_rows(ns.inode_versions()?, b.id, ino)? {
        ns.inode_versions_mut()?.remove(k.as_slice())?;
        let seq = k
            .get(16..24)
            .and_then(|s| s.try_into().ok())
            .map_or(0, |s| u64::MAX - u64::from_be_bytes(s));
        insert_row(ns, b, key, seq, row.clone())?;
        super::expiry::became_noncurrent(ns, b, key, row.noncurrent_since())?;
    }
    Ok(())
}

/// Version `id` among those the file view kept of inode `ino`.
pub(crate) fn find_inode_row(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    bucket_id: u64,
    ino: u64,
    id: &str,
) -> Result<Option<(Vec<u8>, VersionRow)>> {
    Ok(inode_rows(t, bucket_id, ino)?
        .into_iter()
        .find(|(_, r)| r.version_id == id))
}

/// When `key` has no current version and its newest row is a version (not a marker), that
/// version becomes current again (S3: deleting the current version or the newest delete
/// marker reveals the one before). Returns whether one did.
pub(crate) fn promote_newest(ns: &mut Ns, b: &mut BucketRecord, key: &str) -> Result<bool> {
    if txn::lookup(ns, b.id, key)?.is_some() {
        return Ok(false);
    }
    let Some((k, row)) = chains(ns)?.newest_row(b.id, key)? else {
        return Ok(false);
    };
    let Some(vino) = row.inode else {
        return Ok(false);
    };
    // A share path that became a directory meanwhile stays a directory: the version stays
    // noncurrent (a GET by its id still reads it).
    if txn::check_share_conflicts(ns, b, key).is_err() {
        return Ok(false);
    }
    unlink(ns, &k, None)?;
    b.version_rows = b.version_rows.saturating_sub(1);
    b.noncurrent_bytes = b.noncurrent_bytes.saturating_sub(row.size);
    txn::entry_added(ns, b, key)?;
    ns.entries_mut()?
        .insert(tables::entry_key(b.id, key).as_slice(), vino)?;
    crate::ops::names::set(ns, b, key, vino, None)?;
    b.object_count += 1;
    crate::ops::expiry_index::schedule(ns, b, key, row.mtime_ms)?;
    Ok(true)
}

/// The error for a version id a request names that nothing here has.
pub(crate) fn no_such_version(id: &str) -> StoreError {
    if id == "null" || parse_id(id).is_some() {
        StoreError::NoSuchVersion
    } else {
        StoreError::InvalidVersionId
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_number_and_an_unpredictable_half() {
        let (a, b) = (id_of(41).expect("id"), id_of(42).expect("id"));
        assert_eq!((parse_id(&a), parse_id(&b)), (Some(41), Some(42)));
        assert!(a < b, "ids sort as they were made");
        assert_ne!(
            a[16..],
            b[16..],
            "the second half is not a function of the first alone"
        );
        assert_ne!(&a[16..], "0000000000000000");
        // Not a plain hash of the number: the key is drawn per process.
        let unkeyed = blake3::hash(&41u64.to_be_bytes());
        let unkeyed = u64::from_be_bytes(unkeyed.as_bytes()[..8].try_into().expect("8"));
        assert_ne!(a[16..], format!("{unkeyed:016x}"));
    }
}
