//! `fs--<share>` in an admin API bucket path: the alias of share bucket `fs+<share>` that
//! botocore-based clients (aws CLI, boto3) use, since they refuse `+`. A request for
//! `/api/buckets/fs--team/...` is routed as `/api/buckets/fs+team/...` (and
//! `/api/replication/rules/fs--team/...` as `.../fs+team/...`), so every bucket handler sees
//! the canonical name, as the S3 gateway's addressing does. The URI as sent is
//! kept in [`SignedUri`]: a SigV4 signature covers that one.

use axum::extract::Request;
use gatehouse_store::naming::{RESERVED_ALIAS_PREFIX, canonical_bucket};
use http::Uri;

/// The request URI before an alias was resolved: what a signature covers.
#[derive(Clone)]
pub struct SignedUri(pub Uri);

/// The paths whose next segment names a bucket.
const BUCKET_PATHS: &[&str] = &["/api/buckets/", "/api/replication/rules/"];

/// Resolves an alias in the bucket segment of a [`BUCKET_PATHS`] path.
pub async fn resolve(mut req: Request) -> Request {
    if let Some(uri) = canonical_uri(req.uri()) {
        let sent = std::mem::replace(req.uri_mut(), uri);
        req.extensions_mut().insert(SignedUri(sent));
    }
    req
}

/// The URI with its bucket alias resolved, if it has one.
fn canonical_uri(uri: &Uri) -> Option<Uri> {
    let (base, rest) = BUCKET_PATHS
        .iter()
        .find_map(|b| Some((*b, uri.path().strip_prefix(b)?)))?;
    let (bucket, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !bucket.starts_with(RESERVED_ALIAS_PREFIX) {
        return None;
    }
    let canonical = canonical_bucket(bucket);
    if canonical == bucket {
        return None;
    }
    let pq = match uri.query() {
        Some(q) => format!("{base}{canonical}{tail}?{q}"),
        None => format!("{base}{canonical}{tail}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::canonical_uri;

    #[test]
    fn only_the_bucket_segment_of_bucket_paths() {
        let c = |s: &str| canonical_uri(&s.parse().unwrap()).map(|u| u.to_string());
        assert_eq!(
            c("/api/buckets/fs--team/objects/fs--x?prefix=a").as_deref(),
            Some("/api/buckets/fs+team/objects/fs--x?prefix=a")
        );
        assert_eq!(
            c("/api/buckets/fs--team").as_deref(),
            Some("/api/buckets/fs+team")
        );
        assert_eq!(c("/api/buckets/fs--"), None);
        assert_eq!(c("/api/buckets/plain/objects/k"), None);
        assert_eq!(c("/api/shares/fs--team"), None);
        assert_eq!(
            c("/api/replication/rules/fs--team/pause").as_deref(),
            Some("/api/replication/rules/fs+team/pause")
        );
        assert_eq!(c("/api/replication/connections/fs--team"), None);
        assert_eq!(c("/api/buckets"), None);
    }
}
