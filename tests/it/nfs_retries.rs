//! The duplicate request cache over the wire (decision 0051): a non-idempotent call sent again
//! with the same xid — on a new connection, as a client does after its reply was lost to a
//! reset — gets the answer the call had, not the one a second run would give (NOENT for a
//! REMOVE or RENAME that succeeded, EXIST for a MKDIR); the same call with a new xid runs.

use std::net::SocketAddr;
use std::time::Duration;

use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::xdr_codec::Pack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::*;
use crate::nfs::{create, dirop, lookup, writer};

const NFS3_OK: u32 = 0;
const NOENT: u32 = 2;
const EXIST: u32 = 17;
const BADHANDLE: u32 = 10001;

/// A call record (with its mark) of NFSv3 procedure `proc_`: AUTH_UNIX uid 1000 with
/// `stamp` (older Linux clients write the time there, so a retransmission may differ in it),
/// then `args`.
fn record(xid: u32, proc_: u32, stamp: u32, args: &impl Pack) -> Vec<u8> {
    let mut body = Vec::new();
    // xid, CALL, RPC v2, NFS, v3, procedure; AUTH_UNIX (stamp, machine "h", uid, gid, no
    // extra gids); AUTH_NONE verifier.
    for v in [
        xid,
        0,
        2,
        100_003,
        3,
        proc_,
        1,
        24,
        stamp,
        1,
        u32::from_be_bytes(*b"h\0\0\0"),
        1000,
        1000,
        0,
        0,
        0,
    ] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    args.pack(&mut body).expect("pack");
    let mut rec = (0x8000_0000u32 | body.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&body);
    rec
}

/// The reply body to `rec` read on `s`, or `None` when none comes within `wait`.
async fn reply_on(s: &mut TcpStream, rec: &[u8], wait: Duration) -> Option<Vec<u8>> {
    s.write_all(rec).await.expect("write");
    tokio::time::timeout(wait, async {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.expect("reply mark");
        let mut body = vec![0u8; (u32::from_be_bytes(head) & 0x7FFF_FFFF) as usize];
        s.read_exact(&mut body).await.expect("reply body");
        body
    })
    .await
    .ok()
}

/// `rec` sent on a connection of its own; its reply.
async fn once(addr: SocketAddr, rec: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    reply_on(&mut s, rec, Duration::from_secs(30))
        .await
        .expect("a reply")
}

/// The nfsstat3 of an accepted reply body.
fn status(reply: &[u8]) -> u32 {
    let word = |i: usize| u32::from_be_bytes(reply[4 * i..4 * i + 4].try_into().expect("word"));
    // xid, REPLY, MSG_ACCEPTED, verifier flavor and length, accept_stat, nfsstat3.
    assert_eq!(
        (word(1), word(2), word(5)),
        (1, 0, 0),
        "accepted: {reply:?}"
    );
    word(6)
}

/// The call with xid `xid` answers `NFS3_OK`; sent again on a new connection (with another
/// AUTH_UNIX stamp) it gets the same bytes; with a new xid it answers `then`.
async fn retried(addr: SocketAddr, xid: u32, proc_: u32, args: &impl Pack, then: u32) -> Vec<u8> {
    let first = once(addr, &record(xid, proc_, 1, args)).await;
    assert_eq!(status(&first), NFS3_OK, "procedure {proc_}");
    let again = once(addr, &record(xid, proc_, 2, args)).await;
    assert_eq!(
        again, first,
        "procedure {proc_}: the retransmission's reply"
    );
    let fresh = once(addr, &record(xid + 1, proc_, 1, args)).await;
    assert_eq!(status(&fresh), then, "procedure {proc_} with a new xid");
    first
}

#[tokio::test]
async fn nfs_a_retransmitted_remove_rename_or_mkdir_gets_its_first_answer() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "retry").await;
    let addr = srv.nfs_addr;
    for name in ["a", "b"] {
        create(
            &mut c,
            &root,
            name,
            createhow3::UNCHECKED(sattr3::default()),
        )
        .await
        .expect("create");
    }

    let remove = REMOVE3args {
        object: dirop(&root, "a"),
    };
    retried(addr, 0x5100, 12, &remove, NOENT).await;
    assert_eq!(
        lookup(&mut c, &root, "a").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );

    let rename = RENAME3args {
        from: dirop(&root, "b"),
        to: dirop(&root, "c"),
    };
    retried(addr, 0x5200, 14, &rename, NOENT).await;
    assert!(lookup(&mut c, &root, "c").await.is_ok());

    let mkdir = MKDIR3args {
        where_: dirop(&root, "d"),
        attributes: sattr3::default(),
    };
    let made = retried(addr, 0x5300, 9, &mkdir, EXIST).await;
    let (d, attrs) = lookup(&mut c, &root, "d").await.expect("d");
    assert!(matches!(attrs.type_, ftype3::NF3DIR));
    // The kept reply names the directory made: its handle follows the status and the
    // handle-follows flag.
    let len = u32::from_be_bytes(made[32..36].try_into().expect("len")) as usize;
    assert_eq!(&made[36..36 + len], &d.data[..]);

    // The same record from another address is another caller's call: not the kept reply
    // (and the handle, bound to 127.0.0.1, is not that caller's).
    let sock = TcpSocket::new_v4().expect("socket");
    if sock.bind("127.0.0.2:0".parse().expect("addr")).is_ok() {
        let mut s = sock.connect(addr).await.expect("connect from 127.0.0.2");
        let r = reply_on(
            &mut s,
            &record(0x5100, 12, 1, &remove),
            Duration::from_secs(30),
        )
        .await
        .expect("a reply");
        assert_eq!(status(&r), BADHANDLE);
    }
    // The three replays are counted for the operator.
    let metrics = crate::admin_api::metrics_text(&srv).await;
    assert!(
        metrics.contains("\ngatehouse_nfs_drc_replayed_total 3\n"),
        "{metrics}"
    );
}

/// The reply is lost (the client drops its connection before reading it) and the client
/// retransmits on a new connection, again while no reply comes: the call runs once, and the
/// retry gets its answer (`NFS3_OK`), not the NOENT a second RMDIR would answer.
#[tokio::test]
async fn nfs_a_retry_after_a_reset_gets_the_answer_the_call_had() {
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "reset").await;
    let addr = srv.nfs_addr;
    crate::nfs::mkdir(&mut c, &root, "gone")
        .await
        .expect("mkdir");
    let rmdir = RMDIR3args {
        object: dirop(&root, "gone"),
    };
    let rec = record(0x6100, 13, 1, &rmdir);

    let mut lost = TcpStream::connect(addr).await.expect("connect");
    lost.write_all(&rec).await.expect("write");
    drop(lost);

    // A retransmission while the call is under way gets no reply: like a client, try again on
    // a new connection.
    let mut answer = None;
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        if let Some(r) = reply_on(&mut s, &rec, Duration::from_secs(1)).await {
            answer = Some(r);
            break;
        }
    }
    let answer = answer.expect("the retransmission answered");
    assert_eq!(status(&answer), NFS3_OK);
    assert_eq!(
        lookup(&mut c, &root, "gone").await.err(),
        Some(nfsstat3::NFS3ERR_NOENT)
    );
    let fresh = once(addr, &record(0x6101, 13, 1, &rmdir)).await;
    assert_eq!(status(&fresh), NOENT);
}
