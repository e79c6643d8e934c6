//! Bucket operations.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use http::{HeaderValue, StatusCode};

use super::{empty, owner, xml_body, xml_ok};
use crate::S3State;
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::XmlWriter;

pub fn list_buckets(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let buckets = s.list_buckets(&ctx.principal)?;
    let mut w = XmlWriter::new();
    w.open_root("ListAllMyBucketsResult");
    owner(&mut w, "Owner", &ctx.principal.user_id);
    w.open("Buckets");
    for b in buckets {
        w.open("Bucket");
        w.elem("Name", &b.name);
        w.elem("CreationDate", &util::iso8601(b.created_ms));
        w.close("Bucket");
    }
    w.close("Buckets");
    w.close("ListAllMyBucketsResult");
    Ok(xml_ok(w))
}

pub async fn create(
    state: &S3State,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    // An optional CreateBucketConfiguration; any LocationConstraint is accepted (one node).
    let has_body = ctx
        .header("content-length")
        .is_some_and(|l| l.trim() != "0")
        || ctx.headers.contains_key("transfer-encoding");
    if has_body {
        let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
        if doc.name != "CreateBucketConfiguration" {
            return Err(S3Error::malformed_xml());
        }
    }
    state
        .inner
        .store
        .create_bucket(&ctx.principal, ctx.bucket())
        .await?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{}", ctx.bucket())) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.delete_bucket(&ctx.principal, ctx.bucket()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn head(state: &S3State, ctx: &Ctx) -> Result<Response, S3Error> {
    state
        .inner
        .store
        .head_bucket(&ctx.principal, ctx.bucket())?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&state.inner.cfg.region) {
        r.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(r)
}

pub fn location(state: &S3State, ctx: &Ctx) -> Result<Response, S3Error> {
    state
        .inner
        .store
        .head_bucket(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("LocationConstraint");
    // us-east-1 is reported as an empty constraint, as S3 does.
    if state.inner.cfg.region != "us-east-1" {
        w.elem_text(&state.inner.cfg.region);
    }
    w.close("LocationConstraint");
    Ok(xml_ok(w))
}

pub fn versioning(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.head_bucket(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("VersioningConfiguration");
    w.close("VersioningConfiguration");
    Ok(xml_ok(w))
}

/// ACLs are not the permission model here (RBAC is); report the owner's full control.
pub fn get_acl(s: &Store, ctx: &Ctx, object: bool) -> Result<Response, S3Error> {
    if object {
        s.get_object(&ctx.principal, ctx.bucket(), ctx.key())?;
    } else {
        s.head_bucket(&ctx.principal, ctx.bucket())?;
    }
    let id = &ctx.principal.user_id;
    let mut w = XmlWriter::new();
    w.open_root("AccessControlPolicy");
    owner(&mut w, "Owner", id);
    w.open("AccessControlList");
    w.raw(&format!(
        "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{id}</ID><DisplayName>{id}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
    ));
    w.close("AccessControlList");
    w.close("AccessControlPolicy");
    Ok(xml_ok(w))
}

/// Accepted and ignored (canned ACLs are not a permission model here).
pub fn put_acl(s: &Store, ctx: &Ctx, object: bool) -> Result<Response, S3Error> {
    if object {
        s.get_object(&ctx.principal, ctx.bucket(), ctx.key())?;
    } else {
        s.head_bucket(&ctx.principal, ctx.bucket())?;
    }
    Ok(empty(StatusCode::OK))
}
