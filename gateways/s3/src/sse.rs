//! Server-side encryption on the wire (issue 23, decision 0044): the
//! `x-amz-server-side-encryption` a write asks for, the same header on answers, and the
//! bucket's default encryption document (Put/Get/DeleteBucketEncryption).
//!
//! SSE-S3 (`AES256`), SSE-KMS (`aws:kms` with the key service's keys, decision 0046) and SSE-C
//! are carried out; dual-layer SSE-KMS (`aws:kms:dsse`) is refused as not implemented, never
//! accepted and ignored.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::sse::{BucketEncryption, SseMode};
use http::{HeaderMap, StatusCode};

use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::handlers::{empty, xml_body, xml_ok};
use crate::request::{Ctx, header_values};
use crate::xml::XmlWriter;

pub const HEADER: &str = "x-amz-server-side-encryption";
/// SSE-KMS: the key (id, ARN, `alias/<name>`, alias ARN).
pub const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
/// SSE-KMS: the encryption context (base64 of a JSON object of strings).
pub const KMS_CONTEXT: &str = "x-amz-server-side-encryption-context";
/// SSE-KMS: S3 Bucket Keys.
pub const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
/// The SSE-KMS headers beside [`HEADER`]: taken by the writes that take it.
pub const KMS_HEADERS: &[&str] = &[KMS_KEY_ID, KMS_CONTEXT, BUCKET_KEY];

/// What an algorithm name asks for; SSE-KMS's key is filled in by the caller.
fn algorithm(value: &str) -> Result<Option<SseMode>, S3Error> {
    match value {
        "AES256" => Ok(Some(SseMode::S3)),
        "aws:kms" => Ok(None),
        "aws:kms:dsse" => Err(S3Error::new(
            501,
            "NotImplemented",
            format!(
                "{value}: dual-layer SSE-KMS is not implemented; aws:kms and AES256 are; the request was not carried out"
            ),
        )),
        _ => Err(S3Error::new(
            400,
            "InvalidArgument",
            "The encryption method specified is not supported",
        )),
    }
}

/// One header's value, at most once.
fn single(h: &HeaderMap, name: &str) -> Result<Option<String>, S3Error> {
    let values: Vec<String> = header_values(h, name)
        .map(|v| v.trim().to_string())
        .collect();
    match values.as_slice() {
        [] => Ok(None),
        [v] => Ok(Some(v.clone())),
        _ => Err(
            S3Error::invalid_argument(format!("{name} was given more than once"))
                .with("ArgumentName", name),
        ),
    }
}

/// The key service's key a request or document names (`KMS.NotFoundException` when none).
fn kms_key(s: &Store, name: &str) -> Result<u64, S3Error> {
    match s.kms().find(name) {
        Some(k) => Ok(k.num),
        None => Err(S3Error::new(
            400,
            "KMS.NotFoundException",
            format!(
                "Invalid keyId {}",
                name.chars().take(256).collect::<String>()
            ),
        )),
    }
}

/// An encryption context as S3 takes it: base64 of a JSON object whose values are strings.
fn context(value: &str) -> Result<std::collections::BTreeMap<String, String>, S3Error> {
    use base64::Engine as _;
    let bad = || {
        S3Error::invalid_argument(
            "The encryption context is not valid: base64 of a JSON object of string values",
        )
        .with("ArgumentName", KMS_CONTEXT)
    };
    if value.len() > 8192 {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
}

/// The encryption a write asks for (`None`: the bucket's default). `aws:kms` without a key
/// id asks for the bucket's default key ([`gatehouse_store::kms::BUCKET_DEFAULT_KEY`]).
pub fn asked(s: &Store, h: &HeaderMap) -> Result<Option<SseMode>, S3Error> {
    let alg = single(h, HEADER)?;
    let key_id = single(h, KMS_KEY_ID)?;
    let ctx = single(h, KMS_CONTEXT)?;
    let bucket_key = match single(h, BUCKET_KEY)?
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(
                S3Error::invalid_argument(format!("{BUCKET_KEY} is true or false"))
                    .with("ArgumentName", BUCKET_KEY),
            );
        }
    };
    let Some(alg) = alg else {
        if key_id.is_some() || ctx.is_some() || bucket_key.is_some() {
            return Err(S3Error::invalid_argument(format!(
                "Server Side Encryption with AWS KMS managed key requires HTTP header {HEADER} : aws:kms"
            ))
            .with("ArgumentName", HEADER));
        }
        return Ok(None);
    };
    match algorithm(&alg).map_err(|e| e.with("ArgumentName", HEADER))? {
        Some(mode) => {
            if key_id.is_some() || ctx.is_some() {
                return Err(S3Error::invalid_argument(format!(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header {HEADER} : aws:kms"
                ))
                .with("ArgumentName", HEADER));
            }
            Ok(Some(mode))
        }
        None => {
            let key = match key_id.as_deref() {
                Some(name) => kms_key(s, name)?,
                None => gatehouse_store::kms::BUCKET_DEFAULT_KEY,
            };
            let context = match ctx.as_deref() {
                Some(c) => SseMode::context_digest(&context(c)?),
                None => [0; 16],
            };
            Ok(Some(SseMode::Kms {
                key,
                bucket_key: bucket_key.unwrap_or(false),
                context,
            }))
        }
    }
}

/// Prefix of the SSE-C headers of a write or read (`-algorithm`, `-key`, `-key-MD5`).
pub const CUSTOMER: &str = "x-amz-server-side-encryption-customer-";
/// Prefix of a copy source's SSE-C headers.
pub const SOURCE_CUSTOMER: &str = "x-amz-copy-source-server-side-encryption-customer-";

/// The customer-provided key (SSE-C) a request brings under `prefix` ([`CUSTOMER`] or
/// [`SOURCE_CUSTOMER`]): all three headers, AES256, a 256-bit key whose MD5 is the one given.
pub fn customer(
    h: &HeaderMap,
    prefix: &str,
) -> Result<Option<std::sync::Arc<gatehouse_store::sse::CustomerKey>>, S3Error> {
    use base64::Engine as _;
    use md5::Digest as _;
    let one = |name: &str| -> Result<Option<String>, S3Error> {
        let full = format!("{prefix}{name}");
        let values: Vec<String> = header_values(h, &full)
            .map(|v| v.trim().to_string())
            .collect();
        match values.as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v.clone())),
            _ => Err(S3Error::invalid_argument(format!(
                "{full} was given more than once"
            ))),
        }
    };
    let (alg, key, md5) = (one("algorithm")?, one("key")?, one("key-md5")?);
    let (alg, key, md5) = match (alg, key, md5) {
        (None, None, None) => return Ok(None),
        (Some(a), Some(k), Some(m)) => (a, k, m),
        _ => {
            return Err(S3Error::invalid_argument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide the algorithm, the key and its MD5",
            ));
        }
    };
    if alg != "AES256" {
        return Err(S3Error::invalid_argument(
            "The requested encryption algorithm is not valid: AES256 is",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64
        .decode(key.as_bytes())
        .ok()
        .map(zeroize::Zeroizing::new)
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            S3Error::invalid_argument("The secret key was invalid for the specified algorithm")
        })?;
    let digest: [u8; 16] = md5::Md5::digest(&raw).into();
    if b64.decode(md5.as_bytes()).ok().as_deref() != Some(digest.as_slice()) {
        return Err(S3Error::invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided",
        ));
    }
    let mut k = zeroize::Zeroizing::new([0u8; 32]);
    k.copy_from_slice(&raw);
    Ok(Some(std::sync::Arc::new(
        gatehouse_store::sse::CustomerKey {
            key: k,
            md5: digest,
        },
    )))
}

/// Whether the request carries SSE-C headers (of its own or of a copy source).
pub fn customer_asked(h: &HeaderMap) -> bool {
    h.keys()
        .any(|n| n.as_str().starts_with(CUSTOMER) || n.as_str().starts_with(SOURCE_CUSTOMER))
}

/// What a write asks for, with its SSE-C key: both at once is refused, as AWS does.
pub fn write(
    s: &Store,
    h: &HeaderMap,
) -> Result<
    (
        Option<SseMode>,
        Option<std::sync::Arc<gatehouse_store::sse::CustomerKey>>,
    ),
    S3Error,
> {
    let (sse, key) = (asked(s, h)?, customer(h, CUSTOMER)?);
    if sse.is_some() && key.is_some() {
        return Err(S3Error::invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        ));
    }
    Ok((sse, key))
}

/// The encryption headers of an answer about an object stored encrypted: SSE-S3's
/// `x-amz-server-side-encryption`, SSE-KMS's with its key's ARN (and Bucket Key), or SSE-C's
/// algorithm and key MD5.
pub fn answer(s: &Store, r: &mut Response, mode: Option<SseMode>) {
    use base64::Engine as _;
    match mode {
        Some(SseMode::S3) => {
            r.headers_mut()
                .insert(HEADER, http::HeaderValue::from_static("AES256"));
        }
        Some(SseMode::Kms {
            key, bucket_key, ..
        }) => {
            let h = r.headers_mut();
            h.insert(HEADER, http::HeaderValue::from_static("aws:kms"));
            if let Some(k) = s.kms().get(key)
                && let Ok(v) = http::HeaderValue::from_str(&s.kms().arn(&k))
            {
                h.insert(KMS_KEY_ID, v);
            }
            if bucket_key {
                h.insert(BUCKET_KEY, http::HeaderValue::from_static("true"));
            }
        }
        Some(SseMode::Customer { key_md5 }) => {
            let h = r.headers_mut();
            h.insert(
                "x-amz-server-side-encryption-customer-algorithm",
                http::HeaderValue::from_static("AES256"),
            );
            if let Ok(v) = http::HeaderValue::from_str(
                &base64::engine::general_purpose::STANDARD.encode(key_md5),
            ) {
                h.insert("x-amz-server-side-encryption-customer-key-md5", v);
            }
        }
        None => {}
    }
}

/// A write's answer echoes the encryption context it gave (as S3 does).
pub fn echo_context(r: &mut Response, h: &HeaderMap) {
    if let Some(v) = h.get(KMS_CONTEXT) {
        r.headers_mut().insert(KMS_CONTEXT, v.clone());
    }
}

pub async fn put_bucket(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let enc = parse_config(s, &doc)?;
    s.set_bucket_encryption(&ctx.principal, ctx.bucket(), Some(enc))
        .await?;
    Ok(empty(StatusCode::OK))
}

pub fn get_bucket(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let Some(enc) = s
        .bucket_encryption(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?
    else {
        return Err(S3Error::new(
            404,
            "ServerSideEncryptionConfigurationNotFoundError",
            "The server side encryption configuration was not found",
        )
        .with("BucketName", ctx.named_bucket()));
    };
    let mut w = XmlWriter::new();
    w.open_root("ServerSideEncryptionConfiguration");
    w.open("Rule");
    w.open("ApplyServerSideEncryptionByDefault");
    w.elem("SSEAlgorithm", enc.mode.header());
    if let Some(k) = enc.mode.kms_key().and_then(|k| s.kms().get(k)) {
        w.elem("KMSMasterKeyID", &s.kms().arn(&k));
    }
    w.close("ApplyServerSideEncryptionByDefault");
    w.elem(
        "BucketKeyEnabled",
        if enc.bucket_key { "true" } else { "false" },
    );
    w.close("Rule");
    w.close("ServerSideEncryptionConfiguration");
    Ok(xml_ok(w))
}

pub async fn delete_bucket(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.set_bucket_encryption(&ctx.principal, ctx.bucket(), None)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>
/// <SSEAlgorithm>AES256</SSEAlgorithm></…><BucketKeyEnabled>…</…></Rule></…>`: one rule;
/// anything else in it is refused (MalformedXML), not ignored.
fn parse_config(s: &Store, doc: &crate::xml::Node) -> Result<BucketEncryption, S3Error> {
    let malformed = S3Error::malformed_xml;
    if doc.name != "ServerSideEncryptionConfiguration" {
        return Err(malformed());
    }
    let rules: Vec<_> = doc.children.iter().collect();
    let [rule] = rules.as_slice() else {
        return Err(malformed());
    };
    if rule.name != "Rule"
        || rule.children.iter().any(|c| {
            !matches!(
                c.name.as_str(),
                "ApplyServerSideEncryptionByDefault" | "BucketKeyEnabled"
            )
        })
    {
        return Err(malformed());
    }
    let by_default = rule
        .child("ApplyServerSideEncryptionByDefault")
        .ok_or_else(malformed)?;
    if by_default
        .children
        .iter()
        .any(|c| !matches!(c.name.as_str(), "SSEAlgorithm" | "KMSMasterKeyID"))
    {
        return Err(malformed());
    }
    let alg = by_default
        .child_text("SSEAlgorithm")
        .ok_or_else(malformed)?
        .trim();
    let key_id = by_default.child_text("KMSMasterKeyID").map(str::trim);
    let bucket_key = match rule.child_text("BucketKeyEnabled").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    let mode = match (alg, key_id) {
        ("AES256" | "aws:kms" | "aws:kms:dsse", _) => match algorithm(alg)? {
            Some(m) if key_id.is_none() => m,
            Some(_) => {
                return Err(S3Error::new(
                    400,
                    "InvalidArgument",
                    "a KMSMasterKeyID is given only with aws:kms",
                ));
            }
            None => match key_id {
                Some(k) if !k.is_empty() => SseMode::Kms {
                    key: kms_key(s, k)?,
                    bucket_key,
                    context: [0; 16],
                },
                _ => {
                    return Err(S3Error::new(
                        400,
                        "InvalidArgument",
                        "aws:kms needs a KMSMasterKeyID: gatehouse has no AWS managed key; name a key of its key service (gatehouse key create)",
                    ));
                }
            },
        },
        _ => return Err(malformed()),
    };
    Ok(BucketEncryption { mode, bucket_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a fresh directory with one key, `alias/app`; the key's number.
    fn store() -> (tempfile::TempDir, Store, u64) {
        let dir = tempfile::tempdir().expect("dir");
        let (s, _) = Store::open(gatehouse_store::StoreConfig::new(dir.path())).expect("store");
        let admin = gatehouse_store::rbac::Policy::new(
            vec![],
            Default::default(),
            vec![],
            gatehouse_store::rbac::policy::AdminPeers(vec!["admin".into()]),
        )
        .resolve(
            "0123456789abcdef",
            "admin",
            gatehouse_store::model::UserKind::Person,
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(s.kms().create(
            &admin,
            gatehouse_store::kms::KeySpec {
                alias: Some("app".into()),
                description: String::new(),
            },
        ))
        .expect("key");
        let num = s.kms().find("alias/app").expect("key").num;
        (dir, s, num)
    }

    fn parse(s: &Store, doc: &str) -> Result<BucketEncryption, S3Error> {
        parse_config(s, &crate::xml::parse(doc.as_bytes()).expect("xml"))
    }

    #[test]
    fn bucket_encryption_documents() {
        let (_dir, s, num) = store();
        let ok = parse(
            &s,
            "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
        )
        .ok();
        assert_eq!(
            ok,
            Some(BucketEncryption {
                mode: SseMode::S3,
                bucket_key: true
            })
        );
        let kms = parse(
            &s,
            "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/app</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
        )
        .ok();
        assert_eq!(kms.map(|e| e.mode.kms_key()), Some(Some(num)));
        for (doc, code) in [
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
                "InvalidArgument",
            ),
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/none</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
                "KMS.NotFoundException",
            ),
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
                "NotImplemented",
            ),
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>DES</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
                "MalformedXML",
            ),
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
                "InvalidArgument",
            ),
            (
                "<ServerSideEncryptionConfiguration><Rule><Other/></Rule></ServerSideEncryptionConfiguration>",
                "MalformedXML",
            ),
            ("<ServerSideEncryptionConfiguration/>", "MalformedXML"),
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule><Rule/></ServerSideEncryptionConfiguration>",
                "MalformedXML",
            ),
        ] {
            let Err(e) = parse(&s, doc) else {
                panic!("accepted: {doc}")
            };
            assert_eq!(e.code, code, "{doc}");
        }
    }

    #[test]
    fn write_headers() {
        let (_dir, s, num) = store();
        let h = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
            crate::request::header_map(&pairs)
        };
        assert_eq!(asked(&s, &HeaderMap::new()).ok(), Some(None));
        assert_eq!(
            asked(&s, &h(&[(HEADER, "AES256")])).ok(),
            Some(Some(SseMode::S3))
        );
        // aws:kms alone asks for the bucket's default key.
        assert_eq!(
            asked(&s, &h(&[(HEADER, "aws:kms")]))
                .ok()
                .flatten()
                .and_then(|m| m.kms_key()),
            Some(gatehouse_store::kms::BUCKET_DEFAULT_KEY)
        );
        let with_key = asked(
            &s,
            &h(&[
                (HEADER, "aws:kms"),
                (KMS_KEY_ID, "alias/app"),
                (BUCKET_KEY, "true"),
                (KMS_CONTEXT, "eyJhIjoiYiJ9"),
            ]),
        )
        .ok()
        .flatten();
        match with_key {
            Some(SseMode::Kms {
                key,
                bucket_key,
                context,
            }) => {
                assert_eq!((key, bucket_key), (num, true));
                assert_ne!(context, [0; 16]);
            }
            other => panic!("{other:?}"),
        }
        for (pairs, code) in [
            (vec![(HEADER, "aws:kms:dsse")], "NotImplemented"),
            (vec![(HEADER, "aes256")], "InvalidArgument"),
            (
                vec![(HEADER, "aws:kms"), (KMS_KEY_ID, "nope")],
                "KMS.NotFoundException",
            ),
            (
                vec![(HEADER, "AES256"), (KMS_KEY_ID, "alias/app")],
                "InvalidArgument",
            ),
            (vec![(KMS_KEY_ID, "alias/app")], "InvalidArgument"),
            (
                vec![(HEADER, "aws:kms"), (BUCKET_KEY, "yes")],
                "InvalidArgument",
            ),
            // Context: not base64, base64 of no JSON object, a non-string value.
            (
                vec![(HEADER, "aws:kms"), (KMS_CONTEXT, "!!")],
                "InvalidArgument",
            ),
            (
                vec![(HEADER, "aws:kms"), (KMS_CONTEXT, "WzFd")],
                "InvalidArgument",
            ),
            (
                vec![(HEADER, "aws:kms"), (KMS_CONTEXT, "eyJhIjoxfQ==")],
                "InvalidArgument",
            ),
        ] {
            assert_eq!(
                asked(&s, &h(&pairs)).err().map(|e| e.code),
                Some(code),
                "{pairs:?}"
            );
        }
    }
}
