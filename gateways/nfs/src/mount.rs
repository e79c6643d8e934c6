//! MOUNT v3 (program 100005): every live share is exported as `/<name>`; `/<name>@<token>`
//! mounts it as the user whose mount token that is (for clients the network does not vouch
//! for), whatever address they call from.

use std::net::IpAddr;

use gatehouse_store::ops::FsKind;
use nfs3_types::mount::mountstat3;

use crate::rpc::{self, Accept, Call};
use crate::xdr::{Reader, put_u32};
use crate::{Gateway, error};

const MNTPATHLEN: usize = 1024;
/// The flavours we accept, preferred first (AUTH_UNIX uids shape attributes only).
const FLAVORS: [u32; 2] = [rpc::AUTH_UNIX, rpc::AUTH_NONE];

pub async fn call(gw: &Gateway, c: &Call, args: &[u8], ip: IpAddr) -> Vec<u8> {
    let xid = c.xid;
    match c.proc_ {
        // NULL, UMNT, UMNTALL: we keep no mount list, so nothing to forget.
        0 | 3 | 4 => rpc::accepted(xid, Accept::Success),
        1 => {
            let Ok(path) = Reader::new(args).opaque(MNTPATHLEN) else {
                return rpc::accepted(xid, Accept::GarbageArgs);
            };
            let mut out = rpc::accepted(xid, Accept::Success);
            match mnt(gw, path, ip).await {
                Ok(fh) => {
                    put_u32(&mut out, mountstat3::MNT3_OK as u32);
                    put_opaque(&mut out, &fh);
                    put_u32(&mut out, FLAVORS.len() as u32);
                    for f in FLAVORS {
                        put_u32(&mut out, f);
                    }
                }
                Err(stat) => put_u32(&mut out, stat as u32),
            }
            out
        }
        // DUMP: no mount list is kept.
        2 => {
            let mut out = rpc::accepted(xid, Accept::Success);
            put_u32(&mut out, 0);
            out
        }
        5 => export(gw, xid, ip),
        _ => rpc::accepted(xid, Accept::ProcUnavail),
    }
}

/// `/<share>` or a directory inside it, `/<share>/a/b` (libnfs mounts a URL's parent
/// directory), either with `@<token>` after the share name → that directory's handle for this
/// caller. A token that is not a current one → `MNT3ERR_ACCES`.
async fn mnt(gw: &Gateway, path: &[u8], ip: IpAddr) -> Result<Vec<u8>, mountstat3> {
    let path = std::str::from_utf8(path).map_err(|_| mountstat3::MNT3ERR_NOENT)?;
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let Some(first) = segments.next() else {
        return Err(mountstat3::MNT3ERR_NOENT);
    };
    let (name, caller) = match first.split_once('@') {
        Some((name, token)) => match gw.token_caller(token, ip) {
            Ok(Some(c)) => (name, c),
            Ok(None) => {
                tracing::info!(share = name, %ip, "nfs mount with an unknown or revoked token refused");
                return Err(mountstat3::MNT3ERR_ACCES);
            }
            Err(e) => return Err(error::mountstat(&e)),
        },
        None => (first, gw.caller(ip).map_err(|e| error::mountstat(&e))?),
    };
    let fail = |e: gatehouse_store::StoreError| {
        error::log("mnt", &e);
        error::mountstat(&e)
    };
    let segments: Vec<&str> = segments.collect();
    // The directory mounted, as a listing's prefix (a share's policy may let the caller list
    // only there).
    let under: String = segments.iter().map(|s| format!("{s}/")).collect();
    let share = gw
        .store
        .fs_share(&caller.principal, name, &under)
        .await
        .map_err(fail)?;
    gw.remember_bucket(share.bucket_id, &share.bucket);
    let mut dir = share.root;
    for seg in segments {
        if seg == "." || seg == ".." {
            return Err(mountstat3::MNT3ERR_NOENT);
        }
        dir = gw
            .store
            .fs_lookup(&caller.principal, &share.bucket, dir.ino, seg)
            .await
            .map_err(fail)?;
        if dir.kind != FsKind::Dir {
            return Err(mountstat3::MNT3ERR_NOTDIR);
        }
    }
    // The token is a secret: log the share and the rest of the path only.
    let shown = path.replacen(first, name, 1);
    tracing::info!(path = %shown, principal = %caller.principal.name, "nfs mount");
    Ok(gw.mint(&caller, share.bucket_id, dir.ino))
}

/// The live shares this caller may list, as `/<name>`, open to every host (access is decided
/// per principal, not per host group).
fn export(gw: &Gateway, xid: u32, ip: IpAddr) -> Vec<u8> {
    let shares = gw
        .caller(ip)
        .and_then(|c| gw.store.list_shares(&c.principal, false));
    let shares = match shares {
        Ok(s) => s,
        Err(e) => {
            error::log("export", &e);
            return rpc::accepted(xid, Accept::SystemErr);
        }
    };
    let now = gatehouse_store::now_unix_ms();
    let mut out = rpc::accepted(xid, Accept::Success);
    for s in shares.iter().filter(|s| s.expires_ms > now) {
        put_u32(&mut out, 1);
        put_opaque(&mut out, format!("/{}", s.name).as_bytes());
        put_u32(&mut out, 0); // no groups
    }
    put_u32(&mut out, 0);
    out
}

pub(crate) fn put_opaque(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
    out.resize(out.len() + (4 - b.len() % 4) % 4, 0);
}
