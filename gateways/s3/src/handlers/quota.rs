//! `?quota`: a bucket's size and object-count limits over S3, in the JSON the product docs'
//! server (MyFSIO) speaks — not an AWS API, so no SDK sends it; curl and MyFSIO clients do.
//!
//! - `GET /<bucket>?quota` → `{"quota": {"max_size_bytes": N|null, "max_objects": N|null},
//!   "usage": {"bytes": N, "objects": N}}`; 404 `NoSuchQuotaConfiguration` when the bucket has
//!   no limit (the CLI's and console's `0` = unlimited is `null` here).
//! - `PUT /<bucket>?quota` with `{"max_size_bytes": N|null, "max_objects": N|null}`: sets both
//!   (an absent or null one is unlimited); at least one must be given; anything else in the
//!   document is refused (InvalidArgument), not ignored.
//! - `DELETE /<bucket>?quota` → 204, both unlimited.
//!
//! The limits are the ones `gatehouse bucket quota` and the console set, enforced in the
//! commit (decision 0041): changing them needs `put` on `storage`, as there.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use gatehouse_store::Store;
use http::{HeaderValue, StatusCode};

use super::empty;
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;

const BODY_MAX: usize = 4 * 1024;

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let b = s
        .head_bucket(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?;
    if b.quota_bytes == 0 && b.quota_objects == 0 {
        return Err(S3Error::new(
            404,
            "NoSuchQuotaConfiguration",
            "The bucket has no quota (no size or object-count limit)",
        )
        .with("BucketName", ctx.named_bucket()));
    }
    let limit = |n: u64| (n > 0).then_some(n);
    let doc = serde_json::json!({
        "quota": {
            "max_size_bytes": limit(b.quota_bytes),
            "max_objects": limit(b.quota_objects),
        },
        "usage": {
            // What the size limit is checked against (a share's snapshots count too).
            "bytes": b.usage_bytes + b.snapshot_bytes,
            "objects": b.object_count + b.noncurrent_objects,
        }
    });
    let mut r = (StatusCode::OK, doc.to_string()).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let bytes = crate::body::read_small(body, payload, &ctx.headers, BODY_MAX).await?;
    let (max_bytes, max_objects) = parse(&bytes)?;
    s.set_bucket_quota(
        &ctx.principal,
        ctx.bucket(),
        Some(max_bytes.unwrap_or(0)),
        Some(max_objects.unwrap_or(0)),
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.set_bucket_quota(&ctx.principal, ctx.bucket(), Some(0), Some(0))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn invalid(msg: &str) -> S3Error {
    S3Error::new(400, "InvalidArgument", msg)
}

/// `{"max_size_bytes": N|null, "max_objects": N|null}`: each a positive whole number or null.
fn parse(bytes: &[u8]) -> Result<(Option<u64>, Option<u64>), S3Error> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| invalid("Request body must be valid JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("The quota must be a JSON object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "max_size_bytes" | "max_objects"))
    {
        return Err(invalid(&format!(
            "unknown quota field {:?}: only max_size_bytes and max_objects",
            k.chars().take(64).collect::<String>()
        )));
    }
    let field = |name: &str| -> Result<Option<u64>, S3Error> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(n) => match n.as_u64() {
                Some(0) | None => Err(invalid(&format!(
                    "{name} must be a positive whole number or null"
                ))),
                Some(n) => Ok(Some(n)),
            },
        }
    };
    let (bytes, objects) = (field("max_size_bytes")?, field("max_objects")?);
    if !obj.contains_key("max_size_bytes") && !obj.contains_key("max_objects") {
        return Err(invalid(
            "At least one of max_size_bytes or max_objects is required",
        ));
    }
    Ok((bytes, objects))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quota_documents() {
        assert_eq!(
            parse(br#"{"max_size_bytes": 1024, "max_objects": null}"#).ok(),
            Some((Some(1024), None))
        );
        assert_eq!(parse(br#"{"max_objects": 5}"#).ok(), Some((None, Some(5))));
        for bad in [
            &br#"{}"#[..],
            br#"[]"#,
            br#"{"max_objects": -1}"#,
            br#"{"max_objects": 1.5}"#,
            br#"{"max_objects": 0}"#,
            br#"{"max_objects": "5"}"#,
            br#"{"max_objects": 5, "max_bytes": 1}"#,
            br#"not json"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
