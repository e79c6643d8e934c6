//! Put/GetBucketVersioning and ListObjectVersions (decision 0038). The version-addressed
//! object operations (`?versionId=` on GET, HEAD, DELETE, tagging, copy sources) live with the
//! object handlers.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::model::Versioning;
use gatehouse_store::versioning::{VersionItem, VersionsQuery};
use http::StatusCode;

use super::list::{common, enc, header_fields};
use super::{empty, owner, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::XmlWriter;

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let state = s.versioning(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("VersioningConfiguration");
    match state {
        Versioning::Unversioned => {}
        Versioning::Enabled => w.elem("Status", "Enabled"),
        Versioning::Suspended => w.elem("Status", "Suspended"),
    }
    w.close("VersioningConfiguration");
    Ok(xml_ok(w))
}

/// `<VersioningConfiguration><Status>Enabled|Suspended</Status></VersioningConfiguration>`.
/// MFA delete is not offered: `<MfaDelete>Enabled</MfaDelete>` is refused, never ignored.
pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    if doc.name != "VersioningConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    if let Some(other) = doc
        .children
        .iter()
        .find(|c| c.name != "Status" && c.name != "MfaDelete")
    {
        return Err(S3Error::malformed_xml().with("Detail", format!("unknown {}", other.name)));
    }
    match doc.child_text("MfaDelete").map(str::trim) {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::not_implemented("MFA delete").with("Header", "x-amz-mfa"));
        }
        Some(_) => return Err(S3Error::malformed_xml()),
    }
    let to = match doc.child_text("Status").map(str::trim) {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        // No status: nothing to change (S3 accepts the empty document).
        None => {
            s.versioning(&ctx.principal, ctx.bucket())?;
            return Ok(empty(StatusCode::OK));
        }
        Some(_) => return Err(S3Error::malformed_xml()),
    };
    s.set_versioning(&ctx.principal, ctx.bucket(), to).await?;
    Ok(empty(StatusCode::OK))
}

pub fn list(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let c = common(ctx, "max-keys")?;
    let key_marker = ctx.query.get("key-marker").filter(|m| !m.is_empty());
    let vid_marker = ctx.query.get("version-id-marker").filter(|m| !m.is_empty());
    if vid_marker.is_some() && key_marker.is_none() {
        return Err(S3Error::invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    let page = s.list_versions(
        &ctx.principal,
        ctx.bucket(),
        &VersionsQuery {
            prefix: c.prefix.clone(),
            delimiter: c.delimiter.clone(),
            key_marker: key_marker.map(str::to_string),
            version_id_marker: vid_marker.map(str::to_string),
            max_keys: c.max_keys,
        },
    )?;
    let bucket_owner = s.listing_owner(ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("ListVersionsResult");
    header_fields(&mut w, ctx, &c, true);
    w.elem("KeyMarker", &enc(c.url, key_marker.unwrap_or("")));
    w.elem("VersionIdMarker", vid_marker.unwrap_or(""));
    w.elem("IsTruncated", if page.truncated { "true" } else { "false" });
    if let Some(k) = &page.next_key_marker {
        w.elem("NextKeyMarker", &enc(c.url, k));
    }
    if let Some(v) = &page.next_version_id_marker {
        w.elem("NextVersionIdMarker", v);
    }
    let latest = |b: bool| if b { "true" } else { "false" };
    for it in &page.items {
        match it {
            VersionItem::Version {
                key,
                version_id,
                is_latest,
                record,
            } => {
                w.open("Version");
                w.elem("Key", &enc(c.url, key));
                w.elem("VersionId", version_id);
                w.elem("IsLatest", latest(*is_latest));
                w.elem("LastModified", &util::iso8601(record.mtime_ms));
                w.elem("ETag", &util::quote_etag(&record.etag));
                if let Some(ck) = &record.checksum {
                    w.elem("ChecksumAlgorithm", &ck.algorithm);
                }
                w.elem("Size", &record.size.to_string());
                owner(&mut w, "Owner", &bucket_owner);
                w.elem("StorageClass", "STANDARD");
                w.close("Version");
            }
            VersionItem::DeleteMarker {
                key,
                version_id,
                is_latest,
                mtime_ms,
            } => {
                w.open("DeleteMarker");
                w.elem("Key", &enc(c.url, key));
                w.elem("VersionId", version_id);
                w.elem("IsLatest", latest(*is_latest));
                w.elem("LastModified", &util::iso8601(*mtime_ms));
                owner(&mut w, "Owner", &bucket_owner);
                w.close("DeleteMarker");
            }
            VersionItem::Prefix(_) => {}
        }
    }
    for it in &page.items {
        if let VersionItem::Prefix(p) = it {
            w.open("CommonPrefixes");
            w.elem("Prefix", &enc(c.url, p));
            w.close("CommonPrefixes");
        }
    }
    w.close("ListVersionsResult");
    Ok(xml_ok(w))
}
