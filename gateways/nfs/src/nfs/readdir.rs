//! READDIR and READDIRPLUS, and the cookies that name positions in a directory.

use std::collections::{BTreeMap, HashMap};

use super::*;

/// Bit 62, set in every cookie of an entry (1 and 2 are `.` and `..`).
const COOKIE_BIT: u64 = 1 << 62;
/// Bit 63, set in the cookies served before: see [`cookie_forms`].
const OLD_COOKIE_BIT: u64 = 1 << 63;

/// A cookie names a position in the directory (its S3 key order), not an index, so it stays
/// valid while entries come and go: 62 bits of SHA-256 of the position, bit 62 set, bit 63
/// clear. The Linux client hands cookies to programs as directory offsets (`telldir`,
/// `d_off`), and a negative one makes `seekdir`'s llseek fail with EINVAL, so cookies stay at
/// most `i64::MAX` as knfsd's do. The position is remembered for the next page; a forgotten
/// cookie (restart, eviction) is found again by scanning the directory.
fn cookie_of(position: &str) -> u64 {
    cookie_forms(position).0
}

/// A position's cookie, and the form it had before cookies kept bit 63 clear (the hash's low
/// 63 bits, bit 63 set): a client holding one across an upgrade resumes where it was.
fn cookie_forms(position: &str) -> (u64, u64) {
    let d = Sha256::digest(position.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let h = u64::from_be_bytes(b);
    ((h & (COOKIE_BIT - 1)) | COOKIE_BIT, h | OLD_COOKIE_BIT)
}

/// Whether `cookie` (either form) names `position`.
fn names_position(position: &str, cookie: u64) -> bool {
    let (now, old) = cookie_forms(position);
    cookie == now || cookie == old
}

/// Past this many remembered cookies, across all directories, the least recently used
/// directories' are forgotten.
const MAX_COOKIES: usize = 200_000;

/// The cookies handed out, per directory (share bucket id, inode), with when each directory
/// was last used. At the bound the directories nobody has read for longest are forgotten, not
/// everything: a client removing what it lists (`rm -rf`) asks next for the entries after one
/// it has just removed, which scanning cannot find again (`NFS3ERR_BAD_COOKIE`, which Linux
/// clients take for the end of the listing).
pub(crate) struct Cookies {
    dirs: HashMap<(u64, u64), DirCookies>,
    /// Last use → directory, oldest first (uses are numbered, so each is one directory's).
    by_use: BTreeMap<u64, (u64, u64)>,
    /// Cookies held across all directories; at most `limit`.
    total: usize,
    clock: u64,
    limit: usize,
}

struct DirCookies {
    used: u64,
    positions: HashMap<u64, String>,
}

impl Default for Cookies {
    fn default() -> Self {
        Cookies::with_limit(MAX_COOKIES)
    }
}

impl Cookies {
    fn with_limit(limit: usize) -> Self {
        Cookies {
            dirs: HashMap::new(),
            by_use: BTreeMap::new(),
            total: 0,
            clock: 0,
            limit,
        }
    }

    /// Marks `dir`'s cookies (if any) as used now.
    fn touch(&mut self, dir: (u64, u64)) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            self.by_use.remove(&d.used);
            self.clock += 1;
            d.used = self.clock;
            self.by_use.insert(d.used, dir);
        }
    }

    /// The position `cookie` names in `dir`, if it was handed out and is still remembered.
    fn get(&mut self, dir: (u64, u64), cookie: u64) -> Option<String> {
        self.touch(dir);
        self.dirs.get(&dir)?.positions.get(&cookie).cloned()
    }

    /// Remembers the cookies of a page just handed out for `dir`, forgetting the least recently
    /// used directories' while over the bound. A directory that alone would pass it starts over
    /// with this page.
    fn remember(&mut self, dir: (u64, u64), page: Vec<(u64, String)>) {
        if page.is_empty() {
            return;
        }
        self.dirs.entry(dir).or_insert_with(|| DirCookies {
            used: 0,
            positions: HashMap::new(),
        });
        self.touch(dir);
        if let Some(d) = self.dirs.get_mut(&dir) {
            if d.positions.len() + page.len() > self.limit {
                self.total -= d.positions.len();
                d.positions.clear();
            }
            for (cookie, position) in page {
                if d.positions.insert(cookie, position).is_none() {
                    self.total += 1;
                }
            }
        }
        while self.total > self.limit {
            let Some((used, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if oldest == dir {
                // Only this page's own directory is left (a page larger than the bound).
                self.by_use.insert(used, oldest);
                break;
            }
            if let Some(d) = self.dirs.remove(&oldest) {
                self.total -= d.positions.len();
            }
        }
    }
}

async fn resolve_cookie(
    gw: &Gateway,
    c: &Caller,
    bucket: &str,
    h: &crate::handle::Handle,
    cookie: u64,
) -> Result<Option<String>, nfsstat3> {
    if cookie == 0 || cookie == COOKIE_DOT || cookie == COOKIE_DOTDOT {
        return Ok(None);
    }
    if let Some(p) = gw.cookie_cache().get((h.bucket_id, h.ino), cookie) {
        return Ok(Some(p));
    }
    let mut after: Option<String> = None;
    loop {
        let page = gw
            .store
            .fs_readdir(&c.principal, bucket, h.ino, after.as_deref(), 1000)
            .await
            .map_err(|e| status("readdir", &e))?;
        if let Some(e) = page
            .entries
            .iter()
            .find(|e| names_position(&e.position, cookie))
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

/// Bytes of a READDIR(PLUS) reply besides its entries: status, directory attributes, verifier,
/// the list's end and eof.
pub(super) fn reply_base(dir_attributes: &post_op_attr) -> usize {
    4 + dir_attributes.packed_size() + 8 + 4 + 4
}

/// Bytes of one entry named `name`; for READDIRPLUS with attributes and a handle of
/// `handle_len` bytes (a mount token's handles are longer than an address's).
fn entry_size(plus: bool, handle_len: usize, name: &str) -> usize {
    let fixed = if plus {
        4 + 8 + 4 + 8 + 4 + 84 + 4 + 4 + pad4(handle_len)
    } else {
        4 + 8 + 4 + 8
    };
    fixed + pad4(name.len())
}

/// How many of `names`, in order, fit in a reply of `budget` bytes whose other parts take
/// `base`.
pub(super) fn fitting<'a>(
    budget: usize,
    base: usize,
    plus: bool,
    handle_len: usize,
    names: impl IntoIterator<Item = &'a str>,
) -> usize {
    let mut used = base;
    let mut n = 0;
    for name in names {
        let size = entry_size(plus, handle_len, name);
        if used + size > budget {
            break;
        }
        used += size;
        n += 1;
    }
    n
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
        super::snapshots::readdir(gw, c, &bucket, h, (cookie, budget), plus, out).await;
        return Ok(());
    }
    let after = match resolve_cookie(gw, c, &bucket, &h, cookie).await {
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
    let dots = dot_entries(&page, h.ino, cookie, after.is_some());
    let n_dots = dots.len();
    let mut items: Vec<(u64, String, u64, Option<FsAttr>)> = dots;
    items.extend(page.entries.iter().map(|e| {
        (
            e.attr.ino,
            e.name.clone(),
            cookie_of(&e.position),
            Some(e.attr.clone()),
        )
    }));
    let total = items.len();
    let handle_len = crate::handle::Signer::minted_len(&c.bearer);
    let fit = fitting(
        budget,
        reply_base(&dir_attributes),
        plus,
        handle_len,
        items.iter().map(|(_, nm, ..)| nm.as_str()),
    );
    items.truncate(fit);
    let eof = page.eof && items.len() == total;
    if items.is_empty() && !eof {
        fail(out, nfsstat3::NFS3ERR_TOOSMALL, &dir_attributes);
        return Ok(());
    }
    let handed: Vec<(u64, String)> = page
        .entries
        .iter()
        .take(items.len().saturating_sub(n_dots))
        .map(|e| (cookie_of(&e.position), e.position.clone()))
        .collect();
    gw.cookie_cache().remember((h.bucket_id, h.ino), handed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_non_negative_offsets_and_old_ones_still_name_their_entry() {
        for position in ["a", "b/", "file.txt", "\u{e9}t\u{e9}", ""] {
            let c = cookie_of(position);
            assert_eq!(
                c >> 62,
                0b01,
                "{position:?}: bit 62 set, bit 63 clear ({c:#x})"
            );
            assert!(i64::try_from(c).is_ok());
            // The form served before: the hash's low 63 bits with bit 63 set.
            let d = Sha256::digest(position.as_bytes());
            let old = u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) | (1 << 63);
            assert!(names_position(position, c));
            assert!(names_position(position, old));
            assert!(!names_position("another", c));
            assert!(!names_position("another", old));
        }
    }

    fn page(n: usize, tag: &str) -> Vec<(u64, String)> {
        (0..n)
            .map(|i| {
                let p = format!("{tag}{i}");
                (cookie_of(&p), p)
            })
            .collect()
    }

    #[test]
    fn cookies_of_the_least_recently_used_directories_go_first() {
        let mut c = Cookies::with_limit(10);
        let (a, b, d, e) = ((1, 10), (1, 11), (1, 12), (1, 13));
        let first = |tag: &str| page(1, tag).remove(0);
        c.remember(a, page(4, "a"));
        c.remember(b, page(4, "b"));
        // `a` is read again: `b` is now the oldest, and goes when `d` passes the bound.
        let (ck, pos) = first("a");
        assert_eq!(c.get(a, ck), Some(pos));
        c.remember(d, page(4, "d"));
        assert_eq!(c.total, 8);
        assert_eq!(c.get(b, first("b").0), None);
        // `d` then `a` are read: `d` is the oldest now.
        assert!(c.get(d, first("d").0).is_some());
        assert!(c.get(a, first("a").0).is_some());
        c.remember(e, page(5, "e"));
        assert_eq!(c.total, 9);
        assert_eq!(c.get(d, first("d").0), None);
        assert!(c.get(a, first("a").0).is_some());
        assert!(c.get(e, first("e").0).is_some());
        // The same inode number in another share is another directory.
        assert_eq!(c.get((2, 10), first("a").0), None);
        assert_eq!((c.dirs.len(), c.by_use.len()), (2, 2));
    }

    #[test]
    fn one_directory_past_the_bound_keeps_its_latest_page() {
        let mut c = Cookies::with_limit(6);
        let dir = (1, 1);
        c.remember(dir, page(4, "x"));
        let next = page(4, "y");
        c.remember(dir, next.clone());
        assert_eq!(c.total, 4);
        for (ck, pos) in next {
            assert_eq!(c.get(dir, ck), Some(pos));
        }
        assert!(c.get(dir, page(1, "x")[0].0).is_none());
        // Empty pages make no entry (the number of directories stays bounded by the cookies).
        c.remember((9, 9), Vec::new());
        assert_eq!(c.dirs.len(), 1);
        assert_eq!(c.by_use.len(), 1);
    }
}
