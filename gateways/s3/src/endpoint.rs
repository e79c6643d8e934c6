//! Method + addressing + query → the S3 operation. Pure, unit-tested.

use http::{HeaderMap, Method};

use crate::error::S3Error;
use crate::util::Query;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketAcl,
    PutBucketAcl,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetBucketLifecycleConfiguration,
    PutBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    GetBucketReplication,
    PutBucketReplication,
    DeleteBucketReplication,
    GetObjectTagging,
    GetObjectAttributes,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    /// `?quota` (MyFSIO's JSON extension): a bucket's size and object-count limits.
    GetBucketQuota,
    PutBucketQuota,
    DeleteBucketQuota,
    PutPublicAccessBlock,
    GetPublicAccessBlock,
    DeletePublicAccessBlock,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketOwnershipControls,
    GetBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    PutBucketEncryption,
    GetBucketEncryption,
    DeleteBucketEncryption,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    /// GET of a bucket configuration gatehouse has no way to set: answered as AWS answers a
    /// bucket where it was never configured.
    GetBucketConfig(BucketConfig),
    /// DELETE of such a configuration: there is none, so the bucket already is as asked.
    DeleteBucketConfig(BucketConfig),
}

/// Bucket sub-resources that can never be configured here (PUT is NotImplemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketConfig {
    Website,
    Logging,
    Notification,
    Accelerate,
    RequestPayment,
}

impl BucketConfig {
    /// Every one, with its query sub-resource name.
    pub const ALL: [(BucketConfig, &'static str); 5] = [
        (BucketConfig::Website, "website"),
        (BucketConfig::Logging, "logging"),
        (BucketConfig::Notification, "notification"),
        (BucketConfig::Accelerate, "accelerate"),
        (BucketConfig::RequestPayment, "requestPayment"),
    ];

    /// Whether AWS has a DELETE for it (DeleteBucketWebsite).
    fn deletable(self) -> bool {
        matches!(self, BucketConfig::Website)
    }

    fn names(self) -> (&'static str, &'static str) {
        use BucketConfig as C;
        match self {
            C::Website => ("GetBucketWebsite", "DeleteBucketWebsite"),
            C::Logging => ("GetBucketLogging", "-"),
            C::Notification => ("GetBucketNotificationConfiguration", "-"),
            C::Accelerate => ("GetBucketAccelerateConfiguration", "-"),
            C::RequestPayment => ("GetBucketRequestPayment", "-"),
        }
    }
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket => "CreateBucket",
            Endpoint::DeleteBucket => "DeleteBucket",
            Endpoint::HeadBucket => "HeadBucket",
            Endpoint::GetBucketLocation => "GetBucketLocation",
            Endpoint::GetBucketVersioning => "GetBucketVersioning",
            Endpoint::PutBucketVersioning => "PutBucketVersioning",
            Endpoint::GetBucketAcl => "GetBucketAcl",
            Endpoint::PutBucketAcl => "PutBucketAcl",
            Endpoint::ListObjects => "ListObjects",
            Endpoint::ListObjectsV2 => "ListObjectsV2",
            Endpoint::ListObjectVersions => "ListObjectVersions",
            Endpoint::ListMultipartUploads => "ListMultipartUploads",
            Endpoint::DeleteObjects => "DeleteObjects",
            Endpoint::PutObject => "PutObject",
            Endpoint::CopyObject => "CopyObject",
            Endpoint::GetObject => "GetObject",
            Endpoint::HeadObject => "HeadObject",
            Endpoint::DeleteObject => "DeleteObject",
            Endpoint::GetBucketLifecycleConfiguration => "GetBucketLifecycleConfiguration",
            Endpoint::PutBucketLifecycleConfiguration => "PutBucketLifecycleConfiguration",
            Endpoint::DeleteBucketLifecycle => "DeleteBucketLifecycle",
            Endpoint::GetObjectLockConfiguration => "GetObjectLockConfiguration",
            Endpoint::PutObjectLockConfiguration => "PutObjectLockConfiguration",
            Endpoint::GetObjectRetention => "GetObjectRetention",
            Endpoint::PutObjectRetention => "PutObjectRetention",
            Endpoint::GetObjectLegalHold => "GetObjectLegalHold",
            Endpoint::PutObjectLegalHold => "PutObjectLegalHold",
            Endpoint::GetBucketReplication => "GetBucketReplication",
            Endpoint::PutBucketReplication => "PutBucketReplication",
            Endpoint::DeleteBucketReplication => "DeleteBucketReplication",
            Endpoint::GetObjectTagging => "GetObjectTagging",
            Endpoint::GetObjectAttributes => "GetObjectAttributes",
            Endpoint::PutObjectTagging => "PutObjectTagging",
            Endpoint::DeleteObjectTagging => "DeleteObjectTagging",
            Endpoint::GetObjectAcl => "GetObjectAcl",
            Endpoint::PutObjectAcl => "PutObjectAcl",
            Endpoint::CreateMultipartUpload => "CreateMultipartUpload",
            Endpoint::UploadPart => "UploadPart",
            Endpoint::UploadPartCopy => "UploadPartCopy",
            Endpoint::CompleteMultipartUpload => "CompleteMultipartUpload",
            Endpoint::AbortMultipartUpload => "AbortMultipartUpload",
            Endpoint::ListParts => "ListParts",
            Endpoint::PutBucketPolicy => "PutBucketPolicy",
            Endpoint::GetBucketPolicy => "GetBucketPolicy",
            Endpoint::DeleteBucketPolicy => "DeleteBucketPolicy",
            Endpoint::GetBucketPolicyStatus => "GetBucketPolicyStatus",
            Endpoint::GetBucketQuota => "GetBucketQuota",
            Endpoint::PutBucketEncryption => "PutBucketEncryption",
            Endpoint::GetBucketEncryption => "GetBucketEncryption",
            Endpoint::DeleteBucketEncryption => "DeleteBucketEncryption",
            Endpoint::PutBucketQuota => "PutBucketQuota",
            Endpoint::DeleteBucketQuota => "DeleteBucketQuota",
            Endpoint::PutPublicAccessBlock => "PutPublicAccessBlock",
            Endpoint::GetPublicAccessBlock => "GetPublicAccessBlock",
            Endpoint::DeletePublicAccessBlock => "DeletePublicAccessBlock",
            Endpoint::PutBucketCors => "PutBucketCors",
            Endpoint::GetBucketCors => "GetBucketCors",
            Endpoint::DeleteBucketCors => "DeleteBucketCors",
            Endpoint::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            Endpoint::GetBucketOwnershipControls => "GetBucketOwnershipControls",
            Endpoint::DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            Endpoint::PutBucketTagging => "PutBucketTagging",
            Endpoint::GetBucketTagging => "GetBucketTagging",
            Endpoint::DeleteBucketTagging => "DeleteBucketTagging",
            Endpoint::GetBucketConfig(c) => c.names().0,
            Endpoint::DeleteBucketConfig(c) => c.names().1,
        }
    }
}

/// Bucket sub-resources we do not implement at all (beyond [`BucketConfig`], whose GET and
/// DELETE answer): answered with `NotImplemented`, never mistaken for an object or listing
/// operation.
const UNSUPPORTED_BUCKET: &[&str] = &[
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "session",
    "metadataTable",
    "metadataConfiguration",
    "metadataInventoryTable",
    "metadataJournalTable",
    "abac",
];
const UNSUPPORTED_OBJECT: &[&str] = &["torrent", "restore", "select", "renameObject"];

/// Bucket sub-resources that name an operation only with some methods (`GET ?location`,
/// `POST ?delete`, ...): with any other method they are refused, not taken for CreateBucket,
/// DeleteBucket or a listing.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "acl",
    "lifecycle",
    "versioning",
    "delete",
    "location",
    "uploads",
    "versions",
    "list-type",
];

pub fn parse(
    method: &Method,
    bucket: bool,
    key: bool,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Endpoint, S3Error> {
    use Endpoint as E;
    if !bucket {
        return match *method {
            Method::GET => Ok(E::ListBuckets),
            _ => Err(S3Error::method_not_allowed()),
        };
    }
    if !key {
        if *method == Method::GET && q.has("versioning") {
            return Ok(E::GetBucketVersioning);
        }
        if q.has("object-lock") {
            return match *method {
                Method::GET => Ok(E::GetObjectLockConfiguration),
                Method::PUT => Ok(E::PutObjectLockConfiguration),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("replication") {
            return match *method {
                Method::GET => Ok(E::GetBucketReplication),
                Method::PUT => Ok(E::PutBucketReplication),
                Method::DELETE => Ok(E::DeleteBucketReplication),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("policy") {
            return match *method {
                Method::GET => Ok(E::GetBucketPolicy),
                Method::PUT => Ok(E::PutBucketPolicy),
                Method::DELETE => Ok(E::DeleteBucketPolicy),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("policyStatus") {
            return match *method {
                Method::GET => Ok(E::GetBucketPolicyStatus),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("encryption") {
            return match *method {
                Method::GET => Ok(E::GetBucketEncryption),
                Method::PUT => Ok(E::PutBucketEncryption),
                Method::DELETE => Ok(E::DeleteBucketEncryption),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("quota") {
            return match *method {
                Method::GET => Ok(E::GetBucketQuota),
                Method::PUT => Ok(E::PutBucketQuota),
                Method::DELETE => Ok(E::DeleteBucketQuota),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("ownershipControls") {
            return match *method {
                Method::GET => Ok(E::GetBucketOwnershipControls),
                Method::PUT => Ok(E::PutBucketOwnershipControls),
                Method::DELETE => Ok(E::DeleteBucketOwnershipControls),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("cors") {
            return match *method {
                Method::GET => Ok(E::GetBucketCors),
                Method::PUT => Ok(E::PutBucketCors),
                Method::DELETE => Ok(E::DeleteBucketCors),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("tagging") {
            return match *method {
                Method::GET => Ok(E::GetBucketTagging),
                Method::PUT => Ok(E::PutBucketTagging),
                Method::DELETE => Ok(E::DeleteBucketTagging),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if q.has("publicAccessBlock") {
            return match *method {
                Method::GET => Ok(E::GetPublicAccessBlock),
                Method::PUT => Ok(E::PutPublicAccessBlock),
                Method::DELETE => Ok(E::DeletePublicAccessBlock),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if let Some((config, sub)) = BucketConfig::ALL.iter().find(|(_, s)| q.has(s)) {
            return match *method {
                Method::GET => Ok(E::GetBucketConfig(*config)),
                Method::DELETE if config.deletable() => Ok(E::DeleteBucketConfig(*config)),
                Method::PUT => Err(S3Error::not_implemented(&format!(
                    "setting the ?{sub} bucket sub-resource"
                ))),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if let Some(sub) = UNSUPPORTED_BUCKET.iter().find(|s| q.has(s)) {
            return Err(S3Error::not_implemented(&format!(
                "the ?{sub} bucket sub-resource"
            )));
        }
        return match *method {
            Method::PUT if q.has("acl") => Ok(E::PutBucketAcl),
            Method::PUT if q.has("lifecycle") => Ok(E::PutBucketLifecycleConfiguration),
            Method::GET if q.has("lifecycle") => Ok(E::GetBucketLifecycleConfiguration),
            Method::DELETE if q.has("lifecycle") => Ok(E::DeleteBucketLifecycle),
            Method::PUT if q.has("versioning") => Ok(E::PutBucketVersioning),
            Method::POST if q.has("delete") => Ok(E::DeleteObjects),
            Method::GET if q.has("location") => Ok(E::GetBucketLocation),
            Method::GET if q.has("acl") => Ok(E::GetBucketAcl),
            Method::GET if q.has("uploads") => Ok(E::ListMultipartUploads),
            Method::GET if q.has("versions") => Ok(E::ListObjectVersions),
            Method::GET if q.get("list-type") == Some("2") => Ok(E::ListObjectsV2),
            Method::GET if q.get("list-type").is_some() => Err(S3Error::invalid_argument(
                "Invalid list type: list-type must be 2",
            )),
            _ if BUCKET_SUBRESOURCES.iter().any(|s| q.has(s)) => Err(S3Error::method_not_allowed()),
            Method::PUT => Ok(E::CreateBucket),
            Method::DELETE => Ok(E::DeleteBucket),
            Method::HEAD => Ok(E::HeadBucket),
            Method::GET => Ok(E::ListObjects),
            _ => Err(S3Error::method_not_allowed()),
        };
    }
    if let Some(sub) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
        return Err(S3Error::not_implemented(&format!(
            "the ?{sub} object sub-resource"
        )));
    }
    // `versionId` is read by the handlers (the store decides whether the version exists); an
    // empty one is never a version.
    if q.get("versionId") == Some("") {
        return Err(S3Error::invalid_argument(
            "Version id cannot be the empty string",
        ));
    }
    let copy = headers.contains_key("x-amz-copy-source");
    let ep = match *method {
        _ if q.has("uploads") && *method != Method::POST => Err(S3Error::method_not_allowed()),
        Method::GET if q.has("retention") => Ok(E::GetObjectRetention),
        Method::PUT if q.has("retention") => Ok(E::PutObjectRetention),
        Method::GET if q.has("legal-hold") => Ok(E::GetObjectLegalHold),
        Method::PUT if q.has("legal-hold") => Ok(E::PutObjectLegalHold),
        _ if q.has("retention") || q.has("legal-hold") => Err(S3Error::method_not_allowed()),
        Method::GET if q.has("tagging") => Ok(E::GetObjectTagging),
        Method::GET if q.has("attributes") => Ok(E::GetObjectAttributes),
        Method::PUT if q.has("tagging") => Ok(E::PutObjectTagging),
        Method::DELETE if q.has("tagging") => Ok(E::DeleteObjectTagging),
        Method::GET if q.has("acl") => Ok(E::GetObjectAcl),
        Method::PUT if q.has("acl") => Ok(E::PutObjectAcl),
        _ if q.has("acl") || q.has("attributes") || q.has("tagging") => {
            Err(S3Error::method_not_allowed())
        }
        // GET ?uploadId&partNumber reads one part of an upload (GetPart): not answered with
        // the part list instead.
        Method::GET | Method::HEAD if q.has("uploadId") && q.has("partNumber") => Err(
            S3Error::not_implemented("reading a part of a multipart upload (GetPart)"),
        ),
        Method::GET if q.has("uploadId") => Ok(E::ListParts),
        Method::GET => Ok(E::GetObject),
        Method::HEAD => Ok(E::HeadObject),
        Method::PUT if q.has("partNumber") && q.has("uploadId") => Ok(if copy {
            E::UploadPartCopy
        } else {
            E::UploadPart
        }),
        // A part without its upload, or an upload without a part number: never a whole
        // object written over the key.
        Method::PUT if q.has("partNumber") || q.has("uploadId") => Err(S3Error::invalid_request(
            "UploadPart needs both partNumber and uploadId",
        )),
        Method::PUT if copy => Ok(E::CopyObject),
        Method::PUT => Ok(E::PutObject),
        Method::POST if q.has("uploads") => Ok(E::CreateMultipartUpload),
        Method::POST if q.has("uploadId") => Ok(E::CompleteMultipartUpload),
        Method::DELETE if q.has("uploadId") => Ok(E::AbortMultipartUpload),
        Method::DELETE => Ok(E::DeleteObject),
        _ => Err(S3Error::method_not_allowed()),
    }?;
    // A version is named only to operations that act on one; elsewhere it would be ignored.
    let takes_version = matches!(
        ep,
        E::GetObject
            | E::HeadObject
            | E::DeleteObject
            | E::GetObjectTagging
            | E::GetObjectAttributes
            | E::PutObjectTagging
            | E::DeleteObjectTagging
            | E::GetObjectAcl
            | E::PutObjectAcl
            | E::GetObjectRetention
            | E::PutObjectRetention
            | E::GetObjectLegalHold
            | E::PutObjectLegalHold
    );
    if q.has("versionId") && !takes_version {
        return Err(S3Error::invalid_request(format!(
            "{} does not take a versionId (a copy names its source's in x-amz-copy-source)",
            ep.name()
        )));
    }
    Ok(ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(m: Method, b: bool, k: bool, q: &str) -> Option<Endpoint> {
        parse(&m, b, k, &Query::parse(Some(q)).ok()?, &HeaderMap::new()).ok()
    }

    #[test]
    fn routing_table() {
        use Endpoint as E;
        assert_eq!(ep(Method::GET, false, false, ""), Some(E::ListBuckets));
        assert_eq!(
            ep(Method::GET, true, false, "list-type=2&prefix=a"),
            Some(E::ListObjectsV2)
        );
        assert_eq!(
            ep(Method::GET, true, false, "prefix=a"),
            Some(E::ListObjects)
        );
        assert_eq!(
            ep(Method::GET, true, false, "versions"),
            Some(E::ListObjectVersions)
        );
        assert_eq!(
            ep(Method::POST, true, false, "delete"),
            Some(E::DeleteObjects)
        );
        assert_eq!(
            ep(Method::PUT, true, true, "partNumber=1&uploadId=x"),
            Some(E::UploadPart)
        );
        assert_eq!(
            ep(Method::POST, true, true, "uploads"),
            Some(E::CreateMultipartUpload)
        );
        assert_eq!(
            ep(Method::POST, true, true, "uploadId=x"),
            Some(E::CompleteMultipartUpload)
        );
        assert_eq!(
            ep(Method::GET, true, true, "uploadId=x"),
            Some(E::ListParts)
        );
        assert_eq!(
            ep(Method::GET, true, true, "tagging"),
            Some(E::GetObjectTagging)
        );
        assert_eq!(
            ep(Method::GET, true, false, "policy"),
            Some(E::GetBucketPolicy)
        );
        assert_eq!(
            ep(Method::PUT, true, false, "policy"),
            Some(E::PutBucketPolicy)
        );
        assert_eq!(
            ep(Method::GET, true, false, "policyStatus"),
            Some(E::GetBucketPolicyStatus)
        );
        assert_eq!(
            ep(Method::PUT, true, false, "quota"),
            Some(E::PutBucketQuota)
        );
        assert_eq!(
            ep(Method::DELETE, true, false, "publicAccessBlock"),
            Some(E::DeletePublicAccessBlock)
        );
        assert_eq!(
            ep(Method::DELETE, true, false, "cors"),
            Some(E::DeleteBucketCors)
        );
        assert_eq!(
            ep(Method::PUT, true, false, "tagging"),
            Some(E::PutBucketTagging)
        );
        assert_eq!(ep(Method::PUT, true, false, "website"), None);
        assert_eq!(ep(Method::DELETE, true, false, "object-lock"), None);
        assert_eq!(
            ep(Method::PUT, true, false, "object-lock"),
            Some(E::PutObjectLockConfiguration)
        );
        assert_eq!(
            ep(Method::PUT, true, true, "retention"),
            Some(E::PutObjectRetention)
        );
        assert_eq!(
            ep(Method::GET, true, true, "legal-hold"),
            Some(E::GetObjectLegalHold)
        );
        assert_eq!(ep(Method::GET, true, false, "analytics"), None);
        assert_eq!(ep(Method::PATCH, true, true, ""), None);
        assert_eq!(
            ep(Method::DELETE, true, true, "versionId=null"),
            Some(E::DeleteObject)
        );
        assert_eq!(
            ep(Method::GET, true, true, "versionId=3HL4kqtJlcpXroDTDmJ"),
            Some(E::GetObject)
        );
        assert_eq!(
            ep(Method::PUT, true, false, "versioning"),
            Some(E::PutBucketVersioning)
        );
        // Operations that act on no single version refuse a versionId rather than ignore it.
        for (m, q) in [
            (Method::PUT, "versionId=x"),
            (Method::POST, "uploads&versionId=x"),
            (Method::PUT, "partNumber=1&uploadId=u&versionId=x"),
        ] {
            assert_eq!(ep(m, true, true, q), None, "{q}");
        }
        for q in ["versionId=", "versionId"] {
            assert_eq!(ep(Method::DELETE, true, true, q), None, "{q}");
            assert_eq!(ep(Method::GET, true, true, q), None, "{q}");
        }
    }

    #[test]
    fn a_sub_resource_with_the_wrong_method_is_refused_not_taken_for_another_operation() {
        use Endpoint as E;
        // Never CreateBucket, DeleteBucket, a listing, PutObject or DeleteObject.
        for (m, q) in [
            (Method::PUT, "uploads"),
            (Method::PUT, "location"),
            (Method::PUT, "versions"),
            (Method::PUT, "delete"),
            (Method::PUT, "metadataTable"),
            (Method::PUT, "abac"),
            (Method::DELETE, "versioning"),
            (Method::DELETE, "acl"),
            (Method::DELETE, "uploads"),
            (Method::DELETE, "location"),
            (Method::GET, "delete"),
            (Method::GET, "metadataConfiguration"),
        ] {
            assert_eq!(ep(m.clone(), true, false, q), None, "{m} bucket ?{q}");
        }
        for (m, q) in [
            (Method::PUT, "renameObject"),
            (Method::PUT, "partNumber=1"),
            (Method::PUT, "uploadId=u"),
            (Method::PUT, "uploads"),
            (Method::GET, "uploads"),
            (Method::DELETE, "uploads"),
            (Method::DELETE, "acl"),
            (Method::PUT, "attributes"),
            (Method::DELETE, "attributes"),
            (Method::POST, "tagging"),
        ] {
            assert_eq!(ep(m.clone(), true, true, q), None, "{m} object ?{q}");
        }
        // What these sub-resources do name still works, and unknown parameters (an SDK's
        // `x-id`) are no sub-resource.
        assert_eq!(
            ep(Method::PUT, true, false, "x-id=CreateBucket"),
            Some(E::CreateBucket)
        );
        assert_eq!(
            ep(Method::PUT, true, true, "x-id=PutObject"),
            Some(E::PutObject)
        );
        assert_eq!(ep(Method::DELETE, true, false, ""), Some(E::DeleteBucket));
        assert_eq!(
            ep(Method::GET, true, false, "location"),
            Some(E::GetBucketLocation)
        );
        assert_eq!(
            ep(Method::POST, true, false, "delete"),
            Some(E::DeleteObjects)
        );
        assert_eq!(
            ep(Method::GET, true, true, "partNumber=2"),
            Some(E::GetObject)
        );
    }
}
