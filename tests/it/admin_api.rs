//! The admin API over real HTTP (SigV4-signed, Basic and Bearer requests with reqwest), and the
//! `gatehouse` CLI as the real binary against the same in-process server.

use std::path::Path;
use std::process::Output;
use std::time::SystemTime;

use gatehouse_s3::auth::{SigningParams, sign_request_v4};
use gatehouse_store::identity::{Keypair, join_message};
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::*;

const TOKEN: &str = "enrol-me-please-0123456789";

/// A caller of the admin API with one set of credentials.
pub(crate) struct Api {
    addr: std::net::SocketAddr,
    pub(crate) access: String,
    pub(crate) secret: String,
}

/// Status and parsed JSON body (`Null` when empty).
pub(crate) type Reply = (u16, Value);

impl Api {
    pub(crate) fn admin(srv: &TestServer) -> Api {
        Api::with(srv, &srv.access, &srv.secret)
    }

    pub(crate) fn with(srv: &TestServer, access: &str, secret: &str) -> Api {
        Api {
            addr: admin_addr(srv),
            access: access.into(),
            secret: secret.into(),
        }
    }

    /// A SigV4-signed request (payload hash = SHA-256 of the body).
    pub(crate) async fn call(&self, method: &str, path_query: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, path_query, bytes.clone(), &bytes).await
    }

    /// Signs `signed_body`'s hash but sends `body` (equal unless a test tampers).
    pub(crate) async fn raw(
        &self,
        method: &str,
        path_query: &str,
        body: Vec<u8>,
        signed_body: &[u8],
    ) -> Reply {
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_query, None),
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("host", self.addr.to_string().parse().expect("host"));
        let hash = hex::encode(sha2::Sha256::digest(signed_body));
        sign_request_v4(
            method,
            path,
            query,
            &mut headers,
            &hash,
            &SigningParams {
                access_key: &self.access,
                secret_key: &self.secret,
                region: "us-east-1",
                time: SystemTime::now(),
            },
        )
        .expect("sign");
        let mut req = reqwest::Client::new().request(
            method.parse().expect("method"),
            format!("http://{}{path_query}", self.addr),
        );
        for (k, v) in headers.iter() {
            req = req.header(k.as_str(), v.as_bytes());
        }
        if let Some(t) = body_type(path, &body) {
            req = req.header("content-type", t);
        }
        reply(req.body(body).send().await.expect("send")).await
    }

    /// `Authorization: Basic base64(access:secret)`, unsigned body.
    pub(crate) async fn basic(&self, method: &str, path: &str, body: Vec<u8>) -> Reply {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.access, self.secret));
        let mut req = reqwest::Client::new()
            .request(
                method.parse().expect("method"),
                format!("http://{}{path}", self.addr),
            )
            .header("authorization", format!("Basic {token}"));
        if let Some(t) = body_type(path, &body) {
            req = req.header("content-type", t);
        }
        reply(req.body(body).send().await.expect("send")).await
    }
}

/// The type a client of this API sends a body as: an object's bytes as they are, anything
/// else as JSON (the API refuses a JSON body that does not say so).
fn body_type(path: &str, body: &[u8]) -> Option<&'static str> {
    (!body.is_empty() && !path.contains("/objects/")).then_some("application/json")
}

/// No credentials at all.
pub(crate) async fn anonymous(
    srv: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = reqwest::Client::new().request(
        method.parse().expect("method"),
        format!("http://{}{path}", admin_addr(srv)),
    );
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    reply(req.send().await.expect("send")).await
}

pub(crate) async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, v)
}

/// The server's `GET /metrics` text.
pub(crate) async fn metrics_text(srv: &TestServer) -> String {
    reqwest::get(format!("http://{}/metrics", admin_addr(srv)))
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("/metrics text")
}

pub(crate) fn admin_addr(srv: &TestServer) -> std::net::SocketAddr {
    srv.running
        .as_ref()
        .expect("running")
        .admin_addr
        .expect("admin listener on")
}

fn admin_user_id(srv: &TestServer) -> String {
    srv.running.as_ref().expect("running").admin_user_id.clone()
}

/// Asserts an error reply: status and stable code; returns the message.
pub(crate) fn err(r: &Reply, status: u16, code: &str) -> String {
    assert_eq!(r.0, status, "{r:?}");
    assert_eq!(r.1["error"], code, "{r:?}");
    r.1["message"].as_str().expect("message").to_string()
}

fn openssh(kp: &Keypair, comment: &str) -> String {
    kp.public().to_openssh(comment)
}

#[tokio::test]
async fn me_for_admin_and_for_a_plain_user() {
    let srv = TestServer::start().await;
    let (st, me) = Api::admin(&srv).call("GET", "/api/me", None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["user_id"], admin_user_id(&srv));
    assert_eq!(me["name"], "admin");
    assert_eq!(me["admin"], true);
    assert_eq!(me["admin_match"], "peer-id");
    assert_eq!(me["access_key"], srv.access.as_str());
    assert_eq!(me["groups"], json!(["everyone", "all_admin_users"]));
    let allowed = |me: &Value, id: &str| {
        me["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .any(|p| p["id"] == id && p["allowed"] == true)
    };
    assert!(allowed(&me, "users"));

    let bob = srv.new_user("bob").await;
    let (st, me) = Api::with(&srv, &bob.access_key, &bob.secret_key)
        .call("GET", "/api/me", None)
        .await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["user_id"], bob.user_id.as_str());
    assert_eq!(me["admin"], false);
    assert_eq!(me["admin_match"], Value::Null);
    assert_eq!(me["groups"], json!(["everyone"]));
    assert!(allowed(&me, "s3"), "public panels are open");
    assert!(!allowed(&me, "users"), "admin panels are not");
    srv.stop().await;
}

#[tokio::test]
async fn register_returns_credentials_same_key_same_user_and_names_get_suffixes() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let kp = Keypair::generate().expect("keygen");
    let (st, r) = api
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": openssh(&kp, "laptop"), "name": "alice" })),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    let mut keys: Vec<&str> = r
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["access_key", "created", "name", "secret_key", "user_id"]
    );
    assert_eq!(r["user_id"], kp.public().user_id());
    assert_eq!(r["name"], "alice");
    assert_eq!(r["created"], true);
    assert_eq!(r["access_key"].as_str().expect("ak").len(), 20);
    assert_eq!(r["secret_key"].as_str().expect("sk").len(), 40);

    // The same key again, under another name: the same user, unchanged, with its credentials.
    let (st, again) = api
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": hex::encode(kp.public().as_bytes()), "name": "other" })),
        )
        .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["user_id"], r["user_id"]);
    assert_eq!(again["name"], "alice");
    assert_eq!(again["created"], false);
    assert_eq!(again["access_key"], r["access_key"]);

    // Another key asking for a taken name gets the first free suffix.
    let kp2 = Keypair::generate().expect("keygen");
    let (st, second) = api
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": openssh(&kp2, "x"), "name": "alice" })),
        )
        .await;
    assert_eq!(st, 201, "{second}");
    assert_eq!(second["name"], "alice-2");

    // The credentials work on S3, and the user shows up by name and by id.
    let s3 = client_with(
        srv.addr,
        r["access_key"].as_str().expect("ak"),
        r["secret_key"].as_str().expect("sk"),
    );
    s3.list_buckets()
        .send()
        .await
        .expect("S3 accepts the new credentials");
    let (st, shown) = api.call("GET", "/api/users/alice-2", None).await;
    assert_eq!((st, &shown["user_id"]), (200, &second["user_id"]));
    let (st, list) = api.call("GET", "/api/users", None).await;
    assert_eq!(st, 200);
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .any(|u| u["name"] == "alice")
    );

    // A bad key is the caller's mistake.
    let (st, bad) = api
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": "ssh-rsa AAAA", "name": "x" })),
        )
        .await;
    assert_eq!(st, 400, "{bad}");

    // Rotation: new credentials, the old ones stop working at once.
    let (st, rot) = api.call("POST", "/api/users/alice/rotate", None).await;
    assert_eq!(st, 200, "{rot}");
    assert_ne!(rot["access_key"], r["access_key"]);
    let (st, _) = Api::with(
        &srv,
        r["access_key"].as_str().expect("ak"),
        r["secret_key"].as_str().expect("sk"),
    )
    .call("GET", "/api/me", None)
    .await;
    assert_eq!(st, 401, "the rotated-away key is unknown");

    let (st, _) = api.call("DELETE", "/api/users/alice", None).await;
    assert_eq!(st, 204);
    err(
        &api.call("GET", "/api/users/alice", None).await,
        404,
        "identity.no_such_user",
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_plain_user_is_refused_with_the_reason() {
    let srv = TestServer::start().await;
    let bob = srv.new_user("bob").await;
    let api = Api::with(&srv, &bob.access_key, &bob.secret_key);
    let kp = Keypair::generate().expect("keygen");
    let r = api
        .call(
            "POST",
            "/api/users",
            Some(json!({ "public_key": openssh(&kp, "k"), "name": "mallory" })),
        )
        .await;
    let why = err(&r, 403, "rbac.denied");
    assert!(
        why.contains("create") && why.contains("users") && why.contains("bob"),
        "{why}"
    );

    let r = api
        .call(
            "POST",
            "/api/roles",
            Some(json!({ "name": "mine", "verbs": "*", "resources": "*" })),
        )
        .await;
    let why = err(&r, 403, "rbac.denied");
    assert!(why.contains("roles") && why.contains(&bob.user_id), "{why}");
    err(
        &api.call("GET", "/api/users", None).await,
        403,
        "rbac.denied",
    );
    // Yourself you may always see and rotate.
    let (st, _) = api
        .call("GET", &format!("/api/users/{}", bob.user_id), None)
        .await;
    assert_eq!(st, 200);
    srv.stop().await;
}

#[tokio::test]
async fn roles_create_list_delete_builtins_protected_and_in_use_refused() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let bob = srv.new_user("bob").await;
    let (st, role) = api
        .call(
            "POST",
            "/api/roles",
            Some(json!({
                "name": "readers", "description": "read everything",
                "verbs": "get,list", "resources": "buckets,objects",
            })),
        )
        .await;
    assert_eq!(st, 201, "{role}");
    assert_eq!(role["rules"], json!(["get,list:buckets,objects"]));
    assert_eq!(role["builtin"], false);
    let (st, multi) = api
        .call(
            "POST",
            "/api/roles",
            Some(json!({ "name": "two-rules", "rules": [
                { "verbs": "get", "resources": "buckets" },
                { "verbs": "put", "resources": "objects" },
            ]})),
        )
        .await;
    assert_eq!(st, 201, "{multi}");
    assert_eq!(multi["rules"], json!(["get:buckets", "put:objects"]));

    let (st, roles) = api.call("GET", "/api/roles", None).await;
    assert_eq!(st, 200);
    let names: Vec<&str> = roles
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for n in [
        "admin",
        "bucket-read",
        "panel-viewer",
        "readers",
        "two-rules",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }

    let body = |name: &str| Some(json!({ "name": name, "verbs": "get", "resources": "buckets" }));
    err(
        &api.call("POST", "/api/roles", body("admin")).await,
        409,
        "store.conflict",
    );
    err(
        &api.call("POST", "/api/roles", body("readers")).await,
        409,
        "store.conflict",
    );
    let bad_verb = Some(json!({ "name": "x", "verbs": "fly", "resources": "buckets" }));
    err(
        &api.call("POST", "/api/roles", bad_verb).await,
        400,
        "store.invalid_argument",
    );
    let both = Some(json!({ "name": "x", "verbs": "get", "rules": [] }));
    err(
        &api.call("POST", "/api/roles", both).await,
        400,
        "api.invalid_request",
    );
    err(
        &api.call("DELETE", "/api/roles/admin", None).await,
        409,
        "store.conflict",
    );

    let (st, _) = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": "bob", "role": "readers" })),
        )
        .await;
    assert_eq!(st, 201);
    let why = err(
        &api.call("DELETE", "/api/roles/readers", None).await,
        409,
        "store.conflict",
    );
    assert!(why.contains("binding"), "{why}");
    let (st, _) = api
        .call(
            "DELETE",
            &format!("/api/bindings?user={}&role=readers", bob.user_id),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = api.call("DELETE", "/api/roles/readers", None).await;
    assert_eq!(st, 204);
    err(
        &api.call("DELETE", "/api/roles/readers", None).await,
        404,
        "rbac.no_such_role",
    );
    srv.stop().await;
}

#[tokio::test]
async fn bindings_name_real_things_and_take_effect_on_the_next_request() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let bob = srv.new_user("bob").await;
    let as_bob = Api::with(&srv, &bob.access_key, &bob.secret_key);
    let (st, _) = api
        .call("POST", "/api/buckets", Some(json!({ "name": "shared" })))
        .await;
    assert_eq!(st, 201);

    let bind = |b: Value| api.call("POST", "/api/bindings", Some(b));
    err(
        &bind(json!({ "user": "nobody", "role": "bucket-read" })).await,
        404,
        "identity.no_such_user",
    );
    err(
        &bind(json!({ "user": "bob", "role": "nope" })).await,
        404,
        "rbac.no_such_role",
    );
    err(
        &bind(json!({ "user": "bob", "role": "bucket-read", "bucket": "missing" })).await,
        404,
        "store.no_such_bucket",
    );
    err(
        &bind(json!({ "group": "no-group", "role": "bucket-read" })).await,
        404,
        "rbac.no_such_group",
    );
    err(
        &bind(json!({ "user": "bob", "group": "everyone", "role": "bucket-read" })).await,
        400,
        "api.invalid_request",
    );
    err(
        &bind(
            json!({ "user": "bob", "role": "panel-viewer", "bucket": "shared", "panel": "users" }),
        )
        .await,
        400,
        "api.invalid_request",
    );
    err(
        &api.call("DELETE", "/api/bindings?user=bob&role=bucket-read", None)
            .await,
        404,
        "rbac.no_such_binding",
    );

    err(
        &as_bob
            .call("GET", "/api/buckets/shared/objects", None)
            .await,
        403,
        "rbac.denied",
    );
    let (st, b) = bind(json!({ "user": "bob", "role": "bucket-read", "bucket": "shared" })).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(
        (
            &b["subject"],
            &b["subject_name"],
            &b["scope_kind"],
            &b["scope"]
        ),
        (
            &json!(bob.user_id),
            &json!("bob"),
            &json!("bucket"),
            &json!("shared")
        )
    );
    let (st, listing) = as_bob
        .call("GET", "/api/buckets/shared/objects", None)
        .await;
    assert_eq!(st, 200, "{listing}");
    let (st, mine) = api.call("GET", "/api/bindings?user=bob", None).await;
    assert_eq!(st, 200);
    assert_eq!(mine.as_array().expect("bindings").len(), 1, "{mine}");
    // Panel scope: a plain user gains one admin panel.
    let (st, _) = bind(json!({ "user": "bob", "role": "panel-viewer", "panel": "users" })).await;
    assert_eq!(st, 201);
    let (st, users) = as_bob.call("GET", "/api/users", None).await;
    assert_eq!(st, 200, "{users}");
    srv.stop().await;
}

#[tokio::test]
async fn groups_and_their_members() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let bob = srv.new_user("bob").await;
    let (st, g) = api
        .call(
            "POST",
            "/api/groups",
            Some(json!({ "name": "team", "description": "us" })),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    err(
        &api.call("POST", "/api/groups", Some(json!({ "name": "team" })))
            .await,
        409,
        "store.conflict",
    );
    let (st, m) = api.call("PUT", "/api/groups/team/members/bob", None).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["user_id"], bob.user_id.as_str());
    let (st, m) = api.call("GET", "/api/groups/team/members", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        m["members"],
        json!([{ "user_id": bob.user_id, "name": "bob" }])
    );
    let (_, me) = Api::with(&srv, &bob.access_key, &bob.secret_key)
        .call("GET", "/api/me", None)
        .await;
    assert_eq!(me["groups"], json!(["everyone", "team"]));

    let (st, _) = api
        .call(
            "DELETE",
            &format!("/api/groups/team/members/{}", bob.user_id),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (_, m) = api.call("GET", "/api/groups/team/members", None).await;
    assert_eq!(m["members"], json!([]));
    err(
        &api.call("DELETE", "/api/groups/team/members/bob", None)
            .await,
        400,
        "store.invalid_argument",
    );
    err(
        &api.call("PUT", "/api/groups/everyone/members/bob", None)
            .await,
        409,
        "store.conflict",
    );
    err(
        &api.call("PUT", "/api/groups/ghosts/members/bob", None)
            .await,
        404,
        "rbac.no_such_group",
    );
    err(
        &api.call("GET", "/api/groups/ghosts/members", None).await,
        404,
        "rbac.no_such_group",
    );
    let (_, all) = api.call("GET", "/api/groups/everyone/members", None).await;
    assert!(
        all["members"].as_array().expect("members").len() >= 2,
        "{all}"
    );
    let (st, _) = api.call("DELETE", "/api/groups/team", None).await;
    assert_eq!(st, 204);
    srv.stop().await;
}

/// Nonce → signed join → credentials that work on S3; a nonce is single-use; the signature
/// must come from the key; the token must match.
#[tokio::test]
async fn join_proves_the_key_and_the_token() {
    let srv = TestServer::start_with(|raw| raw.enrolment_token = Some(TOKEN.into())).await;
    let kp = Keypair::generate().expect("keygen");
    let nonce = async || {
        let (st, n) = anonymous(&srv, "POST", "/api/join/nonce", None).await;
        assert_eq!(st, 200, "{n}");
        assert!(n["expires_in_secs"].as_u64().expect("ttl") > 0);
        n["nonce"].as_str().expect("nonce").to_string()
    };
    let join = |signer: &Keypair, nonce: &str, token: &str| {
        let sig = signer.sign(&join_message(nonce, "carol", &kp.public()));
        json!({
            "public_key": openssh(&kp, "carol"),
            "name": "carol",
            "nonce": nonce,
            "signature": hex::encode(sig),
            "token": token,
        })
    };

    let n = nonce().await;
    let (st, r) = anonymous(&srv, "POST", "/api/join", Some(join(&kp, &n, TOKEN))).await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["user_id"], kp.public().user_id());
    let s3 = client_with(
        srv.addr,
        r["access_key"].as_str().expect("ak"),
        r["secret_key"].as_str().expect("sk"),
    );
    s3.list_buckets()
        .send()
        .await
        .expect("joined credentials work on S3");

    let replay = anonymous(&srv, "POST", "/api/join", Some(join(&kp, &n, TOKEN))).await;
    let why = err(&replay, 403, "rbac.denied");
    assert!(why.contains("nonce"), "{why}");

    let forger = Keypair::generate().expect("keygen");
    let n = nonce().await;
    let forged = anonymous(&srv, "POST", "/api/join", Some(join(&forger, &n, TOKEN))).await;
    let why = err(&forged, 403, "rbac.denied");
    assert!(why.contains("signature"), "{why}");

    let n = nonce().await;
    let wrong = anonymous(
        &srv,
        "POST",
        "/api/join",
        Some(join(&kp, &n, "not-the-token-at-all")),
    )
    .await;
    let why = err(&wrong, 403, "rbac.denied");
    assert!(why.contains("token"), "{why}");

    // Joining again with the same key: the same user, not a new one.
    let n = nonce().await;
    let (st, again) = anonymous(&srv, "POST", "/api/join", Some(join(&kp, &n, TOKEN))).await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["user_id"], r["user_id"]);
    assert_eq!(again["created"], false);
    srv.stop().await;
}

#[tokio::test]
async fn join_is_disabled_without_an_enrolment_token() {
    let srv = TestServer::start().await;
    let why = err(
        &anonymous(&srv, "POST", "/api/join/nonce", None).await,
        403,
        "rbac.denied",
    );
    assert!(why.contains("disabled"), "{why}");
    let body = json!({
        "public_key": "x", "name": "x", "nonce": "x", "signature": "x", "token": "x",
    });
    let why = err(
        &anonymous(&srv, "POST", "/api/join", Some(body)).await,
        403,
        "rbac.denied",
    );
    assert!(why.contains("disabled"), "{why}");
    srv.stop().await;
}

#[tokio::test]
async fn bad_requests_and_authentication_failures() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);

    let (st, info) = anonymous(&srv, "GET", "/api/info", None).await;
    assert_eq!(st, 200);
    assert_eq!(info["s3_endpoint"], format!("http://{}", srv.addr));
    assert!(info["version"].is_string());

    // Unauthenticated, unknown key, wrong secret.
    let r = anonymous(&srv, "GET", "/api/me", None).await;
    err(&r, 401, "auth.missing");
    let resp = reqwest::get(format!("http://{}/api/users", admin_addr(&srv)))
        .await
        .expect("send");
    assert!(resp.headers().contains_key("www-authenticate"));
    assert!(resp.headers().contains_key("x-request-id"));
    let unknown = Api::with(&srv, "AKNOTAREALKEY0000000", "x");
    err(
        &unknown.call("GET", "/api/me", None).await,
        401,
        "auth.unknown_access_key",
    );
    let wrong = Api::with(&srv, &srv.access, "not-the-secret");
    err(
        &wrong.call("GET", "/api/me", None).await,
        403,
        "auth.bad_signature",
    );
    err(
        &wrong.basic("GET", "/api/me", Vec::new()).await,
        403,
        "auth.bad_signature",
    );

    // Basic and Bearer carry the same credentials.
    let (st, _) = api.basic("GET", "/api/me", Vec::new()).await;
    assert_eq!(st, 200);
    let resp = reqwest::Client::new()
        .get(format!("http://{}/api/me", admin_addr(&srv)))
        .bearer_auth(format!("{}:{}", srv.access, srv.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);

    // Malformed JSON, unknown fields, a body that is not the one signed, a body too large.
    let r = api.raw("POST", "/api/groups", b"{".to_vec(), b"{").await;
    err(&r, 400, "api.invalid_json");
    let r = api
        .basic(
            "POST",
            "/api/groups",
            br#"{"name":"g","colour":"red"}"#.to_vec(),
        )
        .await;
    err(&r, 400, "api.invalid_json");
    let r = api
        .raw(
            "POST",
            "/api/groups",
            br#"{"name":"evil"}"#.to_vec(),
            br#"{"name":"good"}"#,
        )
        .await;
    err(&r, 400, "store.sha256_mismatch");
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat((1 << 20) + 100)).into_bytes();
    let r = api.basic("POST", "/api/groups", big).await;
    err(&r, 413, "api.payload_too_large");

    // Unknown routes and methods answer in JSON too.
    err(
        &api.call("GET", "/api/nothing-here", None).await,
        404,
        "api.no_such_route",
    );
    err(
        &api.call("PATCH", "/api/users", None).await,
        405,
        "api.method_not_allowed",
    );
    err(
        &api.call("GET", "/api/bindings?colour=red", None).await,
        400,
        "api.invalid_request",
    );
    srv.stop().await;
}

#[tokio::test]
async fn buckets_and_objects_through_the_api() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let (st, b) = api
        .call("POST", "/api/buckets", Some(json!({ "name": "docs" })))
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["kind"], "plain");
    err(
        &api.call("POST", "/api/buckets", Some(json!({ "name": "x" })))
            .await,
        400,
        "store.invalid_bucket_name",
    );

    let data = bytes(200_000, 3);
    for key in ["a/one.txt", "a/two%20two.txt", "b.txt"] {
        let r = api
            .basic(
                "PUT",
                &format!("/api/buckets/docs/objects/{key}"),
                data.clone(),
            )
            .await;
        assert_eq!(r.0, 200, "{r:?}");
        assert_eq!(r.1["size"], 200_000);
    }
    let (st, l) = api
        .call("GET", "/api/buckets/docs/objects?delimiter=/", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(l["prefixes"], json!(["a/"]));
    assert_eq!(l["objects"][0]["key"], "b.txt");
    let (_, l) = api
        .call(
            "GET",
            "/api/buckets/docs/objects?prefix=a/&max_keys=1",
            None,
        )
        .await;
    assert_eq!(l["objects"][0]["key"], "a/one.txt");
    assert_eq!(
        (&l["truncated"], &l["next_start_after"]),
        (&json!(true), &json!("a/one.txt"))
    );
    let (_, l) = api
        .call(
            "GET",
            "/api/buckets/docs/objects?prefix=a/&start_after=a/one.txt",
            None,
        )
        .await;
    assert_eq!(
        l["objects"][0]["key"], "a/two two.txt",
        "the key is percent-decoded"
    );

    let got = reqwest::Client::new()
        .get(format!(
            "http://{}/api/buckets/docs/objects/a/one.txt",
            admin_addr(&srv)
        ))
        .bearer_auth(format!("{}:{}", srv.access, srv.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
    err(
        &api.call("GET", "/api/buckets/docs/objects/nope", None)
            .await,
        404,
        "store.not_found",
    );

    err(
        &api.call("DELETE", "/api/buckets/docs", None).await,
        409,
        "store.bucket_not_empty",
    );
    for key in ["a/one.txt", "a/two%20two.txt", "b.txt"] {
        let (st, _) = api
            .call("DELETE", &format!("/api/buckets/docs/objects/{key}"), None)
            .await;
        assert_eq!(st, 204);
    }
    let (st, _) = api.call("DELETE", "/api/buckets/docs", None).await;
    assert_eq!(st, 204);
    err(
        &api.call("GET", "/api/buckets/docs", None).await,
        404,
        "store.no_such_bucket",
    );
    srv.stop().await;
}

// ----- the CLI, as the real binary -----

/// Runs `gatehouse <args>` against the test server with a clean environment (HOME in `home`),
/// off the runtime's threads (the server runs on them).
pub(crate) async fn cli(
    srv: &TestServer,
    home: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env("GATEHOUSE_SERVER", format!("http://{}", admin_addr(srv)))
        .env("HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("GATEHOUSE_ENROLMENT_TOKEN")
        .current_dir(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("runs the binary"))
        .await
        .expect("join")
}

pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_register_bind_status_buckets_and_a_3mib_round_trip() {
    let srv = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let data_dir = srv.data_dir();
    let admin = ["--data-dir", data_dir.to_str().expect("utf-8")];
    let run = async |args: &[&str]| {
        let mut all: Vec<&str> = admin.to_vec();
        all.extend_from_slice(args);
        cli(&srv, h, &[], &all).await
    };

    // keygen, then register that key (--json prints exactly the four fields).
    let out = ok(&cli(&srv, h, &[], &["keygen"]).await);
    let key = h.join(".gatehouse/id_ed25519");
    let user_id = Keypair::load(&key).expect("key written").public().user_id();
    assert!(out.contains(&user_id), "{out}");
    let pubkey = h.join(".gatehouse/id_ed25519.pub");
    let out = ok(&run(&[
        "user",
        "register",
        "--pubkey",
        pubkey.to_str().expect("utf-8"),
        "--name",
        "carol",
        "--json",
    ])
    .await);
    let reg: Value = serde_json::from_str(&out).expect("JSON");
    let mut keys: Vec<&str> = reg
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_key", "name", "secret_key", "user_id"]);
    assert_eq!(reg["user_id"], user_id.as_str());
    let carol = [
        ("AWS_ACCESS_KEY_ID", reg["access_key"].as_str().expect("ak")),
        (
            "AWS_SECRET_ACCESS_KEY",
            reg["secret_key"].as_str().expect("sk"),
        ),
    ];

    // Buckets, and a binding scoped to one.
    ok(&run(&["bucket", "create", "cli-bucket"]).await);
    let list: Value =
        serde_json::from_str(&ok(&run(&["--json", "bucket", "list"]).await)).expect("JSON");
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .any(|b| b["name"] == "cli-bucket"),
        "{list}"
    );
    assert!(ok(&run(&["bucket", "list"]).await).contains("cli-bucket"));
    ok(&run(&[
        "role",
        "bind",
        "carol",
        "bucket-read",
        "--bucket",
        "cli-bucket",
    ])
    .await);
    let b: Value = serde_json::from_str(&ok(&run(&[
        "role", "bindings", "--user", "carol", "--json",
    ])
    .await))
    .expect("JSON");
    assert_eq!(b.as_array().expect("bindings").len(), 1, "{b}");
    assert_eq!(
        (&b[0]["role"], &b[0]["scope"], &b[0]["subject"]),
        (&json!("bucket-read"), &json!("cli-bucket"), &json!(user_id))
    );

    // status: who you are, for the admin and for carol (credentials from the environment).
    let out = ok(&run(&["status"]).await);
    assert!(
        out.contains(&admin_user_id(&srv)) && out.contains("yes (matched by peer ID)"),
        "{out}"
    );
    let out = ok(&cli(&srv, h, &carol, &["status"]).await);
    assert!(out.contains(&user_id) && out.contains("carol"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("admin:") && l.ends_with("no")),
        "{out}"
    );

    // A refusal: exit 1 and the server's reason.
    let o = cli(
        &srv,
        h,
        &carol,
        &[
            "role",
            "create",
            "x",
            "--verbs",
            "get",
            "--resources",
            "buckets",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(4), "denied: exit 4");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.starts_with("gatehouse: access denied: ") && e.contains("roles"),
        "{e}"
    );

    // A 3 MiB object up and down, byte for byte.
    let data = bytes(3 << 20, 11);
    std::fs::write(h.join("up.bin"), &data).expect("write");
    ok(&run(&["object", "put", "cli-bucket", "dir/big file.bin", "up.bin"]).await);
    ok(&run(&[
        "object",
        "get",
        "cli-bucket",
        "dir/big file.bin",
        "down.bin",
    ])
    .await);
    assert!(
        std::fs::read(h.join("down.bin")).expect("read") == data,
        "round trip"
    );
    // carol may read it (bucket-read on cli-bucket), to stdout.
    let o = cli(
        &srv,
        h,
        &carol,
        &["object", "get", "cli-bucket", "dir/big file.bin", "-"],
    )
    .await;
    assert!(
        o.status.success() && o.stdout == data,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listing = ok(&run(&["object", "list", "cli-bucket", "--prefix", "dir/"]).await);
    assert!(
        listing.contains("dir/big file.bin") && listing.contains("3.0 MiB"),
        "{listing}"
    );
    ok(&run(&["object", "delete", "cli-bucket", "dir/big file.bin"]).await);
    ok(&run(&[
        "role",
        "unbind",
        "carol",
        "bucket-read",
        "--bucket",
        "cli-bucket",
    ])
    .await);
    ok(&run(&["bucket", "delete", "cli-bucket"]).await);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_join_writes_working_credentials() {
    let srv = TestServer::start_with(|raw| raw.enrolment_token = Some(TOKEN.into())).await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    ok(&cli(&srv, h, &[], &["keygen"]).await);
    let creds = h.join("dave.credentials");
    let out = ok(&cli(
        &srv,
        h,
        &[("GATEHOUSE_ENROLMENT_TOKEN", TOKEN)],
        &[
            "join",
            "--name",
            "dave",
            "--write-credentials",
            creds.to_str().expect("utf-8"),
        ],
    )
    .await);
    assert!(out.contains("access key"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds)
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let status = ok(&cli(
        &srv,
        h,
        &[],
        &["status", "--credentials", creds.to_str().expect("utf-8")],
    )
    .await);
    assert!(status.contains("dave"), "{status}");
    let o = cli(
        &srv,
        h,
        &[],
        &[
            "join",
            "--token",
            "wrong-token-wrong-token",
            "--name",
            "dave",
        ],
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(4),
        "a wrong enrolment token is a denial: exit 4"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong enrolment token"));
    srv.stop().await;
}
