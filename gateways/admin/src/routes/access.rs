//! Groups, roles and role bindings.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::StoreError;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::{Rule, Scope};
use serde::{Deserialize, Serialize};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param, Query};

// ----- groups -----

pub async fn list_groups(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.list_groups(&c.principal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Serialize)]
struct GroupCreated {
    name: String,
    description: String,
    builtin: bool,
    members: Vec<String>,
}

pub async fn create_group(
    State(st): State<AdminState>,
    c: Caller,
    body: Body,
) -> ApiResult<Response> {
    let b: GroupBody = json::read(Some(&c.payload), body).await?;
    st.store
        .create_group(&c.principal, &b.name, &b.description)
        .await?;
    Ok(json::created(&GroupCreated {
        name: b.name,
        description: b.description,
        builtin: false,
        members: Vec::new(),
    }))
}

pub async fn delete_group(
    State(st): State<AdminState>,
    c: Caller,
    Param(group): Param<String>,
) -> ApiResult<Response> {
    st.store.delete_group(&c.principal, &group).await?;
    Ok(json::no_content())
}

#[derive(Serialize)]
struct Member {
    user_id: String,
    /// Present when the caller may also read users.
    name: Option<String>,
}

#[derive(Serialize)]
struct Members {
    group: String,
    builtin: bool,
    members: Vec<Member>,
}

pub async fn members(
    State(st): State<AdminState>,
    c: Caller,
    Param(group): Param<String>,
) -> ApiResult<Response> {
    let g = st
        .store
        .list_groups(&c.principal)?
        .into_iter()
        .find(|g| g.name == group)
        .ok_or_else(|| StoreError::NoSuchGroup(group.clone()))?;
    // Names are a courtesy: a panel viewer of groups may not read users.
    let users = st.store.list_users(&c.principal).unwrap_or_default();
    let name_of = |id: &str| {
        users
            .iter()
            .find(|u| u.user_id == id)
            .map(|u| u.name.clone())
    };
    Ok(json::ok(&Members {
        members: g
            .members
            .iter()
            .map(|id| Member {
                user_id: id.clone(),
                name: name_of(id),
            })
            .collect(),
        group: g.name,
        builtin: g.builtin,
    }))
}

#[derive(Serialize)]
struct Membership {
    group: String,
    user_id: String,
}

pub async fn add_member(
    State(st): State<AdminState>,
    c: Caller,
    Param((group, who)): Param<(String, String)>,
) -> ApiResult<Response> {
    let user_id = st
        .store
        .set_group_member(&c.principal, &group, &who, true)
        .await?;
    Ok(json::ok(&Membership { group, user_id }))
}

pub async fn remove_member(
    State(st): State<AdminState>,
    c: Caller,
    Param((group, who)): Param<(String, String)>,
) -> ApiResult<Response> {
    st.store
        .set_group_member(&c.principal, &group, &who, false)
        .await?;
    Ok(json::no_content())
}

// ----- roles -----

pub async fn list_roles(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    Ok(json::ok(&st.store.list_roles(&c.principal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    verbs: String,
    resources: String,
}

/// One rule as `verbs` + `resources` (comma-separated), or several as `rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    name: String,
    #[serde(default)]
    description: String,
    verbs: Option<String>,
    resources: Option<String>,
    rules: Option<Vec<RuleBody>>,
}

pub async fn create_role(
    State(st): State<AdminState>,
    c: Caller,
    body: Body,
) -> ApiResult<Response> {
    let b: RoleBody = json::read(Some(&c.payload), body).await?;
    let rules = match (b.verbs, b.resources, b.rules) {
        (Some(v), Some(r), None) => vec![Rule::parse(&v, &r)?],
        (None, None, Some(rules)) => rules
            .iter()
            .map(|r| Rule::parse(&r.verbs, &r.resources))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::invalid_request(
                "give either verbs and resources, or rules: [{verbs, resources}, …]",
            ));
        }
    };
    let role = st
        .store
        .create_role(&c.principal, &b.name, &b.description, rules)
        .await?;
    Ok(json::created(&role))
}

pub async fn delete_role(
    State(st): State<AdminState>,
    c: Caller,
    Param(role): Param<String>,
) -> ApiResult<Response> {
    st.store.delete_role(&c.principal, &role).await?;
    Ok(json::no_content())
}

// ----- bindings -----

pub async fn list_bindings(
    State(st): State<AdminState>,
    c: Caller,
    q: Query,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.list_bindings(&c.principal, q.get("user"))?,
    ))
}

/// A binding as the client names it: exactly one subject, at most one scope.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingBody {
    user: Option<String>,
    group: Option<String>,
    role: String,
    bucket: Option<String>,
    panel: Option<String>,
    /// A key of the key service (decision 0046): its id, alias or ARN.
    #[serde(default)]
    key: Option<String>,
}

impl BindingBody {
    fn resolve(self) -> ApiResult<(SubjectRef, String, Scope)> {
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let subject = match (nonempty(self.user), nonempty(self.group)) {
            (Some(u), None) => SubjectRef::User(u),
            (None, Some(g)) => SubjectRef::Group(g),
            _ => {
                return Err(ApiError::invalid_request(
                    "name exactly one subject: user or group",
                ));
            }
        };
        // An empty scope is a mistake (a form field left blank), never "global": leave the
        // field out for a global binding.
        for (field, v) in [
            ("bucket", &self.bucket),
            ("panel", &self.panel),
            ("key", &self.key),
        ] {
            if v.as_deref() == Some("") {
                return Err(ApiError::invalid_request(format!(
                    "{field} is empty: name one, or leave {field} out for a global binding"
                )));
            }
        }
        let scope = match (self.bucket, self.panel, self.key) {
            (None, None, None) => Scope::Global,
            (Some(b), None, None) => Scope::Bucket(b),
            (None, Some(p), None) => Scope::Panel(p),
            (None, None, Some(k)) => Scope::Key(k),
            _ => {
                return Err(ApiError::invalid_request(
                    "a binding is scoped to one bucket, panel or key, not more",
                ));
            }
        };
        if self.role.is_empty() {
            return Err(ApiError::invalid_request("role is required"));
        }
        Ok((subject, self.role, scope))
    }
}

pub async fn bind(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: BindingBody = json::read(Some(&c.payload), body).await?;
    let (subject, role, scope) = b.resolve()?;
    let info = st.store.bind(&c.principal, subject, &role, scope).await?;
    Ok(json::created(&info))
}

/// `DELETE /api/bindings?user=U|group=G&role=R[&bucket=B|&panel=P|&key=K]`
pub async fn unbind(State(st): State<AdminState>, c: Caller, q: Query) -> ApiResult<Response> {
    // As sent, empty values included: `bucket=` is refused, not read as global.
    let own = |n: &str| q.0.get(n).cloned();
    let (subject, role, scope) = BindingBody {
        user: own("user"),
        group: own("group"),
        role: own("role").unwrap_or_default(),
        bucket: own("bucket"),
        panel: own("panel"),
        key: own("key"),
    }
    .resolve()?;
    st.store.unbind(&c.principal, subject, &role, scope).await?;
    Ok(json::no_content())
}
