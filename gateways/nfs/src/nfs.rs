//! NFSv3 (program 100003): one function per procedure; each verifies the handle, makes one
//! store call under the caller's principal and packs the result with `nfs3_types`.
//!
//! Every WRITE is committed (group commit, fsync) before it is answered, so it is FILE_SYNC and
//! COMMIT has nothing left to do. LINK, SYMLINK and MKNOD answer `NFS3ERR_NOTSUPP`.

use std::net::IpAddr;

use gatehouse_store::StoreError;
use gatehouse_store::ops::{FsAttr, FsCreate, FsDirPage, FsKind, FsSetAttr};
use nfs3_types::nfs3::*;
use nfs3_types::xdr_codec::{List, Opaque, Pack, Void};
use sha2::{Digest, Sha256};

use crate::rpc::{self, Accept, Call, Cred};
use crate::xdr::{Garbage, Reader, pack};
use crate::{Caller, Gateway, MAX_COOKIES, error};

/// Largest READ and READDIR reply we build, and what FSINFO advertises.
const MAX_IO: u32 = 1 << 20;
const NAME_MAX: usize = 255;
const COOKIE_DOT: u64 = 1;
const COOKIE_DOTDOT: u64 = 2;

pub async fn call(gw: &Gateway, c: &Call, args: &[u8], ip: IpAddr) -> Vec<u8> {
    let xid = c.xid;
    if c.proc_ == 0 {
        return rpc::accepted(xid, Accept::Success);
    }
    if c.proc_ > 21 {
        return rpc::accepted(xid, Accept::ProcUnavail);
    }
    let caller = match gw.caller(ip) {
        Ok(c) => c,
        Err(e) => {
            error::log("principal", &e);
            return rpc::accepted(xid, Accept::SystemErr);
        }
    };
    let mut r = Reader::new(args);
    let mut out = rpc::accepted(xid, Accept::Success);
    let res = match c.proc_ {
        1 => getattr(gw, &caller, &mut r, &mut out),
        2 => setattr(gw, &caller, &mut r, &mut out).await,
        3 => lookup(gw, &caller, &mut r, &mut out).await,
        4 => access(gw, &caller, &mut r, &mut out),
        5 => readlink(&mut r, &mut out),
        6 => read(gw, &caller, &mut r, &mut out).await,
        7 => write(gw, &caller, &mut r, &mut out).await,
        8 => create(gw, &caller, &c.cred, &mut r, &mut out, false).await,
        9 => create(gw, &caller, &c.cred, &mut r, &mut out, true).await,
        12 => remove(gw, &caller, &mut r, &mut out, false).await,
        13 => remove(gw, &caller, &mut r, &mut out, true).await,
        14 => rename(gw, &caller, &mut r, &mut out).await,
        16 => readdir(gw, &caller, &mut r, &mut out, false).await,
        17 => readdir(gw, &caller, &mut r, &mut out, true).await,
        18 => fsstat(gw, &caller, &mut r, &mut out),
        19 => fsinfo(gw, &caller, &mut r, &mut out),
        20 => pathconf(gw, &caller, &mut r, &mut out),
        21 => commit(gw, &caller, &mut r, &mut out),
        p => not_supported(p, &mut out),
    };
    match res {
        Ok(()) => out,
        Err(Garbage) => rpc::accepted(xid, Accept::GarbageArgs),
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

fn time(ms: i64) -> nfstime3 {
    let ms = ms.max(0);
    nfstime3 {
        seconds: u32::try_from(ms / 1000).unwrap_or(u32::MAX),
        nseconds: ((ms % 1000) * 1_000_000) as u32,
    }
}

fn fattr(bucket_id: u64, a: &FsAttr) -> fattr3 {
    let t = time(a.mtime_ms);
    fattr3 {
        type_: match a.kind {
            FsKind::File => ftype3::NF3REG,
            FsKind::Dir => ftype3::NF3DIR,
        },
        mode: a.mode,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        used: a.size.div_ceil(4096) * 4096,
        rdev: specdata3::default(),
        fsid: bucket_id,
        fileid: a.ino,
        atime: t,
        mtime: t,
        ctime: t,
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

fn no_attr() -> post_op_attr {
    Nfs3Option::None
}

/// Turns a store error into its status, logging server-side failures once.
fn status(op: &str, e: &StoreError) -> nfsstat3 {
    error::log(op, e);
    error::nfsstat(e)
}

fn getattr(gw: &Gateway, c: &Caller, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let res: GETATTR3res = match gw.open(c, raw) {
        Err(s) => Nfs3Result::Err((s, Void)),
        Ok((bucket, h)) => match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
            Ok(a) => Nfs3Result::Ok(GETATTR3resok {
                obj_attributes: fattr(h.bucket_id, &a),
            }),
            Err(e) => Nfs3Result::Err((status("getattr", &e), Void)),
        },
    };
    pack(out, &res);
    Ok(())
}

async fn lookup(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    if nm.len() > NAME_MAX {
        fail(out, nfsstat3::NFS3ERR_NAMETOOLONG, &no_attr());
        return Ok(());
    }
    let Ok(nm) = std::str::from_utf8(nm) else {
        fail(out, nfsstat3::NFS3ERR_NOENT, &no_attr());
        return Ok(());
    };
    let res: LOOKUP3res = match gw.store.fs_lookup(&c.principal, &bucket, h.ino, nm).await {
        Ok(a) => Nfs3Result::Ok(LOOKUP3resok {
            object: nfs_fh3 {
                data: Opaque::owned(gw.mint(c, h.bucket_id, a.ino)),
            },
            obj_attributes: Nfs3Option::Some(fattr(h.bucket_id, &a)),
            dir_attributes: dir_attr(gw, c, &bucket, h.bucket_id, h.ino),
        }),
        Err(e) => {
            // A name that cannot be a key (NUL, `/`) cannot exist either.
            let s = match e {
                StoreError::InvalidKey(_) => nfsstat3::NFS3ERR_NOENT,
                ref e => status("lookup", e),
            };
            Nfs3Result::Err((
                s,
                LOOKUP3resfail {
                    dir_attributes: no_attr(),
                },
            ))
        }
    };
    pack(out, &res);
    Ok(())
}

fn dir_attr(gw: &Gateway, c: &Caller, bucket: &str, bucket_id: u64, ino: u64) -> post_op_attr {
    match gw.store.fs_getattr(&c.principal, bucket, ino) {
        Ok(a) => Nfs3Option::Some(fattr(bucket_id, &a)),
        Err(_) => Nfs3Option::None,
    }
}

fn access(gw: &Gateway, c: &Caller, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let wanted = r.u32()?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let a = match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
        Ok(a) => a,
        Err(e) => {
            fail(out, status("access", &e), &no_attr());
            return Ok(());
        }
    };
    let may = gw.store.fs_access(&c.principal, &bucket);
    let mut granted = 0;
    if may.get {
        granted |= ACCESS3_READ;
        if a.kind == FsKind::File {
            granted |= ACCESS3_EXECUTE;
        }
    }
    if may.list && a.kind == FsKind::Dir {
        granted |= ACCESS3_LOOKUP | ACCESS3_EXECUTE;
    }
    if may.put {
        granted |= ACCESS3_MODIFY | ACCESS3_EXTEND;
    }
    if may.delete && a.kind == FsKind::Dir {
        granted |= ACCESS3_DELETE;
    }
    let res: ACCESS3res = Nfs3Result::Ok(ACCESS3resok {
        obj_attributes: Nfs3Option::Some(fattr(h.bucket_id, &a)),
        access: wanted & granted,
    });
    pack(out, &res);
    Ok(())
}

fn readlink(r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    fh(r)?;
    fail(out, nfsstat3::NFS3ERR_NOTSUPP, &no_attr());
    Ok(())
}

async fn read(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let offset = r.u64()?;
    let count = r.u32()?.min(MAX_IO);
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let got = gw
        .store
        .fs_read(&c.principal, &bucket, h.ino, offset, count)
        .await;
    let res: READ3res = match &got {
        Ok(rd) => Nfs3Result::Ok(READ3resok {
            file_attributes: Nfs3Option::Some(fattr(h.bucket_id, &rd.attr)),
            count: rd.data.len() as u32,
            eof: rd.eof,
            data: Opaque::borrowed(&rd.data),
        }),
        Err(e) => Nfs3Result::Err((
            status("read", e),
            READ3resfail {
                file_attributes: no_attr(),
            },
        )),
    };
    pack(out, &res);
    Ok(())
}

/// A cookie names a position in the directory (its S3 key order), not an index, so it stays
/// valid while entries come and go: the first 63 bits of SHA-256 of the position, top bit
/// set (1 and 2 are `.` and `..`). The position is remembered for the next page; a forgotten
/// cookie (restart, eviction) is found again by scanning the directory.
fn cookie_of(position: &str) -> u64 {
    let d = Sha256::digest(position.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b) | (1 << 63)
}

async fn resolve_cookie(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    dir: u64,
    cookie: u64,
) -> Result<Option<String>, nfsstat3> {
    if cookie == 0 || cookie == COOKIE_DOT || cookie == COOKIE_DOTDOT {
        return Ok(None);
    }
    if let Some(p) = gw.cookie_cache().get(&(dir, cookie)) {
        return Ok(Some(p.clone()));
    }
    let mut after: Option<String> = None;
    loop {
        let page = gw
            .store
            .fs_readdir(&c.principal, bucket, dir, after.as_deref(), 1000)
            .await
            .map_err(|e| status("readdir", &e))?;
        if let Some(e) = page
            .entries
            .iter()
            .find(|e| cookie_of(&e.position) == cookie)
        {
            return Ok(Some(e.position.clone()));
        }
        match page.entries.last() {
            Some(last) if !page.eof => after = Some(last.position.clone()),
            _ => return Err(nfsstat3::NFS3ERR_BAD_COOKIE),
        }
    }
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

async fn readdir(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    plus: bool,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let cookie = r.u64()?;
    let _verf: [u8; 8] = r.fixed()?;
    let budget = if plus {
        let _dircount = r.u32()?;
        r.u32()?
    } else {
        r.u32()?
    }
    .min(MAX_IO) as usize;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let after = match resolve_cookie(gw, c, &bucket, h.ino, cookie).await {
        Ok(a) => a,
        Err(s) => {
            fail(out, s, &no_attr());
            return Ok(());
        }
    };
    let per_entry = if plus { 200 } else { 40 };
    let want = (budget / per_entry).clamp(1, 4096);
    let page = match gw
        .store
        .fs_readdir(&c.principal, &bucket, h.ino, after.as_deref(), want)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            fail(out, status("readdir", &e), &no_attr());
            return Ok(());
        }
    };
    let dir_attributes = Nfs3Option::Some(fattr(h.bucket_id, &page.dir));
    // Status, attributes, verifier, list end and eof.
    let mut used = 4 + dir_attributes.packed_size() + 8 + 4 + 4;
    let fixed = if plus {
        4 + 8 + 4 + 8 + 4 + 84 + 4 + 4 + pad4(crate::handle::LEN)
    } else {
        4 + 8 + 4 + 8
    };
    let mut items: Vec<(u64, String, u64, Option<FsAttr>)> = Vec::new();
    let dots = dot_entries(&page, h.ino, cookie, after.is_some());
    let total = dots.len() + page.entries.len();
    for (ino, nm, ck, attr) in dots.into_iter().chain(page.entries.iter().map(|e| {
        (
            e.attr.ino,
            e.name.clone(),
            cookie_of(&e.position),
            Some(e.attr.clone()),
        )
    })) {
        let size = fixed + pad4(nm.len());
        if used + size > budget {
            break;
        }
        used += size;
        items.push((ino, nm, ck, attr));
    }
    let eof = page.eof && items.len() == total;
    if items.is_empty() && !eof {
        fail(out, nfsstat3::NFS3ERR_TOOSMALL, &dir_attributes);
        return Ok(());
    }
    {
        let mut cache = gw.cookie_cache();
        if cache.len() + items.len() > MAX_COOKIES {
            cache.clear();
        }
        for e in page.entries.iter().take(items.len()) {
            cache.insert((h.ino, cookie_of(&e.position)), e.position.clone());
        }
    }
    pack(out, &nfsstat3::NFS3_OK);
    pack(out, &dir_attributes);
    pack(out, &cookieverf3::default());
    if plus {
        let entries = items
            .iter()
            .map(|(ino, nm, ck, attr)| entryplus3 {
                fileid: *ino,
                name: filename3(Opaque::borrowed(nm.as_bytes())),
                cookie: *ck,
                name_attributes: match attr {
                    Some(a) => Nfs3Option::Some(fattr(h.bucket_id, a)),
                    None => Nfs3Option::None,
                },
                name_handle: match attr {
                    Some(a) => Nfs3Option::Some(nfs_fh3 {
                        data: Opaque::owned(gw.mint(c, h.bucket_id, a.ino)),
                    }),
                    None => Nfs3Option::None,
                },
            })
            .collect();
        pack(
            out,
            &dirlistplus3 {
                entries: List(entries),
                eof,
            },
        );
    } else {
        let entries = items
            .iter()
            .map(|(ino, nm, ck, _)| entry3 {
                fileid: *ino,
                name: filename3(Opaque::borrowed(nm.as_bytes())),
                cookie: *ck,
            })
            .collect();
        pack(
            out,
            &dirlist3 {
                entries: List(entries),
                eof,
            },
        );
    }
    Ok(())
}

/// `.` and `..` come first (cookies 1 and 2), as `ls -a` expects.
fn dot_entries(
    page: &FsDirPage,
    dir: u64,
    cookie: u64,
    resuming: bool,
) -> Vec<(u64, String, u64, Option<FsAttr>)> {
    let mut v = Vec::new();
    if resuming {
        return v;
    }
    if cookie == 0 {
        v.push((dir, ".".to_string(), COOKIE_DOT, Some(page.dir.clone())));
    }
    if cookie <= COOKIE_DOT {
        v.push((page.parent_ino, "..".to_string(), COOKIE_DOTDOT, None));
    }
    v
}

fn fsstat(gw: &Gateway, c: &Caller, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let res: FSSTAT3res = match gw.store.fs_stat(&c.principal, &bucket) {
        Ok(s) => {
            // An unlimited share reports the largest quota a share may have.
            let total = if s.quota_bytes == 0 {
                gatehouse_store::ops::MAX_SHARE_QUOTA.max(s.used_bytes)
            } else {
                s.quota_bytes.max(s.used_bytes)
            };
            let free = total - s.used_bytes;
            let files = 1u64 << 32;
            Nfs3Result::Ok(FSSTAT3resok {
                obj_attributes: dir_attr(gw, c, &bucket, h.bucket_id, h.ino),
                tbytes: total,
                fbytes: free,
                abytes: free,
                tfiles: files,
                ffiles: files.saturating_sub(s.object_count),
                afiles: files.saturating_sub(s.object_count),
                invarsec: 0,
            })
        }
        Err(e) => Nfs3Result::Err((
            status("fsstat", &e),
            FSSTAT3resfail {
                obj_attributes: no_attr(),
            },
        )),
    };
    pack(out, &res);
    Ok(())
}

fn fsinfo(gw: &Gateway, c: &Caller, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let res: FSINFO3res = match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
        Ok(a) => Nfs3Result::Ok(FSINFO3resok {
            obj_attributes: Nfs3Option::Some(fattr(h.bucket_id, &a)),
            rtmax: MAX_IO,
            rtpref: MAX_IO,
            rtmult: 4096,
            wtmax: MAX_IO,
            wtpref: MAX_IO,
            wtmult: 4096,
            dtpref: 64 << 10,
            maxfilesize: gw.store.config().max_object_size,
            time_delta: nfstime3 {
                seconds: 0,
                nseconds: 1_000_000,
            },
            properties: FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
        }),
        Err(e) => Nfs3Result::Err((
            status("fsinfo", &e),
            FSINFO3resfail {
                obj_attributes: no_attr(),
            },
        )),
    };
    pack(out, &res);
    Ok(())
}

fn pathconf(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let res: PATHCONF3res = match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
        Ok(a) => Nfs3Result::Ok(PATHCONF3resok {
            obj_attributes: Nfs3Option::Some(fattr(h.bucket_id, &a)),
            linkmax: 1,
            name_max: NAME_MAX as u32,
            no_trunc: true,
            chown_restricted: true,
            case_insensitive: false,
            case_preserving: true,
        }),
        Err(e) => Nfs3Result::Err((
            status("pathconf", &e),
            PATHCONF3resfail {
                obj_attributes: no_attr(),
            },
        )),
    };
    pack(out, &res);
    Ok(())
}

/// LINK, SYMLINK, MKNOD: one key cannot share an inode with another yet, symlinks have no
/// representation in the bucket yet, devices never will.
fn not_supported(proc_: u32, out: &mut Vec<u8>) -> Result<(), Garbage> {
    pack(out, &nfsstat3::NFS3ERR_NOTSUPP);
    if proc_ == 15 {
        pack(out, &no_attr());
    }
    pack(out, &no_wcc());
    Ok(())
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

fn opt_u32(r: &mut Reader<'_>) -> Result<Option<u32>, Garbage> {
    match r.u32()? {
        0 => Ok(None),
        1 => Ok(Some(r.u32()?)),
        _ => Err(Garbage),
    }
}

/// `sattr3`: each field set or not, independently; atime is accepted and not kept.
fn sattr(r: &mut Reader<'_>) -> Result<FsSetAttr, Garbage> {
    let mode = opt_u32(r)?;
    let uid = opt_u32(r)?;
    let gid = opt_u32(r)?;
    let size = match r.u32()? {
        0 => None,
        1 => Some(r.u64()?),
        _ => return Err(Garbage),
    };
    let mut times = [None, None];
    for t in &mut times {
        *t = match r.u32()? {
            0 => None,
            1 => Some(gatehouse_store::now_unix_ms()),
            2 => {
                let secs = i64::from(r.u32()?);
                let nanos = i64::from(r.u32()?);
                Some(secs * 1000 + nanos / 1_000_000)
            }
            _ => return Err(Garbage),
        };
    }
    Ok(FsSetAttr {
        mode,
        uid,
        gid,
        size,
        mtime_ms: times[1],
    })
}

/// A name for something new: too long → NAMETOOLONG, not UTF-8 → INVAL.
fn new_name(raw: &[u8]) -> Result<&str, nfsstat3> {
    if raw.len() > NAME_MAX {
        return Err(nfsstat3::NFS3ERR_NAMETOOLONG);
    }
    std::str::from_utf8(raw).map_err(|_| nfsstat3::NFS3ERR_INVAL)
}

async fn setattr(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let attrs = sattr(r)?;
    let guard = match r.u32()? {
        0 => None,
        1 => Some((r.u32()?, r.u32()?)),
        _ => return Err(Garbage),
    };
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    if let Some((sec, nsec)) = guard {
        match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
            Ok(a) => {
                let t = time(a.mtime_ms);
                if (t.seconds, t.nseconds) != (sec, nsec) {
                    fail(
                        out,
                        nfsstat3::NFS3ERR_NOT_SYNC,
                        &wcc_after(h.bucket_id, Some(&a)),
                    );
                    return Ok(());
                }
            }
            Err(e) => {
                fail(out, status("setattr", &e), &no_wcc());
                return Ok(());
            }
        }
    }
    let res: SETATTR3res = match gw
        .store
        .fs_setattr(&c.principal, &bucket, h.ino, attrs)
        .await
    {
        Ok(a) => Nfs3Result::Ok(SETATTR3resok {
            obj_wcc: wcc_after(h.bucket_id, Some(&a)),
        }),
        Err(e) => Nfs3Result::Err((status("setattr", &e), SETATTR3resfail { obj_wcc: no_wcc() })),
    };
    pack(out, &res);
    Ok(())
}

async fn write(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let offset = r.u64()?;
    let count = r.u32()? as usize;
    let _stable = r.u32()?;
    let data = r.opaque(MAX_IO as usize)?;
    if data.len() != count {
        return Err(Garbage);
    }
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    let got = gw
        .store
        .fs_write(
            &c.principal,
            &bucket,
            h.ino,
            offset,
            bytes::Bytes::copy_from_slice(data),
        )
        .await;
    let res: WRITE3res = match got {
        Ok(a) => Nfs3Result::Ok(WRITE3resok {
            file_wcc: wcc_after(h.bucket_id, Some(&a)),
            count: data.len() as u32,
            // Committed before this reply: the truth, whatever the client asked for.
            committed: stable_how::FILE_SYNC,
            verf: writeverf3(gw.write_verifier),
        }),
        Err(e) => Nfs3Result::Err((status("write", &e), WRITE3resfail { file_wcc: no_wcc() })),
    };
    pack(out, &res);
    Ok(())
}

fn commit(gw: &Gateway, c: &Caller, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let _offset = r.u64()?;
    let _count = r.u32()?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    // Every WRITE was durable when answered; COMMIT only confirms it (libnfs sends it on
    // every fsync).
    let res: COMMIT3res = match gw.store.fs_getattr(&c.principal, &bucket, h.ino) {
        Ok(a) => Nfs3Result::Ok(COMMIT3resok {
            file_wcc: wcc_after(h.bucket_id, Some(&a)),
            verf: writeverf3(gw.write_verifier),
        }),
        Err(e) => Nfs3Result::Err((status("commit", &e), COMMIT3resfail { file_wcc: no_wcc() })),
    };
    pack(out, &res);
    Ok(())
}

/// CREATE (`mkdir` false) and MKDIR. The new file's owner is the AUTH_UNIX uid/gid unless the
/// client set them: an attribute, as on any NFS server, never who may do what.
async fn create(
    gw: &Gateway,
    c: &Caller,
    cred: &Cred,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    mkdir: bool,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    let (how, attrs) = if mkdir {
        (FsCreate::Unchecked, sattr(r)?)
    } else {
        match r.u32()? {
            0 => (FsCreate::Unchecked, sattr(r)?),
            1 => (FsCreate::Guarded, sattr(r)?),
            2 => (FsCreate::Exclusive(r.fixed()?), FsSetAttr::default()),
            _ => return Err(Garbage),
        }
    };
    let mut attrs = attrs;
    if let Cred::Unix(u) = cred {
        attrs.uid = attrs.uid.or(Some(u.uid));
        attrs.gid = attrs.gid.or(Some(u.gid));
    }
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    let nm = match new_name(nm) {
        Ok(n) => n,
        Err(s) => {
            fail(out, s, &no_wcc());
            return Ok(());
        }
    };
    let made = if mkdir {
        gw.store
            .fs_mkdir(&c.principal, &bucket, h.ino, nm, attrs)
            .await
    } else {
        let meta_only = FsSetAttr {
            size: None,
            ..attrs
        };
        match gw
            .store
            .fs_create(&c.principal, &bucket, h.ino, nm, how, meta_only)
            .await
        {
            // UNCHECKED/GUARDED may carry a size (0: truncate an existing file).
            Ok(a) if attrs.size.is_some_and(|s| s != a.size) => {
                let size_only = FsSetAttr {
                    size: attrs.size,
                    ..FsSetAttr::default()
                };
                gw.store
                    .fs_setattr(&c.principal, &bucket, a.ino, size_only)
                    .await
            }
            other => other,
        }
    };
    let dir_after = gw.store.fs_getattr(&c.principal, &bucket, h.ino).ok();
    let dir_wcc = wcc_after(h.bucket_id, dir_after.as_ref());
    match made {
        Ok(a) => {
            pack(out, &nfsstat3::NFS3_OK);
            pack(
                out,
                &Nfs3Option::Some(nfs_fh3 {
                    data: Opaque::owned(gw.mint(c, h.bucket_id, a.ino)),
                }),
            );
            pack(out, &Nfs3Option::Some(fattr(h.bucket_id, &a)));
            pack(out, &dir_wcc);
        }
        Err(e) => fail(
            out,
            status(if mkdir { "mkdir" } else { "create" }, &e),
            &dir_wcc,
        ),
    }
    Ok(())
}

/// REMOVE (`rmdir` false) and RMDIR.
async fn remove(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    rmdir: bool,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    let done = match std::str::from_utf8(nm) {
        Err(_) => Err(StoreError::NoSuchKey),
        Ok(nm) if rmdir => gw.store.fs_rmdir(&c.principal, &bucket, h.ino, nm).await,
        Ok(nm) => gw.store.fs_remove(&c.principal, &bucket, h.ino, nm).await,
    };
    let dir_after = gw.store.fs_getattr(&c.principal, &bucket, h.ino).ok();
    let dir_wcc = wcc_after(h.bucket_id, dir_after.as_ref());
    match done {
        Ok(()) => {
            pack(out, &nfsstat3::NFS3_OK);
            pack(out, &dir_wcc);
        }
        Err(e) => {
            let s = match e {
                StoreError::BucketNotEmpty => nfsstat3::NFS3ERR_NOTEMPTY,
                StoreError::InvalidKey(_) => nfsstat3::NFS3ERR_INVAL,
                ref e => status("remove", e),
            };
            fail(out, s, &dir_wcc);
        }
    }
    Ok(())
}

async fn rename(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let from_fh = fh(r)?;
    let from_nm = name(r)?;
    let to_fh = fh(r)?;
    let to_nm = name(r)?;
    let opened = gw
        .open(c, from_fh)
        .and_then(|f| Ok((f, gw.open(c, to_fh)?)));
    let ((bucket, fh_from), (to_bucket, fh_to)) = match opened {
        Ok(x) => x,
        Err(s) => {
            fail(out, s, &no_wcc());
            pack(out, &no_wcc());
            return Ok(());
        }
    };
    let names = new_name(from_nm).and_then(|f| Ok((f, new_name(to_nm)?)));
    let done = match names {
        Err(s) => Err(s),
        Ok(_) if to_bucket != bucket => Err(nfsstat3::NFS3ERR_XDEV),
        Ok((f, t)) => gw
            .store
            .fs_rename(&c.principal, &bucket, (fh_from.ino, f), (fh_to.ino, t))
            .await
            .map_err(|e| status("rename", &e)),
    };
    let from_after = gw.store.fs_getattr(&c.principal, &bucket, fh_from.ino).ok();
    let to_after = gw.store.fs_getattr(&c.principal, &bucket, fh_to.ino).ok();
    pack(
        out,
        &match done {
            Ok(()) => nfsstat3::NFS3_OK,
            Err(s) => s,
        },
    );
    pack(out, &wcc_after(fh_from.bucket_id, from_after.as_ref()));
    pack(out, &wcc_after(fh_to.bucket_id, to_after.as_ref()));
    Ok(())
}
