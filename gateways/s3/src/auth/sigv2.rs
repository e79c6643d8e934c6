//! AWS Signature Version 2 (legacy), which boto3 and the aws CLI v1 still use by default for
//! presigned URLs against custom endpoints (`?AWSAccessKeyId=…&Signature=…&Expires=…`), and
//! `Authorization: AWS AK:sig` headers from old clients.
//!
//! StringToSign = Verb \n Content-MD5 \n Content-Type \n (Expires | Date) \n
//!                CanonicalizedAmzHeaders CanonicalizedResource
//! Signature = base64(HMAC-SHA1(secret, StringToSign)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;

use super::sigv4::{AuthError, Authenticated, MAX_EXPIRES, PayloadMode, RequestParts};

/// Sub-resources that are part of the canonical resource: S3's list, as botocore's SigV2
/// signer (`HmacV1Auth.QSAOfInterest`) includes them.
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// minio-go v7's list (`resourceList` of its SigV2 signer, which `mc` uses in S3v2 mode).
const MINIO_SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "encryption",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "retention",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `Some(result)` when the request uses SigV2, `None` otherwise.
pub fn try_authenticate(
    req: &RequestParts<'_>,
    bucket_from_host: Option<&str>,
    now: SystemTime,
    lookup_secret: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<Authenticated, AuthError>> {
    let query: Vec<(String, String)> = req
        .raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect();
    let q = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let header_v2 = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AWS "));
    let (ak, sig, exp) = (q("AWSAccessKeyId"), q("Signature"), q("Expires"));
    // A SigV2 signature beside SigV4 query parameters: one mechanism only, as S3 says (SigV2
    // does not sign the query, so SigV4's parameters must never ride along under it).
    let v4_query = q("X-Amz-Algorithm").is_some() || q("X-Amz-Signature").is_some();
    let v2_asked = ak.is_some() || sig.is_some() || header_v2.is_some();
    if v4_query && v2_asked {
        return Some(Err(AuthError::InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".into(),
        )));
    }
    // Part of a SigV2 query signature is no unsigned request: S3 refuses it.
    if (ak.is_some() || sig.is_some()) && !(ak.is_some() && sig.is_some() && exp.is_some()) {
        return Some(Err(AuthError::IncompleteQueryAuth));
    }
    if let (Some(ak), Some(sig), Some(exp)) = (ak, sig, exp) {
        return Some((|| {
            let exp: u64 = exp.parse().map_err(|_| {
                AuthError::AuthorizationQueryParametersError("Expires must be a number".into())
            })?;
            let now_s = now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if now_s > exp {
                return Err(AuthError::Expired);
            }
            // Like SigV4's X-Amz-Expires: a presigned URL lives at most 7 days.
            if exp - now_s > MAX_EXPIRES {
                return Err(AuthError::AuthorizationQueryParametersError(
                    "Expires must be at most 604800 seconds (7 days) after the current time".into(),
                ));
            }
            verify(
                req,
                bucket_from_host,
                &query,
                ak,
                sig,
                &exp.to_string(),
                lookup_secret,
            )
        })());
    }
    let rest = header_v2?;
    Some((|| {
        let (ak, sig) = rest.trim().rsplit_once(':').ok_or_else(|| {
            AuthError::AuthorizationHeaderMalformed("expected AWS AccessKey:Signature".into())
        })?;
        let date = if req.headers.contains_key("x-amz-date") {
            ""
        } else {
            req.headers
                .get("date")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let when = req
            .headers
            .get("x-amz-date")
            .or_else(|| req.headers.get("date"))
            .and_then(|v| v.to_str().ok())
            .and_then(super::sigv4::parse_date_header)
            .ok_or_else(|| {
                AuthError::AuthorizationHeaderMalformed(
                    "a Date or x-amz-date header is required".into(),
                )
            })?;
        let skew = now
            .duration_since(when)
            .or_else(|_| when.duration_since(now))
            .unwrap_or_default();
        if skew > MAX_SKEW {
            return Err(AuthError::RequestTimeTooSkewed);
        }
        verify(req, bucket_from_host, &query, ak, sig, date, lookup_secret)
    })())
}

fn verify(
    req: &RequestParts<'_>,
    bucket_from_host: Option<&str>,
    query: &[(String, String)],
    ak: &str,
    sig: &str,
    date_or_expires: &str,
    lookup_secret: &dyn Fn(&str) -> Option<String>,
) -> Result<Authenticated, AuthError> {
    let secret = lookup_secret(ak).ok_or(AuthError::InvalidAccessKeyId)?;
    let h = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
    };
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let n = name.as_str();
        if n.starts_with("x-amz-") {
            let v = value.to_str().unwrap_or("").trim().to_string();
            match amz.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                None => amz.push((n.to_string(), v)),
            }
        }
    }
    amz.sort();
    let mut head = format!(
        "{}\n{}\n{}\n{}\n",
        req.method,
        h("content-md5"),
        h("content-type"),
        date_or_expires
    );
    for (k, v) in &amz {
        head.push_str(&format!("{k}:{v}\n"));
    }
    // A path-style request for a bucket itself (`/bucket`, no key) is also taken signed as
    // `/bucket/`, the resource botocore's SigV2 signer uses for it (and the one a virtual-host
    // request for the bucket has): the same bucket either way.
    let bare_bucket = bucket_from_host.is_none()
        && req
            .raw_path
            .strip_prefix('/')
            .is_some_and(|b| !b.is_empty() && !b.contains('/'));
    // The string to sign with the canonical resource as a client builds it: its sub-resource
    // list, and the bucket's trailing slash or not.
    let string_to_sign = |subresources: &[&str], slash: bool| {
        let mut sts = head.clone();
        if let Some(b) = bucket_from_host {
            sts.push('/');
            sts.push_str(b);
        }
        sts.push_str(if req.raw_path.is_empty() {
            "/"
        } else {
            req.raw_path
        });
        if slash {
            sts.push('/');
        }
        let mut subs: Vec<&(String, String)> = query
            .iter()
            .filter(|(n, _)| subresources.contains(&n.as_str()))
            .collect();
        subs.sort();
        for (i, (n, v)) in subs.iter().enumerate() {
            sts.push(if i == 0 { '?' } else { '&' });
            sts.push_str(n);
            if !v.is_empty() {
                sts.push('=');
                sts.push_str(v);
            }
        }
        sts
    };
    let sign = |sts: &str| -> Result<bool, AuthError> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
            .map_err(|_| AuthError::SignatureDoesNotMatch)?;
        mac.update(sts.as_bytes());
        let want = B64.encode(mac.finalize().into_bytes());
        Ok(want.as_bytes().ct_eq(sig.trim().as_bytes()).into())
    };
    let mut ok = false;
    for list in [SUBRESOURCES, MINIO_SUBRESOURCES] {
        for slash in [false, true] {
            if slash && !bare_bucket {
                continue;
            }
            ok = ok || sign(&string_to_sign(list, slash))?;
        }
        if ok {
            break;
        }
    }
    if ok {
        Ok(Authenticated {
            access_key: ak.to_string(),
            payload: PayloadMode::Unsigned,
            presigned: false,
        })
    } else {
        Err(AuthError::SignatureDoesNotMatch)
    }
}
