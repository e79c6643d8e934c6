//! READDIR and READDIRPLUS, and the cookies that name positions in a directory.

use super::*;

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

pub(super) async fn readdir(
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
    if h.ino == gatehouse_store::ops::SNAPSHOTS_INO {
        super::snapshots::readdir(gw, c, &bucket, h, cookie, plus, out).await;
        return Ok(());
    }
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
