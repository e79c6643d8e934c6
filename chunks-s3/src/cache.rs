//! The local read cache of a remote chunk backend: files `cache/ab/<hex>`, at most `max`
//! bytes, least recently used out first. Its index lives in memory and is rebuilt from the
//! directory at start (one entry per cached chunk, oldest first by modification time). A file
//! removed while a reader has it open stays readable until closed, so eviction never breaks a
//! read in progress.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_store::StoreError;
use gatehouse_store::blobs::Hash;

type Result<T> = std::result::Result<T, StoreError>;

pub struct Cache {
    dir: PathBuf,
    tmp: PathBuf,
    max: u64,
    seq: AtomicU64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// hash → (length, last use)
    entries: HashMap<Hash, (u64, u64)>,
    /// last use → hash: the eviction order.
    by_use: BTreeMap<u64, Hash>,
    bytes: u64,
    clock: u64,
}

impl Index {
    fn touch(&mut self, h: &Hash) -> bool {
        let Some((_, used)) = self.entries.get(h).copied() else {
            return false;
        };
        self.by_use.remove(&used);
        self.clock += 1;
        let now = self.clock;
        self.by_use.insert(now, *h);
        if let Some(e) = self.entries.get_mut(h) {
            e.1 = now;
        }
        true
    }

    fn insert(&mut self, h: Hash, len: u64) {
        if self.touch(&h) {
            return;
        }
        self.clock += 1;
        self.entries.insert(h, (len, self.clock));
        self.by_use.insert(self.clock, h);
        self.bytes += len;
    }

    fn remove(&mut self, h: &Hash) -> bool {
        match self.entries.remove(h) {
            Some((len, used)) => {
                self.by_use.remove(&used);
                self.bytes -= len;
                true
            }
            None => false,
        }
    }
}

impl Cache {
    pub fn open(dir: &Path, max: u64) -> Result<Cache> {
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(StoreError::io)?;
        for e in fs::read_dir(&tmp).map_err(StoreError::io)? {
            let _ = fs::remove_file(e.map_err(StoreError::io)?.path());
        }
        let mut found = Vec::new();
        for sub in fs::read_dir(dir).map_err(StoreError::io)? {
            let sub = sub.map_err(StoreError::io)?;
            if sub.file_name() == "tmp" || !sub.file_type().map_err(StoreError::io)?.is_dir() {
                continue;
            }
            for e in fs::read_dir(sub.path()).map_err(StoreError::io)? {
                let e = e.map_err(StoreError::io)?;
                let mut h = [0u8; 32];
                if hex::decode_to_slice(e.file_name().to_string_lossy().as_bytes(), &mut h).is_err()
                {
                    continue;
                }
                if let Ok(md) = e.metadata() {
                    let t = md.modified().ok();
                    found.push((t, h, md.len()));
                }
            }
        }
        found.sort_by_key(|(t, _, _)| *t);
        let cache = Cache {
            dir: dir.to_path_buf(),
            tmp,
            max,
            seq: AtomicU64::new(0),
            index: Mutex::new(Index::default()),
        };
        {
            let mut ix = cache.lock();
            for (_, h, len) in found {
                ix.insert(h, len);
            }
        }
        cache.evict();
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // Every change to the index is a few map operations that cannot panic half-way.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, h: &Hash) -> PathBuf {
        let hex = hex::encode(h);
        self.dir.join(&hex[0..2]).join(hex)
    }

    /// The cached copy's length.
    pub fn len_of(&self, h: &Hash) -> Option<u64> {
        self.lock().entries.get(h).map(|e| e.0)
    }

    pub fn contains(&self, h: &Hash) -> bool {
        self.lock().entries.contains_key(h)
    }

    /// The cached chunk, open, and marked as just used.
    pub fn open_chunk(&self, h: &Hash) -> Option<File> {
        if !self.lock().touch(h) {
            return None;
        }
        match File::open(self.path(h)) {
            Ok(f) => Some(f),
            Err(_) => {
                // Gone under us (removed by hand, say): forget it, fetch again.
                self.lock().remove(h);
                None
            }
        }
    }

    /// A new file in `tmp/` for a chunk being fetched; [`Cache::adopt`] moves it in.
    pub fn temp_file(&self, h: &Hash) -> Result<(File, PathBuf)> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let p = self.tmp.join(format!("{}.{seq}", hex::encode(&h[..8])));
        let f = match File::create(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Removed under us: make it again.
                fs::create_dir_all(&self.tmp).map_err(StoreError::io)?;
                File::create(&p)
            }
            other => other,
        }
        .map_err(StoreError::io)?;
        Ok((f, p))
    }

    /// Moves a fetched (and checked) chunk from `tmp` into the cache and opens it.
    pub fn adopt(&self, h: &Hash, tmp: &Path, len: u64) -> Result<File> {
        let path = self.path(h);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(StoreError::io)?;
        }
        // Opened before it is moved in: the handle follows the file, so another fetch of the
        // same chunk evicting it (or renaming its own copy over it) in between cannot make
        // this read fail. Two reads of one chunk at once are common: a manifest may name it
        // twice, and read-ahead fetches both.
        let f = File::open(tmp).map_err(StoreError::io)?;
        fs::rename(tmp, &path).map_err(StoreError::io)?;
        self.lock().insert(*h, len);
        self.evict();
        Ok(f)
    }

    /// Keeps a copy of a chunk just stored in the backend (best effort: the cache is only a
    /// cache).
    pub fn insert(&self, h: &Hash, data: &[u8]) {
        if self.max == 0 || self.contains(h) {
            return;
        }
        let Ok((mut f, tmp)) = self.temp_file(h) else {
            return;
        };
        let written = std::io::Write::write_all(&mut f, data);
        drop(f);
        if written.is_err() || self.adopt(h, &tmp, data.len() as u64).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }

    pub fn remove(&self, h: &Hash) {
        if self.lock().remove(h) {
            let _ = fs::remove_file(self.path(h));
        }
    }

    /// Removes least recently used chunks until the cache fits its bound.
    fn evict(&self) {
        loop {
            let victim = {
                let mut ix = self.lock();
                if ix.bytes <= self.max {
                    return;
                }
                let Some((_, h)) = ix.by_use.iter().next().map(|(k, h)| (*k, *h)) else {
                    return;
                };
                ix.remove(&h);
                h
            };
            let _ = fs::remove_file(self.path(&victim));
        }
    }

    /// Bytes cached now.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn least_recently_used_goes_first_and_the_index_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Cache::open(dir.path(), 3000).expect("cache");
        c.insert(&h(1), &[1; 1000]);
        c.insert(&h(2), &[2; 1000]);
        c.insert(&h(3), &[3; 1000]);
        assert!(c.open_chunk(&h(1)).is_some(), "1 used: 2 is now the oldest");
        c.insert(&h(4), &[4; 1000]);
        assert!(!c.contains(&h(2)) && c.contains(&h(1)) && c.contains(&h(4)));
        assert_eq!(c.bytes(), 3000);
        drop(c);
        let c = Cache::open(dir.path(), 2000).expect("reopen");
        assert_eq!(
            c.bytes(),
            2000,
            "reopened smaller: evicted down to the bound"
        );
        c.remove(&h(4));
        assert!(!c.contains(&h(4)));
    }
}
