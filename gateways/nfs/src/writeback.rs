//! The write-back buffer behind UNSTABLE writes (RFC 1813 §3.3.7, §3.3.21).
//!
//! An UNSTABLE WRITE is checked (the caller may put, the inode is a file, the growth fits the
//! quotas) and kept here; its reply says UNSTABLE with the server's write verifier. The bytes
//! reach the store in one commit per file when: the client sends COMMIT for the file; a
//! FILE_SYNC/DATA_SYNC write to it arrives (kept in order); the file's buffer passes
//! [`FILE_MAX`] or all buffers pass [`TOTAL_MAX`]; any other procedure names a handle in the
//! same share (so READ, GETATTR, LOOKUP, READDIR, SETATTR, RENAME see what was written); it
//! has been buffered for [`AGE_MAX`] (so S3 sees it soon); the server stops. A flush writes each
//! chunk-sized window once, however many 4 KiB writes landed in it.
//!
//! A flush that fails (a quota filled by someone else meanwhile, a full disk) keeps its
//! status for the file's next COMMIT; a file deleted meanwhile drops its bytes, as a local
//! file system would. Per-file flush locks keep flushes of one file in write order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_store::{Principal, Store, StoreError};
use nfs3_types::nfs3::nfsstat3;

/// A file's buffer past this many bytes starts flushing in the background while the writer
/// goes on (receiving overlaps hashing and disk).
pub const FILE_MAX: usize = 16 << 20;
/// A file's buffer past this many bytes (its writer outruns the flushes), or all buffers
/// together past [`TOTAL_MAX`]: the writer waits for its file's flush (back-pressure).
pub const FILE_HARD: usize = 32 << 20;
pub const TOTAL_MAX: usize = 128 << 20;

/// What a write left behind it ([`WriteBack::add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Plenty,
    /// Start a background flush of the file.
    FlushSoon,
    /// Flush the file before answering.
    FlushNow,
}
/// Buffered bytes older than this are flushed by the background task.
pub const AGE_MAX: Duration = Duration::from_secs(1);

type Key = (u64, u64);

struct Pending {
    bucket: String,
    /// The principal of the last write; the flush commits as that principal.
    principal: Principal,
    /// Offset → bytes, sorted, never overlapping (a later write replaces what it covers).
    extents: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
    /// The end of the furthest buffered write.
    end: u64,
    since: Instant,
    /// A background flush was started for these bytes.
    flush_started: bool,
}

#[derive(Default)]
struct State {
    files: HashMap<Key, Pending>,
    total: usize,
    /// Statuses of failed flushes, reported by the file's next COMMIT.
    failed: HashMap<Key, nfsstat3>,
}

/// Cheap to clone: a background flush holds one.
#[derive(Default, Clone)]
pub(crate) struct WriteBack(Arc<Inner>);

#[derive(Default)]
pub(crate) struct Inner {
    state: Mutex<State>,
    /// One lock per file being flushed, so two flushes of it commit in order.
    flushing: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::ops::Deref for WriteBack {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl WriteBack {
    /// Flushes one file in the background (a failure is kept for its COMMIT).
    pub fn flush_later(&self, store: &Store, bucket_id: u64, ino: u64) {
        let (wb, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            let _ = wb.flush_file(&store, bucket_id, ino).await;
        });
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nothing buffered and no flush under way.
    pub fn is_empty(&self) -> bool {
        self.state().files.is_empty()
            && self
                .flushing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// The end of the furthest buffered write to a file, if any.
    pub fn buffered_end(&self, bucket_id: u64, ino: u64) -> Option<u64> {
        self.state().files.get(&(bucket_id, ino)).map(|p| p.end)
    }

    /// Keeps one write; says whether the file should be flushed now, soon, or not yet.
    pub fn add(
        &self,
        bucket_id: u64,
        bucket: &str,
        ino: u64,
        principal: &Principal,
        offset: u64,
        data: &[u8],
    ) -> Room {
        let mut st = self.state();
        let p = st.files.entry((bucket_id, ino)).or_insert_with(|| Pending {
            bucket: bucket.to_string(),
            principal: principal.clone(),
            extents: BTreeMap::new(),
            bytes: 0,
            end: 0,
            since: Instant::now(),
            flush_started: false,
        });
        p.principal = principal.clone();
        let grew = insert(&mut p.extents, offset, data);
        p.bytes += grew;
        p.end = p.end.max(offset + data.len() as u64);
        let file_bytes = p.bytes;
        let soon = file_bytes >= FILE_MAX && !p.flush_started;
        p.flush_started |= soon;
        st.total += grew;
        if file_bytes >= FILE_HARD || st.total >= TOTAL_MAX {
            Room::FlushNow
        } else if soon {
            Room::FlushSoon
        } else {
            Room::Plenty
        }
    }

    /// The status of a failed flush of this file, taken (reported once).
    pub fn take_failure(&self, bucket_id: u64, ino: u64) -> Option<nfsstat3> {
        self.state().failed.remove(&(bucket_id, ino))
    }

    fn flush_lock(&self, key: Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key).or_default().clone()
    }

    fn release_lock(&self, key: Key, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut m = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        drop(lock);
        if m.get(&key).is_some_and(|l| Arc::strong_count(l) == 1) {
            m.remove(&key);
        }
    }

    /// Commits one file's buffered writes. A failure is returned and also kept for the file's
    /// next COMMIT (which takes it, so it is reported once there).
    pub async fn flush_file(
        &self,
        store: &Store,
        bucket_id: u64,
        ino: u64,
    ) -> Result<(), nfsstat3> {
        let key = (bucket_id, ino);
        let lock = self.flush_lock(key);
        let res = {
            let _turn = lock.lock().await;
            let taken = {
                let mut st = self.state();
                let p = st.files.remove(&key);
                if let Some(p) = &p {
                    st.total = st.total.saturating_sub(p.bytes);
                }
                p
            };
            match taken {
                None => Ok(()),
                Some(p) => {
                    let extents: Vec<(u64, Bytes)> = p
                        .extents
                        .into_iter()
                        .map(|(o, d)| (o, Bytes::from(d)))
                        .collect();
                    match store
                        .fs_write_extents(&p.principal, &p.bucket, ino, extents)
                        .await
                    {
                        Ok(_) => Ok(()),
                        // Deleted meanwhile (by NFS or S3): its unstable bytes go with it.
                        Err(StoreError::Stale | StoreError::NoSuchBucket) => Ok(()),
                        Err(e) => {
                            crate::error::log("write-back flush", &e);
                            let s = crate::error::nfsstat(&e);
                            self.state().failed.insert(key, s);
                            Err(s)
                        }
                    }
                }
            }
        };
        self.release_lock(key, lock);
        res
    }

    /// Flushes every buffered file of one share (before a procedure that reads it), and
    /// waits for the flushes of it already under way.
    pub async fn flush_bucket(&self, store: &Store, bucket_id: u64) {
        let mut inos: Vec<u64> = self
            .state()
            .files
            .keys()
            .filter(|(b, _)| *b == bucket_id)
            .map(|(_, i)| *i)
            .collect();
        inos.extend(
            self.flushing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .filter(|(b, _)| *b == bucket_id)
                .map(|(_, i)| *i),
        );
        inos.sort_unstable();
        inos.dedup();
        for ino in inos {
            let _ = self.flush_file(store, bucket_id, ino).await;
        }
    }

    /// Flushes the files buffered for longer than `age` (all of them with `Duration::ZERO`).
    pub async fn flush_older(&self, store: &Store, age: Duration) {
        let now = Instant::now();
        let keys: Vec<Key> = self
            .state()
            .files
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) >= age)
            .map(|(k, _)| *k)
            .collect();
        for (b, i) in keys {
            let _ = self.flush_file(store, b, i).await;
        }
    }
}

/// Lays `data` at `offset` over the extents, merging with the ones it touches or overlaps so
/// they stay sorted, disjoint and as few as possible. Returns how many more bytes are held.
fn insert(extents: &mut BTreeMap<u64, Vec<u8>>, offset: u64, data: &[u8]) -> usize {
    if data.is_empty() {
        return 0;
    }
    let end = offset + data.len() as u64;
    // The extents that touch [offset, end]: the one starting at or before offset (if it
    // reaches offset) and every one starting inside.
    let mut start = offset;
    if let Some((&o, d)) = extents.range(..=offset).next_back()
        && o + d.len() as u64 >= offset
    {
        start = o;
    }
    let touching: Vec<u64> = extents.range(start..=end).map(|(&o, _)| o).collect();
    if touching.is_empty() {
        extents.insert(offset, data.to_vec());
        return data.len();
    }
    // One extent, starting at or before the write (an append, an overwrite inside it): in
    // place, so a sequential writer's extent grows without being copied again.
    if let [o] = touching[..]
        && o <= offset
        && let Some(d) = extents.get_mut(&o)
    {
        // `at` is within the extent or at its end (it touches the write): overwrite what it
        // holds, then append the rest without filling first.
        let at = (offset - o) as usize;
        let before = d.len();
        let inside = before.saturating_sub(at).min(data.len());
        d[at..at + inside].copy_from_slice(&data[..inside]);
        d.extend_from_slice(&data[inside..]);
        return d.len() - before;
    }
    let held: usize = touching.iter().map(|o| extents[o].len()).sum();
    let mut merged_end = end;
    for o in &touching {
        merged_end = merged_end.max(o + extents[o].len() as u64);
    }
    let mut buf = vec![0u8; (merged_end - start) as usize];
    for o in touching {
        if let Some(d) = extents.remove(&o) {
            let at = (o - start) as usize;
            buf[at..at + d.len()].copy_from_slice(&d);
        }
    }
    let at = (offset - start) as usize;
    buf[at..at + data.len()].copy_from_slice(data);
    let grew = buf.len() - held;
    extents.insert(start, buf);
    grew
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(writes: &[(u64, &[u8])]) -> (BTreeMap<u64, Vec<u8>>, Vec<Option<u8>>) {
        let mut ext = BTreeMap::new();
        let mut flat: Vec<Option<u8>> = Vec::new();
        let mut held = 0;
        for (o, d) in writes {
            held += insert(&mut ext, *o, d);
            assert_eq!(held, ext.values().map(Vec::len).sum::<usize>());
            let end = *o as usize + d.len();
            if flat.len() < end {
                flat.resize(end, None);
            }
            for (i, b) in d.iter().enumerate() {
                flat[*o as usize + i] = Some(*b);
            }
        }
        (ext, flat)
    }

    #[test]
    fn extents_stay_disjoint_and_hold_the_last_write() {
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..200 {
            let writes: Vec<(u64, Vec<u8>)> = (0..20)
                .map(|k| {
                    let len = 1 + rnd(40) as usize;
                    (rnd(200), vec![k as u8 + 1; len])
                })
                .collect();
            let refs: Vec<(u64, &[u8])> = writes.iter().map(|(o, d)| (*o, d.as_slice())).collect();
            let (ext, flat) = model(&refs);
            let mut last_end = 0;
            for (o, d) in &ext {
                assert!(
                    *o > last_end || (*o == 0 && last_end == 0),
                    "touching extents merge"
                );
                last_end = o + d.len() as u64;
                for (i, b) in d.iter().enumerate() {
                    assert_eq!(flat[*o as usize + i], Some(*b));
                }
            }
            let held: usize = ext.values().map(Vec::len).sum();
            assert_eq!(held, flat.iter().filter(|b| b.is_some()).count());
        }
    }
}
