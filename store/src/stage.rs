//! Staging: turns a body stream into durable chunks (or an inline buffer) plus its digests,
//! hashing every byte once in one pass. Nothing is visible until a caller commits the result in
//! a metadata transaction; a `Staged` dropped without commit leaves only unreferenced chunks
//! that GC removes.

pub(crate) use crate::blobs::Referenced;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use crate::blobs::{BlobStore, Pins};
use crate::checksum::{ChecksumAlgorithm, ChecksumHasher};
use crate::error::{Result, StoreError};
use crate::md5_lanes::Md5;
use crate::model::{ChunkRef, Data};

/// Chunk writes in flight per stream: enough to overlap fsync latency, bounded for memory.
const WRITES_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct StageOptions {
    /// Compute the MD5 (an S3 ETag); `Staged::md5` is zeros without it. The file view skips
    /// it: its ETags come from the chunk hashes, and MD5 is the slowest hash here.
    pub md5: bool,
    /// Compute SHA-256 (signed payloads).
    pub sha256: bool,
    /// Compute this flexible checksum.
    pub checksum: Option<ChecksumAlgorithm>,
    /// Largest accepted body.
    pub max_size: u64,
    /// Keep the data inline when the whole body is at most this long.
    pub allow_inline: bool,
    /// Encrypt every chunk (and inline bytes) with this domain's keys (decision 0044).
    pub seal: Option<Arc<crate::sse::Sealer>>,
}

/// Staged bytes and what was learnt while reading them.
pub struct Staged {
    pub size: u64,
    pub md5: [u8; 16],
    pub sha256: Option<[u8; 32]>,
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    pub data: Data,
    /// Held for its `Drop`: keeps GC off these chunks until the commit is done.
    #[allow(dead_code)]
    pub(crate) pins: Pins,
}

impl Staged {
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }

    /// Gives up on this data: removes the chunks it created that nothing refers to
    /// ([`Pins::discard_soon`]).
    pub(crate) fn discard(self, referenced: Referenced) {
        self.pins.discard_soon(referenced);
    }
}

/// Why staging stopped: the body's own error (mapped by the gateway) or a store error.
#[derive(Debug)]
pub enum StageError<E> {
    Body(E),
    Store(StoreError),
}

impl<E> From<StoreError> for StageError<E> {
    fn from(e: StoreError) -> Self {
        StageError::Store(e)
    }
}

pub(crate) async fn stage<S, E>(
    blobs: &Arc<BlobStore>,
    chunk_size: usize,
    inline_max: usize,
    body: S,
    opts: &StageOptions,
    referenced: &Referenced,
) -> std::result::Result<Staged, StageError<E>>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
{
    let mut body = std::pin::pin!(body);
    let mut md5 = opts.md5.then(Md5::new);
    let mut sha = opts.sha256.then(Sha256::new);
    let mut ck: Option<ChecksumHasher> = opts.checksum.map(|a| a.hasher());
    let mut buf = BytesMut::with_capacity(chunk_size.min(256 * 1024));
    let mut size: u64 = 0;
    // Chunk writes under way and the chunks written, removed again if staging fails or is
    // cancelled (the request dropped mid-body).
    let mut w = Written {
        writes: Default::default(),
        pins: Pins::new(blobs.clone()),
        referenced: Some(referenced.clone()),
    };
    let mut chunks: Vec<ChunkRef> = Vec::new();
    // A chunk's share of the write budget, taken when it is handed to its write.
    let budget = |n: usize| {
        let kib = u32::try_from(n.div_ceil(1024)).unwrap_or(u32::MAX);
        blobs.write_budget.clone().acquire_many_owned(kib)
    };

    let result: std::result::Result<(), StageError<E>> = async {
        while let Some(item) = body.next().await {
            let mut data = item.map_err(StageError::Body)?;
            size += data.len() as u64;
            if size > opts.max_size {
                return Err(StageError::Store(StoreError::EntityTooLarge(format!(
                    "at most {} bytes",
                    opts.max_size
                ))));
            }
            if let Some(m) = md5.as_mut() {
                m.update(&data).await;
            }
            if let Some(s) = sha.as_mut() {
                s.update(&data);
            }
            if let Some(c) = ck.as_mut() {
                c.update(&data);
            }
            while !data.is_empty() {
                if buf.is_empty() && data.len() >= chunk_size {
                    // A whole chunk at a chunk boundary (the file view's flushes): sent as it
                    // is, not copied.
                    let full = data.split_to(chunk_size);
                    if w.writes.len() >= WRITES_IN_FLIGHT {
                        collect_one(&mut w, &mut chunks).await?;
                    }
                    let permit = budget(chunk_size).await.map_err(StoreError::internal)?;
                    w.writes.push_back(spawn_write(
                        blobs.clone(),
                        full,
                        chunk_size,
                        Some(permit),
                        opts.seal.clone(),
                    ));
                    continue;
                }
                let room = chunk_size - buf.len();
                let take = room.min(data.len());
                if buf.len() + take > buf.capacity() && buf.capacity() < chunk_size {
                    // Past the first small buffer: a whole chunk's, from the spare ones.
                    let mut whole = blobs.chunk_buffer(chunk_size);
                    whole.extend_from_slice(&buf);
                    buf = whole;
                }
                buf.extend_from_slice(&data.split_to(take));
                if buf.len() == chunk_size {
                    let full = std::mem::replace(&mut buf, blobs.chunk_buffer(chunk_size)).freeze();
                    if w.writes.len() >= WRITES_IN_FLIGHT {
                        collect_one(&mut w, &mut chunks).await?;
                    }
                    let permit = budget(chunk_size).await.map_err(StoreError::internal)?;
                    w.writes.push_back(spawn_write(
                        blobs.clone(),
                        full,
                        chunk_size,
                        Some(permit),
                        opts.seal.clone(),
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        w.abandon().await;
        return Err(e);
    }

    let data =
        if chunks.is_empty() && w.writes.is_empty() && opts.allow_inline && buf.len() <= inline_max
        {
            match &opts.seal {
                None => Data::Inline(buf.to_vec()),
                Some(sealer) => {
                    let mut bytes = Vec::with_capacity(buf.len() + crate::sse::chunk::OVERHEAD);
                    bytes.extend_from_slice(&buf);
                    match sealer.seal(&mut bytes) {
                        Ok(seal) => Data::Sealed { seal, bytes },
                        Err(e) => {
                            w.abandon().await;
                            return Err(e.into());
                        }
                    }
                }
            }
        } else {
            if !buf.is_empty() {
                let permit = budget(buf.len()).await.map_err(StoreError::internal);
                match permit {
                    Ok(p) => w.writes.push_back(spawn_write(
                        blobs.clone(),
                        buf.freeze(),
                        chunk_size,
                        Some(p),
                        opts.seal.clone(),
                    )),
                    Err(e) => {
                        w.abandon().await;
                        return Err(e.into());
                    }
                }
            }
            while !w.writes.is_empty() {
                if let Err(e) = collect_one(&mut w, &mut chunks).await {
                    w.abandon().await;
                    return Err(e);
                }
            }
            Data::Chunks(chunks)
        };
    let md5 = match md5 {
        Some(m) => match m.finish().await {
            Some(d) => d,
            None => {
                w.abandon().await;
                return Err(StageError::Store(StoreError::internal(
                    "the MD5 hashing thread stopped",
                )));
            }
        },
        None => [0; 16],
    };
    Ok(Staged {
        size,
        md5,
        sha256: sha.map(|s| s.finalize().into()),
        checksum: ck.map(|c| (c.algorithm(), c.finish_raw())),
        data,
        pins: w.finish(),
    })
}

/// The chunks one stage has written and is writing. Given up on ([`Written::abandon`], or
/// dropped before [`Written::finish`]: the request was cancelled mid-body), its writes are let
/// finish and what it wrote that nothing refers to is removed, so a failed or cancelled upload
/// (bad digest, broken stream, full disk, client gone) leaves no bytes behind.
struct Written {
    writes: std::collections::VecDeque<JoinHandle<Result<(ChunkRef, Pins)>>>,
    pins: Pins,
    /// `None` once finished or abandoned.
    referenced: Option<Referenced>,
}

impl Written {
    /// Hands the chunks on to the staged result (their pins keep GC off them until commit).
    fn finish(mut self) -> Pins {
        self.referenced = None;
        let blobs = self.pins.blobs().clone();
        std::mem::replace(&mut self.pins, Pins::new(blobs))
    }

    /// Gives up: waits for the writes under way, then removes what was written.
    async fn abandon(mut self) {
        if let Some(gone) = self.take() {
            gone.await;
        }
    }

    /// The work of giving up, disarming the guard; `None` when already done.
    fn take(&mut self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let referenced = self.referenced.take()?;
        let writes = std::mem::take(&mut self.writes);
        let blobs = self.pins.blobs().clone();
        let mut pins = std::mem::replace(&mut self.pins, Pins::new(blobs));
        Some(async move {
            for h in writes {
                if let Ok(Ok((_, p))) = h.await {
                    pins.absorb(p);
                }
            }
            pins.discard_soon(referenced);
        })
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        // Cancelled: the writes under way cannot be waited for here, so a task does it (with
        // no runtime left, the chunks stay for the GC's walk).
        if let Some(gone) = self.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(gone);
        }
    }
}

/// Hashes and writes one chunk on the blocking pool (sealed first when `seal` is given: its
/// name is the hash of what is stored); `permit`, its share of the write budget, goes back when
/// the file is written.
fn spawn_write(
    blobs: Arc<BlobStore>,
    data: Bytes,
    chunk_size: usize,
    permit: Option<OwnedSemaphorePermit>,
    seal: Option<Arc<crate::sse::Sealer>>,
) -> JoinHandle<Result<(ChunkRef, Pins)>> {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let len = data.len() as u32;
        let (stored, seal) = match seal {
            None => (data, None),
            Some(sealer) => {
                // Sealed in its own buffer when nothing else holds it (chunk buffers have room
                // for the tag), else in a copy.
                let mut buf = match data.try_into_mut() {
                    Ok(b) => b,
                    Err(shared) => {
                        let mut b = bytes::BytesMut::with_capacity(
                            shared.len() + crate::sse::chunk::OVERHEAD,
                        );
                        b.extend_from_slice(&shared);
                        b
                    }
                };
                let seal = sealer.seal(&mut buf)?;
                (buf.freeze(), Some(seal))
            }
        };
        let hash: [u8; 32] = *blake3::hash(&stored).as_bytes();
        let mut pins = Pins::new(blobs.clone());
        pins.add(hash);
        if blobs.write_chunk(&hash, &stored)? {
            pins.mark_created(hash);
        }
        blobs.recycle(stored, chunk_size);
        Ok((ChunkRef { hash, len, seal }, pins))
    })
}

async fn collect_one<E>(
    w: &mut Written,
    chunks: &mut Vec<ChunkRef>,
) -> std::result::Result<(), StageError<E>> {
    // Awaited where it stands and taken off only once done, so a stage dropped meanwhile
    // still finds this write to clean up after.
    if let Some(h) = w.writes.front_mut() {
        let done = h.await;
        w.writes.pop_front();
        let (c, p) = done.map_err(|e| StageError::Store(StoreError::internal(e)))??;
        chunks.push(c);
        w.pins.absorb(p);
    }
    Ok(())
}
