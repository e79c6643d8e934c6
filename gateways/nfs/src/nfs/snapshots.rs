//! The `.snapshots` directory of a share's root (decision 0040): not listed in the root, found
//! by LOOKUP, listed by READDIR(PLUS), and leading into each snapshot's own (read-only) tree,
//! whose handles carry the snapshot's bucket id. The store answers GETATTR of it and refuses
//! every change in it; the gateway answers those `NFS3ERR_ROFS` before asking (`read_only` in
//! `mod.rs`).

use super::*;
use gatehouse_store::ops::SNAPSHOTS_INO;

/// LOOKUP in `.snapshots` (handle `h` of share bucket `bucket`).
pub(super) async fn lookup(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    h: crate::handle::Handle,
    nm: &str,
    out: &mut Vec<u8>,
) {
    let dir = gw.store.fs_getattr(&c.principal, bucket, SNAPSHOTS_INO);
    let dir_attributes = match &dir {
        Ok(a) => Nfs3Option::Some(fattr(h.bucket_id, a)),
        Err(_) => Nfs3Option::None,
    };
    let found: Result<(u64, FsAttr), StoreError> = match nm {
        "." => dir.map(|a| (h.bucket_id, a)),
        ".." => gw.store.fs_bucket_root(&c.principal, bucket).await,
        name => match gw.store.fs_snapshots(&c.principal, bucket) {
            Ok(list) => match list.into_iter().find(|(n, _, _)| n == name) {
                Some((_, id, snap)) => {
                    gw.remember_bucket(id, &snap);
                    gw.store.fs_bucket_root(&c.principal, &snap).await
                }
                None => Err(StoreError::NoSuchKey),
            },
            Err(e) => Err(e),
        },
    };
    let res: LOOKUP3res = match found {
        Ok((id, a)) => Nfs3Result::Ok(LOOKUP3resok {
            object: nfs_fh3 {
                data: Opaque::owned(gw.mint(c, id, a.ino)),
            },
            obj_attributes: Nfs3Option::Some(fattr(id, &a)),
            dir_attributes,
        }),
        Err(e) => Nfs3Result::Err((
            status("lookup", &e),
            LOOKUP3resfail {
                dir_attributes: no_attr(),
            },
        )),
    };
    pack(out, &res);
}

/// READDIR(PLUS) of `.snapshots`: `.`, `..` and one entry per snapshot (cookie = 3 + its
/// place, oldest first), as many as fit in `budget` bytes (the client's count or maxcount).
pub(super) async fn readdir(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    h: crate::handle::Handle,
    (cookie, budget): (u64, usize),
    plus: bool,
    out: &mut Vec<u8>,
) {
    let dir = match gw.store.fs_getattr(&c.principal, bucket, SNAPSHOTS_INO) {
        Ok(a) => a,
        Err(e) => {
            fail(out, status("readdir", &e), &no_attr());
            return;
        }
    };
    let list = match gw.store.fs_snapshots(&c.principal, bucket) {
        Ok(l) => l,
        Err(e) => {
            fail(out, status("readdir", &e), &no_attr());
            return;
        }
    };
    let root = gw.store.fs_bucket_root(&c.principal, bucket).await.ok();
    // (fileid, name, cookie, bucket id, attributes)
    let mut items: Vec<(u64, String, u64, u64, Option<FsAttr>)> = vec![
        (
            SNAPSHOTS_INO,
            ".".into(),
            COOKIE_DOT,
            h.bucket_id,
            Some(dir.clone()),
        ),
        (
            root.as_ref().map_or(SNAPSHOTS_INO, |(_, a)| a.ino),
            "..".into(),
            COOKIE_DOTDOT,
            h.bucket_id,
            root.map(|(_, a)| a),
        ),
    ];
    // In the order the snapshots were made (their bucket ids grow), each under a cookie of its
    // own id: a snapshot deleted between two pages moves no other one's cookie.
    let mut list = list;
    list.sort_by_key(|(_, id, _)| *id);
    for (name, id, snap) in list {
        gw.remember_bucket(id, &snap);
        let attr = gw
            .store
            .fs_bucket_root(&c.principal, &snap)
            .await
            .ok()
            .map(|(_, a)| a);
        items.push((
            attr.as_ref().map_or(0, |a| a.ino),
            name,
            id.saturating_add(3).min(i64::MAX as u64),
            id,
            attr,
        ));
    }
    items.retain(|(.., ck, _, _)| *ck > cookie);
    let dir_attributes = Nfs3Option::Some(fattr(h.bucket_id, &dir));
    let total = items.len();
    let fit = super::readdir::fitting(
        budget,
        super::readdir::reply_base(&dir_attributes),
        plus,
        crate::handle::Signer::minted_len(&c.bearer),
        items.iter().map(|(_, nm, ..)| nm.as_str()),
    );
    items.truncate(fit);
    let eof = fit == total;
    if items.is_empty() && !eof {
        fail(out, nfsstat3::NFS3ERR_TOOSMALL, &dir_attributes);
        return;
    }
    pack(out, &nfsstat3::NFS3_OK);
    pack(out, &dir_attributes);
    pack(out, &cookieverf3::default());
    if plus {
        let entries = items
            .iter()
            .map(|(ino, nm, ck, id, attr)| entryplus3 {
                fileid: *ino,
                name: filename3(Opaque::borrowed(nm.as_bytes())),
                cookie: *ck,
                name_attributes: match attr {
                    Some(a) => Nfs3Option::Some(fattr(*id, a)),
                    None => Nfs3Option::None,
                },
                name_handle: match attr {
                    Some(a) => Nfs3Option::Some(nfs_fh3 {
                        data: Opaque::owned(gw.mint(c, *id, a.ino)),
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
            .map(|(ino, nm, ck, _, _)| entry3 {
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
}
