//! The only place a yes/no is decided. Pure: no I/O, no async.
//!
//! Scope of this version: the foundation serves admins only (the bootstrap credential); the
//! Kubernetes-style roles and bindings of the identity issue plug in here without changing any
//! caller. Deny by default; every denial names what was missing.

use crate::model::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Put,
    Delete,
    Create,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Put => "put",
            Verb::Delete => "delete",
            Verb::Create => "create",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The set of buckets (create, list) or one bucket (get, delete).
    Buckets(Option<&'a str>),
    /// Objects in one bucket.
    Objects(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

pub fn authorize(principal: &Principal, verb: Verb, resource: Resource<'_>) -> Decision {
    let what = match resource {
        Resource::Buckets(None) => "buckets".to_string(),
        Resource::Buckets(Some(b)) => format!("buckets/{b}"),
        Resource::Objects(b) => format!("objects in {b}"),
    };
    if principal.admin {
        return Decision {
            allowed: true,
            reason: format!("{} is admin (*:*)", principal.name),
        };
    }
    Decision {
        allowed: false,
        reason: format!(
            "no role binding grants {} {} to {}",
            verb.as_str(),
            what,
            principal.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_by_default_with_reason() {
        let p = Principal {
            user_id: "u".into(),
            name: "bob".into(),
            admin: false,
        };
        let d = authorize(&p, Verb::Put, Resource::Objects("b1"));
        assert!(!d.allowed);
        assert!(d.reason.contains("put objects in b1"), "{}", d.reason);
        let admin = Principal { admin: true, ..p };
        assert!(authorize(&admin, Verb::Delete, Resource::Buckets(Some("x"))).allowed);
    }
}
