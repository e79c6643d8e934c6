//! GetObjectAttributes (`GET /{bucket}/{key}?attributes`): what HeadObject and ListParts would
//! say of an object, in one XML document, for the attributes `x-amz-object-attributes` names.
//!
//! As the AWS reference has it: the ETag unquoted; `Checksum` only for an object stored with
//! one; `ObjectParts` only for a multipart object, its `Part` list (paged by
//! `x-amz-max-parts` / `x-amz-part-number-marker`) only when its parts have checksums;
//! `StorageClass` is always STANDARD here. An SSE-C object needs its key, as a HEAD does.

use axum::response::Response;
use gatehouse_store::model::ObjectRecord;
use gatehouse_store::{ChecksumAlgorithm, Store};

use super::object::{missing, set, version_param};
use super::xml_ok;
use crate::error::S3Error;
use crate::request::{Ctx, header_values};
use crate::util;
use crate::xml::XmlWriter;

/// The attributes a request may name.
const ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];

/// At most this many parts in one answer (and the default), as ListParts.
const MAX_PARTS: u32 = 1000;

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let wanted = wanted(ctx)?;
    let max_parts = number(ctx, "x-amz-max-parts")?
        .unwrap_or(MAX_PARTS)
        .min(MAX_PARTS);
    let marker = number(ctx, "x-amz-part-number-marker")?.unwrap_or(0);
    let (p, b, k) = (&ctx.principal, ctx.bucket(), ctx.key());
    let info = match version_param(ctx) {
        None => s.get_object(p, b, k).map_err(|e| missing(s, ctx, e))?,
        Some(v) => s.get_version(p, b, k, v)?,
    };
    let rec = &info.record;
    let customer = crate::sse::customer(&ctx.headers, crate::sse::CUSTOMER)?;
    gatehouse_store::sse::CustomerKey::check(customer.as_deref(), rec.sse)?;

    let mut w = XmlWriter::new();
    w.open_root("GetObjectAttributesResponse");
    let has = |name: &str| wanted.contains(&name);
    if has("ETag") {
        w.elem("ETag", &rec.etag);
    }
    if has("Checksum")
        && let Some(ck) = &rec.checksum
        && let Some(alg) = ChecksumAlgorithm::parse(&ck.algorithm)
    {
        w.open("Checksum");
        w.elem(&format!("Checksum{}", alg.name()), &ck.value);
        w.elem("ChecksumType", &ck.kind);
        w.close("Checksum");
    }
    if has("ObjectParts") && !rec.parts.is_empty() {
        object_parts(&mut w, rec, marker, max_parts);
    }
    if has("StorageClass") {
        w.elem("StorageClass", "STANDARD");
    }
    if has("ObjectSize") {
        w.elem("ObjectSize", &rec.size.to_string());
    }
    w.close("GetObjectAttributesResponse");
    let mut r = xml_ok(w);
    set(&mut r, "last-modified", &util::http_date(rec.mtime_ms));
    match (&rec.version_id, version_param(ctx)) {
        (Some(v), _) => set(&mut r, "x-amz-version-id", v),
        (None, Some(_)) => set(&mut r, "x-amz-version-id", "null"),
        (None, None) => {}
    }
    crate::sse::answer(s, &mut r, rec.sse);
    Ok(r)
}

/// `x-amz-object-attributes`: a comma-separated list (the header may repeat) of names from
/// [`ATTRIBUTES`]; required, and an unknown name is refused rather than skipped.
fn wanted(ctx: &Ctx) -> Result<Vec<&'static str>, S3Error> {
    let mut wanted = Vec::new();
    for v in header_values(&ctx.headers, "x-amz-object-attributes") {
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(known) = ATTRIBUTES.iter().find(|a| **a == name) else {
                return Err(S3Error::invalid_argument(format!(
                    "Invalid attribute name specified: {name}"
                ))
                .with("ArgumentName", "x-amz-object-attributes"));
            };
            wanted.push(*known);
        }
    }
    if wanted.is_empty() {
        return Err(S3Error::invalid_argument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        )
        .with("ArgumentName", "x-amz-object-attributes"));
    }
    Ok(wanted)
}

/// A non-negative integer header, `None` when absent.
fn number(ctx: &Ctx, name: &str) -> Result<Option<u32>, S3Error> {
    let Some(v) = ctx.header(name) else {
        return Ok(None);
    };
    v.trim().parse().map(Some).map_err(|_| {
        S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
            .with("ArgumentName", name.to_string())
    })
}

/// `ObjectParts`: the count; the parts after `marker`, at most `max`, with their checksums,
/// when the parts have checksums (AWS lists no `Part` otherwise).
fn object_parts(w: &mut XmlWriter, rec: &ObjectRecord, marker: u32, max: u32) {
    w.open("ObjectParts");
    w.elem("PartsCount", &rec.parts.len().to_string());
    let alg = rec
        .checksum
        .as_ref()
        .and_then(|c| ChecksumAlgorithm::parse(&c.algorithm));
    if let Some(alg) = alg.filter(|_| rec.part_checksums.len() == rec.parts.len()) {
        let total = rec.parts.len();
        let first = (marker as usize).min(total);
        let last = first.saturating_add(max as usize).min(total);
        let truncated = last < total;
        w.elem("PartNumberMarker", &marker.to_string());
        if truncated {
            w.elem("NextPartNumberMarker", &last.to_string());
        }
        w.elem("MaxParts", &max.to_string());
        w.elem("IsTruncated", if truncated { "true" } else { "false" });
        for i in first..last {
            w.open("Part");
            w.elem("PartNumber", &(i + 1).to_string());
            w.elem("Size", &rec.parts[i].to_string());
            w.elem(&format!("Checksum{}", alg.name()), &rec.part_checksums[i]);
            w.close("Part");
        }
    }
    w.close("ObjectParts");
}
