//! Who may reach a bucket beyond its RBAC bindings (issue 22, decision 0041): its bucket
//! policy, its public access block and its CORS rules, kept in `bucket_access` (one row per
//! bucket that has any) and compiled into the policy snapshot that `rbac::authorize` reads.
//!
//! Every change goes through [`Store::reload_policy`], like a change of bindings, so the very
//! next request decides under it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use gatehouse_policy::{BucketPolicy, Directory, PrincipalName};
use redb::{ReadableDatabase, ReadableTable};

use crate::deny;
use crate::error::{BucketSetting, Result, StoreError};
use crate::model::{BucketAccessRecord, BucketKind, Principal, PublicAccessBlock};
use crate::naming::snapshot_parts;
use crate::ops::ns::Ns;
use crate::ops::txn;
use crate::rbac::policy::BUILTIN_GROUPS;
use crate::rbac::{AccessMap, BucketAccess, Resource, Verb, authorize};
use crate::{Store, codec, tables};

/// The users and groups a policy's Principal may name, as of one read transaction.
struct Names<'t> {
    txn: &'t redb::ReadTransaction,
}

impl Directory for Names<'_> {
    fn exists(&self, who: PrincipalName<'_>) -> bool {
        let found = |r: std::result::Result<bool, redb::Error>| r.unwrap_or(false);
        match who {
            PrincipalName::UserId(id) => found((|| {
                let t = self.txn.open_table(tables::USERS)?;
                Ok(t.get(id)?.is_some())
            })()),
            PrincipalName::UserName(name) => found((|| {
                let t = self.txn.open_table(tables::USER_NAMES)?;
                Ok(t.get(name)?.is_some())
            })()),
            PrincipalName::Group(g) => {
                BUILTIN_GROUPS.contains(&g)
                    || found((|| {
                        let t = self.txn.open_table(tables::GROUPS)?;
                        Ok(t.get(g)?.is_some())
                    })())
            }
        }
    }
}

impl Store {
    /// `s3.block_public_access` (start-up only): every bucket behaves as if all four public
    /// access block flags were set.
    pub fn set_block_public_access(&self, on: bool) -> Result<()> {
        self.inner.block_all_public.store(on, Ordering::Relaxed);
        self.reload_policy()
    }

    /// The principal of an unsigned S3 request (decision 0041).
    pub fn anonymous(&self) -> Principal {
        self.policy().anonymous()
    }

    /// Every bucket's access settings, compiled (for the policy snapshot).
    pub(crate) fn load_access(&self, txn: &redb::ReadTransaction) -> Result<AccessMap> {
        let mut buckets = HashMap::new();
        for e in txn.open_table(tables::BUCKET_ACCESS)?.iter()? {
            let (k, v) = e?;
            let bucket = k.value().to_string();
            let r: BucketAccessRecord = codec::decode(v.value())?;
            let policy = match &r.policy {
                // Validated when it was put; a principal removed since is no reason to lose
                // the rest of it, so it is parsed leniently here.
                Some(src) => {
                    match BucketPolicy::parse(&share_arns(src, &bucket), &bucket, &Everyone) {
                        Ok(p) => Some(Arc::new(p)),
                        Err(e) => {
                            tracing::error!(bucket = %bucket, reason = %e.reason, "stored bucket policy does not parse: it denies everything until replaced");
                            Some(Arc::new(deny_all(&bucket)?))
                        }
                    }
                }
                None => None,
            };
            buckets.insert(
                bucket,
                Arc::new(BucketAccess {
                    policy,
                    block: r.public_access_block.unwrap_or_default(),
                    cors: r.cors.as_deref().map(Arc::from),
                    acl: r.acl.clone(),
                    ownership: r.ownership.unwrap_or_default(),
                }),
            );
        }
        Ok(AccessMap {
            buckets,
            block_all_public: self.inner.block_all_public.load(Ordering::Relaxed),
        })
    }

    /// PutBucketPolicy: validated (MalformedPolicy with the reason), refused when public
    /// under BlockPublicPolicy, then in force for the next request.
    pub async fn put_bucket_policy(&self, p: &Principal, bucket: &str, json: &str) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.settable(bucket)?;
        unsupported_condition_keys(json)?;
        let policy = {
            let txn = self.db().begin_read()?;
            BucketPolicy::parse(&share_arns(json, bucket), bucket, &Names { txn: &txn })
                .map_err(|e| StoreError::MalformedPolicy(e.reason))?
        };
        if policy.is_public() && self.policy().access.block(bucket).block_public_policy {
            return Err(StoreError::AccessDenied(format!(
                "the policy of bucket {bucket} would make it public, which its public access block forbids"
            )));
        }
        let json = json.to_string();
        self.change_access(bucket, move |r| {
            r.policy = Some(json);
            Ok(())
        })
        .await
    }

    /// GetBucketPolicy: the policy as it was put.
    pub fn bucket_policy(&self, p: &Principal, bucket: &str) -> Result<String> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.access_record(bucket)?
            .policy
            .ok_or(StoreError::NoSuchBucketSetting(BucketSetting::Policy))
    }

    /// DeleteBucketPolicy (no policy is no error, as on AWS).
    pub async fn delete_bucket_policy(&self, p: &Principal, bucket: &str) -> Result<()> {
        // Removing a setting changes the bucket's settings: `put`, as setting it is.
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        self.change_access(bucket, |r| {
            r.policy = None;
            Ok(())
        })
        .await
    }

    /// GetBucketPolicyStatus: whether the bucket's policy is public.
    pub fn bucket_policy_public(&self, p: &Principal, bucket: &str) -> Result<bool> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        let policy = self.policy();
        let access = policy
            .access
            .bucket(bucket)
            .and_then(|a| a.policy.clone())
            .ok_or(StoreError::NoSuchBucketSetting(BucketSetting::Policy))?;
        Ok(access.is_public())
    }

    /// PutPublicAccessBlock.
    pub async fn put_public_access_block(
        &self,
        p: &Principal,
        bucket: &str,
        block: PublicAccessBlock,
    ) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.settable(bucket)?;
        self.change_access(bucket, move |r| {
            r.public_access_block = Some(block);
            Ok(())
        })
        .await
    }

    /// GetPublicAccessBlock: the bucket's own flags (the server's switch is not shown here).
    pub fn public_access_block(&self, p: &Principal, bucket: &str) -> Result<PublicAccessBlock> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.access_record(bucket)?
            .public_access_block
            .ok_or(StoreError::NoSuchBucketSetting(
                BucketSetting::PublicAccessBlock,
            ))
    }

    /// DeletePublicAccessBlock.
    pub async fn delete_public_access_block(&self, p: &Principal, bucket: &str) -> Result<()> {
        // Removing a setting changes the bucket's settings: `put`, as setting it is.
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        self.change_access(bucket, |r| {
            r.public_access_block = None;
            Ok(())
        })
        .await
    }

    /// PutBucketCors: `xml` is the gateway's canonical form of validated rules.
    pub async fn put_bucket_cors(&self, p: &Principal, bucket: &str, xml: String) -> Result<()> {
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.settable(bucket)?;
        self.change_access(bucket, move |r| {
            r.cors = Some(xml);
            Ok(())
        })
        .await
    }

    /// GetBucketCors.
    pub fn bucket_cors(&self, p: &Principal, bucket: &str) -> Result<String> {
        deny(authorize(p, Verb::Get, Resource::Buckets(Some(bucket))))?;
        self.access_record(bucket)?
            .cors
            .ok_or(StoreError::NoSuchBucketSetting(BucketSetting::Cors))
    }

    /// DeleteBucketCors.
    pub async fn delete_bucket_cors(&self, p: &Principal, bucket: &str) -> Result<()> {
        // Removing a setting changes the bucket's settings: `put`, as setting it is.
        deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        self.bucket_record(bucket)?;
        self.change_access(bucket, |r| {
            r.cors = None;
            Ok(())
        })
        .await
    }

    /// The CORS rules a browser's preflight is answered from: no principal (a preflight
    /// carries no credentials), `None` for a bucket without rules or that does not exist.
    pub fn cors_rules(&self, bucket: &str) -> Option<Arc<str>> {
        // A deleted share keeps its settings while parked: not answered for.
        self.bucket_record(bucket).ok()?;
        let bucket = match snapshot_parts(bucket) {
            Some((share, _)) => share,
            None => bucket,
        };
        self.policy().access.bucket(bucket)?.cors.clone()
    }

    /// A bucket whose settings may change: it exists, and is neither the system bucket nor a
    /// snapshot.
    fn settable(&self, bucket: &str) -> Result<()> {
        let b = self.bucket_record(bucket)?;
        if b.kind == BucketKind::System || b.snapshot_of.is_some() {
            return Err(StoreError::AccessDenied(format!(
                "bucket {bucket} takes no access settings"
            )));
        }
        Ok(())
    }

    /// The bucket's row (an empty record when it has none); `NoSuchBucket` when it does not
    /// exist.
    pub(crate) fn access_record(&self, bucket: &str) -> Result<BucketAccessRecord> {
        self.bucket_record(bucket)?;
        let txn = self.db().begin_read()?;
        let t = txn.open_table(tables::BUCKET_ACCESS)?;
        Ok(match t.get(bucket)? {
            Some(v) => codec::decode(v.value())?,
            None => BucketAccessRecord::default(),
        })
    }

    /// Changes the bucket's row in one commit (a row left empty is removed), then the policy
    /// snapshot.
    pub(crate) async fn change_access<F>(&self, bucket: &str, f: F) -> Result<()>
    where
        F: FnOnce(&mut BucketAccessRecord) -> Result<()> + Send + 'static,
    {
        let bucket = bucket.to_string();
        self.inner
            .committer
            .write_then(
                move |t| {
                    let ns = Ns::new(t);
                    txn::get_bucket(&ns, &bucket)?;
                    let mut table = t.open_table(tables::BUCKET_ACCESS)?;
                    let mut r: BucketAccessRecord = match table.get(bucket.as_str())? {
                        Some(v) => codec::decode(v.value())?,
                        None => BucketAccessRecord::default(),
                    };
                    f(&mut r)?;
                    if r.is_empty() {
                        table.remove(bucket.as_str())?;
                    } else {
                        table.insert(bucket.as_str(), codec::encode(&r)?.as_slice())?;
                    }
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()
    }
}

/// The policy of the console's and CLI's "public" preset (MyFSIO's Public): anyone, signed or
/// not, may read every object and list the bucket.
pub fn public_preset(bucket: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::{bucket}/*"]}},{{"Sid":"PublicList","Effect":"Allow","Principal":"*","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::{bucket}"]}}]}}"#
    )
}

/// Which preset a bucket's policy is: `private` (none), `public` ([`public_preset`]) or
/// `custom`.
pub fn preset_of(bucket: &str, policy: Option<&str>) -> &'static str {
    match policy {
        None => "private",
        Some(p) if p == public_preset(bucket) => "public",
        Some(_) => "custom",
    }
}

/// Condition keys a request here answers (`rbac::bucket_access::FactConditions`, the S3
/// gateway's `facts.rs`). Any other key would be absent from every request, so a statement
/// using it would silently never match (or always, negated): refused at put instead.
const SUPPORTED_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:securetransport",
    "aws:referer",
    "aws:useragent",
    "aws:currenttime",
    "aws:epochtime",
    "aws:username",
    "aws:userid",
    "aws:principaltype",
    "s3:authtype",
    "s3:signatureversion",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:versionid",
    "s3:x-amz-acl",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:x-amz-content-sha256",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-legal-hold",
    "s3:requestobjecttagkeys",
];

/// MalformedPolicy naming the first condition key this server never supplies.
fn unsupported_condition_keys(json: &str) -> Result<()> {
    // The document's own validation (`gatehouse_policy`) reports malformed JSON.
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return Ok(());
    };
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    for st in statements {
        let Some(serde_json::Value::Object(ops)) = st.get("Condition") else {
            continue;
        };
        for keys in ops.values() {
            let serde_json::Value::Object(keys) = keys else {
                continue;
            };
            for key in keys.keys() {
                let k = key.to_ascii_lowercase();
                if !SUPPORTED_KEYS.contains(&k.as_str())
                    && !k.starts_with("s3:requestobjecttag/")
                    && !k.starts_with(gatehouse_policy::EXISTING_OBJECT_TAG)
                {
                    return Err(StoreError::MalformedPolicy(format!(
                        "the condition key {key} is not supported by this server (it would never be present in a request)"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A share's policy may name its bucket as S3 clients do (`fs--X`, decision 0012) or as it is
/// stored (`fs+X`): the alias is read as the bucket. The document is kept as written.
fn share_arns<'a>(json: &'a str, bucket: &str) -> std::borrow::Cow<'a, str> {
    match bucket.strip_prefix(crate::naming::SHARE_PREFIX) {
        Some(share) => {
            let alias = format!("arn:aws:s3:::{}", crate::naming::share_alias(share));
            if json.contains(&alias) {
                std::borrow::Cow::Owned(json.replace(&alias, &format!("arn:aws:s3:::{bucket}")))
            } else {
                std::borrow::Cow::Borrowed(json)
            }
        }
        None => std::borrow::Cow::Borrowed(json),
    }
}

/// Drops a bucket's access settings in its deletion's (or purge's) transaction.
pub(crate) fn forget(t: &redb::WriteTransaction, bucket: &str) -> Result<bool> {
    let mut table = t.open_table(tables::BUCKET_ACCESS)?;
    Ok(table.remove(bucket)?.is_some())
}

/// A policy that denies everything: what a stored policy that no longer parses stands for.
fn deny_all(bucket: &str) -> Result<BucketPolicy> {
    let src = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
    );
    BucketPolicy::parse(&src, bucket, &Everyone).map_err(|e| StoreError::internal(&e.reason))
}

/// A directory that knows everyone: a stored policy is not refused for a principal removed
/// after it was put (that statement then matches nobody).
struct Everyone;

impl Directory for Everyone {
    fn exists(&self, _who: PrincipalName<'_>) -> bool {
        true
    }
}
