//! File shares end to end: the admin API and CLI create them, S3 clients use their buckets
//! (canonical `fs+<name>` and the `fs--<name>` alias), guest read, quotas, and the lifecycle
//! delete → hidden → re-create restores → retention passes → purged, chunks freed.

use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::ops::NewShare;
use serde_json::{Value, json};

use crate::admin_api::{Api, cli, err, ok};
use crate::common::*;

const DAY_MS: i64 = 86_400_000;

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(body_bytes(o).await),
        Err(e) => Err(code(&e)),
    }
}

#[tokio::test]
async fn create_via_api_then_use_from_s3_by_name_and_by_alias() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({"name": "team-files", "description": "the team", "quota_bytes": 0})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["bucket"], "fs+team-files");
    assert_eq!(r.1["s3_alias"], "fs--team-files");
    assert_eq!(r.1["guest_read"], true);
    assert_eq!(r.1["restored"], false);
    assert_eq!(r.1["state"], "active");
    let expires = r.1["expires_ms"].as_i64().expect("expires");
    let created = r.1["created_ms"].as_i64().expect("created");
    assert!(
        (expires - created - 365 * DAY_MS).abs() < 5_000,
        "default expiry is 365 days"
    );

    // The creator got bucket-admin and everyone got bucket-read: ordinary bindings.
    let (_, b) = api.call("GET", "/api/bindings", None).await;
    let bindings = b.as_array().expect("array");
    let has = |role: &str, subject_kind: &str| {
        bindings.iter().any(|x| {
            x["role"] == role && x["subject_kind"] == subject_kind && x["scope"] == "fs+team-files"
        })
    };
    assert!(has("bucket-admin", "user"), "{b}");
    assert!(has("bucket-read", "group"), "{b}");

    // aws-sdk-s3 sends the canonical name percent-encoded; the alias is the same bucket.
    let c = srv.client();
    put(
        &c,
        "fs+team-files",
        "docs/readme.txt",
        b"hello share".to_vec(),
    )
    .await
    .expect("put by name");
    assert_eq!(
        get(&c, "fs--team-files", "docs/readme.txt")
            .await
            .expect("get by alias"),
        b"hello share"
    );
    put(&c, "fs--team-files", "docs/second.txt", b"2".to_vec())
        .await
        .expect("put by alias");
    let listed = c
        .list_objects_v2()
        .bucket("fs+team-files")
        .prefix("docs/")
        .send()
        .await
        .expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["docs/readme.txt", "docs/second.txt"]);
    // Share path rules still apply.
    assert_eq!(
        put(&c, "fs--team-files", "a//b", b"x".to_vec()).await,
        Err("InvalidArgument".into())
    );

    // Creating it again from S3 (rclone does before every copy) is the usual answer.
    let e = c
        .create_bucket()
        .bucket("fs--team-files")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&e), "BucketAlreadyOwnedByYou");

    // GET /api/shares/{name} shows usage.
    let r = api.call("GET", "/api/shares/team-files", None).await;
    assert_eq!(r.0, 200);
    assert_eq!(r.1["object_count"], 2);
    assert_eq!(r.1["used_bytes"], 12);

    // A plain bucket cannot take the reserved alias prefix, nor be made as fs+.
    let r = api
        .call(
            "POST",
            "/api/buckets",
            Some(json!({"name": "fs--team-files"})),
        )
        .await;
    assert_eq!(r.0, 400, "{r:?}");
    let e = c
        .create_bucket()
        .bucket("fs--other")
        .send()
        .await
        .expect_err("reserved");
    assert_eq!(code(&e), "InvalidBucketName");
}

#[tokio::test]
async fn guest_read_on_and_off_for_an_ordinary_user() {
    let srv = TestServer::start().await;
    let (store, admin) = (srv.store(), srv.admin());
    for (name, guest) in [("open", true), ("closed", false)] {
        store
            .create_share(
                &admin,
                NewShare {
                    name: name.into(),
                    guest_read: Some(guest),
                    ..Default::default()
                },
            )
            .await
            .expect("share");
        put(
            &srv.client(),
            &format!("fs+{name}"),
            "f.txt",
            b"data".to_vec(),
        )
        .await
        .expect("seed");
    }
    let u = srv.new_user("guest").await;
    let c = client_with(srv.addr, &u.access_key, &u.secret_key);
    assert_eq!(get(&c, "fs+open", "f.txt").await, Ok(b"data".to_vec()));
    assert_eq!(get(&c, "fs--open", "f.txt").await, Ok(b"data".to_vec()));
    assert_eq!(
        put(&c, "fs+open", "g.txt", b"no".to_vec()).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        get(&c, "fs+closed", "f.txt").await,
        Err("AccessDenied".into())
    );
    let buckets = c.list_buckets().send().await.expect("list");
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(
        names,
        ["fs--open"],
        "only the guest-readable share is listed"
    );
    let me = store
        .lookup_credential(&u.access_key)
        .expect("lookup")
        .expect("known")
        .1;
    let shares = store.list_shares(&me, false).expect("shares");
    assert_eq!(
        shares.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["open"]
    );
    // A binding opens the closed share to this user.
    store
        .bind(
            &admin,
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-write",
            gatehouse_store::rbac::Scope::Bucket("fs+closed".into()),
        )
        .await
        .expect("bind");
    assert_eq!(
        put(&c, "fs--closed", "g.txt", b"yes".to_vec()).await,
        Ok(())
    );
}

#[tokio::test]
async fn quota_is_enforced_on_every_write_path() {
    let srv = TestServer::start().await;
    let store = srv.store();
    store
        .create_share(
            &srv.admin(),
            NewShare {
                name: "small".into(),
                quota_bytes: 100 << 10,
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let c = srv.client();
    put(&c, "fs+small", "a.bin", vec![1; 80 << 10])
        .await
        .expect("fits");
    assert_eq!(
        put(&c, "fs+small", "b.bin", vec![2; 40 << 10]).await,
        Err("QuotaExceeded".into())
    );
    // Replacing an object counts only the difference.
    put(&c, "fs+small", "a.bin", vec![3; 90 << 10])
        .await
        .expect("replace fits");
    // Server-side copy is a write too.
    let e = c
        .copy_object()
        .bucket("fs+small")
        .key("copy.bin")
        .copy_source("fs+small/a.bin")
        .send()
        .await
        .expect_err("copy over quota");
    assert_eq!(code(&e), "QuotaExceeded");
    let info = store.show_share(&srv.admin(), "small").expect("info");
    assert_eq!(
        info.used_bytes,
        90 << 10,
        "refused writes left nothing behind"
    );
    assert_eq!(info.object_count, 1);
    assert_eq!(
        get(&c, "fs+small", "a.bin").await.expect("get"),
        vec![3; 90 << 10]
    );
}

#[tokio::test]
async fn lifecycle_delete_hides_recreate_restores_retention_purges() {
    let srv = TestServer::start_with(|raw| raw.storage.gc_grace_secs = Some(0)).await;
    let (store, admin) = (srv.store(), srv.admin());
    let api = Api::admin(&srv);
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({"name": "proj", "guest_read": false})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    let c = srv.client();
    // Big enough to be chunk files, not inline.
    let big: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    put(&c, "fs+proj", "data/big.bin", big.clone())
        .await
        .expect("put");
    let chunks_with_data = srv.chunk_files();
    assert!(chunks_with_data >= 3, "{chunks_with_data}");

    // Delete: hidden from S3 and the API at once.
    let r = api.call("DELETE", "/api/shares/proj", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["state"], "deleted");
    let purge_after = r.1["purge_after_ms"].as_i64().expect("purge_after");
    assert_eq!(
        get(&c, "fs+proj", "data/big.bin").await,
        Err("NoSuchBucket".into())
    );
    let buckets = c.list_buckets().send().await.expect("lb");
    assert!(
        buckets
            .buckets()
            .iter()
            .all(|b| b.name() != Some("fs+proj"))
    );
    err(
        &api.call("GET", "/api/shares/proj", None).await,
        404,
        "share.no_such_share",
    );
    let (_, list) = api.call("GET", "/api/shares", None).await;
    assert_eq!(list, json!([]));
    let (_, deleted) = api.call("GET", "/api/shares?deleted=true", None).await;
    assert_eq!(deleted[0]["name"], "proj");
    // Data is kept: GC frees nothing.
    store.gc(Some(std::time::Duration::ZERO)).await.expect("gc");
    assert_eq!(srv.chunk_files(), chunks_with_data);

    // Creating the same name within retention restores the content, and says so.
    let r = api
        .call("POST", "/api/shares", Some(json!({"name": "proj"})))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["restored"], true);
    assert_eq!(get(&c, "fs+proj", "data/big.bin").await.expect("back"), big);

    // Delete again; an early sweep keeps it, a sweep past retention purges it.
    api.call("DELETE", "/api/shares/proj", None).await;
    let now = gatehouse_store::now_unix_ms();
    let early = store.sweep_shares(now + DAY_MS).await.expect("sweep");
    assert_eq!(early.purged, 0);
    let late = store
        .sweep_shares(purge_after.max(now) + 91 * DAY_MS)
        .await
        .expect("sweep");
    assert_eq!((late.purged, late.entries_removed), (1, 1));
    store.gc(Some(std::time::Duration::ZERO)).await.expect("gc");
    assert!(
        srv.chunk_files() < chunks_with_data,
        "purged chunks freed: {} -> {}",
        chunks_with_data,
        srv.chunk_files()
    );
    let r = api.call("POST", "/api/shares/proj/restore", None).await;
    err(&r, 404, "share.no_such_share");
    // The bindings scoped to it went with it.
    let (_, b) = api.call("GET", "/api/bindings", None).await;
    assert!(
        b.as_array()
            .expect("a")
            .iter()
            .all(|x| x["scope"] != "fs+proj"),
        "{b}"
    );

    // The purged bytes no longer count anywhere.
    assert_eq!(store.total_usage().expect("total"), 0);
    // The name is free again: a fresh, empty share.
    let r = api
        .call("POST", "/api/shares", Some(json!({"name": "proj"})))
        .await;
    assert_eq!(
        (r.0, &r.1["restored"], &r.1["object_count"]),
        (201, &json!(false), &json!(0))
    );
    assert_eq!(
        get(&c, "fs+proj", "data/big.bin").await,
        Err("NoSuchKey".into())
    );
    let _ = admin;
}

#[tokio::test]
async fn expiry_tombstones_and_restore_gives_a_fresh_lifetime() {
    let srv = TestServer::start().await;
    let store = srv.store();
    let api = Api::admin(&srv);
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({"name": "temp", "expires_at": "2099-01-01"})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["expires_ms"], 4_070_908_800_000_i64);
    put(&srv.client(), "fs+temp", "x", b"x".to_vec())
        .await
        .expect("put");
    let s = store.sweep_shares(4_070_908_800_000).await.expect("sweep");
    assert_eq!(s.expired, 1);
    assert_eq!(
        get(&srv.client(), "fs+temp", "x").await,
        Err("NoSuchBucket".into())
    );
    let (_, deleted) = api.call("GET", "/api/shares?deleted=true", None).await;
    assert_eq!(deleted[0]["state"], "expired");
    let r = api.call("POST", "/api/shares/temp/restore", None).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(get(&srv.client(), "fs+temp", "x").await, Ok(b"x".to_vec()));
}

#[tokio::test]
async fn bad_requests_are_refused_and_create_nothing() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    for name in [
        "-x",
        "x-",
        "a_b",
        &"a".repeat(64),
        "Team",
        "fs+x",
        "",
        "a b",
        "../x",
    ] {
        let r = api
            .call("POST", "/api/shares", Some(json!({ "name": name })))
            .await;
        assert_eq!(r.0, 400, "{name:?}: {r:?}");
        assert!(
            r.1["error"].as_str().is_some() && r.1["message"].as_str().is_some(),
            "{r:?}"
        );
    }
    let cases = [
        json!({"name": "q", "quota_bytes": (1u64 << 40) + 1}),
        json!({"name": "q", "quota_bytes": -1}),
        json!({"name": "q", "quota_bytes": "10Gi"}),
        json!({"name": "q", "guest_read": "yes"}),
        json!({"name": "q", "colour": "blue"}),
        json!({"name": "q", "expires_at": "2001-01-01"}),
        json!({"name": "q", "expires_at": "next week"}),
        json!({"name": 7}),
        json!(["q"]),
    ];
    for body in cases {
        let r = api.call("POST", "/api/shares", Some(body.clone())).await;
        assert_eq!(r.0, 400, "{body}: {r:?}");
    }
    // Exactly 1 TiB is allowed.
    let r = api
        .call(
            "POST",
            "/api/shares",
            Some(json!({"name": "max", "quota_bytes": 1u64 << 40})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    // A huge body is refused before parsing.
    let huge = json!({"name": "h", "description": "d".repeat(2 << 20)});
    let r = api.call("POST", "/api/shares", Some(huge)).await;
    assert_eq!(r.0, 413, "{r:?}");
    let r = api
        .call("POST", "/api/shares", Some(json!({"name": "max"})))
        .await;
    err(&r, 409, "store.conflict");
    let (_, list) = api.call("GET", "/api/shares", None).await;
    let names: Vec<_> = list
        .as_array()
        .expect("a")
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("max")], "nothing half-created");
    // A plain user may not create shares.
    let u = srv.new_user("nobody").await;
    let r = Api::with(&srv, &u.access_key, &u.secret_key)
        .call("POST", "/api/shares", Some(json!({"name": "mine"})))
        .await;
    err(&r, 403, "rbac.denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_share_commands() {
    let srv = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8");
    let run = |args: Vec<&str>| {
        let mut a = vec!["--credentials", creds];
        a.extend(args);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = run(vec![
        "share",
        "create",
        "docs",
        "--quota",
        "10Gi",
        "--description",
        "Docs",
        "--json",
    ]);
    let out = ok(&cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["quota_bytes"], 10u64 << 30);
    assert_eq!(v["s3_alias"], "fs--docs");
    let args = run(vec!["share", "info", "docs"]);
    let out = ok(&cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await);
    assert!(out.contains("fs--docs") && out.contains("Docs"), "{out}");
    let args = run(vec!["share", "list"]);
    let out = ok(&cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await);
    assert!(out.contains("docs") && out.contains("active"), "{out}");
    let args = run(vec!["share", "delete", "docs"]);
    let out = ok(&cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await);
    assert!(out.contains("kept until"), "{out}");
    let args = run(vec!["share", "restore", "docs"]);
    let out = ok(&cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await);
    assert!(out.contains("Restored share docs"), "{out}");
    // A bad name: a clear error from the server, non-zero exit.
    let args = run(vec!["share", "create", "Bad_Name"]);
    let o = cli(
        &srv,
        h,
        &[],
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("share name"),
        "{o:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_map_addresses_to_users() {
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let u = srv.new_user("nfs-host").await;
    let r = api
        .call(
            "POST",
            "/api/peers",
            Some(json!({"address": "10.0.0.5", "user": "nfs-host"})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["user_id"], u.user_id);
    let p = srv
        .store()
        .peer_principal("10.0.0.5".parse().expect("ip"))
        .expect("lookup")
        .expect("a peer");
    assert_eq!(p.user_id, u.user_id);
    // IPv4-mapped IPv6 is the same host.
    assert!(
        srv.store()
            .peer_principal("::ffff:10.0.0.5".parse().expect("ip"))
            .expect("lookup")
            .is_some()
    );
    // A CIDR block maps every address in it; the most specific entry wins.
    let lan = srv.new_user("lan").await;
    let r = api
        .call(
            "POST",
            "/api/peers",
            Some(json!({"address": "10.0.7.9/16", "user": "lan"})),
        )
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["address"], "10.0.0.0/16", "host bits are cleared");
    let who = |ip: &str| {
        srv.store()
            .peer_principal(ip.parse().expect("ip"))
            .expect("lookup")
            .map(|p| p.user_id)
    };
    assert_eq!(who("10.0.200.1"), Some(lan.user_id.clone()));
    assert_eq!(
        who("10.0.0.5"),
        Some(u.user_id.clone()),
        "the host entry is more specific"
    );
    assert_eq!(who("10.1.0.1"), None);
    let listed = api.call("GET", "/api/peers", None).await;
    assert!(listed.1.to_string().contains("10.0.0.0/16"), "{listed:?}");
    assert_eq!(
        api.call("DELETE", "/api/peers/10.0.0.0%2F16", None).await.0,
        204
    );
    assert_eq!(who("10.0.200.1"), None);
    err(
        &api.call(
            "POST",
            "/api/peers",
            Some(json!({"address": "10.0.0.300", "user": "nfs-host"})),
        )
        .await,
        400,
        "store.invalid_argument",
    );
    err(
        &api.call(
            "POST",
            "/api/peers",
            Some(json!({"address": "10.0.0.6", "user": "ghost"})),
        )
        .await,
        404,
        "identity.no_such_user",
    );
    let plain = Api::with(&srv, &u.access_key, &u.secret_key);
    err(
        &plain.call("GET", "/api/peers", None).await,
        403,
        "rbac.denied",
    );
    let (_, list) = api.call("GET", "/api/peers", None).await;
    assert_eq!(list[0]["name"], "nfs-host");
    // The CLI lists it too, then removes it.
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &["--credentials", creds, "peer", "list"],
    )
    .await);
    assert!(
        out.contains("10.0.0.5") && out.contains("nfs-host"),
        "{out}"
    );
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &["--credentials", creds, "peer", "remove", "10.0.0.5"],
    )
    .await);
    assert!(out.contains("Removed peer 10.0.0.5"), "{out}");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            creds,
            "peer",
            "add",
            "fd00::7",
            "nfs-host",
            "--json",
        ],
    )
    .await);
    assert!(out.contains("\"fd00::7\""), "{out}");
    let r = api.call("DELETE", "/api/peers/fd00::7", None).await;
    assert_eq!(r.0, 204, "{r:?}");
    let r = api.call("DELETE", "/api/peers/fd00::7", None).await;
    err(&r, 404, "peer.no_such_peer");
    err(
        &api.call("DELETE", "/api/peers/10.0.0.5", None).await,
        404,
        "peer.no_such_peer",
    );
}
