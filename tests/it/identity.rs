//! Identity: user ids from public keys, derived S3 credentials across restarts and rotation,
//! self-service join, name collisions, admin_peers matching (logged by the real binary) and
//! revocation, and bad input that must leave nothing behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_store::StoreError;
use gatehouse_store::identity::{Keypair, join_message};
use gatehouse_store::ops::{JoinRequest, Registered, SubjectRef};
use gatehouse_store::rbac::{Rule, Scope};
use sha2::Digest;

use crate::common::*;

const TOKEN: &str = "a-long-enough-enrolment-token";

/// The OpenSSH wire blob of an ed25519 key, built here by hand (RFC 4253 §6.6 strings,
/// RFC 8709 key format) rather than by the code under test.
fn wire_blob(raw: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&11u32.to_be_bytes());
    b.extend_from_slice(b"ssh-ed25519");
    b.extend_from_slice(&32u32.to_be_bytes());
    b.extend_from_slice(raw);
    b
}

fn expected_id(raw: &[u8; 32]) -> String {
    hex::encode(&sha2::Sha256::digest(wire_blob(raw))[..8])
}

#[tokio::test]
async fn user_id_is_the_first_8_bytes_of_sha256_of_the_key_blob() {
    let srv = TestServer::start().await;
    // A fixed key: RFC 8032 test 1's public key.
    let raw: [u8; 32] =
        hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .expect("hex")
            .try_into()
            .expect("32");
    let want = expected_id(&raw);
    assert_eq!(want.len(), 16);
    use base64::Engine as _;
    let line = format!(
        "ssh-ed25519 {} alice@laptop\n",
        base64::engine::general_purpose::STANDARD.encode(wire_blob(&raw))
    );
    let by_line = srv
        .store()
        .register_user(&srv.admin(), line.as_bytes(), "alice")
        .await
        .expect("register line");
    assert_eq!(by_line.user_id, want);
    assert_eq!(by_line.access_key.len(), 20);
    assert_eq!(by_line.secret_key.len(), 40);
    // The same key as 32 raw bytes is the same user.
    let by_raw = srv
        .store()
        .register_user(&srv.admin(), &raw, "alice-raw")
        .await
        .expect("register raw");
    assert_eq!(by_raw.user_id, want);
    assert!(!by_raw.created, "same key, same user");
    assert_eq!(by_raw.access_key, by_line.access_key);
}

/// A new user `name` who may read every bucket, and an S3 client with its keys.
async fn reader(srv: &TestServer, name: &str) -> (Registered, aws_sdk_s3::Client) {
    let u = srv.new_user(name).await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "bucket-read",
            Scope::Global,
        )
        .await
        .expect("bind");
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    (u, c)
}

#[tokio::test]
async fn credentials_survive_restarts_and_rotation_revokes_the_old_secret_at_once() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("ids")
        .send()
        .await
        .expect("create");
    let (u, c) = reader(&srv, "carol").await;
    c.list_objects_v2()
        .bucket("ids")
        .send()
        .await
        .expect("works before restart");

    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    c.list_objects_v2()
        .bucket("ids")
        .send()
        .await
        .expect("the same credentials work after a restart");
    let again = srv.store().show_user(&srv.admin(), "carol").expect("show");
    assert_eq!(again.access_key, u.access_key);

    let rotated = srv
        .store()
        .rotate_credentials(&srv.admin(), "carol")
        .await
        .expect("rotate");
    assert_ne!(rotated.access_key, u.access_key);
    assert_ne!(rotated.secret_key, u.secret_key);
    let e = c
        .list_objects_v2()
        .bucket("ids")
        .send()
        .await
        .expect_err("old key refused");
    assert_eq!(code(&e), "InvalidAccessKeyId");
    let c2 = client_with(srv.addr, &rotated.access_key, &rotated.secret_key);
    c2.list_objects_v2()
        .bucket("ids")
        .send()
        .await
        .expect("new key works");

    let dir = srv.stop().await;
    let srv = TestServer::start_in(dir).await;
    let c2 = client_with(srv.addr, &rotated.access_key, &rotated.secret_key);
    c2.list_objects_v2()
        .bucket("ids")
        .send()
        .await
        .expect("rotated key works after restart");
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    let e = c
        .list_buckets()
        .send()
        .await
        .expect_err("old key still refused");
    assert_eq!(code(&e), "InvalidAccessKeyId");
}

#[tokio::test]
async fn join_proves_possession_and_nonces_are_single_use() {
    let srv = TestServer::start_with(|raw| raw.enrolment_token = Some(TOKEN.into())).await;
    let store = srv.store();
    let kp = Keypair::generate().expect("keygen");
    let line = kp.public().to_openssh("dave");
    let request = |nonce: &str, sig: &[u8], token: &str| JoinRequest {
        public_key: line.clone(),
        name: "dave".into(),
        nonce: nonce.into(),
        signature: hex::encode(sig),
        token: token.into(),
    };

    // Forged: signed by another key.
    let nonce = store.join_nonce().expect("nonce");
    let other = Keypair::generate().expect("keygen");
    let forged = other.sign(&join_message(&nonce, "dave", &kp.public()));
    let e = store
        .join(request(&nonce, &forged, TOKEN))
        .await
        .expect_err("forged");
    assert!(
        matches!(
            e,
            StoreError::AccessDenied(_) | StoreError::InvalidArgument(_)
        ),
        "{e:?}"
    );

    // Right signature, wrong token.
    let nonce = store.join_nonce().expect("nonce");
    let sig = kp.sign(&join_message(&nonce, "dave", &kp.public()));
    let e = store
        .join(request(&nonce, &sig, "not-the-token-at-all"))
        .await
        .expect_err("wrong token");
    assert!(matches!(e, StoreError::AccessDenied(_)), "{e:?}");

    // A nonce the server never issued.
    let made_up = "00".repeat(16);
    let sig = kp.sign(&join_message(&made_up, "dave", &kp.public()));
    store
        .join(request(&made_up, &sig, TOKEN))
        .await
        .expect_err("unknown nonce");
    assert!(
        store
            .list_users(&srv.admin())
            .expect("list")
            .iter()
            .all(|u| u.name != "dave"),
        "no failed join left a user behind"
    );

    // The real thing works once; replaying the same signed request is refused.
    let nonce = store.join_nonce().expect("nonce");
    let sig = kp.sign(&join_message(&nonce, "dave", &kp.public()));
    let joined = store
        .join(request(&nonce, &sig, TOKEN))
        .await
        .expect("join");
    assert_eq!(joined.user_id, kp.public().user_id());
    let e = store
        .join(request(&nonce, &sig, TOKEN))
        .await
        .expect_err("replayed nonce");
    assert!(format!("{e}").contains("nonce"), "{e}");
    // The credentials it handed out authenticate (no role yet, so only an empty listing).
    let c = client_with(srv.addr, &joined.access_key, &joined.secret_key);
    let out = c.list_buckets().send().await.expect("authenticates");
    assert!(out.buckets().is_empty());
}

#[tokio::test]
async fn name_collisions_get_suffixes_and_one_key_is_one_user() {
    let srv = TestServer::start().await;
    let (store, admin) = (srv.store(), srv.admin());
    let k1 = Keypair::generate()
        .expect("keygen")
        .public()
        .to_openssh("x");
    let k2 = Keypair::generate()
        .expect("keygen")
        .public()
        .to_openssh("x");
    let k3 = Keypair::generate()
        .expect("keygen")
        .public()
        .to_openssh("x");
    let a = store
        .register_user(&admin, k1.as_bytes(), "laptop")
        .await
        .expect("a");
    let b = store
        .register_user(&admin, k2.as_bytes(), "laptop")
        .await
        .expect("b");
    let c = store
        .register_user(&admin, k3.as_bytes(), "laptop")
        .await
        .expect("c");
    assert_eq!(a.name, "laptop");
    assert_eq!(b.name, "laptop-2");
    assert_eq!(c.name, "laptop-3");
    assert_ne!(a.user_id, b.user_id);
    // The first key from a second device: same user, same name, same credentials.
    let again = store
        .register_user(&admin, k1.as_bytes(), "desktop")
        .await
        .expect("again");
    assert_eq!(again.user_id, a.user_id);
    assert_eq!(again.name, "laptop");
    assert!(!again.created);
    assert_eq!(again.secret_key, a.secret_key);
}

/// Runs the real binary until it is serving and returns everything it logged.
pub(crate) fn run_binary_until_serving(config: &std::path::Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config"])
        .arg(config)
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--nfs-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gatehouse");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains("gatehouse serving") {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("gatehouse exited with {status}:\n{log}");
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("gatehouse serving"), "never served:\n{log}");
    log
}

fn line_with<'a>(log: &'a str, needle: &str, name: &str) -> Option<&'a str> {
    log.lines().find(|l| l.contains(needle) && l.contains(name))
}

#[tokio::test]
async fn admin_peers_by_id_and_by_name_are_logged_differently_and_revoked_on_restart() {
    // Register two users with the default config, then hand the data dir to the real binary.
    let srv = TestServer::start().await;
    let alice = srv.new_user("alice").await;
    let bob = srv.new_user("bob").await;
    let dir = srv.stop().await;
    let config = dir.path().join("peers.yaml");
    let write_config = |peers: &str| {
        std::fs::write(
            &config,
            format!("data_dir: {}\nadmin_peers: {peers}\n", dir.path().display()),
        )
        .expect("config");
    };
    write_config(&format!("[{}, bob]", alice.user_id));
    let log = tokio::task::spawn_blocking({
        let config = config.clone();
        move || run_binary_until_serving(&config)
    })
    .await
    .expect("join");
    let by_id = line_with(&log, "matched by peer ID (secure)", &alice.user_id)
        .unwrap_or_else(|| panic!("no peer-ID line for alice:\n{log}"));
    assert!(by_id.contains("alice"), "{by_id}");
    let by_name = line_with(&log, "matched by name (warning: mutable)", &bob.user_id)
        .unwrap_or_else(|| panic!("no by-name line for bob:\n{log}"));
    assert!(by_name.contains("WARN"), "{by_name}");
    assert!(
        line_with(&log, "matched by name", &alice.user_id).is_none(),
        "alice matched by id must not be logged as a name match:\n{log}"
    );

    // In-process with the same peers: both are admin.
    let srv = TestServer::start_in_with(dir, |raw| {
        raw.admin_peers = Some(vec![alice.user_id.clone(), "bob".into()])
    })
    .await;
    let ca = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    let cb = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    ca.create_bucket()
        .bucket("by-alice")
        .send()
        .await
        .expect("alice is admin");
    cb.create_bucket()
        .bucket("by-bob")
        .send()
        .await
        .expect("bob is admin");
    // The bootstrap admin is not named, so it is not admin: the config decides alone.
    let e = srv
        .client()
        .create_bucket()
        .bucket("by-bootstrap")
        .send()
        .await
        .expect_err("bootstrap not admin");
    assert_eq!(code(&e), "AccessDenied");

    // Remove bob's entry and restart: revoked.
    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |raw| {
        raw.admin_peers = Some(vec![alice.user_id.clone()])
    })
    .await;
    let cb = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    let e = cb
        .create_bucket()
        .bucket("by-bob-2")
        .send()
        .await
        .expect_err("bob revoked");
    assert_eq!(code(&e), "AccessDenied");
    let ca = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    ca.create_bucket()
        .bucket("by-alice-2")
        .send()
        .await
        .expect("alice still admin");

    // An empty list: nobody is admin, not even alice.
    let dir = srv.stop().await;
    let srv = TestServer::start_in_with(dir, |raw| raw.admin_peers = Some(vec![])).await;
    let ca = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    let e = ca
        .create_bucket()
        .bucket("by-alice-3")
        .send()
        .await
        .expect_err("nobody is admin");
    assert_eq!(code(&e), "AccessDenied");
}

/// An RSA public key blob (`ssh-rsa`, e, n) of a made-up 2048-bit modulus.
fn rsa_line() -> String {
    use base64::Engine as _;
    let mut b = Vec::new();
    let mut put = |s: &[u8]| {
        b.extend_from_slice(&(s.len() as u32).to_be_bytes());
        b.extend_from_slice(s);
    };
    put(b"ssh-rsa");
    put(&[0x01, 0x00, 0x01]);
    let mut n = vec![0u8; 257];
    n[1] = 0xc3;
    n[256] = 0x01;
    for (i, x) in n.iter_mut().enumerate().skip(2).take(250) {
        *x = (i * 7) as u8;
    }
    put(&n);
    format!(
        "ssh-rsa {} someone@host",
        base64::engine::general_purpose::STANDARD.encode(&b)
    )
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_leaves_nothing_behind() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("real")
        .send()
        .await
        .expect("create");
    let (store, admin) = (srv.store(), srv.admin());
    let eve = srv.new_user("eve").await;
    let users_before = store.list_users(&admin).expect("users").len();
    let bindings_before = store.list_bindings(&admin, None).expect("bindings").len();
    let roles_before = store.list_roles(&admin).expect("roles").len();

    let refused = |r: Result<gatehouse_store::ops::Registered, StoreError>| -> String {
        match r {
            Err(e @ StoreError::InvalidArgument(_)) => e.to_string(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    };
    let msg = refused(
        store
            .register_user(&admin, b"ssh-ed25519 AAAA!!!not-base64", "m")
            .await,
    );
    assert!(msg.contains("base64"), "{msg}");
    let msg = refused(
        store
            .register_user(&admin, rsa_line().as_bytes(), "rsa")
            .await,
    );
    assert!(msg.contains("ssh-rsa") && msg.contains("ed25519"), "{msg}");
    let msg = refused(store.register_user(&admin, &[7u8; 31], "short").await);
    assert!(msg.contains("32"), "{msg}");
    let msg = refused(store.register_user(&admin, b"", "empty").await);
    assert!(!msg.is_empty());
    // A truncated ed25519 line (the blob cut short).
    let full = Keypair::generate()
        .expect("keygen")
        .public()
        .to_openssh("t");
    let cut = &full[..full.find(' ').expect("space") + 30];
    refused(store.register_user(&admin, cut.as_bytes(), "cut").await);
    // Names: far too long, or with characters a name cannot hold.
    let key = Keypair::generate()
        .expect("keygen")
        .public()
        .to_openssh("n");
    let msg = refused(
        store
            .register_user(&admin, key.as_bytes(), &"n".repeat(5000))
            .await,
    );
    assert!(
        msg.len() < 400,
        "the error does not echo 5000 characters: {}",
        msg.len()
    );
    refused(
        store
            .register_user(&admin, key.as_bytes(), "../etc/passwd")
            .await,
    );

    // Roles: built-in names, bad rules, long names.
    let rules = vec![Rule::parse("get,list", "objects").expect("rule")];
    for name in ["admin", "bucket-read", "system"] {
        let e = store
            .create_role(&admin, name, "", rules.clone())
            .await
            .expect_err("built-in name");
        assert!(matches!(e, StoreError::Conflict(_)), "{name}: {e:?}");
    }
    assert!(Rule::parse("fly", "objects").is_err());
    assert!(Rule::parse("get", "planets").is_err());
    store
        .create_role(&admin, &"r".repeat(1000), "", rules.clone())
        .await
        .expect_err("long role name");
    let e = store
        .delete_role(&admin, "bucket-read")
        .await
        .expect_err("built-in");
    assert!(
        matches!(e, StoreError::Conflict(_) | StoreError::InvalidArgument(_)),
        "{e:?}"
    );

    // Bindings that name things that do not exist.
    let user = SubjectRef::User(eve.user_id.clone());
    let e = store
        .bind(
            &admin,
            SubjectRef::User("nobody".into()),
            "bucket-read",
            Scope::Global,
        )
        .await
        .expect_err("unknown user");
    assert!(matches!(e, StoreError::NoSuchUser(_)), "{e:?}");
    let e = store
        .bind(&admin, user.clone(), "no-such-role", Scope::Global)
        .await
        .expect_err("unknown role");
    assert!(matches!(e, StoreError::NoSuchRole(_)), "{e:?}");
    let e = store
        .bind(
            &admin,
            user.clone(),
            "bucket-read",
            Scope::Bucket("no-such-bucket".into()),
        )
        .await
        .expect_err("unknown bucket");
    assert!(matches!(e, StoreError::NoSuchBucket), "{e:?}");
    let e = store
        .bind(
            &admin,
            SubjectRef::Group("no-such-group".into()),
            "bucket-read",
            Scope::Global,
        )
        .await
        .expect_err("unknown group");
    assert!(matches!(e, StoreError::NoSuchGroup(_)), "{e:?}");

    // A role in use cannot be deleted (refused, not cascaded).
    store
        .create_role(&admin, "auditor", "reads", rules)
        .await
        .expect("role");
    store
        .bind(
            &admin,
            user.clone(),
            "auditor",
            Scope::Bucket("real".into()),
        )
        .await
        .expect("bind");
    let e = store
        .delete_role(&admin, "auditor")
        .await
        .expect_err("in use");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(e.to_string().contains("auditor"));
    store
        .unbind(&admin, user, "auditor", Scope::Bucket("real".into()))
        .await
        .expect("unbind");
    store
        .delete_role(&admin, "auditor")
        .await
        .expect("unused role deletes");

    // Nothing failed half-way.
    assert_eq!(store.list_users(&admin).expect("users").len(), users_before);
    assert_eq!(
        store.list_bindings(&admin, None).expect("b").len(),
        bindings_before
    );
    assert_eq!(store.list_roles(&admin).expect("roles").len(), roles_before);
}

/// Signed requests' keys are answered from memory while nothing has changed (issue 19): a
/// removed user's key, and a key rotated by a request whose caller stopped waiting as soon as
/// it was queued, still stop working the moment the change commits.
#[tokio::test]
async fn remembered_keys_stop_with_a_removal_and_with_a_rotation_nobody_waited_for() {
    use futures_util::FutureExt;
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket("kept")
        .send()
        .await
        .expect("create");
    let mut users = Vec::new();
    for name in ["erin", "frank"] {
        users.push(reader(&srv, name).await);
    }
    // Used after the last change of users and bindings: answered from memory from now on.
    for (_, c) in &users {
        for _ in 0..3 {
            c.list_objects_v2()
                .bucket("kept")
                .send()
                .await
                .expect("works, and is remembered");
        }
    }
    let (erin, erin_c) = &users[0];
    let (frank, frank_c) = &users[1];

    // A rotation whose request is dropped once queued: the commit thread still runs it.
    let admin = srv.admin();
    let mut rotation = Box::pin(srv.store().rotate_credentials(&admin, "erin"));
    // Polled once (queued; done only if the commit thread beat this thread to the answer).
    let _ = rotation.as_mut().now_or_never();
    drop(rotation);
    let t0 = Instant::now();
    while srv
        .store()
        .show_user(&admin, "erin")
        .expect("show")
        .access_key
        == erin.access_key
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the rotation never committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The epoch moves on the commit thread right after the commit turns visible, before any
    // caller could hear of it; this test sees the commit through a read, so it gives that
    // step a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = erin_c
        .list_objects_v2()
        .bucket("kept")
        .send()
        .await
        .expect_err("the old key stops with the rotation");
    assert_eq!(code(&e), "InvalidAccessKeyId");

    srv.store()
        .remove_user(&admin, "frank")
        .await
        .expect("remove");
    let e = frank_c
        .list_objects_v2()
        .bucket("kept")
        .send()
        .await
        .expect_err("a removed user's key stops at once");
    assert_eq!(code(&e), "InvalidAccessKeyId");
    assert!(
        srv.store()
            .lookup_credential(&frank.access_key)
            .expect("lookup")
            .is_none()
    );
}

/// Polls `denied` (a request that must now be refused) until it is, for at most 10 s: nothing
/// else happens meanwhile that would read the policy again.
async fn refused_within<F, Fut>(what: &str, mut denied: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !denied().await {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what}: still allowed 10 s after the change committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_of_grants_whose_request_was_dropped_is_in_force_from_the_next_request() {
    use futures_util::FutureExt;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("open")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("open")
        .key("o")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"data"))
        .send()
        .await
        .expect("put");
    c.put_bucket_policy()
        .bucket("open")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::open/*"}]}"#,
        )
        .send()
        .await
        .expect("put policy");
    let anonymous = || async {
        reqwest::get(srv.url("/open/o"))
            .await
            .expect("send")
            .status()
            .as_u16()
    };
    assert_eq!(anonymous().await, 200, "the policy lets anyone read");
    let (_, gina) = reader(&srv, "gina").await;
    for _ in 0..3 {
        gina.list_objects_v2()
            .bucket("open")
            .send()
            .await
            .expect("bound to read: works, and is remembered");
    }

    // Both changes are queued and their requests dropped before they hear of the commit, as
    // when a client disconnects while its change is being made durable.
    let admin = srv.admin();
    let store = srv.store();
    let mut unbind = Box::pin(store.unbind(
        &admin,
        SubjectRef::User("gina".into()),
        "bucket-read",
        Scope::Global,
    ));
    let _ = unbind.as_mut().now_or_never();
    drop(unbind);
    let mut unpolicy = Box::pin(store.delete_bucket_policy(&admin, "open"));
    let _ = unpolicy.as_mut().now_or_never();
    drop(unpolicy);

    refused_within("the bucket policy deleted", || async {
        anonymous().await == 403
    })
    .await;
    refused_within("the binding removed", || async {
        match gina.list_objects_v2().bucket("open").send().await {
            Ok(_) => false,
            Err(e) => {
                assert_eq!(code(&e), "AccessDenied");
                true
            }
        }
    })
    .await;
    assert!(
        store.bucket_policy(&admin, "open").is_err(),
        "the deletion committed"
    );
}
