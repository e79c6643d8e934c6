//! Schema 3: file shares (name → share record, including the parked bucket record of a deleted
//! share) and NFS peers (client address → user). Frozen: later schemas add steps, never edit
//! this one.

use redb::TableDefinition;

use crate::MigrationError;

const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");
const PEERS: TableDefinition<&str, &[u8]> = TableDefinition::new("peers");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(SHARES)?;
    txn.open_table(PEERS)?;
    Ok(())
}
