//! Evaluation: explicit deny, then allow, then no match.

use crate::catalog;
use crate::parse::{Actions, Statement};
use crate::pattern::Variable;
use crate::{BucketPolicy, Outcome, Request, Target};
use std::borrow::Cow;
use std::cell::OnceCell;

/// The values of a context key in a request.
pub(crate) enum KeyValues<'a> {
    One(&'a str),
    Many(Vec<Cow<'a, str>>),
}

impl KeyValues<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            KeyValues::One(_) => 1,
            KeyValues::Many(v) => v.len(),
        }
    }
    pub(crate) fn get(&self, i: usize) -> &str {
        match self {
            KeyValues::One(s) => s,
            KeyValues::Many(v) => &v[i],
        }
    }
}

/// Number of condition keys whose values one evaluation caches.
pub(crate) const CACHED_KEYS: usize = 16;

/// The request as conditions and variables see it.
pub(crate) struct Ctx<'r, 'a> {
    req: Option<&'r Request<'a>>,
    /// Values of the policy's first [`CACHED_KEYS`] condition keys, asked for at most once.
    cache: [OnceCell<Option<KeyValues<'a>>>; CACHED_KEYS],
}

impl<'r, 'a> Ctx<'r, 'a> {
    pub(crate) fn new(req: &'r Request<'a>) -> Self {
        Ctx {
            req: Some(req),
            cache: [const { OnceCell::new() }; CACHED_KEYS],
        }
    }

    /// A context without a request, for resolving patterns that have no variables.
    pub(crate) fn empty() -> Self {
        Ctx {
            req: None,
            cache: [const { OnceCell::new() }; CACHED_KEYS],
        }
    }

    /// [`Ctx::values`] of the key in cache slot `slot`.
    pub(crate) fn cached(&self, slot: u8, key: &str) -> Option<&KeyValues<'a>> {
        self.cache[usize::from(slot)]
            .get_or_init(|| self.values(key))
            .as_ref()
    }

    /// Values of a (lowercased) context key; `None` when absent or empty. `aws:username` and
    /// `aws:userid` fall back to the request's subject when the caller does not supply
    /// them: an anonymous subject's `aws:userid` is `anonymous` and it has no `aws:username`.
    pub(crate) fn values(&self, key: &str) -> Option<KeyValues<'a>> {
        let req = self.req?;
        if let Some(v) = req.conditions.values(key) {
            return (!v.is_empty()).then_some(KeyValues::Many(v));
        }
        let s = &req.subject;
        match key {
            "aws:userid" if s.anonymous => Some(KeyValues::One("anonymous")),
            "aws:userid" => Some(KeyValues::One(s.user_id)),
            "aws:username" if !s.anonymous => Some(KeyValues::One(s.user_name)),
            _ => None,
        }
    }

    /// A variable's value: the key's single value, else (key absent) the default. A key with
    /// several values, or absent without default, has no value.
    fn variable(&self, var: &Variable) -> Option<Cow<'a, str>> {
        match self.values(&var.key) {
            Some(KeyValues::One(s)) => Some(Cow::Borrowed(s)),
            Some(KeyValues::Many(mut v)) if v.len() == 1 => v.pop(),
            Some(_) => None,
            None => var.default.as_deref().map(|d| Cow::Owned(d.to_owned())),
        }
    }

    /// Values for a pattern's variables. Allocates nothing when there are none.
    pub(crate) fn resolve(&self, vars: &[Variable]) -> Vec<Option<Cow<'a, str>>> {
        if vars.is_empty() {
            return Vec::new();
        }
        vars.iter().map(|v| self.variable(v)).collect()
    }
}

impl Actions {
    #[inline]
    pub(crate) fn matches(&self, index: Option<usize>, action: &str) -> bool {
        let hit = match index {
            Some(i) => self.set.contains(i),
            None => self.patterns.iter().any(|p| p.is_match(action, true, &[])),
        };
        hit != self.negated
    }
}

impl Statement {
    #[inline]
    fn matches(&self, ctx: &Ctx<'_, '_>, req: &Request<'_>, action: Option<usize>) -> bool {
        // About other keys altogether: the cheapest test first.
        if let (Target::Object { key, .. }, Some(prefixes)) = (&req.target, &self.key_prefixes)
            && !prefixes.iter().any(|p| key.starts_with(&**p))
        {
            return false;
        }
        if !self.actions.matches(action, req.action) {
            return false;
        }
        if self.principals.matches(&req.subject) == self.not_principal {
            return false;
        }
        let r = &self.resources;
        let resource_hit = match req.target {
            Target::Bucket(b) => r.hit_bucket(ctx, b) != r.negated,
            Target::Object { bucket, key } => r.hit_key(ctx, bucket, key) != r.negated,
            Target::AnyObject(bucket) => {
                let (every, some) = r.object_coverage(ctx, bucket);
                match (self.allow, r.negated) {
                    (true, false) => every,
                    (false, false) => some,
                    (true, true) => !some,
                    (false, true) => !every,
                }
            }
        };
        resource_hit && self.conditions.iter().all(|c| c.holds(ctx))
    }
}

/// The statements (indices into denies or allows) naming one action, and for object keys
/// an index by the literal beginning their resources require: a request on a key looks only
/// at the statements whose prefix the key has (a binary search per prefix length) and those
/// with none, never touching the rest (a large policy's statements about other prefixes
/// cost nothing but the search).
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidates {
    all: Box<[u32]>,
    /// Statements without a key prefix: always looked at.
    always: Box<[u32]>,
    /// The distinct prefix lengths, in bytes.
    lens: Box<[usize]>,
    /// (prefix, statement), sorted by prefix; a statement with several prefixes is here once
    /// per prefix.
    keyed: Box<[(Box<[u8]>, u32)]>,
}

impl Candidates {
    fn new(list: &[Statement], action: usize) -> Candidates {
        let mut all = Vec::new();
        let mut always = Vec::new();
        let mut keyed: Vec<(Box<[u8]>, u32)> = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { continue };
            if !s.actions.matches(Some(action), "") {
                continue;
            }
            all.push(i);
            match &s.key_prefixes {
                Some(ps) => {
                    for p in ps.iter() {
                        keyed.push((p.as_bytes().into(), i));
                    }
                }
                None => always.push(i),
            }
        }
        keyed.sort();
        keyed.dedup();
        let mut lens: Vec<usize> = keyed.iter().map(|(p, _)| p.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        Candidates {
            all: all.into(),
            always: always.into(),
            lens: lens.into(),
            keyed: keyed.into(),
        }
    }

    /// Whether `hit` holds for a statement that may match `target`.
    fn any(&self, target: &Target<'_>, mut hit: impl FnMut(u32) -> bool) -> bool {
        let Target::Object { key, .. } = target else {
            return self.all.iter().any(|&i| hit(i));
        };
        if self.always.iter().any(|&i| hit(i)) {
            return true;
        }
        let key = key.as_bytes();
        for &len in self.lens.iter() {
            let Some(head) = key.get(..len) else { break };
            let start = self.keyed.partition_point(|(p, _)| &**p < head);
            for (p, i) in &self.keyed[start..] {
                if &**p != head {
                    break;
                }
                if hit(*i) {
                    return true;
                }
            }
        }
        false
    }
}

/// For each catalog action, its candidate statements (denies, allows).
pub(crate) fn index(denies: &[Statement], allows: &[Statement]) -> Box<[[Candidates; 2]]> {
    (0..catalog::ACTIONS.len())
        .map(|a| [Candidates::new(denies, a), Candidates::new(allows, a)])
        .collect()
}

pub(crate) fn evaluate(policy: &BucketPolicy, req: &Request<'_>) -> Outcome {
    let bucket = match req.target {
        Target::Bucket(b) | Target::Object { bucket: b, .. } | Target::AnyObject(b) => b,
    };
    if bucket != policy.bucket {
        return Outcome::NoMatch;
    }
    let action = catalog::lookup(req.action);
    let ctx = Ctx::new(req);
    let deny = |s: &Statement| s.matches(&ctx, req, action);
    let allow = |s: &Statement| {
        !(req.ignore_public_allows && s.principals.any) && s.matches(&ctx, req, action)
    };
    let (denied, allowed) = match action {
        // A catalog action: only the statements naming it.
        Some(a) => {
            let [d, al] = &policy.by_action[a];
            let denied = d.any(&req.target, |i| deny(&policy.denies[i as usize]));
            let allowed = || al.any(&req.target, |i| allow(&policy.allows[i as usize]));
            (denied, !denied && !req.denies_only && allowed())
        }
        None => {
            let denied = policy.denies.iter().any(deny);
            let allowed = || policy.allows.iter().any(allow);
            (denied, !denied && !req.denies_only && allowed())
        }
    };
    if denied {
        Outcome::ExplicitDeny
    } else if allowed {
        Outcome::Allow
    } else {
        Outcome::NoMatch
    }
}
