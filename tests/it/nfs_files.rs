//! NFSv3 file semantics beyond the basics in `nfs.rs`, with the `nfs3_client` library:
//! symbolic links (objects with s3fs's link mode, visible to S3 both ways), sparse writes, and
//! UNSTABLE writes buffered until COMMIT with the write verifier.

use aws_sdk_s3::primitives::ByteStream;
use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::xdr_codec::Opaque;

use crate::common::*;
use crate::nfs::{Conn, create, dirop, getattr, lookup, mount, read_all, s3_get, share, write};

/// A share `name` mounted by the admin (peer 127.0.0.1), and its root handle.
async fn writer(srv: &TestServer, name: &str) -> (Conn, nfs_fh3) {
    share(srv, name, false).await;
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let c = mount(srv, name).await.expect("mount");
    let root = c.root_nfs_fh3();
    (c, root)
}

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

    let gone = c
        .remove(&REMOVE3args {
            object: dirop(&root, "latest"),
        })
        .await
        .expect("rpc");
    assert!(matches!(gone, Nfs3Result::Ok(_)));
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
