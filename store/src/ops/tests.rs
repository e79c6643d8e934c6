//! Store-level tests: dedup and refcounts, a crash between blob write and commit, group commit.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;

use crate::model::Principal;
use crate::ops::{CopyOptions, ListQuery, PutOptions};
use crate::stage::StageOptions;
use crate::{Store, StoreConfig, StoreError};

fn admin() -> Principal {
    use crate::rbac::policy::AdminPeers;
    crate::rbac::Policy::new(
        vec![],
        Default::default(),
        vec![],
        AdminPeers(vec!["admin".into()]),
    )
    .resolve("0123456789abcdef", "admin", crate::model::UserKind::Person)
}

fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.gc_grace = Duration::ZERO;
    Store::open(cfg).expect("open").0
}

fn body(data: Vec<u8>) -> impl futures_util::Stream<Item = Result<Bytes, StoreError>> + Send {
    // Split into uneven pieces, as a network would.
    let pieces: Vec<Result<Bytes, StoreError>> = data
        .chunks(70_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces)
}

/// Pseudo-random bytes (xorshift): no two 1 MiB chunks alike.
fn data(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

async fn put(s: &Store, b: &str, k: &str, d: Vec<u8>) {
    s.put_object(&admin(), b, k, body(d), PutOptions::default(), |_| Ok(()))
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("put");
}

/// Share `name`, created by the admin.
async fn make_share(s: &Store, name: &str) {
    s.create_share(
        &admin(),
        crate::ops::NewShare {
            name: name.into(),
            ..Default::default()
        },
    )
    .await
    .expect("share");
}

fn chunk_rows(s: &Store) -> usize {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let txn = s.db().begin_read().expect("txn");
    txn.open_table(crate::tables::CHUNKS)
        .expect("t")
        .len()
        .expect("len") as usize
}

#[tokio::test]
async fn dedup_and_refcounts_through_copy_and_delete() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    let d = data(3 << 20, 1);
    put(&s, "bkt", "a", d.clone()).await;
    put(&s, "bkt", "b", d.clone()).await;
    assert_eq!(
        s.inner.blobs.all_chunks().expect("chunks").len(),
        3,
        "stored once"
    );
    s.copy_object(
        &p,
        ("bkt", "a"),
        ("bkt", "c"),
        CopyOptions::default(),
        |_| Ok(()),
    )
    .await
    .expect("copy");
    s.delete_object(&p, "bkt", "a").await.expect("rm");
    s.delete_object(&p, "bkt", "b").await.expect("rm");
    assert_eq!(
        s.gc(None).await.expect("gc").deleted,
        0,
        "c still refers to them"
    );
    let info = s.get_object(&p, "bkt", "c").expect("c");
    let mut got = Vec::new();
    let mut st = s.read_data(&info.record.data, 0..info.record.size);
    while let Some(piece) = futures_util::StreamExt::next(&mut st).await {
        got.extend_from_slice(&piece.expect("piece"));
    }
    assert_eq!(got, d);
    s.delete_object(&p, "bkt", "c").await.expect("rm");
    assert_eq!(chunk_rows(&s), 0);
    assert_eq!(s.gc(None).await.expect("gc").deleted, 3);
    let b = s.head_bucket(&p, "bkt").expect("head");
    assert_eq!((b.usage_bytes, b.object_count), (0, 0));
}

#[tokio::test]
async fn crash_between_blob_write_and_commit_leaves_no_object_and_no_leak() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let s = open(dir.path());
        s.create_bucket(&admin(), "bkt").await.expect("mb");
        // Stage chunks, then "crash": the staged data is dropped without a commit.
        let staged = s
            .stage(
                body(data(2 << 20, 9)),
                &StageOptions {
                    md5: true,
                    max_size: u64::MAX,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("{e:?}"))
            .expect("stage");
        assert_eq!(s.inner.blobs.all_chunks().expect("c").len(), 2);
        // While pinned, GC must not touch them.
        assert_eq!(s.gc(None).await.expect("gc").deleted, 0);
        drop(staged);
        s.close();
    }
    // Restart: the object does not exist, and GC collects the orphans.
    let s = open(dir.path());
    let page = s
        .list_objects(
            &admin(),
            "bkt",
            &ListQuery {
                max_keys: 10,
                ..Default::default()
            },
        )
        .expect("list");
    assert!(page.entries.is_empty());
    assert_eq!(s.gc(None).await.expect("gc").deleted, 2);
    assert!(s.inner.blobs.all_chunks().expect("c").is_empty());
}

#[tokio::test]
async fn a_failed_digest_stores_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    s.create_bucket(&admin(), "bkt").await.expect("mb");
    let opts = PutOptions {
        content_md5: Some([0u8; 16]),
        ..Default::default()
    };
    let r = s
        .put_object(&admin(), "bkt", "k", body(data(1 << 20, 3)), opts, |_| {
            Ok(())
        })
        .await;
    assert!(matches!(
        r,
        Err(crate::StageError::Store(StoreError::BadDigest))
    ));
    assert!(matches!(
        s.get_object(&admin(), "bkt", "k"),
        Err(StoreError::NoSuchKey)
    ));
    assert_eq!(chunk_rows(&s), 0);
    assert!(
        s.inner.blobs.all_chunks().expect("c").is_empty(),
        "removed at once, not left for GC"
    );
}

#[tokio::test]
async fn concurrent_small_puts_are_group_committed() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    s.create_bucket(&admin(), "bkt").await.expect("mb");
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let s = s.clone();
        set.spawn(async move { put(&s, "bkt", &format!("k{i:03}"), data(4096, i as u8)).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join");
    }
    let page = s
        .list_objects(
            &admin(),
            "bkt",
            &ListQuery {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(page.entries.len(), 200);
    assert!(
        s.inner.blobs.all_chunks().expect("c").is_empty(),
        "small objects are inline"
    );
    assert_eq!(
        s.head_bucket(&admin(), "bkt").expect("h").usage_bytes,
        200 * 4096
    );
}

#[tokio::test]
async fn share_buckets_refuse_file_directory_conflicts() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    assert!(
        s.create_bucket(&admin(), "fs+team").await.is_err(),
        "shares are not plain buckets"
    );
    make_share(&s, "team").await;
    put(&s, "fs+team", "a/b.txt", b"x".to_vec()).await;
    for bad in ["a", "a/b.txt/c", "a//c", "a/./c"] {
        let r = s
            .put_object(
                &admin(),
                "fs+team",
                bad,
                body(b"y".to_vec()),
                PutOptions::default(),
                |_| Ok(()),
            )
            .await;
        assert!(
            matches!(r, Err(crate::StageError::Store(StoreError::InvalidKey(_)))),
            "{bad}"
        );
    }
}

/// Random writes, truncations and extensions through the file view against a plain byte
/// vector: after each, the bytes read back match, and removing the file leaves no chunk row.
#[tokio::test]
async fn fs_writes_patch_chunks_like_a_byte_vector() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.chunk_size = 4096;
    cfg.inline_max = 1000;
    let s = Store::open(cfg).unwrap().0;
    let a = admin();
    make_share(&s, "w").await;
    let share = s.fs_share(&a, "w").await.unwrap();
    let f = s
        .fs_create(
            &a,
            "fs+w",
            share.root.ino,
            "f",
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
        .await
        .unwrap()
        .attr;
    let mut model: Vec<u8> = Vec::new();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for step in 0..300u32 {
        let op = rnd(10);
        if op < 7 {
            let off = rnd(model.len() as u64 + 6000);
            let len = rnd(if op < 3 { 300 } else { 9000 }) as usize + 1;
            let bytes = data(len, step as u8);
            s.fs_write(&a, "fs+w", f.ino, off, Bytes::from(bytes.clone()))
                .await
                .unwrap();
            let end = off as usize + len;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(&bytes);
        } else {
            let size = rnd(model.len() as u64 + 10_000);
            let attrs = FsSetAttr {
                size: Some(size),
                ..Default::default()
            };
            s.fs_setattr(&a, "fs+w", f.ino, attrs).await.unwrap();
            model.resize(size as usize, 0);
        }
        let got = s.fs_read(&a, "fs+w", f.ino, 0, u32::MAX).await.unwrap();
        assert_eq!(got.attr.size, model.len() as u64, "size after step {step}");
        assert!(
            got.data.to_bytes().unwrap()[..] == model[..],
            "bytes differ after step {step}"
        );
    }
    // A set mtime is kept until the content changes.
    let old = FsSetAttr {
        mtime_ms: Some(1_000_000),
        mode: Some(0o600),
        ..Default::default()
    };
    let set = s.fs_setattr(&a, "fs+w", f.ino, old).await.unwrap();
    assert_eq!((set.mtime_ns, set.mode), (1_000_000_000_000, 0o600));
    let written = s
        .fs_write(&a, "fs+w", f.ino, 0, Bytes::from_static(b"z"))
        .await
        .unwrap();
    match model.first_mut() {
        Some(b) => *b = b'z',
        None => model.push(b'z'),
    }
    assert!(written.mtime_ns > 1_000_000_000_000, "a write moves mtime");
    assert_eq!(written.mode, 0o600, "and keeps the mode");
    // The S3 view reads the same bytes.
    let info = s.get_object(&a, "fs+w", "f").unwrap();
    assert_eq!(info.record.size, model.len() as u64);
    s.fs_remove(&a, "fs+w", share.root.ino, "f").await.unwrap();
    assert_eq!(chunk_rows(&s), 0, "every chunk reference dropped");
}

/// Many writes to one file at once (as a client with many WRITEs in flight sends them): every
/// byte lands, none is lost to a concurrent patch.
#[tokio::test]
async fn fs_concurrent_writes_to_one_file_all_land() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.chunk_size = 64 << 10;
    let s = Store::open(cfg).unwrap().0;
    let a = admin();
    make_share(&s, "c").await;
    let root = s.fs_share(&a, "c").await.unwrap().root;
    let f = s
        .fs_create(
            &a,
            "fs+c",
            root.ino,
            "f",
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
        .await
        .unwrap()
        .attr;
    let piece = 100_000usize;
    let writes = (0..16u8).map(|i| {
        let (s, a) = (s.clone(), a.clone());
        tokio::spawn(async move {
            let off = u64::from(i) * piece as u64;
            s.fs_write(&a, "fs+c", f.ino, off, Bytes::from(data(piece, i)))
                .await
                .map(drop)
        })
    });
    for w in futures_util::future::join_all(writes).await {
        w.unwrap().unwrap();
    }
    let got = s.fs_read(&a, "fs+c", f.ino, 0, u32::MAX).await.unwrap();
    let want: Vec<u8> = (0..16u8).flat_map(|i| data(piece, i)).collect();
    assert!(
        got.data.to_bytes().unwrap()[..] == want[..],
        "a concurrent write was lost"
    );
    assert!(s.inner.file_locks.map().is_empty(), "locks are released");
}

/// Under `nfs.async` a create is answered before it is durable; a crash may lose it, and then
/// its inode number must not name another file: a store that did not stop cleanly skips
/// 2^20 inode numbers at its next start. A clean stop skips none.
#[tokio::test]
async fn inode_numbers_are_not_reused_after_an_unclean_stop() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().unwrap();
    let open_async = || {
        let mut cfg = StoreConfig::new(dir.path());
        cfg.fs_async = Some(Duration::from_secs(60));
        Store::open(cfg).unwrap().0
    };
    let a = admin();
    let create = |s: Store, name: &'static str| {
        let a = a.clone();
        async move {
            let root = s.fs_share(&a, "w").await.unwrap().root.ino;
            let f = s
                .fs_create(
                    &a,
                    "fs+w",
                    root,
                    name,
                    FsCreate::Guarded,
                    FsSetAttr::default(),
                )
                .await
                .unwrap()
                .attr;
            (s, f.ino)
        }
    };
    let s = open_async();
    make_share(&s, "w").await;
    let (s, first) = create(s, "a").await;
    // Stopped without `close`: no clean-stop record.
    drop(s);
    let (s, second) = create(open_async(), "b").await;
    assert!(second >= first + (1 << 20), "{first} then {second}");
    s.close();
    let (s, third) = create(open_async(), "c").await;
    assert!(
        third > second && third < second + 100,
        "{second} then {third}"
    );
    // What was created is all there (every commit durable at a stop, clean or not).
    let root = s.fs_share(&a, "w").await.unwrap().root.ino;
    for n in ["a", "b", "c"] {
        s.fs_lookup(&a, "fs+w", root, n).await.unwrap();
    }
    s.close();
}

/// Directory change times are kept only for directories that exist: a removed directory
/// (marker or implicit) and the empty target a directory is renamed over leave no row.
#[tokio::test]
async fn directory_times_go_with_their_directories() {
    use crate::ops::{FsCreate, FsSetAttr};
    use redb::ReadableDatabase as _;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(StoreConfig::new(dir.path())).unwrap().0;
    let a = admin();
    make_share(&s, "t").await;
    let root = s.fs_share(&a, "t").await.unwrap().root.ino;
    let rows = |s: &Store| {
        let r = s.db().begin_read().unwrap();
        let t = r.open_table(crate::tables::DIR_TIMES).unwrap();
        let mut keys: Vec<String> = redb::ReadableTable::iter(&t)
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().0.value()[8..]).into_owned())
            .collect();
        keys.sort();
        keys
    };
    let file = |dir: u64, name: &'static str| {
        s.fs_create(
            &a,
            "fs+t",
            dir,
            name,
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
    };
    let d = s
        .fs_mkdir(&a, "fs+t", root, "d", FsSetAttr::default())
        .await
        .unwrap();
    file(d.ino, "f").await.unwrap();
    assert_eq!(rows(&s), ["", "d/"]);
    s.fs_remove(&a, "fs+t", d.ino, "f").await.unwrap();
    s.fs_rmdir(&a, "fs+t", root, "d").await.unwrap();
    assert_eq!(rows(&s), [""], "rmdir leaves no row behind");

    // Renaming x (never changed: no row) over the empty directory y (changed once): y's row
    // goes rather than becoming x's.
    s.fs_mkdir(&a, "fs+t", root, "x", FsSetAttr::default())
        .await
        .unwrap();
    let y = s
        .fs_mkdir(&a, "fs+t", root, "y", FsSetAttr::default())
        .await
        .unwrap();
    file(y.ino, "g").await.unwrap();
    s.fs_remove(&a, "fs+t", y.ino, "g").await.unwrap();
    assert_eq!(rows(&s), ["", "y/"]);
    s.fs_rename(&a, "fs+t", (root, "x"), (root, "y"))
        .await
        .unwrap();
    assert_eq!(rows(&s), [""]);
    s.close();
}
