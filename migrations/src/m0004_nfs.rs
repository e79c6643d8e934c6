//! Schema 4: inode numbers of directories as NFS sees them. A directory of an `fs+` bucket is
//! either explicit (marker key `a/b/`) or implicit (some key starts with `a/b/`); either way it
//! gets an inode number the first time NFS looks at it, recorded here so it stays the same
//! across restarts, while S3 listings (which read `entries` only) never see it.
//! Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

/// bucket id (8 bytes BE) ++ directory path (`""` for the root, else `a/b/`) → inode number.
const DIR_INODES: TableDefinition<&[u8], u64> = TableDefinition::new("dir_inodes");
/// inode number → bucket id (8 bytes BE) ++ directory path.
const DIR_PATHS: TableDefinition<u64, &[u8]> = TableDefinition::new("dir_paths");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(DIR_INODES)?;
    txn.open_table(DIR_PATHS)?;
    Ok(())
}
