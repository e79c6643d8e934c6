use serde::{Deserialize, Serialize};

/// An access key's record. Issue-2 scope: the bootstrap admin; later derived from user keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub secret_key: String,
    pub user_id: String,
    pub name: String,
    pub admin: bool,
}

/// Who is asking. Every `ops` function takes one and asks [`crate::rbac::authorize`] first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub admin: bool,
}
