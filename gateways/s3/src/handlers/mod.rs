//! Authentication, routing and dispatch: one function per operation, each a thin adapter.

mod access;
mod attributes;
mod bucket;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod object;
mod post;
mod quota;
mod replication;
mod tagging;
mod versioning;

pub(crate) use object::copy_source;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use gatehouse_store::{Principal, Store};
use http::{HeaderValue, StatusCode};

use crate::S3State;
use crate::auth::{self, AuthError, PayloadMode, RequestParts};
use crate::endpoint::{self, Endpoint};
use crate::error::S3Error;
use crate::facts;
use crate::request::{self, Ctx};
use crate::util::Query;
use crate::xml::XmlWriter;

/// Outcome plus what the request log needs (operation, principal, bucket).
type Handled = (
    Result<Response, S3Error>,
    &'static str,
    Option<String>,
    Option<String>,
);

pub async fn handle(state: &S3State, req: Request<Body>) -> Handled {
    let (mut parts, body) = req.into_parts();
    // HTTP/2 (h2c with prior knowledge) carries the host in `:authority`: signatures cover it
    // as `host`, and virtual-host addressing reads it there, as for HTTP/1.
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(a) = parts.uri.authority()
        && let Ok(v) = http::HeaderValue::from_str(a.as_str())
    {
        parts.headers.insert(http::header::HOST, v);
    }
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let store = &state.inner.store;

    let addressed = request::address(&parts.headers, &raw_path, &state.inner.cfg.domains);
    let (named, key) = match addressed {
        Ok(a) => a,
        Err(e) => return (Err(e), "-", None, None),
    };
    let bucket = named.clone().map(request::canonical);
    let source_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // What nobody vouches for — a preflight, a request that fails authentication — counts
    // against its address's rate as an unsigned request does (issue 22).
    let unvouched = |e: S3Error| match store.admit_address(source_ip) {
        Ok(()) => e,
        Err(retry) => S3Error::slow_down(retry),
    };
    // A CORS preflight carries no credentials: answered from the bucket's rules alone.
    if parts.method == http::Method::OPTIONS {
        let answer = match store.admit_address(source_ip) {
            Ok(()) => preflight(store, bucket.as_deref(), &parts.headers),
            Err(retry) => Err(S3Error::slow_down(retry)),
        };
        return (answer, "CorsPreflight", None, bucket);
    }
    // A browser upload (POST Object) is signed inside its form, not in its headers.
    if let Some(b) = bucket.clone()
        && post::is_post_object(
            &parts.method,
            key.is_some(),
            raw_query.as_deref(),
            &parts.headers,
        )
    {
        let secure = parts
            .extensions
            .get::<crate::Transport>()
            .is_some_and(|t| t.secure);
        let (res, who) =
            post::post_object(state, &parts.headers, body, b, named, source_ip, secure).await;
        return (res, "PostObject", who, bucket);
    }
    let rp = RequestParts {
        method: parts.method.as_str(),
        raw_path: &raw_path,
        raw_query: raw_query.as_deref(),
        headers: &parts.headers,
    };
    let now = std::time::SystemTime::now();
    let vhost_bucket = request::vhost_bucket(&parts.headers, &state.inner.cfg.domains);
    // The principal of the key the signature was checked with is kept from that lookup, so a
    // signed request's key is looked up once.
    let (authed, found) = {
        let found: std::cell::RefCell<Option<(String, Principal)>> = Default::default();
        let lookup = |ak: &str| {
            let (secret, p) = store.lookup_credential(ak).ok().flatten()?;
            *found.borrow_mut() = Some((ak.to_string(), p));
            Some(secret)
        };
        let authed = match auth::sigv2::try_authenticate(&rp, vhost_bucket.as_deref(), now, &lookup)
        {
            Some(r) => r,
            None => auth::authenticate(&rp, now, &lookup),
        };
        (authed, found.into_inner())
    };
    // Set only by a SigV4 query signature (SigV2 refuses SigV4 parameters beside it).
    let presigned_v4 = matches!(&authed, Ok(a) if a.presigned);
    // An unsigned request is the anonymous principal: it reaches only what a bucket policy
    // grants it (decision 0041).
    let (principal, payload, signing): (Principal, PayloadMode, Option<facts::Signing>) =
        match authed {
            Ok(a) => match found.filter(|(ak, _)| *ak == a.access_key).map_or_else(
                || {
                    store
                        .lookup_credential(&a.access_key)
                        .map(|o| o.map(|(_, p)| p))
                },
                |(_, p)| Ok(Some(p)),
            ) {
                Ok(Some(p)) => {
                    let signing = facts::Signing::of(
                        &parts.headers,
                        &Query::parse(raw_query.as_deref()).unwrap_or_default(),
                    );
                    (p, a.payload, Some(signing))
                }
                Ok(None) => {
                    let e = unvouched(AuthError::InvalidAccessKeyId.into());
                    return (Err(e), "-", None, bucket);
                }
                Err(e) => return (Err(e.into()), "-", None, bucket),
            },
            Err(AuthError::Missing) => (store.anonymous(), PayloadMode::Unsigned, None),
            Err(e) => return (Err(unvouched(e.into())), "-", None, bucket),
        };
    let who = Some(principal.name.clone());
    // Rate limits (issue 22): per address for unsigned requests, per principal otherwise.
    if let Err(retry) = store.admit(&principal, source_ip) {
        return (Err(S3Error::slow_down(retry)), "-", who, bucket);
    }
    let query = match Query::parse(raw_query.as_deref()) {
        Ok(q) => q,
        Err(e) => return (Err(e), "-", who, bucket),
    };
    // Only a SigV4 query signature covers the query's `x-amz-*` parameters (a SigV2 one does
    // not sign them, and refuses SigV4 parameters beside it).
    if presigned_v4 && let Err(e) = request::presigned_headers(&query, &mut parts.headers) {
        return (Err(e), "-", who, bucket);
    }
    let ep = match endpoint::parse(
        &parts.method,
        bucket.is_some(),
        key.is_some(),
        &query,
        &parts.headers,
    ) {
        Ok(ep) => ep,
        Err(e) => return (Err(e), "-", who, bucket),
    };
    if let Err(e) = crate::refusals::check(ep, &parts.headers)
        .and_then(|()| crate::expected_owner::taken(ep, &parts.headers))
        .and_then(|()| crate::acl::check_headers(ep, &parts.headers))
    {
        return (Err(e), ep.name(), who, bucket);
    }
    // A customer's key (SSE-C) travels over TLS only, as AWS requires (`s3.sse_c_over_http`
    // lifts it for test setups).
    let over_tls = parts
        .extensions
        .get::<crate::Transport>()
        .is_some_and(|t| t.secure);
    if !over_tls && !state.inner.cfg.sse_c_over_http && crate::sse::customer_asked(&parts.headers) {
        return (
            Err(S3Error::invalid_request(
                "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
            )),
            ep.name(),
            who,
            bucket,
        );
    }
    if principal.anonymous && ep == Endpoint::ListBuckets {
        return (
            Err(S3Error::access_denied(
                "Access Denied: the request is not signed",
            )),
            ep.name(),
            who,
            bucket,
        );
    }
    let secure = parts
        .extensions
        .get::<crate::Transport>()
        .is_some_and(|t| t.secure);
    let request_facts = facts::build(ep, &query, &parts.headers, source_ip, secure, signing);
    let ctx = Ctx {
        principal: principal.with_facts(request_facts),
        bucket: bucket.clone(),
        named,
        key,
        query,
        headers: parts.headers,
    };
    let res = match crate::expected_owner::check(store, ep, &ctx) {
        Ok(()) => run(state, ep, &ctx, body, payload).await,
        Err(e) => Err(e),
    };
    let res = res
        .map_err(|e| object::hide_missing(store, &ctx, ep, e))
        .map_err(|e| no_such_bucket(store, &ctx, ep, e));
    (res, ep.name(), who, bucket)
}

/// A refusal on a bucket nobody has is `NoSuchBucket` (404), as S3 answers it to anyone; a
/// refused CreateBucket stays a refusal.
fn no_such_bucket(store: &Store, ctx: &Ctx, ep: Endpoint, e: S3Error) -> S3Error {
    if e.code != "AccessDenied" || matches!(ep, Endpoint::CreateBucket | Endpoint::ListBuckets) {
        return e;
    }
    match ctx.bucket.as_deref() {
        Some(b) if store.bucket_missing(b) => {
            S3Error::from(gatehouse_store::StoreError::NoSuchBucket)
        }
        _ => e,
    }
}

/// The operations that read a request body (each checks it against its signed hash).
fn takes_body(ep: Endpoint) -> bool {
    use Endpoint as E;
    matches!(
        ep,
        E::CreateBucket
            | E::PutBucketVersioning
            | E::PutBucketAcl
            | E::PutObjectAcl
            | E::DeleteObjects
            | E::PutObject
            | E::PutBucketLifecycleConfiguration
            | E::PutObjectLockConfiguration
            | E::PutObjectRetention
            | E::PutObjectLegalHold
            | E::PutBucketReplication
            | E::PutObjectTagging
            | E::UploadPart
            | E::CompleteMultipartUpload
            | E::PutBucketPolicy
            | E::PutBucketEncryption
            | E::PutBucketQuota
            | E::PutPublicAccessBlock
            | E::PutBucketCors
            | E::PutBucketOwnershipControls
            | E::PutBucketTagging
    )
}

/// The SHA-256 of no bytes: what `x-amz-content-sha256` names for a request without a body.
static EMPTY_HASH: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(|| {
    use sha2::Digest;
    sha2::Sha256::digest(b"").into()
});

/// The body of an operation that reads none still matches the hash its signature names, as S3
/// checks every request's payload (`XAmzContentSHA256Mismatch`): a body sent along (at most
/// 64 KiB is read) or a hash of bytes never sent is refused, not ignored.
async fn unread_body_matches(body: Body, payload: &PayloadMode) -> Result<(), S3Error> {
    use http_body::Body as _;
    let PayloadMode::Signed(want) = payload else {
        return Ok(());
    };
    let got: [u8; 32] = if body.is_end_stream() {
        *EMPTY_HASH
    } else {
        use sha2::Digest;
        let bytes = axum::body::to_bytes(body, 64 << 10).await.map_err(|_| {
            S3Error::invalid_request("this operation takes no request body of that size")
        })?;
        sha2::Sha256::digest(&bytes).into()
    };
    if got != *want {
        return Err(gatehouse_store::StoreError::ContentSha256Mismatch.into());
    }
    Ok(())
}

async fn run(
    state: &S3State,
    ep: Endpoint,
    ctx: &Ctx,
    body: Body,
    payload: PayloadMode,
) -> Result<Response, S3Error> {
    let s = &state.inner.store;
    use Endpoint as E;
    let body = if takes_body(ep) {
        body
    } else {
        unread_body_matches(body, &payload).await?;
        Body::empty()
    };
    match ep {
        E::ListBuckets => bucket::list_buckets(state, ctx),
        E::CreateBucket => bucket::create(state, ctx, body, &payload).await,
        E::DeleteBucket => bucket::delete(s, ctx).await,
        E::HeadBucket => bucket::head(state, ctx),
        E::GetBucketLocation => bucket::location(state, ctx),
        E::GetBucketVersioning => versioning::get(s, ctx),
        E::PutBucketVersioning => versioning::put(s, ctx, body, &payload).await,
        E::GetBucketAcl | E::GetObjectAcl => bucket::get_acl(s, ctx, ep == E::GetObjectAcl),
        E::PutBucketAcl | E::PutObjectAcl => {
            bucket::put_acl(s, ctx, ep == E::PutObjectAcl, body, &payload).await
        }
        E::ListObjects => list::list_v1(s, ctx),
        E::ListObjectsV2 => list::list_v2(s, ctx),
        E::ListObjectVersions => versioning::list(s, ctx),
        E::ListMultipartUploads => multipart::list_uploads(s, ctx),
        E::DeleteObjects => object::delete_many(s, ctx, body, &payload).await,
        E::PutObject => object::put(s, ctx, body, &payload).await,
        E::CopyObject => object::copy(s, ctx).await,
        E::GetObject => object::get(s, ctx, false),
        E::HeadObject => object::get(s, ctx, true),
        E::DeleteObject => object::delete(s, ctx).await,
        E::GetBucketLifecycleConfiguration => lifecycle::get(s, ctx),
        E::PutBucketLifecycleConfiguration => lifecycle::put(s, ctx, body, &payload).await,
        E::DeleteBucketLifecycle => lifecycle::delete(s, ctx).await,
        E::GetObjectLockConfiguration => lock::get_config(s, ctx),
        E::PutObjectLockConfiguration => lock::put_config(s, ctx, body, &payload).await,
        E::GetObjectRetention => lock::get_retention(s, ctx),
        E::PutObjectRetention => lock::put_retention(s, ctx, body, &payload).await,
        E::GetObjectLegalHold => lock::get_legal_hold(s, ctx),
        E::PutObjectLegalHold => lock::put_legal_hold(s, ctx, body, &payload).await,
        E::GetBucketReplication => replication::get(s, ctx),
        E::PutBucketReplication => replication::put(s, ctx, body, &payload).await,
        E::DeleteBucketReplication => replication::delete(s, ctx).await,
        E::GetObjectTagging => object::get_tags(s, ctx),
        E::GetObjectAttributes => attributes::get(s, ctx),
        E::PutObjectTagging => object::put_tags(s, ctx, body, &payload).await,
        E::DeleteObjectTagging => object::delete_tags(s, ctx).await,
        E::CreateMultipartUpload => multipart::create(s, ctx).await,
        E::UploadPart => multipart::upload_part(s, ctx, body, &payload).await,
        E::UploadPartCopy => multipart::upload_part_copy(s, ctx).await,
        E::CompleteMultipartUpload => multipart::complete(s, ctx, body, &payload).await,
        E::AbortMultipartUpload => multipart::abort(s, ctx).await,
        E::ListParts => multipart::list_parts(s, ctx),
        E::PutBucketPolicy => access::put_policy(s, ctx, body, &payload).await,
        E::GetBucketPolicy => access::get_policy(s, ctx),
        E::DeleteBucketPolicy => access::delete_policy(s, ctx).await,
        E::GetBucketPolicyStatus => access::policy_status(s, ctx),
        E::GetBucketQuota => quota::get(s, ctx),
        E::PutBucketEncryption => crate::sse::put_bucket(s, ctx, body, &payload).await,
        E::GetBucketEncryption => crate::sse::get_bucket(s, ctx),
        E::DeleteBucketEncryption => crate::sse::delete_bucket(s, ctx).await,
        E::PutBucketQuota => quota::put(s, ctx, body, &payload).await,
        E::DeleteBucketQuota => quota::delete(s, ctx).await,
        E::PutPublicAccessBlock => access::put_block(s, ctx, body, &payload).await,
        E::GetPublicAccessBlock => access::get_block(s, ctx),
        E::DeletePublicAccessBlock => access::delete_block(s, ctx).await,
        E::PutBucketCors => access::put_cors(s, ctx, body, &payload).await,
        E::GetBucketOwnershipControls => access::get_ownership(s, ctx),
        E::PutBucketOwnershipControls => access::put_ownership(s, ctx, body, &payload).await,
        E::DeleteBucketOwnershipControls => access::delete_ownership(s, ctx).await,
        E::GetBucketCors => access::get_cors(s, ctx),
        E::DeleteBucketCors => access::delete_cors(s, ctx).await,
        E::GetBucketTagging => tagging::get(s, ctx),
        E::PutBucketTagging => tagging::put(s, ctx, body, &payload).await,
        E::DeleteBucketTagging => tagging::delete(s, ctx).await,
        E::GetBucketConfig(c) => bucket::get_config(s, ctx, c),
        E::DeleteBucketConfig(_) => bucket::delete_config(s, ctx),
    }
}

/// A CORS preflight (`OPTIONS`) answered from the bucket's rules (`crate::cors`).
fn preflight(
    store: &gatehouse_store::Store,
    bucket: Option<&str>,
    h: &http::HeaderMap,
) -> Result<Response, S3Error> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let config = bucket
        .and_then(|b| store.cors_rules(b))
        .and_then(|xml| crate::cors::CorsConfig::parse(xml.as_bytes()).ok());
    match crate::cors::preflight_check(
        config.as_ref(),
        get("origin"),
        get("access-control-request-method"),
        get("access-control-request-headers"),
    ) {
        Ok(answer) => {
            let mut r = empty(StatusCode::OK);
            answer.apply_to(r.headers_mut());
            Ok(r)
        }
        Err((status, code, message)) => Err(S3Error::new(status, code, message)),
    }
}

/// The CORS headers of an actual cross-origin request (one carrying `Origin`) to `bucket`,
/// when one of its rules matches; added to the answer, error or not, as S3 does.
pub(crate) fn cors_headers(
    store: &gatehouse_store::Store,
    bucket: &str,
    origin: &str,
    method: &str,
    resp: &mut Response,
) {
    let Some(xml) = store.cors_rules(bucket) else {
        return;
    };
    let Ok(config) = crate::cors::CorsConfig::parse(xml.as_bytes()) else {
        return;
    };
    if let Some(answer) = config.actual(origin, method) {
        answer.apply_to(resp.headers_mut());
    }
}

/// A 200 response with an XML document.
pub(crate) fn xml_ok(w: XmlWriter) -> Response {
    let mut r = (StatusCode::OK, w.finish()).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// The key prefix a replication `<Rule>` applies to: `<Filter><Prefix>` or the older bare
/// `<Prefix>` (not both); any other filter (tags, `And`) is `NotImplemented` for `what`
/// ("replication"), never ignored. (Lifecycle rules take tag and size filters:
/// `lifecycle::filter`.)
pub(crate) fn rule_prefix(rule: &crate::xml::Node, what: &str) -> Result<String, S3Error> {
    match (rule.child("Filter"), rule.child_text("Prefix")) {
        (Some(f), None) => {
            if let Some(other) = f.children.iter().find(|c| c.name != "Prefix") {
                return Err(S3Error::not_implemented(&format!(
                    "the {what} filter {}",
                    other.name
                )));
            }
            Ok(f.child_text("Prefix").unwrap_or("").to_string())
        }
        (None, Some(p)) => Ok(p.to_string()),
        (None, None) => Ok(String::new()),
        (Some(_), Some(_)) => Err(S3Error::malformed_xml()),
    }
}

pub(crate) fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

pub(crate) fn owner(w: &mut XmlWriter, tag: &str, id: &str) {
    w.open(tag);
    w.elem("ID", id);
    w.elem("DisplayName", id);
    w.close(tag);
}

/// Parses a bounded XML request body.
pub(crate) async fn xml_body(
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
    limit: usize,
) -> Result<crate::xml::Node, S3Error> {
    let bytes = crate::body::read_small(body, payload, &ctx.headers, limit).await?;
    crate::xml::parse(&bytes).ok_or_else(S3Error::malformed_xml)
}
