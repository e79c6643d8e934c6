//! A versioned share (decision 0038) through `nfs3_client` and aws-sdk-s3: the NFS view shows
//! current versions only; a run of writes keeps what it replaced once (not once per WRITE);
//! rename over a file and remove keep what they replaced; every version reads back over S3;
//! fsck counts them, and a backup carries them.

use std::time::Duration;

use gatehouse_store::model::Versioning;
use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{admin_mount, create, lookup, read_all, remove, rename, share, write};

/// (version id, is latest, delete marker, size) of `key`'s versions, newest first.
async fn versions(srv: &TestServer, key: &str) -> Vec<(String, bool, bool, i64)> {
    let out = srv
        .client()
        .list_object_versions()
        .bucket("fs+vs")
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    let mut v: Vec<(String, bool, bool, i64)> = out
        .versions()
        .iter()
        .filter(|o| o.key() == Some(key))
        .map(|o| {
            (
                o.version_id().unwrap_or("").to_string(),
                o.is_latest().unwrap_or(false),
                false,
                o.size().unwrap_or(0),
            )
        })
        .collect();
    v.extend(
        out.delete_markers()
            .iter()
            .filter(|m| m.key() == Some(key))
            .map(|m| {
                (
                    m.version_id().unwrap_or("").to_string(),
                    m.is_latest().unwrap_or(false),
                    true,
                    0,
                )
            }),
    );
    v
}

async fn s3_version(srv: &TestServer, key: &str, id: &str) -> Vec<u8> {
    body_bytes(
        srv.client()
            .get_object()
            .bucket("fs+vs")
            .key(key)
            .version_id(id)
            .send()
            .await
            .expect("get version"),
    )
    .await
}

fn guarded() -> createhow3 {
    createhow3::GUARDED(sattr3 {
        mode: Nfs3Option::Some(0o644),
        ..sattr3::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_versioned_share_keeps_what_nfs_replaces() {
    let srv = TestServer::start().await;
    share(&srv, "vs", false).await;
    srv.store()
        .set_versioning(&srv.admin(), "fs+vs", Versioning::Enabled)
        .await
        .expect("enable");
    let (mut c, root) = admin_mount(&srv, "vs").await;

    // A new file and a run of writes: one version, whatever the number of WRITE calls.
    let f = create(&mut c, &root, "notes.txt", guarded())
        .await
        .expect("create");
    write(&mut c, &f, 0, b"one").await.expect("write");
    write(&mut c, &f, 0, b"ONE").await.expect("write");
    write(&mut c, &f, 3, b"!").await.expect("write");
    let v = versions(&srv, "notes.txt").await;
    assert_eq!(v.len(), 1, "{v:?}");
    let first = v[0].0.clone();

    // After a quiet spell, the next run of writes keeps what was there, once.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    write(&mut c, &f, 0, b"two").await.expect("write");
    for i in 0..5u64 {
        write(&mut c, &f, 3 + i, b".").await.expect("write");
    }
    let v = versions(&srv, "notes.txt").await;
    assert_eq!(v.len(), 2, "one version per run of writes: {v:?}");
    assert!(v[0].1 && !v[1].1, "{v:?}");
    assert_eq!(v[1].0, first, "the kept version has the id it had");
    assert_eq!(s3_version(&srv, "notes.txt", &first).await, b"ONE!");
    assert_eq!(
        read_all(&mut c, &f).await,
        b"two.....",
        "NFS shows the current version"
    );
    let current = v[0].0.clone();
    assert_eq!(s3_version(&srv, "notes.txt", &current).await, b"two.....");

    // Rename over it: what it held is kept, and the name gets no delete marker.
    let g = create(&mut c, &root, "draft.txt", guarded())
        .await
        .expect("create");
    write(&mut c, &g, 0, b"draft").await.expect("write");
    rename(&mut c, (&root, "draft.txt"), (&root, "notes.txt"))
        .await
        .expect("rename over");
    let v = versions(&srv, "notes.txt").await;
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(v.iter().all(|(_, _, marker, _)| !marker), "{v:?}");
    assert_eq!(v[0].3, 5, "the draft is current");
    assert_eq!(s3_version(&srv, "notes.txt", &current).await, b"two.....");
    // The moved name: a delete marker over S3, nothing over NFS.
    let d = versions(&srv, "draft.txt").await;
    assert_eq!(d.len(), 1);
    assert!(d[0].1 && d[0].2, "{d:?}");
    assert!(lookup(&mut c, &root, "draft.txt").await.is_err());

    // Remove: the NFS view loses the file; S3 keeps every version under a delete marker.
    remove(&mut c, &root, "notes.txt").await.expect("remove");
    assert!(lookup(&mut c, &root, "notes.txt").await.is_err());
    let v = versions(&srv, "notes.txt").await;
    assert_eq!(v.len(), 4, "{v:?}");
    assert_eq!(v.iter().filter(|x| x.2).count(), 1);
    assert_eq!(s3_version(&srv, "notes.txt", &first).await, b"ONE!");

    // Found in review: two names of one inode removed in turn keep their versions apart
    // (they once took the same row, leaking the first copy).
    let h = create(&mut c, &root, "linked", guarded())
        .await
        .expect("create");
    write(&mut c, &h, 0, b"hard").await.expect("write");
    for _ in 0..2 {
        match c
            .link(&LINK3args {
                file: h.clone(),
                link: crate::nfs::dirop(&root, "other"),
            })
            .await
            .expect("rpc")
        {
            Nfs3Result::Ok(_) => {}
            Nfs3Result::Err((s, _)) => panic!("link: {s}"),
        }
        remove(&mut c, &root, "other")
            .await
            .expect("remove the second name");
    }
    let o = versions(&srv, "other").await;
    assert_eq!(o.iter().filter(|v| !v.2).count(), 2, "{o:?}");
    let ids: std::collections::HashSet<&String> = o.iter().map(|v| &v.0).collect();
    assert_eq!(ids.len(), o.len(), "distinct ids: {o:?}");
    remove(&mut c, &root, "linked").await.expect("remove");

    // Every kept byte is counted; fsck agrees offline.
    let b = srv
        .store()
        .head_bucket(&srv.admin(), "fs+vs")
        .expect("head");
    assert_eq!(b.usage_bytes, 4 + 8 + 5 + 3 * 4, "{b:?}");
    assert_eq!(b.object_count, 0);
    drop(c);
    let dir = srv.stop().await;
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.versions, 3 + 3);
}
