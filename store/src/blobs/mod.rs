//! Content-addressed chunks: what may be removed when, and bytes checked against their names.
//! Where the bytes live is a [`ChunkStore`] backend (`local`: files under `blobs/`).
//!
//! Crash safety: a chunk is durable in its backend before the metadata that names it commits.
//! So a chunk may exist without metadata (garbage, collected by [`BlobStore::gc`]) but metadata
//! never exists without its chunk.
//!
//! Races with GC: a writer *pins* a hash before it looks for or writes the file and unpins it
//! only after the referencing transaction committed (or failed). GC holds the pin lock while it
//! decides and deletes, and checks the chunks table in a read transaction begun under that lock,
//! so a chunk is deleted only if no committed row and no in-flight writer refers to it.
//!
//! Readers pin too ([`Pins::for_reading`]): a GET streaming a large object opens its chunk
//! files one after another, long after it read the manifest, and the object may be deleted or
//! overwritten meanwhile. Its pins keep the files until the response ends.

pub mod chunk_store;
pub mod local;
pub mod migrate;

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
    pins: Mutex<HashMap<Hash, usize>>,
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
        let deleted = {
            let mut map = blobs.lock_pins();
            for h in hashes {
                *map.entry(*h).or_insert(0) += 1;
            }
            blobs.deletions.load(Ordering::Relaxed) != since
        };
        pins.hashes.extend_from_slice(hashes);
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

    /// Aborts a write: unpins, then deletes the chunk files this writer created that nothing
    /// committed refers to and no other writer has pinned (decided under the pin lock, like GC).
    pub fn discard(mut self, referenced: &dyn Fn(&Hash) -> Result<bool>) -> Result<u64> {
        let created = std::mem::take(&mut self.created);
        let blobs = self.blobs.clone();
        drop(self);
        let mut removed = 0;
        for h in created {
            let pins = blobs.lock_pins();
            if pins.contains_key(&h) || referenced(&h)? {
                continue;
            }
            blobs.deletions.fetch_add(1, Ordering::Relaxed);
            if blobs.backend.remove(&h)?.is_some() {
                removed += 1;
            }
            drop(pins);
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
            if let Some(n) = pins.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(h);
                }
            }
        }
    }
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
            pins: Mutex::new(HashMap::new()),
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
            _ => bytes::BytesMut::with_capacity(size),
        }
    }

    /// Takes back a written chunk's bytes for reuse, when nothing else holds them.
    pub fn recycle(&self, data: bytes::Bytes, size: usize) {
        if let Ok(mut b) = data.try_into_mut()
            && b.capacity() == size
        {
            b.clear();
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < SPARE_BUFFERS {
                spare.push(b);
            }
        }
    }

    fn lock_pins(&self) -> MutexGuard<'_, HashMap<Hash, usize>> {
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
        *self.lock_pins().entry(h).or_insert(0) += 1;
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
    pub fn read_chunk_into(&self, h: &Hash, len: u32, mut buf: Vec<u8>) -> Result<Vec<u8>> {
        buf.clear();
        let mut f = self.open_chunk(h)?;
        f.read_to_end(&mut buf)?;
        if buf.len() != len as usize || blake3::hash(&buf).as_bytes() != h {
            return Err(mismatch(h));
        }
        Ok(buf)
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
        if total != u64::from(len) || hasher.finalize().as_bytes() != h {
            return Err(mismatch(h));
        }
        Ok(f)
    }

    /// Chunk `h`, open, unverified (callers check what they read against `h`).
    pub fn open_chunk(&self, h: &Hash) -> Result<File> {
        self.backend.open(h)
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
            let pins = self.lock_pins();
            if pins.contains_key(&c.hash) || referenced(&c.hash)? {
                return Ok(());
            }
            self.deletions.fetch_add(1, Ordering::Relaxed);
            if let Some(len) = self.backend.remove(&c.hash)? {
                stats.deleted += 1;
                stats.deleted_bytes += len;
            }
            drop(pins);
            Ok(())
        })?;
        Ok(stats)
    }

    /// Deletes the files of `hashes` that no committed row and no in-flight writer refers to
    /// (as [`BlobStore::gc`] decides, for named chunks instead of a walk); a file already gone
    /// is fine.
    pub fn delete_unreferenced(
        &self,
        hashes: &[Hash],
        referenced: &dyn Fn(&Hash) -> Result<bool>,
    ) -> Result<GcStats> {
        let mut stats = GcStats::default();
        for h in hashes {
            stats.scanned += 1;
            let pins = self.lock_pins();
            if pins.contains_key(h) || referenced(h)? {
                continue;
            }
            self.deletions.fetch_add(1, Ordering::Relaxed);
            if let Some(len) = self.backend.remove(h)? {
                stats.deleted += 1;
                stats.deleted_bytes += len;
            }
            drop(pins);
        }
        Ok(stats)
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
}
