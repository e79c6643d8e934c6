//! Group commit: one thread owns redb's single writer and applies every queued mutation of a
//! moment in one write transaction, so N concurrent small writes pay one fsync, not N.
//!
//! Contract for a mutation closure: check every precondition *before* it writes; if it returns a
//! user-level error (`NoSuchKey`, `BucketNotEmpty`, …) it must have written nothing, so the rest
//! of the batch can still commit. An internal/storage error poisons the batch: it is aborted and
//! every member is told so (nothing half-applied becomes visible).

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (Reply, bool) + Send>;

/// Upper bound of mutations per transaction; keeps one commit's latency bounded.
const MAX_BATCH: usize = 512;

pub struct Committer {
    tx: mpsc::Sender<Job>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(db: Arc<Database>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name("gatehouse-commit".into())
            .spawn(move || run(db, rx))
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
            .send(job)
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

fn run(db: Arc<Database>, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
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
        let _ = txn.set_durability(Durability::Immediate);
        let mut replies = Vec::with_capacity(jobs.len());
        let mut poisoned = false;
        for j in jobs {
            let (reply, poison) = j(&txn);
            poisoned |= poison;
            replies.push(reply);
        }
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
        }
        for r in replies {
            r(outcome.as_ref());
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
