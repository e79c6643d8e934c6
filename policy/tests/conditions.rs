#![allow(clippy::unwrap_used)]
mod common;
use common::*;
use gatehouse_policy::Outcome;

/// Whether an Allow statement with `condition` grants, for the request context `pairs`.
fn holds(condition: &str, pairs: &[(&str, &[&str])]) -> bool {
    holds_for(&alice(), condition, pairs)
}

fn holds_for(who: &Who, condition: &str, pairs: &[(&str, &[&str])]) -> bool {
    let p = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*", "Condition": {condition}}}"#
    ));
    let c = ctx(pairs);
    eval_with(&p, who, "s3:GetObject", obj("k"), &c, false) == Outcome::Allow
}

type Case<'a> = (&'a str, &'a [(&'a str, &'a [&'a str])], bool);

fn run(cases: &[Case<'_>]) {
    for (condition, pairs, want) in cases {
        assert_eq!(holds(condition, pairs), *want, "{condition} with {pairs:?}");
    }
}

const NONE: &[(&str, &[&str])] = &[];

#[test]
fn string_operators() {
    run(&[
        (
            r#"{"StringEquals": {"s3:prefix": "home/"}}"#,
            &[("s3:prefix", &["home/"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "home/"}}"#,
            &[("s3:prefix", &["Home/"])],
            false,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["home/x"])],
            false,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["home/*"])],
            true,
        ),
        (r#"{"StringEquals": {"s3:prefix": "home/"}}"#, NONE, false),
        (
            r#"{"StringEquals": {"s3:prefix": "home/"}}"#,
            &[("s3:prefix", &[])],
            false,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": ["a", "b"]}}"#,
            &[("s3:prefix", &["b"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": ""}}"#,
            &[("s3:prefix", &[""])],
            true,
        ),
        (
            r#"{"StringNotEquals": {"s3:prefix": "a"}}"#,
            &[("s3:prefix", &["a"])],
            false,
        ),
        (
            r#"{"StringNotEquals": {"s3:prefix": "a"}}"#,
            &[("s3:prefix", &["b"])],
            true,
        ),
        (r#"{"StringNotEquals": {"s3:prefix": "a"}}"#, NONE, true),
        (
            r#"{"StringNotEquals": {"s3:prefix": ["a", "b"]}}"#,
            &[("s3:prefix", &["b"])],
            false,
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"s3:prefix": "HOME"}}"#,
            &[("s3:prefix", &["home"])],
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"s3:prefix": "ÄRGER"}}"#,
            &[("s3:prefix", &["ärger"])],
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"s3:prefix": "HOME"}}"#,
            &[("s3:prefix", &["homer"])],
            false,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase": {"s3:prefix": "HOME"}}"#,
            &[("s3:prefix", &["home"])],
            false,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase": {"s3:prefix": "HOME"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"StringLike": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["home/a/b"])],
            true,
        ),
        (
            r#"{"StringLike": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["Home/a"])],
            false,
        ),
        (
            r#"{"StringLike": {"s3:prefix": "h?me*"}}"#,
            &[("s3:prefix", &["hxme"])],
            true,
        ),
        (
            r#"{"StringLike": {"s3:prefix": ["", "x*"]}}"#,
            &[("s3:prefix", &[""])],
            true,
        ),
        (
            r#"{"StringNotLike": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["home/a"])],
            false,
        ),
        (
            r#"{"StringNotLike": {"s3:prefix": "home/*"}}"#,
            &[("s3:prefix", &["tmp/a"])],
            true,
        ),
        (r#"{"StringNotLike": {"s3:prefix": "home/*"}}"#, NONE, true),
        // number and boolean values are compared as written
        (
            r#"{"StringEquals": {"s3:max-keys": 10}}"#,
            &[("s3:max-keys", &["10"])],
            true,
        ),
        (
            r#"{"StringEquals": {"aws:securetransport": true}}"#,
            &[("aws:securetransport", &["true"])],
            true,
        ),
        // key names are case-insensitive
        (
            r#"{"StringEquals": {"S3:Prefix": "a"}}"#,
            &[("s3:prefix", &["a"])],
            true,
        ),
    ]);
}

#[test]
fn and_or_rules() {
    run(&[
        // several keys under one operator: AND
        (
            r#"{"StringEquals": {"s3:prefix": "a", "s3:delimiter": "/"}}"#,
            &[("s3:prefix", &["a"]), ("s3:delimiter", &["/"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "a", "s3:delimiter": "/"}}"#,
            &[("s3:prefix", &["a"])],
            false,
        ),
        // several operators: AND
        (
            r#"{"StringEquals": {"s3:prefix": "a"}, "NumericLessThan": {"s3:max-keys": 10}}"#,
            &[("s3:prefix", &["a"]), ("s3:max-keys", &["5"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "a"}, "NumericLessThan": {"s3:max-keys": 10}}"#,
            &[("s3:prefix", &["a"]), ("s3:max-keys", &["50"])],
            false,
        ),
    ]);
}

#[test]
fn numeric_operators() {
    let k = "s3:max-keys";
    let cases: &[(&str, &str, &str, bool)] = &[
        ("NumericEquals", "10", "10", true),
        ("NumericEquals", "10", "10.0", true),
        ("NumericEquals", "10", "11", false),
        ("NumericEquals", "10", "ten", false),
        ("NumericNotEquals", "10", "11", true),
        ("NumericNotEquals", "10", "10", false),
        ("NumericNotEquals", "10", "ten", true),
        ("NumericLessThan", "10", "9.5", true),
        ("NumericLessThan", "10", "10", false),
        ("NumericLessThanEquals", "10", "10", true),
        ("NumericLessThanEquals", "10", "10.01", false),
        ("NumericGreaterThan", "-1.5", "-1", true),
        ("NumericGreaterThan", "10", "10", false),
        ("NumericGreaterThanEquals", "10", "10", true),
        ("NumericGreaterThanEquals", "10", "9", false),
        ("NumericLessThan", "1e3", "999", true),
    ];
    for (op, value, request, want) in cases {
        let cond = format!(r#"{{"{op}": {{"{k}": "{value}"}}}}"#);
        assert_eq!(
            holds(&cond, &[(k, &[request])]),
            *want,
            "{cond} vs {request}"
        );
    }
    run(&[
        (
            r#"{"NumericEquals": {"s3:max-keys": [1, 2, 3]}}"#,
            &[("s3:max-keys", &["2"])],
            true,
        ),
        (r#"{"NumericLessThan": {"s3:max-keys": 10}}"#, NONE, false),
        (r#"{"NumericNotEquals": {"s3:max-keys": 10}}"#, NONE, true),
    ]);
}

#[test]
fn date_operators() {
    let k = "aws:currenttime";
    let cases: &[(&str, &str, &str, bool)] = &[
        (
            "DateEquals",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            true,
        ),
        ("DateEquals", "2020-01-01T00:00:00Z", "1577836800", true),
        (
            "DateEquals",
            "1577836800",
            "2020-01-01T01:00:00+01:00",
            true,
        ),
        ("DateEquals", "2020-01-01", "2020-01-01T00:00:00Z", true),
        (
            "DateEquals",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:01Z",
            false,
        ),
        (
            "DateNotEquals",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:01Z",
            true,
        ),
        (
            "DateNotEquals",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            false,
        ),
        (
            "DateLessThan",
            "2020-01-01T00:00:00Z",
            "2019-12-31T23:59:59Z",
            true,
        ),
        (
            "DateLessThan",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            false,
        ),
        (
            "DateLessThanEquals",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            true,
        ),
        (
            "DateGreaterThan",
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00.001Z",
            true,
        ),
        ("DateGreaterThan", "2020-01-01T00:00:00Z", "garbage", false),
        (
            "DateGreaterThanEquals",
            "2020-01-01T00:00:00Z",
            "1577836799",
            false,
        ),
        (
            "DateGreaterThanEquals",
            "2020-01-01T00:00:00Z",
            "1577836800",
            true,
        ),
    ];
    for (op, value, request, want) in cases {
        let cond = format!(r#"{{"{op}": {{"{k}": "{value}"}}}}"#);
        assert_eq!(
            holds(&cond, &[(k, &[request])]),
            *want,
            "{cond} vs {request}"
        );
    }
    run(&[
        (
            r#"{"DateLessThan": {"aws:CurrentTime": 1577836800}}"#,
            &[("aws:currenttime", &["1577836799"])],
            true,
        ),
        (
            r#"{"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}"#,
            NONE,
            false,
        ),
    ]);
}

#[test]
fn bool_binary_null() {
    run(&[
        (
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            &[("aws:securetransport", &["true"])],
            true,
        ),
        (
            r#"{"Bool": {"aws:SecureTransport": true}}"#,
            &[("aws:securetransport", &["TRUE"])],
            true,
        ),
        (
            r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
            &[("aws:securetransport", &["true"])],
            false,
        ),
        (
            r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
            &[("aws:securetransport", &["yes"])],
            false,
        ),
        (r#"{"Bool": {"aws:SecureTransport": "false"}}"#, NONE, false),
        (
            r#"{"BoolIfExists": {"aws:SecureTransport": "false"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"BinaryEquals": {"aws:x": "aGVsbG8="}}"#,
            &[("aws:x", &["aGVsbG8="])],
            true,
        ),
        (
            r#"{"BinaryEquals": {"aws:x": "aGVsbG8="}}"#,
            &[("aws:x", &["aGVsbG8"])],
            true,
        ),
        (
            r#"{"BinaryEquals": {"aws:x": "aGVsbG8="}}"#,
            &[("aws:x", &["aGk="])],
            false,
        ),
        (r#"{"BinaryEquals": {"aws:x": "aGVsbG8="}}"#, NONE, false),
        (r#"{"Null": {"s3:x-amz-acl": "true"}}"#, NONE, true),
        (
            r#"{"Null": {"s3:x-amz-acl": "true"}}"#,
            &[("s3:x-amz-acl", &[])],
            true,
        ),
        (
            r#"{"Null": {"s3:x-amz-acl": "true"}}"#,
            &[("s3:x-amz-acl", &["private"])],
            false,
        ),
        (
            r#"{"Null": {"s3:x-amz-acl": false}}"#,
            &[("s3:x-amz-acl", &["private"])],
            true,
        ),
        (r#"{"Null": {"s3:x-amz-acl": false}}"#, NONE, false),
    ]);
}

#[test]
fn ip_operators() {
    let k = "aws:sourceip";
    run(&[
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            &[(k, &["192.0.2.7"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            &[(k, &["192.0.3.7"])],
            false,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            &[(k, &["::ffff:192.0.2.7"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.7"}}"#,
            &[(k, &["192.0.2.7"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.7"}}"#,
            &[(k, &["192.0.2.8"])],
            false,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#,
            &[(k, &["2001:db8:ffff::1"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#,
            &[(k, &["192.0.2.7"])],
            false,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#,
            &[(k, &["2001:db8::5"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            &[(k, &["not an ip"])],
            false,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            NONE,
            false,
        ),
        (
            r#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            &[(k, &["192.0.2.7"])],
            false,
        ),
        (
            r#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            &[(k, &["198.51.100.1"])],
            true,
        ),
        (
            r#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}, "NotIpAddress": {"aws:SourceIp": "192.0.2.128/25"}}"#,
            &[(k, &["192.0.2.7"])],
            true,
        ),
        (
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}, "NotIpAddress": {"aws:SourceIp": "192.0.2.128/25"}}"#,
            &[(k, &["192.0.2.200"])],
            false,
        ),
    ]);
}

#[test]
fn arn_operators() {
    let k = "aws:sourcearn";
    run(&[
        (
            r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}"#,
            &[(k, &["arn:aws:sns:us-east-1:123456789012:topic"])],
            true,
        ),
        (
            r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}"#,
            &[(k, &["arn:aws:sns:us-east-1:123456789012:Topic"])],
            false,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}"#,
            &[(k, &["arn:aws:sns:eu-west-1:123456789012:a:b"])],
            true,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}"#,
            &[(k, &["arn:aws:sns:eu-west-1:999:a"])],
            false,
        ),
        // a wildcard stays inside its part
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:*:iam::1:user/bob"}}"#,
            &[(k, &["arn:aws:x:iam::1:user/bob"])],
            false,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:*:iam::1:user/bob"}}"#,
            &[(k, &["arn:aws:iam::1:user/bob"])],
            true,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::photos/*"}}"#,
            &[(k, &["not an arn"])],
            false,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "*"}}"#,
            &[(k, &["anything"])],
            true,
        ),
        (
            r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::photos/*"}}"#,
            &[(k, &["arn:aws:s3:::photos/a"])],
            false,
        ),
        (
            r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::photos/*"}}"#,
            &[(k, &["arn:aws:s3:::other/a"])],
            true,
        ),
        (
            r#"{"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::photos/*"}}"#,
            NONE,
            true,
        ),
    ]);
}

#[test]
fn if_exists() {
    run(&[
        (
            r#"{"StringEqualsIfExists": {"s3:prefix": "a"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"StringEqualsIfExists": {"s3:prefix": "a"}}"#,
            &[("s3:prefix", &["a"])],
            true,
        ),
        (
            r#"{"StringEqualsIfExists": {"s3:prefix": "a"}}"#,
            &[("s3:prefix", &["b"])],
            false,
        ),
        (
            r#"{"StringNotEqualsIfExists": {"s3:prefix": "a"}}"#,
            &[("s3:prefix", &["a"])],
            false,
        ),
        (
            r#"{"NumericLessThanIfExists": {"s3:max-keys": 10}}"#,
            NONE,
            true,
        ),
        (
            r#"{"NumericLessThanIfExists": {"s3:max-keys": 10}}"#,
            &[("s3:max-keys", &["11"])],
            false,
        ),
        (
            r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"NotIpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            &[("aws:sourceip", &["10.1.1.1"])],
            false,
        ),
        (
            r#"{"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:s3:::x"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"DateLessThanIfExists": {"aws:CurrentTime": "2020-01-01"}}"#,
            NONE,
            true,
        ),
    ]);
}

#[test]
fn set_operators() {
    let k = "s3:requestobjecttagkeys";
    run(&[
        // ForAnyValue: false without the key
        (
            r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            NONE,
            false,
        ),
        (
            r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &[])],
            false,
        ),
        (
            r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["x", "b"])],
            true,
        ),
        (
            r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["x", "y"])],
            false,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["a", "x"])],
            true,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["a", "b"])],
            false,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            NONE,
            false,
        ),
        (
            r#"{"ForAnyValue:StringEqualsIfExists": {"s3:RequestObjectTagKeys": "a"}}"#,
            NONE,
            true,
        ),
        (
            r#"{"ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": "pre*"}}"#,
            &[(k, &["x", "prefix"])],
            true,
        ),
        // ForAllValues: true without the key or with an empty set
        (
            r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            NONE,
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &[])],
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["a", "b", "a"])],
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["a", "c"])],
            false,
        ),
        (
            r#"{"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["c", "d"])],
            true,
        ),
        (
            r#"{"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#,
            &[(k, &["c", "a"])],
            false,
        ),
        (
            r#"{"ForAllValues:NumericLessThan": {"s3:RequestObjectTagKeys": 10}}"#,
            &[(k, &["1", "9"])],
            true,
        ),
        (
            r#"{"ForAllValues:NumericLessThan": {"s3:RequestObjectTagKeys": 10}}"#,
            &[(k, &["1", "19"])],
            false,
        ),
        // Without a set operator, several request values: any may match
        (
            r#"{"StringEquals": {"s3:RequestObjectTagKeys": "a"}}"#,
            &[(k, &["x", "a"])],
            true,
        ),
        (
            r#"{"StringNotEquals": {"s3:RequestObjectTagKeys": "a"}}"#,
            &[(k, &["x", "a"])],
            false,
        ),
    ]);
}

#[test]
fn variables_in_conditions() {
    let who = alice();
    let cases: &[Case<'_>] = &[
        (
            r#"{"StringEquals": {"s3:prefix": "home/${aws:username}/"}}"#,
            &[("s3:prefix", &["home/alice/"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "home/${aws:username}/"}}"#,
            &[("s3:prefix", &["home/bob/"])],
            false,
        ),
        (
            r#"{"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}}"#,
            &[("s3:prefix", &["home/alice/x"])],
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"s3:prefix": "HOME/${aws:username}"}}"#,
            &[("s3:prefix", &["home/ALICE"])],
            true,
        ),
        (
            r#"{"StringEquals": {"aws:userid": "${aws:userid}"}}"#,
            NONE,
            true,
        ),
        // a variable without a value: positive operators do not match, negated ones do
        (
            r#"{"StringEquals": {"s3:prefix": "${aws:nothing}"}}"#,
            &[("s3:prefix", &[""])],
            false,
        ),
        (
            r#"{"StringLike": {"s3:prefix": "${aws:nothing}*"}}"#,
            &[("s3:prefix", &["x"])],
            false,
        ),
        (
            r#"{"StringNotEquals": {"s3:prefix": "${aws:nothing}"}}"#,
            &[("s3:prefix", &["x"])],
            true,
        ),
        (
            r#"{"StringNotLike": {"s3:prefix": "${aws:nothing}*"}}"#,
            &[("s3:prefix", &["x"])],
            true,
        ),
        (
            r#"{"StringEquals": {"s3:prefix": "${aws:nothing, 'dflt'}"}}"#,
            &[("s3:prefix", &["dflt"])],
            true,
        ),
        (
            r#"{"ArnLike": {"aws:sourcearn": "arn:aws:iam::*:user/${aws:username}"}}"#,
            &[("aws:sourcearn", &["arn:aws:iam::1:user/alice"])],
            true,
        ),
        (
            r#"{"ArnEquals": {"aws:sourcearn": "arn:aws:sns:${aws:requestedregion}:1:${aws:username}"}}"#,
            &[
                ("aws:sourcearn", &["arn:aws:sns:eu-west-1:1:alice"]),
                ("aws:requestedregion", &["eu-west-1"]),
            ],
            true,
        ),
        (
            r#"{"ArnEquals": {"aws:sourcearn": "arn:aws:sns:${aws:requestedregion}:1:${aws:username}"}}"#,
            &[
                ("aws:sourcearn", &["arn:aws:sns:us-east-1:1:alice"]),
                ("aws:requestedregion", &["eu-west-1"]),
            ],
            false,
        ),
        // variables are not expanded in numeric values: parse error, so not tested here
    ];
    for (condition, pairs, want) in cases {
        assert_eq!(
            holds_for(&who, condition, pairs),
            *want,
            "{condition} with {pairs:?}"
        );
    }
    // aws:userid of an anonymous caller is "anonymous"; aws:username is absent.
    assert!(holds_for(
        &anon(),
        r#"{"StringEquals": {"aws:userid": "anonymous"}}"#,
        NONE
    ));
    assert!(holds_for(
        &anon(),
        r#"{"Null": {"aws:username": "true"}}"#,
        NONE
    ));
    assert!(!holds_for(
        &alice(),
        r#"{"Null": {"aws:username": "true"}}"#,
        NONE
    ));
    // 2008 version: literal
    let p = gatehouse_policy::BucketPolicy::parse(
        r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*", "Condition": {"StringEquals": {"s3:prefix": "${aws:username}"}}}}"#,
        BUCKET,
        &Dir,
    )
    .unwrap();
    let c = ctx(&[("s3:prefix", &["${aws:username}"])]);
    assert_eq!(
        eval_with(&p, &alice(), "s3:GetObject", obj("k"), &c, false),
        Outcome::Allow
    );
}

#[test]
fn deny_with_conditions() {
    // The classic "deny insecure transport": applies only when the key says false.
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"},
           {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#,
    );
    let insecure = ctx(&[("aws:securetransport", &["false"])]);
    let secure = ctx(&[("aws:securetransport", &["true"])]);
    assert_eq!(
        eval_with(&p, &anon(), "s3:GetObject", obj("k"), &insecure, false),
        Outcome::ExplicitDeny
    );
    assert_eq!(
        eval_with(&p, &anon(), "s3:GetObject", obj("k"), &secure, false),
        Outcome::Allow
    );
}
