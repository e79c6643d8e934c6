//! The default chunk backend: a directory of files, `blobs/ab/cd/<blake3 hex>`.
//!
//! Crash safety: a chunk is written to `blobs/tmp/`, fsynced, renamed into place and its
//! directory fsynced, all before the metadata that names it commits (when durable). So a file
//! may exist without metadata (garbage, collected by the GC) but metadata never exists without
//! its file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, StoreError};

use super::Hash;
use super::chunk_store::{ChunkInfo, ChunkStore};
use super::written_pages::WrittenPages;

pub struct LocalDir {
    root: PathBuf,
    tmp: PathBuf,
    tmp_seq: AtomicU64,
    /// Whose pages stay cached after writing (`None`: all, as the kernel pleases).
    written: Option<WrittenPages>,
    /// First-level directories (`ab/`, by the hash's first byte) whose entry in the root this
    /// process has made durable: the root was fsynced after the directory existed.
    top_synced: [AtomicU64; 4],
}

impl LocalDir {
    /// Chunks under `root`, staged in `root/tmp` (which must exist).
    pub fn new(root: &Path) -> Self {
        LocalDir {
            root: root.to_path_buf(),
            tmp: root.join("tmp"),
            tmp_seq: AtomicU64::new(0),
            written: None,
            top_synced: Default::default(),
        }
    }

    fn top_synced(&self, first: u8) -> bool {
        let bit = 1u64 << (first % 64);
        self.top_synced[usize::from(first / 64)].load(Ordering::Acquire) & bit != 0
    }

    fn set_top_synced(&self, first: u8) {
        let bit = 1u64 << (first % 64);
        self.top_synced[usize::from(first / 64)].fetch_or(bit, Ordering::Release);
    }

    /// Keeps only the last `budget` bytes written in the page cache (`None`: every page, until
    /// the kernel needs it; see [`WrittenPages`]).
    pub fn with_cached_writes(mut self, budget: Option<u64>) -> Self {
        self.written = budget.map(WrittenPages::new);
        self
    }

    /// After chunk `h` (`f`, `len` bytes) was written and fsynced: drops its pages or older
    /// chunks' per the budget. Advice only: a chunk removed since, or advice refused, changes
    /// nothing. A chunk not fsynced (`storage.fsync: metadata`/`never`) is not recorded: its
    /// pages are dirty, advice would not drop them but would start their writeback early.
    fn after_write(&self, h: &Hash, f: &File, len: usize) {
        let Some(w) = &self.written else { return };
        if w.keeps_none() {
            let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
            return;
        }
        let Ok(st) = rustix::fs::fstat(f) else { return };
        for (old, ino) in w.written(*h, st.st_ino, len as u64) {
            drop_pages_of(&self.path(&old), ino);
        }
    }

    /// Where chunk `h`'s file is (or would be).
    pub fn path(&self, h: &Hash) -> PathBuf {
        let hex = hex::encode(h);
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Whether chunk `h`'s file is there with the `len` bytes it must have (the stored bytes:
    /// a sealed chunk's tag included), so a write of the same bytes may link to it. A file of
    /// another length was cut short by a power loss under `storage.fsync: metadata` or `never`
    /// (the rename reached the disk, the data did not): it is written again in place, by the
    /// same temp-and-rename as a new chunk, rather than lent to every later write of those
    /// bytes. One `stat`; a file of the right length with wrong bytes is not caught here
    /// (reads verify them, fsck names it).
    fn holds(&self, h: &Hash, path: &Path, len: usize) -> Result<bool> {
        match fs::metadata(path) {
            Ok(md) if md.len() == len as u64 => Ok(true),
            Ok(md) => {
                tracing::warn!(
                    chunk = %hex::encode(h),
                    found = md.len(),
                    expected = len,
                    "a chunk file has the wrong length (cut short by a crash?): writing it again"
                );
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(e)),
        }
    }

    fn tmp_name(&self, h: &Hash) -> PathBuf {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!(
            "{}.{}.{}",
            hex::encode(&h[..8]),
            std::process::id(),
            seq
        ))
    }
}

impl ChunkStore for LocalDir {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn put(&self, h: &Hash, data: &bytes::Bytes, durable: bool) -> Result<bool> {
        let path = self.path(h);
        if self.holds(h, &path, data.len())? {
            return Ok(false);
        }
        let dir = path
            .parent()
            .ok_or_else(|| StoreError::internal("chunk path has no parent"))?;
        if !dir.exists() {
            crate::private::create_dir_all(dir)?;
            // Make the new directory entries durable: cd/ in ab/, and ab/ in the root unless
            // this process has already synced the root since ab/ existed (each fsync is a
            // flush of the disk's cache).
            if let Some(up) = dir.parent().filter(|_| durable) {
                sync_dir(up)?;
                if let Some(top) = up.parent()
                    && !self.top_synced(h[0])
                {
                    sync_dir(top)?;
                    self.set_top_synced(h[0]);
                }
            }
        }
        let tmp = self.tmp_name(h);
        let res = (|| -> io::Result<()> {
            let mut f = crate::private::file_options()
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(data)?;
            if durable {
                f.sync_data()?;
            }
            fs::rename(&tmp, &path)?;
            if durable {
                sync_dir(dir)?;
                self.after_write(h, &f, data.len());
            }
            Ok(())
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res.map(|()| true).map_err(StoreError::io)
    }

    fn contains(&self, h: &Hash) -> Result<bool> {
        Ok(self.path(h).try_exists()?)
    }

    fn open(&self, h: &Hash) -> Result<File> {
        File::open(self.path(h)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::Corrupt(format!("chunk {} is missing", hex::encode(h)))
            } else {
                StoreError::io(e)
            }
        })
    }

    fn remove(&self, h: &Hash) -> Result<Option<u64>> {
        let path = self.path(h);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => Ok(Some(len)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(e)),
        }
    }

    fn visit(&self, f: &mut dyn FnMut(ChunkInfo) -> Result<()>) -> Result<()> {
        for l1 in read_dirs(&self.root)? {
            if l1.file_name().and_then(|n| n.to_str()) == Some("tmp") {
                continue;
            }
            for l2 in read_dirs(&l1)? {
                for e in fs::read_dir(&l2)? {
                    let e = e?;
                    let Some(hash) = parse_hash(&e.file_name().to_string_lossy()) else {
                        continue;
                    };
                    let md = match e.metadata() {
                        Ok(md) => md,
                        // Removed since the directory was read.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(StoreError::io(e)),
                    };
                    f(ChunkInfo {
                        hash,
                        len: md.len(),
                        // No time: taken as new, so the GC leaves it alone.
                        stored: md
                            .modified()
                            .unwrap_or_else(|_| std::time::SystemTime::now()),
                    })?;
                }
            }
        }
        Ok(())
    }

    fn probe(&self) -> bool {
        let p = self.tmp.join(format!(
            "probe-{}",
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let ok = fs::write(&p, b"probe").is_ok();
        let _ = fs::remove_file(&p);
        ok
    }
}

fn read_dirs(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in fs::read_dir(p)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            v.push(e.path());
        }
    }
    Ok(v)
}

fn parse_hash(name: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(name, &mut h).ok()?;
    Some(h)
}

/// Drops the page-cache pages of the file at `path` if it is still the file with inode number
/// `ino` (a chunk collected and written again since is another file, with its own turn);
/// whether advice was given.
fn drop_pages_of(path: &Path, ino: u64) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    if rustix::fs::fstat(&f).map(|st| st.st_ino) != Ok(ino) {
        return false;
    }
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).is_ok()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk file cut short (a power loss under `storage.fsync: metadata`) is written again
    /// by the next write of the same bytes instead of being linked to.
    #[test]
    fn a_chunk_file_of_the_wrong_length_is_written_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::private::create_dir_all(&dir.path().join("tmp")).expect("tmp");
        let store = LocalDir::new(dir.path());
        let data = bytes::Bytes::from(vec![5u8; 4096]);
        let h = *blake3::hash(&data).as_bytes();
        assert!(store.put(&h, &data, false).expect("put"), "stored");
        assert!(!store.put(&h, &data, false).expect("put"), "deduplicated");
        for cut in [0, 100] {
            fs::OpenOptions::new()
                .write(true)
                .open(store.path(&h))
                .and_then(|f| f.set_len(cut))
                .expect("truncate");
            assert!(store.put(&h, &data, false).expect("put"), "written again");
            assert_eq!(fs::read(store.path(&h)).expect("read"), data.to_vec());
        }
    }

    /// A durable write into a new first-level directory syncs the root once per process and
    /// directory: the directory is marked only after that, and a write that was not durable
    /// marks nothing.
    #[test]
    fn the_root_is_synced_once_per_new_first_level_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::private::create_dir_all(&dir.path().join("tmp")).expect("tmp");
        let store = LocalDir::new(dir.path());
        let chunks: Vec<_> = (0..40u8)
            .map(|i| bytes::Bytes::from(vec![i; 100]))
            .collect();
        let hashes: Vec<Hash> = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
        let (first, rest) = chunks.split_at(20);
        for (c, h) in first.iter().zip(&hashes) {
            assert!(store.put(h, c, false).expect("put"), "stored");
            assert!(!store.top_synced(h[0]), "not durable: nothing marked");
        }
        let mut tops = std::collections::HashSet::new();
        for (c, h) in rest.iter().zip(&hashes[20..]) {
            let new_dir = !store.path(h).parent().is_some_and(Path::exists);
            assert!(store.put(h, c, true).expect("put"), "stored");
            if new_dir {
                assert!(store.top_synced(h[0]), "marked once the root was synced");
                tops.insert(h[0]);
            }
        }
        assert!(tops.len() > 10, "the writes made new directories");
        let marked = (0..=255u8).filter(|b| store.top_synced(*b)).count();
        assert_eq!(
            marked,
            tops.len(),
            "only the directories durable writes made"
        );
    }

    /// Dropping written chunks' pages (at once, or past a budget) leaves every chunk whole and
    /// found by the next write of the same bytes.
    #[test]
    fn chunks_whose_pages_are_dropped_read_back_whole() {
        for budget in [Some(0), Some(10_000), None] {
            let dir = tempfile::tempdir().expect("tempdir");
            crate::private::create_dir_all(&dir.path().join("tmp")).expect("tmp");
            let store = LocalDir::new(dir.path()).with_cached_writes(budget);
            let chunks: Vec<_> = (0..5u8)
                .map(|i| bytes::Bytes::from(vec![i; 4096 + usize::from(i)]))
                .collect();
            for (durable, data) in [true, false].iter().cycle().zip(&chunks) {
                let h = *blake3::hash(data).as_bytes();
                assert!(store.put(&h, data, *durable).expect("put"), "stored");
            }
            for data in &chunks {
                let h = *blake3::hash(data).as_bytes();
                assert_eq!(fs::read(store.path(&h)).expect("read"), data.to_vec());
                assert!(!store.put(&h, data, true).expect("put"), "deduplicated");
            }
        }
    }

    /// A chunk collected and written again is another file: the first file's turn to be
    /// dropped leaves the new one's pages alone.
    #[test]
    fn only_the_file_that_was_written_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chunk");
        fs::write(&path, b"first").expect("write");
        let ino = fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let ino = ino.expect("stat");
        assert!(drop_pages_of(&path, ino), "the same file");
        // Written again as a new file (temp and rename, as `put` does).
        let tmp = dir.path().join("tmp");
        fs::write(&tmp, b"again").expect("write");
        fs::rename(&tmp, &path).expect("rename");
        assert!(!drop_pages_of(&path, ino), "another file now");
        fs::remove_file(&path).expect("remove");
        assert!(!drop_pages_of(&path, ino), "gone");
    }
}
