//! Group commit: one thread applies every queued mutation of a moment in one write
//! transaction, so N concurrent small writes pay one fsync, not N. redb's single writer is
//! used under one lock, by that thread and by deferred mutations.
//!
//! A mutation sent with [`Committer::write_deferred`] (the file view's metadata under
//! `nfs.async`) is not durable when it is answered. It runs at once on the caller's thread in
//! the *open* transaction, shared with the commit thread under the lock, and is answered before
//! that transaction commits; when the commit thread holds the lock (it is committing) the
//! mutation is queued to it instead and answered once its batch is committed. Readers never see
//! less than was answered: every read transaction of the store begins with [`Committer::settle`],
//! which commits the open transaction first (`Durability::None`) when it holds anything. The
//! commit thread makes everything durable within the configured window, at the next durable
//! mutation, at a [`Committer::barrier`], or when it stops, whichever is first. A commit that
//! drops a chunk's last reference is durable before any reader that deletes chunk files looks
//! ([`Committer::settle_durable`], which fails when it cannot be made so; a queued batch that
//! does so commits durable): GC must never delete a chunk file a crash could bring back into
//! use. Decision 0011 gives the reasons and the cost: a failed commit loses the deferred
//! mutations answered from that transaction, as a crash would.
//!
//! Contract for a mutation closure: check every precondition *before* it writes; if it returns a
//! user-level error (`NoSuchKey`, `BucketNotEmpty`, …) it must have written nothing, so the rest
//! of the batch can still commit. An internal/storage error poisons the batch: it is aborted and
//! every member is told so (nothing half-applied becomes visible); so does a panic, which the
//! commit thread survives. A closure must not read through the store (it has the transaction).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// A queued mutation; yields its reply and, when it failed with a storage error, that error
/// (the batch must not commit).
type Job = Box<dyn FnOnce(&WriteTransaction) -> (Reply, Option<StoreError>) + Send>;
/// What to do when a mutation failed because the disk is full (see [`Committer::on_no_space`]).
type OnNoSpace = Box<dyn Fn() + Send + Sync>;

struct Queued {
    job: Job,
    /// Must be durable before it is answered.
    durable: bool,
    /// Nothing to write: only make what came before durable (no commit if it already is).
    barrier: bool,
}

enum Msg {
    Job(Queued),
    /// The open transaction or the pending window changed: look at the deadline again.
    Tick,
}

/// Upper bound of mutations per transaction; keeps one commit's latency bounded.
const MAX_BATCH: usize = 512;
/// Upper bound of answered mutations the open transaction holds before it is committed.
const MAX_OPEN: usize = 1024;

thread_local! {
    /// Set while this thread runs mutation closures or is the commit thread: a read from here
    /// must not wait for the lock this thread holds.
    static IN_COMMIT: Cell<bool> = const { Cell::new(false) };
}

/// Deferred mutations answered but not committed.
struct Open {
    txn: WriteTransaction,
    /// When the first of them was answered.
    since: Instant,
    answered: usize,
    /// One of them dropped a chunk's last reference: commit durable.
    freed: bool,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    /// When the oldest commit that is not durable yet was made.
    pending: Option<Instant>,
    /// Answered changes were lost (a failed commit): the next transaction skips the inode
    /// numbers they may have handed out.
    lost: bool,
    stopped: bool,
}

struct Shared {
    db: Arc<Database>,
    state: Mutex<State>,
    /// `state.open` holds answered mutations (read without the lock by [`Committer::settle`]).
    dirty: AtomicBool,
    /// The commit thread holds the lock for a batch (maybe an fsync): queue, do not wait.
    committing: AtomicBool,
    /// A commit that dropped a chunk's last reference is visible but not durable yet: see
    /// [`Committer::settle_durable`]. Written under the lock.
    freed_undurable: AtomicBool,
    /// A transaction failed with [`crate::error::DATABASE_FAILED`]: writes fail until a restart.
    database_failed: AtomicBool,
    /// `storage.quick_repair`: commits record redb's allocator state ([`begin_write`]).
    quick_repair: bool,
}

impl Shared {
    /// Notes an error of a transaction: redb refusing writes after an earlier I/O error is
    /// remembered for `GET /api/health` (answers pass it on rewrapped, so it is told by text).
    fn note(&self, e: &StoreError) {
        if let StoreError::Internal(m) = e
            && m.contains(crate::error::DATABASE_FAILED)
        {
            self.database_failed.store(true, Ordering::Release);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Commits the open transaction without an fsync (made durable within the window). Called
    /// with the lock held.
    fn commit_open(&self, st: &mut State) -> bool {
        let Some(o) = st.open.take() else {
            return true;
        };
        let mut txn = o.txn;
        let _ = txn.set_durability(Durability::None);
        // Before the commit is visible: a reader (a GC's `settle_durable`) that finds `dirty`
        // false must find a free it can see marked not durable yet. A failed commit leaves it
        // set, which only costs a durable commit.
        if o.freed {
            self.freed_undurable.store(true, Ordering::Release);
        }
        let done = txn.commit();
        // Only now: a reader that sees `false` must find the commit made.
        self.dirty.store(false, Ordering::Release);
        match done {
            Ok(()) => {
                st.pending = Some(st.pending.map_or(o.since, |p| p.min(o.since)));
                true
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    lost = o.answered,
                    "committing nfs.async changes failed: the answered changes are lost, as in a crash"
                );
                st.lost = true;
                false
            }
        }
    }

    /// Commits the open transaction, then makes every commit durable. Readers find nothing to
    /// settle while the fsync runs. Called with the lock held.
    fn all_durable(&self, st: &mut State) -> bool {
        let ok =
            self.commit_open(st) && (st.pending.is_none() || persist(&self.db, self.quick_repair));
        if ok {
            self.made_durable(st);
        }
        ok
    }

    /// Everything committed so far is durable.
    fn made_durable(&self, st: &mut State) {
        st.pending = None;
        self.freed_undurable.store(false, Ordering::Release);
    }

    /// A new write transaction. After a loss the inode counter moves on first, in a durable
    /// transaction of its own (were it part of this one, an abort would undo it).
    fn begin(&self, st: &mut State) -> Result<WriteTransaction> {
        if st.lost {
            let t = begin_write(&self.db, self.quick_repair)?;
            crate::ops::txn::skip_lost_inos(&t)?;
            t.commit()?;
            st.lost = false;
            self.made_durable(st);
        }
        Ok(begin_write(&self.db, self.quick_repair)?)
    }
}

/// A write transaction that, with `quick`, records redb's allocator state with its commit
/// (quick-repair), so the open after a crash does not walk the whole file to rebuild it
/// (decision 0030). Every durable commit of the store goes through here.
pub(crate) fn begin_write(
    db: &Database,
    quick: bool,
) -> std::result::Result<WriteTransaction, redb::TransactionError> {
    let mut t = db.begin_write()?;
    t.set_quick_repair(quick);
    Ok(t)
}

pub struct Committer {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<bool>>,
    on_no_space: OnceLock<OnNoSpace>,
    /// `storage.fsync: never`.
    relaxed: bool,
}

/// How long a write may stay not yet durable under `storage.fsync: never`.
pub const RELAXED_WINDOW: Duration = Duration::from_secs(1);

impl Committer {
    /// `window`: how long a deferred mutation may stay not yet durable. `relaxed`
    /// (`storage.fsync: never`): every mutation is answered once visible, as deferred ones are,
    /// and made durable within `window.max(RELAXED_WINDOW)`.
    /// `quick_repair`: `storage.quick_repair` ([`begin_write`]).
    pub fn start(db: Arc<Database>, window: Duration, relaxed: bool, quick_repair: bool) -> Self {
        let window = if relaxed {
            window.max(RELAXED_WINDOW)
        } else {
            window
        };
        let (tx, rx) = mpsc::channel::<Msg>();
        let shared = Arc::new(Shared {
            db,
            state: Mutex::new(State::default()),
            dirty: AtomicBool::new(false),
            committing: AtomicBool::new(false),
            freed_undurable: AtomicBool::new(false),
            database_failed: AtomicBool::new(false),
            quick_repair,
        });
        let s = shared.clone();
        let thread = thread::Builder::new()
            .name("gatehouse-commit".into())
            .spawn(move || run(&s, rx, window))
            .ok();
        Committer {
            tx,
            shared,
            thread,
            on_no_space: OnceLock::new(),
            relaxed,
        }
    }

    /// `f` runs on the writer's task (so it may spawn on the runtime) whenever a mutation is
    /// answered `NoSpace`: the disk filled while its transaction wrote or committed. Set once.
    pub fn on_no_space(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_no_space.set(Box::new(f));
    }

    fn noticed<T>(&self, r: Result<T>) -> Result<T> {
        match &r {
            Err(StoreError::NoSpace) => {
                if let Some(f) = self.on_no_space.get() {
                    f();
                }
            }
            Err(e) => self.shared.note(e),
            Ok(_) => {}
        }
        r
    }

    /// Whether the database has refused a write since it was opened (see
    /// [`crate::error::DATABASE_FAILED`]); only a restart clears it.
    pub fn database_failed(&self) -> bool {
        self.shared.database_failed.load(Ordering::Acquire)
    }

    /// Runs `f` inside the next group transaction and returns its result once that transaction
    /// is durable (under `storage.fsync: never`, once committed: durable within the window).
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let r = self.submit(f, !self.relaxed, false, None).await;
        self.noticed(r)
    }

    /// [`Self::write`], and `after` run on the commit thread once the transaction `f` ran in has
    /// committed `f`'s change (not when `f` failed or the commit did), before the caller hears —
    /// whether or not the caller still waits:
    /// for what must follow a change even when its request is dropped midway, such as
    /// forgetting credentials remembered from before it (`ops::credential_cache`).
    pub async fn write_then<T, F, A>(&self, f: F, after: A) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
        A: FnOnce() + Send + 'static,
    {
        let r = self
            .submit(f, !self.relaxed, false, Some(Box::new(after)))
            .await;
        self.noticed(r)
    }

    /// Runs `f` inside the next group transaction and returns its result once committed, not
    /// waiting for it to be durable (the next durable commit makes it so): for records whose
    /// loss in a crash only repeats work, such as a replication send's outcome.
    pub async fn write_not_durable<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let r = self.submit(f, false, false, None).await;
        self.noticed(r)
    }

    /// Runs `f` in the open transaction and returns its result at once, visible to every
    /// reader (they settle first), durable within the window given to `start`.
    pub async fn write_deferred<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let r = match self.run_inline(f) {
            Ok(r) => r,
            Err(f) => self.submit(f, false, false, None).await,
        };
        self.noticed(r)
    }

    /// `f` on this thread in the open transaction, or `f` back when the commit thread is busy.
    fn run_inline<T, F>(&self, f: F) -> std::result::Result<Result<T>, F>
    where
        F: FnOnce(&WriteTransaction) -> Result<T>,
    {
        let sh = &self.shared;
        if sh.committing.load(Ordering::Acquire) || IN_COMMIT.get() || self.thread.is_none() {
            // Without a commit thread nothing would make it durable: the queue reports that.
            return Err(f);
        }
        let mut st = sh.lock();
        if st.stopped {
            return Err(f);
        }
        let mut opened = false;
        if st.open.is_none() {
            match sh.begin(&mut st) {
                Ok(txn) => {
                    st.open = Some(Open {
                        txn,
                        since: Instant::now(),
                        answered: 0,
                        freed: false,
                    });
                    opened = true;
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        let Some(o) = st.open.as_mut() else {
            return Err(f);
        };
        let _ = crate::ops::txn::take_freed();
        IN_COMMIT.set(true);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&o.txn)));
        IN_COMMIT.set(false);
        o.freed |= crate::ops::txn::take_freed();
        let r = match ran {
            Ok(r) => r,
            Err(panic) => {
                // Half a mutation must never commit: drop the transaction, as on a storage error.
                abort_open(sh, &mut st);
                drop(st);
                std::panic::resume_unwind(panic);
            }
        };
        if poisons(&r) {
            abort_open(sh, &mut st);
            return Ok(r);
        }
        o.answered += 1;
        let full = o.answered >= MAX_OPEN;
        sh.dirty.store(true, Ordering::Release);
        if full && !sh.commit_open(&mut st) {
            return Ok(Err(StoreError::internal("the commit failed")));
        }
        drop(st);
        if opened {
            // The commit thread must make it durable within the window.
            let _ = self.tx.send(Msg::Tick);
        }
        Ok(r)
    }

    /// Makes every answered mutation visible to readers: commits the open transaction when it
    /// holds any. Cheap when it holds none. Every read transaction of the store starts here.
    pub fn settle(&self) {
        let sh = &self.shared;
        if !sh.dirty.load(Ordering::Acquire) || IN_COMMIT.get() {
            return;
        }
        let mut st = sh.lock();
        sh.commit_open(&mut st);
    }

    /// [`Self::settle`], and what freed chunks is durable too: for readers that delete chunk
    /// files nothing refers to (GC, a discarded upload), which must never act on a row count a
    /// crash could roll back. May fsync; other readers do not wait for that.
    ///
    /// An error when a commit that freed chunks is visible but could not be made durable (a
    /// full disk, redb's latched I/O error): the caller must delete nothing, since after a
    /// restart those chunks may be referenced again (decision 0029: "made durable before the
    /// GC may delete its file, in every mode").
    pub fn settle_durable(&self) -> Result<()> {
        let sh = &self.shared;
        if IN_COMMIT.get()
            || !(sh.dirty.load(Ordering::Acquire) || sh.freed_undurable.load(Ordering::Acquire))
        {
            return Ok(());
        }
        let mut st = sh.lock();
        sh.commit_open(&mut st);
        if sh.freed_undurable.load(Ordering::Acquire) && !sh.all_durable(&mut st) {
            return Err(StoreError::internal(
                "a commit that freed chunks could not be made durable: no chunk file is deleted \
                 until it is",
            ));
        }
        Ok(())
    }

    /// Returns once every mutation answered before it is durable (at once if nothing deferred
    /// is pending).
    pub async fn barrier(&self) -> Result<()> {
        let r = self.submit(|_| Ok(()), true, true, None).await;
        self.noticed(r)
    }

    async fn submit<T, F>(
        &self,
        f: F,
        durable: bool,
        barrier: bool,
        after: Option<Box<dyn FnOnce() + Send>>,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let r = f(txn);
            let poison = match &r {
                Err(e) if poisons(&r) => Some(clone_err(e)),
                _ => None,
            };
            let reply: Reply = Box::new(move |commit_err: Option<&StoreError>| {
                // Only for a change that committed: a job that failed wrote nothing (or was
                // rolled back with its batch), so nothing follows from it.
                if let Some(after) = after
                    && r.is_ok()
                    && commit_err.is_none()
                {
                    after();
                }
                let out = match commit_err {
                    Some(e) => Err(clone_err(e)),
                    None => r,
                };
                let _ = tx.send(out);
            });
            (reply, poison)
        });
        self.tx
            .send(Msg::Job(Queued {
                job,
                durable,
                barrier,
            }))
            .map_err(|_| StoreError::internal("the commit thread has stopped"))?;
        rx.await
            .map_err(|_| StoreError::internal("the commit thread dropped a request"))?
    }

    /// Stops the thread after it has drained the queue; says whether everything answered is
    /// durable (false: some was lost, or the thread never ran).
    pub fn stop(&mut self) -> bool {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(false),
            None => false,
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drops the open transaction after a storage error or a panic in one of its mutations.
fn abort_open(sh: &Shared, st: &mut State) {
    if let Some(o) = st.open.take() {
        if o.answered > 0 {
            tracing::error!(
                lost = o.answered,
                "a storage error aborted the open transaction: its answered nfs.async changes \
                 are lost, as in a crash"
            );
            st.lost = true;
        }
        let _ = o.txn.abort();
    }
    sh.dirty.store(false, Ordering::Release);
}

/// An internal or storage error: the transaction must not commit.
fn poisons<T>(r: &Result<T>) -> bool {
    r.as_ref().err().is_some_and(poisons_batch)
}

/// Whether `e`, returned by a mutation, means it may have written part of its change: the
/// shared transaction must be aborted, not committed (the closure contract above). A closure
/// that collects per-item outcomes (DeleteObjects) returns such an error as its own.
pub(crate) fn poisons_batch(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Internal(_) | StoreError::NoSpace | StoreError::Corrupt(_)
    )
}

/// Runs one queued job. A panicking job is caught: its reply is lost with it (its caller
/// hears that the request was dropped, an internal error) and the batch is poisoned, so
/// whatever half of a change it wrote is rolled back with the batch and the commit thread goes
/// on serving.
fn run_job(job: Job, txn: &WriteTransaction) -> (Option<Reply>, Option<StoreError>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(txn))) {
        Ok((reply, poison)) => (Some(reply), poison),
        Err(_) => {
            tracing::error!("a queued mutation panicked: its batch is rolled back");
            (
                None,
                Some(StoreError::internal("a mutation of this batch panicked")),
            )
        }
    }
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::NoSpace => StoreError::NoSpace,
        other => StoreError::Internal(other.to_string()),
    }
}

/// The commit thread; returns whether everything answered was made durable.
fn run(sh: &Shared, rx: mpsc::Receiver<Msg>, window: Duration) -> bool {
    IN_COMMIT.set(true);
    loop {
        // The earliest moment something answered must be durable.
        let due = {
            let st = sh.lock();
            let since = match (&st.open, st.pending) {
                (Some(o), Some(p)) => Some(o.since.min(p)),
                (Some(o), None) => Some(o.since),
                (None, p) => p,
            };
            since.map(|s| s + window)
        };
        let msg = match due {
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
            Some(due) => match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    make_durable(sh);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let Msg::Job(first) = msg else { continue };
        let mut queued = vec![first];
        while queued.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(q)) => queued.push(q),
                Ok(Msg::Tick) => {}
                Err(_) => break,
            }
        }
        sh.committing.store(true, Ordering::Release);
        let mut st = sh.lock();
        let (replies, outcome) = run_batch(sh, &mut st, queued, window);
        drop(st);
        sh.committing.store(false, Ordering::Release);
        for r in replies {
            r(outcome.as_ref());
        }
    }
    let mut st = sh.lock();
    st.stopped = true;
    sh.all_durable(&mut st) && !st.lost
}

/// The window has passed: make everything durable. On failure (a full disk, say) try again a
/// window later.
fn make_durable(sh: &Shared) {
    sh.committing.store(true, Ordering::Release);
    let mut st = sh.lock();
    if !sh.all_durable(&mut st) {
        st.pending = Some(Instant::now());
    }
    drop(st);
    sh.committing.store(false, Ordering::Release);
}

/// The replies of a batch and what went wrong with its commit, if anything.
type Answers = (Vec<Reply>, Option<StoreError>);

/// One batch of queued mutations, in a transaction of its own (the open one commits first);
/// with the lock held. Returns the replies to send once the lock is released.
fn run_batch(sh: &Shared, st: &mut State, queued: Vec<Queued>, window: Duration) -> Answers {
    let db = &sh.db;
    if st.pending.is_none() && st.open.is_none() && queued.iter().all(|q| q.barrier) {
        // Everything before these barriers is durable already: answer them without a
        // commit (their jobs write nothing; the transaction only lets them run).
        return match db.begin_write() {
            Ok(txn) => {
                let replies: Vec<Reply> = queued
                    .into_iter()
                    .filter_map(|q| run_job(q.job, &txn).0)
                    .collect();
                let _ = txn.abort();
                (replies, None)
            }
            Err(e) => fail_all(queued, &StoreError::from(e), db),
        };
    }
    // What was answered from the open transaction commits on its own first: a storage error
    // in this batch must not take it along.
    sh.commit_open(st);
    let mut durable = queued.iter().any(|q| q.durable)
        || st.pending.is_some_and(|since| since.elapsed() >= window);
    let mut txn = match sh.begin(st) {
        Ok(t) => t,
        Err(e) => {
            sh.note(&e);
            return fail_all(queued, &e, db);
        }
    };
    let _ = crate::ops::txn::take_freed();
    let mut replies = Vec::new();
    let mut poisoned: Option<StoreError> = None;
    for q in queued {
        let (reply, poison) = run_job(q.job, &txn);
        if let Some(e) = &poison {
            sh.note(e);
        }
        // A full disk is told as such to every member (their writes failed for that reason).
        if !matches!(poisoned, Some(StoreError::NoSpace)) {
            poisoned = poison.or(poisoned);
        }
        replies.extend(reply);
    }
    durable |= crate::ops::txn::take_freed();
    let _ = txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    });
    let outcome = if let Some(e) = poisoned {
        let _ = txn.abort();
        Some(match e {
            StoreError::NoSpace => StoreError::NoSpace,
            _ => StoreError::Internal("a storage error aborted the transaction".into()),
        })
    } else {
        txn.commit().err().map(StoreError::from)
    };
    if let Some(e) = &outcome {
        sh.note(e);
    }
    if let Some(e) = &outcome {
        tracing::warn!(error = %e, "group commit failed");
    } else if durable {
        sh.made_durable(st);
    } else if st.pending.is_none() {
        st.pending = Some(Instant::now());
    }
    (replies, outcome)
}

/// An empty durable commit: makes every earlier non-durable commit durable.
fn persist(db: &Database, quick: bool) -> bool {
    let done = match begin_write(db, quick) {
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

/// Every job must be answered; without a transaction we run each against a throwaway one if
/// possible, else drop it (its caller sees "dropped a request").
fn fail_all(queued: Vec<Queued>, err: &StoreError, db: &Database) -> Answers {
    let mut out = Vec::new();
    for q in queued {
        if let Ok(txn) = db.begin_write() {
            let (reply, _) = run_job(q.job, &txn);
            let _ = txn.abort();
            out.extend(reply);
        }
    }
    (out, Some(clone_err(err)))
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

    /// `read` on what a crash at this moment would leave: a copy of the file, opened on its own.
    fn in_crash_copy<R>(path: &std::path::Path, read: impl FnOnce(&Database) -> R) -> R {
        let copy = path.with_extension("crash");
        std::fs::copy(path, &copy).expect("copy");
        let db = Database::create(&copy).expect("open copy");
        let out = read(&db);
        drop(db);
        let _ = std::fs::remove_file(&copy);
        out
    }

    fn has(db: &Database, k: u64) -> bool {
        let r = db.begin_read().expect("read");
        match r.open_table(T) {
            Ok(t) => t.get(k).expect("get").is_some(),
            Err(_) => false,
        }
    }

    fn after_crash(path: &std::path::Path, k: u64) -> bool {
        in_crash_copy(path, |db| has(db, k))
    }

    fn chunk_row(db: &Database, h: &[u8; 32]) -> Option<(u64, u64)> {
        let r = db.begin_read().expect("read");
        let t = r.open_table(crate::tables::CHUNKS).expect("chunks");
        t.get(h).expect("get").map(|v| v.value())
    }

    /// `storage.fsync: never`: an ordinary write is answered once committed and visible, not
    /// yet durable, and durable within the relaxed window with nothing else sent.
    #[tokio::test]
    async fn relaxed_writes_are_answered_visible_and_durable_within_a_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).expect("db"));
        let c = Committer::start(db.clone(), Duration::ZERO, true, true);
        c.write(put(1)).await.expect("write");
        assert!(present(&c, &db, 1));
        assert!(!after_crash(&path, 1), "durable before the answer");
        tokio::time::sleep(RELAXED_WINDOW * 2).await;
        assert!(after_crash(&path, 1), "not durable after the window");
    }

    #[tokio::test]
    async fn deferred_writes_are_visible_at_once_and_durable_within_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).expect("db"));
        let window = Duration::from_millis(300);
        let c = Committer::start(db.clone(), window, false, true);
        c.write(put(1)).await.expect("durable write");
        c.write_deferred(put(2)).await.expect("deferred write");
        // Visible to readers at once (the store's readers settle first)...
        assert!(present(&c, &db, 2));
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

        // A deferred change that drops a chunk's last reference is durable before a reader
        // that deletes chunk files (GC) sees the row gone; other readers see it without
        // waiting for that.
        let h = [9u8; 32];
        c.write(move |t| {
            t.open_table(crate::tables::CHUNKS)?
                .insert(&h, (1u64, 10u64))?;
            Ok(())
        })
        .await
        .expect("chunk row");
        let chunk_row_after_crash = || in_crash_copy(&path, |d| chunk_row(d, &h));
        c.write_deferred(move |t| {
            let mut ns = crate::ops::ns::Ns::new(t);
            crate::ops::txn::decref(
                &mut ns,
                &[crate::model::ChunkRef {
                    hash: h,
                    len: 10,
                    seal: None,
                }],
            )
        })
        .await
        .expect("decref");
        c.settle();
        let visible = chunk_row(&db, &h).is_some();
        assert!(!visible, "a reader still sees the freed chunk's row");
        assert_eq!(
            chunk_row_after_crash(),
            Some((1, 10)),
            "settle alone fsynced"
        );
        c.settle_durable().expect("durable");
        assert_eq!(
            chunk_row_after_crash(),
            None,
            "the freeing commit was not durable"
        );

        // Stopping makes them durable as well.
        let mut c = c;
        c.write_deferred(put(5)).await.expect("deferred write");
        c.stop();
        assert!(after_crash(&path, 5));
    }

    fn present(c: &Committer, db: &Database, k: u64) -> bool {
        c.settle();
        has(db, k)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_answered_deferred_write_is_seen_by_the_next_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(Database::create(dir.path().join("db.redb")).expect("db"));
        let c = Arc::new(Committer::start(
            db.clone(),
            Duration::from_millis(50),
            false,
            true,
        ));
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let (c, db) = (c.clone(), db.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..300u64 {
                    let k = w * 1000 + i;
                    if i % 50 == 0 {
                        c.write(put(k)).await.expect("durable write");
                    } else {
                        c.write_deferred(put(k)).await.expect("deferred write");
                    }
                    assert!(present(&c, &db, k), "write {k} answered but not seen");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }

    #[tokio::test]
    async fn a_failed_deferred_write_leaves_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).expect("db"));
        let c = Committer::start(db.clone(), Duration::from_millis(50), false, true);
        c.write_deferred(put(1)).await.expect("deferred write");
        // A user-level error (it wrote nothing) does not disturb what was answered before...
        let r = c
            .write_deferred(|_| Err::<(), _>(StoreError::NoSuchKey))
            .await;
        assert!(matches!(r, Err(StoreError::NoSuchKey)), "{r:?}");
        assert!(present(&c, &db, 1));
        // ...a storage error is reported to its caller, and writes after it work.
        let r = c
            .write_deferred(|_| Err::<(), _>(StoreError::internal("disk")))
            .await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
        c.write_deferred(put(2)).await.expect("deferred write");
        assert!(present(&c, &db, 2));
        // A storage error while answered changes wait in the open transaction loses them, as
        // a crash would; the inode numbers they may have handed out are never used again.
        c.write_deferred(put(3)).await.expect("deferred write");
        let _ = c
            .write_deferred(|_| Err::<(), _>(StoreError::internal("disk")))
            .await;
        assert!(!present(&c, &db, 3));
        // (A transaction after the loss that fails as well does not undo that.)
        let _ = c
            .write_deferred(|_| Err::<(), _>(StoreError::internal("disk")))
            .await;
        c.write_deferred(put(4)).await.expect("deferred write");
        assert!(present(&c, &db, 4));
        let next_ino = {
            let r = db.begin_read().expect("read");
            let meta = r.open_table(crate::tables::META).expect("meta");
            let v = meta
                .get("next_ino")
                .expect("get")
                .map(|v| v.value().to_vec());
            v.map(|b| u64::from_le_bytes(b.try_into().expect("u64")))
        };
        assert!(next_ino >= Some(1 << 20), "{next_ino:?}");
        let mut c = c;
        assert!(c.stop(), "a clean stop");
        assert!(after_crash(&path, 1) && after_crash(&path, 2) && after_crash(&path, 4));
    }
    /// A database in memory whose fsyncs fail while `fail` is set: a full disk, or an I/O
    /// error redb then latches.
    #[derive(Debug)]
    struct FailingSync {
        inner: redb::backends::InMemoryBackend,
        fail: Arc<AtomicBool>,
    }

    impl redb::StorageBackend for FailingSync {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            if self.fail.load(Ordering::Acquire) {
                return Err(std::io::Error::other("injected fsync failure"));
            }
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.inner.write(offset, data)
        }
    }

    /// `nfs.async`: a deferred change freed a chunk, and making it durable fails. The GC's
    /// reader is told so (it must delete nothing: after a restart the chunk is referenced
    /// again), not left to act on the visible, not durable state.
    #[tokio::test]
    async fn settle_durable_fails_while_a_freeing_commit_cannot_be_made_durable() {
        let fail = Arc::new(AtomicBool::new(false));
        let backend = FailingSync {
            inner: redb::backends::InMemoryBackend::new(),
            fail: fail.clone(),
        };
        let db = Arc::new(
            Database::builder()
                .create_with_backend(backend)
                .expect("db"),
        );
        let c = Committer::start(db.clone(), Duration::from_secs(60), false, true);
        let h = [7u8; 32];
        c.write(move |t| {
            t.open_table(crate::tables::CHUNKS)?
                .insert(&h, (1u64, 10u64))?;
            Ok(())
        })
        .await
        .expect("chunk row");
        c.settle_durable().expect("nothing freed yet");
        c.write_deferred(move |t| {
            let mut ns = crate::ops::ns::Ns::new(t);
            let chunk = crate::model::ChunkRef {
                hash: h,
                len: 10,
                seal: None,
            };
            crate::ops::txn::decref(&mut ns, &[chunk])
        })
        .await
        .expect("decref");
        fail.store(true, Ordering::Release);
        assert!(
            c.settle_durable().is_err(),
            "a GC would act on a freed chunk whose release is not durable"
        );
        // Still refused on the next look: the release is visible and still not durable.
        assert!(c.settle_durable().is_err());
    }

    /// `write_then`'s follow-up runs for a change that committed, and not for one that failed
    /// (it wrote nothing: nothing follows from it).
    #[tokio::test]
    async fn a_follow_up_runs_only_after_a_committed_change() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(Database::create(dir.path().join("db.redb")).expect("db"));
        let c = Committer::start(db.clone(), Duration::ZERO, false, true);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = |runs: &Arc<AtomicU32>| {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        };
        c.write_then(put(1), counted(&runs)).await.expect("write");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let refused = c
            .write_then(
                |_| -> Result<()> { Err(StoreError::Conflict("exists".into())) },
                counted(&runs),
            )
            .await;
        assert!(refused.is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "not after a refused change");
    }

    /// A queued mutation that panics fails its batch (rolled back, every member answered with
    /// an error) and the commit thread goes on serving later writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_panicking_mutation_fails_its_batch_and_the_thread_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(Database::create(dir.path().join("db.redb")).expect("db"));
        let c = Arc::new(Committer::start(db.clone(), Duration::ZERO, false, true));
        // Hold the commit thread in a job of its own, so the next three share one batch.
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let c = c.clone();
            tokio::spawn(async move {
                c.write(move |_| {
                    let _ = entered_tx.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || entered_rx.recv())
            .await
            .expect("join")
            .expect("the blocker runs");
        let before = {
            let c = c.clone();
            tokio::spawn(async move { c.write(put(1)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let panics = {
            let c = c.clone();
            tokio::spawn(async move {
                c.write(|t| -> Result<()> {
                    t.open_table(T)?.insert(2, 2)?;
                    panic!("a bug in a mutation");
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = {
            let c = c.clone();
            tokio::spawn(async move { c.write(put(3)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        release_tx.send(()).expect("release");
        blocker.await.expect("join").expect("blocker");
        let r = panics.await.expect("join");
        assert!(matches!(r, Err(StoreError::Internal(_))), "panics: {r:?}");
        assert!(!present(&c, &db, 2), "the panicking job's write committed");
        // Its neighbours shared its batch (then they failed and left nothing) or, on a slow
        // machine where they were queued later, another one (then they committed): never an
        // answer that disagrees with what is stored.
        for (k, r) in [
            (1, before.await.expect("join")),
            (3, after.await.expect("join")),
        ] {
            match r {
                Ok(()) => assert!(present(&c, &db, k), "{k} answered but not stored"),
                Err(StoreError::Internal(_)) => {
                    assert!(!present(&c, &db, k), "{k} failed but committed")
                }
                Err(e) => panic!("{k}: {e:?}"),
            }
        }
        // The thread is still there.
        c.write(put(4)).await.expect("a write after the panic");
        assert!(present(&c, &db, 4));
    }
}
