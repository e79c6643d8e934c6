//! Schema 14: `inode_names` (bucket id BE ++ inode BE ++ key → nothing), the names of every
//! share inode, so the file view can ask a bucket policy about the keys of the inode a handle
//! names (decision 0043). Built from the entries of every share bucket (live, snapshots and
//! shares parked awaiting purge); replaces `repl_names`, which held the same rows for
//! replicated shares only. Frozen: later schemas add steps, never edit this one.

use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;

use crate::MigrationError;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");
const ENTRIES: TableDefinition<&[u8], u64> = TableDefinition::new("entries");
const REPL_NAMES: TableDefinition<&[u8], ()> = TableDefinition::new("repl_names");
const INODE_NAMES: TableDefinition<&[u8], ()> = TableDefinition::new("inode_names");

/// The fields of a bucket record this step reads (schema 13 layout: version byte 1, then
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

/// The fields of a share record this step reads: a deleted share parks its bucket and its
/// snapshots' here.
#[derive(Deserialize)]
struct Share {
    #[serde(default)]
    parked_bucket: Option<Bucket>,
    #[serde(default)]
    parked_snapshots: Vec<Bucket>,
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
    let mut shares = Vec::new();
    for e in txn.open_table(BUCKETS)?.iter()? {
        let (_, v) = e?;
        let b: Bucket = decode("bucket", v.value())?;
        if b.kind == Kind::Share {
            shares.push(b.id);
        }
    }
    for e in txn.open_table(SHARES)?.iter()? {
        let (_, v) = e?;
        let s: Share = decode("share", v.value())?;
        for b in s.parked_bucket.into_iter().chain(s.parked_snapshots) {
            if b.kind == Kind::Share {
                shares.push(b.id);
            }
        }
    }
    let entries = txn.open_table(ENTRIES)?;
    let mut out = txn.open_table(INODE_NAMES)?;
    for id in shares {
        let start = id.to_be_bytes();
        for e in entries.range(start.as_slice()..)? {
            let (k, ino) = e?;
            let Some(key) = k.value().strip_prefix(start.as_slice()) else {
                break;
            };
            let mut row = Vec::with_capacity(16 + key.len());
            row.extend_from_slice(&start);
            row.extend_from_slice(&ino.value().to_be_bytes());
            row.extend_from_slice(key);
            out.insert(row.as_slice(), ())?;
        }
    }
    drop(out);
    drop(entries);
    txn.delete_table(REPL_NAMES)?;
    Ok(())
}
