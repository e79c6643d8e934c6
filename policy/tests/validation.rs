#![allow(clippy::unwrap_used)]
mod common;
use common::*;
use gatehouse_policy::MAX_POLICY_BYTES;

const OK_STATEMENT: &str = r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}"#;

/// A statement with one field replaced (or added).
fn with(field: &str, value: &str) -> String {
    let mut fields = vec![
        ("Effect", r#""Allow""#.to_string()),
        ("Principal", r#""*""#.to_string()),
        ("Action", r#""s3:GetObject""#.to_string()),
        ("Resource", r#""arn:aws:s3:::photos/*""#.to_string()),
    ];
    match fields.iter_mut().find(|(f, _)| *f == field) {
        Some(slot) => slot.1 = value.to_string(),
        None => fields.push((
            Box::leak(field.to_string().into_boxed_str()),
            value.to_string(),
        )),
    }
    let body: Vec<String> = fields
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(f, v)| format!(r#""{f}": {v}"#))
        .collect();
    doc(&format!("{{{}}}", body.join(", ")))
}

#[test]
fn document_errors() {
    let cases: Vec<(String, &str)> = vec![
        (
            String::new(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (
            " {}".into(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (
            "[]".into(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (
            "null".into(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        ("{".into(), "This policy contains invalid Json"),
        ("{]".into(), "This policy contains invalid Json"),
        (
            r#"{"Statement": [] } x"#.into(),
            "This policy contains invalid Json",
        ),
        (
            r#"{"a": "\uDEAD"}"#.into(),
            "This policy contains invalid Json",
        ),
        ("{}".into(), "Missing required field Statement"),
        (
            r#"{"Version": "2012-10-17"}"#.into(),
            "Missing required field Statement",
        ),
        (
            r#"{"Statement": []}"#.into(),
            "Could not parse the policy: Statement is empty!",
        ),
        (r#"{"Statement": "x"}"#.into(), "Invalid policy syntax."),
        (r#"{"Statement": ["x"]}"#.into(), "Invalid policy syntax."),
        (
            r#"{"Version": "2020-01-01", "Statement": []}"#.into(),
            "The policy must contain a valid version string",
        ),
        (
            r#"{"Version": "", "Statement": []}"#.into(),
            "The policy must contain a valid version string",
        ),
        (
            r#"{"Version": 2012, "Statement": []}"#.into(),
            "The policy must contain a valid version string",
        ),
        (
            r#"{"Id": 5, "Statement": []}"#.into(),
            "Invalid policy syntax.",
        ),
        (r#"{"Foo": 1, "Statement": []}"#.into(), "Unknown field Foo"),
        (
            r#"{"Statement": [], "Statement": []}"#.into(),
            "Invalid policy syntax.",
        ),
        (
            doc(&format!(
                r#"{},{}"#,
                OK_STATEMENT.replace('{', r#"{"Sid": "a", "#),
                OK_STATEMENT.replace('{', r#"{"Sid": "a", "#)
            )),
            "Statement IDs (SID) in a single policy must be unique",
        ),
    ];
    for (json, want) in cases {
        assert_eq!(err(&json), want, "{json}");
    }
}

#[test]
fn statement_errors() {
    let cases: Vec<(String, &str)> = vec![
        (with("Sid", "5"), "Invalid policy syntax."),
        (with("Effect", ""), "Missing required field Effect"),
        (with("Effect", r#""allow""#), "Invalid effect: allow"),
        (with("Effect", "true"), "Invalid effect: boolean"),
        (with("Principal", ""), "Missing required field Principal"),
        (with("NotPrincipal", r#""*""#), "Invalid policy syntax."),
        (with("Action", ""), "Missing required field Action"),
        (
            with("NotAction", r#""s3:PutObject""#),
            "Invalid policy syntax.",
        ),
        (with("Action", "null"), "Invalid policy syntax."),
        (with("Action", "[]"), "Invalid policy syntax."),
        (with("Action", "[5]"), "Invalid policy syntax."),
        (with("Resource", ""), "Missing required field Resource"),
        (with("NotResource", r#""*""#), "Invalid policy syntax."),
        (with("Resource", "{}"), "Invalid policy syntax."),
        (with("Principle", r#""*""#), "Unknown field Principle"),
        (with("Condition", "[]"), "Invalid policy syntax."),
    ];
    for (json, want) in cases {
        assert_eq!(err(&json), want, "{json}");
    }
    // NotPrincipal only with Deny.
    let np = doc(
        r#"{"Effect": "Allow", "NotPrincipal": {"AWS": "alice"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert_eq!(
        err(&np),
        r#"NotPrincipal must be used with "Effect":"Deny""#
    );
}

#[test]
fn principal_errors() {
    for p in [
        r#""alice""#,
        r#"["*"]"#,
        r#"{}"#,
        r#"{"AWS": "dave"}"#,
        r#"{"AWS": []}"#,
        r#"{"AWS": [5]}"#,
        r#"{"AWS": "ali*"}"#,
        r#"{"AWS": "al?ce"}"#,
        r#"{"AWS": ""}"#,
        r#"{"AWS": "123456789012"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:root"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/dave"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:role/alice"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:group/nobody"}"#,
        r#"{"AWS": "arn:aws:s3:::alice"}"#,
        r#"{"AWS": "arn:aws-cn:iam::1:user/alice"}"#,
        r#"{"AWS": "arn:aws:iam:us-east-1:1:user/alice"}"#,
        r#"{"AWS": "arn:aws:iam::1:user/*"}"#,
        r#"{"AWS": "arn:aws:iam::1"}"#,
        r#"{"CanonicalUser": "alice"}"#,
        r#"{"CanonicalUser": "*"}"#,
        r#"{"CanonicalUser": "0000000000000000"}"#,
        r#"{"Service": "cloudfront.amazonaws.com"}"#,
        r#"{"Federated": "cognito-identity.amazonaws.com"}"#,
        r#"{"AWS": "alice", "Service": "s3.amazonaws.com"}"#,
        "null",
    ] {
        assert_eq!(
            err(&with("Principal", p)),
            "Invalid principal in policy",
            "{p}"
        );
    }
}

#[test]
fn principal_forms_accepted() {
    for p in [
        r#""*""#,
        r#"{"AWS": "*"}"#,
        r#"{"AWS": ["*"]}"#,
        r#"{"AWS": "alice"}"#,
        r#"{"AWS": "00000000000000a1"}"#,
        r#"{"AWS": "0123456789abcdef"}"#, // id-shaped, but a user's name
        r#"{"AWS": ["alice", "bob"]}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/alice"}"#,
        r#"{"AWS": "arn:aws:iam:::user/alice"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/division/alice"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/00000000000000b2"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:group/staff"}"#,
        r#"{"CanonicalUser": "00000000000000a1"}"#,
        r#"{"CanonicalUser": ["00000000000000a1", "00000000000000b2"], "AWS": "carol"}"#,
    ] {
        parse(&with("Principal", p)).unwrap_or_else(|e| panic!("{p}: {}", e.reason));
    }
}

#[test]
fn action_errors() {
    for a in [
        r#""s3:Foo""#,
        r#""s3:PutObjectLockConfiguration""#,
        r#""iam:CreateUser""#,
        r#""iam:*""#,
        r#""s3:Nope*""#,
        r#""GetObject""#,
        r#""s3:""#,
        r#""""#,
        r#"["s3:GetObject", "s3:Bogus"]"#,
    ] {
        assert_eq!(err(&with("Action", a)), "Policy has invalid action", "{a}");
    }
    for a in [
        r#""*""#,
        r#""s3:*""#,
        r#""S3:GETOBJECT""#,
        r#""s3:Get*""#,
        r#""s3:GetObject?ersion""#,
        r#""*:GetObject""#,
        r#"["s3:GetObject", "s3:PutObject"]"#,
    ] {
        parse(&with("Action", a)).unwrap_or_else(|e| panic!("{a}: {}", e.reason));
    }
}

#[test]
fn resource_errors() {
    for r in [
        r#""arn:aws:s3:::other/*""#,
        r#""arn:aws:s3:::other""#,
        r#""arn:aws:s3:::photosx""#,
        r#""arn:aws:s3:::photosx/*""#,
        r#""arn:aws:s3:::oth*""#,
        r#""arn:aws:s3:::""#,
        r#""photos/*""#,
        r#""arn:aws:s3:us-east-1::photos/*""#,
        r#""arn:aws:s3::123456789012:photos/*""#,
        r#""arn:aws:iam:::photos/*""#,
        r#""arn:aws-cn:s3:::photos/*""#,
        r#""arn:aws:s3:*""#,
        r#"["arn:aws:s3:::photos/*", "arn:aws:s3:::other/*"]"#,
    ] {
        assert_eq!(
            err(&with("Resource", r)),
            "Policy has invalid resource",
            "{r}"
        );
    }
    for r in [
        r#""*""#,
        r#""arn:aws:s3:::*""#,
        r#""arn:aws:s3:::*/*""#,
        r#""arn:aws:s3:::pho*""#,
        r#""arn:aws:s3:::ph?tos/*""#,
        r#""arn:*:s3:::photos/*""#,
        r#""arn:aws:s3:*:*:photos/*""#,
        r#""arn:aws:s3:::photos/a/b:c/*""#,
        r#""arn:aws:s3:::photos/home/${aws:username}/*""#,
        r#""arn:aws:s3:::${aws:username}/*""#,
    ] {
        parse(&with("Resource", r)).unwrap_or_else(|e| panic!("{r}: {}", e.reason));
    }
}

#[test]
fn action_must_apply_to_a_resource() {
    let na = "Action does not apply to any resource(s) in statement";
    let st = |action: &str, resource: &str| {
        doc(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": {action}, {resource}}}"#
        ))
    };
    assert_eq!(
        err(&st(
            r#""s3:GetObject""#,
            r#""Resource": "arn:aws:s3:::photos""#
        )),
        na
    );
    assert_eq!(
        err(&st(
            r#""s3:ListBucket""#,
            r#""Resource": "arn:aws:s3:::photos/*""#
        )),
        na
    );
    assert_eq!(
        err(&st(r#""s3:ListAllMyBuckets""#, r#""Resource": "*""#)),
        na
    );
    assert_eq!(
        err(&st(
            r#""s3:PutObject""#,
            r#""Resource": "arn:aws:s3:::photos""#
        )),
        na
    );
    assert_eq!(
        err(&st(
            r#""s3:*""#,
            r#""NotResource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]"#
        )),
        na
    );
    assert_eq!(
        err(&st(
            r#""s3:ListBucket""#,
            r#""NotResource": "arn:aws:s3:::photos""#
        )),
        na
    );
    // fine
    for (a, r) in [
        (
            r#""s3:GetObject""#,
            r#""Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]"#,
        ),
        (
            r#"["s3:GetObject", "s3:ListBucket"]"#,
            r#""Resource": "arn:aws:s3:::photos""#,
        ),
        (r#""s3:*""#, r#""Resource": "arn:aws:s3:::photos""#),
        (r#""s3:GetObject""#, r#""Resource": "arn:aws:s3:::*""#),
        (r#""s3:ListBucket""#, r#""Resource": "arn:aws:s3:::pho*""#),
        (
            r#""s3:GetObject""#,
            r#""NotResource": "arn:aws:s3:::photos/private/*""#,
        ),
        (
            r#""s3:ListBucket""#,
            r#""NotResource": "arn:aws:s3:::photos/*""#,
        ),
    ] {
        parse(&st(a, r)).unwrap_or_else(|e| panic!("{a} {r}: {}", e.reason));
    }
    let notaction = doc(
        r#"{"Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::photos"}"#,
    );
    parse(&notaction).unwrap();
}

#[test]
fn condition_errors() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"StringEqualz": {"aws:username": "a"}}"#,
            "Invalid Condition type : StringEqualz",
        ),
        (
            r#"{"stringequals": {"aws:username": "a"}}"#,
            "Invalid Condition type : stringequals",
        ),
        (
            r#"{"NullIfExists": {"aws:username": "true"}}"#,
            "Invalid Condition type : NullIfExists",
        ),
        (
            r#"{"ForAnyValue:Null": {"aws:username": "true"}}"#,
            "Invalid Condition type : ForAnyValue:Null",
        ),
        (
            r#"{"ForEveryValue:StringEquals": {"aws:username": "a"}}"#,
            "Invalid Condition type : ForEveryValue:StringEquals",
        ),
        (
            r#"{"StringEquals": {"foo:bar": "a"}}"#,
            "Policy has an invalid condition key",
        ),
        (
            r#"{"StringEquals": {"aws:": "a"}}"#,
            "Policy has an invalid condition key",
        ),
        (
            r#"{"StringEquals": {"username": "a"}}"#,
            "Policy has an invalid condition key",
        ),
        (
            r#"{"StringEquals": {"aws:user name": "a"}}"#,
            "Policy has an invalid condition key",
        ),
        (
            r#"{"NumericEquals": {"s3:max-keys": "abc"}}"#,
            "Invalid numeric value in Conditions: abc",
        ),
        (
            r#"{"NumericLessThan": {"s3:max-keys": "1e"}}"#,
            "Invalid numeric value in Conditions: 1e",
        ),
        (
            r#"{"DateLessThan": {"aws:CurrentTime": "tomorrow"}}"#,
            "Invalid date value in Conditions: tomorrow",
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "300.0.0.1"}}"#,
            "Invalid IP address in Conditions: 300.0.0.1",
        ),
        (
            r#"{"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.0/33"]}}"#,
            "Invalid IP address in Conditions: 10.0.0.0/33",
        ),
        (
            r#"{"Bool": {"aws:SecureTransport": "yes"}}"#,
            "Invalid boolean value in Conditions: yes",
        ),
        (
            r#"{"BinaryEquals": {"aws:x": "a$=="}}"#,
            "Invalid base64 value in Conditions: a$==",
        ),
        (
            r#"{"Null": {"aws:username": "maybe"}}"#,
            "Invalid boolean value in Conditions: maybe",
        ),
        (
            r#"{"StringEquals": {"aws:username": []}}"#,
            "Invalid policy syntax.",
        ),
        (
            r#"{"StringEquals": {"aws:username": null}}"#,
            "Invalid policy syntax.",
        ),
        (
            r#"{"StringEquals": {"aws:username": {"a": "b"}}}"#,
            "Invalid policy syntax.",
        ),
        (
            r#"{"StringEquals": "aws:username"}"#,
            "Invalid policy syntax.",
        ),
        (r#""x""#, "Invalid policy syntax."),
    ];
    for (cond, want) in cases {
        assert_eq!(err(&with("Condition", cond)), *want, "{cond}");
    }
    for cond in [
        r#"{}"#,
        r#"{"StringEquals": {}}"#,
        r#"{"StringEquals": {"AWS:UserName": "a", "s3:ExistingObjectTag/My Tag+x=y@z": "b"}}"#,
        r#"{"NumericLessThan": {"s3:max-keys": 10}}"#,
        r#"{"Bool": {"aws:SecureTransport": true}}"#,
        r#"{"DateGreaterThan": {"aws:CurrentTime": ["2020-01-01T00:00:00Z", 1577836800]}}"#,
        r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]}}"#,
        r#"{"ForAllValues:StringLikeIfExists": {"s3:RequestObjectTagKeys": ["a*"]}}"#,
        r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}"#,
        r#"{"BinaryEquals": {"aws:x": "aGVsbG8="}}"#,
        r#"{"Null": {"aws:username": false}}"#,
    ] {
        parse(&with("Condition", cond)).unwrap_or_else(|e| panic!("{cond}: {}", e.reason));
    }
}

#[test]
fn size_limit() {
    // Just over the limit in content.
    let pad = "a".repeat(MAX_POLICY_BYTES);
    let big = format!(r#"{{"Id": "{pad}", "Statement": [{OK_STATEMENT}]}}"#);
    assert_eq!(
        err(&big),
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes"
    );
    // Whitespace does not count (S3 measures the normalized document).
    let spaced = format!(
        "{{{}\"Statement\": [{OK_STATEMENT}]}}",
        " \n\t".repeat(MAX_POLICY_BYTES)
    );
    assert!(spaced.len() > MAX_POLICY_BYTES);
    parse(&spaced).unwrap();
    // Whitespace inside strings does count.
    let spaces_in_string = format!(
        r#"{{"Id": "{}", "Statement": [{OK_STATEMENT}]}}"#,
        " ".repeat(MAX_POLICY_BYTES)
    );
    assert_eq!(
        err(&spaces_in_string),
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes"
    );
}

#[test]
fn deep_json_is_refused_safely() {
    // A megabyte of brackets: the size check comes first.
    let deep = format!("{{\"Statement\":{}", "[".repeat(1 << 20));
    assert_eq!(
        err(&deep),
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes"
    );
    // Under the size limit, nesting is bounded by the JSON reader's recursion limit.
    let n = 9000;
    let nested = format!("{{\"Statement\":{}{}}}", "[".repeat(n), "]".repeat(n));
    assert!(nested.len() <= MAX_POLICY_BYTES);
    assert_eq!(err(&nested), "This policy contains invalid Json");
    let objects = format!(
        "{{\"Statement\":{}1{}}}",
        "{\"a\":".repeat(3000),
        "}".repeat(3000)
    );
    assert_eq!(err(&objects), "This policy contains invalid Json");
}

#[test]
fn accepted_documents() {
    // A single statement object, no Version, Id, Sids, 2008 version.
    for json in [
        format!(r#"{{"Statement": {OK_STATEMENT}}}"#),
        format!(r#"{{"Version": "2008-10-17", "Id": "x", "Statement": [{OK_STATEMENT}]}}"#),
        doc(&format!(
            "{},{}",
            OK_STATEMENT.replace('{', r#"{"Sid": "one two", "#),
            OK_STATEMENT.replace('{', r#"{"Sid": "three", "#)
        )),
    ] {
        let p = parse(&json).unwrap();
        assert_eq!(p.source(), json);
        assert_eq!(p.bucket(), "photos");
    }
    let p = parse(&format!(r#"{{"Statement": {OK_STATEMENT}}}"#)).unwrap();
    assert_eq!(p.version(), None);
    assert_eq!(p.statement_count(), 1);
}
