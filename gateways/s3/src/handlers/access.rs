//! Bucket policies and public access blocks (issue 22, decision 0041): Put/Get/Delete
//! BucketPolicy, GetBucketPolicyStatus, Put/Get/DeletePublicAccessBlock, Put/Get/Delete
//! BucketCors. The store keeps them; `rbac::authorize` applies policies and blocks, the
//! dispatcher CORS rules (`crate::cors`).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use gatehouse_store::Store;
use gatehouse_store::model::PublicAccessBlock;
use http::{HeaderValue, StatusCode};

use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::xml::XmlWriter;

/// Bodies past this are refused before parsing; the policy language's own 20 KB limit
/// (MalformedPolicy) applies below it.
const POLICY_BODY_MAX: usize = 64 * 1024;

pub async fn put_policy(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let bytes = crate::body::read_small(body, payload, &ctx.headers, POLICY_BODY_MAX).await?;
    let json = std::str::from_utf8(&bytes).map_err(|_| {
        S3Error::new(
            400,
            "MalformedPolicy",
            "Policies must be valid JSON and the first byte must be '{'",
        )
    })?;
    s.put_bucket_policy(&ctx.principal, ctx.bucket(), json)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn get_policy(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let json = s
        .bucket_policy(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?;
    let mut r = (StatusCode::OK, json).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

pub async fn delete_policy(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.delete_bucket_policy(&ctx.principal, ctx.bucket()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn policy_status(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let public = s
        .bucket_policy_public(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?;
    let mut w = XmlWriter::new();
    w.open_root("PolicyStatus");
    w.elem("IsPublic", if public { "true" } else { "false" });
    w.close("PolicyStatus");
    Ok(xml_ok(w))
}

const FLAGS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// `<PublicAccessBlockConfiguration>` with any of the four flags (an absent one is false).
pub async fn put_block(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    if doc.name != "PublicAccessBlockConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    let mut flags = [false; 4];
    for c in &doc.children {
        let Some(i) = FLAGS.iter().position(|f| *f == c.name) else {
            return Err(S3Error::malformed_xml().with("Detail", format!("unknown {}", c.name)));
        };
        flags[i] = match c.text.trim() {
            "true" | "TRUE" | "True" => true,
            "false" | "FALSE" | "False" => false,
            _ => return Err(S3Error::malformed_xml()),
        };
    }
    let block = PublicAccessBlock {
        block_public_acls: flags[0],
        ignore_public_acls: flags[1],
        block_public_policy: flags[2],
        restrict_public_buckets: flags[3],
    };
    s.put_public_access_block(&ctx.principal, ctx.bucket(), block)
        .await?;
    Ok(empty(StatusCode::OK))
}

pub fn get_block(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let b = s
        .public_access_block(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?;
    let mut w = XmlWriter::new();
    w.open_root("PublicAccessBlockConfiguration");
    for (name, on) in FLAGS.iter().zip([
        b.block_public_acls,
        b.ignore_public_acls,
        b.block_public_policy,
        b.restrict_public_buckets,
    ]) {
        w.elem(name, if on { "true" } else { "false" });
    }
    w.close("PublicAccessBlockConfiguration");
    Ok(xml_ok(w))
}

pub async fn delete_block(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.delete_public_access_block(&ctx.principal, ctx.bucket())
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// PutBucketCors: validated (`crate::cors`), kept in canonical form.
pub async fn put_cors(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let bytes =
        crate::body::read_small(body, payload, &ctx.headers, crate::cors::MAX_BODY_BYTES).await?;
    let config = crate::cors::CorsConfig::parse(&bytes)
        .map_err(|e| S3Error::new(e.status(), e.code(), e.message().to_string()))?;
    s.put_bucket_cors(&ctx.principal, ctx.bucket(), config.to_xml())
        .await?;
    Ok(empty(StatusCode::OK))
}

pub fn get_cors(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let xml = s
        .bucket_cors(&ctx.principal, ctx.bucket())
        .map_err(|e| S3Error::from(e).with("BucketName", ctx.named_bucket()))?;
    let mut r = (StatusCode::OK, xml).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Ok(r)
}

pub async fn delete_cors(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.delete_bucket_cors(&ctx.principal, ctx.bucket()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `<OwnershipControls><Rule><ObjectOwnership>…</ObjectOwnership></Rule></OwnershipControls>`
/// (decision 0042: BucketOwnerEnforced turns ACLs off; the others keep them in force).
pub async fn put_ownership(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let rules: Vec<_> = doc.children_named("Rule").collect();
    let value = match (doc.name.as_str(), rules.as_slice()) {
        ("OwnershipControls", [rule]) if doc.children.len() == 1 => rule
            .child_text("ObjectOwnership")
            .filter(|_| rule.children.len() == 1),
        _ => None,
    }
    .ok_or_else(S3Error::malformed_xml)?;
    let to = crate::acl::ownership(value.trim())?;
    s.set_ownership(&ctx.principal, ctx.bucket(), Some(to))
        .await?;
    Ok(empty(StatusCode::OK))
}

pub fn get_ownership(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let Some(o) = s.ownership(&ctx.principal, ctx.bucket())? else {
        return Err(S3Error::new(
            404,
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found",
        )
        .with("BucketName", ctx.named_bucket()));
    };
    let mut w = XmlWriter::new();
    w.open_root("OwnershipControls");
    w.open("Rule");
    w.elem("ObjectOwnership", o.as_str());
    w.close("Rule");
    w.close("OwnershipControls");
    Ok(xml_ok(w))
}

pub async fn delete_ownership(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.set_ownership(&ctx.principal, ctx.bucket(), None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
