//! MD5 of large bodies, several at a time on one core. S3 needs the MD5 of every body it
//! stores (the ETag), and MD5 cannot be sped up within one message: each 64-byte block
//! depends on the last. It can across messages. A body that grows past `HANDOFF` bytes hands
//! its chaining value to one hashing thread, which runs up to 16 (AVX-512) or 8 (AVX2) bodies
//! in the SIMD lanes of one core, block by block; a lone body there goes through the scalar
//! compressor, as before. Small bodies never leave their task. (decision 0031)
//!
//! Memory: a body has at most `QUEUED_BLOCKS` (256 KiB) waiting for the thread (its frames,
//! shared, not copied); `update` waits for room.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use bytes::Bytes;
use tokio::sync::{Semaphore, oneshot};

use gatehouse_md5_lanes as kernel;
use kernel::{BLOCK, INIT, Kernel, State};

/// A body hashes in its own task up to this many bytes.
const HANDOFF: u64 = 128 << 10;
/// Bytes of one body waiting for the hashing thread, at most (in blocks: the semaphore's unit).
const QUEUED_BLOCKS: usize = (256 << 10) / BLOCK;
/// Blocks run per lane in one kernel call: a body arriving meanwhile waits at most this long.
const STEP_BLOCKS: usize = 1024;
/// How long a lone body waits for company right after a round with several (once).
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(200);

/// The MD5 of one body, fed in order.
pub struct Md5 {
    state: State,
    len: u64,
    tail: [u8; BLOCK],
    tail_len: usize,
    remote: Option<Remote>,
}

struct Remote {
    id: u64,
    room: Arc<Semaphore>,
    tx: mpsc::Sender<Msg>,
    finished: bool,
}

impl Drop for Remote {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Msg::Forget { id: self.id });
        }
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl Md5 {
    pub fn new() -> Self {
        Md5 {
            state: INIT,
            len: 0,
            tail: [0; BLOCK],
            tail_len: 0,
            remote: None,
        }
    }

    /// Adds `data`. Past `HANDOFF` bytes the whole blocks go to the hashing thread; this
    /// waits while `QUEUED_BLOCKS` of this body are still queued there.
    pub async fn update(&mut self, data: &Bytes) {
        self.len += data.len() as u64;
        let mut rest = data.clone();
        if self.tail_len > 0 {
            let take = (BLOCK - self.tail_len).min(rest.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&rest[..take]);
            self.tail_len += take;
            let _ = rest.split_to(take);
            if self.tail_len < BLOCK {
                return;
            }
            let block = Bytes::copy_from_slice(&self.tail);
            self.tail_len = 0;
            self.blocks(block).await;
        }
        let whole = rest.len() / BLOCK * BLOCK;
        let tail = rest.split_off(whole);
        self.tail[..tail.len()].copy_from_slice(&tail);
        self.tail_len = tail.len();
        if !rest.is_empty() {
            self.blocks(rest).await;
        }
    }

    async fn blocks(&mut self, mut data: Bytes) {
        if self.remote.is_none() && self.len > HANDOFF {
            self.remote = Lanes::get().map(|l| l.open(self.state));
        }
        let Some(r) = &self.remote else {
            kernel::compress(&mut self.state, &data);
            return;
        };
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(QUEUED_BLOCKS * BLOCK));
            let n = piece.len() / BLOCK;
            match r.room.acquire_many(n as u32).await {
                Ok(p) => p.forget(),
                Err(_) => return, // the thread stopped; `finish` reports it
            }
            let _ = r.tx.send(Msg::Data {
                id: r.id,
                bytes: piece,
            });
        }
    }

    /// The digest of everything added; `None` if the hashing thread stopped (a bug: it
    /// would have been logged as a panic), so the caller fails the request.
    pub async fn finish(mut self) -> Option<[u8; 16]> {
        let tail = &self.tail[..self.tail_len];
        let Some(mut r) = self.remote.take() else {
            return Some(kernel::finish(self.state, tail, self.len));
        };
        let (tx, rx) = oneshot::channel();
        r.finished = true;
        let _ = r.tx.send(Msg::Finish {
            id: r.id,
            tail: tail.to_vec(),
            len: self.len,
            reply: tx,
        });
        rx.await.ok()
    }
}

enum Msg {
    Open {
        id: u64,
        state: State,
        room: Arc<Semaphore>,
    },
    Data {
        id: u64,
        bytes: Bytes,
    },
    Finish {
        id: u64,
        tail: Vec<u8>,
        len: u64,
        reply: oneshot::Sender<[u8; 16]>,
    },
    Forget {
        id: u64,
    },
}

/// The hashing thread's handle.
struct Lanes {
    tx: mpsc::Sender<Msg>,
    next: AtomicU64,
}

impl Lanes {
    /// The process's hashing thread, started on first use; none where the CPU has no SIMD
    /// kernel (bodies then hash in their own tasks).
    fn get() -> Option<&'static Lanes> {
        static LANES: OnceLock<Option<Lanes>> = OnceLock::new();
        LANES
            .get_or_init(|| {
                let kernel = Kernel::detect();
                if kernel == Kernel::Scalar {
                    return None;
                }
                let (tx, rx) = mpsc::channel();
                std::thread::Builder::new()
                    .name("md5-lanes".into())
                    .spawn(move || run(kernel, rx))
                    .ok()?;
                Some(Lanes {
                    tx,
                    next: AtomicU64::new(0),
                })
            })
            .as_ref()
    }

    fn open(&self, state: State) -> Remote {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let room = Arc::new(Semaphore::new(QUEUED_BLOCKS));
        let _ = self.tx.send(Msg::Open {
            id,
            state,
            room: room.clone(),
        });
        Remote {
            id,
            room,
            tx: self.tx.clone(),
            finished: false,
        }
    }
}

/// One body on the hashing thread.
struct Body {
    state: State,
    queue: VecDeque<Bytes>,
    room: Arc<Semaphore>,
    finish: Option<(Vec<u8>, u64, oneshot::Sender<[u8; 16]>)>,
}

/// The bodies on the thread. Should it ever stop, dropping this closes every body's room, so
/// no `update` waits for ever and `finish` reports the loss.
#[derive(Default)]
struct Bodies(HashMap<u64, Body>);

impl Drop for Bodies {
    fn drop(&mut self) {
        for b in self.0.values() {
            b.room.close();
        }
    }
}

fn run(kernel: Kernel, rx: mpsc::Receiver<Msg>) {
    let mut all = Bodies::default();
    let bodies = &mut all.0;
    // Bodies with queued bytes, in turn order.
    let mut turn: VecDeque<u64> = VecDeque::new();
    // Whether this round already waited for a second body; bodies the last kernel call ran.
    let mut waited = false;
    let mut last_served = 0usize;
    let handle = |msg: Msg, bodies: &mut HashMap<u64, Body>, turn: &mut VecDeque<u64>| match msg {
        Msg::Open { id, state, room } => {
            bodies.insert(
                id,
                Body {
                    state,
                    queue: VecDeque::new(),
                    room,
                    finish: None,
                },
            );
        }
        Msg::Data { id, bytes } => {
            if let Some(b) = bodies.get_mut(&id) {
                if b.queue.is_empty() {
                    turn.push_back(id);
                }
                b.queue.push_back(bytes);
            }
        }
        Msg::Finish {
            id,
            tail,
            len,
            reply,
        } => {
            if let Some(b) = bodies.get_mut(&id) {
                b.finish = Some((tail, len, reply));
            }
        }
        Msg::Forget { id } => {
            bodies.remove(&id);
        }
    };
    loop {
        finish_ready(bodies);
        // Wait for work when there is none; then take whatever else has arrived.
        if turn.is_empty() {
            match rx.recv() {
                Ok(m) => handle(m, bodies, &mut turn),
                Err(_) => return,
            }
        }
        while let Ok(m) = rx.try_recv() {
            handle(m, bodies, &mut turn);
        }
        // Each body once (one that emptied and got more bytes was queued again), and only
        // those with bytes.
        let mut seen = std::collections::HashSet::new();
        turn.retain(|id| bodies.get(id).is_some_and(|b| !b.queue.is_empty()) && seen.insert(*id));
        if turn.len() == 1 && last_served > 1 && !waited {
            // One body has bytes and the last round had company: the others' next frames
            // are usually a few microseconds away, and hashing together costs a fraction of
            // hashing alone. (Only then: a lone body beside a stalled one never waits twice.)
            waited = true;
            if let Ok(m) = rx.recv_timeout(GATHER_WAIT) {
                handle(m, bodies, &mut turn);
                continue;
            }
        }
        waited = false;
        let ids: Vec<u64> = turn.iter().take(kernel.lanes()).copied().collect();
        if ids.is_empty() {
            continue;
        }
        let blocks = ids
            .iter()
            .filter_map(|id| bodies.get(id)?.queue.front())
            .map(|b| b.len() / BLOCK)
            .min()
            .unwrap_or(0)
            .min(STEP_BLOCKS);
        let mut states: Vec<State> = Vec::with_capacity(ids.len());
        let mut data: Vec<&[u8]> = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(front) = bodies.get(id).and_then(|b| b.queue.front()) {
                states.push(bodies[id].state);
                data.push(&front[..blocks * BLOCK]);
            }
        }
        kernel::compress_lanes(kernel, &mut states, &data);
        last_served = states.len();
        drop(data);
        for (id, st) in ids.iter().zip(states) {
            let Some(b) = bodies.get_mut(id) else {
                continue;
            };
            b.state = st;
            if let Some(front) = b.queue.front_mut() {
                let _ = front.split_to(blocks * BLOCK);
                if front.is_empty() {
                    b.queue.pop_front();
                }
            }
            b.room.add_permits(blocks);
        }
        // Those served go to the back of the line.
        turn.rotate_left(ids.len().min(turn.len()));
    }
}

/// Answers every body whose bytes are all hashed and whose end has arrived.
fn finish_ready(bodies: &mut HashMap<u64, Body>) {
    let done: Vec<u64> = bodies
        .iter()
        .filter(|(_, b)| b.queue.is_empty() && b.finish.is_some())
        .map(|(id, _)| *id)
        .collect();
    for id in &done {
        if let Some(Body {
            state,
            finish: Some((tail, len, reply)),
            ..
        }) = bodies.remove(id)
        {
            let _ = reply.send(kernel::finish(state, &tail, len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn body(seed: u8, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// Feeds `data` in frames of the given sizes, cycling.
    async fn hash(data: &[u8], frames: &[usize]) -> [u8; 16] {
        let mut m = Md5::new();
        let mut at = 0;
        for n in frames.iter().cycle() {
            if at >= data.len() {
                break;
            }
            let end = (at + n).min(data.len());
            m.update(&Bytes::copy_from_slice(&data[at..end])).await;
            at = end;
        }
        m.finish().await.expect("digest")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_bodies_of_odd_sizes_get_their_own_digests() {
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            tasks.push(tokio::spawn(async move {
                let n = 300_000 + i as usize * 77_777;
                let d = body(i, n);
                let frames = [1 + i as usize * 13, 65_536, 100_003, 64];
                (
                    hash(&d, &frames).await,
                    <[u8; 16]>::from(md5::Md5::digest(&d)),
                )
            }));
        }
        for t in tasks {
            let (got, want) = t.await.expect("task");
            assert_eq!(got, want);
        }
    }

    /// A body that stops sending half way (a slow client) holds nobody up: the others are
    /// hashed and answered while it waits, and it gets its own digest when it goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_body_does_not_hold_the_others() {
        let slow = body(9, 3 << 20);
        let mut m = Md5::new();
        m.update(&Bytes::copy_from_slice(&slow[..1 << 20])).await;
        let others: Vec<_> = (0..4u8)
            .map(|i| {
                tokio::spawn(async move {
                    let d = body(i, (2 << 20) + usize::from(i) * 4096);
                    (
                        hash(&d, &[65_536]).await,
                        <[u8; 16]>::from(md5::Md5::digest(&d)),
                    )
                })
            })
            .collect();
        for t in others {
            let (got, want) = tokio::time::timeout(std::time::Duration::from_secs(10), t)
                .await
                .expect("answered while another body is stalled")
                .expect("task");
            assert_eq!(got, want);
        }
        m.update(&Bytes::copy_from_slice(&slow[1 << 20..])).await;
        assert_eq!(
            m.finish().await.expect("digest"),
            <[u8; 16]>::from(md5::Md5::digest(&slow))
        );
    }

    #[tokio::test]
    async fn small_bodies_and_a_dropped_one() {
        for n in [0, 1, 63, 64, 65, 4096, HANDOFF as usize + 1] {
            let d = body(7, n);
            assert_eq!(
                hash(&d, &[4000]).await,
                <[u8; 16]>::from(md5::Md5::digest(&d))
            );
        }
        // A body abandoned half way (an aborted upload) leaves nothing behind to stall others.
        let mut m = Md5::new();
        m.update(&Bytes::from(body(1, 2 << 20))).await;
        drop(m);
        let d = body(2, 3 << 20);
        assert_eq!(
            hash(&d, &[1 << 20]).await,
            <[u8; 16]>::from(md5::Md5::digest(&d))
        );
    }
}
