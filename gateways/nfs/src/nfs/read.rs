//! Attributes, lookup, access, read and the file-system information procedures.

use super::*;

pub(super) fn getattr(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
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

pub(super) async fn lookup(
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
    if h.ino == gatehouse_store::ops::SNAPSHOTS_INO {
        super::snapshots::lookup(gw, c, &bucket, h, nm, out).await;
        return Ok(());
    }
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

pub(super) fn access(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
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
    let may = gw.store.fs_access(&c.principal, &bucket, h.ino);
    let mut granted = 0;
    let dir = a.kind == FsKind::Dir;
    // Reading a file is `get`; reading a directory is listing it (READDIR asks `list`).
    if may.get && !dir {
        granted |= ACCESS3_READ | ACCESS3_EXECUTE;
    }
    if may.list && dir {
        granted |= ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_EXECUTE;
    }
    if may.put {
        granted |= ACCESS3_MODIFY | ACCESS3_EXTEND;
    }
    if may.delete && a.kind == FsKind::Dir {
        granted |= ACCESS3_DELETE;
    }
    // `.snapshots` and snapshots: nothing to change, whatever the share's rights.
    if read_only(&bucket, &h) {
        granted &= !(ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE);
    }
    let res: ACCESS3res = Nfs3Result::Ok(ACCESS3resok {
        obj_attributes: Nfs3Option::Some(fattr(h.bucket_id, &a)),
        access: wanted & granted,
    });
    pack(out, &res);
    Ok(())
}

pub(super) async fn readlink(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    match gw.store.fs_readlink(&c.principal, &bucket, h.ino).await {
        Ok(target) => {
            pack(out, &nfsstat3::NFS3_OK);
            pack(out, &dir_attr(gw, c, &bucket, h.bucket_id, h.ino));
            pack(out, &Opaque::borrowed(&target));
        }
        Err(e) => fail(out, status("readlink", &e), &no_attr()),
    }
    Ok(())
}

/// READ. A successful reply's data goes out as the reply's `tail`, the bytes as the store
/// read them (for an aligned READ, the verified chunk itself), not copied into `out`.
pub(super) async fn read(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    tail: &mut gatehouse_store::ops::FsData,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let offset = r.u64()?;
    let count = r.u32()?.min(MAX_IO);
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    match gw
        .store
        .fs_read(&c.principal, &bucket, h.ino, offset, count)
        .await
    {
        Ok(rd) => {
            // READ3resok: the status, attributes, count, eof, then opaque data<>: its length
            // here, its bytes and padding in the tail.
            pack(out, &nfsstat3::NFS3_OK);
            pack(out, &Nfs3Option::Some(fattr(h.bucket_id, &rd.attr)));
            put_u32(out, rd.data.len() as u32);
            put_u32(out, u32::from(rd.eof));
            put_u32(out, rd.data.len() as u32);
            *tail = rd.data;
        }
        Err(e) => fail(
            out,
            status("read", &e),
            &READ3resfail {
                file_attributes: no_attr(),
            },
        ),
    }
    Ok(())
}

pub(super) fn fsstat(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let Some((bucket, h)) = open(gw, c, raw, out, &no_attr()) else {
        return Ok(());
    };
    let res: FSSTAT3res = match gw.store.fs_stat(&c.principal, &bucket, h.ino) {
        Ok(v) => {
            // What `df` shows: the room a write really has (share quota, server limit or disk,
            // whichever is least) on top of what the share holds; the store decides it.
            Nfs3Result::Ok(FSSTAT3resok {
                obj_attributes: dir_attr(gw, c, &bucket, h.bucket_id, h.ino),
                tbytes: v.total_bytes,
                fbytes: v.free_bytes,
                abytes: v.free_bytes,
                tfiles: v.total_files,
                ffiles: v.free_files,
                afiles: v.free_files,
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

pub(super) fn fsinfo(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
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
            // Times are kept and set to the nanosecond (decision 0023).
            time_delta: nfstime3 {
                seconds: 0,
                nseconds: 1,
            },
            // Hard links (LINK) and symbolic links (SYMLINK) are served.
            properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
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

pub(super) fn pathconf(
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
            linkmax: gatehouse_store::ops::LINK_MAX,
            name_max: NAME_MAX as u32,
            no_trunc: true,
            // Who may write a file may chown it (RBAC decides, not the caller's AUTH_UNIX uid:
            // decision 0025), so chown is not restricted to root: said so.
            chown_restricted: false,
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
