//! Request headers that ask for features gatehouse does not have: server-side encryption
//! (SSE-S3, SSE-KMS, SSE-C, also on a copy source), object lock, storage classes other than
//! STANDARD, website redirects, expected-bucket-owner checks. A request carrying one is refused before any handler runs, so
//! a client that asks for protection never gets a 200 that quietly stored its data without it.

use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::request::header_values;

/// Header-name prefixes refused on every operation, with what they ask for.
const REFUSED_PREFIXES: &[(&str, &str)] = &[
    ("x-amz-server-side-encryption", "server-side encryption"),
    (
        "x-amz-copy-source-server-side-encryption",
        "server-side encryption (SSE-C) of the copy source",
    ),
    ("x-amz-object-lock-", "object lock"),
    ("x-amz-bypass-governance-retention", "object lock"),
    (
        "x-amz-website-redirect-location",
        "website hosting (redirects)",
    ),
    // AWS answers 403 when the bucket's owning account differs; there are no accounts here,
    // so the check could not be made: refused rather than passed unchecked.
    (
        "x-amz-expected-bucket-owner",
        "bucket-owner checks (AWS accounts)",
    ),
    (
        "x-amz-source-expected-bucket-owner",
        "bucket-owner checks (AWS accounts)",
    ),
];

/// The one storage class there is; `x-amz-storage-class: STANDARD` is accepted.
const STANDARD: &str = "STANDARD";

/// `Err` when the request asks for something [`REFUSED_PREFIXES`] names, a storage class other
/// than STANDARD, or (CreateBucket) object lock on the new bucket. The message names the header.
pub fn check(ep: Endpoint, h: &HeaderMap) -> Result<(), S3Error> {
    for name in h.keys().map(http::HeaderName::as_str) {
        if let Some((_, what)) = REFUSED_PREFIXES.iter().find(|(p, _)| name.starts_with(p)) {
            return Err(refused(name, what));
        }
    }
    if let Some(class) = header_values(h, "x-amz-storage-class").find(|c| c.trim() != STANDARD) {
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
    if ep == Endpoint::CreateBucket
        && header_values(h, "x-amz-bucket-object-lock-enabled")
            .any(|v| !v.trim().eq_ignore_ascii_case("false"))
    {
        return Err(refused("x-amz-bucket-object-lock-enabled", "object lock"));
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
    fn refuses_what_it_cannot_keep() {
        use Endpoint as E;
        for (ep, name, value) in [
            (E::PutObject, "x-amz-server-side-encryption", "AES256"),
            (
                E::PutObject,
                "x-amz-server-side-encryption-customer-key",
                "a2V5",
            ),
            (
                E::GetObject,
                "x-amz-server-side-encryption-customer-algorithm",
                "AES256",
            ),
            (
                E::UploadPartCopy,
                "x-amz-copy-source-server-side-encryption-customer-key",
                "a2V5",
            ),
            (E::CopyObject, "x-amz-object-lock-mode", "GOVERNANCE"),
            (E::GetObject, "x-amz-expected-bucket-owner", "111122223333"),
            (
                E::CopyObject,
                "x-amz-source-expected-bucket-owner",
                "111122223333",
            ),
            (
                E::CreateMultipartUpload,
                "x-amz-object-lock-legal-hold",
                "ON",
            ),
            (E::DeleteObject, "x-amz-bypass-governance-retention", "true"),
            (E::PutObject, "x-amz-storage-class", "GLACIER"),
            (E::PutObject, "x-amz-website-redirect-location", "/other"),
            (E::CreateBucket, "x-amz-bucket-object-lock-enabled", "true"),
        ] {
            let e = run(ep, &[(name, value)]).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (501, "NotImplemented"),
                "{name}"
            );
            assert!(e.message.starts_with(name), "{}", e.message);
        }
        for ok in [
            ("x-amz-storage-class", "STANDARD"),
            ("x-amz-bucket-object-lock-enabled", "false"),
            ("x-amz-meta-a", "1"),
        ] {
            assert!(run(E::CreateBucket, &[ok]).is_ok(), "{ok:?}");
            assert!(run(E::PutObject, &[ok]).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn every_value_of_a_repeated_or_garbled_header_is_judged() {
        use crate::request::header_map;
        for pairs in [
            vec![
                ("x-amz-storage-class", &b"STANDARD"[..]),
                ("x-amz-storage-class", b"GLACIER"),
            ],
            vec![("x-amz-storage-class", &b"GLACIER\xff"[..])],
            vec![
                ("x-amz-bucket-object-lock-enabled", &b"false"[..]),
                ("x-amz-bucket-object-lock-enabled", b"true"),
            ],
        ] {
            let e = check(Endpoint::CreateBucket, &header_map(&pairs)).unwrap_err();
            assert_eq!(e.code, "NotImplemented", "{pairs:?}");
        }
    }
}
