//! The RBAC matrix through the real S3 gateway: users × roles × scopes × operations, each
//! user driving aws-sdk-s3 with its own derived credentials.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::{Rule, Scope};

use crate::common::*;

#[derive(Debug, Clone, Copy)]
enum Op {
    ListBuckets,
    HeadBucket,
    CreateBucket,
    DeleteBucket,
    Put,
    Get,
    List,
    Delete,
    Copy,
}

/// Runs `op` against `bucket`; Ok(true) allowed, Ok(false) AccessDenied, Err otherwise.
async fn attempt(c: &Client, op: Op, bucket: &str, tag: &str) -> Result<bool, String> {
    let denied = |code: String| {
        if code == "AccessDenied" || code == "Forbidden" {
            Ok(false)
        } else {
            Err(code)
        }
    };
    let r = match op {
        Op::ListBuckets => {
            let out = c.list_buckets().send().await.map_err(|e| code(&e))?;
            // Allowed means the bucket is visible in the listing.
            return Ok(out.buckets().iter().any(|b| b.name() == Some(bucket)));
        }
        // HEAD responses carry no body, so the SDK sees no error code: judge by the status.
        Op::HeadBucket => c
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                Some(403) => "Forbidden".to_string(),
                status => format!("{} (status {status:?})", code(&e)),
            }),
        Op::CreateBucket => {
            let name = format!("{bucket}-{tag}");
            c.create_bucket()
                .bucket(&name)
                .send()
                .await
                .map(drop)
                .map_err(|e| code(&e))
        }
        Op::DeleteBucket => c
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
        Op::Put => c
            .put_object()
            .bucket(bucket)
            .key(format!("w/{tag}"))
            .body(ByteStream::from_static(b"rbac"))
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
        Op::Get => c
            .get_object()
            .bucket(bucket)
            .key("seed.txt")
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
        Op::List => c
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
        Op::Delete => c
            .delete_object()
            .bucket(bucket)
            .key("doomed.txt")
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
        Op::Copy => c
            .copy_object()
            .bucket(bucket)
            .key(format!("copy/{tag}"))
            .copy_source(format!("{bucket}/seed.txt"))
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
    };
    match r {
        Ok(()) => Ok(true),
        Err(c) => denied(c),
    }
}

struct Case {
    role: &'static str,
    scope: Option<&'static str>,
    expect: &'static [(Op, &'static str, bool)],
}

const A: &str = "rbac-a";
const B: &str = "rbac-b";

#[tokio::test]
async fn matrix_of_roles_scopes_and_operations() {
    let srv = TestServer::start().await;
    let admin = srv.client();
    for b in [A, B] {
        admin
            .create_bucket()
            .bucket(b)
            .send()
            .await
            .expect("create");
        admin
            .put_object()
            .bucket(b)
            .key("seed.txt")
            .body(ByteStream::from_static(b"seed"))
            .send()
            .await
            .expect("seed");
    }
    use Op::*;
    let cases = [
        Case {
            role: "none",
            scope: None,
            expect: &[
                (ListBuckets, A, false),
                (HeadBucket, A, false),
                (Get, A, false),
                (Put, A, false),
                (List, A, false),
                (CreateBucket, A, false),
            ],
        },
        Case {
            role: "bucket-read",
            scope: None,
            expect: &[
                (ListBuckets, A, true),
                (ListBuckets, B, true),
                (HeadBucket, A, true),
                (Get, A, true),
                (List, B, true),
                (Put, A, false),
                (Delete, A, false),
                (Copy, A, false),
                (CreateBucket, A, false),
                (DeleteBucket, B, false),
            ],
        },
        Case {
            role: "bucket-read",
            scope: Some(A),
            expect: &[
                (ListBuckets, A, true),
                (ListBuckets, B, false),
                (Get, A, true),
                (List, A, true),
                (Get, B, false),
                (List, B, false),
                (HeadBucket, B, false),
                (Put, A, false),
            ],
        },
        Case {
            role: "bucket-write",
            scope: Some(A),
            expect: &[
                (Put, A, true),
                (Get, A, true),
                (Delete, A, true),
                (Copy, A, true),
                (List, A, true),
                (Put, B, false),
                (Get, B, false),
                (CreateBucket, A, false),
                (DeleteBucket, A, false),
            ],
        },
        Case {
            role: "bucket-write",
            scope: None,
            expect: &[(Put, A, true), (Put, B, true), (CreateBucket, A, false)],
        },
        Case {
            role: "bucket-admin",
            scope: None,
            expect: &[
                (CreateBucket, A, true),
                (Put, B, true),
                (Get, B, true),
                (ListBuckets, B, true),
            ],
        },
        Case {
            role: "panel-viewer",
            scope: None,
            expect: &[(ListBuckets, A, false), (Get, A, false), (Put, A, false)],
        },
        Case {
            role: "admin",
            scope: None,
            expect: &[
                (ListBuckets, A, true),
                (CreateBucket, B, true),
                (Put, A, true),
                (Get, B, true),
                (Delete, B, true),
            ],
        },
    ];
    let store = srv.store();
    for (i, case) in cases.iter().enumerate() {
        let name = format!("user{i}");
        let u = srv.new_user(&name).await;
        if case.role != "none" {
            let scope = case
                .scope
                .map_or(Scope::Global, |b| Scope::Bucket(b.into()));
            store
                .bind(
                    &srv.admin(),
                    SubjectRef::User(u.user_id.clone()),
                    case.role,
                    scope,
                )
                .await
                .expect("bind");
        }
        let c = client_with(srv.addr, &u.access_key, &u.secret_key);
        for (j, (op, bucket, want)) in case.expect.iter().enumerate() {
            let got = attempt(&c, *op, bucket, &format!("c{i}o{j}")).await;
            assert_eq!(
                got,
                Ok(*want),
                "role {} scope {:?}: {op:?} on {bucket}",
                case.role,
                case.scope
            );
        }
    }
}

#[tokio::test]
async fn groups_apply_to_members_and_unbinding_is_immediate() {
    let srv = TestServer::start().await;
    srv.client()
        .create_bucket()
        .bucket(A)
        .send()
        .await
        .expect("create");
    srv.client()
        .put_object()
        .bucket(A)
        .key("seed.txt")
        .body(ByteStream::from_static(b"seed"))
        .send()
        .await
        .expect("seed");
    let (store, admin) = (srv.store(), srv.admin());
    let alice = srv.new_user("alice").await;
    let bob = srv.new_user("bob").await;
    let ca = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    let cb = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    store
        .create_group(&admin, "writers", "people who write")
        .await
        .expect("group");
    store
        .bind(
            &admin,
            SubjectRef::Group("writers".into()),
            "bucket-write",
            Scope::Bucket(A.into()),
        )
        .await
        .expect("bind group");
    assert_eq!(attempt(&ca, Op::Put, A, "1").await, Ok(false));
    store
        .set_group_member(&admin, "writers", "alice", true)
        .await
        .expect("add");
    assert_eq!(
        attempt(&ca, Op::Put, A, "2").await,
        Ok(true),
        "member of writers"
    );
    assert_eq!(
        attempt(&cb, Op::Put, A, "3").await,
        Ok(false),
        "bob is not a member"
    );
    store
        .set_group_member(&admin, "writers", &alice.user_id, false)
        .await
        .expect("remove");
    assert_eq!(
        attempt(&ca, Op::Put, A, "4").await,
        Ok(false),
        "removed from the group"
    );

    // A direct binding, then unbinding: the very next request is denied.
    store
        .bind(
            &admin,
            SubjectRef::User("bob".into()),
            "bucket-read",
            Scope::Global,
        )
        .await
        .expect("bind bob");
    assert_eq!(attempt(&cb, Op::Get, A, "5").await, Ok(true));
    store
        .unbind(
            &admin,
            SubjectRef::User("bob".into()),
            "bucket-read",
            Scope::Global,
        )
        .await
        .expect("unbind");
    assert_eq!(attempt(&cb, Op::Get, A, "6").await, Ok(false));

    // The everyone group reaches every registered user.
    store
        .bind(
            &admin,
            SubjectRef::Group("everyone".into()),
            "bucket-read",
            Scope::Bucket(A.into()),
        )
        .await
        .expect("bind everyone");
    assert_eq!(attempt(&ca, Op::Get, A, "7").await, Ok(true));
    assert_eq!(attempt(&cb, Op::List, A, "8").await, Ok(true));
    assert_eq!(attempt(&cb, Op::Put, A, "9").await, Ok(false));
}

#[tokio::test]
async fn custom_roles_and_bucket_deletion_drops_scoped_grants() {
    let srv = TestServer::start().await;
    let (store, admin) = (srv.store(), srv.admin());
    srv.client()
        .create_bucket()
        .bucket(A)
        .send()
        .await
        .expect("create");
    srv.client()
        .put_object()
        .bucket(A)
        .key("seed.txt")
        .body(ByteStream::from_static(b"seed"))
        .send()
        .await
        .expect("seed");
    let rule = Rule::parse("list", "buckets,objects").expect("rule");
    store
        .create_role(&admin, "lister", "list only", vec![rule])
        .await
        .expect("role");
    let u = srv.new_user("carol").await;
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    store
        .bind(
            &admin,
            SubjectRef::User("carol".into()),
            "lister",
            Scope::Bucket(A.into()),
        )
        .await
        .expect("bind");
    assert_eq!(attempt(&c, Op::List, A, "1").await, Ok(true));
    assert_eq!(attempt(&c, Op::Get, A, "2").await, Ok(false));
    // In use: refused.
    let e = store
        .delete_role(&admin, "lister")
        .await
        .expect_err("in use");
    assert!(e.to_string().contains("unbind"), "{e}");
    // Delete the bucket (as admin), re-create it: carol's scoped grant did not survive.
    srv.client()
        .delete_object()
        .bucket(A)
        .key("seed.txt")
        .send()
        .await
        .expect("empty");
    srv.client()
        .delete_bucket()
        .bucket(A)
        .send()
        .await
        .expect("delete");
    srv.client()
        .create_bucket()
        .bucket(A)
        .send()
        .await
        .expect("re-create");
    assert_eq!(attempt(&c, Op::List, A, "3").await, Ok(false));
    store
        .delete_role(&admin, "lister")
        .await
        .expect("no longer in use");
}

#[tokio::test]
async fn system_bucket_is_for_the_system_role_only() {
    let srv = TestServer::start().await;
    let sys = "gatehouse-system";
    let admin = srv.client();
    let r = admin
        .put_object()
        .bucket(sys)
        .key("x")
        .body(ByteStream::from_static(b"no"))
        .send()
        .await;
    assert_eq!(code(&r.expect_err("admin may not write")), "AccessDenied");
    let listed = admin.list_buckets().send().await.expect("list");
    assert!(
        listed.buckets().iter().all(|b| b.name() != Some(sys)),
        "hidden from admin"
    );

    let svc = srv
        .store()
        .ensure_service_user("gatehouse")
        .await
        .expect("svc");
    assert_eq!(svc.name, "svc:gatehouse");
    let c = client_with(srv.addr, &svc.access_key, &svc.secret_key);
    c.put_object()
        .bucket(sys)
        .key("state/x")
        .body(ByteStream::from_static(b"yes"))
        .send()
        .await
        .expect("system writes the system bucket");
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket(sys)
                .key("state/x")
                .send()
                .await
                .expect("get")
        )
        .await,
        b"yes"
    );
    // The system role reaches nothing else.
    admin
        .create_bucket()
        .bucket(A)
        .send()
        .await
        .expect("create");
    assert_eq!(attempt(&c, Op::Put, A, "s").await, Ok(false));
    // Nobody deletes the system bucket.
    c.delete_object()
        .bucket(sys)
        .key("state/x")
        .send()
        .await
        .expect("delete object");
    let r = c.delete_bucket().bucket(sys).send().await;
    assert_eq!(code(&r.expect_err("cannot delete")), "AccessDenied");
    let r = admin.delete_bucket().bucket(sys).send().await;
    assert_eq!(code(&r.expect_err("cannot delete")), "AccessDenied");
}
