//! Bucket policies (`gatehouse_policy`): `BucketPolicy::parse`, then `evaluate` and
//! `is_public` on what parses.
//!
//! Input: a first line of space-separated context tokens, then the policy document (no
//! newline: the whole input is the document, with an empty context). Tokens: `u:NAME` a user
//! name the directory knows (the first is the named subject), `i:ID` a user id it knows (the
//! first is the subject's), `g:GROUP` a group it knows (the subject is in each), `b:BUCKET` the
//! policy's bucket (`photos` if none or not a bucket name), `k:KEY` an object key to request,
//! `a:ACTION` an action string to request, `c:KEY=VALUE` a condition value (key lowercased).
//! The directory also knows user `alice` (`00112233aabbccdd`) and group `staff`; every other
//! name is unknown.
//!
//! Oracles: a document over `MAX_POLICY_BYTES` of non-whitespace never parses (the input itself,
//! and a parsed document padded with a long `Id`); one with 21 KB of trailing whitespace parses
//! as before; a policy parses again from its own `source()` into the same policy; `evaluate`
//! never panics, matches nothing on another bucket, compares actions case-insensitively, and
//! `ignore_public_allows` only ever removes an `Allow`.
#![no_main]
use std::collections::HashMap;

use gatehouse_policy::catalog::ACTIONS;
use gatehouse_policy::{
    BucketPolicy, Directory, MAX_POLICY_BYTES, Outcome, PrincipalName, Request, Subject, Target,
};
use libfuzzer_sys::fuzz_target;
// Linked for its allocation bound (see the crate docs).
use gatehouse_fuzz as _;

/// At most this many tokens of each kind are used (the context line is not the target).
const MAX_TOKENS: usize = 6;
const OTHER_BUCKET: &str = "other-bucket";

#[derive(Default)]
struct Context<'a> {
    users: Vec<&'a str>,
    ids: Vec<&'a str>,
    groups: Vec<String>,
    bucket: Option<&'a str>,
    keys: Vec<&'a str>,
    actions: Vec<&'a str>,
    conditions: HashMap<String, Vec<String>>,
}

impl<'a> Context<'a> {
    fn parse(line: &'a str) -> Self {
        let mut c = Context::default();
        for token in line.split(' ') {
            let Some((kind, v)) = token.split_once(':') else {
                continue;
            };
            match kind {
                "u" if c.users.len() < MAX_TOKENS => c.users.push(v),
                "i" if c.ids.len() < MAX_TOKENS => c.ids.push(v),
                "g" if c.groups.len() < MAX_TOKENS => c.groups.push(v.to_owned()),
                "b" if is_bucket_name(v) => c.bucket = Some(v),
                "k" if c.keys.len() < MAX_TOKENS => c.keys.push(v),
                "a" if c.actions.len() < MAX_TOKENS => c.actions.push(v),
                "c" if c.conditions.len() < MAX_TOKENS => {
                    let (k, v) = v.split_once('=').unwrap_or((v, ""));
                    c.conditions
                        .entry(k.to_ascii_lowercase())
                        .or_default()
                        .push(v.to_owned());
                }
                _ => {}
            }
        }
        c
    }
}

/// The server only ever passes S3 bucket names (3–63 of `a-z 0-9 . -`).
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && s != OTHER_BUCKET
}

impl Directory for Context<'_> {
    fn exists(&self, who: PrincipalName<'_>) -> bool {
        match who {
            PrincipalName::UserId(id) => id == "00112233aabbccdd" || self.ids.contains(&id),
            PrincipalName::UserName(n) => n == "alice" || self.users.contains(&n),
            PrincipalName::Group(g) => g == "staff" || self.groups.iter().any(|x| x == g),
        }
    }
}

/// The same measure as S3's (and `policy/src/json.rs`): bytes outside JSON whitespace between
/// tokens.
fn normalized_len(text: &str) -> usize {
    let (mut n, mut in_string, mut escaped) = (0, false, false);
    for &b in text.as_bytes() {
        if in_string {
            n += 1;
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            n += 1;
            in_string = b == b'"';
        }
    }
    n
}

/// Every verdict of `policy` on the requests built from the context, in a fixed order.
fn verdicts(policy: &BucketPolicy, ctx: &Context<'_>, extra_action: &str) -> Vec<Outcome> {
    let bucket = policy.bucket();
    let groups = if ctx.groups.is_empty() {
        vec!["staff".to_owned()]
    } else {
        ctx.groups.clone()
    };
    let named = Subject {
        anonymous: false,
        user_id: ctx.ids.first().copied().unwrap_or("00112233aabbccdd"),
        user_name: ctx.users.first().copied().unwrap_or("alice"),
        groups: &groups,
    };
    let anonymous = Subject {
        anonymous: true,
        user_id: "",
        user_name: "",
        groups: &[],
    };
    let mut actions: Vec<&str> = vec![
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        extra_action,
    ];
    actions.extend(&ctx.actions);
    let keys: &[&str] = if ctx.keys.is_empty() {
        &["2024/cat.jpg"]
    } else {
        &ctx.keys
    };
    let mut targets = vec![Target::Bucket(bucket), Target::AnyObject(bucket)];
    targets.extend(keys.iter().map(|key| Target::Object { bucket, key }));

    let mut out = Vec::new();
    for subject in [anonymous, named] {
        for &action in &actions {
            let lower = action.to_ascii_lowercase();
            let upper = action.to_ascii_uppercase();
            for &target in &targets {
                let req = |action, ignore_public_allows| Request {
                    subject,
                    action,
                    target,
                    conditions: &ctx.conditions,
                    ignore_public_allows,
                    denies_only: false,
                };
                let v = policy.evaluate(&req(action, false));
                let restricted = policy.evaluate(&req(action, true));
                // Looking for a Deny only finds exactly the Deny a full evaluation finds.
                let denies = policy.evaluate(&Request {
                    denies_only: true,
                    ..req(action, false)
                });
                assert_eq!(
                    denies,
                    if v == Outcome::ExplicitDeny {
                        Outcome::ExplicitDeny
                    } else {
                        Outcome::NoMatch
                    },
                    "denies_only disagrees: {action} on {target:?}"
                );
                // RestrictPublicBuckets drops public grants and nothing else.
                assert_eq!(
                    v == Outcome::ExplicitDeny,
                    restricted == Outcome::ExplicitDeny,
                    "ignore_public_allows changed a Deny: {action} on {target:?}"
                );
                assert!(
                    restricted != Outcome::Allow || v == Outcome::Allow,
                    "ignore_public_allows granted more: {action} on {target:?}"
                );
                for other in [lower.as_str(), upper.as_str()] {
                    assert_eq!(
                        policy.evaluate(&req(other, false)),
                        v,
                        "actions compare case-sensitively: {action} / {other} on {target:?}"
                    );
                }
                out.push(v);
                out.push(restricted);
            }
            // A request on another bucket matches nothing.
            let key = keys[0];
            for target in [
                Target::Bucket(OTHER_BUCKET),
                Target::AnyObject(OTHER_BUCKET),
                Target::Object {
                    bucket: OTHER_BUCKET,
                    key,
                },
            ] {
                let req = Request {
                    subject,
                    action,
                    target,
                    conditions: &ctx.conditions,
                    ignore_public_allows: false,
                    denies_only: false,
                };
                assert_eq!(
                    policy.evaluate(&req),
                    Outcome::NoMatch,
                    "{action} on {target:?} matched a policy of bucket {bucket}"
                );
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (line, doc) = match data.iter().position(|&b| b == b'\n') {
        Some(nl) => (&data[..nl], &data[nl + 1..]),
        None => (&b""[..], data),
    };
    let line = String::from_utf8_lossy(line);
    let doc = String::from_utf8_lossy(doc);
    let ctx = Context::parse(&line);
    let bucket = ctx.bucket.unwrap_or("photos");

    let parsed = BucketPolicy::parse(&doc, bucket, &ctx);
    let policy = match parsed {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.reason.is_empty(), "an error without a reason");
            return;
        }
    };
    let size = normalized_len(&doc);
    assert!(
        size <= MAX_POLICY_BYTES,
        "a policy of {size} normalized bytes parsed"
    );
    assert_eq!(policy.source(), doc);
    assert_eq!(policy.bucket(), bucket);
    assert!(policy.statement_count() > 0);

    // One catalog action picked by the input, besides the fixed ones and the context's.
    let pick = &ACTIONS[data
        .iter()
        .fold(data.len(), |h, &b| h.wrapping_mul(31) ^ usize::from(b))
        % ACTIONS.len()];
    let extra = format!("s3:{}", pick.name);
    let first = verdicts(&policy, &ctx, &extra);

    // Parsed again from its own source: the same policy.
    let again = match BucketPolicy::parse(policy.source(), bucket, &ctx) {
        Ok(p) => p,
        Err(e) => panic!(
            "a parsed policy does not parse from its source: {}",
            e.reason
        ),
    };
    assert_eq!(again.is_public(), policy.is_public());
    assert_eq!(format!("{again:?}"), format!("{policy:?}"));
    assert_eq!(verdicts(&again, &ctx, &extra), first);

    // Whitespace is not counted: 21 KB of it after the document changes nothing.
    let mut spaced = String::with_capacity(doc.len() + MAX_POLICY_BYTES + 1024);
    spaced.push_str(&doc);
    spaced.push('\n');
    spaced.extend(std::iter::repeat_n(' ', MAX_POLICY_BYTES + 1000));
    match BucketPolicy::parse(&spaced, bucket, &ctx) {
        Ok(p) => {
            assert_eq!(p.is_public(), policy.is_public());
            assert_eq!(p.statement_count(), policy.statement_count());
        }
        Err(e) => panic!(
            "trailing whitespace made a valid policy invalid: {}",
            e.reason
        ),
    }

    // The same document made too large by an `Id` never parses.
    let pad = MAX_POLICY_BYTES + 1 - size.min(MAX_POLICY_BYTES);
    let mut big = String::with_capacity(doc.len() + pad + 16);
    big.push_str("{\"Id\":\"");
    big.extend(std::iter::repeat_n('x', pad));
    big.push_str("\",");
    big.push_str(&doc[1..]);
    assert!(normalized_len(&big) > MAX_POLICY_BYTES);
    assert!(
        BucketPolicy::parse(&big, bucket, &ctx).is_err(),
        "a policy over MAX_POLICY_BYTES parsed"
    );
});
