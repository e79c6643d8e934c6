//! The process allocator and its options.
//!
//! gatehouse allocates through mimalloc (decision 0010). Its default purge delay is one
//! second: memory a thread frees stays committed that long (and longer, until the thread
//! allocates again), so a burst of 1 MiB chunk buffers or HTTP read buffers keeps the
//! resident set high after the burst ends. [`start`] shortens the delay to
//! [`PURGE_DELAY_MS`] unless the operator set `MIMALLOC_PURGE_DELAY` (decision 0032).

pub use mimalloc::MiMalloc;

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
}
