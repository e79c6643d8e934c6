#![allow(clippy::unwrap_used)]
mod common;
use common::*;

fn public(effect: &str, principal: &str, condition: Option<&str>) -> bool {
    let cond = condition
        .map(|c| format!(r#", "Condition": {c}"#))
        .unwrap_or_default();
    policy(&format!(
        r#"{{"Effect": "{effect}", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"{cond}}}"#
    ))
    .is_public()
}

#[test]
fn principals() {
    assert!(public("Allow", r#""*""#, None));
    assert!(public("Allow", r#"{"AWS": "*"}"#, None));
    assert!(public("Allow", r#"{"AWS": ["alice", "*"]}"#, None));
    assert!(!public("Allow", r#"{"AWS": "alice"}"#, None));
    assert!(!public(
        "Allow",
        r#"{"AWS": "arn:aws:iam::1:group/staff"}"#,
        None
    ));
    assert!(!public("Deny", r#""*""#, None));
    assert!(!public("Deny", r#"{"AWS": "alice"}"#, None));
}

#[test]
fn conditions() {
    let cases: &[(&str, bool)] = &[
        (
            r#"{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#,
            false,
        ),
        (r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "11.0.0.0/7"}}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#, true),
        (
            r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"]}}"#,
            true,
        ),
        (r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/31"}}"#, true),
        (
            r#"{"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}"#,
            true,
        ),
        (
            r#"{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
            false,
        ),
        (r#"{"StringLike": {"aws:SourceVpc": "vpc-*"}}"#, true),
        (r#"{"StringEquals": {"aws:SourceVpc": "vpc-*"}}"#, true),
        (
            r#"{"StringNotEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
            true,
        ),
        (
            r#"{"StringEqualsIfExists": {"aws:SourceVpc": "vpc-91237329"}}"#,
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
            true,
        ),
        (
            r#"{"ForAnyValue:StringEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:SourceAccount": "123456789012"}}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:SourceOwner": "123456789012"}}"#,
            false,
        ),
        (
            r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}}"#,
            false,
        ),
        (
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:userid": "AROLEID:session"}}"#,
            false,
        ),
        (r#"{"StringLike": {"aws:userid": "AROLEID:*"}}"#, true),
        (r#"{"StringEquals": {"aws:username": "alice"}}"#, false),
        (
            r#"{"StringEquals": {"aws:username": "${aws:username}"}}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:1:key/k"}}"#,
            false,
        ),
        (
            r#"{"StringLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:123456789012:accesspoint/*"}}"#,
            false,
        ),
        (
            r#"{"StringLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:*:accesspoint/*"}}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"s3:DataAccessPointAccount": "123456789012"}}"#,
            false,
        ),
        (r#"{"Bool": {"aws:SecureTransport": "true"}}"#, true),
        (r#"{"StringEquals": {"s3:prefix": "home/"}}"#, true),
        (r#"{"Null": {"aws:SourceVpc": "false"}}"#, true),
        // one fixing condition among others is enough
        (
            r#"{"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}}"#,
            false,
        ),
    ];
    for (cond, want) in cases {
        assert_eq!(public("Allow", r#""*""#, Some(cond)), *want, "{cond}");
    }
}

#[test]
fn mixed_statements() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*"},
           {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert!(p.is_public());
    let p = policy(
        r#"{"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*"},
           {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}"#,
    );
    assert!(!p.is_public());
}
