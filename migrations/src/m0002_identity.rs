//! Schema 2: users, names, groups, roles and bindings (identity and RBAC). Credentials change
//! meaning: an access key row now points at a user and a credential generation, and secrets are
//! derived, never stored. The foundation's single random bootstrap credential cannot be
//! expressed that way, so its rows are dropped; the server re-creates the bootstrap admin as a
//! real user (with its own keypair) on the next start and rewrites `admin.credentials`.
//! Frozen: later schemas add steps, never edit this one.

use redb::TableDefinition;

use crate::MigrationError;

const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const USER_NAMES: TableDefinition<&str, &str> = TableDefinition::new("user_names");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
const ROLES: TableDefinition<&str, &[u8]> = TableDefinition::new("roles");
const BINDINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("bindings");

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(USERS)?;
    txn.open_table(USER_NAMES)?;
    txn.open_table(GROUPS)?;
    txn.open_table(ROLES)?;
    txn.open_table(BINDINGS)?;
    let mut creds = txn.open_table(CREDENTIALS)?;
    creds.retain(|_, _| false)?;
    Ok(())
}
