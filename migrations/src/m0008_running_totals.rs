//! Schema 8: running totals in META, kept by every write in its own transaction from now on and
//! computed here once: `usage_total`, the sum of `usage_bytes` over every bucket record (live
//! ones and those parked in deleted shares awaiting purge), so checking `s3.max_size` reads one
//! row instead of every bucket record; `chunk_rows` and `chunk_bytes`, how many chunk rows
//! exist and the bytes they name, so a metrics scrape reads two rows instead of every chunk
//! row. Frozen: later schemas add steps, never edit this one.

use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;

use crate::MigrationError;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");
/// BLAKE3 → (references, length).
const CHUNKS: TableDefinition<&[u8; 32], (u64, u64)> = TableDefinition::new("chunks");

/// The field of a bucket record this step reads (schema 7 layout: version byte 1, then
/// rmp-serde with named fields; the others are ignored).
#[derive(Deserialize)]
struct Bucket {
    usage_bytes: u64,
}

/// The field of a share record this step reads: a deleted share parks its bucket here.
#[derive(Deserialize)]
struct Share {
    #[serde(default)]
    parked_bucket: Option<Bucket>,
}

fn decode<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, MigrationError> {
    match bytes.split_first() {
        Some((1, rest)) => rmp_serde::from_slice(rest)
            .map_err(|e| MigrationError::Db(format!("undecodable {what} record: {e}"))),
        _ => Err(MigrationError::Db(format!(
            "{what} record of an unknown version"
        ))),
    }
}

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    let mut total = 0u64;
    for e in txn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: Bucket = decode("bucket", v.value())?;
        total = total.saturating_add(b.usage_bytes);
    }
    for e in txn.open_table(SHARES)?.iter()? {
        let (_, v) = e?;
        let s: Share = decode("share", v.value())?;
        if let Some(b) = s.parked_bucket {
            total = total.saturating_add(b.usage_bytes);
        }
    }
    let (mut rows, mut bytes) = (0u64, 0u64);
    for e in txn.open_table(CHUNKS)?.iter()? {
        let (_, v) = e?;
        rows += 1;
        bytes = bytes.saturating_add(v.value().1);
    }
    let mut meta = txn.open_table(META)?;
    meta.insert("usage_total", total.to_le_bytes().as_slice())?;
    meta.insert("chunk_rows", rows.to_le_bytes().as_slice())?;
    meta.insert("chunk_bytes", bytes.to_le_bytes().as_slice())?;
    Ok(())
}
