//! Access times on READ, relatime rules, batched (issue 18, decision 0023).
//!
//! A READ through the file view moves the file's atime when it is not later than its mtime or
//! ctime, or older than a day (Linux `relatime`). Writing that through at once would turn every
//! first READ of a file into a write transaction (and an fsync), so the new atime is kept here,
//! in memory, and written in one batch: a second after the first one is noted, at once when
//! [`FLUSH_AT`] are pending, on `fs_sync` (NFS COMMIT) and at a clean stop. Until then every
//! attribute read of the file view shows the pending atime, so a client sees it at once.
//!
//! What a crash costs: the atimes of reads in the last second or so are lost (the files keep
//! the atime they had). atime is advisory; nothing in the store depends on it.
//!
//! The batch is taken out of the map inside its own write transaction, and an explicit atime
//! (SETATTR) drops a pending one inside its transaction, so a batch never writes an older
//! READ's atime over a time a client set later; a batch only ever moves an atime forward.
//! Inodes removed since their READ are skipped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redb::{ReadableTable, WriteTransaction};

use crate::error::Result;
use crate::model::ObjectRecord;
use crate::ops::FsAttr;
use crate::tables::INODES;
use crate::{Store, codec};

/// Pending atimes that make a batch go at once.
pub(crate) const FLUSH_AT: usize = 1024;
/// Most pending atimes kept; a READ past that notes none (the next READ of the file will,
/// relatime still asking for it): the map stays bounded while a batch is being written.
pub(crate) const MAX_PENDING: usize = 16 * FLUSH_AT;
/// How long a noted atime waits for its batch.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// relatime's day: an atime older than this moves on READ even when later than mtime/ctime.
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Whether a READ at `now` moves atime (Linux relatime); the clock is read only when the
/// atime is later than mtime and ctime (the common case of a file read again).
pub(crate) fn due(atime: i64, mtime: i64, ctime: i64, now: impl FnOnce() -> i64) -> bool {
    atime <= mtime || atime <= ctime || now().saturating_sub(atime) > DAY_NS
}

/// Hashes an inode number (FxHash's step): the map is looked up on every attribute read, and
/// inode numbers are the server's own, sequential, so SipHash's resistance buys nothing.
#[derive(Default)]
struct InoHasher(u64);

impl Hasher for InoHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Pending = HashMap<u64, i64, BuildHasherDefault<InoHasher>>;

/// Atimes noted by READs and not yet written: inode → Unix ns.
#[derive(Default)]
pub(crate) struct Atimes {
    pending: Mutex<Pending>,
    /// The map's length, for attribute reads to skip the lock while nothing is pending (a
    /// READ noting an atime at the same moment is concurrent with them either way).
    len: AtomicUsize,
    /// A delayed batch is on its way.
    scheduled: AtomicBool,
}

/// What [`Atimes::read`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Noted {
    /// The atime stays (or the map is full).
    Nothing,
    /// Noted; `batch_now`: [`FLUSH_AT`] are pending.
    Pending { batch_now: bool },
}

impl Atimes {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        match self.pending.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Shows pending atimes in `attrs` (attributes just read from the database).
    pub(crate) fn overlay<'a>(&self, attrs: impl IntoIterator<Item = &'a mut FsAttr>) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let map = self.lock();
        if map.is_empty() {
            return;
        }
        for a in attrs {
            if let Some(&t) = map.get(&a.ino) {
                a.atime_ns = a.atime_ns.max(t);
            }
        }
    }

    /// A READ of `attr`'s file now (`clock`): shows the pending atime, and notes the time
    /// when relatime asks for it.
    pub(crate) fn read(&self, attr: &mut FsAttr, clock: impl Fn() -> i64) -> Noted {
        let mut map = self.lock();
        if let Some(&t) = map.get(&attr.ino) {
            attr.atime_ns = attr.atime_ns.max(t);
        }
        if !due(attr.atime_ns, attr.mtime_ns, attr.ctime_ns, &clock) || map.len() >= MAX_PENDING {
            return Noted::Nothing;
        }
        let now = clock();
        attr.atime_ns = now;
        map.insert(attr.ino, now);
        self.len.store(map.len(), Ordering::Release);
        Noted::Pending {
            batch_now: map.len() == FLUSH_AT,
        }
    }

    /// An atime was set on `ino` (SETATTR), or its file replaced (an S3 write keeps the inode
    /// number): a pending one from an earlier READ goes.
    pub(crate) fn forget(&self, ino: u64) {
        if self.is_empty() {
            return; // no lock on every S3 write while nothing is pending
        }
        let mut map = self.lock();
        map.remove(&ino);
        self.len.store(map.len(), Ordering::Release);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// Whether a delayed batch must be started (none is on its way); the caller starts it.
    fn schedule(&self) -> bool {
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// Writes every pending atime in write transaction `t` (taking them out of the map there,
    /// so nothing set in an earlier transaction is overwritten by an older READ). Returns how
    /// many inodes changed.
    pub(crate) fn write(&self, t: &WriteTransaction) -> Result<usize> {
        self.scheduled.store(false, Ordering::Release);
        let batch = {
            let mut map = self.lock();
            self.len.store(0, Ordering::Release);
            std::mem::take(&mut *map)
        };
        let mut inodes = t.open_table(INODES)?;
        let mut changed = 0;
        for (ino, at) in batch {
            let rec = match inodes.get(ino)? {
                Some(v) => codec::decode::<ObjectRecord>(v.value())?,
                None => continue, // removed since its READ
            };
            let mut rec = rec;
            let mut times = crate::ops::file_times(&rec);
            if at <= times.atime_ns {
                continue;
            }
            times.atime_ns = at;
            rec.times = Some(times);
            inodes.insert(ino, codec::encode(&rec)?.as_slice())?;
            changed += 1;
        }
        Ok(changed)
    }
}

impl Store {
    /// Shows pending atimes in file attributes read from the database.
    pub(crate) fn atime_shown<'a>(&self, attrs: impl IntoIterator<Item = &'a mut FsAttr>) {
        self.inner.atimes.overlay(attrs);
    }

    /// A READ of `attr`'s file: its atime as relatime has it now (see the module doc).
    pub(crate) fn atime_read(&self, attr: &mut FsAttr) {
        let Noted::Pending { batch_now } = self.inner.atimes.read(attr, crate::now_unix_ns) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // written by the next fs_sync or at stop
        };
        // The task holds no handle while it waits: a stop does not wait for it.
        let weak = std::sync::Arc::downgrade(&self.inner);
        if batch_now {
            rt.spawn(async move {
                if let Some(inner) = weak.upgrade() {
                    Store { inner }.flush_atimes().await;
                }
            });
        } else if self.inner.atimes.schedule() {
            rt.spawn(async move {
                tokio::time::sleep(FLUSH_EVERY).await;
                if let Some(inner) = weak.upgrade() {
                    Store { inner }.flush_atimes().await;
                }
            });
        }
    }

    /// Writes the pending atimes now, in one transaction (nothing when none is pending). A
    /// failure is logged: atime is advisory, the files keep their older atime.
    pub async fn flush_atimes(&self) {
        if self.inner.atimes.is_empty() {
            return;
        }
        let atimes = self.inner.atimes.clone();
        let r = self.inner.committer.write(move |t| atimes.write(t)).await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "writing access times failed; they are lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FsKind;

    fn attr(ino: u64, atime: i64, mtime: i64, ctime: i64) -> FsAttr {
        FsAttr {
            ino,
            kind: FsKind::File,
            size: 0,
            atime_ns: atime,
            mtime_ns: mtime,
            ctime_ns: ctime,
            mode: 0o644,
            uid: 0,
            gid: 0,
            nlink: 1,
            rdev: (0, 0),
        }
    }

    #[test]
    fn relatime_rules() {
        let now = 10 * DAY_NS;
        assert!(due(5, 5, 1, || now), "atime = mtime");
        assert!(due(5, 1, 6, || now), "atime before ctime");
        assert!(
            !due(7, 5, 6, || 7 + DAY_NS),
            "later than both, a day old exactly"
        );
        assert!(due(7, 5, 6, || 8 + DAY_NS), "older than a day");
    }

    #[test]
    fn a_read_notes_once_and_shows_the_pending_atime() {
        let a = Atimes::default();
        let mut f = attr(3, 100, 100, 100);
        assert_eq!(a.read(&mut f, || 200), Noted::Pending { batch_now: false });
        assert_eq!(f.atime_ns, 200);
        // The database still says 100: the pending time shows, and the rule sees it.
        let mut again = attr(3, 100, 100, 100);
        assert_eq!(a.read(&mut again, || 300), Noted::Nothing);
        assert_eq!(again.atime_ns, 200);
        let mut listed = [attr(3, 100, 100, 100), attr(4, 1, 1, 1)];
        a.overlay(&mut listed);
        assert_eq!((listed[0].atime_ns, listed[1].atime_ns), (200, 1));
        a.forget(3);
        assert!(a.is_empty());
    }

    #[test]
    fn the_map_is_bounded() {
        let a = Atimes::default();
        let mut batch_now = 0;
        for ino in 0..(MAX_PENDING as u64 + 10) {
            match a.read(&mut attr(ino, 1, 1, 1), || 5) {
                Noted::Pending { batch_now: true } => batch_now += 1,
                Noted::Pending { batch_now: false } => {}
                Noted::Nothing => assert!(ino >= MAX_PENDING as u64),
            }
        }
        assert_eq!(batch_now, 1, "one batch asked for at FLUSH_AT");
        assert_eq!(a.lock().len(), MAX_PENDING);
    }
}
