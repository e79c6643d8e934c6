//! The POSIX view of a share bucket (DESIGN §4), for the NFS gateway. Knows no NFS types.
//!
//! Keys split at `/` are paths: `a/b/c.txt` is file `c.txt` in directory `a/b`. A directory is
//! the root (path `""`), an explicit marker key (`a/b/`) or implicit (some key starts with
//! `a/b/`). Directory paths are written with their trailing slash (`a/b/`), so a path is also
//! the key prefix of everything inside it.
//!
//! Inode numbers: a file is its entry's inode (kept across overwrites). A directory gets a
//! number on first sight, recorded in `dir_inodes`/`dir_paths` (an explicit marker lends its own
//! inode): stable across restarts, invisible to S3 listings, which read `entries` only. A
//! directory whose last key went away is stale, even though its row stays.
//!
//! Authorization speaks the S3 vocabulary on the share's bucket: attribute reads and file reads
//! need `get` on its objects, lookups and listings `list`.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use redb::{ReadTransaction, ReadableDatabase, ReadableTable};

use super::fs_gate::Gate;
use super::list::{ListEntry, ListQuery};
use super::ns::Ns;
use super::txn;
use crate::error::{Result, StoreError};
use crate::model::{
    BucketKind, BucketRecord, Data, FileTimes, ObjectRecord, Principal, ShareRecord,
};
use crate::naming::{share_bucket, validate_share_name};
use crate::rbac::Verb;
use crate::tables::{
    self, BUCKETS, DIR_INODES, DIR_PATHS, DIR_SUBDIRS, DIR_TIMES, ENTRIES, INODE_DATA, INODES,
    SHARES,
};
use crate::{Store, codec, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    File,
    Dir,
    /// An object whose content is the link target and whose `x-amz-meta-mode` carries the
    /// `S_IFLNK` type bits (s3fs's convention, so s3fs mounts see the same link).
    Symlink,
    /// Special files: empty objects whose `x-amz-meta-mode` carries their type bits and whose
    /// `x-amz-meta-rdev` (a Linux `dev_t`, decimal) their device numbers, as s3fs keeps them.
    Fifo,
    Socket,
    CharDev,
    BlockDev,
}

impl FsKind {
    /// The `S_IFMT` bits of this kind.
    pub fn type_bits(self) -> u32 {
        match self {
            FsKind::File => S_IFREG,
            FsKind::Dir => S_IFDIR,
            FsKind::Symlink => S_IFLNK,
            FsKind::Fifo => S_IFIFO,
            FsKind::Socket => S_IFSOCK,
            FsKind::CharDev => S_IFCHR,
            FsKind::BlockDev => S_IFBLK,
        }
    }

    /// The kind of an object whose mode carries type bits `bits` (`S_IFMT` of a mode):
    /// `None` for a regular file, a directory or no type at all.
    fn special(bits: u32) -> Option<FsKind> {
        Some(match bits {
            S_IFLNK => FsKind::Symlink,
            S_IFIFO => FsKind::Fifo,
            S_IFSOCK => FsKind::Socket,
            S_IFCHR => FsKind::CharDev,
            S_IFBLK => FsKind::BlockDev,
            _ => return None,
        })
    }
}

/// `S_IFMT` and the type bits a `mode` value may carry (POSIX values, as Linux has them).
pub(super) const S_IFMT: u32 = 0o170_000;
pub(super) const S_IFSOCK: u32 = 0o140_000;
pub(super) const S_IFLNK: u32 = 0o120_000;
pub(super) const S_IFREG: u32 = 0o100_000;
pub(super) const S_IFBLK: u32 = 0o060_000;
pub(super) const S_IFDIR: u32 = 0o040_000;
pub(super) const S_IFCHR: u32 = 0o020_000;
pub(super) const S_IFIFO: u32 = 0o010_000;

/// Attributes of a file or directory as the file view shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsAttr {
    /// Never 0.
    pub ino: u64,
    pub kind: FsKind,
    pub size: u64,
    /// Unix nanoseconds. A file the file view has touched keeps all three (`FileTimes`); an
    /// object as S3 wrote it has mtime = `x-amz-meta-mtime` when set, else its write time,
    /// atime = mtime and ctime = its write time. A directory's mtime and ctime are its
    /// listing's last change when that is later.
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// Permission bits: `x-amz-meta-mode` when set, else 0644 (files) / 0755 (directories).
    pub mode: u32,
    /// From `x-amz-meta-uid`/`gid` (attributes only, never identity); default 0.
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Device numbers (major, minor) of a character or block device; (0, 0) otherwise.
    pub rdev: (u32, u32),
}

/// What CREATE or SYMLINK made: the new node, and its directory as that same commit left it
/// (the reply's post-operation attributes, without another read; `None`: not known).
#[derive(Debug, Clone)]
pub struct FsMade {
    pub attr: FsAttr,
    pub dir: Option<FsAttr>,
}

impl From<FsAttr> for FsMade {
    fn from(attr: FsAttr) -> Self {
        FsMade { attr, dir: None }
    }
}

/// A live share, ready to be walked.
#[derive(Debug, Clone)]
pub struct FsShare {
    pub name: String,
    pub bucket: String,
    pub bucket_id: u64,
    pub root: FsAttr,
}

#[derive(Debug, Clone)]
pub struct FsDirEntry {
    pub name: String,
    /// Where this entry sits in the directory's order: the name, plus `/` for a directory
    /// (S3 key order). Pass the last one back as `after` to continue.
    pub position: String,
    pub attr: FsAttr,
}

#[derive(Debug, Clone)]
pub struct FsDirPage {
    pub dir: FsAttr,
    /// Path of the directory's parent's inode (the root is its own parent).
    pub parent_ino: u64,
    pub entries: Vec<FsDirEntry>,
    pub eof: bool,
}

#[derive(Debug, Clone)]
pub struct FsRead {
    pub attr: FsAttr,
    pub data: FsData,
    pub eof: bool,
}

/// The bytes of a read: in memory, or a range of a chunk file whose bytes were verified (a
/// large read is sent from the file's pages with `sendfile`, never copied out).
#[derive(Debug, Clone)]
pub enum FsData {
    Bytes(Bytes),
    File {
        file: std::sync::Arc<std::fs::File>,
        offset: u64,
        len: usize,
    },
}

impl Default for FsData {
    fn default() -> Self {
        FsData::Bytes(Bytes::new())
    }
}

impl FsData {
    pub fn len(&self) -> usize {
        match self {
            FsData::Bytes(b) => b.len(),
            FsData::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in memory, read from the chunk file if they are not (a blocking read of
    /// pages the verification just brought into the page cache).
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        match self {
            FsData::Bytes(b) => Ok(b.clone()),
            FsData::File { file, offset, len } => {
                let mut buf = vec![0u8; *len];
                std::os::unix::fs::FileExt::read_exact_at(&**file, &mut buf, *offset)?;
                Ok(buf.into())
            }
        }
    }
}

/// What the principal's bindings allow on a share's objects, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsAccess {
    pub get: bool,
    pub list: bool,
    pub put: bool,
    pub delete: bool,
}

const DIR_SIZE: u64 = 4096;
/// Longest symbolic link target (Linux `PATH_MAX`).
pub const MAX_LINK: usize = 4096;

impl Store {
    /// A live share for the file view: unknown, deleted or expired → `NoSuchShare` (checked
    /// first, so that answer does not depend on the caller); then the caller must be allowed
    /// to list the share's objects (under a policy: to list directory `under`, `""` the root or
    /// `a/b/`, the one the mount names; decision 0043).
    pub async fn fs_share(&self, p: &Principal, share: &str, under: &str) -> Result<FsShare> {
        validate_share_name(share).map_err(|_| StoreError::NoSuchShare(share.to_string()))?;
        let bucket = share_bucket(share);
        let b = {
            let rtxn = self.db().begin_read()?;
            let missing = || StoreError::NoSuchShare(share.to_string());
            let s: ShareRecord = codec::decode(
                rtxn.open_table(SHARES)?
                    .get(share)?
                    .ok_or_else(missing)?
                    .value(),
            )?;
            if s.deleted_ms.is_some() || s.expires_ms <= now_ms() {
                return Err(missing());
            }
            let b: BucketRecord = codec::decode(
                rtxn.open_table(BUCKETS)?
                    .get(bucket.as_str())?
                    .ok_or_else(missing)?
                    .value(),
            )?;
            b
        };
        Gate::new(p, &[Verb::List], &bucket)?.listing(under)?;
        let ino = self.dir_inos(b.id, vec![String::new()]).await?[0];
        let rtxn = self.db().begin_read()?;
        let root = dir_attr(&rtxn, &b, "", ino)?;
        Ok(FsShare {
            name: share.to_string(),
            bucket,
            bucket_id: b.id,
            root,
        })
    }

    /// The root directory of live share bucket `bucket` (a share or one of its snapshots): its
    /// id and attributes, for the file view's `.snapshots` directory (decision 0040).
    pub async fn fs_bucket_root(&self, p: &Principal, bucket: &str) -> Result<(u64, FsAttr)> {
        Gate::new(p, &[Verb::List], bucket)?.listing("")?;
        let b = live_bucket(&self.db().begin_read()?, bucket)?;
        let ino = self.dir_inos(b.id, vec![String::new()]).await?[0];
        let rtxn = self.db().begin_read()?;
        Ok((b.id, dir_attr(&rtxn, &b, "", ino)?))
    }

    /// The name of the share bucket with this id, if it is live (for handles, which carry ids).
    pub fn fs_bucket_name(&self, bucket_id: u64) -> Result<Option<String>> {
        let rtxn = self.db().begin_read()?;
        for e in rtxn.open_table(BUCKETS)?.iter()? {
            let (k, v) = e?;
            let b: BucketRecord = codec::decode(v.value())?;
            if b.id == bucket_id && b.kind == BucketKind::Share {
                return Ok(Some(k.value().to_string()));
            }
        }
        Ok(None)
    }

    pub fn fs_getattr(&self, p: &Principal, bucket: &str, ino: u64) -> Result<FsAttr> {
        self.fs_may(p, Verb::Get, bucket, ino)?;
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        let mut a = attr_of(&rtxn, &b, ino)?;
        self.atime_shown([&mut a]);
        Ok(a)
    }

    /// `name` in directory `dir`; `.` is the directory, `..` its parent (the root's is itself).
    pub async fn fs_lookup(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        name: &str,
    ) -> Result<FsAttr> {
        let gate = Gate::new(p, &[Verb::List], bucket)?;
        let (b, path) = {
            let rtxn = self.db().begin_read()?;
            let b = live_bucket(&rtxn, bucket)?;
            let path = dir_path(&rtxn, &b, dir)?;
            // Under a policy: a name in a directory the caller may list, or else what the
            // caller may reach by itself (a file it may read, a directory it may list).
            let listed = !gate.is_keyed() || gate.may_list(&path);
            match name {
                "." => {
                    if !listed {
                        gate.listing(&path)?;
                    }
                    return dir_attr(&rtxn, &b, &path, dir);
                }
                // The snapshots of a share, in its root (decision 0040); not listed there.
                SNAPSHOTS_DIR if path.is_empty() && b.snapshot_of.is_none() => {
                    if !listed {
                        gate.listing(&path)?;
                    }
                    return snapshots_attr(&rtxn, &b);
                }
                ".." => {
                    let parent = parent_path(&path).to_string();
                    if !listed {
                        gate.listing(&parent)?;
                    }
                    drop(rtxn);
                    let ino = self.dir_inos(b.id, vec![parent.clone()]).await?[0];
                    let rtxn = self.db().begin_read()?;
                    return dir_attr(&rtxn, &b, &parent, ino);
                }
                _ => {}
            }
            check_name(name)?;
            let key = format!("{path}{name}");
            crate::naming::check_key_len(BucketKind::Share, &key)?;
            if let Some(ino) = rtxn
                .open_table(ENTRIES)?
                .get(tables::entry_key(b.id, &key).as_slice())?
            {
                if !listed {
                    let tags = super::fs_gate::inode_tags(
                        &gate,
                        &rtxn.open_table(crate::tables::INODES)?,
                        ino.value(),
                    )?;
                    gate.read(&key, &tags)?;
                }
                let mut a = file_attr(&rtxn, ino.value())?;
                self.atime_shown([&mut a]);
                return Ok(a);
            }
            let sub = format!("{key}/");
            if !listed {
                // Whether the name exists is not told to a caller who may not list here.
                gate.listing(&sub)?;
            }
            if !dir_exists(&rtxn, &b, &sub)? {
                return Err(StoreError::NoSuchKey);
            }
            (b, sub)
        };
        let ino = self.dir_inos(b.id, vec![path.clone()]).await?[0];
        let rtxn = self.db().begin_read()?;
        dir_attr(&rtxn, &b, &path, ino)
    }

    /// Up to `max` entries of directory `dir` after position `after` (see
    /// [`FsDirEntry::position`]), in S3 key order. `.` and `..` are the caller's to add.
    pub async fn fs_readdir(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        after: Option<&str>,
        max: usize,
    ) -> Result<FsDirPage> {
        let gate = Gate::new(p, &[Verb::List], bucket)?;
        let (b, path) = {
            let rtxn = self.db().begin_read()?;
            let b = live_bucket(&rtxn, bucket)?;
            let path = dir_path(&rtxn, &b, dir)?;
            (b, path)
        };
        gate.listing(&path)?;
        // The listing an S3 browser makes of this folder, decided as that one would be.
        let lister = if gate.is_keyed() {
            std::borrow::Cow::Owned(super::fs_gate::listing_principal(p, &path))
        } else {
            std::borrow::Cow::Borrowed(p)
        };
        let page = self.list_objects(
            &lister,
            bucket,
            &ListQuery {
                prefix: path.clone(),
                delimiter: Some("/".into()),
                after: after.map(|a| format!("{path}{a}")),
                max_keys: max.max(1),
            },
        )?;
        let mut dirs = vec![parent_path(&path).to_string()];
        dirs.extend(page.entries.iter().filter_map(|e| match e {
            ListEntry::Prefix(p) => Some(p.clone()),
            ListEntry::Object { .. } => None,
        }));
        let inos = self.dir_inos(b.id, dirs.clone()).await?;
        let rtxn = self.db().begin_read()?;
        let entries_t = rtxn.open_table(ENTRIES)?;
        // Opened once for the page: a listing of many directories reads each one's attributes.
        let (inodes_t, times_t, subdirs_t) = (
            rtxn.open_table(INODES)?,
            rtxn.open_table(DIR_TIMES)?,
            rtxn.open_table(DIR_SUBDIRS)?,
        );
        let dirs_t = DirTables {
            entries: &entries_t,
            inodes: &inodes_t,
            times: &times_t,
            subdirs: &subdirs_t,
        };
        let mut out = Vec::with_capacity(page.entries.len());
        let mut dir_inos = inos[1..].iter();
        for e in page.entries {
            match e {
                ListEntry::Prefix(sub) => {
                    let Some(&ino) = dir_inos.next() else {
                        return Err(StoreError::internal("directory inode count"));
                    };
                    let position = sub[path.len()..].to_string();
                    let name = position.trim_end_matches('/').to_string();
                    out.push(FsDirEntry {
                        name,
                        position,
                        attr: dirs_t.attr(&b, &sub, ino)?,
                    });
                }
                ListEntry::Object { key, record } => {
                    if key == path {
                        continue; // the directory's own marker
                    }
                    let Some(ino) = entries_t.get(tables::entry_key(b.id, &key).as_slice())? else {
                        continue; // removed since the listing's snapshot
                    };
                    let position = key[path.len()..].to_string();
                    out.push(FsDirEntry {
                        name: position.clone(),
                        position,
                        attr: attr_from_record(ino.value(), FsKind::File, &record),
                    });
                }
            }
        }
        self.atime_shown(out.iter_mut().map(|e| &mut e.attr));
        Ok(FsDirPage {
            dir: dirs_t.attr(&b, &path, dir)?,
            parent_ino: inos[0],
            entries: out,
            eof: !page.truncated,
        })
    }

    /// Up to `count` bytes of file `ino` from `offset` (chunks verified as they are read).
    pub async fn fs_read(
        &self,
        p: &Principal,
        bucket: &str,
        ino: u64,
        offset: u64,
        count: u32,
    ) -> Result<FsRead> {
        self.fs_may(p, Verb::Get, bucket, ino)?;
        // The chunks are opened after the manifest's read transaction ended, unpinned: a READ
        // holds nothing between calls, and pinning for each one would tax every READ for a
        // race microseconds wide. When the file was removed or rewritten and its old chunks
        // collected in that window, the read fails; then the file is looked at again and
        // answers what a READ after the change would (`Stale`, or the new bytes). Chunk files
        // already open (by read-ahead) stay readable after GC unlinks them.
        let (mut attr, mut data) = self.fs_read_manifest(bucket, ino)?;
        // One pass over the manifest: whether a key must be asked, and (in `read_in_chunk`)
        // whether a chunk file may be sent as it is.
        let mut sealed = data.is_sealed();
        if sealed {
            self.kms_check_open(p, &data, (bucket, &format!("inode {ino}")))?;
        }
        let mut tries = 0;
        loop {
            let err = match self.fs_read_range(attr, &data, sealed, offset, count).await {
                Ok(mut r) => {
                    // A read of nothing is no access (as Linux's read(2) of 0 bytes); a
                    // snapshot's records stay as they were taken (decision 0040).
                    if count > 0 && crate::naming::snapshot_parts(bucket).is_none() {
                        self.atime_read(&mut r.attr);
                    } else {
                        self.atime_shown([&mut r.attr]);
                    }
                    return Ok(r);
                }
                Err(e) => e,
            };
            tries += 1;
            let (a, d) = self.fs_read_manifest(bucket, ino)?;
            let hashes = |d: &Data| d.chunks().iter().map(|c| c.hash).collect::<Vec<_>>();
            if tries >= 3 || hashes(&d) == hashes(&data) {
                return Err(err); // the same chunks: not that race
            }
            sealed = d.is_sealed();
            if sealed {
                self.kms_check_open(p, &d, (bucket, &format!("inode {ino}")))?;
            }
            (attr, data) = (a, d);
        }
    }

    /// File `ino`'s attributes and manifest, for a READ.
    fn fs_read_manifest(&self, bucket: &str, ino: u64) -> Result<(FsAttr, std::sync::Arc<Data>)> {
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        let attr = attr_of(&rtxn, &b, ino)?;
        regular_file(&attr)?;
        let data = match rtxn.open_table(INODE_DATA)?.get(ino)? {
            Some(d) => self.inner.manifests.decode(ino, d.value())?,
            None => Default::default(),
        };
        Ok((attr, data))
    }

    async fn fs_read_range(
        &self,
        attr: FsAttr,
        data: &Data,
        sealed: bool,
        offset: u64,
        count: u32,
    ) -> Result<FsRead> {
        let start = offset.min(attr.size);
        let end = offset.saturating_add(u64::from(count)).min(attr.size);
        let data = if end <= start {
            FsData::default()
        } else if !sealed && let Some(d) = self.read_in_chunk(data, start..end).await? {
            d
        } else {
            let mut pieces: Vec<Bytes> = Vec::new();
            let mut s = std::pin::pin!(self.read_data(data, start..end));
            while let Some(piece) = s.next().await {
                pieces.push(piece?);
            }
            FsData::Bytes(match pieces.len() {
                0 => Bytes::new(),
                1 => pieces.swap_remove(0),
                _ => {
                    let mut buf = BytesMut::with_capacity((end - start) as usize);
                    for p in &pieces {
                        buf.extend_from_slice(p);
                    }
                    buf.freeze()
                }
            })
        };
        Ok(FsRead {
            eof: end >= attr.size,
            attr,
            data,
        })
    }

    /// A read inside one chunk (the common aligned READ): that range of the chunk file, whose
    /// bytes were verified, not a copy. A read that reaches the chunk's end (what a sequential
    /// reader does; a random 4 KiB reader rarely) has the next chunk verified ahead. `None`
    /// when the range is inline or spans chunks.
    async fn read_in_chunk(
        &self,
        data: &Data,
        range: std::ops::Range<u64>,
    ) -> Result<Option<FsData>> {
        // (Not called for sealed data: a sealed chunk is opened whole, in memory, by
        // `read_data`, never sent from its file.)
        let Data::Chunks(chunks) = data else {
            return Ok(None);
        };
        let mut at = 0u64;
        for (i, c) in chunks.iter().enumerate() {
            let next = at + u64::from(c.len);
            if range.start < next {
                if range.end > next {
                    return Ok(None);
                }
                let blobs = &self.inner.blobs;
                if range.end == next
                    && let Some(n) = chunks.get(i + 1)
                {
                    self.inner.readahead.start(blobs, n.hash, n.len);
                }
                let file = self.inner.readahead.take(blobs, c.hash, c.len).await?;
                let data = FsData::File {
                    file,
                    offset: range.start - at,
                    len: (range.end - range.start) as usize,
                };
                // A small piece is read out now (from pages just verified, so in memory);
                // a large one is sent from the file.
                if data.len() < c.len as usize / 4 {
                    return Ok(Some(FsData::Bytes(data.to_bytes()?)));
                }
                return Ok(Some(data));
            }
            at = next;
        }
        Ok(None)
    }

    /// The target of symbolic link `ino`.
    pub async fn fs_readlink(&self, p: &Principal, bucket: &str, ino: u64) -> Result<Bytes> {
        self.fs_may(p, Verb::Get, bucket, ino)?;
        let (attr, data) = {
            let rtxn = self.db().begin_read()?;
            let b = live_bucket(&rtxn, bucket)?;
            let attr = attr_of(&rtxn, &b, ino)?;
            if attr.kind != FsKind::Symlink {
                return Err(StoreError::InvalidArgument(format!(
                    "inode {ino} is not a symbolic link"
                )));
            }
            let data: Data = match rtxn.open_table(INODE_DATA)?.get(ino)? {
                Some(d) => codec::decode(d.value())?,
                None => Data::default(),
            };
            (attr, data)
        };
        // Written inline by SYMLINK; an S3 client may have put a larger object with the mode
        // (sealed under a key of the key service, too: `use` of it first).
        if data.is_sealed() {
            self.kms_check_open(p, &data, (bucket, &format!("inode {ino}")))?;
        }
        // A target longer than any path (an object put over S3) is not cut short in silence.
        if attr.size > MAX_LINK as u64 {
            return Err(StoreError::KeyTooLong);
        }
        let mut buf = BytesMut::new();
        let mut s = std::pin::pin!(self.read_data(&data, 0..attr.size));
        while let Some(piece) = s.next().await {
            buf.extend_from_slice(&piece?);
        }
        Ok(buf.freeze())
    }

    /// What `df` shows for a share (FSSTAT): what it holds, with the room a write has.
    /// Asked with any handle of the share (`ino`): allowed when that one's attributes are.
    pub fn fs_stat(&self, p: &Principal, bucket: &str, ino: u64) -> Result<super::SpaceView> {
        self.fs_may(p, Verb::Get, bucket, ino)?;
        let rtxn = self.db().begin_read()?;
        let b = live_bucket(&rtxn, bucket)?;
        let (room, disk) = self.bucket_room(&rtxn, &b)?;
        Ok(super::SpaceView::new(
            b.usage_bytes,
            b.object_count,
            room,
            disk,
        ))
    }

    /// What the caller may do with inode `ino` (for NFS ACCESS): decided by the same
    /// `authorize()` every operation calls (under a policy, on the inode's keys; a
    /// directory's delete is its marker's, as close as one answer for all its names gets).
    pub fn fs_access(&self, p: &Principal, bucket: &str, ino: u64) -> FsAccess {
        let may = |v| self.fs_may(p, v, bucket, ino).is_ok();
        FsAccess {
            get: may(Verb::Get),
            list: may(Verb::List),
            put: may(Verb::Put),
            delete: may(Verb::Delete),
        }
    }

    /// The inode numbers of directories `paths` of bucket `bucket_id`, allocating (and
    /// recording) the missing ones in one transaction. An explicit marker lends its inode.
    pub(super) async fn dir_inos(&self, bucket_id: u64, paths: Vec<String>) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(paths.len());
        {
            let rtxn = self.db().begin_read()?;
            let t = rtxn.open_table(DIR_INODES)?;
            for path in &paths {
                match t.get(tables::entry_key(bucket_id, path).as_slice())? {
                    Some(v) => out.push(v.value()),
                    None => break,
                }
            }
        }
        if out.len() == paths.len() {
            return Ok(out);
        }
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut out = Vec::with_capacity(paths.len());
                for path in &paths {
                    let key = tables::entry_key(bucket_id, path);
                    let found = ns.dir_inodes()?.get(key.as_slice())?.map(|v| v.value());
                    let ino = match found {
                        Some(ino) => ino,
                        None => {
                            let marker = if path.is_empty() {
                                None
                            } else {
                                txn::lookup(&ns, bucket_id, path)?
                            };
                            let taken = match marker {
                                Some(m) => ns.dir_paths()?.get(m)?.is_some(),
                                None => true,
                            };
                            let ino = match marker {
                                Some(m) if !taken => m,
                                _ => txn::next_counter(&mut ns, "next_ino")?,
                            };
                            ns.dir_inodes_mut()?.insert(key.as_slice(), ino)?;
                            ns.dir_paths_mut()?.insert(ino, key.as_slice())?;
                            ino
                        }
                    };
                    out.push(ino);
                }
                Ok(out)
            })
            .await
    }
}

pub(super) fn live_bucket(rtxn: &ReadTransaction, bucket: &str) -> Result<BucketRecord> {
    live_bucket_in(&rtxn.open_table(BUCKETS)?, bucket)
}

/// Share bucket `bucket` from a BUCKETS table (of a read or a write transaction): anything
/// else, or nothing, is stale.
pub(super) fn live_bucket_in(
    buckets: &impl ReadableTable<&'static str, &'static [u8]>,
    bucket: &str,
) -> Result<BucketRecord> {
    let b: BucketRecord = codec::decode(buckets.get(bucket)?.ok_or(StoreError::Stale)?.value())?;
    if b.kind != BucketKind::Share {
        return Err(StoreError::Stale);
    }
    Ok(b)
}

/// A name inside a directory: one path segment.
/// Data operations (read, write, truncate) apply to regular files only: a directory is
/// `IsADirectory`, a symbolic link `InvalidArgument` (READLINK and SYMLINK handle its target).
pub(super) fn regular_file(attr: &FsAttr) -> Result<()> {
    match attr.kind {
        FsKind::File => Ok(()),
        FsKind::Dir => Err(StoreError::IsADirectory(format!("inode {}", attr.ino))),
        FsKind::Symlink => Err(StoreError::InvalidArgument(format!(
            "inode {} is a symbolic link",
            attr.ino
        ))),
        FsKind::Fifo | FsKind::Socket | FsKind::CharDev | FsKind::BlockDev => Err(
            StoreError::InvalidArgument(format!("inode {} is a special file", attr.ino)),
        ),
    }
}

/// [`check_name`] for a name to be made (CREATE, MKDIR, SYMLINK, MKNOD, LINK): `.` and `..`
/// always exist, so making one is EEXIST (as `mkdir(".")` is, and as knfsd answers), not EINVAL.
pub(super) fn check_new_name(name: &str) -> Result<()> {
    if name == "." || name == ".." {
        return Err(StoreError::Conflict(format!(
            "{name:?} exists in every directory"
        )));
    }
    check_name(name)
}

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
        return Err(StoreError::InvalidKey(format!(
            "{name:?} is not a file name (one path segment, no / or NUL)"
        )));
    }
    if name.len() > crate::naming::MAX_NAME {
        return Err(StoreError::KeyTooLong);
    }
    Ok(())
}

/// The directory whose listing shows `path`: `a/b/` → `a/`, `a/b/c` → `a/b/`, `a/` → `` ;
/// the root is its own parent.
pub(super) fn parent_path(path: &str) -> &str {
    let body = path.strip_suffix('/').unwrap_or(path);
    match body.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    }
}

/// The path of directory inode `ino` in bucket `b`: stale when it is not one of `b`'s
/// directories or nothing is left under it; not-a-directory when it is a file.
pub(super) fn dir_path(rtxn: &ReadTransaction, b: &BucketRecord, ino: u64) -> Result<String> {
    if ino == SNAPSHOTS_INO {
        return Err(snapshots_read_only());
    }
    let found = DirPaths {
        paths: &rtxn.open_table(DIR_PATHS)?,
        entries: &rtxn.open_table(ENTRIES)?,
    }
    .path(b, ino)?;
    match found {
        Some(path) => Ok(path),
        None => Err(not_a_dir(rtxn.open_table(INODES)?.get(ino)?.is_some(), ino)),
    }
}

/// The hidden directory of a share's root that holds its snapshots (decision 0040).
pub const SNAPSHOTS_DIR: &str = ".snapshots";
/// Its inode number in the share (never handed out to anything else: numbers are counted up
/// from 1).
pub const SNAPSHOTS_INO: u64 = u64::MAX - 1;

/// What a change of the `.snapshots` directory, or of its entries, is refused with.
pub(super) fn snapshots_read_only() -> StoreError {
    StoreError::AccessDenied(
        "the .snapshots directory is read-only (gatehouse share snapshot makes snapshots)".into(),
    )
}

/// Whether `name` in directory `path` of `b` is the `.snapshots` directory (a share's root
/// only; a snapshot's root has none).
pub(super) fn is_snapshots_dir(b: &BucketRecord, path: &str, name: &str) -> bool {
    path.is_empty() && name == SNAPSHOTS_DIR && b.snapshot_of.is_none()
}

/// A new entry `name` in directory `path` of `b`: `.snapshots` in a share's root is taken by
/// the snapshots directory, which LOOKUP finds first, so an entry of that name could never be
/// reached (decision 0040): refused as a name that exists.
pub(super) fn check_unreserved(b: &BucketRecord, path: &str, name: &str) -> Result<()> {
    if is_snapshots_dir(b, path, name) {
        return Err(StoreError::Conflict(format!(
            "{SNAPSHOTS_DIR:?} in a share's root is its snapshots directory"
        )));
    }
    Ok(())
}

/// The `.snapshots` directory's attributes: the root's times, read-only.
fn snapshots_attr(rtxn: &ReadTransaction, b: &BucketRecord) -> Result<FsAttr> {
    let root = rtxn
        .open_table(crate::tables::DIR_INODES)?
        .get(tables::entry_key(b.id, "").as_slice())?
        .map(|v| v.value())
        .ok_or(StoreError::Stale)?;
    let mut a = dir_attr(rtxn, b, "", root)?;
    a.ino = SNAPSHOTS_INO;
    a.mode = 0o555;
    a.nlink = 2;
    Ok(a)
}

/// Inode `ino` has no directory row: a file when it has an inode row, else gone.
pub(super) fn not_a_dir(is_file: bool, ino: u64) -> StoreError {
    if is_file {
        StoreError::NotADirectory(format!("inode {ino}"))
    } else {
        StoreError::Stale
    }
}

/// The path in a `DIR_PATHS` row, if that directory is in bucket `b` and still exists.
fn live_dir_path(rtxn: &ReadTransaction, b: &BucketRecord, raw: &[u8]) -> Result<String> {
    live_path(&rtxn.open_table(ENTRIES)?, b, raw)
}

/// The tables a directory's path comes from, opened by a read or a write transaction.
pub(super) struct DirPaths<'a, P, E> {
    pub paths: &'a P,
    pub entries: &'a E,
}

impl<P, E> DirPaths<'_, P, E>
where
    P: ReadableTable<u64, &'static [u8]>,
    E: ReadableTable<&'static [u8], u64>,
{
    /// See [`dir_path`]; `None` when `ino` is no directory at all (see [`not_a_dir`]).
    pub fn path(&self, b: &BucketRecord, ino: u64) -> Result<Option<String>> {
        match self.paths.get(ino)? {
            Some(v) => live_path(self.entries, b, v.value()).map(Some),
            None => Ok(None),
        }
    }
}

fn live_path(
    entries: &impl ReadableTable<&'static [u8], u64>,
    b: &BucketRecord,
    raw: &[u8],
) -> Result<String> {
    if raw.len() < 8 || raw[..8] != b.id.to_be_bytes() {
        return Err(StoreError::Stale);
    }
    let path = std::str::from_utf8(&raw[8..])
        .map_err(|_| StoreError::Corrupt("non-UTF-8 directory path".into()))?
        .to_string();
    if !dir_exists_in(entries, b, &path)? {
        return Err(StoreError::Stale);
    }
    Ok(path)
}

fn dir_exists(rtxn: &ReadTransaction, b: &BucketRecord, path: &str) -> Result<bool> {
    dir_exists_in(&rtxn.open_table(ENTRIES)?, b, path)
}

/// The root always exists; another directory while some key (its marker included) starts
/// with its path.
fn dir_exists_in(
    entries: &impl ReadableTable<&'static [u8], u64>,
    b: &BucketRecord,
    path: &str,
) -> Result<bool> {
    if path.is_empty() {
        return Ok(true);
    }
    super::txn::prefix_used(entries, &tables::entry_key(b.id, path))
}

pub(super) fn attr_of(rtxn: &ReadTransaction, b: &BucketRecord, ino: u64) -> Result<FsAttr> {
    if ino == SNAPSHOTS_INO && b.snapshot_of.is_none() {
        return snapshots_attr(rtxn, b);
    }
    if let Some(v) = rtxn.open_table(DIR_PATHS)?.get(ino)? {
        let path = live_dir_path(rtxn, b, v.value())?;
        return dir_attr(rtxn, b, &path, ino);
    }
    file_attr(rtxn, ino)
}

fn file_attr(rtxn: &ReadTransaction, ino: u64) -> Result<FsAttr> {
    Ok(attr_from_record(
        ino,
        FsKind::File,
        &file_record(rtxn, ino)?,
    ))
}

fn file_record(rtxn: &ReadTransaction, ino: u64) -> Result<ObjectRecord> {
    let v = rtxn
        .open_table(INODES)?
        .get(ino)?
        .ok_or(StoreError::Stale)?;
    codec::decode(v.value())
}

/// [`attr_of`], with a file's encryption too (its record decoded once; `None` for the rest).
pub(super) fn attr_and_sse(
    rtxn: &ReadTransaction,
    b: &BucketRecord,
    ino: u64,
) -> Result<(FsAttr, Option<crate::sse::SseMode>)> {
    if (ino == SNAPSHOTS_INO && b.snapshot_of.is_none())
        || rtxn.open_table(DIR_PATHS)?.get(ino)?.is_some()
    {
        return Ok((attr_of(rtxn, b, ino)?, None));
    }
    let rec = file_record(rtxn, ino)?;
    Ok((attr_from_record(ino, FsKind::File, &rec), rec.sse))
}

/// A directory's attributes: its marker's metadata when it has one, else defaults with the
/// bucket's creation time.
pub(super) fn dir_attr(
    rtxn: &ReadTransaction,
    b: &BucketRecord,
    path: &str,
    ino: u64,
) -> Result<FsAttr> {
    DirTables {
        entries: &rtxn.open_table(ENTRIES)?,
        inodes: &rtxn.open_table(INODES)?,
        times: &rtxn.open_table(DIR_TIMES)?,
        subdirs: &rtxn.open_table(DIR_SUBDIRS)?,
    }
    .attr(b, path, ino)
}

/// The tables a directory's attributes come from, opened by a read or a write transaction.
pub(super) struct DirTables<'a, E, I, T> {
    pub entries: &'a E,
    pub inodes: &'a I,
    pub times: &'a T,
    /// [`DIR_SUBDIRS`]: the same key and value types as `times`.
    pub subdirs: &'a T,
}

impl<E, I, T> DirTables<'_, E, I, T>
where
    E: ReadableTable<&'static [u8], u64>,
    I: ReadableTable<u64, &'static [u8]>,
    T: ReadableTable<&'static [u8], u64>,
{
    /// Directory `path` (inode `ino`) of bucket `b`: its marker's attributes, else defaults
    /// with the bucket's creation time; its mtime is its listing's last change when later;
    /// nlink 2 + its subdirectories (its `.` and its name in the parent, and each child's
    /// `..`), as POSIX filesystems count and find(1) relies on.
    pub fn attr(&self, b: &BucketRecord, path: &str, ino: u64) -> Result<FsAttr> {
        let key = tables::entry_key(b.id, path);
        // The root has no key: a record set on it (SETATTR) is kept under its own inode.
        let marker = if path.is_empty() {
            self.inodes.get(ino)?.map(|_| ino)
        } else {
            self.entries.get(key.as_slice())?.map(|v| v.value())
        };
        let rec = match marker {
            Some(m) => self
                .inodes
                .get(m)?
                .map(|v| codec::decode::<ObjectRecord>(v.value()))
                .transpose()?,
            None => None,
        };
        let mut attr = match rec {
            Some(r) => attr_from_record(ino, FsKind::Dir, &r),
            None => {
                let t = b.created_ms.saturating_mul(1_000_000);
                FsAttr {
                    ino,
                    kind: FsKind::Dir,
                    size: DIR_SIZE,
                    atime_ns: t,
                    mtime_ns: t,
                    ctime_ns: t,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    nlink: 2,
                    rdev: (0, 0),
                }
            }
        };
        if let Some(t) = self.times.get(key.as_slice())? {
            let t = i64::try_from(t.value()).unwrap_or(i64::MAX);
            // A listing change after the record's last change is the mtime now, even over a
            // time set in the future: a set time shows until the listing next changes.
            attr.mtime_ns = if t > attr.ctime_ns {
                t
            } else {
                attr.mtime_ns.max(t)
            };
            attr.ctime_ns = attr.ctime_ns.max(t);
        }
        let subdirs = self.subdirs.get(key.as_slice())?.map_or(0, |v| v.value());
        attr.nlink = u32::try_from(subdirs.saturating_add(2)).unwrap_or(u32::MAX);
        Ok(attr)
    }
}

/// Seconds a float `x-amz-meta-mtime` may have: what Unix ns in an i64 hold (year 2262).
const MAX_META_SECS: f64 = 9_223_372_036.0;

/// `x-amz-meta-mtime` (decimal seconds, as s3fs and rclone write it) in ns: digits after the
/// point are taken as written (`1.123` is 1,123,000,000 ns exactly); other float forms through
/// f64, rounded. `None`: not a time from 0 to what i64 ns hold (2262).
fn meta_time_ns(v: &str) -> Option<i64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(int) && (frac.is_empty() || digits(frac)) && int.len() <= 12 {
        let secs: i64 = int.parse().ok()?;
        let mut ns = 0i64;
        for (i, b) in frac.bytes().take(9).enumerate() {
            ns += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
        }
        // Past 2262 (i64 ns) a time cannot be kept: no time, as a malformed one.
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(ns));
    }
    let s: f64 = v.parse().ok()?;
    (s.is_finite() && (0.0..MAX_META_SECS).contains(&s)).then(|| (s * 1e9).round() as i64)
}

/// `ns` (≥ 0: NFSv3 times are unsigned) as `x-amz-meta-mtime` writes it: decimal seconds, up
/// to 9 digits after the point (none for a whole second), which [`meta_time_ns`] reads back
/// exactly.
pub(super) fn meta_time(ns: i64) -> String {
    let (secs, frac) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    if frac == 0 {
        return secs.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{secs}.{}", digits.trim_end_matches('0'))
}

/// POSIX attributes from an object record: `x-amz-meta-mode/uid/gid/rdev` (s3fs convention:
/// decimal numbers) when present; times from the record's [`FileTimes`] when the file view
/// keeps them, else `x-amz-meta-mtime` (seconds, fractional allowed as rclone writes it) and
/// the write time.
pub(super) fn attr_from_record(ino: u64, kind: FsKind, r: &ObjectRecord) -> FsAttr {
    let meta = |name: &str| {
        r.meta
            .user
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    let num = |name: &str| meta(name).and_then(|v| v.parse::<u32>().ok());
    let kind = match (kind, num("mode")) {
        (FsKind::File, Some(m)) => FsKind::special(m & S_IFMT).unwrap_or(FsKind::File),
        (k, _) => k,
    };
    let FileTimes {
        atime_ns,
        mtime_ns,
        ctime_ns,
    } = file_times(r);
    let (size, default_mode, nlink) = match kind {
        FsKind::Symlink => (r.size, 0o777, r.links()),
        FsKind::Dir => (DIR_SIZE, 0o755, 2),
        FsKind::File => (r.size, 0o644, r.links()),
        _ => (0, 0o644, r.links()),
    };
    let rdev = match kind {
        FsKind::CharDev | FsKind::BlockDev => meta("rdev")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or((0, 0), dev_numbers),
        _ => (0, 0),
    };
    FsAttr {
        ino,
        kind,
        size,
        atime_ns,
        mtime_ns,
        ctime_ns,
        mode: num("mode").map_or(default_mode, |m| m & 0o7777),
        uid: num("uid").unwrap_or(0),
        gid: num("gid").unwrap_or(0),
        nlink,
        rdev,
    }
}

/// The times the file view shows for `r`: kept in its [`FileTimes`], or derived from an
/// object as S3 wrote it (mtime = `x-amz-meta-mtime` when set, else the write time; atime =
/// mtime; ctime = the write time).
pub(crate) fn file_times(r: &ObjectRecord) -> FileTimes {
    if let Some(t) = r.times {
        return t;
    }
    let written_ns = r.mtime_ms.saturating_mul(1_000_000);
    let m = r
        .meta
        .user
        .iter()
        .find(|(k, _)| k == "mtime")
        .and_then(|(_, v)| meta_time_ns(v.trim()))
        .unwrap_or(written_ns);
    FileTimes {
        atime_ns: m,
        mtime_ns: m,
        ctime_ns: written_ns,
    }
}

/// Records a change of inode `r` at `now_ns`: its ctime moves (POSIX: every change of an
/// inode, data or attributes); atime and mtime stay as shown so far. Returns the times now
/// kept, for a caller that also moves mtime or atime.
pub(super) fn inode_changed(r: &mut ObjectRecord, now_ns: i64) -> &mut FileTimes {
    let mut t = file_times(r);
    t.ctime_ns = now_ns;
    r.times.insert(t)
}

/// (major, minor) of a Linux `dev_t` (glibc's `gnu_dev_major`/`gnu_dev_minor` encoding).
pub fn dev_numbers(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// The Linux `dev_t` of (major, minor) (glibc's `gnu_dev_makedev`).
pub fn dev_value(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::parent_path;

    #[test]
    fn meta_times_keep_their_digits() {
        use super::meta_time_ns;
        assert_eq!(
            meta_time_ns("1700000000.123"),
            Some(1_700_000_000_123_000_000)
        );
        assert_eq!(
            meta_time_ns("1700000000.123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(
            meta_time_ns("1700000000.1234567891"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(meta_time_ns("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(meta_time_ns("1.5e3"), Some(1_500_000_000_000));
        for bad in [
            "",
            ".",
            "x",
            "-1",
            "1e13",
            "NaN",
            "inf",
            "12.3.4",
            "1000000000000",
            // From an S3 client: seconds whose ns overflow an i64 (a panic in a debug build,
            // a wrapped, negative time in a release one).
            "99999999999",
            "9223372037",
            "99999999999.5",
            "9.3e9",
        ] {
            assert_eq!(meta_time_ns(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn meta_times_are_written_as_they_are_read() {
        use super::{meta_time, meta_time_ns};
        for (ns, text) in [
            (1_700_000_000_123_456_789, "1700000000.123456789"),
            (1_700_000_000_120_000_000, "1700000000.12"),
            (1_700_000_000_000_000_000, "1700000000"),
            (1, "0.000000001"),
        ] {
            assert_eq!(meta_time(ns), text);
            assert_eq!(meta_time_ns(text), Some(ns));
        }
    }

    #[test]
    fn device_numbers_round_trip() {
        use super::{dev_numbers, dev_value};
        for (ma, mi) in [
            (0, 0),
            (1, 3),
            (8, 1),
            (259, 65_536),
            (4095, 255),
            (70_000, 1 << 20),
        ] {
            assert_eq!(dev_numbers(dev_value(ma, mi)), (ma, mi));
        }
        assert_eq!(dev_value(1, 3), 259, "/dev/null as Linux numbers it");
    }

    #[test]
    fn parents() {
        assert_eq!(parent_path(""), "");
        assert_eq!(parent_path("a/"), "");
        assert_eq!(parent_path("a/b/"), "a/");
        assert_eq!(parent_path("a/b/c/"), "a/b/");
        assert_eq!(parent_path("a/b/c"), "a/b/", "a file's directory");
        assert_eq!(parent_path("c"), "");
    }
}
