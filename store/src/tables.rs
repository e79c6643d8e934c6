//! Every redb table the store uses, in one place. The shapes are created by
//! `gatehouse-migrations`; a changed key or value type here is caught by redb when it opens the
//! table. Gateways never see these: redb types stay inside this crate.

use redb::TableDefinition;

/// `&str → bytes`: schema version (owned by migrations), counters (`next_ino`, `next_bucket_id`).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// bucket name → [`crate::model::BucketRecord`].
pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// bucket id (8 bytes BE) ++ key bytes → inode number. Byte order = S3 listing order.
pub const ENTRIES: TableDefinition<&[u8], u64> = TableDefinition::new("entries");
/// inode number → [`crate::model::ObjectRecord`].
pub const INODES: TableDefinition<u64, &[u8]> = TableDefinition::new("inodes");
/// inode number → encoded [`crate::model::Data`] (inline bytes or chunk manifest).
pub const INODE_DATA: TableDefinition<u64, &[u8]> = TableDefinition::new("inode_data");
/// BLAKE3 hash → (refcount, stored length). A row exists exactly while something refers to it.
pub const CHUNKS: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("chunks");
/// upload id → [`crate::model::UploadRecord`].
pub const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// upload id ++ 0x00 ++ part number (4 bytes BE) → [`crate::model::PartRecord`].
pub const UPLOAD_PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("upload_parts");
/// upload id → [`crate::model::CompletedUploadRecord`]: completions remembered for a day, so a
/// retried CompleteMultipartUpload gets the same answer (swept by the expiry sweeper).
pub const COMPLETED_UPLOADS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("completed_uploads");
/// [`completed_key`] → upload id: [`COMPLETED_UPLOADS`] in completion order, so the sweeper
/// reads only the rows that are due.
pub const COMPLETED_BY_TIME: TableDefinition<&[u8], &str> =
    TableDefinition::new("completed_by_time");
/// access key → [`crate::model::CredentialRef`] (the secret is derived, never stored).
pub const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");
/// user id (16 hex) → [`crate::model::UserRecord`].
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// user name → user id (names are unique labels).
pub const USER_NAMES: TableDefinition<&str, &str> = TableDefinition::new("user_names");
/// custom group name → [`crate::model::GroupRecord`].
pub const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// custom role name → [`crate::model::RoleRecord`].
pub const ROLES: TableDefinition<&str, &[u8]> = TableDefinition::new("roles");
/// [`crate::model::BindingRecord::key`] → [`crate::model::BindingRecord`].
pub const BINDINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("bindings");

/// share name → [`crate::model::ShareRecord`] (a deleted share keeps its bucket record here).
pub const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");
/// client address (canonical IP text) → [`crate::model::PeerRecord`].
pub const PEERS: TableDefinition<&str, &[u8]> = TableDefinition::new("peers");

/// bucket id (8 bytes BE) ++ directory path (`""` root, else `a/b/`) → inode number: the NFS
/// view's directories, explicit or implicit, numbered on first sight (never S3 objects).
pub const DIR_INODES: TableDefinition<&[u8], u64> = TableDefinition::new("dir_inodes");
/// inode number → bucket id (8 bytes BE) ++ directory path: the reverse of [`DIR_INODES`].
pub const DIR_PATHS: TableDefinition<u64, &[u8]> = TableDefinition::new("dir_paths");
/// bucket id (8 bytes BE) ++ directory path → Unix ns when an entry last appeared in or left
/// that directory of a share (see `txn::entry_added`): its NFS mtime/ctime when newer than its
/// marker's, so clients see the listing change.
pub const DIR_TIMES: TableDefinition<&[u8], u64> = TableDefinition::new("dir_times");

/// bucket id (8 bytes BE) ++ directory path → how many subdirectories that directory of a
/// share has (no row: none). Kept by `txn::entry_added`/`entry_removed` as directories appear
/// and vanish; a directory's NFS nlink is 2 + this (find(1) counts on it to skip leaves).
pub const DIR_SUBDIRS: TableDefinition<&[u8], u64> = TableDefinition::new("dir_subdirs");

pub fn entry_key(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// (bucket id, key bytes) of an [`entry_key`]-shaped key (`entries`, `version_heads`).
pub fn split_entry_key(k: &[u8]) -> Option<(u64, &[u8])> {
    let id = u64::from_be_bytes(k.get(..8)?.try_into().ok()?);
    Some((id, &k[8..]))
}

pub fn part_key(upload_id: &str, part: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 5);
    k.extend_from_slice(upload_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&part.to_be_bytes());
    k
}

/// Completion time (Unix ms, 8 bytes BE; before 1970 counts as 0) ++ upload id.
pub fn completed_key(completed_ms: i64, upload_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + upload_id.len());
    k.extend_from_slice(&completed_ms.max(0).to_be_bytes());
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub fn parts_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = upload_id.as_bytes().to_vec();
    k.push(0);
    k
}

/// The smallest byte string greater than every string starting with `prefix`, or `None` when
/// no such string exists (prefix is all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}
/// Object expiry's due-time index (decision 0028): due time in Unix ms (8 bytes BE) ++ bucket id
/// (8 bytes BE) ++ key → nothing. A row is a hint, not a promise: at its time the sweeper looks
/// at the object under the rules then, and expires it, moves the row to the object's later due
/// time, or drops it. Every object a rule applies to has a row at or before its due time.
pub const EXPIRY_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("expiry_due");
/// Multipart uploads by the time an abort-incomplete rule may abort them (decision 0028): due
/// time in Unix ms (8 bytes BE) ++ upload id → nothing; hints, as in [`EXPIRY_DUE`].
pub const ABORT_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("abort_due");
/// Chunks whose last reference went (their row removed), by when: freed time in Unix ms (8
/// bytes BE) ++ hash → nothing. Written in the transaction that removes the row; the chunk GC
/// reads the ones older than its grace and deletes their files unless a row came back.
pub const CHUNK_FREED: TableDefinition<&[u8], ()> = TableDefinition::new("chunk_freed");

/// The hash of a [`CHUNK_FREED`] key.
pub fn freed_hash(key: &[u8]) -> Option<[u8; 32]> {
    key.get(8..40).and_then(|h| h.try_into().ok())
}

/// The freed time (Unix ms) of a [`CHUNK_FREED`] key.
pub fn freed_time(key: &[u8]) -> Option<u64> {
    key.get(..8)
        .and_then(|t| t.try_into().ok())
        .map(u64::from_be_bytes)
}

/// A [`CHUNK_FREED`] key: freed time (Unix ms, BE) ++ hash.
pub fn freed_key(ms: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&ms.to_be_bytes());
    k[8..].copy_from_slice(hash);
    k
}

/// hash → the time (Unix ms) of its row in [`CHUNK_FREED`]: when the chunk was last freed.
/// [`CHUNK_FREED`] is ordered by time, so without this a chunk's row could not be found by its
/// hash; with it, a chunk freed again replaces its earlier row (`txn::decref`), and the GC
/// deletes no chunk whose latest free is younger than the grace, so the grace counts from the
/// latest free (decision 0034's guarantee to metadata snapshots). A row of [`CHUNK_FREED`]
/// with no entry here was written before this table existed. Not created by a migration: the
/// store creates it at open (`txn::mark_open`), so an older build opening the file ignores it.
pub const CHUNK_FREED_AT: TableDefinition<&[u8; 32], u64> = TableDefinition::new("chunk_freed_at");
/// Buckets whose objects are being entered into [`EXPIRY_DUE`] again after their rules changed
/// (a lifecycle configuration, `object_expiry_days`, a share restored): bucket id → the last key
/// entered (empty: none yet). The sweeper works through it in bounded steps.
pub const EXPIRY_REBUILD: TableDefinition<u64, &[u8]> = TableDefinition::new("expiry_rebuild");

/// Replication connections (decision 0036): name → [`crate::model::ConnectionRecord`].
pub const REPL_CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("repl_connections");
/// Replication rules: bucket id → [`crate::model::RuleRecord`] (one rule per bucket).
pub const REPL_RULES: TableDefinition<u64, &[u8]> = TableDefinition::new("repl_rules");
/// The replication queue: bucket id (8 bytes BE) ++ sequence number (8 bytes BE) →
/// [`crate::model::QueueRow`]. One row per key at most ([`REPL_LATEST`] names it): a later
/// change of a key replaces its row, so the queue holds each key once, in the order of its
/// last change.
pub const REPL_QUEUE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repl_queue");
/// bucket id (8 bytes BE) ++ key → the sequence number of the key's row in [`REPL_QUEUE`].
pub const REPL_LATEST: TableDefinition<&[u8], u64> = TableDefinition::new("repl_latest");
/// Keys whose send the target refused for good: bucket id (8 bytes BE) ++ key →
/// [`crate::model::FailedRow`]; a later change of the key queues it again.
pub const REPL_FAILED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repl_failed");

/// bucket id (8 bytes BE) ++ sequence number (8 bytes BE).
pub fn queue_key(bucket_id: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&bucket_id.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The names of every share inode (the reverse of [`ENTRIES`] for share buckets, snapshots and
/// parked shares included): bucket id (8 bytes BE) ++ inode (8 bytes BE) ++ key → nothing.
/// The file view names inodes, not keys: this finds the keys a bucket policy decides on and
/// replication sends (decision 0043). Kept by `ops::names` in the transaction of each change
/// of `entries`; schema 14 built it.
pub const INODE_NAMES: TableDefinition<&[u8], ()> = TableDefinition::new("inode_names");

/// bucket id (8 bytes BE) ++ inode (8 bytes BE) ++ key: an [`INODE_NAMES`] row.
pub fn name_key(bucket_id: u64, ino: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + key.len());
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(&ino.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Noncurrent versions and delete markers of versioned buckets in write order (decisions 0038,
/// 0053): bucket id (8 bytes BE) ++ version sequence number (8 bytes BE) →
/// [`crate::model::VersionLogRow`] (the key, the row, and the sequence number of the key's next
/// older row). Sequence numbers only grow, so a new noncurrent row goes to the table's last
/// leaf, shared by the writes of one commit whatever their keys; a key's rows form a chain,
/// newest first, from its [`VERSION_HEADS`] row.
pub const VERSION_LOG: TableDefinition<&[u8], &[u8]> = TableDefinition::new("version_log");

/// The newest noncurrent row of every key that has one (decision 0053): bucket id (8 bytes BE)
/// ++ key → its sequence number in [`VERSION_LOG`]. Keyed as [`ENTRIES`] is, so
/// ListObjectVersions merges the two by key, and the writes of one commit to neighbouring keys
/// share its leaves.
pub const VERSION_HEADS: TableDefinition<&[u8], u64> = TableDefinition::new("version_heads");

/// The [`VERSION_LOG`] key of version `seq` of bucket `bucket_id`.
pub fn log_key(bucket_id: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&bucket_id.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// (bucket id, seq) of a [`VERSION_LOG`] key.
pub fn split_log_key(k: &[u8]) -> Option<(u64, u64)> {
    let id = u64::from_be_bytes(k.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(k.get(8..16)?.try_into().ok()?);
    (k.len() == 16).then_some((id, seq))
}

/// Keys of versioned buckets that may have a noncurrent version or a lone delete marker due
/// for a lifecycle rule (decision 0038): due time in Unix ms (8 bytes BE) ++ bucket id (8 bytes
/// BE) ++ key → nothing. Hints, as in [`EXPIRY_DUE`]: at its time the sweeper looks at the
/// key's versions under the rules then.
pub const NONCURRENT_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("noncurrent_due");

/// Versions the file view kept of a file in a versioned share (decision 0038): bucket id (8
/// bytes BE) ++ inode (8 bytes BE) ++ (u64::MAX − seq) (8 bytes BE) →
/// [`crate::model::VersionRow`]. An NFS write names an inode, not a key, so what it replaces
/// is kept with the inode; they are versions of whichever key names it, and move to
/// [`VERSION_LOG`] under that key when the name is replaced or removed.
pub const INODE_VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inode_versions");

/// The first 16 bytes of every [`INODE_VERSIONS`] key of inode `ino`.
pub fn inode_version_prefix(bucket_id: u64, ino: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&bucket_id.to_be_bytes());
    k[8..].copy_from_slice(&ino.to_be_bytes());
    k
}

/// Access settings of a bucket beyond RBAC bindings (issue 22): bucket name →
/// [`crate::model::BucketAccessRecord`] (its policy, public access block, CORS rules). Kept
/// apart from the bucket record, which every write reads, so a 20 KB policy costs nothing
/// there; loaded whole into the policy snapshot that `rbac::authorize` reads.
pub const BUCKET_ACCESS: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_access");

/// The key service's keys (decision 0046): key number → [`crate::kms::KeyRecord`] (its id,
/// alias, state, the salts of its material versions). Few rows; loaded whole at start into
/// the key ring.
pub const KMS_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("kms_keys");

/// The key service's audit log: sequence → [`crate::kms::AuditEvent`], oldest first; trimmed
/// to the newest [`crate::kms::AUDIT_KEEP`].
pub const KMS_AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("kms_audit");
