//! Server-side encryption on the wire (issue 23, decision 0044): the
//! `x-amz-server-side-encryption` a write asks for, the same header on answers, and the
//! bucket's default encryption document (Put/Get/DeleteBucketEncryption).
//!
//! SSE-S3 (`AES256`) is carried out; SSE-KMS (`aws:kms`, `aws:kms:dsse`) and SSE-C are refused
//! as not implemented, never accepted and ignored.

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

fn algorithm(value: &str) -> Result<SseMode, S3Error> {
    match value {
        "AES256" => Ok(SseMode::S3),
        "aws:kms" | "aws:kms:dsse" => Err(S3Error::new(
            501,
            "NotImplemented",
            format!(
                "{value}: SSE-KMS is not implemented yet; AES256 (SSE-S3) is; the request was not carried out"
            ),
        )),
        _ => Err(S3Error::new(
            400,
            "InvalidArgument",
            "The encryption method specified is not supported",
        )),
    }
}

/// The encryption a write asks for (`None`: the bucket's default).
pub fn asked(h: &HeaderMap) -> Result<Option<SseMode>, S3Error> {
    let values: Vec<String> = header_values(h, HEADER).map(|v| v.into_owned()).collect();
    match values.as_slice() {
        [] => Ok(None),
        [v] => algorithm(v.trim())
            .map(Some)
            .map_err(|e| e.with("ArgumentName", HEADER)),
        _ => Err(S3Error::new(
            400,
            "InvalidArgument",
            "x-amz-server-side-encryption was given more than once",
        )
        .with("ArgumentName", HEADER)),
    }
}

/// `x-amz-server-side-encryption` on an answer about an object stored encrypted.
pub fn answer(r: &mut Response, mode: Option<SseMode>) {
    if let Some(m) = mode {
        r.headers_mut()
            .insert(HEADER, http::HeaderValue::from_static(m.header()));
    }
}

pub async fn put_bucket(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let enc = parse_config(&doc)?;
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
fn parse_config(doc: &crate::xml::Node) -> Result<BucketEncryption, S3Error> {
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
    let mode = match alg {
        "AES256" | "aws:kms" | "aws:kms:dsse" => algorithm(alg)?,
        _ => return Err(malformed()),
    };
    if by_default.child("KMSMasterKeyID").is_some() {
        return Err(S3Error::new(
            400,
            "InvalidArgument",
            "a KMSMasterKeyID is given only with aws:kms",
        ));
    }
    let bucket_key = match rule.child_text("BucketKeyEnabled").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    Ok(BucketEncryption { mode, bucket_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<BucketEncryption, S3Error> {
        parse_config(&crate::xml::parse(s.as_bytes()).expect("xml"))
    }

    #[test]
    fn bucket_encryption_documents() {
        let ok = parse(
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
        for (doc, code) in [
            (
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
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
            let e = parse(doc).err().expect(doc);
            assert_eq!(e.code, code, "{doc}");
        }
    }

    #[test]
    fn write_headers() {
        let h = |v: &str| crate::request::header_map(&[(HEADER, v.as_bytes())]);
        assert_eq!(asked(&HeaderMap::new()).ok(), Some(None));
        assert_eq!(asked(&h("AES256")).ok(), Some(Some(SseMode::S3)));
        assert_eq!(
            asked(&h("aws:kms")).err().map(|e| e.code),
            Some("NotImplemented")
        );
        assert_eq!(
            asked(&h("aes256")).err().map(|e| e.code),
            Some("InvalidArgument")
        );
    }
}
