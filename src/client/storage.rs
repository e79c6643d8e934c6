//! `bucket …` (with `bucket versioning`), `object …` (with `object versions` and `restore`)
//! and `storage status`.

use std::path::Path;

use anyhow::Context;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::{key_path, query, seg};
use super::args::{
    BucketCmd, EncryptionAction, ObjectCmd, PolicyAction, StorageCmd, VersioningAction,
};
use super::output::{self, size, time_ms, yes_no};

#[derive(Deserialize)]
struct Bucket {
    name: String,
    kind: String,
    owner: String,
    created_ms: i64,
    usage_bytes: u64,
    object_count: u64,
    quota_bytes: u64,
    #[serde(default)]
    quota_objects: u64,
    #[serde(default)]
    noncurrent_objects: u64,
    #[serde(default)]
    noncurrent_bytes: u64,
    versioning: Option<String>,
    #[serde(default)]
    object_lock: bool,
    #[serde(default)]
    encryption: Option<String>,
    #[serde(default)]
    encryption_key: Option<String>,
}

/// `GET /api/buckets/{b}/object-lock`.
#[derive(Deserialize)]
struct ObjectLock {
    enabled: bool,
    default_retention: Option<DefaultRetention>,
}

#[derive(Deserialize)]
struct DefaultRetention {
    mode: String,
    days: Option<u32>,
    years: Option<u32>,
}

/// `off`, `on`, or `on, new versions kept 30 days (GOVERNANCE)`.
fn lock_text(l: &ObjectLock) -> String {
    if !l.enabled {
        return "off".into();
    }
    let Some(d) = &l.default_retention else {
        return "on, no default retention".into();
    };
    let period = match (d.days, d.years) {
        (Some(1), _) => "1 day".to_string(),
        (Some(n), _) => format!("{n} days"),
        (None, Some(1)) => "1 year".to_string(),
        (None, Some(n)) => format!("{n} years"),
        (None, None) => "?".to_string(),
    };
    format!("on, new versions kept {period} ({})", d.mode)
}

#[derive(Deserialize, serde::Serialize)]
struct Object {
    key: String,
    size: u64,
    etag: String,
    modified_ms: i64,
}

#[derive(Deserialize)]
struct Listing {
    objects: Vec<Object>,
    truncated: bool,
    next_start_after: Option<String>,
}

pub async fn bucket(ctx: &Ctx, cmd: BucketCmd) -> anyhow::Result<()> {
    match cmd {
        BucketCmd::Create { name } => {
            let body = json!({ "name": name });
            let v = ctx
                .api
                .call(Method::POST, "/api/buckets", "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            println!("Created bucket {name}");
            Ok(())
        }
        BucketCmd::List => {
            let v: Value = ctx.api.get("/api/buckets", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let buckets: Vec<Bucket> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = buckets
                .into_iter()
                .map(|b| {
                    vec![
                        time_ms(b.created_ms),
                        b.object_count.to_string(),
                        size(b.usage_bytes),
                        b.name,
                    ]
                })
                .collect();
            output::table(&["CREATED", "OBJECTS", "SIZE", "NAME"], &rows);
            Ok(())
        }
        BucketCmd::Delete { name } => {
            let path = format!("/api/buckets/{}", seg(&name));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Deleted bucket {name}"))
        }
        BucketCmd::Info { name } => {
            let v: Value = ctx
                .api
                .get(&format!("/api/buckets/{}", seg(&name)), "")
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let b: Bucket = serde_json::from_value(v)?;
            let lock = if b.object_lock {
                let path = format!("/api/buckets/{}/object-lock", seg(&name));
                lock_text(&ctx.api.get::<ObjectLock>(&path, "").await?)
            } else {
                "off".into()
            };
            output::fields(&[
                ("name", b.name),
                ("kind", b.kind),
                ("owner", b.owner),
                ("created", time_ms(b.created_ms)),
                ("objects", b.object_count.to_string()),
                ("size", size(b.usage_bytes)),
                ("noncurrent", size(b.noncurrent_bytes)),
                (
                    "quota",
                    if b.quota_bytes == 0 {
                        "unlimited".into()
                    } else {
                        size(b.quota_bytes)
                    },
                ),
                (
                    "max objects",
                    if b.quota_objects == 0 {
                        "unlimited".into()
                    } else {
                        b.quota_objects.to_string()
                    },
                ),
                ("versioning", b.versioning.unwrap_or_default()),
                ("object lock", lock),
                (
                    "encryption",
                    match &b.encryption_key {
                        Some(k) => format!("{} key {k}", encryption_text(b.encryption.as_deref())),
                        None => encryption_text(b.encryption.as_deref()),
                    },
                ),
            ]);
            Ok(())
        }
        BucketCmd::Encryption {
            bucket,
            action,
            key,
        } => {
            let path = format!("/api/buckets/{}", seg(&bucket));
            if key.is_some() != (action == EncryptionAction::AwsKms) {
                anyhow::bail!("--key goes with aws-kms, and only with it");
            }
            let v: Value = match action {
                EncryptionAction::Status => ctx.api.get(&path, "").await?,
                EncryptionAction::Aes256 | EncryptionAction::AwsKms | EncryptionAction::Off => {
                    let alg = match action {
                        EncryptionAction::Aes256 => Some("AES256"),
                        EncryptionAction::AwsKms => Some("aws:kms"),
                        _ => None,
                    };
                    let body = json!({ "algorithm": alg, "key": key });
                    ctx.api
                        .call(Method::PUT, &format!("{path}/encryption"), "", Some(&body))
                        .await?
                }
            };
            if ctx.json {
                return output::json(&v);
            }
            let b: Bucket = serde_json::from_value(v)?;
            match &b.encryption_key {
                Some(k) => println!(
                    "Default encryption of {bucket}: {} (key {k})",
                    encryption_text(b.encryption.as_deref())
                ),
                None => println!(
                    "Default encryption of {bucket}: {}",
                    encryption_text(b.encryption.as_deref())
                ),
            }
            Ok(())
        }
        BucketCmd::Versioning { bucket, action } => {
            let path = format!("/api/buckets/{}/versioning", seg(&bucket));
            let v = match action {
                VersioningAction::Status => ctx.api.get(&path, "").await?,
                VersioningAction::Enable | VersioningAction::Suspend => {
                    let status = if action == VersioningAction::Enable {
                        "enabled"
                    } else {
                        "suspended"
                    };
                    let body = json!({ "status": status });
                    ctx.api.call(Method::PUT, &path, "", Some(&body)).await?
                }
            };
            if ctx.json {
                return output::json(&v);
            }
            let status = v.get("status").and_then(Value::as_str).unwrap_or("?");
            println!("Versioning of {bucket}: {status}");
            Ok(())
        }
        BucketCmd::Quota {
            bucket,
            max_size,
            max_objects,
        } => {
            if max_size.is_none() && max_objects.is_none() {
                anyhow::bail!("give --max-size and/or --max-objects");
            }
            let path = format!("/api/buckets/{}/quota", seg(&bucket));
            let mut body = json!({});
            if let Some(n) = max_size {
                body["max_size_bytes"] = json!(n);
            }
            if let Some(n) = max_objects {
                body["max_objects"] = json!(n);
            }
            let v = ctx.api.call(Method::PUT, &path, "", Some(&body)).await?;
            if ctx.json {
                return output::json(&v);
            }
            let b: Bucket = serde_json::from_value(v)?;
            let limit = |n: u64, f: &dyn Fn(u64) -> String| {
                if n == 0 {
                    "unlimited".to_string()
                } else {
                    f(n)
                }
            };
            println!(
                "Limits of {bucket}: {} ({} held), {} objects ({} held)",
                limit(b.quota_bytes, &size),
                size(b.usage_bytes),
                limit(b.quota_objects, &|n: u64| n.to_string()),
                b.object_count + b.noncurrent_objects
            );
            Ok(())
        }
        BucketCmd::Policy { bucket, action } => {
            let path = format!("/api/buckets/{}/policy", seg(&bucket));
            let v = match action {
                PolicyAction::Get => ctx.api.get(&path, "").await?,
                PolicyAction::Private | PolicyAction::Public => {
                    let preset = if matches!(action, PolicyAction::Public) {
                        "public"
                    } else {
                        "private"
                    };
                    let body = json!({ "preset": preset });
                    ctx.api.call(Method::PUT, &path, "", Some(&body)).await?
                }
                PolicyAction::Set { file } => {
                    let doc = if file.as_os_str() == "-" {
                        let mut s = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                        s
                    } else {
                        std::fs::read_to_string(&file)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
                    };
                    let body = json!({ "policy": doc });
                    ctx.api.call(Method::PUT, &path, "", Some(&body)).await?
                }
            };
            if ctx.json {
                return output::json(&v);
            }
            let preset = v.get("preset").and_then(Value::as_str).unwrap_or("?");
            let public = v.get("public").and_then(Value::as_bool).unwrap_or(false);
            println!(
                "Policy of {bucket}: {preset}{}",
                if public { " (public)" } else { "" }
            );
            if let Some(doc) = v.get("policy").and_then(Value::as_str) {
                println!("{doc}");
            }
            Ok(())
        }
    }
}

pub async fn object(ctx: &Ctx, cmd: ObjectCmd) -> anyhow::Result<()> {
    match cmd {
        ObjectCmd::Put { bucket, key, file } => {
            let v = ctx.api.put_file(&object_path(&bucket, &key), &file).await?;
            if ctx.json {
                return output::json(&v);
            }
            let n = v.get("size").and_then(Value::as_u64).unwrap_or(0);
            println!(
                "Uploaded {} to {bucket}/{key} ({})",
                file.display(),
                size(n)
            );
            Ok(())
        }
        ObjectCmd::Get {
            bucket,
            key,
            file,
            version_id,
        } => {
            let path = object_path(&bucket, &key);
            let q = query(&[("version_id", version_id.as_deref())]);
            if file == Path::new("-") {
                let mut out = tokio::io::stdout();
                ctx.api.get_to(&path, &q, &mut out).await?;
                return Ok(());
            }
            let mut out = tokio::fs::File::create(&file)
                .await
                .with_context(|| format!("creating {}", file.display()))?;
            let n = match ctx.api.get_to(&path, &q, &mut out).await {
                Ok(n) => n,
                Err(e) => {
                    drop(out);
                    // Do not leave a partial file that looks like the object.
                    let _ = std::fs::remove_file(&file);
                    return Err(e);
                }
            };
            out.sync_all().await?;
            if ctx.json {
                return output::json(&json!({
                    "bucket": bucket, "key": key, "version_id": version_id, "size": n, "file": file,
                }));
            }
            let version = version_id.map_or(String::new(), |v| format!(" version {v}"));
            println!(
                "Downloaded {bucket}/{key}{version} to {} ({})",
                file.display(),
                size(n)
            );
            Ok(())
        }
        ObjectCmd::List { bucket, prefix } => {
            let path = format!("/api/buckets/{}/objects", seg(&bucket));
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let q = query(&[
                    ("prefix", Some(prefix.as_str()).filter(|p| !p.is_empty())),
                    ("start_after", after.as_deref()),
                ]);
                let page: Listing = ctx.api.get(&path, &q).await?;
                all.extend(page.objects);
                match page.next_start_after {
                    Some(next) if page.truncated => after = Some(next),
                    _ => break,
                }
            }
            if ctx.json {
                return output::json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .into_iter()
                .map(|o| vec![time_ms(o.modified_ms), size(o.size), o.key])
                .collect();
            output::table(&["MODIFIED", "SIZE", "KEY"], &rows);
            Ok(())
        }
        ObjectCmd::Delete {
            bucket,
            key,
            version_id,
        } => {
            let path = object_path(&bucket, &key);
            let q = query(&[("version_id", version_id.as_deref())]);
            ctx.api.call(Method::DELETE, &path, &q, None::<&()>).await?;
            ctx.done(|| match version_id {
                Some(v) => println!("Deleted version {v} of {bucket}/{key}"),
                None => println!("Deleted {bucket}/{key}"),
            })
        }
        ObjectCmd::Versions { bucket, key } => versions(ctx, &bucket, &key).await,
        ObjectCmd::Restore {
            bucket,
            key,
            version_id,
        } => {
            let path = format!("/api/buckets/{}/restore", seg(&bucket));
            let body = json!({ "key": key, "version_id": version_id });
            let v = ctx.api.call(Method::POST, &path, "", Some(&body)).await?;
            if ctx.json {
                return output::json(&v);
            }
            let now = v
                .get("version_id")
                .and_then(Value::as_str)
                .unwrap_or("null");
            println!("Restored version {version_id} of {bucket}/{key} as current (version {now})");
            Ok(())
        }
    }
}

#[derive(Deserialize, serde::Serialize)]
struct Version {
    version_id: String,
    is_latest: bool,
    delete_marker: bool,
    size: u64,
    etag: Option<String>,
    modified_ms: i64,
}

#[derive(Deserialize)]
struct Versions {
    versions: Vec<Version>,
    truncated: bool,
    next_key_marker: Option<String>,
    next_version_id_marker: Option<String>,
}

/// `object versions`: every version and delete marker of one key, newest first, a page at a
/// time.
async fn versions(ctx: &Ctx, bucket: &str, key: &str) -> anyhow::Result<()> {
    let path = format!("/api/buckets/{}/versions", seg(bucket));
    let mut all = Vec::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let q = query(&[
            ("key", Some(key)),
            ("key_marker", marker.as_ref().map(|m| m.0.as_str())),
            ("version_id_marker", marker.as_ref().map(|m| m.1.as_str())),
        ]);
        let page: Versions = ctx.api.get(&path, &q).await?;
        all.extend(page.versions);
        match (page.next_key_marker, page.next_version_id_marker) {
            (Some(k), Some(v)) if page.truncated => marker = Some((k, v)),
            _ => break,
        }
    }
    if ctx.json {
        return output::json(&all);
    }
    let rows: Vec<Vec<String>> = all
        .into_iter()
        .map(|v| {
            vec![
                time_ms(v.modified_ms),
                if v.delete_marker {
                    "-".into()
                } else {
                    size(v.size)
                },
                yes_no(v.is_latest).into(),
                if v.delete_marker {
                    "delete marker".into()
                } else {
                    "-".into()
                },
                v.version_id,
            ]
        })
        .collect();
    output::table(
        &["MODIFIED", "SIZE", "LATEST", "MARKER", "VERSION ID"],
        &rows,
    );
    Ok(())
}

fn object_path(bucket: &str, key: &str) -> String {
    format!("/api/buckets/{}/objects/{}", seg(bucket), key_path(key))
}

#[derive(Deserialize)]
struct Storage {
    total_bytes_limit: u64,
    used_bytes: u64,
    available_bytes: Option<u64>,
    binding: String,
    object_count: u64,
    buckets: Vec<BucketUsage>,
    disk: Option<Disk>,
}

#[derive(Deserialize)]
struct BucketUsage {
    name: String,
    kind: String,
    used_bytes: u64,
    #[serde(default)]
    noncurrent_bytes: u64,
    /// A share's row: what its snapshots hold.
    snapshot_bytes: Option<u64>,
    /// A snapshot's row: the share bucket it was taken of.
    snapshot_of: Option<String>,
    object_count: u64,
    quota_bytes: u64,
    quota_pct: Option<f64>,
    available_bytes: Option<u64>,
    binding: String,
}

/// `1.0 GiB (server limit)`: the room a write has and which limit binds it.
fn room(available: Option<u64>, binding: &str) -> String {
    match available {
        Some(a) => format!("{} ({binding} limit)", size(a)),
        None => "unlimited".into(),
    }
}

#[derive(Deserialize)]
struct Disk {
    free_bytes: u64,
    total_bytes: u64,
}

pub async fn storage(ctx: &Ctx, cmd: StorageCmd) -> anyhow::Result<()> {
    match cmd {
        // Offline (`client::run` runs it without a server).
        StorageCmd::Migrate { .. } => anyhow::bail!("storage migrate talks to no server"),
        StorageCmd::Status => {
            let v: Value = ctx.api.get("/api/storage", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let s: Storage = serde_json::from_value(v)?;
            let pct = if s.total_bytes_limit == 0 {
                "no limit".to_string()
            } else {
                format!(
                    "{:.1}%",
                    s.used_bytes as f64 * 100.0 / s.total_bytes_limit as f64
                )
            };
            println!(
                "Total: {} / {} ({pct}), {} objects",
                size(s.used_bytes),
                if s.total_bytes_limit == 0 {
                    "unlimited".to_string()
                } else {
                    size(s.total_bytes_limit)
                },
                s.object_count
            );
            output::fields(&[
                (
                    "disk",
                    match s.disk {
                        Some(d) => {
                            format!("{} free of {}", size(d.free_bytes), size(d.total_bytes))
                        }
                        None => "unknown".into(),
                    },
                ),
                ("room left", room(s.available_bytes, &s.binding)),
            ]);
            println!();
            let rows: Vec<Vec<String>> = s
                .buckets
                .into_iter()
                .map(|b| {
                    vec![
                        if b.snapshot_of.is_some() {
                            "snapshot".into()
                        } else {
                            b.kind
                        },
                        b.object_count.to_string(),
                        size(b.used_bytes),
                        size(b.used_bytes.saturating_sub(b.noncurrent_bytes)),
                        size(b.noncurrent_bytes),
                        b.snapshot_bytes.map_or("-".into(), size),
                        if b.quota_bytes == 0 {
                            "-".into()
                        } else {
                            size(b.quota_bytes)
                        },
                        b.quota_pct.map_or("-".into(), |p| format!("{p:.1}%")),
                        room(b.available_bytes, &b.binding),
                        b.name,
                    ]
                })
                .collect();
            output::table(
                &[
                    "KIND",
                    "OBJECTS",
                    "USED",
                    "CURRENT",
                    "NONCURRENT",
                    "SNAPSHOTS",
                    "QUOTA",
                    "QUOTA%",
                    "ROOM LEFT",
                    "NAME",
                ],
                &rows,
            );
            Ok(())
        }
    }
}

#[derive(Deserialize)]
struct GcRun {
    scanned_chunks: u64,
    deleted_chunks: u64,
    freed_bytes: u64,
}

/// `gc`: `POST /api/gc`.
pub async fn gc(ctx: &Ctx) -> anyhow::Result<()> {
    let v = ctx
        .api
        .call(Method::POST, "/api/gc", "", None::<&Value>)
        .await?;
    if ctx.json {
        return output::json(&v);
    }
    let r: GcRun = serde_json::from_value(v)?;
    println!(
        "Deleted {} of {} chunk files, {} freed",
        r.deleted_chunks,
        r.scanned_chunks,
        size(r.freed_bytes)
    );
    Ok(())
}

/// `gatehouse fsck --server URL`: `POST /api/fsck` on a running server, its report.
pub async fn fsck_online(
    opts: &super::ClientOpts,
    rate_mib: Option<u64>,
) -> anyhow::Result<gatehouse_store::fsck::FsckReport> {
    let ctx = Ctx::signed(opts)?;
    let q = rate_mib
        .map(|r| format!("rate_mib={r}"))
        .unwrap_or_default();
    let v = ctx
        .api
        .call(Method::POST, "/api/fsck", &q, None::<&Value>)
        .await?;
    serde_json::from_value(v).context("the server's fsck report")
}

/// A bucket's default encryption as the CLI shows it.
fn encryption_text(e: Option<&str>) -> String {
    match e {
        Some("AES256") => "AES256 (SSE-S3: every new write encrypted)".into(),
        Some("aws:kms") => {
            "aws:kms (SSE-KMS: every new write encrypted under a key of the key service)".into()
        }
        Some(other) => other.to_string(),
        None => "none".into(),
    }
}
