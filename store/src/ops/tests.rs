//! Store-level tests: dedup and refcounts, a crash between blob write and commit, group commit.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;

use crate::model::Principal;
use crate::ops::{CopyOptions, ListQuery, PutOptions};
use crate::stage::StageOptions;
use crate::{Store, StoreConfig, StoreError};

pub(super) fn admin() -> Principal {
    use crate::rbac::policy::AdminPeers;
    crate::rbac::Policy::new(
        vec![],
        Default::default(),
        vec![],
        AdminPeers(vec!["admin".into()]),
    )
    .resolve("0123456789abcdef", "admin", crate::model::UserKind::Person)
}

pub(super) fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.gc_grace = Duration::ZERO;
    Store::open(cfg).expect("open").0
}

pub(super) fn body(
    data: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Bytes, StoreError>> + Send {
    // Split into uneven pieces, as a network would.
    let pieces: Vec<Result<Bytes, StoreError>> = data
        .chunks(70_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces)
}

/// Pseudo-random bytes (xorshift): no two 1 MiB chunks alike.
pub(super) fn data(n: usize, seed: u8) -> Vec<u8> {
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

pub(super) async fn put(s: &Store, b: &str, k: &str, d: Vec<u8>) {
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

/// The periodic GC reads the chunks freed since, not every chunk file: it looks at exactly
/// the freed ones, deletes their files, keeps one whose row came back (the same bytes written
/// again before GC ran), and leaves the others' files alone.
#[tokio::test]
async fn gc_of_freed_chunks_reads_only_what_was_freed() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    for (k, seed) in [("keep1", 1), ("keep2", 2), ("gone", 3), ("back", 4)] {
        put(&s, "bkt", k, data(2 << 20, seed)).await;
    }
    assert_eq!(s.inner.blobs.all_chunks().expect("chunks").len(), 8);
    s.delete_object(&p, "bkt", "gone").await.expect("rm");
    s.delete_object(&p, "bkt", "back").await.expect("rm");
    put(&s, "bkt", "back", data(2 << 20, 4)).await;
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (4, 2), "{g:?}");
    assert_eq!(s.inner.blobs.all_chunks().expect("chunks").len(), 6);
    // Done with: nothing freed since, nothing looked at.
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (0, 0), "{g:?}");
    for k in ["keep1", "keep2", "back"] {
        let info = s.get_object(&p, "bkt", k).expect("get");
        let mut st = s.read_data(&info.record.data, 0..info.record.size);
        let mut n = 0;
        while let Some(piece) = futures_util::StreamExt::next(&mut st).await {
            n += piece.expect("piece").len();
        }
        assert_eq!(n, 2 << 20, "{k}");
    }
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
    let share = s.fs_share(&a, "w", "").await.unwrap();
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
        mtime: crate::ops::FsTime::Client(1_000_000_000_000),
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
    let root = s.fs_share(&a, "c", "").await.unwrap().root;
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
            let root = s.fs_share(&a, "w", "").await.unwrap().root.ino;
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
    let root = s.fs_share(&a, "w", "").await.unwrap().root.ino;
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
    let root = s.fs_share(&a, "t", "").await.unwrap().root.ino;
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

/// The READ path's cost (issue 18, atime batching): many 4 KiB READs of one file (inline and
/// chunked) and GETATTRs, timed. Run in release: `cargo test --release -p gatehouse-store --lib
/// -- --ignored --nocapture read_path_cost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn read_path_cost() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let a = admin();
    make_share(&s, "r").await;
    let share = s.fs_share(&a, "r", "").await.unwrap();
    let mut inos = Vec::new();
    for (name, len) in [("small", 4096usize), ("big", 4 << 20)] {
        let f = s
            .fs_create(
                &a,
                "fs+r",
                share.root.ino,
                name,
                FsCreate::Guarded,
                FsSetAttr::default(),
            )
            .await
            .unwrap()
            .attr;
        s.fs_write(&a, "fs+r", f.ino, 0, Bytes::from(data(len, 7)))
            .await
            .unwrap();
        inos.push((name, f.ino, len as u64));
    }
    let env = |k: &str| std::env::var(k).ok();
    let n: u64 = env("READ_PATH_N")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let what = env("READ_PATH_WHAT").unwrap_or_default();
    for (name, ino, len) in inos {
        if env("READ_PATH_SMALL_ONLY").is_some() && name != "small" {
            continue;
        }
        for _ in 0..1000 {
            s.fs_read(&a, "fs+r", ino, 0, 4096).await.unwrap();
        }
        let t = std::time::Instant::now();
        for i in 0..n * u64::from(what != "getattr") {
            let off = (i * 4096) % len;
            let r = s.fs_read(&a, "fs+r", ino, off, 4096).await.unwrap();
            assert_eq!(r.data.len(), 4096);
        }
        let read_ns = t.elapsed().as_nanos() as u64 / n.max(1);
        let t = std::time::Instant::now();
        for _ in 0..n * u64::from(what != "read") {
            s.fs_getattr(&a, "fs+r", ino).unwrap();
        }
        let attr_ns = t.elapsed().as_nanos() as u64 / n.max(1);
        println!("result read_path {name}: READ 4 KiB {read_ns} ns, GETATTR {attr_ns} ns");
    }
}

/// Relatime atimes (decision 0023): a READ's atime is pending, shown at once, written by the
/// batch; an atime set after the READ is not overwritten by it; `close` writes what is still
/// pending, so a clean stop keeps it.
#[tokio::test]
async fn read_atimes_are_batched_and_kept_by_close() {
    use crate::ops::{FsCreate, FsSetAttr, FsTime};
    let dir = tempfile::tempdir().unwrap();
    let a = admin();
    let (f, g, read_at) = {
        let s = open(dir.path());
        make_share(&s, "at").await;
        let root = s.fs_share(&a, "at", "").await.unwrap().root.ino;
        let mut inos = Vec::new();
        for name in ["f", "g"] {
            let made = s
                .fs_create(
                    &a,
                    "fs+at",
                    root,
                    name,
                    FsCreate::Guarded,
                    FsSetAttr::default(),
                )
                .await
                .unwrap()
                .attr;
            s.fs_write(&a, "fs+at", made.ino, 0, Bytes::from_static(b"abc"))
                .await
                .unwrap();
            inos.push(made.ino);
        }
        let (f, g) = (inos[0], inos[1]);
        let written = s.fs_getattr(&a, "fs+at", f).unwrap();
        let r = s.fs_read(&a, "fs+at", f, 0, 10).await.unwrap();
        assert!(r.attr.atime_ns > written.mtime_ns, "the READ moved atime");
        assert_eq!(
            s.fs_getattr(&a, "fs+at", f).unwrap().atime_ns,
            r.attr.atime_ns
        );
        // g: read, then its atime set by a client; the batch must not undo the set.
        s.fs_read(&a, "fs+at", g, 0, 10).await.unwrap();
        let set = FsSetAttr {
            atime: FsTime::Client(1_000_000_000_000_000_007),
            ..Default::default()
        };
        s.fs_setattr(&a, "fs+at", g, set).await.unwrap();
        s.flush_atimes().await;
        assert_eq!(
            s.fs_getattr(&a, "fs+at", g).unwrap().atime_ns,
            1_000_000_000_000_000_007
        );
        // f again, after a change: pending when the store closes.
        s.fs_write(&a, "fs+at", f, 0, Bytes::from_static(b"x"))
            .await
            .unwrap();
        let again = s
            .fs_read(&a, "fs+at", f, 0, 10)
            .await
            .unwrap()
            .attr
            .atime_ns;
        assert!(again > r.attr.atime_ns);
        assert!(!s.inner.atimes.is_empty(), "still pending");
        s.close();
        (f, g, again)
    };
    let s = open(dir.path());
    assert_eq!(s.fs_getattr(&a, "fs+at", f).unwrap().atime_ns, read_at);
    assert_eq!(
        s.fs_getattr(&a, "fs+at", g).unwrap().atime_ns,
        1_000_000_000_000_000_007
    );
}

/// Hard links (decision 0021): a share purge drops each inode's chunk references once however
/// many names it has, and fsck finds a link count that disagrees with the entries naming the
/// inode, and repairs it.
#[tokio::test]
async fn linked_inodes_are_purged_once_and_fsck_checks_their_link_count() {
    use redb::ReadableTable;
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    make_share(&s, "hl").await;
    put(&s, "fs+hl", "a", data(3 << 20, 9)).await;
    let root = s
        .fs_share(&admin(), "hl", "")
        .await
        .expect("share")
        .root
        .ino;
    let a = s.fs_lookup(&admin(), "fs+hl", root, "a").await.expect("a");
    let made = s
        .fs_link(&admin(), "fs+hl", a.ino, root, "b")
        .await
        .expect("link");
    assert_eq!(made.attr.nlink, 2);
    assert!(chunk_rows(&s) > 0);

    // fsck: clean; then an inode that says 5 links is found and repaired to 2.
    let ino = a.ino;
    let corrupt = |s: &Store, n: u32| {
        let w = s.db().begin_write().expect("w");
        {
            let mut t = w.open_table(crate::tables::INODES).expect("inodes");
            let mut rec: crate::model::ObjectRecord =
                crate::codec::decode(t.get(ino).expect("get").expect("row").value())
                    .expect("decode");
            rec.nlink = n;
            t.insert(ino, crate::codec::encode(&rec).expect("enc").as_slice())
                .expect("insert");
        }
        w.commit().expect("commit");
    };
    corrupt(&s, 5);
    drop(s);
    let r = crate::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.nlink_mismatches, vec![(ino, 5, 2)]);
    assert!(
        r.refcount_mismatches == 0 && r.usage_mismatches.is_empty(),
        "{r:?}"
    );
    assert!(
        crate::fsck::fsck(dir.path(), true)
            .expect("repair")
            .repaired
    );
    assert!(crate::fsck::fsck(dir.path(), false).expect("fsck").clean());

    // Purge: both names go, the chunk references with the inode, once.
    let s = open(dir.path());
    s.delete_share(&admin(), "hl").await.expect("delete");
    let far = crate::now_ms() + (400 << 40);
    assert_eq!(s.sweep_shares(far).await.expect("sweep").purged, 1);
    assert_eq!(chunk_rows(&s), 0, "the inode's references dropped, once");
    drop(s);
    let r = crate::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}

/// A share's purge goes in bounded steps (issue 19): after one step of two entries the share is
/// half purged and cannot be restored; the sweep removes the rest, hard-linked inode included,
/// and leaves nothing for fsck to find.
#[tokio::test]
async fn a_share_is_purged_in_bounded_steps_and_not_restored_half_way() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    make_share(&s, "big").await;
    for i in 0..7u8 {
        put(
            &s,
            "fs+big",
            &format!("d/f{i}"),
            data(70_000 + usize::from(i), i),
        )
        .await;
    }
    let root = s
        .fs_share(&admin(), "big", "")
        .await
        .expect("share")
        .root
        .ino;
    let d = s.fs_lookup(&admin(), "fs+big", root, "d").await.expect("d");
    let f0 = s
        .fs_lookup(&admin(), "fs+big", d.ino, "f0")
        .await
        .expect("f0");
    s.fs_link(&admin(), "fs+big", f0.ino, root, "link")
        .await
        .expect("link");
    s.delete_share(&admin(), "big").await.expect("delete");
    let far = crate::now_ms() + (400 << 40);
    let retention = s.retention_ms();
    let step = s.purge_step("big", far, retention, 2).await.expect("step");
    assert_eq!(step, Some((2, false)));
    let e = s
        .restore_share(&admin(), "big")
        .await
        .expect_err("half purged");
    assert!(matches!(e, StoreError::NoSuchShare(_)), "{e:?}");
    let stats = s.sweep_shares(far).await.expect("sweep");
    assert_eq!((stats.purged, stats.entries_removed), (1, 6));
    assert_eq!(
        chunk_rows(&s),
        0,
        "every reference dropped, the linked inode's once"
    );
    drop(s);
    let r = crate::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}

/// Issue 19: creating a share again under the name of a tombstone past its retention, before
/// the sweep got to it, purges the old one the way the sweep does (bounded steps, counted and
/// logged as a purge) instead of in the create's own transaction; the new share starts empty.
#[tokio::test]
async fn a_share_created_over_an_expired_tombstone_purges_it_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = StoreConfig::new(dir.path());
    cfg.gc_grace = Duration::ZERO;
    cfg.tombstone_retention = Duration::ZERO;
    let s = Store::open(cfg).expect("open").0;
    make_share(&s, "again").await;
    for i in 0..5u8 {
        put(&s, "fs+again", &format!("f{i}"), data(70_000, i)).await;
    }
    s.delete_share(&admin(), "again").await.expect("delete");
    let purged = || {
        s.metrics()
            .shares_purged
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(purged(), 0);
    make_share(&s, "again").await;
    assert_eq!(purged(), 1, "purged as the sweep purges");
    assert_eq!(chunk_rows(&s), 0, "the old share's references are gone");
    let page = s
        .list_objects(
            &admin(),
            "fs+again",
            &ListQuery {
                max_keys: 10,
                ..Default::default()
            },
        )
        .expect("list");
    assert!(page.entries.is_empty(), "the new share starts empty");
    drop(s);
    let r = crate::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}

/// Review (issue 18): a pseudo-random mix of S3 and file-view changes over a small namespace
/// (hard links, renames of files and directories, markers, implicit directories, copies,
/// deletes) leaves every incrementally kept count as a recount finds it: fsck stays clean
/// (nlink, usage bytes once per inode, chunk references, subdirectory counts).
#[tokio::test]
async fn mixed_s3_and_file_view_changes_keep_every_count() {
    use crate::ops::{CopyOptions, FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().expect("tmp");
    let a = admin();
    let dirs = ["", "d/", "d/e/", "f/", "f/g/"];
    let names = ["x", "y", "e", "g"];
    let mut seed: u64 = std::env::var("MIX_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x2545_F491_4F6C_DD1D);
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let rounds: usize = std::env::var("MIX_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mut total = [0usize; 12];
    for round in 0..rounds {
        let s = open(dir.path());
        if round == 0 {
            make_share(&s, "mx").await;
        }
        let root = s.fs_share(&a, "mx", "").await.expect("share").root.ino;
        // The directory inode of `path` (None when it is not a directory now).
        async fn dir_ino(s: &Store, root: u64, path: &str) -> Option<u64> {
            let mut ino = root;
            for seg in path.split('/').filter(|x| !x.is_empty()) {
                let at = s.fs_lookup(&admin(), "fs+mx", ino, seg).await.ok()?;
                if at.kind != crate::ops::FsKind::Dir {
                    return None;
                }
                ino = at.ino;
            }
            Some(ino)
        }
        let mut oks = [0usize; 12];
        for _ in 0..120 {
            let (d1, n1) = (dirs[rnd(dirs.len())], names[rnd(names.len())]);
            let (d2, n2) = (dirs[rnd(dirs.len())], names[rnd(names.len())]);
            let (k1, k2) = (format!("{d1}{n1}"), format!("{d2}{n2}"));
            let op = match rnd(18) {
                12..=15 => 0,
                16 | 17 => 5,
                o => o,
            };
            let i1 = dir_ino(&s, root, d1).await;
            let i2 = dir_ino(&s, root, d2).await;
            let mut done = false;
            match op {
                0 => {
                    let size = [0usize, 10, 3 << 20][rnd(3)];
                    done |= s
                        .put_object(
                            &a,
                            "fs+mx",
                            &k1,
                            body(data(size, rnd(200) as u8)),
                            PutOptions::default(),
                            |_| Ok(()),
                        )
                        .await
                        .is_ok();
                }
                1 => {
                    done |= s
                        .put_object(
                            &a,
                            "fs+mx",
                            &format!("{k1}/"),
                            body(Vec::new()),
                            PutOptions::default(),
                            |_| Ok(()),
                        )
                        .await
                        .is_ok();
                }
                2 => {
                    done |= s.delete_object(&a, "fs+mx", &k1).await.is_ok();
                }
                3 => {
                    done |= s
                        .delete_objects(&a, "fs+mx", vec![k1.clone(), k2.clone(), k1.clone()])
                        .await
                        .is_ok();
                }
                4 => {
                    done |= s
                        .copy_object(
                            &a,
                            ("fs+mx", &k1),
                            ("fs+mx", &k2),
                            CopyOptions::default(),
                            |_| Ok(()),
                        )
                        .await
                        .is_ok();
                }
                5 | 6 => {
                    if let (Some(i1), Some(i2)) = (i1, i2)
                        && let Ok(f) = s.fs_lookup(&a, "fs+mx", i1, n1).await
                    {
                        done |= s.fs_link(&a, "fs+mx", f.ino, i2, n2).await.is_ok();
                    }
                }
                7 => {
                    if let (Some(i1), Some(i2)) = (i1, i2) {
                        done |= s.fs_rename(&a, "fs+mx", (i1, n1), (i2, n2)).await.is_ok();
                    }
                }
                8 => {
                    if let Some(i1) = i1 {
                        done |= s.fs_remove(&a, "fs+mx", i1, n1).await.is_ok();
                        done |= s.fs_rmdir(&a, "fs+mx", i1, n1).await.is_ok();
                    }
                }
                9 => {
                    if let Some(i1) = i1 {
                        done |= s
                            .fs_mkdir(&a, "fs+mx", i1, n1, FsSetAttr::default())
                            .await
                            .is_ok();
                    }
                }
                10 => {
                    if let Some(i1) = i1 {
                        let set = FsSetAttr {
                            mode: Some(0o700),
                            ..Default::default()
                        };
                        done |= s.fs_setattr(&a, "fs+mx", i1, set).await.is_ok();
                        if let Ok(f) = s.fs_lookup(&a, "fs+mx", i1, n1).await {
                            done |= s
                                .fs_setattr(
                                    &a,
                                    "fs+mx",
                                    f.ino,
                                    FsSetAttr {
                                        size: Some(rnd(5000) as u64),
                                        ..Default::default()
                                    },
                                )
                                .await
                                .is_ok();
                        }
                    }
                }
                _ => {
                    if let Some(i1) = i1 {
                        done |= s
                            .fs_create(&a, "fs+mx", i1, n1, FsCreate::Guarded, FsSetAttr::default())
                            .await
                            .is_ok();
                    }
                }
            }
            oks[op] += usize::from(done);
        }
        for (t, n) in total.iter_mut().zip(oks) {
            *t += n;
        }
        s.close();
        let r = crate::fsck::fsck(dir.path(), false).expect("fsck");
        assert!(r.clean(), "round {round}: {r:?}");
    }
    // The mix did link, copy, rename, remove and make directories.
    assert!(total.iter().all(|n| *n > 0), "{total:?}");
}

/// Review (issue 18): CREATE (UNCHECKED or EXCLUSIVE) of a name that is a FIFO, device or
/// symbolic link is EXIST, as knfsd answers: it used to succeed with the special file's handle
/// and attributes, a yes to a request for a regular file.
#[tokio::test]
async fn create_over_a_special_file_or_symlink_is_exist() {
    use crate::ops::{FsCreate, FsKind, FsSetAttr, FsSpecial};
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    make_share(&s, "cs").await;
    let a = admin();
    let root = s.fs_share(&a, "cs", "").await.expect("share").root.ino;
    let node = FsSpecial {
        kind: FsKind::Fifo,
        mode: 0o600,
        uid: None,
        gid: None,
        rdev: (0, 0),
    };
    s.fs_mknod(&a, "fs+cs", root, "p", node)
        .await
        .expect("mknod");
    s.fs_symlink(&a, "fs+cs", root, "l", b"target", FsSetAttr::default())
        .await
        .expect("symlink");
    for name in ["p", "l"] {
        for how in [FsCreate::Unchecked, FsCreate::Exclusive([1; 8])] {
            let r = s
                .fs_create(&a, "fs+cs", root, name, how, FsSetAttr::default())
                .await;
            assert!(
                matches!(r, Err(StoreError::Conflict(_))),
                "{name} {how:?}: {r:?}"
            );
        }
    }
    // A regular file is still found by UNCHECKED.
    let f = s
        .fs_create(
            &a,
            "fs+cs",
            root,
            "f",
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
        .await
        .expect("f");
    let again = s
        .fs_create(
            &a,
            "fs+cs",
            root,
            "f",
            FsCreate::Unchecked,
            FsSetAttr::default(),
        )
        .await
        .expect("unchecked");
    assert_eq!(again.attr.ino, f.attr.ino);
}

/// Review (issue 18): a directory's mtime set by a client shows until its listing next changes
/// (decisions 0009 and 0023), also when the time set is in the future (`touch -d 2100 dir`):
/// a create in it afterwards shows the create's time, as on a local file system. It used to
/// keep showing the set time (the later of the two was taken).
#[tokio::test]
async fn a_listing_change_moves_a_directory_mtime_set_in_the_future() {
    use crate::ops::{FsCreate, FsSetAttr, FsTime};
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    make_share(&s, "dt").await;
    let a = admin();
    let root = s.fs_share(&a, "dt", "").await.expect("share").root.ino;
    let d = s
        .fs_mkdir(&a, "fs+dt", root, "d", FsSetAttr::default())
        .await
        .expect("mkdir");
    let future = 4_102_444_800_000_000_000; // 2100-01-01
    for ino in [d.ino, root] {
        let set = FsSetAttr {
            mtime: FsTime::Client(future),
            ..Default::default()
        };
        let after = s.fs_setattr(&a, "fs+dt", ino, set).await.expect("setattr");
        assert_eq!(after.mtime_ns, future);
    }
    let before = crate::now_unix_ns();
    s.fs_create(
        &a,
        "fs+dt",
        d.ino,
        "f",
        FsCreate::Guarded,
        FsSetAttr::default(),
    )
    .await
    .expect("create in d");
    s.fs_create(
        &a,
        "fs+dt",
        root,
        "g",
        FsCreate::Guarded,
        FsSetAttr::default(),
    )
    .await
    .expect("create in the root");
    let now = crate::now_unix_ns();
    for ino in [d.ino, root] {
        let m = s.fs_getattr(&a, "fs+dt", ino).expect("getattr").mtime_ns;
        assert!((before..=now + 1_000).contains(&m), "{ino}: mtime {m}");
        // A chmod afterwards keeps the mtime shown (the set time does not come back).
        let set = FsSetAttr {
            mode: Some(0o700),
            ..Default::default()
        };
        let after = s.fs_setattr(&a, "fs+dt", ino, set).await.expect("chmod");
        assert_eq!(after.mtime_ns, m, "{ino}: after chmod");
        let again = s.fs_getattr(&a, "fs+dt", ino).expect("getattr").mtime_ns;
        assert_eq!(again, m, "{ino}: after chmod");
    }
}

/// Review (issue 18): an S3 PUT that replaces a file keeps its inode number (handles stay
/// valid), so an atime noted by a READ of the old content must not land on the new object:
/// the new object's atime is what it was written with (its x-amz-meta-mtime), not a READ of
/// something else from before it existed. It used to show, and the batch wrote, the old READ's.
#[tokio::test]
async fn a_replaced_object_does_not_take_the_old_contents_pending_atime() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    make_share(&s, "ra").await;
    let a = admin();
    let root = s.fs_share(&a, "ra", "").await.expect("share").root.ino;
    let f = s
        .fs_create(
            &a,
            "fs+ra",
            root,
            "f",
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
        .await
        .expect("create")
        .attr;
    s.fs_write(&a, "fs+ra", f.ino, 0, Bytes::from_static(b"old"))
        .await
        .expect("write");
    let read = s.fs_read(&a, "fs+ra", f.ino, 0, 10).await.expect("read");
    assert!(!s.inner.atimes.is_empty(), "the READ's atime is pending");
    let mut opts = PutOptions::default();
    opts.meta.user = vec![("mtime".into(), "1600000000".into())];
    let info = s
        .put_object(&a, "fs+ra", "f", body(b"new".to_vec()), opts, |_| Ok(()))
        .await
        .expect("put");
    assert_eq!(info.ino, f.ino, "the replaced file keeps its inode number");
    let want = 1_600_000_000_000_000_000;
    let shown = s.fs_getattr(&a, "fs+ra", f.ino).expect("getattr");
    assert_eq!(shown.mtime_ns, want);
    assert_eq!(
        shown.atime_ns, want,
        "not the old READ's {}",
        read.attr.atime_ns
    );
    s.flush_atimes().await;
    assert_eq!(
        s.fs_getattr(&a, "fs+ra", f.ino).expect("getattr").atime_ns,
        want
    );
}

/// SETATTR's guard (NFSv3 sattrguard3) is decided inside the commit that makes the change: a
/// stale ctime changes nothing (`PreconditionFailed`, NOT_SYNC over NFS), the current one
/// applies; the same for a directory and for a guard with nothing to set.
#[tokio::test]
async fn a_setattr_guard_is_decided_in_its_commit() {
    use crate::ops::{FsCreate, FsSetAttr};
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let a = admin();
    make_share(&s, "g").await;
    let root = s.fs_share(&a, "g", "").await.expect("share").root;
    let f = s
        .fs_create(
            &a,
            "fs+g",
            root.ino,
            "f",
            FsCreate::Guarded,
            FsSetAttr::default(),
        )
        .await
        .expect("create")
        .attr;
    for (ino, ctime) in [(f.ino, f.ctime_ns), (root.ino, root.ctime_ns)] {
        let stale = FsSetAttr {
            mode: Some(0o600),
            guard_ctime: Some(ctime - 1),
            ..Default::default()
        };
        assert!(matches!(
            s.fs_setattr(&a, "fs+g", ino, stale).await,
            Err(StoreError::PreconditionFailed)
        ));
        assert_ne!(s.fs_getattr(&a, "fs+g", ino).expect("attr").mode, 0o600);
        let none = FsSetAttr {
            guard_ctime: Some(ctime - 1),
            ..Default::default()
        };
        assert!(matches!(
            s.fs_setattr(&a, "fs+g", ino, none).await,
            Err(StoreError::PreconditionFailed)
        ));
        let current = FsSetAttr {
            guard_ctime: Some(s.fs_getattr(&a, "fs+g", ino).expect("attr").ctime_ns),
            ..stale
        };
        let set = s.fs_setattr(&a, "fs+g", ino, current).await.expect("set");
        assert_eq!(set.mode, 0o600);
    }
    s.close();
}
