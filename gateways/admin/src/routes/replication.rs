//! Bucket replication: connections (remote S3 endpoints; the secret goes in and never comes
//! back out) and one rule per bucket, with its status, pause/resume and failed keys. Who may do
//! what is the store's call (`Store::replication`): admins configure, a `replication` grant on
//! a bucket reads that bucket's status and pauses or resumes it.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::replication::RuleSpec;
use serde::Deserialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json::{self, Param};

/// Failed keys listed per request.
const FAILED_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionBody {
    name: String,
    endpoint: String,
    /// Empty: us-east-1.
    #[serde(default)]
    region: String,
    access_key: String,
    secret_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    connection: String,
    target_bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    deletes: bool,
    /// Enter the objects already in the bucket (a new rule only).
    #[serde(default = "yes")]
    existing: bool,
    #[serde(default)]
    paused: bool,
}

fn yes() -> bool {
    true
}

pub async fn list_connections(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.replication().connections(&c.principal)?))
}

pub async fn add_connection(
    State(st): State<AdminState>,
    c: Caller,
    body: Body,
) -> ApiResult<Response> {
    let b: ConnectionBody = json::read(Some(&c.payload), body).await?;
    let info = st
        .store
        .replication()
        .add_connection(
            &c.principal,
            &b.name,
            &b.endpoint,
            &b.region,
            &b.access_key,
            &b.secret_key,
        )
        .await?;
    Ok(json::created(&info))
}

pub async fn remove_connection(
    State(st): State<AdminState>,
    c: Caller,
    Param(name): Param<String>,
) -> ApiResult<Response> {
    st.store
        .replication()
        .remove_connection(&c.principal, &name)
        .await?;
    Ok(json::no_content())
}

pub async fn list_rules(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.replication().statuses(&c.principal)?))
}

pub async fn show_rule(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.replication().status(&c.principal, &bucket)?,
    ))
}

/// Sets the rule, then answers with its status as the store now has it.
pub async fn set_rule(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
    body: Body,
) -> ApiResult<Response> {
    let b: RuleBody = json::read(Some(&c.payload), body).await?;
    let repl = st.store.replication();
    repl.set_rule(
        &c.principal,
        &bucket,
        RuleSpec {
            connection: b.connection,
            target_bucket: b.target_bucket,
            prefix: b.prefix,
            deletes: b.deletes,
            existing: b.existing,
            paused: b.paused,
            ..RuleSpec::default()
        },
    )
    .await?;
    Ok(json::ok(&repl.status(&c.principal, &bucket)?))
}

pub async fn remove_rule(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    st.store
        .replication()
        .remove_rule(&c.principal, &bucket)
        .await?;
    Ok(json::no_content())
}

pub async fn pause(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    set_paused(&st, &c, &bucket, true).await
}

pub async fn resume(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    set_paused(&st, &c, &bucket, false).await
}

async fn set_paused(
    st: &AdminState,
    c: &Caller,
    bucket: &str,
    paused: bool,
) -> ApiResult<Response> {
    let repl = st.store.replication();
    repl.set_paused(&c.principal, bucket, paused).await?;
    Ok(json::ok(&repl.status(&c.principal, bucket)?))
}

pub async fn failed(
    State(st): State<AdminState>,
    c: Caller,
    Param(bucket): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.replication().failed_keys(
        &c.principal,
        &bucket,
        FAILED_LIMIT,
    )?))
}
