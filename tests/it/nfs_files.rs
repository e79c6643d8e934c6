//! NFSv3 file semantics beyond the basics in `nfs.rs`, with the `nfs3_client` library:
//! symbolic links (objects with s3fs's link mode, visible to S3 both ways), sparse writes, and
//! UNSTABLE writes buffered until COMMIT with the write verifier.

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::xdr_codec::Opaque;

use crate::common::*;
use crate::nfs::{
    Conn, admin_mount, commit, create, dirop, getattr, lookup, mkdir, mount, read_all, remove,
    rename, s3_delete, s3_get, s3_put, share, write, write_as, writer,
};

async fn symlink(
    c: &mut Conn,
    dir: &nfs_fh3,
    name: &str,
    target: &[u8],
) -> Result<nfs_fh3, nfsstat3> {
    match c
        .symlink(&SYMLINK3args {
            where_: dirop(dir, name),
            symlink: symlinkdata3 {
                symlink_attributes: sattr3::default(),
                symlink_data: nfspath3(Opaque::owned(target.to_vec())),
            },
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match ok.obj {
            Nfs3Option::Some(h) => Ok(h),
            Nfs3Option::None => panic!("symlink without a handle"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn readlink(c: &mut Conn, h: &nfs_fh3) -> Result<Vec<u8>, nfsstat3> {
    match c
        .readlink(&READLINK3args { symlink: h.clone() })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => Ok(ok.data.0.to_vec()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn read_at(c: &mut Conn, h: &nfs_fh3, offset: u64, count: u32) -> Result<Vec<u8>, nfsstat3> {
    match c
        .read(&READ3args {
            file: h.clone(),
            offset,
            count,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => Ok(ok.data.to_vec()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// SETATTR of the mtime alone (SET_TO_CLIENT_TIME, whole seconds).
async fn set_mtime_to(c: &mut Conn, h: &nfs_fh3, seconds: u32) -> Result<(), nfsstat3> {
    let set = c
        .setattr(&SETATTR3args {
            object: h.clone(),
            new_attributes: sattr3 {
                mtime: set_mtime::SET_TO_CLIENT_TIME(nfstime3 {
                    seconds,
                    nseconds: 0,
                }),
                ..sattr3::default()
            },
            guard: Nfs3Option::None,
        })
        .await
        .expect("rpc");
    match set {
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

async fn chmod(c: &mut Conn, h: &nfs_fh3, mode: u32) -> Result<fattr3, nfsstat3> {
    match c
        .setattr(&SETATTR3args {
            object: h.clone(),
            new_attributes: sattr3 {
                mode: Nfs3Option::Some(mode),
                ..sattr3::default()
            },
            guard: Nfs3Option::None,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match ok.obj_wcc.after {
            Nfs3Option::Some(a) => Ok(a),
            Nfs3Option::None => panic!("setattr without attributes"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// SYMLINK stores the target as the object's content with `x-amz-meta-mode` = S_IFLNK|0777
/// (s3fs's convention); S3 reads it as an object, and an S3 PUT with that mode is a link over
/// NFS. READ of a link is INVAL, chmod keeps it a link, a second SYMLINK of the name is EXIST.
#[tokio::test]
async fn nfs_symlinks_are_objects_with_the_link_mode() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "links").await;
    let l = symlink(&mut c, &root, "latest", b"../releases/v2/app.tar")
        .await
        .expect("symlink");
    let a = getattr(&mut c, &l).await.expect("getattr");
    assert!(matches!(a.type_, ftype3::NF3LNK), "{a:?}");
    assert_eq!(a.mode, 0o777);
    assert_eq!(a.size, 22);
    assert_eq!(
        readlink(&mut c, &l).await.expect("readlink"),
        b"../releases/v2/app.tar"
    );
    let (again, la) = lookup(&mut c, &root, "latest").await.expect("lookup");
    assert_eq!(again.data.as_ref(), l.data.as_ref());
    assert!(matches!(la.type_, ftype3::NF3LNK));
    assert_eq!(
        read_at(&mut c, &l, 0, 100).await.err(),
        Some(nfsstat3::NFS3ERR_INVAL)
    );
    assert_eq!(
        symlink(&mut c, &root, "latest", b"x").await.err(),
        Some(nfsstat3::NFS3ERR_EXIST)
    );
    assert_eq!(
        symlink(&mut c, &root, "long", &vec![b'a'; 5000])
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    let after = chmod(&mut c, &l, 0o700).await.expect("chmod");
    assert!(
        matches!(after.type_, ftype3::NF3LNK) && after.mode == 0o700,
        "{after:?}"
    );

    // What S3 sees: the target as content, the mode with the link type bits.
    assert_eq!(
        s3_get(&srv, "fs+links", "latest").await,
        b"../releases/v2/app.tar"
    );
    let head = srv
        .client()
        .head_object()
        .bucket("fs+links")
        .key("latest")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("mode"))
            .map(String::as_str),
        Some(format!("{}", 0o120_700).as_str())
    );

    // An S3 client writing s3fs's link (mode 0120777) makes a link NFS follows.
    srv.client()
        .put_object()
        .bucket("fs+links")
        .key("docs/current")
        .metadata("mode", format!("{}", 0o120_777))
        .body(ByteStream::from_static(b"/srv/docs"))
        .send()
        .await
        .expect("put");
    let (docs, _) = lookup(&mut c, &root, "docs").await.expect("docs");
    let (cur, ca) = lookup(&mut c, &docs, "current").await.expect("current");
    assert!(matches!(ca.type_, ftype3::NF3LNK));
    assert_eq!(
        readlink(&mut c, &cur).await.expect("readlink"),
        b"/srv/docs"
    );
    // A link an S3 client wrote with a target longer than any path is refused, not cut short.
    srv.client()
        .put_object()
        .bucket("fs+links")
        .key("docs/far")
        .metadata("mode", format!("{}", 0o120_777))
        .body(ByteStream::from("/x".repeat(2100).into_bytes()))
        .send()
        .await
        .expect("put");
    let (far, _) = lookup(&mut c, &docs, "far").await.expect("far");
    assert_eq!(
        readlink(&mut c, &far).await.err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    // `.` and `..` exist in every directory: making one is EEXIST, as `mkdir(".")` is.
    for name in [".", ".."] {
        assert_eq!(
            mkdir(&mut c, &docs, name).await.err(),
            Some(nfsstat3::NFS3ERR_EXIST)
        );
        assert_eq!(
            create(&mut c, &docs, name, createhow3::GUARDED(sattr3::default()))
                .await
                .err(),
            Some(nfsstat3::NFS3ERR_EXIST)
        );
        assert_eq!(
            symlink(&mut c, &docs, name, b"t").await.err(),
            Some(nfsstat3::NFS3ERR_EXIST)
        );
    }
    // A regular file is not a link.
    let f = create(
        &mut c,
        &root,
        "plain",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    assert_eq!(
        readlink(&mut c, &f).await.err(),
        Some(nfsstat3::NFS3ERR_INVAL)
    );

    remove(&mut c, &root, "latest").await.expect("remove");
    assert_eq!(
        readlink(&mut c, &l).await.err(),
        Some(nfsstat3::NFS3ERR_STALE)
    );
}

/// A write far past the end of a small (inline) file zero-fills the gap; the bytes before
/// stay.
#[tokio::test]
async fn nfs_sparse_write_past_the_end_zero_fills() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "sparse").await;
    let f = create(&mut c, &root, "s", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    write(&mut c, &f, 0, b"head bytes").await.expect("head");
    let far = 3 << 20;
    write(&mut c, &f, far, b"tail").await.expect("tail");
    let all = read_all(&mut c, &f).await;
    assert_eq!(all.len() as u64, far + 4);
    assert_eq!(&all[..10], b"head bytes");
    assert!(all[10..far as usize].iter().all(|b| *b == 0));
    assert_eq!(&all[far as usize..], b"tail");
    assert_eq!(s3_get(&srv, "fs+sparse", "s").await, all);
}

/// UNSTABLE writes are answered UNSTABLE with the server's verifier and buffered; COMMIT (same
/// verifier) makes them what S3 reads. Random 4 KiB writes over four chunks, overlapping
/// ones, a FILE_SYNC write in between and READs (which see the buffered bytes) all end as the
/// model says.
#[tokio::test]
async fn nfs_unstable_writes_are_buffered_until_commit() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "wb").await;
    let f = create(
        &mut c,
        &root,
        "f.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let size = 4 << 20;
    let mut model = bytes(size, 11);
    for (i, piece) in model.chunks(1 << 20).enumerate() {
        write_as(&mut c, &f, (i << 20) as u64, piece, stable_how::FILE_SYNC)
            .await
            .expect("fill");
    }
    let mut seed = 99u64;
    let mut verifier = None;
    for k in 0..600u32 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let off = ((seed >> 20) % (size as u64 - 5000)) as usize;
        let len = if k % 7 == 0 { 5000 } else { 4096 };
        let data = bytes(len, u64::from(k) + 1000);
        model[off..off + len].copy_from_slice(&data);
        let stable = if k == 300 {
            stable_how::FILE_SYNC
        } else {
            stable_how::UNSTABLE
        };
        let (committed, verf, after) = write_as(&mut c, &f, off as u64, &data, stable)
            .await
            .expect("write");
        assert_eq!(after.size, size as u64);
        if k == 300 {
            assert!(matches!(committed, stable_how::FILE_SYNC));
        } else {
            assert!(matches!(committed, stable_how::UNSTABLE), "{committed:?}");
        }
        assert_eq!(
            *verifier.get_or_insert(verf),
            verf,
            "one verifier per server run"
        );
        if k % 150 == 149 {
            let back = read_at(&mut c, &f, off as u64, len as u32)
                .await
                .expect("read");
            assert_eq!(back, data, "a READ sees the buffered write");
        }
    }
    assert_eq!(
        commit(&mut c, &f).await.expect("commit"),
        verifier.expect("verifier")
    );
    assert!(
        s3_get(&srv, "fs+wb", "f.bin").await == model,
        "S3 reads what was committed"
    );
    assert!(read_all(&mut c, &f).await == model);

    // Appending UNSTABLE writes grow the file the attributes report at once.
    let g = create(
        &mut c,
        &root,
        "g.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create g");
    let data = bytes(3 << 20, 5);
    for (i, piece) in data.chunks(4096).enumerate() {
        let (_, _, after) = write_as(&mut c, &g, (i * 4096) as u64, piece, stable_how::UNSTABLE)
            .await
            .expect("append");
        assert_eq!(after.size, ((i + 1) * 4096) as u64);
    }
    assert_eq!(getattr(&mut c, &g).await.expect("getattr").size, 3 << 20);
    commit(&mut c, &g).await.expect("commit g");
    assert!(s3_get(&srv, "fs+wb", "g.bin").await == data);
}

/// Without a COMMIT, buffered bytes still reach the store within a few seconds, and a server
/// that stops commits what it holds first.
#[tokio::test]
async fn nfs_unstable_writes_reach_s3_without_commit_and_survive_a_stop() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "age").await;
    let f = create(
        &mut c,
        &root,
        "a.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    write_as(&mut c, &f, 0, b"written unstable", stable_how::UNSTABLE)
        .await
        .expect("write");
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = s3_get(&srv, "fs+age", "a.txt").await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, b"written unstable");

    let g = create(
        &mut c,
        &root,
        "b.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    write_as(&mut c, &g, 0, b"held at stop", stable_how::UNSTABLE)
        .await
        .expect("write");
    drop(c);
    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    assert_eq!(s3_get(&srv, "fs+age", "b.txt").await, b"held at stop");
}

/// An UNSTABLE write past the share quota is refused at once with DQUOT, counting what is
/// already buffered, and the file keeps what it had.
#[tokio::test]
async fn nfs_unstable_write_past_the_quota_is_dquot() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "small".into(),
                quota_bytes: 100_000,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let (mut c, root) = admin_mount(&srv, "small").await;
    let f = create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    write_as(&mut c, &f, 0, &bytes(60_000, 1), stable_how::UNSTABLE)
        .await
        .expect("fits");
    assert_eq!(
        write_as(&mut c, &f, 60_000, &bytes(60_000, 2), stable_how::UNSTABLE)
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_DQUOT)
    );
    commit(&mut c, &f).await.expect("commit");
    assert!(read_all(&mut c, &f).await == bytes(60_000, 1));
    // Unstable writes to a file that is gone: STALE at once.
    remove(&mut c, &root, "f").await.expect("remove");
    assert_eq!(
        write_as(&mut c, &f, 0, b"x", stable_how::UNSTABLE)
            .await
            .err(),
        Some(nfsstat3::NFS3ERR_STALE)
    );
}

/// A user's mount token (`GET /api/me/nfs-token`) mounts `/<share>@<token>` as that user from
/// an address nobody registered; a forged token, or the token after a credential rotation, is
/// refused, and handles minted through the old token stop working.
#[tokio::test]
async fn nfs_mount_tokens_act_as_their_user() {
    use crate::admin_api::Api;
    use crate::nfs::mount_refusal;
    use gatehouse_store::ops::SubjectRef;
    use gatehouse_store::rbac::Scope;
    use nfs3_client::nfs3_types::mount::mountstat3;

    let srv = TestServer::start().await;
    share(&srv, "tok", false).await;
    share(&srv, "other", false).await;
    let tina = srv.new_user("tina").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(tina.user_id.clone()),
            "bucket-write",
            Scope::Bucket("fs+tok".into()),
        )
        .await
        .expect("bind");
    assert!(
        matches!(
            mount_refusal(mount(&srv, "tok").await),
            mountstat3::MNT3ERR_ACCES
        ),
        "127.0.0.1 is nobody's peer: the guest may not read this share"
    );
    let r = Api::with(&srv, &tina.access_key, &tina.secret_key)
        .call("GET", "/api/me/nfs-token", None)
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["user_id"], tina.user_id);
    let token = r.1["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 40);

    let mut c = mount(&srv, &format!("tok@{token}"))
        .await
        .expect("token mount");
    let root = c.root_nfs_fh3();
    let f = create(
        &mut c,
        &root,
        "by-tina.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create as tina");
    write_as(&mut c, &f, 0, b"tina was here", stable_how::FILE_SYNC)
        .await
        .expect("write as tina");
    assert_eq!(
        s3_get(&srv, "fs+tok", "by-tina.txt").await,
        b"tina was here"
    );
    // A subdirectory mount with the token, as libnfs does for a URL's parent.
    mkdir(&mut c, &root, "sub").await.expect("mkdir");
    mount(&srv, &format!("tok@{token}/sub"))
        .await
        .expect("token mount of a subdirectory");

    // Forged, foreign-share and unknown-share tokens.
    let mut forged = token.clone().into_bytes();
    forged[39] = if forged[39] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("hex");
    assert!(matches!(
        mount_refusal(mount(&srv, &format!("tok@{forged}")).await),
        mountstat3::MNT3ERR_ACCES
    ));
    assert!(matches!(
        mount_refusal(mount(&srv, "tok@nonsense").await),
        mountstat3::MNT3ERR_ACCES
    ));
    assert!(
        matches!(
            mount_refusal(mount(&srv, &format!("other@{token}")).await),
            mountstat3::MNT3ERR_ACCES
        ),
        "tina has no binding on share other"
    );
    assert!(matches!(
        mount_refusal(mount(&srv, &format!("nosuch@{token}")).await),
        mountstat3::MNT3ERR_NOENT
    ));

    // Rotation revokes the token and what was minted through it.
    let rotated = srv
        .store()
        .rotate_credentials(&srv.admin(), &tina.user_id)
        .await
        .expect("rotate");
    assert_eq!(
        getattr(&mut c, &f).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE)
    );
    assert!(matches!(
        mount_refusal(mount(&srv, &format!("tok@{token}")).await),
        mountstat3::MNT3ERR_ACCES
    ));
    let r = Api::with(&srv, &rotated.access_key, &rotated.secret_key)
        .call("GET", "/api/me/nfs-token", None)
        .await;
    let new_token = r.1["token"].as_str().expect("token").to_string();
    assert_ne!(new_token, token);
    let mut c = mount(&srv, &format!("tok@{new_token}"))
        .await
        .expect("new token");
    let root = c.root_nfs_fh3();
    let (_, a) = lookup(&mut c, &root, "by-tina.txt").await.expect("lookup");
    assert_eq!(a.size, 13);
}

/// Hostile names and offsets get their status, change nothing, and the mount keeps working;
/// SETATTR fields are independent (`chmod 000` reads back 000, an mtime-only set keeps the
/// mode).
#[tokio::test]
async fn nfs_bad_names_and_offsets_are_refused_and_setattr_fields_are_independent() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "bad").await;
    let long = "x".repeat(256);
    for (name, want) in [
        ("a/b", nfsstat3::NFS3ERR_INVAL),
        ("nul\0byte", nfsstat3::NFS3ERR_INVAL),
        // They exist in every directory: EEXIST, as `mkdir(".")` is and knfsd answers.
        (".", nfsstat3::NFS3ERR_EXIST),
        ("..", nfsstat3::NFS3ERR_EXIST),
        ("", nfsstat3::NFS3ERR_INVAL),
        (long.as_str(), nfsstat3::NFS3ERR_NAMETOOLONG),
    ] {
        let got = create(
            &mut c,
            &root,
            name,
            createhow3::UNCHECKED(sattr3::default()),
        )
        .await;
        assert_eq!(got.err(), Some(want), "create {name:?}");
        let got = symlink(&mut c, &root, name, b"t").await;
        assert_eq!(got.err(), Some(want), "symlink {name:?}");
        let made = mkdir(&mut c, &root, name).await;
        assert_eq!(made.err(), Some(want), "mkdir {name:?}");
    }
    let listed = srv
        .client()
        .list_objects_v2()
        .bucket("fs+bad")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0), "nothing was created");

    let f = create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    write_as(&mut c, &f, 0, b"keep", stable_how::FILE_SYNC)
        .await
        .expect("write");
    for stable in [stable_how::UNSTABLE, stable_how::FILE_SYNC] {
        for off in [u64::MAX - 1, u64::MAX - 4096, 1 << 62] {
            assert_eq!(
                write_as(&mut c, &f, off, b"ab", stable).await.err(),
                Some(nfsstat3::NFS3ERR_FBIG),
                "offset {off} {stable:?}"
            );
        }
    }
    commit(&mut c, &f).await.expect("commit");
    assert_eq!(read_all(&mut c, &f).await, b"keep");

    let zero = chmod(&mut c, &f, 0).await.expect("chmod 000");
    assert_eq!(zero.mode, 0);
    assert_eq!(getattr(&mut c, &f).await.expect("getattr").mode, 0);
    set_mtime_to(&mut c, &f, 1_000_000_000)
        .await
        .expect("setattr mtime");
    let a = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!((a.mode, a.mtime.seconds, a.size), (0, 1_000_000_000, 4));
}

/// `nfs.async: true`: creates, mkdir, rename and remove are answered before they are durable,
/// yet visible to S3 at once, and a clean stop leaves every one of them on disk (handles and
/// file ids kept).
#[tokio::test]
async fn nfs_async_metadata_is_visible_at_once_and_kept_by_a_clean_stop() {
    let srv = TestServer::start_with(|c| c.nfs.async_ = Some(true)).await;
    let (mut c, root) = writer(&srv, "fast").await;
    let d = mkdir(&mut c, &root, "d").await.expect("mkdir");
    for i in 0..50 {
        create(
            &mut c,
            &d,
            &format!("f{i}"),
            createhow3::UNCHECKED(sattr3::default()),
        )
        .await
        .expect("create");
    }
    let f = create(
        &mut c,
        &root,
        "kept.txt",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut c, &f, 0, b"kept").await.expect("write");
    rename(&mut c, (&d, "f0"), (&root, "moved"))
        .await
        .expect("rename");
    remove(&mut c, &d, "f1").await.expect("remove");
    let listed = |srv: &TestServer| {
        let client = srv.client();
        async move {
            let out = client
                .list_objects_v2()
                .bucket("fs+fast")
                .send()
                .await
                .expect("list");
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    let keys = listed(&srv).await;
    assert_eq!(keys.len(), 1 + 48 + 1 + 1, "{keys:?}"); // d/, d/f2..f49, kept.txt, moved
    assert!(keys.contains(&"moved".to_string()) && !keys.contains(&"d/f1".to_string()));
    let fileid = getattr(&mut c, &f).await.expect("getattr").fileid;
    drop(c);

    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |c| c.nfs.async_ = Some(true)).await;
    assert_eq!(listed(&srv).await, keys);
    let mut c = mount(&srv, "fast").await.expect("mount again");
    assert_eq!(
        getattr(&mut c, &f).await.expect("old handle").fileid,
        fileid
    );
    assert_eq!(read_all(&mut c, &f).await, b"kept");
}

/// `nfs.async` answers before it commits; every read commits what was answered first. With
/// four clients creating and removing at once, what each was told is what S3 shows next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nfs_async_answers_are_what_s3_sees_next_with_clients_racing() {
    let srv = TestServer::start_with(|c| c.nfs.async_ = Some(true)).await;
    let _ = writer(&srv, "race").await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let mut c = mount(&srv, "race").await.expect("mount");
        let root = c.root_nfs_fh3();
        let s3 = srv.client();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let name = format!("w{w}-{i}");
                create(
                    &mut c,
                    &root,
                    &name,
                    createhow3::UNCHECKED(sattr3::default()),
                )
                .await
                .expect("create");
                let head = s3.head_object().bucket("fs+race").key(&name).send().await;
                assert!(head.is_ok(), "{name} answered but not in S3: {head:?}");
                if i % 2 == 0 {
                    remove(&mut c, &root, &name).await.expect("remove");
                    let head = s3.head_object().bucket("fs+race").key(&name).send().await;
                    assert!(head.is_err(), "{name} removed but still in S3");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let listed = srv
        .client()
        .list_objects_v2()
        .bucket("fs+race")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(4 * 20));
}

/// Reading chunk i reads chunk i + 1 ahead (by its hash): a file replaced in between is read
/// with its new bytes, never the old chunk read ahead.
#[tokio::test]
async fn nfs_read_ahead_never_serves_replaced_bytes() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "ra").await;
    let mib = 1usize << 20;
    let old: Vec<u8> = (0..3 * mib).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..3 * mib).map(|i| (i % 241) as u8 ^ 0x5a).collect();
    crate::nfs::s3_put(&srv, "fs+ra", "big", old.clone()).await;
    let (h, _) = lookup(&mut c, &root, "big").await.expect("lookup");
    // A whole chunk: chunk 1 is now read ahead.
    assert_eq!(
        read_at(&mut c, &h, 0, mib as u32).await.expect("read 0"),
        old[..mib]
    );
    crate::nfs::s3_put(&srv, "fs+ra", "big", new.clone()).await;
    let (h, _) = lookup(&mut c, &root, "big").await.expect("lookup again");
    let m = mib as u64;
    assert_eq!(
        read_at(&mut c, &h, m, mib as u32).await.expect("read 1"),
        new[mib..2 * mib]
    );
    // Ranges inside and across chunks.
    assert_eq!(
        read_at(&mut c, &h, 2 * m + 5, 1000).await.expect("read"),
        new[2 * mib + 5..2 * mib + 1005]
    );
    assert_eq!(
        read_at(&mut c, &h, m - 10, 20).await.expect("read"),
        new[mib - 10..mib + 10]
    );
    assert_eq!(read_all(&mut c, &h).await, new);
    // The bytes sent count READ data (sent apart from the reply header).
    let text = crate::admin_api::metrics_text(&srv).await;
    let sent: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_bytes_sent_total{protocol=\"nfs\"} "))
        .and_then(|v| v.parse().ok())
        .expect("nfs bytes sent");
    assert!(sent >= (5 * mib) as f64, "{sent}");
}

/// A directory's mtime and ctime move whenever its listing changes, by either protocol: that
/// is how an NFS client (Linux's cached READDIR pages and negative lookups) learns that a name
/// appeared or went. A time set on a directory shows until the next change.
#[tokio::test]
async fn nfs_directory_times_follow_listing_changes_from_both_protocols() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "times").await;
    let stamp = |a: &fattr3| {
        assert_eq!(
            (a.mtime.seconds, a.mtime.nseconds),
            (a.ctime.seconds, a.ctime.nseconds),
            "ctime follows mtime"
        );
        (a.mtime.seconds, a.mtime.nseconds)
    };
    let mut c2 = mount(&srv, "times").await.expect("second mount");
    let root0 = stamp(&getattr(&mut c, &root).await.expect("getattr"));

    // Each step changes exactly the listings it should; every other directory keeps its time.
    let d = mkdir(&mut c, &root, "d").await.expect("mkdir");
    let root1 = stamp(&getattr(&mut c, &root).await.expect("getattr"));
    assert!(root1 > root0, "mkdir d changes /");
    let d0 = stamp(&getattr(&mut c, &d).await.expect("getattr"));

    // Two creates in a row (same clock tick or not) give two different times.
    let made = c
        .create(&CREATE3args {
            where_: dirop(&d, "one"),
            how: createhow3::UNCHECKED(sattr3::default()),
        })
        .await
        .expect("rpc");
    let Nfs3Result::Ok(made) = made else {
        panic!("create one");
    };
    let Nfs3Option::Some(after) = made.dir_wcc.after else {
        panic!("CREATE returns the directory's attributes after");
    };
    let d1 = stamp(&after);
    assert!(d1 > d0, "create one changes d (wcc)");
    create(&mut c, &d, "two", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create two");
    let d2 = stamp(&getattr(&mut c2, &d).await.expect("getattr"));
    assert!(
        d2 > d1,
        "create two changes d again, seen by another client"
    );
    assert_eq!(
        stamp(&getattr(&mut c, &root).await.expect("getattr")),
        root1
    );

    // S3 adds a name under d: d changes; / does not (d was there).
    s3_put(&srv, "fs+times", "d/three", b"3".to_vec()).await;
    let d3 = stamp(&getattr(&mut c2, &d).await.expect("getattr"));
    assert!(d3 > d2, "an S3 PUT of a new key changes its directory");
    assert_eq!(
        stamp(&getattr(&mut c, &root).await.expect("getattr")),
        root1
    );
    // Overwriting an existing key changes the file, not the listing.
    s3_put(&srv, "fs+times", "d/three", b"33".to_vec()).await;
    assert_eq!(stamp(&getattr(&mut c2, &d).await.expect("getattr")), d3);

    // An S3 PUT deep under a new prefix makes `e` appear in /.
    s3_put(&srv, "fs+times", "e/f/g", b"g".to_vec()).await;
    let root2 = stamp(&getattr(&mut c, &root).await.expect("getattr"));
    assert!(root2 > root1, "a new implicit directory changes /");
    let (e, _) = lookup(&mut c, &root, "e").await.expect("lookup e");
    let e0 = stamp(&getattr(&mut c, &e).await.expect("getattr"));

    // S3 DELETE of the last key under e/f/ makes e/f go: e changes.
    s3_delete(&srv, "fs+times", "e/f/g").await;
    assert_eq!(
        getattr(&mut c, &e).await.err(),
        Some(nfsstat3::NFS3ERR_STALE),
        "e went with its last key"
    );
    let root3 = stamp(&getattr(&mut c, &root).await.expect("getattr"));
    assert!(root3 > root2, "e leaving changes /");
    assert!(e0 > root0);

    // NFS REMOVE and RENAME across directories change both ends.
    remove(&mut c, &d, "one").await.expect("remove");
    let d4 = stamp(&getattr(&mut c2, &d).await.expect("getattr"));
    assert!(d4 > d3, "remove changes d");
    rename(&mut c, (&d, "two"), (&root, "two"))
        .await
        .expect("rename");
    let d5 = stamp(&getattr(&mut c2, &d).await.expect("getattr"));
    let root4 = stamp(&getattr(&mut c2, &root).await.expect("getattr"));
    assert!(d5 > d4 && root4 > root3, "rename changes both directories");

    // A directory renamed keeps its own mtime under its new name; its ctime moves (the
    // rename changed it: decision 0023).
    mkdir(&mut c, &root, "m").await.expect("mkdir m");
    rename(&mut c, (&root, "d"), (&root, "dd"))
        .await
        .expect("rename d");
    let moved = getattr(&mut c, &d).await.expect("getattr renamed d");
    assert_eq!(
        (moved.mtime.seconds, moved.mtime.nseconds),
        d5,
        "the handle of d keeps working and its mtime moved with it"
    );
    assert!((moved.ctime.seconds, moved.ctime.nseconds) > d5);

    // A time set on a directory shows until its listing changes again (the set moves ctime).
    set_mtime_to(&mut c, &d, 1_000_000_000)
        .await
        .expect("setattr on a directory");
    let set = getattr(&mut c, &d).await.expect("getattr");
    assert_eq!((set.mtime.seconds, set.mtime.nseconds), (1_000_000_000, 0));
    assert!((set.ctime.seconds, set.ctime.nseconds) > d5);
    create(&mut c, &d, "four", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create four");
    assert!(stamp(&getattr(&mut c, &d).await.expect("getattr")) > (1_000_000_000, 0));
}

/// READDIRPLUS through a mount token keeps to maxcount: a token's handles are longer than an
/// address's (49 bytes, 52 on the wire), and each entry is counted with the handle it carries.
#[tokio::test]
async fn nfs_readdirplus_with_token_handles_keeps_to_maxcount() {
    use crate::admin_api::Api;
    use gatehouse_store::ops::SubjectRef;
    use gatehouse_store::rbac::Scope;
    use nfs3_client::nfs3_types::xdr_codec::Pack;

    let srv = TestServer::start().await;
    share(&srv, "long", false).await;
    let tom = srv.new_user("tom").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(tom.user_id.clone()),
            "bucket-read",
            Scope::Bucket("fs+long".into()),
        )
        .await
        .expect("bind");
    // Names long enough that the entries a page asks the store for fill it.
    for i in 0..40 {
        let name = format!("a-rather-long-file-name-for-paging-{i:03}.txt");
        s3_put(&srv, "fs+long", &name, b"x".to_vec()).await;
    }
    let r = Api::with(&srv, &tom.access_key, &tom.secret_key)
        .call("GET", "/api/me/nfs-token", None)
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    let token = r.1["token"].as_str().expect("token").to_string();
    let mut c = mount(&srv, &format!("long@{token}"))
        .await
        .expect("token mount");
    let root = c.root_nfs_fh3();
    // Every maxcount in a range that puts the last entry of a page right at the limit.
    for maxcount in (1500..2500u32).step_by(4) {
        let (mut seen, mut cookie) = (0, 0);
        loop {
            let ok = crate::nfs::readdirplus_page(&mut c, &root, cookie, maxcount).await;
            let size = 4 + ok.packed_size();
            assert!(
                size <= maxcount as usize,
                "{size} bytes for maxcount {maxcount}"
            );
            for e in &ok.reply.entries.0 {
                if let Nfs3Option::Some(h) = &e.name_handle {
                    assert_eq!(h.data.len(), gatehouse_nfs::handle::TOKEN_LEN);
                }
                seen += 1;
                cookie = e.cookie;
            }
            if ok.reply.eof {
                break;
            }
        }
        assert_eq!(seen, 42, "maxcount {maxcount}");
    }
}
