//! Listings as range scans over `entries` in byte order. A delimiter listing seeks past each
//! common prefix instead of walking it, so the cost follows the page, not the bucket.

use std::ops::Bound;

use redb::ReadableDatabase;

use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, ObjectRecord, Principal};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, BUCKETS, ENTRIES, INODES};
use crate::{Store, codec, deny};

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive start: the v1 marker, v2 start-after or the decoded continuation token.
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub enum ListEntry {
    /// `record.data` is not loaded by listings.
    Object {
        key: String,
        record: Box<ObjectRecord>,
    },
    Prefix(String),
}

impl ListEntry {
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object { key, .. } => key,
            ListEntry::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Objects and common prefixes, merged in key order.
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

impl ListPage {
    /// The last key or prefix returned: the next page starts after it.
    pub fn last(&self) -> Option<&str> {
        self.entries.last().map(|e| e.name())
    }
}

impl Store {
    pub fn list_objects(&self, p: &Principal, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        deny(authorize(p, Verb::List, Resource::Objects(bucket)))?;
        let txn = self.db().begin_read()?;
        let buckets = txn.open_table(BUCKETS)?;
        let b: BucketRecord = codec::decode(
            buckets
                .get(bucket)?
                .ok_or(StoreError::NoSuchBucket)?
                .value(),
        )?;
        let mut page = ListPage::default();
        if q.max_keys == 0 {
            return Ok(page);
        }
        let entries = txn.open_table(ENTRIES)?;
        let inodes = txn.open_table(INODES)?;
        let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let prefix_key = tables::entry_key(b.id, &q.prefix);
        let end = tables::prefix_successor(&prefix_key);
        let mut cursor: (Vec<u8>, bool) = match &q.after {
            Some(a) if a.as_str() >= q.prefix.as_str() => (tables::entry_key(b.id, a), false),
            _ => (prefix_key.clone(), true),
        };
        let want = q.max_keys + 1;
        let mut found: Vec<ListEntry> = Vec::new();
        'seek: while found.len() < want {
            let lo = if cursor.1 {
                Bound::Included(cursor.0.as_slice())
            } else {
                Bound::Excluded(cursor.0.as_slice())
            };
            let hi = match &end {
                Some(e) => Bound::Excluded(e.as_slice()),
                None => Bound::Unbounded,
            };
            let iter = entries.range::<&[u8]>((lo, hi))?;
            for item in iter {
                let (k, ino) = item?;
                let raw = k.value();
                let key = std::str::from_utf8(&raw[8..])
                    .map_err(|_| StoreError::Corrupt("non-UTF-8 key in entries".into()))?;
                if let Some(d) = delim
                    && let Some(pos) = key[q.prefix.len()..].find(d)
                {
                    let cp = &key[..q.prefix.len() + pos + d.len()];
                    let next = tables::prefix_successor(&tables::entry_key(b.id, cp));
                    if q.after.as_deref().is_none_or(|a| cp > a) {
                        found.push(ListEntry::Prefix(cp.to_string()));
                    }
                    match next {
                        Some(n) => {
                            cursor = (n, true);
                            continue 'seek;
                        }
                        None => break 'seek,
                    }
                }
                let ino = ino.value();
                let v = inodes
                    .get(ino)?
                    .ok_or_else(|| StoreError::Corrupt(format!("missing inode {ino}")))?;
                found.push(ListEntry::Object {
                    key: key.to_string(),
                    record: Box::new(codec::decode(v.value())?),
                });
                if found.len() >= want {
                    break 'seek;
                }
            }
            break;
        }
        if found.len() > q.max_keys {
            found.truncate(q.max_keys);
            page.truncated = true;
        }
        page.entries = found;
        Ok(page)
    }
}
