//! Store-level tests of what keeps a chunk file and what lets it go: pins held until a
//! dropped request's commit has landed, freed chunks kept while pinned and until the grace
//! after their latest free, DeleteObjects failing whole on a storage error, and a damaged
//! chunk file written again by the next write of its bytes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::tests::{admin, body, data, open, put};
use crate::ops::PutOptions;
use crate::{Store, StoreConfig, StoreError};

/// Every byte of `key`, read and verified (an error when a chunk is missing or damaged).
async fn read_all(s: &Store, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
    let info = s.get_object(&admin(), bucket, key)?;
    let mut st = s.read_data(&info.record.data, 0..info.record.size);
    let mut out = Vec::new();
    while let Some(piece) = st.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

fn chunk_files(s: &Store) -> usize {
    s.inner.blobs.all_chunks().expect("chunks").len()
}

/// A PUT whose request is dropped (the client went away) after its commit was queued: its
/// chunks stay pinned until that commit has landed, so a GC meanwhile cannot delete what the
/// commit then names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_put_keeps_its_chunks_pinned_until_its_commit_lands() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    // Hold the commit thread, so the PUT's job waits in the queue.
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let s = s.clone();
        tokio::spawn(async move {
            s.inner
                .committer
                .write(move |_| {
                    let _ = entered_tx.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
                .await
        })
    };
    tokio::task::spawn_blocking(move || entered_rx.recv())
        .await
        .expect("join")
        .expect("the blocker runs");
    let bytes = data(2 << 20, 21);
    let request = s.put_object(
        &p,
        "bkt",
        "k",
        body(bytes.clone()),
        PutOptions::default(),
        |_| Ok(()),
    );
    // Staged and queued by then; the request is dropped while it waits for the commit.
    let gave_up = tokio::time::timeout(Duration::from_secs(2), request).await;
    assert!(gave_up.is_err(), "the commit cannot have landed yet");
    assert_eq!(chunk_files(&s), 2);
    let gc = s.gc(Some(Duration::ZERO)).await.expect("gc");
    assert_eq!(gc.deleted, 0, "GC deleted the chunks of a queued commit");
    release_tx.send(()).expect("release");
    blocker.await.expect("join").expect("blocker");
    // The commit landed: the object is there, whole.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match read_all(&s, "bkt", "k").await {
            Ok(got) => {
                assert!(got == bytes, "the object's bytes");
                break;
            }
            Err(StoreError::NoSuchKey) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the object does not read back: {e:?}"),
        }
    }
}

/// A freed chunk that a reader still holds is kept by the freed-chunk round, and deleted by a
/// later round once the reader is done (its row in `chunk_freed` stayed).
#[tokio::test]
async fn a_pinned_freed_chunk_is_deleted_by_a_later_round() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    put(&s, "bkt", "k", data(2 << 20, 22)).await;
    // A GET holds the chunks; the object is deleted meanwhile.
    let (_, pins) = s.open_object(&p, "bkt", "k").expect("open");
    s.delete_object(&p, "bkt", "k").await.expect("rm");
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (2, 0), "{g:?}");
    assert_eq!(chunk_files(&s), 2);
    drop(pins);
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (2, 2), "{g:?}");
    assert_eq!(chunk_files(&s), 0);
    // Done with: nothing left to look at.
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (0, 0), "{g:?}");
}

/// Decision 0034: no chunk is deleted sooner than the grace after it was freed, counted from
/// its latest free: freed, referenced again and freed again, it waits from the second free.
#[tokio::test]
async fn the_grace_counts_from_a_chunks_latest_free() {
    let dir = tempfile::tempdir().expect("tmp");
    let grace = Duration::from_secs(6);
    let mut cfg = StoreConfig::new(dir.path());
    cfg.gc_grace = grace;
    let s = Store::open(cfg).expect("open").0;
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    let bytes = data(2 << 20, 23);
    put(&s, "bkt", "a", bytes.clone()).await;
    s.delete_object(&p, "bkt", "a").await.expect("rm");
    let first_free = Instant::now();
    tokio::time::sleep(grace / 2).await;
    // The same bytes again (deduplicated onto the freed chunks), then freed again.
    put(&s, "bkt", "b", bytes.clone()).await;
    s.delete_object(&p, "bkt", "b").await.expect("rm");
    let second_free = Instant::now();
    // Past the grace of the first free, within the grace of the second.
    tokio::time::sleep((first_free + grace + grace / 10).saturating_duration_since(Instant::now()))
        .await;
    assert!(
        second_free.elapsed() < grace,
        "the test ran too slowly to tell"
    );
    let g = s.gc_freed().await.expect("gc");
    assert_eq!(
        g.deleted, 0,
        "deleted by the grace of its first free: {g:?}"
    );
    assert_eq!(chunk_files(&s), 2);
    tokio::time::sleep(
        (second_free + grace + grace / 10).saturating_duration_since(Instant::now()),
    )
    .await;
    let g = s.gc_freed().await.expect("gc");
    assert_eq!(g.deleted, 2, "{g:?}");
    assert_eq!(chunk_files(&s), 0);
    let g = s.gc_freed().await.expect("gc");
    assert_eq!((g.scanned, g.deleted), (0, 0), "rows left behind: {g:?}");
}

/// Makes `key`'s inode unreadable (its record gone, its entry left): a delete of it meets a
/// storage error.
async fn break_inode(s: &Store, bucket: &str, key: &str) {
    let ino = s.get_object(&admin(), bucket, key).expect("get").ino;
    s.inner
        .committer
        .write(move |t| {
            t.open_table(crate::tables::INODES)?.remove(ino)?;
            Ok(())
        })
        .await
        .expect("break");
}

/// DeleteObjects: a key whose removal meets a storage error fails the whole request, and the
/// shared transaction commits none of it; ordinary refusals stay per key.
#[tokio::test]
async fn a_storage_error_in_one_key_fails_the_whole_delete_objects() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    for k in ["a", "broken"] {
        put(&s, "bkt", k, data(1000, 24)).await;
    }
    break_inode(&s, "bkt", "broken").await;
    let r = s
        .delete_objects(&p, "bkt", vec!["a".into(), "broken".into()])
        .await;
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    s.get_object(&p, "bkt", "a")
        .expect("a was deleted by a failed request");

    // The versioned path (each entry with or without a version id) the same way.
    s.set_versioning(&p, "bkt", crate::model::Versioning::Enabled)
        .await
        .expect("versioning");
    let item = |k: &str| crate::versioning::DeleteItem {
        key: k.into(),
        version_id: None,
        if_match: None,
    };
    let r = s
        .delete_versions(&p, "bkt", vec![item("a"), item("broken")], false)
        .await;
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    s.get_object(&p, "bkt", "a")
        .expect("a was deleted by a failed request");

    // A refusal (a condition that does not hold) is that key's answer only.
    let mut cond = item("a");
    cond.if_match = Some("\"not-its-etag\"".into());
    let r = s
        .delete_versions(&p, "bkt", vec![cond, item("missing")], false)
        .await
        .expect("per-key answers");
    assert!(matches!(r[0], Err(StoreError::PreconditionFailed)), "{r:?}");
    assert!(r[1].is_ok(), "{r:?}");
}

/// A chunk file cut short by a power loss (`storage.fsync: metadata`) is not lent to the
/// next write of the same bytes: that write stores it again, and both objects read back.
#[tokio::test]
async fn a_truncated_chunk_file_is_written_again_by_the_next_write_of_its_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    let bytes = data(2 << 20, 25);
    put(&s, "bkt", "a", bytes.clone()).await;
    let first = s
        .get_object(&p, "bkt", "a")
        .expect("get")
        .record
        .data
        .chunks()[0]
        .hash;
    let hex = hex::encode(first);
    let path = dir
        .path()
        .join("blobs")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(&hex);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(0))
        .expect("truncate");
    assert!(
        read_all(&s, "bkt", "a").await.is_err(),
        "a reads the damage"
    );
    put(&s, "bkt", "b", bytes.clone()).await;
    for k in ["a", "b"] {
        let got = read_all(&s, "bkt", k).await.expect("read");
        assert!(got == bytes, "{k}");
    }
}

/// A PUT dropped mid-body (an HTTP/2 stream reset, a request given up on at shutdown): the
/// chunks it had written are removed, not left for the GC's walk of every chunk file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_dropped_mid_body_removes_the_chunks_it_wrote() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(dir.path());
    let p = admin();
    s.create_bucket(&p, "bkt").await.expect("mb");
    // 3 MiB arrive, then the body stalls for good.
    let first = bytes::Bytes::from(data(3 << 20, 23));
    let stalls = futures_util::stream::iter([Ok::<_, std::io::Error>(first)])
        .chain(futures_util::stream::pending());
    let request = s.put_object(&p, "bkt", "k", stalls, PutOptions::default(), |_| Ok(()));
    let gave_up = tokio::time::timeout(Duration::from_millis(500), request).await;
    assert!(gave_up.is_err(), "the body never ends");
    // Its writes finish and are removed by a task; no GC runs here.
    let deadline = Instant::now() + Duration::from_secs(5);
    while chunk_files(&s) != 0 {
        assert!(
            Instant::now() < deadline,
            "{} chunk files left behind",
            chunk_files(&s)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(
        s.get_object(&p, "bkt", "k"),
        Err(StoreError::NoSuchKey)
    ));
}
