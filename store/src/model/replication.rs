//! Bucket replication's records (decision 0036): remote connections, one rule per bucket, and
//! the queue of keys waiting to be sent.

use serde::{Deserialize, Serialize};

/// A named remote S3 endpoint. The secret key is sealed with a key derived from the master key
/// (`store::replication::seal`) and never shown back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub name: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    /// Hex of nonce ++ XChaCha20-Poly1305 ciphertext of the secret key, bound to the name.
    pub sealed_secret: String,
    /// Unix milliseconds.
    pub created_ms: i64,
}

/// One bucket's replication rule, with its running totals (kept in the transactions that
/// change them, like the bucket's usage).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleRecord {
    pub bucket: String,
    pub connection: String,
    pub target_bucket: String,
    /// Only keys starting with this are sent (empty: all).
    pub prefix: String,
    /// Deletes are sent too.
    pub deletes: bool,
    /// Paused by a user with the `replication` permission: the queue keeps filling.
    pub paused: bool,
    pub created_ms: i64,
    /// Keys waiting in the queue.
    pub queued: u64,
    /// Keys sent (puts and deletes) since the rule was added.
    pub replicated: u64,
    pub replicated_bytes: u64,
    /// Keys whose last send was refused for good (kept in `repl_failed` until written again).
    pub failed: u64,
    /// Backfill of the keys present when the rule was added: the key to enter next
    /// (`Some("")`: from the start), `None` once every key was entered. A share is always
    /// walked (its inode-to-keys index needs every key); its keys are queued only with
    /// `backfill_queues`.
    pub backfill: Option<String>,
    /// The backfill queues the keys it enters (the rule asked for existing objects).
    #[serde(default)]
    pub backfill_queues: bool,
    /// The AWS document's rule `ID` and `Role` (see `RuleSpec::xml_id`).
    #[serde(default)]
    pub xml_id: String,
    #[serde(default)]
    pub xml_role: String,
    /// Removed (or its bucket deleted): inert, its rows being cleared by the worker in
    /// bounded steps; the record goes with the last of them.
    #[serde(default)]
    pub removing: bool,
}

/// What a queued key asks the target to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplOp {
    /// Send the key's current object (or, when it is gone by then, what a delete would).
    Put,
    Delete,
}

/// A queue row: `repl_queue[bucket id ++ seq]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueRow {
    pub key: String,
    pub op: ReplOp,
    /// Unix milliseconds when the change committed (the lag is measured from the oldest).
    pub enqueued_ms: i64,
}

/// A key whose send was refused for good: `repl_failed[bucket id ++ key]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedRow {
    pub error: String,
    pub failed_ms: i64,
}
