//! Ordered, idempotent schema steps over the gatehouse redb file.
//!
//! # Layout
//! - `lib.rs`: the runner. It reads the schema version from the `meta` table, applies every step
//!   newer than it in order, each in its own write transaction together with the version bump, and
//!   refuses a file written by a newer gatehouse.
//! - `m0001_initial`: creates the tables of schema 1.
//! - `m0002_identity`: users, names, groups, roles, bindings; credentials become derived.
//! - `m0003_shares`: file shares and NFS peers.
//! - `m0004_nfs`: directory inode numbers for the NFS view.
//! - `m0005_dir_times`: change times of the NFS view's directories.
//! - `m0006_completed_uploads`: completed multipart uploads, kept a day for retried completions.
//! - `m0007_dir_subdirs`: subdirectory counts of share directories (their NFS nlink).
//! - `m0008_running_totals`: running totals (bytes held, for `s3.max_size`; chunk rows and bytes, for metrics).
//! - `m0009_due_indexes`: due-time indexes (object expiry, upload aborts, freed chunks for GC); every live bucket marked to be entered.
//! - `m0010_live_objects`: the running total of objects in live buckets, for metrics.
//! - `m0011_replication`: bucket replication's connections, rules and queue.
//! - `m0012_versions`: noncurrent object versions and delete markers.
//! - `m0013_bucket_access`: bucket policies, public access blocks and CORS rules.
//! - `m0014_inode_names`: the names of every share inode (was `repl_names`, replicated shares
//!   only).
//! - `m0015_kms`: the key service's keys and its audit log.
//! - `m0016_version_log`: noncurrent versions in write order, each key's chained from its head.
//!
//! Invariant: this crate depends on redb (and serde/rmp-serde, to read the records a step
//! needs) only. A step uses frozen copies of the table definitions and value types it needs,
//! never the live ones in `gatehouse-store`, so old steps keep meaning what they meant when they
//! were written.

mod m0001_initial;
mod m0002_identity;
mod m0003_shares;
mod m0004_nfs;
mod m0005_dir_times;
mod m0006_completed_uploads;
mod m0007_dir_subdirs;
mod m0008_running_totals;
mod m0009_due_indexes;
mod m0010_live_objects;
mod m0011_replication;
mod m0012_versions;
mod m0013_bucket_access;
mod m0014_inode_names;
mod m0015_kms;
mod m0016_version_log;

use redb::{Database, ReadableDatabase, TableDefinition};

/// The schema version this build writes and understands.
pub const CURRENT_VERSION: u64 = 16;

/// The `meta` table: string keys, raw byte values. Frozen: every schema has it.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Key in `meta` holding the schema version as a little-endian u64.
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database was written by a newer gatehouse (schema version {found}, this build understands up to {supported}); upgrade gatehouse or restore a backup"
    )]
    NewerSchema { found: u64, supported: u64 },
    #[error("the schema version record is corrupt")]
    CorruptVersion,
    #[error("database error during migration: {0}")]
    Db(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for MigrationError {
            fn from(e: $t) -> Self { MigrationError::Db(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What `migrate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub from: u64,
    pub to: u64,
}

type Step = fn(&redb::WriteTransaction) -> Result<(), MigrationError>;

/// Every step, in order: index i migrates schema i to i + 1.
const STEPS: &[Step] = &[
    m0001_initial::apply,
    m0002_identity::apply,
    m0003_shares::apply,
    m0004_nfs::apply,
    m0005_dir_times::apply,
    m0006_completed_uploads::apply,
    m0007_dir_subdirs::apply,
    m0008_running_totals::apply,
    m0009_due_indexes::apply,
    m0010_live_objects::apply,
    m0011_replication::apply,
    m0012_versions::apply,
    m0013_bucket_access::apply,
    m0014_inode_names::apply,
    m0015_kms::apply,
    m0016_version_log::apply,
];

/// Reads the stored schema version; 0 means a new, empty file.
pub fn schema_version(db: &Database) -> Result<u64, MigrationError> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    match table.get(SCHEMA_VERSION_KEY)? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| MigrationError::CorruptVersion)?;
            Ok(u64::from_le_bytes(bytes))
        }
    }
}

/// Brings the database to [`CURRENT_VERSION`]. Each step and its version bump commit together,
/// so a crash between steps leaves a file at a well-defined older version that the next start
/// continues from.
pub fn migrate(db: &Database) -> Result<Outcome, MigrationError> {
    let from = schema_version(db)?;
    if from > CURRENT_VERSION {
        return Err(MigrationError::NewerSchema {
            found: from,
            supported: CURRENT_VERSION,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(from as usize) {
        let txn = db.begin_write()?;
        step(&txn)?;
        {
            let mut meta = txn.open_table(META)?;
            let next = i as u64 + 1;
            meta.insert(SCHEMA_VERSION_KEY, next.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
    }
    Ok(Outcome {
        from,
        to: CURRENT_VERSION,
    })
}

/// Writes a schema version directly. Tests use it to fabricate files from the future.
pub fn force_schema_version(db: &Database, version: u64) -> Result<(), MigrationError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(SCHEMA_VERSION_KEY, version.to_le_bytes().as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_file_is_migrated_and_rerun_is_a_noop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("m.redb")).expect("create");
        assert_eq!(
            migrate(&db).expect("migrate"),
            Outcome {
                from: 0,
                to: CURRENT_VERSION
            }
        );
        assert_eq!(
            migrate(&db).expect("again"),
            Outcome {
                from: CURRENT_VERSION,
                to: CURRENT_VERSION
            }
        );
        assert_eq!(schema_version(&db).expect("version"), CURRENT_VERSION);
    }

    #[test]
    fn newer_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("m.redb")).expect("create");
        force_schema_version(&db, CURRENT_VERSION + 1).expect("force");
        let err = migrate(&db).expect_err("must refuse");
        assert!(err.to_string().contains("newer gatehouse"), "{err}");
    }
}
