//! Schema 12: `versions` (bucket id BE ++ key ++ 0x00 ++ (u64::MAX − seq) BE → version row),
//! the noncurrent versions and delete markers of versioned buckets, and `noncurrent_due` (due
//! ms BE ++ bucket id BE ++ key → nothing), their lifecycle due-time index, and
//! `inode_versions` (bucket id BE ++ inode BE ++ (u64::MAX − seq) BE → version row), versions
//! the file view kept of an inode (decision 0038).
//! Both start empty: no bucket is versioned until PutBucketVersioning. Frozen: later schemas add steps,
//! never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("versions");
const NONCURRENT_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("noncurrent_due");
const INODE_VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inode_versions");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(VERSIONS)?;
    txn.open_table(NONCURRENT_DUE)?;
    txn.open_table(INODE_VERSIONS)?;
    Ok(())
}
