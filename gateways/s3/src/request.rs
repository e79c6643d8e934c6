//! The parsed request: addressing (path-style or virtual-host), query, headers, principal.

use http::HeaderMap;

use crate::error::S3Error;
use crate::util::{self, Query};

/// Splits the request into bucket and key. Virtual-host style when the Host header is
/// `<bucket>.<domain>` for a configured domain; path style otherwise. The bucket is returned as
/// the client named it (`fs--team` stays `fs--team`): [`canonical`] gives the stored name, and
/// answers that name the bucket echo the client's spelling ([`Ctx::named_bucket`]).
pub fn address(
    headers: &HeaderMap,
    raw_path: &str,
    domains: &[String],
) -> Result<(Option<String>, Option<String>), S3Error> {
    let vhost_bucket = vhost_bucket(headers, domains);
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if let Some(b) = vhost_bucket {
        let key = (!path.is_empty())
            .then(|| util::decode(path, false))
            .transpose()?;
        return Ok((Some(b), key));
    }
    if path.is_empty() {
        return Ok((None, None));
    }
    let (b, k) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    let bucket = util::decode(b, false)?;
    let key = k.map(|k| util::decode(k, false)).transpose()?;
    Ok((Some(bucket), key))
}

/// A share bucket's alias (`fs--<share>`, for clients that reject `+`) names `fs+<share>`.
/// Every place a bucket name arrives (path, Host, `x-amz-copy-source`) goes through this.
pub(crate) fn canonical(bucket: String) -> String {
    match gatehouse_store::naming::canonical_bucket(&bucket) {
        std::borrow::Cow::Borrowed(_) => bucket,
        std::borrow::Cow::Owned(c) => c,
    }
}

/// The name S3 answers carry for a bucket (ListBuckets): a share bucket `fs+<share>` as its
/// alias `fs--<share>`, which bucket-name checks of botocore (aws CLI, boto3) and other SDKs
/// accept, so a listed name works in the client's next call; other buckets as themselves.
pub(crate) fn listed_name(bucket: &str) -> String {
    match bucket.strip_prefix(gatehouse_store::naming::SHARE_PREFIX) {
        Some(share) => gatehouse_store::naming::share_alias(share),
        None => bucket.to_string(),
    }
}

/// The bucket named by a virtual-host-style Host header (`<bucket>.<domain>[:port]`).
pub fn vhost_bucket(headers: &HeaderMap, domains: &[String]) -> Option<String> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    domains.iter().find_map(|d| {
        host.strip_suffix(d.as_str())
            .and_then(|b| b.strip_suffix('.'))
            .filter(|b| !b.is_empty())
            .map(str::to_string)
    })
}

/// Header value as text, if present and valid.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Every value of header `name`, a repeated header's too, each as text: bytes outside visible
/// ASCII become U+FFFD, so a value that is not plain text is judged (and refused, or matches
/// nothing) instead of passing for an absent header as it does through [`header`]. For headers
/// that ask for something: a check must see every value a handler or a client might act on.
pub fn header_values<'a>(
    h: &'a HeaderMap,
    name: &str,
) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + use<'a> {
    h.get_all(name.to_string())
        .into_iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

/// A list-valued header (`If-Match`, `If-None-Match`, their `x-amz-copy-source-` forms): its
/// field lines joined with `, `, as RFC 9110 §5.3 combines them; values as in
/// [`header_values`]. `None` when absent.
pub fn header_list(h: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<_> = header_values(h, name).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The `Content-Encoding` an object keeps: the header as sent, minus its `aws-chunked` token
/// (transfer framing, which S3 strips); `None` when nothing else is left. The other tokens and
/// their spacing stay verbatim (`aws-chunked, gzip` → `gzip`; `gzip, br` stays `gzip, br`).
pub fn stored_content_encoding(h: &HeaderMap) -> Option<String> {
    let raw = header(h, "content-encoding")?;
    let kept: Vec<&str> = raw
        .split(',')
        .filter(|t| !t.trim().eq_ignore_ascii_case("aws-chunked"))
        .collect();
    let joined = kept.join(",");
    let joined = joined.trim();
    (!joined.is_empty()).then(|| joined.to_string())
}

pub struct Ctx {
    pub principal: gatehouse_store::Principal,
    /// The bucket's stored name (`fs+team` for a share addressed as `fs--team`).
    pub bucket: Option<String>,
    /// The bucket as the client addressed it, for answers that name it.
    pub named: Option<String>,
    pub key: Option<String>,
    pub query: Query,
    pub headers: HeaderMap,
}

impl Ctx {
    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or("")
    }
    /// The bucket as the client addressed it: what ListObjects `<Name>`, multipart `<Bucket>`,
    /// CreateBucket `Location` and the like carry, so a client gets back the name it used
    /// (`fs--team`, not `fs+team`, which botocore would refuse in its next call).
    pub fn named_bucket(&self) -> &str {
        self.named.as_deref().unwrap_or_else(|| self.bucket())
    }
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Test headers from `(name, value)` pairs; a name given twice is sent twice. Values are raw
/// bytes, so a test can send what is not text.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            http::HeaderValue::from_bytes(v).expect("value"),
        );
    }
    h
}

/// Query parameters of a SigV4 presigned URL that sign the request itself, not headers.
const QUERY_SIGNING: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// A SigV4 presigned request's `x-amz-*` query parameters are request headers, as S3 reads
/// them: presigners move headers there (the JavaScript SDK v3 moves every `x-amz-*` header it
/// may, `x-amz-meta-*`, `x-amz-tagging`, `x-amz-acl`, `x-amz-object-lock-*`,
/// `x-amz-copy-source` …), and the signature covers them. Copied into `headers` once the
/// signature has matched and before routing and every check, so a presigned upload keeps its
/// metadata, tags, ACL and retention and a refused header is refused, never dropped. Left out:
/// the signing parameters, and the checksum parameters, which S3 does not read from a query
/// (that SDK signs the CRC32 of an empty body into every presigned PutObject). The same name
/// also sent as a header with another value is refused (400 InvalidArgument).
/// Only for a request whose SigV4 query signature matched (`Authenticated::presigned`).
pub fn presigned_headers(query: &Query, headers: &mut HeaderMap) -> Result<(), S3Error> {
    for (name, value) in &query.0 {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-amz-")
            || QUERY_SIGNING.contains(&lower.as_str())
            || lower.starts_with("x-amz-checksum-")
            || lower == "x-amz-sdk-checksum-algorithm"
        {
            continue;
        }
        let bad = || {
            S3Error::invalid_argument(format!(
                "the query parameter {name} is not a header S3 could take"
            ))
            .with("ArgumentName", name.clone())
        };
        let n = http::HeaderName::from_bytes(lower.as_bytes()).map_err(|_| bad())?;
        let v = http::HeaderValue::from_str(value).map_err(|_| bad())?;
        match headers.get(&n) {
            Some(sent) if *sent != v => {
                return Err(S3Error::invalid_argument(format!(
                    "{name} is given both as a header and as a query parameter, with different values"
                ))
                .with("ArgumentName", name.clone()));
            }
            Some(_) => {}
            None => {
                headers.insert(n, v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, host.parse().expect("host"));
        h
    }

    #[test]
    fn path_and_vhost() {
        let d = vec!["localhost".to_string()];
        let a = address(&hm("127.0.0.1:9000"), "/b1/a%20b/c", &d).expect("ok");
        assert_eq!(a, (Some("b1".into()), Some("a b/c".into())));
        let a = address(&hm("b1.localhost:9000"), "/x/y", &d).expect("ok");
        assert_eq!(a, (Some("b1".into()), Some("x/y".into())));
        let a = address(&hm("localhost:9000"), "/", &d).expect("ok");
        assert_eq!(a, (None, None));
        let a = address(&hm("localhost"), "/fs%2Bteam/", &d).expect("ok");
        assert_eq!(a, (Some("fs+team".into()), None));
        let a = address(&hm("localhost"), "/fs--team/a/b.txt", &d).expect("ok");
        assert_eq!(a, (Some("fs--team".into()), Some("a/b.txt".into())));
        assert_eq!(canonical("fs--team".into()), "fs+team");
        let a = address(&hm("fs--team.localhost"), "/k", &d).expect("ok");
        assert_eq!(a, (Some("fs--team".into()), Some("k".into())));
    }

    #[test]
    fn content_encoding_kept_verbatim_minus_aws_chunked() {
        let enc = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_ENCODING, v.parse().expect("value"));
            stored_content_encoding(&h)
        };
        assert_eq!(enc("aws-chunked,gzip").as_deref(), Some("gzip"));
        assert_eq!(enc("gzip, aws-chunked").as_deref(), Some("gzip"));
        assert_eq!(enc("gzip, deflate").as_deref(), Some("gzip, deflate"));
        assert_eq!(enc("gzip, AWS-Chunked, br").as_deref(), Some("gzip, br"));
        assert_eq!(enc("aws-chunked"), None);
        assert_eq!(enc("  "), None);
        assert_eq!(stored_content_encoding(&HeaderMap::new()), None);
    }
}
