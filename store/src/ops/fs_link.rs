//! Hard links and special files in the file view (decisions 0021 and 0022).
//!
//! A hard link is a second entry naming the same inode: `ObjectRecord::nlink` counts the
//! names, the data and its chunk references belong to the inode (held once, whatever the
//! number of names), and the bucket's usage counts the bytes once while its object count
//! counts names. Taking a name away (S3 PUT or DELETE, NFS REMOVE, rename over it) goes
//! through `txn::link_at` / `txn::unlink_object`, which know about links.
//!
//! A special file (FIFO, socket, character or block device) is an empty object whose
//! `x-amz-meta-mode` carries its type bits and, for a device, whose `x-amz-meta-rdev` carries
//! its Linux `dev_t` — what s3fs writes, so an s3fs mount of the bucket sees the same node.

use redb::ReadableTable;

use super::fs::{
    DirPaths, FsKind, FsMade, SNAPSHOTS_INO, attr_from_record, check_new_name, check_unreserved,
    dev_value, live_bucket_in, not_a_dir, snapshots_read_only,
};
use super::fs_gate::Gate;
use super::fs_write::{dir_attr_in, empty_record, set_meta};
use super::ns::Ns;
use super::txn::{self, prefix_used};
use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, Principal};
use crate::rbac::Verb;
use crate::{Store, tables};

/// Most names one inode may have (ext4's limit; PATHCONF's `linkmax`).
pub const LINK_MAX: u32 = 65_000;

/// A special file to make: its kind (FIFO, socket, character or block device), permission
/// bits, owner attributes and, for a device, its (major, minor) numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSpecial {
    pub kind: FsKind,
    /// Permission bits (`& 0o7777`); the type bits come from `kind`.
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Ignored unless `kind` is a device.
    pub rdev: (u32, u32),
}

/// Directory `dir` of bucket `b` as write transaction `ns` has it, and the key of `name` in it
/// (a new name's: checked against the key rules and the root's `.snapshots`). The one home for
/// CREATE, LINK and MKNOD.
pub(super) fn dir_key(ns: &Ns, b: &BucketRecord, dir: u64, name: &str) -> Result<(String, String)> {
    if dir == SNAPSHOTS_INO && b.snapshot_of.is_none() {
        return Err(snapshots_read_only());
    }
    let found = DirPaths {
        paths: ns.dir_paths()?,
        entries: ns.entries()?,
    }
    .path(b, dir)?;
    let Some(path) = found else {
        let is_file = ns.inodes()?.get(dir)?.is_some();
        return Err(not_a_dir(is_file, dir));
    };
    check_unreserved(b, &path, name)?;
    let key = format!("{path}{name}");
    crate::naming::validate_key(BucketKind::Share, &key)?;
    Ok((path, key))
}

/// A new name `key` must be free: no entry, no directory under it, no file on its path (LINK,
/// MKNOD, SYMLINK).
pub(super) fn check_free(ns: &Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if txn::lookup(ns, b.id, key)?.is_some()
        || prefix_used(ns.entries()?, &tables::entry_key(b.id, &format!("{key}/")))?
    {
        return Err(StoreError::Conflict(format!("{key:?} exists")));
    }
    txn::check_share_conflicts(ns, b, key)
}

impl Store {
    /// LINK: `name` in directory `dir` becomes another name of file `file` (an inode of this
    /// share: the gateway's handles say so, and links across shares are refused there). The
    /// name must be free (`Conflict`); a directory cannot be linked (`NotPermitted`, POSIX
    /// `EPERM`). The inode gains a link and its ctime moves; its bytes stay counted once.
    /// Returns the file's attributes and the directory's after the change.
    pub async fn fs_link(
        &self,
        p: &Principal,
        bucket: &str,
        file: u64,
        dir: u64,
        name: &str,
    ) -> Result<FsMade> {
        let gate = Gate::new(p, &[Verb::Put], bucket)?;
        check_new_name(name)?;
        let (bucket_s, name) = (bucket.to_string(), name.to_string());
        let (rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = live_bucket_in(ns.buckets()?, &bucket_s)?;
                if ns.dir_paths()?.get(file)?.is_some() {
                    return Err(StoreError::NotPermitted(format!(
                        "inode {file} is a directory: directories have no hard links"
                    )));
                }
                let mut rec = match ns.inodes()?.get(file)? {
                    Some(v) => crate::codec::decode::<crate::model::ObjectRecord>(v.value())?,
                    None => return Err(StoreError::Stale),
                };
                let (path, key) = dir_key(&ns, &b, dir, &name)?;
                // A new name of the same bytes: S3's CopyObject (read there, put here).
                if gate.is_keyed() {
                    gate.names(Verb::Get, &super::names::of_ns(&ns, b.id, file)?, &rec.tags)?;
                    gate.key(Verb::Put, &key)?;
                }
                check_free(&ns, &b, &key)?;
                txn::check_object_room(&ns, &b, &key)?;
                if rec.links() >= LINK_MAX {
                    return Err(StoreError::TooManyLinks(format!(
                        "inode {file} has {LINK_MAX} names"
                    )));
                }
                rec.nlink = rec.links() + 1;
                super::fs::inode_changed(&mut rec, crate::now_unix_ns());
                // A replica linked here is this site's own from now on (its new name is sent).
                crate::replication::queue::make_local(&mut rec);
                txn::put_inode(&mut ns, file, &rec, false)?;
                txn::entry_added(&mut ns, &b, &key)?;
                ns.entries_mut()?
                    .insert(tables::entry_key(b.id, &key).as_slice(), file)?;
                super::expiry_index::schedule(&mut ns, &b, &key, rec.mtime_ms)?;
                super::names::set(&mut ns, &b, &key, file, None)?;
                if b.replicated {
                    crate::replication::queue::key_added(&mut ns, &b, &key)?;
                }
                // A name more; the bytes are the inode's, counted once already.
                b.object_count += 1;
                txn::put_bucket(&mut ns, &b)?;
                Ok((rec, dir_attr_in(&ns, &b, &path, dir)?))
            })
            .await?;
        Ok(FsMade {
            attr: attr_from_record(file, FsKind::File, &rec),
            dir: Some(dir_after),
        })
    }

    /// MKNOD: special file `name` in directory `dir`: an empty object with
    /// `x-amz-meta-mode` = type bits | permission bits and, for a device,
    /// `x-amz-meta-rdev` = its Linux `dev_t` (decimal). Regular files, directories and links
    /// have their own calls (`InvalidArgument`).
    pub async fn fs_mknod(
        &self,
        p: &Principal,
        bucket: &str,
        dir: u64,
        name: &str,
        node: FsSpecial,
    ) -> Result<FsMade> {
        let gate = Gate::new(p, &[Verb::Put], bucket)?;
        check_new_name(name)?;
        let device = match node.kind {
            FsKind::CharDev | FsKind::BlockDev => true,
            FsKind::Fifo | FsKind::Socket => false,
            FsKind::File | FsKind::Dir | FsKind::Symlink => {
                return Err(StoreError::InvalidArgument(format!(
                    "{:?} is not a special file",
                    node.kind
                )));
            }
        };
        let (bucket_s, name) = (bucket.to_string(), name.to_string());
        let (ino, rec, dir_after) = self
            .fs_commit(move |t| {
                let mut ns = Ns::new(t);
                let mut b = live_bucket_in(ns.buckets()?, &bucket_s)?;
                let (path, key) = dir_key(&ns, &b, dir, &name)?;
                gate.key(Verb::Put, &key)?;
                check_free(&ns, &b, &key)?;
                txn::check_object_room(&ns, &b, &key)?;
                let mut rec = empty_record();
                let mode = node.kind.type_bits() | (node.mode & 0o7777);
                set_meta(&mut rec, "mode", mode.to_string());
                if let Some(u) = node.uid {
                    set_meta(&mut rec, "uid", u.to_string());
                }
                if let Some(g) = node.gid {
                    set_meta(&mut rec, "gid", g.to_string());
                }
                if device {
                    let (major, minor) = node.rdev;
                    set_meta(&mut rec, "rdev", dev_value(major, minor).to_string());
                }
                let ino = txn::link_at(&mut ns, &mut b, &key, &mut rec, None)?;
                Ok((ino, rec, dir_attr_in(&ns, &b, &path, dir)?))
            })
            .await?;
        Ok(FsMade {
            attr: attr_from_record(ino, FsKind::File, &rec),
            dir: Some(dir_after),
        })
    }
}
