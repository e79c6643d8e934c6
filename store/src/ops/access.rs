//! Groups, roles and bindings (admin only, or read through a panel-viewer binding), and the
//! policy snapshot they compile into.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use super::users::{audit, resolve_user_txn};
use crate::error::Result;
use crate::model::{BindingRecord, GroupRecord, Principal, RoleRecord, Subject, UserRecord};
use crate::rbac::policy::{AdminPeers, BUILTIN_GROUPS, PANELS, builtin_bindings};
use crate::rbac::roles::{BUILTIN_ROLES, RoleDef, Rule, truncate, validate_name};
use crate::rbac::{Policy, Resource, Scope, Verb, authorize, may_grant};
use crate::tables::{BINDINGS, BUCKETS, GROUPS, ROLES, USERS};
use crate::{Store, StoreError, codec, deny, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct RoleInfo {
    pub name: String,
    pub description: String,
    pub rules: Vec<String>,
    pub builtin: bool,
    /// Only inside the system bucket.
    pub system_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub description: String,
    pub builtin: bool,
    /// User ids (for built-in groups: computed now).
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BindingInfo {
    /// "user" or "group".
    pub subject_kind: &'static str,
    /// User id or group name.
    pub subject: String,
    /// User name for user subjects.
    pub subject_name: Option<String>,
    pub role: String,
    /// "global", "bucket" or "panel".
    pub scope_kind: &'static str,
    pub scope: Option<String>,
    pub builtin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PanelInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub admin_only: bool,
    /// Whether the caller may open it.
    pub allowed: bool,
}

/// Who a binding is for, as the caller named it.
#[derive(Debug, Clone)]
pub enum SubjectRef {
    /// A user id or name.
    User(String),
    Group(String),
}

impl Store {
    /// The current policy snapshot: read again first when a change of who may do what has
    /// committed since it was read (its own request may have been dropped before reloading).
    pub fn policy(&self) -> Arc<Policy> {
        if self.policy_behind()
            && self.reload_due()
            && let Err(e) = self.reload(true)
        {
            // The snapshot stays as it was (as when a change's own reload fails); tried
            // again in a second, not on every request meanwhile.
            *self
                .inner
                .policy_retry_at
                .lock()
                .unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now() + std::time::Duration::from_secs(1));
            tracing::error!(error = %e, "the policy could not be read again after a change");
        }
        match self.inner.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn reload_due(&self) -> bool {
        self.inner
            .policy_retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| std::time::Instant::now() >= at)
    }

    fn policy_behind(&self) -> bool {
        self.inner.policy_changes.load(Ordering::Acquire)
            != self.inner.policy_seen.load(Ordering::Acquire)
    }

    /// What a change of who may do what (users, credentials, peers, roles, groups, bindings,
    /// buckets and their access settings) runs on the commit thread once it has committed
    /// (`Committer::write_then`), whether or not its request still waits: the change is
    /// counted, so the next `policy()` reads the snapshot again, and every identity remembered
    /// before it is looked up again. Holds no `Inner` (the commit thread must never drop the
    /// last one).
    pub(crate) fn policy_changed(&self) -> impl FnOnce() + Send + 'static {
        let changes = self.inner.policy_changes.clone();
        let principals = self.inner.peer_principals.clone();
        move || {
            // Counted first: whoever sees the epoch move also sees the snapshot behind.
            changes.fetch_add(1, Ordering::AcqRel);
            principals.invalidate();
        }
    }

    /// Sets `admin_peers` (from config; start-up only) and rebuilds the policy.
    pub fn set_admin_peers(&self, entries: Vec<String>) -> Result<()> {
        *self
            .inner
            .admin_peers
            .write()
            .map_err(|_| StoreError::internal("lock"))? = AdminPeers(entries);
        self.reload_policy()
    }

    /// Rebuilds the snapshot from the tables (after every change of roles, groups, bindings).
    pub(crate) fn reload_policy(&self) -> Result<()> {
        self.reload(false)
    }

    /// [`Self::reload_policy`]; with `only_if_behind`, nothing when another caller has read the
    /// snapshot again meanwhile (the requests that all found it behind read it once).
    fn reload(&self, only_if_behind: bool) -> Result<()> {
        // One reload at a time: two that overlap (a bucket created by one user while an admin
        // unbinds another) would otherwise swap in whichever finished last, perhaps the one
        // that read the tables before the other's change committed.
        let _one = self
            .inner
            .policy_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if only_if_behind && !self.policy_behind() {
            return Ok(());
        }
        // The changes counted before the tables are read: the snapshot holds at least these
        // (each is counted after its commit), perhaps more, which only costs a read again.
        let seen = self.inner.policy_changes.load(Ordering::Acquire);
        // Before (a failed reload still drops cached principals) and after (a principal
        // resolved with the old snapshot meanwhile is not kept).
        self.inner.peer_principals.invalidate();
        // Not `db()`: nothing it reads is written by a deferred mutation, and settling from
        // here could wait on the commit thread that is asking.
        let txn = self.inner.db.begin_read()?;
        let mut roles = Vec::new();
        for e in txn.open_table(ROLES)?.iter()? {
            let (k, v) = e?;
            let r: RoleRecord = codec::decode(v.value())?;
            roles.push(RoleDef {
                name: k.value().to_string(),
                description: r.description,
                rules: r.rules,
                builtin: false,
                system_only: false,
            });
        }
        let mut groups = BTreeMap::new();
        for e in txn.open_table(GROUPS)?.iter()? {
            let (k, v) = e?;
            let g: GroupRecord = codec::decode(v.value())?;
            groups.insert(k.value().to_string(), g.members);
        }
        let mut bindings = Vec::new();
        for e in txn.open_table(BINDINGS)?.iter()? {
            let (_, v) = e?;
            bindings.push(codec::decode::<BindingRecord>(v.value())?);
        }
        let peers = self
            .inner
            .admin_peers
            .read()
            .map_err(|_| StoreError::internal("lock"))?
            .clone();
        let access = self.load_access(&txn)?;
        let policy = Arc::new(
            Policy::new(roles, groups, bindings, peers)
                .with_access(access)
                .with_role_rates(self.role_rates()),
        );
        *self
            .inner
            .policy
            .write()
            .map_err(|_| StoreError::internal("lock"))? = policy;
        self.inner.policy_seen.store(seen, Ordering::Release);
        *self
            .inner
            .policy_retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.inner.peer_principals.invalidate();
        Ok(())
    }

    /// Read access to an administrative resource: its own verb, or a panel-viewer binding on
    /// the panel that shows it. The first denial is the one reported.
    pub(crate) fn may_read(&self, p: &Principal, r: Resource<'_>, panel: &str) -> Result<()> {
        let d = authorize(p, Verb::List, r);
        if d.allowed || authorize(p, Verb::Get, Resource::Panels(Some(panel))).allowed {
            return Ok(());
        }
        deny(d)
    }

    /// The panels of the web page and whether the caller may open each.
    pub fn panels(&self, p: &Principal) -> Vec<PanelInfo> {
        PANELS
            .iter()
            .map(|(id, title, admin_only)| PanelInfo {
                id,
                title,
                admin_only: *admin_only,
                allowed: !*admin_only
                    || authorize(p, Verb::Get, Resource::Panels(Some(id))).allowed,
            })
            .collect()
    }

    // ----- roles -----

    pub fn list_roles(&self, p: &Principal) -> Result<Vec<RoleInfo>> {
        self.may_read(p, Resource::Roles, "bindings")?;
        Ok(self
            .policy()
            .roles
            .values()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                description: r.description.clone(),
                rules: r.rules.iter().map(Rule::render).collect(),
                builtin: r.builtin,
                system_only: r.system_only,
            })
            .collect())
    }

    pub async fn create_role(
        &self,
        p: &Principal,
        name: &str,
        description: &str,
        rules: Vec<Rule>,
    ) -> Result<RoleInfo> {
        deny(authorize(p, Verb::Create, Resource::Roles))?;
        validate_name("role", name)?;
        if BUILTIN_ROLES.contains(&name) {
            return Err(StoreError::Conflict(format!(
                "{name} is a built-in role and cannot be redefined"
            )));
        }
        if rules.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a role needs at least one rule".into(),
            ));
        }
        check_description("role", description)?;
        let description = description.to_string();
        let rec = RoleRecord {
            description: description.clone(),
            rules: rules.clone(),
            created_ms: now_ms(),
        };
        let n = name.to_string();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    let mut t = txn.open_table(ROLES)?;
                    if t.get(n.as_str())?.is_some() {
                        return Err(StoreError::Conflict(format!("role {n} already exists")));
                    }
                    t.insert(n.as_str(), codec::encode(&rec)?.as_slice())?;
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "role.create", name);
        Ok(RoleInfo {
            name: name.to_string(),
            description,
            rules: rules.iter().map(Rule::render).collect(),
            builtin: false,
            system_only: false,
        })
    }

    /// Deletes a custom role. Refused while any binding uses it (unbind first).
    pub async fn delete_role(&self, p: &Principal, name: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Roles))?;
        if BUILTIN_ROLES.contains(&name) {
            return Err(StoreError::Conflict(format!(
                "{name} is a built-in role and cannot be deleted"
            )));
        }
        let n = name.to_string();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    let in_use = count_bindings(txn, |b| b.role == n)?;
                    if in_use > 0 {
                        return Err(StoreError::Conflict(format!(
                            "role {n} is used by {in_use} binding(s); unbind them first"
                        )));
                    }
                    let mut t = txn.open_table(ROLES)?;
                    if t.remove(n.as_str())?.is_none() {
                        return Err(StoreError::NoSuchRole(truncate(&n, 80)));
                    }
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "role.delete", name);
        Ok(())
    }

    // ----- groups -----

    pub fn list_groups(&self, p: &Principal) -> Result<Vec<GroupInfo>> {
        self.may_read(p, Resource::Groups, "groups")?;
        let pol = self.policy();
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let mut builtin: BTreeMap<&str, Vec<String>> =
            BUILTIN_GROUPS.iter().map(|g| (*g, Vec::new())).collect();
        for e in users.iter()? {
            let (k, v) = e?;
            let u: UserRecord = codec::decode(v.value())?;
            let admin = pol.admin_peers.matches(k.value(), &u.name).is_some();
            for g in pol.groups_of(k.value(), admin, u.kind) {
                if let Some(m) = builtin.get_mut(g.as_str()) {
                    m.push(k.value().to_string());
                }
            }
        }
        let mut out: Vec<GroupInfo> = builtin
            .into_iter()
            .map(|(name, members)| GroupInfo {
                name: name.to_string(),
                description: "built in: membership is automatic".into(),
                builtin: true,
                members,
            })
            .collect();
        for e in txn.open_table(GROUPS)?.iter()? {
            let (k, v) = e?;
            let g: GroupRecord = codec::decode(v.value())?;
            out.push(GroupInfo {
                name: k.value().to_string(),
                description: g.description,
                builtin: false,
                members: g.members.into_iter().collect(),
            });
        }
        Ok(out)
    }

    pub async fn create_group(&self, p: &Principal, name: &str, description: &str) -> Result<()> {
        deny(authorize(p, Verb::Create, Resource::Groups))?;
        validate_name("group", name)?;
        if BUILTIN_GROUPS.contains(&name) {
            return Err(StoreError::Conflict(format!("{name} is a built-in group")));
        }
        check_description("group", description)?;
        let rec = GroupRecord {
            description: description.to_string(),
            members: BTreeSet::new(),
            created_ms: now_ms(),
        };
        let n = name.to_string();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    let mut t = txn.open_table(GROUPS)?;
                    if t.get(n.as_str())?.is_some() {
                        return Err(StoreError::Conflict(format!("group {n} already exists")));
                    }
                    t.insert(n.as_str(), codec::encode(&rec)?.as_slice())?;
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "group.create", name);
        Ok(())
    }

    /// Deletes a custom group. Refused while bindings name it (unbind first).
    pub async fn delete_group(&self, p: &Principal, name: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Groups))?;
        if BUILTIN_GROUPS.contains(&name) {
            return Err(StoreError::Conflict(format!(
                "{name} is a built-in group and cannot be deleted"
            )));
        }
        let n = name.to_string();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    let subject = Subject::Group(n.clone());
                    let in_use = count_bindings(txn, |b| b.subject == subject)?;
                    if in_use > 0 {
                        return Err(StoreError::Conflict(format!(
                            "group {n} has {in_use} binding(s); unbind them first"
                        )));
                    }
                    if txn.open_table(GROUPS)?.remove(n.as_str())?.is_none() {
                        return Err(StoreError::NoSuchGroup(truncate(&n, 80)));
                    }
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "group.delete", name);
        Ok(())
    }

    /// Adds (`add` true) or removes a user (id or name) from a custom group. Adding needs,
    /// besides `put` on groups, every grant the group's bindings give (as [`Store::bind`]).
    pub async fn set_group_member(
        &self,
        p: &Principal,
        group: &str,
        who: &str,
        add: bool,
    ) -> Result<String> {
        deny(authorize(p, Verb::Put, Resource::Groups))?;
        if BUILTIN_GROUPS.contains(&group) {
            return Err(StoreError::Conflict(format!(
                "membership of built-in group {group} is automatic"
            )));
        }
        if add {
            // Joining a group is getting its bindings: the caller must hold what they give.
            let pol = self.policy();
            for b in pol
                .bindings
                .iter()
                .filter(|b| b.subject == Subject::Group(group.into()))
            {
                if let Some(def) = pol.roles.get(&b.role) {
                    deny(may_grant(p, def, &b.scope))?;
                }
            }
        }
        let (g, w) = (group.to_string(), who.to_string());
        let id = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    let (id, _) = resolve_user_txn(txn, &w)?;
                    let mut t = txn.open_table(GROUPS)?;
                    let mut rec: GroupRecord = match t.get(g.as_str())? {
                        Some(v) => codec::decode(v.value())?,
                        None => return Err(StoreError::NoSuchGroup(truncate(&g, 80))),
                    };
                    let changed = if add {
                        rec.members.insert(id.clone())
                    } else {
                        rec.members.remove(&id)
                    };
                    if !add && !changed {
                        return Err(StoreError::InvalidArgument(format!(
                            "{w} is not a member of {g}"
                        )));
                    }
                    t.insert(g.as_str(), codec::encode(&rec)?.as_slice())?;
                    Ok(id)
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        let action = if add {
            "group.add-member"
        } else {
            "group.remove-member"
        };
        audit(p, action, &format!("{group} {who} ({id})"));
        Ok(id)
    }

    // ----- bindings -----

    /// Binds a role to a user or group, globally or scoped to one bucket or panel. Binding
    /// the same thing twice is a no-op. The caller must hold every grant of the role at that
    /// scope itself (`rbac::may_grant`, Kubernetes' escalation check): `create` on bindings
    /// lets a caller hand on what it has, never more.
    pub async fn bind(
        &self,
        p: &Principal,
        subject: SubjectRef,
        role: &str,
        scope: Scope,
    ) -> Result<BindingInfo> {
        deny(authorize(p, Verb::Create, Resource::Bindings))?;
        let scope = self.canonical_scope(scope)?;
        let pol = self.policy();
        let Some(def) = pol.roles.get(role) else {
            return Err(StoreError::NoSuchRole(truncate(role, 80)));
        };
        deny(may_grant(p, def, &scope))?;
        let touches = |kinds: &[&str]| {
            def.rules.iter().any(|r| {
                r.resources
                    .iter()
                    .any(|x| x == "*" || kinds.contains(&x.as_str()))
            })
        };
        match &scope {
            Scope::Global => {}
            Scope::Bucket(_) if !touches(&["buckets", "objects", "replication"]) => {
                return Err(StoreError::InvalidArgument(format!(
                    "role {role} grants nothing on buckets, objects or replication; a bucket \
                     scope would give nothing"
                )));
            }
            Scope::Panel(panel) => {
                if !PANELS.iter().any(|(id, _, _)| id == panel) {
                    return Err(StoreError::InvalidArgument(format!(
                        "unknown panel {:?} (panels: {})",
                        truncate(panel, 80),
                        PANELS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                    )));
                }
                if !touches(&["panels"]) {
                    return Err(StoreError::InvalidArgument(format!(
                        "role {role} grants nothing on panels; use panel-viewer for panel scopes"
                    )));
                }
            }
            Scope::Key(_) => {
                if !touches(&["kms"]) {
                    return Err(StoreError::InvalidArgument(format!(
                        "role {role} grants nothing on keys; a key scope would give nothing"
                    )));
                }
            }
            Scope::Bucket(_) => {}
        }
        let role_s = role.to_string();
        let rec = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    let subject = match subject {
                        SubjectRef::User(w) => Subject::User(resolve_user_txn(txn, &w)?.0),
                        SubjectRef::Group(g) => {
                            if !BUILTIN_GROUPS.contains(&g.as_str())
                                && txn.open_table(GROUPS)?.get(g.as_str())?.is_none()
                            {
                                return Err(StoreError::NoSuchGroup(truncate(&g, 80)));
                            }
                            Subject::Group(g)
                        }
                    };
                    if let Scope::Bucket(b) = &scope
                        && txn.open_table(BUCKETS)?.get(b.as_str())?.is_none()
                    {
                        return Err(StoreError::NoSuchBucket);
                    }
                    let key = BindingRecord::key(&subject, &role_s, &scope);
                    let rec = BindingRecord {
                        subject,
                        role: role_s,
                        scope,
                        created_ms: now_ms(),
                    };
                    let mut t = txn.open_table(BINDINGS)?;
                    if t.get(key.as_str())?.is_none() {
                        t.insert(key.as_str(), codec::encode(&rec)?.as_slice())?;
                    }
                    Ok(rec)
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        let info = self.binding_info(&rec, false);
        audit(p, "role.bind", &describe(&info));
        Ok(info)
    }

    pub async fn unbind(
        &self,
        p: &Principal,
        subject: SubjectRef,
        role: &str,
        scope: Scope,
    ) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Bindings))?;
        let scope = self.canonical_scope(scope)?;
        let role_s = role.to_string();
        let desc = self
            .inner
            .committer
            .write_then(
                move |txn| {
                    let subject = match subject {
                        SubjectRef::User(w) => Subject::User(resolve_user_txn(txn, &w)?.0),
                        SubjectRef::Group(g) => Subject::Group(g),
                    };
                    let key = BindingRecord::key(&subject, &role_s, &scope);
                    if txn.open_table(BINDINGS)?.remove(key.as_str())?.is_none() {
                        return Err(StoreError::NoSuchBinding(truncate(&key, 200)));
                    }
                    Ok(key)
                },
                self.policy_changed(),
            )
            .await?;
        self.reload_policy()?;
        audit(p, "role.unbind", &desc);
        Ok(())
    }

    /// Every binding (built-in ones first), optionally only those that apply to one user
    /// (directly or through a group).
    pub fn list_bindings(&self, p: &Principal, user: Option<&str>) -> Result<Vec<BindingInfo>> {
        self.may_read(p, Resource::Bindings, "bindings")?;
        let pol = self.policy();
        let filter = match user {
            None => None,
            Some(w) => {
                let info = self.show_user(p, w)?;
                Some((info.user_id, info.groups))
            }
        };
        let builtin = builtin_bindings();
        Ok(builtin
            .iter()
            .map(|b| (b, true))
            .chain(pol.bindings.iter().map(|b| (b, false)))
            .filter(|(b, _)| match (&filter, &b.subject) {
                (None, _) => true,
                (Some((id, _)), Subject::User(u)) => u == id,
                (Some((_, groups)), Subject::Group(g)) => groups.contains(g),
            })
            .map(|(b, builtin)| self.binding_info(b, builtin))
            .collect())
    }

    fn binding_info(&self, b: &BindingRecord, builtin: bool) -> BindingInfo {
        let (subject_kind, subject, subject_name) = match &b.subject {
            Subject::User(u) => ("user", u.clone(), self.user_name(u)),
            Subject::Group(g) => ("group", g.clone(), None),
        };
        let (scope_kind, scope) = match &b.scope {
            Scope::Global => ("global", None),
            Scope::Bucket(x) => ("bucket", Some(x.clone())),
            Scope::Panel(x) => ("panel", Some(x.clone())),
            Scope::Key(x) => ("key", Some(x.clone())),
        };
        BindingInfo {
            subject_kind,
            subject,
            subject_name,
            role: b.role.clone(),
            scope_kind,
            scope,
            builtin,
        }
    }

    fn user_name(&self, id: &str) -> Option<String> {
        let txn = self.db().begin_read().ok()?;
        let t = txn.open_table(USERS).ok()?;
        let v = t.get(id).ok()??;
        codec::decode::<UserRecord>(v.value()).ok().map(|u| u.name)
    }
}

/// Longest description of a role or group.
const MAX_DESCRIPTION: usize = 256;

/// A description too long is refused, not cut: what is stored is what was asked for.
fn check_description(what: &str, description: &str) -> Result<()> {
    if description.len() > MAX_DESCRIPTION {
        return Err(StoreError::InvalidArgument(format!(
            "the {what} description is {} bytes; at most {MAX_DESCRIPTION}",
            description.len()
        )));
    }
    Ok(())
}

fn count_bindings(
    txn: &redb::WriteTransaction,
    pred: impl Fn(&BindingRecord) -> bool,
) -> Result<usize> {
    let t = txn.open_table(BINDINGS)?;
    let mut n = 0;
    for e in t.iter()? {
        let (_, v) = e?;
        if pred(&codec::decode::<BindingRecord>(v.value())?) {
            n += 1;
        }
    }
    Ok(n)
}

/// Adds a binding in a write transaction (a bucket's or a share's creator becoming its
/// `bucket-admin`); a binding that exists already is left as it is.
pub(crate) fn put_binding(
    wtxn: &redb::WriteTransaction,
    subject: Subject,
    role: &str,
    scope: &Scope,
    now: i64,
) -> Result<()> {
    let key = BindingRecord::key(&subject, role, scope);
    let mut t = wtxn.open_table(BINDINGS)?;
    if t.get(key.as_str())?.is_none() {
        let rec = BindingRecord {
            subject,
            role: role.to_string(),
            scope: scope.clone(),
            created_ms: now,
        };
        t.insert(key.as_str(), codec::encode(&rec)?.as_slice())?;
    }
    Ok(())
}

/// Removes the bindings scoped to a bucket (when the bucket is deleted), in its transaction.
pub(crate) fn drop_bucket_bindings(txn: &redb::WriteTransaction, bucket: &str) -> Result<()> {
    let scope = Scope::Bucket(bucket.to_string());
    txn.open_table(BINDINGS)?
        .retain(|_, v| codec::decode::<BindingRecord>(v).map_or(true, |b| b.scope != scope))?;
    Ok(())
}

/// A bucket scope names the bucket as stored: `fs--<share>` (the alias botocore clients use)
/// is the share's bucket `fs+<share>`.
impl Store {
    /// A scope as bindings keep it: a bucket by its stored name, a key by its id (however
    /// the caller named it: alias, ARN).
    fn canonical_scope(&self, scope: Scope) -> Result<Scope> {
        Ok(match scope {
            Scope::Bucket(b) => Scope::Bucket(crate::naming::canonical_bucket(&b).into_owned()),
            Scope::Key(k) => match self.kms().find(&k) {
                Some(rec) => Scope::Key(rec.id.clone()),
                None => {
                    return Err(StoreError::NoSuchKmsKey(format!(
                        "no key {}",
                        truncate(&k, 80)
                    )));
                }
            },
            other => other,
        })
    }
}

fn describe(b: &BindingInfo) -> String {
    let who = b.subject_name.as_deref().unwrap_or(&b.subject);
    match &b.scope {
        Some(s) => format!(
            "{} {who} -> {} ({} {s})",
            b.subject_kind, b.role, b.scope_kind
        ),
        None => format!("{} {who} -> {} (global)", b.subject_kind, b.role),
    }
}
