//! S3 ACLs mapped onto the one decision (decision 0042): a bucket's ACL (kept with its access
//! settings), an object's (in its record, per version), and the bucket's Object Ownership
//! (whether ACLs are in force). What a grant allows is `rbac::bucket_access`'s; this module
//! stores and validates.

use redb::ReadableDatabase;

use crate::error::{Result, StoreError};
use crate::model::{Acl, Grantee, ObjectOwnership, Principal};
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::rbac::{Resource, Verb, authorize, authorize_with_acl};
use crate::{Store, deny, tables};

/// A bucket's ACL and the owner it is shown with.
#[derive(Debug, Clone)]
pub struct AclView {
    /// User id of the bucket's owner (who has FULL_CONTROL in every ACL here).
    pub owner: String,
    pub acl: Acl,
}

impl Store {
    /// Every user an ACL names must exist (S3: InvalidArgument "Invalid id").
    fn check_grantees(&self, acl: &Acl) -> Result<()> {
        let txn = self.db().begin_read()?;
        let users = txn.open_table(tables::USERS)?;
        for g in &acl.grants {
            if let Grantee::User(id) = &g.grantee
                && users.get(id.as_str())?.is_none()
            {
                return Err(StoreError::InvalidArgument(format!("Invalid id: {id}")));
            }
        }
        Ok(())
    }

    /// The extra permissions a write's ACL and tags need (s3:PutObjectAcl,
    /// s3:PutObjectTagging, besides s3:PutObject).
    pub(crate) fn authorize_extras(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        acl: Option<&Acl>,
        tagged: bool,
    ) -> Result<()> {
        let target = Resource::Object(bucket, key);
        if acl.is_some_and(|a| !a.grants.is_empty()) {
            deny(crate::rbac::authorize_action(
                p,
                "s3:PutObjectAcl",
                Verb::Put,
                target,
            ))?;
        }
        if tagged {
            deny(crate::rbac::authorize_action(
                p,
                "s3:PutObjectTagging",
                Verb::Put,
                target,
            ))?;
        }
        Ok(())
    }

    /// Whether `bucket` accepts `acl`: ACLs in force (or the ACL grants nothing), and not a
    /// public one where a public access block refuses it. Asked before every write that
    /// carries an ACL (PutBucketAcl, PutObjectAcl, PutObject/CopyObject/CreateMultipartUpload
    /// with `x-amz-acl` or `x-amz-grant-*`).
    pub(crate) fn accepts_acl(&self, bucket: &str, acl: Option<&Acl>) -> Result<()> {
        let Some(acl) = acl.filter(|a| !a.grants.is_empty()) else {
            return Ok(());
        };
        let policy = self.policy();
        let access = policy.access.bucket(bucket);
        if access.is_some_and(|a| a.ownership == ObjectOwnership::BucketOwnerEnforced) {
            return Err(StoreError::AclNotSupported(format!(
                "bucket {bucket} has Object Ownership BucketOwnerEnforced"
            )));
        }
        if acl.is_public() && policy.access.block(bucket).block_public_acls {
            return Err(StoreError::AccessDenied(format!(
                "the public access block of {bucket} refuses public ACLs"
            )));
        }
        self.check_grantees(acl)
    }

    /// Whether the bucket's policy lets anyone, unsigned, read `key` (or list the bucket):
    /// shown as an AllUsers READ grant by Get*Acl, as the issue asks (decision 0042).
    pub fn policy_public_read(&self, bucket: &str, key: Option<&str>) -> bool {
        let anon = self.anonymous();
        let (action, verb, resource) = match key {
            Some(k) => ("s3:GetObject", Verb::Get, Resource::Object(bucket, k)),
            None => ("s3:ListBucket", Verb::List, Resource::Objects(bucket)),
        };
        let anon = anon.with_facts(crate::rbac::RequestFacts {
            action: Some((action, verb)),
            ..Default::default()
        });
        let has_policy = self
            .policy()
            .access
            .bucket(bucket)
            .is_some_and(|a| a.policy.is_some());
        has_policy && authorize(&anon, verb, resource).allowed
    }

    /// The owner of `bucket` (an AccessControlPolicy body names it), for a caller who may read
    /// or change the bucket's or its objects' ACLs.
    pub fn bucket_owner(&self, p: &Principal, bucket: &str) -> Result<String> {
        let b = self.bucket_record(bucket)?;
        let may = |verb| {
            authorize(p, verb, Resource::Buckets(Some(bucket))).allowed
                || authorize(p, verb, Resource::Objects(bucket)).allowed
        };
        if !may(Verb::Put) && !may(Verb::Get) {
            return Err(StoreError::AccessDenied(format!(
                "{} may not read the owner of bucket {bucket}",
                p.name
            )));
        }
        Ok(b.owner)
    }

    /// The owner shown in a listing's `<Owner>` elements: every object is its bucket owner's
    /// (decision 0042). For answers to a listing already authorized, so it asks nothing more.
    pub fn listing_owner(&self, bucket: &str) -> Result<String> {
        Ok(self.bucket_record(bucket)?.owner)
    }

    /// Refuses, before a bucket is created, an ACL it would not take (CreateBucket with
    /// `x-amz-acl` and `x-amz-object-ownership`): nothing is created then.
    pub fn accepts_new_bucket_acl(
        &self,
        bucket: &str,
        ownership: Option<ObjectOwnership>,
        acl: Option<&Acl>,
    ) -> Result<()> {
        let Some(acl) = acl.filter(|a| !a.grants.is_empty()) else {
            return Ok(());
        };
        if ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
            return Err(StoreError::AclNotSupported(
                "x-amz-object-ownership is BucketOwnerEnforced".into(),
            ));
        }
        if acl.is_public() && self.policy().access.block(bucket).block_public_acls {
            return Err(StoreError::AccessDenied(
                "public access is blocked on this server (s3.block_public_access)".into(),
            ));
        }
        self.check_grantees(acl)
    }

    /// GetBucketAcl.
    pub fn bucket_acl(&self, p: &Principal, bucket: &str) -> Result<AclView> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        let b = self.bucket_record(bucket)?;
        let acl = self
            .policy()
            .access
            .bucket(bucket)
            .filter(|a| a.ownership != ObjectOwnership::BucketOwnerEnforced)
            .and_then(|a| a.acl.clone())
            .unwrap_or_default();
        Ok(AclView {
            owner: b.owner,
            acl,
        })
    }

    /// PutBucketAcl (and CreateBucket's `x-amz-acl`).
    pub async fn set_bucket_acl(&self, p: &Principal, bucket: &str, acl: Acl) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.accepts_acl(bucket, Some(&acl))?;
        self.change_access(bucket, move |r| {
            r.acl = Some(acl);
            Ok(())
        })
        .await
    }

    /// GetBucketOwnershipControls: `None` when never set.
    pub fn ownership(&self, p: &Principal, bucket: &str) -> Result<Option<ObjectOwnership>> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        Ok(self.access_record(bucket)?.ownership)
    }

    /// Put/DeleteBucketOwnershipControls (`None`: back to the default). Under
    /// BucketOwnerEnforced every ACL stays stored but grants nothing.
    pub async fn set_ownership(
        &self,
        p: &Principal,
        bucket: &str,
        to: Option<ObjectOwnership>,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        self.change_access(bucket, move |r| {
            r.ownership = to;
            Ok(())
        })
        .await
    }

    /// GetObjectAcl of the current object or of version `version`.
    pub fn object_acl(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<AclView> {
        let read = || match version {
            Some(v) => self.read_version(bucket, key, v),
            None => self.read_object(bucket, key),
        };
        let info = self.read_or_deny(p, Verb::Get, bucket, key, read)?;
        let b = self.bucket_record(bucket)?;
        let acls_on = self
            .policy()
            .access
            .bucket(bucket)
            .is_none_or(|a| a.ownership != ObjectOwnership::BucketOwnerEnforced);
        Ok(AclView {
            owner: b.owner,
            acl: info.record.acl.filter(|_| acls_on).unwrap_or_default(),
        })
    }

    /// PutObjectAcl of the current object or of version `version`.
    pub async fn set_object_acl(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<String>,
        acl: Acl,
    ) -> Result<()> {
        let read = || match version.as_deref() {
            Some(v) => self.read_version(bucket, key, v),
            None => self.read_object(bucket, key),
        };
        let seen = self.read_or_deny(p, Verb::Put, bucket, key, read)?.ino;
        self.accepts_acl(bucket, Some(&acl))?;
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let b = txn::get_bucket(&ns, &bucket)?;
                let (ino, _) = crate::versioning::resolve_in(&ns, &b, &key, version.as_deref())?;
                // The object decided on, not one written over it since.
                if ino != seen {
                    return Err(StoreError::Conflict(format!(
                        "{key} changed while its ACL was being set: try again"
                    )));
                }
                let mut rec = txn::get_inode(&ns, ino)?;
                rec.acl = (!acl.grants.is_empty()).then_some(acl);
                txn::put_inode(&mut ns, ino, &rec, false)
            })
            .await
    }

    /// Inside a change's own transaction: under a policy reading existing tags, `verb` decided
    /// again on object `key` of `bucket` as the transaction finds it (`rec`), since a decision
    /// made before it ran saw the object as it was then. Nothing to do without such a policy.
    pub(crate) fn decide_on_tags(
        p: &Principal,
        verb: Verb,
        bucket: &str,
        key: &str,
        rec: &crate::model::ObjectRecord,
    ) -> Result<()> {
        if !crate::rbac::bucket_access::reads_existing_tags(p, bucket) {
            return Ok(());
        }
        deny(authorize_with_acl(
            &crate::rbac::bucket_access::with_existing_tags(p, &rec.tags),
            verb,
            Resource::Object(bucket, key),
            rec.acl.as_ref(),
        ))
    }

    /// `authorize(p, verb, Object(bucket, key))` for a change of an existing object (its tags,
    /// retention, legal hold): under a policy with `s3:ExistingObjectTag` conditions, decided
    /// on the tags of version `version` (`None`: the current one) as it is now; an object not
    /// there has none.
    pub(crate) fn authorize_existing(
        &self,
        p: &Principal,
        verb: Verb,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<()> {
        use crate::rbac::bucket_access::{reads_existing_tags, with_existing_tags};
        if !reads_existing_tags(p, bucket) {
            return deny(authorize(p, verb, Resource::Object(bucket, key)));
        }
        let found = match version {
            Some(id) => self.read_version(bucket, key, id),
            None => self.read_object(bucket, key),
        };
        let tags = found.map(|f| f.record.tags).unwrap_or_default();
        deny(authorize(
            &with_existing_tags(p, &tags),
            verb,
            Resource::Object(bucket, key),
        ))
    }

    /// Reads an object for `p`, who may `verb` it by bindings, policy or the object's own
    /// ACL. A caller refused without the ACL learns nothing from a missing object: it gets
    /// the refusal, not NoSuchKey.
    pub(crate) fn read_or_deny<T: HasAcl>(
        &self,
        p: &Principal,
        verb: Verb,
        bucket: &str,
        key: &str,
        read: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        // A policy reading the object's existing tags decides on the object as read.
        if crate::rbac::bucket_access::reads_existing_tags(p, bucket) {
            let found = match read() {
                Ok(found) => found,
                Err(StoreError::NoSuchKey)
                    if authorize(p, Verb::List, Resource::Objects(bucket)).allowed =>
                {
                    return Err(StoreError::NoSuchKey);
                }
                // Nothing to read the tags of: decided without them, the error kept for a
                // caller allowed.
                Err(e) => {
                    deny(authorize(p, verb, Resource::Object(bucket, key)))?;
                    return Err(e);
                }
            };
            let tagged = crate::rbac::bucket_access::with_existing_tags(p, found.tags());
            deny(authorize_with_acl(
                &tagged,
                verb,
                Resource::Object(bucket, key),
                found.acl(),
            ))?;
            return Ok(found);
        }
        let first = authorize(p, verb, Resource::Object(bucket, key));
        if first.allowed {
            return read();
        }
        let found = match read() {
            Ok(found) => found,
            // A key that is not there: those who may list the bucket (a binding, its policy or
            // its ACL's READ) are told so, as S3 tells them; others are refused.
            Err(StoreError::NoSuchKey)
                if authorize(p, Verb::List, Resource::Objects(bucket)).allowed =>
            {
                return Err(StoreError::NoSuchKey);
            }
            Err(_) => return Err(deny(first).err().unwrap_or(StoreError::NoSuchKey)),
        };
        deny(authorize_with_acl(
            p,
            verb,
            Resource::Object(bucket, key),
            found.acl(),
        ))?;
        Ok(found)
    }
}

/// What carries an object's ACL (an `ObjectInfo`, or one opened with its pins).
pub(crate) trait HasAcl {
    fn acl(&self) -> Option<&Acl>;
    /// The object's tags (a policy's `s3:ExistingObjectTag`).
    fn tags(&self) -> &[(String, String)];
}

impl HasAcl for crate::ops::ObjectInfo {
    fn acl(&self) -> Option<&Acl> {
        self.record.acl.as_ref()
    }
    fn tags(&self) -> &[(String, String)] {
        &self.record.tags
    }
}

impl HasAcl for (crate::ops::ObjectInfo, crate::blobs::Pins) {
    fn acl(&self) -> Option<&Acl> {
        self.0.record.acl.as_ref()
    }
    fn tags(&self) -> &[(String, String)] {
        &self.0.record.tags
    }
}
