//! The write-back buffer behind UNSTABLE writes (RFC 1813 §3.3.7, §3.3.21).
//!
//! An UNSTABLE WRITE is checked (the caller may put, the inode is a file, the growth fits the
//! quotas) and kept here; its reply says UNSTABLE with the server's write verifier. Where the
//! bytes wait ([`Held`]) is decided per 1 MiB window of the file: a window goes into memory
//! when a write brings at least [`MEMORY_PIECE`] of it, or starts it while appending (where the
//! buffer's furthest write ended), and one of the [`MEMORY_WINDOWS`] shared by all files is
//! free; every later write into that window, of any size, goes there too. Window buffers are
//! reused from write to write, so a stream of writes copies each byte once into pages already
//! in memory, and a flush hands a whole window to the chunk writer without another copy (at the
//! default chunk size; the chunk writer seals a copy on an encrypted share). Every other window
//! — scattered small writes, windows past the budget — waits in a scratch file of the store's
//! data disk ([`Store::fs_scratch_file`]: unnamed, sparse, at their own offsets, so they sit in
//! the page cache, not in the server's memory, as a local file system's dirty pages would),
//! made at its first use. A window is in one place or the other, never both; only the written
//! ranges are kept besides. A write that would take a window while all are taken and flushes
//! under way hold some waits for one, briefly ([`Inner::room_for`]); a buffer whose write found
//! none flushes the windows it holds. They reach the
//! store in one commit per file when: the client sends COMMIT for the file; a FILE_SYNC or
//! DATA_SYNC write to it arrives (kept in order); the file's buffer passes [`FILE_SOON`] (or
//! holds [`MEMORY_SOON`] windows in memory) while
//! dense (a background flush, so receiving overlaps hashing and disk) or [`FILE_HARD`] (the
//! writer waits), or all buffers pass [`TOTAL_MAX`]; any other procedure names a handle in the
//! same share (so READ, GETATTR, LOOKUP, READDIR, SETATTR, RENAME see what was written); the
//! file had no write for [`IDLE_MAX`] or has been buffered for [`AGE_MAX`] (so S3 sees it
//! soon); the server stops. A flush writes each chunk-sized window once, however many 4 KiB
//! writes landed in it, which is why a sparse buffer (random writes: few bytes per window) is
//! not flushed early: each flush would rewrite every window again.
//!
//! A flush the chunk service could not take (down or slow: `JUKEBOX`) puts the buffer back
//! for the client's next COMMIT, unless writes arrived meanwhile. Any other failed flush (a
//! quota filled by someone else meanwhile, a full disk, or that case) keeps its status for the
//! file's next COMMIT, and its bytes are gone: so the write verifier changes (RFC 1813
//! §3.3.7), and a client that retries its COMMIT is told to send its uncommitted writes again
//! instead of being told they are safe. A file deleted meanwhile drops its bytes, as a local
//! file system would. Per-file flush locks keep flushes of one file in write order.

mod held;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gatehouse_store::ops::{FsAttr, FsExtents};
use gatehouse_store::{Principal, Store, StoreError};
use nfs3_types::nfs3::nfsstat3;

use held::{Held, WindowBudget};

/// A file's buffer past this many bytes, dense (7/8 of every chunk window it touches but the
/// one being filled, [`dense`]), starts flushing in the background while the writer goes on.
pub const FILE_SOON: u64 = 16 << 20;
/// A file's buffer past this many bytes, or all buffers together past [`TOTAL_MAX`]: the writer
/// waits for its file's flush (back-pressure). Bytes on disk (page cache), not in memory.
pub const FILE_HARD: u64 = 256 << 20;
pub const TOTAL_MAX: u64 = 1 << 30;
/// A buffered file with no write for this long is flushed by the background task...
pub const IDLE_MAX: Duration = Duration::from_secs(1);
/// ...and one written all along, once its oldest buffered write is this old.
pub const AGE_MAX: Duration = Duration::from_secs(5);
/// The window a flush rewrites per touched chunk (the store's default chunk size): what tells
/// dense buffers from sparse ones, and the size of a window held in memory.
const WINDOW: u64 = 1 << 20;
/// Windows held in memory across all buffers, at most (16 MiB); past it, writes wait in
/// scratch files. Their buffers are kept for the next windows until none was taken for
/// [`SPARE_KEPT`].
pub const MEMORY_WINDOWS: usize = 16;
/// A dense buffer holding this many windows in memory starts flushing in the background, so
/// the next windows find room while it is written.
pub const MEMORY_SOON: usize = MEMORY_WINDOWS / 2;
/// Spare window buffers are kept while windows were taken this recently (a copy of many files
/// flushes between them), then let go.
const SPARE_KEPT: Duration = Duration::from_secs(5);
/// The longest a write waits for a window in memory ([`Inner::room_for`]).
const WINDOW_WAIT: Duration = Duration::from_millis(250);
/// A piece of at least this much of a window takes a window in memory even when it does not
/// start it (a client's writes arriving out of order, or in pieces of 64 KiB and more).
const MEMORY_PIECE: u64 = WINDOW / 16;

/// What a write left behind it ([`Inner::add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Plenty,
    /// Start a background flush of the file.
    FlushSoon,
    /// Flush the file before answering.
    FlushNow,
}

type Key = (u64, u64);

/// What the check of an earlier write to a buffer found: the file's attributes then, and the
/// size up to which its growth fit the quotas. A later write to the same buffer by the same
/// principal that stays within it needs no new check (the flush's commit checks again).
#[derive(Debug, Clone)]
pub struct Checked {
    pub attr: FsAttr,
    pub room_to: u64,
}

/// One file's buffered writes.
struct Pending {
    bucket: String,
    /// The principal of the last write; the flush commits as that principal.
    principal: Principal,
    /// The bytes, each at its own offset.
    held: Arc<Held>,
    /// Written ranges, start → end: sorted, disjoint, touching ones merged.
    ranges: BTreeMap<u64, u64>,
    /// Chunk windows the ranges touch.
    windows: HashSet<u64>,
    bytes: u64,
    /// The end of the furthest buffered write.
    end: u64,
    since: Instant,
    last: Instant,
    /// When the last write was made (ns since the epoch): the mtime its reply showed, and the
    /// file's once the flush commits.
    written_ns: i64,
    /// A background flush was started for these bytes.
    flush_started: bool,
    /// Taken by a flush: a writer that finds this starts over with the file's next buffer.
    taken: bool,
    checked: Option<Checked>,
}

/// A file's buffer: its own lock, so one file's (possibly 1 MiB) write into its scratch file
/// does not hold up other files.
type Slot = Arc<Mutex<Pending>>;

#[derive(Default)]
struct State {
    files: HashMap<Key, Slot>,
    total: u64,
    /// Statuses of failed flushes, reported by the file's next COMMIT.
    failed: HashMap<Key, nfsstat3>,
}

/// Cheap to clone: a background flush holds one.
#[derive(Clone)]
pub(crate) struct WriteBack(Arc<Inner>);

impl Default for WriteBack {
    fn default() -> Self {
        WriteBack(Arc::new(Inner {
            // The start time in the high bits, bumps in the low 16: a restart never hands out
            // a verifier an earlier run used, however many bumps that run made.
            verifier: std::sync::atomic::AtomicU64::new(
                (gatehouse_store::now_unix_ms() as u64) << 16,
            ),
            state: Mutex::default(),
            flushing: Mutex::default(),
            budget: Arc::default(),
        }))
    }
}

pub(crate) struct Inner {
    /// The WRITE/COMMIT verifier: new at every start of the server and whenever buffered
    /// bytes are lost (see the module's notes).
    verifier: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
    /// One lock per file being flushed, so two flushes of it commit in order.
    flushing: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    /// The budget of windows held in memory, and their spare buffers.
    budget: Arc<WindowBudget>,
}

impl std::ops::Deref for WriteBack {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl WriteBack {
    /// The verifier WRITE and COMMIT replies carry now.
    pub fn verifier(&self) -> [u8; 8] {
        self.verifier
            .load(std::sync::atomic::Ordering::Acquire)
            .to_be_bytes()
    }

    /// Flushes one file in the background (a failure is kept for its COMMIT).
    pub fn flush_later(&self, store: &Store, bucket_id: u64, ino: u64) {
        let (wb, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            let _ = wb.flush_file(&store, bucket_id, ino).await;
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Nothing buffered and no flush under way.
    pub fn is_empty(&self) -> bool {
        self.state().files.is_empty() && lock(&self.flushing).is_empty()
    }

    /// The end of the furthest buffered write to a file, if any.
    pub fn buffered_end(&self, bucket_id: u64, ino: u64) -> Option<u64> {
        let slot = self.state().files.get(&(bucket_id, ino)).cloned()?;
        let p = lock(&slot);
        (!p.taken).then_some(p.end)
    }

    /// The attributes an earlier check of this file's buffer found, if `principal` wrote last
    /// and growing the file to `grows_to` stays within what that check allowed.
    pub fn checked(
        &self,
        bucket_id: u64,
        ino: u64,
        principal: &Principal,
        grows_to: u64,
    ) -> Option<FsAttr> {
        let slot = self.state().files.get(&(bucket_id, ino)).cloned()?;
        let p = lock(&slot);
        let c = p.checked.as_ref()?;
        let same = same_principal(&p.principal, principal);
        (!p.taken && same && grows_to <= c.room_to).then(|| c.attr.clone())
    }

    /// Keeps one write (`data` at `offset` of the file) and the check it passed, if it made a
    /// new one; says whether the file should be flushed now, soon, or not yet. An error: the
    /// scratch file could not take the bytes (a full disk).
    pub fn add(
        &self,
        store: &Store,
        (bucket_id, bucket, ino): (u64, &str, u64),
        principal: &Principal,
        (offset, data): (u64, &[u8]),
        checked: Option<Checked>,
        at_ns: i64,
    ) -> Result<Room, StoreError> {
        let key = (bucket_id, ino);
        let end = offset + data.len() as u64;
        loop {
            let slot = {
                let mut st = self.state();
                match st.files.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        let now = Instant::now();
                        let s = Arc::new(Mutex::new(Pending {
                            bucket: bucket.to_string(),
                            principal: principal.clone(),
                            held: Arc::new(Held::new(self.budget.clone())),
                            ranges: BTreeMap::new(),
                            windows: HashSet::new(),
                            bytes: 0,
                            end: 0,
                            since: now,
                            last: now,
                            written_ns: at_ns,
                            flush_started: false,
                            taken: false,
                            checked: None,
                        }));
                        st.files.insert(key, s.clone());
                        s
                    }
                }
            };
            let mut p = lock(&slot);
            if p.taken {
                continue; // flushed meanwhile: this write goes into the file's next buffer
            }
            let appending = offset == p.end;
            let short = p
                .held
                .write(&|| store.fs_scratch_file(), offset, data, appending)?;
            if !same_principal(&p.principal, principal) {
                p.principal = principal.clone();
            }
            if let Some(c) = &checked {
                p.checked = Some(c.clone());
            }
            let grew = insert(&mut p.ranges, offset, end);
            p.bytes += grew;
            for w in offset / WINDOW..end.div_ceil(WINDOW) {
                p.windows.insert(w);
            }
            p.end = p.end.max(end);
            p.last = Instant::now();
            p.written_ns = p.written_ns.max(at_ns);
            let file_bytes = p.bytes;
            let dense = dense(file_bytes, p.windows.len());
            // (a file that found no window free flushes the ones it holds, so files streamed
            // at once give windows back before any of them holds `MEMORY_SOON`)
            let in_memory = p.held.in_memory();
            let many =
                file_bytes >= FILE_SOON || in_memory >= MEMORY_SOON || (short && in_memory > 0);
            let soon = many && dense && !p.flush_started;
            p.flush_started |= soon;
            // Counted while the buffer is held, so a flush taking it subtracts these bytes
            // only after they were added (lock order: a buffer, then the state).
            let total = {
                let mut st = self.state();
                st.total += grew;
                st.total
            };
            drop(p);
            return Ok(if file_bytes >= FILE_HARD || total >= TOTAL_MAX {
                Room::FlushNow
            } else if soon {
                Room::FlushSoon
            } else {
                Room::Plenty
            });
        }
    }

    /// Before a write that would take a window in memory ([`Held::write`]'s rule): while every
    /// window is taken and flushes under way hold some (they give them back once written),
    /// waits for one, up to [`WINDOW_WAIT`]; then the write takes a window or, still none,
    /// goes to the scratch file. A writer faster than the disk is held back here instead of
    /// writing each byte twice more (into the scratch file and out of it) on the way.
    pub async fn room_for(&self, bucket_id: u64, ino: u64, offset: u64, len: usize) {
        // (the common case, windows free, asks nothing more)
        if !self.budget.worth_waiting() {
            return;
        }
        let slot = self.state().files.get(&(bucket_id, ino)).cloned();
        let wants = match slot {
            Some(slot) => {
                let p = lock(&slot);
                Held::wants_window(Some(&p.held), offset, len as u64, offset == p.end)
            }
            // A new buffer starts at the write (as `add` makes it: its end is 0).
            None => Held::wants_window(None, offset, len as u64, offset == 0),
        };
        if !wants {
            return;
        }
        let until = tokio::time::Instant::now() + WINDOW_WAIT;
        loop {
            let returned = self.budget.returned.notified();
            let mut returned = std::pin::pin!(returned);
            returned.as_mut().enable();
            if !self.budget.worth_waiting() {
                return;
            }
            if tokio::time::timeout_at(until, returned).await.is_err() {
                return;
            }
        }
    }

    /// The status of a failed flush of this file, taken (reported once).
    pub fn take_failure(&self, bucket_id: u64, ino: u64) -> Option<nfsstat3> {
        self.state().failed.remove(&(bucket_id, ino))
    }

    fn flush_lock(&self, key: Key) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.flushing).entry(key).or_default().clone()
    }

    fn release_lock(&self, key: Key, l: Arc<tokio::sync::Mutex<()>>) {
        let mut m = lock(&self.flushing);
        drop(l);
        if m.get(&key).is_some_and(|l| Arc::strong_count(l) == 1) {
            m.remove(&key);
        }
    }

    /// Takes a file's buffer out (writes that come after start its next one); the slot comes
    /// along so a flush the chunk service could not take can put it back.
    fn take(&self, key: Key) -> Option<(Slot, String, Principal, FsExtents)> {
        let slot = self.state().files.remove(&key)?;
        let mut p = lock(&slot);
        p.taken = true;
        p.held.flushing(true);
        let bytes = p.bytes;
        let ranges: Vec<(u64, u64)> = p.ranges.iter().map(|(s, e)| (*s, e - s)).collect();
        let taken = (
            p.bucket.clone(),
            p.principal.clone(),
            FsExtents {
                bytes: p.held.clone(),
                ranges,
                written_ns: Some(p.written_ns),
            },
        );
        drop(p);
        let mut st = self.state();
        st.total = st.total.saturating_sub(bytes);
        drop(st);
        Some((slot.clone(), taken.0, taken.1, taken.2))
    }

    /// Puts a taken buffer back after a flush that could not reach the chunk service, unless
    /// writes after the take started a new one (then it cannot be merged) or the flush
    /// committed part of it (in pieces, on a tight disk: what it released is no longer held):
    /// false then.
    fn put_back(&self, key: Key, slot: Slot) -> bool {
        let mut p = lock(&slot);
        if p.held.released() {
            return false;
        }
        let mut st = self.state();
        if st.files.contains_key(&key) {
            return false;
        }
        p.taken = false;
        p.flush_started = false;
        p.held.flushing(false);
        st.files.insert(key, slot.clone());
        st.total += p.bytes;
        true
    }

    /// Commits one file's buffered writes. A failure is returned and also kept for the file's
    /// next COMMIT (which takes it, so it is reported once there).
    pub async fn flush_file(
        &self,
        store: &Store,
        bucket_id: u64,
        ino: u64,
    ) -> Result<(), nfsstat3> {
        let key = (bucket_id, ino);
        let l = self.flush_lock(key);
        let res = {
            let _turn = l.lock().await;
            match self.take(key) {
                None => Ok(()),
                Some((slot, bucket, principal, extents)) => {
                    match store
                        .fs_write_extents(&principal, &bucket, ino, extents)
                        .await
                    {
                        Ok(_) => Ok(()),
                        // Deleted meanwhile (by NFS or S3): its unstable bytes go with it.
                        Err(StoreError::Stale | StoreError::NoSuchBucket) => Ok(()),
                        // The chunk service is down or slow: the bytes stay buffered for the
                        // client's next COMMIT (it retries after JUKEBOX), nothing is lost.
                        Err(e @ StoreError::Unavailable(_)) if self.put_back(key, slot.clone()) => {
                            crate::error::log("write-back flush (kept for a retry)", &e);
                            Err(crate::error::nfsstat(&e))
                        }
                        Err(e) => {
                            crate::error::log("write-back flush", &e);
                            let s = crate::error::nfsstat(&e);
                            self.state().failed.insert(key, s);
                            // The bytes are gone: clients must send what they have not had
                            // committed again.
                            self.verifier
                                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                            Err(s)
                        }
                    }
                }
            }
        };
        self.release_lock(key, l);
        res
    }

    /// Flushes every buffered file of one share (before a procedure that reads it), and
    /// waits for the flushes of it already under way.
    pub async fn flush_bucket(&self, store: &Store, bucket_id: u64) {
        let mut inos: Vec<u64> = self
            .state()
            .files
            .keys()
            .filter(|(b, _)| *b == bucket_id)
            .map(|(_, i)| *i)
            .collect();
        inos.extend(
            lock(&self.flushing)
                .keys()
                .filter(|(b, _)| *b == bucket_id)
                .map(|(_, i)| *i),
        );
        inos.sort_unstable();
        inos.dedup();
        for ino in inos {
            let _ = self.flush_file(store, bucket_id, ino).await;
        }
    }

    /// Flushes the files idle for `idle` or buffered for `age` (all with `Duration::ZERO`);
    /// when no window was taken for [`SPARE_KEPT`], lets the spare window buffers go.
    pub async fn flush_older(&self, store: &Store, idle: Duration, age: Duration) {
        let now = Instant::now();
        let slots: Vec<(Key, Slot)> = self
            .state()
            .files
            .iter()
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        for (k, slot) in slots {
            let due = {
                let p = lock(&slot);
                now.duration_since(p.last) >= idle || now.duration_since(p.since) >= age
            };
            if due {
                let _ = self.flush_file(store, k.0, k.1).await;
            }
        }
        if self.budget.idle_for(SPARE_KEPT) {
            lock(&self.budget.spare).clear();
        }
    }
}

/// Whether `bytes` buffered over `windows` chunk windows are dense: as many bytes as 7/8 of
/// every window but one (the one a sequential writer is filling), so a sequential writer's
/// buffer always is. Only a dense buffer flushes early in the background: the windows of
/// scattered writes are written again by the writes still to come, and flushing them early
/// rewrites each chunk once more (at half of every window, the rule before, 20,000 random
/// 4 KiB writes into 64 MiB cost a fifth more server CPU).
fn dense(bytes: u64, windows: usize) -> bool {
    let whole = (windows as u64).saturating_sub(1);
    bytes.saturating_mul(8) >= whole.saturating_mul(WINDOW * 7)
}

/// The same principal: the same user with the same rules (a policy change resolves new ones).
fn same_principal(a: &Principal, b: &Principal) -> bool {
    a.user_id == b.user_id && Arc::ptr_eq(&a.grants, &b.grants)
}

/// Adds `[start, end)` to the ranges, merging with the ones it touches or overlaps so they stay
/// sorted, disjoint and as few as possible. Returns how many more bytes are covered.
fn insert(ranges: &mut BTreeMap<u64, u64>, start: u64, end: u64) -> u64 {
    if start >= end {
        return 0;
    }
    let (mut lo, mut hi) = (start, end);
    // The range starting at or before `start` that reaches it, then every one starting inside.
    if let Some((&s, &e)) = ranges.range(..=start).next_back()
        && e >= start
    {
        lo = s;
    }
    let touching: Vec<(u64, u64)> = ranges.range(lo..=end).map(|(&s, &e)| (s, e)).collect();
    let mut held = 0;
    for (s, e) in touching {
        ranges.remove(&s);
        held += e - s;
        hi = hi.max(e);
    }
    ranges.insert(lo, hi);
    (hi - lo) - held
}

#[cfg(test)]
mod tests {
    use super::held::tests::{scratch_in, xorshift};
    use super::*;

    /// Sequential writes are dense from their first window on; scattered ones only once
    /// nearly every window they touch is written.
    #[test]
    fn dense_is_nearly_whole_windows() {
        for n in 1..=20u64 {
            assert!(
                dense((n - 1) * WINDOW + 4096, n as usize),
                "{n} windows, all but the last whole"
            );
        }
        assert!(
            !dense(40 * WINDOW, 64),
            "random writes over 64 MiB, 5/8 covered"
        );
        assert!(dense(56 * WINDOW, 64));
    }

    /// A writer waits for a window only when it would take one and a flush holds some; not for
    /// a write into a window it already holds.
    #[tokio::test]
    async fn a_writer_waits_only_for_a_window_it_would_take() {
        let wb = WriteBack::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = scratch_in(dir.path());
        let held = Held::new(wb.budget.clone());
        held.write(&scratch, 0, &[5u8; 8192], true).expect("write");
        let budget = &wb.budget;
        lock(&budget.counts).taken = MEMORY_WINDOWS;
        let slot = Arc::new(Mutex::new(Pending {
            bucket: "b".into(),
            principal: Principal {
                user_id: "u".into(),
                name: "u".into(),
                admin: None,
                service: false,
                groups: Vec::new(),
                grants: Arc::from(Vec::new()),
                anonymous: false,
                rate_per_minute: None,
                access: Arc::default(),
                facts: Arc::default(),
            },
            held: Arc::new(held),
            ranges: BTreeMap::from([(0, 8192)]),
            windows: HashSet::from([0]),
            bytes: 8192,
            end: 8192,
            since: Instant::now(),
            last: Instant::now(),
            written_ns: 0,
            flush_started: false,
            taken: false,
            checked: None,
        }));
        wb.state().files.insert((1, 1), slot);
        let t = Instant::now();
        wb.room_for(1, 1, 8192, 65536).await;
        wb.room_for(1, 1, 2 * WINDOW, 4096).await; // not appending: to the scratch file
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // No flush holds windows: nothing to wait for.
        wb.room_for(1, 1, 3 * WINDOW, WINDOW as usize).await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        lock(&budget.counts).flushing = 1;
        wb.room_for(1, 1, 3 * WINDOW, WINDOW as usize).await;
        assert!(t.elapsed() >= WINDOW_WAIT, "{:?}", t.elapsed());
        // Back to what the buffer holds (one window), which its drop gives back.
        lock(&budget.counts).flushing = 0;
        lock(&budget.counts).taken = 1;
    }

    #[test]
    fn ranges_stay_disjoint_and_count_what_they_cover() {
        let mut rnd = xorshift(7);
        for _ in 0..200 {
            let mut ranges = BTreeMap::new();
            let mut flat = vec![false; 260];
            let mut held = 0;
            for _ in 0..20 {
                let (o, len) = (rnd(200), 1 + rnd(40));
                held += insert(&mut ranges, o, o + len);
                for b in &mut flat[o as usize..(o + len) as usize] {
                    *b = true;
                }
                assert_eq!(held, flat.iter().filter(|b| **b).count() as u64);
                let mut last_end = None;
                for (s, e) in &ranges {
                    assert!(s < e);
                    assert!(last_end.is_none_or(|l| *s > l), "touching ranges merge");
                    assert!(flat[*s as usize..*e as usize].iter().all(|b| *b));
                    last_end = Some(*e);
                }
            }
        }
    }
}
