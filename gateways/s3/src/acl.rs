//! S3 ACLs, which are not the permission model here (RBAC is): every bucket behaves as an AWS
//! bucket with ACLs disabled (Object Ownership "bucket owner enforced"). Reading an ACL reports
//! the owner's FULL_CONTROL; setting one is accepted only when it says exactly that (the canned
//! `private` or `bucket-owner-full-control`, or an XML policy granting the owner FULL_CONTROL
//! and nothing else). Anything wider is refused with AWS's 400 AccessControlListNotSupported,
//! never stored and ignored.

use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::request::header_values;
use crate::xml::Node;

/// Canned ACLs that describe what a gatehouse bucket or object already is: its owner has full
/// control and nobody else gets anything through an ACL.
const ACCEPTED_CANNED: &[&str] = &["private", "bucket-owner-full-control"];

/// Object Ownership setting of a bucket with ACLs disabled, the only one there is.
const OWNERSHIP: &str = "BucketOwnerEnforced";

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

/// `Err` when the request's headers ask for an ACL other than the owner's full control: a
/// canned ACL outside [`ACCEPTED_CANNED`], any `x-amz-grant-*` header, or (CreateBucket) an
/// `x-amz-object-ownership` other than `BucketOwnerEnforced`.
pub fn check_headers(ep: Endpoint, h: &HeaderMap) -> Result<(), S3Error> {
    if !takes_acl(ep) {
        return Ok(());
    }
    if let Some(canned) =
        header_values(h, "x-amz-acl").find(|c| !ACCEPTED_CANNED.contains(&c.trim()))
    {
        return Err(not_supported(
            "x-amz-acl",
            &format!(
                "x-amz-acl: {} grants more than the owner's full control",
                canned.trim()
            ),
        ));
    }
    if let Some(name) = h
        .keys()
        .map(http::HeaderName::as_str)
        .find(|n| n.starts_with("x-amz-grant-"))
    {
        return Err(not_supported(name, &format!("{name} grants access by ACL")));
    }
    if ep == Endpoint::CreateBucket
        && let Some(own) =
            header_values(h, "x-amz-object-ownership").find(|o| o.trim() != OWNERSHIP)
    {
        return Err(not_supported(
            "x-amz-object-ownership",
            &format!(
                "x-amz-object-ownership: {} would enable ACLs; buckets here are {OWNERSHIP}",
                own.trim()
            ),
        ));
    }
    Ok(())
}

/// `Err` unless an `AccessControlPolicy` body grants FULL_CONTROL to `owner` (the canonical ID
/// GetBucketAcl/GetObjectAcl report) and nothing else.
pub fn check_policy(doc: &Node, owner: &str) -> Result<(), S3Error> {
    let malformed = || {
        S3Error::new(
            400,
            "MalformedACLError",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    };
    if doc.name != "AccessControlPolicy" {
        return Err(malformed());
    }
    if let Some(id) = doc.child("Owner").and_then(|o| o.child_text("ID"))
        && id.trim() != owner
    {
        return Err(not_supported(
            "Owner",
            &format!("the policy names owner {}, not {owner}", id.trim()),
        ));
    }
    // One list, one grantee (named by ID alone) and one permission per grant: a second
    // AccessControlList, Grantee or Permission (which no schema-valid policy has) must not
    // carry a wider grant past a check that reads only the first.
    let mut lists = doc.children_named("AccessControlList");
    let (Some(list), None) = (lists.next(), lists.next()) else {
        return Err(malformed());
    };
    let grants: Vec<&Node> = list.children_named("Grant").collect();
    fn one<'n>(n: &'n Node, name: &'n str) -> Option<&'n Node> {
        let mut it = n.children_named(name);
        it.next().filter(|_| it.next().is_none())
    }
    let owner_full_control = |g: &&Node| {
        let (Some(grantee), Some(permission)) = (one(g, "Grantee"), one(g, "Permission")) else {
            return false;
        };
        permission.text.trim() == "FULL_CONTROL"
            && grantee
                .children
                .iter()
                .all(|c| c.name == "ID" || c.name == "DisplayName")
            && one(grantee, "ID").map(|id| id.text.trim()) == Some(owner)
    };
    if grants.is_empty() || !grants.iter().all(owner_full_control) {
        return Err(not_supported(
            "AccessControlList",
            "the policy grants something other than the owner's FULL_CONTROL",
        ));
    }
    Ok(())
}

fn not_supported(what: &str, detail: &str) -> S3Error {
    S3Error::new(
        400,
        "AccessControlListNotSupported",
        format!(
            "The bucket does not allow ACLs: {detail}. Access is governed by RBAC roles; the only \
             ACLs accepted are private and bucket-owner-full-control"
        ),
    )
    .with("ArgumentName", what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ep: Endpoint, pairs: &[(&str, &str)]) -> Result<(), S3Error> {
        let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        check_headers(ep, &crate::request::header_map(&pairs))
    }

    #[test]
    fn owner_only_acl_headers_pass_others_are_refused() {
        use Endpoint as E;
        for ep in [
            E::PutObject,
            E::CopyObject,
            E::CreateMultipartUpload,
            E::CreateBucket,
            E::PutBucketAcl,
            E::PutObjectAcl,
        ] {
            assert!(run(ep, &[("x-amz-acl", "private")]).is_ok());
            assert!(run(ep, &[("x-amz-acl", "bucket-owner-full-control")]).is_ok());
            for bad in [
                ("x-amz-acl", "public-read"),
                ("x-amz-acl", "bucket-owner-read"),
                ("x-amz-acl", "authenticated-read"),
                (
                    "x-amz-grant-read",
                    "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
                ),
                ("x-amz-grant-full-control", "id=\"abc\""),
            ] {
                let e = run(ep, &[bad]).unwrap_err();
                assert_eq!(
                    (e.status.as_u16(), e.code),
                    (400, "AccessControlListNotSupported"),
                    "{ep:?} {bad:?}"
                );
            }
        }
        assert!(
            run(
                E::CreateBucket,
                &[("x-amz-object-ownership", "BucketOwnerEnforced")]
            )
            .is_ok()
        );
        assert!(
            run(
                E::CreateBucket,
                &[("x-amz-object-ownership", "ObjectWriter")]
            )
            .is_err()
        );
        // Operations that take no ACL are not judged by one.
        assert!(run(E::GetObject, &[("x-amz-acl", "public-read")]).is_ok());
    }

    fn policy(grants: &str) -> Node {
        let doc = format!(
            "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>me</ID></Owner><AccessControlList>{grants}</AccessControlList></AccessControlPolicy>"
        );
        crate::xml::parse(doc.as_bytes()).unwrap()
    }

    const OWNER_FULL: &str = "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>me</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>";

    #[test]
    fn only_the_owners_full_control_policy_passes() {
        assert!(check_policy(&policy(OWNER_FULL), "me").is_ok());
        let public = "<Grant><Grantee xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>";
        let other =
            "<Grant><Grantee><ID>you</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>";
        let read = "<Grant><Grantee><ID>me</ID></Grantee><Permission>READ</Permission></Grant>";
        let hidden = [
            // A second grantee or permission inside the owner's grant.
            "<Grant><Grantee><ID>me</ID></Grantee><Grantee><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>FULL_CONTROL</Permission></Grant>",
            "<Grant><Grantee><ID>me</ID></Grantee><Permission>FULL_CONTROL</Permission><Permission>READ</Permission></Grant>",
            "<Grant><Grantee><ID>me</ID><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>FULL_CONTROL</Permission></Grant>",
        ];
        for bad in [
            format!("{OWNER_FULL}{public}"),
            hidden[0].to_string(),
            hidden[1].to_string(),
            hidden[2].to_string(),
            format!("{OWNER_FULL}{other}"),
            read.to_string(),
            String::new(),
        ] {
            let e = check_policy(&policy(&bad), "me").unwrap_err();
            assert_eq!(e.code, "AccessControlListNotSupported", "{bad}");
        }
        assert!(check_policy(&policy(OWNER_FULL), "someone-else").is_err());
        // A second list is not read past.
        let two = format!(
            "<AccessControlPolicy><AccessControlList>{OWNER_FULL}</AccessControlList><AccessControlList>{public}</AccessControlList></AccessControlPolicy>"
        );
        let e = check_policy(&crate::xml::parse(two.as_bytes()).unwrap(), "me").unwrap_err();
        assert_eq!(e.code, "MalformedACLError");
        let e = check_policy(&crate::xml::parse(b"<Tagging/>").unwrap(), "me").unwrap_err();
        assert_eq!(e.code, "MalformedACLError");
    }

    #[test]
    fn every_value_of_a_repeated_or_garbled_header_is_judged() {
        use crate::request::header_map;
        for pairs in [
            vec![
                ("x-amz-acl", &b"private"[..]),
                ("x-amz-acl", b"public-read"),
            ],
            vec![("x-amz-acl", &b"public-read\xff"[..])],
            vec![
                ("x-amz-object-ownership", &b"BucketOwnerEnforced"[..]),
                ("x-amz-object-ownership", b"ObjectWriter"),
            ],
            vec![("x-amz-object-ownership", &b"ObjectWriter\xe9"[..])],
        ] {
            let e = check_headers(Endpoint::CreateBucket, &header_map(&pairs)).unwrap_err();
            assert_eq!(e.code, "AccessControlListNotSupported", "{pairs:?}");
        }
    }
}
