//! The process allocator and its options.
//!
//! gatehouse allocates through mimalloc (decision 0010). Its default purge delay is one
//! second: memory a thread frees stays committed that long (and longer, until the thread
//! allocates again), so a burst of 1 MiB chunk buffers or HTTP read buffers keeps the
//! resident set high after the burst ends. [`start`] shortens the delay to
//! [`PURGE_DELAY_MS`] unless the operator set `MIMALLOC_PURGE_DELAY` (decision 0032).
//! [`PagePool`] serves the database's cached pages without mimalloc's size-class slack
//! (decision 0057).

mod page_pool;

pub use page_pool::{ORDERS, PagePool, TRIM_AFTER_QUIET_MS, pool_stats, reserve, slot_size, trim};

use std::cell::Cell;
use std::time::Instant;

pub use mimalloc::MiMalloc;

/// The server's allocator: mimalloc, with database pages from [`PagePool`].
pub type ServerAllocator = PagePool<MiMalloc>;

/// The server's allocator, for `#[global_allocator]`.
pub const SERVER_ALLOCATOR: ServerAllocator = PagePool(MiMalloc);

/// How long freed memory stays committed before it goes back to the kernel, milliseconds.
/// Measured on a 1 GiB multipart upload (8 parts in flight): peak RSS 84–88 MiB at
/// mimalloc's 1000 ms, 66–68 at 10 ms, 62–65 at 0 ms (which costs ~35 % more CPU on
/// large uploads: every freed chunk buffer is returned and faulted in again).
pub const PURGE_DELAY_MS: i64 = 10;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (mimalloc.h, v2 and v3: the 16th
/// option). libmimalloc-sys does not export a constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay in force, milliseconds.
pub fn purge_delay_ms() -> i64 {
    #[allow(unsafe_code)]
    // SAFETY: reads one entry of mimalloc's option table; any index below `_mi_option_last`
    // is valid, and mimalloc initialises the entry from the environment on first read.
    let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
    #[allow(clippy::useless_conversion)] // c_long is i64 here, i32 on some targets
    i64::from(v)
}

thread_local! {
    /// When this thread last ran `mi_collect` from [`collect_when_idle`].
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How often a thread going idle gives its freed memory back, at most, milliseconds.
pub const COLLECT_EVERY_MS: u64 = 100;

/// Gives the memory this thread freed back to the kernel, and every range of the process's
/// arenas freed long enough ago (`mi_collect(true)`), and the page pool's free pages
/// ([`trim`]), at most once per [`COLLECT_EVERY_MS`] per thread. Call it when a thread goes
/// idle (the runtime's park hook).
///
/// Why: mimalloc returns a freed page only when the thread owning it next allocates, and purges
/// freed arena ranges only from an allocation; a worker that goes quiet after a burst (and a
/// chunk buffer freed on another thread is freed into its owner's page) keeps them all. Over
/// `gatehouse bench`'s mix that was 30 MiB held after the burst ended (decision 0032).
pub fn collect_when_idle() {
    let now = Instant::now();
    let due = LAST_COLLECT.with(|l| match l.get() {
        Some(t) if now.duration_since(t).as_millis() < u128::from(COLLECT_EVERY_MS) => false,
        _ => {
            l.set(Some(now));
            true
        }
    });
    if due {
        #[allow(unsafe_code)]
        // SAFETY: `mi_collect` takes no pointers; it walks the calling thread's own heap and
        // the arenas under mimalloc's locks, and may be called from any thread at any time.
        unsafe {
            libmimalloc_sys::mi_collect(true)
        };
        trim();
    }
}

/// Sets the allocator's options for a server process; call once, first thing in `main`.
/// An option the operator set in the environment (`MIMALLOC_PURGE_DELAY`) is left alone.
pub fn start() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: sets one entry of mimalloc's option table (an atomic store); mimalloc reads it
    // on its next purge. The index is checked against the header in the tests below.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test binary allocates as the server does.
    #[global_allocator]
    static GLOBAL: ServerAllocator = SERVER_ALLOCATOR;

    /// Tests that read the process's resident memory, or move much of it, run one at a time.
    static RSS_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_thread_going_idle_gives_back_what_another_thread_freed() {
        let _one = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        // As a chunk buffer: filled on one thread (a worker), freed on another (its write).
        let owner = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..48).map(|i| vec![i as u8 | 1; 1 << 20]).collect();
            let filled = rss_anon_kib();
            std::thread::spawn(move || drop(blocks))
                .join()
                .expect("the freeing thread");
            // Well past the purge delay: what is still held now stays held without a collect.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let held = rss_anon_kib();
            collect_when_idle();
            let after = rss_anon_kib();
            (filled, held, after)
        });
        let (filled, held, after) = owner.join().expect("the owning thread");
        assert!(
            held + 4096 > filled,
            "freed memory was already given back without a collect ({filled} → {held} KiB); the test shows nothing"
        );
        assert!(
            held.saturating_sub(after) >= 32 << 10,
            "collect_when_idle gave back {} KiB of 48 MiB freed ({held} → {after} KiB)",
            held.saturating_sub(after)
        );
    }

    #[test]
    fn collecting_is_rate_limited_per_thread() {
        std::thread::spawn(|| {
            collect_when_idle();
            let first = LAST_COLLECT.with(|l| l.get());
            collect_when_idle();
            assert_eq!(
                LAST_COLLECT.with(|l| l.get()),
                first,
                "a second collect within the period ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(COLLECT_EVERY_MS + 20));
            collect_when_idle();
            assert_ne!(
                LAST_COLLECT.with(|l| l.get()),
                first,
                "a collect after the period did not run"
            );
        })
        .join()
        .expect("the thread");
    }

    #[test]
    fn the_index_is_the_purge_delay() {
        // mimalloc v3's default purge delay is 1000 ms; no other option defaults to 1000.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000);
        }
        start();
        let want = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(PURGE_DELAY_MS);
        assert_eq!(purge_delay_ms(), want);
    }

    /// [`trim`] once the pool has been quiet long enough (a first call sees the blocks just
    /// handed out).
    fn trim_when_quiet() {
        trim();
        std::thread::sleep(std::time::Duration::from_millis(TRIM_AFTER_QUIET_MS + 50));
        trim();
    }

    /// A cached page as redb makes one (`cached_file.rs`: an `Arc<[u8]>` collected from an
    /// iterator of known length, one allocation of 4,096 bytes and the header).
    fn page(fill: u8) -> std::sync::Arc<[u8]> {
        std::iter::repeat_n(fill, 4096).collect()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_page_cache_of_32_mib_holds_32_mib() {
        let _one = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        assert!(reserve(64 << 20), "the pool's arena");
        std::thread::spawn(|| {
            let before = rss_anon_kib();
            let pages: Vec<_> = (0..8192).map(|i| page(i as u8)).collect();
            let rise = rss_anon_kib().saturating_sub(before);
            // 8,192 pages are 32.1 MiB of blocks (32.1–32.9 measured with the pool); from
            // mimalloc's 5,120-byte class they took 44 (docs/BENCHMARKS.md, session 28).
            assert!(
                rise < 38 << 10,
                "8,192 cached pages raised the resident set by {rise} KiB"
            );
            assert!(pages.iter().enumerate().all(|(i, p)| p[4095] == i as u8));
        })
        .join()
        .expect("the thread");
    }

    #[test]
    fn pooled_blocks_keep_their_bytes_across_threads() {
        let _one = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        assert!(reserve(64 << 20), "the pool's arena");
        let workers: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for round in 0..20u8 {
                        let fill = t.wrapping_mul(64).wrapping_add(round);
                        let made: Vec<_> = (0..200).map(|_| page(fill)).collect();
                        // Every other page outlives the round; the rest go back to the pool
                        // and serve the next round's pages (and the other threads').
                        kept.extend(made.into_iter().step_by(2));
                    }
                    kept
                })
            })
            .collect();
        for (t, w) in workers.into_iter().enumerate() {
            let kept = w.join().expect("a worker");
            for (i, p) in kept.iter().enumerate() {
                let fill = (t as u8).wrapping_mul(64).wrapping_add((i / 100) as u8);
                assert!(
                    p.iter().all(|&b| b == fill),
                    "page {i} of thread {t} was overwritten"
                );
            }
        }
    }

    #[test]
    fn a_block_moves_in_and_out_of_the_pooled_size() {
        let _one = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        assert!(reserve(64 << 20), "the pool's arena");
        const SLOT: usize = 4096 + 16;
        let mut v: Vec<u8> = Vec::with_capacity(SLOT);
        assert!(pool_stats().0 >= 64 << 20);
        v.extend((0..SLOT).map(|i| i as u8));
        v.reserve_exact(10_000 - SLOT); // out of the pool
        assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
        v.truncate(SLOT);
        v.shrink_to_fit(); // back into it
        assert_eq!(v.capacity(), SLOT);
        assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
        drop(v);
        // A recycled slot asked for zeroed is zeroed.
        let dirty = page(0xAB);
        drop(dirty);
        let zeroed: Box<[u8]> = vec![0u8; SLOT].into_boxed_slice();
        assert!(zeroed.iter().all(|&b| b == 0));
        // Each size has its own slots.
        let big = vec![7u8; slot_size(ORDERS - 1)];
        let small = page(9);
        assert!(big.iter().all(|&b| b == 7) && small.iter().all(|&b| b == 9));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn freed_pages_go_back_to_the_kernel_and_kept_ones_keep_their_bytes() {
        let _one = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        assert!(reserve(64 << 20), "the pool's arena");
        std::thread::spawn(|| {
            // Two sizes side by side, as a cache of small and large leaves.
            let mut small: Vec<_> = (0..6000).map(|i| page(i as u8)).collect();
            let large: Vec<Vec<u8>> = (0..400).map(|i| vec![i as u8; slot_size(1)]).collect();
            let full = rss_anon_kib();
            // Every other small page freed: no whole kernel page is free between them, so
            // nothing may go back, and every kept page keeps its bytes.
            let kept: Vec<_> = small.drain(..).step_by(2).collect();
            let kept_intact = |kept: &[std::sync::Arc<[u8]>]| {
                (kept.iter().enumerate()).all(|(i, p)| p.iter().all(|&b| b == (2 * i) as u8))
            };
            trim_when_quiet();
            assert!(kept_intact(&kept), "a kept page was overwritten");
            // The large ones freed: their pages go back.
            drop(large);
            trim_when_quiet();
            let after_large = rss_anon_kib();
            assert!(
                full.saturating_sub(after_large) >= 2 << 10,
                "400 freed 8 KiB pages gave back {} KiB ({full} → {after_large})",
                full.saturating_sub(after_large)
            );
            assert!(kept_intact(&kept), "a kept page was overwritten");
            drop(kept);
            trim_when_quiet();
            let empty = rss_anon_kib();
            assert!(
                after_large.saturating_sub(empty) >= 18 << 10,
                "6,000 freed 4 KiB pages gave back {} KiB ({after_large} → {empty})",
                after_large.saturating_sub(empty)
            );
            // And serve again.
            let again: Vec<_> = (0..3000).map(|i| page(i as u8 | 1)).collect();
            assert!(
                again
                    .iter()
                    .enumerate()
                    .all(|(i, p)| p.iter().all(|&b| b == i as u8 | 1))
            );
        })
        .join()
        .expect("the thread");
    }
}
