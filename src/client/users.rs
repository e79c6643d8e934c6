//! `user …`, `status`, `keygen`, `join`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use gatehouse_store::identity::{Keypair, join_message};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Ctx;
use super::api::seg;
use super::args::UserCmd;
use super::credentials::{self, Credentials};
use super::output::{self, yes_no};

/// Registration's answer: the only time a secret leaves the server.
#[derive(Deserialize, Serialize)]
struct Registered {
    user_id: String,
    name: String,
    access_key: String,
    secret_key: String,
    #[serde(default, skip_serializing)]
    created: bool,
}

#[derive(Deserialize)]
struct UserInfo {
    user_id: String,
    name: String,
    kind: String,
    public_key: String,
    access_key: String,
    admin: bool,
    admin_match: Option<String>,
    groups: Vec<String>,
    created_ms: i64,
}

#[derive(Deserialize)]
struct Panel {
    id: String,
    allowed: bool,
}

#[derive(Deserialize)]
struct Me {
    user_id: String,
    name: String,
    admin: bool,
    admin_match: Option<String>,
    groups: Vec<String>,
    access_key: String,
    panels: Vec<Panel>,
}

#[derive(Deserialize)]
struct Info {
    version: String,
    s3_endpoint: String,
    region: String,
}

pub async fn user(ctx: &Ctx, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::List => {
            let v: Value = ctx.api.get("/api/users", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let users: Vec<UserInfo> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = users
                .into_iter()
                .map(|u| {
                    vec![
                        u.user_id,
                        u.name,
                        u.kind,
                        admin_text(u.admin, u.admin_match.as_deref()),
                        u.groups.join(","),
                    ]
                })
                .collect();
            output::table(&["USER ID", "NAME", "KIND", "ADMIN", "GROUPS"], &rows);
            Ok(())
        }
        UserCmd::Show { who } => {
            let who = match who {
                Some(w) => w,
                None => my_id(ctx).await?,
            };
            let v: Value = ctx
                .api
                .get(&format!("/api/users/{}", seg(&who)), "")
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let u: UserInfo = serde_json::from_value(v)?;
            output::fields(&[
                ("user id", u.user_id),
                ("name", u.name),
                ("kind", u.kind),
                ("admin", admin_text(u.admin, u.admin_match.as_deref())),
                ("groups", u.groups.join(", ")),
                ("access key", u.access_key),
                ("public key", u.public_key),
                ("registered", output::time_ms(u.created_ms)),
            ]);
            Ok(())
        }
        UserCmd::Register { pubkey, name } => {
            let key = std::fs::read_to_string(&pubkey)
                .with_context(|| format!("reading the public key {}", pubkey.display()))?;
            let body = json!({ "public_key": key.trim(), "name": name });
            let v = ctx
                .api
                .call(Method::POST, "/api/users", "", Some(&body))
                .await?;
            let r: Registered = serde_json::from_value(v)?;
            if ctx.json {
                return output::json(&r);
            }
            if !r.created {
                println!("This key was already registered: same key, same user.");
            } else if r.name != name {
                println!(
                    "The name {name} is taken by another key: registered as {}.",
                    r.name
                );
            }
            print_registered(&r);
            Ok(())
        }
        UserCmd::Remove { who } => {
            let path = format!("/api/users/{}", seg(&who));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Removed user {who}: credentials, memberships and bindings"))
        }
        UserCmd::Rotate { who } => {
            let me = my_id(ctx).await?;
            let who = who.unwrap_or_else(|| me.clone());
            let path = format!("/api/users/{}/rotate", seg(&who));
            let v = ctx.api.call(Method::POST, &path, "", None::<&()>).await?;
            let r: Registered = serde_json::from_value(v)?;
            if ctx.json {
                return output::json(&r);
            }
            println!("New credentials; the old access key no longer works.");
            print_registered(&r);
            if r.user_id == me {
                println!("These were your own: update the credentials file you use.");
            }
            Ok(())
        }
    }
}

pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let info: Value = ctx.api.get("/api/info", "").await?;
    let me: Value = ctx.api.get("/api/me", "").await?;
    if ctx.json {
        return output::json(&json!({ "server": ctx.api.server(), "info": info, "me": me }));
    }
    let info: Info = serde_json::from_value(info)?;
    let me: Me = serde_json::from_value(me)?;
    let panels: Vec<String> = me
        .panels
        .into_iter()
        .filter(|p| p.allowed)
        .map(|p| p.id)
        .collect();
    output::fields(&[
        (
            "server",
            format!("{} (gatehouse {})", ctx.api.server(), info.version),
        ),
        (
            "S3 endpoint",
            format!("{} (region {})", info.s3_endpoint, info.region),
        ),
        ("user id", me.user_id),
        ("name", me.name),
        ("admin", admin_text(me.admin, me.admin_match.as_deref())),
        ("groups", me.groups.join(", ")),
        ("access key", me.access_key),
        ("panels", panels.join(", ")),
    ]);
    Ok(())
}

pub fn keygen(json_out: bool, out: Option<PathBuf>) -> anyhow::Result<()> {
    let path = match out {
        Some(p) => p,
        None => default_key_path()?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let kp = Keypair::generate()?;
    let comment = std::env::var("USER").unwrap_or_else(|_| "gatehouse".into());
    kp.write_files(&path, &comment)?;
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    let user_id = kp.public().user_id();
    if json_out {
        return output::json(&json!({
            "user_id": user_id,
            "private_key": path,
            "public_key": pub_path,
        }));
    }
    println!(
        "Created {} (private, 0600) and {}",
        path.display(),
        pub_path.display()
    );
    println!("user id: {user_id}");
    println!(
        "Next: gatehouse join --token TOKEN --name NAME, or ask an admin to run\n  \
         gatehouse user register --pubkey {} --name NAME",
        pub_path.display()
    );
    Ok(())
}

#[derive(Deserialize)]
struct Nonce {
    nonce: String,
}

pub async fn join(
    ctx: &Ctx,
    token: &str,
    name: &str,
    key: Option<PathBuf>,
    write_credentials: Option<PathBuf>,
) -> anyhow::Result<()> {
    let key_path = match key {
        Some(k) => k,
        None => default_key_path()?,
    };
    if !key_path.exists() {
        bail!(
            "no private key at {}: create one with `gatehouse keygen`",
            key_path.display()
        );
    }
    let kp = Keypair::load(&key_path)?;
    let pk = kp.public();
    let n: Nonce = serde_json::from_value(
        ctx.api
            .call(Method::POST, "/api/join/nonce", "", None::<&()>)
            .await?,
    )?;
    let signature = hex::encode(kp.sign(&join_message(&n.nonce, name, &pk)));
    let body = json!({
        "public_key": pk.to_openssh(name),
        "name": name,
        "nonce": n.nonce,
        "signature": signature,
        "token": token,
    });
    let v = ctx
        .api
        .call(Method::POST, "/api/join", "", Some(&body))
        .await?;
    let r: Registered = serde_json::from_value(v)?;
    if let Some(f) = &write_credentials {
        credentials::write_file(
            f,
            &Credentials {
                access_key: r.access_key.clone(),
                secret_key: r.secret_key.clone(),
            },
        )?;
    }
    if ctx.json {
        return output::json(&r);
    }
    if !r.created {
        println!("This key had joined before: same key, same user.");
    } else if r.name != name {
        println!(
            "The name {name} is taken by another key: joined as {}.",
            r.name
        );
    }
    print_registered(&r);
    if let Some(f) = &write_credentials {
        println!("Saved to {} (mode 0600)", f.display());
    }
    Ok(())
}

fn print_registered(r: &Registered) {
    output::fields(&[
        ("user id", r.user_id.clone()),
        ("name", r.name.clone()),
        ("access key", r.access_key.clone()),
        ("secret key", r.secret_key.clone()),
    ]);
}

async fn my_id(ctx: &Ctx) -> anyhow::Result<String> {
    let me: Me = ctx.api.get("/api/me", "").await?;
    Ok(me.user_id)
}

fn admin_text(admin: bool, how: Option<&str>) -> String {
    match (admin, how) {
        (true, Some("peer-id")) => "yes (matched by peer ID)".into(),
        (true, Some("name")) => "yes (matched by name: mutable)".into(),
        (a, _) => yes_no(a).into(),
    }
}

/// `~/.gatehouse/id_ed25519`
fn default_key_path() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: give the key file explicitly")?;
    Ok(Path::new(&home).join(".gatehouse").join("id_ed25519"))
}
