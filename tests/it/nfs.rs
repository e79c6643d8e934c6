//! NFSv3 end to end with a real client library (`nfs3_client`): MOUNT through the PORTMAP
//! answer on our one port, what S3 wrote read back over NFS (files, implicit directories,
//! bytes), READDIRPLUS paging, mount refusals by RBAC, forged and foreign handles, handles
//! across a restart, and garbage on the socket.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;
use gatehouse_store::ops::{NewShare, SubjectRef};
use gatehouse_store::rbac::Scope;
use nfs3_client::nfs3_types::mount::mountstat3;
use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use nfs3_client::tokio::{TokioConnector, TokioIo};
use nfs3_client::{ConnectError, MountError, Nfs3Connection, Nfs3ConnectionBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

pub(crate) type Conn = Nfs3Connection<TokioIo<TcpStream>>;

/// One WRITE with the given stability; the reply's `committed` and verifier.
pub async fn write_as(
    c: &mut Conn,
    f: &nfs_fh3,
    offset: u64,
    data: &[u8],
    stable: stable_how,
) -> Result<(stable_how, [u8; 8], fattr3), nfsstat3> {
    match c
        .write(&WRITE3args {
            file: f.clone(),
            offset,
            count: data.len() as u32,
            stable,
            data: Opaque::borrowed(data),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => {
            assert_eq!(ok.count as usize, data.len());
            let after = match ok.file_wcc.after {
                Nfs3Option::Some(a) => a,
                Nfs3Option::None => panic!("write without attributes"),
            };
            Ok((ok.committed, ok.verf.0, after))
        }
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// COMMIT of the whole file; the verifier, or the status.
pub async fn commit(c: &mut Conn, f: &nfs_fh3) -> Result<[u8; 8], nfsstat3> {
    match c
        .commit(&COMMIT3args {
            file: f.clone(),
            offset: 0,
            count: 0,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => Ok(ok.verf.0),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// A share `name` mounted by the admin (peer 127.0.0.1), and its root handle.
pub async fn writer(srv: &TestServer, name: &str) -> (Conn, nfs_fh3) {
    share(srv, name, false).await;
    admin_mount(srv, name).await
}

/// Share `name` (already made) mounted by the admin (peer 127.0.0.1), and its root handle.
pub async fn admin_mount(srv: &TestServer, name: &str) -> (Conn, nfs_fh3) {
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let c = mount(srv, name).await.expect("mount");
    let root = c.root_nfs_fh3();
    (c, root)
}

pub(crate) async fn share(srv: &TestServer, name: &str, guest_read: bool) {
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: name.into(),
                guest_read: Some(guest_read),
                ..Default::default()
            },
        )
        .await
        .expect("create share");
}

/// Mounts `/<share>`, finding the MOUNT and NFS ports through our PORTMAP GETPORT answer.
pub(crate) async fn mount(srv: &TestServer, share: &str) -> Result<Conn, ConnectError> {
    Nfs3ConnectionBuilder::new(TokioConnector, "127.0.0.1", format!("/{share}"))
        .portmapper_port(srv.nfs_addr.port())
        .connect_from_privileged_port(false)
        .mount()
        .await
}

pub(crate) fn mount_refusal(r: Result<Conn, ConnectError>) -> mountstat3 {
    match r {
        Err(ConnectError::Mount(MountError::Denied(s))) => s,
        Err(e) => panic!("not a mount refusal: {e:?}"),
        Ok(_) => panic!("mounted"),
    }
}

pub(crate) fn fh(data: &[u8]) -> nfs_fh3 {
    nfs_fh3 {
        data: Opaque::owned(data.to_vec()),
    }
}

pub(crate) async fn lookup(
    c: &mut Conn,
    dir: &nfs_fh3,
    name: &str,
) -> Result<(nfs_fh3, fattr3), nfsstat3> {
    let r = c
        .lookup(&LOOKUP3args {
            what: diropargs3 {
                dir: dir.clone(),
                name: name.as_bytes().into(),
            },
        })
        .await
        .expect("rpc");
    match r {
        Nfs3Result::Ok(ok) => match ok.obj_attributes {
            Nfs3Option::Some(a) => Ok((ok.object, a)),
            Nfs3Option::None => panic!("lookup without attributes"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn getattr(c: &mut Conn, h: &nfs_fh3) -> Result<fattr3, nfsstat3> {
    match c
        .getattr(&GETATTR3args { object: h.clone() })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => Ok(ok.obj_attributes),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// One READDIRPLUS page of `dir` from `cookie`, of at most `maxcount` bytes; a failure panics
/// naming `maxcount`.
pub(crate) async fn readdirplus_page(
    c: &mut Conn,
    dir: &nfs_fh3,
    cookie: u64,
    maxcount: u32,
) -> READDIRPLUS3resok<'static> {
    let r = c
        .readdirplus(&READDIRPLUS3args {
            dir: dir.clone(),
            cookie,
            cookieverf: cookieverf3::default(),
            dircount: maxcount,
            maxcount,
        })
        .await
        .expect("rpc");
    match r {
        Nfs3Result::Ok(ok) => ok,
        Nfs3Result::Err((s, _)) => panic!("readdirplus {maxcount}: {s}"),
    }
}

/// Every entry of a directory through READDIRPLUS pages of at most `maxcount` bytes:
/// name → (fileid, type), and the number of pages.
pub(crate) async fn readdirplus(
    c: &mut Conn,
    dir: &nfs_fh3,
    maxcount: u32,
) -> (Vec<(String, u64)>, usize) {
    let mut out = Vec::new();
    let mut cookie = 0;
    let mut pages = 0;
    loop {
        let ok = readdirplus_page(c, dir, cookie, maxcount).await;
        pages += 1;
        for e in &ok.reply.entries.0 {
            assert_ne!(e.fileid, 0, "fileid 0 is reserved");
            out.push((
                String::from_utf8(e.name.0.to_vec()).expect("utf8"),
                e.fileid,
            ));
            cookie = e.cookie;
        }
        if ok.reply.eof {
            return (out, pages);
        }
        assert!(!ok.reply.entries.0.is_empty(), "empty page before eof");
    }
}

pub(crate) async fn read_all(c: &mut Conn, h: &nfs_fh3) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let r = c
            .read(&READ3args {
                file: h.clone(),
                offset: data.len() as u64,
                count: 1 << 20,
            })
            .await
            .expect("rpc");
        match r {
            Nfs3Result::Ok(ok) => {
                data.extend_from_slice(&ok.data);
                if ok.eof {
                    return data;
                }
                assert!(ok.count > 0, "short read before eof");
            }
            Nfs3Result::Err((s, _)) => panic!("read: {s}"),
        }
    }
}

pub(crate) async fn s3_delete(srv: &TestServer, bucket: &str, key: &str) {
    srv.client()
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("s3 delete");
}

pub(crate) async fn s3_put(srv: &TestServer, bucket: &str, key: &str, data: Vec<u8>) {
    srv.client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("s3 put");
}

#[tokio::test]
async fn nfs_reads_what_s3_wrote() {
    let srv = TestServer::start().await;
    share(&srv, "docs", true).await;
    let big = bytes(3 << 20 | 12_345, 7);
    s3_put(&srv, "fs+docs", "readme.txt", b"hello over nfs".to_vec()).await;
    s3_put(&srv, "fs+docs", "a/b/c.txt", b"deep".to_vec()).await;
    s3_put(&srv, "fs+docs", "big.bin", big.clone()).await;
    s3_put(&srv, "fs+docs", "marked/", Vec::new()).await;

    let mut c = mount(&srv, "docs").await.expect("mount");
    let root = c.root_nfs_fh3();
    let (names, _) = readdirplus(&mut c, &root, 64 << 10).await;
    let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [".", "..", "a", "big.bin", "marked", "readme.txt"]);

    // Implicit directories a and a/b, the file inside, sizes as S3 has them.
    let (a, a_attr) = lookup(&mut c, &root, "a").await.expect("a");
    assert!(matches!(a_attr.type_, ftype3::NF3DIR));
    assert_ne!(a_attr.fileid, 0);
    let (b, _) = lookup(&mut c, &a, "b").await.expect("a/b");
    let (cf, c_attr) = lookup(&mut c, &b, "c.txt").await.expect("a/b/c.txt");
    assert!(matches!(c_attr.type_, ftype3::NF3REG));
    assert_eq!(c_attr.size, 4);
    assert_eq!(read_all(&mut c, &cf).await, b"deep");
    let (_, up) = lookup(&mut c, &b, "..").await.expect("..");
    assert_eq!(up.fileid, a_attr.fileid);
    let (_, dot) = lookup(&mut c, &a, ".").await.expect(".");
    assert_eq!(dot.fileid, a_attr.fileid);
    assert_eq!(
        lookup(&mut c, &a, "nope").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );
    // Every call is counted in /metrics, with its status (NOENT is 2).
    let text = crate::admin_api::metrics_text(&srv).await;
    assert!(
        text.lines().any(|l| l
            .starts_with(r#"gatehouse_requests_total{protocol="nfs",op="NFS3 READ",status="0"}"#)),
        "{text}"
    );
    assert!(
        text.contains(r#"gatehouse_errors_total{protocol="nfs",code="nfsstat 2"}"#),
        "{text}"
    );
    let long = "x".repeat(256);
    assert_eq!(
        lookup(&mut c, &a, &long).await.err(),
        Some(nfsstat3::NFS3ERR_NAMETOOLONG)
    );
    let (_, marked) = lookup(&mut c, &root, "marked")
        .await
        .expect("explicit marker");
    assert!(matches!(marked.type_, ftype3::NF3DIR));

    // The same bytes as S3 serves, chunked file read in 1 MiB requests.
    let (bh, battr) = lookup(&mut c, &root, "big.bin").await.expect("big");
    assert_eq!(battr.size, big.len() as u64);
    assert_eq!(
        getattr(&mut c, &bh).await.expect("getattr").size,
        big.len() as u64
    );
    assert!(
        read_all(&mut c, &bh).await == big,
        "bytes differ from what S3 stored"
    );
    let (rh, _) = lookup(&mut c, &root, "readme.txt").await.expect("readme");
    assert_eq!(read_all(&mut c, &rh).await, b"hello over nfs");

    // Implicit directories never show up in S3 listings.
    let listed = srv
        .client()
        .list_objects_v2()
        .bucket("fs+docs")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/b/c.txt", "big.bin", "marked/", "readme.txt"]);

    // The guest has bucket-read: read and lookup, no write bits while writes do not exist.
    let acc = c
        .access(&ACCESS3args {
            object: root.clone(),
            access: ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_DELETE,
        })
        .await
        .expect("rpc");
    let Nfs3Result::Ok(acc) = acc else {
        panic!("access failed")
    };
    assert_eq!(acc.access, ACCESS3_READ | ACCESS3_LOOKUP);

    let st = c
        .fsstat(&FSSTAT3args {
            fsroot: root.clone(),
        })
        .await
        .expect("rpc");
    let Nfs3Result::Ok(st) = st else {
        panic!("fsstat failed")
    };
    assert_eq!(st.tbytes - st.fbytes, big.len() as u64 + 14 + 4);
    let info = c
        .fsinfo(&FSINFO3args {
            fsroot: root.clone(),
        })
        .await
        .expect("rpc");
    assert!(matches!(info, Nfs3Result::Ok(ref i) if i.rtmax == 1 << 20));
    let pc = c
        .pathconf(&PATHCONF3args {
            object: root.clone(),
        })
        .await
        .expect("rpc");
    assert!(matches!(pc, Nfs3Result::Ok(ref p) if p.name_max == 255));
    let rl = c
        .readlink(&READLINK3args {
            symlink: rh.clone(),
        })
        .await
        .expect("rpc");
    // A regular file is not a link.
    assert!(matches!(rl, Nfs3Result::Err((nfsstat3::NFS3ERR_INVAL, _))));
    // Reading a directory is an error, not a crash.
    let rd = c
        .read(&READ3args {
            file: a.clone(),
            offset: 0,
            count: 10,
        })
        .await
        .expect("rpc");
    assert!(matches!(rd, Nfs3Result::Err((nfsstat3::NFS3ERR_ISDIR, _))));

    // An S3 delete makes the held handle stale.
    s3_delete(&srv, "fs+docs", "readme.txt").await;
    assert_eq!(
        getattr(&mut c, &rh).await.err(),
        Some(nfsstat3::NFS3ERR_STALE)
    );
}

#[tokio::test]
async fn nfs_readdirplus_pages_5000_entries_once_each() {
    let srv = TestServer::start().await;
    share(&srv, "many", true).await;
    let store = srv.store().clone();
    let admin = srv.admin();
    futures_util::stream::iter(0..5000)
        .map(|i| {
            let (store, admin) = (store.clone(), admin.clone());
            async move {
                let body = futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(Bytes::from(format!("file {i}")))
                });
                store
                    .put_object(
                        &admin,
                        "fs+many",
                        &format!("dir/f{i:05}.txt"),
                        body,
                        Default::default(),
                        |_| Ok(()),
                    )
                    .await
                    .map_err(|e| format!("{e:?}"))
                    .expect("put");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let mut c = mount(&srv, "many").await.expect("mount");
    let root = c.root_nfs_fh3();
    let (dir, _) = lookup(&mut c, &root, "dir").await.expect("dir");
    let (entries, pages) = readdirplus(&mut c, &dir, 16 << 10).await;
    assert!(pages > 10, "small pages: {pages}");
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (name, id) in entries {
        assert!(seen.insert(name.clone(), id).is_none(), "{name} twice");
    }
    assert_eq!(seen.len(), 5002);
    for i in 0..5000 {
        assert!(
            seen.contains_key(&format!("f{i:05}.txt")),
            "f{i:05}.txt missing"
        );
    }
    let ids: std::collections::BTreeSet<u64> = seen.values().copied().collect();
    assert_eq!(
        ids.len(),
        5002,
        "one fileid per entry ('.' is dir, '..' the root)"
    );

    // A cookie from one page still works after the directory changed under it.
    s3_put(&srv, "fs+many", "dir/a-new-first.txt", b"x".to_vec()).await;
    let (again, _) = readdirplus(&mut c, &dir, 16 << 10).await;
    assert_eq!(again.len(), 5003);
}

#[tokio::test]
async fn nfs_mount_follows_shares_and_bindings() {
    let srv = TestServer::start().await;
    share(&srv, "open", true).await;
    share(&srv, "closed", false).await;
    assert!(matches!(
        mount_refusal(mount(&srv, "nope").await),
        mountstat3::MNT3ERR_NOENT
    ));
    assert!(matches!(
        mount_refusal(mount(&srv, "open/sub").await),
        mountstat3::MNT3ERR_NOENT
    ));
    // The guest is in `everyone` only; `closed` gave everyone nothing.
    assert!(matches!(
        mount_refusal(mount(&srv, "closed").await),
        mountstat3::MNT3ERR_ACCES
    ));
    mount(&srv, "open")
        .await
        .expect("guest mounts a guest-readable share");

    // 127.0.0.1 becomes bob's peer: bob has no binding on `closed`.
    let bob = srv.new_user("bob").await;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &bob.user_id, "test client")
        .await
        .expect("peer");
    assert!(matches!(
        mount_refusal(mount(&srv, "closed").await),
        mountstat3::MNT3ERR_ACCES
    ));
    // A binding applies to the next mount, no restart.
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(bob.user_id.clone()),
            "bucket-read",
            Scope::Bucket("fs+closed".into()),
        )
        .await
        .expect("bind");
    mount(&srv, "closed")
        .await
        .expect("bob mounts after the binding");

    // A deleted share is gone for MOUNT.
    srv.store()
        .delete_share(&srv.admin(), "open")
        .await
        .expect("delete share");
    assert!(matches!(
        mount_refusal(mount(&srv, "open").await),
        mountstat3::MNT3ERR_NOENT
    ));
}

#[tokio::test]
async fn nfs_forged_and_foreign_handles_are_bad_handles() {
    let srv = TestServer::start().await;
    share(&srv, "docs", true).await;
    s3_put(&srv, "fs+docs", "f.txt", b"data".to_vec()).await;
    let mut c = mount(&srv, "docs").await.expect("mount");
    let root = c.root_nfs_fh3();
    let (f, _) = lookup(&mut c, &root, "f.txt").await.expect("f");
    for i in [0, 5, 12, 20, 30, 44] {
        let mut bad = f.data.to_vec();
        bad[i] ^= 0x40;
        assert_eq!(
            getattr(&mut c, &fh(&bad)).await.err(),
            Some(nfsstat3::NFS3ERR_BADHANDLE),
            "byte {i}"
        );
    }
    assert_eq!(
        getattr(&mut c, &fh(b"short")).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE)
    );
    assert_eq!(
        getattr(&mut c, &fh(&[])).await.err(),
        Some(nfsstat3::NFS3ERR_BADHANDLE)
    );

    // Handles belong to the address, not to whom it stands for: once 127.0.0.1 is carol's
    // peer, the guest's handles answer as carol (everyone reads `docs`), and a new mount
    // from there gets the same root handle (nfs_dirs has other addresses and RBAC denials).
    let carol = srv.new_user("carol").await;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &carol.user_id, "")
        .await
        .expect("peer");
    assert_eq!(getattr(&mut c, &f).await.expect("as carol").size, 4);
    let mut c2 = mount(&srv, "docs").await.expect("carol mounts");
    let root2 = c2.root_nfs_fh3();
    assert_eq!(root2.data.to_vec(), root.data.to_vec());
    let (f2, a2) = lookup(&mut c2, &root2, "f.txt").await.expect("f");
    assert_eq!(a2.size, 4);
    assert_eq!(getattr(&mut c2, &f2).await.expect("getattr").size, 4);
}

#[tokio::test]
async fn nfs_handles_and_fileids_survive_a_restart() {
    let srv = TestServer::start().await;
    share(&srv, "keep", true).await;
    s3_put(&srv, "fs+keep", "x/y/z.txt", b"zzz".to_vec()).await;
    let (root, x, z, ids) = {
        let mut c = mount(&srv, "keep").await.expect("mount");
        let root = c.root_nfs_fh3();
        let (x, xa) = lookup(&mut c, &root, "x").await.expect("x");
        let (y, ya) = lookup(&mut c, &x, "y").await.expect("y");
        let (z, za) = lookup(&mut c, &y, "z.txt").await.expect("z");
        (root, x, z, (xa.fileid, ya.fileid, za.fileid))
    };
    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let mut c = mount(&srv, "keep").await.expect("mount again");
    assert_eq!(
        c.root_nfs_fh3().data.to_vec(),
        root.data.to_vec(),
        "same root handle"
    );
    // Old handles work on the new server without a lookup.
    assert_eq!(
        getattr(&mut c, &z).await.expect("old file handle").fileid,
        ids.2
    );
    assert_eq!(
        getattr(&mut c, &x).await.expect("old dir handle").fileid,
        ids.0
    );
    let (y, ya) = lookup(&mut c, &x, "y").await.expect("y via old handle");
    assert_eq!(ya.fileid, ids.1);
    let (z2, _) = lookup(&mut c, &y, "z.txt").await.expect("z");
    assert_eq!(read_all(&mut c, &z2).await, b"zzz");
}

/// One RPC call record by hand: (xid, prog, vers, proc), AUTH_NONE.
fn raw_call(xid: u32, prog: u32, vers: u32, proc_: u32) -> Vec<u8> {
    let mut body = Vec::new();
    for v in [xid, 0, 2, prog, vers, proc_, 0, 0, 0, 0] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    let mut rec = (0x8000_0000u32 | body.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&body);
    rec
}

/// The accept_stat of the reply to `rec`, and the words after it.
async fn raw_reply(s: &mut TcpStream, rec: &[u8]) -> Vec<u32> {
    s.write_all(rec).await.expect("write");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.expect("reply mark");
    let len = (u32::from_be_bytes(head) & 0x7FFF_FFFF) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.expect("reply body");
    body.chunks(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}

#[tokio::test]
async fn nfs_bad_input_leaves_the_server_serving() {
    let srv = TestServer::start().await;
    share(&srv, "docs", true).await;
    let addr = srv.nfs_addr;

    // Unknown program, wrong version, unknown procedure: the RPC answers, the connection stays.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // words: xid, REPLY, MSG_ACCEPTED, verf flavor, verf len, accept_stat, ...
    assert_eq!(raw_reply(&mut s, &raw_call(1, 123_456, 1, 0)).await[5], 1);
    let mm = raw_reply(&mut s, &raw_call(2, 100_003, 4, 0)).await;
    assert_eq!(mm[5..], [2, 3, 3]);
    assert_eq!(raw_reply(&mut s, &raw_call(3, 100_003, 3, 99)).await[5], 3);
    // GETATTR with no arguments: GARBAGE_ARGS.
    assert_eq!(raw_reply(&mut s, &raw_call(4, 100_003, 3, 1)).await[5], 4);
    // RPC version 3: MSG_DENIED / RPC_MISMATCH.
    let mut v3 = raw_call(5, 100_003, 3, 0);
    v3[15] = 3;
    assert_eq!(raw_reply(&mut s, &v3).await[..4], [5, 1, 1, 0]);
    // NULL still works on the same connection.
    assert_eq!(raw_reply(&mut s, &raw_call(6, 100_003, 3, 0)).await[5], 0);

    // Garbage, a 2 GiB record mark, a truncated record: those connections close.
    for junk in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xFF; 64],
        vec![0x80, 0, 0, 40, 1, 2, 3],
    ] {
        let mut g = TcpStream::connect(addr).await.expect("connect");
        g.write_all(&junk).await.expect("write");
        let _ = g.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), g.read_to_end(&mut sink))
            .await
            .expect("server closes a garbage connection");
    }
    // Everyone else keeps working.
    let mut c = mount(&srv, "docs").await.expect("mount after garbage");
    let root = c.root_nfs_fh3();
    assert!(getattr(&mut c, &root).await.is_ok());
    assert_eq!(raw_reply(&mut s, &raw_call(7, 100_005, 3, 0)).await[5], 0);
}

pub(crate) fn dirop(dir: &nfs_fh3, name: &str) -> diropargs3<'static> {
    diropargs3 {
        dir: dir.clone(),
        name: name.as_bytes().to_vec().into(),
    }
}

pub(crate) async fn create(
    c: &mut Conn,
    dir: &nfs_fh3,
    name: &str,
    how: createhow3,
) -> Result<nfs_fh3, nfsstat3> {
    match c
        .create(&CREATE3args {
            where_: dirop(dir, name),
            how,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match ok.obj {
            Nfs3Option::Some(h) => Ok(h),
            Nfs3Option::None => panic!("create without a handle"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn mkdir(c: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<nfs_fh3, nfsstat3> {
    match c
        .mkdir(&MKDIR3args {
            where_: dirop(dir, name),
            attributes: sattr3::default(),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => match ok.obj {
            Nfs3Option::Some(h) => Ok(h),
            Nfs3Option::None => panic!("mkdir without a handle"),
        },
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn rename(
    c: &mut Conn,
    (from_dir, from): (&nfs_fh3, &str),
    (to_dir, to): (&nfs_fh3, &str),
) -> Result<(), nfsstat3> {
    match c
        .rename(&RENAME3args {
            from: dirop(from_dir, from),
            to: dirop(to_dir, to),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn rmdir(c: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<(), nfsstat3> {
    match c
        .rmdir(&RMDIR3args {
            object: dirop(dir, name),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn remove(c: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<(), nfsstat3> {
    match c
        .remove(&REMOVE3args {
            object: dirop(dir, name),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn write(
    c: &mut Conn,
    f: &nfs_fh3,
    offset: u64,
    data: &[u8],
) -> Result<(), nfsstat3> {
    match c
        .write(&WRITE3args {
            file: f.clone(),
            offset,
            count: data.len() as u32,
            stable: stable_how::FILE_SYNC,
            data: Opaque::borrowed(data),
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => {
            assert!(matches!(ok.committed, stable_how::FILE_SYNC));
            assert_eq!(ok.count as usize, data.len());
            Ok(())
        }
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

pub(crate) async fn s3_get(srv: &TestServer, bucket: &str, key: &str) -> Vec<u8> {
    body_bytes(
        srv.client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("s3 get"),
    )
    .await
}

/// Writes through NFS as a user with bucket-write, seen by S3 at once; the guest may not write.
#[tokio::test]
async fn nfs_writes_are_s3_objects() {
    let srv = TestServer::start().await;
    share(&srv, "rw", true).await;
    let mut guest = mount(&srv, "rw").await.expect("guest mount");
    let groot = guest.root_nfs_fh3();
    assert_eq!(
        create(
            &mut guest,
            &groot,
            "nope.txt",
            createhow3::UNCHECKED(sattr3::default())
        )
        .await
        .err(),
        Some(nfsstat3::NFS3ERR_ACCES)
    );

    let dave = srv.new_user("dave").await;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &dave.user_id, "")
        .await
        .expect("peer");
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(dave.user_id.clone()),
            "bucket-write",
            Scope::Bucket("fs+rw".into()),
        )
        .await
        .expect("bind");
    let mut c = mount(&srv, "rw").await.expect("mount");
    let root = c.root_nfs_fh3();
    let acc = c
        .access(&ACCESS3args {
            object: root.clone(),
            access: ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE,
        })
        .await
        .expect("rpc");
    assert!(
        matches!(acc, Nfs3Result::Ok(ref a) if a.access == ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE)
    );

    // mkdir → a folder marker S3 lists with a delimiter.
    let docs = mkdir(&mut c, &root, "docs").await.expect("mkdir");
    let listed = srv
        .client()
        .list_objects_v2()
        .bucket("fs+rw")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let prefixes: Vec<&str> = listed
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["docs/"]);

    // Sequential 1 MiB writes, then an unaligned overwrite and a write past the end.
    let f = create(
        &mut c,
        &docs,
        "big.bin",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    assert_eq!(
        create(
            &mut c,
            &docs,
            "big.bin",
            createhow3::GUARDED(sattr3::default())
        )
        .await
        .err(),
        Some(nfsstat3::NFS3ERR_EXIST)
    );
    let mut model = bytes(3 << 20, 11);
    for (i, piece) in model.chunks(1 << 20).enumerate() {
        write(&mut c, &f, (i as u64) << 20, piece)
            .await
            .expect("write");
    }
    let patch = bytes(5000, 12);
    write(&mut c, &f, 1_048_000, &patch)
        .await
        .expect("overwrite");
    model[1_048_000..1_053_000].copy_from_slice(&patch);
    write(&mut c, &f, (3 << 20) + 100, b"tail")
        .await
        .expect("past the end");
    model.resize((3 << 20) + 100, 0);
    model.extend_from_slice(b"tail");
    assert!(
        s3_get(&srv, "fs+rw", "docs/big.bin").await == model,
        "S3 sees the NFS bytes"
    );
    assert!(read_all(&mut c, &f).await == model);

    // SETATTR: truncate, then mode only (fields are independent).
    let set = |size: Option<u64>, mode: Option<u32>| SETATTR3args {
        object: f.clone(),
        new_attributes: sattr3 {
            mode: mode.map_or(Nfs3Option::None, Nfs3Option::Some),
            size: size.map_or(Nfs3Option::None, Nfs3Option::Some),
            ..Default::default()
        },
        guard: Nfs3Option::None,
    };
    assert!(matches!(
        c.setattr(&set(Some(10), None)).await.expect("rpc"),
        Nfs3Result::Ok(_)
    ));
    assert!(matches!(
        c.setattr(&set(None, Some(0))).await.expect("rpc"),
        Nfs3Result::Ok(_)
    ));
    let a = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!((a.size, a.mode), (10, 0));
    assert_eq!(s3_get(&srv, "fs+rw", "docs/big.bin").await, model[..10]);
    let commit = c
        .commit(&COMMIT3args {
            file: f.clone(),
            offset: 0,
            count: 0,
        })
        .await
        .expect("rpc");
    assert!(matches!(commit, Nfs3Result::Ok(_)));

    // RENAME keeps the file id; REMOVE; RMDIR refuses a non-empty directory.
    rename(&mut c, (&docs, "big.bin"), (&root, "small.bin"))
        .await
        .expect("rename");
    let (_, moved) = lookup(&mut c, &root, "small.bin").await.expect("moved");
    assert_eq!(moved.fileid, a.fileid);
    assert_eq!(getattr(&mut c, &f).await.expect("old handle").size, 10);
    create(
        &mut c,
        &docs,
        "keep.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    let rmdir = |name: &str| RMDIR3args {
        object: dirop(&root, name),
    };
    assert!(matches!(
        c.rmdir(&rmdir("docs")).await.expect("rpc"),
        Nfs3Result::Err((nfsstat3::NFS3ERR_NOTEMPTY, _))
    ));
    remove(&mut c, &docs, "keep.txt").await.expect("remove");
    assert!(matches!(
        c.rmdir(&rmdir("docs")).await.expect("rpc"),
        Nfs3Result::Ok(_)
    ));
    let keys: Vec<String> = srv
        .client()
        .list_objects_v2()
        .bucket("fs+rw")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(keys, ["small.bin"]);
}

#[tokio::test]
async fn nfs_write_past_the_quota_is_dquot_and_changes_nothing() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "tight".into(),
                quota_bytes: 100_000,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let (mut c, root) = admin_mount(&srv, "tight").await;
    let f = create(&mut c, &root, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create");
    write(&mut c, &f, 0, &bytes(60_000, 1)).await.expect("fits");
    assert_eq!(
        write(&mut c, &f, 60_000, &bytes(60_000, 2)).await.err(),
        Some(nfsstat3::NFS3ERR_DQUOT)
    );
    assert_eq!(getattr(&mut c, &f).await.expect("getattr").size, 60_000);
    assert!(read_all(&mut c, &f).await == bytes(60_000, 1));
}

/// Renaming a directory moves every key under it in one step; handles of the directory and of
/// what is inside keep working, also through the old directory handle.
#[tokio::test]
async fn nfs_rename_directory_moves_its_keys_and_keeps_handles() {
    let srv = TestServer::start().await;
    share(&srv, "mv", true).await;
    for k in [
        "src/a.txt",
        "src/sub/b.txt",
        "src/sub/deeper/c.txt",
        "srcx.txt",
    ] {
        s3_put(&srv, "fs+mv", k, k.as_bytes().to_vec()).await;
    }
    let (mut c, root) = admin_mount(&srv, "mv").await;
    let (src, src_attr) = lookup(&mut c, &root, "src").await.expect("src");
    let (sub, sub_attr) = lookup(&mut c, &src, "sub").await.expect("sub");
    let (b, b_attr) = lookup(&mut c, &sub, "b.txt").await.expect("b");
    let mv = |from: &str, to: &str| RENAME3args {
        from: dirop(&root, from),
        to: dirop(&root, to),
    };
    // Onto a non-empty directory: NOTEMPTY.
    s3_put(&srv, "fs+mv", "full/x", b"x".to_vec()).await;
    assert!(matches!(
        c.rename(&mv("src", "full")).await.expect("rpc"),
        Nfs3Result::Err((nfsstat3::NFS3ERR_NOTEMPTY, _))
    ));
    let renamed = c.rename(&mv("src", "dst")).await.expect("rpc");
    assert!(matches!(renamed, Nfs3Result::Ok(_)), "{renamed:?}");

    let keys: Vec<String> = srv
        .client()
        .list_objects_v2()
        .bucket("fs+mv")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(
        keys,
        [
            "dst/a.txt",
            "dst/sub/b.txt",
            "dst/sub/deeper/c.txt",
            "full/x",
            "srcx.txt"
        ]
    );
    assert_eq!(
        s3_get(&srv, "fs+mv", "dst/sub/b.txt").await,
        b"src/sub/b.txt"
    );
    // Same file ids under the new names; old handles still resolve, children through them too.
    let (_, d) = lookup(&mut c, &root, "dst").await.expect("dst");
    assert_eq!(d.fileid, src_attr.fileid);
    assert_eq!(
        getattr(&mut c, &sub).await.expect("old sub handle").fileid,
        sub_attr.fileid
    );
    assert_eq!(
        getattr(&mut c, &b).await.expect("old file handle").fileid,
        b_attr.fileid
    );
    let (_, deeper) = lookup(&mut c, &sub, "deeper")
        .await
        .expect("via old handle");
    assert!(matches!(deeper.type_, ftype3::NF3DIR));
    assert_eq!(
        lookup(&mut c, &root, "src").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );
}

/// EXPORT lists the live shares the caller may list; PORTMAP answers for our programs only.
#[tokio::test]
async fn nfs_export_and_portmap() {
    let srv = TestServer::start().await;
    share(&srv, "shown", true).await;
    share(&srv, "hidden", false).await;
    share(&srv, "gone", true).await;
    srv.store()
        .delete_share(&srv.admin(), "gone")
        .await
        .expect("delete");
    let io = TokioIo::new(TcpStream::connect(srv.nfs_addr).await.expect("connect"));
    let mut m = nfs3_client::MountClient::new(io);
    m.null().await.expect("null");
    let exports = m.export().await.expect("export");
    let dirs: Vec<String> = exports
        .0
        .iter()
        .map(|e| String::from_utf8(e.ex_dir.0.to_vec()).expect("utf8"))
        .collect();
    assert_eq!(dirs, ["/shown"], "the guest sees what it may list");

    let io = TokioIo::new(TcpStream::connect(srv.nfs_addr).await.expect("connect"));
    let mut pm = nfs3_client::PortmapperClient::new(io);
    let port = srv.nfs_addr.port();
    assert_eq!(pm.getport(100_003, 3, 6).await.expect("nfs"), port);
    assert_eq!(pm.getport(100_005, 3, 6).await.expect("mount"), port);
    // Port 0 (not served: UDP, the lock manager) is what the client reports as unavailable.
    assert!(pm.getport(100_003, 3, 17).await.is_err(), "udp");
    assert!(pm.getport(100_021, 4, 6).await.is_err(), "nlm");
    assert_eq!(
        pm.getport(100_005, 3, 6).await.expect("still answering"),
        port
    );
}

/// What user `u` may do with share `p` (holding `f.txt` = "data"), asked over S3 (its
/// credentials) and over NFS (as the registered peer 127.0.0.1): ((read, write) over S3,
/// (read, write) over NFS). An NFS refusal is ACCES (or the mount's).
async fn read_and_write_both_ways(
    srv: &TestServer,
    u: &gatehouse_store::ops::Registered,
) -> ((bool, bool), (bool, bool)) {
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &u.user_id, "")
        .await
        .expect("peer");
    let s3 = client_with(srv.addr, &u.access_key, &u.secret_key);
    let s3_read = s3
        .get_object()
        .bucket("fs+p")
        .key("f.txt")
        .send()
        .await
        .is_ok();
    let s3_write = s3
        .put_object()
        .bucket("fs+p")
        .key("s3.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .is_ok();
    let nfs = match mount(srv, "p").await {
        Err(e) => {
            assert!(matches!(mount_refusal(Err(e)), mountstat3::MNT3ERR_ACCES));
            (false, false)
        }
        Ok(mut c) => {
            let root = c.root_nfs_fh3();
            let (f, _) = lookup(&mut c, &root, "f.txt").await.expect("lookup");
            let r = read_all(&mut c, &f).await == b"data";
            let w = match create(
                &mut c,
                &root,
                "nfs.txt",
                createhow3::UNCHECKED(sattr3::default()),
            )
            .await
            {
                Ok(_) => true,
                Err(s) => {
                    assert_eq!(s, nfsstat3::NFS3ERR_ACCES);
                    false
                }
            };
            (r, w)
        }
    };
    ((s3_read, s3_write), nfs)
}

/// The same binding gives the same answer over S3 and NFS: one row per role, the user acting
/// once through its S3 credentials and once as the registered peer 127.0.0.1.
#[tokio::test]
async fn nfs_rbac_parity_with_s3() {
    // role (None: no binding) → (may read, may write)
    let table: [(Option<&str>, bool, bool); 4] = [
        (None, false, false),
        (Some("bucket-read"), true, false),
        (Some("bucket-write"), true, true),
        (Some("bucket-admin"), true, true),
    ];
    for (role, read, write_ok) in table {
        let srv = TestServer::start().await;
        share(&srv, "p", false).await;
        s3_put(&srv, "fs+p", "f.txt", b"data".to_vec()).await;
        let u = srv.new_user("u").await;
        if let Some(r) = role {
            srv.store()
                .bind(
                    &srv.admin(),
                    SubjectRef::User(u.user_id.clone()),
                    r,
                    Scope::Bucket("fs+p".into()),
                )
                .await
                .expect("bind");
        }
        let ((s3_read, s3_write), (nfs_read, nfs_write)) = read_and_write_both_ways(&srv, &u).await;
        assert_eq!((s3_read, s3_write), (read, write_ok), "S3 with {role:?}");
        assert_eq!((nfs_read, nfs_write), (read, write_ok), "NFS with {role:?}");
    }
}

/// A share's bucket policy (decision 0041) gives the same answer over S3 and NFS for
/// statements about the whole share: one row per (binding, policy), the user acting through
/// its S3 credentials and as the registered peer. (Statements about part of a share, key by
/// key: `nfs_policy.rs`, decision 0043.)
#[tokio::test]
async fn nfs_policy_parity_with_s3() {
    let deny_writes = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::fs+p/*"}]}"#;
    let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::fs+p","arn:aws:s3:::fs+p/*"]}]}"#;
    let allow_user = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam:::user/u"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::fs+p","arn:aws:s3:::fs+p/*"]}]}"#;
    // (role, policy) → (may read, may write)
    let table: [(Option<&str>, &str, bool, bool); 4] = [
        (Some("bucket-write"), deny_writes, true, false),
        (Some("bucket-admin"), deny_all, false, false),
        (None, allow_user, true, false),
        (Some("bucket-read"), allow_user, true, false),
    ];
    for (role, policy, read, write_ok) in table {
        let srv = TestServer::start().await;
        share(&srv, "p", false).await;
        s3_put(&srv, "fs+p", "f.txt", b"data".to_vec()).await;
        let u = srv.new_user("u").await;
        if let Some(r) = role {
            srv.store()
                .bind(
                    &srv.admin(),
                    SubjectRef::User(u.user_id.clone()),
                    r,
                    Scope::Bucket("fs+p".into()),
                )
                .await
                .expect("bind");
        }
        srv.client()
            .put_bucket_policy()
            .bucket("fs+p")
            .policy(policy)
            .send()
            .await
            .expect("policy");
        let ((s3_read, s3_write), (nfs_read, nfs_write)) = read_and_write_both_ways(&srv, &u).await;
        assert_eq!(
            (s3_read, s3_write),
            (read, write_ok),
            "S3 with {role:?} {policy}"
        );
        assert_eq!(
            (nfs_read, nfs_write),
            (read, write_ok),
            "NFS with {role:?} {policy}"
        );
    }
}

/// `gatehouse share mount-info NAME --json` gives the export path, the port and commands that
/// work against this server.
#[tokio::test]
async fn nfs_share_mount_info_cli() {
    let srv = TestServer::start().await;
    share(&srv, "docs", true).await;
    let home = tempfile::tempdir().expect("home");
    let data_dir = srv.data_dir();
    let data_dir = data_dir.to_str().expect("utf-8");
    let out = crate::admin_api::cli(
        &srv,
        home.path(),
        &[],
        &[
            "--data-dir",
            data_dir,
            "share",
            "mount-info",
            "docs",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let port = srv.nfs_addr.port();
    // The caller's own mount token is in the path; the path mounts, as the caller.
    let export = v["export_path"].as_str().expect("export path").to_string();
    let token = export.strip_prefix("/docs@").expect("a token path");
    assert_eq!(token.len(), 40);
    assert_eq!(v["peer_export_path"], "/docs");
    let mut c = mount(&srv, &export[1..])
        .await
        .expect("mount the token path");
    let root = c.root_nfs_fh3();
    assert!(getattr(&mut c, &root).await.is_ok());
    assert_eq!(v["port"], port);
    assert_eq!(
        v["mount_options"],
        format!("vers=3,tcp,port={port},mountport={port},nolock")
    );
    assert_eq!(
        v["linux"],
        format!(
            "sudo mount -t nfs -o vers=3,tcp,port={port},mountport={port},nolock 127.0.0.1:{export} /mnt/docs"
        )
    );
    assert_eq!(
        v["libnfs_url"],
        format!("nfs://127.0.0.1{export}?nfsport={port}&mountport={port}&version=3")
    );
    assert!(
        v["macos"]
            .as_str()
            .is_some_and(|m| m.contains("nolocks,resvport"))
    );
    let missing = crate::admin_api::cli(
        &srv,
        home.path(),
        &[],
        &["--data-dir", data_dir, "share", "mount-info", "nope"],
    )
    .await;
    assert!(!missing.status.success());
}

/// AUTH_UNIX ids shape attributes of new files and never identity: uid 0 from a guest address
/// is still the guest.
#[tokio::test]
async fn nfs_auth_unix_is_attributes_not_identity() {
    use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
    let srv = TestServer::start().await;
    share(&srv, "u", true).await;
    let as_unix = |uid: u32, gid: u32| {
        Nfs3ConnectionBuilder::new(TokioConnector, "127.0.0.1", "/u")
            .mount_port(srv.nfs_addr.port())
            .nfs3_port(srv.nfs_addr.port())
            .connect_from_privileged_port(false)
            .credential(opaque_auth::auth_unix(&auth_unix {
                uid,
                gid,
                ..Default::default()
            }))
            .mount()
    };
    let mut root_guest = as_unix(0, 0).await.expect("mount as uid 0");
    let r = root_guest.root_nfs_fh3();
    assert_eq!(
        create(
            &mut root_guest,
            &r,
            "x",
            createhow3::UNCHECKED(sattr3::default())
        )
        .await
        .err(),
        Some(nfsstat3::NFS3ERR_ACCES),
        "uid 0 is not a principal"
    );
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let mut c = as_unix(1234, 55).await.expect("mount");
    let root = c.root_nfs_fh3();
    let f = create(
        &mut c,
        &root,
        "mine",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    let a = getattr(&mut c, &f).await.expect("getattr");
    assert_eq!((a.uid, a.gid), (1234, 55));
}

/// An AUTH_NONE caller's files are nobody's (65534), as knfsd squashes them, not root's.
#[tokio::test]
async fn nfs_auth_none_makes_nobodys_files() {
    use nfs3_client::nfs3_types::rpc::opaque_auth;
    let srv = TestServer::start().await;
    share(&srv, "grp", false).await;
    let admin_id = srv.admin().user_id;
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let connect = |cred: opaque_auth<'static>| {
        Nfs3ConnectionBuilder::new(TokioConnector, "127.0.0.1", "/grp")
            .mount_port(srv.nfs_addr.port())
            .nfs3_port(srv.nfs_addr.port())
            .connect_from_privileged_port(false)
            .credential(cred)
            .mount()
    };
    let mut anon = connect(opaque_auth::default())
        .await
        .expect("mount AUTH_NONE");
    let root = anon.root_nfs_fh3();
    let f = create(
        &mut anon,
        &root,
        "anon",
        createhow3::GUARDED(sattr3::default()),
    )
    .await
    .expect("create");
    let a = getattr(&mut anon, &f).await.expect("getattr");
    assert_eq!((a.uid, a.gid), (65534, 65534));
}

/// Calls sent back to back on one connection, without waiting, all get their replies (clients
/// pipeline; replies come back as each call finishes, matched by xid).
#[tokio::test]
async fn nfs_pipelined_calls_all_answered() {
    let srv = TestServer::start().await;
    let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    let mut burst = Vec::new();
    for xid in 100..140u32 {
        burst.extend_from_slice(&raw_call(xid, 100_003, 3, 0));
    }
    s.write_all(&burst).await.expect("write");
    let mut xids = std::collections::BTreeSet::new();
    for _ in 100..140 {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.expect("mark");
        let mut body = vec![0u8; (u32::from_be_bytes(head) & 0x7FFF_FFFF) as usize];
        s.read_exact(&mut body).await.expect("body");
        xids.insert(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
    }
    assert_eq!(xids, (100..140).collect());
}

/// Connections waiting for their next call hold none of the permits all calls share
/// (`IN_FLIGHT`): with more idle mounts than that, a new connection's call is answered at
/// once, not when idle connections time out.
#[tokio::test]
async fn nfs_idle_connections_leave_room_for_new_calls() {
    let srv = TestServer::start().await;
    let quick = std::time::Duration::from_secs(20);
    let mut idle = Vec::new();
    for xid in 0..(gatehouse_nfs::IN_FLIGHT + 8) as u32 {
        let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
        // One call each, so every connection is accepted and back to waiting for the next.
        let r = tokio::time::timeout(quick, raw_reply(&mut s, &raw_call(xid, 100_003, 3, 0)))
            .await
            .unwrap_or_else(|_| panic!("connection {xid} starved behind idle ones"));
        assert_eq!(r[5], 0);
        idle.push(s);
    }
    let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    let r = tokio::time::timeout(quick, raw_reply(&mut s, &raw_call(9999, 100_003, 3, 0)))
        .await
        .expect("a new connection's NULL answered");
    assert_eq!(r[5], 0);
    // The idle ones still answer too.
    for (xid, s) in idle.iter_mut().enumerate() {
        assert_eq!(
            raw_reply(s, &raw_call(xid as u32, 100_003, 3, 0)).await[5],
            0
        );
    }
}
