//! Bucket policies over NFS, path by path (issue 22, decision 0043): every NFS call is allowed
//! or refused as the S3 call on the same key — aws-sdk-s3 (signed and unsigned) against
//! `nfs3_client` on one share, the same user acting once through its keys and once as the
//! registered NFS peer 127.0.0.1, or the unsigned caller and the NFS guest.

use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::ops::SubjectRef;
use gatehouse_store::rbac::Scope;
use nfs3_client::nfs3_types::mount::mountstat3;
use nfs3_client::nfs3_types::nfs3::*;

use crate::common::*;
use crate::nfs::{
    Conn, create, getattr, lookup, mkdir, mount, mount_refusal, readdirplus, remove, rename,
    s3_put, share, write,
};
use crate::nfs_links::link;

async fn read(c: &mut Conn, h: &nfs_fh3) -> Result<Vec<u8>, nfsstat3> {
    match c
        .read(&READ3args {
            file: h.clone(),
            offset: 0,
            count: 1 << 16,
        })
        .await
        .expect("rpc")
    {
        Nfs3Result::Ok(ok) => Ok(ok.data.to_vec()),
        Nfs3Result::Err((s, _)) => Err(s),
    }
}

/// Walks `path` (`a/b/c`) from `root`.
async fn walk(c: &mut Conn, root: &nfs_fh3, path: &str) -> Result<nfs_fh3, nfsstat3> {
    let mut h = root.clone();
    for seg in path.split('/') {
        h = lookup(c, &h, seg).await?.0;
    }
    Ok(h)
}

/// An NFS answer as allowed / refused (ACCES, the only refusal a policy gives).
fn verdict<T>(r: Result<T, nfsstat3>, what: &str) -> bool {
    match r {
        Ok(_) => true,
        Err(nfsstat3::NFS3ERR_ACCES) => false,
        Err(s) => panic!("{what}: {s}, neither allowed nor refused"),
    }
}

fn s3_verdict<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> bool {
    match r {
        Ok(_) => true,
        // HEAD answers 403 without a body (no code to read).
        Err(e)
            if format!("{e:?}").contains("AccessDenied")
                || format!("{e:?}").contains("StatusCode(403)") =>
        {
            false
        }
        Err(e) => panic!("{what}: {e:?}, neither allowed nor refused"),
    }
}

const DENIES: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fs+p/secret/*"},
  {"Sid":"ReadOnly","Effect":"Deny","Principal":"*","Action":["s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::fs+p/ro/*"},
  {"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::fs+p/keep.txt"}
]}"#;

/// A user whose binding allows everything in the share, and a policy denying by path: each
/// read, write, delete, rename and link answers over NFS as over S3 on the same key.
#[tokio::test]
async fn nfs_follows_a_policy_key_by_key() {
    let srv = TestServer::start().await;
    share(&srv, "p", false).await;
    for (k, v) in [
        ("open.txt", "open"),
        ("secret/s.txt", "secret"),
        ("ro/r.txt", "ro"),
        ("keep.txt", "keep"),
    ] {
        s3_put(&srv, "fs+p", k, v.as_bytes().to_vec()).await;
    }
    let u = srv.new_user("u").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "bucket-write",
            Scope::Bucket("fs+p".into()),
        )
        .await
        .expect("bind");
    srv.client()
        .put_bucket_policy()
        .bucket("fs+p")
        .policy(DENIES)
        .send()
        .await
        .expect("policy");
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &u.user_id, "")
        .await
        .expect("peer");
    let s3 = client_with(srv.addr, &u.access_key, &u.secret_key);
    let mut c = mount(&srv, "p").await.expect("mount");
    let root = c.root_nfs_fh3();

    // Reads: open.txt and ro/r.txt yes, secret/s.txt no — its attributes neither (HEAD).
    for (key, want) in [
        ("open.txt", true),
        ("ro/r.txt", true),
        ("secret/s.txt", false),
    ] {
        let s3_read = s3_verdict(s3.get_object().bucket("fs+p").key(key).send().await, key);
        let s3_head = s3_verdict(s3.head_object().bucket("fs+p").key(key).send().await, key);
        let h = walk(&mut c, &root, key).await;
        // LOOKUP itself is a listing of the directory, which the policy leaves alone.
        let h = h.expect("lookup in a listable directory");
        let nfs_read = verdict(read(&mut c, &h).await, key);
        let nfs_attr = verdict(getattr(&mut c, &h).await, key);
        assert_eq!((s3_read, nfs_read), (want, want), "read {key}");
        assert_eq!(s3_head, nfs_attr, "attributes of {key}");
    }
    // Listing the directory whose files may not be read still works on both sides.
    let secret = lookup(&mut c, &root, "secret").await.expect("secret").0;
    let (names, _) = readdirplus(&mut c, &secret, 4096).await;
    assert!(names.iter().any(|(n, _)| n == "s.txt"));
    let listed = s3
        .list_objects_v2()
        .bucket("fs+p")
        .prefix("secret/")
        .send()
        .await
        .expect("s3 list");
    assert_eq!(listed.contents().len(), 1);

    // Writes: a new file in ro/ no, at the top yes; rewriting ro/r.txt no.
    let ro = lookup(&mut c, &root, "ro").await.expect("ro").0;
    let s3_new_ro = s3_verdict(
        s3.put_object()
            .bucket("fs+p")
            .key("ro/s3.txt")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "put ro/s3.txt",
    );
    let nfs_new_ro = verdict(
        create(
            &mut c,
            &ro,
            "nfs.txt",
            createhow3::UNCHECKED(sattr3::default()),
        )
        .await,
        "create ro/nfs.txt",
    );
    assert_eq!((s3_new_ro, nfs_new_ro), (false, false));
    let nfs_mkdir_ro = verdict(mkdir(&mut c, &ro, "sub").await, "mkdir ro/sub");
    assert!(
        !nfs_mkdir_ro,
        "a directory marker in ro/ is a PutObject there"
    );
    let r = lookup(&mut c, &ro, "r.txt").await.expect("r.txt").0;
    assert!(!verdict(
        write(&mut c, &r, 0, b"changed").await,
        "write ro/r.txt"
    ));
    let top = create(
        &mut c,
        &root,
        "new.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create at the top");
    write(&mut c, &top, 0, b"new").await.expect("write new.txt");

    // Deletes: keep.txt and ro/r.txt no, new.txt yes.
    let s3_del_keep = s3_verdict(
        s3.delete_object()
            .bucket("fs+p")
            .key("keep.txt")
            .send()
            .await,
        "delete keep.txt",
    );
    assert!(!s3_del_keep);
    assert!(!verdict(
        remove(&mut c, &root, "keep.txt").await,
        "remove keep.txt"
    ));
    assert!(!verdict(
        remove(&mut c, &ro, "r.txt").await,
        "remove ro/r.txt"
    ));
    // A rename is a delete there and a put here: out of ro/ no, into ro/ no, elsewhere yes.
    assert!(!verdict(
        rename(&mut c, (&ro, "r.txt"), (&root, "moved.txt")).await,
        "rename out of ro/"
    ));
    assert!(!verdict(
        rename(&mut c, (&root, "new.txt"), (&ro, "new.txt")).await,
        "rename into ro/"
    ));
    rename(&mut c, (&root, "new.txt"), (&root, "renamed.txt"))
        .await
        .expect("rename at the top");
    // A rename reads its source too (S3's copy and delete): out of secret/ no.
    assert!(!verdict(
        rename(&mut c, (&secret, "s.txt"), (&root, "stolen.txt")).await,
        "rename out of secret/"
    ));
    // A hard link reads its source and puts its name: of secret/s.txt no (S3's CopyObject
    // neither), of open.txt into ro/ no, of open.txt at the top yes.
    let s = lookup(&mut c, &secret, "s.txt").await.expect("s.txt").0;
    let s3_copy = s3_verdict(
        s3.copy_object()
            .bucket("fs+p")
            .key("copy.txt")
            .copy_source("fs+p/secret/s.txt")
            .send()
            .await,
        "copy secret/s.txt",
    );
    assert!(!s3_copy);
    assert!(!verdict(
        link(&mut c, &s, &root, "leak.txt").await,
        "link secret"
    ));
    let open = lookup(&mut c, &root, "open.txt").await.expect("open").0;
    assert!(!verdict(
        link(&mut c, &open, &ro, "l.txt").await,
        "link into ro/"
    ));
    link(&mut c, &open, &root, "l.txt")
        .await
        .expect("link at the top");
    // Nothing refused changed anything.
    assert_eq!(s3_get_text(&srv, "ro/r.txt").await, "ro");
    assert_eq!(s3_get_text(&srv, "keep.txt").await, "keep");
    assert_eq!(s3_get_text(&srv, "renamed.txt").await, "new");
    // A directory moved into ro/ moves each key into ro/: refused as a whole.
    let d = mkdir(&mut c, &root, "d").await.expect("mkdir d");
    create(&mut c, &d, "f", createhow3::UNCHECKED(sattr3::default()))
        .await
        .expect("create d/f");
    assert!(!verdict(
        rename(&mut c, (&root, "d"), (&ro, "d")).await,
        "rename a directory into ro/"
    ));
    assert!(lookup(&mut c, &d, "f").await.is_ok(), "d/f stayed");
}

async fn s3_get_text(srv: &TestServer, key: &str) -> String {
    String::from_utf8(crate::nfs::s3_get(srv, "fs+p", key).await).expect("utf-8")
}

const PUBLIC_PREFIX: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fs+p/pub/*"},
  {"Sid":"List","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::fs+p","Condition":{"StringLike":{"s3:prefix":["pub/","pub/*"]}}}
]}"#;

/// A policy letting anyone read and list `pub/` only: the NFS guest can mount `/p/pub` (not
/// `/p`), list and read there, reach nothing else and write nothing — as an unsigned S3
/// caller can GET and list `pub/` and nothing else.
#[tokio::test]
async fn the_guest_gets_what_a_public_prefix_gives_over_nfs() {
    let srv = TestServer::start().await;
    share(&srv, "p", false).await;
    s3_put(&srv, "fs+p", "pub/a.txt", b"public".to_vec()).await;
    s3_put(&srv, "fs+p", "pub/sub/b.txt", b"deeper".to_vec()).await;
    s3_put(&srv, "fs+p", "top.txt", b"private".to_vec()).await;
    srv.client()
        .put_bucket_policy()
        .bucket("fs+p")
        .policy(PUBLIC_PREFIX)
        .send()
        .await
        .expect("policy");
    let unsigned = |path: &str| {
        let url = srv.url(path);
        async move { reqwest::get(url).await.expect("send").status().as_u16() }
    };
    // S3, unsigned.
    assert_eq!(unsigned("/fs--p/pub/a.txt").await, 200);
    assert_eq!(unsigned("/fs--p/top.txt").await, 403);
    assert_eq!(
        unsigned("/fs--p?list-type=2&prefix=pub/&delimiter=/").await,
        200
    );
    assert_eq!(unsigned("/fs--p?list-type=2&delimiter=/").await, 403);
    // NFS, the guest (127.0.0.1 is no registered peer).
    assert!(
        matches!(
            mount_refusal(mount(&srv, "p").await),
            mountstat3::MNT3ERR_ACCES
        ),
        "the root may not be listed"
    );
    let mut c = mount(&srv, "p/pub").await.expect("mount /p/pub");
    let pub_dir = c.root_nfs_fh3();
    let (names, _) = readdirplus(&mut c, &pub_dir, 4096).await;
    let mut names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, [".", "..", "a.txt", "sub"]);
    let a = lookup(&mut c, &pub_dir, "a.txt").await.expect("a.txt").0;
    assert_eq!(read(&mut c, &a).await.expect("read"), b"public");
    let b = walk(&mut c, &pub_dir, "sub/b.txt")
        .await
        .expect("sub/b.txt");
    assert_eq!(read(&mut c, &b).await.expect("read"), b"deeper");
    // `..` is a name in pub/ (which may be listed); the root it leads to may not be listed.
    let up = lookup(&mut c, &pub_dir, "..").await.expect("lookup ..").0;
    let listing = c
        .readdir(&READDIR3args {
            dir: up,
            cookie: 0,
            cookieverf: cookieverf3::default(),
            count: 4096,
        })
        .await
        .expect("rpc");
    assert!(matches!(
        listing,
        Nfs3Result::Err((nfsstat3::NFS3ERR_ACCES, _))
    ));
    // Nothing may be written, changed or removed.
    assert!(!verdict(
        create(
            &mut c,
            &pub_dir,
            "new",
            createhow3::UNCHECKED(sattr3::default())
        )
        .await,
        "create"
    ));
    assert!(!verdict(write(&mut c, &a, 0, b"x").await, "write"));
    assert!(!verdict(remove(&mut c, &pub_dir, "a.txt").await, "remove"));
}

/// A store from before every share kept its inodes' names (schema 13: `repl_names`, for
/// replicated shares only) gets them from the migration — live shares, snapshots, hard links
/// and a deleted share awaiting purge — so fsck finds them right and a policy is decided by
/// path at once; removing a row is found and repaired by fsck.
#[tokio::test]
async fn an_upgraded_store_knows_every_name() {
    let srv = TestServer::start().await;
    share(&srv, "p", false).await;
    share(&srv, "gone", false).await;
    for k in ["secret/s.txt", "open.txt"] {
        s3_put(&srv, "fs+p", k, b"x".to_vec()).await;
        s3_put(&srv, "fs+gone", k, b"x".to_vec()).await;
    }
    {
        let (mut c, root) = crate::nfs::admin_mount(&srv, "p").await;
        let open = lookup(&mut c, &root, "open.txt").await.expect("open").0;
        link(&mut c, &open, &root, "second.txt")
            .await
            .expect("link");
    }
    srv.store()
        .create_snapshot(&srv.admin(), "p", Some("before"))
        .await
        .expect("snapshot");
    srv.store()
        .delete_share(&srv.admin(), "gone")
        .await
        .expect("delete");
    let dir = srv.stop().await;
    let names = redb::TableDefinition::<&[u8], ()>::new("inode_names");
    let rows = |db: &redb::Database| {
        use redb::{ReadableDatabase, ReadableTableMetadata};
        db.begin_read()
            .expect("read")
            .open_table(names)
            .expect("table")
            .len()
            .expect("len")
    };
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        // 3 names in p, 3 in its snapshot, 2 in the deleted share.
        assert_eq!(rows(&db), 8);
        let t = db.begin_write().expect("write");
        assert!(t.delete_table(names).expect("delete table"));
        t.open_table(redb::TableDefinition::<&[u8], ()>::new("repl_names"))
            .expect("old table");
        t.commit().expect("commit");
        gatehouse_migrations::force_schema_version(&db, 13).expect("version");
    }
    let srv = TestServer::start_in(dir).await;
    let dir = srv.stop().await;
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        assert_eq!(rows(&db), 8, "the migration found every name");
        let r = db.begin_read().expect("read");
        use redb::{ReadableDatabase, TableHandle};
        assert!(
            r.list_tables()
                .expect("tables")
                .all(|t| t.name() != "repl_names"),
            "the old table is gone"
        );
    }
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
    // A lost row is found, and repair puts it back.
    {
        let db = redb::Database::open(dir.path().join("meta.redb")).expect("open");
        let t = db.begin_write().expect("write");
        {
            use redb::ReadableTable;
            let mut n = t.open_table(names).expect("table");
            let first = n
                .first()
                .expect("first")
                .map(|(k, _)| k.value().to_vec())
                .expect("a row");
            n.remove(first.as_slice()).expect("remove");
        }
        t.commit().expect("commit");
    }
    let report = gatehouse_store::fsck::fsck(dir.path(), true).expect("fsck");
    assert_eq!(report.name_mismatches, 1);
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
    // And the names decide: the snapshot's secret is as unreadable as the share's.
    let srv = TestServer::start_in(dir).await;
    srv.client()
        .put_bucket_policy()
        .bucket("fs+p")
        .policy(DENIES)
        .send()
        .await
        .expect("policy");
    let u = srv.new_user("u").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "bucket-read",
            Scope::Bucket("fs+p".into()),
        )
        .await
        .expect("bind");
    srv.store()
        .remove_peer(&srv.admin(), "127.0.0.1")
        .await
        .expect("admin peer gone");
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &u.user_id, "")
        .await
        .expect("peer");
    let mut c = mount(&srv, "p").await.expect("mount");
    let root = c.root_nfs_fh3();
    for path in ["secret/s.txt", ".snapshots/before/secret/s.txt"] {
        let h = walk(&mut c, &root, path).await.expect(path);
        assert!(!verdict(read(&mut c, &h).await, path), "{path}");
    }
    for path in ["open.txt", "second.txt", ".snapshots/before/second.txt"] {
        let h = walk(&mut c, &root, path).await.expect(path);
        assert_eq!(read(&mut c, &h).await.expect(path), b"x", "{path}");
    }
}

/// `s3:ExistingObjectTag` over NFS: a policy denying reads of files tagged
/// `security=private` refuses READ and GETATTR of such a file as S3 refuses its GET and HEAD,
/// and lets the others be read; retagging the file over S3 opens it to NFS on the next call.
#[tokio::test]
async fn nfs_sees_the_tags_a_file_has() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let srv = TestServer::start().await;
    share(&srv, "t", false).await;
    s3_put(&srv, "fs+t", "plain.txt", b"plain".to_vec()).await;
    s3_put(&srv, "fs+t", "tagged.txt", b"tagged".to_vec()).await;
    let admin = srv.client();
    let tag = |v: &str| {
        Tagging::builder()
            .tag_set(
                Tag::builder()
                    .key("security")
                    .value(v)
                    .build()
                    .expect("tag"),
            )
            .build()
            .expect("tagging")
    };
    admin
        .put_object_tagging()
        .bucket("fs+t")
        .key("tagged.txt")
        .tagging(tag("private"))
        .send()
        .await
        .expect("tag");
    let u = srv.new_user("u").await;
    srv.store()
        .bind(
            &srv.admin(),
            SubjectRef::User(u.user_id.clone()),
            "bucket-write",
            Scope::Bucket("fs+t".into()),
        )
        .await
        .expect("bind");
    admin
        .put_bucket_policy()
        .bucket("fs+t")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::fs+t/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/security":"private"}}}]}"#,
        )
        .send()
        .await
        .expect("policy");
    srv.store()
        .add_peer(&srv.admin(), "127.0.0.1", &u.user_id, "")
        .await
        .expect("peer");
    let s3 = client_with(srv.addr, &u.access_key, &u.secret_key);
    let mut c = mount(&srv, "t").await.expect("mount");
    let root = c.root_nfs_fh3();
    for (key, want) in [("plain.txt", true), ("tagged.txt", false)] {
        let s3_read = s3_verdict(s3.get_object().bucket("fs+t").key(key).send().await, key);
        let h = walk(&mut c, &root, key).await.expect("lookup");
        let nfs_read = verdict(read(&mut c, &h).await, key);
        let nfs_attr = verdict(getattr(&mut c, &h).await, key);
        assert_eq!((s3_read, nfs_read, nfs_attr), (want, want, want), "{key}");
    }
    admin
        .put_object_tagging()
        .bucket("fs+t")
        .key("tagged.txt")
        .tagging(tag("public"))
        .send()
        .await
        .expect("retag");
    let h = walk(&mut c, &root, "tagged.txt").await.expect("lookup");
    assert_eq!(read(&mut c, &h).await.expect("readable now"), b"tagged");
}

/// ACCESS answers what the procedures allow: a directory's READ is listing it (READDIR asks
/// `list`), a file's is reading it (`get`). A role that may read objects but not list gets READ
/// on a file and none on the directory, whose READDIR it is refused.
#[tokio::test]
async fn access_reads_a_directory_by_list_and_a_file_by_get() {
    let srv = TestServer::start().await;
    share(&srv, "acc", false).await;
    let store = srv.store();
    let admin = srv.admin();
    store
        .create_role(
            &admin,
            "getter",
            "get only",
            vec![gatehouse_store::rbac::Rule::parse("get", "*").expect("rule")],
        )
        .await
        .expect("role");
    let u = srv.new_user("getonly").await;
    store
        .bind(
            &admin,
            SubjectRef::User("getonly".into()),
            "getter",
            Scope::Bucket("fs+acc".into()),
        )
        .await
        .expect("bind");
    s3_put(&srv, "fs+acc", "f", b"x".to_vec()).await;
    // The file's handle, looked up while the address is the admin's; then the address becomes
    // the user's (handles outlive that, decision 0025).
    let admin_id = admin.user_id.clone();
    store
        .add_peer(&admin, "127.0.0.1", &admin_id, "")
        .await
        .expect("peer");
    let mut c = mount(&srv, "acc").await.expect("mount");
    let root = c.root_nfs_fh3();
    let (f, _) = lookup(&mut c, &root, "f").await.expect("lookup");
    store.remove_peer(&admin, "127.0.0.1").await.expect("unmap");
    store
        .add_peer(&admin, "127.0.0.1", &u.user_id, "")
        .await
        .expect("peer");
    let all = ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_EXECUTE | ACCESS3_MODIFY;
    let granted = |r: Nfs3Result<ACCESS3resok, ACCESS3resfail>| match r {
        Nfs3Result::Ok(a) => a.access,
        Nfs3Result::Err((s, _)) => panic!("access: {s:?}"),
    };
    let on_root = granted(
        c.access(&ACCESS3args {
            object: root.clone(),
            access: all,
        })
        .await
        .expect("rpc"),
    );
    assert_eq!(
        on_root, 0,
        "no list: nothing to read or look up in the directory"
    );
    let e = c
        .readdirplus(&READDIRPLUS3args {
            dir: root.clone(),
            cookie: 0,
            cookieverf: cookieverf3::default(),
            dircount: 4096,
            maxcount: 4096,
        })
        .await
        .expect("rpc");
    assert!(
        matches!(e, Nfs3Result::Err((nfsstat3::NFS3ERR_ACCES, _))),
        "READDIR refused, as ACCESS said"
    );

    let on_file = granted(
        c.access(&ACCESS3args {
            object: f,
            access: all,
        })
        .await
        .expect("rpc"),
    );
    assert_eq!(on_file, ACCESS3_READ | ACCESS3_EXECUTE);
}
