//! The `Resource` / `NotResource` element.
//!
//! A bucket policy's resources all belong to its bucket, so each one is compiled against
//! the bucket's name: the pattern is run over `<bucket>` (does it name the bucket itself?)
//! and over `<bucket>/` (what must an object key look like?). What remains are patterns
//! over object keys alone, matched without building `bucket/key` strings.

use crate::error::{PolicyError, reason};
use crate::eval::Ctx;
use crate::pattern::{self, Pattern, Tok, VarMode};

/// One entry of the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `"*"`.
    Any,
    /// Compiled against the bucket. `keys` may hold variables, resolved per request.
    Static { bucket: bool, keys: Vec<Pattern> },
    /// A variable takes part in the bucket's name: matched against `bucket/key` per request.
    Dynamic(Pattern),
}

/// What a resource could match for some value of its variables: the bucket, some object.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reach {
    pub bucket: bool,
    pub some_object: bool,
}

const ARN_PREFIX: [&str; 5] = ["arn", "aws", "s3", "", ""];

impl Resource {
    /// Compiles `text` for `bucket`. Refuses resources outside the bucket.
    pub(crate) fn parse(
        text: &str,
        bucket: &str,
        variables: bool,
    ) -> Result<(Resource, Reach), PolicyError> {
        let invalid = || PolicyError::new(reason::RESOURCE);
        if text == "*" {
            let reach = Reach {
                bucket: true,
                some_object: true,
            };
            return Ok((Resource::Any, reach));
        }
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        if parts.len() != 6 {
            return Err(invalid());
        }
        for (part, want) in parts.iter().zip(ARN_PREFIX) {
            if !Pattern::parse(part, true, false).is_match(want, false, &[]) {
                return Err(invalid());
            }
        }
        let rest = parts[5];
        if rest.is_empty() {
            return Err(invalid());
        }
        let pattern = Pattern::parse(rest, true, variables);
        let with_slash = format!("{bucket}/");

        // What it could match, variables standing for anything.
        let toks = &pattern.toks;
        let bucket_states = pattern::consume(toks, bucket, VarMode::AsStar).unwrap_or_default();
        let key_states = pattern::consume(toks, &with_slash, VarMode::AsStar).unwrap_or_default();
        let key_rests = pattern::remainders(toks, &key_states);
        let reach = Reach {
            bucket: pattern::accepts(toks, &bucket_states),
            some_object: key_rests.iter().any(|r| !r.is_empty()),
        };
        if !reach.bucket && key_states.is_empty() {
            return Err(invalid());
        }

        // What it matches, variables left for the request.
        let opaque_bucket = pattern::consume(toks, bucket, VarMode::Opaque);
        let opaque_keys = pattern::consume(toks, &with_slash, VarMode::Opaque);
        let resource = match (opaque_bucket, opaque_keys) {
            (Some(b), Some(k)) if !pattern::at_var(toks, &b) => Resource::Static {
                bucket: pattern::accepts(toks, &b),
                keys: pattern::remainders(toks, &k)
                    .into_iter()
                    .map(|toks| Pattern {
                        toks: toks.into(),
                        vars: pattern.vars.clone(),
                    })
                    .collect(),
            },
            _ => Resource::Dynamic(pattern),
        };
        Ok((resource, reach))
    }

    pub(crate) fn has_vars(&self) -> bool {
        match self {
            Resource::Any => false,
            Resource::Static { keys, .. } => keys.iter().any(Pattern::has_vars),
            Resource::Dynamic(_) => true,
        }
    }

    #[inline]
    pub(crate) fn matches_bucket(&self, ctx: &Ctx<'_, '_>, bucket: &str) -> bool {
        match self {
            Resource::Any => true,
            Resource::Static { bucket, .. } => *bucket,
            Resource::Dynamic(p) => p.is_match(bucket, false, &ctx.resolve(&p.vars)),
        }
    }

    #[inline]
    pub(crate) fn matches_key(&self, ctx: &Ctx<'_, '_>, bucket: &str, key: &str) -> bool {
        match self {
            Resource::Any => true,
            Resource::Static { keys, .. } => keys
                .iter()
                .any(|p| p.is_match(key, false, &ctx.resolve(&p.vars))),
            Resource::Dynamic(p) => {
                let full = format!("{bucket}/{key}");
                p.is_match(&full, false, &ctx.resolve(&p.vars))
            }
        }
    }

    /// Adds to `out` the key patterns (variables resolved) this resource leaves for objects.
    fn key_remainders(&self, ctx: &Ctx<'_, '_>, bucket: &str, out: &mut Vec<Vec<Tok>>) {
        match self {
            Resource::Any => out.push(vec![Tok::Star]),
            Resource::Static { keys, .. } => {
                for p in keys {
                    if let Some(toks) = p.concrete(&ctx.resolve(&p.vars)) {
                        out.push(toks);
                    }
                }
            }
            Resource::Dynamic(p) => {
                if let Some(toks) = p.concrete(&ctx.resolve(&p.vars)) {
                    let prefix = format!("{bucket}/");
                    if let Some(states) = pattern::consume(&toks, &prefix, VarMode::AsStar) {
                        out.extend(pattern::remainders(&toks, &states));
                    }
                }
            }
        }
    }
}

/// The whole element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resources {
    pub negated: bool,
    pub items: Vec<Resource>,
    /// (every object, some object) when no item holds a variable.
    pub coverage: Option<(bool, bool)>,
    /// Whether an item matches every key whatever the request (`*`, `bucket/*`).
    pub all_keys: bool,
    /// Whether an item matches the bucket whatever the request.
    pub bucket: bool,
}

impl Resources {
    pub(crate) fn new(negated: bool, items: Vec<Resource>) -> Resources {
        let all_keys = items.iter().any(|r| match r {
            Resource::Any => true,
            Resource::Static { keys, .. } => keys.iter().any(|k| *k.toks == [Tok::Star]),
            Resource::Dynamic(_) => false,
        });
        let bucket = items
            .iter()
            .any(|r| matches!(r, Resource::Any | Resource::Static { bucket: true, .. }));
        let mut r = Resources {
            negated,
            items,
            coverage: None,
            all_keys,
            bucket,
        };
        if !r.items.iter().any(Resource::has_vars) {
            let mut rests = Vec::new();
            for item in &r.items {
                // No variables: resolution needs no request.
                item.key_remainders(&Ctx::empty(), "", &mut rests);
            }
            r.coverage = Some(coverage(&rests));
        }
        r
    }

    /// The literal beginnings an object key must have to match the element, when every item
    /// has one (`bucket/logs/*` → `logs/`); `None` when some item could match any key or
    /// depends on the request (negated, `*`, variables, a leading wildcard). A cheap test
    /// that lets evaluation skip statements about other prefixes.
    pub(crate) fn key_prefixes(&self) -> Option<Box<[Box<str>]>> {
        if self.negated {
            return None;
        }
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Resource::Static { keys, .. } => {
                    for k in keys {
                        if !k.vars.is_empty() {
                            return None;
                        }
                        match k.toks.first() {
                            Some(Tok::Lit(l)) => out.push(l.clone()),
                            _ => return None,
                        }
                    }
                }
                Resource::Any | Resource::Dynamic(_) => return None,
            }
        }
        Some(out.into_boxed_slice())
    }

    /// Whether the element (before negation) matches the bucket.
    #[inline]
    pub(crate) fn hit_bucket(&self, ctx: &Ctx<'_, '_>, bucket: &str) -> bool {
        self.bucket || self.items.iter().any(|r| r.matches_bucket(ctx, bucket))
    }

    /// Whether the element (before negation) matches object `key`.
    #[inline]
    pub(crate) fn hit_key(&self, ctx: &Ctx<'_, '_>, bucket: &str, key: &str) -> bool {
        self.all_keys || self.items.iter().any(|r| r.matches_key(ctx, bucket, key))
    }

    /// (the listed resources cover every object, they match some object), before negation.
    pub(crate) fn object_coverage(&self, ctx: &Ctx<'_, '_>, bucket: &str) -> (bool, bool) {
        if let Some(c) = self.coverage {
            return c;
        }
        let mut rests = Vec::new();
        for item in &self.items {
            item.key_remainders(ctx, bucket, &mut rests);
        }
        coverage(&rests)
    }
}

fn coverage(rests: &[Vec<Tok>]) -> (bool, bool) {
    let every = pattern::covers_all_nonempty(rests.iter().map(Vec::as_slice));
    let some = rests.iter().any(|r| !r.is_empty());
    (every, some)
}

impl Resources {
    /// What the listed resources match whatever their variables' values: (the bucket,
    /// every object). Used to check a `NotResource` statement applies to something.
    pub(crate) fn definite(&self) -> (bool, bool) {
        let mut bucket = false;
        let mut rests = Vec::new();
        for item in &self.items {
            match item {
                Resource::Any => {
                    bucket = true;
                    rests.push(vec![Tok::Star]);
                }
                Resource::Static { bucket: b, keys } => {
                    bucket |= *b;
                    rests.extend(
                        keys.iter()
                            .filter(|k| !k.has_vars())
                            .map(|k| k.toks.to_vec()),
                    );
                }
                Resource::Dynamic(_) => {}
            }
        }
        (bucket, coverage(&rests).0)
    }
}
