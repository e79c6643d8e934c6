//! Schema 12: `versions` (bucket id BE ++ key ++ 0x00 ++ (u64::MAX − seq) BE → version row),
//! the noncurrent versions and delete markers of versioned buckets (decision 0038). Starts
//! empty: no bucket is versioned until PutBucketVersioning. Frozen: later schemas add steps,
//! never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("versions");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(VERSIONS)?;
    Ok(())
}
