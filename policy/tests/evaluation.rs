#![allow(clippy::unwrap_used)]
mod common;
use common::*;
use gatehouse_policy::{NoConditions, Outcome::*, Target};

fn allow_get(principal: &str) -> String {
    format!(
        r#"{{"Effect": "Allow", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}"#
    )
}

#[test]
fn principals_match() {
    let carol = Who {
        anonymous: false,
        id: "00000000000000c3",
        name: "carol",
        groups: vec!["admins".into()],
    };
    // (principal, [alice, bob, carol, anonymous])
    let cases: &[(&str, [bool; 4])] = &[
        (r#""*""#, [true, true, true, true]),
        (r#"{"AWS": "*"}"#, [true, true, true, true]),
        (r#"{"AWS": "alice"}"#, [true, false, false, false]),
        (
            r#"{"AWS": "00000000000000b2"}"#,
            [false, true, false, false],
        ),
        (
            r#"{"CanonicalUser": "00000000000000a1"}"#,
            [true, false, false, false],
        ),
        (
            r#"{"AWS": "arn:aws:iam::111122223333:user/bob"}"#,
            [false, true, false, false],
        ),
        (
            r#"{"AWS": "arn:aws:iam:::user/00000000000000a1"}"#,
            [true, false, false, false],
        ),
        (
            r#"{"AWS": "arn:aws:iam::1:group/staff"}"#,
            [true, false, false, false],
        ),
        (
            r#"{"AWS": "arn:aws:iam::1:group/admins"}"#,
            [false, false, true, false],
        ),
        (
            r#"{"AWS": ["bob", "arn:aws:iam::1:group/admins"]}"#,
            [false, true, true, false],
        ),
    ];
    for (principal, want) in cases {
        let p = policy(&allow_get(principal));
        for (who, want) in [alice(), bob(), carol.clone(), anon()].iter().zip(want) {
            let got = eval(&p, who, "s3:GetObject", obj("a.jpg"));
            assert_eq!(got == Allow, *want, "{principal} for {}", who.name);
        }
    }
}

#[test]
fn names_are_case_sensitive() {
    let p = policy(&allow_get(r#"{"AWS": "alice"}"#));
    let mut who = alice();
    who.name = "Alice";
    who.id = "00000000000000ff";
    assert_eq!(eval(&p, &who, "s3:GetObject", obj("a")), NoMatch);
}

#[test]
fn not_principal_denies_everyone_else() {
    let p = policy(&format!(
        r#"{},{{"Effect": "Deny", "NotPrincipal": {{"AWS": ["alice", "arn:aws:iam::1:group/admins"]}}, "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*"}}"#,
        allow_get(r#""*""#)
    ));
    assert_eq!(eval(&p, &alice(), "s3:GetObject", obj("a")), Allow);
    assert_eq!(eval(&p, &bob(), "s3:GetObject", obj("a")), ExplicitDeny);
    assert_eq!(eval(&p, &anon(), "s3:GetObject", obj("a")), ExplicitDeny);
    let admin = Who {
        anonymous: false,
        id: "x",
        name: "zed",
        groups: vec!["admins".into()],
    };
    assert_eq!(eval(&p, &admin, "s3:GetObject", obj("a")), Allow);
    // NotPrincipal "*" excludes everyone.
    let none = policy(
        r#"{"Effect": "Deny", "NotPrincipal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert_eq!(eval(&none, &anon(), "s3:GetObject", obj("a")), NoMatch);
}

#[test]
fn deny_beats_allow() {
    let p = policy(&format!(
        r#"{},{{"Effect": "Deny", "Principal": {{"AWS": "bob"}}, "Action": "s3:Get*", "Resource": "arn:aws:s3:::photos/secret/*"}}"#,
        allow_get(r#""*""#)
    ));
    assert_eq!(
        eval(&p, &bob(), "s3:GetObject", obj("secret/x")),
        ExplicitDeny
    );
    assert_eq!(eval(&p, &bob(), "s3:GetObject", obj("public/x")), Allow);
    assert_eq!(eval(&p, &alice(), "s3:GetObject", obj("secret/x")), Allow);
    assert_eq!(eval(&p, &bob(), "s3:PutObject", obj("public/x")), NoMatch);
}

#[test]
fn actions_match() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": ["s3:Get*", "s3:ListBucket"], "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]}"#,
    );
    for (action, want) in [
        ("s3:GetObject", Allow),
        ("S3:GETOBJECT", Allow),
        ("s3:getobjectversion", Allow),
        ("s3:GetSomethingNew", Allow), // not in the catalog: matched by pattern
        ("s3:PutObject", NoMatch),
        ("iam:GetObject", NoMatch),
        ("GetObject", NoMatch),
        ("", NoMatch),
    ] {
        assert_eq!(eval(&p, &anon(), action, obj("k")), want, "{action}");
    }
    assert_eq!(
        eval(&p, &anon(), "s3:ListBucket", Target::Bucket("photos")),
        Allow
    );
    let all = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert_eq!(eval(&all, &anon(), "s3:Whatever", obj("k")), Allow);
    let q = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:?etObject", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert_eq!(eval(&q, &anon(), "s3:GetObject", obj("k")), Allow);
    assert_eq!(eval(&q, &anon(), "s3:PutObject", obj("k")), NoMatch);
}

#[test]
fn not_action() {
    let p = policy(&format!(
        r#"{},{{"Effect": "Deny", "Principal": "*", "NotAction": ["s3:GetObject", "s3:List*"], "Resource": "arn:aws:s3:::photos/*"}}"#,
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*"}"#
    ));
    assert_eq!(eval(&p, &alice(), "s3:GetObject", obj("k")), Allow);
    assert_eq!(
        eval(&p, &alice(), "s3:ListMultipartUploadParts", obj("k")),
        Allow
    );
    assert_eq!(eval(&p, &alice(), "s3:PutObject", obj("k")), ExplicitDeny);
    assert_eq!(
        eval(&p, &alice(), "s3:SomethingNew", obj("k")),
        ExplicitDeny
    );
}

#[test]
fn resources_match() {
    let p = |r: &str| {
        policy(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": {r}}}"#
        ))
    };
    let get = |p: &gatehouse_policy::BucketPolicy, key: &str| {
        eval(p, &anon(), "s3:GetObject", obj(key)) == Allow
    };
    let list = |p: &gatehouse_policy::BucketPolicy| {
        eval(p, &anon(), "s3:ListBucket", Target::Bucket("photos")) == Allow
    };

    // IAM's own example: arn:aws:s3:::bucket/*/test/*
    let t = p(r#""arn:aws:s3:::photos/*/test/*""#);
    for (key, want) in [
        ("1///test///object.jpg", true),
        ("/test/object.jpg", true),
        ("1/test/", true),
        ("1-test/object.jpg", false),
        ("test/object.jpg", false),
        ("1/2/test.jpg", false),
    ] {
        assert_eq!(get(&t, key), want, "{key}");
    }
    assert!(!list(&t));

    let all = p(r#""arn:aws:s3:::*""#);
    assert!(list(&all) && get(&all, "any/key"));
    let star = p(r#""*""#);
    assert!(list(&star) && get(&star, "k"));
    let prefix = p(r#""arn:aws:s3:::pho*""#);
    assert!(list(&prefix) && get(&prefix, "k"));
    let bucket_only = p(r#"["arn:aws:s3:::photos", "arn:aws:s3:::photos/a"]"#);
    assert!(list(&bucket_only) && get(&bucket_only, "a") && !get(&bucket_only, "ab"));
    let q = p(r#""arn:aws:s3:::photos/img-??.jpg""#);
    assert!(get(&q, "img-01.jpg") && get(&q, "img-éé.jpg") && !get(&q, "img-1.jpg"));
    let case = p(r#""arn:aws:s3:::photos/Private/*""#);
    assert!(get(&case, "Private/x") && !get(&case, "private/x"));
    let colon = p(r#""arn:aws:s3:::photos/a:b/*""#);
    assert!(get(&colon, "a:b/c") && !get(&colon, "a/b/c"));
    let literal_star_bucket = p(r#""arn:aws:s3:::photos/*""#);
    assert!(!list(&literal_star_bucket));
}

#[test]
fn other_bucket_matches_nothing() {
    let p = policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::photos/public/*"}"#,
    );
    assert_eq!(
        eval(
            &p,
            &anon(),
            "s3:GetObject",
            Target::Object {
                bucket: "other",
                key: "x"
            }
        ),
        NoMatch
    );
    assert_eq!(
        eval(&p, &anon(), "s3:ListBucket", Target::Bucket("other")),
        NoMatch
    );
    assert_eq!(
        eval(&p, &anon(), "s3:GetObject", Target::AnyObject("other")),
        NoMatch
    );
}

#[test]
fn not_resource() {
    let p = policy(&format!(
        r#"{},{{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": ["arn:aws:s3:::photos/public/*", "arn:aws:s3:::photos"]}}"#,
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]}"#
    ));
    assert_eq!(eval(&p, &anon(), "s3:GetObject", obj("public/a")), Allow);
    assert_eq!(
        eval(&p, &anon(), "s3:GetObject", obj("private/a")),
        ExplicitDeny
    );
    assert_eq!(
        eval(&p, &anon(), "s3:ListBucket", Target::Bucket("photos")),
        Allow
    );
}

#[test]
fn any_object() {
    let st = |effect: &str, elem: &str, r: &str| {
        policy(&format!(
            r#"{{"Effect": "{effect}", "Principal": "*", "Action": "s3:GetObject", "{elem}": {r}}}"#
        ))
    };
    let any = |p: &gatehouse_policy::BucketPolicy| {
        eval(p, &anon(), "s3:GetObject", Target::AnyObject("photos"))
    };
    // Allow: only if every object is covered.
    for (r, want) in [
        (r#""arn:aws:s3:::photos/*""#, Allow),
        (r#""arn:aws:s3:::*""#, Allow),
        (r#""*""#, Allow),
        (r#""arn:aws:s3:::photos*""#, Allow),
        (r#""arn:aws:s3:::photos/?*""#, Allow),
        (
            r#"["arn:aws:s3:::photos/?", "arn:aws:s3:::photos/??*"]"#,
            Allow,
        ),
        (r#""arn:aws:s3:::photos/a/*""#, NoMatch),
        (r#""arn:aws:s3:::photos/*.jpg""#, NoMatch),
        (r#""arn:aws:s3:::photos/??*""#, NoMatch),
        (
            r#"["arn:aws:s3:::photos/a*", "arn:aws:s3:::photos/b*"]"#,
            NoMatch,
        ),
    ] {
        assert_eq!(any(&st("Allow", "Resource", r)), want, "Allow {r}");
    }
    // Deny: if some object could match.
    for (r, want) in [
        (r#""arn:aws:s3:::photos/*""#, ExplicitDeny),
        (r#""arn:aws:s3:::photos/a/*""#, ExplicitDeny),
        (r#""arn:aws:s3:::photos/x.jpg""#, ExplicitDeny),
        (
            r#"["arn:aws:s3:::photos", "arn:aws:s3:::photos/"]"#,
            NoMatch,
        ),
    ] {
        if r.contains("photos\"") {
            // only the bucket and the empty key: not an object action's target
            let p = policy(&format!(
                r#"{{"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": {r}}}"#
            ));
            assert_eq!(any(&p), want, "Deny {r}");
        } else {
            assert_eq!(any(&st("Deny", "Resource", r)), want, "Deny {r}");
        }
    }
    // NotResource: Allow if no object is listed; Deny unless every object is listed.
    assert_eq!(
        any(&st("Allow", "NotResource", r#""arn:aws:s3:::photos/a/*""#)),
        NoMatch
    );
    assert_eq!(
        any(&st("Deny", "NotResource", r#""arn:aws:s3:::photos/a/*""#)),
        ExplicitDeny
    );
    let p = policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"], "NotResource": "arn:aws:s3:::photos/*"}"#,
    );
    assert_eq!(any(&p), NoMatch);
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::photos"}"#,
    );
    assert_eq!(any(&p), Allow);
}

#[test]
fn restrict_public_buckets() {
    let p = policy(&format!(
        r#"{},{},{{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/secret/*"}}"#,
        allow_get(r#""*""#),
        r#"{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::photos/*"}"#
    ));
    let run = |who: &Who, action: &str, key: &str| {
        eval_with(&p, who, action, obj(key), &NoConditions, true)
    };
    assert_eq!(run(&anon(), "s3:GetObject", "a"), NoMatch);
    assert_eq!(run(&alice(), "s3:GetObject", "a"), NoMatch);
    assert_eq!(run(&bob(), "s3:PutObject", "a"), Allow);
    assert_eq!(run(&bob(), "s3:GetObject", "secret/a"), ExplicitDeny);
    assert_eq!(eval(&p, &anon(), "s3:GetObject", obj("a")), Allow);
}

#[test]
fn policy_variables_in_resources() {
    let home = r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/home/${aws:username}/*"}"#;
    let p = policy(home);
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", obj("home/alice/x")),
        Allow
    );
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", obj("home/bob/x")),
        NoMatch
    );
    assert_eq!(eval(&p, &bob(), "s3:PutObject", obj("home/bob/x")), Allow);
    // anonymous: no aws:username, so the resource matches nothing
    assert_eq!(eval(&p, &anon(), "s3:PutObject", obj("home//x")), NoMatch);
    assert_eq!(
        eval(&p, &anon(), "s3:PutObject", obj("home/${aws:username}/x")),
        NoMatch
    );
    // a value supplied by the caller wins over the subject
    let c = ctx(&[("aws:username", &["carol"])]);
    assert_eq!(
        eval_with(&p, &alice(), "s3:PutObject", obj("home/carol/x"), &c, false),
        Allow
    );
    // several values: no value
    let c = ctx(&[("aws:username", &["carol", "dave"])]);
    assert_eq!(
        eval_with(&p, &alice(), "s3:PutObject", obj("home/carol/x"), &c, false),
        NoMatch
    );
    // a value's wildcard characters are literal
    let c = ctx(&[("aws:username", &["*"])]);
    assert_eq!(
        eval_with(&p, &alice(), "s3:PutObject", obj("home/bob/x"), &c, false),
        NoMatch
    );
    assert_eq!(
        eval_with(&p, &alice(), "s3:PutObject", obj("home/*/x"), &c, false),
        Allow
    );
    // AnyObject through a variable
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", Target::AnyObject("photos")),
        NoMatch
    );

    // 2008-10-17 (or no Version): literal text
    let old = format!(r#"{{"Version": "2008-10-17", "Statement": [{home}]}}"#);
    let p = parse(&old).unwrap();
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", obj("home/alice/x")),
        NoMatch
    );
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", obj("home/${aws:username}/x")),
        Allow
    );
    let none = format!(r#"{{"Statement": [{home}]}}"#);
    let p = parse(&none).unwrap();
    assert_eq!(
        eval(&p, &alice(), "s3:PutObject", obj("home/${aws:username}/x")),
        Allow
    );

    // userid, specials, defaults
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/${aws:userid}/${*}${?}${$}/${aws:PrincipalTag/team, 'all'}/*"}"#,
    );
    assert_eq!(
        eval(
            &p,
            &alice(),
            "s3:PutObject",
            obj("00000000000000a1/*?$/all/x")
        ),
        Allow
    );
    assert_eq!(
        eval(
            &p,
            &alice(),
            "s3:PutObject",
            obj("00000000000000a1/ab$/all/x")
        ),
        NoMatch
    );
    assert_eq!(
        eval(&p, &anon(), "s3:PutObject", obj("anonymous/*?$/all/x")),
        Allow
    );
    let c = ctx(&[("aws:principaltag/team", &["red"])]);
    assert_eq!(
        eval_with(
            &p,
            &alice(),
            "s3:PutObject",
            obj("00000000000000a1/*?$/red/x"),
            &c,
            false
        ),
        Allow
    );

    // a variable in the bucket part is resolved per request
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::${aws:username}", "arn:aws:s3:::${aws:username}/*"]}"#,
    );
    let c = ctx(&[("aws:username", &["photos"])]);
    assert_eq!(
        eval_with(&p, &alice(), "s3:GetObject", obj("x"), &c, false),
        Allow
    );
    assert_eq!(
        eval_with(
            &p,
            &alice(),
            "s3:ListBucket",
            Target::Bucket("photos"),
            &c,
            false
        ),
        Allow
    );
    assert_eq!(
        eval_with(
            &p,
            &alice(),
            "s3:GetObject",
            Target::AnyObject("photos"),
            &c,
            false
        ),
        Allow
    );
    assert_eq!(eval(&p, &alice(), "s3:GetObject", obj("x")), NoMatch);
}

/// `denies_only` (the caller is allowed already): an Allow is not looked for, a Deny still
/// answers.
#[test]
fn denies_only_answers_deny_or_nothing() {
    let p = policy(&format!(
        r#"{}, {{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/private/*"}}"#,
        allow_get(r#""*""#)
    ));
    let who = alice();
    let run = |key: &str, denies_only: bool| {
        p.evaluate(&gatehouse_policy::Request {
            subject: gatehouse_policy::Subject {
                anonymous: who.anonymous,
                user_id: who.id,
                user_name: who.name,
                groups: &who.groups,
            },
            action: "s3:GetObject",
            target: obj(key),
            conditions: &NoConditions,
            ignore_public_allows: false,
            denies_only,
        })
    };
    assert_eq!(run("a.jpg", false), Allow);
    assert_eq!(run("a.jpg", true), NoMatch);
    assert_eq!(run("private/a.jpg", false), ExplicitDeny);
    assert_eq!(run("private/a.jpg", true), ExplicitDeny);
}
