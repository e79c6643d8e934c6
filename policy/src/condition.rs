//! The `Condition` element: operators, keys and values, compiled for evaluation.
//!
//! Rules, from IAM's reference ("Condition operators", "Multivalued context keys"):
//! - every operator of a block, and every key of an operator, must hold (AND);
//! - any value of a key's list may match (OR); for a negated operator none may (NOR);
//! - a key missing from the request makes a condition false, except that negated operators
//!   (`StringNotEquals`, `NotIpAddress`, ...) are then true;
//! - `...IfExists`: a missing key makes the condition true, otherwise as without the suffix;
//! - `Null`: `true` holds when the key is missing, `false` when it is present;
//! - `ForAllValues:`: true when every request value matches (so true for a missing key or an
//!   empty set); `ForAnyValue:`: true when one does (so false for a missing key).

use crate::error::{PolicyError, reason};
use crate::eval::Ctx;
use crate::json::Json;
use crate::pattern::Pattern;
use crate::scalar::{self, Cidr};
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// How a numeric or date comparison orders the request's value against the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
        }
    }
}

/// An ARN pattern: six colon-separated parts matched one by one, or, for a value with fewer
/// than six parts (such as `*`), the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Parts(Box<[Pattern; 6]>),
    Whole(Pattern),
}

/// Splits `text` at its first five colons, skipping colons inside `${...}` when variables
/// are recognised (a variable's key has one: `${aws:username}`).
fn split_arn(text: &str, variables: bool) -> Vec<&str> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0;
    let mut i = 0;
    let b = text.as_bytes();
    while i < b.len() && parts.len() < 5 {
        if variables
            && b[i] == b'$'
            && b.get(i + 1) == Some(&b'{')
            && let Some(end) = text[i..].find('}')
        {
            i += end + 1;
            continue;
        }
        if b[i] == b':' {
            parts.push(&text[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

impl ArnPattern {
    fn parse(text: &str, variables: bool) -> ArnPattern {
        let parts = split_arn(text, variables);
        match <[&str; 6]>::try_from(parts) {
            Ok(parts) => {
                ArnPattern::Parts(Box::new(parts.map(|p| Pattern::parse(p, true, variables))))
            }
            Err(_) => ArnPattern::Whole(Pattern::parse(text, true, variables)),
        }
    }

    fn patterns(&self) -> &[Pattern] {
        match self {
            ArnPattern::Parts(p) => &p[..],
            ArnPattern::Whole(p) => std::slice::from_ref(p),
        }
    }

    fn is_match(&self, value: &str, ctx: &Ctx<'_, '_>) -> bool {
        match self {
            ArnPattern::Whole(p) => p.is_match(value, false, &ctx.resolve(&p.vars)),
            ArnPattern::Parts(ps) => {
                let mut parts = [""; 6];
                let mut n = 0;
                for (i, part) in value.splitn(6, ':').enumerate() {
                    parts[i] = part;
                    n = i + 1;
                }
                n == 6
                    && ps
                        .iter()
                        .zip(parts)
                        .all(|(p, part)| p.is_match(part, false, &ctx.resolve(&p.vars)))
            }
        }
    }
}

/// The comparison an operator makes, with the policy's values read for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    StringEquals(Vec<Pattern>),
    StringEqualsIgnoreCase(Vec<Pattern>),
    StringLike(Vec<Pattern>),
    Numeric(Cmp, Vec<f64>),
    Date(Cmp, Vec<i128>),
    Bool(Vec<bool>),
    Ip(Vec<Cidr>),
    Arn(Vec<ArnPattern>),
    Binary(Vec<Vec<u8>>),
    Null(Vec<bool>),
}

/// One (operator, key) pair of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The operator as written.
    pub operator: String,
    /// The key, lowercased.
    pub key: Box<str>,
    /// The key's slot in the per-evaluation cache of context values, if it has one.
    pub slot: Option<u8>,
    /// Whether a string value holds a policy variable.
    pub has_vars: bool,
    pub set: SetOp,
    pub if_exists: bool,
    pub negated: bool,
    pub test: Test,
    /// The values as written.
    pub raw: Vec<String>,
}

#[derive(Clone, Copy)]
enum Base {
    StrEq,
    StrEqCi,
    StrLike,
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// Operator name (without set prefix and `IfExists`) to (comparison, negated).
fn base_operator(name: &str) -> Option<(Base, bool)> {
    Some(match name {
        "StringEquals" => (Base::StrEq, false),
        "StringNotEquals" => (Base::StrEq, true),
        "StringEqualsIgnoreCase" => (Base::StrEqCi, false),
        "StringNotEqualsIgnoreCase" => (Base::StrEqCi, true),
        "StringLike" => (Base::StrLike, false),
        "StringNotLike" => (Base::StrLike, true),
        "NumericEquals" => (Base::Num(Cmp::Eq), false),
        "NumericNotEquals" => (Base::Num(Cmp::Eq), true),
        "NumericLessThan" => (Base::Num(Cmp::Lt), false),
        "NumericLessThanEquals" => (Base::Num(Cmp::Le), false),
        "NumericGreaterThan" => (Base::Num(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Base::Num(Cmp::Ge), false),
        "DateEquals" => (Base::Date(Cmp::Eq), false),
        "DateNotEquals" => (Base::Date(Cmp::Eq), true),
        "DateLessThan" => (Base::Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Base::Date(Cmp::Le), false),
        "DateGreaterThan" => (Base::Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Base::Date(Cmp::Ge), false),
        "Bool" => (Base::Bool, false),
        "BinaryEquals" => (Base::Binary, false),
        "IpAddress" => (Base::Ip, false),
        "NotIpAddress" => (Base::Ip, true),
        "ArnEquals" | "ArnLike" => (Base::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Base::Arn, true),
        "Null" => (Base::Null, false),
        _ => return None,
    })
}

/// `aws:` or `s3:` (any case) followed by a name of letters, digits and `/ _ - . :`; after a
/// `/` (a tag key, as in `s3:ExistingObjectTag/<key>`) also space and `+ = @`.
fn valid_key(key: &str) -> bool {
    let Some((service, name)) = key.split_once(':') else {
        return false;
    };
    if !(service.eq_ignore_ascii_case("aws") || service.eq_ignore_ascii_case("s3"))
        || name.is_empty()
    {
        return false;
    }
    let mut in_tag = false;
    name.bytes().all(|b| {
        if b == b'/' {
            in_tag = true;
        }
        b.is_ascii_alphanumeric() || b"/_-.:".contains(&b) || (in_tag && b" +=@".contains(&b))
    })
}

/// A condition value as text: strings as is, numbers and booleans as written.
fn value_texts(value: &Json) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Json| match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(PolicyError::new(reason::SYNTAX)),
    };
    match value {
        Json::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Json::Array(_) => Err(PolicyError::new(reason::SYNTAX)),
        other => Ok(vec![one(other)?]),
    }
}

fn read_all<T>(
    raw: &[String],
    what: &str,
    read: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, PolicyError> {
    raw.iter()
        .map(|v| read(v).ok_or_else(|| PolicyError::new(reason::condition_value(what, v))))
        .collect()
}

/// Compiles a `Condition` element.
pub(crate) fn parse_block(block: &Json, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(operators) = block else {
        return Err(PolicyError::new(reason::SYNTAX));
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let bad_type = || PolicyError::new(reason::condition_type(operator));
        let (set, rest) = if let Some(r) = operator.strip_prefix("ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = operator.strip_prefix("ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::Single, operator.as_str())
        };
        let (if_exists, name) = match rest.strip_suffix("IfExists") {
            Some(n) => (true, n),
            None => (false, rest),
        };
        let (base, negated) = base_operator(name).ok_or_else(bad_type)?;
        if matches!(base, Base::Null) && (if_exists || set != SetOp::Single) {
            return Err(bad_type());
        }
        let Json::Object(keys) = keys else {
            return Err(PolicyError::new(reason::SYNTAX));
        };
        for (key, values) in keys {
            if !valid_key(key) {
                return Err(PolicyError::new(reason::CONDITION_KEY));
            }
            let raw = value_texts(values)?;
            let strings = |wildcards: bool| {
                raw.iter()
                    .map(|v| Pattern::parse(v, wildcards, variables))
                    .collect::<Vec<_>>()
            };
            let test = match base {
                Base::StrEq => Test::StringEquals(strings(false)),
                Base::StrEqCi => Test::StringEqualsIgnoreCase(strings(false)),
                Base::StrLike => Test::StringLike(strings(true)),
                Base::Num(c) => Test::Numeric(c, read_all(&raw, "numeric value", scalar::number)?),
                Base::Date(c) => Test::Date(c, read_all(&raw, "date value", scalar::date)?),
                Base::Bool => Test::Bool(read_all(&raw, "boolean value", scalar::boolean)?),
                Base::Binary => Test::Binary(read_all(&raw, "base64 value", scalar::base64)?),
                Base::Ip => Test::Ip(read_all(&raw, "IP address", Cidr::parse)?),
                Base::Arn => Test::Arn(
                    raw.iter()
                        .map(|v| ArnPattern::parse(v, variables))
                        .collect(),
                ),
                Base::Null => Test::Null(read_all(&raw, "boolean value", scalar::boolean)?),
            };
            let has_vars = match &test {
                Test::StringEquals(ps)
                | Test::StringEqualsIgnoreCase(ps)
                | Test::StringLike(ps) => ps.iter().any(Pattern::has_vars),
                _ => false,
            };
            out.push(Condition {
                has_vars,
                operator: operator.clone(),
                key: key.to_ascii_lowercase().into(),
                slot: None,
                set,
                if_exists,
                negated,
                test,
                raw,
            });
        }
    }
    Ok(out)
}

/// Whether `a` and `b` are equal ignoring case (Unicode simple lowercase).
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || (!(a.is_ascii() && b.is_ascii())
            && a.chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase)))
}

type Resolved<'a> = Vec<Vec<Option<Cow<'a, str>>>>;

/// Variable values for each pattern, resolved once per evaluation (empty without variables).
fn resolve_all<'a>(patterns: &[Pattern], ctx: &Ctx<'_, 'a>) -> Resolved<'a> {
    if patterns.iter().any(Pattern::has_vars) {
        patterns.iter().map(|p| ctx.resolve(&p.vars)).collect()
    } else {
        Vec::new()
    }
}

fn vals_for<'r, 'a>(resolved: &'r Resolved<'a>, i: usize) -> &'r [Option<Cow<'a, str>>] {
    resolved.get(i).map_or(&[], Vec::as_slice)
}

impl Condition {
    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &Ctx<'_, '_>) -> bool {
        let owned;
        let values = match self.slot {
            Some(slot) => ctx.cached(slot, &self.key),
            None => {
                owned = ctx.values(&self.key);
                owned.as_ref()
            }
        };
        if let Test::Null(want) = &self.test {
            let absent = values.is_none();
            return want.contains(&absent);
        }
        let Some(values) = values else {
            return match self.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => self.if_exists,
                SetOp::Single => self.if_exists || self.negated,
            };
        };
        // One request value against the policy's list: does any policy value match it?
        let matcher = self.matcher(ctx);
        let hit = |v: &str| matcher.any(v, ctx);
        let n = values.len();
        match (self.set, self.negated) {
            (SetOp::ForAllValues, false) => (0..n).all(|i| hit(values.get(i))),
            (SetOp::ForAllValues, true) | (SetOp::Single, true) => {
                (0..n).all(|i| !hit(values.get(i)))
            }
            (SetOp::ForAnyValue, false) | (SetOp::Single, false) => {
                (0..n).any(|i| hit(values.get(i)))
            }
            (SetOp::ForAnyValue, true) => (0..n).any(|i| !hit(values.get(i))),
        }
    }

    fn matcher<'c, 'a>(&'c self, ctx: &Ctx<'_, 'a>) -> Matcher<'c, 'a> {
        let resolved = match &self.test {
            Test::StringEquals(ps) | Test::StringEqualsIgnoreCase(ps) | Test::StringLike(ps)
                if self.has_vars =>
            {
                resolve_all(ps, ctx)
            }
            _ => Vec::new(),
        };
        Matcher {
            test: &self.test,
            resolved,
        }
    }
}

struct Matcher<'c, 'a> {
    test: &'c Test,
    resolved: Resolved<'a>,
}

impl Matcher<'_, '_> {
    #[inline]
    fn any(&self, v: &str, ctx: &Ctx<'_, '_>) -> bool {
        let r = &self.resolved;
        match self.test {
            Test::StringEquals(ps) => ps
                .iter()
                .enumerate()
                .any(|(i, p)| p.equals(v, vals_for(r, i))),
            Test::StringEqualsIgnoreCase(ps) => {
                ps.iter().enumerate().any(|(i, p)| match p.as_literal() {
                    Some(text) => eq_ignore_case(text, v),
                    None => p
                        .resolve(vals_for(r, i))
                        .is_some_and(|text| eq_ignore_case(&text, v)),
                })
            }
            Test::StringLike(ps) => ps
                .iter()
                .enumerate()
                .any(|(i, p)| p.is_match(v, false, vals_for(r, i))),
            Test::Numeric(cmp, ns) => scalar::number(v).is_some_and(|x| {
                ns.iter()
                    .any(|n| x.partial_cmp(n).is_some_and(|o| cmp.holds(o)))
            }),
            Test::Date(cmp, ds) => {
                scalar::date(v).is_some_and(|x| ds.iter().any(|d| cmp.holds(x.cmp(d))))
            }
            Test::Bool(bs) => scalar::boolean(v).is_some_and(|x| bs.contains(&x)),
            Test::Ip(cidrs) => {
                scalar::ip_address(v).is_some_and(|ip| cidrs.iter().any(|c| c.contains(ip)))
            }
            Test::Arn(ps) => ps.iter().any(|p| p.is_match(v, ctx)),
            Test::Binary(bs) => scalar::base64(v).is_some_and(|x| bs.contains(&x)),
            Test::Null(_) => false,
        }
    }
}

impl Condition {
    /// The compiled patterns of a string or ARN test (for the public-policy check).
    pub(crate) fn patterns(&self) -> Vec<&Pattern> {
        match &self.test {
            Test::StringEquals(ps) | Test::StringEqualsIgnoreCase(ps) | Test::StringLike(ps) => {
                ps.iter().collect()
            }
            Test::Arn(ps) => ps.iter().flat_map(ArnPattern::patterns).collect(),
            _ => Vec::new(),
        }
    }
}
