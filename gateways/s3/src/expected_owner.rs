//! `x-amz-expected-bucket-owner` and `x-amz-source-expected-bucket-owner`: a caller names the
//! owner it expects the bucket (a copy's source bucket) to have, and the request is refused
//! with 403 AccessDenied when the bucket's owner is someone else, as S3 does. An owner here is
//! the user id S3 shows as the bucket's `Owner/ID` (ListBuckets, GetBucketAcl).
//!
//! Asked after the request is parsed and before its handler runs, so a refused write stores
//! nothing. The answer tells a caller nothing it could not learn otherwise: a bucket it may not
//! reach is `AccessDenied` (or `NoSuchBucket`) whether or not its guess is right.

use gatehouse_store::Store;
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
    if let Some(bucket) = ctx.bucket.as_deref() {
        expect(store, bucket, &ctx.headers, HEADER)?;
    }
    if COPIES.contains(&ep) && ctx.headers.contains_key(SOURCE_HEADER) {
        let (source, _, _) = crate::handlers::copy_source(ctx)?;
        expect(store, &source, &ctx.headers, SOURCE_HEADER)?;
    }
    Ok(())
}

fn expect(store: &Store, bucket: &str, h: &HeaderMap, name: &str) -> Result<(), S3Error> {
    match header_values(h, name).find(|owner| !store.bucket_owned_by(bucket, owner.trim())) {
        None => Ok(()),
        Some(_) => Err(S3Error::access_denied(format!(
            "Access Denied: {bucket} is not owned by the account {name} names"
        ))),
    }
}
