//! Pure decisions over hand-built policies (the S3-level matrix lives in tests/it).

use std::collections::{BTreeMap, BTreeSet};

use super::policy::AdminPeers;
use super::*;
use crate::model::{BindingRecord, Subject, UserKind};

const ALICE: &str = "a1a1a1a1a1a1a1a1";
const BOB: &str = "b0b0b0b0b0b0b0b0";

fn bind(subject: Subject, role: &str, scope: Scope) -> BindingRecord {
    BindingRecord {
        subject,
        role: role.into(),
        scope,
        created_ms: 0,
    }
}

fn policy(bindings: Vec<BindingRecord>, groups: &[(&str, &[&str])], peers: &[&str]) -> Policy {
    let groups: BTreeMap<String, BTreeSet<String>> = groups
        .iter()
        .map(|(g, m)| (g.to_string(), m.iter().map(|s| s.to_string()).collect()))
        .collect();
    Policy::new(
        vec![],
        groups,
        bindings,
        AdminPeers(peers.iter().map(|s| s.to_string()).collect()),
    )
}

#[test]
fn deny_by_default_names_what_is_missing() {
    let p = policy(vec![], &[], &[]).resolve(ALICE, "alice", UserKind::Person);
    let d = authorize(&p, Verb::Put, Resource::Objects("b1"));
    assert!(!d.allowed);
    assert!(
        d.reason.contains("put on objects in bucket b1"),
        "{}",
        d.reason
    );
    assert!(
        d.reason.contains("alice") && d.reason.contains(ALICE),
        "{}",
        d.reason
    );
}

#[test]
fn admin_by_id_and_by_name() {
    let pol = policy(vec![], &[], &[ALICE, "bob"]);
    let a = pol.resolve(ALICE, "alice", UserKind::Person);
    assert_eq!(a.admin, Some(crate::model::AdminMatch::PeerId));
    let b = pol.resolve(BOB, "bob", UserKind::Person);
    assert_eq!(b.admin, Some(crate::model::AdminMatch::Name));
    assert!(authorize(&b, Verb::Delete, Resource::Users).allowed);
    let renamed = pol.resolve(BOB, "robert", UserKind::Person);
    assert_eq!(renamed.admin, None);
}

#[test]
fn bucket_scope_and_roles() {
    let pol = policy(
        vec![bind(
            Subject::User(ALICE.into()),
            "bucket-read",
            Scope::Bucket("a".into()),
        )],
        &[],
        &[],
    );
    let p = pol.resolve(ALICE, "alice", UserKind::Person);
    assert!(authorize(&p, Verb::Get, Resource::Objects("a")).allowed);
    assert!(authorize(&p, Verb::List, Resource::Buckets(Some("a"))).allowed);
    assert!(!authorize(&p, Verb::Put, Resource::Objects("a")).allowed);
    assert!(!authorize(&p, Verb::Get, Resource::Objects("b")).allowed);
    assert!(!authorize(&p, Verb::Create, Resource::Buckets(Some("c"))).allowed);
}

#[test]
fn groups_apply_to_members_only() {
    let pol = policy(
        vec![bind(
            Subject::Group("ops".into()),
            "bucket-write",
            Scope::Global,
        )],
        &[("ops", &[ALICE])],
        &[],
    );
    let a = pol.resolve(ALICE, "alice", UserKind::Person);
    let b = pol.resolve(BOB, "bob", UserKind::Person);
    assert!(authorize(&a, Verb::Put, Resource::Objects("x")).allowed);
    assert!(!authorize(&b, Verb::Put, Resource::Objects("x")).allowed);
    assert!(a.groups.contains(&"ops".to_string()));
}

#[test]
fn system_bucket_only_for_system_role() {
    let pol = policy(vec![], &[], &[ALICE]);
    let admin = pol.resolve(ALICE, "alice", UserKind::Person);
    let svc = pol.resolve(BOB, "svc:gatehouse", UserKind::Service);
    let sys = crate::naming::SYSTEM_BUCKET;
    assert!(!authorize(&admin, Verb::Put, Resource::Objects(sys)).allowed);
    assert!(authorize(&svc, Verb::Put, Resource::Objects(sys)).allowed);
    assert!(!authorize(&svc, Verb::Put, Resource::Objects("other")).allowed);
    assert!(!authorize(&svc, Verb::List, Resource::Users).allowed);
    assert!(authorize(&admin, Verb::Put, Resource::Objects("other")).allowed);
}

#[test]
fn panel_scope() {
    let pol = policy(
        vec![bind(
            Subject::User(ALICE.into()),
            "panel-viewer",
            Scope::Panel("groups".into()),
        )],
        &[],
        &[],
    );
    let p = pol.resolve(ALICE, "alice", UserKind::Person);
    assert!(authorize(&p, Verb::Get, Resource::Panels(Some("groups"))).allowed);
    assert!(!authorize(&p, Verb::Get, Resource::Panels(Some("users"))).allowed);
    assert!(!authorize(&p, Verb::List, Resource::Groups).allowed);
}

#[test]
fn rule_parsing() {
    assert!(Rule::parse("get,list", "buckets,objects").is_ok());
    assert!(Rule::parse("*", "*").is_ok());
    assert!(Rule::parse("fly", "buckets").is_err());
    assert!(Rule::parse("get", "planets").is_err());
    assert!(Rule::parse("", "buckets").is_err());
}

#[test]
fn guest_is_everyone_only_whatever_names_and_groups_say() {
    use crate::rbac::policy::{EVERYONE, GUEST_ID};
    let pol = policy(
        vec![
            bind(
                Subject::Group(EVERYONE.into()),
                "bucket-read",
                Scope::Bucket("fs+pub".into()),
            ),
            bind(Subject::Group("ops".into()), "admin", Scope::Global),
            bind(Subject::User(GUEST_ID.into()), "admin", Scope::Global),
        ],
        &[("ops", &[GUEST_ID])],
        // Even an admin_peers entry naming "guest" does not make the guest an admin.
        &[GUEST_ID],
    );
    let g = pol.guest();
    assert_eq!(g.groups, vec![EVERYONE.to_string()]);
    assert!(g.admin.is_none());
    assert!(authorize(&g, Verb::Get, Resource::Objects("fs+pub")).allowed);
    assert!(!authorize(&g, Verb::Put, Resource::Objects("fs+pub")).allowed);
    assert!(!authorize(&g, Verb::Get, Resource::Objects("other")).allowed);
}

#[test]
fn every_builtin_role_is_reserved_and_never_shadowed() {
    let defined: BTreeSet<String> = roles::builtin_roles().into_iter().map(|r| r.name).collect();
    let reserved: BTreeSet<String> = BUILTIN_ROLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        defined, reserved,
        "BUILTIN_ROLES lists exactly the built-in roles"
    );
    // A custom role stored under a built-in's name (before it was reserved) is ignored.
    let shadow = roles::RoleDef {
        name: "replication-operator".into(),
        description: String::new(),
        rules: vec![Rule::parse("*", "*").expect("rule")],
        builtin: false,
        system_only: false,
    };
    let pol = Policy::new(
        vec![shadow],
        BTreeMap::new(),
        vec![bind(
            Subject::User(ALICE.into()),
            "replication-operator",
            Scope::Global,
        )],
        AdminPeers::default(),
    );
    assert!(pol.roles["replication-operator"].builtin);
    let p = pol.resolve(ALICE, "alice", UserKind::Person);
    assert!(authorize(&p, Verb::Get, Resource::Replication(Some("b"))).allowed);
    assert!(!authorize(&p, Verb::Delete, Resource::Users).allowed);
}

#[test]
fn a_binding_gives_no_more_than_its_maker_holds() {
    let custom = |name: &str, verbs: &str, resources: &str| roles::RoleDef {
        name: name.into(),
        description: String::new(),
        rules: vec![Rule::parse(verbs, resources).expect("rule")],
        builtin: false,
        system_only: false,
    };
    let binder = custom("binder", "create,delete", "bindings");
    let everything = custom("everything", "*", "*");
    let pol = Policy::new(
        vec![binder, everything],
        BTreeMap::new(),
        vec![
            bind(Subject::User(ALICE.into()), "binder", Scope::Global),
            bind(
                Subject::User(ALICE.into()),
                "bucket-admin",
                Scope::Bucket("b1".into()),
            ),
            bind(Subject::User(BOB.into()), "everything", Scope::Global),
        ],
        AdminPeers(vec!["carol".into()]),
    );
    let role = |n: &str| pol.roles[n].clone();
    let alice = pol.resolve(ALICE, "alice", UserKind::Person);
    assert!(!holds_everything(&alice));
    for r in ["admin", "everything", "key-admin", "system"] {
        let d = may_grant(&alice, &role(r), &Scope::Global);
        assert!(!d.allowed, "{r}: {}", d.reason);
    }
    let d = may_grant(&alice, &role("admin"), &Scope::Global);
    assert!(d.reason.contains("does not hold"), "{}", d.reason);
    // What it holds, it may hand on: at its own scope, not wider or elsewhere.
    let b1 = Scope::Bucket("b1".into());
    assert!(may_grant(&alice, &role("bucket-read"), &b1).allowed);
    assert!(may_grant(&alice, &role("bucket-admin"), &b1).allowed);
    assert!(may_grant(&alice, &role("binder"), &Scope::Global).allowed);
    assert!(!may_grant(&alice, &role("bucket-read"), &Scope::Global).allowed);
    assert!(!may_grant(&alice, &role("bucket-read"), &Scope::Bucket("b2".into())).allowed);
    // Admins, by admin_peers or by a role as broad as admin, may bind anything.
    let bob = pol.resolve(BOB, "bob", UserKind::Person);
    let carol = pol.resolve("c0c0c0c0c0c0c0c0", "carol", UserKind::Person);
    for p in [&bob, &carol] {
        assert!(holds_everything(p));
        assert!(may_grant(p, &role("admin"), &Scope::Global).allowed);
        assert!(may_grant(p, &role("system"), &Scope::Global).allowed);
    }
}
