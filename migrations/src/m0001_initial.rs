//! Schema 1: the tables of the foundation (buckets, the entries → inodes namespace, inode data,
//! chunks,
//! multipart uploads, credentials). Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const ENTRIES: TableDefinition<&[u8], u64> = TableDefinition::new("entries");
const INODES: TableDefinition<u64, &[u8]> = TableDefinition::new("inodes");
const INODE_DATA: TableDefinition<u64, &[u8]> = TableDefinition::new("inode_data");
const CHUNKS: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("chunks");
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
const UPLOAD_PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("upload_parts");
const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(crate::META)?;
    txn.open_table(BUCKETS)?;
    txn.open_table(ENTRIES)?;
    txn.open_table(INODES)?;
    txn.open_table(INODE_DATA)?;
    txn.open_table(CHUNKS)?;
    txn.open_table(UPLOADS)?;
    txn.open_table(UPLOAD_PARTS)?;
    txn.open_table(CREDENTIALS)?;
    Ok(())
}
