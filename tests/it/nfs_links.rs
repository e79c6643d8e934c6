//! Hard links (NFS LINK) and special files (NFS MKNOD), with `nfs3_client` for the file view
//! and aws-sdk-s3 for the S3 view of the same keys (decisions 0021 and 0022): nlink counted and
//! shown, names outliving each other, rename onto and between links, EXDEV across shares, an S3
//! PUT or DELETE breaking one name out, usage counting bytes once, CopyObject, backup and
//! restore, fsck; FIFOs, sockets and devices with their type, mode and rdev, across a restart
//! and a backup.

use std::time::Duration;

use nfs3_client::nfs3_types::nfs3::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::nfs::{
    Conn, admin_mount, create, dirop, getattr, lookup, mkdir, mount, read_all, remove, rename,
    s3_delete, s3_get, s3_put, share, write, writer,
};

/// LINK: `dir/name` names `file` too; the file's attributes after.
pub(crate) async fn link(
    c: &mut Conn,
    file: &nfs_fh3,
    dir: &nfs_fh3,
    name: &str,
) -> Result<fattr3, nfsstat3> {
    match c
        .link(&LINK3args {
            file: file.clone(),
            link: dirop(dir, name),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => {
            assert!(
                matches!(ok.linkdir_wcc.after, Nfs3Option::Some(_)),
                "LINK reports the directory's attributes after"
            );
            match ok.file_attributes {
                Nfs3Option::Some(a) => Ok(a),
                Nfs3Option::None => panic!("link without the file's attributes"),
            }
        }
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn mknod(
    c: &mut Conn,
    dir: &nfs_fh3,
    name: &str,
    what: mknoddata3,
) -> Result<(nfs_fh3, fattr3), nfsstat3> {
    match c
        .mknod(&MKNOD3args {
            where_: dirop(dir, name),
            what,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match (ok.obj, ok.obj_attributes) {
            (Nfs3Option::Some(h), Nfs3Option::Some(a)) => Ok((h, a)),
            _ => panic!("mknod without a handle or attributes"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn new_file(c: &mut Conn, dir: &nfs_fh3, name: &str, data: &[u8]) -> nfs_fh3 {
    let f = create(
        c,
        dir,
        name,
        createhow3::GUARDED(sattr3 {
            mode: Nfs3Option::Some(0o640),
            ..sattr3::default()
        }),
    )
    .await
    .expect("create");
    for (i, piece) in data.chunks(1 << 20).enumerate() {
        write(c, &f, (i << 20) as u64, piece).await.expect("write");
    }
    f
}

fn usage(srv: &TestServer, bucket: &str) -> (u64, u64) {
    let b = srv.store().head_bucket(&srv.admin(), bucket).expect("head");
    (b.usage_bytes, b.object_count)
}

/// fsck of a stopped server's data directory: clean (links counted, chunks once per inode).
fn fsck_clean(dir: &std::path::Path) {
    let r = gatehouse_store::fsck::fsck(dir, false).expect("fsck");
    assert!(r.clean(), "fsck: {r:?}");
}

/// An online backup of `srv` (as a tar), then the server stopped (its directory fsck-clean),
/// the backup restored into a new directory (fsck-clean again) and a server started on it.
async fn backup_and_restore(srv: TestServer) -> TestServer {
    let mut tar = Vec::new();
    srv.store()
        .backup_snapshot(&srv.admin())
        .expect("snapshot")
        .write_tar(&mut tar)
        .expect("tar");
    let dir = srv.stop().await;
    fsck_clean(dir.path());
    let unpacked = tempfile::tempdir().expect("unpacked");
    gatehouse_store::backup::unpack_tar(&mut tar.as_slice(), unpacked.path()).expect("unpack");
    let restored = tempfile::tempdir().expect("restored");
    let report =
        gatehouse_store::backup::restore_dir(unpacked.path(), restored.path()).expect("restore");
    assert!(report.clean(), "{report:?}");
    TestServer::start_in(restored).await
}

#[tokio::test]
async fn nfs_hard_links_count_names_and_outlive_each_other() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "ln").await;
    let body = bytes(300 << 10, 7); // chunked, not inline: chunk references are at stake
    let a = new_file(&mut c, &root, "a", &body).await;
    let d = mkdir(&mut c, &root, "d").await.expect("mkdir");
    let before = getattr(&mut c, &d).await.expect("dir");
    let a0 = getattr(&mut c, &a).await.expect("a");
    let t = |a: &fattr3| (a.ctime.seconds, a.ctime.nseconds);

    // A second name in another directory of the share: one inode, two links, ctime moved.
    let fa = link(&mut c, &a, &d, "b").await.expect("link");
    assert_eq!(fa.nlink, 2);
    assert!(t(&fa) > t(&a0), "LINK changes the inode's ctime");
    let (b, battr) = lookup(&mut c, &d, "b").await.expect("lookup b");
    assert_eq!(battr.fileid, fa.fileid, "one inode");
    assert_eq!(battr.nlink, 2);
    assert_eq!(getattr(&mut c, &a).await.expect("a").nlink, 2);
    let after = getattr(&mut c, &d).await.expect("dir");
    assert!(
        (after.mtime.seconds, after.mtime.nseconds) > (before.mtime.seconds, before.mtime.nseconds),
        "the directory's listing changed"
    );
    assert_eq!(read_all(&mut c, &b).await, body);
    assert_eq!(
        s3_get(&srv, "fs+ln", "d/b").await,
        body,
        "S3 sees both keys"
    );
    // Usage counts the bytes once; the object count counts names (a, d/, d/b).
    assert_eq!(usage(&srv, "fs+ln"), (body.len() as u64, 3));

    // A write through one name is seen through the other.
    write(&mut c, &b, 0, b"HELLO").await.expect("write via b");
    let seen = read_all(&mut c, &a).await;
    assert_eq!(&seen[..5], b"HELLO");
    assert_eq!(&seen[5..], &body[5..]);

    // Refusals: an existing name, a directory as the source, a name past 255 bytes.
    assert_eq!(
        link(&mut c, &a, &d, "b").await.err(),
        Some(nfsstat3::NFS3ERR_EXIST)
    );
    assert_eq!(
        link(&mut c, &a, &root, "d").await.err(),
        Some(nfsstat3::NFS3ERR_EXIST)
    );
    assert_eq!(
        link(&mut c, &d, &root, "dd").await.err(),
        Some(nfsstat3::NFS3ERR_PERM)
    );
    assert_eq!(
        link(&mut c, &a, &root, &"n".repeat(256)).await.err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    assert_eq!(
        link(&mut c, &a, &a, "x").await.err(),
        Some(nfsstat3::NFS3ERR_NOTDIR)
    );

    // Rename of one name onto another name of the same inode: nothing changes (rename(2)).
    rename(&mut c, (&root, "a"), (&d, "b"))
        .await
        .expect("rename same inode");
    assert_eq!(
        lookup(&mut c, &root, "a").await.expect("a stays").1.nlink,
        2
    );
    assert_eq!(lookup(&mut c, &d, "b").await.expect("b stays").1.nlink, 2);

    // Unlinking one name keeps the other, bytes intact, one link.
    remove(&mut c, &root, "a").await.expect("remove a");
    assert_eq!(
        lookup(&mut c, &root, "a").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );
    let battr = getattr(&mut c, &b).await.expect("b after");
    assert_eq!(battr.nlink, 1);
    assert!(
        t(&battr) > t(&fa),
        "unlinking a name changes the inode's ctime"
    );
    assert_eq!(&read_all(&mut c, &b).await[5..], &body[5..]);
    assert_eq!(usage(&srv, "fs+ln"), (body.len() as u64, 2));
    srv.store().gc(Some(Duration::ZERO)).await.expect("gc");
    assert_eq!(
        read_all(&mut c, &b).await.len(),
        body.len(),
        "the remaining name's chunks outlive a GC"
    );

    // Rename onto a link: the replaced name goes, the inode's other name stays.
    link(&mut c, &b, &root, "c").await.expect("link c");
    let x = new_file(&mut c, &root, "x", b"xx").await;
    rename(&mut c, (&root, "x"), (&root, "c"))
        .await
        .expect("rename onto link");
    let (_, cattr) = lookup(&mut c, &root, "c").await.expect("c");
    assert_eq!(cattr.fileid, getattr(&mut c, &x).await.expect("x").fileid);
    assert_eq!(cattr.nlink, 1);
    assert_eq!(getattr(&mut c, &b).await.expect("b").nlink, 1);
    assert_eq!(&read_all(&mut c, &b).await[5..], &body[5..]);
    assert_eq!(usage(&srv, "fs+ln"), (body.len() as u64 + 2, 3));

    // The last name takes the data with it.
    remove(&mut c, &d, "b").await.expect("remove b");
    assert_eq!(
        getattr(&mut c, &b).await.err(),
        Some(nfsstat3::NFS3ERR_STALE)
    );
    assert_eq!(usage(&srv, "fs+ln").0, 2);
    drop(c);
    let dir = srv.stop().await;
    fsck_clean(dir.path());
}

#[tokio::test]
async fn nfs_link_across_shares_is_xdev() {
    let srv = TestServer::start().await;
    let (mut c1, r1) = writer(&srv, "one").await;
    share(&srv, "two", false).await;
    let mut c2 = mount(&srv, "two").await.expect("mount two");
    let r2 = c2.root_nfs_fh3();
    let f = new_file(&mut c1, &r1, "f", b"data").await;
    assert_eq!(
        link(&mut c1, &f, &r2, "g").await.err(),
        Some(nfsstat3::NFS3ERR_XDEV)
    );
    assert_eq!(
        lookup(&mut c2, &r2, "g").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );
    assert_eq!(getattr(&mut c1, &f).await.expect("f").nlink, 1);
}

#[tokio::test]
async fn s3_put_delete_and_copy_of_a_linked_key() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "s3ln").await;
    let bucket = "fs+s3ln";
    let body = bytes(200 << 10, 3);
    s3_put(&srv, bucket, "a", body.clone()).await;
    let (a, _) = lookup(&mut c, &root, "a").await.expect("a");
    link(&mut c, &a, &root, "b").await.expect("link");
    let s3 = srv.client();

    // Both keys are ordinary objects with the same bytes and ETag.
    let ha = s3
        .head_object()
        .bucket(bucket)
        .key("a")
        .send()
        .await
        .expect("head a");
    let hb = s3
        .head_object()
        .bucket(bucket)
        .key("b")
        .send()
        .await
        .expect("head b");
    assert_eq!(ha.e_tag(), hb.e_tag());
    assert_eq!(hb.content_length(), Some(body.len() as i64));
    assert_eq!(usage(&srv, bucket), (body.len() as u64, 2));

    // An S3 PUT replaces key b whole: b breaks out with a new inode, a keeps its bytes; the
    // directory changed (b leads elsewhere), so clients drop their cached lookup of b.
    let before = getattr(&mut c, &root).await.expect("root").mtime;
    s3_put(&srv, bucket, "b", b"new b".to_vec()).await;
    let after = getattr(&mut c, &root).await.expect("root").mtime;
    assert!((after.seconds, after.nseconds) > (before.seconds, before.nseconds));
    let aattr = getattr(&mut c, &a).await.expect("a");
    assert_eq!(aattr.nlink, 1);
    let (_, battr) = lookup(&mut c, &root, "b").await.expect("b");
    assert_ne!(battr.fileid, aattr.fileid, "b is a new inode");
    assert_eq!(battr.nlink, 1);
    assert_eq!(read_all(&mut c, &a).await, body);
    assert_eq!(s3_get(&srv, bucket, "b").await, b"new b");
    assert_eq!(usage(&srv, bucket), (body.len() as u64 + 5, 2));

    // An S3 DELETE of one name leaves the other.
    link(&mut c, &a, &root, "c").await.expect("link c");
    s3_delete(&srv, bucket, "c").await;
    assert_eq!(getattr(&mut c, &a).await.expect("a").nlink, 1);
    assert_eq!(read_all(&mut c, &a).await, body);
    assert_eq!(usage(&srv, bucket), (body.len() as u64 + 5, 2));
    // DeleteObjects of one of two names, the same.
    link(&mut c, &a, &root, "c2").await.expect("link c2");
    let del = s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("a")
                        .build()
                        .expect("id"),
                )
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    assert!(del.errors().is_empty());
    let (c2, c2attr) = lookup(&mut c, &root, "c2").await.expect("c2");
    assert_eq!(c2attr.nlink, 1);
    assert_eq!(read_all(&mut c, &c2).await, body);
    srv.store().gc(Some(Duration::ZERO)).await.expect("gc");
    assert_eq!(s3_get(&srv, bucket, "c2").await, body, "bytes outlive a GC");

    // CopyObject of a linked key: an independent object; the link stays.
    link(&mut c, &c2, &root, "d").await.expect("link d");
    s3.copy_object()
        .bucket(bucket)
        .key("e")
        .copy_source(format!("{bucket}/d"))
        .send()
        .await
        .expect("copy");
    let (_, eattr) = lookup(&mut c, &root, "e").await.expect("e");
    assert_eq!(eattr.nlink, 1);
    assert_ne!(eattr.fileid, c2attr.fileid);
    assert_eq!(getattr(&mut c, &c2).await.expect("c2").nlink, 2);
    assert_eq!(s3_get(&srv, bucket, "e").await, body);
    // Bytes: b's 5, the c2/d inode once, e's copy once more.
    assert_eq!(usage(&srv, bucket), (2 * body.len() as u64 + 5, 4));

    // Backup and restore keep the link: both names, one inode, two links.
    drop(c);
    let srv = backup_and_restore(srv).await;
    let mut c = mount(&srv, "s3ln").await.expect("mount restored");
    let root = c.root_nfs_fh3();
    let (_, c2r) = lookup(&mut c, &root, "c2").await.expect("c2 restored");
    let (d, dr) = lookup(&mut c, &root, "d").await.expect("d restored");
    assert_eq!((c2r.nlink, dr.nlink), (2, 2));
    assert_eq!(c2r.fileid, dr.fileid);
    assert_eq!(read_all(&mut c, &d).await, body);
}

#[tokio::test]
async fn nfs_mknod_makes_fifos_sockets_and_devices() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "dev").await;
    let perms = |mode: u32| sattr3 {
        mode: Nfs3Option::Some(mode),
        ..sattr3::default()
    };
    let dev = |mode: u32, major: u32, minor: u32| devicedata3 {
        dev_attributes: perms(mode),
        spec: specdata3 {
            specdata1: major,
            specdata2: minor,
        },
    };
    let made = [
        ("fifo", mknoddata3::NF3FIFO(perms(0o600))),
        ("sock", mknoddata3::NF3SOCK(perms(0o755))),
        ("null", mknoddata3::NF3CHR(dev(0o666, 1, 3))),
        ("sda1", mknoddata3::NF3BLK(dev(0o660, 8, 1))),
    ];
    let want = [
        ("fifo", ftype3::NF3FIFO, 0o600, (0, 0), 0o010_600),
        ("sock", ftype3::NF3SOCK, 0o755, (0, 0), 0o140_755),
        ("null", ftype3::NF3CHR, 0o666, (1, 3), 0o020_666),
        ("sda1", ftype3::NF3BLK, 0o660, (8, 1), 0o060_660),
    ];
    let mut handles = Vec::new();
    for ((name, what), (_, ty, mode, rdev, _)) in made.into_iter().zip(want) {
        let (h, a) = mknod(&mut c, &root, name, what).await.expect(name);
        assert_eq!(a.type_, ty, "{name}");
        assert_eq!(a.mode, mode, "{name}");
        assert_eq!((a.rdev.specdata1, a.rdev.specdata2), rdev, "{name}");
        assert_eq!(a.size, 0, "{name}");
        handles.push(h);
    }
    // An existing name; a special file holds no data.
    assert_eq!(
        mknod(&mut c, &root, "fifo", mknoddata3::NF3FIFO(perms(0o600)))
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_EXIST)
    );
    let r = c
        .read(&READ3args {
            file: handles[0].clone(),
            offset: 0,
            count: 10,
        })
        .await
        .expect("rpc");
    assert!(matches!(r, Nfs3Result::Err((nfsstat3::NFS3ERR_INVAL, _))));
    assert_eq!(
        write(&mut c, &handles[0], 0, b"x").await,
        Err(nfsstat3::NFS3ERR_INVAL)
    );

    // MKNOD of a regular file, a directory or a link: BADTYPE (by hand: the client library
    // cannot encode it).
    for ty in [1u32, 2, 5] {
        assert_eq!(
            raw_mknod(&srv, &root, "reg", ty).await,
            10007,
            "NFS3ERR_BADTYPE for type {ty}"
        );
    }
    assert_eq!(
        lookup(&mut c, &root, "reg").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );

    // The S3 view: empty objects carrying the mode (type bits too) and a device's rdev.
    let s3 = srv.client();
    for (name, _, _, rdev, meta_mode) in want {
        let h = s3
            .head_object()
            .bucket("fs+dev")
            .key(name)
            .send()
            .await
            .expect("head");
        assert_eq!(h.content_length(), Some(0));
        let meta = h.metadata().expect("metadata");
        assert_eq!(meta.get("mode"), Some(&meta_mode.to_string()), "{name}");
        let dev = meta.get("rdev").map(|v| v.parse::<u64>().expect("decimal"));
        let want_dev = (rdev != (0, 0)).then(|| gatehouse_store::ops::dev_value(rdev.0, rdev.1));
        assert_eq!(dev, want_dev, "{name}");
    }

    // They survive a restart: same handles, same attributes.
    drop(c);
    let dir = srv.stop().await;
    fsck_clean(dir.path());
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "dev").await.expect("mount again");
    for (h, (name, ty, mode, rdev, _)) in handles.iter().zip(want) {
        let a = getattr(&mut c, h).await.expect(name);
        assert_eq!((a.type_, a.mode), (ty, mode), "{name}");
        assert_eq!((a.rdev.specdata1, a.rdev.specdata2), rdev, "{name}");
    }
    // A special file can be hard-linked and removed like any other.
    link(&mut c, &handles[0], &root, "fifo2")
        .await
        .expect("link a fifo");
    assert_eq!(getattr(&mut c, &handles[0]).await.expect("fifo").nlink, 2);
    remove(&mut c, &root, "fifo").await.expect("rm");
    let (_, a) = lookup(&mut c, &root, "fifo2").await.expect("fifo2");
    assert_eq!((a.type_, a.nlink), (ftype3::NF3FIFO, 1));

    // And a backup: restored with their type, mode and device numbers.
    drop(c);
    let srv = backup_and_restore(srv).await;
    let mut c = mount(&srv, "dev").await.expect("mount restored");
    let root = c.root_nfs_fh3();
    for (name, ty, mode, rdev, _) in want.into_iter().skip(1) {
        let (_, a) = lookup(&mut c, &root, name).await.expect(name);
        assert_eq!((a.type_, a.mode), (ty, mode), "{name}");
        assert_eq!((a.rdev.specdata1, a.rdev.specdata2), rdev, "{name}");
    }
    assert_eq!(
        lookup(&mut c, &root, "fifo2").await.expect("fifo2").1.type_,
        ftype3::NF3FIFO
    );
}

/// MKNOD of type `ty` with no further arguments (what RFC 1813's `mknoddata3` carries for a
/// regular file, a directory or a link) as a raw RPC; returns the nfsstat3 of the reply.
async fn raw_mknod(srv: &TestServer, dir: &nfs_fh3, name: &str, ty: u32) -> u32 {
    let opaque = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
        out.resize(out.len().div_ceil(4) * 4, 0);
    };
    let mut body = Vec::new();
    // xid, CALL, RPC v2, NFS, v3, MKNOD, AUTH_NONE cred and verifier.
    for v in [77u32, 0, 2, 100_003, 3, 11, 0, 0, 0, 0] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    opaque(&mut body, &dir.data);
    opaque(&mut body, name.as_bytes());
    body.extend_from_slice(&ty.to_be_bytes());
    let mut rec = (0x8000_0000u32 | body.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&body);
    let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    s.write_all(&rec).await.expect("write");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.expect("reply mark");
    let mut reply = vec![0u8; (u32::from_be_bytes(head) & 0x7FFF_FFFF) as usize];
    s.read_exact(&mut reply).await.expect("reply");
    // xid, REPLY, MSG_ACCEPTED, verifier flavor and length, accept_stat, nfsstat3.
    let word = |i: usize| {
        u32::from_be_bytes([
            reply[4 * i],
            reply[4 * i + 1],
            reply[4 * i + 2],
            reply[4 * i + 3],
        ])
    };
    assert_eq!(word(5), 0, "accepted");
    word(6)
}

/// An S3 PUT that breaks a name out of a hard link frees nothing (the other name keeps the
/// bytes), so the share's quota must hold the new object besides: refused when it does not.
#[tokio::test]
async fn a_put_breaking_a_link_out_needs_room_for_both() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "q".into(),
                quota_bytes: 150 << 10,
                guest_read: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let (mut c, root) = admin_mount(&srv, "q").await;
    let body = bytes(100 << 10, 5);
    s3_put(&srv, "fs+q", "a", body.clone()).await;
    let (a, _) = lookup(&mut c, &root, "a").await.expect("a");
    link(&mut c, &a, &root, "b").await.expect("link");
    let put = srv
        .client()
        .put_object()
        .bucket("fs+q")
        .key("b")
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes(
            100 << 10,
            6,
        )))
        .send()
        .await;
    assert!(put.is_err(), "200 KiB would not fit a 150 KiB quota");
    assert_eq!(getattr(&mut c, &a).await.expect("a").nlink, 2);
    assert_eq!(usage(&srv, "fs+q"), (100 << 10, 2));
    // A PUT that fits is taken.
    s3_put(&srv, "fs+q", "b", b"small".to_vec()).await;
    assert_eq!(usage(&srv, "fs+q"), ((100 << 10) + 5, 2));
    assert_eq!(read_all(&mut c, &a).await, body);
}
