//! Multipart upload operations.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::ops::{CompleteClaims, CompletePart, UploadsEntry, UploadsQuery};
use gatehouse_store::{ChecksumAlgorithm, ChecksumType, Store};
use http::{HeaderName, HeaderValue, StatusCode};

use super::object::{copy_conditions, copy_source, object_meta, parse_tag_header, write_condition};
use super::{empty, owner, xml_ok};
use crate::auth::PayloadMode;
use crate::body::{checksum_plan, integrity, payload_stream, stage_error, trailer_check};
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::XmlWriter;

fn upload_id(ctx: &Ctx) -> &str {
    ctx.query.get("uploadId").unwrap_or("")
}

fn part_number(ctx: &Ctx) -> Result<u32, S3Error> {
    ctx.query
        .get("partNumber")
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

/// `x-amz-checksum-type` (`FULL_OBJECT` or `COMPOSITE`), if sent.
fn checksum_type(ctx: &Ctx) -> Result<Option<ChecksumType>, S3Error> {
    ctx.header("x-amz-checksum-type")
        .map(|t| {
            ChecksumType::parse(t).ok_or_else(|| {
                S3Error::invalid_request(format!(
                    "Value for x-amz-checksum-type header is invalid: {t}"
                ))
            })
        })
        .transpose()
}

fn set(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        r.headers_mut().insert(n, v);
    }
}

pub async fn create(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let (sse, customer) = crate::sse::write(s, &ctx.headers)?;
    let meta = object_meta(&ctx.headers)?;
    let tags = parse_tag_header(&ctx.headers)?;
    let alg = match ctx.header("x-amz-checksum-algorithm") {
        Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
            S3Error::invalid_request(format!("Checksum algorithm {a} is not supported"))
        })?),
        None => None,
    };
    let kind = checksum_type(ctx)?;
    let checksum = match (alg, kind) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(S3Error::invalid_request(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            ));
        }
        (Some(a), k) => {
            let k = k.unwrap_or(ChecksumType::default_for(a));
            if !k.allowed(a) {
                return Err(S3Error::invalid_request(format!(
                    "The {} checksum type cannot be used with the {} checksum algorithm.",
                    k.name(),
                    a.name().to_ascii_lowercase()
                )));
            }
            Some((a, k))
        }
    };
    let u = s
        .create_upload(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            meta,
            tags,
            checksum,
            super::lock::lock_request(&ctx.headers)?,
            crate::acl::from_headers(&ctx.headers)?,
            sse,
            customer.as_deref(),
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open_root("InitiateMultipartUploadResult");
    w.elem("Bucket", ctx.named_bucket());
    w.elem("Key", ctx.key());
    w.elem("UploadId", &u.upload_id);
    w.close("InitiateMultipartUploadResult");
    let mut r = xml_ok(w);
    if let Some((a, k)) = checksum {
        set(&mut r, "x-amz-checksum-algorithm", a.name());
        set(&mut r, "x-amz-checksum-type", k.name());
    }
    crate::sse::answer(s, &mut r, u.sse);
    crate::sse::echo_context(&mut r, &ctx.headers);
    Ok(r)
}

pub async fn upload_part(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let n = part_number(ctx)?;
    crate::body::check_declared_size(&ctx.headers, s.config().max_object_size)?;
    let plan = checksum_plan(&ctx.headers)?;
    let mut opts = integrity(&ctx.headers, payload, &plan)?;
    (opts.sse, opts.customer_key) = crate::sse::write(s, &ctx.headers)?;
    let (stream, trailers) = payload_stream(body, payload, &ctx.headers);
    let part = s
        .upload_part(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            upload_id(ctx),
            n,
            stream,
            opts,
            trailer_check(plan.from_trailer, trailers),
        )
        .await
        .map_err(stage_error)?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &util::quote_etag(&part.etag));
    if let (Some(alg), Some(v)) = (plan.algorithm, &part.checksum) {
        set(&mut r, alg.header(), v);
    }
    crate::sse::answer(s, &mut r, part.sse);
    Ok(r)
}

pub async fn upload_part_copy(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let n = part_number(ctx)?;
    let (sb, sk, sv) = copy_source(ctx)?;
    let range = match ctx.header("x-amz-copy-source-range") {
        None => None,
        Some(r) => {
            let spec = r.trim().strip_prefix("bytes=").ok_or_else(|| {
                S3Error::invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last",
                )
            })?;
            let (a, b) = spec.split_once('-').ok_or_else(|| {
                S3Error::invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last",
                )
            })?;
            match (a.parse::<u64>(), b.parse::<u64>()) {
                // A range past the source's end is refused by the store (InvalidRange).
                (Ok(a), Ok(b)) if a <= b => Some(a..b.saturating_add(1)),
                _ => {
                    return Err(S3Error::invalid_argument(
                        "The x-amz-copy-source-range value must be of the form bytes=first-last",
                    ));
                }
            }
        }
    };
    let copied = super::object::CopiedVersion::default();
    let check = copied.noting(copy_conditions(&ctx.headers));
    let part = s
        .upload_part_copy(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            upload_id(ctx),
            n,
            (&sb, &sk, sv.as_deref()),
            range,
            gatehouse_store::sse::CopyKeys {
                customer: crate::sse::customer(&ctx.headers, crate::sse::CUSTOMER)?,
                source: crate::sse::customer(&ctx.headers, crate::sse::SOURCE_CUSTOMER)?,
            },
            check,
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open_root("CopyPartResult");
    w.elem("LastModified", &util::iso8601(part.mtime_ms));
    w.elem("ETag", &util::quote_etag(&part.etag));
    if let (Some(alg), Some(v)) = (
        part.checksum_algorithm
            .as_deref()
            .and_then(ChecksumAlgorithm::parse),
        &part.checksum,
    ) {
        w.elem(&format!("Checksum{}", alg.name()), v);
    }
    w.close("CopyPartResult");
    let mut r = xml_ok(w);
    crate::sse::answer(s, &mut r, part.sse);
    if let Some(v) = copied.header(sv.as_deref())
        && let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from("x-amz-copy-source-version-id"),
            http::HeaderValue::from_str(&v),
        )
    {
        r.headers_mut().insert(n, v);
    }
    Ok(r)
}

pub async fn complete(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let condition = write_condition(&ctx.headers)?;
    // A completion's `x-amz-checksum-*` header is the object's checksum, and
    // `x-amz-mp-object-size` its size: both checked by the store against what the parts give,
    // not against the XML body.
    let mut claims = CompleteClaims {
        checksum_type: checksum_type(ctx)?,
        sse: crate::sse::asked(s, &ctx.headers)?,
        ..Default::default()
    };
    let mut body_headers = ctx.headers.clone();
    if let Some((alg, v)) = crate::body::checksum_header(&ctx.headers)? {
        claims.checksum = Some((alg, v.trim().to_string()));
        body_headers.remove(alg.header());
    }
    if let Some(v) = ctx.header("x-amz-mp-object-size") {
        claims.object_size = Some(v.trim().parse().map_err(|_| {
            S3Error::invalid_argument(format!(
                "Value for x-amz-mp-object-size header is invalid: {v}"
            ))
        })?);
    }
    let doc = {
        let bytes = crate::body::read_small(body, payload, &body_headers, 4 << 20).await?;
        crate::xml::parse(&bytes).ok_or_else(S3Error::malformed_xml)?
    };
    if doc.name != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml());
    }
    let parts: Vec<CompletePart> = doc
        .children_named("Part")
        .map(|p| {
            let n = p
                .child_text("PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or_else(S3Error::malformed_xml)?;
            let etag = p.child_text("ETag").ok_or_else(S3Error::malformed_xml)?;
            // `<ChecksumCRC32>` and the like: at most one, compared with the part's own.
            let mut checksum = None;
            for alg in ChecksumAlgorithm::ALL {
                if let Some(v) = p.child_text(&format!("Checksum{}", alg.name())) {
                    if checksum.is_some() {
                        return Err(S3Error::invalid_request(format!(
                            "part {n} carries more than one checksum"
                        )));
                    }
                    checksum = Some((alg, v.trim().to_string()));
                }
            }
            Ok(CompletePart {
                part_number: n,
                etag: etag.to_string(),
                checksum,
            })
        })
        .collect::<Result<_, S3Error>>()?;
    if parts.is_empty() {
        return Err(S3Error::malformed_xml().with("Detail", "You must specify at least one part"));
    }
    let info = s
        .complete_upload(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            upload_id(ctx),
            parts,
            condition,
            crate::sse::customer(&ctx.headers, crate::sse::CUSTOMER)?.map(|k| k.md5),
            claims,
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open_root("CompleteMultipartUploadResult");
    w.elem(
        "Location",
        &format!("/{}/{}", ctx.named_bucket(), util::url_encode(ctx.key())),
    );
    w.elem("Bucket", ctx.named_bucket());
    w.elem("Key", ctx.key());
    w.elem("ETag", &util::quote_etag(&info.etag));
    if let Some(ck) = &info.checksum
        && let Some(alg) = ChecksumAlgorithm::parse(&ck.algorithm)
    {
        w.elem(&format!("Checksum{}", alg.name()), &ck.value);
        w.elem("ChecksumType", &ck.kind);
    }
    w.close("CompleteMultipartUploadResult");
    let mut r = xml_ok(w);
    if let Some(v) = &info.version_id
        && let Ok(v) = http::HeaderValue::from_str(v)
    {
        r.headers_mut().insert("x-amz-version-id", v);
    }
    crate::sse::answer(s, &mut r, info.sse);
    super::object::expiration_header(&mut r, info.expiration.as_ref());
    Ok(r)
}

pub async fn abort(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.abort_upload(&ctx.principal, ctx.bucket(), ctx.key(), upload_id(ctx))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn bounded(ctx: &Ctx, name: &str) -> Result<usize, S3Error> {
    match ctx.query.get(name) {
        None => Ok(1000),
        Some(v) => v.parse::<usize>().map(|n| n.min(1000)).map_err(|_| {
            S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
        }),
    }
}

pub fn list_parts(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let max = bounded(ctx, "max-parts")?;
    let marker = match ctx.query.get("part-number-marker") {
        None => 0,
        Some(m) => m
            .parse::<u32>()
            .map_err(|_| S3Error::invalid_argument("part-number-marker must be an integer"))?,
    };
    let (u, parts, truncated) = s.list_parts(
        &ctx.principal,
        ctx.bucket(),
        ctx.key(),
        upload_id(ctx),
        marker,
        max,
        crate::sse::customer(&ctx.headers, crate::sse::CUSTOMER)?.map(|k| k.md5),
    )?;
    let mut w = XmlWriter::new();
    w.open_root("ListPartsResult");
    w.elem("Bucket", ctx.named_bucket());
    w.elem("Key", ctx.key());
    w.elem("UploadId", &u.upload_id);
    owner(&mut w, "Initiator", &u.owner);
    owner(&mut w, "Owner", &u.owner);
    w.elem("StorageClass", "STANDARD");
    w.elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.last() {
        w.elem("NextPartNumberMarker", &last.part_number.to_string());
    }
    w.elem("MaxParts", &max.to_string());
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    if let Some(a) = &u.checksum_algorithm {
        w.elem("ChecksumAlgorithm", a);
    }
    for p in parts {
        w.open("Part");
        w.elem("PartNumber", &p.part_number.to_string());
        w.elem("LastModified", &util::iso8601(p.mtime_ms));
        w.elem("ETag", &util::quote_etag(&p.etag));
        w.elem("Size", &p.size.to_string());
        if let (Some(a), Some(v)) = (
            u.checksum_algorithm
                .as_deref()
                .and_then(ChecksumAlgorithm::parse),
            &p.checksum,
        ) {
            w.elem(&format!("Checksum{}", a.name()), v);
        }
        w.close("Part");
    }
    w.close("ListPartsResult");
    Ok(xml_ok(w))
}

pub fn list_uploads(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    use super::list::enc;
    let c = super::list::common(ctx, "max-uploads")?;
    let key_marker = ctx.query.get("key-marker").filter(|m| !m.is_empty());
    let id_marker = ctx.query.get("upload-id-marker").filter(|m| !m.is_empty());
    let (entries, truncated) = s.list_uploads(
        &ctx.principal,
        ctx.bucket(),
        &UploadsQuery {
            prefix: &c.prefix,
            delimiter: c.delimiter.as_deref(),
            key_marker,
            upload_id_marker: id_marker,
            max: c.max_keys,
        },
    )?;
    let mut w = XmlWriter::new();
    w.open_root("ListMultipartUploadsResult");
    w.elem("Bucket", ctx.named_bucket());
    w.elem("KeyMarker", &enc(c.url, key_marker.unwrap_or("")));
    w.elem("UploadIdMarker", id_marker.unwrap_or(""));
    match entries.last() {
        Some(UploadsEntry::Upload(last)) => {
            w.elem("NextKeyMarker", &enc(c.url, &last.key));
            w.elem("NextUploadIdMarker", &last.upload_id);
        }
        Some(UploadsEntry::Prefix(p)) => w.elem("NextKeyMarker", &enc(c.url, p)),
        None => {}
    }
    w.elem("Prefix", &enc(c.url, &c.prefix));
    if let Some(d) = &c.delimiter {
        w.elem("Delimiter", &enc(c.url, d));
    }
    w.elem("MaxUploads", &c.max_keys.to_string());
    if c.url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    for e in &entries {
        if let UploadsEntry::Upload(u) = e {
            w.open("Upload");
            w.elem("Key", &enc(c.url, &u.key));
            w.elem("UploadId", &u.upload_id);
            // Who started it, as ListParts answers (and RGW, and AWS for an uploader that
            // will own the object).
            owner(&mut w, "Initiator", &u.owner);
            owner(&mut w, "Owner", &u.owner);
            w.elem("StorageClass", "STANDARD");
            w.elem("Initiated", &util::iso8601(u.initiated_ms));
            if let Some(a) = &u.checksum_algorithm {
                w.elem("ChecksumAlgorithm", a);
            }
            w.close("Upload");
        }
    }
    for e in &entries {
        if let UploadsEntry::Prefix(p) = e {
            w.open("CommonPrefixes");
            w.elem("Prefix", &enc(c.url, p));
            w.close("CommonPrefixes");
        }
    }
    w.close("ListMultipartUploadsResult");
    Ok(xml_ok(w))
}
