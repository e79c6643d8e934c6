//! Bucket replication's worker (decision 0036): reads each rule's queue from the store in
//! order and sends the keys' current state to the rule's target, an S3 bucket behind a named
//! connection. At least once: a row leaves the queue only after the target answered; a crash
//! or a restart sends it again. Ordered per key: the queue holds a key once, at its last
//! change, and a key is never in flight twice.
//!
//! Faults: no answer, a 5xx, 429/408, or a refusal of the connection as a whole (403, a
//! missing target bucket, wrong keys) hold the rule back and retry with a doubling pause
//! (1 s to 5 min); a refusal of one key (400s such as a key too long for the target) marks
//! that key failed until it changes again, and the rule goes on.

mod send;

pub use send::WHOLE;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use gatehouse_chunks_s3::remote;
use gatehouse_store::Store;
use gatehouse_store::replication::{Outcome, Remote};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Keys being sent at once, over every rule.
pub const MAX_IN_FLIGHT: usize = 32;
/// Keys of one rule sent at once while other rules are active: they keep a share of the slots.
const PER_RULE: u32 = 16;
/// Rows read from one rule's queue per look.
const LOOK_AHEAD: usize = 64;
/// Rows of a removed rule cleared per transaction.
const PURGE_STEP: usize = 10_000;
/// Keys entered per backfill transaction.
const BACKFILL_STEP: usize = 1000;
/// How often the worker looks when nothing told it to.
const IDLE_LOOK: Duration = Duration::from_secs(1);
/// How often it checks whether something was queued.
const TICK: Duration = Duration::from_millis(25);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

const TIMEOUTS: remote::Timeouts = remote::Timeouts {
    connect: Duration::from_secs(5),
    attempt: Duration::from_secs(300),
    operation: Duration::from_secs(900),
};

/// A send that did not reach a verdict on the key: try again after a pause.
#[derive(Debug)]
pub(crate) struct Retry {
    pub msg: String,
    /// The object could not be read here (not the target's fault).
    pub local: bool,
}

impl Retry {
    pub(crate) fn remote(msg: String) -> Retry {
        Retry { msg, local: false }
    }
    pub(crate) fn local(msg: String) -> Retry {
        Retry { msg, local: true }
    }
}

/// Tries of a key whose object cannot be read here before it is counted failed (it would
/// otherwise stay at the head of its rule's queue for ever).
const LOCAL_TRIES: u32 = 5;

struct Done {
    bucket_id: u64,
    key: String,
    result: Result<Outcome, Retry>,
}

struct Backoff {
    until: Instant,
    pause: Duration,
}

/// Runs until `stop` turns true; sends in flight then are dropped (their rows stay queued).
pub async fn run(store: Store, mut stop: watch::Receiver<bool>) {
    let mut w = Worker {
        marker: store.replication().node_id(),
        store,
        clients: HashMap::new(),
        in_flight: HashSet::new(),
        tasks: JoinSet::new(),
        running: HashMap::new(),
        local_tries: HashMap::new(),
        turn: 0,
        backoff: HashMap::new(),
    };
    let mut last_look = Instant::now() - IDLE_LOOK;
    loop {
        let due = w.store.replication().take_queued() || last_look.elapsed() >= IDLE_LOOK;
        if due {
            last_look = Instant::now();
            if let Err(e) = w.look().await {
                tracing::warn!(error = %e, "replication: reading the queue failed");
            }
        }
        tokio::select! {
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => break,
            Some(joined) = w.tasks.join_next_with_id(), if !w.tasks.is_empty() => {
                w.joined(joined);
                // Every other send that has finished too, then one look for all the slots.
                while let Some(joined) = w.tasks.try_join_next_with_id() {
                    w.joined(joined);
                }
                last_look = Instant::now() - IDLE_LOOK;
            }
            _ = tokio::time::sleep(TICK) => {}
        }
    }
    w.tasks.abort_all();
}

struct Worker {
    store: Store,
    marker: String,
    /// Per connection name: what it was built from, and the client.
    clients: HashMap<String, (String, Client)>,
    in_flight: HashSet<(u64, String)>,
    tasks: JoinSet<Done>,
    /// Which key each task sends (for a task that panics).
    running: HashMap<tokio::task::Id, (u64, String)>,
    /// Failed reads of a key here so far.
    local_tries: HashMap<(u64, String), u32>,
    /// Which rule is looked at first: each look starts one further, so a busy rule does not
    /// take every free slot from the others.
    turn: usize,
    backoff: HashMap<u64, Backoff>,
}

impl Worker {
    /// A send's task ended (or panicked: its key is free again, the rule pauses).
    fn joined(&mut self, joined: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        match joined {
            Ok((id, done)) => {
                self.running.remove(&id);
                self.finish(done);
            }
            Err(e) => {
                if let Some((bucket_id, key)) = self.running.remove(&e.id()) {
                    self.finish(Done {
                        bucket_id,
                        key,
                        result: Err(Retry::local(format!("the send failed: {e}"))),
                    });
                }
            }
        }
    }

    /// `f` on the blocking pool: the store's reads may wait for a commit (under `nfs.async`
    /// every read settles the open transaction first), which an async task must not.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> gatehouse_store::Result<T> + Send + 'static,
    ) -> gatehouse_store::Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| gatehouse_store::StoreError::Internal(format!("replication read: {e}")))?
    }

    async fn look(&mut self) -> gatehouse_store::Result<()> {
        let mut rules = self.read(|s| s.replication().rules()).await?;
        if !rules.is_empty() {
            self.turn = self.turn.wrapping_add(1);
            let n = self.turn % rules.len();
            rules.rotate_left(n);
        }
        let active = rules
            .iter()
            .filter(|r| !r.rule.removing && !r.rule.paused)
            .count();
        let per_rule = if active > 1 {
            PER_RULE
        } else {
            MAX_IN_FLIGHT as u32
        };
        for r in rules {
            if r.rule.removing {
                // A removed rule's rows, a bounded step per look.
                for _ in 0..5 {
                    match self
                        .store
                        .replication()
                        .purge_step(r.bucket_id, PURGE_STEP)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => break,
                        // One rule's trouble does not stop the others' sends.
                        Err(e) => {
                            tracing::warn!(bucket_id = r.bucket_id, error = %e, "replication: clearing a removed rule's rows failed");
                            break;
                        }
                    }
                }
                continue;
            }
            // The walk goes on while paused: a share's index must be complete for its file-view
            // changes to be queued at all.
            if r.rule.backfill.is_some()
                && let Err(e) = self
                    .store
                    .replication()
                    .backfill_step(r.bucket_id, BACKFILL_STEP)
                    .await
            {
                tracing::warn!(bucket_id = r.bucket_id, error = %e, "replication: entering existing keys failed (tried again at the next look)");
            }
            if r.rule.paused {
                continue;
            }
            if self
                .backoff
                .get(&r.bucket_id)
                .is_some_and(|b| b.until > Instant::now())
            {
                continue;
            }
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            let (client, tls) = match self.client(&r.rule.connection).await {
                Ok(c) => c,
                Err(e) => {
                    self.failed(
                        r.bucket_id,
                        format!("connection {}: {e}", r.rule.connection),
                    );
                    continue;
                }
            };
            let id = r.bucket_id;
            for p in self
                .read(move |s| s.replication().pending(id, LOOK_AHEAD))
                .await?
            {
                if self.in_flight.len() >= MAX_IN_FLIGHT
                    || self.store.replication().live().get(r.bucket_id).in_flight >= per_rule
                {
                    break;
                }
                let k = (r.bucket_id, p.row.key.clone());
                if self.in_flight.contains(&k) {
                    continue;
                }
                self.in_flight.insert(k);
                self.store
                    .replication()
                    .live()
                    .update(r.bucket_id, |l| l.in_flight += 1);
                let job = send::Job {
                    store: self.store.clone(),
                    client: client.clone(),
                    rule: r.rule.clone(),
                    key: p.row.key.clone(),
                    op: p.row.op,
                    marker: self.marker.clone(),
                    tls,
                };
                let (bucket_id, seq, key) = (r.bucket_id, p.seq, p.row.key);
                let store = self.store.clone();
                let tries = self
                    .local_tries
                    .get(&(bucket_id, key.clone()))
                    .copied()
                    .unwrap_or(0);
                // The outcome is recorded here, in the send's own task, before the key counts
                // as done: sends finishing together commit together (the committer batches
                // them) rather than one after another in the loop.
                let task_key = key.clone();
                let handle = self.tasks.spawn(async move {
                    // A key that could not be read here, or whose send panicked, this many
                    // times is given up (counted failed) rather than tried for ever.
                    let mut result = if tries >= LOCAL_TRIES {
                        Ok(Outcome::Refused(format!(
                            "given up after {LOCAL_TRIES} tries that failed here (a damaged \
                             object, or the send failing)"
                        )))
                    } else {
                        job.run().await
                    };
                    if let Err(r) = &result
                        && r.local
                        && tries + 1 >= LOCAL_TRIES
                    {
                        result = Ok(Outcome::Refused(format!(
                            "could not be read here in {LOCAL_TRIES} tries: {}",
                            r.msg
                        )));
                    }
                    if let Ok(outcome) = &result
                        && let Err(e) = store
                            .replication()
                            .finished(bucket_id, seq, &task_key, outcome.clone())
                            .await
                    {
                        tracing::warn!(error = %e, "replication: recording a send failed (it is sent again)");
                    }
                    Done {
                        bucket_id,
                        key: task_key,
                        result,
                    }
                });
                self.running.insert(handle.id(), (bucket_id, key));
            }
        }
        Ok(())
    }

    fn finish(&mut self, d: Done) {
        self.in_flight.remove(&(d.bucket_id, d.key.clone()));
        let live = self.store.replication();
        live.live().update(d.bucket_id, |l| {
            l.in_flight = l.in_flight.saturating_sub(1);
        });
        match d.result {
            Ok(outcome) => {
                self.local_tries.remove(&(d.bucket_id, d.key.clone()));
                if let Outcome::Refused(e) = &outcome {
                    tracing::warn!(bucket_id = d.bucket_id, key = %d.key, error = %e, "replication: the target refused a key");
                } else {
                    self.backoff.remove(&d.bucket_id);
                    live.live().update(d.bucket_id, |l| {
                        l.last_error = None;
                        l.retry_at_ms = None;
                    });
                }
            }
            Err(r) => {
                if r.local {
                    *self
                        .local_tries
                        .entry((d.bucket_id, d.key.clone()))
                        .or_insert(0) += 1;
                }
                self.failed(d.bucket_id, r.msg)
            }
        }
    }

    /// A send or a connection failed: the rule waits, twice as long as last time.
    fn failed(&mut self, bucket_id: u64, error: String) {
        // Sends already under way when the first failed fail too: one pause for them all.
        if let Some(b) = self.backoff.get(&bucket_id)
            && b.until > Instant::now()
        {
            self.store
                .replication()
                .live()
                .update(bucket_id, |l| l.last_error = Some(error));
            return;
        }
        let pause = self
            .backoff
            .get(&bucket_id)
            .map_or(FIRST_BACKOFF, |b| (b.pause * 2).min(MAX_BACKOFF));
        self.backoff.insert(
            bucket_id,
            Backoff {
                until: Instant::now() + pause,
                pause,
            },
        );
        let retry_at = gatehouse_store::now_unix_ms() + pause.as_millis() as i64;
        tracing::warn!(bucket_id, error = %error, retry_in_s = pause.as_secs_f64(), "replication: send failed, retrying later");
        self.store.replication().live().update(bucket_id, |l| {
            l.last_error = Some(error);
            l.retry_at_ms = Some(retry_at);
        });
    }

    /// The client of connection `name`, built again when the connection changed, and whether
    /// it speaks TLS (an `https://` endpoint).
    async fn client(&mut self, name: &str) -> gatehouse_store::Result<(Client, bool)> {
        let n = name.to_string();
        let r: Remote = self.read(move |s| s.replication().remote(&n)).await?;
        let print = format!(
            "{}\n{}\n{}\n{}",
            r.endpoint, r.region, r.access_key, r.secret_key
        );
        let tls = r.endpoint.to_ascii_lowercase().starts_with("https://");
        if let Some((p, c)) = self.clients.get(name)
            && *p == print
        {
            return Ok((c.clone(), tls));
        }
        let conf = remote::config(
            &remote::Endpoint {
                url: &r.endpoint,
                region: &r.region,
                access_key: &r.access_key,
                secret_key: &r.secret_key,
            },
            TIMEOUTS,
        );
        let c = Client::from_conf(conf);
        self.clients.insert(name.to_string(), (print, c.clone()));
        Ok((c, tls))
    }
}
