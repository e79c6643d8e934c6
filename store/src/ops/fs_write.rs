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

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use md5::{Digest as _, Md5};
use redb::{ReadableDatabase, ReadableTable};

use super::fs::{
    DirPaths, DirTables, FsAttr, FsKind, FsMade, MAX_LINK, S_IFLNK, S_IFMT, attr_from_record,
    attr_of, check_name, dir_attr, dir_path, live_bucket, live_bucket_in, not_a_dir, regular_file,
};
use super::ns::Ns;
use super::txn::{self, prefix_used};
use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, ChunkRef, Data, ObjectRecord, Principal};
use crate::rbac::{Resource, Verb, authorize};
use crate::stage::{StageError, StageOptions};
use crate::tables::{self, INODE_DATA, INODES};
use crate::{Store, codec, deny, now_ms};

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

/// Attributes to set; `None` leaves one alone. Stored as `x-amz-meta-mode/uid/gid/mtime`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsSetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Truncate or extend (zeros).
    pub size: Option<u64>,
    /// Unix ms.
    pub mtime_ms: Option<i64>,
}

const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
const VERIFIER_META: &str = "nfs-create-verifier";
/// The commit found the data changed since the patch was computed: compute again.
const RACED: &str = "fs.write raced with another change";

fn set_meta(rec: &mut ObjectRecord, name: &str, value: String) {
    match rec.meta.user.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value,
        None => rec.meta.user.push((name.to_string(), value)),
    }
}

fn apply_meta(rec: &mut ObjectRecord, a: &FsSetAttr) {
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
    if let Some(t) = a.mtime_ms {
        set_meta(
            rec,
            "mtime",
            format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000)),
        );
    }
}

fn empty_record() -> ObjectRecord {
    ObjectRecord {
        size: 0,
        etag: EMPTY_MD5.into(),
        mtime_ms: now_ms(),
        meta: Default::default(),
        tags: Vec::new(),
        checksum: None,
        parts: Vec::new(),
        data: Data::default(),
    }
}

/// Directory `path` (inode `ino`) as write transaction `t` has it: the post-operation
/// attributes of a reply, from the commit that changed it.
fn dir_attr_in(ns: &Ns, b: &BucketRecord, path: &str, ino: u64) -> Result<FsAttr> {
    DirTables {
        entries: ns.entries()?,
        inodes: ns.inodes()?,
        times: ns.dir_times()?,
    }
    .attr(b, path, ino)
}

/// ETag of data written through the file view: MD5 for inline data (as S3 computes it); for
/// chunks, MD5 of the chunk hashes with a `-N` suffix, which S3 clients read as a multipart ETag
/// (not an MD5 of the content, so they do not compare it with one).
fn etag_of(data: &Data) -> String {
    match data {
        Data::Inline(v) => hex::encode(Md5::digest(v)),
        Data::Chunks(c) => {
            let mut m = Md5::new();
            for r in c {
                m.update(r.hash);
            }
            format!("{}-{}", hex::encode(m.finalize()), c.len())
        }
    }
}

impl Store {
    /// NFS COMMIT's promise for what the file view answered before: under `nfs.async`, every
    /// metadata change answered so far (the file's CREATE, a truncate) is durable when this
    /// returns. Without `nfs.async` everything already is.
    pub async fn fs_sync(&self) -> Result<()> {
        if self.inner.cfg.fs_async.is_some() {
            self.inner.committer.barrier().await?;
        }
        Ok(())
    }

    /// A file-view metadata change: durable before its answer, or under `nfs.async` within
    /// the configured window.
    async fn fs_commit<T, F>(&self, f: F) -> Result<T>
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
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        check_name(name)?;
        let bucket_s = bucket.to_string();
        let name = name.to_string();
        // The directory is looked up in the transaction: under `nfs.async` a read outside it
        // would first commit the creates answered before (see `commit`).
        let (ino, rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = live_bucket_in(ns.buckets()?, &bucket_s)?;
                let found = DirPaths {
                    paths: ns.dir_paths()?,
                    entries: ns.entries()?,
                }
                .path(&b, dir)?;
                let Some(path) = found else {
                    let is_file = ns.inodes()?.get(dir)?.is_some();
                    return Err(not_a_dir(is_file, dir));
                };
                let key = format!("{path}{name}");
                crate::naming::validate_key(crate::model::BucketKind::Share, &key)?;
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
                    return match how {
                        FsCreate::Unchecked => Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?)),
                        FsCreate::Exclusive(v) if same_verifier(&v) => {
                            Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
                        }
                        _ => Err(StoreError::Conflict(format!("{key:?} exists"))),
                    };
                }
                if is_dir {
                    return Err(StoreError::Conflict(format!("{key:?} is a directory")));
                }
                // No share conflict is possible beyond that one: `name` has no `/` and its
                // directory exists, so no ancestor is a file. An empty file needs no room.
                let mut rec = empty_record();
                apply_meta(&mut rec, &attrs);
                if let FsCreate::Exclusive(v) = how {
                    set_meta(&mut rec, VERIFIER_META, hex::encode(v));
                }
                let ino = txn::link_at(&mut ns, &mut b, &key, &rec, existing)?;
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
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        check_name(name)?;
        let (b, path) = self.fs_dir(bucket, dir)?;
        let marker = format!("{path}{name}/");
        crate::naming::validate_key(crate::model::BucketKind::Share, &marker)?;
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
            let mut rec = empty_record();
            apply_meta(&mut rec, &attrs);
            txn::link_object(&mut ns, &mut b, &m, &rec)
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
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        check_name(name)?;
        if target.is_empty() || target.len() > MAX_LINK || target.contains(&0) {
            return Err(StoreError::InvalidArgument(format!(
                "a link target is 1 to {MAX_LINK} bytes without NUL"
            )));
        }
        let (_, path) = self.fs_dir(bucket, dir)?;
        let key = format!("{path}{name}");
        crate::naming::validate_key(crate::model::BucketKind::Share, &key)?;
        let bucket_s = bucket.to_string();
        let target = target.to_vec();
        let limit = self.inner.cfg.max_size;
        let (ino, rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket_s)?;
                if txn::lookup(&ns, b.id, &key)?.is_some()
                    || prefix_used(ns.entries()?, &tables::entry_key(b.id, &format!("{key}/")))?
                {
                    return Err(StoreError::Conflict(format!("{key:?} exists")));
                }
                txn::check_share_conflicts(&ns, &b, &key)?;
                txn::check_quota(&ns, &b, &key, target.len() as u64, limit)?;
                let mut rec = empty_record();
                rec.size = target.len() as u64;
                rec.data = Data::Inline(target);
                rec.etag = etag_of(&rec.data);
                set_meta(&mut rec, "mode", (S_IFLNK | 0o777).to_string());
                apply_meta(&mut rec, &attrs);
                let ino = txn::link_object(&mut ns, &mut b, &key, &rec)?;
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
        deny(authorize(p, Verb::Delete, Resource::Objects(bucket)))?;
        check_name(name)?;
        let (_, path) = self.fs_dir(bucket, dir)?;
        let key = format!("{path}{name}");
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
            txn::unlink_object(&mut ns, &mut b, &key).map(drop)
        })
        .await
    }

    /// Removes directory `name`: only its marker may be left under it (else `BucketNotEmpty`).
    pub async fn fs_rmdir(&self, p: &Principal, bucket: &str, dir: u64, name: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Objects(bucket)))?;
        check_name(name)?;
        let (_, path) = self.fs_dir(bucket, dir)?;
        let file = format!("{path}{name}");
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
        deny(authorize(p, Verb::Delete, Resource::Objects(bucket)))?;
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        check_name(from.1)?;
        check_name(to.1)?;
        let (_, fpath) = self.fs_dir(bucket, from.0)?;
        let (_, tpath) = self.fs_dir(bucket, to.0)?;
        let (src, dst) = (format!("{fpath}{}", from.1), format!("{tpath}{}", to.1));
        crate::naming::validate_key(crate::model::BucketKind::Share, &dst)?;
        let bucket_s = bucket.to_string();
        self.fs_commit(move |t| {
            let mut ns = Ns::new(t);
            let mut b = txn::get_bucket(&ns, &bucket_s)?;
            let Some(ino) = txn::lookup(&ns, b.id, &src)? else {
                let sub = tables::entry_key(b.id, &format!("{src}/"));
                return if prefix_used(ns.entries()?, &sub)? {
                    rename_dir(&mut ns, &mut b, &src, &dst)
                } else {
                    Err(StoreError::NoSuchKey)
                };
            };
            if src == dst {
                return Ok(());
            }
            let dsub = tables::entry_key(b.id, &format!("{dst}/"));
            if prefix_used(ns.entries()?, &dsub)? {
                return Err(StoreError::IsADirectory(dst));
            }
            txn::check_share_conflicts(&ns, &b, &dst)?;
            txn::unlink_object(&mut ns, &mut b, &dst)?;
            ns.entries_mut()?
                .remove(tables::entry_key(b.id, &src).as_slice())?;
            txn::entry_removed(&mut ns, &b, &src)?;
            txn::entry_added(&mut ns, &b, &dst)?;
            ns.entries_mut()?
                .insert(tables::entry_key(b.id, &dst).as_slice(), ino)?;
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
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        let end = self.write_end(offset, data.len() as u64)?;
        self.patch(
            bucket,
            ino,
            Patch::Write { offset, end, data },
            FsSetAttr::default(),
            true,
        )
        .await
    }

    /// Writes many extents of file `ino` in one commit (a write-back buffer's flush): each
    /// chunk-sized window they touch is rebuilt and hashed once, however many small writes
    /// landed in it. `extents` are (offset, bytes), sorted and not overlapping.
    pub async fn fs_write_extents(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        extents: Vec<(u64, Bytes)>,
    ) -> Result<FsAttr> {
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        let mut end = 0u64;
        for (off, data) in &extents {
            if *off < end {
                return Err(StoreError::InvalidArgument(
                    "write extents overlap or are out of order".into(),
                ));
            }
            end = self.write_end(*off, data.len() as u64)?;
        }
        if extents.is_empty() {
            return self.fs_getattr(p, bucket, ino);
        }
        self.patch(
            bucket,
            ino,
            Patch::Extents(extents),
            FsSetAttr::default(),
            true,
        )
        .await
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
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        self.write_end(grows_to, 0)?;
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        let attr = attr_of(&rtxn, &b, ino)?;
        regular_file(&attr)?;
        if grows_to > attr.size {
            txn::ensure_room(&b, grows_to - attr.size, self.inner.cfg.max_size, || {
                self.total_usage()
            })?;
        }
        Ok(attr)
    }

    /// SETATTR: size (truncate or extend with zeros), mode, uid, gid, mtime.
    pub async fn fs_setattr(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        attrs: FsSetAttr,
    ) -> Result<FsAttr> {
        deny(authorize(p, Verb::Put, Resource::Objects(bucket)))?;
        let patch = match attrs.size {
            Some(s) if s > self.inner.cfg.max_object_size => {
                return Err(StoreError::EntityTooLarge(format!("{s} bytes")));
            }
            Some(s) => Patch::Resize(s),
            None => Patch::None,
        };
        self.patch(bucket, ino, patch, attrs, false).await
    }

    /// Applies `patch` and `attrs` to inode `ino`. `data_write`: a WRITE's bytes, durable before
    /// the answer whatever `nfs.async` says (a SETATTR is metadata).
    async fn patch(
        &self,
        bucket: &str,
        ino: u64,
        patch: Patch,
        attrs: FsSetAttr,
        data_write: bool,
    ) -> Result<FsAttr> {
        let _turn = self.inner.file_locks.lock(ino).await;
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
                    attr.kind == FsKind::Symlink,
                )
            };
            if is_dir && !matches!(patch, Patch::None) {
                return Err(StoreError::IsADirectory(format!("inode {ino}")));
            }
            if is_link && !matches!(patch, Patch::None) {
                return Err(StoreError::InvalidArgument(format!(
                    "inode {ino} is a symbolic link: its target is set by SYMLINK only"
                )));
            }
            let Some(old_rec) = old_rec else {
                if is_dir {
                    // An implicit directory has no record to keep attributes in.
                    let rtxn = self.db().begin_read()?;
                    let b = live_bucket(&rtxn, bucket)?;
                    return attr_of(&rtxn, &b, ino);
                }
                return Err(StoreError::Stale);
            };
            // Refuse before staging what the quota cannot take (an extend of gigabytes of
            // zeros would otherwise be hashed first); the commit checks again.
            let grows_to = match &patch {
                Patch::Write { end, .. } => (*end).max(old_rec.size),
                Patch::Extents(x) => x
                    .last()
                    .map_or(0, |(o, d)| o + d.len() as u64)
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
            let staged = match &patch {
                Patch::Extents(x) => self.stage_extents(&old_rec, &old_data, x).await?,
                p => self
                    .stage_patch(&old_rec, &old_data, p)
                    .await?
                    .map(|(d, s, pins)| (d, s, pins.into_iter().collect())),
            };
            let (new_data, new_size, pins) = match staged {
                Some((d, s, pins)) => (d, s, pins),
                None => (old_data.clone(), old_rec.size, Vec::new()),
            };
            let bucket_s = bucket.to_string();
            let old_enc = codec::encode(&old_data)?;
            let changes_data = !matches!(patch, Patch::None);
            let limit = self.inner.cfg.max_size;
            let res = self
                .commit_as(data_write, move |t| {
                    let mut ns = Ns::new(t);
                    let mut rec = txn::get_inode(&ns, ino).map_err(|_| StoreError::Stale)?;
                    if codec::encode(&rec.data)? != old_enc || rec.size != old_rec.size {
                        return Err(StoreError::Conflict(RACED.into()));
                    }
                    let mut b = txn::get_bucket(&ns, &bucket_s)?;
                    if changes_data {
                        let usage = b
                            .usage_bytes
                            .saturating_sub(rec.size)
                            .saturating_add(new_size);
                        txn::ensure_room(&b, new_size.saturating_sub(rec.size), limit, || {
                            txn::total_usage(&ns)
                        })?;
                        let chunks = ns.chunks_mut()?;
                        txn::incref(chunks, new_data.chunks())?;
                        txn::decref(chunks, rec.data.chunks())?;
                        b.usage_bytes = usage;
                        txn::put_bucket(&mut ns, &b)?;
                        rec.size = new_size;
                        rec.etag = etag_of(&new_data);
                        rec.data = new_data;
                        rec.mtime_ms = now_ms();
                        rec.checksum = None;
                        rec.parts.clear();
                        // New content is modified now, whatever mtime was set before.
                        rec.meta.user.retain(|(k, _)| k != "mtime");
                    }
                    apply_meta(&mut rec, &attrs);
                    if is_dir && attrs.mtime_ms.is_some() {
                        // A time set on a directory shows until its listing next changes.
                        let path = ns.dir_paths()?.get(ino)?.map(|v| v.value().to_vec());
                        if let Some(path) = path {
                            ns.dir_times_mut()?.remove(path.as_slice())?;
                        }
                    }
                    txn::put_inode(&mut ns, ino, &rec, changes_data)?;
                    Ok(attr_from_record(ino, FsKind::File, &rec))
                })
                .await;
            match (res, pins) {
                (Err(StoreError::Conflict(m)), pins) if m == RACED => {
                    pins.into_iter().for_each(|s| self.discard(s));
                }
                (Ok(a), pins) => {
                    drop(pins);
                    if is_dir {
                        let rtxn = self.db().begin_read()?;
                        let b = live_bucket(&rtxn, bucket)?;
                        return attr_of(&rtxn, &b, ino);
                    }
                    return Ok(a);
                }
                (Err(e), pins) => {
                    pins.into_iter().for_each(|s| self.discard(s));
                    return Err(e);
                }
            }
        }
        Err(StoreError::Internal(
            "a file kept changing under a write; gave up after 16 attempts".into(),
        ))
    }

    /// Stages many extents: the chunk-sized windows they touch, each rebuilt once (old bytes
    /// where no extent covers it, zeros past the old end) and staged in runs of adjacent
    /// windows of at most [`RUN_MAX`] bytes, so memory stays bounded whatever was buffered.
    async fn stage_extents(
        &self,
        rec: &ObjectRecord,
        data: &Data,
        extents: &[(u64, Bytes)],
    ) -> Result<Option<(Data, u64, Vec<crate::stage::Staged>)>> {
        let Some(last_end) = extents.last().map(|(o, d)| o + d.len() as u64) else {
            return Ok(None);
        };
        let chunk = self.inner.cfg.chunk_size as u64;
        let old_size = rec.size;
        let new_size = old_size.max(last_end);
        let mut cur = rec.clone();
        cur.data = data.clone();
        let mut pins = Vec::new();
        let mut run: Option<(u64, BytesMut)> = None;
        let (mut i, mut pos) = (0, 0u64);
        while i < extents.len() {
            // An extent may go on from the window before: start where that one ended.
            let wstart = extents[i].0.max(pos) / chunk * chunk;
            let wend = (wstart + chunk).min(new_size);
            // The window goes on the end of the current run, or starts the next one.
            let continues = matches!(&run, Some((s, buf))
                if s + buf.len() as u64 == wstart && buf.len() < RUN_MAX);
            if !continues {
                if let Some((s, buf)) = run.take() {
                    self.stage_run(&mut cur, s, buf.freeze(), &mut pins).await?;
                }
                let want = run_len(&extents[i..], wstart, chunk, new_size);
                run = Some((wstart, BytesMut::with_capacity(want)));
            }
            let Some((_, buf)) = run.as_mut() else {
                return Err(StoreError::Internal("no run to stage into".into()));
            };
            let base = buf.len();
            // The window's bytes: old content (or zeros past the old end), then every extent
            // overlapping it laid over. Extents never overlap, so when they cover the whole
            // window they are its bytes in order, appended without filling first.
            let covered: u64 = extents[i..]
                .iter()
                .take_while(|(o, _)| *o < wend)
                .map(|(o, d)| (o + d.len() as u64).min(wend) - (*o).max(wstart))
                .sum();
            let whole = covered == wend - wstart;
            if !whole {
                buf.resize(base + (wend - wstart) as usize, 0);
                if wstart < old_size {
                    let mut at = base;
                    let mut st = std::pin::pin!(self.read_data(data, wstart..wend.min(old_size)));
                    while let Some(piece) = st.next().await {
                        let piece = piece?;
                        buf[at..at + piece.len()].copy_from_slice(&piece);
                        at += piece.len();
                    }
                }
            }
            while i < extents.len() && extents[i].0 < wend {
                let (o, d) = &extents[i];
                let from = (*o).max(wstart);
                let to = (o + d.len() as u64).min(wend);
                let bytes = &d[(from - o) as usize..(to - o) as usize];
                if whole {
                    buf.extend_from_slice(bytes);
                } else {
                    let at = base + (from - wstart) as usize;
                    buf[at..at + bytes.len()].copy_from_slice(bytes);
                }
                if o + d.len() as u64 > wend {
                    break; // the extent goes on into the next window
                }
                i += 1;
            }
            pos = wend;
        }
        if let Some((s, buf)) = run {
            self.stage_run(&mut cur, s, buf.freeze(), &mut pins).await?;
        }
        Ok(Some((cur.data, new_size, pins)))
    }

    /// Stages one run of [`Self::stage_extents`] over the file as the runs before it left it.
    async fn stage_run(
        &self,
        cur: &mut ObjectRecord,
        offset: u64,
        data: Bytes,
        pins: &mut Vec<crate::stage::Staged>,
    ) -> Result<()> {
        let end = offset + data.len() as u64;
        let patch = Patch::Write { offset, end, data };
        if let Some((d, size, staged)) = self.stage_patch(cur, &cur.data, &patch).await? {
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
                parts.push(Part::Bytes(bytes.clone()));
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
                },
            )
            .await
            .map_err(|e| match e {
                StageError::Store(e) => e,
                StageError::Body(never) => match never {},
            })?;
        let new_data = match &staged.data {
            Data::Inline(v) => Data::Inline(v.clone()),
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

/// Renames directory `src` (no trailing slash) to `dst`: every entry under `src/` moves under
/// `dst/`, and the recorded directory inodes with them, so handles of the directory and of
/// everything below it stay valid. All checks come before the first change.
fn rename_dir(ns: &mut Ns, b: &mut BucketRecord, src: &str, dst: &str) -> Result<()> {
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
    // Change times: of the directories the move leaves and enters, and the moved ones' own.
    let times = {
        let t = ns.dir_times()?;
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
        rows
    };
    // The target's marker (an empty directory) goes.
    if !target.is_empty() {
        txn::unlink_object(ns, b, &dp)?;
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
        let dir_times = ns.dir_times_mut()?;
        // The replaced (empty) target's rows go; the moved directories' rows replace them.
        dir_times.retain_in(
            tables::entry_key(bid, &dp).as_slice()
                ..tables::entry_key(bid, &format!("{dst}0")).as_slice(),
            |_, _| false,
        )?;
        for (_, old, _) in &times {
            dir_times.remove(old.as_slice())?;
        }
        for (new, _, at) in times {
            dir_times.insert(new.as_slice(), at)?;
        }
    }
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

enum Patch {
    None,
    Write {
        offset: u64,
        end: u64,
        data: Bytes,
    },
    /// Sorted, not overlapping (see [`Store::fs_write_extents`]).
    Extents(Vec<(u64, Bytes)>),
    Resize(u64),
}

/// Longest run of adjacent windows [`Store::stage_extents`] holds before staging it.
const RUN_MAX: usize = 8 << 20;

/// The bytes a run of [`Store::stage_extents`] starting at window `wstart` will hold, as room to
/// reserve: its windows stay adjacent while each next extent starts in the window after the
/// last; the run stops one window past [`RUN_MAX`]. Only a hint: a run outgrowing it grows.
fn run_len(extents: &[(u64, Bytes)], wstart: u64, chunk: u64, new_size: u64) -> usize {
    let cap = wstart.saturating_add((RUN_MAX as u64).saturating_add(chunk));
    let mut end = wstart.saturating_add(chunk).min(new_size);
    for (o, d) in extents {
        if *o / chunk * chunk > end || end >= cap {
            break;
        }
        let ext_end = o.saturating_add(d.len() as u64);
        end = end.max(ext_end.div_ceil(chunk).saturating_mul(chunk).min(new_size));
    }
    (end.min(cap) - wstart) as usize
}

enum Part {
    Old(u64, u64),
    Zeros(u64),
    Bytes(Bytes),
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn ext(o: u64, len: u64) -> (u64, Bytes) {
        (o, Bytes::from(vec![1u8; len as usize]))
    }

    #[test]
    fn a_run_reserves_what_its_adjacent_windows_hold() {
        // A sequential writer's 16 MiB: the run stops one window past RUN_MAX.
        let seq: Vec<_> = (0..16).map(|i| ext(i * MIB, MIB)).collect();
        assert_eq!(run_len(&seq, 0, MIB, 16 * MIB), RUN_MAX + MIB as usize);
        // Scattered 4 KiB writes, one per chunk: one window each.
        let scattered: Vec<_> = (0..16).map(|i| ext(i * 10 * MIB + 4096, 4096)).collect();
        assert_eq!(run_len(&scattered, 0, MIB, 200 * MIB), MIB as usize);
        // Two extents in adjacent windows, the file ending inside the second.
        let two = [ext(MIB / 2, MIB), ext(MIB + MIB / 2, 100)];
        assert_eq!(
            run_len(&two, 0, MIB, MIB + MIB / 2 + 100),
            (MIB + MIB / 2 + 100) as usize
        );
    }
}
