//! Schema 13: `bucket_access` (bucket name → access settings record: bucket policy, public
//! access block, CORS rules; issue 22). Starts empty: no bucket has a policy until
//! PutBucketPolicy. Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const BUCKET_ACCESS: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_access");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(BUCKET_ACCESS)?;
    Ok(())
}
