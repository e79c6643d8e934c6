//! Issue 17, identity, ownership and space: `admin_peers` names cannot be taken, web sign-in
//! lockout and trusted proxies, bucket owners and the `s3-user` role, truthful space limits
//! (FSSTAT, storage status, share warnings), `gc` on demand, `fs--` in admin paths.

use gatehouse_store::StoreError;
use gatehouse_store::identity::{Keypair, join_message};
use gatehouse_store::ops::JoinRequest;

use crate::common::*;

const TOKEN: &str = "a-long-enough-enrolment-token";

fn join_request(store: &gatehouse_store::Store, kp: &Keypair, name: &str) -> JoinRequest {
    let nonce = store.join_nonce().expect("nonce");
    let sig = kp.sign(&join_message(&nonce, name, &kp.public()));
    JoinRequest {
        public_key: kp.public().to_openssh(name),
        name: name.into(),
        nonce,
        signature: hex::encode(sig),
        token: TOKEN.into(),
    }
}

#[tokio::test]
async fn admin_peers_names_cannot_be_taken_by_another_key() {
    let holder = Keypair::generate().expect("keygen");
    let holder_id = holder.public().user_id();
    let srv = TestServer::start_with(|raw| {
        raw.enrolment_token = Some(TOKEN.into());
        // "boss" is nobody yet; the holder's id is listed by id.
        raw.admin_peers = Some(vec!["admin".into(), "boss".into(), holder_id.clone()])
    })
    .await;
    let store = srv.store();

    // Self-service join can never acquire an admin_peers name, held or not.
    let mallory = Keypair::generate().expect("keygen");
    let e = store
        .join(join_request(store, &mallory, "boss"))
        .await
        .expect_err("join as an unheld admin_peers name");
    assert!(matches!(e, StoreError::AccessDenied(_)), "{e:?}");
    // A name equal to a listed user id would match "by name": refused too.
    let e = store
        .join(join_request(store, &mallory, &holder_id))
        .await
        .expect_err("join named like a listed id");
    assert!(matches!(e, StoreError::AccessDenied(_)), "{e:?}");
    let e = store
        .join(join_request(store, &mallory, "admin"))
        .await
        .expect_err("join as the bootstrap admin's name");
    assert!(matches!(e, StoreError::AccessDenied(_)), "{e:?}");

    // An admin may give the unheld name to a key; then no other key gets it.
    let boss = Keypair::generate().expect("keygen");
    let r = store
        .register_user(
            &srv.admin(),
            boss.public().to_openssh("boss").as_bytes(),
            "boss",
        )
        .await
        .expect("admin registers boss");
    assert_eq!(r.name, "boss");
    let e = store
        .register_user(
            &srv.admin(),
            mallory.public().to_openssh("boss").as_bytes(),
            "boss",
        )
        .await
        .expect_err("a second key as boss");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // The holder joining again is still itself.
    let again = store
        .join(join_request(store, &boss, "boss"))
        .await
        .expect("the holder joins again");
    assert_eq!(again.user_id, boss.public().user_id());
    assert!(!again.created);

    // Nothing mallory tried left a user behind, and an ordinary name still works.
    let users = store.list_users(&srv.admin()).expect("users");
    assert!(
        users
            .iter()
            .all(|u| u.user_id != mallory.public().user_id())
    );
    let ok = store
        .join(join_request(store, &mallory, "mallory"))
        .await
        .expect("an ordinary name joins");
    let c = client_with(srv.addr, &ok.access_key, &ok.secret_key);
    let e = c
        .create_bucket()
        .bucket("mine")
        .send()
        .await
        .expect_err("mallory is no admin");
    assert_eq!(code(&e), "AccessDenied");
}
