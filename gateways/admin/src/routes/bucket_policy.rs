//! A bucket's policy as the Data tab and the CLI manage it (decision 0041): one of MyFSIO's
//! presets — `private` (no policy), `public` (anyone may read and list) — or a `custom`
//! document, validated by the store exactly as S3's PutBucketPolicy is (the reason of a
//! refusal comes back as the error message, for the console's editor to show inline).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::StoreError;
use gatehouse_store::bucket_access::{preset_of, public_preset};
use gatehouse_store::rbac::{RequestFacts, Verb};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param};

#[derive(Serialize)]
struct PolicyState {
    bucket: String,
    /// `private`, `public` or `custom`.
    preset: &'static str,
    /// The policy document as stored (a JSON string), or null.
    policy: Option<String>,
    /// Whether the policy grants anonymous access (AWS's "public").
    public: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    /// `private` or `public`; absent with `policy` for a custom one.
    #[serde(default)]
    preset: Option<String>,
    /// A custom policy: the JSON document as a string.
    #[serde(default)]
    policy: Option<String>,
}

/// The caller asking for `action` on the bucket's policy, as S3 would name it: the store's
/// decision (and its exception for administrators) sees the same request an S3 call makes.
fn as_action(c: &Caller, action: &'static str, verb: Verb) -> gatehouse_store::Principal {
    c.principal.with_facts(RequestFacts {
        action: Some((action, verb)),
        ..RequestFacts::default()
    })
}

async fn state(st: &AdminState, c: &Caller, bucket: String) -> ApiResult<Response> {
    let p = as_action(c, "s3:GetBucketPolicy", Verb::Get);
    let policy = match st.store.bucket_policy(&p, &bucket) {
        Ok(p) => Some(p),
        Err(StoreError::NoSuchBucketSetting(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let public = match &policy {
        Some(_) => st.store.bucket_policy_public(&p, &bucket)?,
        None => false,
    };
    Ok(json::ok(&PolicyState {
        preset: preset_of(&bucket, policy.as_deref()),
        bucket,
        policy,
        public,
    }))
}

/// `GET /api/buckets/{b}/policy`.
pub async fn get(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    state(&st, &c, bucket).await
}

/// `PUT /api/buckets/{b}/policy` `{"preset": "private"|"public"}` or `{"policy": "<json>"}`;
/// answers with the state as the store now has it.
pub async fn set(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: SetBody = json::read(Some(&c.payload), body).await?;
    match (b.preset.as_deref(), b.policy) {
        (Some("private"), None) => {
            let p = as_action(&c, "s3:DeleteBucketPolicy", Verb::Put);
            st.store.delete_bucket_policy(&p, &bucket).await?;
        }
        (Some("public"), None) => {
            let p = as_action(&c, "s3:PutBucketPolicy", Verb::Put);
            st.store
                .put_bucket_policy(&p, &bucket, &public_preset(&bucket))
                .await?;
        }
        (None | Some("custom"), Some(doc)) => {
            let p = as_action(&c, "s3:PutBucketPolicy", Verb::Put);
            st.store.put_bucket_policy(&p, &bucket, &doc).await?;
        }
        _ => {
            return Err(ApiError::invalid_request(
                "give {\"preset\": \"private\"|\"public\"} or {\"policy\": \"<JSON document>\"}",
            ));
        }
    }
    state(&st, &c, bucket).await
}
