//! The duplicate request cache (decision 0051): the replies of the non-idempotent NFSv3
//! procedures, kept by caller and call, so that a retransmission gets the answer the call had
//! instead of what running it again would answer. A client whose reply was lost (the
//! connection reset) reconnects and sends the same call, same xid, again: run twice, a REMOVE
//! that succeeded would answer NOENT, a MKDIR EXIST, and the program would see an error for an
//! operation that was done.
//!
//! Interface: [`Key::of`] says whether a call's reply is kept and under which key;
//! [`Drc::begin`] answers run it, replay these bytes, or send nothing (the same call is under
//! way: the client retransmits again later); [`Pending::finish`] keeps the reply of a call
//! that ran (a `Pending` dropped unfinished keeps nothing).
//!
//! Invariants: while its entry lives, a call runs at most once per key; an entry under way is
//! never evicted (there are at most as many as calls under way, `IN_FLIGHT`); finished entries
//! are bounded by [`ENTRIES`] and [`BYTES`], dropped after [`MAX_AGE`], least recently
//! inserted first; only accepted replies with a status (NFS3_OK or an error) are kept, never
//! a reply the call could not produce (GARBAGE_ARGS, SYSTEM_ERR) nor NFS3ERR_JUKEBOX (nothing
//! was done; the client is asked to try again).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::rpc::{self, Cred};

/// Finished calls whose replies are kept (knfsd sizes its cache from memory, 8192 at 64 MiB).
pub const ENTRIES: usize = 4096;
/// Bytes of kept replies, all entries together (a kept reply is 150–300 bytes: wcc data, a
/// handle and attributes), so [`ENTRIES`] is the bound that acts; this one is the backstop.
pub const BYTES: usize = 2 << 20;
/// Largest reply kept (larger ones are answered and forgotten; none of the kept procedures
/// builds one).
pub const MAX_REPLY: usize = 1024;
/// How long a finished call's reply is kept (knfsd's `RC_EXPIRE`): a client retransmits
/// within its timeout (`timeo`, 60 s for TCP mounts) plus a reconnect.
pub const MAX_AGE: Duration = Duration::from_secs(120);

/// The NFSv3 procedures whose replies are kept: SETATTR, CREATE, MKDIR, SYMLINK, MKNOD,
/// REMOVE, RMDIR, RENAME, LINK. Not WRITE (rewriting the same bytes at the same offset
/// leaves the file as it was, and hashing up to 1 MiB of arguments per WRITE is not free),
/// not COMMIT, nor anything that only reads.
const KEPT: [u32; 9] = [2, 8, 9, 10, 11, 12, 13, 14, 15];

/// NFS3ERR_JUKEBOX: "try again later"; not kept.
const JUKEBOX: u32 = 10008;

/// Which call a reply answers: the caller's address (not its port: a client reconnecting
/// after a reset may come from another one), the xid, program, version, procedure, and a
/// digest of the credential and the arguments, so an xid reused for another call is not taken
/// for a retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    ip: IpAddr,
    xid: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    /// The first 16 bytes of SHA-256 over the credential's flavor and body (without an
    /// AUTH_UNIX stamp) and the argument bytes.
    digest: [u8; 16],
}

impl Key {
    /// The key of `call` (parsed from record `rec`, arguments `args`) from `ip`; `None`: its
    /// procedure's reply is not kept.
    pub(crate) fn of(call: &rpc::Call, rec: &[u8], args: &[u8], ip: IpAddr) -> Option<Key> {
        if call.prog != nfs3_types::nfs3::PROGRAM || call.vers != 3 || !KEPT.contains(&call.proc_) {
            return None;
        }
        let flavor = match call.cred {
            Cred::None => rpc::AUTH_NONE,
            Cred::Unix(_) => rpc::AUTH_UNIX,
        };
        let cred = rec.get(call.cred_bytes.clone()).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(flavor.to_be_bytes());
        h.update((cred.len() as u32).to_be_bytes());
        h.update(cred);
        h.update(args);
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&h.finalize()[..16]);
        Some(Key {
            // An IPv4 client seen through a dual-stack socket is the same client.
            ip: ip.to_canonical(),
            xid: call.xid,
            prog: call.prog,
            vers: call.vers,
            proc_: call.proc_,
            digest,
        })
    }
}

/// What to do with a call whose reply is kept.
pub(crate) enum Begin<'a> {
    /// Not seen (or forgotten): run it, then [`Pending::finish`] with its reply.
    Run(Pending<'a>),
    /// Seen and answered: send these bytes again (the reply carries the same xid).
    Replay(Vec<u8>),
    /// The same call is under way: send nothing; the client retransmits again later.
    Drop,
}

/// A call under way whose reply will be kept; dropped unfinished (the call's future was
/// cancelled, or it panicked), its entry goes and a retransmission runs it.
pub(crate) struct Pending<'a> {
    drc: &'a Drc,
    key: Key,
    open: bool,
}

impl Pending<'_> {
    /// Keeps `reply` for the call's retransmissions, if it is a reply worth keeping.
    pub(crate) fn finish(mut self, reply: &rpc::Reply) {
        self.open = false;
        self.drc.finish_at(&self.key, reply, Instant::now());
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.open {
            self.drc.lock().forget_running(&self.key);
        }
    }
}

#[derive(Default)]
pub(crate) struct Drc {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// The finished entries, least recently inserted first, with when each was inserted:
    /// exactly the `Done` keys of `entries` (finished entries leave only from the front).
    done: VecDeque<(Key, Instant)>,
    /// Bytes of the `Done` replies.
    bytes: usize,
}

enum Entry {
    Running,
    Done(Vec<u8>),
}

impl Drc {
    /// Looks `key` up; an unseen key is marked under way until its `Pending` finishes.
    pub(crate) fn begin(&self, key: Key) -> Begin<'_> {
        self.begin_at(key, Instant::now())
    }

    fn begin_at(&self, key: Key, now: Instant) -> Begin<'_> {
        let mut inner = self.lock();
        inner.expire(now);
        match inner.entries.get(&key) {
            Some(Entry::Running) => Begin::Drop,
            Some(Entry::Done(body)) => Begin::Replay(body.clone()),
            None => {
                inner.entries.insert(key, Entry::Running);
                Begin::Run(Pending {
                    drc: self,
                    key,
                    open: true,
                })
            }
        }
    }

    fn finish_at(&self, key: &Key, reply: &rpc::Reply, now: Instant) {
        let mut inner = self.lock();
        inner.forget_running(key);
        if !keep(reply) {
            return;
        }
        inner.expire(now);
        inner.entries.insert(*key, Entry::Done(reply.body.clone()));
        inner.done.push_back((*key, now));
        inner.bytes += reply.body.len();
        while inner.done.len() > ENTRIES || inner.bytes > BYTES {
            inner.pop_oldest();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl Inner {
    /// Drops the finished entries older than [`MAX_AGE`].
    fn expire(&mut self, now: Instant) {
        while self
            .done
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) > MAX_AGE)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((key, _)) = self.done.pop_front()
            && let Some(Entry::Done(body)) = self.entries.remove(&key)
        {
            self.bytes -= body.len();
        }
    }

    fn forget_running(&mut self, key: &Key) {
        if matches!(self.entries.get(key), Some(Entry::Running)) {
            self.entries.remove(key);
        }
    }
}

/// Whether `reply` answers its call for good: accepted, SUCCESS, a status that is not
/// JUKEBOX, all in the body, small.
fn keep(reply: &rpc::Reply) -> bool {
    let word = |i: usize| {
        reply
            .body
            .get(4 * i..4 * i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    // xid, REPLY, MSG_ACCEPTED, verifier flavor, verifier length (0), accept_stat, nfsstat3.
    reply.tail.is_empty()
        && reply.body.len() <= MAX_REPLY
        && word(1) == Some(1)
        && word(2) == Some(0)
        && word(4) == Some(0)
        && word(5) == Some(rpc::Accept::Success as u32)
        && word(6).is_some_and(|st| st != JUKEBOX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::put_u32;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));

    /// A call record: AUTH_UNIX with `stamp` and `uid`, then `args`.
    fn record(xid: u32, proc_: u32, stamp: u32, uid: u32, args: &[u8]) -> Vec<u8> {
        let mut rec = Vec::new();
        for v in [xid, 0, 2, nfs3_types::nfs3::PROGRAM, 3, proc_] {
            put_u32(&mut rec, v);
        }
        // AUTH_UNIX: stamp, machine "h", uid, gid, no extra gids; AUTH_NONE verifier.
        for v in [
            rpc::AUTH_UNIX,
            24,
            stamp,
            1,
            u32::from_be_bytes(*b"h\0\0\0"),
            uid,
            100,
            0,
            0,
            0,
        ] {
            put_u32(&mut rec, v);
        }
        rec.extend_from_slice(args);
        rec
    }

    fn key(rec: &[u8], ip: IpAddr) -> Option<Key> {
        let (call, args) = rpc::parse_call(rec).expect("call");
        Key::of(&call, rec, args, ip)
    }

    /// An accepted reply to `xid` with status `st` and `pad` more bytes.
    fn reply(xid: u32, st: u32, pad: usize) -> rpc::Reply {
        let mut body = rpc::accepted(xid, rpc::Accept::Success);
        put_u32(&mut body, st);
        body.resize(body.len() + pad, 0);
        body.into()
    }

    fn run<'a>(drc: &'a Drc, k: Key, now: Instant) -> Pending<'a> {
        match drc.begin_at(k, now) {
            Begin::Run(p) => p,
            Begin::Replay(_) => panic!("replayed"),
            Begin::Drop => panic!("dropped"),
        }
    }

    #[test]
    fn a_retransmission_gets_the_kept_reply() {
        let drc = Drc::default();
        let rec = record(7, 12, 1, 1000, b"\0\0\0\x01x\0\0\0");
        let k = key(&rec, IP).expect("REMOVE is kept");
        let answer = reply(7, 0, 40);
        run(&drc, k, Instant::now()).finish(&answer);
        // Same call again, from another port of the same address, re-encoded by an older
        // Linux client with a new AUTH_UNIX stamp: the same key.
        let again = record(7, 12, 99, 1000, b"\0\0\0\x01x\0\0\0");
        assert_eq!(key(&again, IP), Some(k));
        match drc.begin(k) {
            Begin::Replay(body) => assert_eq!(body, answer.body),
            _ => panic!("not replayed"),
        }
        // A mapped IPv4 address is the same client.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 5).to_ipv6_mapped());
        assert_eq!(key(&rec, mapped), Some(k));
    }

    #[test]
    fn a_retransmission_of_a_call_under_way_is_dropped() {
        let drc = Drc::default();
        let k = key(&record(8, 9, 0, 0, b"args"), IP).expect("MKDIR is kept");
        let pending = run(&drc, k, Instant::now());
        assert!(matches!(drc.begin(k), Begin::Drop));
        assert!(matches!(drc.begin(k), Begin::Drop));
        pending.finish(&reply(8, 0, 0));
        assert!(matches!(drc.begin(k), Begin::Replay(_)));
    }

    #[test]
    fn the_same_xid_with_other_arguments_or_caller_is_another_call() {
        let drc = Drc::default();
        let k = key(&record(9, 12, 0, 0, b"name-a.."), IP).expect("kept");
        run(&drc, k, Instant::now()).finish(&reply(9, 0, 0));
        let other_args = key(&record(9, 12, 0, 0, b"name-b.."), IP).expect("kept");
        let other_uid = key(&record(9, 12, 0, 1, b"name-a.."), IP).expect("kept");
        let other_proc = key(&record(9, 13, 0, 0, b"name-a.."), IP).expect("kept");
        let other_ip = key(
            &record(9, 12, 0, 0, b"name-a.."),
            "10.0.0.6".parse().expect("ip"),
        )
        .expect("kept");
        for k2 in [other_args, other_uid, other_proc, other_ip] {
            assert_ne!(k2, k);
            assert!(matches!(drc.begin(k2), Begin::Run(_)), "{k2:?}");
        }
        assert!(matches!(drc.begin(k), Begin::Replay(_)));
    }

    #[test]
    fn only_non_idempotent_procedures_are_kept() {
        for proc_ in 0..22 {
            let kept = key(&record(1, proc_, 0, 0, b""), IP).is_some();
            assert_eq!(kept, KEPT.contains(&proc_), "procedure {proc_}");
        }
        // WRITE (7) and COMMIT (21) are not.
        assert!(!KEPT.contains(&7) && !KEPT.contains(&21));
        // Another program's procedure 12 is not.
        let mut mount = record(1, 12, 0, 0, b"");
        mount[12..16].copy_from_slice(&nfs3_types::mount::PROGRAM.to_be_bytes());
        assert!(key(&mount, IP).is_none());
    }

    #[test]
    fn replies_that_are_not_answers_are_not_kept() {
        let drc = Drc::default();
        let k = key(&record(3, 14, 0, 0, b"x"), IP).expect("kept");
        for r in [
            rpc::accepted(3, rpc::Accept::GarbageArgs).into(),
            rpc::accepted(3, rpc::Accept::SystemErr).into(),
            reply(3, JUKEBOX, 0),
            reply(3, 0, MAX_REPLY),
        ] {
            run(&drc, k, Instant::now()).finish(&r);
            assert!(matches!(drc.begin(k), Begin::Run(_)), "{r:?} kept");
        }
        // An error status is an answer: kept.
        run(&drc, k, Instant::now()).finish(&reply(3, 2, 0));
        assert!(matches!(drc.begin(k), Begin::Replay(_)));
    }

    #[test]
    fn a_call_cancelled_under_way_is_forgotten() {
        let drc = Drc::default();
        let k = key(&record(4, 2, 0, 0, b"x"), IP).expect("kept");
        drop(run(&drc, k, Instant::now()));
        assert!(matches!(drc.begin(k), Begin::Run(_)));
    }

    #[test]
    fn the_oldest_entries_go_first_by_count_bytes_and_age() {
        let drc = Drc::default();
        let t0 = Instant::now();
        let k = |xid: u32| key(&record(xid, 12, 0, 0, b"n"), IP).expect("kept");
        for xid in 0..ENTRIES as u32 + 10 {
            run(&drc, k(xid), t0).finish(&reply(xid, 0, 0));
        }
        // The first ten went; the rest are there.
        for xid in 0..10 {
            assert!(matches!(drc.begin_at(k(xid), t0), Begin::Run(_)), "{xid}");
            drc.lock().forget_running(&k(xid));
        }
        for xid in 10..ENTRIES as u32 + 10 {
            assert!(matches!(drc.begin_at(k(xid), t0), Begin::Replay(_)));
        }
        {
            let inner = drc.lock();
            assert_eq!(inner.done.len(), ENTRIES);
            assert_eq!(inner.entries.len(), ENTRIES);
        }

        // By bytes: replies of MAX_REPLY bytes fill BYTES before ENTRIES.
        let big = Drc::default();
        let n = BYTES / MAX_REPLY;
        for xid in 0..n as u32 + 3 {
            let r = reply(xid, 0, MAX_REPLY - 28);
            assert_eq!(r.body.len(), MAX_REPLY);
            run(&big, k(xid), t0).finish(&r);
        }
        let inner = big.lock();
        assert_eq!(inner.done.len(), n);
        assert!(inner.bytes <= BYTES);
        drop(inner);
        assert!(matches!(big.begin_at(k(2), t0), Begin::Run(_)));
        assert!(matches!(big.begin_at(k(3), t0), Begin::Replay(_)));

        // By age: past MAX_AGE, an entry goes, and the younger one stays.
        let aged = Drc::default();
        run(&aged, k(1), t0).finish_at_for_test(&reply(1, 0, 0), t0);
        let t1 = t0 + Duration::from_secs(60);
        run(&aged, k(2), t1).finish_at_for_test(&reply(2, 0, 0), t1);
        let later = t0 + MAX_AGE + Duration::from_secs(1);
        assert!(matches!(aged.begin_at(k(1), later), Begin::Run(_)));
        assert!(matches!(aged.begin_at(k(2), later), Begin::Replay(_)));
        let gone = t1 + MAX_AGE + Duration::from_secs(1);
        assert!(matches!(aged.begin_at(k(2), gone), Begin::Run(_)));
        let inner = aged.lock();
        assert_eq!((inner.done.len(), inner.bytes), (0, 0));
    }

    impl Pending<'_> {
        /// [`Pending::finish`] at a given time.
        fn finish_at_for_test(mut self, reply: &rpc::Reply, now: Instant) {
            self.open = false;
            self.drc.finish_at(&self.key, reply, now);
        }
    }
}
