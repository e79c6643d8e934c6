//! NFSv3 (program 100003): one function per procedure; each verifies the handle, makes one
//! store call under the caller's principal and packs the result with `nfs3_types`.
//!
//! An UNSTABLE WRITE is checked and buffered (`crate::writeback`), answered UNSTABLE with the
//! write verifier, and committed by COMMIT, by a later procedure on its share, or within a
//! second; a FILE_SYNC or DATA_SYNC WRITE is committed (group commit, fsync) before it is
//! answered. Every procedure of RFC 1813 is served; none answers `NFS3ERR_NOTSUPP`, which the
//! Linux client cannot name (its internal errno 524); docs/OPERATIONS.md lists each answer.
//!
//! Layout: this file dispatches and holds the shared packing helpers; `read` (attributes,
//! lookup, access, read, fsstat/fsinfo/pathconf), `readdir` (READDIR, READDIRPLUS, cookies),
//! `write` (setattr, write, commit, create/mkdir, remove/rmdir, rename), `link` (LINK, MKNOD).

use std::net::IpAddr;

use gatehouse_store::StoreError;
use gatehouse_store::ops::{FsAttr, FsCreate, FsDirPage, FsKind, FsMade, FsSetAttr, MAX_LINK};
use nfs3_types::nfs3::*;
use nfs3_types::xdr_codec::{List, Opaque, Pack, Void};
use sha2::{Digest, Sha256};

mod link;
mod read;
mod readdir;
mod snapshots;
mod write;

use crate::rpc::{self, Accept, Call, Cred};
use crate::xdr::{Garbage, Reader, pack, put_u32};
use crate::{Caller, Gateway, error};

pub(crate) use readdir::Cookies;

/// Largest READ and READDIR reply we build, and what FSINFO advertises.
const MAX_IO: u32 = 1 << 20;
/// Longest name in a share (PATHCONF's `name_max`): the store's rule.
const NAME_MAX: usize = gatehouse_store::naming::MAX_NAME;
const COOKIE_DOT: u64 = 1;
const COOKIE_DOTDOT: u64 = 2;

pub async fn call(gw: &Gateway, c: &Call, args: &[u8], ip: IpAddr) -> rpc::Reply {
    let xid = c.xid;
    if c.proc_ == 0 {
        return rpc::accepted(xid, Accept::Success).into();
    }
    if c.proc_ > 21 {
        return rpc::accepted(xid, Accept::ProcUnavail).into();
    }
    // Every procedure but NULL starts with a handle; a mount-token handle names its caller.
    let caller = match gw.caller_with(ip, fh(&mut Reader::new(args)).ok()) {
        Ok(c) => c,
        Err(e) => {
            error::log("principal", &e);
            return rpc::accepted(xid, Accept::SystemErr).into();
        }
    };
    // Buffered UNSTABLE writes reach the store before anything else looks at their share.
    if !matches!(c.proc_, 7 | 21)
        && !gw.writeback.is_empty()
        && let Ok(raw) = fh(&mut Reader::new(args))
        && let Some(h) = gw.verify(&caller, raw)
    {
        Box::pin(gw.writeback.flush_bucket(&gw.store, h.bucket_id)).await;
    }
    // Each procedure's future is boxed on its own: this one stays small, so a call costs an
    // allocation of what its procedure needs, not a move of the largest procedure's state.
    let mut r = Reader::new(args);
    let mut out = rpc::accepted(xid, Accept::Success);
    let mut tail = gatehouse_store::ops::FsData::default();
    let res = match c.proc_ {
        1 => read::getattr(gw, &caller, &mut r, &mut out),
        2 => Box::pin(write::setattr(gw, &caller, &mut r, &mut out)).await,
        3 => Box::pin(read::lookup(gw, &caller, &mut r, &mut out)).await,
        4 => read::access(gw, &caller, &mut r, &mut out),
        5 => Box::pin(read::readlink(gw, &caller, &mut r, &mut out)).await,
        6 => Box::pin(read::read(gw, &caller, &mut r, &mut out, &mut tail)).await,
        7 => Box::pin(write::write(gw, &caller, &mut r, &mut out)).await,
        8 => Box::pin(write::create(gw, &caller, &c.cred, &mut r, &mut out, false)).await,
        9 => Box::pin(write::create(gw, &caller, &c.cred, &mut r, &mut out, true)).await,
        10 => Box::pin(write::symlink(gw, &caller, &c.cred, &mut r, &mut out)).await,
        11 => Box::pin(link::mknod(gw, &caller, &c.cred, &mut r, &mut out)).await,
        12 => Box::pin(write::remove(gw, &caller, &mut r, &mut out, false)).await,
        13 => Box::pin(write::remove(gw, &caller, &mut r, &mut out, true)).await,
        14 => Box::pin(write::rename(gw, &caller, &mut r, &mut out)).await,
        15 => Box::pin(link::link(gw, &caller, &mut r, &mut out)).await,
        16 => Box::pin(readdir::readdir(gw, &caller, &mut r, &mut out, false)).await,
        17 => Box::pin(readdir::readdir(gw, &caller, &mut r, &mut out, true)).await,
        18 => read::fsstat(gw, &caller, &mut r, &mut out),
        19 => read::fsinfo(gw, &caller, &mut r, &mut out),
        20 => read::pathconf(gw, &caller, &mut r, &mut out),
        21 => Box::pin(write::commit(gw, &caller, &mut r, &mut out)).await,
        _ => return rpc::accepted(xid, Accept::ProcUnavail).into(),
    };
    match res {
        Ok(()) => rpc::Reply { body: out, tail },
        Err(Garbage) => rpc::accepted(xid, Accept::GarbageArgs).into(),
    }
}

fn fh<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Garbage> {
    r.opaque(NFS3_FHSIZE)
}

/// A file name argument: bounded generously so an over-long name gets NAMETOOLONG, not
/// GARBAGE_ARGS.
fn name<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Garbage> {
    r.opaque(4096)
}

fn time(ns: i64) -> nfstime3 {
    let ns = ns.max(0);
    nfstime3 {
        seconds: u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX),
        nseconds: (ns % 1_000_000_000) as u32,
    }
}

fn fattr(bucket_id: u64, a: &FsAttr) -> fattr3 {
    fattr3 {
        type_: match a.kind {
            FsKind::File => ftype3::NF3REG,
            FsKind::Dir => ftype3::NF3DIR,
            FsKind::Symlink => ftype3::NF3LNK,
            FsKind::Fifo => ftype3::NF3FIFO,
            FsKind::Socket => ftype3::NF3SOCK,
            FsKind::CharDev => ftype3::NF3CHR,
            FsKind::BlockDev => ftype3::NF3BLK,
        },
        mode: a.mode,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        used: a.size.div_ceil(4096) * 4096,
        rdev: specdata3 {
            specdata1: a.rdev.0,
            specdata2: a.rdev.1,
        },
        fsid: bucket_id,
        fileid: a.ino,
        atime: time(a.atime_ns),
        mtime: time(a.mtime_ns),
        ctime: time(a.ctime_ns),
    }
}

fn fail(out: &mut Vec<u8>, stat: nfsstat3, rest: &impl Pack) {
    pack(out, &stat);
    pack(out, rest);
}

/// The share and handle behind `raw`, or `None` after packing the refusal (`rest` is the
/// procedure's failure body) into `out`.
fn open(
    gw: &Gateway,
    c: &Caller,
    raw: &[u8],
    out: &mut Vec<u8>,
    rest: &impl Pack,
) -> Option<(String, crate::handle::Handle)> {
    match gw.open(c, raw) {
        Ok(x) => Some(x),
        Err(s) => {
            fail(out, s, rest);
            None
        }
    }
}

/// [`open`] for a procedure that changes what `raw` names (a file, or a directory's entries):
/// `NFS3ERR_ROFS` in a read-only file system ([`read_only`]).
fn open_writable(
    gw: &Gateway,
    c: &Caller,
    raw: &[u8],
    out: &mut Vec<u8>,
    rest: &impl Pack,
) -> Option<(String, crate::handle::Handle)> {
    let (bucket, h) = open(gw, c, raw, out, rest)?;
    if read_only(&bucket, &h) {
        fail(out, nfsstat3::NFS3ERR_ROFS, rest);
        return None;
    }
    Some((bucket, h))
}

/// Whether handle `h` of bucket `bucket` is in a read-only file system: a share's `.snapshots`
/// directory, or anything inside a snapshot (decision 0040). Changes there are
/// `NFS3ERR_ROFS` (RFC 1813 §2.6: "a modifying operation was attempted on a read-only file
/// system"), decided before the store is asked; the store refuses them too, as access denied,
/// which is also what S3 answers.
fn read_only(bucket: &str, h: &crate::handle::Handle) -> bool {
    h.ino == gatehouse_store::ops::SNAPSHOTS_INO
        || gatehouse_store::naming::snapshot_parts(bucket).is_some()
}

fn no_attr() -> post_op_attr {
    Nfs3Option::None
}

/// Turns a store error into its status, logging server-side failures once.
fn status(op: &str, e: &StoreError) -> nfsstat3 {
    error::log(op, e);
    error::nfsstat(e)
}

fn no_wcc() -> wcc_data {
    wcc_data {
        before: Nfs3Option::None,
        after: Nfs3Option::None,
    }
}

fn wcc_after(bucket_id: u64, a: Option<&FsAttr>) -> wcc_data {
    wcc_data {
        before: Nfs3Option::None,
        after: match a {
            Some(a) => Nfs3Option::Some(fattr(bucket_id, a)),
            None => Nfs3Option::None,
        },
    }
}
