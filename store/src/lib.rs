//! gatehouse-store: the shared core that every gateway goes through.
//!
//! # Layout
//! - [`tables`], [`codec`]: every redb table and the versioned value encoding.
//! - [`blobs`]: the content-addressed chunk files (BLAKE3), crash-safe writes, GC.
//! - [`stage`]: body stream → chunks/inline data + MD5/SHA-256/flexible checksum, one pass.
//! - [`commit`]: the group-commit writer thread (one redb write transaction per batch).
//! - [`model`]: plain records; [`naming`]: bucket and key rules; [`checksum`]: S3 checksums.
//! - [`identity`]: Ed25519 user keys, user ids, the master key, derived S3 credentials.
//! - [`rbac`]: roles, the policy snapshot, and the pure `authorize()`; [`ops`]: the only public
//!   way to read or write, each function taking a [`Principal`] and asking `rbac` first.
//!
//! Invariants: no HTTP or NFS here; redb types do not leave this crate; a blob is durable before
//! the metadata naming it commits; refcounts and usage counters change in the same transaction
//! as the metadata that references them.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acls;
mod atime;
pub mod backup;
pub mod blobs;
pub mod bucket_access;
pub mod checksum;
mod codec;
mod commit;
pub mod error;
pub mod fsck;
pub mod identity;
pub mod kms;
pub mod locks;
pub mod master_wrap;
mod md5_lanes;
pub mod metrics;
pub mod model;
pub mod naming;
pub mod ops;
pub mod private;
pub mod rate_limit;
pub mod rates;
pub mod rbac;
mod readahead;
pub mod replication;
pub mod snapshots;
pub mod sse;
pub mod stage;
mod tables;
pub mod versioning;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::{Database, ReadableDatabase};

pub use blobs::GcStats;
pub use checksum::{ChecksumAlgorithm, ChecksumType};
pub use error::{BucketSetting, Result, StoreError};
pub use model::Principal;
pub use stage::{StageError, StageOptions, Staged};

/// Tunables of the store (validated config from the binary).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Fixed chunk size (default 1 MiB).
    pub chunk_size: usize,
    /// Objects up to this size live inline in redb (default 64 KiB).
    pub inline_max: usize,
    /// Unreferenced chunks younger than this are kept (in-flight safety margin).
    pub gc_grace: Duration,
    /// Largest single PUT / part (S3: 5 GiB).
    pub max_object_size: u64,
    /// redb page cache. redb's own default is 1 GiB, which would dominate the server's memory;
    /// the hot metadata of a single node fits in far less, and the OS page cache backs the rest.
    pub db_cache_bytes: usize,
    /// Memory for whole chunks on their way to disk (`storage.write_buffer`; at least two
    /// chunks are allowed whatever it says).
    pub write_buffer: usize,
    /// Memory for whole chunks read for S3 GETs (`storage.read_buffer`).
    pub read_buffer: usize,
    /// Chunk bytes written lately left in the OS page cache (`storage.cached_writes`, resolved;
    /// `None`: all, the kernel decides). Local chunk files only.
    pub cached_writes: Option<u64>,
    /// Where chunks live (`storage.backend`); `None`: files under `<data_dir>/blobs/`.
    pub backend: Option<blobs::ChunkBackend>,
    /// No chunk is deleted sooner than this after it was freed, whatever a caller asks, and
    /// a walk leaves chunks freed recently to the freed-chunk rounds: metadata snapshots
    /// shipped to the backend name them (decision 0034). Zero when none are shipped.
    pub min_gc_grace: Duration,
    /// Shared secret a self-service join must present; `None` disables joining.
    pub enrolment_token: Option<String>,
    /// Total logical bytes the server may hold (`s3.max_size`); 0 = unlimited.
    pub max_size: u64,
    /// Objects older than this are deleted by the sweeper (`object_expiry_days`); zero = never.
    pub object_expiry: Duration,
    /// A new share expires this long after creation unless it names its own expiry.
    pub share_expiry: Duration,
    /// A deleted (or expired) share's data is kept this long, then purged.
    pub tombstone_retention: Duration,
    /// `nfs.async`: file-view metadata changes (create, mkdir, symlink, remove, rmdir, rename,
    /// setattr) are answered once committed and visible, and made durable within this window
    /// rather than before the answer. `None` (the default): durable before the answer, as RFC
    /// 1813 asks. Data written through the file view is durable per WRITE/COMMIT either way.
    pub fs_async: Option<Duration>,
    /// `storage.fsync`: what is on disk when a write is answered.
    pub fsync: Fsync,
    /// `storage.quick_repair`: every commit records redb's allocator state, so opening after a
    /// crash takes milliseconds however large the database (off: the open after a crash walks
    /// the whole file; commits are cheaper). Default on (decision 0030).
    pub quick_repair: bool,
    /// The operator's secret wrapping `master.key` (decision 0045), if given.
    pub master_secret: Option<master_wrap::OperatorSecret>,
    /// `kms.min_pending_days`: the shortest waiting period a key's scheduled deletion may
    /// have (default 7, AWS KMS's; test setups lower it).
    pub kms_min_pending_days: u32,
    /// The server's region (`s3.region`): named in the ARNs of its key service's keys.
    pub region: String,
}

/// `storage.fsync` (as Garage's `data_fsync`/`metadata_fsync`): what a write has made durable
/// when it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Chunk files and the metadata commit are fsynced before the answer (the default): an
    /// answered write survives a crash or power loss.
    #[default]
    Always,
    /// The metadata commit is fsynced before the answer; chunk files are left to the OS. After
    /// a power loss (not a process crash) an answered object may read back as an error (its
    /// chunk fails verification or is missing; fsck names it).
    Metadata,
    /// Neither: commits are answered when visible and made durable within
    /// [`commit::RELAXED_WINDOW`] by the commit thread; chunk files are left to the OS. A
    /// crash, `kill -9` included, loses the writes of about the last second; the database stays
    /// consistent (it reopens at its last durable commit).
    Never,
}

impl Fsync {
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Metadata => "metadata",
            Fsync::Never => "never",
        }
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "metadata" => Ok(Fsync::Metadata),
            "never" => Ok(Fsync::Never),
            _ => Err(format!(
                "storage.fsync must be always, metadata or never, not {s:?}"
            )),
        }
    }
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            chunk_size: 1 << 20,
            inline_max: 64 << 10,
            gc_grace: Duration::from_secs(15 * 60),
            max_object_size: 5 << 30,
            db_cache_bytes: 32 << 20,
            write_buffer: blobs::DEFAULT_WRITE_BUFFER,
            backend: None,
            min_gc_grace: Duration::ZERO,
            read_buffer: blobs::DEFAULT_READ_BUFFER,
            cached_writes: None,
            enrolment_token: None,
            max_size: 0,
            object_expiry: Duration::from_secs(9125 * 86_400),
            share_expiry: Duration::from_secs(365 * 86_400),
            tombstone_retention: Duration::from_secs(90 * 86_400),
            fs_async: None,
            fsync: Fsync::Always,
            quick_repair: true,
            master_secret: None,
            kms_min_pending_days: kms::MIN_PENDING_DAYS,
            region: "us-east-1".into(),
        }
    }
}

/// The store's state for `GET /api/health`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreHealth {
    pub schema_version: Option<u64>,
    pub database_error: Option<String>,
    pub blobs_writable: bool,
}

impl StoreHealth {
    pub fn ok(&self) -> bool {
        self.database_error.is_none() && self.blobs_writable
    }
}

/// What `Store::open` found.
#[derive(Debug, Clone, Copy)]
pub struct OpenReport {
    pub created: bool,
    pub migrated_from: u64,
    pub schema_version: u64,
    /// The previous run did not stop cleanly: chunk files written for changes that never
    /// committed may be left, which only a full GC walk ([`Store::gc`]) finds.
    pub unclean: bool,
}

/// A cheap-to-clone handle on the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    blobs: Arc<blobs::BlobStore>,
    committer: commit::Committer,
    cfg: StoreConfig,
    /// `<data_dir>/master.key`: keys the S3 secrets and the service users' keypairs.
    master: Arc<identity::MasterKey>,
    /// Encryption keys at rest, derived from the master key (decision 0044).
    keyring: Arc<sse::Keyring>,
    /// The key service's keys and its audit log's pending uses (decision 0046).
    kms: kms::KeyService,
    policy: RwLock<Arc<rbac::Policy>>,
    /// Held while the policy snapshot is read and swapped (`Store::reload_policy`), so a reload
    /// that began reading before a change committed never swaps in after the change's own.
    policy_reload: std::sync::Mutex<()>,
    /// Changes of who may do what committed so far, counted by the commit thread right after
    /// each commit (`Store::policy_changed`), and how many of them the snapshot in `policy` was
    /// read after: a snapshot behind is read again before it is handed out, so a change whose
    /// request was dropped before its own reload is still in force from the next request on.
    policy_changes: Arc<std::sync::atomic::AtomicU64>,
    policy_seen: std::sync::atomic::AtomicU64,
    /// After a reload that failed (a row that no longer decodes), none is tried again before
    /// this moment: requests are not each made to read every binding.
    policy_retry_at: std::sync::Mutex<Option<std::time::Instant>>,
    admin_peers: RwLock<rbac::policy::AdminPeers>,
    /// Rate limits (issue 22).
    rates: RwLock<rates::Rates>,
    /// `s3.block_public_access` (decision 0041).
    block_all_public: std::sync::atomic::AtomicBool,
    nonces: ops::Nonces,
    metrics: metrics::Metrics,
    /// One lock per inode being patched through the file view (see `ops::fs_write`).
    file_locks: ops::FileLocks,
    /// Chunks read ahead for the file view's sequential readers.
    readahead: readahead::ReadAhead,
    /// Decoded manifests of the files the file view reads.
    manifests: readahead::Manifests,
    /// Sealed chunks opened lately (their plaintext), for readers coming back for more.
    opened: Arc<readahead::Opened>,
    /// Principals of NFS peer addresses (see `ops::peers`).
    peer_principals: Arc<ops::PeerPrincipals>,
    /// Secrets and principals of access keys (see `ops::credential_cache`).
    credentials: ops::CredentialCache,
    /// A background GC after a full disk is running (see `ops::gc`).
    gc_trigger: ops::GcTrigger,
    /// Access times noted by READs, written in batches (see `atime`).
    atimes: Arc<atime::Atimes>,
    /// What the replication worker is doing now (see `replication`).
    replication_live: replication::Live,
}

impl Store {
    /// Opens or creates `<data_dir>/meta.redb` and `<data_dir>/blobs/`, migrating the schema.
    pub fn open(cfg: StoreConfig) -> Result<(Store, OpenReport)> {
        private::create_dir_all(&cfg.data_dir)?;
        private::warn_if_shared(&cfg.data_dir, "700");
        let db_path = cfg.data_dir.join("meta.redb");
        let created = !db_path.exists();
        if created {
            // Made private before redb initialises it (redb takes an empty file as new).
            private::file_options().create_new(true).open(&db_path)?;
        } else {
            private::warn_if_shared(&db_path, "600");
        }
        let db = Database::builder()
            .set_cache_size(cfg.db_cache_bytes)
            .create(&db_path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Internal(format!(
                    "{} is already open in another gatehouse process",
                    db_path.display()
                )),
                other => StoreError::Corrupt(format!(
                    "{} cannot be opened ({other}). It was left as it is: restore the data \
                     directory from a backup (gatehouse restore --from BACKUP --data-dir NEW), \
                     or if the disk was full or read-only, fix that and start again",
                    db_path.display()
                )),
            })?;
        let outcome =
            gatehouse_migrations::migrate(&db).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut blobs = match &cfg.backend {
            None => {
                blobs::check_location(&db, blobs::LOCAL)?;
                let cached = cfg.cached_writes;
                blobs::BlobStore::with_backend(&cfg.data_dir.join("blobs"), |root| {
                    Ok(Arc::new(
                        blobs::local::LocalDir::new(root).with_cached_writes(cached),
                    ))
                })?
            }
            Some(b) => {
                blobs::check_location(&db, &b.location)?;
                let store = b.store.clone();
                blobs::BlobStore::with_backend(&cfg.data_dir.join("blobs"), |_| Ok(store))?
            }
        };
        blobs.sync_data = cfg.fsync == Fsync::Always;
        blobs.write_budget = Arc::new(tokio::sync::Semaphore::new(
            cfg.write_buffer.max(2 * cfg.chunk_size) >> 10,
        ));
        blobs.read_budget = Arc::new(tokio::sync::Semaphore::new(cfg.read_buffer >> 10));
        let blobs = Arc::new(blobs);
        let master = identity::MasterKey::load_or_create_with(
            &cfg.data_dir.join("master.key"),
            cfg.master_secret.as_ref(),
        )
        .map_err(|e| StoreError::Internal(format!("master key: {e}")))?;
        let db = Arc::new(db);
        let unclean = ops::txn::mark_open(&db)?;
        let expiry_days = u32::try_from(cfg.object_expiry.as_secs() / 86_400).unwrap_or(u32::MAX);
        ops::expiry_index::configure(&db, expiry_days)?;
        if unclean {
            tracing::warn!(
                "the previous run did not stop cleanly (or this is a backup of a running server); \
                 inode numbers it may have handed out \
                 uncommitted are skipped"
            );
        }
        let committer = commit::Committer::start(
            db.clone(),
            cfg.fs_async.unwrap_or(Duration::ZERO),
            cfg.fsync == Fsync::Never,
            cfg.quick_repair,
        );
        let store = Store {
            inner: Arc::new(Inner {
                db,
                blobs,
                committer,
                cfg,
                keyring: Arc::new(sse::Keyring::new(master.derive_key("sse-root"))),
                master: Arc::new(master),
                kms: Default::default(),
                policy: RwLock::new(Arc::new(rbac::Policy::default())),
                policy_reload: Default::default(),
                policy_changes: Default::default(),
                policy_seen: Default::default(),
                policy_retry_at: Default::default(),
                admin_peers: RwLock::new(rbac::policy::AdminPeers::default()),
                block_all_public: Default::default(),
                rates: Default::default(),
                nonces: ops::Nonces::default(),
                metrics: metrics::Metrics::default(),
                file_locks: ops::FileLocks::default(),
                readahead: readahead::ReadAhead::default(),
                manifests: readahead::Manifests::default(),
                opened: Default::default(),
                peer_principals: Default::default(),
                credentials: Default::default(),
                gc_trigger: Default::default(),
                atimes: Default::default(),
                replication_live: Default::default(),
            }),
        };
        // A full disk met by the metadata commit frees garbage like one met while staging.
        // Weak: the committer lives in `Inner` and must not keep it alive.
        let weak = Arc::downgrade(&store.inner);
        store.inner.committer.on_no_space(move || {
            if let Some(inner) = weak.upgrade() {
                Store { inner }.gc_soon();
            }
        });
        store.reload_policy()?;
        store.reload_kms()?;
        Ok((
            store,
            OpenReport {
                created,
                migrated_from: outcome.from,
                schema_version: outcome.to,
                unclean,
            },
        ))
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.cfg.data_dir
    }

    /// A 32-byte key for one named purpose, derived from the master key (HKDF-SHA256), e.g.
    /// `derive_key("nfs-handle")` signs NFS file handles. Stable for the life of the data
    /// directory; different purposes get independent keys.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.inner.master.derive_key(purpose)
    }

    /// The database, for a read transaction: what was answered before is committed first
    /// (see [`commit::Committer::settle`]). Every read of the store goes through here.
    fn db(&self) -> &Database {
        self.inner.committer.settle();
        &self.inner.db
    }

    /// The database, for a reader that deletes chunk files no row refers to: what freed
    /// chunks is durable first (see [`commit::Committer::settle_durable`]). An error when it
    /// cannot be made so: such a reader must then delete nothing.
    fn db_durable(&self) -> Result<&Database> {
        self.inner.committer.settle_durable()?;
        Ok(&self.inner.db)
    }

    /// Deletes the files of chunks freed (their last reference gone) more than the GC grace ago,
    /// unless a row came back for them meanwhile: the work is what was freed, read from
    /// `chunk_freed`, not every chunk file. Failed writes remove what they created themselves;
    /// after a crash, [`Store::gc`] walks the files once.
    ///
    /// The grace counts from a chunk's latest free (`chunk_freed_at`, read under the pin lock
    /// with the chunk's row): one freed, used again and freed again lately stays. A chunk kept
    /// because it is pinned keeps its row, so a later round deletes it once its holder is done.
    /// A round refuses to start (an error, logged by the caller) while a commit that freed
    /// chunks cannot be made durable.
    pub async fn gc_freed(&self) -> Result<GcStats> {
        const BATCH: usize = 4096;
        let grace = i64::try_from(self.inner.cfg.gc_grace.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(grace).max(0) as u64;
        let end = before.saturating_add(1).to_be_bytes();
        let mut total = GcStats::default();
        // Rows kept for a later round stay in the table: each batch starts after the last row
        // of the one before, not at the start again.
        let mut after: Option<Vec<u8>> = None;
        loop {
            let this = self.clone();
            let from = after.take();
            let (stats, done, last) = tokio::task::spawn_blocking(move || -> Result<_> {
                use std::ops::Bound;
                let rows: Vec<Vec<u8>> = {
                    let txn = this.db_durable()?.begin_read()?;
                    let t = txn.open_table(tables::CHUNK_FREED)?;
                    let start = from.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                    t.range::<&[u8]>((start, Bound::Excluded(end.as_slice())))?
                        .take(BATCH)
                        .map(|e| e.map(|(k, _)| k.value().to_vec()))
                        .collect::<std::result::Result<_, _>>()?
                };
                let hashes: Vec<blobs::Hash> =
                    rows.iter().filter_map(|r| tables::freed_hash(r)).collect();
                let (stats, pinned) = this.inner.blobs.delete_unreferenced(&hashes, &|h| {
                    chunk_in_use(this.db_durable()?, h, before)
                })?;
                let last = (rows.len() == BATCH)
                    .then(|| rows.last().cloned())
                    .flatten();
                let pinned: std::collections::HashSet<blobs::Hash> = pinned.into_iter().collect();
                let done: Vec<Vec<u8>> = rows
                    .into_iter()
                    .filter(|r| tables::freed_hash(r).is_none_or(|h| !pinned.contains(&h)))
                    .collect();
                Ok((stats, done, last))
            })
            .await
            .map_err(StoreError::internal)??;
            if !done.is_empty() {
                self.inner
                    .committer
                    .write(move |t| forget_freed(t, &done))
                    .await?;
            }
            total.scanned += stats.scanned;
            total.deleted += stats.deleted;
            total.deleted_bytes += stats.deleted_bytes;
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.inner.metrics;
        m.gc_runs.fetch_add(1, Relaxed);
        m.gc_deleted_chunks.fetch_add(total.deleted, Relaxed);
        m.gc_deleted_bytes.fetch_add(total.deleted_bytes, Relaxed);
        Ok(total)
    }

    /// Walks every chunk file and deletes the unreferenced ones older than `grace` (config
    /// default when `None`): `gatehouse gc`, after a full disk, and once after an unclean stop.
    pub async fn gc(&self, grace: Option<Duration>) -> Result<GcStats> {
        let this = self.clone();
        let min = self.inner.cfg.min_gc_grace;
        let grace = grace.unwrap_or(self.inner.cfg.gc_grace).max(min);
        let stats = tokio::task::spawn_blocking(move || {
            // With snapshots shipped, a chunk freed lately may be named by the newest one:
            // the walk leaves every chunk still waiting in `chunk_freed` to `gc_freed`, which
            // deletes by the time it was freed, not stored.
            let waiting: std::collections::HashSet<blobs::Hash> = if min.is_zero() {
                Default::default()
            } else {
                use redb::ReadableTable as _;
                let txn = this.db_durable()?.begin_read()?;
                let t = txn.open_table(tables::CHUNK_FREED)?;
                let mut set = std::collections::HashSet::new();
                for e in t.iter()? {
                    let (k, _) = e?;
                    if let Some(h) = tables::freed_hash(k.value()) {
                        set.insert(h);
                    }
                }
                set
            };
            // Nothing is deleted while what freed chunks cannot be made durable.
            this.db_durable()?;
            this.inner.blobs.gc(grace, &|h| {
                Ok(waiting.contains(h) || chunk_referenced(this.db_durable()?, h)?)
            })
        })
        .await
        .map_err(StoreError::internal)??;
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.inner.metrics;
        m.gc_runs.fetch_add(1, Relaxed);
        m.gc_deleted_chunks.fetch_add(stats.deleted, Relaxed);
        m.gc_deleted_bytes.fetch_add(stats.deleted_bytes, Relaxed);
        Ok(stats)
    }

    /// What a health probe reports: the database answers a read and has not refused a write
    /// since it was opened, the chunk directory takes a write.
    pub fn health(&self) -> StoreHealth {
        let database = gatehouse_migrations::schema_version(self.db()).map_err(|e| e.to_string());
        let refused = self
            .inner
            .committer
            .database_failed()
            .then(|| error::DATABASE_FAILED.to_string());
        StoreHealth {
            schema_version: database.as_ref().ok().copied(),
            database_error: database.err().or(refused),
            blobs_writable: self.inner.blobs.probe_writable(),
        }
    }

    /// The process's request counters and store counters.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Gauges for a metrics scrape: the chunk totals kept in META (two rows, however many
    /// chunks) and one pass over the bucket records (their number, not the objects').
    pub fn storage_gauges(&self) -> Result<metrics::StorageGauges> {
        use redb::ReadableTableMetadata;
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(tables::META)?;
        // Running totals and a table length: a few rows, however many objects and buckets.
        Ok(metrics::StorageGauges {
            limit_bytes: self.inner.cfg.max_size,
            chunks: ops::txn::read_counter(&meta, ops::txn::CHUNK_ROWS)?,
            chunk_bytes: ops::txn::read_counter(&meta, ops::txn::CHUNK_BYTES)?,
            objects: ops::txn::read_counter(&meta, ops::txn::LIVE_OBJECTS)?,
            used_bytes: ops::txn::read_counter(&meta, ops::txn::USAGE_TOTAL)?,
            buckets: txn.open_table(tables::BUCKETS)?.len()?,
        })
    }

    /// How many handles of this store exist (this one included). Shutdown waits for it to reach
    /// one before [`Store::close`]: a finished connection task may still be dropping its handle.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// Stops the commit thread after the queued writes are durable, and records a clean stop.
    /// Call last at shutdown, when this is the only handle left ([`Store::handles`]); with
    /// others still held it does nothing (the database closes when the last one drops).
    pub fn close(self) {
        if let Ok(mut inner) = Arc::try_unwrap(self.inner) {
            let stopped = inner.committer.stop();
            // Uses of keys noted since the last batch (see `kms::audit`), in a last transaction.
            if !inner.kms.audit.is_empty() {
                let written = commit::begin_write(&inner.db, inner.cfg.quick_repair)
                    .map_err(StoreError::from)
                    .and_then(|t| {
                        let (rows, lost) = inner.kms.audit.take();
                        let n = rows.iter().map(|r| r.count).sum::<u64>() + lost;
                        kms::audit::write(&t, &rows, lost)?;
                        t.commit().map_err(|e| {
                            StoreError::Internal(format!("{e} ({n} uses not recorded)"))
                        })
                    });
                if let Err(e) = written {
                    tracing::warn!(error = %e, "writing the key service's audit log at stop failed");
                }
            }
            // Access times noted since the last batch (see `atime`), in a last transaction.
            if !inner.atimes.is_empty() {
                let written = commit::begin_write(&inner.db, inner.cfg.quick_repair)
                    .map_err(StoreError::from)
                    .and_then(|t| {
                        inner.atimes.write(&t)?;
                        t.commit().map_err(StoreError::from)
                    });
                if let Err(e) = written {
                    tracing::warn!(error = %e, "writing access times at stop failed");
                }
            }
            if !stopped {
                // The next start treats this stop as unclean (and skips inode numbers).
                tracing::warn!("some answered changes were not made durable at stop");
            } else if let Err(e) = ops::txn::mark_closed(&inner.db) {
                tracing::warn!(error = %e, "recording a clean stop failed");
            }
        }
    }
}

/// Does a committed row refer to this chunk? (A fresh read transaction: callers hold the pin
/// lock, so a writer that committed after this snapshot still has its pin.)
pub(crate) fn chunk_referenced(db: &Database, h: &blobs::Hash) -> Result<bool> {
    let txn = db.begin_read()?;
    let t = txn.open_table(tables::CHUNKS)?;
    Ok(t.get(h)?.is_some())
}

/// Whether the freed-chunk GC must keep chunk `h`, one of those freed by `freed_by` (Unix ms):
/// a committed row refers to it, or it was freed again after that, so its grace has not run
/// out (one read transaction, begun under the pin lock as [`chunk_referenced`]'s).
fn chunk_in_use(db: &Database, h: &blobs::Hash, freed_by: u64) -> Result<bool> {
    let txn = db.begin_read()?;
    if txn.open_table(tables::CHUNKS)?.get(h)?.is_some() {
        return Ok(true);
    }
    let latest = txn.open_table(tables::CHUNK_FREED_AT)?.get(h)?;
    Ok(latest.is_some_and(|t| t.value() > freed_by))
}

/// Drops rows of `chunk_freed` the GC is done with, and a chunk's `chunk_freed_at` entry with
/// its row (not when it names a later row: the chunk was freed again since).
fn forget_freed(t: &redb::WriteTransaction, rows: &[Vec<u8>]) -> Result<()> {
    use redb::ReadableTable as _;
    let mut freed = t.open_table(tables::CHUNK_FREED)?;
    let mut at = t.open_table(tables::CHUNK_FREED_AT)?;
    for r in rows {
        freed.remove(r.as_slice())?;
        if let (Some(h), Some(ms)) = (tables::freed_hash(r), tables::freed_time(r))
            && at.get(&h)?.is_some_and(|v| v.value() == ms)
        {
            at.remove(&h)?;
        }
    }
    Ok(())
}

/// The wall clock in Unix milliseconds, as the store records times.
pub fn now_unix_ms() -> i64 {
    now_ms()
}

/// The wall clock in Unix nanoseconds, as the file view keeps times (decision 0023).
pub fn now_unix_ns() -> i64 {
    i64::try_from(ops::txn::now_ns()).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Turns a denial into the error every gateway maps, with one audit line (who, what, why:
/// the reason names the principal, the verb, the resource and what was missing).
pub(crate) fn deny(d: rbac::Decision) -> Result<()> {
    if d.allowed {
        Ok(())
    } else {
        tracing::warn!(target: "audit", reason = %d.reason, "denied");
        Err(StoreError::AccessDenied(d.reason))
    }
}
