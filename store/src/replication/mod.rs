//! Bucket replication's state in the store (decision 0036): connections (remote S3 endpoints
//! with their secrets sealed by a key derived from the master key), one rule per bucket, and
//! the queue of keys to send, written in the transaction of the change itself. The worker
//! that reads the queue and talks to the targets is the crate `gatehouse-replication`; this
//! module is its only door to the store, reached through [`Store::replication`].
//!
//! Who may do what (`rbac`, resource `replication`): connections and rules are configured with
//! a global grant (`create`/`delete`/`list` on `replication`: admins); a rule's status is read
//! with `get` and the rule paused or resumed with `put` on `replication` of its bucket, which
//! a binding scoped to that bucket can give (the two tiers of the product docs).

pub(crate) mod check;
mod live;
pub(crate) mod queue;
mod seal;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;

use crate::codec;
use crate::error::{Result, StoreError};
use crate::model::{
    BucketKind, ConnectionRecord, FailedRow, ObjectRecord, Principal, QueueRow, RuleRecord,
};
use crate::ops::ObjectInfo;
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, BUCKETS, REPL_CONNECTIONS, REPL_QUEUE, REPL_RULES};
use crate::{Store, blobs::Pins, deny};

pub use live::{Live, LiveRule};
pub use queue::{REPLICA_HEADER, REPLICA_MARKER};

/// What a connection shows: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    pub name: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub created_ms: i64,
}

/// A connection as the worker needs it, secret opened.
#[derive(Clone)]
pub struct Remote {
    pub name: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({} at {})", self.name, self.endpoint)
    }
}

/// A rule as it is set.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    pub connection: String,
    pub target_bucket: String,
    pub prefix: String,
    pub deletes: bool,
    /// Enter the objects already in the bucket (a new rule only).
    pub existing: bool,
    pub paused: bool,
    /// From an AWS `PutBucketReplication` document: its rule `ID` and `Role`, kept and shown
    /// back by `GetBucketReplication` (the role is not assumed: the connection's keys are
    /// used). Empty from the CLI and the admin API.
    pub xml_id: String,
    pub xml_role: String,
}

/// A rule with its counts: what `replication status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub bucket: String,
    /// The bucket's id: what `/metrics` labels the rule's series with (bucket names stay off
    /// that unauthenticated page).
    pub bucket_id: u64,
    pub connection: String,
    pub target_bucket: String,
    pub prefix: String,
    pub deletes: bool,
    pub paused: bool,
    /// Still entering the objects that were there when the rule was added.
    pub backfilling: bool,
    pub queued: u64,
    pub in_flight: u32,
    pub replicated: u64,
    pub replicated_bytes: u64,
    pub failed: u64,
    /// Seconds since the oldest queued change committed (0 when none waits).
    pub lag_seconds: f64,
    pub last_error: Option<String>,
    /// While backing off: Unix ms of the next attempt.
    pub retry_at_ms: Option<i64>,
    pub created_ms: i64,
    /// See [`RuleSpec::xml_id`]; not part of the JSON status.
    #[serde(skip)]
    pub xml_id: String,
    #[serde(skip)]
    pub xml_role: String,
}

/// A key the target refused for good.
#[derive(Debug, Clone, Serialize)]
pub struct FailedKey {
    pub key: String,
    pub error: String,
    pub failed_ms: i64,
}

/// A queue row handed to the worker.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub row: QueueRow,
}

/// How a send of a queue row ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The target has the key's state now (an object of this many bytes, or 0 for a delete).
    Sent { bytes: u64 },
    /// Nothing needed sending (the key was gone and the rule does not send deletes).
    Skipped,
    /// The target refused this key for good (it stays failed until written again).
    Refused(String),
}

/// A rule as the worker reads it.
#[derive(Debug, Clone)]
pub struct ActiveRule {
    pub bucket_id: u64,
    pub rule: RuleRecord,
}

/// A write's replica marker ([`REPLICA_MARKER`]) is taken as one only from a writer that may
/// `put` on `replication` of the bucket (the other site's worker, through a user given that
/// grant); from anyone else it is dropped, so an ordinary writer cannot keep an object from
/// being replicated.
pub(crate) fn accept_marker(p: &Principal, bucket: &str, meta: &mut crate::model::ObjectMeta) {
    if meta.user.iter().any(|(k, _)| k == REPLICA_MARKER)
        && !authorize(p, Verb::Put, Resource::Replication(Some(bucket))).allowed
    {
        // Said, not silent: a replication peer's user without the grant makes two sites
        // send each other's writes back and forth.
        tracing::warn!(
            user = %p.name,
            bucket,
            "a write carried the replica marker from a user without `put` on `replication` of \
             the bucket: the marker was dropped and the object will be replicated (give the \
             other site's replication user the replication-operator role on this bucket)"
        );
        meta.user.retain(|(k, _)| k != REPLICA_MARKER);
    }
}

/// Connection names: 1-63 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_connection_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "connection name {name:?}: 1-63 of a-z, 0-9, '-', '_', '.', starting with a letter \
             or digit"
        )))
    }
}

fn validate_endpoint(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => Ok(()),
        _ => Err(StoreError::InvalidArgument(format!(
            "endpoint {url:?}: an http:// or https:// URL"
        ))),
    }
}

fn validate_target_bucket(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-.+".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "target bucket {b:?}: 3-63 of a-z, 0-9, '-', '.' ('+' for a gatehouse share)"
        )))
    }
}

/// The store's replication state: [`Store::replication`].
pub struct Replication<'a> {
    store: &'a Store,
}

impl Store {
    /// Bucket replication's connections, rules, queue and status.
    pub fn replication(&self) -> Replication<'_> {
        Replication { store: self }
    }
}

impl Replication<'_> {
    fn secrets_key(&self) -> [u8; 32] {
        self.store.derive_key(seal::PURPOSE)
    }

    /// What replicated writes carry in [`REPLICA_MARKER`]: this data directory's id.
    pub fn node_id(&self) -> String {
        hex::encode(&self.store.derive_key("replication-node")[..8])
    }

    // ---- connections (admins) ----

    /// Adds (or replaces) connection `name`; the secret is sealed, never shown back.
    pub async fn add_connection(
        &self,
        p: &Principal,
        name: &str,
        endpoint: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<ConnectionInfo> {
        deny(authorize(p, Verb::Create, Resource::Replication(None)))?;
        validate_connection_name(name)?;
        validate_endpoint(endpoint)?;
        if access_key.is_empty() || secret_key.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a connection needs an access key and a secret key".into(),
            ));
        }
        let region = if region.is_empty() {
            "us-east-1"
        } else {
            region
        };
        let rec = ConnectionRecord {
            name: name.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            access_key: access_key.to_string(),
            sealed_secret: seal::seal(&self.secrets_key(), name, secret_key)?,
            created_ms: crate::now_ms(),
        };
        let info = connection_info(&rec);
        let stored = rec.clone();
        self.store
            .inner
            .committer
            .write(move |t| {
                t.open_table(REPL_CONNECTIONS)?
                    .insert(stored.name.as_str(), codec::encode(&stored)?.as_slice())?;
                Ok(())
            })
            .await?;
        crate::ops::audit_action(p, "replication.connection.add", name);
        Ok(info)
    }

    pub fn connections(&self, p: &Principal) -> Result<Vec<ConnectionInfo>> {
        deny(authorize(p, Verb::List, Resource::Replication(None)))?;
        let txn = self.store.db().begin_read()?;
        let t = txn.open_table(REPL_CONNECTIONS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(connection_info(&codec::decode(v.value())?));
        }
        Ok(out)
    }

    /// Removes connection `name`; refused while a rule sends through it.
    pub async fn remove_connection(&self, p: &Principal, name: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Replication(None)))?;
        let n = name.to_string();
        self.store
            .inner
            .committer
            .write(move |t| {
                for e in t.open_table(REPL_RULES)?.iter()? {
                    let (_, v) = e?;
                    let r: RuleRecord = codec::decode(v.value())?;
                    if r.connection == n && !r.removing {
                        return Err(StoreError::Conflict(format!(
                            "connection {n} is used by the replication rule of bucket {} \
                             (remove that rule first)",
                            r.bucket
                        )));
                    }
                }
                match t.open_table(REPL_CONNECTIONS)?.remove(n.as_str())? {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NoSuchConnection(n.clone())),
                }
            })
            .await?;
        crate::ops::audit_action(p, "replication.connection.remove", name);
        Ok(())
    }

    // ---- rules ----

    /// Sets `bucket`'s rule (admins). A new rule with `existing` enters the objects already
    /// there, in bounded steps run by the worker; a changed rule keeps its queue and counts.
    pub async fn set_rule(&self, p: &Principal, bucket: &str, spec: RuleSpec) -> Result<()> {
        deny(authorize(p, Verb::Create, Resource::Replication(None)))?;
        validate_target_bucket(&spec.target_bucket)?;
        if spec.prefix.len() > 1024 {
            return Err(StoreError::InvalidArgument(
                "a prefix is at most 1,024 bytes".into(),
            ));
        }
        let name = bucket.to_string();
        self.store
            .inner
            .committer
            .write(move |t| {
                if t.open_table(REPL_CONNECTIONS)?
                    .get(spec.connection.as_str())?
                    .is_none()
                {
                    return Err(StoreError::NoSuchConnection(spec.connection.clone()));
                }
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &name)?;
                if b.kind == BucketKind::System {
                    return Err(StoreError::InvalidArgument(
                        "the system bucket is not replicated".into(),
                    ));
                }
                // A share's keys are all walked once, for the inode-to-keys index its file-view
                // writes are found through; they are queued only when existing objects are to
                // be sent.
                let walk = spec.existing || b.kind == BucketKind::Share;
                if let Some(old) = queue::read_rule(&ns, b.id)?
                    && old.removing
                {
                    return Err(StoreError::Conflict(format!(
                        "the previous replication rule of {name} is still being cleared; \
                         try again in a moment"
                    )));
                }
                let mut rule = queue::read_rule(&ns, b.id)?.unwrap_or_else(|| RuleRecord {
                    bucket: name.clone(),
                    created_ms: crate::now_ms(),
                    backfill: walk.then(String::new),
                    backfill_queues: spec.existing,
                    ..RuleRecord::default()
                });
                rule.connection = spec.connection;
                rule.target_bucket = spec.target_bucket;
                rule.prefix = spec.prefix;
                rule.deletes = spec.deletes;
                rule.paused = spec.paused;
                rule.xml_id = spec.xml_id;
                rule.xml_role = spec.xml_role;
                queue::write_rule(&mut ns, b.id, &rule)?;
                if !b.replicated {
                    b.replicated = true;
                    txn::put_bucket(&mut ns, &b)?;
                }
                Ok(())
            })
            .await?;
        crate::ops::audit_action(p, "replication.rule.set", bucket);
        Ok(())
    }

    /// Removes `bucket`'s rule with its queue (changes not sent yet are not sent).
    pub async fn remove_rule(&self, p: &Principal, bucket: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Replication(None)))?;
        let name = bucket.to_string();
        let id = self
            .store
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &name)?;
                if queue::read_rule(&ns, b.id)?.is_none_or(|r| r.removing) {
                    return Err(StoreError::NoSuchReplicationConfiguration);
                }
                queue::retire(&mut ns, b.id)?;
                b.replicated = false;
                txn::put_bucket(&mut ns, &b)?;
                Ok(b.id)
            })
            .await?;
        self.store.inner.replication_live.forget(id);
        crate::ops::audit_action(p, "replication.rule.remove", bucket);
        Ok(())
    }

    /// Pauses or resumes `bucket`'s rule: `put` on `replication` of that bucket.
    pub async fn set_paused(&self, p: &Principal, bucket: &str, paused: bool) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Replication(Some(bucket))))?;
        let name = bucket.to_string();
        self.store
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let b = txn::get_bucket(&ns, &name)?;
                let mut rule = queue::read_rule(&ns, b.id)?
                    .filter(|r| !r.removing)
                    .ok_or(StoreError::NoSuchReplicationConfiguration)?;
                rule.paused = paused;
                queue::write_rule(&mut ns, b.id, &rule)
            })
            .await?;
        crate::ops::audit_action(
            p,
            if paused {
                "replication.pause"
            } else {
                "replication.resume"
            },
            bucket,
        );
        Ok(())
    }

    /// `bucket`'s rule and counts (`get` on `replication` of it).
    pub fn status(&self, p: &Principal, bucket: &str) -> Result<RuleStatus> {
        deny(authorize(p, Verb::Get, Resource::Replication(Some(bucket))))?;
        let txn = self.store.db().begin_read()?;
        let b = bucket_in(&txn, bucket)?;
        let rule: RuleRecord = codec::decode(
            txn.open_table(REPL_RULES)?
                .get(b.id)?
                .ok_or(StoreError::NoSuchReplicationConfiguration)?
                .value(),
        )?;
        if rule.removing {
            return Err(StoreError::NoSuchReplicationConfiguration);
        }
        let queue = txn.open_table(REPL_QUEUE)?;
        self.status_of(b.id, rule, &queue)
    }

    /// Every rule the caller may see (`get` on `replication` of its bucket).
    pub fn statuses(&self, p: &Principal) -> Result<Vec<RuleStatus>> {
        let txn = self.store.db().begin_read()?;
        let queue = txn.open_table(REPL_QUEUE)?;
        let mut out = Vec::new();
        for e in txn.open_table(REPL_RULES)?.iter()? {
            let (k, v) = e?;
            let rule: RuleRecord = codec::decode(v.value())?;
            if !rule.removing
                && authorize(p, Verb::Get, Resource::Replication(Some(&rule.bucket))).allowed
            {
                out.push(self.status_of(k.value(), rule, &queue)?);
            }
        }
        Ok(out)
    }

    /// Every rule's status, for `/metrics` (the caller decides who sees them).
    pub fn all_statuses(&self) -> Result<Vec<RuleStatus>> {
        let txn = self.store.db().begin_read()?;
        let queue = txn.open_table(REPL_QUEUE)?;
        let mut out = Vec::new();
        for e in txn.open_table(REPL_RULES)?.iter()? {
            let (k, v) = e?;
            let rule: RuleRecord = codec::decode(v.value())?;
            if !rule.removing {
                out.push(self.status_of(k.value(), rule, &queue)?);
            }
        }
        Ok(out)
    }

    fn status_of(
        &self,
        id: u64,
        rule: RuleRecord,
        queue: &impl ReadableTable<&'static [u8], &'static [u8]>,
    ) -> Result<RuleStatus> {
        let live = self.store.inner.replication_live.get(id);
        let oldest = match queue
            .range(tables::queue_key(id, 0).as_slice()..tables::queue_key(id, u64::MAX).as_slice())?
            .next()
        {
            Some(e) => Some(codec::decode::<QueueRow>(e?.1.value())?.enqueued_ms),
            None => None,
        };
        let lag = oldest.map_or(0.0, |ms| (crate::now_ms() - ms).max(0) as f64 / 1000.0);
        Ok(RuleStatus {
            bucket_id: id,
            bucket: rule.bucket,
            connection: rule.connection,
            target_bucket: rule.target_bucket,
            prefix: rule.prefix,
            deletes: rule.deletes,
            paused: rule.paused,
            backfilling: rule.backfill.is_some(),
            queued: rule.queued,
            in_flight: live.in_flight,
            replicated: rule.replicated,
            replicated_bytes: rule.replicated_bytes,
            failed: rule.failed,
            lag_seconds: lag,
            last_error: live.last_error,
            retry_at_ms: live.retry_at_ms,
            created_ms: rule.created_ms,
            xml_id: rule.xml_id,
            xml_role: rule.xml_role,
        })
    }

    /// The keys of `bucket` the target refused (at most `limit`).
    pub fn failed_keys(&self, p: &Principal, bucket: &str, limit: usize) -> Result<Vec<FailedKey>> {
        deny(authorize(p, Verb::Get, Resource::Replication(Some(bucket))))?;
        let txn = self.store.db().begin_read()?;
        let b = bucket_in(&txn, bucket)?;
        let t = txn.open_table(tables::REPL_FAILED)?;
        let lo = b.id.to_be_bytes();
        let hi = b.id.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for e in t.range(lo.as_slice()..hi.as_slice())?.take(limit) {
            let (k, v) = e?;
            let f: FailedRow = codec::decode(v.value())?;
            out.push(FailedKey {
                key: String::from_utf8_lossy(&k.value()[8..]).into_owned(),
                error: f.error,
                failed_ms: f.failed_ms,
            });
        }
        Ok(out)
    }

    /// DeleteObject from the other site of a replication pair ([`REPLICA_HEADER`]): removes
    /// `key` without queuing the delete back. From a caller without `put` on `replication` of
    /// the bucket it is an ordinary delete.
    pub async fn delete_replica(&self, p: &Principal, bucket: &str, key: &str) -> Result<bool> {
        if !authorize(p, Verb::Put, Resource::Replication(Some(bucket))).allowed {
            return self.store.delete_object(p, bucket, key).await;
        }
        deny(authorize(p, Verb::Delete, Resource::Objects(bucket)))?;
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.store
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                txn::unlink_as(&mut ns, &mut b, &key, true)
            })
            .await
    }

    /// Clears at most `limit` rows of bucket `id`'s retired rule (see `queue::retire`);
    /// returns whether rows remain.
    pub async fn purge_step(&self, bucket_id: u64, limit: usize) -> Result<bool> {
        self.store
            .inner
            .committer
            .write(move |t| queue::purge_step(&mut Ns::new(t), bucket_id, limit))
            .await
    }

    // ---- the worker's side (crate gatehouse-replication; no principal: the server's own) ----

    /// What the worker is doing, per rule.
    pub fn live(&self) -> &Live {
        &self.store.inner.replication_live
    }

    /// Whether anything was queued since the last call.
    pub fn take_queued(&self) -> bool {
        queue::take_queued()
    }

    /// Every rule with its bucket id.
    pub fn rules(&self) -> Result<Vec<ActiveRule>> {
        let txn = self.store.db().begin_read()?;
        let mut out = Vec::new();
        for e in txn.open_table(REPL_RULES)?.iter()? {
            let (k, v) = e?;
            out.push(ActiveRule {
                bucket_id: k.value(),
                rule: codec::decode(v.value())?,
            });
        }
        Ok(out)
    }

    /// Connection `name` with its secret opened.
    pub fn remote(&self, name: &str) -> Result<Remote> {
        let txn = self.store.db().begin_read()?;
        let t = txn.open_table(REPL_CONNECTIONS)?;
        let rec: ConnectionRecord = codec::decode(
            t.get(name)?
                .ok_or_else(|| StoreError::NoSuchConnection(name.to_string()))?
                .value(),
        )?;
        Ok(Remote {
            secret_key: seal::open(&self.secrets_key(), &rec.name, &rec.sealed_secret)?,
            name: rec.name,
            endpoint: rec.endpoint,
            region: rec.region,
            access_key: rec.access_key,
        })
    }

    /// The first `limit` rows of bucket `id`'s queue, oldest first.
    pub fn pending(&self, bucket_id: u64, limit: usize) -> Result<Vec<Pending>> {
        let txn = self.store.db().begin_read()?;
        let t = txn.open_table(REPL_QUEUE)?;
        let mut out = Vec::new();
        let range = tables::queue_key(bucket_id, 0)..tables::queue_key(bucket_id, u64::MAX);
        for e in t
            .range(range.start.as_slice()..range.end.as_slice())?
            .take(limit)
        {
            let (k, v) = e?;
            let Some(seq) = k
                .value()
                .get(8..16)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            out.push(Pending {
                seq,
                row: codec::decode(v.value())?,
            });
        }
        Ok(out)
    }

    /// Rows queued in all (every bucket).
    pub fn queue_len(&self) -> Result<u64> {
        let txn = self.store.db().begin_read()?;
        Ok(txn.open_table(REPL_QUEUE)?.len()?)
    }

    /// `bucket`'s object `key` as it is now, its chunks pinned for the send; `None` when the
    /// key holds nothing.
    pub fn open(&self, bucket: &str, key: &str) -> Result<Option<(ObjectInfo, Pins)>> {
        match self.store.open_object_unchecked(bucket, key) {
            Ok(o) => Ok(Some(o)),
            Err(StoreError::NoSuchKey) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records how the send of row `seq` (key `key`) of bucket `id` ended. A row replaced
    /// meanwhile by a later change of the key stays queued (that change is sent next). Not
    /// waited on to be durable: lost in a crash, the row is sent again, which repeats a put of
    /// the same state or a delete of a missing key.
    pub async fn finished(
        &self,
        bucket_id: u64,
        seq: u64,
        key: &str,
        outcome: Outcome,
    ) -> Result<()> {
        let key = key.to_string();
        self.store
            .inner
            .committer
            .write_not_durable(move |t| {
                let mut ns = Ns::new(t);
                let Some(mut rule) = queue::read_rule(&ns, bucket_id)?.filter(|r| !r.removing)
                else {
                    return Ok(());
                };
                let current = ns
                    .repl_queue_mut()?
                    .remove(tables::queue_key(bucket_id, seq).as_slice())?
                    .is_some();
                let lk = tables::entry_key(bucket_id, &key);
                if current {
                    ns.repl_latest_mut()?.remove(lk.as_slice())?;
                    rule.queued = rule.queued.saturating_sub(1);
                }
                match outcome {
                    Outcome::Sent { bytes } => {
                        rule.replicated += 1;
                        rule.replicated_bytes += bytes;
                    }
                    Outcome::Skipped => {}
                    Outcome::Refused(error) => {
                        if current {
                            let row = FailedRow {
                                error,
                                failed_ms: crate::now_ms(),
                            };
                            let prev = ns
                                .repl_failed_mut()?
                                .insert(lk.as_slice(), codec::encode(&row)?.as_slice())?
                                .is_some();
                            if !prev {
                                rule.failed += 1;
                            }
                        }
                    }
                }
                queue::write_rule(&mut ns, bucket_id, &rule)
            })
            .await
    }

    /// Enters at most `limit` of the objects bucket `id` held when its rule was added into the
    /// queue; returns whether more remain.
    pub async fn backfill_step(&self, bucket_id: u64, limit: usize) -> Result<bool> {
        self.store
            .inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let Some(rule) = queue::read_rule(&ns, bucket_id)? else {
                    return Ok(false);
                };
                let Some(cursor) = rule.backfill.clone() else {
                    return Ok(false);
                };
                let b = txn::get_bucket(&ns, &rule.bucket)?;
                // Only the prefix's keys when they are all it is for; a share's whole namespace
                // otherwise (its index).
                let scope = if b.kind == BucketKind::Share {
                    ""
                } else {
                    rule.prefix.as_str()
                };
                let start = if cursor.as_str() < scope {
                    scope.to_string()
                } else {
                    cursor
                };
                let within = tables::entry_key(b.id, scope);
                let mut found = Vec::new();
                let mut next = None;
                for e in ns
                    .entries()?
                    .range(tables::entry_key(b.id, &start).as_slice()..)?
                {
                    let (k, v) = e?;
                    let k = k.value();
                    if !k.starts_with(&within) {
                        break;
                    }
                    let key = String::from_utf8_lossy(&k[8..]).into_owned();
                    if found.len() == limit {
                        next = Some(key);
                        break;
                    }
                    found.push((key, v.value()));
                }
                for (key, ino) in found {
                    if !key.starts_with(rule.prefix.as_str()) {
                        continue;
                    }
                    let rec: ObjectRecord = txn::inode_attrs(&ns, ino)?;
                    // Without existing objects, a file the file view changed since the rule
                    // began (queued then too, by its names) is queued: once, as the queue holds
                    // a key once.
                    let changed_ms = rec
                        .times
                        .map_or(rec.mtime_ms, |t| t.ctime_ns.div_euclid(1_000_000));
                    let wanted = rule.backfill_queues || changed_ms >= rule.created_ms;
                    if wanted && !queue::is_replica(&rec) {
                        queue::enqueue(&mut ns, &b, &key, crate::model::ReplOp::Put)?;
                    }
                }
                let more = next.is_some();
                let mut rule = queue::read_rule(&ns, bucket_id)?.unwrap_or(rule);
                rule.backfill = next;
                queue::write_rule(&mut ns, bucket_id, &rule)?;
                Ok(more)
            })
            .await
    }
}

/// Bucket `name`'s record as `txn` sees it.
fn bucket_in(txn: &redb::ReadTransaction, name: &str) -> Result<crate::model::BucketRecord> {
    codec::decode(
        txn.open_table(BUCKETS)?
            .get(name)?
            .ok_or(StoreError::NoSuchBucket)?
            .value(),
    )
}

fn connection_info(r: &ConnectionRecord) -> ConnectionInfo {
    ConnectionInfo {
        name: r.name.clone(),
        endpoint: r.endpoint.clone(),
        region: r.region.clone(),
        access_key: r.access_key.clone(),
        created_ms: r.created_ms,
    }
}
