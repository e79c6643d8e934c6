//! Whether a policy is "public", as S3 Block Public Access defines it.
//!
//! The rules are listed in the crate documentation, "Public policies".

use crate::condition::{Condition, SetOp, Test};
use crate::parse::Statement;
use crate::scalar::Cidr;

const FIXING_KEYS: [&str; 12] = [
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:userid",
    "aws:username",
    "s3:dataaccesspointaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

fn private_ranges() -> [Cidr; 3] {
    let v4 = |a: u32, len: u8| Cidr {
        v6: false,
        net: u128::from(a),
        len,
    };
    [
        v4(0x0a00_0000, 8),  // 10.0.0.0/8
        v4(0xac10_0000, 12), // 172.16.0.0/12
        v4(0xc0a8_0000, 16), // 192.168.0.0/16
    ]
}

fn narrow(c: &Cidr) -> bool {
    if c.v6 {
        c.len >= 32
    } else {
        c.len >= 8 || private_ranges().iter().any(|p| p.covers(c))
    }
}

fn fixed_text(raw: &str) -> bool {
    !raw.contains(['*', '?'])
}

/// Whether the condition restricts the caller to fixed values of a key that makes a grant
/// non-public.
fn fixes(c: &Condition) -> bool {
    if c.negated || c.if_exists || c.set == SetOp::ForAllValues {
        return false;
    }
    let no_vars = c.patterns().iter().all(|p| !p.has_vars());
    let textual = matches!(
        c.test,
        Test::StringEquals(_)
            | Test::StringEqualsIgnoreCase(_)
            | Test::StringLike(_)
            | Test::Arn(_)
    );
    match &*c.key {
        "aws:sourceip" => match &c.test {
            Test::Ip(cidrs) => !cidrs.is_empty() && cidrs.iter().all(narrow),
            _ => false,
        },
        "s3:dataaccesspointarn" => {
            textual
                && no_vars
                && c.raw.iter().all(|v| {
                    let parts: Vec<&str> = v.splitn(6, ':').collect();
                    parts.len() == 6
                        && parts[..5].iter().all(|p| fixed_text(p))
                        && !parts[4].is_empty()
                })
        }
        key if FIXING_KEYS.contains(&key) => {
            textual && no_vars && c.raw.iter().all(|v| fixed_text(v))
        }
        _ => false,
    }
}

/// Whether this statement makes a policy public.
pub(crate) fn statement_is_public(s: &Statement) -> bool {
    s.allow && !s.not_principal && s.principals.any && !s.conditions.iter().any(fixes)
}
