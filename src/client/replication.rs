//! `replication …`: connections and rules (admin), status and pause/resume.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::seg;
use super::args::{ConnectionCmd, ReplicationCmd, ReplicationRuleCmd};
use super::error::ClientError;
use super::output::{self, time_ms, yes_no};

#[derive(Deserialize)]
struct Connection {
    name: String,
    endpoint: String,
    region: String,
    access_key: String,
    created_ms: i64,
}

#[derive(Deserialize)]
struct Rule {
    bucket: String,
    connection: String,
    target_bucket: String,
    prefix: String,
    deletes: bool,
    paused: bool,
    backfilling: bool,
    queued: u64,
    in_flight: u32,
    replicated: u64,
    failed: u64,
    lag_seconds: f64,
    last_error: Option<String>,
    created_ms: i64,
}

impl Rule {
    fn state(&self) -> &'static str {
        if self.paused {
            "paused"
        } else if self.backfilling {
            "backfilling"
        } else {
            "active"
        }
    }

    fn target(&self) -> String {
        format!("{}/{}", self.connection, self.target_bucket)
    }
}

#[derive(Deserialize)]
struct FailedKey {
    key: String,
    error: String,
    failed_ms: i64,
}

fn rule_path(bucket: &str) -> String {
    format!("/api/replication/rules/{}", seg(bucket))
}

pub async fn replication(ctx: &Ctx, cmd: ReplicationCmd) -> anyhow::Result<()> {
    match cmd {
        ReplicationCmd::Connection(c) => connection(ctx, c).await,
        ReplicationCmd::Rule(c) => rule(ctx, c).await,
        ReplicationCmd::Pause { bucket } => pause(ctx, &bucket, true).await,
        ReplicationCmd::Resume { bucket } => pause(ctx, &bucket, false).await,
        ReplicationCmd::Status { bucket } => status(ctx, bucket.as_deref()).await,
    }
}

async fn connection(ctx: &Ctx, cmd: ConnectionCmd) -> anyhow::Result<()> {
    match cmd {
        ConnectionCmd::Add {
            name,
            endpoint,
            access_key,
            secret_key_file,
            region,
        } => {
            let secret_key = read_secret(&secret_key_file)?;
            let body = json!({
                "name": name,
                "endpoint": endpoint,
                "region": region.unwrap_or_default(),
                "access_key": access_key,
                "secret_key": secret_key,
            });
            let v = ctx
                .api
                .call(
                    Method::POST,
                    "/api/replication/connections",
                    "",
                    Some(&body),
                )
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let c: Connection = serde_json::from_value(v)?;
            println!(
                "Added connection {} to {} (region {}, access key {})",
                c.name, c.endpoint, c.region, c.access_key
            );
            Ok(())
        }
        ConnectionCmd::List => {
            let v: Value = ctx.api.get("/api/replication/connections", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let list: Vec<Connection> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = list
                .into_iter()
                .map(|c| {
                    vec![
                        c.name,
                        c.endpoint,
                        c.region,
                        c.access_key,
                        time_ms(c.created_ms),
                    ]
                })
                .collect();
            output::table(
                &["NAME", "ENDPOINT", "REGION", "ACCESS KEY", "ADDED"],
                &rows,
            );
            Ok(())
        }
        ConnectionCmd::Remove { name } => {
            let path = format!("/api/replication/connections/{}", seg(&name));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Removed connection {name}"))
        }
    }
}

/// The secret key from `path`, or standard input for `-`; one trailing newline (`\n` or
/// `\r\n`) is not part of it.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the secret key from standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret key from {}", path.display()))?;
    }
    let secret = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if secret.is_empty() {
        return Err(ClientError::usage(format!(
            "--secret-key-file {}: no secret key in it",
            path.display()
        ))
        .into());
    }
    Ok(secret.to_string())
}

async fn rule(ctx: &Ctx, cmd: ReplicationRuleCmd) -> anyhow::Result<()> {
    match cmd {
        ReplicationRuleCmd::Add {
            bucket,
            connection,
            target_bucket,
            prefix,
            deletes,
            no_existing,
            paused,
        } => {
            let body = json!({
                "connection": connection,
                "target_bucket": target_bucket,
                "prefix": prefix,
                "deletes": deletes,
                "existing": !no_existing,
                "paused": paused,
            });
            let v = ctx
                .api
                .call(Method::PUT, &rule_path(&bucket), "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let r: Rule = serde_json::from_value(v)?;
            println!(
                "Replicating {} to {}{} ({})",
                r.bucket,
                r.target(),
                if r.prefix.is_empty() {
                    String::new()
                } else {
                    format!(", keys starting with {:?}", r.prefix)
                },
                r.state()
            );
            Ok(())
        }
        ReplicationRuleCmd::List => {
            let v: Value = ctx.api.get("/api/replication/rules", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let rules: Vec<Rule> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = rules
                .into_iter()
                .map(|r| {
                    vec![
                        r.bucket,
                        r.connection,
                        r.target_bucket,
                        r.prefix,
                        yes_no(r.deletes).into(),
                        yes_no(r.paused).into(),
                        time_ms(r.created_ms),
                    ]
                })
                .collect();
            output::table(
                &[
                    "BUCKET",
                    "CONNECTION",
                    "TARGET BUCKET",
                    "PREFIX",
                    "DELETES",
                    "PAUSED",
                    "ADDED",
                ],
                &rows,
            );
            Ok(())
        }
        ReplicationRuleCmd::Remove { bucket } => {
            ctx.api
                .call(Method::DELETE, &rule_path(&bucket), "", None::<&()>)
                .await?;
            ctx.done(|| println!("Removed the replication rule of {bucket}"))
        }
    }
}

async fn pause(ctx: &Ctx, bucket: &str, paused: bool) -> anyhow::Result<()> {
    let verb = if paused { "pause" } else { "resume" };
    let path = format!("{}/{verb}", rule_path(bucket));
    let v = ctx.api.call(Method::POST, &path, "", None::<&()>).await?;
    if ctx.json {
        return output::json(&v);
    }
    let r: Rule = serde_json::from_value(v)?;
    println!(
        "{} replication of {} ({} queued)",
        if paused { "Paused" } else { "Resumed" },
        r.bucket,
        r.queued
    );
    Ok(())
}

async fn status(ctx: &Ctx, bucket: Option<&str>) -> anyhow::Result<()> {
    let Some(bucket) = bucket else {
        let v: Value = ctx.api.get("/api/replication/rules", "").await?;
        if ctx.json {
            return output::json(&v);
        }
        status_table(&serde_json::from_value::<Vec<Rule>>(v)?);
        return Ok(());
    };
    let v: Value = ctx.api.get(&rule_path(bucket), "").await?;
    if ctx.json {
        return output::json(&v);
    }
    let r: Rule = serde_json::from_value(v)?;
    let failed = r.failed;
    status_table(std::slice::from_ref(&r));
    if failed > 0 {
        let keys: Vec<FailedKey> = ctx
            .api
            .get(&format!("{}/failed", rule_path(bucket)), "")
            .await?;
        println!();
        let rows: Vec<Vec<String>> = keys
            .into_iter()
            .map(|k| vec![k.key, time_ms(k.failed_ms), k.error])
            .collect();
        output::table(&["FAILED KEY", "AT", "ERROR"], &rows);
    }
    Ok(())
}

fn status_table(rules: &[Rule]) {
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.bucket.clone(),
                r.target(),
                r.state().into(),
                r.queued.to_string(),
                r.in_flight.to_string(),
                r.replicated.to_string(),
                r.failed.to_string(),
                format!("{:.1}", r.lag_seconds),
                r.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "BUCKET",
            "TARGET",
            "STATE",
            "QUEUED",
            "IN FLIGHT",
            "REPLICATED",
            "FAILED",
            "LAG S",
            "LAST ERROR",
        ],
        &rows,
    );
}
