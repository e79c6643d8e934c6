//! Content-addressed chunks: what may be removed when, and bytes checked against their names.
//! Where the bytes live is a [`ChunkStore`] backend (`local`: files under `blobs/`).
//!
//! Crash safety: a chunk is durable in its backend before the metadata that names it commits.
//! So a chunk may exist without metadata (garbage, collected by [`BlobStore::gc`]) but metadata
//! never exists without its chunk.
//!
//! Races with GC: a writer *pins* a hash before it looks for or writes the chunk and unpins it
//! only after the referencing transaction committed (or failed). GC decides under the pin lock,
//! checking the chunks table in a read transaction begun under that lock, so a chunk is removed
//! only if no committed row and no in-flight writer refers to it; the removal itself runs
//! outside the lock (a remote DELETE may take seconds), with the chunk marked as being removed:
//! a writer of it waits for the removal and stores it again, a reader pinning it treats it as
//! gone.
//!
//! Readers pin too ([`Pins::for_reading`]): a GET streaming a large object opens its chunk
//! files one after another, long after it read the manifest, and the object may be deleted or
//! overwritten meanwhile. Its pins keep the files until the response ends.

pub mod chunk_store;
pub mod local;
pub mod migrate;
mod written_pages;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::error::{Result, StoreError};
pub use chunk_store::{ChunkInfo, ChunkStore};

pub type Hash = [u8; 32];

/// A chunk backend and where it keeps the chunks (`local`, `s3 <endpoint>/<bucket>/<prefix>`).
#[derive(Clone)]
pub struct ChunkBackend {
    pub store: Arc<dyn ChunkStore>,
    pub location: String,
}

impl std::fmt::Debug for ChunkBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location)
    }
}

/// The META key naming where a data directory's chunks are.
const LOCATION_KEY: &str = "chunk_backend";
/// Where chunks are when the database says nothing (every data directory before issue 20).
pub const LOCAL: &str = "local";

/// Where `db` says its chunks are.
pub fn recorded_location(rtxn: &redb::ReadTransaction) -> Result<String> {
    let meta = match rtxn.open_table(crate::tables::META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(LOCAL.into()),
        Err(e) => return Err(e.into()),
    };
    Ok(meta
        .get(LOCATION_KEY)?
        .map(|v| String::from_utf8_lossy(v.value()).into_owned())
        .unwrap_or_else(|| LOCAL.into()))
}

/// Records where a database's chunks are (a backup's copy, whose archive carries them).
pub(crate) fn set_location(wtxn: &redb::WriteTransaction, location: &str) -> Result<()> {
    wtxn.open_table(crate::tables::META)?
        .insert(LOCATION_KEY, location.as_bytes())?;
    Ok(())
}

/// Checks the configured backend is the one this data directory's chunks are in, recording it
/// on first use. A store with chunks cannot switch backends by configuration alone (its chunks
/// would be missing): that is `gatehouse storage migrate`'s job.
pub(crate) fn check_location(db: &redb::Database, location: &str) -> Result<()> {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let recorded = recorded_location(&db.begin_read()?)?;
    if recorded == location {
        return Ok(());
    }
    let has_chunks = {
        let r = db.begin_read()?;
        match r.open_table(crate::tables::CHUNKS) {
            Ok(t) => t.len()? > 0,
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(e) => return Err(e.into()),
        }
    };
    if has_chunks {
        return Err(StoreError::InvalidArgument(format!(
            "this data directory's chunks are in {recorded}, but storage.backend names \
             {location}: configure the backend they are in"
        )));
    }
    let w = db.begin_write()?;
    w.open_table(crate::tables::META)?
        .insert(LOCATION_KEY, location.as_bytes())?;
    w.commit()?;
    Ok(())
}

pub struct BlobStore {
    /// Chunk files (and their directory entries) are fsynced before the metadata naming them
    /// commits (`storage.fsync: always`); otherwise left to the OS.
    pub sync_data: bool,
    backend: Arc<dyn ChunkStore>,
    /// `blobs/tmp`: chunks on their way into the local backend, NFS scratch files.
    tmp: PathBuf,
    pins: Mutex<PinTable>,
    /// Signalled when a removal under way ends (see [`PinTable::removing`]).
    removed: std::sync::Condvar,
    tmp_seq: AtomicU64,
    /// Chunk files deleted so far (by GC or an aborted write), counted under the pin lock
    /// before each deletion: a reader that saw the same count before reading its manifest
    /// and after pinning knows no file was deleted in between.
    deletions: AtomicU64,
    /// Memory for whole chunks on their way to disk, across every write
    /// (`storage.write_buffer`), in KiB: a staged body takes a chunk's worth when it hands a
    /// filled chunk to its write and gets it back when the file is written. Uploads beyond it
    /// wait, their bodies held back by TCP. (Each body also fills one chunk of its own; a
    /// budget over those would let a few stalled clients hold up everyone's uploads.)
    pub write_budget: Arc<tokio::sync::Semaphore>,
    /// Memory for whole chunks read for S3 GETs (`storage.read_buffer`), in KiB, held until
    /// the bytes are sent; readers past it read verified files in small pieces instead of
    /// waiting (`readahead::chunk_bytes`).
    pub read_budget: Arc<tokio::sync::Semaphore>,
    /// Chunk buffers written and free for the next chunk (see [`BlobStore::chunk_buffer`]).
    spare: Mutex<Vec<bytes::BytesMut>>,
}

/// Spare chunk buffers kept, at most (8 MiB of the default 1 MiB chunks).
const SPARE_BUFFERS: usize = 8;

/// The default of `storage.write_buffer`.
pub const DEFAULT_WRITE_BUFFER: usize = 16 << 20;
/// The default of `storage.read_buffer`.
pub const DEFAULT_READ_BUFFER: usize = 8 << 20;

/// `storage.cached_writes: auto` on a machine whose host takes back free memory: the chunk
/// bytes written lately whose pages stay in the OS page cache (decision 0052). Elsewhere
/// `auto` leaves every page to the kernel.
pub const AUTO_CACHED_WRITES: u64 = 1 << 30;
pub use written_pages::host_takes_back_free_memory;

/// Whether a chunk is referenced by a committed row (a read transaction of its own): what
/// decides, under the pin lock, that an aborted write's chunk may go.
pub type Referenced = Arc<dyn Fn(&Hash) -> Result<bool> + Send + Sync>;

/// Who holds which chunk, under one lock.
#[derive(Default)]
struct PinTable {
    /// Hash → how many holders (writers before their commit, readers until their response
    /// ends).
    counts: HashMap<Hash, usize>,
    /// Chunks decided for removal (unpinned and unreferenced, under this lock) whose removal
    /// is under way outside it: a remote DELETE may take seconds, and the lock must not be
    /// held that long. A writer of one of them waits until it is gone, then stores it again;
    /// a reader pinning one treats it as gone.
    removing: std::collections::HashSet<Hash>,
}

/// Hashes pinned by one staged write; unpinned when dropped.
pub struct Pins {
    blobs: Arc<BlobStore>,
    hashes: Vec<Hash>,
    /// Chunks whose files this writer created (not found already on disk): what an aborted
    /// write must remove so a failed upload leaves no bytes behind.
    created: Vec<Hash>,
}

impl Pins {
    pub fn new(blobs: Arc<BlobStore>) -> Self {
        Pins {
            blobs,
            hashes: Vec::new(),
            created: Vec::new(),
        }
    }
    pub fn add(&mut self, h: Hash) {
        self.blobs.pin(h);
        self.hashes.push(h);
    }
    pub fn absorb(&mut self, mut other: Pins) {
        self.hashes.append(&mut other.hashes);
        self.created.append(&mut other.created);
    }

    /// Pins the chunks a reader is about to open (one lock for all of them) and makes sure each
    /// file is still there. `since`: [`BlobStore::deletions`] read before the manifest was.
    /// The manifest's files existed when it was read (metadata never exists without its
    /// blob), so when nothing was deleted since, they are there; otherwise each is looked for.
    /// `None` when one is gone: it was collected between the reader's look at the manifest and
    /// this pin (its object was deleted or overwritten meanwhile), so the reader should read
    /// the object again. When `Some`, every file stays until the pins are dropped: GC and
    /// aborted writers delete only under the pin lock, only unpinned files.
    pub fn for_reading(
        blobs: &Arc<BlobStore>,
        hashes: &[Hash],
        since: u64,
    ) -> Result<Option<Pins>> {
        let mut pins = Pins::new(blobs.clone());
        let (deleted, removing) = {
            let mut map = blobs.lock_pins();
            for h in hashes {
                *map.counts.entry(*h).or_insert(0) += 1;
            }
            (
                blobs.deletions.load(Ordering::Relaxed) != since,
                hashes.iter().any(|h| map.removing.contains(h)),
            )
        };
        pins.hashes.extend_from_slice(hashes);
        if removing {
            return Ok(None);
        }
        if !deleted {
            return Ok(Some(pins));
        }
        for h in hashes {
            if !blobs.backend.contains(h)? {
                return Ok(None);
            }
        }
        Ok(Some(pins))
    }

    /// The chunk store these pins hold chunks in.
    pub fn blobs(&self) -> &Arc<BlobStore> {
        &self.blobs
    }

    pub fn mark_created(&mut self, h: Hash) {
        self.created.push(h);
    }

    /// [`Pins::discard`] for a write given up on: at once for the local directory (a failed
    /// upload has left nothing behind when its error is answered), on the blocking pool for a
    /// remote backend, whose removals are network calls an async task must not wait for.
    pub fn discard_soon(self, referenced: Referenced) {
        let remote = self.blobs.backend_kind() != LOCAL;
        let run = move || {
            if let Err(e) = self.discard(&*referenced) {
                tracing::warn!(error = %e, "could not remove the chunks of an aborted write");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if remote => {
                rt.spawn_blocking(run);
            }
            _ => run(),
        }
    }

    /// Aborts a write: unpins, then deletes the chunk files this writer created that nothing
    /// committed refers to and no other writer has pinned (decided under the pin lock, like GC).
    pub fn discard(mut self, referenced: &dyn Fn(&Hash) -> Result<bool>) -> Result<u64> {
        let created = std::mem::take(&mut self.created);
        let blobs = self.blobs.clone();
        drop(self);
        let mut removed = 0;
        for h in created {
            if let Removal::Removed(Some(_)) = blobs.remove_if_unused(&h, referenced)? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        if self.hashes.is_empty() {
            return;
        }
        let mut pins = self.blobs.lock_pins();
        for h in &self.hashes {
            if let Some(n) = pins.counts.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    pins.counts.remove(h);
                }
            }
        }
    }
}

/// What [`BlobStore::remove_if_unused`] did with a chunk.
enum Removal {
    /// Kept: a reader or writer holds it. Worth asking again once they are done.
    Pinned,
    /// Kept: referenced (or, for the freed-chunk rounds, freed again lately), or another is
    /// removing it already.
    InUse,
    /// Removed; the length the backend said (`None`: it was not there).
    Removed(Option<u64>),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    pub scanned: u64,
    pub deleted: u64,
    pub deleted_bytes: u64,
}

impl BlobStore {
    /// Opens (creating) `root` with chunks in files under it (the `local` backend); leftovers
    /// in `root/tmp` from a crash are removed.
    pub fn open(root: &Path) -> Result<Self> {
        Self::with_backend(root, |root| Ok(Arc::new(local::LocalDir::new(root))))
    }

    /// Opens (creating) `root` for scratch space, with chunks in the backend `backend` makes
    /// (given `root`, whose `tmp/` exists by then).
    pub fn with_backend(
        root: &Path,
        backend: impl FnOnce(&Path) -> Result<Arc<dyn ChunkStore>>,
    ) -> Result<Self> {
        let tmp = root.join("tmp");
        crate::private::create_dir_all(&tmp)?;
        for e in fs::read_dir(&tmp)? {
            let e = e?;
            let _ = fs::remove_file(e.path());
        }
        Ok(BlobStore {
            sync_data: true,
            backend: backend(root)?,
            tmp,
            pins: Mutex::new(PinTable::default()),
            removed: std::sync::Condvar::new(),
            tmp_seq: AtomicU64::new(0),
            deletions: AtomicU64::new(0),
            write_budget: Arc::new(tokio::sync::Semaphore::new(DEFAULT_WRITE_BUFFER >> 10)),
            read_budget: Arc::new(tokio::sync::Semaphore::new(DEFAULT_READ_BUFFER >> 10)),
            spare: Mutex::new(Vec::new()),
        })
    }

    /// An empty buffer for one chunk of `size` bytes: a written chunk's buffer when one is
    /// spare, else a new one. Reusing them keeps large uploads from allocating (and the
    /// kernel from zeroing) a fresh megabyte per chunk, and the allocator from holding on to
    /// freed ones.
    pub fn chunk_buffer(&self, size: usize) -> bytes::BytesMut {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(b) if b.capacity() >= size => b,
            // Room for an encrypted chunk's tag too: it is sealed in place (decision 0044).
            _ => bytes::BytesMut::with_capacity(size + crate::sse::chunk::OVERHEAD),
        }
    }

    /// Takes back a written chunk's bytes for reuse, when nothing else holds them.
    pub fn recycle(&self, data: bytes::Bytes, size: usize) {
        if let Ok(mut b) = data.try_into_mut()
            && (size..=size + crate::sse::chunk::OVERHEAD).contains(&b.capacity())
        {
            b.clear();
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < SPARE_BUFFERS {
                spare.push(b);
            }
        }
    }

    fn lock_pins(&self) -> MutexGuard<'_, PinTable> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts).
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many chunk files were deleted so far (see [`Pins::for_reading`]).
    pub fn deletions(&self) -> u64 {
        // Read under the pin lock: ordered with the deletions, which count under it.
        let _pins = self.lock_pins();
        self.deletions.load(Ordering::Relaxed)
    }

    fn pin(&self, h: Hash) {
        *self.lock_pins().counts.entry(h).or_insert(0) += 1;
    }

    /// The backend's name (`local`, `s3`).
    pub fn backend_kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// Chunks one streamed read keeps in flight ([`ChunkStore::read_depth`]).
    pub fn read_depth(&self) -> usize {
        self.backend.read_depth().max(1)
    }

    /// Whether chunk `h` is stored.
    pub fn contains(&self, h: &Hash) -> Result<bool> {
        self.backend.contains(h)
    }

    /// Writes one chunk durably (per `storage.fsync`) unless it is already there; returns
    /// whether it stored it. Blocking; call from a blocking pool. The caller must have pinned
    /// `h`.
    pub fn write_chunk(&self, h: &Hash, data: &bytes::Bytes) -> Result<bool> {
        // A removal of `h` decided before our pin finishes first; none can start now.
        let mut pins = self.lock_pins();
        while pins.removing.contains(h) {
            pins = self.removed.wait(pins).unwrap_or_else(|p| p.into_inner());
        }
        drop(pins);
        self.backend.put(h, data, self.sync_data)
    }

    /// An empty read-write file in `tmp/` without a name (`O_TMPFILE`; where the file system
    /// has none, a named file removed at once): scratch space on the data disk that vanishes
    /// when closed, crash included.
    pub fn scratch_file(&self) -> Result<File> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::open(&self.tmp, flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::ISDIR => {}
            Err(e) => return Err(StoreError::io(io::Error::from(e))),
        }
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let path = self
            .tmp
            .join(format!("scratch.{}.{seq}", std::process::id()));
        let f = crate::private::file_options()
            .create_new(true)
            .read(true)
            .open(&path)
            .map_err(StoreError::io)?;
        fs::remove_file(&path).map_err(StoreError::io)?;
        Ok(f)
    }

    /// Reads a whole chunk and verifies its BLAKE3 hash. Blocking.
    pub fn read_chunk(&self, h: &Hash, len: u32) -> Result<Vec<u8>> {
        self.read_chunk_into(h, len, Vec::with_capacity(len as usize))
    }

    /// [`BlobStore::read_chunk`] into `buf` (emptied first), allocated by the caller: a
    /// buffer allocated on a blocking-pool thread would grow that thread's allocator heap, one
    /// per thread, and the pool has many.
    pub fn read_chunk_into(&self, h: &Hash, len: u32, buf: Vec<u8>) -> Result<Vec<u8>> {
        self.read_chunk_with(h, len, buf, |b| blake3::hash(b).as_bytes() == h)
    }

    /// Chunk `h` read whole into `buf` and judged by `open` ([`BlobStore::read_chunk_into`]:
    /// its BLAKE3; a sealed chunk (decision 0044): opened in place with AES-256-GCM, which
    /// authenticates it, so it needs no BLAKE3 pass on read — any changed byte fails its tag,
    /// and another chunk's bytes fail its key, derived from the manifest's tag). `open` answers
    /// `false` for bytes that do not pass; then the backend's local copy is dropped and the
    /// chunk read once more. fsck (and so restores) still check every chunk's BLAKE3 name.
    pub fn read_chunk_with(
        &self,
        h: &Hash,
        len: u32,
        buf: Vec<u8>,
        mut open: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Result<Vec<u8>> {
        let mut buf = Some(buf);
        self.checked(h, || {
            let mut b = buf.take().unwrap_or_default();
            b.clear();
            let mut f = self.open_chunk(h)?;
            f.read_to_end(&mut b)?;
            Ok((b.len() == len as usize && open(&mut b)).then_some(b))
        })
    }

    /// `read` (an open-and-check of chunk `h`: `None` when the bytes do not match), and once
    /// more after a mismatch with the backend's local copy dropped
    /// ([`ChunkStore::forget_cached`]): a cache file damaged by a crash is fetched again
    /// rather than failing every read of it.
    fn checked<T>(&self, h: &Hash, mut read: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        if let Some(v) = read()? {
            return Ok(v);
        }
        self.backend.forget_cached(h);
        read()?.ok_or_else(|| mismatch(h))
    }

    /// Chunk `h`, open, after its `len` bytes were read and found to match the hash: for a
    /// sender that hands the file's pages to a socket (`sendfile`) instead of copying them
    /// out. The bytes pass through one small buffer per thread, hashed while in the CPU's
    /// cache. Chunk files are never changed once in place, and an open file outlives a GC
    /// that deletes it, so the bytes sent later are the bytes verified now.
    pub fn open_verified(&self, h: &Hash, len: u32) -> Result<File> {
        thread_local! {
            static PIECE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 128 << 10]);
        }
        self.checked(h, || {
            let mut f = self.open_chunk(h)?;
            let mut hasher = blake3::Hasher::new();
            let mut total = 0u64;
            PIECE.with_borrow_mut(|piece| -> Result<()> {
                loop {
                    match f.read(piece) {
                        Ok(0) => return Ok(()),
                        Ok(n) => {
                            hasher.update(&piece[..n]);
                            total += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            })?;
            Ok((total == u64::from(len) && hasher.finalize().as_bytes() == h).then_some(f))
        })
    }

    /// Chunk `h`, open, unverified (callers check what they read against `h`).
    pub fn open_chunk(&self, h: &Hash) -> Result<File> {
        self.backend.open(h)
    }

    /// Removes chunk `h` unless it is pinned, being removed already or `referenced` (a read
    /// transaction begun inside the call, under the pin lock): decided under the lock,
    /// removed outside it.
    fn remove_if_unused(
        &self,
        h: &Hash,
        referenced: &dyn Fn(&Hash) -> Result<bool>,
    ) -> Result<Removal> {
        {
            let mut pins = self.lock_pins();
            if pins.counts.contains_key(h) {
                return Ok(Removal::Pinned);
            }
            if pins.removing.contains(h) || referenced(h)? {
                return Ok(Removal::InUse);
            }
            pins.removing.insert(*h);
            // Counted before the removal: a reader that saw the old count re-checks.
            self.deletions.fetch_add(1, Ordering::Relaxed);
        }
        let res = self.backend.remove(h);
        self.lock_pins().removing.remove(h);
        self.removed.notify_all();
        res.map(Removal::Removed)
    }

    /// Deletes chunk files that no committed row and no in-flight writer refers to, and that
    /// are older than `grace`. `referenced` must consult a read transaction begun by the caller
    /// *inside* the callback (it is called with the pin lock held).
    pub fn gc(
        &self,
        grace: Duration,
        referenced: &dyn Fn(&Hash) -> Result<bool>,
    ) -> Result<GcStats> {
        let mut stats = GcStats::default();
        let now = SystemTime::now();
        self.backend.visit(&mut |c| {
            stats.scanned += 1;
            let age = now.duration_since(c.stored).unwrap_or_default();
            if age < grace {
                return Ok(());
            }
            if let Removal::Removed(Some(len)) = self.remove_if_unused(&c.hash, referenced)? {
                stats.deleted += 1;
                // The listing's length: a remote backend's DELETE does not say.
                stats.deleted_bytes += len.max(c.len);
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// Deletes the files of `hashes` that no committed row and no in-flight writer refers to
    /// (as [`BlobStore::gc`] decides, for named chunks instead of a walk); a file already gone
    /// is fine. Also returns the ones kept because pinned (a long GET, a backup, a writer that
    /// deduplicated onto one): nothing else would ever ask about them again, so the caller
    /// keeps them on its list for a later round.
    pub fn delete_unreferenced(
        &self,
        hashes: &[Hash],
        referenced: &dyn Fn(&Hash) -> Result<bool>,
    ) -> Result<(GcStats, Vec<Hash>)> {
        let mut stats = GcStats::default();
        let mut pinned = Vec::new();
        for h in hashes {
            stats.scanned += 1;
            match self.remove_if_unused(h, referenced)? {
                Removal::Removed(Some(len)) => {
                    stats.deleted += 1;
                    stats.deleted_bytes += len;
                }
                Removal::Pinned => pinned.push(*h),
                Removal::Removed(None) | Removal::InUse => {}
            }
        }
        Ok((stats, pinned))
    }

    /// Whether a chunk could be stored now: the disk is mounted, writable and not full (and a
    /// remote backend answers).
    pub fn probe_writable(&self) -> bool {
        let p = self.tmp.join(format!(
            "probe-{}",
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let ok = fs::write(&p, b"probe").is_ok();
        let _ = fs::remove_file(&p);
        ok && self.backend.probe()
    }

    /// Removes chunk `h` whatever refers to it (fsck's repair of chunks nothing references,
    /// the server stopped); its length, or `None` when it was not there.
    pub fn remove_unchecked(&self, h: &Hash) -> Result<Option<u64>> {
        self.backend.remove(h)
    }

    /// Every chunk stored (for fsck and tests).
    pub fn all_chunks(&self) -> Result<Vec<Hash>> {
        let mut out = Vec::new();
        self.backend.visit(&mut |c| {
            out.push(c.hash);
            Ok(())
        })?;
        Ok(out)
    }
}

fn mismatch(h: &Hash) -> StoreError {
    StoreError::Corrupt(format!("chunk {} does not match its hash", hex::encode(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(blobs: &BlobStore, seed: u8) -> Hash {
        let bytes = vec![seed; 1000];
        let h = *blake3::hash(&bytes).as_bytes();
        blobs.write_chunk(&h, &bytes.into()).expect("write");
        h
    }

    #[test]
    fn a_reader_pin_keeps_its_files_and_notices_one_collected_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Arc::new(BlobStore::open(&dir.path().join("blobs")).expect("blobs"));
        let unreferenced = |_: &Hash| Ok(false);
        let (a, b) = (chunk(&blobs, 1), chunk(&blobs, 2));

        // Pinned by a reader: GC (nothing references it any more) leaves it.
        let since = blobs.deletions();
        let pins = Pins::for_reading(&blobs, &[a, a], since)
            .expect("pin")
            .expect("present");
        let collected = blobs.gc(Duration::ZERO, &unreferenced).expect("gc");
        assert_eq!(collected.deleted, 1, "b goes, a stays");
        assert!(blobs.contains(&a).expect("a") && !blobs.contains(&b).expect("b"));

        // A reader that read its manifest before b was collected finds out after pinning.
        assert!(
            Pins::for_reading(&blobs, &[b], since)
                .expect("pin")
                .is_none()
        );
        // One that read it after the deletion (the file is gone for good: the object went
        // with it) would not have b in its manifest; with a it is fine, files looked for.
        assert!(
            Pins::for_reading(&blobs, &[a], since)
                .expect("pin")
                .is_some()
        );

        // Once the reader is done, a is collected (its pin was counted twice, released twice).
        drop(pins);
        assert_eq!(
            blobs.gc(Duration::ZERO, &unreferenced).expect("gc").deleted,
            1
        );
        assert!(!blobs.contains(&a).expect("a"));
    }

    /// A local directory whose removals wait at a gate: a remote DELETE in slow motion.
    struct SlowRemove {
        inner: local::LocalDir,
        gate: Arc<(Mutex<(bool, bool)>, std::sync::Condvar)>, // (entered, open)
    }

    impl ChunkStore for SlowRemove {
        fn kind(&self) -> &'static str {
            "slow"
        }
        fn put(&self, h: &Hash, d: &bytes::Bytes, durable: bool) -> Result<bool> {
            self.inner.put(h, d, durable)
        }
        fn contains(&self, h: &Hash) -> Result<bool> {
            self.inner.contains(h)
        }
        fn open(&self, h: &Hash) -> Result<File> {
            self.inner.open(h)
        }
        fn remove(&self, h: &Hash) -> Result<Option<u64>> {
            let (m, cv) = &*self.gate;
            let mut g = m.lock().expect("gate");
            g.0 = true;
            cv.notify_all();
            while !g.1 {
                g = cv.wait(g).expect("gate");
            }
            drop(g);
            self.inner.remove(h)
        }
        fn visit(&self, f: &mut dyn FnMut(ChunkInfo) -> Result<()>) -> Result<()> {
            self.inner.visit(f)
        }
        fn probe(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_removal_under_way_holds_no_lock_but_writers_wait_and_readers_see_it_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gate = Arc::new((Mutex::new((false, false)), std::sync::Condvar::new()));
        let g = gate.clone();
        let blobs = Arc::new(
            BlobStore::with_backend(&dir.path().join("blobs"), move |root| {
                Ok(Arc::new(SlowRemove {
                    inner: local::LocalDir::new(root),
                    gate: g,
                }))
            })
            .expect("blobs"),
        );
        let h = chunk(&blobs, 7);
        let since = blobs.deletions();
        let gc = {
            let b = blobs.clone();
            std::thread::spawn(move || b.gc(Duration::ZERO, &|_| Ok(false)).expect("gc"))
        };
        {
            let (m, cv) = &*gate;
            let mut g = m.lock().expect("gate");
            while !g.0 {
                g = cv.wait(g).expect("gate");
            }
        }
        // The removal is under way: the pin lock is free (this would hang otherwise), a
        // reader that pins the chunk is told it is gone...
        assert!(
            Pins::for_reading(&blobs, &[h], since)
                .expect("pin")
                .is_none()
        );
        // ...and a writer of the same bytes waits for the removal, then stores them again.
        let writer = {
            let b = blobs.clone();
            std::thread::spawn(move || {
                let mut pins = Pins::new(b.clone());
                pins.add(h);
                let stored = b.write_chunk(&h, &vec![7u8; 1000].into()).expect("write");
                (stored, pins)
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!writer.is_finished(), "the writer waits for the removal");
        {
            let (m, cv) = &*gate;
            m.lock().expect("gate").1 = true;
            cv.notify_all();
        }
        assert_eq!(gc.join().expect("gc thread").deleted, 1);
        let (stored, _pins) = writer.join().expect("writer thread");
        assert!(stored, "stored again after the removal");
        assert!(blobs.contains(&h).expect("contains"));
    }
}
