//! Reading and validating a policy document (PutBucketPolicy time).

use crate::catalog::{self, ActionSet, Kind};
use crate::condition::{self, Condition};
use crate::error::{PolicyError, reason};
use crate::eval::CACHED_KEYS;
use crate::json::{self, Json};
use crate::pattern::Pattern;
use crate::principal::Principals;
use crate::resource::{Reach, Resource, Resources};
use crate::{Directory, MAX_POLICY_BYTES};

/// `Action` / `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actions {
    pub negated: bool,
    /// The catalog actions the listed patterns match (before negation).
    pub set: ActionSet,
    /// The listed patterns that hold wildcards, lowercased, for actions outside the catalog
    /// (a pattern without wildcards names a catalog action, so it cannot match another).
    pub patterns: Vec<Pattern>,
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    pub not_principal: bool,
    pub principals: Principals,
    pub actions: Actions,
    pub resources: Resources,
    pub conditions: Vec<Condition>,
    /// [`Resources::key_prefixes`]: an object key starting with none of them cannot match.
    pub key_prefixes: Option<Box<[Box<str>]>>,
}

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Document {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

fn syntax() -> PolicyError {
    PolicyError::new(reason::SYNTAX)
}

/// Reads `text` as a policy for `bucket`.
pub(crate) fn document(
    text: &str,
    bucket: &str,
    dir: &dyn Directory,
) -> Result<Document, PolicyError> {
    // The size check comes first: it bounds everything after it, nesting depth included.
    if json::normalized_len(text) > MAX_POLICY_BYTES {
        return Err(PolicyError::new(reason::TOO_LARGE));
    }
    if !text.starts_with('{') {
        return Err(PolicyError::new(reason::FIRST_BYTE));
    }
    let root: Json = serde_json::from_str(text).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            syntax() // a duplicate member name
        } else {
            PolicyError::new(reason::INVALID_JSON)
        }
    })?;
    let Json::Object(members) = root else {
        return Err(PolicyError::new(reason::FIRST_BYTE));
    };

    let mut version = None;
    let mut statement = None;
    for (name, value) in &members {
        match name.as_str() {
            "Version" => match value {
                Json::String(v) if v == "2012-10-17" || v == "2008-10-17" => {
                    version = Some(v.clone())
                }
                _ => return Err(PolicyError::new(reason::VERSION)),
            },
            "Id" => {
                if !matches!(value, Json::String(_)) {
                    return Err(syntax());
                }
            }
            "Statement" => statement = Some(value),
            other => return Err(PolicyError::new(reason::unknown_field(other))),
        }
    }
    let variables = version.as_deref() == Some("2012-10-17");
    let items: Vec<&Json> = match statement {
        None => return Err(PolicyError::new(reason::missing("Statement"))),
        Some(Json::Array(items)) if items.is_empty() => {
            return Err(PolicyError::new(reason::EMPTY_STATEMENT));
        }
        Some(Json::Array(items)) => items.iter().collect(),
        Some(single @ Json::Object(_)) => vec![single],
        Some(_) => return Err(syntax()),
    };

    let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
    for item in items {
        let Json::Object(members) = item else {
            return Err(syntax());
        };
        let s = self::statement(members, bucket, dir, variables)?;
        if let Some(sid) = &s.sid
            && statements.iter().any(|t| t.sid.as_ref() == Some(sid))
        {
            return Err(PolicyError::new(reason::DUPLICATE_SID));
        }
        statements.push(s);
    }
    assign_cache_slots(&mut statements);
    Ok(Document {
        version,
        statements,
    })
}

/// Gives the first [`CACHED_KEYS`] distinct condition keys a slot in the evaluation cache,
/// so that a key many statements test is asked of the request once.
fn assign_cache_slots(statements: &mut [Statement]) {
    let mut keys: Vec<Box<str>> = Vec::new();
    for c in statements.iter_mut().flat_map(|s| s.conditions.iter_mut()) {
        let slot = match keys.iter().position(|k| *k == c.key) {
            Some(i) => Some(i),
            None if keys.len() < CACHED_KEYS => {
                keys.push(c.key.clone());
                Some(keys.len() - 1)
            }
            None => None,
        };
        c.slot = slot.and_then(|i| u8::try_from(i).ok());
    }
}

/// One of two mutually exclusive elements (`Action` / `NotAction`, ...): (value, negated).
fn either<'j>(
    positive: Option<&'j Json>,
    negative: Option<&'j Json>,
    name: &str,
) -> Result<(&'j Json, bool), PolicyError> {
    match (positive, negative) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(syntax()),
        (None, None) => Err(PolicyError::new(reason::missing(name))),
    }
}

/// A string or a non-empty array of strings.
fn string_list(value: &Json) -> Result<Vec<&str>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![s]),
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Ok(s.as_str()),
                _ => Err(syntax()),
            })
            .collect(),
        _ => Err(syntax()),
    }
}

fn statement(
    members: &[(String, Json)],
    bucket: &str,
    dir: &dyn Directory,
    variables: bool,
) -> Result<Statement, PolicyError> {
    const FIELDS: [&str; 9] = [
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    let mut slots: [Option<&Json>; 9] = [None; 9];
    for (name, value) in members {
        let i = FIELDS
            .iter()
            .position(|f| f == name)
            .ok_or_else(|| PolicyError::new(reason::unknown_field(name)))?;
        slots[i] = Some(value);
    }
    let [
        sid,
        effect,
        principal,
        not_principal,
        action,
        not_action,
        resource,
        not_resource,
        condition,
    ] = slots;

    let sid = match sid {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(syntax()),
    };
    let allow = match effect {
        None => return Err(PolicyError::new(reason::missing("Effect"))),
        Some(Json::String(e)) if e == "Allow" => true,
        Some(Json::String(e)) if e == "Deny" => false,
        Some(Json::String(e)) => return Err(PolicyError::new(reason::effect(e))),
        Some(other) => return Err(PolicyError::new(reason::effect(other.kind()))),
    };

    let (principal, not_principal) = either(principal, not_principal, "Principal")?;
    if not_principal && allow {
        return Err(PolicyError::new(reason::NOT_PRINCIPAL_ALLOW));
    }
    let principals = Principals::parse(principal, dir)?;

    let (action, negated) = either(action, not_action, "Action")?;
    let mut actions = Actions {
        negated,
        set: ActionSet::default(),
        patterns: Vec::new(),
    };
    for a in string_list(action)? {
        let pattern = Pattern::parse(&a.to_ascii_lowercase(), true, false);
        let set = if pattern.has_wildcards() {
            catalog::matching(&pattern)
        } else {
            let mut one = ActionSet::default();
            if let Some(i) = catalog::lookup(a) {
                one.insert(i);
            }
            one
        };
        if set.is_empty() {
            return Err(PolicyError::new(reason::ACTION));
        }
        actions.set.union(&set);
        if pattern.has_wildcards() && !actions.patterns.contains(&pattern) {
            actions.patterns.push(pattern);
        }
    }

    let (resource, res_negated) = either(resource, not_resource, "Resource")?;
    let mut items = Vec::new();
    let mut reach = Reach::default();
    for r in string_list(resource)? {
        let (item, r_reach) = Resource::parse(r, bucket, variables)?;
        reach.bucket |= r_reach.bucket;
        reach.some_object |= r_reach.some_object;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    let resources = Resources::new(res_negated, items);

    let conditions = match condition {
        None => Vec::new(),
        Some(block) => condition::parse_block(block, variables)?,
    };

    // Some action of the statement must apply to some resource of it.
    let effective = if actions.negated {
        actions.set.complement()
    } else {
        actions.set
    };
    let bucket_actions = effective.iter().any(|a| a.kind == Kind::Bucket);
    let object_actions = effective.iter().any(|a| a.kind == Kind::Object);
    let (bucket_ok, object_ok) = if resources.negated {
        let (bucket, every_object) = resources.definite();
        (!bucket, !every_object)
    } else {
        (reach.bucket, reach.some_object)
    };
    if !(bucket_actions && bucket_ok || object_actions && object_ok) {
        return Err(PolicyError::new(reason::NOT_APPLICABLE));
    }

    let key_prefixes = resources.key_prefixes();
    Ok(Statement {
        sid,
        allow,
        not_principal,
        principals,
        actions,
        resources,
        conditions,
        key_prefixes,
    })
}
