//! Schema 11: bucket replication's tables (decision 0036): `repl_connections` (name →
//! connection record), `repl_rules` (bucket id → rule record), `repl_queue` (bucket id BE ++
//! seq BE → queued key), `repl_latest` (bucket id BE ++ key → seq), `repl_names` (bucket id BE
//! ++ inode BE ++ key → nothing) and `repl_failed` (bucket id BE ++ key → failure). All start
//! empty: no bucket replicates until a rule is added. Frozen: later schemas add steps, never
//! edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const REPL_CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("repl_connections");
const REPL_RULES: TableDefinition<u64, &[u8]> = TableDefinition::new("repl_rules");
const REPL_QUEUE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repl_queue");
const REPL_LATEST: TableDefinition<&[u8], u64> = TableDefinition::new("repl_latest");
const REPL_NAMES: TableDefinition<&[u8], ()> = TableDefinition::new("repl_names");
const REPL_FAILED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repl_failed");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(REPL_CONNECTIONS)?;
    txn.open_table(REPL_RULES)?;
    txn.open_table(REPL_QUEUE)?;
    txn.open_table(REPL_LATEST)?;
    txn.open_table(REPL_NAMES)?;
    txn.open_table(REPL_FAILED)?;
    Ok(())
}
