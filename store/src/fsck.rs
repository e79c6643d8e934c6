//! Offline consistency check (and repair) of a data directory: the server must be stopped.
//!
//! Checks, in one read transaction: every entry points at an inode; chunk refcounts equal the
//! references held by object manifests and uploaded parts; every referenced chunk file exists
//! and matches its BLAKE3 name (read in full); chunk files nobody references (orphans); bucket
//! usage counters against a recount; subdirectory counts of share directories (their NFS nlink)
//! against a recount. `repair` fixes what can be fixed without losing data —
//! refcounts, rows without referents, usage counters, subdirectory counts, dangling
//! entries, orphan files — and
//! never deletes a chunk that anything references. Missing or corrupt referenced chunks are
//! damage: they are reported per object key and left for a restore.
//!
//! Hard links (decision 0021): an inode's bytes count once in its bucket's usage and its chunk
//! references once, however many entries name it; names count one object each; each inode's
//! `nlink` must equal the entries naming it (repair sets it).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::blobs::{BlobStore, Hash};
use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::{
    BucketKind, BucketRecord, Data, ObjectRecord, PartRecord, ShareRecord, UploadRecord,
};
use crate::tables::{
    BUCKETS, CHUNKS, DIR_SUBDIRS, ENTRIES, INODE_DATA, INODE_VERSIONS, INODES, META, SHARES,
    UPLOAD_PARTS, UPLOADS, VERSION_HEADS, VERSION_LOG,
};

/// What fsck found (and, with repair, fixed).
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct FsckReport {
    pub objects: u64,
    pub chunks_verified: u64,
    pub bytes_verified: u64,
    /// Referenced chunks whose file is missing: (bucket, key, chunk hex).
    pub missing_chunks: Vec<(String, String, String)>,
    /// Referenced chunks whose bytes do not match their name: (bucket, key, chunk hex).
    pub corrupt_chunks: Vec<(String, String, String)>,
    /// Entries whose inode is gone: (bucket id, key).
    pub dangling_entries: Vec<(u64, String)>,
    /// Noncurrent versions (decision 0038) checked.
    #[serde(default)]
    pub versions: u64,
    /// Version rows whose inode is gone: (bucket id, key, version id). Reported, never
    /// removed by repair (a version is data someone kept on purpose).
    #[serde(default)]
    pub dangling_versions: Vec<(u64, String, String)>,
    /// Versions under object lock now (decision 0039): checked like any other, never removed
    /// by repair.
    #[serde(default)]
    pub locked_versions: u64,
    /// Inodes whose link count differs from the entries naming them: (inode, stored, counted).
    pub nlink_mismatches: Vec<(u64, u32, u32)>,
    /// Chunk rows whose count differs from the references found.
    pub refcount_mismatches: u64,
    /// Chunk rows nothing refers to.
    pub unreferenced_rows: u64,
    /// Referenced chunks with no row.
    pub missing_rows: u64,
    /// Chunk files nothing refers to.
    pub orphan_files: u64,
    /// Buckets whose usage counters differ from a recount.
    pub usage_mismatches: Vec<String>,
    /// Share directories whose subdirectory count (nlink - 2) differs from a recount.
    pub subdir_mismatches: u64,
    /// The server's running total of bytes held (what `s3.max_size` is checked against) when
    /// it differs from the sum of every bucket's usage, live and parked: (stored, counted).
    pub usage_total_mismatch: Option<(u64, u64)>,
    /// The running total of objects in live buckets (what metrics report) when it differs
    /// from the sum of their object counts as repair leaves them: (stored, counted).
    #[serde(default)]
    pub live_objects_mismatch: Option<(u64, u64)>,
    /// The running chunk totals (rows, bytes; what metrics report) when they differ from the
    /// rows as repair leaves them: (stored, counted).
    pub chunk_totals_mismatch: Option<((u64, u64), (u64, u64))>,
    /// Bucket replication's rows that disagree with each other or with a recount (decision
    /// 0036), one line each.
    #[serde(default)]
    pub replication_mismatches: Vec<String>,
    /// Rows of the inode → names index (decision 0043) missing or naming no entry.
    #[serde(default)]
    pub name_mismatches: u64,
    /// Links of the version chains (decision 0053) that differ from the log's rows: a key's
    /// head not its newest row, or a row's older link not the key's next older row. Repair
    /// relinks every chain from the log.
    #[serde(default)]
    pub version_chain_mismatches: u64,
    pub repaired: bool,
}

impl FsckReport {
    /// Damage that repair cannot fix (data is gone or wrong).
    pub fn damaged(&self) -> bool {
        !self.missing_chunks.is_empty() || !self.corrupt_chunks.is_empty()
    }

    /// Metadata and data agree. Orphan chunk files do not count: a crash between a chunk
    /// write and its commit leaves them by design, and the chunk GC (or `--repair`) removes them.
    pub fn clean(&self) -> bool {
        !self.damaged()
            && self.dangling_entries.is_empty()
            && self.dangling_versions.is_empty()
            && self.nlink_mismatches.is_empty()
            && self.refcount_mismatches == 0
            && self.unreferenced_rows == 0
            && self.missing_rows == 0
            && self.usage_mismatches.is_empty()
            && self.subdir_mismatches == 0
            && self.usage_total_mismatch.is_none()
            && self.live_objects_mismatch.is_none()
            && self.chunk_totals_mismatch.is_none()
            && self.replication_mismatches.is_empty()
            && self.name_mismatches == 0
            && self.version_chain_mismatches == 0
    }
}

#[derive(Default)]
struct Usage {
    bytes: u64,
    count: u64,
    /// Noncurrent versions' bytes, and rows (versions and delete markers), decision 0038.
    noncurrent: u64,
    rows: u64,
}

/// The database of a data directory no server has open (fsck, `storage migrate`, a restore's
/// check): a clear error when it is missing, in use or unreadable.
pub fn open_stopped(data_dir: &Path) -> Result<Database> {
    let db_path = data_dir.join("meta.redb");
    if !db_path.exists() {
        return Err(StoreError::InvalidArgument(format!(
            "{} does not exist: not a gatehouse data directory",
            db_path.display()
        )));
    }
    Database::open(&db_path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Conflict(format!(
            "{} is open in a running gatehouse: stop the server first",
            db_path.display()
        )),
        other => StoreError::Corrupt(format!(
            "{} cannot be opened ({other}); restore it from a backup",
            db_path.display()
        )),
    })
}

/// Checks `data_dir` (and repairs it when `repair`). Fails if the database is in use or its
/// schema is not this build's.
pub fn fsck(data_dir: &Path, repair: bool) -> Result<FsckReport> {
    let db = open_stopped(data_dir)?;
    let version = gatehouse_migrations::schema_version(&db)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    if version != gatehouse_migrations::CURRENT_VERSION {
        return Err(StoreError::InvalidArgument(format!(
            "schema version {version}, this build checks {}: start the matching server once first",
            gatehouse_migrations::CURRENT_VERSION
        )));
    }
    let location = crate::blobs::recorded_location(&db.begin_read()?)?;
    if location != crate::blobs::LOCAL {
        return Err(StoreError::InvalidArgument(format!(
            "this data directory's chunks are in {location}: check it through the running \
             server (gatehouse fsck --server URL)"
        )));
    }
    let blobs = BlobStore::open(&data_dir.join("blobs"))?;
    let (mut report, fixes) = check(&db.begin_read()?, &blobs, &Pace::Offline)?;
    let Fixes {
        names: fix_names,
        replication: fix_replication,
        rows: fix_rows,
        subdirs: fix_subdirs,
        usage: fix_usage,
        chains: fix_chains,
        orphans,
    } = fixes;

    if repair && (!report.clean() || report.orphan_files > 0) {
        let wtxn = db.begin_write()?;
        {
            let mut t = wtxn.open_table(CHUNKS)?;
            for (h, v) in &fix_rows {
                match v {
                    Some(v) => {
                        t.insert(h, *v)?;
                    }
                    None => {
                        t.remove(h)?;
                    }
                }
            }
            let mut d = wtxn.open_table(DIR_SUBDIRS)?;
            for (k, n) in &fix_subdirs {
                match n {
                    Some(n) => d.insert(k.as_slice(), *n)?,
                    None => d.remove(k.as_slice())?,
                };
            }
            let mut e = wtxn.open_table(ENTRIES)?;
            for (id, key) in &report.dangling_entries {
                e.remove(crate::tables::entry_key(*id, key).as_slice())?;
            }
            let mut inodes = wtxn.open_table(INODES)?;
            for (ino, _, counted) in &report.nlink_mismatches {
                let fixed = match inodes.get(*ino)? {
                    Some(v) => {
                        let mut rec: ObjectRecord = codec::decode(v.value())?;
                        rec.nlink = *counted;
                        Some(codec::encode(&rec)?)
                    }
                    None => None,
                };
                if let Some(v) = fixed {
                    inodes.insert(*ino, v.as_slice())?;
                }
            }
            {
                use crate::ops::txn::{CHUNK_BYTES, CHUNK_ROWS, LIVE_OBJECTS, USAGE_TOTAL};
                let mut meta = wtxn.open_table(META)?;
                if let Some((_, counted)) = report.usage_total_mismatch {
                    meta.insert(USAGE_TOTAL, counted.to_le_bytes().as_slice())?;
                }
                if let Some((_, counted)) = report.live_objects_mismatch {
                    meta.insert(LIVE_OBJECTS, counted.to_le_bytes().as_slice())?;
                }
                if let Some((_, (rows, bytes))) = report.chunk_totals_mismatch {
                    meta.insert(CHUNK_ROWS, rows.to_le_bytes().as_slice())?;
                    meta.insert(CHUNK_BYTES, bytes.to_le_bytes().as_slice())?;
                }
            }
            crate::replication::check::repair(&wtxn, &fix_replication)?;
            fix_chains.apply(&wtxn)?;
            let mut n = wtxn.open_table(crate::tables::INODE_NAMES)?;
            for (row, wanted) in &fix_names {
                if *wanted {
                    n.insert(row.as_slice(), ())?;
                } else {
                    n.remove(row.as_slice())?;
                }
            }
            let mut b = wtxn.open_table(BUCKETS)?;
            for (name, (bytes, count, noncurrent, rows)) in &fix_usage {
                let rec = match b.get(name.as_str())? {
                    Some(v) => {
                        let mut rec: BucketRecord = codec::decode(v.value())?;
                        rec.usage_bytes = *bytes;
                        rec.object_count = *count;
                        rec.noncurrent_bytes = *noncurrent;
                        rec.version_rows = *rows;
                        Some(rec)
                    }
                    None => None,
                };
                if let Some(rec) = rec {
                    b.insert(name.as_str(), codec::encode(&rec)?.as_slice())?;
                }
            }
        }
        wtxn.commit()?;
        // Only files that no row references now (the commit above) are removed.
        for h in &orphans {
            blobs.remove_unchecked(h)?;
        }
        report.repaired = true;
    }
    Ok(report)
}

/// What repair would write, found by [`check`].
struct Fixes {
    names: Vec<(Vec<u8>, bool)>,
    replication: crate::replication::check::Fixes,
    rows: Vec<(Hash, Option<(u64, u64)>)>,
    subdirs: Vec<(Vec<u8>, Option<u64>)>,
    usage: Vec<(String, Counts)>,
    chains: ChainFixes,
    orphans: Vec<Hash>,
}

/// The version chains as the log's rows say they are (decision 0053): each key's rows by
/// sequence number, and what differs from the stored links.
#[derive(Default)]
struct ChainFixes {
    /// `version_heads` rows to write (`Some`) or remove (`None`).
    heads: Vec<(Vec<u8>, Option<u64>)>,
    /// Log rows (key, older link) to rewrite.
    links: Vec<(Vec<u8>, Option<u64>)>,
}

impl ChainFixes {
    /// Finds every link that differs from the chains the log's rows make. First a pass in
    /// constant memory: each head's chain walked (numbers falling, every row its key's), and
    /// the rows reached counted against the log's (a row is reached at most once, so equal
    /// counts mean every row is in its chain); only when that finds damage are the chains
    /// rebuilt from the log in memory to know what to rewrite.
    fn find(rtxn: &redb::ReadTransaction) -> Result<ChainFixes> {
        let log = rtxn.open_table(VERSION_LOG)?;
        if Self::whole(rtxn, &log)? {
            return Ok(ChainFixes::default());
        }
        // (bucket id ++ key) → its rows' sequence numbers and stored older links, ascending.
        let mut keys: BTreeMap<Vec<u8>, Vec<(u64, Option<u64>)>> = BTreeMap::new();
        for e in log.iter()? {
            let (k, v) = e?;
            let (id, seq) = crate::tables::split_log_key(k.value())
                .ok_or_else(|| StoreError::Corrupt("malformed version log key".into()))?;
            let r: crate::model::VersionLogRow = codec::decode(v.value())?;
            keys.entry(crate::tables::entry_key(id, &r.key))
                .or_default()
                .push((seq, r.older));
        }
        let mut fixes = ChainFixes::default();
        let heads = rtxn.open_table(VERSION_HEADS)?;
        for e in heads.iter()? {
            let (k, _) = e?;
            if !keys.contains_key(k.value()) {
                fixes.heads.push((k.value().to_vec(), None));
            }
        }
        for (hk, rows) in &keys {
            let id = crate::tables::split_entry_key(hk).map_or(0, |(id, _)| id);
            let newest = rows.last().map(|r| r.0);
            if heads.get(hk.as_slice())?.map(|v| v.value()) != newest {
                fixes.heads.push((hk.clone(), newest));
            }
            let mut older = None;
            for &(seq, stored) in rows {
                if stored != older {
                    fixes
                        .links
                        .push((crate::tables::log_key(id, seq).to_vec(), older));
                }
                older = Some(seq);
            }
        }
        Ok(fixes)
    }

    /// Whether every chain is whole and holds every row of the log.
    fn whole(
        rtxn: &redb::ReadTransaction,
        log: &impl ReadableTable<&'static [u8], &'static [u8]>,
    ) -> Result<bool> {
        let heads = rtxn.open_table(VERSION_HEADS)?;
        let mut reached = 0u64;
        for e in heads.iter()? {
            let (k, seq) = e?;
            let hk = k.value();
            let Some((id, key)) = crate::tables::split_entry_key(hk) else {
                return Ok(false);
            };
            let (mut at, mut last) = (Some(seq.value()), u64::MAX);
            while let Some(s) = at {
                let Some(v) = log.get(crate::tables::log_key(id, s).as_slice())? else {
                    return Ok(false);
                };
                let r: crate::model::VersionLogRow = codec::decode(v.value())?;
                if s >= last || r.key.as_bytes() != key {
                    return Ok(false);
                }
                reached += 1;
                (at, last) = (r.older, s);
            }
        }
        Ok(reached == log.len()?)
    }

    fn count(&self) -> u64 {
        (self.heads.len() + self.links.len()) as u64
    }

    fn apply(&self, wtxn: &redb::WriteTransaction) -> Result<()> {
        let mut heads = wtxn.open_table(VERSION_HEADS)?;
        for (hk, seq) in &self.heads {
            match seq {
                Some(seq) => heads.insert(hk.as_slice(), *seq)?,
                None => heads.remove(hk.as_slice())?,
            };
        }
        let mut log = wtxn.open_table(VERSION_LOG)?;
        for (lk, older) in &self.links {
            let r = match log.get(lk.as_slice())? {
                Some(v) => {
                    let mut r: crate::model::VersionLogRow = codec::decode(v.value())?;
                    r.older = *older;
                    Some(codec::encode(&r)?)
                }
                None => None,
            };
            if let Some(r) = r {
                log.insert(lk.as_slice(), r.as_slice())?;
            }
        }
        Ok(())
    }
}

/// A bucket's counters: usage bytes, objects, noncurrent bytes, version rows.
type Counts = (u64, u64, u64, u64);

/// How [`check`] reads chunk files: offline at full speed, every file looked at; online
/// (a running server) at a bounded rate, a chunk found missing or damaged asked about again
/// (it may have been freed and collected since the snapshot), files no row names not counted
/// (they may be writes in flight).
enum Pace<'a> {
    Offline,
    Online {
        bytes_per_sec: u64,
        still_referenced: &'a dyn Fn(&Hash) -> Result<bool>,
    },
}

/// Every check of fsck, against one read transaction (a snapshot: writers go on).
fn check(
    rtxn: &redb::ReadTransaction,
    blobs: &BlobStore,
    pace: &Pace,
) -> Result<(FsckReport, Fixes)> {
    let mut report = FsckReport::default();
    let now = crate::now_unix_ms();
    // Bucket id → name, including deleted shares awaiting purge.
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut counters: BTreeMap<String, Counts> = BTreeMap::new();
    let mut share_ids: Vec<u64> = Vec::new();
    for e in rtxn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: BucketRecord = codec::decode(v.value())?;
        if b.kind == BucketKind::Share {
            share_ids.push(b.id);
        }
        counters.insert(
            b.name.clone(),
            (
                b.usage_bytes,
                b.object_count,
                b.noncurrent_bytes,
                b.version_rows,
            ),
        );
        names.insert(b.id, b.name);
    }
    // Bytes held by deleted shares awaiting purge (their counters are checked on restore).
    let mut parked_bytes = 0u64;
    for e in rtxn.open_table(SHARES)?.iter()? {
        let (_, v) = e?;
        let s: ShareRecord = codec::decode(v.value())?;
        // Its snapshots are parked with it (decision 0040).
        for b in s.parked_bucket.into_iter().chain(s.parked_snapshots) {
            parked_bytes = parked_bytes.saturating_add(b.usage_bytes);
            share_ids.push(b.id);
            names.insert(b.id, format!("{} (deleted)", b.name));
        }
    }

    // References held by objects, with one owner each for reporting.
    let mut refs: HashMap<Hash, (u64, u32)> = HashMap::new();
    let mut owner: HashMap<Hash, (String, String)> = HashMap::new();
    let mut usage: HashMap<u64, Usage> = HashMap::new();
    let entries = rtxn.open_table(ENTRIES)?;
    let inodes = rtxn.open_table(INODES)?;
    let data = rtxn.open_table(INODE_DATA)?;
    // Inode → (links it records, entries naming it).
    let mut names_of: HashMap<u64, (u32, u32)> = HashMap::new();
    for e in entries.iter()? {
        let (k, v) = e?;
        let k = k.value();
        let ino = v.value();
        let (id, key) = split_entry(k)?;
        let Some(rec) = inodes.get(ino)? else {
            report.dangling_entries.push((id, key));
            continue;
        };
        let rec: ObjectRecord = codec::decode(rec.value())?;
        report.objects += 1;
        if crate::locks::is_locked(&rec, now) {
            report.locked_versions += 1;
        }
        let u = usage.entry(id).or_default();
        u.count += 1;
        let seen = names_of.entry(ino).or_insert((rec.links(), 0));
        seen.1 += 1;
        if seen.1 > 1 {
            continue; // a second name (hard link): its bytes and references are the inode's
        }
        u.bytes += rec.size;
        if let Some(d) = data.get(ino)? {
            let d: Data = codec::decode(d.value())?;
            for c in d.chunks() {
                let r = refs.entry(c.hash).or_insert((0, c.stored_len()));
                r.0 += 1;
                owner.entry(c.hash).or_insert_with(|| {
                    (
                        names
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| format!("bucket #{id}")),
                        key.clone(),
                    )
                });
            }
        }
    }
    // Noncurrent versions and delete markers: each version's inode holds its own references
    // and bytes (decision 0038).
    // Those the file view kept with an inode (`inode_versions`) likewise.
    let by_key = rtxn.open_table(VERSION_LOG)?;
    let by_inode = rtxn.open_table(INODE_VERSIONS)?;
    let rows = by_key
        .iter()?
        .map(|e| (true, e))
        .chain(by_inode.iter()?.map(|e| (false, e)));
    for (keyed, e) in rows {
        let (k, v) = e?;
        let k = k.value();
        let id = k
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("malformed versions key".into()))?;
        let (key, row) = if keyed {
            let r: crate::model::VersionLogRow = codec::decode(v.value())?;
            (r.key, r.row)
        } else {
            let ino = k
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            (format!("(inode {ino})"), codec::decode(v.value())?)
        };
        let u = usage.entry(id).or_default();
        u.rows += 1;
        let Some(vino) = row.inode else { continue };
        let Some(attrs) = inodes.get(vino)? else {
            report.dangling_versions.push((id, key, row.version_id));
            continue;
        };
        if crate::locks::is_locked(&codec::decode::<ObjectRecord>(attrs.value())?, now) {
            report.locked_versions += 1;
        }
        u.bytes += row.size;
        u.noncurrent += row.size;
        report.versions += 1;
        if let Some(d) = data.get(vino)? {
            let d: Data = codec::decode(d.value())?;
            for c in d.chunks() {
                refs.entry(c.hash).or_insert((0, c.stored_len())).0 += 1;
                owner.entry(c.hash).or_insert_with(|| {
                    (
                        names
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| format!("bucket #{id}")),
                        format!("{key} (version {})", row.version_id),
                    )
                });
            }
        }
    }
    report.nlink_mismatches = names_of
        .iter()
        .filter(|(_, (stored, counted))| stored != counted)
        .map(|(ino, (stored, counted))| (*ino, *stored, *counted))
        .collect();
    report.nlink_mismatches.sort();
    // Parts of uploads in progress count in their bucket's usage (uploads begun before parts
    // counted do not: `parts_counted`).
    let bucket_ids: HashMap<&str, u64> = names
        .iter()
        .filter(|(_, n)| counters.contains_key(n.as_str()))
        .map(|(id, n)| (n.as_str(), *id))
        .collect();
    let mut counted_uploads: HashMap<String, u64> = HashMap::new();
    for e in rtxn.open_table(UPLOADS)?.iter()? {
        let (k, v) = e?;
        let u: UploadRecord = codec::decode(v.value())?;
        if let (true, Some(id)) = (u.parts_counted, bucket_ids.get(u.bucket.as_str())) {
            counted_uploads.insert(k.value().to_string(), *id);
        }
    }
    for e in rtxn.open_table(UPLOAD_PARTS)?.iter()? {
        let (k, v) = e?;
        let p: PartRecord = codec::decode(v.value())?;
        let upload = k.value().split(|b| *b == 0).next().unwrap_or_default();
        if let Some(id) = std::str::from_utf8(upload)
            .ok()
            .and_then(|u| counted_uploads.get(u))
        {
            usage.entry(*id).or_default().bytes += p.size;
        }
        for c in &p.chunks {
            let r = refs.entry(c.hash).or_insert((0, c.stored_len()));
            r.0 += 1;
            owner
                .entry(c.hash)
                .or_insert_with(|| ("(multipart upload)".into(), String::new()));
        }
    }

    // Rows against references.
    let mut fix_rows: Vec<(Hash, Option<(u64, u64)>)> = Vec::new();
    // The chunk totals as the rows stand after repair: one row per referenced chunk.
    let (mut want_rows, mut want_bytes) = (0u64, 0u64);
    let chunks = rtxn.open_table(CHUNKS)?;
    for e in chunks.iter()? {
        let (k, v) = e?;
        let h = *k.value();
        let (n, len) = v.value();
        match refs.get(&h) {
            None => {
                report.unreferenced_rows += 1;
                fix_rows.push((h, None));
                continue;
            }
            Some((want, _)) if *want != n => {
                report.refcount_mismatches += 1;
                fix_rows.push((h, Some((*want, len))));
            }
            Some(_) => {}
        }
        want_rows += 1;
        want_bytes = want_bytes.saturating_add(len);
    }
    for (h, (n, len)) in &refs {
        if chunks.get(h)?.is_none() {
            report.missing_rows += 1;
            fix_rows.push((*h, Some((*n, u64::from(*len)))));
            want_rows += 1;
            want_bytes = want_bytes.saturating_add(u64::from(*len));
        }
    }
    {
        use crate::ops::txn::{CHUNK_BYTES, CHUNK_ROWS, read_counter};
        let meta = rtxn.open_table(META)?;
        let stored = (
            read_counter(&meta, CHUNK_ROWS)?,
            read_counter(&meta, CHUNK_BYTES)?,
        );
        if stored != (want_rows, want_bytes) {
            report.chunk_totals_mismatch = Some((stored, (want_rows, want_bytes)));
        }
    }

    // Every referenced chunk file: present and whole.
    let started = std::time::Instant::now();
    for (h, (_, len)) in &refs {
        let (bucket, key) = owner.get(h).cloned().unwrap_or_default();
        let found = match blobs.read_chunk(h, *len) {
            Ok(bytes) => {
                report.chunks_verified += 1;
                report.bytes_verified += bytes.len() as u64;
                None
            }
            Err(StoreError::Corrupt(m)) if m.contains("missing") => Some(true),
            Err(StoreError::Corrupt(_)) => Some(false),
            Err(e) => return Err(e),
        };
        if let Pace::Online {
            bytes_per_sec,
            still_referenced,
        } = pace
        {
            // Ahead of the rate: wait until the bytes read so far are due.
            let due = std::time::Duration::from_secs_f64(
                report.bytes_verified as f64 / (*bytes_per_sec).max(1) as f64,
            );
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            // Freed and collected since the snapshot: not damage.
            if found.is_some() && !still_referenced(h)? {
                continue;
            }
        }
        match found {
            Some(true) => report.missing_chunks.push((bucket, key, hex::encode(h))),
            Some(false) => report.corrupt_chunks.push((bucket, key, hex::encode(h))),
            None => {}
        }
    }
    report.missing_chunks.sort();
    report.corrupt_chunks.sort();

    // Files nobody references (online: not looked for, a write in flight has such files).
    let orphans: Vec<Hash> = match pace {
        Pace::Offline => blobs
            .all_chunks()?
            .into_iter()
            .filter(|h| !refs.contains_key(h))
            .collect(),
        Pace::Online { .. } => Vec::new(),
    };
    report.orphan_files = orphans.len() as u64;

    // Usage counters.
    let mut fix_usage: Vec<(String, Counts)> = Vec::new();
    for (id, name) in &names {
        let Some(stored) = counters.get(name) else {
            continue; // a deleted share: its parked counters are checked on restore
        };
        let want = usage
            .get(id)
            .map_or((0, 0, 0, 0), |u| (u.bytes, u.count, u.noncurrent, u.rows));
        if *stored != want {
            report.usage_mismatches.push(name.clone());
            fix_usage.push((name.clone(), want));
        }
    }
    report.usage_mismatches.sort();
    // The running total: every live bucket's usage as repair leaves it, and the parked ones.
    // The running totals, from every live bucket's counters as repair leaves them (and the
    // parked ones' bytes), in one pass.
    let fixed: HashMap<&str, Counts> = fix_usage.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let (counted_total, counted_objects) =
        counters
            .iter()
            .fold((parked_bytes, 0u64), |(bytes, objects), (name, stored)| {
                let (b, c, _, _) = fixed.get(name.as_str()).copied().unwrap_or(*stored);
                (bytes.saturating_add(b), objects.saturating_add(c))
            });
    let meta = rtxn.open_table(META)?;
    let stored_total = crate::ops::txn::read_counter(&meta, crate::ops::txn::USAGE_TOTAL)?;
    if stored_total != counted_total {
        report.usage_total_mismatch = Some((stored_total, counted_total));
    }
    let stored_objects = crate::ops::txn::read_counter(&meta, crate::ops::txn::LIVE_OBJECTS)?;
    if stored_objects != counted_objects {
        report.live_objects_mismatch = Some((stored_objects, counted_objects));
    }
    drop(meta);

    // Subdirectory counts: recounted from the keys, compared row by row.
    let want_subdirs = subdir_counts(&entries, &inodes, &share_ids)?;
    let mut fix_subdirs: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
    let subdirs = rtxn.open_table(DIR_SUBDIRS)?;
    for e in subdirs.iter()? {
        let (k, v) = e?;
        if want_subdirs.get(k.value()) != Some(&v.value()) {
            fix_subdirs.push((k.value().to_vec(), want_subdirs.get(k.value()).copied()));
        }
    }
    for (k, n) in &want_subdirs {
        if subdirs.get(k.as_slice())?.is_none() {
            fix_subdirs.push((k.clone(), Some(*n)));
        }
    }
    report.subdir_mismatches = fix_subdirs.len() as u64;
    let (replication_mismatches, fix_replication) = crate::replication::check::check(rtxn)?;
    report.replication_mismatches = replication_mismatches;
    let fix_names = crate::ops::names::check(
        &entries,
        &inodes,
        &rtxn.open_table(crate::tables::INODE_NAMES)?,
        &share_ids,
    )?;
    report.name_mismatches = fix_names.len() as u64;
    let fix_chains = ChainFixes::find(rtxn)?;
    report.version_chain_mismatches = fix_chains.count();
    Ok((
        report,
        Fixes {
            names: fix_names,
            replication: fix_replication,
            rows: fix_rows,
            subdirs: fix_subdirs,
            usage: fix_usage,
            chains: fix_chains,
            orphans,
        },
    ))
}

/// How many subdirectories each directory of shares `ids` has, as `DIR_SUBDIRS` keys it (no
/// key: none). A key makes each directory it lies under (and a marker `a/b/` its own); keys
/// under one directory are contiguous in byte order, so a directory not under the previous key
/// is new, and counts once in its parent. Dangling entries (no inode) are left out: repair
/// removes them.
fn subdir_counts(
    entries: &impl ReadableTable<&'static [u8], u64>,
    inodes: &impl ReadableTable<u64, &'static [u8]>,
    ids: &[u64],
) -> Result<HashMap<Vec<u8>, u64>> {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for id in ids {
        let start = id.to_be_bytes();
        let mut prev: Vec<u8> = Vec::new();
        for e in entries.range(start.as_slice()..)? {
            let (k, ino) = e?;
            let Some(path) = k.value().strip_prefix(start.as_slice()) else {
                break;
            };
            if inodes.get(ino.value())?.is_none() {
                continue;
            }
            let mut parent_end = 0;
            for (i, _) in path.iter().enumerate().filter(|(_, c)| **c == b'/') {
                if !prev.starts_with(&path[..=i]) {
                    let mut key = start.to_vec();
                    key.extend_from_slice(&path[..parent_end]);
                    *counts.entry(key).or_default() += 1;
                }
                parent_end = i + 1;
            }
            prev = path.to_vec();
        }
    }
    Ok(counts)
}

fn split_entry(k: &[u8]) -> Result<(u64, String)> {
    let (id, key) = k
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt("an entry key shorter than its bucket id".into()))?;
    Ok((
        u64::from_be_bytes(*id),
        String::from_utf8_lossy(key).into_owned(),
    ))
}

impl crate::Store {
    /// fsck of this running server (`gatehouse fsck --server`, `POST /api/fsck`; administrators):
    /// the same checks against one read snapshot, so writers go on; chunk files read at most
    /// `bytes_per_sec`. Repairs nothing (stop the server and run `gatehouse fsck --repair`);
    /// files no row names are not counted (writes in flight have them).
    pub async fn fsck_online(
        &self,
        p: &crate::Principal,
        bytes_per_sec: u64,
    ) -> Result<FsckReport> {
        // As `gatehouse gc`: `create` on `storage` (administrators).
        crate::deny(crate::rbac::authorize(
            p,
            crate::rbac::Verb::Create,
            crate::rbac::Resource::Storage,
        ))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let db = this.db_durable()?;
            let rtxn = db.begin_read()?;
            let referenced = |h: &Hash| crate::chunk_referenced(this.db_durable()?, h);
            let pace = Pace::Online {
                bytes_per_sec,
                still_referenced: &referenced,
            };
            check(&rtxn, &this.inner.blobs, &pace).map(|(r, _)| r)
        })
        .await
        .map_err(StoreError::internal)?
    }
}
