//! ListObjectVersions: `entries` (each key's current version) merged with `version_heads` (the
//! keys with noncurrent rows) in key order, one range scan each, seeking past common prefixes;
//! each key's noncurrent rows are its chain in `version_log`, newest first (decision 0053). A
//! page reads the rows it returns (and, per key, its current version), not the bucket.

use std::ops::Bound;

use redb::{ReadableDatabase, ReadableTable};

use super::rows;
use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, ObjectRecord, Principal, VersionRow};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, BUCKETS, ENTRIES, INODE_VERSIONS, INODES, VERSION_HEADS, VERSION_LOG};
use crate::{Store, codec, deny};

#[derive(Debug, Clone, Default)]
pub struct VersionsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Start after this key (all of its versions, or those after `version_id_marker`).
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    pub max_keys: usize,
}

/// One line of the listing, in AWS order (keys ascending, each key's versions newest first).
#[derive(Debug, Clone)]
pub enum VersionItem {
    /// `record.data` is not loaded.
    Version {
        key: String,
        version_id: String,
        is_latest: bool,
        record: Box<ObjectRecord>,
    },
    DeleteMarker {
        key: String,
        version_id: String,
        is_latest: bool,
        mtime_ms: i64,
    },
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct VersionsPage {
    pub items: Vec<VersionItem>,
    pub truncated: bool,
    /// Where the next page starts (set when truncated).
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// A lower bound in key space.
enum From {
    At(Vec<u8>),
    After(Vec<u8>),
}

impl Store {
    pub fn list_versions(
        &self,
        p: &Principal,
        bucket: &str,
        q: &VersionsQuery,
    ) -> Result<VersionsPage> {
        deny(authorize(p, Verb::List, Resource::Objects(bucket)))?;
        let txn = self.db().begin_read()?;
        let b: BucketRecord = codec::decode(
            txn.open_table(BUCKETS)?
                .get(bucket)?
                .ok_or(StoreError::NoSuchBucket)?
                .value(),
        )?;
        let mut page = VersionsPage::default();
        if q.max_keys == 0 {
            return Ok(page);
        }
        let entries = txn.open_table(ENTRIES)?;
        let inodes = txn.open_table(INODES)?;
        let heads = txn.open_table(VERSION_HEADS)?;
        let log = txn.open_table(VERSION_LOG)?;
        let chains = rows::Chains {
            heads: &heads,
            log: &log,
        };
        let inode_versions = txn.open_table(INODE_VERSIONS)?;
        let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let want = q.max_keys + 1;
        let mut found: Vec<VersionItem> = Vec::new();

        // At most `limit` of `key`'s versions in AWS order (current, then those the file view
        // kept of the current inode, then the chain), after version `marker` when one is named
        // (none when the key has no such version): a page reads what it returns, not every
        // version of a key with many.
        let versions_of = |key: &str,
                           marker: Option<&str>,
                           limit: usize|
         -> Result<Vec<VersionItem>> {
            let mut out = Vec::new();
            // Versions before the marker are passed over; `pos` counts every version seen, so
            // only the key's first is its latest.
            let mut skipping = marker;
            let mut pos = 0usize;
            let current = entries.get(tables::entry_key(b.id, key).as_slice())?;
            let mut kept = Vec::new();
            if let Some(ino) = current {
                let ino = ino.value();
                let v = inodes
                    .get(ino)?
                    .ok_or_else(|| StoreError::Corrupt(format!("missing inode {ino}")))?;
                let record: ObjectRecord = codec::decode(v.value())?;
                let version_id = rows::shown_id(&record);
                match skipping {
                    Some(m) => skipping = (m != version_id).then_some(m),
                    None => out.push(VersionItem::Version {
                        key: key.to_string(),
                        version_id,
                        is_latest: true,
                        record: Box::new(record),
                    }),
                }
                pos += 1;
                // Versions the file view kept of the current inode come next: newer than any
                // the key had before the inode was linked to it.
                kept = rows::inode_rows(&inode_versions, b.id, ino)?;
            }
            let item = |row: VersionRow, pos: usize| -> Result<VersionItem> {
                Ok(match row.inode {
                    None => VersionItem::DeleteMarker {
                        key: key.to_string(),
                        version_id: row.version_id,
                        is_latest: pos == 0,
                        mtime_ms: row.mtime_ms,
                    },
                    Some(vino) => {
                        let v = inodes
                            .get(vino)?
                            .ok_or_else(|| StoreError::Corrupt(format!("missing inode {vino}")))?;
                        VersionItem::Version {
                            key: key.to_string(),
                            version_id: row.version_id,
                            is_latest: pos == 0,
                            record: Box::new(codec::decode(v.value())?),
                        }
                    }
                })
            };
            for (_, row) in kept {
                if out.len() >= limit {
                    return Ok(out);
                }
                match skipping {
                    Some(m) => skipping = (m != row.version_id).then_some(m),
                    None => out.push(item(row, pos)?),
                }
                pos += 1;
            }
            let from = match skipping {
                None => chains.head(b.id, key)?,
                Some(m) => match chains.after_row(b.id, key, m)? {
                    Some(older) => {
                        // Past the marker: nothing after it is the key's latest.
                        pos = pos.max(1);
                        older
                    }
                    None => return Ok(out),
                },
            };
            for (_, row) in chains.rows_from(b.id, key, from, limit.saturating_sub(out.len()))? {
                out.push(item(row, pos)?);
                pos += 1;
            }
            Ok(out)
        };

        let mut from = From::At(q.prefix.as_bytes().to_vec());
        if let Some(km) = q.key_marker.as_deref().filter(|k| !k.is_empty()) {
            if km.as_bytes() >= q.prefix.as_bytes() {
                from = From::After(km.as_bytes().to_vec());
            }
            // The rest of the marker key's versions, after the one named.
            if let Some(vm) = q.version_id_marker.as_deref().filter(|v| !v.is_empty())
                && km.starts_with(q.prefix.as_str())
                && !delim.is_some_and(|d| km[q.prefix.len()..].contains(d))
            {
                found.extend(versions_of(km, Some(vm), want)?);
            }
        }
        let prefix_end = tables::prefix_successor(q.prefix.as_bytes());
        while found.len() < want {
            let Some(key) = next_key(&entries, &heads, b.id, &from, prefix_end.as_deref())? else {
                break;
            };
            if let Some(d) = delim
                && let Some(pos) = key[q.prefix.len()..].find(d)
            {
                let cp = &key[..q.prefix.len() + pos + d.len()];
                if q.key_marker.as_deref().is_none_or(|m| cp > m) {
                    found.push(VersionItem::Prefix(cp.to_string()));
                }
                match tables::prefix_successor(cp.as_bytes()) {
                    Some(n) => from = From::At(n),
                    None => break,
                }
                continue;
            }
            found.extend(versions_of(&key, None, want - found.len())?);
            from = From::After(key.into_bytes());
        }
        if found.len() > q.max_keys {
            found.truncate(q.max_keys);
            page.truncated = true;
            match found.last() {
                Some(VersionItem::Prefix(p)) => page.next_key_marker = Some(p.clone()),
                Some(
                    VersionItem::Version {
                        key, version_id, ..
                    }
                    | VersionItem::DeleteMarker {
                        key, version_id, ..
                    },
                ) => {
                    page.next_key_marker = Some(key.clone());
                    page.next_version_id_marker = Some(version_id.clone());
                }
                None => {}
            }
        }
        page.items = found;
        Ok(page)
    }
}

/// The smallest key at or after `from` (and before `end`, the prefix's successor) that has a
/// current version or a row in `version_heads` (both keyed bucket id ++ key).
fn next_key(
    entries: &impl ReadableTable<&'static [u8], u64>,
    heads: &impl ReadableTable<&'static [u8], u64>,
    bucket_id: u64,
    from: &From,
    end: Option<&[u8]>,
) -> Result<Option<String>> {
    let id = bucket_id.to_be_bytes();
    let with_id = |k: &[u8]| [id.as_slice(), k].concat();
    let hi = match end {
        Some(e) => with_id(e),
        None => (bucket_id + 1).to_be_bytes().to_vec(),
    };
    let lo = match from {
        From::At(k) => Bound::Included(with_id(k)),
        From::After(k) => Bound::Excluded(with_id(k)),
    };
    let lo_ref = match &lo {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let range = (lo_ref, Bound::Excluded(hi.as_slice()));
    let from_entries = first_key(entries, range)?;
    let from_heads = first_key(heads, range)?;
    let next = match (from_entries, from_heads) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    next.map(|k| String::from_utf8(k).map_err(|_| StoreError::Corrupt("non-UTF-8 key".into())))
        .transpose()
}

/// The key (bucket id stripped) of the first row of `t` in `range`.
fn first_key(
    t: &impl ReadableTable<&'static [u8], u64>,
    range: (Bound<&[u8]>, Bound<&[u8]>),
) -> Result<Option<Vec<u8>>> {
    Ok(match t.range::<&[u8]>(range)?.next() {
        Some(e) => Some(e?.0.value().get(8..).unwrap_or_default().to_vec()),
        None => None,
    })
}
