//! Schema 15: the key service's tables (issue 23, decision 0046): `kms_keys` (key number →
//! key record: its id, alias, state and the salts of its material versions) and `kms_audit`
//! (sequence → one use or change of a key). Both start empty. Frozen: later schemas add steps,
//! never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const KMS_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("kms_keys");
const KMS_AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("kms_audit");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(KMS_KEYS)?;
    txn.open_table(KMS_AUDIT)?;
    Ok(())
}
