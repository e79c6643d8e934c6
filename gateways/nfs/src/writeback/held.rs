//! Where one write-back buffer's bytes wait ([`Held`]): 1 MiB windows in memory, within the
//! budget all buffers share ([`WindowBudget`]), or a scratch file made at its first use.
//! Decision 0050; the rules are in the parent module's notes.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gatehouse_store::StoreError;
use gatehouse_store::ops::ExtentBytes;

use super::{MEMORY_PIECE, MEMORY_WINDOWS, WINDOW, lock};

/// The windows held in memory across all files: how many are taken (at most
/// [`MEMORY_WINDOWS`]), how many of those belong to buffers being flushed, and the spare
/// buffers (taken + spare ≤ [`MEMORY_WINDOWS`]).
#[derive(Default)]
pub(super) struct WindowBudget {
    pub(super) counts: Mutex<Counts>,
    pub(super) spare: Mutex<Vec<BytesMut>>,
    /// Told when a window is given back.
    pub(super) returned: tokio::sync::Notify,
}

#[derive(Default)]
pub(super) struct Counts {
    pub(super) taken: usize,
    pub(super) flushing: usize,
    last_taken: Option<Instant>,
}

impl WindowBudget {
    /// Every window is taken and a flush under way holds some: one will come back.
    pub(super) fn worth_waiting(&self) -> bool {
        let c = lock(&self.counts);
        c.taken >= MEMORY_WINDOWS && c.flushing > 0
    }

    pub(super) fn idle_for(&self, d: Duration) -> bool {
        lock(&self.counts)
            .last_taken
            .is_none_or(|t| t.elapsed() >= d)
    }

    /// An empty window buffer, if the budget has room.
    fn take(&self) -> Option<BytesMut> {
        {
            let mut c = lock(&self.counts);
            if c.taken >= MEMORY_WINDOWS {
                return None;
            }
            c.taken += 1;
            c.last_taken = Some(Instant::now());
        }
        let spare = lock(&self.spare).pop();
        Some(spare.unwrap_or_else(|| BytesMut::with_capacity(WINDOW as usize)))
    }

    /// `n` windows of a buffer start (or stop) being flushed.
    fn flushing(&self, n: usize, start: bool) {
        let mut c = lock(&self.counts);
        c.flushing = if start {
            c.flushing + n
        } else {
            c.flushing.saturating_sub(n)
        };
    }

    /// Gives a window's buffer back (kept for the next window when nothing else holds it).
    fn give(&self, w: Window) {
        let buf = match w {
            Window::Open(b) => Some(b),
            Window::Frozen(b) => b.try_into_mut().ok(),
        };
        if let Some(mut b) = buf.filter(|b| b.capacity() >= WINDOW as usize) {
            b.clear();
            lock(&self.spare).push(b);
        }
        {
            let mut c = lock(&self.counts);
            c.taken = c.taken.saturating_sub(1);
        }
        self.returned.notify_waiters();
    }
}

/// A window held in memory: being written, or frozen when a flush took it whole (it may have
/// to give it back: [`super::Inner::put_back`]). Its length is the end of the furthest write into it.
enum Window {
    Open(BytesMut),
    Frozen(Bytes),
}

/// Makes a buffer's scratch file ([`gatehouse_store::Store::fs_scratch_file`]).
pub(super) type Scratch<'a> = dyn Fn() -> Result<File, StoreError> + 'a;

/// Where one buffer's bytes wait: windows in memory, the rest in a scratch file made at its
/// first use. Written while the buffer is held by its writer, read by its flush after it was
/// taken: the lock is never contended.
pub(super) struct Held {
    budget: Arc<WindowBudget>,
    state: Mutex<HeldState>,
    file: OnceLock<File>,
}

#[derive(Default)]
struct HeldState {
    memory: BTreeMap<u64, Window>,
    /// Windows with bytes in the scratch file.
    in_file: HashSet<u64>,
    /// Windows counted as being flushed ([`WindowBudget::flushing`]).
    flushing: usize,
    /// A flush released some of the bytes (committed in pieces).
    released: bool,
}

impl Held {
    pub(super) fn new(budget: Arc<WindowBudget>) -> Self {
        Held {
            budget,
            state: Mutex::default(),
            file: OnceLock::new(),
        }
    }

    pub(super) fn in_memory(&self) -> usize {
        lock(&self.state).memory.len()
    }

    pub(super) fn released(&self) -> bool {
        lock(&self.state).released
    }

    /// The buffer is (or no longer is) being flushed: its windows count as coming back.
    pub(super) fn flushing(&self, start: bool) {
        let mut st = lock(&self.state);
        let n = if start { st.memory.len() } else { st.flushing };
        st.flushing = if start { n } else { 0 };
        drop(st);
        self.budget.flushing(n, start);
    }

    /// Whether a piece of a write, at `offset` (`appending`: where the buffer's furthest write
    /// ended) with `len` bytes in its window, goes into a new window in memory when its
    /// window is in neither place yet: a large piece, or one that starts its window while
    /// appending (a stream of small writes; a random one that happens to start a window does
    /// not take a megabyte).
    fn starts_window(offset: u64, len: u64, appending: bool) -> bool {
        len >= MEMORY_PIECE || (offset.is_multiple_of(WINDOW) && appending)
    }

    /// Whether the write would take a new window in memory in `held`, or in a new buffer
    /// (`None`) ([`Self::write`]'s rule).
    pub(super) fn wants_window(
        held: Option<&Self>,
        offset: u64,
        len: u64,
        appending: bool,
    ) -> bool {
        let st = held.map(|h| lock(&h.state));
        window_pieces(offset, len)
            .enumerate()
            .any(|(n, (at, piece))| {
                let w = at / WINDOW;
                let placed = st
                    .as_ref()
                    .is_some_and(|st| st.memory.contains_key(&w) || st.in_file.contains(&w));
                !placed && Self::starts_window(at, piece, appending || n > 0)
            })
    }

    fn file(&self, scratch: &Scratch) -> Result<&File, StoreError> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = scratch()?;
        Ok(self.file.get_or_init(|| f))
    }

    /// Keeps `data` at `offset`, window by window (`appending`: the write starts where the
    /// buffer's furthest write ended); `scratch` makes the scratch file if one is needed. True
    /// when a window would have gone into memory but none was free. An error: the scratch
    /// file could not take the bytes (a full disk).
    pub(super) fn write(
        &self,
        scratch: &Scratch,
        offset: u64,
        data: &[u8],
        appending: bool,
    ) -> Result<bool, StoreError> {
        let mut st = lock(&self.state);
        let mut short = false;
        let mut done = 0;
        for (n, (at, len)) in window_pieces(offset, data.len() as u64).enumerate() {
            let piece = &data[done..done + len as usize];
            done += len as usize;
            let w = at / WINDOW;
            let rel = (at - w * WINDOW) as usize;
            // (a write's later pieces start their windows where its earlier ones ended)
            let fresh = !st.memory.contains_key(&w)
                && !st.in_file.contains(&w)
                && Self::starts_window(at, len, appending || n > 0);
            if fresh {
                match self.budget.take() {
                    Some(buf) => {
                        st.memory.insert(w, Window::Open(buf));
                    }
                    None => short = true,
                }
            }
            match st.memory.get_mut(&w) {
                Some(win) => {
                    let buf = open(win);
                    if rel > buf.len() {
                        buf.resize(rel, 0);
                    }
                    let over = (buf.len() - rel).min(piece.len());
                    buf[rel..rel + over].copy_from_slice(&piece[..over]);
                    buf.extend_from_slice(&piece[over..]);
                }
                None => {
                    st.in_file.insert(w);
                    self.file(scratch)?
                        .write_all_at(piece, at)
                        .map_err(StoreError::io)?;
                }
            }
        }
        Ok(short)
    }
}

/// A window's bytes to write into (copied out of a flush's hands if it still holds them).
fn open(win: &mut Window) -> &mut BytesMut {
    if let Window::Frozen(b) = win {
        let b = std::mem::take(b);
        *win = Window::Open(b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..])));
    }
    match win {
        Window::Open(b) => b,
        Window::Frozen(_) => unreachable!("opened above"),
    }
}

/// `[offset, offset + len)` cut where windows end: (offset, length) of each piece.
fn window_pieces(offset: u64, len: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = offset.saturating_add(len);
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let n = (WINDOW - at % WINDOW).min(end - at);
        let piece = (at, n);
        at += n;
        Some(piece)
    })
}

impl ExtentBytes for Held {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let st = lock(&self.state);
        let mut done = 0;
        for (at, len) in window_pieces(offset, buf.len() as u64) {
            let out = &mut buf[done..done + len as usize];
            done += len as usize;
            let w = at / WINDOW;
            let rel = (at - w * WINDOW) as usize;
            match st.memory.get(&w) {
                Some(win) => {
                    let bytes: &[u8] = match win {
                        Window::Open(b) => b,
                        Window::Frozen(b) => b,
                    };
                    let src = bytes.get(rel..rel + out.len()).ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "a write-back window ends before the bytes asked of it",
                        )
                    })?;
                    out.copy_from_slice(src);
                }
                None => match self.file.get() {
                    Some(f) => std::os::unix::fs::FileExt::read_exact_at(f, out, at)?,
                    None => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "write-back bytes asked of a buffer that has none there",
                        ));
                    }
                },
            }
        }
        Ok(())
    }

    /// Only windows of [`WINDOW`] bytes (the default chunk size) or a file's last, shorter
    /// one: at another `storage.chunk_size` the flush copies them.
    fn whole(&self, offset: u64, len: u64) -> Option<Bytes> {
        if !offset.is_multiple_of(WINDOW) || len > WINDOW {
            return None;
        }
        let mut st = lock(&self.state);
        let win = st.memory.get_mut(&(offset / WINDOW))?;
        if let Window::Open(b) = win {
            *win = Window::Frozen(std::mem::take(b).freeze());
        }
        match win {
            Window::Frozen(b) if b.len() as u64 == len => Some(b.clone()),
            _ => None,
        }
    }

    fn release(&self, offset: u64, len: u64) {
        lock(&self.state).released = true;
        if let Some(f) = self.file.get() {
            f.release(offset, len);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let (memory, flushing) = {
            let mut st = lock(&self.state);
            (
                std::mem::take(&mut st.memory),
                std::mem::take(&mut st.flushing),
            )
        };
        self.budget.flushing(flushing, false);
        for (_, w) in memory {
            self.budget.give(w);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::writeback::insert;

    /// A pseudo-random number below `n`, from `seed` on.
    pub(in crate::writeback) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    pub(in crate::writeback) fn scratch_in(
        dir: &std::path::Path,
    ) -> impl Fn() -> Result<File, StoreError> + '_ {
        move || tempfile::tempfile_in(dir).map_err(StoreError::io)
    }

    fn read(held: &Held, offset: u64, len: u64) -> Vec<u8> {
        let mut got = vec![0u8; len as usize];
        held.read_exact_at(&mut got, offset).expect("read back");
        got
    }

    /// Writes of every shape (window starts, appending or not, out of order, overlapping,
    /// across windows, small and scattered) read back as a plain file of the same writes does,
    /// whether their windows went to memory or to the scratch file; a covered window held in
    /// memory comes out whole, uncopied; the budget is kept and given back.
    #[test]
    fn held_bytes_read_back_as_written() {
        let mut rnd = xorshift(11);
        let budget = Arc::new(WindowBudget::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = scratch_in(dir.path());
        let mut made = (0, 0);
        for round in 0..20u8 {
            let span = 6 * WINDOW;
            let mut model = vec![0u8; span as usize];
            let mut ranges = BTreeMap::new();
            let held = Held::new(budget.clone());
            let mut end = 0;
            for n in 0..30u8 {
                let (off, len) = match rnd(5) {
                    0 => (rnd(6) * WINDOW, 1 + rnd(WINDOW + WINDOW / 2)),
                    1 => (rnd(span - 4096), 4096),
                    2 => (rnd(span - WINDOW), MEMORY_PIECE + rnd(WINDOW)),
                    3 => (end, 1 + rnd(3 * 4096)),
                    _ => (rnd(span - 64), 1 + rnd(64)),
                };
                let len = len.min(span - off);
                if len == 0 {
                    continue;
                }
                let data: Vec<u8> = (0..len).map(|i| (i as u8) ^ n ^ round).collect();
                held.write(&scratch, off, &data, off == end).expect("write");
                model[off as usize..(off + len) as usize].copy_from_slice(&data);
                insert(&mut ranges, off, off + len);
                end = end.max(off + len);
            }
            made.0 += usize::from(held.file.get().is_some());
            made.1 += usize::from(held.in_memory() > 0);
            for (&s, &e) in &ranges {
                assert_eq!(
                    read(&held, s, e - s),
                    model[s as usize..e as usize],
                    "round {round}"
                );
            }
            // (a flush asks only for windows its ranges cover)
            for w in 0..6 {
                let (s, e) = (w * WINDOW, (w + 1) * WINDOW);
                if !ranges.iter().any(|(&rs, &re)| rs <= s && re >= e) {
                    continue;
                }
                let in_memory = lock(&held.state).memory.contains_key(&w);
                match held.whole(s, WINDOW) {
                    Some(b) => assert_eq!(b, model[s as usize..e as usize], "round {round}"),
                    None => assert!(!in_memory, "round {round}, window {w}"),
                }
            }
            assert!(lock(&budget.counts).taken <= MEMORY_WINDOWS);
            drop(held);
            assert_eq!(lock(&budget.counts).taken, 0, "windows given back");
            assert!(lock(&budget.spare).len() <= MEMORY_WINDOWS);
        }
        assert!(made.0 > 0 && made.1 > 0, "both places used: {made:?}");
    }

    /// A window a flush took whole and gave back is written again: the bytes handed out stay
    /// as they were, the buffer reads (and is handed out) with the new ones.
    #[test]
    fn a_frozen_window_written_again_keeps_what_was_handed_out() {
        let budget = Arc::new(WindowBudget::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = scratch_in(dir.path());
        let held = Held::new(budget.clone());
        let mut model = vec![1u8; WINDOW as usize];
        held.write(&scratch, 0, &model, true).expect("write");
        let first = held.whole(0, WINDOW).expect("whole");
        held.write(&scratch, 10, &[7u8; 100], false)
            .expect("write again");
        model[10..110].fill(7);
        assert!(first.iter().all(|&x| x == 1), "handed-out bytes unchanged");
        assert_eq!(read(&held, 0, WINDOW), model);
        assert_eq!(held.whole(0, WINDOW).expect("whole again"), model);
        drop((first, held));
        assert_eq!(lock(&budget.counts).taken, 0);
    }

    /// Past the budget, windows go to the scratch file and the write says so; a second buffer
    /// gets none either; a random small write at a window's start takes no window; every
    /// window reads back, only the ones in memory come out whole.
    #[test]
    fn past_the_budget_windows_go_to_the_scratch_file() {
        let budget = Arc::new(WindowBudget::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = scratch_in(dir.path());
        let held = Held::new(budget.clone());
        let mut short = 0;
        for w in 0..20u64 {
            let d = vec![w as u8; WINDOW as usize];
            short += usize::from(held.write(&scratch, w * WINDOW, &d, true).expect("write"));
        }
        assert_eq!((held.in_memory(), short), (MEMORY_WINDOWS, 4));
        let other = Held::new(budget.clone());
        assert!(other.write(&scratch, 0, &[1u8; 10], true).expect("write"));
        assert!(
            !Held::wants_window(Some(&other), 40 * WINDOW, 4096, false),
            "random 4 KiB"
        );
        assert!(
            Held::wants_window(Some(&other), 40 * WINDOW, 4096, true),
            "appending"
        );
        for w in 0..20u64 {
            assert_eq!(held.whole(w * WINDOW, WINDOW).is_some(), w < 16);
            assert!(
                read(&held, w * WINDOW, WINDOW)
                    .iter()
                    .all(|&x| x == w as u8)
            );
        }
        drop((held, other));
        assert_eq!(lock(&budget.counts).taken, 0);
        assert!(lock(&budget.spare).len() <= MEMORY_WINDOWS);
    }
}
