//! Roles: named lists of rules, each rule a set of verbs × a set of resource kinds (`*` = all).

use serde::{Deserialize, Serialize};

use super::{RESOURCE_KINDS, Verb};
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
}

impl Rule {
    fn of(verbs: &[&str], resources: &[&str]) -> Rule {
        Rule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn allows(&self, verb: Verb, kind: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb.as_str())
            && self.resources.iter().any(|r| r == "*" || r == kind)
    }

    /// Parses `get,list` × `buckets,objects` (comma-separated, `*` allowed), rejecting words
    /// outside the vocabulary.
    pub fn parse(verbs: &str, resources: &str) -> Result<Rule> {
        let split = |s: &str| -> Vec<String> {
            let mut v: Vec<String> = s
                .split(',')
                .map(|w| w.trim().to_ascii_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let (verbs, resources) = (split(verbs), split(resources));
        if verbs.is_empty() || resources.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a rule needs at least one verb and one resource".into(),
            ));
        }
        for v in &verbs {
            if v != "*" && Verb::parse(v).is_none() {
                return Err(StoreError::InvalidArgument(format!(
                    "unknown verb {v:?} (verbs: get, list, put, delete, create, lock, bypass-governance, *)"
                )));
            }
        }
        for r in &resources {
            if r != "*" && !RESOURCE_KINDS.contains(&r.as_str()) {
                return Err(StoreError::InvalidArgument(format!(
                    "unknown resource {r:?} (resources: {}, *)",
                    RESOURCE_KINDS.join(", ")
                )));
            }
        }
        Ok(Rule { verbs, resources })
    }

    /// `get,list:buckets`
    pub fn render(&self) -> String {
        format!("{}:{}", self.verbs.join(","), self.resources.join(","))
    }
}

/// A role as the policy sees it (built-in or custom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub name: String,
    pub description: String,
    pub rules: Vec<Rule>,
    pub builtin: bool,
    /// Applies only inside the reserved system bucket (the `system` role).
    pub system_only: bool,
}

/// Names of the roles that exist in every deployment and cannot be edited or deleted.
pub const BUILTIN_ROLES: &[&str] = &[
    "admin",
    "bucket-admin",
    "bucket-write",
    "bucket-read",
    "system",
    "panel-viewer",
    "replication-operator",
    "s3-user",
    "key-user",
    "key-admin",
];

pub fn builtin_roles() -> Vec<RoleDef> {
    let def = |name: &str, description: &str, rules: Vec<Rule>, system_only: bool| RoleDef {
        name: name.into(),
        description: description.into(),
        rules,
        builtin: true,
        system_only,
    };
    let objects_rw = Rule::of(&["get", "put", "delete", "list"], &["objects"]);
    vec![
        def(
            "admin",
            "Full access",
            vec![Rule::of(&["*"], &["*"])],
            false,
        ),
        def(
            "bucket-admin",
            "Bucket management: create/delete buckets and change their settings (versioning, policy, ACL, CORS, encryption, lifecycle, object lock), full object access, object locks (setting them, bypassing GOVERNANCE)",
            vec![
                // `put`: a bucket's settings, as an AWS bucket owner may change them.
                Rule::of(&["create", "delete", "get", "list", "put"], &["buckets"]),
                objects_rw.clone(),
                // As an AWS bucket owner may (decision 0039); bucket-write may not.
                Rule::of(&["bypass-governance", "lock"], &["objects"]),
                Rule::of(&["get", "put"], &["replication"]),
            ],
            false,
        ),
        def(
            "bucket-write",
            "Write access: read buckets, full object CRUD",
            vec![Rule::of(&["get", "list"], &["buckets"]), objects_rw],
            false,
        ),
        def(
            "bucket-read",
            "Read-only access to buckets and objects",
            vec![
                Rule::of(&["get", "list"], &["buckets"]),
                Rule::of(&["get", "list"], &["objects"]),
            ],
            false,
        ),
        def(
            "system",
            "Internal services: everything in the system bucket, nothing else",
            vec![Rule::of(&["*"], &["buckets", "objects"])],
            true,
        ),
        def(
            "panel-viewer",
            "View admin panels (scope a binding with --panel-scope)",
            vec![Rule::of(&["get", "list"], &["panels"])],
            false,
        ),
        def(
            "replication-operator",
            "See a bucket's replication and pause/resume it (scope a binding with --bucket)",
            vec![Rule::of(&["get", "put"], &["replication"])],
            false,
        ),
        def(
            "s3-user",
            "An ordinary S3 account: may create buckets, and owns (bucket-admin) what it creates; sees nothing else",
            vec![Rule::of(&["create"], &["buckets"])],
            false,
        ),
        def(
            "key-user",
            "Encrypt and decrypt with the key service's keys (SSE-KMS); scope a binding with --kms-key",
            vec![Rule::of(&["use"], &["kms"])],
            false,
        ),
        def(
            "key-admin",
            "Administer the key service's keys (create, enable/disable, rotate, schedule deletion, audit) without using them",
            vec![Rule::of(&["manage"], &["kms"])],
            false,
        ),
    ]
}

/// Role and group names: 1–63 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
        })
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "invalid {what} name {:?}: use 1 to 63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit",
            truncate(name, 80)
        )))
    }
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
