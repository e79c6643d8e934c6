//! Schema 6: completed multipart uploads, remembered for a day so a CompleteMultipartUpload sent
//! again after a lost reply (an SDK retry) gets the same answer instead of NoSuchUpload.
//! Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

/// upload id → completion record (bucket, key, ETag, part-list digest, completion time).
const COMPLETED_UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("completed_uploads");
/// completion time (Unix ms, 8 bytes BE) ++ upload id → upload id: the sweeper's time order.
const COMPLETED_BY_TIME: TableDefinition<&[u8], &str> = TableDefinition::new("completed_by_time");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(COMPLETED_UPLOADS)?;
    txn.open_table(COMPLETED_BY_TIME)?;
    Ok(())
}
