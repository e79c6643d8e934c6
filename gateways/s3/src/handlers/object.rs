//! Object operations: put, get/head (ranges, conditions, overrides), delete, copy, tags.

use std::time::SystemTime;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use gatehouse_store::model::{ObjectMeta, ObjectRecord};
use gatehouse_store::ops::{CopyOptions, WriteCondition};
use gatehouse_store::versioning::{DeleteItem, Deleted};
use gatehouse_store::{Store, StoreError};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::body::{checksum_plan, integrity, payload_stream, stage_error, trailer_check};
use crate::error::S3Error;
use crate::request::{Ctx, header, header_list};
use crate::util::{self, ByteRange};
use crate::xml::XmlWriter;

/// User metadata above this many bytes is refused, as S3 does.
const MAX_USER_META: usize = 2048;

pub(crate) fn object_meta(h: &HeaderMap) -> Result<ObjectMeta, S3Error> {
    // Stored as sent, UTF-8 included (anything else was refused, `refusals`).
    let get = |n: &str| {
        h.get(n)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::to_string)
    };
    let mut user = Vec::new();
    let mut total = 0;
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = value
                .to_str()
                .map_err(|_| S3Error::invalid_argument("metadata values must be ASCII text"))?;
            total += k.len() + v.len();
            user.push((k.to_string(), v.to_string()));
        }
    }
    if total > MAX_USER_META {
        return Err(S3Error::new(
            400,
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size (2 KB).",
        ));
    }
    Ok(ObjectMeta {
        content_type: get("content-type"),
        content_encoding: crate::request::stored_content_encoding(h),
        content_disposition: get("content-disposition"),
        content_language: get("content-language"),
        cache_control: get("cache-control"),
        expires: get("expires"),
        user,
    })
}

/// `x-amz-tagging` / tag sets: URL query form `k1=v1&k2=v2`.
pub(super) fn parse_tag_header(h: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let Some(raw) = header(h, "x-amz-tagging") else {
        return Ok(Vec::new());
    };
    let q = util::Query::parse(Some(raw))?;
    validate_tags(&q.0)?;
    Ok(q.0)
}

fn validate_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    if tags.len() > 10 {
        return Err(S3Error::new(
            400,
            "BadRequest",
            "Object tags cannot be greater than 10",
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(S3Error::new(
                400,
                "InvalidTag",
                "The TagKey or TagValue you have provided is invalid",
            ));
        }
        // The reserved namespace (S3 sets such tags itself), as for buckets.
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(S3Error::new(
                400,
                "InvalidTag",
                "Your TagKey cannot be prefixed with aws:",
            ));
        }
        if tags[..i].iter().any(|(o, _)| o == k) {
            return Err(S3Error::new(
                400,
                "InvalidTag",
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    crate::body::check_declared_size(&ctx.headers, s.config().max_object_size)?;
    let plan = checksum_plan(&ctx.headers)?;
    let mut opts = integrity(&ctx.headers, payload, &plan)?;
    opts.meta = object_meta(&ctx.headers)?;
    opts.acl = crate::acl::from_headers(&ctx.headers)?;
    opts.tags = parse_tag_header(&ctx.headers)?;
    opts.condition = write_condition(&ctx.headers)?;
    opts.lock = super::lock::lock_request(&ctx.headers)?;
    (opts.sse, opts.customer_key) = crate::sse::write(s, &ctx.headers)?;
    let (stream, trailers) = payload_stream(body, payload, &ctx.headers);
    let info = s
        .put_object(
            &ctx.principal,
            ctx.bucket(),
            ctx.key(),
            stream,
            opts,
            trailer_check(plan.from_trailer, trailers),
        )
        .await
        .map_err(stage_error)?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &util::quote_etag(&info.record.etag));
    version_header(&mut r, &info.record);
    expiration_header(&mut r, info.expiration.as_ref());
    crate::sse::answer(s, &mut r, info.record.sse);
    crate::sse::echo_context(&mut r, &ctx.headers);
    if let Some(ck) = &info.record.checksum
        && let Some(alg) = gatehouse_store::ChecksumAlgorithm::parse(&ck.algorithm)
    {
        set(&mut r, alg.header(), &ck.value);
    }
    Ok(r)
}

/// `x-amz-version-id` of a record that has a version id (a versioned bucket's write).
/// `x-amz-expiration`: when a lifecycle rule expires the object, and which rule. Left out for a
/// date an HTTP date cannot carry (past the year 9999: a rule of millions of days).
pub(super) fn expiration_header(r: &mut Response, e: Option<&gatehouse_store::ops::Expiration>) {
    /// 9999-12-31T23:59:59Z, the last instant an HTTP date can name.
    const LAST_HTTP_DATE_MS: i64 = 253_402_300_799_000;
    if let Some(e) = e.filter(|e| (0..=LAST_HTTP_DATE_MS).contains(&e.due_ms)) {
        set(
            r,
            "x-amz-expiration",
            &format!(
                "expiry-date=\"{}\", rule-id=\"{}\"",
                util::http_date(e.due_ms),
                e.rule_id.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        );
    }
}

pub(crate) fn version_header(r: &mut Response, rec: &ObjectRecord) {
    if let Some(v) = &rec.version_id {
        set(r, "x-amz-version-id", v);
    }
}

/// The `versionId` a request names, if any.
pub(super) fn version_param(ctx: &Ctx) -> Option<&str> {
    ctx.query.get("versionId")
}

/// A NoSuchKey from an object operation (tagging, ACL, retention, legal hold, copy, parts…)
/// for a caller who may not list the bucket is AccessDenied: whether a key exists is for those
/// who may list (AWS). GET and HEAD decide this themselves ([`missing`]).
pub(crate) fn hide_missing(s: &Store, ctx: &Ctx, ep: crate::Endpoint, e: S3Error) -> S3Error {
    use crate::Endpoint as E;
    if e.code != "NoSuchKey" || matches!(ep, E::GetObject | E::HeadObject | E::GetObjectAttributes)
    {
        return e;
    }
    let list = gatehouse_store::rbac::Resource::Objects(ctx.bucket());
    if s.may(&ctx.principal, gatehouse_store::rbac::Verb::List, list)
        .is_err()
    {
        return S3Error::access_denied("Access Denied");
    }
    e
}

/// A miss on a key whose latest version is a delete marker answers with the marker's id
/// (`x-amz-delete-marker: true`), as S3 does.
pub(super) fn missing(s: &Store, ctx: &Ctx, e: StoreError) -> S3Error {
    let err = S3Error::from(e);
    if err.code != "NoSuchKey" {
        return err;
    }
    // Whether a key exists is for those who may list the bucket (AWS answers 403 otherwise).
    let list = gatehouse_store::rbac::Resource::Objects(ctx.bucket());
    if s.may(&ctx.principal, gatehouse_store::rbac::Verb::List, list)
        .is_err()
    {
        return S3Error::access_denied("Access Denied");
    }
    match s.latest_marker(ctx.bucket(), ctx.key()) {
        Ok(Some(m)) => err
            .header("x-amz-delete-marker", "true")
            .header("x-amz-version-id", m.version_id),
        _ => err,
    }
}

pub(crate) fn set(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        r.headers_mut().insert(n, v);
    }
}

/// The outcome of GET/HEAD conditional headers (RFC 9110 §13.2.2 order, as S3 applies it).
fn check_conditions(h: &HeaderMap, rec: &ObjectRecord) -> Result<(), S3Error> {
    let modified = util::system_time(rec.mtime_ms - rec.mtime_ms.rem_euclid(1000));
    let if_match = header_list(h, "if-match");
    if let Some(m) = &if_match
        && !util::etag_list_matches(m, &rec.etag)
    {
        return Err(S3Error::precondition_failed());
    }
    if if_match.is_none()
        && let Some(t) = header(h, "if-unmodified-since").and_then(util::parse_http_date)
        && modified > t
    {
        return Err(S3Error::precondition_failed());
    }
    let if_none = header_list(h, "if-none-match");
    if let Some(m) = &if_none
        && util::etag_list_matches(m, &rec.etag)
    {
        return Err(not_modified(rec));
    }
    if if_none.is_none()
        && let Some(t) = header(h, "if-modified-since").and_then(util::parse_http_date)
        && modified <= t
        && t <= SystemTime::now()
    {
        return Err(not_modified(rec));
    }
    Ok(())
}

/// Whether an `If-Range` (absent: yes) still names this object: a strong entity tag equal to
/// its ETag, or an HTTP date equal to its Last-Modified (RFC 9110 §13.1.5: a weak tag never
/// matches).
fn if_range_holds(h: &HeaderMap, rec: &ObjectRecord) -> bool {
    let Some(v) = header(h, "if-range").map(str::trim) else {
        return true;
    };
    if v.starts_with('"') {
        return v == util::quote_etag(&rec.etag);
    }
    if v.starts_with("W/") {
        return false;
    }
    let modified = util::system_time(rec.mtime_ms - rec.mtime_ms.rem_euclid(1000));
    util::parse_http_date(v) == Some(modified)
}

fn not_modified(rec: &ObjectRecord) -> S3Error {
    S3Error::new(304, "NotModified", "Not Modified").with("ETag", util::quote_etag(&rec.etag))
}

fn meta_headers(s: &Store, r: &mut Response, rec: &ObjectRecord) {
    set(r, "etag", &util::quote_etag(&rec.etag));
    crate::sse::answer(s, r, rec.sse);
    set(r, "last-modified", &util::http_date(rec.mtime_ms));
    set(r, "accept-ranges", "bytes");
    let m = &rec.meta;
    set(
        r,
        "content-type",
        m.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    for (name, v) in [
        ("content-encoding", &m.content_encoding),
        ("content-disposition", &m.content_disposition),
        ("content-language", &m.content_language),
        ("cache-control", &m.cache_control),
        ("expires", &m.expires),
    ] {
        if let Some(v) = v {
            set(r, name, v);
        }
    }
    for (k, v) in &m.user {
        set(r, &format!("x-amz-meta-{k}"), v);
    }
    if !rec.tags.is_empty() {
        set(r, "x-amz-tagging-count", &rec.tags.len().to_string());
    }
    if !rec.parts.is_empty() {
        set(r, "x-amz-mp-parts-count", &rec.parts.len().to_string());
    }
}

/// GetObject's `response-*` query parameters and the headers they set in the answer.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

pub fn get(s: &Store, ctx: &Ctx, head: bool) -> Result<Response, S3Error> {
    // A GET pins the chunks it will stream until its body is dropped (a delete and GC
    // meanwhile cannot cut it short); a HEAD reads none.
    let (p, b, k) = (&ctx.principal, ctx.bucket(), ctx.key());
    let (info, pins) = match (version_param(ctx), head) {
        (None, true) => (s.get_object(p, b, k).map_err(|e| missing(s, ctx, e))?, None),
        (None, false) => {
            let (info, pins) = s.open_object(p, b, k).map_err(|e| missing(s, ctx, e))?;
            (info, Some(pins))
        }
        (Some(v), true) => (s.get_version(p, b, k, v)?, None),
        (Some(v), false) => {
            let (info, pins) = s.open_version(p, b, k, v)?;
            (info, Some(pins))
        }
    };
    let rec = &info.record;
    // The API_GetObject reference: "You cannot use these response header values with an
    // unsigned (anonymous) request."
    if ctx.principal.anonymous && RESPONSE_OVERRIDES.iter().any(|(q, _)| ctx.query.has(q)) {
        return Err(S3Error::invalid_request(
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    // An SSE-C object is read only with its key (HEAD too), and a key is for such objects only.
    let customer = crate::sse::customer(&ctx.headers, crate::sse::CUSTOMER)?;
    gatehouse_store::sse::CustomerKey::check(customer.as_deref(), rec.sse)?;
    let size = rec.size;
    if let Err(e) = check_conditions(&ctx.headers, rec) {
        if e.status == StatusCode::NOT_MODIFIED {
            let mut r = empty(StatusCode::NOT_MODIFIED);
            set(&mut r, "etag", &util::quote_etag(&rec.etag));
            set(&mut r, "last-modified", &util::http_date(rec.mtime_ms));
            return Ok(r);
        }
        return Err(e);
    }
    let part_number = ctx.query.get("partNumber");
    let range: Option<ByteRange> = match (part_number, ctx.header("range")) {
        (Some(_), Some(_)) => {
            return Err(S3Error::invalid_request(
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        (Some(pn), None) => {
            let n: usize = pn
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                })?;
            if rec.parts.is_empty() {
                if n != 1 {
                    return Err(S3Error::new(
                        416,
                        "InvalidPartNumber",
                        "The requested partnumber is not satisfiable",
                    ));
                }
                None
            } else {
                let Some(len) = rec.parts.get(n - 1) else {
                    return Err(S3Error::new(
                        416,
                        "InvalidPartNumber",
                        "The requested partnumber is not satisfiable",
                    ));
                };
                let start: u64 = rec.parts[..n - 1].iter().sum();
                Some(ByteRange {
                    start,
                    end: start + len,
                })
            }
        }
        // RFC 9110 §13.1.5: a Range under an If-Range the object no longer matches is ignored,
        // so a download resumed after the object was replaced gets the whole new object
        // instead of its bytes spliced onto the old ones.
        (None, Some(_)) if !if_range_holds(&ctx.headers, rec) => None,
        (None, Some(h)) => util::parse_range(h, size)?,
        (None, None) => None,
    };
    let (start, end) = range.map_or((0, size), |r| (r.start, r.end));
    let body = match pins {
        None => Body::empty(),
        Some(pins) => {
            Body::from_stream(s.read_data_pinned_for(&rec.data, start..end, pins, customer))
        }
    };
    let status = if range.is_some() && (part_number.is_none() || !rec.parts.is_empty()) {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut r = (status, body).into_response();
    meta_headers(s, &mut r, rec);
    expiration_header(&mut r, info.expiration.as_ref());
    super::lock::lock_headers(&mut r, rec);
    match (&rec.version_id, version_param(ctx)) {
        (Some(v), _) => set(&mut r, "x-amz-version-id", v),
        (None, Some(_)) => set(&mut r, "x-amz-version-id", "null"),
        (None, None) => {}
    }
    set(&mut r, "content-length", &(end - start).to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{size}", end.saturating_sub(1)),
        );
    }
    if ctx
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
        && range.is_none()
        && let Some(ck) = &rec.checksum
        && let Some(alg) = gatehouse_store::ChecksumAlgorithm::parse(&ck.algorithm)
    {
        set(&mut r, alg.header(), &ck.value);
        set(&mut r, "x-amz-checksum-type", &ck.kind);
    }
    for (q, h) in RESPONSE_OVERRIDES {
        if let Some(v) = ctx.query.get(q) {
            set(&mut r, h, v);
        }
    }
    Ok(r)
}

/// DeleteObject; `If-Match` is honoured in the commit. `If-None-Match` and the size and time
/// conditions S3 offers directory buckets are refused: a delete never quietly ignores one.
pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    for name in [
        "if-none-match",
        "x-amz-if-match-size",
        "x-amz-if-match-last-modified-time",
    ] {
        if ctx.headers.contains_key(name) {
            return Err(S3Error::new(
                501,
                "NotImplemented",
                format!("{name} on DeleteObject is not implemented; only If-Match is"),
            )
            .with("Header", name));
        }
    }
    let cond = write_condition(&ctx.headers)?;
    if let Some(v) = version_param(ctx) {
        if !cond.is_empty() {
            return Err(
                S3Error::not_implemented("If-Match on a delete of a version")
                    .with("Header", "If-Match"),
            );
        }
        let d = s
            .delete_version(
                &ctx.principal,
                ctx.bucket(),
                ctx.key(),
                v,
                super::lock::bypass_asked(&ctx.headers),
            )
            .await?;
        return Ok(deleted_response(&d));
    }
    if cond.is_empty()
        && ctx
            .headers
            .contains_key(gatehouse_store::replication::REPLICA_HEADER)
    {
        // The other site of a replication pair: not sent back there (decision 0036).
        s.replication()
            .delete_replica(&ctx.principal, ctx.bucket(), ctx.key())
            .await?;
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let d = s
        .delete_current(&ctx.principal, ctx.bucket(), ctx.key(), cond.if_match)
        .await?;
    Ok(deleted_response(&d))
}

fn deleted_response(d: &Deleted) -> Response {
    let mut r = empty(StatusCode::NO_CONTENT);
    if let Some(v) = &d.version_id {
        set(&mut r, "x-amz-version-id", v);
    }
    if d.delete_marker {
        set(&mut r, "x-amz-delete-marker", "true");
    }
    r
}

pub async fn delete_many(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 2 << 20).await?;
    if doc.name != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet = doc
        .child_text("Quiet")
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let entries: Vec<DeleteItem> = doc
        .children_named("Object")
        .map(|o| {
            // Directory buckets' conditions: not carried out, so not taken.
            for name in ["LastModifiedTime", "Size"] {
                if o.child_text(name).is_some() {
                    return Err(S3Error::not_implemented(&format!(
                        "<{name}> in a DeleteObjects <Object> (only <ETag> is)"
                    )));
                }
            }
            let version_id = o.child_text("VersionId").map(|v| v.trim().to_string());
            let if_match = o.child_text("ETag").map(|e| e.trim().to_string());
            if version_id.is_some() && if_match.is_some() {
                return Err(S3Error::not_implemented(
                    "<ETag> with <VersionId> in a DeleteObjects <Object>",
                ));
            }
            let key = o.child_text("Key").ok_or_else(S3Error::malformed_xml)?;
            Ok(DeleteItem {
                key: key.to_string(),
                version_id,
                if_match,
            })
        })
        .collect::<Result<_, _>>()?;
    if entries.is_empty() || entries.len() > 1000 {
        return Err(
            S3Error::malformed_xml().with("Detail", "between 1 and 1000 objects per request")
        );
    }
    let outcomes = s
        .delete_versions(
            &ctx.principal,
            ctx.bucket(),
            entries.clone(),
            super::lock::bypass_asked(&ctx.headers),
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open_root("DeleteResult");
    for (
        DeleteItem {
            key: k,
            version_id: asked,
            ..
        },
        r,
    ) in entries.iter().zip(outcomes)
    {
        match r.map_err(S3Error::from) {
            Ok(d) => {
                if !quiet {
                    w.open("Deleted");
                    w.elem("Key", k);
                    if let Some(v) = asked {
                        w.elem("VersionId", v);
                        if d.delete_marker {
                            w.elem("DeleteMarker", "true");
                            w.elem("DeleteMarkerVersionId", v);
                        }
                    } else if d.delete_marker {
                        w.elem("DeleteMarker", "true");
                        if let Some(v) = &d.version_id {
                            w.elem("DeleteMarkerVersionId", v);
                        }
                    }
                    w.close("Deleted");
                }
            }
            Err(e) => {
                w.open("Error");
                w.elem("Key", k);
                if let Some(v) = asked {
                    w.elem("VersionId", v);
                }
                w.elem("Code", e.code);
                w.elem("Message", &e.message);
                w.close("Error");
            }
        }
    }
    w.close("DeleteResult");
    Ok(xml_ok(w))
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded: (bucket, key, version).
pub(crate) fn copy_source(ctx: &Ctx) -> Result<(String, String, Option<String>), S3Error> {
    let raw = ctx.header("x-amz-copy-source").unwrap_or("");
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    let version = match query {
        None => None,
        Some(q) => match q.strip_prefix("versionId=") {
            Some("") | None => {
                return Err(S3Error::invalid_argument(
                    "The copy source's query may only name a versionId",
                ));
            }
            Some(v) => Some(util::decode(v, false)?),
        },
    };
    let decoded = util::decode(path, false)?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((
            crate::request::canonical(b.to_string()),
            k.to_string(),
            version,
        )),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// `x-amz-copy-source-if-*` conditions, checked against the source inside the store's transaction.
/// The version a copy's source was read at, noted by the copy's source check (the store runs it
/// on the record it copies): `x-amz-copy-source-version-id` names it whenever the source has a
/// version id, as S3 answers it for a versioned source whether or not the request named one.
#[derive(Clone, Default)]
pub(crate) struct CopiedVersion(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl CopiedVersion {
    /// `check`, noting the version of the record it is asked about.
    pub(crate) fn noting(
        &self,
        check: impl FnOnce(&ObjectRecord) -> Result<(), StoreError> + Send + 'static,
    ) -> impl FnOnce(&ObjectRecord) -> Result<(), StoreError> + Send + 'static {
        let seen = self.0.clone();
        move |rec| {
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = rec.version_id.clone();
            check(rec)
        }
    }

    /// The version copied, else the one the request named (`null`).
    pub(crate) fn header(&self, asked: Option<&str>) -> Option<String> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        seen.or_else(|| asked.map(str::to_string))
    }
}

pub(crate) fn copy_conditions(
    h: &HeaderMap,
) -> impl FnOnce(&ObjectRecord) -> Result<(), StoreError> + Send + 'static {
    let if_match = header_list(h, "x-amz-copy-source-if-match");
    let if_none = header_list(h, "x-amz-copy-source-if-none-match");
    let unmod = header(h, "x-amz-copy-source-if-unmodified-since").and_then(util::parse_http_date);
    let modsince = header(h, "x-amz-copy-source-if-modified-since").and_then(util::parse_http_date);
    move |rec: &ObjectRecord| {
        let failed = || StoreError::PreconditionFailed;
        let modified = util::system_time(rec.mtime_ms - rec.mtime_ms.rem_euclid(1000));
        if let Some(m) = &if_match {
            if !util::etag_list_matches(m, &rec.etag) {
                return Err(failed());
            }
        } else if let Some(t) = unmod
            && modified > t
        {
            return Err(failed());
        }
        if let Some(m) = &if_none {
            if util::etag_list_matches(m, &rec.etag) {
                return Err(failed());
            }
        } else if let Some(t) = modsince
            && modified <= t
        {
            return Err(failed());
        }
        Ok(())
    }
}

/// `If-Match` / `If-None-Match` of a write (PutObject, CopyObject's destination,
/// CompleteMultipartUpload), handed to the store, which decides them inside its commit.
/// S3 takes only `*` in `If-None-Match` on writes.
pub(crate) fn write_condition(h: &HeaderMap) -> Result<WriteCondition, S3Error> {
    let if_none_match = match header_list(h, "if-none-match") {
        None => false,
        Some(l) if l.split(',').all(|t| t.trim() == "*") => true,
        Some(_) => {
            return Err(S3Error::new(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented: If-None-Match on a write takes only *",
            )
            .with("Header", "If-None-Match"));
        }
    };
    Ok(WriteCondition {
        if_match: header_list(h, "if-match"),
        if_none_match,
    })
}

pub async fn copy(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let (sb, sk, sv) = copy_source(ctx)?;
    let replace = ctx
        .header("x-amz-metadata-directive")
        .map(|d| d.trim().to_ascii_uppercase());
    let replace_meta = match replace.as_deref() {
        None | Some("COPY") => None,
        Some("REPLACE") => Some(object_meta(&ctx.headers)?),
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    let replace_tags = match ctx
        .header("x-amz-tagging-directive")
        .map(|d| d.trim().to_ascii_uppercase())
        .as_deref()
    {
        None | Some("COPY") => None,
        Some("REPLACE") => Some(parse_tag_header(&ctx.headers)?),
        Some(_) => return Err(S3Error::invalid_argument("Unknown tagging directive.")),
    };
    let (sse, customer_key) = crate::sse::write(s, &ctx.headers)?;
    let source_customer_key = crate::sse::customer(&ctx.headers, crate::sse::SOURCE_CUSTOMER)?;
    if sb == ctx.bucket()
        && sk == ctx.key()
        && sv.is_none()
        && replace_meta.is_none()
        && replace_tags.is_none()
        && sse.is_none()
        && customer_key.is_none()
        && source_customer_key.is_none()
    {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let copied = CopiedVersion::default();
    let info = s
        .copy_object(
            &ctx.principal,
            (&sb, &sk),
            (ctx.bucket(), ctx.key()),
            CopyOptions {
                replace_meta,
                replace_tags,
                condition: write_condition(&ctx.headers)?,
                source_version: sv.clone(),
                lock: super::lock::lock_request(&ctx.headers)?,
                acl: crate::acl::from_headers(&ctx.headers)?,
                sse,
                customer_key,
                source_customer_key,
                checksum: copy_checksum(ctx)?,
            },
            copied.noting(copy_conditions(&ctx.headers)),
        )
        .await?;
    let mut w = XmlWriter::new();
    w.open_root("CopyObjectResult");
    w.elem("LastModified", &util::iso8601(info.record.mtime_ms));
    w.elem("ETag", &util::quote_etag(&info.record.etag));
    w.close("CopyObjectResult");
    let mut r = xml_ok(w);
    version_header(&mut r, &info.record);
    expiration_header(&mut r, info.expiration.as_ref());
    crate::sse::answer(s, &mut r, info.record.sse);
    crate::sse::echo_context(&mut r, &ctx.headers);
    if let Some(v) = copied.header(sv.as_deref()) {
        set(&mut r, "x-amz-copy-source-version-id", &v);
    }
    Ok(r)
}

/// CopyObject's `x-amz-checksum-algorithm` (API_CopyObject: "Unrecognized or unsupported
/// values will respond with the HTTP status code 400 Bad Request").
fn copy_checksum(ctx: &Ctx) -> Result<Option<gatehouse_store::ChecksumAlgorithm>, S3Error> {
    ctx.header("x-amz-checksum-algorithm")
        .map(|a| {
            gatehouse_store::ChecksumAlgorithm::parse(a.trim()).ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Value for x-amz-checksum-algorithm header is invalid: {a}"
                ))
            })
        })
        .transpose()
}

pub fn get_tags(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let info = match version_param(ctx) {
        Some(v) => s.get_version(&ctx.principal, ctx.bucket(), ctx.key(), v)?,
        None => s.get_object(&ctx.principal, ctx.bucket(), ctx.key())?,
    };
    let mut r = xml_ok(tagging_xml(&info.record.tags));
    tagged_version(&mut r, ctx, &info.record);
    Ok(r)
}

/// The `<Tagging><TagSet>` document of `tags` (GetObjectTagging, GetBucketTagging).
pub(crate) fn tagging_xml(tags: &[(String, String)]) -> XmlWriter {
    let mut w = XmlWriter::new();
    w.open_root("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag");
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("Tag");
    }
    w.close("TagSet");
    w.close("Tagging");
    w
}

pub async fn put_tags(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let tags = tagging_document(&doc)?;
    validate_tags(&tags)?;
    set_tags(s, ctx, tags, StatusCode::OK).await
}

/// The tags of a `<Tagging><TagSet><Tag>…` document (PutObjectTagging, POST's `tagging`).
pub(crate) fn tagging_document(doc: &crate::xml::Node) -> Result<Vec<(String, String)>, S3Error> {
    let set = doc
        .child("TagSet")
        .filter(|_| doc.name == "Tagging")
        .ok_or_else(S3Error::malformed_xml)?;
    set.children_named("Tag")
        .map(|t| match (t.child_text("Key"), t.child_text("Value")) {
            (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
            (Some(k), None) => Ok((k.to_string(), String::new())),
            _ => Err(S3Error::malformed_xml()),
        })
        .collect()
}

pub async fn delete_tags(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    set_tags(s, ctx, Vec::new(), StatusCode::NO_CONTENT).await
}

async fn set_tags(
    s: &Store,
    ctx: &Ctx,
    tags: Vec<(String, String)>,
    status: StatusCode,
) -> Result<Response, S3Error> {
    let version = version_param(ctx).map(str::to_string);
    s.set_version_tags(
        &ctx.principal,
        ctx.bucket(),
        ctx.key(),
        version.clone(),
        tags,
    )
    .await?;
    let mut r = empty(status);
    if let Some(v) = version {
        set(&mut r, "x-amz-version-id", &v);
    }
    Ok(r)
}

/// `x-amz-version-id` of a tagging answer: the version read.
fn tagged_version(r: &mut Response, ctx: &Ctx, rec: &ObjectRecord) {
    match (&rec.version_id, version_param(ctx)) {
        (Some(v), _) => set(r, "x-amz-version-id", v),
        (None, Some(_)) => set(r, "x-amz-version-id", "null"),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::header_map;

    #[test]
    fn write_conditions_see_every_value() {
        // A value that is not text is a condition that matches no ETag, not an absent one.
        let c = write_condition(&header_map(&[("if-match", b"\"\xff\"")])).unwrap();
        assert!(c.if_match.is_some());
        // Field lines of a list header combine (RFC 9110 section 5.3).
        let c = write_condition(&header_map(&[
            ("if-match", b"\"a\""),
            ("if-match", b"\"b\""),
        ]))
        .unwrap();
        assert_eq!(c.if_match.as_deref(), Some("\"a\", \"b\""));
        let star = write_condition(&header_map(&[("if-none-match", b"*")])).unwrap();
        assert!(star.if_none_match);
        for bad in [
            &[("if-none-match", &b"*"[..]), ("if-none-match", b"\"x\"")][..],
            &[("if-none-match", &b"\xff"[..])][..],
        ] {
            let e = write_condition(&header_map(bad)).unwrap_err();
            assert_eq!(e.code, "NotImplemented");
        }
    }
}
