//! Kubernetes-style RBAC: the only place a yes/no is decided.
//!
//! - [`roles`]: verbs × resources rules, the built-in roles, validation of custom ones.
//! - [`policy`]: an immutable snapshot of roles, groups and bindings, and the resolution of a
//!   user into a [`Principal`] carrying its effective grants.
//! - [`authorize`]: pure — no I/O, no locks — over a principal resolved for this request, so a
//!   change of bindings takes effect on the next request. Deny by default; every decision says
//!   which binding allowed it or what was missing.
//!
//! The reserved system bucket is special: only grants of the `system` role reach it (not even
//! `admin`'s `*:*`), and `system` reaches nothing else.

pub mod bucket_access;
pub mod policy;
pub mod roles;

use std::fmt;

pub use bucket_access::{AccessMap, BucketAccess, RequestFacts};
pub use policy::{Grant, Policy};
pub use roles::{BUILTIN_ROLES, Rule};

use crate::model::Principal;
use crate::naming::SYSTEM_BUCKET;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Put,
    Delete,
    Create,
    /// Removing or shortening an object lock's GOVERNANCE retention (decision 0039): a verb of
    /// its own, so object access does not grant it.
    BypassGovernance,
    /// Setting or lifting an object lock retention or legal hold (S3's PutObjectRetention and
    /// PutObjectLegalHold, and the lock headers of writes): a verb of its own, as in AWS.
    Lock,
    /// Encrypting and decrypting with a key of the key service (decision 0046): a verb of its
    /// own, so reaching an object does not grant reading what a key it may not use sealed.
    Use,
    /// Administering a key of the key service: create, enable/disable, rotate, schedule or
    /// cancel its deletion, read its audit log.
    Manage,
}

impl Verb {
    pub const ALL: [Verb; 9] = [
        Verb::Get,
        Verb::List,
        Verb::Put,
        Verb::Delete,
        Verb::Create,
        Verb::BypassGovernance,
        Verb::Lock,
        Verb::Use,
        Verb::Manage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Put => "put",
            Verb::Delete => "delete",
            Verb::Create => "create",
            Verb::BypassGovernance => "bypass-governance",
            Verb::Lock => "lock",
            Verb::Use => "use",
            Verb::Manage => "manage",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a request touches. The kind names (`buckets`, `objects`, …) are the resource words of
/// role rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The set of buckets (`None`: list all) or one bucket.
    Buckets(Option<&'a str>),
    /// Objects in one bucket.
    Objects(&'a str),
    /// One object (bucket, key): the same rules as [`Resource::Objects`]; a bucket policy can
    /// tell keys apart.
    Object(&'a str, &'a str),
    /// An admin panel of the web page (`None`: the list of panels).
    Panels(Option<&'a str>),
    Users,
    Groups,
    Roles,
    Bindings,
    /// File shares (`None`: all shares).
    Shares(Option<&'a str>),
    /// A whole-server backup (every bucket, every user's record).
    Backup,
    /// The server's storage itself: `create` runs a chunk garbage collection now.
    Storage,
    /// Bucket replication: `None` the connections and rules (configured with a global
    /// grant), `Some(bucket)` one bucket's rule (`get` its status, `put` pause/resume).
    Replication(Option<&'a str>),
    /// The key service (decision 0046): `None` its set of keys (`manage` creates one, lists
    /// all), `Some(key id)` one key (`use` it, `manage` it).
    Kms(Option<&'a str>),
}

/// The resource words a rule may name.
pub const RESOURCE_KINDS: &[&str] = &[
    "buckets",
    "objects",
    "panels",
    "users",
    "groups",
    "roles",
    "bindings",
    "shares",
    "backup",
    "storage",
    "replication",
    "kms",
];

impl Resource<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Buckets(_) => "buckets",
            Resource::Objects(_) | Resource::Object(..) => "objects",
            Resource::Panels(_) => "panels",
            Resource::Users => "users",
            Resource::Groups => "groups",
            Resource::Roles => "roles",
            Resource::Bindings => "bindings",
            Resource::Shares(_) => "shares",
            Resource::Backup => "backup",
            Resource::Storage => "storage",
            Resource::Replication(_) => "replication",
            Resource::Kms(_) => "kms",
        }
    }

    /// The bucket this resource lies in, if any.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Resource::Buckets(b) => *b,
            Resource::Objects(b) | Resource::Object(b, _) => Some(b),
            Resource::Replication(b) => *b,
            _ => None,
        }
    }

    pub fn panel(&self) -> Option<&str> {
        match self {
            Resource::Panels(p) => *p,
            _ => None,
        }
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Buckets(None) => f.write_str("buckets"),
            Resource::Buckets(Some(b)) => write!(f, "bucket {b}"),
            Resource::Objects(b) => write!(f, "objects in bucket {b}"),
            Resource::Object(b, k) => write!(f, "object {k} in bucket {b}"),
            Resource::Panels(None) => f.write_str("panels"),
            Resource::Panels(Some(p)) => write!(f, "panel {p}"),
            Resource::Shares(None) => f.write_str("shares"),
            Resource::Shares(Some(s)) => write!(f, "share {s}"),
            Resource::Replication(None) => f.write_str("replication"),
            Resource::Replication(Some(b)) => write!(f, "replication of bucket {b}"),
            Resource::Kms(None) => f.write_str("keys"),
            Resource::Kms(Some(k)) => write!(f, "key {k}"),
            other => f.write_str(other.kind()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Where a binding applies.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Scope {
    Global,
    Bucket(String),
    Panel(String),
    /// One key of the key service, by id (decision 0046).
    Key(String),
}

impl Scope {
    fn covers(&self, r: &Resource<'_>) -> bool {
        match self {
            Scope::Global => true,
            Scope::Bucket(b) => r.bucket() == Some(b.as_str()),
            Scope::Panel(p) => r.panel() == Some(p.as_str()),
            Scope::Key(k) => matches!(r, Resource::Kms(Some(x)) if *x == k.as_str()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Bucket(b) => write!(f, "bucket {b}"),
            Scope::Panel(p) => write!(f, "panel {p}"),
            Scope::Key(k) => write!(f, "key {k}"),
        }
    }
}

/// The one decision point. `principal.grants` was resolved from the current policy when the
/// request was authenticated; the bucket policies it carries were current then too. An
/// explicit Deny of a bucket policy beats every binding; its Allow grants what no binding does
/// (decision 0041).
pub fn authorize(principal: &Principal, verb: Verb, resource: Resource<'_>) -> Decision {
    authorize_with_acl(principal, verb, resource, None)
}

/// [`authorize`] of one more S3 action a request needs besides its own (PutObject with
/// `x-amz-acl` also needs s3:PutObjectAcl, with `x-amz-tagging` s3:PutObjectTagging, AWS): the
/// bindings judge `verb`, a bucket policy judges `action`.
pub fn authorize_action(
    principal: &Principal,
    action: &'static str,
    verb: Verb,
    resource: Resource<'_>,
) -> Decision {
    let mut facts = (*principal.facts).clone();
    facts.action = Some((action, verb));
    authorize(&principal.with_facts(facts), verb, resource)
}

/// [`authorize`] with the ACL of the object the resource names (read by the caller from its
/// record, decision 0042): a grant there allows what nothing else does, unless a bucket policy
/// denies it.
pub fn authorize_with_acl(
    principal: &Principal,
    verb: Verb,
    resource: Resource<'_>,
    object_acl: Option<&crate::model::Acl>,
) -> Decision {
    if let Some((share, _)) = resource.bucket().and_then(crate::naming::snapshot_parts) {
        if !matches!(verb, Verb::Get | Verb::List) {
            return Decision {
                allowed: false,
                reason: format!("{resource} is a snapshot: read-only"),
            };
        }
        let on_share = match resource {
            Resource::Buckets(_) => Resource::Buckets(Some(share)),
            Resource::Objects(_) => Resource::Objects(share),
            Resource::Object(_, k) => Resource::Object(share, k),
            Resource::Replication(_) => Resource::Replication(Some(share)),
            other => other,
        };
        return authorize_with_acl(principal, verb, on_share, object_acl);
    }
    let by_bindings = authorize_bindings(principal, verb, resource);
    match bucket_access::decide(principal, verb, &resource, object_acl, by_bindings.allowed) {
        None => by_bindings,
        Some(bucket_access::Verdict::Deny(reason)) => Decision {
            allowed: false,
            reason,
        },
        Some(bucket_access::Verdict::Allow(_)) if by_bindings.allowed => by_bindings,
        Some(bucket_access::Verdict::Allow(reason)) => Decision {
            allowed: true,
            reason,
        },
    }
}

/// `verb` on each key of `bucket` (with the S3 action a key's item stands for, when it is not
/// the request's own, e.g. `s3:DeleteObjectVersion` for an item of DeleteObjects naming a
/// version): the refusal of each denied key, `None` for the allowed. When every key is
/// denied, the request itself is refused with the first denial.
pub fn each_key<'k>(
    p: &Principal,
    verb: Verb,
    bucket: &str,
    keys: impl Iterator<Item = (&'k str, Option<&'static str>)>,
) -> crate::Result<Vec<Option<crate::StoreError>>> {
    let mut out = Vec::new();
    let mut first = None;
    let mut any_allowed = false;
    for (key, action) in keys {
        let d = match action {
            Some(a) => authorize_action(p, a, verb, Resource::Object(bucket, key)),
            None => authorize(p, verb, Resource::Object(bucket, key)),
        };
        if d.allowed {
            any_allowed = true;
            out.push(None);
        } else {
            tracing::warn!(target: "audit", reason = %d.reason, "denied");
            first.get_or_insert_with(|| d.reason.clone());
            out.push(Some(crate::StoreError::AccessDenied(d.reason)));
        }
    }
    match first {
        Some(reason) if !any_allowed => Err(crate::StoreError::AccessDenied(reason)),
        _ => Ok(out),
    }
}

/// Whether `p` holds every verb on every resource kind, globally (outside the system bucket):
/// an admin by `admin_peers`, or anyone bound to `admin` or to a custom role as broad. Such a
/// caller may see other users' secrets and grant anything (see [`may_grant`]).
pub fn holds_everything(p: &Principal) -> bool {
    p.is_admin()
        || Verb::ALL.iter().all(|v| {
            RESOURCE_KINDS.iter().all(|k| {
                p.grants
                    .iter()
                    .any(|g| !g.system_only && g.scope == Scope::Global && g.rule.allows(*v, k))
            })
        })
}

/// Kubernetes' escalation check: whether `p` may bind `role` at `scope` (to anyone), i.e.
/// holds every verb × resource the role grants, at that scope or globally, itself. A caller
/// who [`holds_everything`] may bind any role. The bindings alone decide: a bucket policy's
/// Allow is no grant to hand on.
pub fn may_grant(p: &Principal, role: &roles::RoleDef, scope: &Scope) -> Decision {
    if holds_everything(p) {
        return Decision {
            allowed: true,
            reason: format!("{} holds every grant", p.name),
        };
    }
    let expand = |words: &[String], all: &[&'static str]| -> Vec<&'static str> {
        if words.iter().any(|w| w == "*") {
            all.to_vec()
        } else {
            all.iter()
                .copied()
                .filter(|a| words.iter().any(|w| w == a))
                .collect()
        }
    };
    let verbs: Vec<&'static str> = Verb::ALL.iter().map(|v| v.as_str()).collect();
    for rule in &role.rules {
        for v in expand(&rule.verbs, &verbs) {
            let Some(verb) = Verb::parse(v) else { continue };
            for kind in expand(&rule.resources, RESOURCE_KINDS) {
                let held = p.grants.iter().any(|g| {
                    g.system_only == role.system_only
                        && (g.scope == Scope::Global || g.scope == *scope)
                        && g.rule.allows(verb, kind)
                });
                if !held {
                    return Decision {
                        allowed: false,
                        reason: format!(
                            "role {} grants {v} on {kind} ({scope}), which {} (user {}) does not \
                             hold: a binding cannot give more than its maker has",
                            role.name, p.name, p.user_id
                        ),
                    };
                }
            }
        }
    }
    Decision {
        allowed: true,
        reason: format!("{} holds every grant of role {}", p.name, role.name),
    }
}

/// The RBAC bindings' answer alone.
fn authorize_bindings(principal: &Principal, verb: Verb, resource: Resource<'_>) -> Decision {
    let system = resource.bucket() == Some(SYSTEM_BUCKET);
    for g in principal.grants.iter() {
        if g.system_only != system || !g.scope.covers(&resource) {
            continue;
        }
        if g.rule.allows(verb, resource.kind()) {
            return Decision {
                allowed: true,
                reason: format!(
                    "{} may {} {}: role {} {}",
                    principal.name,
                    verb.as_str(),
                    resource,
                    g.role,
                    g.via
                ),
            };
        }
    }
    let why = if system {
        " (only the system role reaches the system bucket)"
    } else {
        ""
    };
    Decision {
        allowed: false,
        reason: format!(
            "no role binding grants {} on {} to {} (user {}){why}",
            verb.as_str(),
            resource,
            principal.name,
            principal.user_id
        ),
    }
}

#[cfg(test)]
mod tests;
