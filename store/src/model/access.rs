//! A bucket's access settings beyond RBAC bindings (issue 22), stored in `bucket_access`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAccessRecord {
    /// The bucket policy as the client sent it (GetBucketPolicy returns it verbatim); parsed
    /// and validated when it was put, parsed again when the snapshot is built.
    #[serde(default)]
    pub policy: Option<String>,
    /// PutPublicAccessBlock's four flags; `None` = never set (all false).
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// PutBucketCors's rules, in the S3 gateway's canonical XML.
    #[serde(default)]
    pub cors: Option<String>,
    /// The bucket's ACL beyond its owner's full control (decision 0042).
    #[serde(default)]
    pub acl: Option<Acl>,
    /// PutBucketOwnershipControls; `None`: never set (the default, BucketOwnerPreferred).
    #[serde(default)]
    pub ownership: Option<ObjectOwnership>,
}

impl BucketAccessRecord {
    pub fn is_empty(&self) -> bool {
        self.policy.is_none()
            && self.public_access_block.is_none()
            && self.cors.is_none()
            && self.acl.as_ref().is_none_or(|a| a.grants.is_empty())
            && self.ownership.is_none()
    }
}

/// S3's PublicAccessBlockConfiguration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Public ACLs grant nothing.
    pub ignore_public_acls: bool,
    /// Refuse a PutBucketPolicy whose policy is public.
    pub block_public_policy: bool,
    /// A public policy grants nothing to anonymous callers.
    pub restrict_public_buckets: bool,
}

/// An S3 access control list beyond the owner's implicit FULL_CONTROL (decision 0042). Each
/// grant is mapped onto the one decision by `rbac::bucket_access`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<AclGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclGrant {
    pub grantee: Grantee,
    pub permission: AclPermission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A user, by id (S3's CanonicalUser ID).
    User(String),
    /// `http://acs.amazonaws.com/groups/global/AllUsers`: anyone, signed or not.
    AllUsers,
    /// `http://acs.amazonaws.com/groups/global/AuthenticatedUsers`: any signed user.
    AuthenticatedUsers,
    /// The bucket's owner (canned `bucket-owner-read`): shown as that user; grants nothing
    /// the owner's full control does not already.
    BucketOwner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclPermission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl AclPermission {
    pub fn as_str(self) -> &'static str {
        match self {
            AclPermission::Read => "READ",
            AclPermission::Write => "WRITE",
            AclPermission::ReadAcp => "READ_ACP",
            AclPermission::WriteAcp => "WRITE_ACP",
            AclPermission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<AclPermission> {
        [
            AclPermission::Read,
            AclPermission::Write,
            AclPermission::ReadAcp,
            AclPermission::WriteAcp,
            AclPermission::FullControl,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

impl Acl {
    /// Whether a grant reaches anyone beyond named users (AllUsers or AuthenticatedUsers):
    /// S3's "public" ACL, which public access blocks refuse or ignore.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }
}

/// S3 Object Ownership of a bucket: whether ACLs are in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs disabled: only the owner's full control is accepted; access is bindings and
    /// policies alone.
    BucketOwnerEnforced,
    /// ACLs in force; the bucket owner owns every object. The default (decision 0042).
    /// (S3's ObjectWriter, the writer owning each object, is refused: objects here have no
    /// owner of their own.)
    #[default]
    BucketOwnerPreferred,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}
