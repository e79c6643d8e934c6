//! S3 versioning (decision 0038): a bucket's setting, reads and deletes by version id,
//! delete markers, and the version listing. `entries` stays the current version of each key,
//! so plain reads, listings and the NFS view cost what they cost in an unversioned bucket;
//! table `versions` holds the rest, written by [`rows`] in the transaction of each change.

pub(crate) mod expiry;
mod list;
pub(crate) mod rows;

use redb::ReadableDatabase;

pub use list::{VersionItem, VersionsPage, VersionsQuery};
pub use rows::parse_id;

use crate::blobs::Pins;
use crate::error::{Result, StoreError};
use crate::model::{BucketRecord, Principal, ReplOp, VersionRow, Versioning};
use crate::ops::ObjectInfo;
use crate::ops::WriteCondition;
use crate::ops::ns::Ns;
use crate::ops::objects::per_key;
use crate::ops::txn;
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{self, BUCKETS, ENTRIES, INODE_VERSIONS, VERSION_HEADS, VERSION_LOG};
use crate::{Store, codec, deny};

/// What a delete did, as S3 reports it (`x-amz-version-id`, `x-amz-delete-marker`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the marker made; `None` in an unversioned bucket.
    pub version_id: Option<String>,
    /// A delete marker was made, or the version removed was one.
    pub delete_marker: bool,
}

/// One object of a DeleteObjects request (or a DeleteObject).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteItem {
    pub key: String,
    pub version_id: Option<String>,
    /// `<ETag>` (DeleteObjects) or `If-Match` (DeleteObject): the current object's ETag must
    /// be one of these; not with a version id.
    pub if_match: Option<String>,
}

impl Store {
    /// PutBucketVersioning: `Enabled` or `Suspended` (a bucket never goes back to unversioned).
    pub async fn set_versioning(&self, p: &Principal, bucket: &str, to: Versioning) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        if to == Versioning::Unversioned {
            return Err(StoreError::InvalidArgument(
                "versioning can be Enabled or Suspended, not switched off".into(),
            ));
        }
        let bucket = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                if b.kind == crate::model::BucketKind::System {
                    return Err(StoreError::AccessDenied("the system bucket".into()));
                }
                if b.object_lock.is_some() && to != Versioning::Enabled {
                    return Err(StoreError::InvalidBucketState(
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
                    ));
                }
                b.versioning = to;
                txn::put_bucket(&mut ns, &b)
            })
            .await
    }

    /// GetBucketVersioning.
    pub fn versioning(&self, p: &Principal, bucket: &str) -> Result<Versioning> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        Ok(self.bucket_record(bucket)?.versioning)
    }

    /// GetObject/HeadObject of version `id` (`null` included): the object, or
    /// `DeleteMarker` when that version is one, `NoSuchVersion` when the key has no such
    /// version.
    pub fn get_version(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<ObjectInfo> {
        self.read_or_deny(p, Verb::Get, bucket, key, || {
            self.read_version(bucket, key, id)
        })
    }

    /// [`Store::get_version`] with the chunks pinned for reading (see
    /// [`Store::open_object`]).
    pub fn open_version(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<(ObjectInfo, Pins)> {
        let (info, pins) = self.read_or_deny(p, Verb::Get, bucket, key, || {
            self.open_pinned(bucket, key, || self.read_version(bucket, key, id))
        })?;
        self.kms_check_object(p, &info, bucket)?;
        Ok((info, pins))
    }

    pub(crate) fn read_version(&self, bucket: &str, key: &str, id: &str) -> Result<ObjectInfo> {
        let txn = self.db().begin_read()?;
        let b: BucketRecord = codec::decode(
            txn.open_table(BUCKETS)?
                .get(bucket)?
                .ok_or(StoreError::NoSuchBucket)?
                .value(),
        )?;
        let read = |ino: u64| crate::ops::objects::read_inode(&txn, key, ino);
        let mut kept = None;
        if let Some(ino) = txn
            .open_table(ENTRIES)?
            .get(tables::entry_key(b.id, key).as_slice())?
        {
            let info = read(ino.value())?;
            if rows::names(&info.record, id) {
                return Ok(info);
            }
            kept = rows::find_inode_row(&txn.open_table(INODE_VERSIONS)?, b.id, info.ino, id)?;
        }
        if kept.is_none() {
            let (heads, log) = (txn.open_table(VERSION_HEADS)?, txn.open_table(VERSION_LOG)?);
            kept = rows::Chains {
                heads: &heads,
                log: &log,
            }
            .find_row(b.id, key, id)?;
        }
        match kept {
            Some((_, row)) => match row.inode {
                Some(vino) => {
                    let mut info = read(vino)?;
                    // The record of a version kept before it had an id shows `null`.
                    info.record.version_id = (row.version_id != "null").then_some(row.version_id);
                    Ok(info)
                }
                None => Err(StoreError::DeleteMarker {
                    version_id: row.version_id,
                    mtime_ms: row.mtime_ms,
                }),
            },
            None => Err(rows::no_such_version(id)),
        }
    }

    /// The delete marker that is `key`'s latest version, if it is one (a GET of the key
    /// answers 404 with its id). Asked only after a miss.
    pub fn latest_marker(&self, bucket: &str, key: &str) -> Result<Option<VersionRow>> {
        let txn = self.db().begin_read()?;
        let Some(b) = txn.open_table(BUCKETS)?.get(bucket)? else {
            return Ok(None);
        };
        let b: BucketRecord = codec::decode(b.value())?;
        if b.version_rows == 0 {
            return Ok(None);
        }
        let (heads, log) = (txn.open_table(VERSION_HEADS)?, txn.open_table(VERSION_LOG)?);
        let chains = rows::Chains {
            heads: &heads,
            log: &log,
        };
        Ok(chains
            .newest_row(b.id, key)?
            .map(|(_, r)| r)
            .filter(VersionRow::is_marker))
    }

    /// DeleteObjects, each entry with or without a version id, in one transaction. A storage
    /// error in one entry fails the whole request (see [`crate::ops::objects::per_key`]).
    pub async fn delete_versions(
        &self,
        p: &Principal,
        bucket: &str,
        items: Vec<DeleteItem>,
        bypass_governance: bool,
    ) -> Result<Vec<Result<Deleted>>> {
        let denied = crate::rbac::each_key(
            p,
            Verb::Delete,
            bucket,
            items.iter().map(|i| {
                let action = i.version_id.as_ref().map(|_| "s3:DeleteObjectVersion");
                (i.key.as_str(), action)
            }),
        )?;
        let bypass = crate::locks::may_bypass(p, bucket, bypass_governance);
        let bucket = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                let mut out = Vec::with_capacity(items.len());
                for (item, denied) in items.into_iter().zip(denied) {
                    let key = &item.key;
                    let outcome = match (denied, item.version_id, item.if_match) {
                        (Some(e), _, _) => Err(e),
                        // Refused before it gets here (the gateway answers NotImplemented).
                        (None, Some(_), Some(_)) => Err(StoreError::InvalidRequest(
                            "a delete of one version takes no ETag condition".into(),
                        )),
                        (None, Some(id), None) => {
                            delete_version_in(&mut ns, &mut b, key, &id, bypass)
                        }
                        (None, None, if_match) => {
                            let cond = WriteCondition {
                                if_match,
                                if_none_match: false,
                            };
                            cond.check_in(&ns, b.id, key)
                                .and_then(|()| delete_current_in(&mut ns, &mut b, key))
                        }
                    };
                    out.push(per_key(outcome)?);
                }
                Ok(out)
            })
            .await
    }

    /// DeleteObject of version `id`: that version goes for good (a delete marker too); if it
    /// was current, the newest remaining version becomes current. A version the key does not
    /// have deletes nothing and succeeds (as S3 answers).
    pub async fn delete_version(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        id: &str,
        bypass_governance: bool,
    ) -> Result<Deleted> {
        let mut r = self
            .delete_versions(
                p,
                bucket,
                vec![DeleteItem {
                    key: key.to_string(),
                    version_id: Some(id.to_string()),
                    if_match: None,
                }],
                bypass_governance,
            )
            .await?;
        r.pop()
            .unwrap_or_else(|| Err(StoreError::Internal("no outcome".into())))
    }

    /// DeleteObject without a version id: in a versioned bucket, a delete marker. With
    /// `if_match` (`If-Match`), decided inside the commit that removes the object, as a write's
    /// condition is: a different ETag → `PreconditionFailed`, no object → `NoSuchKey`, nothing
    /// removed.
    pub async fn delete_current(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        if_match: Option<String>,
    ) -> Result<Deleted> {
        let item = DeleteItem {
            key: key.to_string(),
            version_id: None,
            if_match,
        };
        let mut r = self.delete_versions(p, bucket, vec![item], false).await?;
        r.pop()
            .unwrap_or_else(|| Err(StoreError::Internal("no outcome".into())))
    }
}

/// A delete without a version id inside a transaction.
pub(crate) fn delete_current_in(ns: &mut Ns, b: &mut BucketRecord, key: &str) -> Result<Deleted> {
    if !b.versioning.is_on() {
        txn::unlink_object(ns, b, key)?;
        return Ok(Deleted::default());
    }
    // A marker for a key with no current object only adds a row: it counts against
    // `quota_objects` like any version (a delete of an existing object is always allowed).
    if b.quota_objects > 0
        && txn::lookup(ns, b.id, key)?.is_none()
        && b.object_count.saturating_add(b.version_rows) >= b.quota_objects
    {
        return Err(StoreError::QuotaExceeded(format!(
            "{} holds {} of its {} objects (versions and delete markers included)",
            b.name,
            b.object_count.saturating_add(b.version_rows),
            b.quota_objects
        )));
    }
    let (_, marker) = txn::unlink_marking(ns, b, key, false, true)?;
    Ok(Deleted {
        delete_marker: marker.is_some(),
        version_id: marker,
    })
}

/// A delete of version `id` of `key` inside a transaction.
pub(crate) fn delete_version_in(
    ns: &mut Ns,
    b: &mut BucketRecord,
    key: &str,
    id: &str,
    bypass: bool,
) -> Result<Deleted> {
    if id.is_empty() {
        return Err(StoreError::InvalidVersionId);
    }
    if id != "null" && rows::parse_id(id).is_none() {
        return Err(StoreError::InvalidVersionId);
    }
    let gone = Deleted {
        version_id: Some(id.to_string()),
        delete_marker: false,
    };
    let mut found = None;
    if let Some(ino) = txn::lookup(ns, b.id, key)? {
        let cur = txn::inode_attrs(ns, ino)?;
        if rows::names(&cur, id) {
            crate::locks::check_remove(&cur, bypass, crate::now_unix_ms())?;
            txn::remove_name(ns, b, key, ino, cur, false, false)?;
            rows::promote_newest(ns, b, key)?;
            txn::put_bucket(ns, b)?;
            requeue(ns, b, key)?;
            return Ok(gone);
        }
        found = rows::find_inode_row(ns.inode_versions()?, b.id, ino, id)?
            .map(|(k, r)| (rows::Place::Inode, k, r));
    }
    if found.is_none() {
        found = rows::chains(ns)?
            .find_row(b.id, key, id)?
            .map(|(k, r)| (rows::Place::Key, k, r));
    }
    let Some((place, k, row)) = found else {
        return Ok(gone);
    };
    if let Some(vino) = row.inode {
        crate::locks::check_remove(&txn::inode_attrs(ns, vino)?, bypass, crate::now_unix_ms())?;
    }
    rows::remove_at(ns, b, place, &k, &row)?;
    let promoted = rows::promote_newest(ns, b, key)?;
    txn::put_bucket(ns, b)?;
    if promoted {
        requeue(ns, b, key)?;
    }
    Ok(Deleted {
        version_id: Some(id.to_string()),
        delete_marker: row.is_marker(),
    })
}

/// A key whose current version changed by a version-addressed delete: replication sends its
/// state now (the object, or its deletion).
fn requeue(ns: &mut Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if !b.replicated {
        return Ok(());
    }
    let op = if txn::lookup(ns, b.id, key)?.is_some() {
        ReplOp::Put
    } else {
        ReplOp::Delete
    };
    crate::replication::queue::enqueue(ns, b, key, op)
}

/// The inode of version `id` of `key` (`None`: the current version) inside a write
/// transaction, and whether it is the current one. A delete marker is `DeleteMarker`.
pub(crate) fn resolve_in(
    ns: &Ns,
    b: &BucketRecord,
    key: &str,
    id: Option<&str>,
) -> Result<(u64, bool)> {
    let current = txn::lookup(ns, b.id, key)?;
    let Some(id) = id else {
        return current.map(|ino| (ino, true)).ok_or(StoreError::NoSuchKey);
    };
    let mut kept = None;
    if let Some(ino) = current {
        if rows::names(&txn::inode_attrs(ns, ino)?, id) {
            return Ok((ino, true));
        }
        kept = rows::find_inode_row(ns.inode_versions()?, b.id, ino, id)?;
    }
    if kept.is_none() {
        kept = rows::chains(ns)?.find_row(b.id, key, id)?;
    }
    match kept {
        Some((_, row)) => match row.inode {
            Some(vino) => Ok((vino, false)),
            None => Err(StoreError::DeleteMarker {
                version_id: row.version_id,
                mtime_ms: row.mtime_ms,
            }),
        },
        None => Err(rows::no_such_version(id)),
    }
}
