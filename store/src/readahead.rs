//! Read-ahead of whole chunks for readers that come back for the next range (NFS READ: every
//! call is separate, so a sequential reader would otherwise wait for each chunk's read and
//! BLAKE3 check in turn).
//!
//! A read that touches chunk *i* of a manifest starts reading and verifying chunk *i + 1* on a
//! blocking thread; the next read that needs that chunk takes the running (or finished) task
//! instead of starting its own. Keyed by chunk hash, so whatever changed in the meantime, the
//! bytes are still the verified bytes of that hash. Bounded: at most [`SLOTS`] chunks are held
//! or in flight; the oldest unclaimed one is dropped first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::blobs::{BlobStore, Hash};
use crate::error::{Result, StoreError};

/// Chunks prefetched and not yet claimed, across all readers (16 × 1 MiB at most).
const SLOTS: usize = 16;

type Task = JoinHandle<Result<Vec<u8>>>;

#[derive(Default)]
pub struct ReadAhead {
    slots: Mutex<VecDeque<(Hash, Task)>>,
}

impl ReadAhead {
    /// Starts reading chunk `h` (`len` bytes) unless it is already under way.
    pub fn start(&self, blobs: &Arc<BlobStore>, h: Hash, len: u32) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.iter().any(|(k, _)| *k == h) {
            return;
        }
        if slots.len() >= SLOTS {
            // Unclaimed: a reader that stopped or went elsewhere. Its task finishes unobserved.
            slots.pop_front();
        }
        let blobs = blobs.clone();
        slots.push_back((
            h,
            tokio::task::spawn_blocking(move || blobs.read_chunk(&h, len)),
        ));
    }

    /// Chunk `h`: the prefetched bytes if a read-ahead holds them (waiting for it to finish),
    /// else read and verified now.
    pub async fn take(&self, blobs: &Arc<BlobStore>, h: Hash, len: u32) -> Result<Vec<u8>> {
        let task = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .position(|(k, _)| *k == h)
                .and_then(|i| slots.remove(i))
                .map(|(_, t)| t)
        };
        let task = match task {
            Some(t) => t,
            None => {
                let blobs = blobs.clone();
                tokio::task::spawn_blocking(move || blobs.read_chunk(&h, len))
            }
        };
        task.await.map_err(StoreError::internal)?
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_started_chunk_is_claimed_once_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Arc::new(BlobStore::open(&dir.path().join("blobs")).expect("blobs"));
        let mut hashes = Vec::new();
        for i in 0..(SLOTS + 2) {
            let bytes = vec![i as u8; 1000 + i];
            let h = *blake3::hash(&bytes).as_bytes();
            blobs.write_chunk(&h, &bytes).expect("write");
            hashes.push((h, bytes));
        }
        let ra = ReadAhead::default();
        for (h, b) in &hashes {
            ra.start(&blobs, *h, b.len() as u32);
            ra.start(&blobs, *h, b.len() as u32); // already under way: not twice
        }
        assert_eq!(ra.held(), SLOTS);
        // The newest is held, and claiming it empties its slot; the two oldest were dropped
        // but still read on demand.
        let (h, b) = &hashes[SLOTS + 1];
        assert_eq!(&ra.take(&blobs, *h, b.len() as u32).await.expect("take"), b);
        assert_eq!(ra.held(), SLOTS - 1);
        let (h, b) = &hashes[0];
        assert_eq!(&ra.take(&blobs, *h, b.len() as u32).await.expect("take"), b);
        // A chunk whose bytes do not match its hash is an error, prefetched or not.
        let bogus = [7u8; 32];
        ra.start(&blobs, bogus, 10);
        assert!(ra.take(&blobs, bogus, 10).await.is_err());
    }
}
