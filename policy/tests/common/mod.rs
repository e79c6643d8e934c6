#![allow(dead_code, clippy::unwrap_used)]

use gatehouse_policy::*;
use std::collections::HashMap;

pub const BUCKET: &str = "photos";
pub const ALICE_ID: &str = "00000000000000a1";
pub const BOB_ID: &str = "00000000000000b2";

/// Users alice (id …a1, groups staff), bob (id …b2), carol; groups staff, admins.
pub struct Dir;

impl Directory for Dir {
    fn exists(&self, who: PrincipalName<'_>) -> bool {
        match who {
            PrincipalName::UserId(id) => [ALICE_ID, BOB_ID].contains(&id),
            PrincipalName::UserName(n) => {
                ["alice", "bob", "carol", "0123456789abcdef"].contains(&n)
            }
            PrincipalName::Group(g) => ["staff", "admins"].contains(&g),
        }
    }
}

pub fn doc(statements: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#)
}

pub fn parse(json: &str) -> Result<BucketPolicy, PolicyError> {
    BucketPolicy::parse(json, BUCKET, &Dir)
}

pub fn policy(statements: &str) -> BucketPolicy {
    let json = doc(statements);
    match parse(&json) {
        Ok(p) => p,
        Err(e) => panic!("{json}: {}", e.reason),
    }
}

pub fn err(json: &str) -> String {
    match parse(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.reason,
    }
}

#[derive(Clone)]
pub struct Who {
    pub anonymous: bool,
    pub id: &'static str,
    pub name: &'static str,
    pub groups: Vec<String>,
}

pub fn alice() -> Who {
    Who {
        anonymous: false,
        id: ALICE_ID,
        name: "alice",
        groups: vec!["staff".into()],
    }
}
pub fn bob() -> Who {
    Who {
        anonymous: false,
        id: BOB_ID,
        name: "bob",
        groups: vec![],
    }
}
pub fn anon() -> Who {
    Who {
        anonymous: true,
        id: "",
        name: "",
        groups: vec![],
    }
}

pub fn ctx(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

pub fn eval_with(
    p: &BucketPolicy,
    who: &Who,
    action: &str,
    target: Target<'_>,
    conditions: &dyn Conditions,
    ignore_public_allows: bool,
) -> Outcome {
    let req = Request {
        subject: Subject {
            anonymous: who.anonymous,
            user_id: who.id,
            user_name: who.name,
            groups: &who.groups,
        },
        action,
        target,
        conditions,
        ignore_public_allows,
        denies_only: false,
    };
    p.evaluate(&req)
}

pub fn eval(p: &BucketPolicy, who: &Who, action: &str, target: Target<'_>) -> Outcome {
    eval_with(p, who, action, target, &NoConditions, false)
}

pub fn obj(key: &str) -> Target<'_> {
    Target::Object {
        bucket: BUCKET,
        key,
    }
}
