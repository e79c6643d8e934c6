//! Schema 7: how many subdirectories each directory of a share has, so the NFS view can show
//! a directory's nlink as 2 + that number (find(1) skips directories whose nlink says they
//! have none). Directories are derived from keys (`a/b/c` makes `a/` and `a/b/`; a marker
//! `a/b/` makes `a/b/` itself), so the counts of the shares that exist are computed here from
//! their entries, live shares and deleted ones awaiting purge alike.
//! Frozen: later schemas add steps, never edit this one.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;

use crate::MigrationError;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");
/// bucket id (8 bytes BE) ++ key → inode.
const ENTRIES: TableDefinition<&[u8], u64> = TableDefinition::new("entries");
/// bucket id (8 bytes BE) ++ directory path (`""` for the root, else `a/b/`) → subdirectories.
const DIR_SUBDIRS: TableDefinition<&[u8], u64> = TableDefinition::new("dir_subdirs");

/// The fields of a bucket record this step reads (schema 6 layout: version byte 1, then
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
        if let Some(b) = s.parked_bucket.filter(|b| b.kind == Kind::Share) {
            shares.push(b.id);
        }
    }
    let entries = txn.open_table(ENTRIES)?;
    let mut out = txn.open_table(DIR_SUBDIRS)?;
    out.retain(|_, _| false)?;
    for id in shares {
        let start = id.to_be_bytes();
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut prev: Vec<u8> = Vec::new();
        for e in entries.range(start.as_slice()..)? {
            let (k, _) = e?;
            let Some(path) = k.value().strip_prefix(start.as_slice()) else {
                break;
            };
            count_new_dirs(&prev, path, &mut counts);
            prev = path.to_vec();
        }
        for (dir, n) in counts {
            let mut k = start.to_vec();
            k.extend_from_slice(&dir);
            out.insert(k.as_slice(), n)?;
        }
    }
    Ok(())
}

/// Counts, in its parent, each directory key `path` makes that the key before it (`prev`, in
/// key order) did not: the keys under a directory are contiguous in byte order, so a directory
/// not under the previous key was not seen before.
fn count_new_dirs(prev: &[u8], path: &[u8], counts: &mut BTreeMap<Vec<u8>, u64>) {
    let mut parent_end = 0;
    for (i, _) in path.iter().enumerate().filter(|(_, c)| **c == b'/') {
        let dir = &path[..=i];
        if !prev.starts_with(dir) {
            *counts.entry(path[..parent_end].to_vec()).or_default() += 1;
        }
        parent_end = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::count_new_dirs;
    use std::collections::BTreeMap;

    #[test]
    fn each_directory_counts_once_in_its_parent() {
        let mut keys = vec![
            "a/b/c.txt",
            "a/b/d/",
            "a/e",
            "a-b/x",
            "a/b/d/f/g",
            "m/",
            "m/n/",
            "top",
        ];
        keys.sort();
        let mut counts = BTreeMap::new();
        let mut prev: &str = "";
        for k in keys {
            count_new_dirs(prev.as_bytes(), k.as_bytes(), &mut counts);
            prev = k;
        }
        let got: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(k, n)| (String::from_utf8(k).expect("utf8"), n))
            .collect();
        let want = [("", 3), ("a/", 1), ("a/b/", 1), ("a/b/d/", 1), ("m/", 1)];
        assert_eq!(
            got,
            want.iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect::<Vec<_>>()
        );
    }
}
