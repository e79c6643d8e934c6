//! gatehouse-nfs: NFSv3, MOUNT v3 and a PORTMAP GETPORT answer on one TCP listener.
//!
//! # Layout
//! - [`rpc`]: ONC RPC record marking, the CALL header (AUTH_NONE/AUTH_UNIX), reply envelopes.
//! - `xdr`: bounded argument decoding by hand (replies are packed with `nfs3_types`).
//! - [`handle`]: HMAC-signed file handles bound to the client's address (or a mount token).
//! - `portmap`, `mount`, `nfs/` (read, readdir, write): one function per procedure, each one
//!   store call.
//! - `error`: the one `StoreError → nfsstat3` table.
//! - `drc`: the duplicate request cache: replies of the non-idempotent procedures kept by
//!   caller and call, so a retransmission gets the reply the call had (decision 0051).
//!
//! We own the accept loop, so every call knows the connection's peer address: the caller is
//! the registered peer's user for that address, else the guest principal, resolved again for
//! every call (a binding change applies to the next operation). AUTH_UNIX uids are the
//! client's claim and never identify anyone. Calls of one connection run concurrently (at
//! most [`PER_CONNECTION`], [`IN_FLIGHT`] across all), replies matched by xid. Invariants: a
//! bad client never panics the server or holds more than its bounded records in memory; the
//! store stays free of NFS types.

mod drc;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod handle;
mod mount;
mod nfs;
mod portmap;
pub mod rpc;
mod writeback;
mod xdr;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use gatehouse_store::{Principal, Store, StoreError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::handle::{Bearer, Handle, Signer, address_tag, principal_tag};
use crate::rpc::{Accept, RecordError};

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; further clients wait in the kernel's accept queue until one
    /// closes. Memory stays bounded by [`IN_FLIGHT`] whatever this is.
    pub max_connections: usize,
    /// A connection with no call under way that sends nothing for this long is closed (knfsd
    /// closes idle connections after 6 minutes; the client reconnects when it needs to).
    pub idle_timeout: std::time::Duration,
}
/// Calls one connection may have under way at once.
pub const PER_CONNECTION: usize = 32;
/// 1 MiB windows of UNSTABLE writes held in memory across all files (the rest wait in scratch
/// files on the data disk).
pub const WRITE_BACK_MEMORY_WINDOWS: usize = writeback::MEMORY_WINDOWS;
/// Finished non-idempotent calls whose replies the duplicate request cache keeps (decision
/// 0051).
pub const DRC_ENTRIES: usize = drc::ENTRIES;
/// Bytes of replies the duplicate request cache keeps at most.
pub const DRC_BYTES: usize = drc::BYTES;
/// How long the duplicate request cache keeps a reply.
pub const DRC_MAX_AGE: std::time::Duration = drc::MAX_AGE;
/// Calls under way across all connections: with records capped at 1 MiB + 64 KiB, this bounds
/// what clients can make the gateway hold (~140 MiB). A connection takes one of these only once
/// a record's first byte has arrived, so idle mounts, however many, hold none.
pub const IN_FLIGHT: usize = 128;

/// Serves until `stop` turns true, then lets each connection finish its current call.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let port = listener.local_addr().map_or(0, |a| a.port());
    let gw = Arc::new(Gateway::new(store, port));
    let flusher = tokio::spawn({
        let gw = gw.clone();
        async move {
            let mut tick = tokio::time::interval(writeback::IDLE_MAX / 4);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                gw.writeback
                    .flush_older(&gw.store, writeback::IDLE_MAX, writeback::AGE_MAX)
                    .await;
            }
        }
    });
    let max = limits.max_connections.max(1);
    let mut conns = JoinSet::new();
    let conn_stop = stop.clone();
    let (mut warned_full, mut warned_error) = (None, None);
    loop {
        if conns.len() >= max {
            // At the cap: accept nothing until a connection ends; clients wait in the queue.
            if once_a_second(&mut warned_full) {
                tracing::warn!(
                    limit = max,
                    "nfs listener at its connection limit: new clients wait to be accepted"
                );
            }
            tokio::select! {
                _ = stopped(&mut stop) => break,
                Some(_) = conns.join_next() => continue,
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    conns.spawn(connection(gw.clone(), sock, peer, limits.idle_timeout, conn_stop.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off rather than spin.
                    if once_a_second(&mut warned_error) {
                        tracing::warn!(error = %e, "nfs accept failed; retrying");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // A client that stops reading its replies must not hold shutdown forever.
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), drained)
        .await
        .is_err()
    {
        tracing::warn!("nfs connections still busy after 5 s at shutdown, closing them");
        conns.abort_all();
    }
    // What clients wrote UNSTABLE and did not COMMIT yet is committed before we stop.
    flusher.abort();
    let zero = std::time::Duration::ZERO;
    gw.writeback.flush_older(&gw.store, zero, zero).await;
}

/// True at most once a second (for a log line that could repeat fast).
fn once_a_second(last: &mut Option<std::time::Instant>) -> bool {
    let now = std::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// Set when a reply cannot be sent or a record is not a call: the connection ends.
#[derive(Default)]
struct Broken {
    flag: std::sync::atomic::AtomicBool,
    told: tokio::sync::Notify,
}

impl Broken {
    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.told.notify_one();
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// Why a connection's wait ended early.
enum Ended {
    /// The server is stopping: the calls under way answer, then the connection closes.
    Stopped,
    /// A reply could not be sent, or a record was not a call: the connection closes now.
    Broken,
}

/// Resolves once the stop signal is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

async fn connection(
    gw: Arc<Gateway>,
    sock: TcpStream,
    peer: SocketAddr,
    idle_timeout: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let (rd, wr) = sock.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    // Calls run concurrently (a client pipelines: the Linux client keeps many calls in flight
    // on one connection, and concurrent metadata calls share one group commit); each call
    // writes its own reply when it is ready (one at a time), matched by xid. Bounded per
    // connection and in all, so clients cannot make the gateway hold more than that many
    // records.
    let mine = Arc::new(tokio::sync::Semaphore::new(PER_CONNECTION));
    // `None` once a reply was cut short: a record that stops midway cannot be resynchronised
    // (the client would read the next reply as the rest of it), so nothing more is sent.
    let wr = Arc::new(tokio::sync::Mutex::new(Some(wr)));
    // Told when a reply cannot be sent or a record is not a call: the connection ends.
    let broken = Arc::new(Broken::default());
    // The server stopping or the connection broken: one future for the connection's life,
    // polled by every wait below (not made anew for each call). The waits poll it after
    // what they wait for, so for a client that never pauses each record also looks at
    // `stopping` and `broken`'s flag.
    let stopping = stop.clone();
    let mut ended = std::pin::pin!({
        let broken = broken.clone();
        async move {
            tokio::select! {
                _ = stopped(&mut stop) => Ended::Stopped,
                _ = broken.told.notified() => Ended::Broken,
            }
        }
    });
    // The idle clock, one timer for the connection's life: it fires at the deadline it was
    // last set to, and is set again from `active` (when the wait for a record, or the reading
    // of one, began) if that moved since, so a call costs no timer of its own.
    let until = |t: tokio::time::Instant| {
        t.checked_add(idle_timeout)
            .unwrap_or_else(|| t + std::time::Duration::from_secs(86_400 * 365))
    };
    let mut active = tokio::time::Instant::now();
    let mut idle = std::pin::pin!(tokio::time::sleep_until(until(active)));
    'conn: loop {
        if broken.is_set() {
            return;
        }
        if *stopping.borrow() {
            break;
        }
        // Wait for room on this connection before reading the next record, so a flood waits in
        // the socket.
        let Ok(local) = mine.clone().acquire_owned().await else {
            break;
        };
        // The wait for the next record counts from here (not while this connection waited
        // for its own calls to finish).
        active = tokio::time::Instant::now();
        let mut buf = Vec::new();
        // Idle: waiting for the first byte of the next record. The idle clock counts only
        // here, so a record that starts late in an idle spell is not cut while it arrives.
        loop {
            tokio::select! {
                biased;
                r = rd.fill_buf() => match r {
                    Ok([]) => break 'conn,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "nfs connection ended");
                        break 'conn;
                    }
                },
                e = &mut ended => match e {
                    Ended::Stopped => break 'conn,
                    Ended::Broken => return,
                },
                () = &mut idle => {
                    let now = tokio::time::Instant::now();
                    if now < until(active) {
                        idle.as_mut().reset(until(active));
                        continue;
                    }
                    // Calls under way (this loop holds one permit itself): not idle.
                    if mine.available_permits() + 1 < PER_CONNECTION {
                        active = now;
                        idle.as_mut().reset(until(now));
                        continue;
                    }
                    tracing::debug!(%peer, "closing an idle nfs connection");
                    break 'conn;
                }
            }
        }
        // A record has begun: only now does it wait for room among all connections' calls,
        // so connections waiting for their next call do not hold what others' calls need.
        let global = tokio::select! {
            biased;
            p = gw.in_flight.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break 'conn,
            },
            e = &mut ended => match e {
                Ended::Stopped => break 'conn,
                Ended::Broken => return,
            },
        };
        // A record that has begun must be complete within the idle timeout (counted once it
        // has room, not while it waited for other connections' calls): a client cannot hold
        // the connection by trickling one.
        active = tokio::time::Instant::now();
        let got = {
            let mut read = std::pin::pin!(rpc::read_record(&mut rd, &mut buf));
            loop {
                tokio::select! {
                    biased;
                    r = &mut read => break r,
                    e = &mut ended => match e {
                        Ended::Stopped => break 'conn,
                        Ended::Broken => return,
                    },
                    () = &mut idle => {
                        if tokio::time::Instant::now() < until(active) {
                            idle.as_mut().reset(until(active));
                            continue;
                        }
                        tracing::debug!(%peer, "closing an nfs connection: a record took too long to arrive");
                        break 'conn;
                    }
                }
            }
        };
        match got {
            Ok(()) => {}
            Err(RecordError::Closed) => break,
            // Clients reset connections they are done with; nothing to report.
            Err(RecordError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing nfs connection");
                break;
            }
        }
        let (gw, wr, broken) = (gw.clone(), wr.clone(), broken.clone());
        tokio::spawn(async move {
            // Not boxed: procedures box their own state (`nfs::call`), so the task stays small.
            let answer = gw.call(&buf, peer.ip()).await;
            drop(buf);
            match answer {
                Answer::NotACall => {
                    tracing::info!(%peer, "unreadable RPC record, closing the connection");
                    broken.set();
                }
                Answer::Nothing => {}
                Answer::Reply(r) => {
                    let mut w = wr.lock().await;
                    if let Some(sock) = w.as_mut()
                        && let Err(e) = rpc::send_record(sock, &r).await
                    {
                        // Dropping the write half ends the stream (FIN) after what was sent.
                        *w = None;
                        tracing::info!(%peer, error = %e, "nfs reply not sent, closing the connection");
                        broken.set();
                    }
                }
            }
            drop((local, global));
        });
    }
    // Let the calls under way answer, then close.
    let _ = mine.acquire_many(PER_CONNECTION as u32).await;
}

/// The caller of one RPC: the principal, and whom its handles are minted for.
/// `p` calling from `ip`: the address a bucket policy's `aws:SourceIp` sees (decision 0043).
/// Only while some bucket has access settings (otherwise nothing would read it).
fn from_address(mut p: Principal, ip: IpAddr) -> Principal {
    if !p.access.buckets.is_empty() {
        p.facts = std::sync::Arc::new(gatehouse_store::rbac::RequestFacts {
            source_ip: Some(ip),
            ..Default::default()
        });
    }
    p
}

/// What one record gets.
pub(crate) enum Answer {
    Reply(rpc::Reply),
    /// A retransmission of a call still under way: nothing is sent (the client sends it
    /// again, and then gets the reply kept for it).
    Nothing,
    /// Not a call at all: the connection closes.
    NotACall,
}

pub(crate) struct Caller {
    pub principal: Principal,
    pub bearer: Bearer,
    /// Whether version-1 handles (minted before handles followed the address) verify for
    /// this caller's principal: address callers only.
    pub legacy: bool,
}

pub(crate) struct Gateway {
    pub store: Store,
    pub signer: Signer,
    pub port: u16,
    /// UNSTABLE writes not committed yet, and the WRITE/COMMIT verifier: new for every start
    /// of the server (RFC 1813), so a client that wrote UNSTABLE before a restart sees it
    /// change at COMMIT and writes again.
    pub writeback: writeback::WriteBack,
    /// Permits for calls under way, across connections ([`IN_FLIGHT`]).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Share bucket id → name (handles carry ids).
    buckets: Mutex<HashMap<u64, String>>,
    /// READDIR cookies handed out, per directory (see `nfs::readdir`).
    cookies: Mutex<nfs::Cookies>,
    /// Replies of non-idempotent calls, for their retransmissions.
    drc: drc::Drc,
}

impl Gateway {
    fn new(store: Store, port: u16) -> Self {
        let signer = Signer::new(store.derive_key("nfs-handle"));
        Gateway {
            store,
            signer,
            port,
            writeback: writeback::WriteBack::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            buckets: Mutex::new(HashMap::new()),
            cookies: Mutex::new(nfs::Cookies::default()),
            drc: drc::Drc::default(),
        }
    }

    /// One RPC record in, one reply out; a retransmission of a non-idempotent call gets the
    /// reply kept for it, or nothing while the call is still under way (`drc`).
    async fn call(&self, rec: &[u8], ip: IpAddr) -> Answer {
        let started = std::time::Instant::now();
        let (call, args) = match rpc::parse_call(rec) {
            Ok(c) => c,
            Err(bad) => {
                return rpc::denied(&bad).map_or(Answer::NotACall, |r| Answer::Reply(r.into()));
            }
        };
        let (prog, proc_) = (call.prog, call.proc_);
        let span = tracing::debug_span!("nfs", xid = call.xid, %ip, prog, proc_);
        let pending = match drc::Key::of(&call, rec, args, ip).map(|k| self.drc.begin(k)) {
            None => None,
            Some(drc::Begin::Run(p)) => Some(p),
            Some(drc::Begin::Replay(body)) => {
                span.in_scope(|| tracing::debug!("retransmission answered with the kept reply"));
                let m = self.store.metrics();
                m.nfs_drc_replayed.fetch_add(1, Ordering::Relaxed);
                return self.answer(prog, proc_, rec.len(), rpc::Reply::from(body), started);
            }
            Some(drc::Begin::Drop) => {
                span.in_scope(|| tracing::debug!("retransmission of a call under way dropped"));
                let m = self.store.metrics();
                m.nfs_drc_dropped.fetch_add(1, Ordering::Relaxed);
                return Answer::Nothing;
            }
        };
        let reply = {
            use tracing::Instrument as _;
            self.dispatch(&call, args, ip).instrument(span).await
        };
        if let Some(p) = pending {
            p.finish(&reply);
        }
        self.answer(prog, proc_, rec.len(), reply, started)
    }

    /// A reply to send, counted in the metrics.
    fn answer(
        &self,
        prog: u32,
        proc_: u32,
        bytes_in: usize,
        reply: rpc::Reply,
        started: std::time::Instant,
    ) -> Answer {
        record_metrics(
            &self.store,
            prog,
            proc_,
            bytes_in,
            &reply,
            started.elapsed(),
        );
        Answer::Reply(reply)
    }

    async fn dispatch(&self, call: &rpc::Call, args: &[u8], ip: IpAddr) -> rpc::Reply {
        let xid = call.xid;
        match (call.prog, call.vers) {
            (portmap::PROGRAM, portmap::VERSION) => {
                portmap::call(xid, call.proc_, args, self.port).into()
            }
            (portmap::PROGRAM, _) => rpc::prog_mismatch(xid, 2, 2).into(),
            (nfs3_types::mount::PROGRAM, 3) => {
                Box::pin(mount::call(self, call, args, ip)).await.into()
            }
            (nfs3_types::mount::PROGRAM, _) => rpc::prog_mismatch(xid, 3, 3).into(),
            (nfs3_types::nfs3::PROGRAM, 3) => {
                // Rate limits (issue 22): an NFS call over its principal's rate waits.
                if self.store.nfs_rate_limited()
                    && let Ok(c) = self.caller(ip)
                    && let Some(wait) = self.store.admit_nfs(&c.principal, ip)
                {
                    tokio::time::sleep(wait).await;
                }
                nfs::call(self, call, args, ip).await
            }
            (nfs3_types::nfs3::PROGRAM, _) => rpc::prog_mismatch(xid, 3, 3).into(),
            _ => rpc::accepted(xid, Accept::ProgUnavail).into(),
        }
    }

    /// Who is calling from `ip`, resolved now from the current peers and policy. Its handles
    /// are bound to `ip`, not to the principal: a `peer add`/`peer remove` changes who the
    /// next call runs as, not which handles it may present.
    pub(crate) fn caller(&self, ip: IpAddr) -> Result<Caller, StoreError> {
        let principal = match self.store.peer_principal(ip)? {
            Some(p) => p,
            None => self.store.guest_principal(),
        };
        Ok(Caller {
            principal: from_address(principal, ip),
            bearer: Bearer::Address(address_tag(ip)),
            legacy: true,
        })
    }

    /// Who is calling with handle `raw`: the mount-token user a token handle names while that
    /// user's credentials are unchanged, else whoever `ip` is.
    pub(crate) fn caller_with(&self, ip: IpAddr, raw: Option<&[u8]>) -> Result<Caller, StoreError> {
        if let Some((user, generation)) = raw.and_then(|r| self.signer.token_of(r))
            && let Some(principal) = self.store.nfs_token_user(&hex::encode(user), generation)?
        {
            return Ok(Caller {
                principal: from_address(principal, ip),
                bearer: Bearer::Token { user, generation },
                legacy: false,
            });
        }
        self.caller(ip)
    }

    /// The caller a mount token stands for (`None`: not a valid, current token), calling from
    /// `ip`.
    pub(crate) fn token_caller(
        &self,
        token: &str,
        ip: IpAddr,
    ) -> Result<Option<Caller>, StoreError> {
        let Some((principal, generation)) = self.store.nfs_token_principal(token)? else {
            return Ok(None);
        };
        let principal = from_address(principal, ip);
        let mut user = [0u8; 8];
        if hex::decode_to_slice(&principal.user_id, &mut user).is_err() {
            return Ok(None);
        }
        Ok(Some(Caller {
            principal,
            bearer: Bearer::Token { user, generation },
            legacy: false,
        }))
    }

    pub(crate) fn mint(&self, c: &Caller, bucket_id: u64, ino: u64) -> Vec<u8> {
        self.signer.mint(
            Handle {
                bucket_id,
                ino,
                generation: 0,
            },
            &c.bearer,
        )
    }

    /// The handle, if `raw` is one we minted for caller `c` (or a version-1 handle of its
    /// principal); `None`: a bad handle.
    pub(crate) fn verify(&self, c: &Caller, raw: &[u8]) -> Option<Handle> {
        self.signer.verify(raw, &c.bearer).or_else(|| {
            // Version 1: bound to the principal the address stood for when it was minted.
            let old = c
                .legacy
                .then(|| Bearer::Principal(principal_tag(&c.principal.user_id)))?;
            self.signer.verify(raw, &old)
        })
    }

    /// The share bucket a handle points into: `Err(BADHANDLE)` for anything we did not mint
    /// for this caller, `Err(STALE)` when its share is gone.
    pub(crate) fn open(
        &self,
        c: &Caller,
        raw: &[u8],
    ) -> Result<(String, Handle), nfs3_types::nfs3::nfsstat3> {
        use nfs3_types::nfs3::nfsstat3;
        let h = self.verify(c, raw).ok_or(nfsstat3::NFS3ERR_BADHANDLE)?;
        if let Some(name) = self.bucket_cache().get(&h.bucket_id) {
            return Ok((name.clone(), h));
        }
        match self.store.fs_bucket_name(h.bucket_id) {
            Ok(Some(name)) => {
                self.bucket_cache().insert(h.bucket_id, name.clone());
                Ok((name, h))
            }
            Ok(None) => Err(nfsstat3::NFS3ERR_STALE),
            Err(e) => {
                error::log("open", &e);
                Err(error::nfsstat(&e))
            }
        }
    }

    pub(crate) fn remember_bucket(&self, id: u64, name: &str) {
        self.bucket_cache().insert(id, name.to_string());
    }

    fn bucket_cache(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        match self.buckets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub(crate) fn cookie_cache(&self) -> std::sync::MutexGuard<'_, nfs::Cookies> {
        match self.cookies.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Metric names of the NFS procedures, by number.
const NFS_PROCS: [&str; 22] = [
    "NFS3 NULL",
    "NFS3 GETATTR",
    "NFS3 SETATTR",
    "NFS3 LOOKUP",
    "NFS3 ACCESS",
    "NFS3 READLINK",
    "NFS3 READ",
    "NFS3 WRITE",
    "NFS3 CREATE",
    "NFS3 MKDIR",
    "NFS3 SYMLINK",
    "NFS3 MKNOD",
    "NFS3 REMOVE",
    "NFS3 RMDIR",
    "NFS3 RENAME",
    "NFS3 LINK",
    "NFS3 READDIR",
    "NFS3 READDIRPLUS",
    "NFS3 FSSTAT",
    "NFS3 FSINFO",
    "NFS3 PATHCONF",
    "NFS3 COMMIT",
];
/// Metric names of the MOUNT procedures, by number.
const MOUNT_PROCS: [&str; 6] = [
    "MOUNT3 NULL",
    "MOUNT3 MNT",
    "MOUNT3 DUMP",
    "MOUNT3 UMNT",
    "MOUNT3 UMNTALL",
    "MOUNT3 EXPORT",
];

/// One metrics record per call: the procedure, and as status the nfsstat3/mountstat3 of an
/// accepted reply (0 = OK), or 1000 + the RPC accept status when the call was not accepted.
fn record_metrics(
    store: &Store,
    prog: u32,
    proc_: u32,
    bytes_in: usize,
    whole: &rpc::Reply,
    latency: std::time::Duration,
) {
    let reply = whole.body.as_slice();
    use std::borrow::Cow;
    let name = |table: &[&'static str], prefix: &'static str| -> Cow<'static, str> {
        table.get(proc_ as usize).map_or_else(
            || Cow::Owned(format!("{prefix} {proc_}")),
            |n| Cow::Borrowed(*n),
        )
    };
    let op = match prog {
        p if p == nfs3_types::nfs3::PROGRAM => name(&NFS_PROCS, "NFS3"),
        p if p == nfs3_types::mount::PROGRAM => name(&MOUNT_PROCS, "MOUNT3"),
        p if p == portmap::PROGRAM => Cow::Owned(format!("PORTMAP {proc_}")),
        _ => Cow::Owned(format!("program {prog}")),
    };
    let word = |at: usize| {
        reply
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    // xid, REPLY, MSG_ACCEPTED, verifier (flavor, empty body), accept_stat, then the result.
    // Only NFS procedures (but NULL) and MNT begin their result with a status.
    let has_status = (prog == nfs3_types::nfs3::PROGRAM && proc_ != 0)
        || (prog == nfs3_types::mount::PROGRAM && proc_ == 1);
    let status = match (word(20), word(24)) {
        (Some(0), Some(st)) if has_status => st,
        (Some(0), _) => 0,
        (Some(accept), _) => 1000 + accept,
        (None, _) => 1000,
    };
    let code = (status != 0).then(|| format!("nfsstat {status}"));
    store
        .metrics()
        .record(gatehouse_store::metrics::RequestRecord {
            protocol: "nfs",
            op: &op,
            status: u16::try_from(status).unwrap_or(u16::MAX),
            error: code.as_deref(),
            latency,
            bytes_in: bytes_in as u64,
            bytes_out: whole.len() as u64,
        });
}
