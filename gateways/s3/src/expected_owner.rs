//! `x-amz-expected-bucket-owner` and `x-amz-source-expected-bucket-owner`: a caller names the
//! owner it expects the bucket (a copy's source bucket) to have, and the request is refused
//! with 403 AccessDenied when the bucket's owner is someone else, as S3 does. An owner here is
//! the user id S3 shows as the bucket's `Owner/ID` (ListBuckets, GetBucketAcl).
//!
//! Asked after the request is parsed and before its handler runs, so a refused write stores
//! nothing. A wrong guess is answered as the request itself would be refused when the caller
//! may not make it (the same `AccessDenied` as a right guess meets), and with a plain
//! "Access Denied" only when it may: so the answer tells a caller who may not reach the bucket
//! nothing about its owner.

use gatehouse_store::Store;
use gatehouse_store::rbac::{Resource, Verb};
use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::error::S3Error;
use crate::request::{Ctx, header_values};

pub const HEADER: &str = "x-amz-expected-bucket-owner";
pub const SOURCE_HEADER: &str = "x-amz-source-expected-bucket-owner";

/// The operations with a copy source, whose bucket `x-amz-source-expected-bucket-owner` names.
const COPIES: &[Endpoint] = &[Endpoint::CopyObject, Endpoint::UploadPartCopy];

/// `Err` (400) for a header the operation does not take: ListBuckets and CreateBucket name no
/// existing bucket to check, and only copies have a source.
pub fn taken(ep: Endpoint, h: &HeaderMap) -> Result<(), S3Error> {
    let not_taken = |name: &str| {
        S3Error::new(
            400,
            "InvalidArgument",
            format!("{name} is not taken by {}", ep.name()),
        )
        .with("ArgumentName", name.to_string())
    };
    if h.contains_key(HEADER) && matches!(ep, Endpoint::ListBuckets | Endpoint::CreateBucket) {
        return Err(not_taken(HEADER));
    }
    if h.contains_key(SOURCE_HEADER) && !COPIES.contains(&ep) {
        return Err(not_taken(SOURCE_HEADER));
    }
    Ok(())
}

/// 403 AccessDenied when the request names an owner its bucket (or its copy source's bucket)
/// does not have; every value of a repeated header must match.
pub fn check(store: &Store, ep: Endpoint, ctx: &Ctx) -> Result<(), S3Error> {
    if let Some(bucket) = ctx.bucket.as_deref()
        && !owned_as_named(store, bucket, &ctx.headers, HEADER)
    {
        let verb = ctx.principal.facts.action.map_or(Verb::Get, |(_, v)| v);
        return Err(refusal(store, ctx, verb, bucket, ctx.key.as_deref()));
    }
    if COPIES.contains(&ep) && ctx.headers.contains_key(SOURCE_HEADER) {
        let (source, key, _) = crate::handlers::copy_source(ctx)?;
        if !owned_as_named(store, &source, &ctx.headers, SOURCE_HEADER) {
            // The source is read.
            return Err(refusal(store, ctx, Verb::Get, &source, Some(&key)));
        }
    }
    Ok(())
}

/// Whether every value of header `name` names `bucket`'s owner.
fn owned_as_named(store: &Store, bucket: &str, h: &HeaderMap, name: &str) -> bool {
    header_values(h, name).all(|owner| store.bucket_owned_by(bucket, owner.trim()))
}

/// The refusal of a request whose expected owner is wrong: the request's own refusal when the
/// caller may not `verb` `bucket` (`key`), as a right guess would meet it; else a plain 403.
fn refusal(store: &Store, ctx: &Ctx, verb: Verb, bucket: &str, key: Option<&str>) -> S3Error {
    let resource = match (key, verb) {
        (Some(k), _) => Resource::Object(bucket, k),
        (None, Verb::List) => Resource::Objects(bucket),
        (None, _) => Resource::Buckets(Some(bucket)),
    };
    match store.may(&ctx.principal, verb, resource) {
        Err(e) => S3Error::from(e),
        Ok(()) => S3Error::access_denied("Access Denied"),
    }
}
