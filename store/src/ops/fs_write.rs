//! Changes through the file view: create, mkdir, write, set attributes (incl. size), remove,
//! rmdir, rename of a file. Each is one transaction; the S3 view sees it at once.
//!
//! Writes patch only the chunks they touch: the bytes from the start of the first touched chunk
//! to the end of the last one are re-staged (a short last chunk is taken in, so appends do not
//! leave a trail of tiny chunks), everything before and after keeps its chunks. The commit checks
//! that the file's data is still what the patch was computed from, and retries otherwise, so
//! concurrent writers never lose each other's bytes. Patches of one inode take turns (a lock per
//! inode), so a client sending many WRITEs to one file at once does not make them retry each
//! other; the check remains for changes from S3. The store does not buffer small writes: the NFS
//! gateway's write-back buffer collects them and hands them over as extents
//! ([`Store::fs_write_extents`]), so each touched chunk window is rebuilt once per flush.

use super::storage::TIGHT_FLUSH_PIECE;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use md5::{Digest as _, Md5};
use redb::{ReadableDatabase, ReadableTable};

use super::fs::{
    DirPaths, DirTables, FsAttr, FsKind, FsMade, MAX_LINK, S_IFLNK, S_IFMT, attr_from_record,
    attr_of, check_name, check_new_name, check_unreserved, dir_attr, dir_path, file_times,
    inode_changed, is_snapshots_dir, live_bucket, live_bucket_in, meta_time, regular_file,
    snapshots_read_only,
};
use super::fs_gate::Gate;
use super::fs_link::{check_free, dir_key};
use super::ns::Ns;
use super::txn::{self, prefix_used};
use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, ChunkRef, Data, FileTimes, ObjectRecord, Principal};
use crate::rbac::Verb;
use crate::stage::{StageError, StageOptions};
use crate::tables::{self, INODE_DATA, INODES};
use crate::{Store, codec, now_ms};

/// Per-inode locks for patches; an entry lives while someone holds or waits for it.
#[derive(Default)]
pub(crate) struct FileLocks(
    std::sync::Mutex<std::collections::HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
);

impl FileLocks {
    pub(crate) fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Arc<tokio::sync::Mutex<()>>>>
    {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn lock(&self, ino: u64) -> FileGuard<'_> {
        let m = self.map().entry(ino).or_default().clone();
        let guard = m.clone().lock_owned().await;
        FileGuard {
            locks: self,
            ino,
            _guard: guard,
            _m: m,
        }
    }
}

struct FileGuard<'a> {
    locks: &'a FileLocks,
    ino: u64,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    _m: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for FileGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.map();
        // The map's reference, ours, and the guard's: nobody else waits.
        if map
            .get(&self.ino)
            .is_some_and(|m| Arc::strong_count(m) <= 3)
        {
            map.remove(&self.ino);
        }
    }
}

/// What [`Store::fs_write_extents`] writes: each range (offset, length) holds its bytes at the
/// same offset of `bytes` (a write-back buffer: a sparse scratch file,
/// [`Store::fs_scratch_file`], or chunk-sized windows in memory). Ranges are sorted, not empty
/// and do not overlap.
#[derive(Clone)]
pub struct FsExtents {
    pub bytes: Arc<dyn ExtentBytes>,
    pub ranges: Vec<(u64, u64)>,
    /// When the last of these bytes was written (ns since the epoch): the file's mtime once
    /// they are committed, as the client was told in each WRITE's reply — not the later time
    /// of the flush, which the client would take for someone else's change.
    pub written_ns: Option<i64>,
}

impl std::fmt::Debug for FsExtents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsExtents")
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

/// Where a write-back buffer holds the bytes of [`FsExtents`], each at its own offset of the
/// file, until a flush reads them.
pub trait ExtentBytes: Send + Sync {
    /// Reads the `buf.len()` bytes at `offset` (inside the extents).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// `[offset, offset + len)` as one piece held in memory, handed over without a copy, when
    /// it is held so. Asked only for a chunk-sized window the extents cover whole.
    fn whole(&self, _offset: u64, _len: u64) -> Option<Bytes> {
        None
    }
    /// A flush committed `[offset, offset + len)`: what holds those bytes may let them go
    /// (best effort).
    fn release(&self, _offset: u64, _len: u64) {}
}

/// A sparse scratch file on the data disk ([`Store::fs_scratch_file`]).
impl ExtentBytes for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    /// Punched out: a file system without hole punching keeps the bytes until the scratch
    /// file closes, as it would without this.
    fn release(&self, offset: u64, len: u64) {
        let _ = rustix::fs::fallocate(
            self,
            rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
            offset,
            len,
        );
    }
}

/// How CREATE treats an existing name (NFSv3 `createmode3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsCreate {
    /// Existing file: returned as it is.
    Unchecked,
    /// Existing name: `Conflict`.
    Guarded,
    /// Existing file created with the same verifier (a retried CREATE): returned; else
    /// `Conflict`.
    Exclusive([u8; 8]),
}

/// Attributes to set; `None` (or [`FsTime::Leave`]) leaves one alone. Stored as
/// `x-amz-meta-mode/uid/gid`; times in the record's [`FileTimes`], mtime also as
/// `x-amz-meta-mtime` (for S3 tools). Setting any of them moves the ctime (a client never sets
/// it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsSetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Truncate or extend (zeros).
    pub size: Option<u64>,
    pub atime: FsTime,
    pub mtime: FsTime,
    /// NFSv3 `sattrguard3`: the change applies only while the inode's ctime is this (Unix
    /// ns), decided inside the commit that makes it; otherwise `PreconditionFailed`.
    pub guard_ctime: Option<i64>,
}

/// One time a SETATTR may set (NFSv3 `time_how`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FsTime {
    #[default]
    Leave,
    /// The server's clock when the change commits (`SET_TO_SERVER_TIME`).
    Server,
    /// This time, Unix ns (`SET_TO_CLIENT_TIME`, nanoseconds kept).
    Client(i64),
}

impl FsTime {
    /// The time to set, if any, when the change happens at `now_ns`.
    fn at(self, now_ns: i64) -> Option<i64> {
        match self {
            FsTime::Leave => None,
            FsTime::Server => Some(now_ns),
            FsTime::Client(t) => Some(t),
        }
    }
}

impl FsSetAttr {
    /// Whether this sets an attribute besides the size (a change of the inode: its ctime moves).
    /// `PreconditionFailed` unless the guard, if any, names ctime `ctime_ns`.
    fn check_guard(&self, ctime_ns: i64) -> Result<()> {
        match self.guard_ctime {
            Some(g) if g != ctime_ns => Err(StoreError::PreconditionFailed),
            _ => Ok(()),
        }
    }

    fn sets_attrs(&self) -> bool {
        self.mode.is_some()
            || self.uid.is_some()
            || self.gid.is_some()
            || self.atime != FsTime::Leave
            || self.mtime != FsTime::Leave
    }
}

const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
const VERIFIER_META: &str = "nfs-create-verifier";
/// The commit found the data changed since the patch was computed: compute again.
const RACED: &str = "fs.write raced with another change";

pub(super) fn set_meta(rec: &mut ObjectRecord, name: &str, value: String) {
    match rec.meta.user.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value,
        None => rec.meta.user.push((name.to_string(), value)),
    }
}

/// Applies mode, uid, gid, atime and mtime of `a` to `rec` now: the ctime moves when any is
/// set (POSIX: a change of the inode).
fn apply_meta(rec: &mut ObjectRecord, a: &FsSetAttr) {
    apply_meta_at(rec, a, crate::now_unix_ns());
}

/// [`apply_meta`] at `now` (a create's attributes: at its creation time, so all three times of
/// a new file are one).
fn apply_meta_at(rec: &mut ObjectRecord, a: &FsSetAttr, now: i64) {
    if !a.sets_attrs() {
        return;
    }
    if let Some(m) = a.mode {
        // chmod changes permissions, never the type bits a link (or an s3fs file) carries.
        let kind = rec
            .meta
            .user
            .iter()
            .find(|(k, _)| k == "mode")
            .and_then(|(_, v)| v.trim().parse::<u32>().ok())
            .map_or(0, |old| old & S_IFMT);
        set_meta(rec, "mode", (kind | (m & 0o7777)).to_string());
    }
    if let Some(u) = a.uid {
        set_meta(rec, "uid", u.to_string());
    }
    if let Some(g) = a.gid {
        set_meta(rec, "gid", g.to_string());
    }
    let t = inode_changed(rec, now);
    if let Some(at) = a.atime.at(now) {
        t.atime_ns = at;
    }
    if let Some(m) = a.mtime.at(now) {
        t.mtime_ns = m;
        // S3 tools (rclone, s3fs) read a file's modification time here.
        set_meta(rec, "mtime", meta_time(m));
    }
}

/// A new empty record, all three times now (POSIX: a created file's atime, mtime, ctime).
pub(super) fn empty_record() -> ObjectRecord {
    new_record(crate::now_unix_ns())
}

/// A new empty record created at `now`.
pub(super) fn new_record(now: i64) -> ObjectRecord {
    ObjectRecord {
        size: 0,
        etag: EMPTY_MD5.into(),
        mtime_ms: now.div_euclid(1_000_000),
        meta: Default::default(),
        tags: Vec::new(),
        checksum: None,
        parts: Vec::new(),
        data: Data::default(),
        nlink: 1,
        times: Some(FileTimes {
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
        }),
        version_id: None,
        retention: None,
        legal_hold: false,
        acl: None,
        sse: None,
        part_checksums: Vec::new(),
    }
}

/// Directory `path` (inode `ino`) as write transaction `t` has it: the post-operation
/// attributes of a reply, from the commit that changed it.
pub(super) fn dir_attr_in(ns: &Ns, b: &BucketRecord, path: &str, ino: u64) -> Result<FsAttr> {
    DirTables {
        entries: ns.entries()?,
        inodes: ns.inodes()?,
        times: ns.dir_times()?,
        subdirs: ns.dir_subdirs()?,
    }
    .attr(b, path, ino)
}

/// ETag of data written through the file view: MD5 for inline data (as S3 computes it); for
/// chunks, MD5 of the chunk hashes with a `-N` suffix, which S3 clients read as a multipart ETag
/// (not an MD5 of the content, so they do not compare it with one).
fn etag_of(keyring: &crate::sse::Keyring, data: &Data) -> Result<String> {
    Ok(match data {
        Data::Inline(v) => hex::encode(Md5::digest(v)),
        Data::Sealed { seal, bytes } => {
            let mut v = bytes.clone();
            let opener = keyring.opener(seal.domain, None)?;
            opener.open(seal, &mut v)?;
            let md5: [u8; 16] = Md5::digest(&v).into();
            // SSE-KMS: keyed, as its S3 writes are (`objects::keyed_etag`).
            if matches!(seal.domain, crate::sse::Domain::Kms { .. }) {
                hex::encode(opener.keyed_etag(&md5))
            } else {
                hex::encode(md5)
            }
        }
        Data::Chunks(c) => {
            let mut m = Md5::new();
            for r in c {
                m.update(r.hash);
            }
            format!("{}-{}", hex::encode(m.finalize()), c.len())
        }
    })
}

impl Store {
    /// NFS COMMIT's promise for what the file view answered before: under `nfs.async`, every
    /// metadata change answered so far (the file's CREATE, a truncate) is durable when this
    /// returns. Without `nfs.async` everything already is.
    pub async fn fs_sync(&self) -> Result<()> {
        // Access times noted by READs are written too (see `atime`).
        self.flush_atimes().await;
        if self.inner.cfg.fs_async.is_some() {
            self.inner.committer.barrier().await?;
        }
        Ok(())
    }

    /// A file-view metadata change: durable before its answer, or under `nfs.async` within
    /// the configured window.
    pub(super) async fn fs_commit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T> + Send + 'static,
    {
        self.commit_as(false, f).await
    }

    async fn commit_as<T, F>(&self, data_write: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T> + Send + 'static,
    {
        let c = &self.inner.committer;
        if data_write || self.inner.cfg.fs_async.is_none() {
            c.write(f).await
        } else {
            c.write_deferred(f).await
        }
    }

    /// The end of a write of `len` bytes at `offset`, if a file may grow that far.
    fn write_end(&self, offset: u64, len: u64) -> Result<u64> {
        let max = self.inner.cfg.max_object_size;
        offset
            .checked_add(len)
            .filter(|e| *e <= max)
            .ok_or_else(|| {
                StoreError::EntityTooLarge(format!("a file may not grow past {max} bytes"))
            })
    }

    fn fs_dir(&self, bucket: &str, dir: u64) -> Result<(BucketRecord, String)> {
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        let path = dir_path(&rtxn, &b, dir)?;
        Ok((b, path))
    }

    pub async fn fs_create(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        name: &str,
        how: FsCreate,
        attrs: FsSetAttr,
    ) -> Result<FsMade> {
        let gate = Gate::new(p, &[Verb::Put], bucket)?;
        check_new_name(name)?;
        let bucket_s = bucket.to_string();
        let name = name.to_string();
        let keyring = self.keyring().clone();
        let (store, who) = (self.clone(), p.clone());
        // The directory is looked up in the transaction: under `nfs.async` a read outside it
        // would first commit the creates answered before (see `commit`).
        let (ino, rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = live_bucket_in(ns.buckets()?, &bucket_s)?;
                let (path, key) = dir_key(&ns, &b, dir, &name)?;
                gate.key(Verb::Put, &key)?;
                let existing = txn::lookup(&ns, b.id, &key)?;
                let sub = tables::entry_key(b.id, &format!("{key}/"));
                let is_dir = prefix_used(ns.entries()?, &sub)?;
                if let Some(ino) = existing {
                    let rec = txn::get_inode(&ns, ino)?;
                    let same_verifier = |v: &[u8; 8]| {
                        rec.meta
                            .user
                            .iter()
                            .any(|(k, x)| k == VERIFIER_META && *x == hex::encode(v))
                    };
                    // CREATE makes a regular file: an existing symbolic link, FIFO, socket or
                    // device is not one (knfsd answers EXIST too); handing it back would be a
                    // yes to another request.
                    let regular = attr_from_record(ino, FsKind::File, &rec).kind == FsKind::File;
                    return match how {
                        FsCreate::Unchecked if regular => {
                            Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
                        }
                        FsCreate::Exclusive(v) if regular && same_verifier(&v) => {
                            Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
                        }
                        _ => Err(StoreError::Conflict(format!("{key:?} exists"))),
                    };
                }
                if is_dir {
                    return Err(StoreError::Conflict(format!("{key:?} is a directory")));
                }
                // No share conflict is possible beyond that one: `name` has no `/` and its
                // directory exists, so no ancestor is a file. An empty file needs no bytes,
                // but it is one more object.
                txn::check_object_room(&ns, &b, &key)?;
                let now = crate::now_unix_ns();
                let mut rec = new_record(now);
                // In a share with default encryption even an empty file is stored (and shown
                // to S3) encrypted, as every write there is (decision 0044).
                if let Some(enc) = b.encryption {
                    let mut bytes = Vec::new();
                    let sealer = match enc.mode {
                        // SSE-KMS: the key's current version, used by this caller (audited).
                        crate::sse::SseMode::Kms { key: kms_key, .. } => store.kms_sealer(
                            &who,
                            kms_key,
                            [0; 16],
                            &b,
                            crate::kms::audit_name(Some(enc.mode), &key),
                        )?,
                        _ => std::sync::Arc::new(keyring.sealer(crate::sse::Domain::Bucket(b.id))),
                    };
                    let seal = sealer.seal(&mut bytes)?;
                    rec.data = Data::Sealed { seal, bytes };
                    rec.sse = crate::sse::mode_of(&rec.data, Some(enc.mode));
                    // An SSE-KMS object's ETag is keyed (as its S3 writes' are).
                    rec.etag = etag_of(&keyring, &rec.data)?;
                }
                apply_meta_at(&mut rec, &attrs, now);
                if let FsCreate::Exclusive(v) = how {
                    set_meta(&mut rec, VERIFIER_META, hex::encode(v));
                }
                let ino = txn::link_at(&mut ns, &mut b, &key, &mut rec, existing)?;
                Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
            })
            .await?;
        Ok(FsMade {
            attr: attr_from_record(ino, FsKind::File, &rec),
            dir: Some(dir_after),
        })
    }

    /// Creates the marker `path/name/` (what S3 clients see as a folder).
    pub async fn fs_mkdir(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        name: &str,
        attrs: FsSetAttr,
    ) -> Result<FsAttr> {
        let gate = Gate::new(p, &[Verb::Put], bucket)?;
        check_new_name(name)?;
        let (b, path) = self.fs_dir(bucket, dir)?;
        check_unreserved(&b, &path, name)?;
        let marker = format!("{path}{name}/");
        crate::naming::validate_key(crate::model::BucketKind::Share, &marker)?;
        gate.key(Verb::Put, &marker)?;
        let (bucket_s, m) = (bucket.to_string(), marker.clone());
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = txn::get_bucket(&ns, &bucket_s)?;
            let file = &m[..m.len() - 1];
            if txn::lookup(&ns, b.id, file)?.is_some()
                || prefix_used(ns.entries()?, &tables::entry_key(b.id, &m))?
            {
                return Err(StoreError::Conflict(format!("{file:?} exists")));
            }
            txn::check_share_conflicts(&ns, &b, &m)?;
            txn::check_object_room(&ns, &b, &m)?;
            let now = crate::now_unix_ns();
            let mut rec = new_record(now);
            apply_meta_at(&mut rec, &attrs, now);
            txn::link_object(&mut ns, &mut b, &m, &mut rec)
        })
        .await?;
        let ino = self.dir_inos(b.id, vec![marker.clone()]).await?[0];
        let rtxn = self.db().begin_read()?;
        dir_attr(&rtxn, &b, &marker, ino)
    }

    /// Creates symbolic link `name` → `target`: an object holding the target, with
    /// `x-amz-meta-mode` = `S_IFLNK` | the permission bits (0777 unless set). The server never
    /// follows a link; clients resolve them, so any target text is stored as given.
    pub async fn fs_symlink(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        name: &str,
        target: &[u8],
        attrs: FsSetAttr,
    ) -> Result<FsMade> {
        let gate = Gate::new(p, &[Verb::Put], bucket)?;
        check_new_name(name)?;
        if target.is_empty() || target.len() > MAX_LINK || target.contains(&0) {
            return Err(StoreError::InvalidArgument(format!(
                "a link target is 1 to {MAX_LINK} bytes without NUL"
            )));
        }
        let (b, path) = self.fs_dir(bucket, dir)?;
        check_unreserved(&b, &path, name)?;
        let key = format!("{path}{name}");
        crate::naming::validate_key(crate::model::BucketKind::Share, &key)?;
        gate.key(Verb::Put, &key)?;
        let bucket_s = bucket.to_string();
        let target = target.to_vec();
        let limit = self.inner.cfg.max_size;
        let (ino, rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket_s)?;
                check_free(&ns, &b, &key)?;
                txn::check_quota(&ns, &b, &key, target.len() as u64, limit)?;
                let now = crate::now_unix_ns();
                let mut rec = new_record(now);
                rec.size = target.len() as u64;
                let rec_target = target.clone();
                rec.data = Data::Inline(target);
                // A link's target is a name: kept as names are, in the clear.
                rec.etag = hex::encode(Md5::digest(&rec_target));
                set_meta(&mut rec, "mode", (S_IFLNK | 0o777).to_string());
                apply_meta_at(&mut rec, &attrs, now);
                let ino = txn::link_object(&mut ns, &mut b, &key, &mut rec)?;
                Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
            })
            .await?;
        Ok(FsMade {
            attr: attr_from_record(ino, FsKind::File, &rec),
            dir: Some(dir_after),
        })
    }

    /// Removes file `name` (a directory → `IsADirectory`).
    pub async fn fs_remove(&self, p: &Principal, bucket: &str, dir: u64, name: &str) -> Result<()> {
        let gate = Gate::new(p, &[Verb::Delete], bucket)?;
        check_name(name)?;
        let (b, path) = self.fs_dir(bucket, dir)?;
        // `.snapshots` in the root is the snapshots directory, whatever entry may bear its name.
        if is_snapshots_dir(&b, &path, name) {
            return Err(snapshots_read_only());
        }
        let key = format!("{path}{name}");
        gate.key(Verb::Delete, &key)?;
        let bucket_s = bucket.to_string();
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = txn::get_bucket(&ns, &bucket_s)?;
            if txn::lookup(&ns, b.id, &key)?.is_none() {
                let sub = tables::entry_key(b.id, &format!("{key}/"));
                return Err(if prefix_used(ns.entries()?, &sub)? {
                    StoreError::IsADirectory(key)
                } else {
                    StoreError::NoSuchKey
                });
            }
            crate::locks::check_file_view_key(&ns, &b, &key)?;
            txn::unlink_object(&mut ns, &mut b, &key).map(drop)
        })
        .await
    }

    /// Removes directory `name`: only its marker may be left under it (else `BucketNotEmpty`).
    pub async fn fs_rmdir(&self, p: &Principal, bucket: &str, dir: u64, name: &str) -> Result<()> {
        let gate = Gate::new(p, &[Verb::Delete], bucket)?;
        check_name(name)?;
        let (b, path) = self.fs_dir(bucket, dir)?;
        if is_snapshots_dir(&b, &path, name) {
            return Err(snapshots_read_only());
        }
        let file = format!("{path}{name}");
        gate.key(Verb::Delete, &format!("{file}/"))?;
        let bucket_s = bucket.to_string();
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = txn::get_bucket(&ns, &bucket_s)?;
            if txn::lookup(&ns, b.id, &file)?.is_some() {
                return Err(StoreError::NotADirectory(file));
            }
            let marker = format!("{file}/");
            let prefix = tables::entry_key(b.id, &marker);
            let mut others = false;
            let mut has_marker = false;
            {
                for e in ns.entries()?.range(prefix.as_slice()..)? {
                    let (k, _) = e?;
                    let k = k.value();
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    if k.len() == prefix.len() {
                        has_marker = true;
                    } else {
                        others = true;
                        break;
                    }
                }
            }
            if others {
                return Err(StoreError::BucketNotEmpty);
            }
            if !has_marker {
                return Err(StoreError::NoSuchKey);
            }
            txn::unlink_object(&mut ns, &mut b, &marker).map(drop)
        })
        .await
    }

    /// Moves `from` to `to` in one transaction; the inode (hence handles and file id) goes
    /// with it. A file replaces a file at `to`; a directory replaces an empty directory and
    /// moves every key under it (metadata only, O(keys under it)).
    pub async fn fs_rename(
        &self,
        p: &Principal,
        bucket: &str,
        from: (u64, &str),
        to: (u64, &str),
    ) -> Result<()> {
        let gate = Gate::new(p, &[Verb::Delete, Verb::Put], bucket)?;
        check_name(from.1)?;
        check_name(to.1)?;
        let (b, fpath) = self.fs_dir(bucket, from.0)?;
        let (_, tpath) = self.fs_dir(bucket, to.0)?;
        // `.snapshots` in the root is the snapshots directory, whatever entry may bear its name.
        if is_snapshots_dir(&b, &fpath, from.1) {
            return Err(snapshots_read_only());
        }
        check_unreserved(&b, &tpath, to.1)?;
        let (src, dst) = (format!("{fpath}{}", from.1), format!("{tpath}{}", to.1));
        crate::naming::validate_key(crate::model::BucketKind::Share, &dst)?;
        // A move is S3's copy and delete: read and delete there, put here — decided before
        // anything about either name is looked at, so a refusal tells nothing of them.
        gate.key(Verb::Get, &src)?;
        gate.key(Verb::Delete, &src)?;
        gate.key(Verb::Put, &dst)?;
        let bucket_s = bucket.to_string();
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = txn::get_bucket(&ns, &bucket_s)?;
            let Some(ino) = txn::lookup(&ns, b.id, &src)? else {
                let sub = tables::entry_key(b.id, &format!("{src}/"));
                return if prefix_used(ns.entries()?, &sub)? {
                    rename_dir(&mut ns, &mut b, &src, &dst, &gate)?;
                    if src != dst {
                        renamed_dir_changed(&mut ns, &b, &format!("{dst}/"))?;
                    }
                    Ok(())
                } else {
                    Err(StoreError::NoSuchKey)
                };
            };
            // The read of the move, on the tags the file has (a policy reading them).
            if gate.reads_tags() {
                gate.read(&src, &txn::inode_attrs(&ns, ino)?.tags)?;
            }
            // Two names of one inode (or one name twice): POSIX rename(2) does nothing.
            if src == dst || txn::lookup(&ns, b.id, &dst)? == Some(ino) {
                return Ok(());
            }
            let dsub = tables::entry_key(b.id, &format!("{dst}/"));
            if prefix_used(ns.entries()?, &dsub)? {
                return Err(StoreError::IsADirectory(dst));
            }
            txn::check_share_conflicts(&ns, &b, &dst)?;
            crate::locks::check_file_view_key(&ns, &b, &src)?;
            crate::locks::check_file_view_key(&ns, &b, &dst)?;
            // A replaced name that is a hard link takes only itself away (decision 0021); in a
            // versioned share what it held stays as a noncurrent version (decision 0038).
            txn::unlink_replaced(&mut ns, &mut b, &dst)?;
            ns.entries_mut()?
                .remove(tables::entry_key(b.id, &src).as_slice())?;
            txn::entry_removed(&mut ns, &b, &src)?;
            txn::entry_added(&mut ns, &b, &dst)?;
            ns.entries_mut()?
                .insert(tables::entry_key(b.id, &dst).as_slice(), ino)?;
            super::names::clear(&mut ns, &b, &src, ino)?;
            super::names::set(&mut ns, &b, &dst, ino, None)?;
            if b.replicated {
                crate::replication::queue::key_renamed(&mut ns, &b, &src, &dst)?;
            }
            // The renamed inode changed (POSIX: its ctime moves); a replica renamed here is this
            // site's own from now on (its new name is sent).
            let mut rec = txn::get_inode(&ns, ino)?;
            inode_changed(&mut rec, crate::now_unix_ns());
            crate::replication::queue::make_local(&mut rec);
            crate::versioning::rows::renamed_to(&mut ns, &mut b, &dst, &mut rec)?;
            txn::put_inode(&mut ns, ino, &rec, false)?;
            // Its new name falls due by the rules for that name; the old one's row goes.
            super::expiry_index::unschedule(&mut ns, &b, &src, rec.mtime_ms)?;
            super::expiry_index::schedule(&mut ns, &b, &dst, rec.mtime_ms)?;
            if b.versioning.is_on() {
                // S3 sees a move as a copy and a delete: the old name gets a delete marker over
                // its versions (the file's own history moves with it).
                crate::versioning::rows::add_marker(&mut ns, &mut b, &src)?;
                txn::put_bucket(&mut ns, &b)?;
            }
            Ok(())
        })
        .await
    }

    /// Writes `data` at `offset` of file `ino`; durable when this returns.
    pub async fn fs_write(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        offset: u64,
        data: Bytes,
    ) -> Result<FsAttr> {
        // RFC 1813 §3.3.7: no bytes, no change (no size past the end, no new times).
        if data.is_empty() {
            return self.fs_write_check(p, bucket, ino, 0);
        }
        self.fs_may(p, Verb::Put, bucket, ino)?;
        let end = self.write_end(offset, data.len() as u64)?;
        self.patch(
            p,
            bucket,
            ino,
            Patch::Write {
                offset,
                end,
                data: vec![data],
            },
            FsSetAttr::default(),
            true,
        )
        .await
    }

    /// Writes many extents of file `ino` in one commit (a write-back buffer's flush): each
    /// chunk-sized window they touch is rebuilt and hashed once, however many small writes
    /// landed in it. The bytes are read from `extents.file` as the windows are built, so memory
    /// stays bounded by one run of windows however much was buffered.
    pub async fn fs_write_extents(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        extents: FsExtents,
    ) -> Result<FsAttr> {
        self.fs_may(p, Verb::Put, bucket, ino)?;
        let mut end = 0u64;
        for (off, len) in &extents.ranges {
            if *off < end || *len == 0 {
                return Err(StoreError::InvalidArgument(
                    "write extents overlap, are empty or are out of order".into(),
                ));
            }
            end = self.write_end(*off, *len)?;
        }
        if extents.ranges.is_empty() {
            return self.fs_getattr(p, bucket, ino);
        }
        // Buffered bytes may wait in a scratch file until the commit, and the chunk files take
        // them again before it: on a disk without room for both (bytes held in memory are
        // counted too, to be safe), the flush goes in pieces, each committed and then released
        // (punched out of the scratch file), so no more than one piece is
        // on the disk twice (the reserve FSSTAT keeps covers it) and a write that FSSTAT's
        // free space promised fits.
        let buffered: u64 = extents.ranges.iter().map(|r| r.1).sum();
        let tight = super::storage::disk_space(self.data_dir())
            .is_none_or(|d| d.free_bytes < buffered.saturating_mul(2).saturating_add(64 << 20));
        if !tight || buffered <= TIGHT_FLUSH_PIECE {
            return self
                .patch(
                    p,
                    bucket,
                    ino,
                    Patch::Extents(extents),
                    FsSetAttr::default(),
                    true,
                )
                .await;
        }
        let mut last = None;
        for piece in pieces(&extents.ranges, TIGHT_FLUSH_PIECE) {
            let part = FsExtents {
                bytes: extents.bytes.clone(),
                ranges: piece.clone(),
                written_ns: extents.written_ns,
            };
            let attr = self
                .patch(
                    p,
                    bucket,
                    ino,
                    Patch::Extents(part),
                    FsSetAttr::default(),
                    true,
                )
                .await?;
            for (off, len) in piece {
                extents.bytes.release(off, len);
            }
            last = Some(attr);
        }
        last.ok_or_else(|| StoreError::internal("a flush of no pieces"))
    }

    /// An empty scratch file on the data disk, gone when closed (no name): where a write-back
    /// buffer keeps bytes for [`Self::fs_write_extents`] (page cache, not process memory).
    pub fn fs_scratch_file(&self) -> Result<std::fs::File> {
        self.inner.blobs.scratch_file()
    }

    /// Whether a write of `[offset, end)` to file `ino` may go ahead: the caller may put, the
    /// inode is a live regular file, and the growth fits the quotas now (the commit checks
    /// again). For a write-back buffer, which answers before it commits. `grows_to`: the size
    /// the file will have, counting writes buffered but not committed yet.
    pub fn fs_write_check(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        grows_to: u64,
    ) -> Result<FsAttr> {
        self.fs_may(p, Verb::Put, bucket, ino)?;
        self.write_end(grows_to, 0)?;
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        // (with the file's encryption: the key the flush seals under, else the share's default)
        let (mut attr, file_sse) = super::fs::attr_and_sse(&rtxn, &b, ino)?;
        regular_file(&attr)?;
        // An SSE-C file is written over S3 with its key only (as `patch` refuses it).
        if matches!(file_sse, Some(crate::sse::SseMode::Customer { .. })) {
            return Err(StoreError::AccessDenied(format!(
                "inode {ino} is encrypted with a customer-provided key (SSE-C): it is written \
                 over S3 with that key only"
            )));
        }
        if file_sse.is_some() || b.encryption.is_some() {
            let name = format!("inode {ino}");
            let audit = crate::kms::audit_name(file_sse.or(b.encryption.map(|e| e.mode)), &name);
            self.kms_may_write(p, &b, audit, file_sse)?;
        }
        self.atime_shown([&mut attr]);
        if grows_to > attr.size {
            txn::ensure_room(&b, grows_to - attr.size, self.inner.cfg.max_size, || {
                self.total_usage()
            })?;
        }
        Ok(attr)
    }

    /// SETATTR: size (truncate or extend with zeros), mode, uid, gid, atime, mtime. Any of
    /// them moves the ctime; a size (even the same) moves the mtime too, as ftruncate does.
    pub async fn fs_setattr(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        attrs: FsSetAttr,
    ) -> Result<FsAttr> {
        self.fs_may(p, Verb::Put, bucket, ino)?;
        let is_dir = {
            let rtxn = self.db().begin_read()?;
            let b = live_bucket(&rtxn, bucket)?;
            attr_of(&rtxn, &b, ino)?.kind == FsKind::Dir
        };
        if is_dir {
            if attrs.size.is_some() {
                return Err(StoreError::IsADirectory(format!("inode {ino}")));
            }
            return self.dir_setattr(bucket, ino, attrs).await;
        }
        let patch = match attrs.size {
            Some(s) if s > self.inner.cfg.max_object_size => {
                return Err(StoreError::EntityTooLarge(format!("{s} bytes")));
            }
            Some(s) => Patch::Resize(s),
            None => Patch::None,
        };
        self.patch(p, bucket, ino, patch, attrs, false).await
    }

    /// SETATTR of directory `ino`: its attributes live in its marker object (`path/`). An
    /// implicit directory (keys under it, no marker) gets its marker in the same commit, so
    /// chmod, chown and times stick and S3 sees the folder object. The root, which has no key,
    /// keeps its record under its own inode number, with no entry. A time set shows until the
    /// listing next changes (see decision 0009).
    async fn dir_setattr(&self, bucket: &str, ino: u64, attrs: FsSetAttr) -> Result<FsAttr> {
        if !attrs.sets_attrs() {
            let rtxn = self.db().begin_read()?;
            let b = live_bucket(&rtxn, bucket)?;
            let a = attr_of(&rtxn, &b, ino)?;
            attrs.check_guard(a.ctime_ns)?;
            return Ok(a);
        }
        let bucket_s = bucket.to_string();
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = live_bucket_in(ns.buckets()?, &bucket_s)?;
            let found = DirPaths {
                paths: ns.dir_paths()?,
                entries: ns.entries()?,
            }
            .path(&b, ino)?;
            let Some(path) = found else {
                return Err(StoreError::Stale);
            };
            let shown = dir_attr_in(&ns, &b, &path, ino)?;
            attrs.check_guard(shown.ctime_ns)?;
            let marker = if path.is_empty() {
                ns.inodes()?.get(ino)?.map(|_| ino)
            } else {
                txn::lookup(&ns, b.id, &path)?
            };
            match marker {
                Some(m) => {
                    let mut rec = txn::get_inode(&ns, m)?;
                    // The mtime shown (its listing's last change, when later) is kept: the
                    // record's ctime moves past that change, after which it would not show.
                    let mut times = file_times(&rec);
                    times.mtime_ns = shown.mtime_ns;
                    rec.times = Some(times);
                    apply_meta(&mut rec, &attrs);
                    crate::replication::queue::make_local(&mut rec);
                    txn::put_inode(&mut ns, m, &rec, false)?;
                    if b.replicated {
                        crate::replication::queue::inode_changed(&mut ns, &b, m)?;
                    }
                }
                None => {
                    // The new record starts from what the directory showed.
                    let mut rec = empty_record();
                    rec.times = Some(FileTimes {
                        atime_ns: shown.atime_ns,
                        mtime_ns: shown.mtime_ns,
                        ctime_ns: shown.ctime_ns,
                    });
                    apply_meta(&mut rec, &attrs);
                    if path.is_empty() {
                        txn::put_inode(&mut ns, ino, &rec, false)?;
                    } else {
                        // The parent's listing does not change: it showed this directory.
                        let parent = tables::entry_key(b.id, super::fs::parent_path(&path));
                        let before = ns.dir_times()?.get(parent.as_slice())?.map(|v| v.value());
                        txn::link_object(&mut ns, &mut b, &path, &mut rec)?;
                        let times = ns.dir_times_mut()?;
                        match before {
                            Some(v) => times.insert(parent.as_slice(), v)?,
                            None => times.remove(parent.as_slice())?,
                        };
                    }
                }
            }
            if attrs.mtime != FsTime::Leave {
                // A time set on a directory shows until its listing next changes.
                ns.dir_times_mut()?
                    .remove(tables::entry_key(b.id, &path).as_slice())?;
            }
            dir_attr_in(&ns, &b, &path, ino)
        })
        .await
    }

    /// Applies `patch` and `attrs` to inode `ino`. `data_write`: a WRITE's bytes, durable before
    /// the answer whatever `nfs.async` says (a SETATTR is metadata).
    async fn patch(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        patch: Patch,
        attrs: FsSetAttr,
        data_write: bool,
    ) -> Result<FsAttr> {
        let _turn = self.inner.file_locks.lock(ino).await;
        let written_at = match &patch {
            Patch::Extents(x) => x.written_ns,
            _ => None,
        };
        for _ in 0..16 {
            let (old_rec, old_data, is_dir, is_link) = {
                let rtxn = self.db().begin_read()?;
                let b = live_bucket(&rtxn, bucket)?;
                let attr = attr_of(&rtxn, &b, ino)?;
                let rec: Option<ObjectRecord> = rtxn
                    .open_table(INODES)?
                    .get(ino)?
                    .map(|v| codec::decode(v.value()))
                    .transpose()?;
                let data: Data = match rtxn.open_table(INODE_DATA)?.get(ino)? {
                    Some(d) => codec::decode(d.value())?,
                    None => Data::default(),
                };
                (
                    rec,
                    data,
                    attr.kind == FsKind::Dir,
                    // A link or a special file: no data a write or a size could change.
                    !matches!(attr.kind, FsKind::File | FsKind::Dir),
                )
            };
            if is_dir && !matches!(patch, Patch::None) {
                return Err(StoreError::IsADirectory(format!("inode {ino}")));
            }
            if is_link && !matches!(patch, Patch::None) {
                return Err(StoreError::InvalidArgument(format!(
                    "inode {ino} is a symbolic link (its target is set by SYMLINK only) or a special file"
                )));
            }
            if is_dir {
                // A directory's attributes are set by `dir_setattr`; it has no data.
                return Err(StoreError::IsADirectory(format!("inode {ino}")));
            }
            let Some(old_rec) = old_rec else {
                return Err(StoreError::Stale);
            };
            // Refuse before staging what the quota cannot take (an extend of gigabytes of
            // zeros would otherwise be hashed first); the commit checks again.
            let grows_to = match &patch {
                Patch::Write { end, .. } => (*end).max(old_rec.size),
                Patch::Extents(x) => x
                    .ranges
                    .last()
                    .map_or(0, |(o, len)| o + len)
                    .max(old_rec.size),
                Patch::Resize(s) => *s,
                Patch::None => old_rec.size,
            };
            if grows_to > old_rec.size {
                let rtxn = self.db().begin_read()?;
                let b = live_bucket(&rtxn, bucket)?;
                txn::ensure_room(&b, grows_to - old_rec.size, self.inner.cfg.max_size, || {
                    self.total_usage()
                })?;
            }
            // An SSE-C file's bytes are written over S3 with its key only: the file view has none.
            if matches!(old_rec.sse, Some(crate::sse::SseMode::Customer { .. }))
                && !matches!(patch, Patch::None)
            {
                return Err(StoreError::AccessDenied(format!(
                    "inode {ino} is encrypted with a customer-provided key (SSE-C): it is written \
                     over S3 with that key only"
                )));
            }
            // New bytes are sealed as the file's are (SSE-S3), or by the share's default
            // (decision 0044): a write never leaves an encrypted file partly in the clear.
            // Only a change of the bytes seals (a chmod or utimes uses no key); and rewriting
            // bytes sealed under a key of the key service reads them: `use` of that key first
            // (decision 0046).
            let seal = if matches!(patch, Patch::None) {
                None
            } else {
                let name = format!("inode {ino}");
                let audit = crate::kms::audit_name(old_rec.sse, &name);
                self.kms_check_open(p, &old_data, (bucket, audit))?;
                let rtxn = self.db().begin_read()?;
                let asked = old_rec
                    .sse
                    .filter(|m| !matches!(m, crate::sse::SseMode::Customer { .. }));
                self.sealer_for(p, &live_bucket(&rtxn, bucket)?, &name, asked)?
                    .1
            };
            let staged = match &patch {
                Patch::Extents(x) => self.stage_extents(&old_rec, &old_data, x, &seal).await?,
                p => self
                    .stage_patch(&old_rec, &old_data, p, &seal)
                    .await?
                    .map(|(d, s, pins)| (d, s, pins.into_iter().collect())),
            };
            let (new_data, new_size, pins) = match staged {
                Some((d, s, pins)) => (d, s, pins),
                None => (old_data.clone(), old_rec.size, Vec::new()),
            };
            let new_etag = if matches!(patch, Patch::None) {
                old_rec.etag.clone()
            } else {
                etag_of(self.keyring(), &new_data)?
            };
            let bucket_s = bucket.to_string();
            // Compared with what the commit finds, as values (no encoding of either manifest).
            let old_manifest = old_data;
            let changes_data = !matches!(patch, Patch::None);
            let limit = self.inner.cfg.max_size;
            let atimes = self.inner.atimes.clone();
            let this = self.clone();
            let commit = async move {
                this.commit_as(data_write, move |t| {
                    let mut ns = Ns::new(t);
                    let mut rec = txn::get_inode(&ns, ino).map_err(|_| StoreError::Stale)?;
                    if rec.data != old_manifest || rec.size != old_rec.size {
                        return Err(StoreError::Conflict(RACED.into()));
                    }
                    attrs.check_guard(file_times(&rec).ctime_ns)?;
                    let mut b = txn::get_bucket(&ns, &bucket_s)?;
                    if b.object_lock.is_some() {
                        crate::locks::check_file_view(&rec)?;
                    }
                    // A versioned share keeps what a run of writes replaces (decision 0038),
                    // once per run; the kept copy's bytes count, so the quota is asked for the
                    // whole new size then. Checked before anything is written.
                    let now = now_ms();
                    let keeps =
                        changes_data && crate::versioning::rows::keeps_inode_version(&b, &rec, now);
                    if changes_data {
                        let grow = if keeps {
                            new_size
                        } else {
                            new_size.saturating_sub(rec.size)
                        };
                        txn::ensure_room(&b, grow, limit, || txn::total_usage(&ns))?;
                    }
                    if keeps {
                        let id = crate::versioning::rows::keep_inode_version(
                            &mut ns, &mut b, ino, &rec, now,
                        )?;
                        rec.version_id = Some(id);
                    }
                    if changes_data {
                        let usage = b
                            .usage_bytes
                            .saturating_sub(rec.size)
                            .saturating_add(new_size);
                        txn::incref(&mut ns, new_data.chunks())?;
                        txn::decref(&mut ns, rec.data.chunks())?;
                        b.usage_bytes = usage;
                        txn::put_bucket(&mut ns, &b)?;
                        rec.size = new_size;
                        rec.etag = new_etag;
                        // Encrypted as S3 reports it only when every byte is (decision 0044).
                        rec.sse = crate::sse::mode_of(&new_data, rec.sse);
                        rec.data = new_data;
                        rec.mtime_ms = now_ms();
                        rec.checksum = None;
                        rec.parts.clear();
                        rec.part_checksums.clear();
                        // New content is modified now, whatever mtime was set before; a
                        // truncate or extend is a change of the data too (as ftruncate).
                        rec.meta.user.retain(|(k, _)| k != "mtime");
                        // Buffered writes are modified when they were written (what their
                        // replies said); ctime never moves back past a change made since.
                        let now = crate::now_unix_ns();
                        let at = written_at.map_or(now, |w| w.min(now));
                        let changed = at.max(file_times(&rec).ctime_ns);
                        inode_changed(&mut rec, changed).mtime_ns = at;
                    }
                    apply_meta(&mut rec, &attrs);
                    if attrs.atime != FsTime::Leave {
                        // A READ's pending atime must not land over the one set here: forgot
                        // in this transaction, so a batch (also written in one) is before or
                        // after it, never across (see `atime`).
                        atimes.forget(ino);
                    }
                    crate::replication::queue::make_local(&mut rec);
                    txn::put_inode(&mut ns, ino, &rec, changes_data)?;
                    if changes_data && super::expiry_index::object_filter_rules(&b) {
                        // A rule's size filter may select the file now.
                        super::expiry_index::reschedule_names(
                            &mut ns,
                            &b,
                            None,
                            ino,
                            rec.mtime_ms,
                        )?;
                    }
                    if b.replicated {
                        crate::replication::queue::inode_changed(&mut ns, &b, ino)?;
                    }
                    Ok(attr_from_record(ino, FsKind::File, &rec))
                })
                .await
            };
            // A race lost (the file changed since it was read) discarded what was staged,
            // as any failed commit does; the loop stages again.
            match self.commit_staged(pins, commit).await {
                Err(StoreError::Conflict(m)) if m == RACED => {}
                Ok(mut a) => {
                    self.atime_shown([&mut a]);
                    return Ok(a);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Internal(
            "a file kept changing under a write; gave up after 16 attempts".into(),
        ))
    }

    /// Stages many extents: the chunk-sized windows they touch, each rebuilt once (old bytes
    /// where no extent covers it, zeros past the old end, then the extents' bytes from where
    /// the buffer holds them) in a chunk buffer of the store's spare ones — or, for a window the
    /// extents cover whole and the buffer holds in memory, taken as it is, not copied — and
    /// staged in runs of adjacent windows of at most [`RUN_MAX`] bytes, so memory stays bounded
    /// whatever was buffered.
    async fn stage_extents(
        &self,
        rec: &ObjectRecord,
        data: &Data,
        x: &FsExtents,
        seal: &Option<Arc<crate::sse::Sealer>>,
    ) -> Result<Option<(Data, u64, Vec<crate::stage::Staged>)>> {
        let extents = &x.ranges[..];
        let Some(last_end) = extents.last().map(|(o, len)| o + len) else {
            return Ok(None);
        };
        let chunk = self.inner.cfg.chunk_size as u64;
        let old_size = rec.size;
        let new_size = old_size.max(last_end);
        let mut cur = rec.clone();
        cur.data = data.clone();
        let mut pins = Vec::new();
        let mut run: Option<Run> = None;
        let (mut i, mut pos) = (0, 0u64);
        while i < extents.len() {
            // An extent may go on from the window before: start where that one ended.
            let wstart = extents[i].0.max(pos) / chunk * chunk;
            let wend = (wstart + chunk).min(new_size);
            // The window goes on the end of the current run, or starts the next one.
            let continues =
                matches!(&run, Some(r) if r.end() == wstart && r.len() < RUN_MAX as u64);
            if !continues {
                if let Some(r) = run.take() {
                    self.stage_run(&mut cur, r, &mut pins, seal).await?;
                }
                run = Some(Run {
                    start: wstart,
                    windows: Vec::new(),
                });
            }
            let Some(r) = run.as_mut() else {
                return Err(StoreError::Internal("no run to stage into".into()));
            };
            // Extents never overlap, so they cover the whole window when their lengths in it
            // add up to it: then they are its bytes in order. Otherwise the window starts as the
            // old content (zeros past the old end) and the extents are laid over it.
            let covered: u64 = extents[i..]
                .iter()
                .take_while(|(o, _)| *o < wend)
                .map(|(o, len)| (o + len).min(wend) - (*o).max(wstart))
                .sum();
            let covers_window = covered == wend - wstart;
            if let Some(window) = covers_window
                .then(|| x.bytes.whole(wstart, wend - wstart))
                .flatten()
            {
                r.windows.push(window);
                while i < extents.len() && extents[i].0 + extents[i].1 <= wend {
                    i += 1;
                }
                pos = wend;
                continue;
            }
            let mut buf = self.inner.blobs.chunk_buffer(chunk as usize);
            buf.resize((wend - wstart) as usize, 0);
            if !covers_window && wstart < old_size {
                let mut at = 0;
                let mut st = std::pin::pin!(self.read_data(data, wstart..wend.min(old_size)));
                while let Some(piece) = st.next().await {
                    let piece = piece?;
                    buf[at..at + piece.len()].copy_from_slice(&piece);
                    at += piece.len();
                }
            }
            while i < extents.len() && extents[i].0 < wend {
                let (o, len) = extents[i];
                let from = o.max(wstart);
                let to = (o + len).min(wend);
                let at = (from - wstart) as usize;
                x.bytes
                    .read_exact_at(&mut buf[at..at + (to - from) as usize], from)
                    .map_err(StoreError::io)?;
                if o + len > wend {
                    break; // the extent goes on into the next window
                }
                i += 1;
            }
            r.windows.push(buf.freeze());
            pos = wend;
        }
        if let Some(r) = run {
            self.stage_run(&mut cur, r, &mut pins, seal).await?;
        }
        Ok(Some((cur.data, new_size, pins)))
    }

    /// Stages one run of [`Self::stage_extents`] over the file as the runs before it left it.
    async fn stage_run(
        &self,
        cur: &mut ObjectRecord,
        run: Run,
        pins: &mut Vec<crate::stage::Staged>,
        seal: &Option<Arc<crate::sse::Sealer>>,
    ) -> Result<()> {
        let (offset, end) = (run.start, run.end());
        let patch = Patch::Write {
            offset,
            end,
            data: run.windows,
        };
        if let Some((d, size, staged)) = self.stage_patch(cur, &cur.data, &patch, seal).await? {
            cur.data = d;
            cur.size = size;
            pins.extend(staged);
        }
        Ok(())
    }

    /// Stages the region a patch rewrites; `None` when the data does not change.
    async fn stage_patch(
        &self,
        rec: &ObjectRecord,
        data: &Data,
        patch: &Patch,
        seal: &Option<Arc<crate::sse::Sealer>>,
    ) -> Result<Option<(Data, u64, Option<crate::stage::Staged>)>> {
        let old_size = rec.size;
        let (a, new_size) = match patch {
            Patch::None => return Ok(None),
            Patch::Write { offset, end, .. } => ((*offset).min(old_size), old_size.max(*end)),
            Patch::Resize(s) if *s == old_size => return Ok(None),
            Patch::Resize(s) => ((*s).min(old_size), *s),
            Patch::Extents(_) => {
                return Err(StoreError::internal("extents are staged by stage_extents"));
            }
        };
        // The old data as (start, end, chunk) pieces; inline bytes are one piece.
        let mut pieces: Vec<(u64, u64, Option<ChunkRef>)> = Vec::new();
        match data {
            Data::Inline(v) if !v.is_empty() => pieces.push((0, v.len() as u64, None)),
            Data::Inline(_) => {}
            Data::Sealed { .. } if old_size > 0 => pieces.push((0, old_size, None)),
            Data::Sealed { .. } => {}
            Data::Chunks(c) => {
                let mut off = 0;
                for r in c {
                    pieces.push((off, off + u64::from(r.len), Some(*r)));
                    off += u64::from(r.len);
                }
            }
        }
        let chunk = self.inner.cfg.chunk_size as u64;
        // First rewritten piece: the one containing `a`, or a short last piece we append to.
        let first = pieces
            .iter()
            .position(|(s, e, c)| {
                *e > a
                    || (*e == a
                        && c.is_none_or(|c| u64::from(c.len) < chunk)
                        && *e == old_size
                        && *s < a)
            })
            .unwrap_or(pieces.len());
        let region_start = pieces.get(first).map_or(old_size, |p| p.0).min(a);
        let patch_end = match patch {
            Patch::Write { end, .. } => *end,
            _ => new_size,
        };
        // Last rewritten piece: the ones overlapping [a, patch_end) (none past the new size).
        let mut last = first;
        while last < pieces.len() && pieces[last].0 < patch_end.min(new_size) {
            last += 1;
        }
        let region_end = match patch {
            Patch::Resize(_) | Patch::None | Patch::Extents(_) => new_size,
            Patch::Write { .. } => pieces[first..last]
                .last()
                .map_or(patch_end, |p| p.1.max(patch_end)),
        };
        let keep_before: Vec<ChunkRef> = pieces[..first].iter().filter_map(|p| p.2).collect();
        let keep_after: Vec<ChunkRef> = match patch {
            Patch::Resize(_) | Patch::None | Patch::Extents(_) => Vec::new(),
            Patch::Write { .. } => pieces[last..].iter().filter_map(|p| p.2).collect(),
        };
        let kept_after = match patch {
            Patch::Resize(_) | Patch::None | Patch::Extents(_) => &pieces[..0],
            Patch::Write { .. } => &pieces[last..],
        };
        if pieces[..first]
            .iter()
            .chain(kept_after)
            .any(|p| p.2.is_none())
        {
            return Err(StoreError::internal(
                "inline data outside a rewritten region",
            ));
        }
        // The region's new bytes, streamed: old head, zeros up to the write, the data, old tail.
        let old_region_end = region_end.min(old_size);
        let mut parts: Vec<Part> = Vec::new();
        match patch {
            Patch::Write {
                offset,
                end,
                data: bytes,
            } => {
                let head_end = (*offset).min(old_size);
                if head_end > region_start {
                    parts.push(Part::Old(region_start, head_end));
                }
                if *offset > old_size {
                    parts.push(Part::Zeros(*offset - old_size.max(region_start)));
                }
                parts.extend(bytes.iter().map(|b| Part::Bytes(b.clone())));
                if old_region_end > *end {
                    parts.push(Part::Old(*end, old_region_end));
                }
            }
            Patch::Resize(s) => {
                if old_region_end > region_start {
                    parts.push(Part::Old(region_start, old_region_end));
                }
                if *s > old_size {
                    parts.push(Part::Zeros(*s - old_size.max(region_start)));
                }
            }
            Patch::None | Patch::Extents(_) => {}
        }
        // Old bytes are at most the two chunks at the region's ends; zeros are made as they are
        // consumed, so extending a file by gigabytes does not hold them in memory.
        let mut ready: Vec<Part> = Vec::new();
        for part in parts {
            match part {
                Part::Old(s, e) => {
                    let mut st = std::pin::pin!(self.read_data(data, s..e));
                    while let Some(b) = st.next().await {
                        ready.push(Part::Bytes(b?));
                    }
                }
                other => ready.push(other),
            }
        }
        let inline_ok = keep_before.is_empty() && keep_after.is_empty();
        let body =
            stream::iter(ready)
                .flat_map(|p| match p {
                    Part::Zeros(n) => {
                        let step = 1u64 << 20;
                        stream::iter((0..n.div_ceil(step)).map(move |i| {
                            Bytes::from(vec![0u8; (n - i * step).min(step) as usize])
                        }))
                        .left_stream()
                    }
                    Part::Bytes(b) => stream::iter(vec![b]).right_stream(),
                    Part::Old(..) => stream::iter(Vec::new()).right_stream(),
                })
                .map(Ok::<_, std::convert::Infallible>);
        let staged = self
            .stage(
                body,
                &StageOptions {
                    md5: false,
                    sha256: false,
                    checksum: None,
                    max_size: self.inner.cfg.max_object_size,
                    allow_inline: inline_ok,
                    seal: seal.clone(),
                },
            )
            .await
            .map_err(|e| match e {
                StageError::Store(e) => e,
                StageError::Body(never) => match never {},
            })?;
        let new_data = match &staged.data {
            Data::Inline(v) => Data::Inline(v.clone()),
            Data::Sealed { seal, bytes } => Data::Sealed {
                seal: *seal,
                bytes: bytes.clone(),
            },
            Data::Chunks(c) => {
                let mut all = keep_before;
                all.extend_from_slice(c);
                all.extend(keep_after);
                Data::Chunks(all)
            }
        };
        Ok(Some((new_data, new_size, Some(staged))))
    }
}

/// A renamed directory (now at `path`) changed: its marker's ctime moves; an implicit one has
/// no record, so its change time (mtime and ctime, decision 0009) moves instead.
fn renamed_dir_changed(ns: &mut Ns, b: &BucketRecord, path: &str) -> Result<()> {
    match txn::lookup(ns, b.id, path)? {
        Some(m) => {
            let mut rec = txn::get_inode(ns, m)?;
            inode_changed(&mut rec, crate::now_unix_ns());
            txn::put_inode(ns, m, &rec, false)
        }
        None => txn::dir_touched(ns, b.id, path),
    }
}

/// Renames directory `src` (no trailing slash) to `dst`: every entry under `src/` moves under
/// `dst/`, and the recorded directory inodes with them, so handles of the directory and of
/// everything below it stay valid. All checks come before the first change.
fn rename_dir(ns: &mut Ns, b: &mut BucketRecord, src: &str, dst: &str, gate: &Gate) -> Result<()> {
    if src == dst {
        return Ok(());
    }
    let (sp, dp) = (format!("{src}/"), format!("{dst}/"));
    if dp.starts_with(&sp) {
        return Err(StoreError::InvalidArgument(format!(
            "cannot move {src:?} into itself"
        )));
    }
    if txn::lookup(ns, b.id, dst)?.is_some() {
        return Err(StoreError::NotADirectory(dst.to_string()));
    }
    txn::check_share_conflicts(ns, b, &dp)?;
    let bid = b.id;
    let collect = |table: &redb::Table<&[u8], u64>, prefix: &str| -> Result<Vec<(Vec<u8>, u64)>> {
        let p = tables::entry_key(bid, prefix);
        let mut out = Vec::new();
        for e in table.range(p.as_slice()..)? {
            let (k, v) = e?;
            if !k.value().starts_with(&p) {
                break;
            }
            out.push((k.value().to_vec(), v.value()));
        }
        Ok(out)
    };
    let entries = ns.entries()?;
    let target = collect(entries, &dp)?;
    if target.iter().any(|(k, _)| k.len() > 8 + dp.len()) {
        return Err(StoreError::BucketNotEmpty);
    }
    let moving = collect(entries, &sp)?;
    let renamed = |k: &[u8]| -> Result<String> {
        let rest = std::str::from_utf8(&k[8 + sp.len()..])
            .map_err(|_| StoreError::Corrupt("non-UTF-8 key in entries".into()))?;
        Ok(format!("{dp}{rest}"))
    };
    let mut moves = Vec::with_capacity(moving.len());
    for (k, ino) in &moving {
        let key = renamed(k)?;
        crate::naming::validate_key(crate::model::BucketKind::Share, &key)?;
        if gate.is_keyed() {
            // Each key moves as an S3 client moves it: read and deleted here, put there.
            let old = std::str::from_utf8(&k[8..])
                .map_err(|_| StoreError::Corrupt("non-UTF-8 key in entries".into()))?;
            gate.key(Verb::Get, old)?;
            if gate.reads_tags() {
                gate.read(old, &txn::inode_attrs(ns, *ino)?.tags)?;
            }
            gate.key(Verb::Delete, old)?;
            gate.key(Verb::Put, &key)?;
        }
        moves.push((k.clone(), tables::entry_key(bid, &key), *ino));
    }
    // Directory rows are renamed after the first change, so decode them all now.
    let dir_rows = {
        let dirs = ns.dir_inodes()?;
        let mut rows = Vec::new();
        for (k, ino) in collect(dirs, &sp)? {
            rows.push((k.clone(), tables::entry_key(bid, &renamed(&k)?), ino));
        }
        (collect(dirs, &dp)?, rows)
    };
    // Change times and subdirectory counts: of the directories the move leaves and enters
    // (kept by entry_removed/entry_added), and the moved ones' own (moved here).
    let moved_rows = |t: &redb::Table<&[u8], u64>| -> Result<Vec<MovedRow>> {
        let p = tables::entry_key(bid, &sp);
        let mut rows = Vec::new();
        for e in t.range(p.as_slice()..)? {
            let (k, v) = e?;
            if !k.value().starts_with(&p) {
                break;
            }
            let k = k.value().to_vec();
            rows.push((tables::entry_key(bid, &renamed(&k)?), k, v.value()));
        }
        Ok(rows)
    };
    let times = moved_rows(ns.dir_times()?)?;
    let subdirs = moved_rows(ns.dir_subdirs()?)?;
    // A locked file is read-only over NFS: not moved with its directory either (decision 0039).
    if b.object_lock.is_some() {
        for (_, _, ino) in &moves {
            crate::locks::check_file_view(&txn::inode_attrs(ns, *ino)?)?;
        }
    }
    // The target's marker (an empty directory) goes: a delete of it.
    if !target.is_empty() {
        gate.key(Verb::Delete, &dp)?;
        txn::unlink_replaced(ns, b, &dp)?;
    }
    let entries = ns.entries_mut()?;
    for (old, _, _) in &moves {
        entries.remove(old.as_slice())?;
    }
    txn::entry_removed(ns, b, &sp)?;
    txn::entry_added(ns, b, &dp)?;
    {
        let entries = ns.entries_mut()?;
        for (_, new, ino) in &moves {
            entries.insert(new.as_slice(), *ino)?;
        }
        let names = ns.inode_names_mut()?;
        for (old, new, ino) in &moves {
            names.remove(super::names::row(b.id, *ino, &old[8..]).as_slice())?;
            names.insert(super::names::row(b.id, *ino, &new[8..]).as_slice(), ())?;
        }
    }
    if b.replicated {
        for (old, new, ino) in &moves {
            let old_key = String::from_utf8_lossy(&old[8..]).into_owned();
            let key = String::from_utf8_lossy(&new[8..]).into_owned();
            // A replica moved here is this site's own from now on (its new name is sent).
            let mut rec = txn::inode_attrs(ns, *ino)?;
            if crate::replication::queue::is_replica(&rec) {
                crate::replication::queue::make_local(&mut rec);
                txn::put_inode(ns, *ino, &rec, false)?;
            }
            crate::replication::queue::key_renamed(ns, b, &old_key, &key)?;
        }
    }
    if b.versioning.is_on() {
        // Each old name gets a delete marker over its versions, and each moved file a new
        // version id under its new name, as a move seen over S3 is a copy and a delete
        // (decision 0038).
        for (old, new, ino) in &moves {
            let old_key = String::from_utf8_lossy(&old[8..]).into_owned();
            crate::versioning::rows::add_marker(ns, b, &old_key)?;
            let key = String::from_utf8_lossy(&new[8..]).into_owned();
            let mut rec = txn::inode_attrs(ns, *ino)?;
            crate::versioning::rows::renamed_to(ns, b, &key, &mut rec)?;
            txn::put_inode(ns, *ino, &rec, false)?;
        }
        txn::put_bucket(ns, b)?;
    }
    // The moved keys fall due by the rules for their new names (when any rule applies); the
    // old names' rows go.
    if super::expiry_index::any_rule(b, super::expiry_index::global_days(ns)?) {
        for (old, new, ino) in &moves {
            let mtime = txn::inode_attrs(ns, *ino)?.mtime_ms;
            let old_key = String::from_utf8_lossy(&old[8..]).into_owned();
            super::expiry_index::unschedule(ns, b, &old_key, mtime)?;
            let key = String::from_utf8_lossy(&new[8..]).into_owned();
            super::expiry_index::schedule(ns, b, &key, mtime)?;
        }
    }
    // The replaced (empty) target's rows go; the moved directories' rows replace them.
    let target_rows = tables::entry_key(bid, &dp)..tables::entry_key(bid, &format!("{dst}0"));
    move_rows(ns.dir_times_mut()?, &target_rows, times)?;
    move_rows(ns.dir_subdirs_mut()?, &target_rows, subdirs)?;
    let dirs = ns.dir_inodes_mut()?;
    for (k, _) in &dir_rows.0 {
        dirs.remove(k.as_slice())?;
    }
    for (old, _, _) in &dir_rows.1 {
        dirs.remove(old.as_slice())?;
    }
    for (_, new, ino) in &dir_rows.1 {
        dirs.insert(new.as_slice(), *ino)?;
    }
    let paths = ns.dir_paths_mut()?;
    for (_, ino) in dir_rows.0 {
        paths.remove(ino)?;
    }
    for (_, new, ino) in dir_rows.1 {
        paths.insert(ino, new.as_slice())?;
    }
    Ok(())
}

/// A per-directory row of a moved directory tree: (new key, old key, value).
type MovedRow = (Vec<u8>, Vec<u8>, u64);

/// Per-directory rows of a moved directory tree: those in `cleared` go, then each row moves.
fn move_rows(
    table: &mut redb::Table<&[u8], u64>,
    cleared: &std::ops::Range<Vec<u8>>,
    rows: Vec<MovedRow>,
) -> Result<()> {
    table.retain_in(cleared.start.as_slice()..cleared.end.as_slice(), |_, _| {
        false
    })?;
    for (_, old, _) in &rows {
        table.remove(old.as_slice())?;
    }
    for (new, _, v) in rows {
        table.insert(new.as_slice(), v)?;
    }
    Ok(())
}

enum Patch {
    None,
    /// `data`'s pieces, one after another from `offset`.
    Write {
        offset: u64,
        end: u64,
        data: Vec<Bytes>,
    },
    /// Sorted, not overlapping (see [`Store::fs_write_extents`]).
    Extents(FsExtents),
    Resize(u64),
}

/// Longest run of adjacent windows [`Store::stage_extents`] holds before staging it.
const RUN_MAX: usize = 4 << 20;

/// Adjacent windows of a flush on their way to one stage, from `start`.
struct Run {
    start: u64,
    windows: Vec<Bytes>,
}

impl Run {
    fn len(&self) -> u64 {
        self.windows.iter().map(|w| w.len() as u64).sum()
    }

    fn end(&self) -> u64 {
        self.start + self.len()
    }
}

/// `ranges` (sorted, disjoint) cut into pieces of at most `max` bytes each, a range split where
/// a piece fills up.
fn pieces(ranges: &[(u64, u64)], max: u64) -> Vec<Vec<(u64, u64)>> {
    let mut out: Vec<Vec<(u64, u64)>> = vec![Vec::new()];
    let mut room = max;
    for &(mut off, mut len) in ranges {
        while len > 0 {
            if room == 0 {
                out.push(Vec::new());
                room = max;
            }
            let take = len.min(room);
            if let Some(piece) = out.last_mut() {
                piece.push((off, take));
            }
            (off, len, room) = (off + take, len - take, room - take);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

enum Part {
    Old(u64, u64),
    Zeros(u64),
    Bytes(Bytes),
}

#[cfg(test)]
mod tests {
    #[test]
    fn pieces_hold_at_most_their_size_and_cover_every_byte_once() {
        let p = super::pieces(&[(0, 10), (20, 3), (30, 9)], 4);
        assert_eq!(
            p,
            vec![
                vec![(0, 4)],
                vec![(4, 4)],
                vec![(8, 2), (20, 2)],
                vec![(22, 1), (30, 3)],
                vec![(33, 4)],
                vec![(37, 2)],
            ]
        );
        assert!(super::pieces(&[], 4).is_empty());
    }
}
