//! `key …`: the key service's keys (decision 0046).

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::seg;
use super::args::KeyCmd;
use super::output::{self, time_ms};

#[derive(Deserialize)]
struct Key {
    id: String,
    arn: String,
    alias: Option<String>,
    description: String,
    state: String,
    created_ms: i64,
    creator: String,
    deletion_due_ms: Option<i64>,
    deleted_ms: Option<i64>,
    current_version: u32,
    versions: Vec<Version>,
}

#[derive(Deserialize)]
struct Version {
    version: u32,
    created_ms: i64,
}

#[derive(Deserialize)]
struct Event {
    seq: u64,
    time_ms: i64,
    actor: String,
    op: String,
    key_id: String,
    version: Option<u32>,
    bucket: Option<String>,
    object: Option<String>,
    allowed: bool,
    reason: Option<String>,
    count: u64,
}

fn alias_text(k: &Key) -> String {
    k.alias
        .as_ref()
        .map_or_else(|| "-".into(), |a| format!("alias/{a}"))
}

fn show(k: &Key) {
    let mut pairs = vec![
        ("id", k.id.clone()),
        ("arn", k.arn.clone()),
        ("alias", alias_text(k)),
        ("state", k.state.clone()),
        ("description", k.description.clone()),
        (
            "created",
            format!("{} by {}", time_ms(k.created_ms), k.creator),
        ),
        ("current version", k.current_version.to_string()),
        (
            "versions",
            k.versions
                .iter()
                .map(|v| format!("{} ({})", v.version, time_ms(v.created_ms)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    if let Some(t) = k.deletion_due_ms {
        pairs.push(("deletion due", time_ms(t)));
    }
    if let Some(t) = k.deleted_ms {
        pairs.push(("deleted", time_ms(t)));
    }
    output::fields(&pairs);
}

pub async fn key(ctx: &Ctx, cmd: KeyCmd) -> anyhow::Result<()> {
    let path = |k: &str, action: &str| format!("/api/kms/keys/{}{action}", seg(k));
    let v: Value = match cmd {
        KeyCmd::Create { alias, description } => {
            let body = json!({ "alias": alias, "description": description });
            ctx.api
                .call(Method::POST, "/api/kms/keys", "", Some(&body))
                .await?
        }
        KeyCmd::List => {
            let v: Value = ctx.api.get("/api/kms/keys", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let keys: Vec<Key> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.clone(),
                        alias_text(k),
                        k.state.clone(),
                        k.current_version.to_string(),
                        time_ms(k.created_ms),
                        k.description.clone(),
                    ]
                })
                .collect();
            output::table(
                &["ID", "ALIAS", "STATE", "VERSION", "CREATED", "DESCRIPTION"],
                &rows,
            );
            return Ok(());
        }
        KeyCmd::Describe { key } => ctx.api.get(&path(&key, ""), "").await?,
        KeyCmd::Enable { key } => post(ctx, &path(&key, "/enable"), None).await?,
        KeyCmd::Disable { key } => post(ctx, &path(&key, "/disable"), None).await?,
        KeyCmd::Rotate { key } => post(ctx, &path(&key, "/rotate"), None).await?,
        KeyCmd::ScheduleDeletion { key, days } => {
            post(
                ctx,
                &path(&key, "/schedule-deletion"),
                Some(json!({ "days": days })),
            )
            .await?
        }
        KeyCmd::CancelDeletion { key } => post(ctx, &path(&key, "/cancel-deletion"), None).await?,
        KeyCmd::Audit { key, limit } => {
            let p = match &key {
                Some(k) => path(k, "/audit"),
                None => "/api/kms/audit".into(),
            };
            let v: Value = ctx.api.get(&p, &format!("limit={limit}")).await?;
            if ctx.json {
                return output::json(&v);
            }
            let events: Vec<Event> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = events
                .into_iter()
                .map(|e| {
                    let target = match (&e.bucket, &e.object) {
                        (Some(b), Some(o)) => format!("{b}/{o}"),
                        // A use under S3 Bucket Keys, or a refusal: counted per bucket.
                        (Some(b), None) if !b.is_empty() => format!("{b}/*"),
                        _ => "-".into(),
                    };
                    vec![
                        e.seq.to_string(),
                        time_ms(e.time_ms),
                        e.actor,
                        e.op,
                        e.key_id,
                        e.version.map_or_else(|| "-".into(), |v| v.to_string()),
                        target,
                        if e.allowed {
                            format!("ok x{}", e.count)
                        } else {
                            format!("refused x{}: {}", e.count, e.reason.unwrap_or_default())
                        },
                    ]
                })
                .collect();
            output::table(
                &[
                    "SEQ", "TIME", "WHO", "OP", "KEY", "VERSION", "OBJECT", "OUTCOME",
                ],
                &rows,
            );
            return Ok(());
        }
    };
    if ctx.json {
        return output::json(&v);
    }
    let k: Key = serde_json::from_value(v)?;
    show(&k);
    Ok(())
}

/// A POST with `body`, or with none: the server refuses a body where a route takes none.
async fn post(ctx: &Ctx, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    ctx.api.call(Method::POST, path, "", body.as_ref()).await
}
