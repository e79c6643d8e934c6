//! The write-back buffer behind UNSTABLE writes (issue 18, "perf"): bytes wait in windows in
//! memory (within a budget) or in a scratch file on the data disk, sparse buffers are not
//! flushed early, and a run of writes is checked against the quotas once. What a client and S3
//! see must stay exactly what was written.

use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{Conn, create, getattr, mount, read_all, s3_get, share};

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One WRITE; the reply's `committed`, or the status.
async fn write(
    c: &mut Conn,
    f: &nfs_fh3,
    offset: u64,
    data: &[u8],
    stable: stable_how,
) -> Result<stable_how, nfsstat3> {
    crate::nfs::write_as(c, f, offset, data, stable)
        .await
        .map(|(committed, _, _)| committed)
}

async fn commit(c: &mut Conn, f: &nfs_fh3) -> Result<(), nfsstat3> {
    crate::nfs::commit(c, f).await.map(drop)
}

/// The admin as peer 127.0.0.1 (so it may write).
async fn admin_peer(srv: &TestServer) {
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
}

/// Random writes of every size over a file of several chunks, overlapping each other, past its
/// end (leaving holes of zeros) and across chunk boundaries, through two connections at once,
/// then COMMIT: NFS and S3 read exactly the model, the size included.
#[tokio::test]
async fn nfs_scattered_unstable_writes_land_as_written() {
    let srv = TestServer::start().await;
    share(&srv, "scatter", false).await;
    admin_peer(&srv).await;
    let mut a = mount(&srv, "scatter").await.expect("mount");
    let mut b = mount(&srv, "scatter").await.expect("mount");
    let root = a.root_nfs_fh3();
    let f = create(
        &mut a,
        &root,
        "s.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let mut model = bytes(3 << 20, 1);
    for (i, piece) in model.chunks(1 << 20).enumerate() {
        write(&mut a, &f, (i << 20) as u64, piece, stable_how::UNSTABLE)
            .await
            .expect("fill");
    }
    commit(&mut a, &f).await.expect("commit fill");
    let mut seed = 5u64;
    for k in 0..400u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Up to 6 MiB: the file grows past its end with holes in between.
        let off = ((seed >> 24) % (6 << 20)) as usize;
        let len = [1, 100, 4096, 5000, 70_000, 1 << 20][(seed >> 8) as usize % 6];
        let data = bytes(len, k + 100);
        if model.len() < off + len {
            model.resize(off + len, 0);
        }
        model[off..off + len].copy_from_slice(&data);
        // Two writers, one after the other (each waits for its reply): the later one wins.
        let c = if k % 2 == 0 { &mut a } else { &mut b };
        let got = write(c, &f, off as u64, &data, stable_how::UNSTABLE)
            .await
            .expect("write");
        assert!(matches!(got, stable_how::UNSTABLE), "{got:?}");
    }
    assert_eq!(
        getattr(&mut b, &f).await.expect("getattr").size,
        model.len() as u64,
        "the size counts every buffered write"
    );
    commit(&mut a, &f).await.expect("commit");
    assert!(read_all(&mut b, &f).await == model, "NFS reads the model");
    assert!(
        s3_get(&srv, "fs+scatter", "s.bin").await == model,
        "S3 reads the model"
    );

    // Two writers at once on disjoint 64 KiB blocks while a third connection's GETATTRs flush
    // the buffer under them: every block lands once, whichever buffer it went into.
    let g = create(
        &mut a,
        &root,
        "t.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create t");
    let block = 64 << 10;
    let blocks = 96usize;
    let mut cc = mount(&srv, "scatter").await.expect("mount");
    let writer = |c: &'static mut Conn, parity: usize, g: nfs_fh3| async move {
        for i in (parity..blocks).step_by(2) {
            let data = bytes(block, i as u64 + 7);
            write(c, &g, (i * block) as u64, &data, stable_how::UNSTABLE)
                .await
                .expect("write block");
        }
    };
    let (a, b) = (Box::leak(Box::new(a)), Box::leak(Box::new(b)));
    let flusher = async {
        for _ in 0..40 {
            getattr(&mut cc, &g).await.expect("getattr");
        }
    };
    tokio::join!(writer(a, 0, g.clone()), writer(b, 1, g.clone()), flusher);
    commit(&mut cc, &g).await.expect("commit t");
    let want: Vec<u8> = (0..blocks)
        .flat_map(|i| bytes(block, i as u64 + 7))
        .collect();
    assert!(read_all(&mut cc, &g).await == want, "every block once");
}

/// Three files streamed at once, 1 MiB WRITEs in turn and some windows sent as two halves in
/// reverse order, 48 MiB in all: three times the windows the buffer holds in memory, so
/// windows wait for flushes (or, timing permitting, go to scratch files) and reuse buffers
/// given back by earlier flushes; one file's last window is rewritten and patched while
/// buffered, and patched across a window boundary. NFS and S3 read exactly what was written.
#[tokio::test]
async fn nfs_streams_past_the_memory_budget_land_as_written() {
    let srv = TestServer::start().await;
    share(&srv, "streams", false).await;
    admin_peer(&srv).await;
    let mut c = mount(&srv, "streams").await.expect("mount");
    let root = c.root_nfs_fh3();
    let mib = 1usize << 20;
    let mut files = Vec::new();
    for (i, name) in ["a.bin", "b.bin", "c.bin"].into_iter().enumerate() {
        let f = create(
            &mut c,
            &root,
            name,
            createhow3::UNCHECKED(sattr3::default()),
        )
        .await
        .expect("create");
        files.push((name, f, bytes(16 * mib, 40 + i as u64)));
    }
    for w in 0..16 {
        for (i, (_, f, model)) in files.iter().enumerate() {
            let window = &model[w * mib..(w + 1) * mib];
            if (w + i) % 3 == 0 {
                // The second half first: a large piece that does not start its window.
                let half = mib / 2;
                for (at, piece) in [(half, &window[half..]), (0, &window[..half])] {
                    write(
                        &mut c,
                        f,
                        (w * mib + at) as u64,
                        piece,
                        stable_how::UNSTABLE,
                    )
                    .await
                    .expect("write half");
                }
            } else {
                write(&mut c, f, (w * mib) as u64, window, stable_how::UNSTABLE)
                    .await
                    .expect("write window");
            }
        }
    }
    // A whole window rewritten, then patched inside it and across the boundary before it.
    let (_, f, model) = &mut files[1];
    let whole = bytes(mib, 98);
    model[15 * mib..].copy_from_slice(&whole);
    write(&mut c, f, (15 * mib) as u64, &whole, stable_how::UNSTABLE)
        .await
        .expect("rewrite");
    for (at, seed) in [(15 * mib + 5000, 99), (15 * mib - 1024, 97)] {
        let patch = bytes(3 << 10, seed);
        model[at..at + patch.len()].copy_from_slice(&patch);
        write(&mut c, f, at as u64, &patch, stable_how::UNSTABLE)
            .await
            .expect("patch");
    }
    for (name, f, model) in &files {
        commit(&mut c, f).await.expect("commit");
        assert!(
            read_all(&mut c, f).await == *model,
            "NFS reads {name} as written"
        );
        assert!(
            s3_get(&srv, "fs+streams", name).await == *model,
            "S3 reads {name} as written"
        );
    }
}

/// A file written 4 KiB at a time is checked against the quota ahead of the writes (once per
/// several MiB), yet the write that would cross the quota is still refused with DQUOT at once,
/// and what was written before it is kept whole.
#[tokio::test]
async fn nfs_appending_small_writes_stop_exactly_at_the_quota() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "tight".into(),
                quota_bytes: 1_000_000,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    admin_peer(&srv).await;
    let mut c = mount(&srv, "tight").await.expect("mount");
    let root = c.root_nfs_fh3();
    let f = create(
        &mut c,
        &root,
        "a.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let data = bytes(1 << 20, 3);
    let mut written = 0usize;
    for page in data.chunks(4096) {
        match write(&mut c, &f, written as u64, page, stable_how::UNSTABLE).await {
            Ok(_) => written += page.len(),
            Err(s) => {
                assert_eq!(s, nfsstat3::NFS3ERR_DQUOT);
                break;
            }
        }
    }
    // 244 pages end at 999,424 bytes; the 245th would end at 1,003,520.
    assert_eq!(
        written,
        244 * 4096,
        "the first write past the quota is refused"
    );
    commit(&mut c, &f).await.expect("commit");
    assert!(read_all(&mut c, &f).await == data[..written]);
}

/// Another file filling the quota while a writer is inside the room its last check allowed:
/// the writer's UNSTABLE writes were answered, and its COMMIT says DQUOT (the client's fsync
/// or close reports it) instead of claiming the bytes are stored; nothing past the quota is.
#[tokio::test]
async fn nfs_quota_taken_meanwhile_is_reported_at_commit() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "shared".into(),
                quota_bytes: 20 << 20,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    admin_peer(&srv).await;
    let mut c = mount(&srv, "shared").await.expect("mount");
    let root = c.root_nfs_fh3();
    let f = create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create f");
    let g = create(&mut c, &root, "g", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create g");
    // f checked once (room for several MiB more), then g takes almost all of the quota.
    write(&mut c, &f, 0, &bytes(4096, 1), stable_how::UNSTABLE)
        .await
        .expect("f");
    let big = bytes(1 << 20, 2);
    for i in 0..19u64 {
        write(&mut c, &g, i << 20, &big, stable_how::FILE_SYNC)
            .await
            .expect("g");
    }
    // f grows by 2 MiB within its checked room: answered UNSTABLE (nothing stored yet).
    let more = bytes(1 << 20, 3);
    for i in 0..2u64 {
        let got = write(&mut c, &f, 4096 + (i << 20), &more, stable_how::UNSTABLE)
            .await
            .expect("f grows");
        assert!(matches!(got, stable_how::UNSTABLE));
    }
    assert_eq!(commit(&mut c, &f).await, Err(nfsstat3::NFS3ERR_DQUOT));
    assert!(
        s3_get(&srv, "fs+shared", "f").await.len() <= 4096,
        "nothing past the quota was stored"
    );
}

/// A WRITE of no bytes changes nothing, at any offset and stability (RFC 1813 §3.3.7: it
/// "will succeed and return a count of zero, barring errors due to permission checking"):
/// not the size, not the times; its attributes before and after are the file's as it is.
#[tokio::test]
async fn nfs_zero_length_write_changes_nothing() {
    use nfs3_client::nfs3_types::xdr_codec::Opaque;
    let srv = TestServer::start().await;
    share(&srv, "zero", true).await;
    crate::nfs::s3_put(&srv, "fs+zero", "f", b"abc".to_vec()).await;
    let zero_write = |file: &nfs_fh3, offset: u64, stable: stable_how| WRITE3args {
        file: file.clone(),
        offset,
        count: 0,
        stable,
        data: Opaque::borrowed(&[]),
    };
    // The guest may read this share, not write it: refused, as for any write.
    let mut g = mount(&srv, "zero").await.expect("guest mount");
    let groot = g.root_nfs_fh3();
    let (gf, _) = crate::nfs::lookup(&mut g, &groot, "f").await.expect("f");
    let r = g
        .write(&zero_write(&gf, 0, stable_how::FILE_SYNC))
        .await
        .expect("rpc");
    assert!(matches!(r, Nfs3Result::Err((nfsstat3::NFS3ERR_ACCES, _))));

    admin_peer(&srv).await;
    let mut c = mount(&srv, "zero").await.expect("mount");
    let root = c.root_nfs_fh3();
    let (f, _) = crate::nfs::lookup(&mut c, &root, "f").await.expect("f");
    let before = getattr(&mut c, &f).await.expect("getattr");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for stable in [
        stable_how::UNSTABLE,
        stable_how::DATA_SYNC,
        stable_how::FILE_SYNC,
    ] {
        for offset in [0, 3, 1 << 20] {
            let r = c.write(&zero_write(&f, offset, stable)).await.expect("rpc");
            let ok = match r {
                Nfs3Result::Ok(ok) => ok,
                Nfs3Result::Err((s, _)) => panic!("{stable:?} at {offset}: {s}"),
            };
            assert_eq!(ok.count, 0);
            let (Nfs3Option::Some(pre), Nfs3Option::Some(post)) =
                (ok.file_wcc.before, ok.file_wcc.after)
            else {
                panic!("a zero-length write without its attributes");
            };
            assert_eq!(
                (pre.size, pre.mtime, pre.ctime),
                (post.size, post.mtime, post.ctime)
            );
            assert_eq!(
                (post.size, post.mtime, post.ctime),
                (3, before.mtime, before.ctime),
                "{stable:?} at {offset}"
            );
        }
    }
    commit(&mut c, &f).await.expect("commit");
    let after = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!(
        (after.size, after.mtime, after.ctime),
        (3, before.mtime, before.ctime)
    );
    assert_eq!(s3_get(&srv, "fs+zero", "f").await, b"abc");
    // A directory is still no file to write.
    let r = c
        .write(&zero_write(&root, 0, stable_how::UNSTABLE))
        .await
        .expect("rpc");
    assert!(matches!(r, Nfs3Result::Err((nfsstat3::NFS3ERR_ISDIR, _))));
}

/// Buffered UNSTABLE writes reach the store before a GETATTR or READ through a version-1
/// handle (minted before handles followed the address, still accepted) as through any other.
#[tokio::test]
async fn nfs_unstable_writes_are_flushed_for_version_1_handles_too() {
    use gatehouse_nfs::handle::{Bearer, Handle, Signer, principal_tag};
    let srv = TestServer::start().await;
    share(&srv, "v1", false).await;
    admin_peer(&srv).await;
    let mut c = mount(&srv, "v1").await.expect("mount");
    let root = c.root_nfs_fh3();
    let f = create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    let signer = Signer::new(srv.store().derive_key("nfs-handle"));
    let word = |at: usize| u64::from_be_bytes(f.data[at..at + 8].try_into().expect("8 bytes"));
    let old = nfs_fh3 {
        data: signer
            .mint(
                Handle {
                    bucket_id: word(1),
                    ino: word(9),
                    generation: 0,
                },
                &Bearer::Principal(principal_tag(&srv.admin().user_id)),
            )
            .into(),
    };
    let data = bytes(5000, 7);
    assert_eq!(
        write(&mut c, &old, 0, &data, stable_how::UNSTABLE).await,
        Ok(stable_how::UNSTABLE)
    );
    assert_eq!(
        getattr(&mut c, &old).await.expect("getattr").size,
        data.len() as u64
    );
    assert!(read_all(&mut c, &old).await == data);
}
