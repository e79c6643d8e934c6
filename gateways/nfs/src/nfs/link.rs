//! LINK (hard links, `Store::fs_link`) and MKNOD (FIFOs, sockets, devices, `Store::fs_mknod`).

use gatehouse_store::ops::FsSpecial;

use super::write::{made_reply, new_name, new_owner, sattr};
use super::*;

/// LINK3res: the status, the file's attributes and the directory's after, success or not
/// (LINK3resok and LINK3resfail have one shape; each attribute carries the fsid of its own
/// handle's share).
fn link_reply(
    out: &mut Vec<u8>,
    stat: nfsstat3,
    (file_fsid, file): (u64, Option<&FsAttr>),
    (dir_fsid, dir): (u64, Option<&FsAttr>),
) {
    pack(out, &stat);
    pack(
        out,
        &LINK3resfail {
            file_attributes: match file {
                Some(a) => Nfs3Option::Some(fattr(file_fsid, a)),
                None => no_attr(),
            },
            linkdir_wcc: wcc_after(dir_fsid, dir),
        },
    );
}

/// LINK (RFC 1813 §3.3.15): `link.name` in `link.dir` names `file` too. Both handles must be of
/// one share (else `NFS3ERR_XDEV`, as across file systems).
pub(super) async fn link(
    gw: &Gateway,
    c: &Caller,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let file_fh = fh(r)?;
    let dir_fh = fh(r)?;
    let nm = name(r)?;
    let opened = gw
        .open(c, file_fh)
        .and_then(|f| Ok((f, gw.open(c, dir_fh)?)));
    let ((bucket, file), (dir_bucket, dir)) = match opened {
        Ok(x) => x,
        Err(s) => {
            link_reply(out, s, (0, None), (0, None));
            return Ok(());
        }
    };
    let done = match new_name(nm) {
        _ if read_only(&dir_bucket, &dir) => Err(nfsstat3::NFS3ERR_ROFS),
        Err(s) => Err(s),
        Ok(_) if dir_bucket != bucket => Err(nfsstat3::NFS3ERR_XDEV),
        Ok(nm) => gw
            .store
            .fs_link(&c.principal, &bucket, file.ino, dir.ino, nm)
            .await
            .map_err(|e| status("link", &e)),
    };
    let (stat, file_attr, dir_attr) = match done {
        Ok(FsMade { attr, dir: after }) => (nfsstat3::NFS3_OK, Some(attr), after),
        Err(s) => (s, None, None),
    };
    let file_attr = file_attr.or_else(|| gw.store.fs_getattr(&c.principal, &bucket, file.ino).ok());
    let dir_attr =
        dir_attr.or_else(|| gw.store.fs_getattr(&c.principal, &dir_bucket, dir.ino).ok());
    link_reply(
        out,
        stat,
        (file.bucket_id, file_attr.as_ref()),
        (dir.bucket_id, dir_attr.as_ref()),
    );
    Ok(())
}

/// MKNOD (RFC 1813 §3.3.11): a character or block device (`devicedata3`: attributes and
/// major/minor numbers), a socket or a FIFO (`sattr3`). Any other type is `NFS3ERR_BADTYPE`:
/// regular files, directories and links have CREATE, MKDIR and SYMLINK. The owner is the
/// AUTH_UNIX uid/gid unless the client set it, as for CREATE.
pub(super) async fn mknod(
    gw: &Gateway,
    c: &Caller,
    cred: &Cred,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Garbage> {
    let raw = fh(r)?;
    let nm = name(r)?;
    // ftype3: NF3REG 1, NF3DIR 2, NF3BLK 3, NF3CHR 4, NF3LNK 5, NF3SOCK 6, NF3FIFO 7.
    let (kind, attrs, rdev) = match r.u32()? {
        t @ (3 | 4) => {
            let attrs = sattr(r)?;
            let rdev = (r.u32()?, r.u32()?);
            let kind = if t == 3 {
                FsKind::BlockDev
            } else {
                FsKind::CharDev
            };
            (Some(kind), attrs, rdev)
        }
        6 => (Some(FsKind::Socket), sattr(r)?, (0, 0)),
        7 => (Some(FsKind::Fifo), sattr(r)?, (0, 0)),
        1 | 2 | 5 => (None, FsSetAttr::default(), (0, 0)),
        _ => return Err(Garbage),
    };
    let Some((bucket, h)) = open_writable(gw, c, raw, out, &no_wcc()) else {
        return Ok(());
    };
    let Some(kind) = kind else {
        let dir_after = gw.store.fs_getattr(&c.principal, &bucket, h.ino).ok();
        fail(
            out,
            nfsstat3::NFS3ERR_BADTYPE,
            &wcc_after(h.bucket_id, dir_after.as_ref()),
        );
        return Ok(());
    };
    let named = match new_name(nm) {
        // A special file holds no data: it cannot be made with a size.
        Ok(_) if attrs.size.is_some_and(|s| s > 0) => Err(nfsstat3::NFS3ERR_INVAL),
        other => other,
    };
    let nm = match named {
        Ok(n) => n,
        Err(s) => {
            fail(out, s, &no_wcc());
            return Ok(());
        }
    };
    let mut attrs = attrs;
    new_owner(cred, &mut attrs);
    let node = FsSpecial {
        kind,
        mode: attrs.mode.unwrap_or(0o644),
        uid: attrs.uid,
        gid: attrs.gid,
        rdev,
    };
    let mut made = gw
        .store
        .fs_mknod(&c.principal, &bucket, h.ino, nm, node)
        .await;
    // What the node was made with is set; anything else asked for (times) is set after, as
    // CREATE sets a size. A special file has no size to set.
    let rest = FsSetAttr {
        mode: None,
        uid: None,
        gid: None,
        size: None,
        ..attrs
    };
    if rest != FsSetAttr::default()
        && let Ok(m) = &made
    {
        let ino = m.attr.ino;
        made = gw
            .store
            .fs_setattr(&c.principal, &bucket, ino, rest)
            .await
            .map(|attr| FsMade {
                attr,
                dir: m.dir.clone(),
            });
    }
    made_reply(gw, c, &bucket, &h, made, "mknod", out);
    Ok(())
}
