//! Blocks of exactly one cached database page, kept in a pool of their own.
//!
//! redb keeps each cached page of `meta.redb` as an `Arc<[u8]>`: one allocation of the page
//! (4 KiB, or a power of two past it for a leaf holding a large value) plus the `Arc`'s 16-byte
//! header. mimalloc serves 4,112 bytes from its 5,120-byte size class, 8,208 from 10,240 and so
//! on: a quarter of the page cache (`storage.db_cache`, 32 MiB by default) was slack, ~42 MiB
//! held for 32 (docs/BENCHMARKS.md, session 28). [`PagePool`] wraps the process allocator and
//! serves blocks of exactly `(4 KiB << k) + 16` bytes, k < [`ORDERS`], from slots of that size
//! in an arena of its own; every other layout goes to the wrapped allocator unchanged
//! (decision 0057).
//!
//! The arena is address space [`reserve`]d at start (the server sizes it from
//! `storage.db_cache`) and mapped untouched: a page of it becomes resident when a slot on it is
//! first used. It is cut into regions of 2 MiB, each given to one size when that size needs
//! room, its slots found through a bitmap (the bookkeeping lives here, never in a slot). A
//! block is taken from the lowest region of its size with a free slot, so free slots gather in
//! the higher ones. [`trim`] (run when a thread goes idle, after frees) gives every page whose
//! slots are all free back to the kernel. Past the arena, and before [`reserve`] (the CLI,
//! tests), blocks come from the wrapped allocator as before; a block goes back to whichever
//! served it, told apart by its address.

#![allow(unsafe_code)] // an allocator: every unsafe block below says why it holds

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// How many block sizes the pool serves: 4 KiB to 64 KiB pages, each plus 16 bytes.
pub const ORDERS: usize = 5;

/// The block size of order `k`: a `4 KiB << k` page behind an `Arc`'s two counters.
pub const fn slot_size(k: usize) -> usize {
    (4096 << k) + 16
}

/// A region's span of the arena.
const SPAN: usize = 2 << 20;
/// The kernel's page, the unit [`trim`] gives back.
const PAGE: usize = 4096;
/// Words of a region's bitmaps: one bit per page, and per slot (at most 510 slots).
const WORDS: usize = SPAN / PAGE / 64;
/// The most regions an arena has: 8 GiB of address space.
const MAX_REGIONS: usize = 4096;

/// The largest alignment a pooled block may ask for. Slot sizes are multiples of 16 and
/// regions page-aligned, so every slot is 16-byte aligned.
const SLOT_ALIGN: usize = 16;

/// Slots in a region of order `k`.
const fn slots(k: usize) -> usize {
    SPAN / slot_size(k)
}

/// The arena: `[START, END)`, both 0 until [`reserve`].
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// A slot was freed since the last [`trim`].
static TRIM_DUE: AtomicBool = AtomicBool::new(false);

/// One region's bookkeeping. All zero: not yet given to a size.
#[derive(Clone, Copy)]
struct Region {
    /// The order its slots are of, plus one.
    order: u8,
    /// Slots in use.
    used: u16,
    /// The next region of the same order, plus one.
    next: u32,
    /// Bit i: slot i is free.
    free: [u64; WORDS],
    /// Bit p: page p may be resident (a slot on it was handed out since it was last trimmed).
    touched: [u64; WORDS],
}

const UNUSED: Region = Region {
    order: 0,
    used: 0,
    next: 0,
    free: [0; WORDS],
    touched: [0; WORDS],
};

struct Pool {
    /// Regions given to a size so far (the next one is at this index).
    given: usize,
    /// Regions the arena holds.
    capacity: usize,
    /// Per order: the first of its regions (plus one), and a region likely to have a free
    /// slot (plus one; 0 when not known).
    first: [u32; ORDERS],
    hint: [u32; ORDERS],
    /// Blocks in use per order.
    live: [usize; ORDERS],
    /// Blocks handed out so far, and that count when [`trim`] last found the pool busy.
    takes: u64,
    takes_seen: u64,
    /// When [`trim`] last found blocks handed out since its look before (`now_ms`).
    busy_at_ms: u64,
    regions: [Region; MAX_REGIONS],
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    given: 0,
    capacity: 0,
    first: [0; ORDERS],
    hint: [0; ORDERS],
    live: [0; ORDERS],
    takes: 0,
    takes_seen: 0,
    busy_at_ms: 0,
    regions: [UNUSED; MAX_REGIONS],
});

/// How long the pool must hand out no block before [`trim`] gives pages back: while the cache
/// churns (a miss frees an evicted page's slot and takes another), a page given back would be
/// faulted in again moments later, and each `madvise` interrupts the other cores to flush their
/// TLBs (measured: ~3 % of a ListObjectsV2 run's CPU when trimmed on every idle moment).
pub const TRIM_AFTER_QUIET_MS: u64 = 500;

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // Nothing under the lock panics; a poisoned lock still holds a consistent pool.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reserves `bytes` of address space for the pool (whole regions of 2 MiB, at most 8 GiB;
/// nothing is resident until used) and turns it on. Only the first call reserves; later ones,
/// and a call whose reservation fails, leave the pool as it is. Returns whether the pool is on.
pub fn reserve(bytes: usize) -> bool {
    let mut p = pool();
    if START.load(Ordering::Acquire) != 0 {
        return true;
    }
    let regions = (bytes / SPAN).min(MAX_REGIONS);
    if regions == 0 {
        return false;
    }
    let len = regions * SPAN;
    // SAFETY: a new private anonymous mapping; no address is given, so none is replaced.
    let arena = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if arena == libc::MAP_FAILED {
        return false;
    }
    // Pages of 4 KiB, not 2 MiB: a slot used must not make a whole huge page resident. Advice
    // only; a kernel without transparent huge pages refuses it harmlessly.
    // SAFETY: the range is the mapping just made.
    unsafe { libc::madvise(arena, len, libc::MADV_NOHUGEPAGE) };
    p.capacity = regions;
    // START first: a reader that sees END sees START (see `in_arena`), and one that sees END
    // still 0 takes every address as outside.
    START.store(arena as usize, Ordering::Release);
    END.store(arena as usize + len, Ordering::Release);
    true
}

/// The arena's size in bytes (0 when the pool is off), and the blocks of each size now in use.
pub fn pool_stats() -> (usize, [usize; ORDERS]) {
    let p = pool();
    (p.capacity * SPAN, p.live)
}

/// The order of a layout the pool serves.
#[inline]
fn order(layout: &Layout) -> Option<usize> {
    let page = layout.size().wrapping_sub(16);
    if layout.align() <= SLOT_ALIGN
        && page.is_power_of_two()
        && (PAGE..=PAGE << (ORDERS - 1)).contains(&page)
    {
        Some(page.trailing_zeros() as usize - 12)
    } else {
        None
    }
}

/// Whether `ptr` is in the arena.
#[inline]
fn in_arena(ptr: *mut u8) -> bool {
    let a = ptr as usize;
    let end = END.load(Ordering::Acquire);
    a < end && a >= START.load(Ordering::Acquire)
}

/// Sets bits `from..to` of `bits`.
fn set_bits(bits: &mut [u64; WORDS], from: usize, to: usize) {
    for b in from..to {
        bits[b / 64] |= 1 << (b % 64);
    }
}

/// Whether bits `from..=to` of `bits` are all set.
fn all_set(bits: &[u64; WORDS], from: usize, to: usize) -> bool {
    (from..=to).all(|b| bits[b / 64] & (1 << (b % 64)) != 0)
}

impl Pool {
    /// A free slot of order `k`: in the hinted region, else the first of the order's regions
    /// with one, else in a region newly given to the order. None when the arena is full.
    fn take(&mut self, k: usize) -> Option<usize> {
        let size = slot_size(k);
        let mut r = self.hint[k];
        if r == 0 || usize::from(self.regions[r as usize - 1].used) == slots(k) {
            r = self.first[k];
            while r != 0 && usize::from(self.regions[r as usize - 1].used) == slots(k) {
                r = self.regions[r as usize - 1].next;
            }
        }
        if r == 0 {
            if self.given == self.capacity {
                return None;
            }
            let fresh = &mut self.regions[self.given];
            fresh.order = k as u8 + 1;
            fresh.next = self.first[k];
            set_bits(&mut fresh.free, 0, slots(k));
            self.given += 1;
            r = self.given as u32;
            self.first[k] = r;
        }
        self.hint[k] = r;
        self.takes += 1;
        let idx = r as usize - 1;
        let reg = &mut self.regions[idx];
        let (w, word) = reg.free.iter().enumerate().find(|(_, w)| **w != 0)?;
        let slot = w * 64 + word.trailing_zeros() as usize;
        reg.free[w] &= !(1 << (slot % 64));
        reg.used += 1;
        let off = slot * size;
        set_bits(&mut reg.touched, off / PAGE, (off + size).div_ceil(PAGE));
        self.live[k] += 1;
        Some(START.load(Ordering::Acquire) + idx * SPAN + off)
    }

    /// Marks the slot at `addr` (of order `k`, in the arena) free.
    fn give(&mut self, k: usize, addr: usize) {
        let rel = addr - START.load(Ordering::Acquire);
        let (idx, off) = (rel / SPAN, rel % SPAN);
        let slot = off / slot_size(k);
        let reg = &mut self.regions[idx];
        debug_assert_eq!(usize::from(reg.order), k + 1);
        debug_assert!(
            reg.free[slot / 64] & (1 << (slot % 64)) == 0,
            "a slot freed twice"
        );
        reg.free[slot / 64] |= 1 << (slot % 64);
        reg.used -= 1;
        self.live[k] -= 1;
        // The lowest region with room serves next, so the higher ones empty out for `trim`.
        if self.hint[k] == 0 || idx + 1 < self.hint[k] as usize {
            self.hint[k] = idx as u32 + 1;
        }
    }
}

/// Milliseconds since the first call, for [`trim`]'s quiet period.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Gives back to the kernel every page of the arena whose slots are all free and that may be
/// resident, once a slot was freed and the pool has handed out no block for
/// [`TRIM_AFTER_QUIET_MS`]. Cheap otherwise; run it when a thread goes idle.
pub fn trim() {
    if !TRIM_DUE.load(Ordering::Acquire) {
        return;
    }
    let now = now_ms();
    let mut p = pool();
    if p.takes != p.takes_seen {
        p.takes_seen = p.takes;
        p.busy_at_ms = now;
        return;
    }
    if now.saturating_sub(p.busy_at_ms) < TRIM_AFTER_QUIET_MS {
        return;
    }
    TRIM_DUE.store(false, Ordering::Release);
    let start = START.load(Ordering::Acquire);
    for idx in 0..p.given {
        let reg = &mut p.regions[idx];
        let k = usize::from(reg.order) - 1;
        let size = slot_size(k);
        let last_slot = slots(k) - 1;
        let mut run: Option<(usize, usize)> = None; // pages [from, to) to give back
        for page in 0..SPAN / PAGE {
            let touched = reg.touched[page / 64] & (1 << (page % 64)) != 0;
            let first = page * PAGE / size;
            let last = ((page + 1) * PAGE - 1) / size;
            let free =
                touched && first <= last_slot && all_set(&reg.free, first, last.min(last_slot));
            if free {
                reg.touched[page / 64] &= !(1 << (page % 64));
                run = Some(run.map_or((page, page + 1), |(f, _)| (f, page + 1)));
            } else if let Some((f, t)) = run.take() {
                release(start + idx * SPAN + f * PAGE, (t - f) * PAGE);
            }
        }
        if let Some((f, t)) = run {
            release(start + idx * SPAN + f * PAGE, (t - f) * PAGE);
        }
    }
}

/// Drops `len` bytes of the arena at `addr` from memory; they read as zeros when next touched.
/// Called under the pool's lock, on pages no handed-out slot overlaps.
fn release(addr: usize, len: usize) {
    // SAFETY: whole pages inside the arena's mapping that no block in use overlaps (`trim`
    // checked every slot on them is free, and holds the lock `take` needs); the bookkeeping is
    // not in the arena.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// The process allocator `A`, with cached database pages served from the pool.
pub struct PagePool<A>(pub A);

impl<A> PagePool<A> {
    fn take(k: usize) -> *mut u8 {
        if START.load(Ordering::Acquire) == 0 {
            return std::ptr::null_mut();
        }
        pool()
            .take(k)
            .map_or(std::ptr::null_mut(), |a| a as *mut u8)
    }
}

// SAFETY: a block of a pooled layout is served from the arena when the pool has a free slot,
// else by `A`; it is given back to the pool when its address is in the arena (only the pool
// hands out arena addresses), else to `A`. Every other layout goes to `A` with the caller's
// arguments. A `realloc` into or out of a pooled layout moves the block, giving the old one
// back where it came from.
unsafe impl<A: GlobalAlloc> GlobalAlloc for PagePool<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(k) = order(&layout) {
            let slot = Self::take(k);
            if !slot.is_null() {
                return slot;
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(k) = order(&layout) {
            let slot = Self::take(k);
            if !slot.is_null() {
                // SAFETY: a slot of `layout.size()` bytes, now the caller's.
                unsafe { slot.write_bytes(0, layout.size()) };
                return slot;
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(k) = order(&layout)
            && in_arena(ptr)
        {
            pool().give(k, ptr as usize);
            TRIM_DUE.store(true, Ordering::Release);
            return;
        }
        // SAFETY: any other block came from `A`.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract: `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if order(&layout).is_none() && order(&new_layout).is_none() {
            // SAFETY: neither side is pooled, so `ptr` came from `A`.
            return unsafe { self.0.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a new block of the new layout, the old one's bytes copied into it, the old
        // one given back where it came from (`dealloc` tells by its address).
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn only_a_page_behind_its_header_is_pooled() {
        let l = |size, align| Layout::from_size_align(size, align).expect("a layout");
        assert_eq!(order(&l(4112, 8)), Some(0));
        assert_eq!(order(&l(8208, 16)), Some(1));
        assert_eq!(order(&l(65552, 8)), Some(4));
        assert_eq!(order(&l(131088, 8)), None);
        assert_eq!(order(&l(4112, 32)), None);
        assert_eq!(order(&l(4096, 8)), None);
        assert_eq!(order(&l(2064, 8)), None);
        assert_eq!(order(&l(16, 8)), None);
        assert_eq!(order(&l(0, 1)), None);
    }

    #[test]
    fn a_block_the_wrapped_allocator_served_goes_back_to_it() {
        assert!(reserve(64 << 20), "the pool's arena");
        let pool = PagePool(System);
        let l = Layout::from_size_align(slot_size(0), 8).expect("a layout");
        // SAFETY: a non-zero layout; each block given back once, with its layout.
        unsafe {
            let theirs = System.alloc(l); // as before the arena was reserved
            assert!(!theirs.is_null() && !in_arena(theirs));
            let ours = pool.alloc(l);
            assert!(in_arena(ours), "a pooled layout not served from the arena");
            pool.dealloc(theirs, l); // to System: giving it to the pool would corrupt both
            pool.dealloc(ours, l);
        }
    }
}
