//! S3 object lock (decision 0039): a bucket's lock setting and default retention, and each
//! version's retention and legal hold. [`check_remove`] is the one rule every path that would
//! destroy a version goes through (S3 DELETE of a version, the file view's writes and removes,
//! lifecycle, share deletion); [`check_retention_change`] the one for changing a retention.
//! Whether a principal may bypass GOVERNANCE is RBAC's answer (the `bypass-governance` verb),
//! asked once per request by the caller.

use crate::error::{Result, StoreError};
use crate::model::{
    BucketRecord, DefaultRetention, LockMode, ObjectLockConfig, ObjectRecord, Principal, Retention,
    Versioning,
};
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::rbac::{Resource, Verb, authorize};
use crate::{Store, deny};

const DAY_MS: i64 = 86_400_000;

/// What a writer asks of a new version's lock (headers of PutObject, CopyObject,
/// CreateMultipartUpload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockRequest {
    pub retention: Option<Retention>,
    pub legal_hold: Option<bool>,
}

impl LockRequest {
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }
}

/// Whether a version is protected now (a retention not yet past, or a legal hold).
pub fn is_locked(rec: &ObjectRecord, now_ms: i64) -> bool {
    rec.legal_hold || rec.retention.is_some_and(|r| r.until_ms > now_ms)
}

/// The message S3 gives when object lock stops a request.
const PROTECTED: &str = "Access Denied because object protected by object lock.";

/// May version `rec` be destroyed now? `bypass`: the request asked to bypass GOVERNANCE and
/// its principal may.
pub(crate) fn check_remove(rec: &ObjectRecord, bypass: bool, now_ms: i64) -> Result<()> {
    if rec.legal_hold {
        return Err(StoreError::AccessDenied(PROTECTED.into()));
    }
    match rec.retention {
        Some(r) if r.until_ms > now_ms => match r.mode {
            LockMode::Governance if bypass => Ok(()),
            _ => Err(StoreError::AccessDenied(PROTECTED.into())),
        },
        _ => Ok(()),
    }
}

/// May a version's retention go from `old` to `new` now? Extending it in the same mode is
/// always allowed; any other change of a retention in force — shortened, removed, or its mode
/// changed — is refused for COMPLIANCE and needs `bypass` for GOVERNANCE (as S3 answers, even
/// GOVERNANCE to COMPLIANCE).
pub(crate) fn check_retention_change(
    old: Option<&Retention>,
    new: Option<&Retention>,
    bypass: bool,
    now_ms: i64,
) -> Result<()> {
    if let Some(n) = new
        && n.until_ms <= now_ms
    {
        return Err(StoreError::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    let Some(o) = old.filter(|o| o.until_ms > now_ms) else {
        return Ok(());
    };
    let weaker = match new {
        None => true,
        Some(n) => n.until_ms < o.until_ms || n.mode != o.mode,
    };
    if !weaker {
        return Ok(());
    }
    match o.mode {
        LockMode::Governance if bypass => Ok(()),
        _ => Err(StoreError::AccessDenied(PROTECTED.into())),
    }
}

/// Whether a write may ask `req` of bucket `b` now: lock only where the bucket has it, a
/// retention only into the future (also checked when a multipart upload begins, so its parts
/// are not uploaded for a completion that must be refused).
pub(crate) fn check_request(b: &BucketRecord, req: &LockRequest, now_ms: i64) -> Result<()> {
    if b.object_lock.is_none() && !req.is_empty() {
        return Err(StoreError::InvalidRequest(
            "Bucket is missing Object Lock Configuration".into(),
        ));
    }
    if let Some(r) = req.retention
        && r.until_ms <= now_ms
    {
        return Err(StoreError::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(())
}

/// The lock a new version in `b` gets: what its writer asked (refused where the bucket has no
/// object lock), else the bucket's default retention.
pub(crate) fn apply_to_new(
    b: &BucketRecord,
    req: &LockRequest,
    rec: &mut ObjectRecord,
    now_ms: i64,
) -> Result<()> {
    check_request(b, req, now_ms)?;
    let Some(cfg) = b.object_lock else {
        rec.retention = None;
        rec.legal_hold = false;
        return Ok(());
    };
    rec.retention = req
        .retention
        .or_else(|| cfg.default.map(|d| default_retention(d, now_ms)));
    rec.legal_hold = req.legal_hold.unwrap_or(false);
    Ok(())
}

fn default_retention(d: DefaultRetention, now_ms: i64) -> Retention {
    let days = i64::from(d.days.unwrap_or(0)) + i64::from(d.years.unwrap_or(0)) * 365;
    Retention {
        mode: d.mode,
        until_ms: now_ms.saturating_add(days.saturating_mul(DAY_MS)),
    }
}

/// The file view's rule (decision 0039): a locked current version is read-only over NFS —
/// no write, truncate, attribute change, remove or rename of it (`NFS3ERR_ACCES`).
pub(crate) fn check_file_view(rec: &ObjectRecord) -> Result<()> {
    if is_locked(rec, crate::now_unix_ms()) {
        return Err(StoreError::AccessDenied(format!(
            "{PROTECTED} (a locked file is read-only)"
        )));
    }
    Ok(())
}

/// [`check_file_view`] for `key` of `b` (nothing to check where the bucket has no lock or the
/// key no current version).
pub(crate) fn check_file_view_key(ns: &Ns, b: &BucketRecord, key: &str) -> Result<()> {
    if b.object_lock.is_none() {
        return Ok(());
    }
    match txn::lookup(ns, b.id, key)? {
        Some(ino) => check_file_view(&txn::inode_attrs(ns, ino)?),
        None => Ok(()),
    }
}

/// Whether any version in bucket `b` is locked now (share deletion waits for none): a pass
/// over its versions, made only for a bucket with object lock.
pub(crate) fn any_locked(ns: &Ns, b: &BucketRecord) -> Result<bool> {
    use redb::ReadableTable;
    if b.object_lock.is_none() {
        return Ok(false);
    }
    let now = crate::now_unix_ms();
    let (lo, hi) = (b.id.to_be_bytes(), (b.id + 1).to_be_bytes());
    let mut inos = Vec::new();
    for e in ns.entries()?.range(lo.as_slice()..hi.as_slice())? {
        inos.push(e?.1.value());
    }
    for e in ns.version_log()?.range(lo.as_slice()..hi.as_slice())? {
        let (_, v) = e?;
        let r: crate::model::VersionLogRow = crate::codec::decode(v.value())?;
        inos.extend(r.row.inode);
    }
    for e in ns.inode_versions()?.range(lo.as_slice()..hi.as_slice())? {
        let (_, v) = e?;
        let row: crate::model::VersionRow = crate::codec::decode(v.value())?;
        inos.extend(row.inode);
    }
    for ino in inos {
        if is_locked(&txn::inode_attrs(ns, ino)?, now) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A write asking for a lock (`x-amz-object-lock-*`) needs the `lock` verb, as AWS asks for
/// s3:PutObjectRetention / s3:PutObjectLegalHold besides s3:PutObject.
pub(crate) fn authorize_request(
    p: &Principal,
    bucket: &str,
    key: &str,
    req: &LockRequest,
) -> Result<()> {
    let target = Resource::Object(bucket, key);
    if req.retention.is_some() {
        deny(crate::rbac::authorize_action(
            p,
            "s3:PutObjectRetention",
            Verb::Lock,
            target,
        ))?;
    }
    if req.legal_hold.is_some() {
        deny(crate::rbac::authorize_action(
            p,
            "s3:PutObjectLegalHold",
            Verb::Lock,
            target,
        ))?;
    }
    Ok(())
}

/// Whether `p` may bypass GOVERNANCE retention in `bucket` when a request asks to (`asked`:
/// `x-amz-bypass-governance-retention: true`).
pub fn may_bypass(p: &Principal, bucket: &str, asked: bool) -> bool {
    asked && authorize(p, Verb::BypassGovernance, Resource::Objects(bucket)).allowed
}

impl Store {
    /// PutObjectLockConfiguration: enables object lock (a versioned bucket only; it cannot be
    /// turned off) and sets or clears the default retention.
    pub async fn put_object_lock(
        &self,
        p: &Principal,
        bucket: &str,
        default: Option<DefaultRetention>,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        if let Some(d) = default {
            match (d.days, d.years) {
                (Some(n), None) | (None, Some(n)) if n > 0 => {}
                (Some(_), Some(_)) => {
                    return Err(StoreError::InvalidArgument(
                        "a default retention has Days or Years, not both".into(),
                    ));
                }
                _ => {
                    return Err(StoreError::InvalidArgument(
                        "Default retention period must be a positive integer value".into(),
                    ));
                }
            }
        }
        let bucket = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                if b.object_lock.is_none() && b.versioning != Versioning::Enabled {
                    return Err(StoreError::InvalidBucketState(
                        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                    ));
                }
                b.object_lock = Some(ObjectLockConfig { default });
                txn::put_bucket(&mut ns, &b)
            })
            .await
    }

    /// GetObjectLockConfiguration.
    pub fn object_lock(&self, p: &Principal, bucket: &str) -> Result<ObjectLockConfig> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?
            .object_lock
            .ok_or(StoreError::NoObjectLockConfiguration)
    }

    /// PutObjectRetention of version `version` (`None`: the current one); `bypass` as
    /// [`may_bypass`] answered.
    pub async fn put_retention(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<String>,
        retention: Option<Retention>,
        bypass: bool,
    ) -> Result<Option<String>> {
        self.authorize_existing(p, Verb::Lock, bucket, key, version.as_deref())?;
        self.change_lock(p, bucket, key, version, move |rec, now| {
            check_retention_change(rec.retention.as_ref(), retention.as_ref(), bypass, now)?;
            rec.retention = retention;
            Ok(())
        })
        .await
    }

    /// PutObjectLegalHold.
    pub async fn put_legal_hold(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<String>,
        on: bool,
    ) -> Result<Option<String>> {
        self.authorize_existing(p, Verb::Lock, bucket, key, version.as_deref())?;
        self.change_lock(p, bucket, key, version, move |rec, _| {
            rec.legal_hold = on;
            Ok(())
        })
        .await
    }

    /// Changes the lock of one version in a transaction; returns the version's id.
    async fn change_lock(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<String>,
        f: impl FnOnce(&mut ObjectRecord, i64) -> Result<()> + Send + 'static,
    ) -> Result<Option<String>> {
        let (bucket, key, p) = (bucket.to_string(), key.to_string(), p.clone());
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let b = txn::get_bucket(&ns, &bucket)?;
                if b.object_lock.is_none() {
                    return Err(StoreError::InvalidRequest(
                        "Bucket is missing Object Lock Configuration".into(),
                    ));
                }
                let (ino, _) = crate::versioning::resolve_in(&ns, &b, &key, version.as_deref())?;
                let mut rec = txn::inode_attrs(&ns, ino)?;
                Store::decide_on_tags(&p, Verb::Lock, &bucket, &key, &rec)?;
                f(&mut rec, crate::now_unix_ms())?;
                txn::put_inode(&mut ns, ino, &rec, false)?;
                Ok(rec.version_id.clone())
            })
            .await
    }
}
