//! The names of a share's inodes: [`tables::INODE_NAMES`], the reverse of `entries` for share
//! buckets (decision 0043). The file view names inodes (a handle carries no path); a bucket
//! policy decides on keys and replication sends keys, so both ask here which keys an inode
//! has. Every change of a share's `entries` calls [`set`] or [`clear`] in the same
//! transaction; plain buckets have no rows (their operations carry keys).

use redb::ReadableTable;

use crate::error::Result;
use crate::model::{BucketKind, BucketRecord};
use crate::ops::ns::Ns;
use crate::tables::{self, name_key};

/// Past this many names an inode's decision is refused rather than made on some of them (the
/// file view allows `LINK_MAX` hard links; more can only come from a damaged index).
pub(crate) const MAX_NAMES: usize = super::fs_link::LINK_MAX as usize + 1;

/// `key` of bucket `b` now names inode `ino` (`replaced`: the inode it named before).
pub(crate) fn set(
    ns: &mut Ns,
    b: &BucketRecord,
    key: &str,
    ino: u64,
    replaced: Option<u64>,
) -> Result<()> {
    if b.kind != BucketKind::Share {
        return Ok(());
    }
    let t = ns.inode_names_mut()?;
    if let Some(old) = replaced.filter(|o| *o != ino) {
        t.remove(name_key(b.id, old, key).as_slice())?;
    }
    t.insert(name_key(b.id, ino, key).as_slice(), ())?;
    Ok(())
}

/// `key` of bucket `b`, which named inode `ino`, is gone.
pub(crate) fn clear(ns: &mut Ns, b: &BucketRecord, key: &str, ino: u64) -> Result<()> {
    clear_in(ns, b.id, b.kind, key, ino)
}

/// [`clear`] for a bucket known by id and kind (purges, fsck).
pub(crate) fn clear_in(
    ns: &mut Ns,
    bucket_id: u64,
    kind: BucketKind,
    key: &str,
    ino: u64,
) -> Result<()> {
    if kind == BucketKind::Share {
        ns.inode_names_mut()?
            .remove(name_key(bucket_id, ino, key).as_slice())?;
    }
    Ok(())
}

/// The keys naming inode `ino` of bucket `bucket_id`, in key order; an error past
/// [`MAX_NAMES`] (a decision is never made on part of them).
pub(crate) fn of(
    table: &impl ReadableTable<&'static [u8], ()>,
    bucket_id: u64,
    ino: u64,
) -> Result<Vec<String>> {
    let prefix = name_key(bucket_id, ino, "");
    let mut keys = Vec::new();
    for e in table.range(prefix.as_slice()..)? {
        let (k, _) = e?;
        let Some(key) = k.value().strip_prefix(prefix.as_slice()) else {
            break;
        };
        keys.push(String::from_utf8_lossy(key).into_owned());
        if keys.len() > MAX_NAMES {
            return Err(crate::error::StoreError::Corrupt(format!(
                "inode {ino} has more than {MAX_NAMES} names (fsck --repair rebuilds them)"
            )));
        }
    }
    Ok(keys)
}

/// [`of`] inside a write transaction.
pub(crate) fn of_ns(ns: &Ns, bucket_id: u64, ino: u64) -> Result<Vec<String>> {
    of(ns.inode_names()?, bucket_id, ino)
}

/// The table's bytes for a name row (fsck compares them with `entries`).
pub(crate) fn row(bucket_id: u64, ino: u64, key: &[u8]) -> Vec<u8> {
    let mut k = tables::name_key(bucket_id, ino, "");
    k.extend_from_slice(key);
    k
}

/// fsck: the rows [`tables::INODE_NAMES`] should gain (`true`) or lose (`false`) to be the
/// reverse of the entries of shares `ids` whose inode exists (repair removes the others).
pub(crate) fn check(
    entries: &impl ReadableTable<&'static [u8], u64>,
    inodes: &impl ReadableTable<u64, &'static [u8]>,
    names: &impl ReadableTable<&'static [u8], ()>,
    ids: &[u64],
) -> Result<Vec<(Vec<u8>, bool)>> {
    let mut fixes = Vec::new();
    for id in ids {
        let start = id.to_be_bytes();
        for e in entries.range(start.as_slice()..)? {
            let (k, ino) = e?;
            let Some(key) = k.value().strip_prefix(start.as_slice()) else {
                break;
            };
            let ino = ino.value();
            if inodes.get(ino)?.is_none() {
                continue;
            }
            let r = row(*id, ino, key);
            if names.get(r.as_slice())?.is_none() {
                fixes.push((r, true));
            }
        }
    }
    for e in names.iter()? {
        let (k, _) = e?;
        let k = k.value();
        let wanted = match (k.get(..8), k.get(8..16)) {
            (Some(id), Some(ino)) => {
                let id = u64::from_be_bytes(id.try_into().unwrap_or_default());
                let ino = u64::from_be_bytes(ino.try_into().unwrap_or_default());
                let mut ek = id.to_be_bytes().to_vec();
                ek.extend_from_slice(&k[16..]);
                ids.contains(&id)
                    && entries.get(ek.as_slice())?.map(|v| v.value()) == Some(ino)
                    && inodes.get(ino)?.is_some()
            }
            _ => false,
        };
        if !wanted {
            fixes.push((k.to_vec(), false));
        }
    }
    Ok(fixes)
}
