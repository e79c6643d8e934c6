//! Schema 10: `live_objects` in META, the sum of `object_count` over the live bucket records,
//! kept by every write from now on and computed here once, so a metrics scrape reads one row
//! instead of every bucket record. Frozen: later schemas add steps, never edit this one.

use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;

use crate::MigrationError;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");

/// The field of a bucket record this step reads (schema 9 layout: version byte 1, then
/// rmp-serde with named fields; the others are ignored).
#[derive(Deserialize)]
struct Bucket {
    object_count: u64,
}

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    let mut total = 0u64;
    for e in txn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: Bucket = match v.value().split_first() {
            Some((1, rest)) => rmp_serde::from_slice(rest)
                .map_err(|e| MigrationError::Db(format!("undecodable bucket record: {e}")))?,
            _ => {
                return Err(MigrationError::Db(
                    "bucket record of an unknown version".into(),
                ));
            }
        };
        total = total.saturating_add(b.object_count);
    }
    txn.open_table(META)?
        .insert("live_objects", total.to_le_bytes().as_slice())?;
    Ok(())
}
