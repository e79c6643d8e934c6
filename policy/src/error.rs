//! [`PolicyError`] and the reasons it carries.

use std::fmt;

/// Why a policy was refused. `reason` is the text S3 puts in its `MalformedPolicy` error
/// message, so a server can hand it to the client unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The message, worded as AWS words it where AWS's wording is known.
    pub reason: String,
}

impl PolicyError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        PolicyError {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PolicyError {}

/// Reasons. Those marked "S3" were observed in S3's answers; the others follow S3's style.
pub(crate) mod reason {
    /// S3: the normalized document is over 20 480 bytes.
    pub const TOO_LARGE: &str =
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes";
    /// S3: the body does not start with `{`.
    pub const FIRST_BYTE: &str = "Policies must be valid JSON and the first byte must be '{'";
    /// S3: starts with `{` but is not JSON.
    pub const INVALID_JSON: &str = "This policy contains invalid Json";
    /// S3: a field of the wrong type (e.g. `"Action": null`) or another structural problem.
    pub const SYNTAX: &str = "Invalid policy syntax.";
    /// S3.
    pub const VERSION: &str = "The policy must contain a valid version string";
    /// S3.
    pub const EMPTY_STATEMENT: &str = "Could not parse the policy: Statement is empty!";
    /// S3.
    pub const PRINCIPAL: &str = "Invalid principal in policy";
    /// S3.
    pub const ACTION: &str = "Policy has invalid action";
    /// S3.
    pub const RESOURCE: &str = "Policy has invalid resource";
    /// S3.
    pub const NOT_APPLICABLE: &str = "Action does not apply to any resource(s) in statement";
    /// S3.
    pub const CONDITION_KEY: &str = "Policy has an invalid condition key";
    /// IAM's wording.
    pub const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique";
    /// IAM's documentation: "NotPrincipal must be used with "Effect":"Deny"".
    pub const NOT_PRINCIPAL_ALLOW: &str = "NotPrincipal must be used with \"Effect\":\"Deny\"";

    /// S3: `Missing required field Statement`.
    pub fn missing(field: &str) -> String {
        format!("Missing required field {field}")
    }
    /// An element that the grammar does not have.
    pub fn unknown_field(field: &str) -> String {
        format!("Unknown field {field}")
    }
    /// S3 (as recorded by others): `Invalid effect: <value>`.
    pub fn effect(value: &str) -> String {
        format!("Invalid effect: {value}")
    }
    /// S3 (as recorded by others): `Invalid Condition type : <operator>`.
    pub fn condition_type(op: &str) -> String {
        format!("Invalid Condition type : {op}")
    }
    /// A condition value that its operator cannot read. `what` names the expected kind.
    pub fn condition_value(what: &str, value: &str) -> String {
        format!("Invalid {what} in Conditions: {value}")
    }
}
