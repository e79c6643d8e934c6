//! Times `BucketPolicy::evaluate` on a ~20 KB, 100-statement policy.
//!
//! `cargo run --release --example bench`

use gatehouse_policy::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

struct Everyone;
impl Directory for Everyone {
    fn exists(&self, _: PrincipalName<'_>) -> bool {
        true
    }
}

/// A fixed request context, answered without hashing.
struct Fixed {
    source_ip: &'static str,
    secure: &'static str,
}
impl Conditions for Fixed {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        match key {
            "aws:sourceip" => Some(vec![Cow::Borrowed(self.source_ip)]),
            "aws:securetransport" => Some(vec![Cow::Borrowed(self.secure)]),
            "aws:sourcevpce" => Some(vec![Cow::Borrowed("vpce-none")]),
            _ => None,
        }
    }
}

fn statement(i: usize) -> String {
    match i % 4 {
        0 => format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":["user{i}","arn:aws:iam:::group/g{i}"]}},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bench","arn:aws:s3:::bench/team{i}/*"],"Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.168.{i}.0/24"]}}}}}}"#
        ),
        1 => format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"user{i}"}},"Action":["s3:PutObject","s3:AbortMultipartUpload"],"Resource":"arn:aws:s3:::bench/up/user{i}/*","Condition":{{"StringEquals":{{"s3:x-amz-acl":"private"}}}}}}"#
        ),
        2 => format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::bench/locked{i}/*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
        ),
        _ => format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bench/public{i}/*.jpg","Condition":{{"StringLike":{{"aws:Referer":["https://s{i}.exampl/*"]}}}}}}"#
        ),
    }
}

fn time(label: &str, policy: &BucketPolicy, req: &Request<'_>, want: Outcome) {
    assert_eq!(policy.evaluate(req), want, "{label}");
    let n = 100_000;
    let start = Instant::now();
    for _ in 0..n {
        black_box(policy.evaluate(black_box(req)));
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{label:<58} {per:>8.0} ns/evaluate");
}

fn main() {
    let statements: Vec<String> = (0..100).map(statement).collect();
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    let start = Instant::now();
    let policy = match BucketPolicy::parse(&json, "bench", &Everyone) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.reason),
    };
    println!(
        "policy: {} bytes, {} statements, parsed in {} µs",
        json.len(),
        policy.statement_count(),
        start.elapsed().as_micros()
    );

    let groups = vec!["g7".to_string(), "g13".to_string(), "g96".to_string()];
    let user = |name: &'static str| Subject {
        anonymous: false,
        user_id: "0123456789abcdef",
        user_name: name,
        groups: &groups,
    };
    let nobody = Subject {
        anonymous: true,
        user_id: "",
        user_name: "",
        groups: &[],
    };
    let fixed = Fixed {
        source_ip: "10.96.1.1",
        secure: "true",
    };
    let map: HashMap<String, Vec<String>> = [
        ("aws:sourceip".to_string(), vec!["10.96.1.1".to_string()]),
        ("aws:securetransport".to_string(), vec!["true".to_string()]),
    ]
    .into_iter()
    .collect();

    let req = |subject, action, target, conditions: &'static dyn Conditions| Request {
        subject,
        action,
        target,
        conditions,
        ignore_public_allows: false,
        denies_only: false,
    };
    let fixed: &'static Fixed = Box::leak(Box::new(fixed));
    let map: &'static HashMap<String, Vec<String>> = Box::leak(Box::new(map));

    time(
        "GetObject, allowed by the last team statement (scan all)",
        &policy,
        &req(
            user("user96"),
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "team96/a/b.jpg",
            },
            fixed,
        ),
        Outcome::Allow,
    );
    time(
        "same, HashMap conditions",
        &policy,
        &req(
            user("user96"),
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "team96/a/b.jpg",
            },
            map,
        ),
        Outcome::Allow,
    );
    time(
        "GetObject, unknown user, no match (scan all)",
        &policy,
        &req(
            user("stranger"),
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "x/y",
            },
            fixed,
        ),
        Outcome::NoMatch,
    );
    time(
        "GetObject, anonymous, no match",
        &policy,
        &req(
            nobody,
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "public3/x.png",
            },
            fixed,
        ),
        Outcome::NoMatch,
    );
    time(
        "DeleteObject, 25 Deny statements with conditions",
        &policy,
        &req(
            user("user1"),
            "s3:DeleteObject",
            Target::Object {
                bucket: "bench",
                key: "locked98/x",
            },
            fixed,
        ),
        Outcome::NoMatch,
    );
    time(
        "ListBucket, allowed via a group (last team statement)",
        &policy,
        &req(
            user("someone"),
            "S3:LISTBUCKET",
            Target::Bucket("bench"),
            fixed,
        ),
        Outcome::Allow,
    );
    time(
        "GetBucketTagging: no statement has the action",
        &policy,
        &req(
            user("user1"),
            "s3:GetBucketTagging",
            Target::Bucket("bench"),
            fixed,
        ),
        Outcome::NoMatch,
    );
    time(
        "PutObject, action outside the catalog path",
        &policy,
        &req(
            user("user1"),
            "s3:NotAnAction",
            Target::Object {
                bucket: "bench",
                key: "up/user1/x",
            },
            fixed,
        ),
        Outcome::NoMatch,
    );

    // Adversarial: every statement passes action, principal and resource, and each runs a
    // condition that asks the request context for a key.
    let statements: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::bench/*","Condition":{{"StringEquals":{{"aws:SourceVpce":["vpce-{i:08}a","vpce-{i:08}b"]}}}}}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    let policy = match BucketPolicy::parse(&json, "bench", &Everyone) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.reason),
    };
    println!(
        "policy 2: {} bytes, {} statements",
        json.len(),
        policy.statement_count()
    );
    time(
        "GetObject, 100 conditions evaluated, none holds",
        &policy,
        &req(
            nobody,
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "k",
            },
            fixed,
        ),
        Outcome::NoMatch,
    );
    let map: &'static HashMap<String, Vec<String>> = Box::leak(Box::new(
        [("aws:sourcevpce".to_string(), vec!["vpce-none".to_string()])]
            .into_iter()
            .collect(),
    ));
    time(
        "same, HashMap conditions",
        &policy,
        &req(
            nobody,
            "s3:GetObject",
            Target::Object {
                bucket: "bench",
                key: "k",
            },
            map,
        ),
        Outcome::NoMatch,
    );
}
