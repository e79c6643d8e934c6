//! The admin API's audit findings, each through real HTTP: credentials handed out only to
//! their owner or an admin, bindings and peers that give no more than their maker holds, the
//! built-in roles reserved, scopes, ranges, partial yeses refused, what a route takes checked
//! centrally, unauthenticated joins rate limited, `nosniff` on every answer.

use gatehouse_store::identity::Keypair;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::{Rule, Scope};
use serde_json::{Value, json};

use crate::admin_api::{Api, Reply, admin_addr, anonymous, err};
use crate::common::*;

/// A user with a custom role of `verbs` × `resources` bound globally, as an API caller.
async fn with_role(srv: &TestServer, name: &str, rules: &[(&str, &str)]) -> (Api, String) {
    let admin = srv.admin();
    let u = srv.new_user(name).await;
    let rules = rules
        .iter()
        .map(|(v, r)| Rule::parse(v, r).expect("rule"))
        .collect();
    let role = format!("{name}-role");
    srv.store()
        .create_role(&admin, &role, "", rules)
        .await
        .expect("role");
    srv.store()
        .bind(
            &admin,
            SubjectRef::User(u.user_id.clone()),
            &role,
            Scope::Global,
        )
        .await
        .expect("bind");
    (Api::with(srv, &u.access_key, &u.secret_key), u.user_id)
}

fn openssh(kp: &Keypair) -> String {
    kp.public().to_openssh("k")
}

/// Registering a key that is registered already: its credentials go to an admin only;
/// anyone else with `create` on users gets 409 naming the user, and no secret.
#[tokio::test]
async fn a_registered_key_hands_its_secret_to_an_admin_only() {
    // The bootstrap admin by name (the default lists it by id), and a name kept for a boss.
    let srv = TestServer::start_with(|raw| {
        raw.admin_peers = Some(vec!["admin".into(), "boss".into()]);
    })
    .await;
    let admin = Api::admin(&srv);
    let (mgr, _) = with_role(&srv, "mgr", &[("create,get,list", "users")]).await;

    // The bootstrap admin's own key, as GET /api/users lists it to anyone who may read users.
    let (st, users) = mgr.call("GET", "/api/users", None).await;
    assert_eq!(st, 200, "{users}");
    let admin_key = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["name"] == "admin")
        .expect("admin listed")["public_key"]
        .clone();
    let r = mgr
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": admin_key, "name": "mine-now" })),
        )
        .await;
    let why = err(&r, 409, "store.conflict");
    assert!(why.contains("admin"), "names the user: {why}");
    assert!(r.1.get("secret_key").is_none(), "{r:?}");

    // A new key is registered as before; an admin still gets an existing key's credentials.
    let kp = Keypair::generate().expect("keygen");
    let body = json!({ "public_key": openssh(&kp), "name": "alice" });
    let (st, created) = mgr.call("POST", "/api/users", Some(body.clone())).await;
    assert_eq!(st, 201, "{created}");
    err(
        &mgr.call("POST", "/api/users", Some(body.clone())).await,
        409,
        "store.conflict",
    );
    let (st, again) = admin.call("POST", "/api/users", Some(body)).await;
    assert_eq!((st, &again["created"]), (200, &json!(false)), "{again}");
    assert_eq!(again["secret_key"], created["secret_key"]);

    // A name admin_peers lists makes its holder admin: not one a non-admin can hand out.
    let kp = Keypair::generate().expect("keygen");
    let r = mgr
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": openssh(&kp), "name": "boss" })),
        )
        .await;
    err(&r, 403, "rbac.denied");
    srv.stop().await;
}

/// Rotation is one's own or an admin's: `put` on users is not enough, a refusal does not tell
/// whether the user exists, and a service user's new secret goes to an admin only.
#[tokio::test]
async fn rotation_is_ones_own_or_an_admins() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    let (mgr, _) = with_role(&srv, "mgr", &[("*", "users")]).await;
    let alice = srv.new_user("alice").await;
    let alice_api = Api::with(&srv, &alice.access_key, &alice.secret_key);

    let why = err(
        &mgr.call("POST", "/api/users/alice/rotate", None).await,
        403,
        "rbac.denied",
    );
    assert!(why.contains("its own"), "{why}");
    let (st, _) = alice_api.call("GET", "/api/me", None).await;
    assert_eq!(st, 200, "alice's credentials still work");
    // The same answer for a name nobody has.
    err(
        &mgr.call("POST", "/api/users/nobody/rotate", None).await,
        403,
        "rbac.denied",
    );
    err(
        &admin.call("POST", "/api/users/nobody/rotate", None).await,
        404,
        "identity.no_such_user",
    );

    // One's own, by name or by id.
    let (st, mine) = alice_api
        .call("POST", "/api/users/alice/rotate", None)
        .await;
    assert_eq!(st, 200, "{mine}");
    let alice_api = Api::with(
        &srv,
        mine["access_key"].as_str().expect("ak"),
        mine["secret_key"].as_str().expect("sk"),
    );
    let path = format!("/api/users/{}/rotate", alice.user_id);
    assert_eq!(alice_api.call("POST", &path, None).await.0, 200);

    // A service user is the server's: rotated by an admin only, even by itself.
    let svc = srv
        .store()
        .ensure_service_user("probe")
        .await
        .expect("service user");
    let svc_api = Api::with(&srv, &svc.access_key, &svc.secret_key);
    let path = format!("/api/users/{}/rotate", svc.user_id);
    let r = svc_api.call("POST", &path, None).await;
    let why = err(&r, 403, "rbac.denied");
    assert!(why.contains("service"), "{why}");
    assert!(r.1.get("secret_key").is_none());
    let (st, r) = admin.call("POST", &path, None).await;
    assert_eq!(st, 200, "{r}");
    srv.stop().await;
}

/// An NFS peer acts as its user: only an admin may map an address to an admin (by
/// `admin_peers` or by a binding as broad) or to a service user.
#[tokio::test]
async fn peers_of_admins_and_service_users_are_an_admins_to_map() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    let (mgr, _) = with_role(&srv, "mgr", &[("create,delete,get,list", "users")]).await;
    srv.new_user("alice").await;
    let bound = srv.new_user("bound-admin").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(bound.user_id.clone()),
            "admin",
            Scope::Global,
        )
        .await
        .expect("bind");
    let svc = srv.store().ensure_service_user("probe").await.expect("svc");
    let peer = |user: &str| json!({ "address": "10.9.8.7", "user": user });
    for who in ["admin", "bound-admin", svc.name.as_str()] {
        let why = err(
            &mgr.call("POST", "/api/peers", Some(peer(who))).await,
            403,
            "rbac.denied",
        );
        assert!(why.contains("only an admin"), "{who}: {why}");
    }
    let (st, r) = mgr.call("POST", "/api/peers", Some(peer("alice"))).await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = admin
        .call("POST", "/api/peers", Some(peer(&svc.name)))
        .await;
    assert_eq!(st, 201, "{r}");
    srv.stop().await;
}

/// Kubernetes' escalation check: `create` on bindings hands on what the caller holds, at
/// most where it holds it; joining a group is getting its bindings, so the same holds there.
#[tokio::test]
async fn a_binding_gives_no_more_than_its_maker_holds() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    let (mgr, mgr_id) = with_role(
        &srv,
        "mgr",
        &[("create,delete,list", "bindings"), ("put", "groups")],
    )
    .await;
    srv.new_user("alice").await;
    let (st, _) = admin
        .call("POST", "/api/buckets", Some(json!({ "name": "team" })))
        .await;
    assert_eq!(st, 201);
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(mgr_id.clone()),
            "bucket-admin",
            Scope::Bucket("team".into()),
        )
        .await
        .expect("bind");

    let bind = |user: &str, role: &str, bucket: Option<&str>| {
        let mut b = json!({ "user": user, "role": role });
        if let Some(x) = bucket {
            b["bucket"] = json!(x);
        }
        b
    };
    for (user, role) in [
        ("mgr", "admin"),
        ("alice", "admin"),
        ("alice", "key-admin"),
        ("alice", "bucket-read"),
    ] {
        let r = mgr
            .call("POST", "/api/bindings", Some(bind(user, role, None)))
            .await;
        let why = err(&r, 403, "rbac.denied");
        assert!(why.contains("does not hold"), "{user} {role}: {why}");
    }
    // What it holds, where it holds it.
    let r = mgr
        .call(
            "POST",
            "/api/bindings",
            Some(bind("alice", "bucket-read", Some("team"))),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let (st, list) = admin.call("GET", "/api/bindings?user=alice", None).await;
    assert_eq!(st, 200);
    assert!(
        !list
            .as_array()
            .expect("list")
            .iter()
            .any(|b| b["role"] == "admin"),
        "{list}"
    );

    // A group bound to admin is not a way around it.
    let (st, _) = admin
        .call("POST", "/api/groups", Some(json!({ "name": "ops" })))
        .await;
    assert_eq!(st, 201);
    let r = admin
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "group": "ops", "role": "admin" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    err(
        &mgr.call("PUT", "/api/groups/ops/members/mgr", None).await,
        403,
        "rbac.denied",
    );
    let (st, _) = admin
        .call("PUT", "/api/groups/ops/members/alice", None)
        .await;
    assert_eq!(st, 200);
    srv.stop().await;
}

/// `replication-operator` is built in: a custom role cannot take its name (nor shadow it).
#[tokio::test]
async fn builtin_roles_cannot_be_redefined_replication_operator_included() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    for name in ["admin", "replication-operator"] {
        let r = admin
            .call(
                "POST",
                "/api/roles",
                Some(json!({ "name": name, "verbs": "*", "resources": "*" })),
            )
            .await;
        let why = err(&r, 409, "store.conflict");
        assert!(why.contains("built-in"), "{why}");
    }
    let (_, roles) = admin.call("GET", "/api/roles", None).await;
    let op = roles
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == "replication-operator")
        .expect("listed")
        .clone();
    assert_eq!(op["builtin"], true);
    assert_eq!(op["rules"], json!(["get,put:replication"]));
    srv.stop().await;
}

/// An empty scope is a blank field, not "global": 400 on bind and on unbind.
#[tokio::test]
async fn an_empty_scope_is_refused_not_taken_as_global() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    srv.new_user("alice").await;
    for field in ["bucket", "panel", "key"] {
        let mut body = json!({ "user": "alice", "role": "bucket-read" });
        body[field] = json!("");
        let why = err(
            &admin.call("POST", "/api/bindings", Some(body)).await,
            400,
            "api.invalid_request",
        );
        assert!(why.contains(field), "{why}");
        let q = format!("/api/bindings?user=alice&role=bucket-read&{field}=");
        err(
            &admin.call("DELETE", &q, None).await,
            400,
            "api.invalid_request",
        );
    }
    let (_, list) = admin.call("GET", "/api/bindings?user=alice", None).await;
    assert!(
        !list
            .as_array()
            .expect("list")
            .iter()
            .any(|b| b["role"] == "bucket-read"),
        "no global binding was made: {list}"
    );
    srv.stop().await;
}

/// `Range: bytes=5-<u64::MAX>` reads to the end, as S3 answers it (it used to overflow).
#[tokio::test]
async fn a_range_ending_at_u64_max_reads_to_the_end() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    assert_eq!(
        admin
            .call("POST", "/api/buckets", Some(json!({ "name": "ranges" })))
            .await
            .0,
        201
    );
    let data = bytes(100, 3);
    assert_eq!(
        admin
            .basic("PUT", "/api/buckets/ranges/objects/k", data.clone())
            .await
            .0,
        200
    );
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret));
    for end in [
        "18446744073709551615",
        "18446744073709551614",
        "999999999999999999999",
    ] {
        let resp = reqwest::Client::new()
            .get(format!(
                "http://{}/api/buckets/ranges/objects/k",
                admin_addr(&srv)
            ))
            .header("authorization", format!("Basic {basic}"))
            .header("range", format!("bytes=5-{end}"))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), 206, "{end}");
        assert_eq!(resp.headers()["content-range"], "bytes 5-99/100");
        assert_eq!(resp.bytes().await.expect("body").as_ref(), &data[5..]);
    }
    srv.stop().await;
}

/// Requests that would have been partly honoured are refused whole (400), before anything
/// changes: encryption without its algorithm or with a key it ignores, arrays for objects,
/// descriptions that would be cut, bodies where none is taken, query parameters no route
/// reads.
#[tokio::test]
async fn partial_yeses_are_refused() {
    let srv = TestServer::start().await;
    let admin = Api::admin(&srv);
    let call = async |m: &str, p: &str, b: Option<Value>| admin.call(m, p, b).await;
    assert_eq!(
        call("POST", "/api/buckets", Some(json!({ "name": "enc" })))
            .await
            .0,
        201
    );
    let enc = "/api/buckets/enc/encryption";
    let (st, b) = call("PUT", enc, Some(json!({ "algorithm": "AES256" }))).await;
    assert_eq!((st, &b["encryption"]), (200, &json!("AES256")));
    for body in [
        json!({ "key": "alias/x" }),
        json!({}),
        json!({ "algorithm": "AES256", "key": "alias/x" }),
        json!({ "algorithm": null, "key": "alias/x" }),
    ] {
        err(
            &call("PUT", enc, Some(body.clone())).await,
            400,
            "api.invalid_request",
        );
    }
    let (_, b) = call("GET", "/api/buckets/enc", None).await;
    assert_eq!(b["encryption"], "AES256", "the default is still there");
    let (st, b) = call("PUT", enc, Some(json!({ "algorithm": null, "key": null }))).await;
    assert_eq!(
        (st, &b["encryption"]),
        (200, &Value::Null),
        "null removes it"
    );

    // Arrays do not fill structs by position.
    let (st, key) = call("POST", "/api/kms/keys", None).await;
    assert_eq!(st, 201, "an empty body is the defaults: {key}");
    let id = key["id"].as_str().expect("id").to_string();
    err(
        &call("POST", "/api/kms/keys", Some(json!(["alias/a", "d"]))).await,
        400,
        "api.invalid_json",
    );
    let path = format!("/api/kms/keys/{id}/schedule-deletion");
    err(
        &call("POST", &path, Some(json!([7]))).await,
        400,
        "api.invalid_json",
    );
    assert_eq!(
        call("POST", "/api/shares", Some(json!({ "name": "docs" })))
            .await
            .0,
        201
    );
    let ret = "/api/shares/docs/snapshot-retention";
    err(
        &call("PUT", ret, Some(json!([5]))).await,
        400,
        "api.invalid_json",
    );
    err(
        &call("POST", "/api/shares/docs/snapshots", Some(json!(["s1"]))).await,
        400,
        "api.invalid_json",
    );

    // Descriptions are kept whole or refused.
    let long = "d".repeat(257);
    let r = call(
        "POST",
        "/api/groups",
        Some(json!({ "name": "g", "description": long })),
    )
    .await;
    assert!(err(&r, 400, "store.invalid_argument").contains("256"));
    let r = call(
        "POST",
        "/api/roles",
        Some(json!({ "name": "r", "description": long, "verbs": "get", "resources": "buckets" })),
    )
    .await;
    assert!(err(&r, 400, "store.invalid_argument").contains("256"));
    let (_, groups) = call("GET", "/api/groups", None).await;
    assert!(!groups.to_string().contains("\"g\""), "{groups}");
    let ok = "é".repeat(128);
    let (st, g) = call(
        "POST",
        "/api/groups",
        Some(json!({ "name": "g2", "description": ok })),
    )
    .await;
    assert_eq!((st, &g["description"]), (201, &json!(ok)), "256 bytes fit");

    // A body where a route takes none.
    srv.new_user("alice").await;
    for (m, p) in [
        ("POST", "/api/users/alice/rotate".to_string()),
        ("POST", "/api/gc".into()),
        ("POST", "/api/fsck".into()),
        ("POST", format!("/api/kms/keys/{id}/rotate")),
        ("POST", format!("/api/kms/keys/{id}/cancel-deletion")),
        ("POST", "/api/shares/docs/restore".into()),
        ("PUT", "/api/groups/g2/members/alice".into()),
        ("DELETE", "/api/users/alice".into()),
    ] {
        err(
            &call(m, &p, Some(json!({}))).await,
            400,
            "api.unexpected_body",
        );
    }
    let (st, _) = call("GET", "/api/users/alice", None).await;
    assert_eq!(st, 200, "nothing was removed");

    // Query parameters a route does not read.
    assert_eq!(
        admin
            .basic("PUT", "/api/buckets/enc/objects/k", b"x".to_vec())
            .await
            .0,
        200
    );
    for p in [
        "/api/buckets/enc/metadata/k?version_id=null",
        "/api/users?name=alice",
        "/api/buckets/enc?x=1",
        "/api/gc?dry_run=true",
    ] {
        let m = if p.starts_with("/api/gc") {
            "POST"
        } else {
            "GET"
        };
        let why = err(&call(m, p, None).await, 400, "api.invalid_request");
        assert!(why.contains("unknown query parameter"), "{p}: {why}");
    }
    let (st, _) = call("GET", "/api/buckets/enc/versions?key=k", None).await;
    assert_eq!(st, 200, "a declared one still works");
    srv.stop().await;
}

/// The unauthenticated join endpoints count against the caller's address, as unsigned S3
/// requests do.
#[tokio::test]
async fn join_requests_are_rate_limited_per_address() {
    let srv = TestServer::start_with(|raw| {
        raw.enrolment_token = Some("enrol-me-please-0123456789".into());
        raw.rate_limits.anonymous_per_minute = Some(60);
        raw.rate_limits.anonymous_burst = Some(3);
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(anonymous(&srv, "POST", "/api/join/nonce", None).await.0);
    }
    assert_eq!(&answers[..3], &[200, 200, 200], "{answers:?}");
    assert!(answers.contains(&429), "{answers:?}");
    let body = json!({
        "public_key": "x", "name": "x", "nonce": "x", "signature": "x", "token": "x",
    });
    let r: Reply = anonymous(&srv, "POST", "/api/join", Some(body)).await;
    err(&r, 429, "api.rate_limited");
    // Signed requests are counted per principal, not held up by the address.
    let (st, _) = Api::admin(&srv).call("GET", "/api/me", None).await;
    assert_eq!(st, 200);
    srv.stop().await;
}

/// Every answer of the admin listener says `X-Content-Type-Options: nosniff`: JSON, errors,
/// objects, metrics, the page.
#[tokio::test]
async fn every_answer_says_nosniff() {
    let srv = TestServer::start().await;
    let base = format!("http://{}", admin_addr(&srv));
    let http = reqwest::Client::new();
    for (path, status) in [
        ("/api/health", 200),
        ("/api/info", 200),
        ("/api/me", 401),
        ("/api/no-such-route", 404),
        ("/metrics", 200),
        ("/", 200),
        ("/assets/app.js", 200),
    ] {
        let resp = http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(resp.status(), status, "{path}");
        assert_eq!(
            resp.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
    }
    srv.stop().await;
}
