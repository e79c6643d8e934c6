//! `rbac::authorize` with a bucket policy attached (issue 22's target: ≤ 5 µs per decision with
//! a 20 KB policy and 100 bindings). Pure CPU, no server:
//!
//!     cargo bench --bench authorize
//!
//! A user bound to 100 buckets (one binding each, its own bucket's the last) asks about an
//! object of a bucket whose policy has 100 statements (~20 KB); decisions the bindings make
//! alone, ones the policy allows (anonymous), and ones it denies, each timed over 200,000
//! calls in 7 rounds (min / median / max ns per decision).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use gatehouse_policy::{BucketPolicy, Directory, PrincipalName};
use gatehouse_store::model::{BindingRecord, Principal, Subject, UserKind};
use gatehouse_store::rbac::policy::AdminPeers;
use gatehouse_store::rbac::{
    AccessMap, BucketAccess, Policy, RequestFacts, Resource, Scope, Verb, authorize,
};

struct Anyone;
impl Directory for Anyone {
    fn exists(&self, _: PrincipalName<'_>) -> bool {
        true
    }
}

fn policy_20k(bucket: &str) -> String {
    let mut statements = Vec::new();
    for i in 0..90 {
        statements.push(format!(
            r#"{{"Sid":"S{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam:::user/user{i}"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::{bucket}/team{i}/*","Condition":{{"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#
        ));
    }
    statements.push(format!(
        r#"{{"Sid":"Deny","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{bucket}/keep/*"}}"#
    ));
    statements.push(format!(
        r#"{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/pub/*"}}"#
    ));
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn time(name: &str, n: u32, mut f: impl FnMut() -> bool) {
    let mut per = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut allowed = 0u32;
        for _ in 0..n {
            allowed += u32::from(f());
        }
        per.push(t.elapsed().as_nanos() as f64 / f64::from(n));
        std::hint::black_box(allowed);
    }
    per.sort_by(f64::total_cmp);
    println!(
        "{name:<58} {:>7.0} / {:>7.0} / {:>7.0} ns",
        per[0], per[3], per[6]
    );
}

fn main() {
    let bucket = "target";
    let doc = policy_20k(bucket);
    let parsed = match BucketPolicy::parse(&doc, bucket, &Anyone) {
        Ok(p) => p,
        Err(e) => panic!("policy does not parse: {}", e.reason),
    };
    println!("policy: {} bytes, 92 statements", doc.len());
    let uid = "0123456789abcdef";
    let mut bindings: Vec<BindingRecord> = (0..99)
        .map(|i| BindingRecord {
            subject: Subject::User(uid.into()),
            role: "bucket-read".into(),
            scope: Scope::Bucket(format!("other{i}")),
            created_ms: 0,
        })
        .collect();
    bindings.push(BindingRecord {
        subject: Subject::User(uid.into()),
        role: "bucket-write".into(),
        scope: Scope::Bucket(bucket.into()),
        created_ms: 0,
    });
    let mut buckets = HashMap::new();
    buckets.insert(
        bucket.to_string(),
        Arc::new(BucketAccess {
            policy: Some(Arc::new(parsed)),
            ..BucketAccess::default()
        }),
    );
    let pol = Policy::new(Vec::new(), BTreeMap::new(), bindings, AdminPeers::default())
        .with_access(AccessMap {
            buckets,
            block_all_public: false,
        });
    let facts = |action: &'static str, verb: Verb| RequestFacts {
        source_ip: Some("192.0.2.7".parse().expect("ip")),
        action: Some((action, verb)),
        ..RequestFacts::default()
    };
    let user: Principal = pol
        .resolve(uid, "alice", UserKind::Person)
        .with_facts(facts("s3:GetObject", Verb::Get));
    let deleter = user.with_facts(facts("s3:DeleteObject", Verb::Delete));
    let anon = pol.anonymous().with_facts(facts("s3:GetObject", Verb::Get));
    let plain = pol.resolve(uid, "alice", UserKind::Person);
    println!("grants of the user: {}", user.grants.len());
    let n = 200_000;
    time(
        "binding allows, policy has no say (GetObject data/x)",
        n,
        || authorize(&user, Verb::Get, Resource::Object(bucket, "data/x")).allowed,
    );
    time("policy allows an anonymous GetObject (pub/x)", n, || {
        authorize(&anon, Verb::Get, Resource::Object(bucket, "pub/x")).allowed
    });
    time("anonymous refused (private/x)", n, || {
        authorize(&anon, Verb::Get, Resource::Object(bucket, "private/x")).allowed
    });
    time(
        "policy denies DeleteObject keep/x despite the binding",
        n,
        || authorize(&deleter, Verb::Delete, Resource::Object(bucket, "keep/x")).allowed,
    );
    time("same bucket, no policy anywhere (bindings only)", n, || {
        authorize(&plain, Verb::Get, Resource::Object("other98", "x")).allowed
    });

    // benches/policy.sh's policy: 90 Allow statements for `*` pinned to 10.i.0.0/16, a Deny on
    // keep/*, a public prefix; the bench's admin reading small/… from 127.0.0.1.
    let mut st: Vec<String> = (0..90)
        .map(|i| format!(r#"{{"Sid":"Team{i}","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::pol/team{i}/*","Condition":{{"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#))
        .collect();
    st.push(r#"{"Sid":"Keep","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pol/keep/*"}"#.into());
    st.push(r#"{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/pub/*"}"#.into());
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        st.join(",")
    );
    let parsed = match BucketPolicy::parse(&doc, "pol", &Anyone) {
        Ok(p) => p,
        Err(e) => panic!("policy does not parse: {}", e.reason),
    };
    let mut buckets = HashMap::new();
    buckets.insert(
        "pol".to_string(),
        Arc::new(BucketAccess {
            policy: Some(Arc::new(parsed)),
            ..BucketAccess::default()
        }),
    );
    let admin_binding = vec![BindingRecord {
        subject: Subject::User(uid.into()),
        role: "admin".into(),
        scope: Scope::Global,
        created_ms: 0,
    }];
    let pol2 = Policy::new(
        Vec::new(),
        BTreeMap::new(),
        admin_binding,
        AdminPeers::default(),
    )
    .with_access(AccessMap {
        buckets,
        block_all_public: false,
    });
    let admin = pol2
        .resolve(uid, "admin", UserKind::Person)
        .with_facts(RequestFacts {
            source_ip: Some("127.0.0.1".parse().expect("ip")),
            action: Some(("s3:GetObject", Verb::Get)),
            ..RequestFacts::default()
        });
    time(
        "benches/policy.sh: admin GetObject pol/small/… (policy)",
        n,
        || authorize(&admin, Verb::Get, Resource::Object("pol", "small/00001234")).allowed,
    );
    time(
        "benches/policy.sh: admin GetObject plain/small/… (none)",
        n,
        || {
            authorize(
                &admin,
                Verb::Get,
                Resource::Object("plain", "small/00001234"),
            )
            .allowed
        },
    );
}
