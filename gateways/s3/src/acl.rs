//! S3 ACLs (decision 0042): canned ACLs (`x-amz-acl`), grant headers (`x-amz-grant-*`) and
//! `AccessControlPolicy` bodies parsed into the store's [`Acl`]; ACLs rendered for
//! GetBucketAcl/GetObjectAcl. What a grant allows is decided in `rbac::authorize`; whether a
//! bucket takes ACLs at all (Object Ownership, public access blocks) and whether a named user
//! exists is the store's to check. The owner's FULL_CONTROL is implicit and never stored.
//!
//! Not offered (refused, never ignored): grants by e-mail address (UnresolvableGrantByEmail
//! Address, as AWS answers outside its old regions), the LogDelivery group and the canned
//! ACLs that name it or EC2 (`log-delivery-write`, `aws-exec-read`).

use gatehouse_store::model::{Acl, AclGrant, AclPermission, Grantee};
use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::request::header_values;
use crate::xml::{Node, XmlWriter};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// Operations that take `x-amz-acl` / `x-amz-grant-*` (AWS API reference).
fn takes_acl(ep: Endpoint) -> bool {
    matches!(
        ep,
        Endpoint::PutObject
            | Endpoint::CopyObject
            | Endpoint::CreateMultipartUpload
            | Endpoint::CreateBucket
            | Endpoint::PutBucketAcl
            | Endpoint::PutObjectAcl
    )
}

const GRANT_HEADERS: [(&str, AclPermission); 5] = [
    ("x-amz-grant-read", AclPermission::Read),
    ("x-amz-grant-write", AclPermission::Write),
    ("x-amz-grant-read-acp", AclPermission::ReadAcp),
    ("x-amz-grant-write-acp", AclPermission::WriteAcp),
    ("x-amz-grant-full-control", AclPermission::FullControl),
];

/// Checked before any handler runs: the ACL headers of an operation that takes them parse.
pub fn check_headers(ep: Endpoint, h: &HeaderMap) -> Result<(), S3Error> {
    if takes_acl(ep) {
        from_headers(h)?;
    }
    if ep == Endpoint::CreateBucket {
        ownership_header(h)?;
    }
    Ok(())
}

/// CreateBucket's `x-amz-object-ownership`, if given.
pub fn ownership_header(
    h: &HeaderMap,
) -> Result<Option<gatehouse_store::model::ObjectOwnership>, S3Error> {
    let mut values = header_values(h, "x-amz-object-ownership");
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(S3Error::invalid_argument(
            "x-amz-object-ownership given more than once",
        ));
    }
    ownership(v.trim()).map(Some).map_err(|e| {
        if e.code == "NotImplemented" {
            e
        } else {
            S3Error::invalid_argument(format!("Invalid x-amz-object-ownership header: {v}"))
                .with("ArgumentName", "x-amz-object-ownership")
        }
    })
}

/// An Object Ownership value (header or OwnershipControls body). ObjectWriter — each object
/// owned by its writer — is refused: objects here have no owner of their own, so it could
/// not be honoured (decision 0042).
pub fn ownership(v: &str) -> Result<gatehouse_store::model::ObjectOwnership, S3Error> {
    if v == "ObjectWriter" {
        return Err(S3Error::not_implemented(
            "Object Ownership ObjectWriter (objects here are owned by their bucket's owner)",
        ));
    }
    gatehouse_store::model::ObjectOwnership::parse(v).ok_or_else(S3Error::malformed_xml)
}

/// The ACL a request's headers ask for: `None` when they name none (the object or bucket is
/// then private).
pub fn from_headers(h: &HeaderMap) -> Result<Option<Acl>, S3Error> {
    let mut canned = header_values(h, "x-amz-acl");
    let first = canned.next();
    if canned.next().is_some() {
        return Err(S3Error::invalid_argument("x-amz-acl given more than once")
            .with("ArgumentName", "x-amz-acl"));
    }
    let granted = GRANT_HEADERS.iter().any(|(n, _)| h.contains_key(*n));
    if let Some(c) = first {
        if granted {
            return Err(S3Error::invalid_request(
                "Specifying both Canned ACLs and Header Grants is not allowed",
            ));
        }
        return canned_acl(c.trim()).map(Some);
    }
    if !granted {
        return Ok(None);
    }
    let mut acl = Acl::default();
    for (name, permission) in GRANT_HEADERS {
        for value in header_values(h, name) {
            for grantee in split_grantees(&value) {
                acl.grants.push(AclGrant {
                    grantee: grantee_of(grantee.trim(), name)?,
                    permission,
                });
            }
        }
    }
    Ok(Some(acl))
}

/// A canned ACL as grants beyond the owner's (the owner here is always the bucket's owner, so
/// `bucket-owner-full-control` adds nothing and `bucket-owner-read` only its own READ).
pub fn canned_acl(name: &str) -> Result<Acl, S3Error> {
    let grant = |grantee, permission| AclGrant {
        grantee,
        permission,
    };
    let grants = match name {
        "private" | "bucket-owner-full-control" => Vec::new(),
        "bucket-owner-read" => vec![grant(Grantee::BucketOwner, AclPermission::Read)],
        "public-read" => vec![grant(Grantee::AllUsers, AclPermission::Read)],
        "public-read-write" => vec![
            grant(Grantee::AllUsers, AclPermission::Read),
            grant(Grantee::AllUsers, AclPermission::Write),
        ],
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, AclPermission::Read)],
        "aws-exec-read" | "log-delivery-write" => {
            return Err(S3Error::not_implemented(&format!(
                "the canned ACL {name} (it grants to AWS services this server does not have)"
            )));
        }
        other => {
            return Err(
                S3Error::invalid_argument(format!("Invalid canned ACL: {other}"))
                    .with("ArgumentName", "x-amz-acl"),
            );
        }
    };
    Ok(Acl { grants })
}

/// The comma-separated `key="value"` grantees of one grant header (values may hold commas
/// inside their quotes).
fn split_grantees(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn grantee_of(g: &str, header: &str) -> Result<Grantee, S3Error> {
    let bad = || {
        S3Error::invalid_argument(format!("Invalid grantee in {header}: {g}"))
            .with("ArgumentName", header.to_string())
    };
    let (kind, value) = g.split_once('=').ok_or_else(bad)?;
    let value = value.trim().trim_matches('"');
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" if !value.is_empty() => Ok(Grantee::User(value.to_string())),
        "uri" => group(value).ok_or_else(bad),
        "emailaddress" => Err(unresolvable_email()),
        _ => Err(bad()),
    }
}

fn group(uri: &str) -> Option<Grantee> {
    match uri {
        ALL_USERS => Some(Grantee::AllUsers),
        AUTHENTICATED_USERS => Some(Grantee::AuthenticatedUsers),
        _ => None,
    }
}

fn unresolvable_email() -> S3Error {
    S3Error::new(
        400,
        "UnresolvableGrantByEmailAddress",
        "The email address you provided does not match any account on record.",
    )
}

fn malformed_acl() -> S3Error {
    S3Error::new(
        400,
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// An `AccessControlPolicy` body as an ACL. `owner` is the bucket's owner: an `<Owner>` naming
/// someone else is refused, and its own FULL_CONTROL grant is implicit (not stored).
pub fn from_policy(doc: &Node, owner: &str) -> Result<Acl, S3Error> {
    if doc.name != "AccessControlPolicy" {
        return Err(malformed_acl());
    }
    if let Some(id) = doc.child("Owner").and_then(|o| o.child_text("ID"))
        && id.trim() != owner
    {
        return Err(S3Error::access_denied(
            "The Owner of an AccessControlPolicy must be the bucket's owner",
        ));
    }
    let mut lists = doc.children_named("AccessControlList");
    let (Some(list), None) = (lists.next(), lists.next()) else {
        return Err(malformed_acl());
    };
    fn one<'n>(n: &'n Node, name: &'n str) -> Option<&'n Node> {
        let mut it = n.children_named(name);
        it.next().filter(|_| it.next().is_none())
    }
    let mut acl = Acl::default();
    for g in list.children_named("Grant") {
        let (Some(grantee), Some(permission)) = (one(g, "Grantee"), one(g, "Permission")) else {
            return Err(malformed_acl());
        };
        let permission = AclPermission::parse(permission.text.trim()).ok_or_else(malformed_acl)?;
        let id = one(grantee, "ID").map(|n| n.text.trim());
        let uri = one(grantee, "URI").map(|n| n.text.trim());
        let email = one(grantee, "EmailAddress").map(|n| n.text.trim());
        let grantee = match (id, uri, email) {
            (Some(id), None, None) if !id.is_empty() => Grantee::User(id.to_string()),
            (None, Some(uri), None) => group(uri)
                .ok_or_else(|| S3Error::invalid_argument(format!("Invalid group uri: {uri}")))?,
            (None, None, Some(_)) => return Err(unresolvable_email()),
            _ => return Err(malformed_acl()),
        };
        if grantee == Grantee::User(owner.to_string()) && permission == AclPermission::FullControl {
            continue;
        }
        acl.grants.push(AclGrant {
            grantee,
            permission,
        });
    }
    Ok(acl)
}

/// An `AccessControlPolicy` document: the owner's FULL_CONTROL, then `acl`'s grants.
pub fn render(owner: &str, acl: &Acl) -> XmlWriter {
    let mut w = XmlWriter::new();
    w.open_root("AccessControlPolicy");
    crate::handlers::owner(&mut w, "Owner", owner);
    w.open("AccessControlList");
    let user = |w: &mut XmlWriter, id: &str, permission: &str| {
        let id = crate::xml::escape(id);
        w.raw(&format!(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{id}</ID><DisplayName>{id}</DisplayName></Grantee><Permission>{permission}</Permission></Grant>"
        ));
    };
    user(&mut w, owner, "FULL_CONTROL");
    for g in &acl.grants {
        match &g.grantee {
            Grantee::User(id) => user(&mut w, id, g.permission.as_str()),
            Grantee::BucketOwner => user(&mut w, owner, g.permission.as_str()),
            Grantee::AllUsers | Grantee::AuthenticatedUsers => {
                let uri = if g.grantee == Grantee::AllUsers {
                    ALL_USERS
                } else {
                    AUTHENTICATED_USERS
                };
                w.raw(&format!(
                    "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>{uri}</URI></Grantee><Permission>{}</Permission></Grant>",
                    g.permission.as_str()
                ));
            }
        }
    }
    w.close("AccessControlList");
    w.close("AccessControlPolicy");
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::header_map;

    fn headers(pairs: &[(&str, &str)]) -> Result<Option<Acl>, S3Error> {
        let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        from_headers(&header_map(&pairs))
    }

    #[test]
    fn canned_acls_become_grants() {
        assert_eq!(headers(&[]).unwrap(), None);
        assert_eq!(
            headers(&[("x-amz-acl", "private")]).unwrap(),
            Some(Acl::default())
        );
        let public = headers(&[("x-amz-acl", "public-read")]).unwrap().unwrap();
        assert_eq!(public.grants.len(), 1);
        assert!(public.is_public());
        assert_eq!(
            headers(&[("x-amz-acl", "public-read-write")])
                .unwrap()
                .unwrap()
                .grants
                .len(),
            2
        );
        for bad in ["public", "PUBLIC-READ", ""] {
            assert_eq!(
                headers(&[("x-amz-acl", bad)]).unwrap_err().code,
                "InvalidArgument"
            );
        }
        assert_eq!(
            headers(&[("x-amz-acl", "log-delivery-write")])
                .unwrap_err()
                .code,
            "NotImplemented"
        );
        assert_eq!(
            headers(&[("x-amz-acl", "private"), ("x-amz-acl", "public-read")])
                .unwrap_err()
                .code,
            "InvalidArgument"
        );
    }

    #[test]
    fn grant_headers_name_users_and_groups() {
        let acl = headers(&[
            (
                "x-amz-grant-read",
                "id=\"0123456789abcdef\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
            ),
            ("x-amz-grant-write-acp", "id=fedcba9876543210"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            acl.grants,
            vec![
                AclGrant {
                    grantee: Grantee::User("0123456789abcdef".into()),
                    permission: AclPermission::Read
                },
                AclGrant {
                    grantee: Grantee::AllUsers,
                    permission: AclPermission::Read
                },
                AclGrant {
                    grantee: Grantee::User("fedcba9876543210".into()),
                    permission: AclPermission::WriteAcp
                },
            ]
        );
        assert_eq!(
            headers(&[("x-amz-grant-read", "emailAddress=\"a@b.c\"")])
                .unwrap_err()
                .code,
            "UnresolvableGrantByEmailAddress"
        );
        assert_eq!(
            headers(&[(
                "x-amz-grant-read",
                "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""
            )])
            .unwrap_err()
            .code,
            "InvalidArgument"
        );
        assert_eq!(
            headers(&[("x-amz-acl", "private"), ("x-amz-grant-read", "id=x")])
                .unwrap_err()
                .code,
            "InvalidRequest"
        );
    }

    fn policy(grants: &str) -> Node {
        let doc = format!(
            "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>me</ID></Owner><AccessControlList>{grants}</AccessControlList></AccessControlPolicy>"
        );
        crate::xml::parse(doc.as_bytes()).unwrap()
    }

    #[test]
    fn policy_bodies_round_trip_without_the_owners_grant() {
        let owner_full = "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>me</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>";
        let public = "<Grant><Grantee xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>";
        assert_eq!(
            from_policy(&policy(owner_full), "me").unwrap(),
            Acl::default()
        );
        let acl = from_policy(&policy(&format!("{owner_full}{public}")), "me").unwrap();
        assert_eq!(acl.grants.len(), 1);
        let back = render("me", &acl).finish();
        let again = from_policy(&crate::xml::parse(back.as_bytes()).unwrap(), "me").unwrap();
        assert_eq!(again, acl);
        // Someone else as owner, ambiguous grantees, unknown permissions: refused.
        assert_eq!(
            from_policy(&policy(owner_full), "other").unwrap_err().code,
            "AccessDenied"
        );
        for bad in [
            "<Grant><Grantee><ID>me</ID><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>",
            "<Grant><Grantee><ID>me</ID></Grantee><Permission>READ</Permission><Permission>WRITE</Permission></Grant>",
            "<Grant><Grantee><ID>me</ID></Grantee><Permission>ALL</Permission></Grant>",
        ] {
            assert_eq!(
                from_policy(&policy(bad), "me").unwrap_err().code,
                "MalformedACLError",
                "{bad}"
            );
        }
        let two = format!(
            "<AccessControlPolicy><AccessControlList>{owner_full}</AccessControlList><AccessControlList>{public}</AccessControlList></AccessControlPolicy>"
        );
        assert_eq!(
            from_policy(&crate::xml::parse(two.as_bytes()).unwrap(), "me")
                .unwrap_err()
                .code,
            "MalformedACLError"
        );
    }
}
