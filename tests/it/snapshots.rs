//! Share snapshots (decision 0040) through aws-sdk-s3 and `nfs3_client`: a point-in-time copy
//! costing metadata only (no chunk file written), read over S3 as `fs+<share>@<name>` (and its
//! alias `fs--<share>.<name>`) and over NFS under the hidden `/.snapshots/<name>/`, read-only
//! on both; restoring a file or the whole share in one call; snapshots parked and restored with
//! their share, deleted alone, counted against the share's quota; fsck clean throughout.

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{
    Conn, admin_mount, create, dirop, lookup, mkdir, read_all, readdirplus, remove, rename, rmdir,
    share, write,
};

async fn s3_get(srv: &TestServer, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    match srv
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(o) => Ok(body_bytes(o).await),
        Err(e) => Err(code(&e)),
    }
}

async fn s3_keys(srv: &TestServer, bucket: &str) -> Vec<String> {
    srv.client()
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_over_s3_and_nfs() {
    let srv = TestServer::start().await;
    share(&srv, "proj", false).await;
    let store = srv.store();
    let (mut c, root) = admin_mount(&srv, "proj").await;
    let a = create(
        &mut c,
        &root,
        "a.txt",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut c, &a, 0, b"monday's a").await.expect("write");
    let dir = mkdir(&mut c, &root, "dir").await.expect("mkdir");
    let b = create(
        &mut c,
        &dir,
        "b.txt",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut c, &b, 0, b"bee").await.expect("write");
    let big = bytes(3 << 20, 7);
    srv.client()
        .put_object()
        .bucket("fs+proj")
        .key("big.bin")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .expect("put big");
    let chunks_before = srv.chunk_files();

    let snap = store
        .create_snapshot(&srv.admin(), "proj", Some("monday"))
        .await
        .expect("snapshot");
    // Three files and the directory's marker.
    assert_eq!((snap.objects, snap.bytes), (4, 10 + 3 + (3 << 20)));
    assert_eq!(snap.bucket, "fs+proj@monday");
    assert_eq!(snap.alias, "fs--proj.monday");
    assert_eq!(srv.chunk_files(), chunks_before, "no chunk written");
    let e = store
        .create_snapshot(&srv.admin(), "proj", Some("monday"))
        .await
        .expect_err("taken");
    assert!(e.to_string().contains("already"), "{e}");

    // The share changes; the snapshot does not.
    write(&mut c, &a, 0, b"TUESDAY!!!").await.expect("write");
    remove(&mut c, &dir, "b.txt").await.expect("remove");
    assert_eq!(
        s3_get(&srv, "fs+proj@monday", "a.txt").await,
        Ok(b"monday's a".to_vec())
    );
    assert_eq!(
        s3_get(&srv, "fs--proj.monday", "dir/b.txt").await,
        Ok(b"bee".to_vec())
    );
    assert_eq!(
        s3_get(&srv, "fs+proj@monday", "big.bin").await,
        Ok(big.clone())
    );
    let mut keys = s3_keys(&srv, "fs--proj.monday").await;
    keys.sort();
    assert_eq!(keys, ["a.txt", "big.bin", "dir/", "dir/b.txt"]);
    // Read-only over S3.
    let e = srv
        .client()
        .put_object()
        .bucket("fs--proj.monday")
        .key("new")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("read-only");
    assert_eq!(code(&e), "AccessDenied");
    let e = srv
        .client()
        .delete_object()
        .bucket("fs+proj@monday")
        .key("a.txt")
        .send()
        .await
        .expect_err("read-only");
    assert_eq!(code(&e), "AccessDenied");
    // Not listed among the buckets.
    let listed = srv.client().list_buckets().send().await.expect("ls");
    assert!(
        listed
            .buckets()
            .iter()
            .all(|b| !b.name().unwrap_or("").contains("monday"))
    );

    // Over NFS: hidden in the root, found by name, read-only inside.
    let (names, _) = readdirplus(&mut c, &root, 64 * 1024).await;
    assert!(names.iter().all(|(n, _)| n != ".snapshots"), "{names:?}");
    let (snaps, _) = lookup(&mut c, &root, ".snapshots")
        .await
        .expect(".snapshots");
    let (inside, _) = readdirplus(&mut c, &snaps, 64 * 1024).await;
    let inside: Vec<&str> = inside.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(inside, [".", "..", "monday"]);
    let (monday, attr) = lookup(&mut c, &snaps, "monday").await.expect("monday");
    assert_eq!(attr.type_, ftype3::NF3DIR);
    let (sa, _) = lookup(&mut c, &monday, "a.txt").await.expect("a.txt");
    assert_eq!(read_all(&mut c, &sa).await, b"monday's a");
    let (sdir, _) = lookup(&mut c, &monday, "dir").await.expect("dir");
    let (sb, _) = lookup(&mut c, &sdir, "b.txt").await.expect("b.txt");
    assert_eq!(read_all(&mut c, &sb).await, b"bee");
    assert_eq!(
        write(&mut c, &sa, 0, b"no").await,
        Err(nfsstat3::NFS3ERR_ROFS)
    );
    assert_eq!(
        remove(&mut c, &monday, "a.txt").await,
        Err(nfsstat3::NFS3ERR_ROFS)
    );
    assert!(
        create(&mut c, &snaps, "x", createhow3::GUARDED(sattr3::default()))
            .await
            .is_err()
    );

    // Restore one file, then the whole share.
    let r = store
        .restore_snapshot(&srv.admin(), "proj", "monday", "dir/b.txt")
        .await
        .expect("restore file");
    assert_eq!((r.restored, r.removed), (1, 0));
    assert_eq!(
        s3_get(&srv, "fs+proj", "dir/b.txt").await,
        Ok(b"bee".to_vec())
    );
    srv.client()
        .put_object()
        .bucket("fs+proj")
        .key("later.txt")
        .body(ByteStream::from_static(b"after the snapshot"))
        .send()
        .await
        .expect("put");
    let r = store
        .restore_snapshot(&srv.admin(), "proj", "monday", "")
        .await
        .expect("restore share");
    assert_eq!((r.restored, r.removed), (4, 1));
    assert_eq!(
        s3_get(&srv, "fs+proj", "a.txt").await,
        Ok(b"monday's a".to_vec())
    );
    assert_eq!(
        s3_get(&srv, "fs+proj", "later.txt").await,
        Err("NoSuchKey".into())
    );

    // Quota: the snapshot's bytes are held against the share.
    let b = store.head_bucket(&srv.admin(), "fs+proj").expect("head");
    let live = b.usage_bytes;
    let rtxn_snap = store.list_snapshots(&srv.admin(), "proj").expect("list");
    assert_eq!(rtxn_snap.len(), 1);
    assert_eq!(rtxn_snap[0].bytes, 10 + 3 + (3 << 20));
    assert!(live >= 10 + 3 + (3 << 20));

    // Parked and restored with the share.
    store
        .delete_share(&srv.admin(), "proj")
        .await
        .expect("delete share");
    assert_eq!(
        s3_get(&srv, "fs+proj@monday", "a.txt").await,
        Err("NoSuchBucket".into())
    );
    store
        .restore_share(&srv.admin(), "proj")
        .await
        .expect("restore share");
    assert_eq!(
        s3_get(&srv, "fs+proj@monday", "a.txt").await,
        Ok(b"monday's a".to_vec())
    );

    // Deleted alone.
    store
        .delete_snapshot(&srv.admin(), "proj", "monday")
        .await
        .expect("delete snapshot");
    assert_eq!(
        s3_get(&srv, "fs+proj@monday", "a.txt").await,
        Err("NoSuchBucket".into())
    );
    assert!(
        store
            .list_snapshots(&srv.admin(), "proj")
            .expect("list")
            .is_empty()
    );
    drop(c);
    let dir = srv.stop().await;
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// Found in review: creating buckets (s3-user) is not the right to snapshot someone's share,
/// and a share deleted with its snapshot leaves a store fsck finds clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_rights_and_a_parked_snapshot_under_fsck() {
    use gatehouse_store::ops::SubjectRef;
    use gatehouse_store::rbac::Scope;
    let srv = TestServer::start().await;
    share(&srv, "kept", false).await;
    let store = srv.store();
    let u = srv.new_user("alice").await;
    store
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "s3-user",
            Scope::Global,
        )
        .await
        .expect("bind");
    let alice = store
        .lookup_credential(&u.access_key)
        .expect("lookup")
        .expect("alice")
        .1;
    let e = store
        .create_snapshot(&alice, "kept", Some("mine"))
        .await
        .expect_err("not hers");
    assert_eq!(e.code(), "rbac.denied", "{e}");
    crate::nfs::s3_put(&srv, "fs+kept", "f.txt", b"kept bytes".to_vec()).await;
    store
        .create_snapshot(&srv.admin(), "kept", Some("s1"))
        .await
        .expect("snapshot");
    store
        .delete_share(&srv.admin(), "kept")
        .await
        .expect("delete share");
    let dir = srv.stop().await;
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// A share's snapshot retention (the CLI, as a user sets it): the sweeper deletes snapshots
/// older than it, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_retention_deletes_old_snapshots() {
    use crate::admin_api::{cli, ok};
    const DAY: i64 = 86_400_000;
    let srv = TestServer::start().await;
    share(&srv, "aged", false).await;
    let store = srv.store();
    crate::nfs::s3_put(&srv, "fs+aged", "f.txt", b"old".to_vec()).await;
    store
        .create_snapshot(&srv.admin(), "aged", Some("first"))
        .await
        .expect("snapshot");
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            creds.to_str().expect("utf-8"),
            "share",
            "snapshot",
            "retention",
            "aged",
            "7",
        ],
    )
    .await);
    assert!(out.contains("kept 7 days"), "{out}");
    let now = gatehouse_store::now_unix_ms();
    let s = store.sweep_shares(now + 6 * DAY).await.expect("sweep");
    assert_eq!(s.snapshots_expired, 0);
    assert_eq!(
        store
            .list_snapshots(&srv.admin(), "aged")
            .expect("list")
            .len(),
        1
    );
    let s = store.sweep_shares(now + 8 * DAY).await.expect("sweep");
    assert_eq!(s.snapshots_expired, 1);
    assert!(
        store
            .list_snapshots(&srv.admin(), "aged")
            .expect("list")
            .is_empty()
    );
    let b = store.head_bucket(&srv.admin(), "fs+aged").expect("head");
    assert_eq!(b.usage_bytes, 3, "the share keeps its own bytes");
    let e = store
        .set_snapshot_retention(&srv.admin(), "aged", Some(0))
        .await
        .expect_err("zero days");
    assert_eq!(e.code(), "store.invalid_argument");
}

/// The status of an NFS reply (its bodies left aside).
fn st<T, E>(r: Nfs3Result<T, E>) -> Result<(), nfsstat3> {
    match r {
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// Every procedure that would make an entry `name` in `dir`: CREATE, MKDIR, SYMLINK, MKNOD
/// (a FIFO), LINK (of `file`) and RENAME (of `from` in `from_dir`), each one's status.
async fn make_entry(
    c: &mut Conn,
    dir: &nfs_fh3,
    name: &str,
    file: &nfs_fh3,
    (from_dir, from): (&nfs_fh3, &str),
) -> Vec<(&'static str, Result<(), nfsstat3>)> {
    let create = c
        .create(&CREATE3args {
            where_: dirop(dir, name),
            how: createhow3::UNCHECKED(sattr3::default()),
        })
        .await
        .expect("rpc");
    let mkdir = c
        .mkdir(&MKDIR3args {
            where_: dirop(dir, name),
            attributes: sattr3::default(),
        })
        .await
        .expect("rpc");
    let symlink = c
        .symlink(&SYMLINK3args {
            where_: dirop(dir, name),
            symlink: symlinkdata3 {
                symlink_attributes: sattr3::default(),
                symlink_data: nfspath3(b"target".as_slice().into()),
            },
        })
        .await
        .expect("rpc");
    let mknod = c
        .mknod(&MKNOD3args {
            where_: dirop(dir, name),
            what: mknoddata3::NF3FIFO(sattr3::default()),
        })
        .await
        .expect("rpc");
    let link = c
        .link(&LINK3args {
            file: file.clone(),
            link: dirop(dir, name),
        })
        .await
        .expect("rpc");
    let renamed = rename(c, (from_dir, from), (dir, name)).await;
    vec![
        ("CREATE", st(create)),
        ("MKDIR", st(mkdir)),
        ("SYMLINK", st(symlink)),
        ("MKNOD", st(mknod)),
        ("LINK", st(link)),
        ("RENAME", renamed),
    ]
}

/// What ACCESS grants on `h` when everything is asked for.
async fn access(c: &mut Conn, h: &nfs_fh3) -> u32 {
    match c
        .access(&ACCESS3args {
            object: h.clone(),
            access: 0x3f,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => ok.access,
        Nfs3Result::Err((s, _)) => panic!("access: {s}"),
    }
}

/// `.snapshots` and every snapshot are a read-only file system (RFC 1813 §2.6): each change
/// there is `NFS3ERR_ROFS` (not STALE, not ACCES), ACCESS grants no MODIFY, EXTEND or DELETE,
/// and the name `.snapshots` cannot be taken by an entry of the share's root, where LOOKUP
/// would never reach it (`NFS3ERR_EXIST`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_a_read_only_file_system_over_nfs() {
    let srv = TestServer::start().await;
    share(&srv, "ro", false).await;
    let (mut c, root) = admin_mount(&srv, "ro").await;
    let a = create(
        &mut c,
        &root,
        "a.txt",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut c, &a, 0, b"aaa").await.expect("write");
    let d = mkdir(&mut c, &root, "d").await.expect("mkdir");
    srv.store()
        .create_snapshot(&srv.admin(), "ro", Some("monday"))
        .await
        .expect("snapshot");
    let (snaps, _) = lookup(&mut c, &root, ".snapshots").await.expect("found");
    let (monday, _) = lookup(&mut c, &snaps, "monday").await.expect("monday");
    let (sa, _) = lookup(&mut c, &monday, "a.txt").await.expect("a.txt");
    let (sd, _) = lookup(&mut c, &monday, "d").await.expect("d");
    let rofs = Err(nfsstat3::NFS3ERR_ROFS);

    // Nothing is made in `.snapshots`, nor in a snapshot.
    for dir in [&snaps, &monday, &sd] {
        for (proc_, got) in make_entry(&mut c, dir, "new", &a, (&root, "a.txt")).await {
            assert_eq!(got, rofs, "{proc_}");
        }
    }
    // Nothing there is removed, renamed, changed or written.
    assert_eq!(remove(&mut c, &snaps, "monday").await, rofs);
    assert_eq!(rmdir(&mut c, &snaps, "monday").await, rofs);
    assert_eq!(remove(&mut c, &monday, "a.txt").await, rofs);
    assert_eq!(
        rename(&mut c, (&snaps, "monday"), (&snaps, "tuesday")).await,
        rofs
    );
    assert_eq!(
        rename(&mut c, (&monday, "a.txt"), (&monday, "b.txt")).await,
        rofs
    );
    assert_eq!(
        rename(&mut c, (&monday, "a.txt"), (&root, "b.txt")).await,
        rofs
    );
    for h in [&snaps, &monday, &sa] {
        let set = c
            .setattr(&SETATTR3args {
                object: h.clone(),
                new_attributes: sattr3 {
                    mode: Nfs3Option::Some(0o600),
                    ..sattr3::default()
                },
                guard: Nfs3Option::None,
            })
            .await
            .expect("rpc");
        assert_eq!(st(set), rofs);
    }
    for stable in [stable_how::UNSTABLE, stable_how::FILE_SYNC] {
        assert_eq!(
            crate::nfs::write_as(&mut c, &sa, 0, b"no", stable)
                .await
                .map(drop),
            rofs
        );
    }
    assert_eq!(read_all(&mut c, &sa).await, b"aaa");

    // ACCESS: reading, never changing.
    let change = ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
    for (what, h) in [(".snapshots", &snaps), ("monday", &monday), ("d", &sd)] {
        let granted = access(&mut c, h).await;
        assert_eq!(granted & change, 0, "{what}: {granted:#x}");
        assert_ne!(granted & ACCESS3_LOOKUP, 0, "{what}: {granted:#x}");
    }
    let granted = access(&mut c, &sa).await;
    assert_eq!(granted & change, 0, "a file in a snapshot: {granted:#x}");
    assert_ne!(granted & ACCESS3_READ, 0);
    assert_ne!(
        access(&mut c, &root).await & ACCESS3_MODIFY,
        0,
        "the share is writable"
    );

    // `.snapshots` in the root is taken; elsewhere it is an ordinary name.
    for (proc_, got) in make_entry(&mut c, &root, ".snapshots", &a, (&root, "a.txt")).await {
        assert_eq!(got, Err(nfsstat3::NFS3ERR_EXIST), "{proc_}");
    }
    assert_eq!(
        rename(&mut c, (&root, ".snapshots"), (&root, "elsewhere")).await,
        Err(nfsstat3::NFS3ERR_ACCES),
        "the snapshots directory does not move"
    );
    assert_eq!(
        remove(&mut c, &root, ".snapshots").await,
        Err(nfsstat3::NFS3ERR_ACCES),
        "nor is it removed as a file"
    );
    assert_eq!(
        rmdir(&mut c, &root, ".snapshots").await,
        Err(nfsstat3::NFS3ERR_ACCES),
        "nor as a directory"
    );
    lookup(&mut c, &snaps, "monday")
        .await
        .expect("the snapshot is still there");
    mkdir(&mut c, &d, ".snapshots")
        .await
        .expect("a subdirectory's .snapshots is a name like any");
    let (inside, _) = readdirplus(&mut c, &snaps, 64 * 1024).await;
    let inside: Vec<&str> = inside.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(inside, [".", "..", "monday"]);
    let mut keys = s3_keys(&srv, "fs+ro").await;
    keys.sort();
    assert_eq!(keys, ["a.txt", "d/", "d/.snapshots/"]);
}

/// READDIR and READDIRPLUS of `.snapshots` keep to the client's count and maxcount as any
/// directory's do: pages that fit, cookies that resume, eof on the last page only, and
/// `NFS3ERR_TOOSMALL` when not one entry fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_directory_listing_keeps_to_the_count() {
    use nfs3_client::nfs3_types::xdr_codec::Pack;
    let srv = TestServer::start().await;
    share(&srv, "many", false).await;
    let (mut c, root) = admin_mount(&srv, "many").await;
    let mut want = vec![".".to_string(), "..".to_string()];
    for i in 0..24 {
        let name = format!("snapshot-number-{i:02}");
        srv.store()
            .create_snapshot(&srv.admin(), "many", Some(&name))
            .await
            .expect("snapshot");
        want.push(name);
    }
    let (snaps, _) = lookup(&mut c, &root, ".snapshots").await.expect("found");
    for count in [300u32, 512, 1000] {
        let (mut names, mut cookie, mut pages) = (Vec::new(), 0, 0);
        loop {
            let r = c
                .readdir(&READDIR3args {
                    dir: snaps.clone(),
                    cookie,
                    cookieverf: cookieverf3::default(),
                    count,
                })
                .await
                .expect("rpc");
            let ok = match r {
                Nfs3Result::Ok(ok) => ok,
                Nfs3Result::Err((s, _)) => panic!("readdir {count}: {s}"),
            };
            assert!(4 + ok.packed_size() <= count as usize, "count {count}");
            pages += 1;
            for e in &ok.reply.entries.0 {
                names.push(String::from_utf8(e.name.0.to_vec()).expect("utf8"));
                cookie = e.cookie;
            }
            if ok.reply.eof {
                break;
            }
            assert!(!ok.reply.entries.0.is_empty(), "an empty page before eof");
        }
        assert_eq!(names, want, "count {count}");
        assert!(pages > 1, "count {count}: {pages} page(s)");
    }
    for maxcount in [1000u32, 2000, 4000] {
        let (mut names, mut cookie, mut pages) = (Vec::new(), 0, 0);
        loop {
            let ok = crate::nfs::readdirplus_page(&mut c, &snaps, cookie, maxcount).await;
            assert!(
                4 + ok.packed_size() <= maxcount as usize,
                "maxcount {maxcount}"
            );
            pages += 1;
            for e in &ok.reply.entries.0 {
                names.push(String::from_utf8(e.name.0.to_vec()).expect("utf8"));
                cookie = e.cookie;
            }
            if ok.reply.eof {
                break;
            }
            assert!(!ok.reply.entries.0.is_empty(), "an empty page before eof");
        }
        assert_eq!(names, want, "maxcount {maxcount}");
        assert!(pages > 1, "maxcount {maxcount}: {pages} page(s)");
    }
    let r = c
        .readdir(&READDIR3args {
            dir: snaps.clone(),
            cookie: 0,
            cookieverf: cookieverf3::default(),
            count: 100,
        })
        .await
        .expect("rpc");
    assert!(matches!(
        r,
        Nfs3Result::Err((nfsstat3::NFS3ERR_TOOSMALL, _))
    ));
}

/// READDIR of `.snapshots` goes on from a cookie to the snapshots after it even when one
/// before it was deleted between the two pages (a cookie is not a position in the list).
#[tokio::test]
async fn snapshots_listing_resumes_past_a_deleted_snapshot() {
    let srv = TestServer::start().await;
    share(&srv, "pages", false).await;
    let (mut c, root) = admin_mount(&srv, "pages").await;
    create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    for name in ["a", "b", "c"] {
        srv.store()
            .create_snapshot(&srv.admin(), "pages", Some(name))
            .await
            .expect("snapshot");
    }
    let (snaps, _) = lookup(&mut c, &root, ".snapshots")
        .await
        .expect(".snapshots");
    let first = crate::nfs::readdirplus_page(&mut c, &snaps, 0, 64 << 10).await;
    let cookie_of = |name: &str| {
        first
            .reply
            .entries
            .0
            .iter()
            .find(|e| e.name.0.as_ref() == name.as_bytes())
            .map(|e| e.cookie)
            .expect("listed")
    };
    let after_a = cookie_of("a");
    srv.store()
        .delete_snapshot(&srv.admin(), "pages", "a")
        .await
        .expect("delete");
    let rest = crate::nfs::readdirplus_page(&mut c, &snaps, after_a, 64 << 10).await;
    let names: Vec<String> = rest
        .reply
        .entries
        .0
        .iter()
        .map(|e| String::from_utf8_lossy(e.name.0.as_ref()).into_owned())
        .collect();
    assert_eq!(names, ["b", "c"], "nothing skipped");
}
