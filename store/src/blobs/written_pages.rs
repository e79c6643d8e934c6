//! How much of what was written lately stays in the kernel's page cache
//! (`storage.cached_writes`, decision 0052).
//!
//! A chunk file's bytes stay in the page cache after it is written. Left to the kernel, the
//! cache grows into every free page before it reuses one, and on a virtual machine whose free
//! memory the host takes back (free page reporting) each new page costs a host fault on its
//! first write: ~2 ms of CPU per MiB on this project's machines, five times the copy. Dropping
//! the pages of chunks written before the last `budget` bytes (`POSIX_FADV_DONTNEED`; clean
//! once fsynced) gives the kernel pages the next writes reuse at once, and keeps what was just
//! written cached for the reads that often follow it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use super::Hash;

/// Chunks remembered, at most: one per 64 KiB of the budget (objects smaller than that are
/// stored inline, not as chunk files), within these bounds (40 bytes each: 2.5 MiB at most).
const MIN_ENTRIES: usize = 8192;
const MAX_ENTRIES: usize = 65_536;

/// The chunks written last, oldest first, up to a byte budget.
pub struct WrittenPages {
    budget: u64,
    max_entries: usize,
    fifo: Mutex<Fifo>,
}

#[derive(Default)]
struct Fifo {
    /// Chunk, the file's inode number when written, its bytes.
    chunks: VecDeque<(Hash, u64, u64)>,
    bytes: u64,
}

impl WrittenPages {
    /// Keeps the pages of the last `budget` bytes written (0: none).
    pub fn new(budget: u64) -> Self {
        let per_64k = usize::try_from(budget >> 16).unwrap_or(usize::MAX);
        WrittenPages {
            budget,
            max_entries: per_64k.clamp(MIN_ENTRIES, MAX_ENTRIES),
            fifo: Mutex::new(Fifo::default()),
        }
    }

    /// Whether a chunk's pages are dropped as soon as it is written.
    pub fn keeps_none(&self) -> bool {
        self.budget == 0
    }

    /// Records that chunk `h` was written to the file with inode number `ino`, `len` bytes;
    /// returns the chunks (and their files' inode numbers then) that fell out of the budget,
    /// whose pages the caller drops if the file is still that one (a chunk collected and
    /// written again since is a new file, remembered on its own).
    pub fn written(&self, h: Hash, ino: u64, len: u64) -> Vec<(Hash, u64)> {
        let mut fifo = match self.fifo.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        fifo.chunks.push_back((h, ino, len));
        fifo.bytes += len;
        let mut out = Vec::new();
        while fifo.bytes > self.budget || fifo.chunks.len() > self.max_entries {
            let Some((old, old_ino, n)) = fifo.chunks.pop_front() else {
                break;
            };
            fifo.bytes -= n;
            out.push((old, old_ino));
        }
        out
    }
}

/// `VIRTIO_BALLOON_F_REPORTING`: the guest reports free pages and the host takes them back.
const BALLOON_F_REPORTING: usize = 5;
/// The virtio device id of a memory balloon.
const VIRTIO_ID_BALLOON: &str = "0x0005";

/// Whether this machine is a virtual machine whose host takes back the guest's free memory
/// (a virtio balloon with free page reporting): where the first write of each new page-cache
/// page costs a host fault. Read from `sysfs`; `false` where it cannot be read.
pub fn host_takes_back_free_memory() -> bool {
    balloon_reports_free_pages(Path::new("/sys/bus/virtio/devices"))
}

fn balloon_reports_free_pages(devices: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(devices) else {
        return false;
    };
    entries.flatten().any(|d| {
        let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap_or_default();
        // `features` is one character per feature bit, bit 0 first.
        read("device").trim() == VIRTIO_ID_BALLOON
            && read("features").as_bytes().get(BALLOON_F_REPORTING) == Some(&b'1')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn the_oldest_chunks_past_the_budget_are_handed_back() {
        let w = WrittenPages::new(3 << 20);
        let at = |n: u8| (h(n), u64::from(n) + 100);
        let write = |n: u8, len: u64| w.written(h(n), u64::from(n) + 100, len);
        assert!(write(1, 1 << 20).is_empty());
        assert!(write(2, 1 << 20).is_empty());
        assert!(write(3, 1 << 20).is_empty());
        assert_eq!(write(4, 1 << 20), vec![at(1)]);
        assert_eq!(write(5, 2 << 20), vec![at(2), at(3)]);
        // One chunk larger than the budget goes at once, with everything before it.
        assert_eq!(write(6, 4 << 20), vec![at(4), at(5), at(6)]);
    }

    #[test]
    fn tiny_chunks_are_bounded_by_count() {
        for (budget, entries) in [
            (1 << 20, MIN_ENTRIES),
            (1 << 30, 16_384),
            (u64::MAX, MAX_ENTRIES),
        ] {
            let w = WrittenPages::new(budget);
            let mut dropped = 0;
            for i in 0..(entries + 10) {
                dropped += w.written(h((i % 251) as u8), i as u64, 1).len();
            }
            assert_eq!(dropped, 10, "budget {budget}");
        }
    }

    #[test]
    fn a_balloon_with_free_page_reporting_is_recognised() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = |name: &str, id: &str, features: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("device"), format!("{id}\n")).expect("device");
            std::fs::write(d.join("features"), format!("{features}\n")).expect("features");
        };
        dev("virtio1", "0x0002", "0010011");
        assert!(!balloon_reports_free_pages(dir.path()), "a disk");
        dev("virtio0", "0x0005", "0110000");
        assert!(
            !balloon_reports_free_pages(dir.path()),
            "a balloon without reporting"
        );
        dev("virtio0", "0x0005", "0110010100");
        assert!(balloon_reports_free_pages(dir.path()));
        assert!(!balloon_reports_free_pages(&dir.path().join("none")));
    }
}
