//! Schema 9: object expiry's due-time index (`expiry_due`: due ms BE ++ bucket id BE ++ key →
//! nothing), the same for multipart uploads and abort-incomplete rules (`abort_due`: due ms BE
//! ++ upload id → nothing) and the buckets still to be entered into them (`expiry_rebuild`:
//! bucket id → last key entered), and the chunks whose last reference went, by when
//! (`chunk_freed`: freed ms BE ++ hash → nothing), which the chunk GC reads instead of walking
//! every chunk file. This step creates them and marks every live bucket, so the server's sweeper enters
//! the existing objects in bounded steps after the upgrade rather than here in one transaction.
//! Frozen: later schemas add steps, never edit this one.

use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;

use crate::MigrationError;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const EXPIRY_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("expiry_due");
const ABORT_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("abort_due");
const CHUNK_FREED: TableDefinition<&[u8], ()> = TableDefinition::new("chunk_freed");
const EXPIRY_REBUILD: TableDefinition<u64, &[u8]> = TableDefinition::new("expiry_rebuild");

/// The fields of a bucket record this step reads (schema 8 layout: version byte 1, then
/// rmp-serde with named fields; the others are ignored).
#[derive(Deserialize)]
struct Bucket {
    id: u64,
    kind: Kind,
}

#[derive(Deserialize, PartialEq)]
enum Kind {
    Plain,
    Share,
    System,
}

fn decode(bytes: &[u8]) -> Result<Bucket, MigrationError> {
    match bytes.split_first() {
        Some((1, rest)) => rmp_serde::from_slice(rest)
            .map_err(|e| MigrationError::Db(format!("undecodable bucket record: {e}"))),
        _ => Err(MigrationError::Db(
            "bucket record of an unknown version".into(),
        )),
    }
}

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    txn.open_table(EXPIRY_DUE)?;
    txn.open_table(ABORT_DUE)?;
    txn.open_table(CHUNK_FREED)?;
    let mut ids = Vec::new();
    for e in txn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b = decode(v.value())?;
        if b.kind != Kind::System {
            ids.push(b.id);
        }
    }
    let mut rebuild = txn.open_table(EXPIRY_REBUILD)?;
    for id in ids {
        rebuild.insert(id, [].as_slice())?;
    }
    Ok(())
}
