//! Buckets: list, create, info (each with its versioning, object lock and noncurrent bytes),
//! delete (only when empty).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::model::BucketKind;
use gatehouse_store::ops::BucketInfo;
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json::{self, Param};

/// A bucket as the API shows it.
#[derive(Serialize)]
pub struct Bucket {
    name: String,
    /// "plain", "share" or "system".
    kind: &'static str,
    owner: String,
    created_ms: i64,
    usage_bytes: u64,
    object_count: u64,
    /// Noncurrent versions and delete markers (counted by `quota_objects` too).
    noncurrent_objects: u64,
    /// The part of `usage_bytes` held by noncurrent versions.
    noncurrent_bytes: u64,
    /// 0 = unlimited.
    quota_bytes: u64,
    /// Objects it may hold, versions included; 0 = unlimited.
    quota_objects: u64,
    /// "unversioned", "enabled" or "suspended".
    versioning: &'static str,
    /// Object lock is on (`GET /api/buckets/{bucket}/object-lock` has its default retention).
    object_lock: bool,
    /// Default encryption of new objects: "AES256" (SSE-S3), "aws:kms" (SSE-KMS), or null
    /// (decisions 0044, 0046).
    encryption: Option<&'static str>,
    /// The key service's key of an "aws:kms" default: its id.
    encryption_key: Option<String>,
}

impl Bucket {
    /// The bucket as shown, its default key named by id.
    pub(super) fn of(store: &gatehouse_store::Store, b: BucketInfo) -> Self {
        let key = b
            .encryption
            .and_then(|e| e.mode.kms_key())
            .and_then(|k| store.kms().get(k))
            .map(|k| k.id.clone());
        let mut out = Bucket::from(b);
        out.encryption_key = key;
        out
    }
}

impl From<BucketInfo> for Bucket {
    fn from(b: BucketInfo) -> Self {
        Bucket {
            encryption_key: None,
            name: b.name,
            kind: kind_name(b.kind),
            owner: b.owner,
            created_ms: b.created_ms,
            usage_bytes: b.usage_bytes,
            noncurrent_bytes: b.noncurrent_bytes,
            object_count: b.object_count,
            noncurrent_objects: b.noncurrent_objects,
            quota_bytes: b.quota_bytes,
            quota_objects: b.quota_objects,
            versioning: super::versions::status_name(b.versioning),
            object_lock: b.object_lock,
            encryption: b.encryption.map(|e| e.mode.header()),
        }
    }
}

/// "plain", "share" or "system".
pub(super) fn kind_name(k: BucketKind) -> &'static str {
    match k {
        BucketKind::Plain => "plain",
        BucketKind::Share => "share",
        BucketKind::System => "system",
    }
}

pub async fn list(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    let buckets: Vec<Bucket> = st
        .store
        .list_buckets(&c.principal)?
        .into_iter()
        .map(|b| Bucket::of(&st.store, b))
        .collect();
    Ok(json::ok(&buckets))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
}

pub async fn create(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: CreateBody = json::read(Some(&c.payload), body).await?;
    let info = st.store.create_bucket(&c.principal, &b.name).await?;
    Ok(json::created(&Bucket::of(&st.store, info)))
}

pub async fn info(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    let info = st.store.head_bucket(&c.principal, &bucket)?;
    Ok(json::ok(&Bucket::of(&st.store, info)))
}

pub async fn delete(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    st.store.delete_bucket(&c.principal, &bucket).await?;
    Ok(json::no_content())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    /// Bytes; 0 = unlimited; absent = unchanged.
    #[serde(default)]
    max_size_bytes: Option<u64>,
    /// Objects, versions included; 0 = unlimited; absent = unchanged.
    #[serde(default)]
    max_objects: Option<u64>,
}

/// `PUT /api/buckets/{b}/quota` `{"max_size_bytes": n, "max_objects": n}` (either or both):
/// the bucket's (or share's) limits, set by the storage operator; answers with the bucket.
pub async fn set_quota(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let q: QuotaBody = json::read(Some(&c.payload), body).await?;
    let info = st
        .store
        .set_bucket_quota(&c.principal, &bucket, q.max_size_bytes, q.max_objects)
        .await?;
    Ok(json::ok(&Bucket::of(&st.store, info)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptionBody {
    /// "AES256" (SSE-S3), "aws:kms" (SSE-KMS, with `key`) or null (no default). Required:
    /// a body without it is a mistake, not a request to remove the default.
    #[serde(default, deserialize_with = "present")]
    algorithm: Option<Option<String>>,
    /// The key service's key of "aws:kms": id, `alias/<name>` or ARN.
    #[serde(default)]
    key: Option<String>,
}

/// `PUT /api/buckets/{b}/encryption` `{"algorithm": "AES256" | null}`: the bucket's (or
/// share's) default encryption, as S3's PutBucketEncryption sets it; answers with the bucket.
pub async fn set_encryption(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    use gatehouse_store::sse::{BucketEncryption, SseMode};
    let e: EncryptionBody = json::read(Some(&c.payload), body).await?;
    let Some(algorithm) = e.algorithm else {
        return Err(crate::error::ApiError::invalid_request(
            "algorithm is required: AES256, aws:kms (with key) or null (no default encryption)",
        ));
    };
    let key_given = e.key.as_deref().is_some_and(|k| !k.is_empty());
    if key_given && algorithm.as_deref() != Some("aws:kms") {
        // Never a partial yes: the key would be ignored, and with null the default removed.
        return Err(crate::error::ApiError::invalid_request(
            "key goes with aws:kms only",
        ));
    }
    let enc = match algorithm.as_deref() {
        None => None,
        Some("AES256") => Some(BucketEncryption {
            mode: SseMode::S3,
            bucket_key: false,
        }),
        Some("aws:kms") => {
            let name = e.key.as_deref().filter(|k| !k.is_empty()).ok_or_else(|| {
                crate::error::ApiError::invalid_request(
                    "aws:kms needs key: a key of the key service",
                )
            })?;
            let k = st.store.kms().find(name).ok_or_else(|| {
                gatehouse_store::StoreError::NoSuchKmsKey(format!(
                    "no key {}",
                    name.chars().take(80).collect::<String>()
                ))
            })?;
            Some(BucketEncryption {
                mode: SseMode::Kms {
                    key: k.num,
                    bucket_key: false,
                    context: [0; 16],
                },
                bucket_key: false,
            })
        }
        Some(other) => {
            return Err(gatehouse_store::StoreError::InvalidArgument(format!(
                "unknown algorithm {:?}: AES256, aws:kms or null",
                other.chars().take(40).collect::<String>()
            ))
            .into());
        }
    };
    st.store
        .set_bucket_encryption(&c.principal, &bucket, enc)
        .await?;
    let info = st.store.head_bucket(&c.principal, &bucket)?;
    Ok(json::ok(&Bucket::of(&st.store, info)))
}

/// A field that may be `null` told apart from one left out: `Some(None)` is `null`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
