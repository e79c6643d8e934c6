//! Buckets: create, delete (only when empty), head, list.
//!
//! Whoever creates a bucket owns it: the record names them and, in the same commit, they are
//! bound `bucket-admin` on it (as a share's creator is), so a user who may only create buckets
//! (the built-in `s3-user` role) can use and delete its own buckets and nobody else's. Deleting
//! the bucket drops every binding scoped to it, so a later bucket of that name starts bare.

use redb::{ReadableDatabase, ReadableTable};

use super::ns::Ns;
use super::txn;
use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, Principal, Subject, UploadRecord};
use crate::rbac::{Resource, Scope, Verb, authorize};
use crate::tables::{BUCKETS, ENTRIES, UPLOADS};
use crate::{Store, codec, deny, naming, now_ms};

#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub kind: BucketKind,
    pub created_ms: i64,
    pub owner: String,
    /// Every byte the bucket holds: current objects and noncurrent versions.
    pub usage_bytes: u64,
    /// The part of `usage_bytes` held by noncurrent versions (decision 0038).
    pub noncurrent_bytes: u64,
    pub object_count: u64,
    /// Noncurrent versions and delete markers: with `object_count`, what `quota_objects`
    /// counts.
    pub noncurrent_objects: u64,
    pub quota_bytes: u64,
    /// Objects it may hold, versions included; 0 = unlimited.
    pub quota_objects: u64,
    pub versioning: crate::model::Versioning,
    /// Object lock is enabled (decision 0039).
    pub object_lock: bool,
    /// Default encryption of new objects (decision 0044).
    pub encryption: Option<crate::sse::BucketEncryption>,
    /// A share: the bytes its snapshots hold, counted against its size limit with
    /// `usage_bytes`.
    pub snapshot_bytes: u64,
    /// The bucket's tags (S3 bucket tagging).
    pub tags: Vec<(String, String)>,
}

impl From<BucketRecord> for BucketInfo {
    fn from(b: BucketRecord) -> Self {
        BucketInfo {
            name: b.name,
            kind: b.kind,
            created_ms: b.created_ms,
            owner: b.owner,
            usage_bytes: b.usage_bytes,
            noncurrent_bytes: b.noncurrent_bytes,
            object_count: b.object_count,
            noncurrent_objects: b.version_rows,
            quota_bytes: b.quota_bytes,
            quota_objects: b.quota_objects,
            versioning: b.versioning,
            object_lock: b.object_lock.is_some(),
            encryption: b.encryption,
            snapshot_bytes: b.snapshot_bytes,
            tags: b.tags,
        }
    }
}

impl Store {
    pub async fn create_bucket(&self, p: &Principal, name: &str) -> Result<BucketInfo> {
        self.create_bucket_with(p, name, false, None).await
    }

    /// CreateBucket; `object_lock`: `x-amz-bucket-object-lock-enabled: true` (object lock on,
    /// and with it versioning, decision 0039).
    pub async fn create_bucket_with(
        &self,
        p: &Principal,
        name: &str,
        object_lock: bool,
        // CreateBucket's ACL and Object Ownership (decision 0042), stored in the same commit.
        access: Option<crate::model::BucketAccessRecord>,
    ) -> Result<BucketInfo> {
        let kind = naming::bucket_kind(name)?;
        if kind == BucketKind::Share {
            // Tools that create the bucket before writing (rclone) get the usual answer for an
            // existing bucket; a share that does not exist is created as a share.
            if let Ok(b) = self.bucket_record(name) {
                return Err(if b.owner == p.user_id {
                    StoreError::BucketAlreadyOwnedByYou
                } else {
                    StoreError::BucketAlreadyExists
                });
            }
        }
        deny(authorize(p, Verb::Create, Resource::Buckets(Some(name))))?;
        if kind == BucketKind::System {
            return Err(StoreError::BucketAlreadyExists);
        }
        if kind == BucketKind::Share {
            return Err(StoreError::InvalidBucketName(format!(
                "{name} is a file share's bucket: create the share instead (gatehouse share create, POST /api/shares)"
            )));
        }
        let name = name.to_string();
        let owner = p.user_id.clone();
        let created = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    {
                        let t = txn.open_table(BUCKETS)?;
                        if let Some(v) = t.get(name.as_str())? {
                            let b: BucketRecord = codec::decode(v.value())?;
                            return Err(if b.owner == owner {
                                StoreError::BucketAlreadyOwnedByYou
                            } else {
                                StoreError::BucketAlreadyExists
                            });
                        }
                    }
                    let now = now_ms();
                    super::access::put_binding(
                        txn,
                        Subject::User(owner.clone()),
                        "bucket-admin",
                        &Scope::Bucket(name.clone()),
                        now,
                    )?;
                    let mut rec = BucketRecord::new(
                        txn::next_counter(&mut Ns::new(txn), "next_bucket_id")?,
                        name,
                        kind,
                        owner,
                        now,
                    );
                    if object_lock {
                        rec.versioning = crate::model::Versioning::Enabled;
                        rec.object_lock = Some(crate::model::ObjectLockConfig::default());
                    };
                    txn::put_bucket(&mut Ns::new(txn), &rec)?;
                    if let Some(a) = access.filter(|a| !a.is_empty()) {
                        txn.open_table(crate::tables::BUCKET_ACCESS)?
                            .insert(rec.name.as_str(), codec::encode(&a)?.as_slice())?;
                    }
                    Ok(BucketInfo::from(rec))
                },
                self.policy_changed(),
            )
            .await?;
        super::users::audit(p, "bucket.create", &created.name);
        self.reload_policy()?;
        Ok(created)
    }

    /// Deletes an empty bucket; its unfinished multipart uploads are aborted with it.
    pub async fn delete_bucket(&self, p: &Principal, name: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Buckets(Some(name))))?;
        if name == naming::SYSTEM_BUCKET {
            return Err(StoreError::AccessDenied(
                "the system bucket cannot be deleted".into(),
            ));
        }
        if name.starts_with(naming::SHARE_PREFIX) {
            return Err(StoreError::Conflict(format!(
                "{name} is a file share's bucket: delete the share instead (gatehouse share delete, DELETE /api/shares/…)"
            )));
        }
        let name_for_audit = name;
        let name = name.to_string();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    let b = txn::get_bucket(&Ns::new(txn), &name)?;
                    {
                        let entries = txn.open_table(ENTRIES)?;
                        let start = b.id.to_be_bytes();
                        let end = (b.id + 1).to_be_bytes();
                        // Noncurrent versions and delete markers count: S3 deletes only a
                        // bucket with no version of anything left.
                        let versions = txn.open_table(crate::tables::VERSION_HEADS)?;
                        if entries
                            .range(start.as_slice()..end.as_slice())?
                            .next()
                            .is_some()
                            || versions
                                .range(start.as_slice()..end.as_slice())?
                                .next()
                                .is_some()
                        {
                            return Err(StoreError::BucketNotEmpty);
                        }
                    }
                    // Abort the bucket's uploads: collect first, then drop their parts' references.
                    let mut doomed = Vec::new();
                    {
                        let uploads = txn.open_table(UPLOADS)?;
                        for e in uploads.iter()? {
                            let (k, v) = e?;
                            let u: UploadRecord = codec::decode(v.value())?;
                            if u.bucket == name {
                                doomed.push(k.value().to_string());
                            }
                        }
                    }
                    for id in doomed {
                        super::multipart::drop_upload(&mut Ns::new(txn), &id)?;
                    }
                    txn::remove_bucket(&mut Ns::new(txn), &name)?;
                    // A later bucket of the same name must not inherit grants.
                    super::drop_bucket_bindings(txn, &name)?;
                    crate::bucket_access::forget(txn, &name)?;
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        super::users::audit(p, "bucket.delete", name_for_audit);
        self.reload_policy()
    }

    /// Sets a bucket's (or a share's) limits (issue 22): `quota_bytes` and `quota_objects`
    /// (versions included), each 0 = unlimited, `None` = unchanged. A limit is the storage
    /// operator's (`put` on `storage`), not the bucket owner's; a bucket already over a new
    /// limit keeps what it holds and takes no more.
    pub async fn set_bucket_quota(
        &self,
        p: &Principal,
        bucket: &str,
        quota_bytes: Option<u64>,
        quota_objects: Option<u64>,
    ) -> Result<BucketInfo> {
        deny(authorize(p, Verb::Put, Resource::Storage))?;
        if bucket == naming::SYSTEM_BUCKET || naming::snapshot_parts(bucket).is_some() {
            return Err(StoreError::AccessDenied(format!(
                "bucket {bucket} takes no quota"
            )));
        }
        let name = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &name)?;
                if let Some(q) = quota_bytes {
                    b.quota_bytes = q;
                }
                if let Some(q) = quota_objects {
                    b.quota_objects = q;
                }
                txn::put_bucket(&mut ns, &b)?;
                drop(ns);
                // A share keeps its limits in its record too (shown and restored from there).
                if let Some(share) = name.strip_prefix(naming::SHARE_PREFIX) {
                    let mut shares = t.open_table(crate::tables::SHARES)?;
                    let rec = match shares.get(share)? {
                        Some(v) => Some(codec::decode::<crate::model::ShareRecord>(v.value())?),
                        None => None,
                    };
                    if let Some(mut rec) = rec {
                        rec.quota_bytes = b.quota_bytes;
                        rec.max_objects = b.quota_objects;
                        shares.insert(share, codec::encode(&rec)?.as_slice())?;
                    }
                }
                Ok(())
            })
            .await?;
        super::users::audit(p, "bucket.quota", bucket);
        self.head_bucket(p, bucket)
    }

    /// Creates the reserved system bucket if missing (start-up; owned by `owner`).
    pub async fn ensure_system_bucket(&self, owner: &str) -> Result<()> {
        let owner = owner.to_string();
        self.inner
            .committer
            .write(move |txn| {
                if txn
                    .open_table(BUCKETS)?
                    .get(naming::SYSTEM_BUCKET)?
                    .is_some()
                {
                    return Ok(());
                }
                let rec = BucketRecord::new(
                    txn::next_counter(&mut Ns::new(txn), "next_bucket_id")?,
                    naming::SYSTEM_BUCKET.to_string(),
                    BucketKind::System,
                    owner,
                    now_ms(),
                );
                txn::put_bucket(&mut Ns::new(txn), &rec)
            })
            .await
    }

    /// HeadBucket: the bucket's record if it exists and the caller may see it.
    pub fn head_bucket(&self, p: &Principal, name: &str) -> Result<BucketInfo> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(name))))?;
        self.bucket_record(name).map(Into::into)
    }

    /// Buckets the caller may list, in name order: an owner's own, any its bindings reach;
    /// nobody else's.
    pub fn list_buckets(&self, p: &Principal) -> Result<Vec<BucketInfo>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            let b: BucketRecord = codec::decode(v.value())?;
            // Snapshots are reached by name, not listed (decision 0040).
            if b.snapshot_of.is_none()
                && authorize(p, Verb::List, Resource::Buckets(Some(&b.name))).allowed
            {
                out.push(b.into());
            }
        }
        Ok(out)
    }

    /// Whether no bucket (nor share, nor snapshot) has this name: S3 answers `NoSuchBucket` to
    /// anyone who names one, where a refusal would otherwise be `AccessDenied`. The one read
    /// without `authorize`, used only to pick that error; `false` when the store cannot tell.
    pub fn bucket_missing(&self, name: &str) -> bool {
        matches!(self.bucket_record(name), Err(StoreError::NoSuchBucket))
    }

    /// Put/DeleteBucketTagging: the bucket's tags replaced (empty: none). Changing them is
    /// changing the bucket's settings (`put` on the bucket); a snapshot is read-only, the
    /// system bucket is no one's to tag. The gateway has validated them.
    pub async fn set_bucket_tags(
        &self,
        p: &Principal,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(name))))?;
        let action = if tags.is_empty() {
            "bucket.tagging.delete"
        } else {
            "bucket.tagging.put"
        };
        let bucket = name.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                b.tags = tags;
                txn::put_bucket(&mut ns, &b)
            })
            .await?;
        crate::ops::audit_action(p, action, name);
        Ok(())
    }

    /// Whether bucket `name` exists and `owner` (a user id) owns it: the check of S3's
    /// `x-amz-expected-bucket-owner`, which refuses a request whose bucket someone else owns.
    /// Read without `authorize`, like [`Store::bucket_missing`], and as safe: a caller who
    /// guesses right still meets `authorize` next, so the answer tells it nothing a refusal
    /// does not.
    pub fn bucket_owned_by(&self, name: &str, owner: &str) -> bool {
        self.bucket_record(name).is_ok_and(|b| b.owner == owner)
    }

    pub(crate) fn bucket_record(&self, name: &str) -> Result<BucketRecord> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let v = t.get(name)?.ok_or(StoreError::NoSuchBucket)?;
        codec::decode(v.value())
    }
}
