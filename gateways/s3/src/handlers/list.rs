//! ListObjects (v1) and ListObjectsV2 over one store listing (ListObjectVersions is in
//! `versioning`).

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_store::Store;
use gatehouse_store::ops::{ListEntry, ListPage, ListQuery};

use super::xml_ok;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::XmlWriter;

pub(super) struct Common {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: usize,
    pub url: bool,
}

pub(super) fn common(ctx: &Ctx, max_name: &str) -> Result<Common, S3Error> {
    let max_keys = match ctx.query.get(max_name) {
        None => 1000,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                S3Error::invalid_argument(format!("{max_name} must be a non-negative integer"))
            })?
            .min(1000) as usize,
    };
    let url = match ctx.query.get("encoding-type") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    Ok(Common {
        prefix: ctx.query.get("prefix").unwrap_or("").to_string(),
        delimiter: ctx
            .query
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        max_keys,
        url,
    })
}

pub(super) fn enc(url: bool, s: &str) -> String {
    if url {
        util::url_encode(s)
    } else {
        s.to_string()
    }
}

fn page(s: &Store, ctx: &Ctx, c: &Common, after: Option<String>) -> Result<ListPage, S3Error> {
    Ok(s.list_objects(
        &ctx.principal,
        ctx.bucket(),
        &ListQuery {
            prefix: c.prefix.clone(),
            delimiter: c.delimiter.clone(),
            after,
            max_keys: c.max_keys,
        },
    )?)
}

/// `encode_prefix`: whether `encoding-type=url` covers `<Prefix>`. It does in ListObjectsV2 and
/// ListObjectVersions; ListObjects (v1) returns the prefix as given: botocore's v1 handler
/// (`decode_list_object`) decodes Delimiter, Marker, NextMarker, Key and CommonPrefixes but not
/// Prefix, and boto3 tests run against AWS (ceph/s3-tests `test_bucket_list_prefix_*`) expect
/// `list_objects` to hand back the prefix unchanged.
pub(super) fn header_fields(w: &mut XmlWriter, ctx: &Ctx, c: &Common, encode_prefix: bool) {
    w.elem("Name", ctx.named_bucket());
    w.elem("Prefix", &enc(c.url && encode_prefix, &c.prefix));
    if let Some(d) = &c.delimiter {
        w.elem("Delimiter", &enc(c.url, d));
    }
    w.elem("MaxKeys", &c.max_keys.to_string());
    if c.url {
        w.elem("EncodingType", "url");
    }
}

/// `owner`: the `<Owner>` each entry carries (the bucket's owner), if the listing shows it.
fn entries(w: &mut XmlWriter, c: &Common, p: &ListPage, owner: Option<&str>) {
    for e in &p.entries {
        if let ListEntry::Object { key, record } = e {
            w.open("Contents");
            w.elem("Key", &enc(c.url, key));
            w.elem("LastModified", &util::iso8601(record.mtime_ms));
            w.elem("ETag", &util::quote_etag(&record.etag));
            if let Some(ck) = &record.checksum {
                w.elem("ChecksumAlgorithm", &ck.algorithm);
            }
            w.elem("Size", &record.size.to_string());
            if let Some(id) = owner {
                super::owner(w, "Owner", id);
            }
            w.elem("StorageClass", "STANDARD");
            w.close("Contents");
        }
    }
    for e in &p.entries {
        if let ListEntry::Prefix(pfx) = e {
            w.open("CommonPrefixes");
            w.elem("Prefix", &enc(c.url, pfx));
            w.close("CommonPrefixes");
        }
    }
}

pub fn list_v1(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let c = common(ctx, "max-keys")?;
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty());
    let p = page(s, ctx, &c, marker.map(str::to_string))?;
    let mut w = XmlWriter::new();
    w.open_root("ListBucketResult");
    header_fields(&mut w, ctx, &c, false);
    w.elem("Marker", &enc(c.url, marker.unwrap_or("")));
    w.elem("IsTruncated", if p.truncated { "true" } else { "false" });
    if p.truncated
        && let Some(last) = p.last()
    {
        w.elem("NextMarker", &enc(c.url, last));
    }
    let owner = s.listing_owner(ctx.bucket())?;
    entries(&mut w, &c, &p, Some(&owner));
    w.close("ListBucketResult");
    Ok(xml_ok(w))
}

pub fn list_v2(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let c = common(ctx, "max-keys")?;
    let token = ctx.query.get("continuation-token");
    let start_after = ctx.query.get("start-after").filter(|m| !m.is_empty());
    let after = match token {
        Some(t) => Some(
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument("The continuation token provided is incorrect")
                })?,
        ),
        None => start_after.map(str::to_string),
    };
    let p = page(s, ctx, &c, after)?;
    let fetch_owner = ctx.query.get("fetch-owner") == Some("true");
    let mut w = XmlWriter::new();
    w.open_root("ListBucketResult");
    header_fields(&mut w, ctx, &c, true);
    w.elem("KeyCount", &p.entries.len().to_string());
    if let Some(t) = token {
        w.elem("ContinuationToken", t);
    }
    if let Some(sa) = start_after {
        w.elem("StartAfter", &enc(c.url, sa));
    }
    w.elem("IsTruncated", if p.truncated { "true" } else { "false" });
    if p.truncated
        && let Some(last) = p.last()
    {
        w.elem("NextContinuationToken", &URL_SAFE_NO_PAD.encode(last));
    }
    let owner = match fetch_owner {
        true => Some(s.listing_owner(ctx.bucket())?),
        false => None,
    };
    entries(&mut w, &c, &p, owner.as_deref());
    w.close("ListBucketResult");
    Ok(xml_ok(w))
}
