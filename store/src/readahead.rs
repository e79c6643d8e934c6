//! Read-ahead of whole chunks for readers that come back for the next range (NFS READ: every
//! call is separate, so a sequential reader would otherwise wait for each chunk's read and
//! BLAKE3 check in turn), and the decoded manifests of the files being read (a 1 GiB file's
//! manifest is 1,024 entries, decoded again for every READ otherwise).
//!
//! A read that touches chunk *i* of a manifest starts verifying chunk *i + 1* on a blocking
//! thread; the next read that needs that chunk takes the running (or finished) task instead of
//! starting its own. What a task yields is the chunk file, open, its bytes verified
//! ([`BlobStore::open_verified`]): the reply is sent from the file's pages. Keyed by chunk
//! hash, so whatever changed in the meantime, the file still holds the verified bytes of that
//! hash. Bounded: at most [`SLOTS`] chunks are held or in flight; the oldest unclaimed one is
//! dropped first.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::blobs::{BlobStore, Hash};
use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::Data;

/// Chunks prefetched and not yet claimed, across all readers (16 × `storage.chunk_size`).
const SLOTS: usize = 16;

type Task = JoinHandle<Result<Vec<u8>>>;

/// Reads and verifies chunk `h` on a blocking thread.
pub(crate) fn read_task(blobs: Arc<BlobStore>, h: Hash, len: u32) -> Task {
    let buf = Vec::with_capacity(len as usize);
    tokio::task::spawn_blocking(move || blobs.read_chunk_into(&h, len, buf))
}

/// A chunk being verified on a blocking thread; it yields the chunk file, open.
type Verifying = JoinHandle<Result<Arc<File>>>;

/// Verifies chunk `h` on a blocking thread, yielding it open.
pub(crate) fn verify_task(blobs: Arc<BlobStore>, h: Hash, len: u32) -> Verifying {
    tokio::task::spawn_blocking(move || blobs.open_verified(&h, len).map(Arc::new))
}

/// What a reader sends of one chunk: its bytes read whole (while the whole-chunk budget lasts),
/// or the verified file, to be read in pieces.
pub(crate) enum ChunkBytes {
    Whole(Bytes),
    File(Arc<File>, usize, usize),
}

/// Pieces read from a verified chunk file when the whole-chunk budget is spent.
const READ_PIECE: usize = 128 << 10;

/// A chunk buffer holding its share of `BlobStore::read_budget` until the last `Bytes` of it
/// is dropped (sent, or the request gone).
struct Budgeted {
    buf: Vec<u8>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

/// Bytes `from..to` of chunk `h`, verified before any is sent. Whole chunks are read into
/// memory (one pass: read and BLAKE3) while `BlobStore::read_budget` has room; past it, the
/// chunk is verified through a small buffer and its range read again in `READ_PIECE`s, so
/// many concurrent readers cost a little more CPU instead of a chunk of memory each. Never
/// waits for the budget: a slow reader holding some cannot stall the others.
pub(crate) async fn chunk_bytes(
    blobs: Arc<BlobStore>,
    h: Hash,
    len: u32,
    from: usize,
    to: usize,
) -> Result<ChunkBytes> {
    let kib = len.div_ceil(1024).max(1);
    match blobs.read_budget.clone().try_acquire_many_owned(kib) {
        Ok(permit) => {
            let buf = read_task(blobs, h, len)
                .await
                .map_err(StoreError::internal)??;
            let whole = Bytes::from_owner(Budgeted {
                buf,
                _permit: permit,
            });
            Ok(ChunkBytes::Whole(whole.slice(from..to)))
        }
        Err(_) => {
            let f = verify_task(blobs, h, len)
                .await
                .map_err(StoreError::internal)??;
            Ok(ChunkBytes::File(f, from, to))
        }
    }
}

/// Bytes `from..to` of sealed chunk `c` (decision 0044): its file read whole and opened with
/// its domain's keys, which authenticates it (a sealed chunk is authenticated as a whole, so
/// it is never sent from its file in pieces).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sealed_chunk_bytes(
    blobs: Arc<BlobStore>,
    keyring: &crate::sse::Keyring,
    opened: &Opened,
    customer: Option<&crate::sse::CustomerKey>,
    c: &crate::model::ChunkRef,
    seal: crate::sse::Seal,
    from: usize,
    to: usize,
) -> Result<ChunkBytes> {
    let sealer = keyring.opener(seal.domain, customer)?;
    // Only server-managed domains are kept open: an SSE-C chunk's plaintext must not be found
    // by a request without its key.
    let keep = !matches!(seal.domain, crate::sse::Domain::Customer(_));
    if keep && let Some(b) = opened.get(&c.hash) {
        if to > b.len() || from > to {
            return Err(StoreError::Corrupt(
                "a sealed chunk shorter than its record".into(),
            ));
        }
        return Ok(ChunkBytes::Whole(b.slice(from..to)));
    }
    // Read and opened (authenticated) on one blocking thread (the buffer allocated here, see
    // `read_chunk_into`).
    let (h, len) = (c.hash, c.stored_len());
    let buf = Vec::with_capacity(len as usize);
    let buf = tokio::task::spawn_blocking(move || {
        // Authenticated by AES-GCM, not hashed again (see `read_chunk_with`) — except an SSE-C
        // chunk: whoever holds the customer's key can seal other bytes that open under it, so
        // its name is checked as a plain chunk's. Bytes of the right length that do not open
        // (twice) are damaged, or sealed under another master key: said so, with the chunk.
        let customer = matches!(seal.domain, crate::sse::Domain::Customer(_));
        let mut unopened = false;
        blobs
            .read_chunk_with(&h, len, buf, |b| {
                if customer && blake3::hash(b).as_bytes() != &h {
                    return false;
                }
                let ok = sealer.open(&seal, b).is_ok();
                unopened |= !ok;
                ok
            })
            .map_err(|e| match e {
                StoreError::Corrupt(_) if unopened => StoreError::Corrupt(format!(
                    "chunk {}: {}",
                    hex::encode(h),
                    crate::sse::chunk::undecryptable()
                )),
                other => other,
            })
    })
    .await
    .map_err(StoreError::internal)??;
    if to > buf.len() || from > to {
        return Err(StoreError::Corrupt(
            "a sealed chunk shorter than its record".into(),
        ));
    }
    let b = Bytes::from(buf);
    if keep {
        opened.put(c.hash, b.clone());
    }
    Ok(ChunkBytes::Whole(b.slice(from..to)))
}

/// Sealed chunks opened lately (decision 0044), as plaintext: a reader that comes back for the
/// next piece of a chunk (NFS READs smaller than a chunk, a ranged GET after another) does not
/// read and decrypt the whole chunk again. Bounded to [`OPENED_BYTES`]; keyed by the chunk's
/// name, which names one plaintext. Server-managed domains only (see `sealed_chunk_bytes`).
#[derive(Default)]
pub struct Opened {
    recent: Mutex<VecDeque<(Hash, Bytes)>>,
}

/// Plaintext kept open, all chunks together (8 chunks of the default 1 MiB).
const OPENED_BYTES: usize = 8 << 20;

impl Opened {
    fn get(&self, h: &Hash) -> Option<Bytes> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().find(|(k, _)| k == h).map(|(_, b)| b.clone())
    }

    /// Forgets every opened chunk (a key of the key service changed state: what it opened is
    /// not served from here afterwards).
    pub(crate) fn clear(&self) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn put(&self, h: Hash, b: Bytes) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > OPENED_BYTES || recent.iter().any(|(k, _)| *k == h) {
            return;
        }
        let mut held: usize = recent.iter().map(|(_, x)| x.len()).sum();
        while held + b.len() > OPENED_BYTES {
            match recent.pop_front() {
                Some((_, x)) => held -= x.len(),
                None => break,
            }
        }
        recent.push_back((h, b));
    }
}

impl ChunkBytes {
    /// The bytes, as a stream of pieces.
    pub(crate) fn into_stream(self) -> futures_util::stream::BoxStream<'static, Result<Bytes>> {
        use futures_util::StreamExt;
        match self {
            ChunkBytes::Whole(b) => futures_util::stream::once(async move { Ok(b) }).boxed(),
            ChunkBytes::File(f, from, to) => {
                futures_util::stream::unfold((f, from), move |(f, at)| async move {
                    if at >= to {
                        return None;
                    }
                    let n = READ_PIECE.min(to - at);
                    let file = f.clone();
                    // Allocated here, not on the blocking thread (see `read_chunk_into`).
                    let mut v = vec![0u8; n];
                    let piece = tokio::task::spawn_blocking(move || {
                        use std::os::unix::fs::FileExt;
                        file.read_exact_at(&mut v, at as u64)
                            .map(|()| Bytes::from(v))
                    })
                    .await;
                    let item = match piece {
                        Ok(Ok(b)) => Ok(b),
                        Ok(Err(e)) => Err(StoreError::io(e)),
                        Err(e) => Err(StoreError::internal(e)),
                    };
                    // After an error nothing more is read.
                    let next = if item.is_ok() { at + n } else { to };
                    Some((item, (f, next)))
                })
                .boxed()
            }
        }
    }
}

#[derive(Default)]
pub struct ReadAhead {
    slots: Mutex<VecDeque<(Hash, Verifying)>>,
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
        slots.push_back((h, verify_task(blobs.clone(), h, len)));
    }

    /// Chunk `h`, verified and open: the read-ahead's if one holds it (waiting for it to
    /// finish), else verified now.
    pub async fn take(&self, blobs: &Arc<BlobStore>, h: Hash, len: u32) -> Result<Arc<File>> {
        let task = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .position(|(k, _)| *k == h)
                .and_then(|i| slots.remove(i))
                .map(|(_, t)| t)
        };
        if let Some(t) = task {
            // A prefetch that failed (a passing I/O error, a chunk rewritten since) is tried
            // again rather than handed on.
            if let Ok(Ok(f)) = t.await {
                return Ok(f);
            }
        }
        verify_task(blobs.clone(), h, len)
            .await
            .map_err(StoreError::internal)?
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Decoded manifests of the last files read, by inode, each with the record it was decoded
/// from: a hit needs the stored record to be byte for byte the same, so a changed file is
/// decoded afresh. Small manifests are decoded every time (cheaper than comparing).
#[derive(Default)]
pub struct Manifests {
    recent: Mutex<VecDeque<KeptManifest>>,
}

/// (inode, the record as stored, what it decodes to).
type KeptManifest = (u64, Vec<u8>, Arc<Data>);

/// Files whose manifests are kept.
const MANIFESTS: usize = 8;
/// Records shorter than this are not kept (a few chunks decode in well under a microsecond).
const MANIFEST_MIN: usize = 1024;

impl Manifests {
    /// The manifest in `raw` (an `INODE_DATA` record of inode `ino`).
    pub fn decode(&self, ino: u64, raw: &[u8]) -> Result<Arc<Data>> {
        if raw.len() < MANIFEST_MIN {
            return Ok(Arc::new(codec::decode(raw)?));
        }
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, _, d)) = recent.iter().find(|(i, r, _)| *i == ino && r == raw) {
                return Ok(d.clone());
            }
        }
        let d: Arc<Data> = Arc::new(codec::decode(raw)?);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|(i, _, _)| *i != ino);
        if recent.len() >= MANIFESTS {
            recent.pop_front();
        }
        recent.push_back((ino, raw.to_vec(), d.clone()));
        Ok(d)
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
            blobs.write_chunk(&h, &bytes.clone().into()).expect("write");
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
        let bytes = |f: Arc<File>| {
            let mut v = vec![0u8; f.metadata().expect("len").len() as usize];
            std::os::unix::fs::FileExt::read_exact_at(&*f, &mut v, 0).expect("read");
            v
        };
        let (h, b) = &hashes[SLOTS + 1];
        assert_eq!(
            &bytes(ra.take(&blobs, *h, b.len() as u32).await.expect("take")),
            b
        );
        assert_eq!(ra.held(), SLOTS - 1);
        let (h, b) = &hashes[0];
        assert_eq!(
            &bytes(ra.take(&blobs, *h, b.len() as u32).await.expect("take")),
            b
        );
        // A chunk whose bytes do not match its hash is an error, prefetched or not.
        let bogus = [7u8; 32];
        ra.start(&blobs, bogus, 10);
        assert!(ra.take(&blobs, bogus, 10).await.is_err());
    }

    #[test]
    fn a_kept_manifest_is_used_only_for_the_same_record() {
        use crate::model::ChunkRef;
        let manifest = |seed: u8| {
            Data::Chunks(
                (0..100u32)
                    .map(|i| ChunkRef {
                        hash: [seed.wrapping_add(i as u8); 32],
                        len: 1 << 20,
                        seal: None,
                    })
                    .collect(),
            )
        };
        let (a, b) = (manifest(1), manifest(2));
        assert!(codec::encode(&a).expect("a").len() >= MANIFEST_MIN);
        let (ra, rb) = (codec::encode(&a).expect("a"), codec::encode(&b).expect("b"));
        let m = Manifests::default();
        let first = m.decode(7, &ra).expect("decode");
        assert_eq!(codec::encode(&*first).expect("enc"), ra);
        // The same record: the same decoded value, not decoded again.
        assert!(Arc::ptr_eq(&first, &m.decode(7, &ra).expect("again")));
        // The file changed: its new record is decoded.
        assert_eq!(
            codec::encode(&*m.decode(7, &rb).expect("changed")).expect("enc"),
            rb
        );
        // Bounded.
        for ino in 100..120 {
            m.decode(ino, &ra).expect("fill");
        }
        assert!(m.recent.lock().expect("lock").len() <= MANIFESTS);
        assert!(codec::decode::<Data>(b"").is_err() && m.decode(1, &[9u8; 2000]).is_err());
    }

    #[test]
    fn opened_chunks_stay_within_their_bound() {
        let o = Opened::default();
        let mib = |n: u8| Bytes::from(vec![n; 1 << 20]);
        for n in 0..9u8 {
            o.put([n; 32], mib(n));
        }
        assert!(o.get(&[0; 32]).is_none(), "the oldest went");
        assert_eq!(o.get(&[8; 32]).as_deref(), Some(&vec![8u8; 1 << 20][..]));
        o.put([99; 32], Bytes::from(vec![0u8; super::OPENED_BYTES + 1]));
        assert!(
            o.get(&[99; 32]).is_none(),
            "larger than the bound: not kept"
        );
        assert!(o.get(&[8; 32]).is_some(), "and nothing pushed out for it");
    }
}
