//! AWS S3 bucket policies for gatehouse: the IAM JSON policy language as S3 applies it to a
//! bucket. [`BucketPolicy::parse`] reads and validates a document at `PutBucketPolicy` time
//! and compiles it; [`BucketPolicy::evaluate`] then judges each request in a few hundred
//! nanoseconds without allocating (beyond what [`Conditions`] returns, and the variable
//! values of patterns that use policy variables).
//!
//! ```
//! use gatehouse_policy::*;
//!
//! struct Users;
//! impl Directory for Users {
//!     fn exists(&self, who: PrincipalName<'_>) -> bool {
//!         matches!(who, PrincipalName::UserName("alice") | PrincipalName::Group("staff"))
//!     }
//! }
//!
//! let policy = BucketPolicy::parse(
//!     r#"{"Version": "2012-10-17", "Statement": [{
//!         "Effect": "Allow", "Principal": {"AWS": "alice"},
//!         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}"#,
//!     "photos",
//!     &Users,
//! )
//! .expect("valid policy");
//! assert!(!policy.is_public());
//!
//! let groups = Vec::new();
//! let request = Request {
//!     subject: Subject { anonymous: false, user_id: "00112233aabbccdd", user_name: "alice", groups: &groups },
//!     action: "s3:GetObject",
//!     target: Target::Object { bucket: "photos", key: "2024/cat.jpg" },
//!     conditions: &NoConditions,
//!     ignore_public_allows: false,
//!     denies_only: false,
//! };
//! assert_eq!(policy.evaluate(&request), Outcome::Allow);
//! ```
//!
//! # Principals
//!
//! A bucket policy statement must have a `Principal` or (with `"Effect": "Deny"` only) a
//! `NotPrincipal`. This server knows users, each with an id of 16 lowercase hexadecimal
//! digits and a name, and groups. The forms accepted:
//!
//! | Form | Means |
//! |---|---|
//! | `"*"` | everyone, anonymous (unsigned) requests included |
//! | `{"AWS": "*"}` | the same |
//! | `{"AWS": "<user id>"}` | the user with that id (else, the user with that *name*) |
//! | `{"AWS": "<user name>"}` | the user with that name |
//! | `{"AWS": "arn:aws:iam::<account>:user/<name or id>"}` | that user; `<account>` may be anything or empty, and a path (`user/dev/alice`) is allowed and ignored |
//! | `{"AWS": "arn:aws:iam::<account>:group/<group>"}` | every member of the group (same rules) |
//! | `{"CanonicalUser": "<user id>"}` | the user with that id |
//!
//! Each value may be a string or an array of strings, and one map may hold both keys. A
//! name the [`Directory`] does not know, a wildcard inside a name, another key (`Service`,
//! `Federated`) or any other shape is refused with "Invalid principal in policy". Names are
//! compared exactly (case-sensitively). Only `"*"` and `{"AWS": "*"}` match an anonymous
//! request.
//!
//! # What is checked at parse time
//!
//! The document is at most [`MAX_POLICY_BYTES`] once JSON whitespace is removed (as S3
//! measures), starts with `{`, is JSON without duplicate member names, and follows the
//! grammar: `Version` (`2012-10-17` or `2008-10-17`; when absent, 2008 rules, under which
//! `${...}` is literal text), `Id`, `Statement` (an object or non-empty array) and nothing
//! else; statements with `Sid` (unique), `Effect` (`Allow`/`Deny`), one of
//! `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Resource`/`NotResource`, and an
//! optional `Condition`. Actions must match an S3 action of the catalog ([`catalog`]);
//! resources must be this bucket or objects in it; some action must apply to some resource;
//! condition operators, keys and values must be readable. The error's `reason` is S3's
//! `MalformedPolicy` message.
//!
//! # Evaluation
//!
//! A matching `Deny` statement gives [`Outcome::ExplicitDeny`]; otherwise a matching
//! `Allow` gives [`Outcome::Allow`]; otherwise [`Outcome::NoMatch`]. A statement matches
//! when its principal, action, resource and every condition match. A request on another
//! bucket than the policy's matches nothing. Policy variables (version 2012-10-17 only) are
//! resolved from [`Conditions`]; `aws:username` and `aws:userid` fall back to the
//! [`Subject`] (an anonymous subject's `aws:userid` is `anonymous`). A variable without a
//! value makes its resource or condition value match nothing (so negated operators hold).
//!
//! # Public policies
//!
//! [`BucketPolicy::is_public`] follows "The meaning of public" (S3 User Guide, Block Public
//! Access): S3 "begins by assuming that the policy is public" and a policy is non-public only
//! if it grants access to fixed values (no wildcard, no policy variable) of a principal or of
//! certain condition keys. Checked here:
//!
//! - only `Allow` statements grant; a statement naming users or groups is not public (this
//!   server's principals are always fixed names);
//! - a statement whose principal is `"*"` / `{"AWS": "*"}` is public unless one of its
//!   conditions *fixes* the caller: a positive test (not negated, not `...IfExists`, not
//!   `ForAllValues:`, so a request without the key cannot satisfy it) whose every value is
//!   fixed (no `*`, `?` or variable), of
//!   - `aws:SourceIp` with `IpAddress`, every range no broader than `/8` (IPv4) or `/32`
//!     (IPv6), or inside an RFC 1918 private range;
//!   - `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
//!     `aws:SourceAccount`, `aws:PrincipalOrgID`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
//!     `aws:userid`, `aws:username`, `s3:DataAccessPointAccount` or
//!     `s3:x-amz-server-side-encryption-aws-kms-key-id`, with `StringEquals`,
//!     `StringEqualsIgnoreCase`, `StringLike` or an `Arn...` operator;
//!   - `s3:DataAccessPointArn` likewise, where the access point's name may hold a wildcard
//!     as long as the account is fixed.
//!
//! # Layout
//!
//! - `lib.rs`: the public types and [`BucketPolicy`].
//! - `error.rs`: [`PolicyError`] and the reasons it carries.
//! - `json.rs`: an order-keeping JSON tree refusing duplicate names; normalized size.
//! - `parse.rs`: the document and statement grammar, validation, compilation.
//! - `principal.rs`: `Principal` / `NotPrincipal`.
//! - [`catalog`]: S3's actions and the resource type each applies to, as a bit set.
//! - `resource.rs`: `Resource` / `NotResource`, compiled against the bucket's name.
//! - `pattern.rs`: `*` / `?` wildcards with policy variables; prefix consumption and
//!   coverage questions ("every object", "some object").
//! - `condition.rs`: condition operators, `IfExists`, `ForAnyValue` / `ForAllValues`, `Null`.
//! - `scalar.rs`: numbers, dates, booleans, CIDR ranges, base64.
//! - `eval.rs`: evaluation and context-key lookup.
//! - `public.rs`: S3's definition of a public policy.

pub mod catalog;
mod condition;
mod error;
mod eval;
mod json;
mod parse;
mod pattern;
mod principal;
mod public;
mod resource;
mod scalar;

pub use error::PolicyError;

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// The largest policy S3 accepts, in bytes of normalized (whitespace-free) JSON.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Who a policy `Principal` element can name. The caller (the server) answers whether a
/// name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalName<'a> {
    /// A user by id (16 lowercase hexadecimal digits).
    UserId(&'a str),
    /// A user by name.
    UserName(&'a str),
    /// A group by name.
    Group(&'a str),
}

/// The server's users and groups, consulted while parsing.
pub trait Directory {
    fn exists(&self, who: PrincipalName<'_>) -> bool;
}

/// Who makes the request.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// An unsigned request: only `"*"` / `{"AWS": "*"}` principals match it.
    pub anonymous: bool,
    /// 16 hex digits in this server.
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub groups: &'a [String],
}

/// What the request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `arn:aws:s3:::bucket`
    Bucket(&'a str),
    /// `arn:aws:s3:::bucket/key`
    Object { bucket: &'a str, key: &'a str },
    /// An object-level action whose key the caller does not know (e.g. a permission preview):
    /// an Allow statement matches only if its Resource covers every object of the bucket;
    /// a Deny statement matches if its Resource could match any object of the bucket.
    AnyObject(&'a str),
}

/// The request's condition context.
pub trait Conditions {
    /// Values of a condition key (the caller passes keys lowercased, e.g. "aws:sourceip",
    /// "s3:prefix", "s3:existingobjecttag/color"); None = key absent from the request.
    /// An empty list counts as absent.
    fn values(&self, key_lowercase: &str) -> Option<Vec<Cow<'_, str>>>;
}

/// A request context without any condition key.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConditions;

impl Conditions for NoConditions {
    fn values(&self, _: &str) -> Option<Vec<Cow<'_, str>>> {
        None
    }
}

/// Keys (lowercased) to values.
impl<S: BuildHasher> Conditions for HashMap<String, Vec<String>, S> {
    fn values(&self, key_lowercase: &str) -> Option<Vec<Cow<'_, str>>> {
        self.get(key_lowercase)
            .map(|v| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
    }
}

/// A request to judge.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub subject: Subject<'a>,
    /// "s3:GetObject" (case-insensitive match).
    pub action: &'a str,
    pub target: Target<'a>,
    pub conditions: &'a dyn Conditions,
    /// RestrictPublicBuckets: statements whose Principal is public ("*") grant nothing
    /// (their Deny still applies). Set it when the setting is on and [`BucketPolicy::is_public`].
    pub ignore_public_allows: bool,
    /// Only an explicit Deny matters (the caller is allowed otherwise already): Allow
    /// statements are not looked at, and the answer is `ExplicitDeny` or `NoMatch`.
    pub denies_only: bool,
}

/// The policy's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    ExplicitDeny,
    Allow,
    NoMatch,
}

/// The condition key prefix of an object's existing tags, lowercased as keys are.
pub const EXISTING_OBJECT_TAG: &str = "s3:existingobjecttag/";

/// A parsed, validated and compiled bucket policy.
#[derive(Debug, Clone)]
pub struct BucketPolicy {
    source: String,
    bucket: String,
    version: Option<String>,
    denies: Vec<parse::Statement>,
    allows: Vec<parse::Statement>,
    /// For each catalog action, the `denies` and `allows` naming it.
    by_action: Box<[[eval::Candidates; 2]]>,
    public: bool,
    /// Some condition reads `s3:ExistingObjectTag/<key>`.
    existing_tags: bool,
}

impl BucketPolicy {
    /// Parses and validates `json` for bucket `bucket`. Errors carry an AWS-like reason.
    pub fn parse(
        json: &str,
        bucket: &str,
        dir: &dyn Directory,
    ) -> Result<BucketPolicy, PolicyError> {
        let doc = parse::document(json, bucket, dir)?;
        let public = doc.statements.iter().any(public::statement_is_public);
        let (allows, denies): (Vec<_>, Vec<_>) = doc.statements.into_iter().partition(|s| s.allow);
        let by_action = eval::index(&denies, &allows);
        let existing_tags = denies.iter().chain(&allows).any(|s| {
            s.conditions
                .iter()
                .any(|c| c.key.starts_with(EXISTING_OBJECT_TAG))
        });
        Ok(BucketPolicy {
            source: json.to_owned(),
            bucket: bucket.to_owned(),
            version: doc.version,
            denies,
            allows,
            by_action,
            public,
            existing_tags,
        })
    }

    /// Whether a condition of the policy reads an object's existing tags
    /// (`s3:ExistingObjectTag/<key>`): the caller must then give them with the request.
    pub fn reads_existing_object_tags(&self) -> bool {
        self.existing_tags
    }

    /// The JSON as given (GetBucketPolicy returns it verbatim).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The bucket the policy was parsed for.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The document's `Version`, if it has one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The number of statements.
    pub fn statement_count(&self) -> usize {
        self.denies.len() + self.allows.len()
    }

    /// AWS's definition of a "public" policy (GetBucketPolicyStatus IsPublic;
    /// BlockPublicPolicy): some `Allow` statement names `"*"` without a condition that fixes
    /// the caller to specific values. See "Public policies" in the crate documentation.
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// Judges a request.
    pub fn evaluate(&self, req: &Request<'_>) -> Outcome {
        eval::evaluate(self, req)
    }
}
