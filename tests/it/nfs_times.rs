//! POSIX times through NFSv3 (issue 18, decision 0023), with the `nfs3_client` library:
//! ctime moves on every change of an inode and cannot be set; SETATTR sets atime and mtime
//! each alone, to the server's time or the client's (nanoseconds kept); the SETATTR guard is
//! the ctime; READ moves atime by relatime rules, shown at once and kept across a restart;
//! directory attributes stick, implicit directories included; S3 sees a set mtime as
//! `x-amz-meta-mtime`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{Conn, create, getattr, lookup, mount, rename, write, writer};

fn ns(t: &nfstime3) -> i64 {
    i64::from(t.seconds) * 1_000_000_000 + i64::from(t.nseconds)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64
}

fn at(seconds: u32, nseconds: u32) -> nfstime3 {
    nfstime3 { seconds, nseconds }
}

async fn new_file(c: &mut Conn, dir: &nfs_fh3, name: &str) -> nfs_fh3 {
    create(c, dir, name, createhow3::GUARDED(sattr3::default()))
        .await
        .expect("create")
}

/// SETATTR with `attrs` and `guard`: the attributes after, or the status.
pub(crate) async fn setattr_guarded(
    c: &mut Conn,
    h: &nfs_fh3,
    attrs: sattr3,
    guard: Option<nfstime3>,
) -> Result<fattr3, nfsstat3> {
    let r = c
        .setattr(&SETATTR3args {
            object: h.clone(),
            new_attributes: attrs,
            guard: match guard {
                Some(t) => Nfs3Option::Some(t),
                None => Nfs3Option::None,
            },
        })
        .await
        .expect("rpc");
    match r {
        Nfs3Result::Ok(ok) => match ok.obj_wcc.after {
            Nfs3Option::Some(a) => Ok(a),
            Nfs3Option::None => panic!("setattr without attributes"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn setattr(c: &mut Conn, h: &nfs_fh3, attrs: sattr3) -> fattr3 {
    setattr_guarded(c, h, attrs, None).await.expect("setattr")
}

/// READ of the first `count` bytes: the bytes and the attributes the reply carries.
async fn read(c: &mut Conn, h: &nfs_fh3, count: u32) -> (Vec<u8>, fattr3) {
    match c
        .read(&READ3args {
            file: h.clone(),
            offset: 0,
            count,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match ok.file_attributes {
            Nfs3Option::Some(a) => (ok.data.to_vec(), a),
            Nfs3Option::None => panic!("read without attributes"),
        },
        Nfs3Result::Err((s, _)) => panic!("read: {s:?}"),
    }
}

/// (atime, mtime, ctime) in ns.
fn times(a: &fattr3) -> (i64, i64, i64) {
    (ns(&a.atime), ns(&a.mtime), ns(&a.ctime))
}

/// A new file has all three times now; chmod, chown, a write, a truncate and a rename each
/// move its ctime (a write and a truncate the mtime too, the others not).
#[tokio::test]
async fn nfs_ctime_moves_on_every_change() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "ctimes").await;
    let before = now_ns();
    let f = new_file(&mut c, &root, "f").await;
    let a0 = getattr(&mut c, &f).await.expect("getattr");
    let (at0, mt0, ct0) = times(&a0);
    assert!(at0 == mt0 && mt0 == ct0, "created: all three now: {a0:?}");
    assert!(ct0 >= before - 1_000_000_000 && ct0 <= now_ns(), "{a0:?}");

    let a1 = setattr(
        &mut c,
        &f,
        sattr3 {
            mode: Nfs3Option::Some(0o600),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!(a1.mode, 0o600);
    assert!(ns(&a1.ctime) > ct0, "chmod moves ctime: {a1:?}");
    assert_eq!(
        (ns(&a1.atime), ns(&a1.mtime)),
        (at0, mt0),
        "and nothing else"
    );
    assert_eq!(getattr(&mut c, &f).await.expect("getattr").ctime, a1.ctime);

    let a2 = setattr(
        &mut c,
        &f,
        sattr3 {
            uid: Nfs3Option::Some(4321),
            gid: Nfs3Option::Some(4322),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!((a2.uid, a2.gid), (4321, 4322));
    assert!(ns(&a2.ctime) > ns(&a1.ctime), "chown moves ctime");
    assert_eq!(ns(&a2.mtime), mt0);

    write(&mut c, &f, 0, b"hello times").await.expect("write");
    let a3 = getattr(&mut c, &f).await.expect("getattr");
    assert!(ns(&a3.mtime) > mt0, "a write moves mtime: {a3:?}");
    assert!(ns(&a3.ctime) > ns(&a2.ctime), "and ctime");
    assert_eq!(ns(&a3.atime), at0, "not atime");

    let a4 = setattr(
        &mut c,
        &f,
        sattr3 {
            size: Nfs3Option::Some(5),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!(a4.size, 5);
    assert!(ns(&a4.mtime) > ns(&a3.mtime), "a truncate moves mtime");
    assert!(ns(&a4.ctime) > ns(&a3.ctime), "and ctime");

    rename(&mut c, (&root, "f"), (&root, "g"))
        .await
        .expect("rename");
    let a5 = getattr(&mut c, &f).await.expect("getattr after rename");
    assert!(ns(&a5.ctime) > ns(&a4.ctime), "a rename moves ctime");
    assert_eq!(ns(&a5.mtime), ns(&a4.mtime), "not mtime");
}

/// atime-only and mtime-only SETATTRs change that time alone (and ctime); SET_TO_SERVER_TIME
/// is the server's clock; a client time keeps its nanoseconds, and S3 sees the mtime.
#[tokio::test]
async fn nfs_setattr_sets_each_time_alone_to_the_nanosecond() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "settimes").await;
    let f = new_file(&mut c, &root, "t.txt").await;
    let (at0, mt0, ct0) = times(&getattr(&mut c, &f).await.expect("getattr"));

    let a = setattr(
        &mut c,
        &f,
        sattr3 {
            atime: set_atime::SET_TO_CLIENT_TIME(at(1_600_000_000, 5)),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!(ns(&a.atime), 1_600_000_000_000_000_005, "atime set: {a:?}");
    assert_eq!(ns(&a.mtime), mt0, "touch -a leaves mtime");
    assert!(ns(&a.ctime) > ct0, "and moves ctime");

    let m = setattr(
        &mut c,
        &f,
        sattr3 {
            mtime: set_mtime::SET_TO_CLIENT_TIME(at(1_700_000_000, 123_456_789)),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!(
        ns(&m.mtime),
        1_700_000_000_123_456_789,
        "nanoseconds kept: {m:?}"
    );
    assert_eq!(ns(&m.atime), ns(&a.atime), "touch -m leaves atime");
    assert!(ns(&m.ctime) > ns(&a.ctime));
    let seen = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!(
        (seen.atime, seen.mtime),
        (at(1_600_000_000, 5), at(1_700_000_000, 123_456_789)),
        "read back exactly"
    );
    // S3 tools read the mtime from x-amz-meta-mtime; Last-Modified stays the write time.
    let head = srv
        .client()
        .head_object()
        .bucket("fs+settimes")
        .key("t.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("mtime"))
            .map(String::as_str),
        Some("1700000000.123456789")
    );
    let last_modified = head.last_modified().expect("last-modified").secs();
    assert!(
        last_modified >= i64::from(seen.ctime.seconds) - 60,
        "Last-Modified is not the set mtime: {last_modified}"
    );

    // An S3 copy is a new object: its mtime comes with the metadata, its ctime is the copy's.
    let copied_at = now_ns() / 1_000_000 * 1_000_000;
    srv.client()
        .copy_object()
        .bucket("fs+settimes")
        .key("u.txt")
        .copy_source("fs+settimes/t.txt")
        .send()
        .await
        .expect("copy");
    let (_, u) = lookup(&mut c, &root, "u.txt").await.expect("the copy");
    assert_eq!(ns(&u.mtime), 1_700_000_000_123_456_789, "{u:?}");
    assert!(ns(&u.ctime) >= copied_at, "{u:?}");

    let before = now_ns();
    let s = setattr(
        &mut c,
        &f,
        sattr3 {
            atime: set_atime::SET_TO_SERVER_TIME,
            ..sattr3::default()
        },
    )
    .await;
    let after = now_ns();
    assert!(
        (before..=after).contains(&ns(&s.atime)),
        "server time: {s:?}"
    );
    assert_eq!(ns(&s.mtime), 1_700_000_000_123_456_789, "mtime stays");
    let s = setattr(
        &mut c,
        &f,
        sattr3 {
            mtime: set_mtime::SET_TO_SERVER_TIME,
            ..sattr3::default()
        },
    )
    .await;
    assert!((before..=now_ns()).contains(&ns(&s.mtime)), "{s:?}");
    assert!(ns(&s.atime) <= after, "atime stays");
    assert!(ns(&s.ctime) >= ns(&s.mtime));
    assert!(at0 > 0);
}

/// sattrguard3 compares the object's ctime (RFC 1813): a stale one is NOT_SYNC and changes
/// nothing, the current one lets the change through.
#[tokio::test]
async fn nfs_setattr_guard_is_the_ctime() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "guard").await;
    let f = new_file(&mut c, &root, "g").await;
    // mtime and ctime differ from here on.
    let a = setattr(
        &mut c,
        &f,
        sattr3 {
            mtime: set_mtime::SET_TO_CLIENT_TIME(at(1_500_000_000, 0)),
            ..sattr3::default()
        },
    )
    .await;
    let chmod = sattr3 {
        mode: Nfs3Option::Some(0o640),
        ..sattr3::default()
    };
    assert_eq!(
        setattr_guarded(&mut c, &f, chmod.clone(), Some(a.mtime))
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_NOT_SYNC),
        "the mtime is not the guard"
    );
    let stale = at(a.ctime.seconds, a.ctime.nseconds ^ 1);
    assert_eq!(
        setattr_guarded(&mut c, &f, chmod.clone(), Some(stale))
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_NOT_SYNC)
    );
    assert_eq!(getattr(&mut c, &f).await.expect("getattr").mode, 0o644);
    let done = setattr_guarded(&mut c, &f, chmod, Some(a.ctime))
        .await
        .expect("the current ctime passes");
    assert_eq!(done.mode, 0o640);
}

/// The first READ after a write moves atime (seen at once in the READ reply and GETATTR); a
/// second does not; the atime is kept across a restart (the batch is written at stop).
#[tokio::test]
async fn nfs_read_moves_atime_by_relatime_and_keeps_it() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "atimes").await;
    let f = new_file(&mut c, &root, "r").await;
    write(&mut c, &f, 0, b"read me").await.expect("write");
    let w = getattr(&mut c, &f).await.expect("getattr");
    let (at0, mt0, ct0) = times(&w);
    assert!(at0 < mt0, "the write left atime: {w:?}");

    let (data, ra) = read(&mut c, &f, 100).await;
    assert_eq!(data, b"read me");
    let at1 = ns(&ra.atime);
    assert!(at1 > mt0 && at1 > ct0, "the READ moved atime: {ra:?}");
    assert_eq!((ns(&ra.mtime), ns(&ra.ctime)), (mt0, ct0), "nothing else");
    let g = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!(ns(&g.atime), at1, "GETATTR shows it at once");
    let (_, la) = lookup(&mut c, &root, "r").await.expect("lookup");
    assert_eq!(ns(&la.atime), at1, "so does LOOKUP");

    let (_, rb) = read(&mut c, &f, 100).await;
    assert_eq!(ns(&rb.atime), at1, "a second READ leaves it (relatime)");
    assert_eq!(ns(&getattr(&mut c, &f).await.expect("getattr").atime), at1);

    drop(c);
    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "atimes").await.expect("mount again");
    let kept = getattr(&mut c, &f).await.expect("getattr after restart");
    assert_eq!(ns(&kept.atime), at1, "kept across a restart: {kept:?}");
    assert_eq!((ns(&kept.mtime), ns(&kept.ctime)), (mt0, ct0));
}

/// chmod of a directory that exists only because keys are under it makes its marker object
/// (S3 sees `d/`), sticks across a restart, and leaves its parent's times; the root's too.
#[tokio::test]
async fn nfs_chmod_of_an_implicit_directory_sticks() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "implicit").await;
    srv.client()
        .put_object()
        .bucket("fs+implicit")
        .key("d/x.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let root_before = getattr(&mut c, &root).await.expect("root");
    let (d, da) = lookup(&mut c, &root, "d").await.expect("lookup d");
    assert_eq!(da.mode, 0o755);
    let set = setattr(
        &mut c,
        &d,
        sattr3 {
            mode: Nfs3Option::Some(0o700),
            uid: Nfs3Option::Some(1000),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!((set.mode, set.uid, set.fileid), (0o700, 1000, da.fileid));
    assert!(ns(&set.ctime) > ns(&da.ctime), "its ctime moved");
    let r = getattr(&mut c, &d).await.expect("getattr");
    assert_eq!((r.mode, r.uid), (0o700, 1000));
    let root_after = getattr(&mut c, &root).await.expect("root");
    assert_eq!(
        (root_after.mtime, root_after.ctime, root_after.nlink),
        (root_before.mtime, root_before.ctime, root_before.nlink),
        "the parent's listing did not change"
    );
    srv.client()
        .head_object()
        .bucket("fs+implicit")
        .key("d/")
        .send()
        .await
        .expect("S3 sees the marker");
    let root_set = setattr(
        &mut c,
        &root,
        sattr3 {
            mode: Nfs3Option::Some(0o750),
            ..sattr3::default()
        },
    )
    .await;
    assert_eq!(root_set.mode, 0o750, "the root keeps its mode too");

    drop(c);
    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "implicit").await.expect("mount again");
    let r = getattr(&mut c, &d).await.expect("getattr after restart");
    assert_eq!((r.mode, r.uid, r.fileid), (0o700, 1000, da.fileid));
    let (_, x) = lookup(&mut c, &d, "x.txt").await.expect("its file");
    assert_eq!(x.size, 1);
    assert_eq!(
        getattr(&mut c, &root)
            .await
            .expect("root after restart")
            .mode,
        0o750
    );
}

/// UNSTABLE writes are modified when they were written: after the flush (here at COMMIT, a
/// second later) the file's mtime is the one the last WRITE's reply showed, to the
/// nanosecond, so a client that cached it sees no change it did not make (the Linux client
/// drops its cached pages of a file whose mtime moved unexpectedly).
#[tokio::test]
async fn nfs_buffered_writes_keep_the_mtime_their_replies_showed() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "wtimes").await;
    let f = new_file(&mut c, &root, "f").await;
    let (_, _, first) = crate::nfs::write_as(&mut c, &f, 0, b"first", stable_how::UNSTABLE)
        .await
        .expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (committed, _, last) =
        crate::nfs::write_as(&mut c, &f, 5, b" and last", stable_how::UNSTABLE)
            .await
            .expect("write");
    assert!(matches!(committed, stable_how::UNSTABLE), "buffered");
    assert!(ns(&last.mtime) > ns(&first.mtime), "each write moves mtime");
    assert!(ns(&last.ctime) >= ns(&last.mtime));
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let flushed_at = now_ns();
    crate::nfs::commit(&mut c, &f).await.expect("commit");
    let a = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!(a.size, 14);
    assert_eq!(
        ns(&a.mtime),
        ns(&last.mtime),
        "the last write's mtime, not the flush's ({flushed_at})"
    );
    assert!(ns(&a.ctime) >= ns(&a.mtime));
    // A change after the writes moves ctime past them, and a later flush never moves it back.
    let (_, _, again) = crate::nfs::write_as(&mut c, &f, 14, b"!", stable_how::UNSTABLE)
        .await
        .expect("write");
    let a = getattr(&mut c, &f).await.expect("getattr flushes first");
    assert_eq!(ns(&a.mtime), ns(&again.mtime));
    assert!(ns(&a.ctime) >= ns(&again.mtime));
}
