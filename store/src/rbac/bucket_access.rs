//! Bucket policies and public access inside the one decision (issue 22, decision 0041).
//!
//! [`authorize`](super::authorize) asks [`decide`] after the RBAC bindings: an explicit Deny
//! in the bucket's policy refuses whatever the bindings allow; an Allow grants what the
//! bindings do not (this is how anonymous callers reach anything at all); no matching
//! statement leaves the bindings' answer. What a request is — its S3 action, its address, how
//! it was signed, the values of its condition keys — travels with the principal as
//! [`RequestFacts`], set by the gateway; the object key comes with the resource.
//!
//! Exceptions (decision 0041): an administrator may always read, replace or delete a bucket's
//! policy (AWS's root-user escape from a policy that locks everyone out), and the system
//! bucket never has a policy.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse_policy::{BucketPolicy, Conditions, Outcome, Request, Subject, Target};

use super::{Resource, Verb};
use crate::model::{Acl, AclPermission, Grantee, ObjectOwnership, Principal, PublicAccessBlock};

/// One bucket's compiled access settings.
#[derive(Debug, Default)]
pub struct BucketAccess {
    pub policy: Option<Arc<BucketPolicy>>,
    pub block: PublicAccessBlock,
    /// CORS rules in the S3 gateway's canonical XML.
    pub cors: Option<Arc<str>>,
    /// The bucket's ACL (decision 0042).
    pub acl: Option<Acl>,
    pub ownership: ObjectOwnership,
}

/// Every bucket's access settings, as of the last change: part of the policy snapshot.
#[derive(Debug, Default)]
pub struct AccessMap {
    pub buckets: HashMap<String, Arc<BucketAccess>>,
    /// `s3.block_public_access`: the four public access block flags on for every bucket.
    pub block_all_public: bool,
}

impl AccessMap {
    pub fn bucket(&self, name: &str) -> Option<&Arc<BucketAccess>> {
        self.buckets.get(name)
    }

    /// The flags in force for `bucket`: its own, or all of them under the server's switch.
    pub fn block(&self, bucket: &str) -> PublicAccessBlock {
        if self.block_all_public {
            return PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            };
        }
        self.bucket(bucket).map(|b| b.block).unwrap_or_default()
    }
}

/// What the request is, beyond who asks: set by the gateway that received it.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub source_ip: Option<IpAddr>,
    /// TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// `s3:authType`: `REST-HEADER`, `REST-QUERY-STRING` or `POST`; `None` unsigned.
    pub auth_type: Option<&'static str>,
    /// `s3:signatureversion`: `AWS4-HMAC-SHA256` or `AWS`.
    pub signature_version: Option<&'static str>,
    /// The request's S3 action and the verb the store authorizes it with, e.g.
    /// `("s3:GetObjectTagging", Verb::Get)`.
    pub action: Option<(&'static str, Verb)>,
    /// The action of a copy's source read (`s3:GetObject` or `s3:GetObjectVersion`).
    pub source_action: Option<&'static str>,
    /// Request-specific condition keys, lowercased (`s3:prefix`, `s3:x-amz-acl`,
    /// `s3:requestobjecttag/<k>`, …) and their values.
    pub values: Vec<(String, Vec<String>)>,
}

impl RequestFacts {
    /// The facts of a request nobody described (internal calls).
    pub fn none() -> Arc<RequestFacts> {
        NONE.clone()
    }
}

static NONE: LazyLock<Arc<RequestFacts>> = LazyLock::new(|| Arc::new(RequestFacts::default()));

/// Whether `bucket`'s policy (a snapshot's: its share's) has a condition on an object's
/// existing tags (`s3:ExistingObjectTag/<key>`): an operation on an existing object reads it
/// first and is decided for [`with_existing_tags`].
pub fn reads_existing_tags(p: &Principal, bucket: &str) -> bool {
    let on = crate::naming::snapshot_parts(bucket).map_or(bucket, |(share, _)| share);
    p.access
        .bucket(on)
        .and_then(|a| a.policy.as_ref())
        .is_some_and(|policy| policy.reads_existing_object_tags())
}

/// `p` making its request on an object that carries `tags`: `s3:ExistingObjectTag/<key>`
/// answers with them (keys ASCII-lowercased, as the policy's condition keys are; tags whose
/// keys differ only in case answer together, so none hides another).
pub fn with_existing_tags(p: &Principal, tags: &[(String, String)]) -> Principal {
    let mut facts = (*p.facts).clone();
    merge_tag_values(
        &mut facts.values,
        gatehouse_policy::EXISTING_OBJECT_TAG,
        tags,
    );
    p.with_facts(facts)
}

/// Adds `tags` to `values` as `<prefix><key>` condition keys (ASCII-lowercased), one entry
/// per key with every value its case variants have.
pub fn merge_tag_values(
    values: &mut Vec<(String, Vec<String>)>,
    prefix: &str,
    tags: &[(String, String)],
) {
    for (k, v) in tags {
        let name = format!("{prefix}{}", k.to_ascii_lowercase());
        match values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, vs)) => vs.push(v.clone()),
            None => values.push((name, vec![v.clone()])),
        }
    }
}

/// The policy's verdict, when it has one.
pub enum Verdict {
    Deny(String),
    Allow(String),
}

/// The say of the bucket's policy and ACLs (and, for an object, its ACL `object_acl`) on
/// (`verb`, `resource`) for `p`; `None` when they have none. A policy's Deny first, then its
/// Allow, then an ACL's grant.
///
/// `allowed` is the bindings' answer: when they allow, only a Deny can change it, so grants
/// are not looked for (and no reason is written).
pub fn decide(
    p: &Principal,
    verb: Verb,
    resource: &Resource<'_>,
    object_acl: Option<&Acl>,
    allowed: bool,
) -> Option<Verdict> {
    let (bucket, key) = match *resource {
        Resource::Buckets(Some(b)) => (b, None),
        Resource::Objects(b) => (b, None),
        Resource::Object(b, k) => (b, Some(k)),
        _ => return None,
    };
    let access = p.access.bucket(bucket);
    let by_policy = access
        .and_then(|a| a.policy.as_ref())
        .and_then(|policy| decide_policy(p, verb, resource, bucket, key, policy, allowed));
    if by_policy.is_some() || allowed {
        return by_policy;
    }
    let bucket_acl = access
        .filter(|a| a.ownership != ObjectOwnership::BucketOwnerEnforced)
        .and_then(|a| a.acl.as_ref());
    let acls_on = access.is_none_or(|a| a.ownership != ObjectOwnership::BucketOwnerEnforced);
    let object_acl = object_acl.filter(|_| acls_on);
    if bucket_acl.is_none() && object_acl.is_none() {
        return None;
    }
    let ignore_public = p.access.block(bucket).ignore_public_acls;
    let (actions, _) = actions_for(&p.facts, verb, resource, bucket, key);
    let actions: &[&str] = &actions;
    let granted = |acl: &Acl, object: bool| {
        actions.iter().all(|a| {
            acl_permission(a, object).is_some_and(|need| acl_grants(acl, p, need, ignore_public))
        })
    };
    let via = if bucket_acl.is_some_and(|acl| granted(acl, false)) {
        "bucket"
    } else if object_acl.is_some_and(|acl| granted(acl, true)) {
        "object"
    } else {
        return None;
    };
    Some(Verdict::Allow(format!(
        "the {via} ACL of {bucket} grants {} to {}",
        actions.join(","),
        p.name
    )))
}

/// The ACL permission an action needs: through the bucket's ACL (`object` false) or the
/// object's own. S3: a bucket's READ lists it, its WRITE creates, overwrites and deletes its
/// objects; an object's READ reads it; READ_ACP/WRITE_ACP read and replace the ACL itself.
fn acl_permission(action: &str, object: bool) -> Option<AclPermission> {
    use AclPermission as P;
    let name = action.strip_prefix("s3:").unwrap_or(action);
    match (object, name) {
        (false, "ListBucket" | "ListBucketVersions" | "ListBucketMultipartUploads") => {
            Some(P::Read)
        }
        // Not DeleteObjectVersion: S3 gives that to a WRITE grantee only when it owns the
        // bucket; a grant must not destroy history.
        (false, "PutObject" | "DeleteObject" | "AbortMultipartUpload") => Some(P::Write),
        (false, "GetBucketAcl") => Some(P::ReadAcp),
        (false, "PutBucketAcl") => Some(P::WriteAcp),
        // GetObjectAttributes needs READ on the object, as GetObject does (AWS).
        (
            true,
            "GetObject" | "GetObjectVersion" | "GetObjectAttributes" | "GetObjectVersionAttributes",
        ) => Some(P::Read),
        (true, "GetObjectAcl" | "GetObjectVersionAcl") => Some(P::ReadAcp),
        (true, "PutObjectAcl" | "PutObjectVersionAcl") => Some(P::WriteAcp),
        _ => None,
    }
}

/// Whether `acl` grants `need` to `p` (FULL_CONTROL grants everything).
fn acl_grants(acl: &Acl, p: &Principal, need: AclPermission, ignore_public: bool) -> bool {
    acl.grants.iter().any(|g| {
        let who = match &g.grantee {
            Grantee::AllUsers => !ignore_public,
            Grantee::AuthenticatedUsers => !ignore_public && !is_nobody(p),
            Grantee::User(id) => !is_nobody(p) && *id == p.user_id,
            Grantee::BucketOwner => false,
        };
        who && (g.permission == need || g.permission == AclPermission::FullControl)
    })
}

/// The bucket policy's say.
fn decide_policy(
    p: &Principal,
    verb: Verb,
    resource: &Resource<'_>,
    bucket: &str,
    key: Option<&str>,
    policy: &BucketPolicy,
    allowed: bool,
) -> Option<Verdict> {
    let (actions, target) = actions_for(&p.facts, verb, resource, bucket, key);
    let actions: &[&'static str] = &actions;
    if p.is_admin()
        && actions.iter().all(|a| {
            matches!(
                *a,
                "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
            )
        })
    {
        // An administrator can always repair a policy that locks everyone out.
        return None;
    }
    let nobody = is_nobody(p);
    let restrict = nobody && policy.is_public() && p.access.block(bucket).restrict_public_buckets;
    let conditions = FactConditions { p };
    let groups: &[String] = &p.groups;
    let subject = Subject {
        // The NFS guest is nobody in particular too: only `*` names it, never a user name.
        anonymous: nobody,
        user_id: &p.user_id,
        user_name: &p.name,
        groups,
    };
    let mut allows = 0;
    for &action in actions {
        let req = Request {
            subject: Subject { ..subject },
            action,
            target: target_copy(&target),
            conditions: &conditions,
            ignore_public_allows: restrict,
            // The bindings allow: only a Deny can change that.
            denies_only: allowed,
        };
        match policy.evaluate(&req) {
            Outcome::ExplicitDeny => {
                return Some(Verdict::Deny(format!(
                    "the policy of bucket {bucket} denies {action} to {}",
                    p.name
                )));
            }
            Outcome::Allow => allows += 1,
            Outcome::NoMatch => {}
        }
    }
    // A bucket's settings (its policy among them) are never managed by callers nobody
    // vouches for, whatever a policy allows (AWS refuses them to other accounts): only a
    // listing or the bucket's location.
    if nobody
        && matches!(resource, Resource::Buckets(_))
        && !actions
            .iter()
            .all(|a| matches!(*a, "s3:ListBucket" | "s3:GetBucketLocation"))
    {
        return None;
    }
    // Several candidate actions (the precise one unknown): an Allow must cover each. Its
    // reason is written only when it decides (the bindings did not allow).
    (!allowed && allows > 0 && allows == actions.len()).then(|| {
        Verdict::Allow(format!(
            "the policy of bucket {bucket} allows {} to {}",
            actions.join(","),
            p.name
        ))
    })
}

fn target_copy<'a>(t: &Target<'a>) -> Target<'a> {
    match *t {
        Target::Bucket(b) => Target::Bucket(b),
        Target::Object { bucket, key } => Target::Object { bucket, key },
        Target::AnyObject(b) => Target::AnyObject(b),
    }
}

/// The S3 action(s) a decision stands for, and what it acts on. The gateway's precise action
/// when it describes this check; otherwise the action every such check implies (several
/// candidates where one verb covers many bucket settings).
fn actions_for<'a>(
    facts: &RequestFacts,
    verb: Verb,
    resource: &Resource<'a>,
    bucket: &'a str,
    key: Option<&'a str>,
) -> (Actions, Target<'a>) {
    // Listing a bucket's objects is a bucket action (s3:ListBucket); the rest of `objects`
    // act on objects.
    let object_level = match resource {
        Resource::Buckets(_) => false,
        Resource::Objects(_) => verb != Verb::List,
        _ => true,
    };
    let target = match (object_level, key) {
        (false, _) => Target::Bucket(bucket),
        (true, Some(key)) => Target::Object { bucket, key },
        (true, None) => Target::AnyObject(bucket),
    };
    if let Some((action, v)) = facts.action
        && v == verb
        && object_level == object_action(action)
    {
        // GetObjectAttributes needs the read as well as its own action (AWS: "you must have
        // the s3:GetObject and s3:GetObjectAttributes permissions").
        let both: Option<&'static [&'static str]> = match action {
            "s3:GetObjectAttributes" => Some(&["s3:GetObject", "s3:GetObjectAttributes"]),
            "s3:GetObjectVersionAttributes" => {
                Some(&["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"])
            }
            _ => None,
        };
        return match both {
            Some(actions) => (Actions::Some(actions), target),
            None => (Actions::One([action]), target),
        };
    }
    if verb == Verb::Get
        && object_level
        && let Some(action) = facts.source_action
    {
        return (Actions::One([action]), target);
    }
    let defaults: &[&'static str] = match (object_level, verb) {
        (true, Verb::Get) => &["s3:GetObject"],
        (true, Verb::Put | Verb::Create) => &["s3:PutObject"],
        (true, Verb::Delete) => &["s3:DeleteObject"],
        (true, Verb::List) => &["s3:ListMultipartUploadParts"],
        (true, Verb::Lock) => &["s3:PutObjectRetention"],
        (true, Verb::BypassGovernance) => &["s3:BypassGovernanceRetention"],
        (false, Verb::List) => &["s3:ListBucket"],
        (false, Verb::Get) => &[
            "s3:ListBucket",
            "s3:GetBucketVersioning",
            "s3:GetLifecycleConfiguration",
            "s3:GetBucketPolicy",
        ],
        (false, Verb::Put | Verb::Lock | Verb::BypassGovernance) => &[
            "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketPolicy",
        ],
        (false, Verb::Delete) => &["s3:DeleteBucket"],
        (false, Verb::Create) => &["s3:CreateBucket"],
        // Verbs of the key service: never asked about a bucket (`decide` sees no bucket).
        (_, Verb::Use | Verb::Manage) => &[],
    };
    (Actions::Some(defaults), target)
}

/// The action(s) a decision stands for, without allocating.
enum Actions {
    One([&'static str; 1]),
    Some(&'static [&'static str]),
}

impl std::ops::Deref for Actions {
    type Target = [&'static str];
    fn deref(&self) -> &[&'static str] {
        match self {
            Actions::One(a) => a,
            Actions::Some(a) => a,
        }
    }
}

/// The anonymous principal or the NFS guest: callers nobody vouches for. Only `*` principals
/// and AllUsers grants reach them, and RestrictPublicBuckets shuts them out of public policies.
fn is_nobody(p: &Principal) -> bool {
    p.anonymous || p.user_id == super::policy::GUEST_ID
}

/// Whether an S3 action acts on objects (its resource is `arn:aws:s3:::bucket/key`).
pub fn object_action(action: &str) -> bool {
    let name = action.strip_prefix("s3:").unwrap_or(action);
    [
        "GetObject",
        "PutObject",
        "DeleteObject",
        "RestoreObject",
        "AbortMultipartUpload",
        "ListMultipartUploadParts",
        "BypassGovernanceRetention",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The condition keys a request answers.
struct FactConditions<'a> {
    p: &'a Principal,
}

impl Conditions for FactConditions<'_> {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        let f = &self.p.facts;
        let one = |s: String| Some(vec![Cow::Owned(s)]);
        match key {
            "aws:sourceip" => f.source_ip.and_then(|ip| one(ip.to_string())),
            "aws:securetransport" => one(f.secure.to_string()),
            "aws:currenttime" => {
                let now = time::OffsetDateTime::now_utc();
                now.format(&time::format_description::well_known::Rfc3339)
                    .ok()
                    .and_then(one)
            }
            "aws:epochtime" => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| one(d.as_secs().to_string())),
            "aws:username" if !self.p.anonymous => Some(vec![Cow::Borrowed(&self.p.name)]),
            "aws:userid" if !self.p.anonymous => Some(vec![Cow::Borrowed(&self.p.user_id)]),
            "aws:principaltype" => one(if self.p.anonymous {
                "Anonymous"
            } else {
                "User"
            }
            .into()),
            "s3:authtype" => f.auth_type.and_then(|t| one(t.into())),
            "s3:signatureversion" => f.signature_version.and_then(|t| one(t.into())),
            _ => f
                .values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect()),
        }
    }
}
