//! SSE-KMS and the key service (issue 23, decision 0046), with aws-sdk-s3, raw HTTP, nfs3_client,
//! the admin API and the CLI: keys named by id, alias or ARN; the headers on writes and
//! answers; a key's `use` as a permission of its own (S3 and NFS); disable, rotate, scheduled
//! deletion and its cancellation; copies between keys and modes; bucket default keys; the
//! audit log; backups with and without the key material.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use gatehouse_store::kms::KeySpec;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::Scope;

use crate::common::*;
use crate::encryption::{
    get, marked, md5_of, plaintext_in, put_bucket_default, upload_parts_and_complete,
};

/// A key made by the admin; its id.
async fn new_key(srv: &TestServer, alias: &str) -> String {
    srv.store()
        .kms()
        .create(
            &srv.admin(),
            KeySpec {
                alias: Some(alias.into()),
                description: format!("{alias} data"),
            },
        )
        .await
        .expect("create key")
        .id
}

/// A PUT with SSE-KMS under `key`; the answer's key id.
async fn put_kms(c: &aws_sdk_s3::Client, b: &str, k: &str, key: &str, body: Vec<u8>) -> String {
    let put = c
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from(body))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .send()
        .await
        .expect("put sse-kms");
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    put.ssekms_key_id().expect("key id answered").to_string()
}

/// A PUT under `key` that must be refused: its error.
async fn put_kms_refused(
    c: &aws_sdk_s3::Client,
    b: &str,
    k: &str,
    key: &str,
    body: &'static [u8],
) -> aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::put_object::PutObjectError,
    aws_sdk_s3::config::http::HttpResponse,
> {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(body))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .send()
        .await
        .expect_err("refused")
}

async fn s3_error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn user_client(srv: &TestServer, u: &gatehouse_store::ops::Registered) -> aws_sdk_s3::Client {
    client_with(srv.addr, &u.access_key, &u.secret_key)
}

async fn bind(srv: &TestServer, u: &gatehouse_store::ops::Registered, role: &str, scope: Scope) {
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            role,
            scope,
        )
        .await
        .expect("bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_objects_are_sealed_under_their_key_and_read_with_it() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let id = new_key(&srv, "app").await;
    c.create_bucket().bucket("kmsb").send().await.expect("mb");
    let big = marked("KMSBIG", 3 << 20);
    let small = marked("KMSSMALL", 300);
    // By alias, by id, by ARN: one key.
    let arn = put_kms(&c, "kmsb", "big", "alias/app", big.clone()).await;
    assert!(
        arn.starts_with("arn:aws:kms:") && arn.ends_with(&format!(":key/{id}")),
        "{arn}"
    );
    assert_eq!(put_kms(&c, "kmsb", "small", &id, small.clone()).await, arn);
    assert_eq!(
        put_kms(&c, "kmsb", "by-arn", &arn, small.clone()).await,
        arn
    );
    // A bare alias, as MinIO and Ceph RGW clients name keys.
    assert_eq!(put_kms(&c, "kmsb", "bare", "app", small.clone()).await, arn);
    for (k, body) in [("big", &big), ("small", &small)] {
        let o = c
            .get_object()
            .bucket("kmsb")
            .key(k)
            .send()
            .await
            .expect("get");
        assert_eq!(
            o.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(o.ssekms_key_id(), Some(arn.as_str()));
        // An SSE-KMS ETag is no MD5 of the content (AWS documents it).
        assert_ne!(
            o.e_tag(),
            Some(format!("\"{}\"", hex::encode(md5_of(body))).as_str()),
            "{k}"
        );
        assert_eq!(&body_bytes(o).await, body, "{k}");
        let h = c
            .head_object()
            .bucket("kmsb")
            .key(k)
            .send()
            .await
            .expect("head");
        assert_eq!(h.ssekms_key_id(), Some(arn.as_str()));
    }
    let r = c
        .get_object()
        .bucket("kmsb")
        .key("big")
        .range("bytes=1048000-1049999")
        .send()
        .await
        .expect("range");
    assert_eq!(body_bytes(r).await, &big[1_048_000..1_050_000]);
    // Multipart under the key, with Bucket Keys asked for.
    let up = c
        .create_multipart_upload()
        .bucket("kmsb")
        .key("mp")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/app")
        .bucket_key_enabled(true)
        .send()
        .await
        .expect("create upload");
    assert_eq!(up.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(up.bucket_key_enabled(), Some(true));
    let uid = up.upload_id().expect("id").to_string();
    let parts = [marked("KMSPARTA", 5 << 20), marked("KMSPARTB", 1000)];
    let fin = upload_parts_and_complete(
        &c,
        ("kmsb", "mp"),
        &uid,
        &parts,
        &ServerSideEncryption::AwsKms,
    )
    .await;
    assert_eq!(fin.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(fin.bucket_key_enabled(), Some(true));
    assert_eq!(
        get(&c, "kmsb", "mp").await.0,
        [parts[0].clone(), parts[1].clone()].concat()
    );
    // Audited: reads of `big` per object; under Bucket Keys (`mp`) per bucket, no object named.
    let events = srv
        .store()
        .kms()
        .audit(&srv.admin(), Some(&id), 100)
        .await
        .expect("audit");
    assert!(
        events
            .iter()
            .any(|e| e.op == "decrypt" && e.object.as_deref() == Some("big")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.op == "decrypt"
            && e.bucket.as_deref() == Some("kmsb")
            && e.object.is_none()),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.object.as_deref() == Some("mp")),
        "{events:?}"
    );
    // An encryption context is taken, echoed and bound; a malformed one is refused.
    let ctx = base64_of(br#"{"project":"apollo"}"#);
    let put = c
        .put_object()
        .bucket("kmsb")
        .key("ctx")
        .body(ByteStream::from(small.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&id)
        .ssekms_encryption_context(&ctx)
        .send()
        .await
        .expect("put with context");
    assert_eq!(put.ssekms_encryption_context(), Some(ctx.as_str()));
    assert_eq!(get(&c, "kmsb", "ctx").await.0, small);
    for (headers, want) in [
        (
            vec![
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", id.as_str()),
                ("x-amz-server-side-encryption-context", "bm90IGpzb24="),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                ("x-amz-server-side-encryption", "aws:kms"),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    "00000000-0000-4000-8000-000000000000",
                ),
            ],
            "KMS.NotFoundException",
        ),
        (
            vec![
                ("x-amz-server-side-encryption", "AES256"),
                ("x-amz-server-side-encryption-aws-kms-key-id", id.as_str()),
            ],
            "InvalidArgument",
        ),
        (
            vec![("x-amz-server-side-encryption-aws-kms-key-id", id.as_str())],
            "InvalidArgument",
        ),
    ] {
        let (status, body) = s3_error(
            srv.signed("PUT", "/kmsb/refused", None, &headers, b"x".to_vec())
                .await,
        )
        .await;
        assert_eq!(status, 400, "{headers:?}: {body}");
        assert!(body.contains(want), "{headers:?}: {body}");
    }
    // The headers on an operation that does not take them.
    let (status, _) = s3_error(
        srv.signed(
            "GET",
            "/kmsb/small",
            None,
            &[("x-amz-server-side-encryption-aws-kms-key-id", id.as_str())],
            Vec::new(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        c.head_object()
            .bucket("kmsb")
            .key("refused")
            .send()
            .await
            .is_err(),
        "nothing stored by a refused write"
    );
    let dir = srv.stop().await;
    for marker in ["KMSBIG", "KMSSMALL", "KMSPARTA", "KMSPARTB"] {
        assert_eq!(
            plaintext_in(dir.path(), marker),
            Vec::<PathBuf>::new(),
            "{marker}"
        );
    }
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Using a key is a permission of its own: a user who may write and read the bucket may not
/// seal or open with a key it was not given (S3 and NFS alike); `key-user` bound to one key
/// gives that key only; `key-admin` manages keys without using them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn using_a_key_takes_its_own_grant() {
    use crate::nfs::{create, lookup, read_all, write, writer};
    use nfs3_client::nfs3_types::nfs3::{READ3args, createhow3, nfsstat3, sattr3};
    let srv = TestServer::start().await;
    let c = srv.client();
    let k1 = new_key(&srv, "one").await;
    let k2 = new_key(&srv, "two").await;
    c.create_bucket().bucket("grants").send().await.expect("mb");
    put_kms(&c, "grants", "sealed", &k1, marked("GRANTS", 100)).await;
    let u = srv.new_user("writer").await;
    bind(&srv, &u, "bucket-write", Scope::Bucket("grants".into())).await;
    let uc = user_client(&srv, &u);
    // Plain writes and reads of the bucket work; the key's object does not open.
    uc.put_object()
        .bucket("grants")
        .key("plain")
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .expect("plain put");
    let e = uc
        .get_object()
        .bucket("grants")
        .key("sealed")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "AccessDenied");
    // HEAD needs no key (AWS: kms:Decrypt is for the bytes).
    uc.head_object()
        .bucket("grants")
        .key("sealed")
        .send()
        .await
        .expect("head");
    let e = put_kms_refused(&uc, "grants", "new", &k1, b"n").await;
    assert_eq!(code(&e), "AccessDenied");
    // key-user on key one: that key works, key two does not.
    bind(&srv, &u, "key-user", Scope::Key("alias/one".into())).await;
    let uc = user_client(&srv, &u);
    assert_eq!(get(&uc, "grants", "sealed").await.0, marked("GRANTS", 100));
    put_kms(&uc, "grants", "new", "alias/one", b"n".to_vec()).await;
    let e = put_kms_refused(&uc, "grants", "other", &k2, b"o").await;
    assert_eq!(code(&e), "AccessDenied");
    // A copy of the key's object needs the key too (AWS: kms:Decrypt on the source).
    let v = srv.new_user("viewer").await;
    bind(&srv, &v, "bucket-write", Scope::Bucket("grants".into())).await;
    let e = user_client(&srv, &v)
        .copy_object()
        .bucket("grants")
        .key("copied")
        .copy_source("grants/sealed")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "AccessDenied");
    // key-admin manages keys, and uses none.
    let a = srv.new_user("keyadmin").await;
    bind(&srv, &a, "key-admin", Scope::Global).await;
    bind(&srv, &a, "bucket-write", Scope::Bucket("grants".into())).await;
    let admin_p = srv
        .store()
        .lookup_credential(&a.access_key)
        .expect("lookup")
        .expect("user")
        .1;
    srv.store()
        .kms()
        .rotate(&admin_p, &k2)
        .await
        .expect("key-admin rotates");
    let e = user_client(&srv, &a)
        .get_object()
        .bucket("grants")
        .key("sealed")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "AccessDenied");
    let writer_p = srv
        .store()
        .lookup_credential(&u.access_key)
        .expect("lookup")
        .expect("user")
        .1;
    assert!(
        srv.store().kms().rotate(&writer_p, &k1).await.is_err(),
        "key-user manages nothing"
    );
    assert!(
        srv.store()
            .kms()
            .list(&writer_p)
            .expect("list")
            .iter()
            .all(|k| k.id == k1),
        "sees its key only"
    );
    // NFS: a share whose default is key one; a peer acting as a user without the key is refused.
    let (mut nfs, root) = writer(&srv, "kmsshare").await;
    srv.store()
        .set_bucket_encryption(
            &srv.admin(),
            "fs+kmsshare",
            Some(gatehouse_store::sse::BucketEncryption {
                mode: gatehouse_store::sse::SseMode::Kms {
                    key: srv.store().kms().find(&k1).expect("key").num,
                    bucket_key: false,
                    context: [0; 16],
                },
                bucket_key: false,
            }),
        )
        .await
        .expect("share default");
    let f = create(
        &mut nfs,
        &root,
        "f",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut nfs, &f, 0, &marked("NFSKMS", 200_000))
        .await
        .expect("write");
    assert_eq!(read_all(&mut nfs, &f).await, marked("NFSKMS", 200_000));
    assert_eq!(
        get(&c, "fs--kmsshare", "f").await.1,
        Some(ServerSideEncryption::AwsKms)
    );
    drop(nfs);
    // 127.0.0.1 now acts as a user who may read and write the share but not use the key.
    let nu = srv.new_user("nfsuser").await;
    bind(
        &srv,
        &nu,
        "bucket-write",
        Scope::Bucket("fs+kmsshare".into()),
    )
    .await;
    srv.store()
        .remove_peer(&srv.admin(), "127.0.0.1")
        .await
        .expect("unpeer");
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &nu.user_id, "")
        .await
        .expect("peer");
    let mut nfs = crate::nfs::mount(&srv, "kmsshare").await.expect("mount");
    let root = nfs.root_nfs_fh3();
    let (h, _) = lookup(&mut nfs, &root, "f").await.expect("lookup");
    let r = nfs
        .read(&READ3args {
            file: h.clone(),
            offset: 0,
            count: 4096,
        })
        .await
        .expect("rpc");
    match r {
        nfs3_client::nfs3_types::nfs3::Nfs3Result::Err((s, _)) => {
            assert_eq!(s, nfsstat3::NFS3ERR_ACCES)
        }
        nfs3_client::nfs3_types::nfs3::Nfs3Result::Ok(_) => panic!("read without the key's use"),
    }
    assert_eq!(
        write(&mut nfs, &h, 0, b"x").await,
        Err(nfsstat3::NFS3ERR_ACCES)
    );
    // Attributes are no use of the key: chmod works without it.
    let mode = nfs3_client::nfs3_types::nfs3::sattr3 {
        mode: nfs3_client::nfs3_types::nfs3::set_mode3::Some(0o600),
        ..Default::default()
    };
    let after = crate::nfs_times::setattr_guarded(&mut nfs, &h, mode, None)
        .await
        .expect("chmod without the key");
    assert_eq!(after.mode & 0o777, 0o600);
    // The audit log says who was refused.
    let events = srv
        .store()
        .kms()
        .audit(&srv.admin(), Some(&k1), 1000)
        .await
        .expect("audit");
    assert!(
        events
            .iter()
            .any(|e| !e.allowed && e.actor == "nfsuser" && e.op == "decrypt"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.allowed && e.actor == "writer" && e.op == "encrypt"),
        "{events:?}"
    );
    // What NFS wrote under the key is nowhere on the disk in the clear.
    drop(nfs);
    let dir = srv.stop().await;
    for marker in ["NFSKMS", "GRANTS"] {
        assert_eq!(
            plaintext_in(dir.path(), marker),
            Vec::<PathBuf>::new(),
            "{marker}"
        );
    }
}

/// Disable, rotate, schedule deletion, cancel, delete: what each does to reads and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_life_disable_rotate_delete() {
    let srv = TestServer::start_with(|raw| raw.kms.min_pending_days = Some(0)).await;
    let c = srv.client();
    let admin = srv.admin();
    let kms = srv.store().kms();
    let id = new_key(&srv, "life").await;
    c.create_bucket().bucket("life").send().await.expect("mb");
    put_kms(&c, "life", "v1", &id, marked("LIFEV1", 5000)).await;
    c.put_object()
        .bucket("life")
        .key("s3")
        .body(ByteStream::from(marked("LIFES3", 5000)))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("sse-s3");
    // Disabled: nothing opens or seals with it.
    kms.set_enabled(&admin, &id, false).await.expect("disable");
    let e = c
        .get_object()
        .bucket("life")
        .key("v1")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "KMS.DisabledException");
    let e = put_kms_refused(&c, "life", "v2", &id, b"x").await;
    assert_eq!(code(&e), "KMS.DisabledException");
    kms.set_enabled(&admin, &id, true).await.expect("enable");
    assert_eq!(get(&c, "life", "v1").await.0, marked("LIFEV1", 5000));
    // Rotated: new writes use version 2, version 1's objects still open; nothing rewritten.
    let info = kms.rotate(&admin, &id).await.expect("rotate");
    assert_eq!(info.current_version, 2);
    put_kms(&c, "life", "v2", &id, marked("LIFEV2", 5000)).await;
    assert_eq!(get(&c, "life", "v1").await.0, marked("LIFEV1", 5000));
    assert_eq!(get(&c, "life", "v2").await.0, marked("LIFEV2", 5000));
    let events = kms.audit(&admin, Some(&id), 100).await.expect("audit");
    assert!(
        events
            .iter()
            .any(|e| e.op == "encrypt" && e.version == Some(2)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.op == "decrypt" && e.version == Some(1)),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.op == "rotate"), "{events:?}");
    // Pending deletion: unusable, and cancellable (back disabled).
    let far = kms
        .schedule_deletion(&admin, &id, Some(30))
        .await
        .expect("schedule");
    assert_eq!(far.state, "PendingDeletion");
    assert!(far.deletion_due_ms.is_some());
    let e = c
        .get_object()
        .bucket("life")
        .key("v1")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "KMS.KMSInvalidStateException");
    assert!(
        kms.schedule_deletion(&admin, &id, Some(31)).await.is_err(),
        "31 days"
    );
    let back = kms.cancel_deletion(&admin, &id).await.expect("cancel");
    assert_eq!(back.state, "Disabled");
    kms.set_enabled(&admin, &id, true).await.expect("enable");
    assert_eq!(get(&c, "life", "v1").await.0, marked("LIFEV1", 5000));
    // Deleted (a waiting period of 0 days, allowed by this server's kms.min_pending_days).
    kms.schedule_deletion(&admin, &id, Some(0))
        .await
        .expect("schedule now");
    let mut state = String::new();
    for _ in 0..50 {
        state = kms
            .describe(&admin, &id)
            .expect("describe")
            .state
            .to_string();
        if state == "Deleted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "Deleted");
    for k in ["v1", "v2"] {
        let e = c
            .get_object()
            .bucket("life")
            .key(k)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(code(&e), "KMS.NotFoundException", "{k}");
    }
    assert!(
        kms.set_enabled(&admin, &id, true).await.is_err(),
        "a deleted key stays deleted"
    );
    // Other objects are untouched; fsck (no key needed) is clean.
    assert_eq!(get(&c, "life", "s3").await.0, marked("LIFES3", 5000));
    let dir = srv.stop().await;
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// Copies between keys and modes: into another key or out of the key service they are sealed
/// again under the destination's; a plain copy of a key's object stays under its key.
/// Bucket default keys apply to writes without headers and to `aws:kms` without a key id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_and_bucket_defaults_with_keys() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let admin = srv.admin();
    let a = new_key(&srv, "a").await;
    let b = new_key(&srv, "b").await;
    c.create_bucket().bucket("src").send().await.expect("mb");
    c.create_bucket().bucket("dst").send().await.expect("mb");
    let body = marked("COPYKMS", 2 << 20);
    let arn_a = put_kms(&c, "src", "o", &a, body.clone()).await;
    // Into key b: readable with key a disabled.
    let r = c
        .copy_object()
        .bucket("dst")
        .key("to-b")
        .copy_source("src/o")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/b")
        .send()
        .await
        .expect("copy to b");
    assert!(r.ssekms_key_id().is_some_and(|k| k.ends_with(&b)));
    c.copy_object()
        .bucket("dst")
        .key("to-s3")
        .copy_source("src/o")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy to sse-s3");
    let plain = c
        .copy_object()
        .bucket("dst")
        .key("plain-copy")
        .copy_source("src/o")
        .send()
        .await
        .expect("plain copy");
    assert_eq!(
        plain.ssekms_key_id(),
        Some(arn_a.as_str()),
        "stays under its key"
    );
    srv.store()
        .kms()
        .set_enabled(&admin, &a, false)
        .await
        .expect("disable a");
    assert_eq!(
        get(&c, "dst", "to-b").await,
        (body.clone(), Some(ServerSideEncryption::AwsKms))
    );
    assert_eq!(
        get(&c, "dst", "to-s3").await,
        (body.clone(), Some(ServerSideEncryption::Aes256))
    );
    let e = c
        .get_object()
        .bucket("dst")
        .key("plain-copy")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(code(&e), "KMS.DisabledException");
    srv.store()
        .kms()
        .set_enabled(&admin, &a, true)
        .await
        .expect("enable a");
    // Plain bytes copied into a key.
    c.put_object()
        .bucket("src")
        .key("clear")
        .body(ByteStream::from(marked("CLEARCOPY", 3000)))
        .send()
        .await
        .expect("put clear");
    put_kms_copy(&c, "src/clear", "dst", "sealed-copy", &b).await;
    assert_eq!(
        get(&c, "dst", "sealed-copy").await.1,
        Some(ServerSideEncryption::AwsKms)
    );
    // A bucket default key: by alias, shown by ARN; writes without headers use it, and so
    // does aws:kms without a key id.
    put_bucket_default(&c, "dst", ServerSideEncryption::AwsKms, Some("alias/b")).await;
    let got = c
        .get_bucket_encryption()
        .bucket("dst")
        .send()
        .await
        .expect("get");
    let rule = &got
        .server_side_encryption_configuration()
        .expect("config")
        .rules()[0];
    let d = rule
        .apply_server_side_encryption_by_default()
        .expect("default");
    assert_eq!(d.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert!(d.kms_master_key_id().is_some_and(|k| k.ends_with(&b)));
    let p = c
        .put_object()
        .bucket("dst")
        .key("defaulted")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .expect("put");
    assert!(p.ssekms_key_id().is_some_and(|k| k.ends_with(&b)));
    let p = c
        .put_object()
        .bucket("dst")
        .key("keyless")
        .body(ByteStream::from_static(b"d"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .expect("aws:kms without a key id");
    assert!(p.ssekms_key_id().is_some_and(|k| k.ends_with(&b)));
    // An unknown default key is refused.
    let r = srv
        .signed(
            "PUT",
            "/dst",
            Some("encryption"),
            &[],
            b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/nope</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>".to_vec(),
        )
        .await;
    let (status, text) = s3_error(r).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("KMS.NotFoundException"), "{text}");
}

async fn put_kms_copy(c: &aws_sdk_s3::Client, source: &str, b: &str, k: &str, key: &str) {
    c.copy_object()
        .bucket(b)
        .key(k)
        .copy_source(source)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .send()
        .await
        .expect("copy into a key");
}

/// A backup carries the keys (their records, and master.key they derive from): restored, the
/// data reads; with another master key it does not decrypt, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_carry_the_keys() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let id = new_key(&srv, "bk").await;
    c.create_bucket()
        .bucket("bkupkms")
        .send()
        .await
        .expect("mb");
    put_kms(&c, "bkupkms", "o", &id, marked("BACKUPKMS", 300_000)).await;
    let mut tar = Vec::new();
    srv.store()
        .backup_snapshot(&srv.admin())
        .expect("snapshot")
        .write_tar(&mut tar)
        .expect("tar");
    srv.stop().await;
    let restore = |master: Option<&[u8]>| {
        let unpacked = tempfile::tempdir().expect("unpacked");
        gatehouse_store::backup::unpack_tar(&mut tar.as_slice(), unpacked.path()).expect("unpack");
        if let Some(m) = master {
            std::fs::write(unpacked.path().join("master.key"), m).expect("other key");
        }
        let restored = tempfile::tempdir().expect("restored");
        gatehouse_store::backup::restore_dir(unpacked.path(), restored.path()).expect("restore");
        restored
    };
    let srv = TestServer::start_in(restore(None)).await;
    let c = srv.client();
    assert_eq!(
        get(&c, "bkupkms", "o").await.0,
        marked("BACKUPKMS", 300_000)
    );
    assert_eq!(
        srv.store()
            .kms()
            .describe(&srv.admin(), "alias/bk")
            .expect("key")
            .id,
        id
    );
    srv.stop().await;
    let other = format!("{}\n", "ab".repeat(32));
    let srv = TestServer::start_in(restore(Some(other.as_bytes()))).await;
    let (info, pins) = srv
        .store()
        .open_object(&srv.admin(), "bkupkms", "o")
        .expect("the record opens: metadata is not encrypted");
    let mut s = std::pin::pin!(srv.store().read_data_pinned_for(
        &info.record.data,
        0..info.record.size,
        pins,
        None
    ));
    let first = futures_util::StreamExt::next(&mut s)
        .await
        .expect("a piece");
    let e = first.expect_err("read with another master key");
    assert!(e.to_string().contains("does not decrypt"), "{e}");
}

/// The admin API and the CLI: keys created, listed, described, rotated, disabled, scheduled
/// for deletion and cancelled; the audit log; a bucket's default key; a binding scoped to a
/// key; what a user without `manage` may not do; bad input refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_through_the_api_and_the_cli() {
    use crate::admin_api::{Api, cli, ok};
    use serde_json::json;
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call(
            "POST",
            "/api/kms/keys",
            Some(json!({ "alias": "alias/web", "description": "web" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let id = r.1["id"].as_str().expect("id").to_string();
    assert_eq!(r.1["state"], json!("Enabled"));
    assert_eq!(r.1["current_version"], json!(1));
    for (body, status) in [
        (json!({ "alias": "alias/web" }), 409),
        (json!({ "alias": "aws/s3" }), 400),
        (json!({ "alias": "bad name" }), 400),
        (json!({ "other": 1 }), 400),
    ] {
        let r = api.call("POST", "/api/kms/keys", Some(body.clone())).await;
        assert_eq!(r.0, status, "{body} {r:?}");
    }
    let r = api.call("GET", "/api/kms/keys", None).await;
    assert_eq!(r.1.as_array().map(Vec::len), Some(1), "{r:?}");
    let r = api.call("GET", "/api/kms/keys/alias%2Fweb", None).await;
    assert_eq!((r.0, r.1["id"].as_str()), (200, Some(id.as_str())), "{r:?}");
    let r = api
        .call("POST", &format!("/api/kms/keys/{id}/rotate"), None)
        .await;
    assert_eq!(r.1["current_version"], json!(2), "{r:?}");
    let r = api
        .call("POST", &format!("/api/kms/keys/{id}/disable"), None)
        .await;
    assert_eq!(r.1["state"], json!("Disabled"), "{r:?}");
    let r = api
        .call(
            "POST",
            &format!("/api/kms/keys/{id}/schedule-deletion"),
            Some(json!({ "days": 3 })),
        )
        .await;
    assert_eq!(r.0, 400, "3 days is below the 7-day minimum: {r:?}");
    let r = api
        .call(
            "POST",
            &format!("/api/kms/keys/{id}/schedule-deletion"),
            Some(json!({ "days": 7 })),
        )
        .await;
    assert_eq!(r.1["state"], json!("PendingDeletion"), "{r:?}");
    let r = api
        .call("POST", &format!("/api/kms/keys/{id}/rotate"), None)
        .await;
    assert_eq!(r.0, 409, "no rotation while pending deletion: {r:?}");
    let r = api
        .call("POST", &format!("/api/kms/keys/{id}/cancel-deletion"), None)
        .await;
    assert_eq!(r.1["state"], json!("Disabled"), "{r:?}");
    let r = api
        .call("POST", &format!("/api/kms/keys/{id}/enable"), None)
        .await;
    assert_eq!(r.1["state"], json!("Enabled"), "{r:?}");
    let r = api
        .call(
            "GET",
            "/api/kms/keys/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(r.0, 404, "{r:?}");
    let r = api
        .call("GET", &format!("/api/kms/keys/{id}/audit?limit=50"), None)
        .await;
    let ops: Vec<&str> =
        r.1.as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["op"].as_str())
            .collect();
    assert_eq!(
        ops,
        [
            "enable",
            "cancel-deletion",
            "schedule-deletion",
            "disable",
            "rotate",
            "create"
        ],
        "{r:?}"
    );
    // A bucket's default key through the API.
    api.call("POST", "/api/buckets", Some(json!({ "name": "apikms" })))
        .await;
    let r = api
        .call(
            "PUT",
            "/api/buckets/apikms/encryption",
            Some(json!({ "algorithm": "aws:kms", "key": "alias/web" })),
        )
        .await;
    assert_eq!(
        (r.0, &r.1["encryption"], r.1["encryption_key"].as_str()),
        (200, &json!("aws:kms"), Some(id.as_str())),
        "{r:?}"
    );
    let r = api
        .call(
            "PUT",
            "/api/buckets/apikms/encryption",
            Some(json!({ "algorithm": "aws:kms", "key": "alias/none" })),
        )
        .await;
    assert_eq!(r.0, 404, "{r:?}");
    // A user with nothing on keys may not list or create them; a binding scoped to the key
    // lets it see that key.
    let u = srv.new_user("plainuser").await;
    let uapi = Api::with(&srv, &u.access_key, &u.secret_key);
    assert_eq!(uapi.call("GET", "/api/kms/keys", None).await.0, 403);
    assert_eq!(
        uapi.call("POST", "/api/kms/keys", Some(json!({}))).await.0,
        403
    );
    let r = api
        .call(
            "POST",
            "/api/bindings",
            Some(json!({ "user": u.user_id, "role": "key-user", "key": "alias/web" })),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(
        r.1["scope"].as_str(),
        Some(id.as_str()),
        "kept by id: {r:?}"
    );
    let r = uapi.call("GET", "/api/kms/keys", None).await;
    assert_eq!(r.1.as_array().map(Vec::len), Some(1), "{r:?}");
    assert_eq!(
        uapi.call("POST", &format!("/api/kms/keys/{id}/disable"), None)
            .await
            .0,
        403
    );
    // The CLI.
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let run = |args: Vec<String>| {
        let creds = creds.clone();
        let home = home.path().to_path_buf();
        let srv = &srv;
        async move {
            let mut all = vec!["--credentials".to_string(), creds];
            all.extend(args);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            ok(&cli(srv, &home, &[], &all).await)
        }
    };
    let v = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let out = run(v("key create --alias cli --description from-cli")).await;
    assert!(
        out.contains("alias/cli") && out.contains("Enabled"),
        "{out}"
    );
    let out = run(v("key list")).await;
    assert!(
        out.contains("alias/web") && out.contains("alias/cli"),
        "{out}"
    );
    let out = run(v("key rotate alias/cli")).await;
    assert!(out.contains("current version:  2"), "{out}");
    let out = run(v("key schedule-deletion alias/cli --days 7")).await;
    assert!(
        out.contains("PendingDeletion") && out.contains("deletion due"),
        "{out}"
    );
    let out = run(v("key cancel-deletion alias/cli")).await;
    assert!(out.contains("Disabled"), "{out}");
    let out = run(v("key audit alias/cli")).await;
    assert!(
        out.contains("cancel-deletion") && out.contains("rotate"),
        "{out}"
    );
    // A disabled key is no bucket default (no write could use it).
    let r = api
        .call(
            "PUT",
            "/api/buckets/apikms/encryption",
            Some(json!({ "algorithm": "aws:kms", "key": "alias/cli" })),
        )
        .await;
    assert_eq!(r.0, 409, "{r:?}");
    let out = run(v("key enable alias/cli")).await;
    assert!(out.contains("Enabled"), "{out}");
    let out = run(v("bucket encryption apikms aws-kms --key alias/cli")).await;
    assert!(out.contains("aws:kms"), "{out}");
    let out = run(v("bucket encryption apikms status")).await;
    assert!(out.contains("aws:kms"), "{out}");
    let out = run(vec![
        "role".into(),
        "bind".into(),
        u.user_id.clone(),
        "key-admin".into(),
        "--kms-key".into(),
        "alias/cli".into(),
    ])
    .await;
    assert!(out.contains("key"), "{out}");
}

/// The console's Keys panel, in headless Chromium (tests/browser/keys.test.mjs).
#[test]
fn console_keys_panel_in_chromium() {
    crate::web_browser::run_in_chromium("keys.test.mjs");
}
