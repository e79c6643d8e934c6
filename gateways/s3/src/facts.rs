//! What a request is, for bucket policies (decision 0041): its S3 action (as IAM names it),
//! the verb the store checks it with, how it came (address, TLS, signing) and the values of
//! its request-specific condition keys. Pure; the table is unit-tested.

use std::net::IpAddr;

use gatehouse_store::rbac::{RequestFacts, Verb};
use http::HeaderMap;

use crate::endpoint::{BucketConfig, Endpoint};
use crate::util::Query;

/// The S3 action of `ep` and the verb the store authorizes it with; `version` whether the
/// request names a version (`?versionId=`).
pub fn action(ep: Endpoint, version: bool) -> (&'static str, Verb) {
    use Endpoint as E;
    use Verb as V;
    let v = |plain: &'static str, versioned: &'static str| if version { versioned } else { plain };
    match ep {
        E::ListBuckets => ("s3:ListAllMyBuckets", V::List),
        E::CreateBucket => ("s3:CreateBucket", V::Create),
        E::DeleteBucket => ("s3:DeleteBucket", V::Delete),
        E::HeadBucket => ("s3:ListBucket", V::Get),
        E::GetBucketLocation => ("s3:GetBucketLocation", V::Get),
        E::GetBucketVersioning => ("s3:GetBucketVersioning", V::Get),
        E::PutBucketVersioning => ("s3:PutBucketVersioning", V::Put),
        E::GetBucketAcl => ("s3:GetBucketAcl", V::Get),
        E::PutBucketAcl => ("s3:PutBucketAcl", V::Put),
        E::ListObjects | E::ListObjectsV2 => ("s3:ListBucket", V::List),
        E::ListObjectVersions => ("s3:ListBucketVersions", V::List),
        E::ListMultipartUploads => ("s3:ListBucketMultipartUploads", V::List),
        E::DeleteObjects => ("s3:DeleteObject", V::Delete),
        E::PutObject
        | E::CopyObject
        | E::CreateMultipartUpload
        | E::UploadPart
        | E::UploadPartCopy
        | E::CompleteMultipartUpload => ("s3:PutObject", V::Put),
        E::GetObject | E::HeadObject => (v("s3:GetObject", "s3:GetObjectVersion"), V::Get),
        E::DeleteObject => (v("s3:DeleteObject", "s3:DeleteObjectVersion"), V::Delete),
        E::GetBucketLifecycleConfiguration => ("s3:GetLifecycleConfiguration", V::Get),
        E::PutBucketLifecycleConfiguration | E::DeleteBucketLifecycle => {
            ("s3:PutLifecycleConfiguration", V::Put)
        }
        E::GetObjectLockConfiguration => ("s3:GetBucketObjectLockConfiguration", V::Get),
        E::PutObjectLockConfiguration => ("s3:PutBucketObjectLockConfiguration", V::Put),
        E::GetObjectRetention => ("s3:GetObjectRetention", V::Get),
        E::PutObjectRetention => ("s3:PutObjectRetention", V::Lock),
        E::GetObjectLegalHold => ("s3:GetObjectLegalHold", V::Get),
        E::PutObjectLegalHold => ("s3:PutObjectLegalHold", V::Lock),
        E::GetBucketReplication => ("s3:GetReplicationConfiguration", V::Get),
        E::PutBucketReplication => ("s3:PutReplicationConfiguration", V::Create),
        E::DeleteBucketReplication => ("s3:PutReplicationConfiguration", V::Delete),
        E::GetObjectAttributes => (
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            V::Get,
        ),
        E::GetObjectTagging => (
            v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            V::Get,
        ),
        E::PutObjectTagging => (
            v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            V::Put,
        ),
        E::DeleteObjectTagging => (
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            V::Put,
        ),
        E::GetObjectAcl => (v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), V::Get),
        E::PutObjectAcl => (v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), V::Put),
        E::AbortMultipartUpload => ("s3:AbortMultipartUpload", V::Delete),
        E::ListParts => ("s3:ListMultipartUploadParts", V::List),
        E::PutBucketPolicy => ("s3:PutBucketPolicy", V::Put),
        E::GetBucketPolicy => ("s3:GetBucketPolicy", V::Get),
        E::DeleteBucketPolicy => ("s3:DeleteBucketPolicy", V::Put),
        E::GetBucketPolicyStatus => ("s3:GetBucketPolicyStatus", V::Get),
        // Not AWS actions (MyFSIO's extension): a policy names them only through wildcards.
        E::GetBucketQuota => ("s3:GetBucketQuota", V::Get),
        E::PutBucketEncryption | E::DeleteBucketEncryption => {
            ("s3:PutEncryptionConfiguration", V::Put)
        }
        E::GetBucketEncryption => ("s3:GetEncryptionConfiguration", V::Get),
        E::PutBucketQuota => ("s3:PutBucketQuota", V::Put),
        E::DeleteBucketQuota => ("s3:DeleteBucketQuota", V::Put),
        E::PutPublicAccessBlock => ("s3:PutBucketPublicAccessBlock", V::Put),
        E::GetPublicAccessBlock => ("s3:GetBucketPublicAccessBlock", V::Get),
        E::DeletePublicAccessBlock => ("s3:PutBucketPublicAccessBlock", V::Put),
        E::PutBucketCors => ("s3:PutBucketCORS", V::Put),
        E::GetBucketCors => ("s3:GetBucketCORS", V::Get),
        E::DeleteBucketCors => ("s3:PutBucketCORS", V::Put),
        E::GetBucketOwnershipControls => ("s3:GetBucketOwnershipControls", V::Get),
        E::PutBucketOwnershipControls | E::DeleteBucketOwnershipControls => {
            ("s3:PutBucketOwnershipControls", V::Put)
        }
        E::GetBucketTagging => ("s3:GetBucketTagging", V::Get),
        // AWS: DeleteBucketTagging is allowed by s3:PutBucketTagging.
        E::PutBucketTagging | E::DeleteBucketTagging => ("s3:PutBucketTagging", V::Put),
        E::GetBucketConfig(c) => (config_action(c, false), V::Get),
        E::DeleteBucketConfig(c) => (config_action(c, true), V::Put),
    }
}

/// The action reading (or, for `delete`, removing) a bucket configuration needs.
fn config_action(c: BucketConfig, delete: bool) -> &'static str {
    use BucketConfig as C;
    match (c, delete) {
        (C::Website, false) => "s3:GetBucketWebsite",
        (C::Website, true) => "s3:DeleteBucketWebsite",
        (C::Logging, _) => "s3:GetBucketLogging",
        (C::Notification, _) => "s3:GetBucketNotification",
        (C::Accelerate, _) => "s3:GetAccelerateConfiguration",
        (C::RequestPayment, _) => "s3:GetBucketRequestPayment",
    }
}

/// How a request was signed: `s3:authType` and `s3:signatureversion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing {
    pub auth_type: &'static str,
    pub version: &'static str,
}

impl Signing {
    /// Read from the request as it came: a signature in the query is `REST-QUERY-STRING`.
    pub fn of(headers: &HeaderMap, q: &Query) -> Signing {
        let presigned_v4 = q.has("X-Amz-Signature");
        let presigned_v2 = q.has("Signature");
        let header_v4 = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"));
        Signing {
            auth_type: if presigned_v4 || presigned_v2 {
                "REST-QUERY-STRING"
            } else {
                "REST-HEADER"
            },
            version: if presigned_v4 || header_v4 {
                "AWS4-HMAC-SHA256"
            } else {
                "AWS"
            },
        }
    }
}

/// The facts of one S3 request. `signing` is `None` for an unsigned (anonymous) one.
pub fn build(
    ep: Endpoint,
    q: &Query,
    headers: &HeaderMap,
    source_ip: Option<IpAddr>,
    secure: bool,
    signing: Option<Signing>,
) -> RequestFacts {
    let version = q.get("versionId").is_some();
    let mut values: Vec<(String, Vec<String>)> = Vec::new();
    let mut put = |k: &str, v: &str| values.push((k.to_string(), vec![v.to_string()]));
    if matches!(
        ep,
        Endpoint::ListObjects | Endpoint::ListObjectsV2 | Endpoint::ListObjectVersions
    ) {
        for (param, key) in [
            ("prefix", "s3:prefix"),
            ("delimiter", "s3:delimiter"),
            ("max-keys", "s3:max-keys"),
        ] {
            if let Some(v) = q.get(param) {
                put(key, v);
            }
        }
    }
    if let Some(v) = q.get("versionId") {
        put("s3:versionid", v);
    }
    for h in [
        "x-amz-acl",
        "x-amz-grant-read",
        "x-amz-grant-write",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-grant-full-control",
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-storage-class",
        "x-amz-content-sha256",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-object-lock-legal-hold",
    ] {
        // Every field line of a header, joined as one list (a second line must not slip past
        // a condition that reads the first).
        let lines: Vec<String> = crate::request::header_values(headers, h)
            .map(|v| v.into_owned())
            .collect();
        if !lines.is_empty() {
            let v = lines.join(", ");
            let key = match h {
                "x-amz-object-lock-mode" => "s3:object-lock-mode",
                "x-amz-object-lock-retain-until-date" => "s3:object-lock-retain-until-date",
                "x-amz-object-lock-legal-hold" => "s3:object-lock-legal-hold",
                other => &format!("s3:{other}"),
            };
            put(key, &v);
        }
    }
    // aws:Referer and aws:UserAgent: what the client says (AWS warns they are spoofable,
    // and so are they here); every field line joined, as above.
    for (h, key) in [("referer", "aws:referer"), ("user-agent", "aws:useragent")] {
        let lines: Vec<String> = crate::request::header_values(headers, h)
            .map(|v| v.into_owned())
            .collect();
        if !lines.is_empty() {
            put(key, &lines.join(", "));
        }
    }
    if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
        request_tags(&mut values, tagging);
    }
    let source_action = matches!(ep, Endpoint::CopyObject | Endpoint::UploadPartCopy).then(|| {
        let names_version = headers
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("versionId="));
        if names_version {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        }
    });
    RequestFacts {
        source_ip,
        secure,
        auth_type: signing.map(|s| s.auth_type),
        signature_version: signing.map(|s| s.version),
        action: Some(action(ep, version)),
        source_action,
        values,
    }
}

/// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` from a URL-encoded tag set.
pub fn request_tags(values: &mut Vec<(String, Vec<String>)>, tagging: &str) {
    let mut keys = Vec::new();
    let mut tags = Vec::new();
    for pair in tagging.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_encoding::percent_decode_str(&k.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        tags.push((k.clone(), v));
        keys.push(k);
    }
    gatehouse_store::rbac::bucket_access::merge_tag_values(values, "s3:requestobjecttag/", &tags);
    if !keys.is_empty() {
        values.push(("s3:requestobjecttagkeys".into(), keys));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_store::rbac::bucket_access::object_action;

    #[test]
    fn every_endpoint_names_an_action_at_its_level() {
        use Endpoint as E;
        let object_level = [
            E::PutObject,
            E::CopyObject,
            E::GetObject,
            E::HeadObject,
            E::DeleteObject,
            E::GetObjectRetention,
            E::PutObjectRetention,
            E::GetObjectLegalHold,
            E::PutObjectLegalHold,
            E::GetObjectTagging,
            E::GetObjectAttributes,
            E::PutObjectTagging,
            E::DeleteObjectTagging,
            E::GetObjectAcl,
            E::PutObjectAcl,
            E::CreateMultipartUpload,
            E::UploadPart,
            E::UploadPartCopy,
            E::CompleteMultipartUpload,
            E::AbortMultipartUpload,
            E::ListParts,
            E::DeleteObjects,
        ];
        for ep in object_level {
            for version in [false, true] {
                let (a, _) = action(ep, version);
                assert!(object_action(a), "{ep:?} {a}");
            }
        }
        for ep in [
            E::HeadBucket,
            E::ListObjectsV2,
            E::ListObjectVersions,
            E::GetObjectLockConfiguration,
            E::PutObjectLockConfiguration,
            E::GetBucketPolicy,
            E::DeletePublicAccessBlock,
            E::GetBucketTagging,
            E::GetBucketConfig(BucketConfig::Website),
            E::GetBucketCors,
        ] {
            let (a, _) = action(ep, false);
            assert!(!object_action(a), "{ep:?} {a}");
        }
        assert_eq!(action(E::GetObject, true).0, "s3:GetObjectVersion");
        assert_eq!(action(E::DeleteObject, true).0, "s3:DeleteObjectVersion");
    }

    #[test]
    fn tags_become_condition_values() {
        let mut v = Vec::new();
        request_tags(&mut v, "Color=blue&team=a%20b");
        assert!(v.contains(&("s3:requestobjecttag/color".into(), vec!["blue".into()])));
        assert!(v.contains(&("s3:requestobjecttag/team".into(), vec!["a b".into()])));
        assert!(v.contains(&(
            "s3:requestobjecttagkeys".into(),
            vec!["Color".into(), "team".into()]
        )));
    }
}
