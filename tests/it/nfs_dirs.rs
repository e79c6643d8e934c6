//! Directories, paths, space and identity over NFSv3 (issue 18, `dirs`), with `nfs3_client`
//! and aws-sdk-s3: directory nlink = 2 + subdirectories however they come and go (S3 keys,
//! markers, MKDIR/RMDIR, RENAME, share purge, a database from before the counts); paths of
//! 4,000 bytes through both protocols and the limits around them; FSSTAT under a share quota,
//! under `s3.max_size` and on the disk alone, and a write of exactly the free space; handles
//! that keep working when `peer add`/`peer remove` changes who their address is.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use aws_sdk_s3::primitives::ByteStream;
use gatehouse::config::Size;
use gatehouse_store::ops::{NewShare, SubjectRef};
use gatehouse_store::rbac::Scope;
use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::tokio::TokioIo;
use nfs3_client::{Nfs3ConnectionBuilder, net::Connector};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::*;
use crate::nfs::{
    Conn, create, fh, getattr, lookup, mkdir, mount, read_all, readdirplus, remove, rename, rmdir,
    s3_delete, s3_put, share,
};

/// The admin as the peer at 127.0.0.1 (may write every share).
async fn admin_peer(srv: &TestServer) {
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
}

async fn nlink(c: &mut Conn, h: &nfs_fh3) -> u32 {
    getattr(c, h).await.expect("getattr").nlink
}

/// Stops the server and checks the data directory with fsck: every kept count (usage, chunk
/// references, subdirectories) agrees with a recount.
async fn stop_and_fsck(srv: TestServer) -> tempfile::TempDir {
    let dir = srv.stop().await;
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.subdir_mismatches, 0, "subdirectory counts: {r:?}");
    assert!(r.clean(), "{r:?}");
    dir
}

/// nlink of a directory is 2 + its subdirectories, whether they are implicit (keys below
/// them), markers, made by MKDIR, moved by RENAME or gone with their last key; fsck agrees
/// with the kept counts afterwards.
#[tokio::test]
async fn nfs_dir_nlink_is_two_plus_subdirectories() {
    let srv = TestServer::start().await;
    share(&srv, "tree", false).await;
    admin_peer(&srv).await;
    for k in ["a/b/c.txt", "a/d/", "a/f.txt", "e/", "top.txt"] {
        s3_put(&srv, "fs+tree", k, b"x".to_vec()).await;
    }
    let mut c = mount(&srv, "tree").await.expect("mount");
    let root = c.root_nfs_fh3();
    assert_eq!(nlink(&mut c, &root).await, 4, "root: a and e");
    let (a, a_attr) = lookup(&mut c, &root, "a").await.expect("a");
    assert_eq!(a_attr.nlink, 4, "a: b (implicit) and d (marker)");
    let (b, _) = lookup(&mut c, &a, "b").await.expect("b");
    assert_eq!(nlink(&mut c, &b).await, 2, "a leaf");
    let (e, _) = lookup(&mut c, &root, "e").await.expect("e");
    assert_eq!(nlink(&mut c, &e).await, 2);
    let (f, fa) = lookup(&mut c, &a, "f.txt").await.expect("f");
    assert_eq!(fa.nlink, 1, "a file is not counted");

    // MKDIR and RMDIR; a marker under an implicit directory adds nothing new.
    let x = mkdir(&mut c, &a, "x").await.expect("mkdir");
    assert_eq!(nlink(&mut c, &a).await, 5);
    mkdir(&mut c, &x, "y").await.expect("mkdir y");
    assert_eq!(nlink(&mut c, &x).await, 3);
    assert_eq!(nlink(&mut c, &a).await, 5);
    s3_put(&srv, "fs+tree", "a/b/", Vec::new()).await;
    assert_eq!(nlink(&mut c, &a).await, 5, "b existed already");
    rmdir(&mut c, &x, "y").await.expect("rmdir y");
    assert_eq!(nlink(&mut c, &x).await, 2);
    rmdir(&mut c, &a, "x").await.expect("rmdir x");
    assert_eq!(nlink(&mut c, &a).await, 4);

    // A directory moves: it leaves a, enters e, and keeps its own count.
    mkdir(&mut c, &b, "deep").await.expect("mkdir deep");
    rename(&mut c, (&a, "b"), (&e, "b2")).await.expect("rename");
    assert_eq!(nlink(&mut c, &a).await, 3);
    assert_eq!(nlink(&mut c, &e).await, 3);
    let (b2, b2a) = lookup(&mut c, &e, "b2").await.expect("b2");
    assert_eq!(b2a.nlink, 3, "b2 kept its subdirectory");
    // Onto an empty directory: that one is replaced, not added.
    mkdir(&mut c, &root, "empty").await.expect("mkdir empty");
    assert_eq!(nlink(&mut c, &root).await, 5);
    rename(&mut c, (&e, "b2"), (&root, "empty"))
        .await
        .expect("rename onto an empty directory");
    assert_eq!(nlink(&mut c, &root).await, 5);
    assert_eq!(nlink(&mut c, &e).await, 2);
    let (moved, _) = lookup(&mut c, &root, "empty").await.expect("moved");
    assert_eq!(nlink(&mut c, &moved).await, 3);
    let _ = b2;

    // S3 deletes: the last key of an implicit directory takes it away, and a chain of
    // implicit directories goes at once.
    s3_put(&srv, "fs+tree", "p/q/r/s.txt", b"s".to_vec()).await;
    assert_eq!(nlink(&mut c, &root).await, 6);
    s3_delete(&srv, "fs+tree", "p/q/r/s.txt").await;
    assert_eq!(nlink(&mut c, &root).await, 5);
    s3_delete(&srv, "fs+tree", "a/d/").await;
    assert_eq!(nlink(&mut c, &a).await, 2);
    remove(&mut c, &a, "f.txt").await.expect("remove");
    let _ = f;
    // `a` is gone with its last key (only its handle is left).
    assert_eq!(
        getattr(&mut c, &a).await.err(),
        Some(nfsstat3::NFS3ERR_STALE)
    );
    assert_eq!(
        nlink(&mut c, &root).await,
        4,
        "empty, e, and top-level files"
    );
    drop(c);
    stop_and_fsck(srv).await;
}

/// A database from before the counts (schema 6, no `dir_subdirs`) is counted by the migration:
/// the nlinks are right on the first look after the upgrade, for live and deleted shares.
#[tokio::test]
async fn nfs_dir_nlink_of_an_upgraded_store() {
    let srv = TestServer::start().await;
    share(&srv, "old", true).await;
    share(&srv, "gone", true).await;
    for k in ["a/b/c", "a/d/", "a/e/f/g", "h/", "i.txt"] {
        s3_put(&srv, "fs+old", k, b"x".to_vec()).await;
        s3_put(&srv, "fs+gone", k, b"x".to_vec()).await;
    }
    srv.store()
        .delete_share(&srv.admin(), "gone")
        .await
        .expect("delete");
    let dir = srv.stop().await;
    {
        // Back to schema 6: no counts at all.
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        assert!(
            t.delete_table(redb::TableDefinition::<&[u8], u64>::new("dir_subdirs"))
                .expect("delete table"),
            "the table existed"
        );
        t.commit().expect("commit");
        gatehouse_migrations::force_schema_version(&db, 6).expect("version");
    }
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "old").await.expect("mount");
    let root = c.root_nfs_fh3();
    assert_eq!(nlink(&mut c, &root).await, 4, "a and h");
    let (a, aa) = lookup(&mut c, &root, "a").await.expect("a");
    assert_eq!(aa.nlink, 5, "b, d and e");
    let (e, _) = lookup(&mut c, &a, "e").await.expect("e");
    assert_eq!(nlink(&mut c, &e).await, 3);
    drop(c);
    // The deleted share's counts were made too (fsck recounts both), so a restore needs none.
    let dir = stop_and_fsck(srv).await;
    let srv = TestServer::start_in(dir).await;
    // Purged: its rows go with it (fsck would see rows of no share).
    let late = srv
        .store()
        .sweep_shares(gatehouse_store::now_unix_ms() + 400 * 86_400_000)
        .await
        .expect("sweep");
    assert_eq!(late.purged, 1);
    stop_and_fsck(srv).await;
}

/// A path of `len` bytes: 200-byte segments under `top`, the last one cut to fit.
fn long_path(top: &str, len: usize) -> String {
    let mut p = top.to_string();
    let mut i = 0;
    while p.len() + 1 + 200 < len {
        p.push('/');
        p.push_str(&format!("{i:03}{}", "d".repeat(197)));
        i += 1;
    }
    let rest = len - p.len() - 1;
    p.push('/');
    p.push_str(&"f".repeat(rest));
    assert_eq!(p.len(), len);
    p
}

/// S3 serves keys of 4,000 bytes in a share (PUT, GET, HEAD, LIST, DELETE with aws-sdk-s3),
/// up to 4,096; a plain bucket keeps S3's 1,024.
#[tokio::test]
async fn s3_long_keys_in_shares_plain_buckets_keep_1024() {
    let srv = TestServer::start().await;
    share(&srv, "long", false).await;
    let s3 = srv.client();
    let key = long_path("top", 4000);
    s3.put_object()
        .bucket("fs+long")
        .key(&key)
        .body(ByteStream::from(b"deep data".to_vec()))
        .send()
        .await
        .expect("put a 4000-byte key");
    let got = s3
        .get_object()
        .bucket("fs+long")
        .key(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"deep data");
    s3.head_object()
        .bucket("fs+long")
        .key(&key)
        .send()
        .await
        .expect("head");
    let list = s3
        .list_objects_v2()
        .bucket("fs+long")
        .prefix("top/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key.as_str()]);
    // The alias bucket name and the longest path.
    let max = long_path("top", 4096);
    s3.put_object()
        .bucket("fs--long")
        .key(&max)
        .body(ByteStream::from(b"m".to_vec()))
        .send()
        .await
        .expect("put a 4096-byte key");
    let too_long = long_path("top", 4097);
    let e = s3
        .put_object()
        .bucket("fs+long")
        .key(&too_long)
        .body(ByteStream::from(b"m".to_vec()))
        .send()
        .await
        .expect_err("4097 bytes");
    assert_eq!(code(&e), "KeyTooLongError");
    s3.delete_object()
        .bucket("fs+long")
        .key(&key)
        .send()
        .await
        .expect("delete");
    let e = s3
        .get_object()
        .bucket("fs+long")
        .key(&key)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&e), "NoSuchKey");

    s3.create_bucket()
        .bucket("plain")
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket("plain")
        .key("k".repeat(1024))
        .body(ByteStream::from(b"p".to_vec()))
        .send()
        .await
        .expect("1024 bytes");
    for len in [1025, 4000] {
        let e = s3
            .put_object()
            .bucket("plain")
            .key("k".repeat(len))
            .body(ByteStream::from(b"p".to_vec()))
            .send()
            .await
            .expect_err("past 1024");
        assert_eq!(code(&e), "KeyTooLongError", "{len}");
    }
}

/// Over NFS: MKDIR down to a depth where the path has 4,000 bytes, CREATE, WRITE, LOOKUP from
/// the root and READDIR there work (S3 sees the key); a path of 4,097 bytes is
/// NFS3ERR_NAMETOOLONG for CREATE, MKDIR and LOOKUP, and so is a 256-byte name.
#[tokio::test]
async fn nfs_paths_of_4000_bytes() {
    let srv = TestServer::start().await;
    share(&srv, "deep", false).await;
    admin_peer(&srv).await;
    let mut c = mount(&srv, "deep").await.expect("mount");
    let root = c.root_nfs_fh3();
    let path = long_path("top", 4000);
    let segs: Vec<&str> = path.split('/').collect();
    let (dirs, file) = segs.split_at(segs.len() - 1);
    let mut dir = root.clone();
    for d in dirs {
        dir = mkdir(&mut c, &dir, d).await.expect("mkdir");
    }
    let f = create(
        &mut c,
        &dir,
        file[0],
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create at 4000 bytes");
    crate::nfs::write(&mut c, &f, 0, b"far down")
        .await
        .expect("write");
    assert_eq!(
        body_bytes(
            srv.client()
                .get_object()
                .bucket("fs+deep")
                .key(&path)
                .send()
                .await
                .expect("S3 sees it")
        )
        .await,
        b"far down"
    );
    // LOOKUP all the way from the root, and READDIR at the bottom.
    let mut h = root.clone();
    for s in &segs {
        h = lookup(&mut c, &h, s).await.expect("lookup").0;
    }
    assert_eq!(read_all(&mut c, &h).await, b"far down");
    let (names, _) = readdirplus(&mut c, &dir, 64 << 10).await;
    let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [".", "..", file[0]]);

    // One byte more than 4,096 in all, in a directory whose path leaves less than a name.
    let deeper = mkdir(&mut c, &dir, &"z".repeat(200)).await.expect("mkdir");
    let dir = deeper;
    let room = 4096 - (path.len() - file[0].len() + 201);
    assert!(room < 255);
    let at_limit = "g".repeat(room);
    create(
        &mut c,
        &dir,
        &at_limit,
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("a path of exactly 4096 bytes");
    let over = "g".repeat(room + 1);
    assert_eq!(
        create(
            &mut c,
            &dir,
            &over,
            createhow3::UNCHECKED(sattr3::default())
        )
        .await
        .err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    assert_eq!(
        mkdir(&mut c, &dir, &over).await.err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    assert_eq!(
        lookup(&mut c, &dir, &over).await.err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    assert_eq!(
        create(
            &mut c,
            &root,
            &"n".repeat(256),
            createhow3::UNCHECKED(sattr3::default())
        )
        .await
        .err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    create(
        &mut c,
        &root,
        &"n".repeat(255),
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("a 255-byte name");
}

async fn fsstat(c: &mut Conn, h: &nfs_fh3) -> FSSTAT3resok {
    match c
        .fsstat(&FSSTAT3args { fsroot: h.clone() })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => ok,
        Nfs3Result::Err((s, _)) => panic!("fsstat: {s}"),
    }
}

/// UNSTABLE writes of `data` at `offset` in 64 KiB pieces, then COMMIT: what `cp` does.
async fn write_unstable(c: &mut Conn, f: &nfs_fh3, data: &[u8]) -> Result<(), nfsstat3> {
    for (i, piece) in data.chunks(64 << 10).enumerate() {
        let at = (i * (64 << 10)) as u64;
        crate::nfs::write_as(c, f, at, piece, stable_how::UNSTABLE).await?;
    }
    crate::nfs::commit(c, f).await.map(drop)
}

/// Checks that FSSTAT is consistent for `df` (Size = Used + Avail) with `used` bytes held.
fn consistent(s: &FSSTAT3resok, used: u64) {
    assert_eq!(s.fbytes, s.abytes);
    assert_eq!(s.tbytes - s.fbytes, used, "df's Used");
    assert_eq!(s.ffiles, s.afiles);
    assert!(s.tfiles >= s.ffiles);
}

/// Under a share quota FSSTAT shows the quota: a file of exactly the free bytes, written as a
/// client writes (UNSTABLE + COMMIT), fits; then nothing is free and one byte more is DQUOT.
#[tokio::test]
async fn nfs_fsstat_under_a_share_quota_and_a_write_of_all_of_it() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "q".into(),
                quota_bytes: 3 << 20,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    admin_peer(&srv).await;
    s3_put(&srv, "fs+q", "held.bin", bytes(300_001, 1)).await;
    let mut c = mount(&srv, "q").await.expect("mount");
    let root = c.root_nfs_fh3();
    let s = fsstat(&mut c, &root).await;
    assert_eq!(s.tbytes, 3 << 20, "df's Size is the quota");
    assert_eq!(s.fbytes, (3 << 20) - 300_001);
    consistent(&s, 300_001);
    // df -i: one file used.
    assert_eq!(s.tfiles - s.ffiles, 1);

    let f = create(
        &mut c,
        &root,
        "all",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let all = bytes(s.abytes as usize, 2);
    write_unstable(&mut c, &f, &all)
        .await
        .expect("a write of exactly the free space succeeds");
    assert!(read_all(&mut c, &f).await == all);
    let s = fsstat(&mut c, &root).await;
    assert_eq!((s.tbytes, s.fbytes, s.abytes), (3 << 20, 0, 0));
    let g = create(
        &mut c,
        &root,
        "one",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("an empty file needs no room");
    assert_eq!(
        write_unstable(&mut c, &g, b"x").await.err(),
        Some(nfsstat3::NFS3ERR_DQUOT)
    );
}

/// Under `s3.max_size` (smaller than the share's quota) FSSTAT shows what the server has left,
/// counting what other buckets hold; a write of all of it fits.
#[tokio::test]
async fn nfs_fsstat_under_the_server_limit() {
    let srv = TestServer::start_with(|raw| raw.s3.max_size = Some(Size(4 << 20))).await;
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "s".into(),
                quota_bytes: 100 << 20,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    admin_peer(&srv).await;
    srv.client()
        .create_bucket()
        .bucket("other")
        .send()
        .await
        .expect("bucket");
    s3_put(&srv, "other", "o.bin", bytes(1 << 20, 3)).await;
    s3_put(&srv, "fs+s", "mine.bin", bytes(12_345, 4)).await;
    let mut c = mount(&srv, "s").await.expect("mount");
    let root = c.root_nfs_fh3();
    let s = fsstat(&mut c, &root).await;
    assert_eq!(s.fbytes, (4 << 20) - (1 << 20) - 12_345);
    consistent(&s, 12_345);
    let f = create(
        &mut c,
        &root,
        "rest",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    write_unstable(&mut c, &f, &bytes(s.abytes as usize, 5))
        .await
        .expect("the server's last bytes");
    let s = fsstat(&mut c, &root).await;
    assert_eq!(s.abytes, 0);
    consistent(&s, 12_345 + ((4 << 20) - (1 << 20) - 12_345));
    let g = create(
        &mut c,
        &root,
        "more",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    assert_eq!(
        write_unstable(&mut c, &g, b"x").await.err(),
        Some(nfsstat3::NFS3ERR_DQUOT)
    );
}

/// With no quota and no server limit, FSSTAT is the data directory's disk: free bytes (less
/// the reserve a write needs besides its data) and files as statvfs says (no fixed 1 TiB).
#[tokio::test]
async fn nfs_fsstat_unlimited_is_the_disk() {
    let srv = TestServer::start_with(|raw| raw.s3.max_size = Some(Size(0))).await;
    share(&srv, "u", true).await;
    s3_put(&srv, "fs+u", "x", bytes(1000, 6)).await;
    let mut c = mount(&srv, "u").await.expect("mount");
    let root = c.root_nfs_fh3();
    let s = fsstat(&mut c, &root).await;
    let v = rustix::fs::statvfs(srv.data_dir()).expect("statvfs");
    let free = gatehouse_store::ops::DiskSpace {
        free_bytes: v.f_bavail * v.f_frsize,
        total_bytes: v.f_blocks * v.f_frsize,
        free_files: v.f_favail,
        total_files: v.f_files,
    }
    .writable_bytes();
    // Other processes write to the same disk meanwhile: within 64 MiB.
    assert!(
        s.fbytes.abs_diff(free) < 64 << 20,
        "FSSTAT free {} vs statvfs {free}",
        s.fbytes
    );
    assert_ne!(s.tbytes, 1 << 40);
    consistent(&s, 1000);
    if v.f_files > 0 {
        assert!(
            s.ffiles.abs_diff(v.f_favail) < 100_000,
            "{} vs {}",
            s.ffiles,
            v.f_favail
        );
        assert_eq!(s.tfiles - s.ffiles, 1, "df -i: one file");
    }
}

/// A connector whose connections come from `local` (an address of the loopback net other than
/// 127.0.0.1): another client machine, as far as the server can tell.
struct BindFrom(Ipv4Addr);

impl Connector for BindFrom {
    type Connection = TokioIo<TcpStream>;

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<Self::Connection> {
        let s = TcpSocket::new_v4()?;
        s.bind(SocketAddr::new(IpAddr::V4(self.0), 0))?;
        Ok(TokioIo::new(s.connect(addr).await?))
    }

    async fn connect_with_port(
        &self,
        addr: SocketAddr,
        _local_port: u16,
    ) -> std::io::Result<Self::Connection> {
        self.connect(addr).await
    }
}

/// Handles follow the address, not whom it stands for: after `peer remove` the same handles
/// answer as the guest (ACCES where the guest may not read, not BADHANDLE), after `peer add`
/// as the new user; a handle from another address, or altered, is refused; a version-1 handle
/// (bound to the principal, before the upgrade) still works for that principal.
#[tokio::test]
async fn nfs_handles_survive_peer_changes() {
    let srv = TestServer::start().await;
    share(&srv, "priv", false).await;
    s3_put(&srv, "fs+priv", "d/f.txt", b"secret".to_vec()).await;
    let alice = srv.new_user("alice").await;
    let bob = srv.new_user("bob").await;
    for u in [&alice, &bob] {
        srv.store()
            .bind(
                &srv.admin(),
                SubjectRef::User(u.user_id.clone()),
                "bucket-read",
                Scope::Bucket("fs+priv".into()),
            )
            .await
            .expect("bind");
    }
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &alice.user_id, "")
        .await
        .expect("peer");
    let mut c = mount(&srv, "priv").await.expect("alice mounts");
    let root = c.root_nfs_fh3();
    let (d, _) = lookup(&mut c, &root, "d").await.expect("d");
    let (f, _) = lookup(&mut c, &d, "f.txt").await.expect("f");

    // Removed: the guest has no binding on `priv`.
    srv.store()
        .remove_peer(&srv.admin(), "127.0.0.1")
        .await
        .expect("remove peer");
    assert_eq!(
        getattr(&mut c, &f).await.err(),
        Some(nfsstat3::NFS3ERR_ACCES)
    );
    assert_eq!(
        lookup(&mut c, &d, "f.txt").await.err(),
        Some(nfsstat3::NFS3ERR_ACCES)
    );
    // Added back as bob: the same handles, now as bob.
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &bob.user_id, "")
        .await
        .expect("peer bob");
    assert_eq!(getattr(&mut c, &f).await.expect("getattr as bob").size, 6);
    assert_eq!(read_all(&mut c, &f).await, b"secret");
    assert!(lookup(&mut c, &d, "f.txt").await.is_ok());

    // Another client (127.0.0.2, the guest there) mounts a guest-readable share; its handles
    // are not 127.0.0.1's, and 127.0.0.1's are not its.
    share(&srv, "pub", true).await;
    s3_put(&srv, "fs+pub", "p.txt", b"open".to_vec()).await;
    let mut other =
        Nfs3ConnectionBuilder::new(BindFrom(Ipv4Addr::new(127, 0, 0, 2)), "127.0.0.1", "/pub")
            .portmapper_port(srv.nfs_addr.port())
            .connect_from_privileged_port(false)
            .mount()
            .await
            .expect("127.0.0.2 mounts");
    let oroot = other.root_nfs_fh3();
    let (p, _) = lookup(&mut other, &oroot, "p.txt").await.expect("p");
    assert_eq!(read_all(&mut other, &p).await, b"open");
    assert_eq!(
        getattr(&mut c, &p).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE),
        "a handle from another address"
    );
    assert_eq!(
        getattr(&mut other, &f).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE)
    );
    let mut bad = f.data.to_vec();
    bad[30] ^= 1;
    assert_eq!(
        getattr(&mut c, &fh(&bad)).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE),
        "altered"
    );

    // A version-1 handle, as the server minted them before: bound to bob, not the address.
    use gatehouse_nfs::handle::{Bearer, Handle, Signer, principal_tag};
    let signer = Signer::new(srv.store().derive_key("nfs-handle"));
    let bucket_id = u64::from_be_bytes(f.data[1..9].try_into().expect("8 bytes"));
    let ino = u64::from_be_bytes(f.data[9..17].try_into().expect("8 bytes"));
    let old = |user: &str| {
        fh(&signer.mint(
            Handle {
                bucket_id,
                ino,
                generation: 0,
            },
            &Bearer::Principal(principal_tag(user)),
        ))
    };
    assert_eq!(
        getattr(&mut c, &old(&bob.user_id))
            .await
            .expect("v1 of bob")
            .size,
        6
    );
    assert_eq!(
        getattr(&mut c, &old(&alice.user_id)).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE),
        "a v1 handle of someone the address is not"
    );
}

/// On a disk that binds (a 64 MiB tmpfs, no quota, no server limit), FSSTAT's free bytes are
/// what a write can really take: a file of exactly that size, written as a client writes,
/// fits, although the database grows on the same disk.
#[tokio::test]
async fn nfs_fsstat_on_a_full_disk_promises_what_fits() {
    let Some(mnt) = Tmpfs::mount("64m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root)");
        return;
    };
    let dir = tempfile::tempdir_in(mnt.path()).expect("tmp");
    let srv = TestServer::start_in_with(dir, |raw| raw.s3.max_size = Some(Size(0))).await;
    share(&srv, "disk", false).await;
    admin_peer(&srv).await;
    let mut c = mount(&srv, "disk").await.expect("mount");
    let root = c.root_nfs_fh3();
    let s = fsstat(&mut c, &root).await;
    let v = rustix::fs::statvfs(mnt.path()).expect("statvfs");
    let reserve = (v.f_bavail * v.f_frsize) - s.abytes;
    assert_eq!(reserve, 16 << 20, "the smallest reserve");
    let f = create(
        &mut c,
        &root,
        "fill",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let all = bytes(s.abytes as usize, 9);
    write_unstable(&mut c, &f, &all)
        .await
        .expect("a write of exactly the free space fits the disk");
    assert_eq!(getattr(&mut c, &f).await.expect("getattr").size, s.abytes);
    assert!(read_all(&mut c, &f).await == all);
    let after = fsstat(&mut c, &root).await;
    assert_eq!(after.abytes, 0, "the disk is as full as FSSTAT may say");
    consistent(&after, s.abytes);
}

/// fsck recounts subdirectories: a wrong, a missing and a stray count are reported, repaired,
/// and the nlinks are right again.
#[tokio::test]
async fn fsck_repairs_subdirectory_counts() {
    let srv = TestServer::start().await;
    share(&srv, "fix", true).await;
    for k in ["a/b/c", "a/d/", "e/f"] {
        s3_put(&srv, "fs+fix", k, b"x".to_vec()).await;
    }
    let dir = stop_and_fsck(srv).await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        {
            use redb::ReadableTable;
            let mut rows = t
                .open_table(redb::TableDefinition::<&[u8], u64>::new("dir_subdirs"))
                .expect("table");
            let keys: Vec<Vec<u8>> = rows
                .iter()
                .expect("iter")
                .map(|e| e.expect("row").0.value().to_vec())
                .collect();
            // Rows: "" (a, e) and "a/" (b, d).
            assert_eq!(keys.len(), 2, "{keys:?}");
            rows.insert(keys[0].as_slice(), 7).expect("wrong");
            rows.remove(keys[1].as_slice()).expect("missing");
            let mut stray = keys[0].clone();
            stray.extend_from_slice(b"nowhere/");
            rows.insert(stray.as_slice(), 1).expect("stray");
        }
        t.commit().expect("commit");
    }
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.subdir_mismatches, 3);
    assert!(!r.clean());
    let r = gatehouse_store::fsck::fsck(dir.path(), true).expect("repair");
    assert!(r.repaired);
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "fix").await.expect("mount");
    let root = c.root_nfs_fh3();
    assert_eq!(nlink(&mut c, &root).await, 4);
    let (a, _) = lookup(&mut c, &root, "a").await.expect("a");
    assert_eq!(nlink(&mut c, &a).await, 4);
}
