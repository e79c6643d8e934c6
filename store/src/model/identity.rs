//! Users, credentials, groups, roles and bindings as stored, and the [`Principal`] a request
//! runs as.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::rbac::{Grant, Rule, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserKind {
    Person,
    /// `svc:<name>`, keypair derived from the server's master key.
    Service,
}

/// `users`: user id (16 hex) → this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub public_key: [u8; 32],
    pub name: String,
    pub kind: UserKind,
    /// S3 credential generation: rotation bumps it and the old access key row goes away.
    pub generation: u32,
    pub created_ms: i64,
}

/// `credentials`: access key → this. The secret is never stored: it is derived on use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialRef {
    pub user_id: String,
    pub generation: u32,
}

/// `groups`: custom group name → this.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupRecord {
    pub description: String,
    pub members: BTreeSet<String>,
    pub created_ms: i64,
}

/// `roles`: custom role name → this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRecord {
    pub description: String,
    pub rules: Vec<Rule>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subject {
    /// A user id.
    User(String),
    /// A group name (built-in or custom).
    Group(String),
}

/// `bindings`: [`BindingRecord::key`] → this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    pub subject: Subject,
    pub role: String,
    pub scope: Scope,
    pub created_ms: i64,
}

impl BindingRecord {
    /// One row per (subject, role, scope): binding twice is idempotent.
    pub fn key(subject: &Subject, role: &str, scope: &Scope) -> String {
        let s = match subject {
            Subject::User(u) => format!("user:{u}"),
            Subject::Group(g) => format!("group:{g}"),
        };
        let sc = match scope {
            Scope::Global => "global".to_string(),
            Scope::Bucket(b) => format!("bucket:{b}"),
            Scope::Panel(p) => format!("panel:{p}"),
            Scope::Key(k) => format!("key:{k}"),
        };
        format!("{s}|{role}|{sc}")
    }
}

/// How a user came to be admin (from config `admin_peers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminMatch {
    /// The entry is the user's id: immutable, tied to the key.
    PeerId,
    /// The entry is the user's current name: names are mutable labels.
    Name,
}

impl AdminMatch {
    pub fn log_text(self) -> &'static str {
        match self {
            AdminMatch::PeerId => "matched by peer ID (secure)",
            AdminMatch::Name => "matched by name (warning: mutable)",
        }
    }
}

/// Who is asking, resolved against the policy when the request was authenticated. Every
/// `ops` function takes one and asks [`crate::rbac::authorize`] first.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub admin: Option<AdminMatch>,
    pub service: bool,
    /// Every group the user is in, built-in ones included.
    pub groups: Vec<String>,
    /// The effective rules, each with the binding it came from.
    pub grants: Arc<[Grant]>,
    /// An unsigned S3 request: no bindings at all; only a bucket policy can let it in.
    pub anonymous: bool,
    /// The most generous rate limit among its roles' own (requests per minute, 0 =
    /// unlimited); `None`: the default for users (`crate::rates`).
    pub rate_per_minute: Option<u32>,
    /// Every bucket's policy and public access settings, from the same snapshot as `grants`.
    pub access: Arc<crate::rbac::AccessMap>,
    /// What this request is (action, address, signing), set by the gateway.
    pub facts: Arc<crate::rbac::RequestFacts>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.admin.is_some()
    }

    /// This principal making the request `facts` describes.
    pub fn with_facts(&self, facts: crate::rbac::RequestFacts) -> Principal {
        Principal {
            facts: Arc::new(facts),
            ..self.clone()
        }
    }
}
