//! Where chunk bytes live: a set of immutable objects named by their BLAKE3 hash.
//!
//! The backend only stores, finds, opens and removes. Everything that decides *whether* a
//! chunk may go — pins, the GC's grace, what the database references — and the check that
//! bytes match their name stay in [`super::BlobStore`], the same for every backend.
//! Calls block (a local file system, or a network round trip): callers run them on the
//! blocking pool.

use std::fs::File;
use std::time::SystemTime;

use crate::error::Result;

use super::Hash;

/// One stored chunk, as a listing sees it.
#[derive(Debug, Clone, Copy)]
pub struct ChunkInfo {
    pub hash: Hash,
    pub len: u64,
    /// When it was stored: the GC leaves chunks younger than its grace period alone.
    pub stored: SystemTime,
}

/// A content-addressed chunk backend (decision 0033).
pub trait ChunkStore: Send + Sync + 'static {
    /// A short name for logs and status (`local`, `s3`).
    fn kind(&self) -> &'static str;

    /// Stores `data` as chunk `h` unless it is there already; returns whether it stored it.
    /// With `durable`, the chunk survives a crash (or a lost node) once this returns: the
    /// metadata naming it commits only after.
    fn put(&self, h: &Hash, data: &bytes::Bytes, durable: bool) -> Result<bool>;

    /// Whether chunk `h` is stored.
    fn contains(&self, h: &Hash) -> Result<bool>;

    /// Chunk `h` as a local file open for reading at its start, not yet verified. A missing
    /// chunk is `StoreError::Corrupt`.
    fn open(&self, h: &Hash) -> Result<File>;

    /// Removes chunk `h`; its length, or `None` when it was not there.
    fn remove(&self, h: &Hash) -> Result<Option<u64>>;

    /// Calls `f` for every stored chunk, in no particular order.
    fn visit(&self, f: &mut dyn FnMut(ChunkInfo) -> Result<()>) -> Result<()>;

    /// Drops a local copy of chunk `h` that did not match its hash, so the next open fetches
    /// it again (a backend with a cache; the local directory has nothing else to read).
    fn forget_cached(&self, _h: &Hash) {}

    /// How many chunks one streamed read keeps in flight: enough to cover the time one takes
    /// to arrive (a local file: 2; a network round trip per chunk: more).
    fn read_depth(&self) -> usize {
        2
    }

    /// Whether a chunk could be stored now (the disk is writable and not full; the cluster
    /// answers).
    fn probe(&self) -> bool;
}
