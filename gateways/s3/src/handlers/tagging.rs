//! Bucket tagging: Put/Get/DeleteBucketTagging. A bucket's tags are its own settings (`put`
//! on the bucket to change, `get` to read); they say nothing to any other rule here.
//!
//! Validated as the AWS reference has it: at most 50 tags, keys of 1–128 and values of 0–256
//! characters drawn from letters, digits, spaces and `_ . : / = + - @`, no key twice, and no
//! key in the reserved `aws:` namespace.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use http::StatusCode;

use super::object::{tagging_document, tagging_xml};
use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;

/// At most this many tags on a bucket.
const MAX_TAGS: usize = 50;

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let tags = s.head_bucket(&ctx.principal, ctx.bucket())?.tags;
    if tags.is_empty() {
        return Err(
            S3Error::new(404, "NoSuchTagSet", "The TagSet does not exist")
                .with("BucketName", ctx.named_bucket()),
        );
    }
    Ok(xml_ok(tagging_xml(&tags)))
}

pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let tags = tagging_document(&doc)?;
    validate(&tags)?;
    s.set_bucket_tags(&ctx.principal, ctx.bucket(), tags)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.set_bucket_tags(&ctx.principal, ctx.bucket(), Vec::new())
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn invalid(message: &str) -> S3Error {
    S3Error::new(400, "InvalidTag", message)
}

fn validate(tags: &[(String, String)]) -> Result<(), S3Error> {
    if tags.len() > MAX_TAGS {
        return Err(invalid("Bucket tag count cannot be greater than 50"));
    }
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 || !allowed(k) {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 || !allowed(v) {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid("System tags cannot be added/updated by requester"));
        }
        if tags[..i].iter().any(|(o, _)| o == k) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_are_checked_as_aws_does() {
        assert!(
            validate(&tags(&[
                ("team", "data"),
                ("cost centre", "a/b=c+d-e@f:g_h.i")
            ]))
            .is_ok()
        );
        assert!(validate(&tags(&[("k", "")])).is_ok());
        let fifty: Vec<_> = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate(&fifty).is_ok());
        let many: Vec<_> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        for bad in [
            many,
            tags(&[("", "v")]),
            tags(&[(&"k".repeat(129), "v")]),
            tags(&[("k", &"v".repeat(257))]),
            tags(&[("k", "v"), ("k", "w")]),
            tags(&[("aws:createdBy", "me")]),
            tags(&[("k<", "v")]),
            tags(&[("k", "v;")]),
        ] {
            let e = validate(&bad).expect_err("refused");
            assert_eq!(e.code, "InvalidTag");
        }
    }
}
