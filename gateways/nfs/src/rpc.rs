//! ONC RPC v2 (RFC 5531) over TCP: record marking, the CALL header with its credentials, and
//! the REPLY envelopes.

use gatehouse_store::ops::FsData;
use tokio::io::{AsyncRead, AsyncReadExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::xdr::{Garbage, Reader, put_u32};

/// Largest request record accepted: a 1 MiB WRITE plus headers. Larger → the connection is
/// closed (the bytes cannot be skipped safely without reading them all).
pub const MAX_RECORD: usize = (1 << 20) + (64 << 10);
const AUTH_MAX: usize = 400;

pub const AUTH_NONE: u32 = 0;
pub const AUTH_UNIX: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("connection closed")]
    Closed,
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one record (all its fragments). EOF before the first byte is `Closed`.
pub async fn read_record(
    r: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Result<(), RecordError> {
    buf.clear();
    loop {
        let mut head = [0u8; 4];
        match r.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && buf.is_empty() => {
                return Err(RecordError::Closed);
            }
            Err(e) => return Err(e.into()),
        }
        let h = u32::from_be_bytes(head);
        let last = h & 0x8000_0000 != 0;
        let len = (h & 0x7FFF_FFFF) as usize;
        let total = buf.len() + len;
        if total > MAX_RECORD {
            return Err(RecordError::TooLarge(total));
        }
        // Read into spare capacity: a 1 MiB WRITE is not zero-filled first. The extra room
        // lets `read_to_end` see the end of the fragment without growing the buffer.
        buf.reserve(len + 32);
        let got = (&mut *r).take(len as u64).read_to_end(buf).await?;
        if got < len {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        if last {
            return Ok(());
        }
    }
}

/// One reply record: `body`, then `tail` (a READ's data: bytes sent without copying them into
/// one buffer, or a verified range of a chunk file sent with `sendfile`) and the XDR padding
/// that follows it.
#[derive(Debug, Default)]
pub struct Reply {
    pub body: Vec<u8>,
    pub tail: FsData,
}

impl From<Vec<u8>> for Reply {
    fn from(body: Vec<u8>) -> Self {
        Reply {
            body,
            tail: FsData::default(),
        }
    }
}

impl Reply {
    fn pad(&self) -> &'static [u8] {
        &[0u8; 3][..(4 - self.tail.len() % 4) % 4]
    }

    pub fn len(&self) -> usize {
        self.body.len() + self.tail.len() + self.pad().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn mark(&self) -> [u8; 4] {
        (0x8000_0000 | self.len() as u32).to_be_bytes()
    }
}

/// Sends `reply` as one record (a single last fragment) on a connection: a file tail goes from
/// the file's pages to the socket (`sendfile`), between the header and the padding.
pub async fn send_record(w: &mut OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let FsData::File { file, offset, len } = &reply.tail else {
        return write_record(w, reply).await;
    };
    write_parts(w, &[&reply.mark(), &reply.body]).await?;
    send_file(w.as_ref(), file, *offset, *len).await?;
    write_parts(w, &[reply.pad()]).await
}

/// `len` bytes of `file` from `offset` to socket `sock`, as the socket takes them.
async fn send_file(
    sock: &TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    mut left: usize,
) -> std::io::Result<()> {
    while left > 0 {
        sock.writable().await?;
        let sent = sock.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(sock, file, Some(&mut offset), left).map_err(Into::into)
        });
        match sent {
            // The file ended early: the record cannot be finished, so the connection ends.
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `reply` as one record to any writer: the mark, the body, the tail (read out of its
/// file if it is one) and its padding in vectored writes.
pub async fn write_record(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    let tail = reply.tail.to_bytes()?;
    write_parts(w, &[&reply.mark(), &reply.body, &tail, reply.pad()]).await
}

/// Writes `parts` in order with vectored writes, however little each write takes.
async fn write_parts(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    parts: &[&[u8]],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut sent = 0;
    while sent < total {
        // The slices not yet (fully) sent.
        let mut skip = sent;
        let mut bufs = Vec::with_capacity(parts.len());
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            bufs.push(std::io::IoSlice::new(&p[skip..]));
            skip = 0;
        }
        match w.write_vectored(&bufs).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => sent += n,
        }
    }
    Ok(())
}

/// The caller's AUTH_UNIX credential: client-chosen, so attributes only, never identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixCred {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cred {
    None,
    Unix(UnixCred),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub xid: u32,
    pub prog: u32,
    pub vers: u32,
    pub proc_: u32,
    pub cred: Cred,
    /// Where the credential's body lies in the record, past an AUTH_UNIX stamp (older Linux
    /// clients write the time there, so a retransmission may differ in it alone): what, with
    /// the flavor, tells one credential from another.
    pub cred_bytes: std::ops::Range<usize>,
}

/// Why a record is not a call we can serve: answered (with the xid) or not.
#[derive(Debug, PartialEq, Eq)]
pub enum BadCall {
    /// Not even an xid and a CALL: drop the record.
    Unreadable,
    /// RPC version other than 2: MSG_DENIED / RPC_MISMATCH.
    RpcMismatch(u32),
    /// A credential we do not accept or cannot parse: MSG_DENIED / AUTH_ERROR.
    Auth(u32, AuthStat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStat {
    BadCred = 1,
    TooWeak = 5,
}

/// Parses the call header; on success returns the call and the argument bytes.
pub fn parse_call(rec: &[u8]) -> Result<(Call, &[u8]), BadCall> {
    let mut r = Reader::new(rec);
    let xid = r.u32().map_err(|_| BadCall::Unreadable)?;
    if r.u32().map_err(|_| BadCall::Unreadable)? != 0 {
        return Err(BadCall::Unreadable); // a REPLY, or garbage
    }
    let head = (|| -> Result<_, Garbage> { Ok((r.u32()?, r.u32()?, r.u32()?, r.u32()?)) })();
    let (rpcvers, prog, vers, proc_) = head.map_err(|_| BadCall::Unreadable)?;
    if rpcvers != 2 {
        return Err(BadCall::RpcMismatch(xid));
    }
    let bad = BadCall::Auth(xid, AuthStat::BadCred);
    let flavor = r.u32().map_err(|_| BadCall::Unreadable)?;
    // The body follows the flavor and its length word.
    let body_at = rec.len() - r.remaining() + 4;
    let body = r
        .opaque(AUTH_MAX)
        .map_err(|_| BadCall::Auth(xid, AuthStat::BadCred))?;
    let (cred, skip) = match flavor {
        AUTH_NONE => (Cred::None, 0),
        AUTH_UNIX => (Cred::Unix(parse_auth_unix(body).map_err(|_| bad)?), 4),
        _ => return Err(BadCall::Auth(xid, AuthStat::TooWeak)),
    };
    let cred_bytes = body_at + skip..body_at + body.len();
    let _verf_flavor = r.u32().map_err(|_| BadCall::Unreadable)?;
    r.opaque(AUTH_MAX)
        .map_err(|_| BadCall::Auth(xid, AuthStat::BadCred))?;
    let args = &rec[rec.len() - r.remaining()..];
    Ok((
        Call {
            xid,
            prog,
            vers,
            proc_,
            cred,
            cred_bytes,
        },
        args,
    ))
}

fn parse_auth_unix(body: &[u8]) -> Result<UnixCred, Garbage> {
    let mut r = Reader::new(body);
    let _stamp = r.u32()?;
    let _machine = r.opaque(255)?;
    let uid = r.u32()?;
    let gid = r.u32()?;
    let n = r.u32()? as usize;
    if n > 16 {
        return Err(Garbage);
    }
    for _ in 0..n {
        r.u32()?;
    }
    Ok(UnixCred { uid, gid })
}

/// `accept_stat` values of an accepted reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Success = 0,
    ProgUnavail = 1,
    ProgMismatch = 2,
    ProcUnavail = 3,
    GarbageArgs = 4,
    SystemErr = 5,
}

/// Header of an accepted reply (AUTH_NONE verifier); results follow for `Success`, the
/// version range for `ProgMismatch`.
pub fn accepted(xid: u32, stat: Accept) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for v in [xid, 1, 0, AUTH_NONE, 0, stat as u32] {
        put_u32(&mut out, v);
    }
    out
}

pub fn prog_mismatch(xid: u32, low: u32, high: u32) -> Vec<u8> {
    let mut out = accepted(xid, Accept::ProgMismatch);
    put_u32(&mut out, low);
    put_u32(&mut out, high);
    out
}

pub fn denied(bad: &BadCall) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(24);
    match *bad {
        BadCall::Unreadable => return None,
        BadCall::RpcMismatch(xid) => {
            for v in [xid, 1, 1, 0, 2, 2] {
                put_u32(&mut out, v);
            }
        }
        BadCall::Auth(xid, stat) => {
            for v in [xid, 1, 1, 1, stat as u32] {
                put_u32(&mut out, v);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(prog: u32, cred: &[u32]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [9u32, 0, 2, prog, 3, 1] {
            put_u32(&mut v, x);
        }
        for x in cred {
            put_u32(&mut v, *x);
        }
        for x in [0u32, 0, 0xAB] {
            put_u32(&mut v, x);
        }
        v
    }

    #[tokio::test]
    async fn fragments_are_joined_and_oversized_records_refused() {
        let mut wire = Vec::new();
        put_u32(&mut wire, 3);
        wire.extend_from_slice(b"abc");
        put_u32(&mut wire, 0x8000_0002);
        wire.extend_from_slice(b"de");
        let mut buf = Vec::new();
        read_record(&mut wire.as_slice(), &mut buf)
            .await
            .expect("record");
        assert_eq!(buf, b"abcde");
        let mut huge = Vec::new();
        put_u32(&mut huge, 0xFFFF_FFFF);
        assert!(matches!(
            read_record(&mut huge.as_slice(), &mut buf).await,
            Err(RecordError::TooLarge(_))
        ));
        assert!(matches!(
            read_record(&mut &b""[..], &mut buf).await,
            Err(RecordError::Closed)
        ));
        let mut sent = Vec::new();
        write_record(&mut sent, &b"xy".to_vec().into())
            .await
            .expect("write");
        assert_eq!(sent, [0x80, 0, 0, 2, b'x', b'y']);
        read_record(&mut sent.as_slice(), &mut buf)
            .await
            .expect("read back");
        assert_eq!(buf, b"xy");
    }

    /// A socket that takes at most 3 bytes per write: every slice boundary is crossed in parts.
    struct Trickle(Vec<u8>);

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn reply_tail_is_sent_after_the_body_and_padded() {
        let reply = Reply {
            body: b"head".to_vec(),
            tail: FsData::Bytes(bytes::Bytes::from_static(b"tailx")),
        };
        assert_eq!(reply.len(), 12);
        let mut sent = Trickle(Vec::new());
        write_record(&mut sent, &reply).await.expect("write");
        assert_eq!(sent.0, b"\x80\0\0\x0cheadtailx\0\0\0");
    }

    #[tokio::test]
    async fn a_file_tail_is_sent_from_the_file_between_header_and_padding() {
        use tokio::io::AsyncReadExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chunk");
        // Big enough that the socket takes it in several sendfile calls.
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).expect("write");
        let file = std::sync::Arc::new(std::fs::File::open(&path).expect("open"));
        let (offset, len) = (3usize, content.len() - 8);
        let reply = Reply {
            body: b"head".to_vec(),
            tail: FsData::File {
                file,
                offset: offset as u64,
                len,
            },
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let reader = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("read");
            got
        });
        let (_, mut w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        send_record(&mut w, &reply).await.expect("send");
        drop(w);
        let got = reader.await.expect("reader");
        let pad = (4 - len % 4) % 4;
        assert_eq!(got.len(), 4 + 4 + len + pad);
        assert_eq!(
            got[..4],
            (0x8000_0000u32 | (4 + len + pad) as u32).to_be_bytes()
        );
        assert_eq!(&got[4..8], b"head");
        assert!(
            got[8..8 + len] == content[offset..offset + len],
            "file bytes"
        );
        assert!(got[8 + len..].iter().all(|b| *b == 0));

        // A file shorter than its reply promised is an error, not a short record passed off
        // as whole (the connection then closes: see `connection`).
        let short = Reply {
            body: b"head".to_vec(),
            tail: FsData::File {
                file: std::sync::Arc::new(std::fs::File::open(&path).expect("open")),
                offset: (content.len() - 10) as u64,
                len: 100,
            },
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (_, mut w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let _peer = l.accept().await.expect("accept");
        let err = send_record(&mut w, &short).await.expect_err("short file");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn call_headers() {
        // AUTH_NONE
        let rec = call(100_003, &[0, 0]);
        let (c, args) = parse_call(&rec).expect("call");
        assert_eq!((c.xid, c.prog, c.vers, c.proc_), (9, 100_003, 3, 1));
        assert_eq!(c.cred, Cred::None);
        assert_eq!(args, &[0, 0, 0, 0xAB]);
        // AUTH_UNIX: stamp, machine "h", uid 1000, gid 100, one extra gid.
        let rec = call(
            100_003,
            &[
                1,
                28,
                0,
                1,
                u32::from_be_bytes(*b"h\0\0\0"),
                1000,
                100,
                1,
                5,
            ],
        );
        let (c, _) = parse_call(&rec).expect("call");
        assert_eq!(
            c.cred,
            Cred::Unix(UnixCred {
                uid: 1000,
                gid: 100
            })
        );
        // The body past the stamp: machine name, uid, gid, the extra gid.
        assert_eq!(rec[c.cred_bytes.clone()].len(), 24);
        assert_eq!(rec[c.cred_bytes.start..][..4], 1u32.to_be_bytes());
        // Unknown flavor, bad RPC version, a reply, truncation.
        assert_eq!(
            parse_call(&call(1, &[6, 0])),
            Err(BadCall::Auth(9, AuthStat::TooWeak))
        );
        let mut v1 = call(1, &[0, 0]);
        v1[11] = 1;
        assert_eq!(parse_call(&v1), Err(BadCall::RpcMismatch(9)));
        let mut reply = call(1, &[0, 0]);
        reply[7] = 1;
        assert_eq!(parse_call(&reply), Err(BadCall::Unreadable));
        assert_eq!(parse_call(&rec[..10]), Err(BadCall::Unreadable));
        assert!(denied(&BadCall::Unreadable).is_none());
        assert_eq!(denied(&BadCall::RpcMismatch(9)).map(|v| v.len()), Some(24));
    }
}
