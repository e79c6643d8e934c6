//! GC edges (issue 17, wave 2): a reader in flight keeps its data (a GET streaming a large
//! object that is deleted and garbage-collected meanwhile still sends every byte; once it ends,
//! GC frees the chunks), and a full disk met by the metadata commit starts a GC run too.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// `POST /api/gc` as the bootstrap admin.
async fn gc_now(srv: &TestServer) {
    let (status, body) = crate::admin_api::Api::admin(srv)
        .basic("POST", "/api/gc", Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_get_in_flight_survives_delete_and_gc_and_its_chunks_are_freed_after() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("rdb").send().await.expect("mb");
    // 48 chunks: far more than the socket buffers hold, so most of them are still unopened
    // when the first bytes arrive.
    let data = bytes(48 << 20, 41);
    c.put_object()
        .bucket("rdb")
        .key("big")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let files = srv.chunk_files();
    assert!(files >= 48, "{files} chunk files");

    let got = c
        .get_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect("get");
    let mut body = got.body;
    let mut received = Vec::with_capacity(data.len());
    while received.len() < 64 << 10 {
        let piece = body.next().await.expect("more body").expect("first bytes");
        received.extend_from_slice(&piece);
    }

    // The object goes away and GC runs at once while the GET is still streaming.
    c.delete_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect("delete");
    gc_now(&srv).await;
    let kept = srv.chunk_files();

    while let Some(piece) = body.next().await {
        received.extend_from_slice(&piece.expect("the rest of the body arrives"));
    }
    assert_eq!(received.len(), data.len(), "every byte arrived");
    assert!(received == data, "and they are the object's bytes");
    assert_eq!(kept, files, "GC kept the chunks of the object being read");
    drop(body);

    // The GET is over: its pins are gone, so the next GC frees the chunks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        gc_now(&srv).await;
        if srv.chunk_files() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} chunk files stayed after the GET ended",
            srv.chunk_files()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = c
        .get_object()
        .bucket("rdb")
        .key("big")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&e), "NoSuchKey");
}

/// Fills the file system holding `dir` to the last byte with a file in `dir`.
fn fill_disk(dir: &std::path::Path) -> std::fs::File {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).expect("filler");
    for block in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let buf = vec![0u8; block];
        while f.write_all(&buf).is_ok() {}
    }
    f
}

/// A write whose metadata commit meets a full disk starts a GC run, as one that meets it while
/// staging chunks does. redb 4 then refuses every later write until the database is opened
/// again (its "previous I/O error" latch): what comes back at once is the disk space, and a
/// restart finds room to commit.
#[tokio::test]
async fn a_full_disk_at_the_metadata_commit_collects_garbage() {
    let Some(mnt) = Tmpfs::mount("24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root)");
        return;
    };
    let dir = tempfile::tempdir_in(mnt.path()).expect("tmp");
    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    c.create_bucket().bucket("meta").send().await.expect("mb");
    // 6 MiB of deleted chunks wait for the grace period (15 min).
    c.put_object()
        .bucket("meta")
        .key("junk")
        .body(ByteStream::from(bytes(6 << 20, 77)))
        .send()
        .await
        .expect("put");
    c.delete_object()
        .bucket("meta")
        .key("junk")
        .send()
        .await
        .expect("delete");
    assert_eq!(srv.chunk_files(), 6);
    let filler = fill_disk(mnt.path());

    // Inline objects (60 KiB, under inline_max): staging writes no file, only the database
    // grows, so the refusal comes from the commit.
    let small = |i: u64| {
        c.put_object()
            .bucket("meta")
            .key(format!("small-{i}"))
            .body(ByteStream::from(bytes(60 << 10, i)))
            .send()
    };
    let mut i = 0;
    let e = loop {
        match small(i).await {
            Ok(_) => i += 1,
            Err(e) => break e,
        }
        assert!(i < 400, "the disk never filled");
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(507), "{e:?}");
    assert!(
        srv.chunk_files() <= 6,
        "staging an inline object wrote no chunk"
    );

    // That refusal started a GC: the deleted object's chunk files go within seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.chunk_files() > 0 {
        assert!(
            Instant::now() < deadline,
            "the commit's full disk started no GC: {} chunk files stay",
            srv.chunk_files()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Health tells the truth about writes: redb refuses every write after a failed one until
    // it is opened again, and then `/api/health` must not say ok.
    let write = c
        .put_object()
        .bucket("meta")
        .key("after-gc")
        .body(ByteStream::from(bytes(1 << 10, 998)))
        .send()
        .await;
    let (status, body) = crate::admin_api::Api::admin(&srv)
        .basic("GET", "/api/health", Vec::new())
        .await;
    match write {
        Ok(_) => assert_eq!(status, 200, "writes work, health says so: {body}"),
        Err(e) => {
            assert_eq!(
                status, 503,
                "writes fail ({e:?}), health must say so: {body}"
            );
            let why = body["store"]["database_error"].as_str().unwrap_or_default();
            assert!(why.contains("restart gatehouse"), "{body}");
        }
    }

    // Opened again, the database commits in the space GC freed.
    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    c.put_object()
        .bucket("meta")
        .key("after-restart")
        .body(ByteStream::from(bytes(60 << 10, 999)))
        .send()
        .await
        .expect("a write after the restart");
    let got = c
        .get_object()
        .bucket("meta")
        .key("after-restart")
        .send()
        .await
        .expect("get");
    assert!(body_bytes(got).await == bytes(60 << 10, 999));
    let e = c
        .get_object()
        .bucket("meta")
        .key(format!("small-{i}"))
        .send()
        .await
        .expect_err("the refused write left nothing");
    assert_eq!(code(&e), "NoSuchKey");
    drop(filler);
}

/// The periodic GC reads the chunks freed since its last round, not every chunk file: a file
/// nothing refers to and nothing freed (what a crash between a chunk write and its commit
/// leaves) stays after a clean start's rounds, while a deleted object's chunks go; after an
/// unclean stop the first round walks the files once and removes it.
#[tokio::test]
async fn periodic_gc_reads_freed_chunks_and_walks_once_after_an_unclean_stop() {
    let dir = tempfile::tempdir().expect("tmp");
    let orphan_dir = dir.path().join("blobs/ab/cd");
    let orphan = orphan_dir.join(format!("abcd{}", "0".repeat(60)));
    let fast = |raw: &mut gatehouse::config::RawConfig| {
        raw.storage.gc_interval_secs = Some(1);
        raw.storage.gc_grace_secs = Some(0);
    };
    let srv = TestServer::start_in_with(dir, fast).await;
    let c = srv.client();
    c.create_bucket().bucket("gcb").send().await.expect("mb");
    for k in ["a", "b"] {
        c.put_object()
            .bucket("gcb")
            .key(k)
            .body(ByteStream::from(bytes(2 << 20, u64::from(k.as_bytes()[0]))))
            .send()
            .await
            .expect("put");
    }
    std::fs::create_dir_all(&orphan_dir).expect("dir");
    std::fs::write(&orphan, b"left by a crash").expect("orphan");
    c.delete_object()
        .bucket("gcb")
        .key("a")
        .send()
        .await
        .expect("rm");
    let chunk_files = |d: &std::path::Path| -> usize {
        let mut n = 0;
        let mut stack = vec![d.join("blobs")];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "tmp") {
                        stack.push(p);
                    }
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    // a's two chunks go within a few rounds; b's two and the orphan stay.
    let until = Instant::now() + Duration::from_secs(10);
    while chunk_files(&srv.data_dir()) > 3 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(chunk_files(&srv.data_dir()), 3);
    assert!(
        orphan.exists(),
        "a clean start's rounds do not walk the files"
    );

    // As after kill -9: the store is marked open.
    let dir = srv.stop().await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .insert("open", [1u8].as_slice())
            .expect("insert");
        t.commit().expect("commit");
    }
    let srv = TestServer::start_in_with(dir, fast).await;
    let until = Instant::now() + Duration::from_secs(10);
    while orphan.exists() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !orphan.exists(),
        "the walk after an unclean stop removes it"
    );
    assert_eq!(chunk_files(&srv.data_dir()), 2);
    let got = srv
        .client()
        .get_object()
        .bucket("gcb")
        .key("b")
        .send()
        .await
        .expect("b")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(got.len(), 2 << 20);
}
