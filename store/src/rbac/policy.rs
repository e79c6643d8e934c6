//! An immutable snapshot of everything RBAC decides from: roles (built-in and custom), custom
//! groups, bindings, and the configured `admin_peers`. The store swaps in a new snapshot after
//! every change; a request resolves its [`Principal`] from the snapshot current when it arrives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::roles::{BUILTIN_ROLES, RoleDef, Rule, builtin_roles};
use super::{AccessMap, RequestFacts, Scope};
use crate::model::{AdminMatch, BindingRecord, Principal, Subject, UserKind};

pub const EVERYONE: &str = "everyone";
/// User id and name of the anonymous principal (see [`Policy::anonymous`]).
pub const ANONYMOUS_ID: &str = "anonymous";
/// User id and name of the guest principal (see [`Policy::guest`]).
pub const GUEST_ID: &str = "guest";
pub const ALL_ADMIN_USERS: &str = "all_admin_users";
pub const ALL_SERVICE_USERS: &str = "all_service_users";
/// Groups whose membership the server computes; they cannot be created, deleted or edited.
pub const BUILTIN_GROUPS: &[&str] = &[EVERYONE, ALL_ADMIN_USERS, ALL_SERVICE_USERS];

/// Admin panels of the web page: (id, title, admin only).
pub const PANELS: &[(&str, &str, bool)] = &[
    ("s3", "Objects", false),
    ("shares", "Shares", false),
    ("users", "Users", true),
    ("groups", "Groups", true),
    ("bindings", "Role Bindings", true),
    ("storage", "Storage", true),
    ("peers-mgmt", "Peers", true),
];

/// One rule a principal holds, and where it came from.
#[derive(Debug, Clone)]
pub struct Grant {
    pub role: String,
    pub rule: Rule,
    pub scope: Scope,
    pub system_only: bool,
    /// "via group all_admin_users (global)", for decisions and audit lines.
    pub via: String,
}

/// The `admin_peers` entries from config. An entry equal to a user's id matches by id;
/// otherwise an entry equal to the user's current name matches by name.
#[derive(Debug, Clone, Default)]
pub struct AdminPeers(pub Vec<String>);

impl AdminPeers {
    /// Whether `name` is an entry, so that a user holding it as a name is admin.
    pub fn lists(&self, name: &str) -> bool {
        self.0.iter().any(|e| e == name)
    }

    pub fn matches(&self, user_id: &str, name: &str) -> Option<AdminMatch> {
        if self.0.iter().any(|e| e == user_id) {
            Some(AdminMatch::PeerId)
        } else if self.0.iter().any(|e| e == name) {
            Some(AdminMatch::Name)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub roles: BTreeMap<String, RoleDef>,
    /// Custom groups → member user ids.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Stored bindings (the built-in ones come from [`builtin_bindings`]).
    pub bindings: Vec<BindingRecord>,
    pub admin_peers: AdminPeers,
    /// Bucket policies and public access settings (issue 22).
    pub access: Arc<AccessMap>,
    /// Roles with a rate limit of their own (requests per minute, 0 = unlimited).
    pub role_rates: Arc<BTreeMap<String, u32>>,
}

/// Bindings every deployment has: admins hold `admin`, service users hold `system`.
pub fn builtin_bindings() -> Vec<BindingRecord> {
    BUILTIN_BINDINGS.to_vec()
}

/// [`builtin_bindings`], built once: every request's principal is resolved against them.
static BUILTIN_BINDINGS: std::sync::LazyLock<Vec<BindingRecord>> = std::sync::LazyLock::new(|| {
    let b = |group: &str, role: &str| BindingRecord {
        subject: Subject::Group(group.into()),
        role: role.into(),
        scope: Scope::Global,
        created_ms: 0,
    };
    vec![b(ALL_ADMIN_USERS, "admin"), b(ALL_SERVICE_USERS, "system")]
});

impl Policy {
    /// A policy with the built-in roles and the given custom parts.
    pub fn new(
        custom_roles: Vec<RoleDef>,
        groups: BTreeMap<String, BTreeSet<String>>,
        bindings: Vec<BindingRecord>,
        admin_peers: AdminPeers,
    ) -> Policy {
        // A custom role stored under a built-in's name (before the name was reserved) never
        // shadows the built-in.
        let roles = builtin_roles()
            .into_iter()
            .chain(
                custom_roles
                    .into_iter()
                    .filter(|r| !BUILTIN_ROLES.contains(&r.name.as_str())),
            )
            .map(|r| (r.name.clone(), r))
            .collect();
        Policy {
            roles,
            groups,
            bindings,
            admin_peers,
            access: Arc::default(),
            role_rates: Arc::default(),
        }
    }

    /// The same policy with these role rate limits.
    pub fn with_role_rates(mut self, rates: BTreeMap<String, u32>) -> Policy {
        self.role_rates = Arc::new(rates);
        self
    }

    /// The same policy with these bucket access settings.
    pub fn with_access(mut self, access: AccessMap) -> Policy {
        self.access = Arc::new(access);
        self
    }

    /// The principal of an unsigned S3 request: in no group, bound to nothing; only a bucket
    /// policy can allow it anything (decision 0041).
    pub fn anonymous(&self) -> Principal {
        Principal {
            user_id: ANONYMOUS_ID.to_string(),
            name: ANONYMOUS_ID.to_string(),
            admin: None,
            service: false,
            groups: Vec::new(),
            grants: Arc::from(Vec::new()),
            anonymous: true,
            rate_per_minute: None,
            access: self.access.clone(),
            facts: RequestFacts::none(),
        }
    }

    /// The groups a user is in, built-in ones first.
    pub fn groups_of(&self, user_id: &str, admin: bool, kind: UserKind) -> Vec<String> {
        let mut out = vec![EVERYONE.to_string()];
        if admin {
            out.push(ALL_ADMIN_USERS.into());
        }
        if kind == UserKind::Service {
            out.push(ALL_SERVICE_USERS.into());
        }
        out.extend(
            self.groups
                .iter()
                .filter(|(_, m)| m.contains(user_id))
                .map(|(g, _)| g.clone()),
        );
        out
    }

    /// Resolves a user into the principal a request runs as.
    pub fn resolve(&self, user_id: &str, name: &str, kind: UserKind) -> Principal {
        let admin = self.admin_peers.matches(user_id, name);
        self.resolve_as(user_id, name, kind, admin)
    }

    /// The guest principal: a caller nobody vouches for (an NFS client that is not a registered
    /// peer). A member of `everyone` only, whatever the other groups or `admin_peers` say: its
    /// id [`GUEST_ID`] is not a user id (those are 16 hex digits), so no custom group or user
    /// binding can name it, and `admin_peers` is not consulted.
    pub fn guest(&self) -> Principal {
        let mut p = self.resolve_as(GUEST_ID, GUEST_ID, UserKind::Person, None);
        p.groups = vec![EVERYONE.to_string()];
        p
    }

    fn resolve_as(
        &self,
        user_id: &str,
        name: &str,
        kind: UserKind,
        admin: Option<AdminMatch>,
    ) -> Principal {
        let groups = if user_id == GUEST_ID {
            vec![EVERYONE.to_string()]
        } else {
            self.groups_of(user_id, admin.is_some(), kind)
        };
        let mut grants = Vec::new();
        for b in BUILTIN_BINDINGS.iter().chain(&self.bindings) {
            let via = match &b.subject {
                // No binding can name the guest: it is nobody in particular.
                Subject::User(u) if u == user_id && user_id != GUEST_ID => {
                    format!("bound to user {name}")
                }
                Subject::Group(g) if groups.contains(g) => format!("via group {g}"),
                _ => continue,
            };
            let Some(role) = self.roles.get(&b.role) else {
                continue;
            };
            for rule in &role.rules {
                grants.push(Grant {
                    role: role.name.clone(),
                    rule: rule.clone(),
                    scope: b.scope.clone(),
                    system_only: role.system_only,
                    via: format!("{via} ({})", b.scope),
                });
            }
        }
        // The most generous of its roles' own rates (0 = unlimited beats any number).
        let rate_per_minute = grants
            .iter()
            .filter_map(|g| self.role_rates.get(&g.role).copied())
            .reduce(|a, b| if a == 0 || b == 0 { 0 } else { a.max(b) });
        Principal {
            user_id: user_id.to_string(),
            name: name.to_string(),
            admin,
            service: kind == UserKind::Service,
            groups,
            grants: Arc::from(grants),
            anonymous: false,
            rate_per_minute,
            access: self.access.clone(),
            facts: RequestFacts::none(),
        }
    }
}
