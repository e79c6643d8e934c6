//! Schema 5: change times of the NFS view's directories. A directory's listing changes when an
//! entry is added to it or removed from it (by either protocol); NFS clients notice such a
//! change only through the directory's mtime/ctime, so it is recorded here, in nanoseconds.
//! Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

/// bucket id (8 bytes BE) ++ directory path (`""` for the root, else `a/b/`) → Unix ns.
const DIR_TIMES: TableDefinition<&[u8], u64> = TableDefinition::new("dir_times");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(DIR_TIMES)?;
    Ok(())
}
