//! S3 versioning as the Data tab and the CLI see it: a bucket's setting, the versions and
//! delete markers of its keys, and an old version restored as current (a copy of it onto its
//! own key, so the history keeps every step). Downloading or deleting one version is the
//! object route's `?version_id=` (`objects.rs`). Who may do what is the store's call: the
//! setting is the bucket's (`put`/`get` on buckets), the rest the objects' verbs.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::model::Versioning;
use gatehouse_store::ops::CopyOptions;
use gatehouse_store::versioning::{VersionItem, VersionsQuery};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param, Query};

/// Largest page of a versions listing.
const MAX_KEYS: usize = 1000;

/// "unversioned", "enabled" or "suspended".
pub(super) fn status_name(v: Versioning) -> &'static str {
    match v {
        Versioning::Unversioned => "unversioned",
        Versioning::Enabled => "enabled",
        Versioning::Suspended => "suspended",
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Status {
    Enabled,
    Suspended,
    /// Accepted by the parser so that the store says why it is refused.
    Unversioned,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    status: Status,
}

#[derive(Serialize)]
struct VersioningState {
    bucket: String,
    status: &'static str,
}

/// `GET /api/buckets/{b}/versioning`.
pub async fn get_versioning(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    let v = st.store.versioning(&c.principal, &bucket)?;
    Ok(json::ok(&VersioningState {
        bucket,
        status: status_name(v),
    }))
}

/// `PUT /api/buckets/{b}/versioning` `{"status": "enabled"|"suspended"}`; answers with the
/// state as the store now has it. A bucket never returns to unversioned (the store refuses).
pub async fn set_versioning(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: SetBody = json::read(Some(&c.payload), body).await?;
    let to = match b.status {
        Status::Enabled => Versioning::Enabled,
        Status::Suspended => Versioning::Suspended,
        Status::Unversioned => Versioning::Unversioned,
    };
    st.store.set_versioning(&c.principal, &bucket, to).await?;
    let v = st.store.versioning(&c.principal, &bucket)?;
    Ok(json::ok(&VersioningState {
        bucket,
        status: status_name(v),
    }))
}

/// One version of a key, or a delete marker.
#[derive(Serialize)]
struct Version {
    key: String,
    /// As S3 shows it: an id, or `null` for the version written while unversioned or
    /// suspended.
    version_id: String,
    /// The key's newest version (a current object, or the marker that hides the key).
    is_latest: bool,
    delete_marker: bool,
    /// 0 for a delete marker.
    size: u64,
    /// `null` for a delete marker.
    etag: Option<String>,
    modified_ms: i64,
}

#[derive(Serialize)]
struct Versions {
    bucket: String,
    /// Keys ascending, each key's versions newest first.
    versions: Vec<Version>,
    /// Common prefixes when a delimiter was given.
    prefixes: Vec<String>,
    truncated: bool,
    /// Pass both as `key_marker` and `version_id_marker` for the next page.
    next_key_marker: Option<String>,
    next_version_id_marker: Option<String>,
}

/// `GET /api/buckets/{b}/versions?prefix=&delimiter=&key=&key_marker=&version_id_marker=&max_keys=`:
/// ListObjectVersions as JSON. `key` lists one key's versions only (newest first).
pub async fn list(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    q: Query,
) -> ApiResult<Response> {
    let max_keys = match q.get("max_keys") {
        None => MAX_KEYS,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_request("max_keys must be a whole number"))?
            .min(MAX_KEYS),
    };
    let exact = q.get("key");
    if exact.is_some() && (q.get("prefix").is_some() || q.get("delimiter").is_some()) {
        return Err(ApiError::invalid_request(
            "key lists one key's versions: it takes no prefix or delimiter",
        ));
    }
    if q.get("version_id_marker").is_some() && q.get("key_marker").is_none() {
        return Err(ApiError::invalid_request(
            "version_id_marker needs the key_marker it belongs to",
        ));
    }
    let query = VersionsQuery {
        // A key's versions come first among the keys it prefixes.
        prefix: exact.or(q.get("prefix")).unwrap_or("").to_string(),
        delimiter: q.get("delimiter").map(str::to_string),
        key_marker: q.get("key_marker").map(str::to_string),
        version_id_marker: q.get("version_id_marker").map(str::to_string),
        max_keys,
    };
    let page = st.store.list_versions(&c.principal, &bucket, &query)?;
    let mut out = Versions {
        bucket,
        versions: Vec::new(),
        prefixes: Vec::new(),
        truncated: page.truncated,
        next_key_marker: page.next_key_marker,
        next_version_id_marker: page.next_version_id_marker,
    };
    for it in page.items {
        let v = match it {
            VersionItem::Version {
                key,
                version_id,
                is_latest,
                record,
            } => Version {
                key,
                version_id,
                is_latest,
                delete_marker: false,
                size: record.size,
                etag: Some(record.etag),
                modified_ms: record.mtime_ms,
            },
            VersionItem::DeleteMarker {
                key,
                version_id,
                is_latest,
                mtime_ms,
            } => Version {
                key,
                version_id,
                is_latest,
                delete_marker: true,
                size: 0,
                etag: None,
                modified_ms: mtime_ms,
            },
            VersionItem::Prefix(p) => {
                out.prefixes.push(p);
                continue;
            }
        };
        if exact.is_some_and(|k| k != v.key) {
            // Past the key's last version: the listing of that key is complete.
            out.truncated = false;
            out.next_key_marker = None;
            out.next_version_id_marker = None;
            break;
        }
        out.versions.push(v);
    }
    Ok(json::ok(&out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    key: String,
    version_id: String,
}

#[derive(Serialize)]
struct Restored {
    bucket: String,
    key: String,
    /// The new current version (`null` while versioning is suspended).
    version_id: Option<String>,
    /// The version it copies.
    restored_from: String,
    size: u64,
    etag: String,
}

/// `POST /api/buckets/{b}/restore` `{"key", "version_id"}`: that version becomes the key's
/// current one again, as a new version copied from it (S3's way: CopyObject with a source
/// version id onto the same key); what was current stays in the history.
pub async fn restore(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: RestoreBody = json::read(Some(&c.payload), body).await?;
    let info = st
        .store
        .copy_object(
            &c.principal,
            (&bucket, &b.key),
            (&bucket, &b.key),
            CopyOptions {
                source_version: Some(b.version_id.clone()),
                ..CopyOptions::default()
            },
            |_| Ok(()),
        )
        .await?;
    Ok(json::ok(&Restored {
        bucket,
        key: info.key,
        version_id: info.record.version_id,
        restored_from: b.version_id,
        size: info.record.size,
        etag: info.record.etag,
    }))
}
