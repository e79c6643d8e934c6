//! Group commit: one thread owns redb's single writer and applies every queued mutation of a
//! moment in one write transaction, so N concurrent small writes pay one fsync, not N.
//!
//! A mutation sent with [`Committer::write_deferred`] (the file view's metadata under
//! `nfs.async`) is answered once its transaction is committed and visible, before it is
//! durable: a batch of only such mutations commits with `Durability::None`, and the thread makes
//! everything durable within the configured window (an empty durable commit when nothing else
//! came), at the next durable mutation, at a [`Committer::barrier`], or when it stops,
//! whichever is first. A batch that drops a chunk's last reference is always durable (GC
//! must never delete a chunk file a crash could bring back into use).
//!
//! Contract for a mutation closure: check every precondition *before* it writes; if it returns a
//! user-level error (`NoSuchKey`, `BucketNotEmpty`, …) it must have written nothing, so the rest
//! of the batch can still commit. An internal/storage error poisons the batch: it is aborted and
//! every member is told so (nothing half-applied becomes visible).

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (Reply, bool) + Send>;

struct Queued {
    job: Job,
    /// Must be durable before it is answered.
    durable: bool,
    /// Nothing to write: only make what came before durable (no commit if it already is).
    barrier: bool,
}

/// Upper bound of mutations per transaction; keeps one commit's latency bounded.
const MAX_BATCH: usize = 512;

pub struct Committer {
    tx: mpsc::Sender<Queued>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    /// `window`: how long a deferred mutation may stay not yet durable.
    pub fn start(db: Arc<Database>, window: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = thread::Builder::new()
            .name("gatehouse-commit".into())
            .spawn(move || run(db, rx, window))
            .ok();
        Committer { tx, thread }
    }

    /// Runs `f` inside the next group transaction and returns its result once that transaction
    /// is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        self.submit(f, true, false).await
    }

    /// Runs `f` inside the next group transaction and returns its result once that transaction
    /// is committed (visible to every reader), durable within the window given to `start`.
    pub async fn write_deferred<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        self.submit(f, false, false).await
    }

    /// Returns once every mutation answered before it is durable (at once if nothing deferred
    /// is pending).
    pub async fn barrier(&self) -> Result<()> {
        self.submit(|_| Ok(()), true, true).await
    }

    async fn submit<T, F>(&self, f: F, durable: bool, barrier: bool) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let r = f(txn);
            let poison = matches!(
                r,
                Err(StoreError::Internal(_) | StoreError::NoSpace | StoreError::Corrupt(_))
            );
            let reply: Reply = Box::new(move |commit_err: Option<&StoreError>| {
                let out = match commit_err {
                    Some(e) => Err(clone_err(e)),
                    None => r,
                };
                let _ = tx.send(out);
            });
            (reply, poison)
        });
        self.tx
            .send(Queued {
                job,
                durable,
                barrier,
            })
            .map_err(|_| StoreError::internal("the commit thread has stopped"))?;
        rx.await
            .map_err(|_| StoreError::internal("the commit thread dropped a request"))?
    }

    /// Stops the thread after it has drained the queue.
    pub fn stop(&mut self) {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::NoSpace => StoreError::NoSpace,
        other => StoreError::Internal(other.to_string()),
    }
}

fn run(db: Arc<Database>, rx: mpsc::Receiver<Queued>, window: Duration) {
    // When the oldest commit that is not durable yet was made.
    let mut pending: Option<Instant> = None;
    loop {
        let first = match pending {
            None => match rx.recv() {
                Ok(q) => q,
                Err(_) => break,
            },
            Some(since) => match rx.recv_timeout(window.saturating_sub(since.elapsed())) {
                Ok(q) => q,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // On failure (a full disk, say) try again a window later, not at once.
                    pending = (!persist(&db)).then(Instant::now);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut queued = vec![first];
        while queued.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => queued.push(q),
                Err(_) => break,
            }
        }
        if pending.is_none() && queued.iter().all(|q| q.barrier) {
            // Everything before these barriers is durable already: answer them without a
            // commit (their jobs write nothing; the transaction only lets them run).
            match db.begin_write() {
                Ok(txn) => {
                    let replies: Vec<Reply> = queued.into_iter().map(|q| (q.job)(&txn).0).collect();
                    let _ = txn.abort();
                    for r in replies {
                        r(None);
                    }
                }
                Err(e) => {
                    let err = StoreError::from(e);
                    for q in queued {
                        fail_job(q.job, &err, &db);
                    }
                }
            }
            continue;
        }
        let mut durable = queued.iter().any(|q| q.durable)
            || pending.is_some_and(|since| since.elapsed() >= window);
        let jobs = queued.into_iter().map(|q| q.job);
        let mut txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => {
                let err = StoreError::from(e);
                for j in jobs {
                    // Fail each job without running it against a transaction.
                    fail_job(j, &err, &db);
                }
                continue;
            }
        };
        let _ = crate::ops::txn::take_freed();
        let mut replies = Vec::new();
        let mut poisoned = false;
        for j in jobs {
            let (reply, poison) = j(&txn);
            poisoned |= poison;
            replies.push(reply);
        }
        durable |= crate::ops::txn::take_freed();
        let _ = txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        });
        let outcome = if poisoned {
            let _ = txn.abort();
            Some(StoreError::Internal(
                "a storage error aborted the transaction".into(),
            ))
        } else {
            txn.commit().err().map(StoreError::from)
        };
        if let Some(e) = &outcome {
            tracing::warn!(error = %e, "group commit failed");
        } else if durable {
            pending = None;
        } else if pending.is_none() {
            pending = Some(Instant::now());
        }
        for r in replies {
            r(outcome.as_ref());
        }
    }
    if pending.is_some() {
        persist(&db);
    }
}

/// An empty durable commit: makes every earlier non-durable commit durable.
fn persist(db: &Database) -> bool {
    let done = match db.begin_write() {
        Ok(t) => t.commit().map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match done {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "making deferred commits durable failed");
            false
        }
    }
}

/// A job must always be answered; without a transaction we run it against a throwaway one if
/// possible, else drop it (its caller sees "dropped a request").
fn fail_job(j: Job, err: &StoreError, db: &Database) {
    if let Ok(txn) = db.begin_write() {
        let (reply, _) = j(&txn);
        let _ = txn.abort();
        reply(Some(err));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn put(k: u64) -> impl FnOnce(&WriteTransaction) -> Result<()> + Send + 'static {
        move |t| {
            t.open_table(T)?.insert(k, k)?;
            Ok(())
        }
    }

    /// What a crash at this moment would leave: a copy of the file, opened on its own.
    fn after_crash(path: &std::path::Path, k: u64) -> bool {
        let copy = path.with_extension("crash");
        std::fs::copy(path, &copy).expect("copy");
        let db = Database::create(&copy).expect("open copy");
        let r = db.begin_read().expect("read");
        let found = match r.open_table(T) {
            Ok(t) => t.get(k).expect("get").is_some(),
            Err(_) => false,
        };
        drop(r);
        drop(db);
        let _ = std::fs::remove_file(&copy);
        found
    }

    #[tokio::test]
    async fn deferred_writes_are_visible_at_once_and_durable_within_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).expect("db"));
        let window = Duration::from_millis(300);
        let c = Committer::start(db.clone(), window);
        c.write(put(1)).await.expect("durable write");
        c.write_deferred(put(2)).await.expect("deferred write");
        // Visible to readers at once...
        let r = db.begin_read().expect("read");
        assert!(r.open_table(T).expect("t").get(2).expect("get").is_some());
        drop(r);
        // ...not yet durable (a crash now keeps only the durable write)...
        assert!(after_crash(&path, 1));
        assert!(
            !after_crash(&path, 2),
            "a deferred commit was durable at once"
        );
        // ...and durable once the window has passed, with nothing else sent.
        tokio::time::sleep(window * 3).await;
        assert!(after_crash(&path, 2), "not durable after the window");

        // A durable write makes the deferred ones before it durable too.
        c.write_deferred(put(3)).await.expect("deferred write");
        c.write(put(4)).await.expect("durable write");
        assert!(after_crash(&path, 3) && after_crash(&path, 4));

        // A barrier makes them durable, and returns at once when nothing is pending.
        c.write_deferred(put(6)).await.expect("deferred write");
        c.barrier().await.expect("barrier");
        assert!(after_crash(&path, 6));
        c.barrier().await.expect("barrier with nothing pending");

        // A deferred batch that drops a chunk's last reference is durable at once: GC may
        // delete that chunk's file as soon as it sees the row gone.
        let h = [9u8; 32];
        c.write(move |t| {
            t.open_table(crate::tables::CHUNKS)?
                .insert(&h, (1u64, 10u64))?;
            Ok(())
        })
        .await
        .expect("chunk row");
        c.write_deferred(move |t| {
            let mut chunks = t.open_table(crate::tables::CHUNKS)?;
            crate::ops::txn::decref(&mut chunks, &[crate::model::ChunkRef { hash: h, len: 10 }])
        })
        .await
        .expect("decref");
        let copy = path.with_extension("crash2");
        std::fs::copy(&path, &copy).expect("copy");
        let db2 = Database::create(&copy).expect("open copy");
        let r = db2.begin_read().expect("read");
        let row = r
            .open_table(crate::tables::CHUNKS)
            .expect("chunks")
            .get(&h)
            .expect("get")
            .map(|v| v.value());
        assert_eq!(row, None, "the freeing commit was not durable");
        drop(r);
        drop(db2);

        // Stopping makes them durable as well.
        let mut c = c;
        c.write_deferred(put(5)).await.expect("deferred write");
        c.stop();
        assert!(after_crash(&path, 5));
    }
}
