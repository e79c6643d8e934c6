//! `role …` and `group …`.

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::{query, seg};
use super::args::{GroupCmd, RoleCmd, ScopeArgs};
use super::output;

#[derive(Deserialize)]
struct Role {
    name: String,
    description: String,
    rules: Vec<String>,
    builtin: bool,
}

#[derive(Deserialize)]
struct Binding {
    subject_kind: String,
    subject: String,
    subject_name: Option<String>,
    role: String,
    scope_kind: String,
    scope: Option<String>,
    builtin: bool,
}

impl Binding {
    fn who(&self) -> String {
        match &self.subject_name {
            Some(n) => format!("{} {n} ({})", self.subject_kind, self.subject),
            None => format!("{} {}", self.subject_kind, self.subject),
        }
    }
    fn scope(&self) -> String {
        match &self.scope {
            Some(s) => format!("{} {s}", self.scope_kind),
            None => self.scope_kind.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Group {
    name: String,
    description: String,
    builtin: bool,
    members: Vec<String>,
}

#[derive(Deserialize)]
struct Member {
    user_id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

pub async fn role(ctx: &Ctx, cmd: RoleCmd) -> anyhow::Result<()> {
    match cmd {
        RoleCmd::List => {
            let v: Value = ctx.api.get("/api/roles", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let roles: Vec<Role> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = roles
                .into_iter()
                .map(|r| {
                    vec![
                        r.name,
                        if r.builtin { "built-in" } else { "custom" }.into(),
                        r.rules.join(" "),
                        r.description,
                    ]
                })
                .collect();
            output::table(&["NAME", "KIND", "RULES", "DESCRIPTION"], &rows);
            Ok(())
        }
        RoleCmd::Create {
            name,
            verbs,
            resources,
            description,
        } => {
            let body = json!({
                "name": name, "description": description, "verbs": verbs, "resources": resources,
            });
            let v = ctx
                .api
                .call(Method::POST, "/api/roles", "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let r: Role = serde_json::from_value(v)?;
            println!("Created role {}: {}", r.name, r.rules.join(" "));
            Ok(())
        }
        RoleCmd::Delete { name } => {
            let path = format!("/api/roles/{}", seg(&name));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Deleted role {name}"))
        }
        RoleCmd::Bind { user, role, scope } => bind(ctx, "user", &user, &role, &scope).await,
        RoleCmd::Unbind { user, role, scope } => unbind(ctx, "user", &user, &role, &scope).await,
        RoleCmd::Bindings { user } => {
            let q = query(&[("user", user.as_deref())]);
            let v: Value = ctx.api.get("/api/bindings", &q).await?;
            if ctx.json {
                return output::json(&v);
            }
            let bindings: Vec<Binding> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = bindings
                .iter()
                .map(|b| {
                    vec![
                        b.who(),
                        b.role.clone(),
                        b.scope(),
                        if b.builtin { "built-in" } else { "custom" }.into(),
                    ]
                })
                .collect();
            output::table(&["SUBJECT", "ROLE", "SCOPE", "KIND"], &rows);
            Ok(())
        }
    }
}

pub async fn group(ctx: &Ctx, cmd: GroupCmd) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::List => {
            let v: Value = ctx.api.get("/api/groups", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let groups: Vec<Group> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = groups
                .into_iter()
                .map(|g| {
                    vec![
                        g.name,
                        if g.builtin { "built-in" } else { "custom" }.into(),
                        g.members.len().to_string(),
                        g.description,
                    ]
                })
                .collect();
            output::table(&["NAME", "KIND", "MEMBERS", "DESCRIPTION"], &rows);
            Ok(())
        }
        GroupCmd::Create { name, description } => {
            let body = json!({ "name": name, "description": description });
            let v = ctx
                .api
                .call(Method::POST, "/api/groups", "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            println!("Created group {name}");
            Ok(())
        }
        GroupCmd::Delete { name } => {
            let path = format!("/api/groups/{}", seg(&name));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Deleted group {name}"))
        }
        GroupCmd::Members { group } => {
            let path = format!("/api/groups/{}/members", seg(&group));
            let v: Value = ctx.api.get(&path, "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let m: Members = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = m
                .members
                .into_iter()
                .map(|m| vec![m.user_id, m.name.unwrap_or_else(|| "-".into())])
                .collect();
            output::table(&["USER ID", "NAME"], &rows);
            Ok(())
        }
        GroupCmd::AddMember { group, user } => {
            let path = format!("/api/groups/{}/members/{}", seg(&group), seg(&user));
            let v = ctx.api.call(Method::PUT, &path, "", None::<&()>).await?;
            if ctx.json {
                return output::json(&v);
            }
            let id = v.get("user_id").and_then(Value::as_str).unwrap_or("?");
            println!("Added {user} ({id}) to group {group}");
            Ok(())
        }
        GroupCmd::RemoveMember { group, user } => {
            let path = format!("/api/groups/{}/members/{}", seg(&group), seg(&user));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Removed {user} from group {group}"))
        }
        GroupCmd::Bind { group, role, scope } => bind(ctx, "group", &group, &role, &scope).await,
        GroupCmd::Unbind { group, role, scope } => {
            unbind(ctx, "group", &group, &role, &scope).await
        }
    }
}

/// `kind` is "user" or "group": the API's name for the subject field.
async fn bind(ctx: &Ctx, kind: &str, who: &str, role: &str, s: &ScopeArgs) -> anyhow::Result<()> {
    let mut body = json!({ kind: who, "role": role });
    if let Some(b) = &s.bucket {
        body["bucket"] = json!(b);
    }
    if let Some(p) = &s.panel_scope {
        body["panel"] = json!(p);
    }
    if let Some(k) = &s.kms_key {
        body["key"] = json!(k);
    }
    let v = ctx
        .api
        .call(Method::POST, "/api/bindings", "", Some(&body))
        .await?;
    if ctx.json {
        return output::json(&v);
    }
    let b: Binding = serde_json::from_value(v)?;
    println!("Bound role {} to {} ({})", b.role, b.who(), b.scope());
    Ok(())
}

async fn unbind(ctx: &Ctx, kind: &str, who: &str, role: &str, s: &ScopeArgs) -> anyhow::Result<()> {
    let q = query(&[
        (kind, Some(who)),
        ("role", Some(role)),
        ("bucket", s.bucket.as_deref()),
        ("panel", s.panel_scope.as_deref()),
        ("key", s.kms_key.as_deref()),
    ]);
    ctx.api
        .call(Method::DELETE, "/api/bindings", &q, None::<&()>)
        .await?;
    let scope = match (&s.bucket, &s.panel_scope, &s.kms_key) {
        (Some(b), _, _) => format!("bucket {b}"),
        (_, Some(p), _) => format!("panel {p}"),
        (_, _, Some(k)) => format!("key {k}"),
        _ => "global".into(),
    };
    ctx.done(|| println!("Removed role {role} from {kind} {who} ({scope})"))
}
