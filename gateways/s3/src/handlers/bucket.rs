//! Bucket operations.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::rbac::{Resource, Verb};
use gatehouse_store::{Store, StoreError};
use http::{HeaderValue, StatusCode};

use super::{empty, owner, xml_body, xml_ok};
use crate::S3State;
use crate::auth::PayloadMode;
use crate::endpoint::BucketConfig;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::XmlWriter;

/// Most buckets one ListBuckets page holds (AWS: `max-buckets` is 1 to 10000).
const MAX_BUCKETS: usize = 10_000;

/// ListBuckets, paged as AWS pages it (`max-buckets`, `continuation-token`, `prefix`,
/// `bucket-region`). Share buckets are listed under their `fs--<share>` alias, the spelling
/// every S3 client accepts back (docs/decisions/0012); pages and prefixes follow that name.
pub fn list_buckets(state: &S3State, ctx: &Ctx) -> Result<Response, S3Error> {
    let q = &ctx.query;
    let max = match q.get("max-buckets") {
        None => MAX_BUCKETS,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument("max-buckets must be an integer between 1 and 10000")
            })?,
    };
    let prefix = q.get("prefix").unwrap_or("");
    let after = q.get("continuation-token").filter(|t| !t.is_empty());
    let region = &state.inner.cfg.region;
    let other_region = q.get("bucket-region").is_some_and(|r| r != region);
    let mut names: Vec<(String, i64)> = state
        .inner
        .store
        .list_buckets(&ctx.principal)?
        .into_iter()
        .map(|b| (crate::request::listed_name(&b.name), b.created_ms))
        .filter(|(n, _)| n.starts_with(prefix) && after.is_none_or(|a| n.as_str() > a))
        .collect();
    if other_region {
        names.clear();
    }
    names.sort_unstable();
    let more = names.len() > max;
    names.truncate(max);
    let mut w = XmlWriter::new();
    w.open_root("ListAllMyBucketsResult");
    w.open("Buckets");
    for (name, created_ms) in &names {
        w.open("Bucket");
        w.elem("Name", name);
        w.elem("CreationDate", &util::iso8601(*created_ms));
        w.elem("BucketRegion", region);
        w.close("Bucket");
    }
    w.close("Buckets");
    owner(&mut w, "Owner", &ctx.principal.user_id);
    if more && let Some((last, _)) = names.last() {
        w.elem("ContinuationToken", last);
    }
    if q.has("prefix") {
        w.elem("Prefix", prefix);
    }
    w.close("ListAllMyBucketsResult");
    Ok(xml_ok(w))
}

/// A CreateBucketConfiguration's elements against the server's `region` and the region the
/// request was `signed` for (this one endpoint answers for any region a client signs with):
/// AWS answers `IllegalLocationConstraintException` for a LocationConstraint other than the
/// region the request was sent to (an empty one means us-east-1).
fn location_constraint(
    doc: &crate::xml::Node,
    region: &str,
    signed: Option<&str>,
) -> Result<(), S3Error> {
    for name in ["Location", "Bucket"] {
        if doc.child(name).is_some() {
            return Err(S3Error::not_implemented(&format!(
                "<{name}> in CreateBucketConfiguration (directory buckets)"
            )));
        }
    }
    // Tags given with the creation would be dropped: refused (PutBucketTagging sets them).
    if doc.child("Tags").is_some() {
        return Err(S3Error::not_implemented(
            "<Tags> in CreateBucketConfiguration (use PutBucketTagging once the bucket exists)",
        ));
    }
    let asked = match doc.child_text("LocationConstraint").map(str::trim) {
        None => return Ok(()),
        Some("") => "us-east-1",
        Some(l) => l,
    };
    if asked == region || Some(asked) == signed {
        return Ok(());
    }
    Err(S3Error::new(
        400,
        "IllegalLocationConstraintException",
        format!(
            "The {asked} location constraint is incompatible for the region specific endpoint this request was sent to ({region})."
        ),
    ))
}

pub async fn create(
    state: &S3State,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    // An optional CreateBucketConfiguration: its LocationConstraint must be this server's
    // region (a bucket is never where the client asked it not to be), and the directory
    // bucket elements (`Location`, `Bucket`) are refused.
    let has_body = ctx
        .header("content-length")
        .is_some_and(|l| l.trim() != "0")
        || ctx.headers.contains_key("transfer-encoding");
    if has_body {
        let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
        if doc.name != "CreateBucketConfiguration" {
            return Err(S3Error::malformed_xml());
        }
        let signed =
            crate::auth::sigv4::signed_region(&ctx.headers, ctx.query.get("X-Amz-Credential"));
        location_constraint(&doc, &state.inner.cfg.region, signed.as_deref())?;
    }
    let lock = super::lock::bucket_lock_enabled(&ctx.headers)?;
    let acl = crate::acl::from_headers(&ctx.headers)?;
    let ownership = crate::acl::ownership_header(&ctx.headers)?;
    let s = &state.inner.store;
    // The ACL and ownership are checked before, and stored with, the bucket: a refused one
    // creates nothing.
    s.accepts_new_bucket_acl(ctx.bucket(), ownership, acl.as_ref())?;
    let reset_acl = acl.clone().unwrap_or_default();
    let access = gatehouse_store::model::BucketAccessRecord {
        acl: acl.filter(|a| !a.grants.is_empty()),
        ownership,
        ..Default::default()
    };
    match s
        .create_bucket_with(&ctx.principal, ctx.bucket(), lock, Some(access))
        .await
    {
        Ok(_) => {}
        // The legacy rule of AWS's North Virginia region (the BucketAlreadyOwnedByYou
        // reference): its owner re-creating a bucket there gets 200 OK, and the bucket's ACL
        // is reset to the request's (private without ACL headers). A re-create that asks for
        // object lock or an ownership setting still gets the 409: those are not reset.
        Err(StoreError::BucketAlreadyOwnedByYou)
            if state.inner.cfg.region == "us-east-1"
                && !lock
                && ownership.is_none()
                && !ctx
                    .bucket()
                    .starts_with(gatehouse_store::naming::SHARE_PREFIX) =>
        {
            s.set_bucket_acl(&ctx.principal, ctx.bucket(), reset_acl)
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{}", ctx.named_bucket())) {
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

/// The `versionId` an object ACL call names.
fn version(ctx: &Ctx) -> Option<&str> {
    ctx.query.get("versionId")
}

/// GetBucketAcl / GetObjectAcl (decision 0042): the owner's FULL_CONTROL, the stored grants,
/// and an AllUsers READ where the bucket's policy lets anyone read (or list) it.
pub fn get_acl(s: &Store, ctx: &Ctx, object: bool) -> Result<Response, S3Error> {
    let (b, k) = (ctx.bucket(), ctx.key());
    let (mut view, implied) = if object {
        (
            s.object_acl(&ctx.principal, b, k, version(ctx))?,
            s.policy_public_read(b, Some(k)),
        )
    } else {
        (
            s.bucket_acl(&ctx.principal, b)?,
            s.policy_public_read(b, None),
        )
    };
    let read_all = gatehouse_store::model::AclGrant {
        grantee: gatehouse_store::model::Grantee::AllUsers,
        permission: gatehouse_store::model::AclPermission::Read,
    };
    if implied && !view.acl.grants.contains(&read_all) {
        view.acl.grants.push(read_all);
    }
    Ok(xml_ok(crate::acl::render(&view.owner, &view.acl)))
}

/// PutBucketAcl / PutObjectAcl: a canned ACL or grant headers, or an `AccessControlPolicy`
/// body (not both); stored and applied to the next request (decision 0042).
pub async fn put_acl(
    s: &Store,
    ctx: &Ctx,
    object: bool,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let bytes = crate::body::read_small(body, payload, &ctx.headers, 64 * 1024).await?;
    let from_headers = crate::acl::from_headers(&ctx.headers)?;
    let acl = match (from_headers, bytes.iter().all(u8::is_ascii_whitespace)) {
        (Some(acl), true) => acl,
        (Some(_), false) => {
            return Err(S3Error::new(
                400,
                "UnexpectedContent",
                "This request does not support content when an ACL header is given",
            ));
        }
        (None, true) => {
            return Err(S3Error::new(
                400,
                "MissingSecurityHeader",
                "Your request was missing a required header: x-amz-acl, or an AccessControlPolicy body",
            ));
        }
        (None, false) => {
            let doc = crate::xml::parse(&bytes).ok_or_else(S3Error::malformed_xml)?;
            let owner = s.bucket_owner(&ctx.principal, ctx.bucket())?;
            crate::acl::from_policy(&doc, &owner)?
        }
    };
    if object {
        s.set_object_acl(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            version(ctx).map(str::to_string),
            acl,
        )
        .await?;
    } else {
        s.set_bucket_acl(&ctx.principal, ctx.bucket(), acl).await?;
    }
    Ok(empty(StatusCode::OK))
}

/// GET of a bucket configuration that cannot be set here: what AWS answers for a bucket where
/// it was never configured (a 404 naming the missing configuration, or the empty document of
/// a feature that is off). Reading it needs the same permission as reading the bucket.
pub fn get_config(s: &Store, ctx: &Ctx, which: BucketConfig) -> Result<Response, S3Error> {
    use BucketConfig as C;
    s.head_bucket(&ctx.principal, ctx.bucket())?;
    let (code, message) = match which {
        C::Website => (
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        ),
        C::Logging => return Ok(empty_doc("BucketLoggingStatus")),
        C::Notification => return Ok(empty_doc("NotificationConfiguration")),
        C::Accelerate => return Ok(empty_doc("AccelerateConfiguration")),
        C::RequestPayment => {
            let mut w = XmlWriter::new();
            w.open_root("RequestPaymentConfiguration");
            w.elem("Payer", "BucketOwner");
            w.close("RequestPaymentConfiguration");
            return Ok(xml_ok(w));
        }
    };
    Err(S3Error::new(404, code, message).with("BucketName", ctx.named_bucket()))
}

fn empty_doc(root: &str) -> Response {
    let mut w = XmlWriter::new();
    w.open_root(root);
    w.close(root);
    xml_ok(w)
}

/// DELETE of such a configuration: there is none, so after the permission check (the one
/// changing the bucket's settings needs) the bucket already is as asked: 204, as AWS answers.
pub fn delete_config(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    may_configure(s, ctx)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Changing a bucket's settings (its ACL, a configuration) is `put` on the bucket, as
/// s3:PutBucketAcl and the like are; the bucket must exist.
fn may_configure(s: &Store, ctx: &Ctx) -> Result<(), S3Error> {
    s.may(
        &ctx.principal,
        Verb::Put,
        Resource::Buckets(Some(ctx.bucket())),
    )?;
    s.head_bucket(&ctx.principal, ctx.bucket())?;
    Ok(())
}
