//! Request headers that ask for features gatehouse does not have, or on operations that do
//! not take them: server-side encryption headers (`x-amz-server-side-encryption` and SSE-KMS's
//! are taken by the writes that carry them out, SSE-C's where a key is used, `crate::sse`;
//! any other is refused), object lock on operations that do not take
//! it (decision 0039: writes, deletes and CreateBucket do), storage classes other than
//! STANDARD, website redirects. A request carrying one is refused before any handler runs, so
//! a client that asks for protection never gets a 200 that quietly stored its data without it.

use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::request::header_values;

/// SSE-C headers (decision 0044) and the operations that carry them (`crate::sse::customer`
/// judges their values): a write's or read's own, and a copy source's.
const CUSTOMER_HEADERS: &[(&str, &[Endpoint])] = &[
    (
        crate::sse::CUSTOMER,
        &[
            Endpoint::PutObject,
            Endpoint::CopyObject,
            Endpoint::CreateMultipartUpload,
            Endpoint::UploadPart,
            Endpoint::UploadPartCopy,
            // s3transfer (aws CLI, boto3) sends the key here too: checked against the upload's.
            Endpoint::CompleteMultipartUpload,
            // SDKs resuming an upload send it with the part listing: checked likewise.
            Endpoint::ListParts,
            Endpoint::GetObject,
            Endpoint::HeadObject,
            Endpoint::GetObjectAttributes,
        ],
    ),
    (
        crate::sse::SOURCE_CUSTOMER,
        &[Endpoint::CopyObject, Endpoint::UploadPartCopy],
    ),
];

/// Header-name prefixes refused on every operation, with what they ask for.
const REFUSED_PREFIXES: &[(&str, &str)] = &[
    ("x-amz-server-side-encryption", "server-side encryption"),
    (
        "x-amz-copy-source-server-side-encryption",
        "server-side encryption (SSE-C) of the copy source",
    ),
    (
        "x-amz-website-redirect-location",
        "website hosting (redirects)",
    ),
    // MFA delete is not offered (decision 0038): a request carrying an MFA token is not
    // carried out as if it had none.
    ("x-amz-mfa", "MFA delete"),
    // Appends to an object (directory buckets): without it the request would replace the
    // whole object with the appended bytes.
    ("x-amz-write-offset-bytes", "appending to an object"),
];

/// The `x-amz-object-lock-*` headers a write carries out (`handlers::lock::lock_request`).
const LOCK_WRITE_HEADERS: &[&str] = &[
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

/// Object lock headers (decision 0039) and the operations that carry them out; on any other
/// operation they are refused.
const LOCK_HEADERS: &[(&str, &[Endpoint])] = &[
    (
        "x-amz-object-lock-",
        &[
            Endpoint::PutObject,
            Endpoint::CopyObject,
            Endpoint::CreateMultipartUpload,
        ],
    ),
    (
        "x-amz-bypass-governance-retention",
        &[
            Endpoint::DeleteObject,
            Endpoint::DeleteObjects,
            Endpoint::PutObjectRetention,
        ],
    ),
];

/// The operations that take `x-amz-server-side-encryption` (decision 0044; its value is judged
/// by `crate::sse::asked`).
const SSE_TAKERS: &[Endpoint] = &[
    Endpoint::PutObject,
    Endpoint::CopyObject,
    Endpoint::CreateMultipartUpload,
    // The upload's own encryption repeated on a part or the completion (boto3's SSE-KMS
    // helpers send it); another one is refused by the store.
    Endpoint::UploadPart,
    Endpoint::CompleteMultipartUpload,
];

/// Headers whose value gatehouse reads as text and acts on or stores (see [`check`]).
const TEXT_HEADERS: &[&str] = &[
    "content-encoding",
    "content-md5",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-trailer",
    "x-amz-tagging",
    "x-amz-tagging-directive",
    "x-amz-metadata-directive",
    "x-amz-decoded-content-length",
    "x-amz-bypass-governance-retention",
    "x-amz-checksum-algorithm",
    "x-amz-checksum-type",
    "x-amz-mp-object-size",
];
/// Headers stored with an object and given back as sent: UTF-8 is kept (`object_meta`).
const STORED_HEADERS: &[&str] = &[
    "content-type",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];
const TEXT_PREFIXES: &[&str] = &["x-amz-checksum-", "x-amz-object-lock-", "x-amz-copy-source"];

/// The one storage class there is; `x-amz-storage-class: STANDARD` is accepted.
const STANDARD: &str = "STANDARD";

/// The storage classes of the S3 API (PutObject's `x-amz-storage-class`): the others are not
/// implemented (501); a name outside this list is no storage class (400 InvalidStorageClass).
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
    "FSX_ONTAP",
];

/// `Err` when the request asks for something [`REFUSED_PREFIXES`] names, a storage class other
/// than STANDARD, or (CreateBucket) object lock on the new bucket. The message names the header.
pub fn check(ep: Endpoint, h: &HeaderMap) -> Result<(), S3Error> {
    for (name, value) in h {
        let name = name.as_str();
        // A value that is not text would read as no header at all (`request::header`): an
        // unchecked digest, an unlocked object. Headers only stored and given back may carry
        // UTF-8 (a Content-Disposition filename as Go clients and browsers send it); bytes
        // that are not even that are refused too.
        // Only a value that is not visible ASCII (rare) is looked up in the lists.
        let acted_on =
            || TEXT_HEADERS.contains(&name) || TEXT_PREFIXES.iter().any(|p| name.starts_with(p));
        if value.to_str().is_err()
            && (acted_on()
                || (STORED_HEADERS.contains(&name)
                    && std::str::from_utf8(value.as_bytes()).is_err()))
        {
            return Err(S3Error::new(
                400,
                "InvalidArgument",
                format!(
                    "the value of {name} is not {}",
                    if acted_on() {
                        "ASCII text"
                    } else {
                        "UTF-8 text"
                    }
                ),
            )
            .with("ArgumentName", name.to_string()));
        }
        if let Some((_, takers)) = CUSTOMER_HEADERS.iter().find(|(p, _)| name.starts_with(p)) {
            if takers.contains(&ep) {
                continue;
            }
            return Err(S3Error::new(
                400,
                "InvalidArgument",
                format!("{name} is not taken by {}", ep.name()),
            )
            .with("ArgumentName", name.to_string()));
        }
        if name == crate::sse::HEADER || crate::sse::KMS_HEADERS.contains(&name) {
            if SSE_TAKERS.contains(&ep) {
                continue;
            }
            return Err(S3Error::new(
                400,
                "InvalidArgument",
                format!(
                    "{name} is not taken by {}: an object's encryption is given when it is written (PutObject, CopyObject, CreateMultipartUpload, and a part or completion repeating its upload's)",
                    ep.name()
                ),
            )
            .with("ArgumentName", name.to_string()));
        }
        if let Some((_, what)) = REFUSED_PREFIXES.iter().find(|(p, _)| name.starts_with(p)) {
            return Err(refused(name, what));
        }
        if let Some((_, takers)) = LOCK_HEADERS.iter().find(|(p, _)| name.starts_with(p))
            && !takers.contains(&ep)
        {
            return Err(refused(name, &format!("object lock on {}", ep.name())));
        }
        // The object lock headers a write carries out; any other (an event hold, S3's newer
        // lock feature) asks for what is not done here.
        if name.starts_with("x-amz-object-lock-") && !LOCK_WRITE_HEADERS.contains(&name) {
            return Err(refused(name, "object lock event holds"));
        }
    }
    if let Some(class) = header_values(h, "x-amz-storage-class").find(|c| c.trim() != STANDARD) {
        if !STORAGE_CLASSES.contains(&class.trim()) {
            return Err(S3Error::new(
                400,
                "InvalidStorageClass",
                "The storage class you specified is not valid",
            )
            .with("StorageClassRequested", class.trim().to_string()));
        }
        return Err(S3Error::new(
            501,
            "NotImplemented",
            format!(
                "x-amz-storage-class: {} is not implemented; the only storage class is STANDARD",
                class.trim()
            ),
        )
        .with("Header", "x-amz-storage-class"));
    }
    if ep != Endpoint::CreateBucket && h.contains_key("x-amz-bucket-object-lock-enabled") {
        return Err(refused(
            "x-amz-bucket-object-lock-enabled",
            &format!("object lock on {}", ep.name()),
        ));
    }
    Ok(())
}

fn refused(name: &str, what: &str) -> S3Error {
    S3Error::new(
        501,
        "NotImplemented",
        format!("{name}: {what} is not implemented; the request was not carried out"),
    )
    .with("Header", name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ep: Endpoint, pairs: &[(&str, &str)]) -> Result<(), S3Error> {
        let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        check(ep, &crate::request::header_map(&pairs))
    }

    #[test]
    fn a_header_acted_on_that_is_not_text_is_refused_not_taken_for_absent() {
        use Endpoint as E;
        for (name, value) in [
            ("content-encoding", "gz\u{e9}p"),
            ("content-md5", "\u{e9}"),
            ("x-amz-checksum-sha256", "\u{e9}"),
            ("x-amz-object-lock-mode", "GOVERN\u{c4}NCE"),
        ] {
            let e = run(E::PutObject, &[(name, value)]).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "InvalidArgument"),
                "{name}"
            );
        }
        // Headers it does not act on may carry what they like; stored ones UTF-8, kept as
        // sent, but not bytes that are not text at all.
        assert!(run(E::PutObject, &[("user-agent", "caf\u{e9}")]).is_ok());
        assert!(
            run(
                E::PutObject,
                &[("content-disposition", "attachment; filename=\u{e9}")]
            )
            .is_ok()
        );
        let latin1 =
            crate::request::header_map(&[("content-disposition", b"filename=\xe9".as_slice())]);
        let e = check(E::PutObject, &latin1).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "InvalidArgument"));
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        use Endpoint as E;
        for (ep, name, value) in [
            (E::PutObject, "x-amz-server-side-encryption-other", "k"),
            (E::UploadPart, "x-amz-object-lock-mode", "GOVERNANCE"),
            (
                E::CompleteMultipartUpload,
                "x-amz-object-lock-legal-hold",
                "ON",
            ),
            (E::GetObject, "x-amz-bypass-governance-retention", "true"),
            (E::PutObject, "x-amz-storage-class", "GLACIER"),
            (E::PutObject, "x-amz-website-redirect-location", "/other"),
            (E::PutObject, "x-amz-write-offset-bytes", "5"),
            (E::PutObject, "x-amz-bucket-object-lock-enabled", "true"),
            (E::DeleteObject, "x-amz-mfa", "arn:aws:iam::1:mfa/u 123456"),
        ] {
            let e = run(ep, &[(name, value)]).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (501, "NotImplemented"),
                "{name}"
            );
            assert!(e.message.starts_with(name), "{}", e.message);
        }
        // SSE-S3 and SSE-KMS are given where an object is written (a part may repeat its
        // upload's, which the store checks), and refused elsewhere.
        for name in [
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-aws-kms-key-id",
            "x-amz-server-side-encryption-context",
            "x-amz-server-side-encryption-bucket-key-enabled",
        ] {
            for ep in [
                E::PutObject,
                E::CopyObject,
                E::CreateMultipartUpload,
                E::UploadPart,
                E::CompleteMultipartUpload,
            ] {
                assert!(run(ep, &[(name, "x")]).is_ok(), "{name} on {ep:?}");
            }
            for ep in [E::GetObject, E::UploadPartCopy] {
                let e = run(ep, &[(name, "x")]).unwrap_err();
                assert_eq!(
                    (e.status.as_u16(), e.code),
                    (400, "InvalidArgument"),
                    "{name}"
                );
            }
        }
        // SSE-C headers where a key is used (their values are judged by `crate::sse`).
        for (ep, name) in [
            (E::PutObject, "x-amz-server-side-encryption-customer-key"),
            (
                E::GetObject,
                "x-amz-server-side-encryption-customer-algorithm",
            ),
            (
                E::UploadPartCopy,
                "x-amz-copy-source-server-side-encryption-customer-key",
            ),
        ] {
            assert!(run(ep, &[(name, "x")]).is_ok(), "{name} on {ep:?}");
        }
        for (ep, name) in [
            (E::DeleteObject, "x-amz-server-side-encryption-customer-key"),
            (
                E::PutObject,
                "x-amz-copy-source-server-side-encryption-customer-key",
            ),
        ] {
            let e = run(ep, &[(name, "x")]).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "InvalidArgument"),
                "{name}"
            );
        }
        for ok in [("x-amz-storage-class", "STANDARD"), ("x-amz-meta-a", "1")] {
            assert!(run(E::CreateBucket, &[ok]).is_ok(), "{ok:?}");
            assert!(run(E::PutObject, &[ok]).is_ok(), "{ok:?}");
        }
        // The operations that carry object lock out take its headers (decision 0039).
        for (ep, name) in [
            (E::CreateBucket, "x-amz-bucket-object-lock-enabled"),
            (E::PutObject, "x-amz-object-lock-mode"),
            (E::CopyObject, "x-amz-object-lock-retain-until-date"),
            (E::CreateMultipartUpload, "x-amz-object-lock-legal-hold"),
            (E::DeleteObject, "x-amz-bypass-governance-retention"),
            (E::DeleteObjects, "x-amz-bypass-governance-retention"),
        ] {
            assert!(run(ep, &[(name, "x")]).is_ok(), "{name} on {ep:?}");
        }
    }

    #[test]
    fn every_value_of_a_repeated_or_garbled_header_is_judged() {
        use crate::request::header_map;
        for (pairs, code) in [
            (
                vec![
                    ("x-amz-storage-class", &b"STANDARD"[..]),
                    ("x-amz-storage-class", b"GLACIER"),
                ],
                "NotImplemented",
            ),
            // Garbled, it names no storage class at all.
            (
                vec![("x-amz-storage-class", &b"GLACIER\xff"[..])],
                "InvalidStorageClass",
            ),
        ] {
            let e = check(Endpoint::CreateBucket, &header_map(&pairs)).unwrap_err();
            assert_eq!(e.code, code, "{pairs:?}");
        }
    }
}
