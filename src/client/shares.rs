//! `share …` (with `share snapshot …`).

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::{query, seg};
use super::args::{ShareCmd, SnapshotCmd};
use super::output::{self, size, time_ms, yes_no};

#[derive(Deserialize)]
struct Share {
    name: String,
    description: String,
    bucket: String,
    s3_alias: String,
    owner: String,
    quota_bytes: u64,
    #[serde(default)]
    max_objects: u64,
    used_bytes: u64,
    object_count: u64,
    guest_read: bool,
    created_ms: i64,
    expires_ms: i64,
    state: String,
    purge_after_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Info {
    nfs_endpoint: String,
}

/// How to mount share `name` from the NFS endpoint `nfs` (`ADDR:PORT`), reaching the server as
/// `server_host` when the listen address names no particular host. With the caller's mount
/// `token` the export path is `/<name>@<token>` (act as yourself from any address); without,
/// `/<name>` (act as whoever your address is registered for, else the guest).
fn mount_info(
    name: &str,
    nfs: &str,
    server_host: &str,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let addr: std::net::SocketAddr = nfs
        .parse()
        .map_err(|_| anyhow::anyhow!("the server reported NFS endpoint {nfs:?}"))?;
    let port = addr.port();
    let host = if addr.ip().is_unspecified() {
        server_host.to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let ports = if port == 2049 {
        String::new()
    } else {
        format!(",port={port},mountport={port}")
    };
    let options = format!("vers=3,tcp{ports},nolock");
    let export = match token {
        Some(t) => format!("/{name}@{t}"),
        None => format!("/{name}"),
    };
    Ok(json!({
        "export_path": export,
        "peer_export_path": format!("/{name}"),
        "port": port,
        "mount_options": options,
        "linux": format!("sudo mount -t nfs -o {options} {host}:{export} /mnt/{name}"),
        "macos": format!("sudo mount -t nfs -o vers=3,tcp{ports},nolocks,resvport {host}:{export} /Volumes/{name}"),
        "libnfs_url": format!("nfs://{host}{export}?nfsport={port}&mountport={port}&version=3"),
    }))
}

fn quota(q: u64) -> String {
    if q == 0 { "unlimited".into() } else { size(q) }
}

pub async fn share(ctx: &Ctx, cmd: ShareCmd) -> anyhow::Result<()> {
    match cmd {
        ShareCmd::Snapshot(c) => snapshot(ctx, c).await,
        ShareCmd::Create {
            name,
            description,
            quota: q,
            max_objects,
            expires,
            no_guest_read,
        } => {
            let mut body = json!({
                "name": name,
                "description": description,
                "quota_bytes": q,
                "max_objects": max_objects,
                "guest_read": !no_guest_read,
            });
            if let Some(e) = expires {
                body["expires_at"] = Value::String(e);
            }
            let v = ctx
                .api
                .call(Method::POST, "/api/shares", "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let restored = v.get("restored").and_then(Value::as_bool) == Some(true);
            for w in v["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            let s: Share = serde_json::from_value(v)?;
            if restored {
                println!(
                    "Restored share {} with its previous content ({} objects, {})",
                    s.name,
                    s.object_count,
                    size(s.used_bytes)
                );
            } else {
                println!("Created share {}", s.name);
            }
            println!(
                "  S3 bucket: {}   (aws CLI / boto3: s3://{})",
                s.bucket, s.s3_alias
            );
            Ok(())
        }
        ShareCmd::List { deleted } => {
            let q = query(&[("deleted", deleted.then_some("true"))]);
            let v: Value = ctx.api.get("/api/shares", &q).await?;
            if ctx.json {
                return output::json(&v);
            }
            let shares: Vec<Share> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = shares
                .into_iter()
                .map(|s| {
                    vec![
                        s.name,
                        s.state,
                        size(s.used_bytes),
                        quota(s.quota_bytes),
                        yes_no(s.guest_read).into(),
                        time_ms(s.expires_ms),
                        s.s3_alias,
                    ]
                })
                .collect();
            output::table(
                &[
                    "NAME",
                    "STATE",
                    "USED",
                    "QUOTA",
                    "GUEST READ",
                    "EXPIRES",
                    "S3 ALIAS",
                ],
                &rows,
            );
            Ok(())
        }
        ShareCmd::Info { name } => {
            let v: Value = ctx
                .api
                .get(&format!("/api/shares/{}", seg(&name)), "")
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let s: Share = serde_json::from_value(v)?;
            output::fields(&[
                ("Name", s.name),
                ("Description", s.description),
                ("State", s.state),
                ("Bucket", s.bucket),
                ("S3 alias", s.s3_alias),
                ("Owner", s.owner),
                (
                    "Used",
                    format!("{} in {} objects", size(s.used_bytes), s.object_count),
                ),
                ("Quota", quota(s.quota_bytes)),
                (
                    "Max objects",
                    if s.max_objects == 0 {
                        "unlimited".into()
                    } else {
                        s.max_objects.to_string()
                    },
                ),
                ("Guest read", yes_no(s.guest_read).into()),
                ("Created", time_ms(s.created_ms)),
                ("Expires", time_ms(s.expires_ms)),
            ]);
            Ok(())
        }
        ShareCmd::MountInfo { name } => {
            // The share as the caller may see it (a refusal or a missing share stops here).
            let _: Value = ctx
                .api
                .get(&format!("/api/shares/{}", seg(&name)), "")
                .await?;
            let info: Info = serde_json::from_value(ctx.api.get("/api/info", "").await?)?;
            let server_host = ctx
                .api
                .authority()
                .rsplit_once(':')
                .map_or(ctx.api.authority(), |(h, _)| h)
                .to_string();
            // The caller's own mount token (a service user has none: the plain path then).
            let token: Option<String> = ctx
                .api
                .get::<Value>("/api/me/nfs-token", "")
                .await
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string));
            let v = mount_info(&name, &info.nfs_endpoint, &server_host, token.as_deref())?;
            if ctx.json {
                return output::json(&v);
            }
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            output::fields(&[
                ("Export path", field("export_path")),
                ("Port", v["port"].to_string()),
                ("Mount options", field("mount_options")),
                ("Linux", field("linux")),
                ("macOS", field("macos")),
                ("libnfs URL", field("libnfs_url")),
            ]);
            println!(
                "\nThe export path carries your mount token: whoever mounts it acts as you, \
                 from any address, until `gatehouse user rotate` replaces your credentials \
                 and the token with them. A client address registered as a peer \
                 (`gatehouse peer add`) mounts {} and acts as that peer's user; any other \
                 address mounting it is the guest.",
                field("peer_export_path")
            );
            Ok(())
        }
        ShareCmd::Delete { name } => {
            let v = ctx
                .api
                .call(
                    Method::DELETE,
                    &format!("/api/shares/{}", seg(&name)),
                    "",
                    None::<&()>,
                )
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let s: Share = serde_json::from_value(v)?;
            match s.purge_after_ms {
                Some(t) => println!(
                    "Deleted share {}; its data is kept until {} (gatehouse share restore {})",
                    s.name,
                    time_ms(t),
                    s.name
                ),
                None => println!("Deleted share {}", s.name),
            }
            Ok(())
        }
        ShareCmd::Restore { name } => {
            let v = ctx
                .api
                .call(
                    Method::POST,
                    &format!("/api/shares/{}/restore", seg(&name)),
                    "",
                    None::<&()>,
                )
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let s: Share = serde_json::from_value(v)?;
            println!(
                "Restored share {} ({} objects, {})",
                s.name,
                s.object_count,
                size(s.used_bytes)
            );
            Ok(())
        }
    }
}

#[derive(Deserialize)]
struct Snapshot {
    share: String,
    name: String,
    bucket: String,
    alias: String,
    created_ms: i64,
    bytes: u64,
    objects: u64,
}

#[derive(Deserialize)]
struct SnapshotRestored {
    restored: u64,
    removed: u64,
}

fn files(n: u64) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

/// `share snapshot …`.
async fn snapshot(ctx: &Ctx, cmd: SnapshotCmd) -> anyhow::Result<()> {
    let base = |share: &str| format!("/api/shares/{}/snapshots", seg(share));
    match cmd {
        SnapshotCmd::Create { share, name } => {
            let body = json!({ "name": name });
            let v = ctx
                .api
                .call(Method::POST, &base(&share), "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let s: Snapshot = serde_json::from_value(v)?;
            println!(
                "Created snapshot {} of share {} ({} in {} objects)",
                s.name,
                s.share,
                size(s.bytes),
                s.objects
            );
            println!(
                "  S3 bucket: {}   (aws CLI / boto3: s3://{})",
                s.bucket, s.alias
            );
            println!("  NFS: /{}/.snapshots/{}/", s.share, s.name);
            Ok(())
        }
        SnapshotCmd::List { share } => {
            let v: Value = ctx.api.get(&base(&share), "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let snaps: Vec<Snapshot> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = snaps
                .into_iter()
                .map(|s| {
                    vec![
                        time_ms(s.created_ms),
                        s.objects.to_string(),
                        size(s.bytes),
                        s.name,
                        s.alias,
                    ]
                })
                .collect();
            output::table(&["CREATED", "OBJECTS", "SIZE", "NAME", "S3 ALIAS"], &rows);
            Ok(())
        }
        SnapshotCmd::Delete { share, name } => {
            let path = format!("{}/{}", base(&share), seg(&name));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Deleted snapshot {name} of share {share}"))
        }
        SnapshotCmd::Retention { share, days } => {
            let days: Option<u32> = match days.as_str() {
                "off" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("retention is a number of days or `off`, not {n:?}")
                })?),
            };
            let url = format!("/api/shares/{}/snapshot-retention", seg(&share));
            let v = ctx
                .api
                .call(Method::PUT, &url, "", Some(&json!({ "days": days })))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            match days {
                Some(d) => println!("Snapshots of share {share} are kept {d} days"),
                None => println!("Snapshots of share {share} are kept until deleted"),
            }
            Ok(())
        }
        SnapshotCmd::Restore { share, name, path } => {
            let url = format!("{}/{}/restore", base(&share), seg(&name));
            let body = json!({ "path": path });
            let v = ctx.api.call(Method::POST, &url, "", Some(&body)).await?;
            if ctx.json {
                return output::json(&v);
            }
            let r: SnapshotRestored = serde_json::from_value(v)?;
            let what = if path.is_empty() {
                format!("share {share}")
            } else {
                format!("{share}/{path}")
            };
            println!(
                "Restored {what} from snapshot {name}: {} put back, {} removed",
                files(r.restored),
                files(r.removed)
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mount_info;

    #[test]
    fn mount_lines() {
        let v = mount_info("team", "127.0.0.1:12049", "example", None).expect("info");
        assert_eq!(v["export_path"], "/team");
        assert_eq!(v["port"], 12049);
        assert_eq!(
            v["linux"],
            "sudo mount -t nfs -o vers=3,tcp,port=12049,mountport=12049,nolock 127.0.0.1:/team /mnt/team"
        );
        assert_eq!(
            v["libnfs_url"],
            "nfs://127.0.0.1/team?nfsport=12049&mountport=12049&version=3"
        );
        let v = mount_info("team", "0.0.0.0:2049", "files.example", Some("abc")).expect("info");
        assert_eq!(v["mount_options"], "vers=3,tcp,nolock");
        assert_eq!(v["export_path"], "/team@abc");
        assert_eq!(v["peer_export_path"], "/team");
        assert_eq!(
            v["macos"],
            "sudo mount -t nfs -o vers=3,tcp,nolocks,resvport files.example:/team@abc /Volumes/team"
        );
    }
}
