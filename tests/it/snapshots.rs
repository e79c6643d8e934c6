//! Share snapshots (decision 0040) through aws-sdk-s3 and `nfs3_client`: a point-in-time copy
//! costing metadata only (no chunk file written), read over S3 as `fs+<share>@<name>` (and its
//! alias `fs--<share>.<name>`) and over NFS under the hidden `/.snapshots/<name>/`, read-only
//! on both; restoring a file or the whole share in one call; snapshots parked and restored with
//! their share, deleted alone, counted against the share's quota; fsck clean throughout.

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{admin_mount, create, lookup, mkdir, read_all, readdirplus, remove, share, write};

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
        Err(nfsstat3::NFS3ERR_ACCES)
    );
    assert_eq!(
        remove(&mut c, &monday, "a.txt").await,
        Err(nfsstat3::NFS3ERR_ACCES)
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
