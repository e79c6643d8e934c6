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

pub struct LocalDir {
    root: PathBuf,
    tmp: PathBuf,
    tmp_seq: AtomicU64,
}

impl LocalDir {
    /// Chunks under `root`, staged in `root/tmp` (which must exist).
    pub fn new(root: &Path) -> Self {
        LocalDir {
            root: root.to_path_buf(),
            tmp: root.join("tmp"),
            tmp_seq: AtomicU64::new(0),
        }
    }

    /// Where chunk `h`'s file is (or would be).
    pub fn path(&self, h: &Hash) -> PathBuf {
        let hex = hex::encode(h);
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
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
        if path.exists() {
            return Ok(false);
        }
        let dir = path
            .parent()
            .ok_or_else(|| StoreError::internal("chunk path has no parent"))?;
        if !dir.exists() {
            crate::private::create_dir_all(dir)?;
            // Make the new directory entries durable (ab/ in root, cd/ in ab/).
            if let Some(up) = dir.parent().filter(|_| durable) {
                sync_dir(up)?;
                if let Some(top) = up.parent() {
                    sync_dir(top)?;
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
