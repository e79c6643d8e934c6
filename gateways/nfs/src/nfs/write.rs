//! The procedures that change a share: setattr, write, commit, create/mkdir, remove/rmdir,
//! rename.

use super::*;
use crate::writeback::{Checked, Room};
use gatehouse_store::ops::FsTime;

fn opt_u32(r: &mut Reader<'_>) -> Result<Option<u32>, Garbage> {
    match r.u32()? {
        0 => Ok(None),
        1 => Ok(Some(r.u32()?)),
        _ => Err(Garbage),
    }
}

/// `set_atime`/`set_mtime`: DONT_CHANGE, SET_TO_SERVER_TIME, or SET_TO_CLIENT_TIME with the
/// client's seconds and nanoseconds (kept exactly; nanoseconds past 999,999,999 are no time).
fn set_time(r: &mut Reader<'_>) -> Result<FsTime, Garbage> {
    Ok(match r.u32()? {
        0 => FsTime::Leave,
        1 => FsTime::Server,
        2 => {
            let secs = i64::from(r.u32()?);
            let nanos = r.u32()?;
            if nanos >= 1_000_000_000 {
                return Err(Garbage);
            }
            FsTime::Client(secs * 1_000_000_000 + i64::from(nanos))
        }
        _ => return Err(Garbage),
    })
}

/// `sattr3`: each field set or not, independently.
pub(super) fn sattr(r: &mut Reader<'_>) -> Result<FsSetAttr, Garbage> {
    let mode = opt_u32(r)?;
    let uid = opt_u32(r)?;
    let gid = opt_u32(r)?;
    let size = match r.u32()? {
        0 => None,
        1 => Some(r.u64()?),
        _ => return Err(Garbage),
    };
    let atime = set_time(r)?;
    let mtime = set_time(r)?;
    Ok(FsSetAttr {
        mode,
        uid,
        gid,
        size,
        atime,
        mtime,
        guard_ctime: None,
    })
}

/// A name for something new: too long → NAMETOOLONG, not UTF-8 → INVAL.
pub(super) fn new_name(raw: &[u8]) -> Result<&str, nfsstat3> {
    if raw.len() > NAME_MAX {
        return Err(nfsstat3::NFS3ERR_NAMETOOLONG);
    }
    std::str::from_utf8(raw).map_err(|_| nfsstat3::NFS3ERR_INVAL)
}

pub(super) async fn setattr(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let mut attrs = sattr(r)?;
    // sattrguard3: the change applies only if the object's ctime is the client's (RFC 1813),
    // decided by the store inside the commit that makes the change (NOT_SYNC otherwise).
    attrs.guard_ctime = match r.u32()? {
        0 => None,
        1 => {
            let (sec, nsec) = (r.u32()?, r.u32()?);
            Some(i64::from(sec) * 1_000_000_000 + i64::from(nsec))
        }
        _ => return Err(Garbage),
    };
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    let res: SETATTR3res = match gw
        .store
        .fs_setattr(&c.principal, &bucket, h.ino, attrs)
        .await
    {
        Ok(a) => Nfs3Result::Ok(SETATTR3resok {
            obj_wcc: wcc_after(h.bucket_id, Some(&a)),
        }),
        Err(e) => {
            // A guard that did not hold: the attributes the client must compare with.
            let now = match e {
                StoreError::PreconditionFailed => {
                    gw.store.fs_getattr(&c.principal, &bucket, h.ino).ok()
                }
                _ => None,
            };
            Nfs3Result::Err((
                status("setattr", &e),
                SETATTR3resfail {
                    obj_wcc: wcc_after(h.bucket_id, now.as_ref()),
                },
            ))
        }
    };
    pack(out, &res);
    Ok(())
}

pub(super) async fn write(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let offset = r.u64()?;
    let count = r.u32()? as usize;
    let unstable = match r.u32()? {
        0 => true,
        1 | 2 => false,
        _ => return Err(Garbage),
    };
    let data = r.opaque(MAX_IO as usize)?;
    if data.len() != count {
        return Err(Garbage);
    }
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    if count == 0 {
        empty_write(gw, c, &bucket, &h, out);
        return Ok(());
    }
    let wb = &gw.writeback;
    let got = if unstable {
        buffer(gw, c, &bucket, &h, offset, data).await
    } else {
        // Earlier unstable writes go first, so this one lands over them.
        match wb.flush_file(&gw.store, h.bucket_id, h.ino).await {
            Err(s) => Err(s),
            Ok(()) => gw
                .store
                .fs_write(
                    &c.principal,
                    &bucket,
                    h.ino,
                    offset,
                    bytes::Bytes::copy_from_slice(data),
                )
                .await
                .map_err(|e| status("write", &e)),
        }
    };
    let res: WRITE3res = match got {
        Ok(a) => Nfs3Result::Ok(WRITE3resok {
            file_wcc: wcc_after(h.bucket_id, Some(&a)),
            count: data.len() as u32,
            // The truth: FILE_SYNC only once committed.
            committed: if unstable {
                stable_how::UNSTABLE
            } else {
                stable_how::FILE_SYNC
            },
            verf: writeverf3(gw.writeback.verifier()),
        }),
        Err(s) => Nfs3Result::Err((s, WRITE3resfail { file_wcc: no_wcc() })),
    };
    pack(out, &res);
    Ok(())
}

/// A WRITE of no bytes (RFC 1813 §3.3.7: "If count is zero, the WRITE will succeed and return
/// a count of zero, barring errors due to permission checking"): checked as a write is, and
/// nothing changes, whatever its offset and stability (no size past the end, no new times).
fn empty_write(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    h: &crate::handle::Handle,
    out: &mut Vec<u8>,
) {
    let res: WRITE3res = match gw.store.fs_write_check(&c.principal, bucket, h.ino, 0) {
        Ok(mut a) => {
            // Bytes buffered for the file count in its size, as every answer shows it.
            let buffered = gw.writeback.buffered_end(h.bucket_id, h.ino);
            a.size = a.size.max(buffered.unwrap_or(0));
            Nfs3Result::Ok(WRITE3resok {
                file_wcc: wcc_data {
                    before: Nfs3Option::Some(wcc_attr {
                        size: a.size,
                        mtime: time(a.mtime_ns),
                        ctime: time(a.ctime_ns),
                    }),
                    after: Nfs3Option::Some(fattr(h.bucket_id, &a)),
                },
                count: 0,
                // Nothing of it is left to commit.
                committed: stable_how::FILE_SYNC,
                verf: writeverf3(gw.writeback.verifier()),
            })
        }
        Err(e) => Nfs3Result::Err((status("write", &e), WRITE3resfail { file_wcc: no_wcc() })),
    };
    pack(out, &res);
}

/// Growth an UNSTABLE write's check allows ahead of the write itself, so a writer appending
/// 4 KiB at a time is checked once per this many bytes rather than at every write.
const CHECK_AHEAD: u64 = 8 << 20;

/// An UNSTABLE write: checked now (may put, a file, fits the quotas counting what is already
/// buffered for it), kept in the write-back buffer; the attributes include it. The check is
/// made once for a run of writes of one principal to one buffer: for growth up to
/// [`CHECK_AHEAD`] past the write when that fits (else exactly), and again when a write goes
/// further; the flush's commit checks the quotas again in any case.
async fn buffer(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    h: &crate::handle::Handle,
    offset: u64,
    data: &[u8],
) -> Result<FsAttr, nfsstat3> {
    let wb = &gw.writeback;
    let end = offset
        .checked_add(data.len() as u64)
        .ok_or(nfsstat3::NFS3ERR_FBIG)?;
    let grows_to = end.max(wb.buffered_end(h.bucket_id, h.ino).unwrap_or(0));
    let (mut attr, fresh) = match wb.checked(h.bucket_id, h.ino, &c.principal, grows_to) {
        Some(a) => (a, None),
        None => {
            let check = |to| gw.store.fs_write_check(&c.principal, bucket, h.ino, to);
            let ahead = grows_to.saturating_add(CHECK_AHEAD);
            let (a, room_to) = match check(ahead) {
                Ok(a) => (a, ahead),
                Err(_) => (check(grows_to).map_err(|e| status("write", &e))?, grows_to),
            };
            let room_to = room_to.max(a.size);
            (a.clone(), Some(Checked { attr: a, room_to }))
        }
    };
    wb.room_for(h.bucket_id, h.ino, offset, data.len()).await;
    // A write moves mtime and ctime: to this time, in the reply and once committed.
    let now = gatehouse_store::now_unix_ns();
    let room = wb
        .add(
            &gw.store,
            (h.bucket_id, bucket, h.ino),
            &c.principal,
            (offset, data),
            fresh,
            now,
        )
        .map_err(|e| status("write", &e))?;
    match room {
        Room::Plenty => {}
        Room::FlushSoon => wb.flush_later(&gw.store, h.bucket_id, h.ino),
        Room::FlushNow => wb.flush_file(&gw.store, h.bucket_id, h.ino).await?,
    }
    attr.size = attr
        .size
        .max(wb.buffered_end(h.bucket_id, h.ino).unwrap_or(0))
        .max(end);
    attr.mtime_ns = now;
    attr.ctime_ns = attr.ctime_ns.max(now);
    Ok(attr)
}

pub(super) async fn commit(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let _offset = r.u64()?;
    let _count = r.u32()?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    // Commits the whole file (a range is a hint RFC 1813 lets us widen); a flush that failed
    // earlier, in the background, is reported here once.
    let wb = &gw.writeback;
    let flushed = match wb.flush_file(&gw.store, h.bucket_id, h.ino).await {
        Ok(()) => wb.take_failure(h.bucket_id, h.ino).map_or(Ok(()), Err),
        Err(s) => {
            wb.take_failure(h.bucket_id, h.ino);
            Err(s)
        }
    };
    let synced = match flushed {
        // Under `nfs.async`, the file's own CREATE or a truncate may not be durable yet.
        Ok(()) => gw.store.fs_sync().await.map_err(|e| status("commit", &e)),
        Err(s) => Err(s),
    };
    let res: COMMIT3res = match synced.and_then(|()| {
        gw.store
            .fs_getattr(&c.principal, &bucket, h.ino)
            .map_err(|e| status("commit", &e))
    }) {
        Ok(a) => Nfs3Result::Ok(COMMIT3resok {
            file_wcc: wcc_after(h.bucket_id, Some(&a)),
            verf: writeverf3(gw.writeback.verifier()),
        }),
        Err(s) => Nfs3Result::Err((s, COMMIT3resfail { file_wcc: no_wcc() })),
    };
    pack(out, &res);
    Ok(())
}

/// The uid and gid AUTH_NONE callers create with (knfsd's anonymous uid and gid).
const NOBODY: u32 = 65534;

/// The owner of what CREATE, MKDIR, SYMLINK or MKNOD makes, where the client did not set it:
/// the caller's AUTH_UNIX uid and gid (an attribute, as on any NFS server, never who may do
/// what), or nobody (65534) for AUTH_NONE, as knfsd squashes it. (A setgid directory's group
/// is not inherited: that needs the directory read in the create's own transaction, which a
/// read here would commit early under `nfs.async`.)
pub(super) fn new_owner(cred: &Cred, attrs: &mut FsSetAttr) {
    let (uid, gid) = match cred {
        Cred::Unix(u) => (u.uid, u.gid),
        Cred::None => (NOBODY, NOBODY),
    };
    attrs.uid = attrs.uid.or(Some(uid));
    attrs.gid = attrs.gid.or(Some(gid));
}

/// CREATE (`mkdir` false) and MKDIR, owned as [`new_owner`] says.
pub(super) async fn create(
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
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    new_owner(cred, &mut attrs);
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
            .map(FsMade::from)
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
            Ok(m) if attrs.size.is_some_and(|s| s != m.attr.size) => {
                let size_only = FsSetAttr {
                    size: attrs.size,
                    ..FsSetAttr::default()
                };
                gw.store
                    .fs_setattr(&c.principal, &bucket, m.attr.ino, size_only)
                    .await
                    .map(|attr| FsMade { attr, ..m })
            }
            other => other,
        }
    };
    made_reply(
        gw,
        c,
        &bucket,
        &h,
        made,
        if mkdir { "mkdir" } else { "create" },
        out,
    );
    Ok(())
}

/// The reply of CREATE, MKDIR and SYMLINK: the new handle and attributes, or the status; the
/// directory's attributes after, either way.
pub(super) fn made_reply(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    dir: &crate::handle::Handle,
    made: Result<FsMade, StoreError>,
    op: &str,
    out: &mut Vec<u8>,
) {
    let (made, dir_after) = match made {
        Ok(FsMade { attr, dir: Some(d) }) => (Ok(attr), Some(d)),
        other => (
            other.map(|m| m.attr),
            gw.store.fs_getattr(&c.principal, bucket, dir.ino).ok(),
        ),
    };
    let dir_wcc = wcc_after(dir.bucket_id, dir_after.as_ref());
    match made {
        Ok(a) => {
            pack(out, &nfsstat3::NFS3_OK);
            pack(
                out,
                &Nfs3Option::Some(nfs_fh3 {
                    data: Opaque::owned(gw.mint(c, dir.bucket_id, a.ino)),
                }),
            );
            pack(out, &Nfs3Option::Some(fattr(dir.bucket_id, &a)));
            pack(out, &dir_wcc);
        }
        Err(e) => fail(out, status(op, &e), &dir_wcc),
    }
}

/// SYMLINK: the link is an object holding its target (see `Store::fs_symlink`).
pub(super) async fn symlink(
    gw: &Gateway,
    c: &Caller,
    cred: &Cred,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    let mut attrs = sattr(r)?;
    // nfspath3 is unbounded in XDR (the record is not): a target past MAX_LINK is
    // NAMETOOLONG, not a reason to drop the call.
    let target = r.opaque(crate::rpc::MAX_RECORD)?;
    attrs.size = None;
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    new_owner(cred, &mut attrs);
    let nm = match new_name(nm) {
        Ok(n) => n,
        Err(s) => {
            fail(out, s, &no_wcc());
            return Ok(());
        }
    };
    if target.len() > MAX_LINK {
        fail(out, nfsstat3::NFS3ERR_NAMETOOLONG, &no_wcc());
        return Ok(());
    }
    let made = gw
        .store
        .fs_symlink(&c.principal, &bucket, h.ino, nm, target, attrs)
        .await;
    made_reply(gw, c, &bucket, &h, made, "symlink", out);
    Ok(())
}

/// REMOVE (`rmdir` false) and RMDIR.
pub(super) async fn remove(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    rmdir: bool,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
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

pub(super) async fn rename(
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
        _ if read_only(&bucket, &fh_from) || read_only(&to_bucket, &fh_to) => {
            Err(nfsstat3::NFS3ERR_ROFS)
        }
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
