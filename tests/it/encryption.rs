//! Encryption at rest, SSE-S3 (issue 23, decision 0044), with aws-sdk-s3 and raw HTTP: the
//! header on writes and answers, bucket default encryption, multipart, copies between modes,
//! ranged reads, no plaintext in the data directory, dedup inside a bucket only, a damaged
//! chunk detected (GET and fsck), another master key refused, keyless SSE-KMS and bad values refused
//! with nothing stored; NFS reads and writes of a share with default encryption.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use crate::common::*;

/// A body whose every 64-byte line says `marker`: found in any file holding it in the clear.
pub(crate) fn marked(marker: &str, len: usize) -> Vec<u8> {
    let line = format!("{marker}-{:0>width$}\n", "", width = 63 - marker.len() - 1);
    line.as_bytes().iter().copied().cycle().take(len).collect()
}

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Files of the data directory (chunks and the metadata file) holding `marker` in the clear.
pub(crate) fn plaintext_in(dir: &Path, marker: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .collect()
}

pub(crate) async fn get(
    c: &aws_sdk_s3::Client,
    b: &str,
    k: &str,
) -> (Vec<u8>, Option<ServerSideEncryption>) {
    let o = c.get_object().bucket(b).key(k).send().await.expect("get");
    let sse = o.server_side_encryption().cloned();
    (body_bytes(o).await, sse)
}

#[tokio::test]
async fn sse_s3_objects_are_encrypted_at_rest_and_read_back() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("enc").send().await.expect("mb");
    // A large object (several chunks) and a small one (kept in its record).
    let big = marked("BIGSECRET", 3 << 20);
    let small = marked("SMALLSECRET", 300);
    for (k, body) in [("big", &big), ("small", &small)] {
        let put = c
            .put_object()
            .bucket("enc")
            .key(k)
            .body(ByteStream::from(body.clone()))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .expect("put");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        // SSE-S3 ETags are the MD5 of the content, as AWS documents.
        assert_eq!(
            put.e_tag(),
            Some(format!("\"{}\"", hex::encode(md5_of(body))).as_str())
        );
        let (got, sse) = get(&c, "enc", k).await;
        assert_eq!(&got, body);
        assert_eq!(sse, Some(ServerSideEncryption::Aes256));
        let head = c
            .head_object()
            .bucket("enc")
            .key(k)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
    }
    // Ranged reads across a chunk boundary and inside the small one.
    let r = c
        .get_object()
        .bucket("enc")
        .key("big")
        .range("bytes=1048000-1049999")
        .send()
        .await
        .expect("range");
    assert_eq!(body_bytes(r).await, &big[1_048_000..1_050_000]);
    let r = c
        .get_object()
        .bucket("enc")
        .key("small")
        .range("bytes=10-19")
        .send()
        .await
        .expect("range");
    assert_eq!(body_bytes(r).await, &small[10..20]);
    // A plain object next to them is plain, and says nothing.
    c.put_object()
        .bucket("enc")
        .key("plain")
        .body(ByteStream::from(marked("PLAINTEXT", 300)))
        .send()
        .await
        .expect("put plain");
    assert_eq!(get(&c, "enc", "plain").await.1, None);
    let dir = srv.stop().await;
    for marker in ["BIGSECRET", "SMALLSECRET"] {
        assert_eq!(
            plaintext_in(dir.path(), marker),
            Vec::<PathBuf>::new(),
            "{marker}"
        );
    }
    assert!(
        !plaintext_in(dir.path(), "PLAINTEXT").is_empty(),
        "the search finds what is stored in the clear"
    );
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// Bucket (or share bucket) `bucket` gets AES256 as its default encryption.
async fn encrypt_by_default(srv: &TestServer, bucket: &str) {
    srv.store()
        .set_bucket_encryption(
            &srv.admin(),
            bucket,
            Some(gatehouse_store::sse::BucketEncryption {
                mode: gatehouse_store::sse::SseMode::S3,
                bucket_key: false,
            }),
        )
        .await
        .expect("default encryption");
}

/// PutBucketEncryption through aws-sdk-s3: `alg` by default (with `key`, a KMSMasterKeyID).
pub(crate) async fn put_bucket_default(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    alg: ServerSideEncryption,
    key: Option<&str>,
) {
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(alg)
                        .set_kms_master_key_id(key.map(str::to_string))
                        .build()
                        .expect("default"),
                )
                .build(),
        )
        .build()
        .expect("config");
    c.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .expect("put encryption");
}

/// Uploads `parts` (numbered from 1) into upload `id` of `(bucket, key)`, each answered with
/// encryption `want`, and completes it.
pub(crate) async fn upload_parts_and_complete(
    c: &aws_sdk_s3::Client,
    (bucket, key): (&str, &str),
    id: &str,
    parts: &[Vec<u8>],
    want: &ServerSideEncryption,
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    let mut done = Vec::new();
    for (i, body) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let p = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("part");
        assert_eq!(p.server_side_encryption(), Some(want));
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().expect("etag"))
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete")
}

pub(crate) fn md5_of(b: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(b).into()
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_every_write() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("dflt").send().await.expect("mb");
    let missing = c
        .get_bucket_encryption()
        .bucket("dflt")
        .send()
        .await
        .expect_err("none yet");
    assert_eq!(
        code(&missing),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    put_bucket_default(&c, "dflt", ServerSideEncryption::Aes256, None).await;
    let got = c
        .get_bucket_encryption()
        .bucket("dflt")
        .send()
        .await
        .expect("get encryption");
    let rule = &got
        .server_side_encryption_configuration()
        .expect("config")
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .map(|d| d.sse_algorithm()),
        Some(&ServerSideEncryption::Aes256)
    );
    // PutObject without a header, multipart, a copy of a plain object from another bucket.
    c.put_object()
        .bucket("dflt")
        .key("put")
        .body(ByteStream::from(marked("DEFAULTPUT", 2 << 20)))
        .send()
        .await
        .expect("put");
    let up = c
        .create_multipart_upload()
        .bucket("dflt")
        .key("mpu")
        .send()
        .await
        .expect("create");
    assert_eq!(
        up.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let id = up.upload_id().expect("id").to_string();
    let part_body = marked("MULTIPART", 5 << 20);
    let done = upload_parts_and_complete(
        &c,
        ("dflt", "mpu"),
        &id,
        &[part_body.clone(), part_body.clone()],
        &ServerSideEncryption::Aes256,
    )
    .await;
    assert_eq!(
        done.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    c.create_bucket()
        .bucket("clear")
        .send()
        .await
        .expect("mb clear");
    c.put_object()
        .bucket("clear")
        .key("src")
        .body(ByteStream::from(marked("COPYSOURCE", 1 << 20)))
        .send()
        .await
        .expect("put source");
    let copied = c
        .copy_object()
        .bucket("dflt")
        .key("copy")
        .copy_source("clear/src")
        .send()
        .await
        .expect("copy into the encrypted bucket");
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    for (k, want) in [
        ("put", marked("DEFAULTPUT", 2 << 20)),
        ("copy", marked("COPYSOURCE", 1 << 20)),
    ] {
        let (got, sse) = get(&c, "dflt", k).await;
        assert_eq!(got, want, "{k}");
        assert_eq!(sse, Some(ServerSideEncryption::Aes256), "{k}");
    }
    let (got, _) = get(&c, "dflt", "mpu").await;
    assert_eq!(got.len(), 10 << 20);
    assert_eq!(&got[..5 << 20], &part_body[..]);
    // An encrypted object copied into a bucket without a default stays encrypted (its chunks
    // are shared, sealed), and says so.
    let out = c
        .copy_object()
        .bucket("clear")
        .key("from-dflt")
        .copy_source("dflt/put")
        .send()
        .await
        .expect("copy out");
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(
        get(&c, "clear", "from-dflt").await.0,
        marked("DEFAULTPUT", 2 << 20)
    );
    // Without the default, new writes are stored as they are again.
    c.delete_bucket_encryption()
        .bucket("dflt")
        .send()
        .await
        .expect("delete encryption");
    c.put_object()
        .bucket("dflt")
        .key("after")
        .body(ByteStream::from_static(b"after"))
        .send()
        .await
        .expect("put after");
    assert_eq!(get(&c, "dflt", "after").await.1, None);
    assert_eq!(
        get(&c, "dflt", "put").await.1,
        Some(ServerSideEncryption::Aes256)
    );
    let dir = srv.stop().await;
    for marker in ["DEFAULTPUT", "MULTIPART"] {
        assert_eq!(
            plaintext_in(dir.path(), marker),
            Vec::<PathBuf>::new(),
            "{marker}"
        );
    }
    // The copy source stays in the clear in its own bucket; its encrypted copy is sealed.
    assert_eq!(plaintext_in(dir.path(), "COPYSOURCE").len(), 1);
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// Equal content dedups inside one bucket's key domain, and only there.
#[tokio::test]
async fn encrypted_chunks_dedup_inside_a_bucket_only() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let body = marked("DEDUP", 2 << 20);
    for b in ["one", "two"] {
        c.create_bucket().bucket(b).send().await.expect("mb");
    }
    let put = |b: &'static str, k: &'static str| {
        let c = c.clone();
        let body = body.clone();
        async move {
            c.put_object()
                .bucket(b)
                .key(k)
                .body(ByteStream::from(body))
                .server_side_encryption(ServerSideEncryption::Aes256)
                .send()
                .await
                .expect("put");
        }
    };
    put("one", "a").await;
    let after_one = srv.chunk_files();
    put("one", "b").await;
    assert_eq!(
        srv.chunk_files(),
        after_one,
        "the same bytes in the same bucket dedup"
    );
    put("two", "a").await;
    assert_eq!(
        srv.chunk_files(),
        after_one * 2,
        "another bucket's chunks share nothing with the first's"
    );
}

/// A flipped byte in an encrypted chunk is an error on GET and a finding of fsck; the data
/// directory with another master key reads nothing (an error, never other bytes).
#[tokio::test]
async fn damaged_chunks_and_foreign_keys_fail_clearly() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("dmg").send().await.expect("mb");
    for k in ["a", "b"] {
        c.put_object()
            .bucket("dmg")
            .key(k)
            .body(ByteStream::from(marked(&format!("DAMAGE{k}"), 1 << 20)))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .expect("put");
    }
    let dir = srv.stop().await;
    // Another master key: the same directory reads nothing (the store asked directly: the
    // S3 secrets change with the master key too).
    let key_path = dir.path().join("master.key");
    let real_key = std::fs::read(&key_path).expect("key");
    std::fs::write(&key_path, format!("{}\n", "ab".repeat(32))).expect("other key");
    let srv = TestServer::start_in(dir).await;
    let info = srv
        .store()
        .get_object(&srv.admin(), "dmg", "a")
        .expect("the record is metadata");
    let mut read = std::pin::pin!(
        srv.store()
            .read_data(&info.record.data, 0..info.record.size)
    );
    let mut failed = false;
    while let Some(piece) = futures_util::StreamExt::next(&mut read).await {
        match piece {
            Ok(b) => assert!(
                !b.windows(6).any(|w| w == b"DAMAGE"),
                "plaintext with a foreign key"
            ),
            Err(e) => {
                assert!(e.to_string().contains("master key"), "{e}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "read with a foreign key");
    let dir = srv.stop().await;
    std::fs::write(&key_path, real_key).expect("key back");
    // One chunk damaged on disk.
    let victim = plaintext_free_chunk(dir.path());
    let mut bytes = std::fs::read(&victim).expect("chunk");
    bytes[100] ^= 0x40;
    std::fs::write(&victim, bytes).expect("damage");
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(report.corrupt_chunks.len(), 1, "{report:?}");
    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    let mut failed = 0;
    for k in ["a", "b"] {
        match c.get_object().bucket("dmg").key(k).send().await {
            Ok(o) => match o.body.collect().await {
                Ok(b) => assert_eq!(
                    b.into_bytes().as_ref(),
                    marked(&format!("DAMAGE{k}"), 1 << 20)
                ),
                Err(_) => failed += 1,
            },
            Err(_) => failed += 1,
        }
    }
    assert_eq!(failed, 1, "the damaged object fails, the other reads");
}

fn plaintext_free_chunk(dir: &Path) -> PathBuf {
    let blobs = dir.join("blobs");
    files_under(&blobs)
        .into_iter()
        .find(|p| {
            !p.strip_prefix(&blobs)
                .is_ok_and(|r| r.components().any(|c| c.as_os_str() == "tmp"))
        })
        .expect("a chunk file")
}

/// What is not carried out is refused, and nothing is stored.
#[tokio::test]
async fn keyless_sse_kms_dsse_and_unknown_algorithms_are_refused() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("refs").send().await.expect("mb");
    for (value, status, want) in [
        // No key id and no bucket default key: gatehouse has no AWS managed key.
        ("aws:kms", 400, "InvalidArgument"),
        ("aws:kms:dsse", 501, "NotImplemented"),
        ("AES128", 400, "InvalidArgument"),
    ] {
        let r = srv
            .signed(
                "PUT",
                "/refs/k",
                None,
                &[("x-amz-server-side-encryption", value)],
                b"data".to_vec(),
            )
            .await;
        assert_eq!(r.status(), status, "{value}");
        assert!(r.text().await.expect("body").contains(want), "{value}");
    }
    let r = srv
        .signed(
            "PUT",
            "/refs",
            Some("encryption"),
            &[],
            b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>".to_vec(),
        )
        .await;
    assert_eq!(r.status(), 400, "aws:kms without a KMSMasterKeyID");
    // The header on an operation that does not take it.
    let r = srv
        .signed(
            "GET",
            "/refs/k",
            None,
            &[("x-amz-server-side-encryption", "AES256")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status(), 400);
    let listed = c
        .list_objects_v2()
        .bucket("refs")
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty(), "nothing was stored");
    assert!(
        c.get_bucket_encryption()
            .bucket("refs")
            .send()
            .await
            .is_err(),
        "no default was set"
    );
}

/// A share with default encryption: NFS writes (new files, rewrites in the middle, appends, a
/// small file) are sealed and read back transparently over NFS and S3; nothing of them is on
/// the disk in the clear; fsck is clean.
#[tokio::test]
async fn nfs_writes_into_an_encrypted_share_are_sealed() {
    use crate::nfs::{create, lookup, read_all, write, writer};
    use nfs3_client::nfs3_types::nfs3::{createhow3, sattr3};
    let srv = TestServer::start().await;
    let (mut c, root) = writer(&srv, "vault").await;
    encrypt_by_default(&srv, "fs+vault").await;
    let big = marked("NFSVAULT", (2 << 20) + 4321);
    let f = create(
        &mut c,
        &root,
        "big.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    for (i, piece) in big.chunks(256 << 10).enumerate() {
        write(&mut c, &f, (i * (256 << 10)) as u64, piece)
            .await
            .expect("write");
    }
    // A rewrite inside the first chunk and an append.
    write(&mut c, &f, 1000, b"PATCHED-IN-PLACE")
        .await
        .expect("patch");
    write(&mut c, &f, big.len() as u64, b"TAIL")
        .await
        .expect("append");
    let mut want = big.clone();
    want[1000..1016].copy_from_slice(b"PATCHED-IN-PLACE");
    want.extend_from_slice(b"TAIL");
    assert_eq!(read_all(&mut c, &f).await, want);
    let small = create(
        &mut c,
        &root,
        "note.txt",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create small");
    write(&mut c, &small, 0, &marked("NFSNOTE", 200))
        .await
        .expect("write small");
    let (h, _) = lookup(&mut c, &root, "note.txt").await.expect("lookup");
    assert_eq!(read_all(&mut c, &h).await, marked("NFSNOTE", 200));
    create(
        &mut c,
        &root,
        "empty",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create empty");
    // UNSTABLE writes wait in the write-back buffer (whole 1 MiB windows in memory, handed to
    // the chunk writer, which seals a copy) until COMMIT.
    let stream = marked("NFSSTREAM", (3 << 20) + 777);
    let g = create(
        &mut c,
        &root,
        "stream.bin",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create stream");
    let unstable = nfs3_client::nfs3_types::nfs3::stable_how::UNSTABLE;
    for (i, piece) in stream.chunks(1 << 20).enumerate() {
        crate::nfs::write_as(&mut c, &g, (i << 20) as u64, piece, unstable)
            .await
            .expect("write unstable");
    }
    crate::nfs::commit(&mut c, &g).await.expect("commit");
    assert!(read_all(&mut c, &g).await == stream, "stream.bin over NFS");
    // The S3 view reads the same bytes and says they are encrypted.
    let s3 = srv.client();
    let (got, sse) = get(&s3, "fs--vault", "empty").await;
    assert!(got.is_empty());
    assert_eq!(sse, Some(ServerSideEncryption::Aes256), "an empty file too");
    for (k, body) in [
        ("big.bin", want.clone()),
        ("note.txt", marked("NFSNOTE", 200)),
        ("stream.bin", stream),
    ] {
        let (got, sse) = get(&s3, "fs--vault", k).await;
        assert_eq!(got, body, "{k}");
        assert_eq!(sse, Some(ServerSideEncryption::Aes256), "{k}");
    }
    drop(c);
    let dir = srv.stop().await;
    for marker in ["NFSVAULT", "NFSNOTE", "PATCHED-IN-PLACE", "NFSSTREAM"] {
        assert_eq!(
            plaintext_in(dir.path(), marker),
            Vec::<PathBuf>::new(),
            "{marker}"
        );
    }
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(report.clean(), "{report:?}");
}

/// The admin API and the CLI set, show and clear a bucket's default encryption (the same
/// setting S3's PutBucketEncryption makes); a bucket admin may, a reader may not; SSE-KMS
/// without its key and unknown algorithms are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_encryption_through_the_api_and_the_cli() {
    use crate::admin_api::{Api, cli, ok};
    use serde_json::json;
    let srv = TestServer::start().await;
    let api = Api::admin(&srv);
    let r = api
        .call("POST", "/api/buckets", Some(json!({ "name": "viaapi" })))
        .await;
    assert_eq!(r.0, 201, "{r:?}");
    assert_eq!(r.1["encryption"], json!(null));
    let path = "/api/buckets/viaapi/encryption";
    let r = api
        .call("PUT", path, Some(json!({ "algorithm": "AES256" })))
        .await;
    assert_eq!((r.0, &r.1["encryption"]), (200, &json!("AES256")), "{r:?}");
    // S3 sees the same setting, and applies it.
    let c = srv.client();
    let got = c
        .get_bucket_encryption()
        .bucket("viaapi")
        .send()
        .await
        .expect("get encryption");
    assert!(got.server_side_encryption_configuration().is_some());
    c.put_object()
        .bucket("viaapi")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .expect("put");
    assert_eq!(
        get(&c, "viaapi", "k").await.1,
        Some(ServerSideEncryption::Aes256)
    );
    for bad in [
        json!({ "algorithm": "aws:kms" }),
        json!({ "algorithm": "DES" }),
        json!({ "algo": "AES256" }),
    ] {
        let r = api.call("PUT", path, Some(bad.clone())).await;
        assert_eq!(r.0, 400, "{bad} {r:?}");
    }
    // The CLI: status, off, aes256.
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let creds = creds.to_str().expect("utf-8").to_string();
    let run = |args: &'static [&'static str]| {
        let creds = creds.clone();
        let home = home.path().to_path_buf();
        let srv = &srv;
        async move {
            let mut all = vec![
                "--credentials",
                creds.as_str(),
                "bucket",
                "encryption",
                "viaapi",
            ];
            all.extend_from_slice(args);
            ok(&cli(srv, &home, &[], &all).await)
        }
    };
    assert!(run(&["status"]).await.contains("AES256"));
    assert!(run(&["off"]).await.contains("none"));
    assert_eq!(
        api.call("GET", "/api/buckets/viaapi", None).await.1["encryption"],
        json!(null)
    );
    assert!(run(&["aes256"]).await.contains("AES256"));
    // A reader of the bucket may not change it.
    let u = srv.new_user("reader").await;
    srv.store()
        .bind(
            &srv.admin(),
            gatehouse_store::ops::SubjectRef::User(u.user_id.clone()),
            "bucket-read",
            gatehouse_store::rbac::Scope::Bucket("viaapi".into()),
        )
        .await
        .expect("bind");
    let r = Api::with(&srv, &u.access_key, &u.secret_key)
        .call("PUT", path, Some(json!({ "algorithm": null })))
        .await;
    assert_eq!(r.0, 403, "{r:?}");
}

/// `master.key` wrapped by an operator secret (decision 0045): `gatehouse master-key wrap`
/// seals it; the server then refuses to start without the secret or with another one (a clear
/// error, nothing served), and with it reads what was written before; `unwrap` undoes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_master_key_needs_its_secret() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("wrapped")
        .send()
        .await
        .expect("mb");
    c.put_object()
        .bucket("wrapped")
        .key("k")
        .body(ByteStream::from(marked("WRAPPED", 100_000)))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("put");
    let dir = srv.stop().await;
    let secrets = tempfile::tempdir().expect("secrets");
    let write_secret = |name: &str, text: &str| {
        let p = secrets.path().join(name);
        std::fs::write(&p, text).expect("secret");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    };
    let right = write_secret(
        "right",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978\n",
    );
    let wrong = write_secret(
        "wrong",
        "ffffffffffffffffffffffffffffffffffffffffffffffff\n",
    );
    let short = write_secret("short", "tooshort\n");
    let master_key = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("master-key")
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove(gatehouse_store::master_wrap::ENV)
            .output()
            .expect("runs")
    };
    let plain_text = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    // A directory without a master key gets none made.
    let empty = tempfile::tempdir().expect("empty");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "master-key",
            "wrap",
            "--secret-file",
            right.to_str().expect("utf-8"),
        ])
        .arg("--data-dir")
        .arg(empty.path())
        .env_remove(gatehouse_store::master_wrap::ENV)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(!empty.path().join("master.key").exists());
    let out = master_key(&["wrap", "--secret-file", short.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "a short secret is refused");
    let out = master_key(&["wrap", "--secret-file", right.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    let wrapped = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    assert!(wrapped.starts_with(gatehouse_store::master_wrap::PREFIX));
    assert!(
        !wrapped.contains(plain_text.trim()),
        "the key is not in the file in the clear"
    );
    // Without the secret, or with another one: no start, and the reason.
    for secret in [None, Some(&wrong)] {
        let mut raw = gatehouse::config::RawConfig::default();
        raw.storage.master_secret_file = secret.cloned();
        let e = gatehouse::app::start(config_from(raw, dir.path()))
            .await
            .err()
            .expect("refused to start");
        let msg = format!("{e:#}");
        assert!(msg.contains("operator secret"), "{secret:?}: {msg}");
    }
    let srv = TestServer::start_in_with(dir, |raw| {
        raw.storage.master_secret_file = Some(right.clone());
    })
    .await;
    assert_eq!(
        get(&srv.client(), "wrapped", "k").await.0,
        marked("WRAPPED", 100_000)
    );
    let dir = srv.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "master-key",
            "unwrap",
            "--secret-file",
            right.to_str().expect("utf-8"),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove(gatehouse_store::master_wrap::ENV)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("master.key")).expect("key"),
        plain_text
    );
    let srv = TestServer::start_in(dir).await;
    assert_eq!(
        get(&srv.client(), "wrapped", "k").await.0,
        marked("WRAPPED", 100_000)
    );
}

/// The three SSE-C setters of the aws-sdk-s3 request builders the tests use.
trait SseC: Sized {
    fn sse_c(self, key: &str, md5: &str) -> Self;
}

macro_rules! sse_c_builders {
    ($($t:ty),*) => {
        $(impl SseC for $t {
            fn sse_c(self, key: &str, md5: &str) -> Self {
                self.sse_customer_algorithm("AES256")
                    .sse_customer_key(key)
                    .sse_customer_key_md5(md5)
            }
        })*
    };
}

sse_c_builders!(
    aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
    aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder,
    aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder,
    aws_sdk_s3::operation::list_parts::builders::ListPartsFluentBuilder
);

/// A customer-provided key: (base64 key, base64 MD5).
fn customer_key(byte: u8) -> (String, String) {
    use base64::Engine;
    use md5::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = [byte; 32];
    (b64.encode(key), b64.encode(md5::Md5::digest(key)))
}

/// SSE-C (customer-provided keys): stored sealed under the customer's key, which the server
/// never keeps; read (GET, HEAD) only with that key (none: 400, another: 403); the ETag is no
/// MD5 of the content; multipart parts each bring the key; copies to and from plain objects;
/// fsck checks the chunks without the key; NFS cannot read it; over plain HTTP refused unless
/// the test opt-out is on.
#[tokio::test]
async fn sse_c_objects_need_their_key() {
    let srv = TestServer::start_with(|raw| raw.s3.sse_c_over_http = Some(true)).await;
    let c = srv.client();
    crate::nfs::share(&srv, "cust", false).await;
    let (key, md5) = customer_key(7);
    let (other, other_md5) = customer_key(8);
    let body = marked("CUSTOMERKEY", (1 << 20) + 777);
    let put = c
        .put_object()
        .bucket("fs--cust")
        .key("c.bin")
        .body(ByteStream::from(body.clone()))
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("put");
    assert_eq!(put.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5(), Some(md5.as_str()));
    assert_eq!(put.server_side_encryption(), None);
    assert_ne!(
        put.e_tag(),
        Some(format!("\"{}\"", hex::encode(md5_of(&body))).as_str()),
        "an SSE-C ETag is no MD5 of the content"
    );
    // Without the key, with another: refused; with it: the bytes, ranged too.
    let e = c
        .get_object()
        .bucket("fs--cust")
        .key("c.bin")
        .send()
        .await
        .expect_err("no key");
    assert_eq!(code(&e), "InvalidRequest");
    let e = c
        .get_object()
        .bucket("fs--cust")
        .key("c.bin")
        .sse_c(&other, &other_md5)
        .send()
        .await
        .expect_err("another key");
    assert_eq!(code(&e), "AccessDenied");
    let e = c
        .head_object()
        .bucket("fs--cust")
        .key("c.bin")
        .send()
        .await
        .expect_err("HEAD without the key");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    let got = c
        .get_object()
        .bucket("fs--cust")
        .key("c.bin")
        .range("bytes=1048570-1048580")
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("ranged get with the key");
    assert_eq!(got.sse_customer_key_md5(), Some(md5.as_str()));
    assert_eq!(body_bytes(got).await, &body[1_048_570..1_048_581]);
    // A key for an object without one is refused.
    c.put_object()
        .bucket("fs--cust")
        .key("plain.txt")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .expect("put plain");
    let e = c
        .get_object()
        .bucket("fs--cust")
        .key("plain.txt")
        .sse_c(&key, &md5)
        .send()
        .await
        .expect_err("a key for a plain object");
    assert_eq!(code(&e), "InvalidRequest");
    // A wrong MD5 of the key.
    let e = c
        .put_object()
        .bucket("fs--cust")
        .key("bad")
        .body(ByteStream::from_static(b"x"))
        .sse_c(&key, &other_md5)
        .send()
        .await
        .expect_err("wrong key md5");
    assert_eq!(code(&e), "InvalidArgument");
    // Multipart: every part brings the key.
    let up = c
        .create_multipart_upload()
        .bucket("fs--cust")
        .key("mpu")
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let part = marked("CUSTOMERPART", 5 << 20);
    let e = c
        .upload_part()
        .bucket("fs--cust")
        .key("mpu")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .expect_err("a part without the key");
    assert_eq!(code(&e), "InvalidRequest");
    let p1 = c
        .upload_part()
        .bucket("fs--cust")
        .key("mpu")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("part");
    assert_eq!(
        p1.sse_customer_key_md5(),
        Some(md5.as_str()),
        "the part answers as SSE-C"
    );
    assert_eq!(p1.server_side_encryption(), None);
    // The part listing takes the key too (SDKs resuming an upload send it): the upload's only.
    let listed = c
        .list_parts()
        .bucket("fs--cust")
        .key("mpu")
        .upload_id(&id)
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("list parts with the upload's key");
    assert_eq!(listed.parts().len(), 1);
    let e = c
        .list_parts()
        .bucket("fs--cust")
        .key("mpu")
        .upload_id(&id)
        .sse_c(&other, &other_md5)
        .send()
        .await
        .expect_err("list parts with another key");
    assert_eq!(code(&e), "InvalidArgument");
    c.complete_multipart_upload()
        .bucket("fs--cust")
        .key("mpu")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let got = c
        .get_object()
        .bucket("fs--cust")
        .key("mpu")
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("get mpu");
    assert_eq!(body_bytes(got).await, part);
    // Copies: out to a plain object (the source's key given), and a plain one in.
    let e = c
        .copy_object()
        .bucket("fs--cust")
        .key("out-nokey")
        .copy_source("fs--cust/c.bin")
        .send()
        .await
        .expect_err("copy without the source's key");
    assert_eq!(code(&e), "InvalidRequest");
    c.copy_object()
        .bucket("fs--cust")
        .key("out.bin")
        .copy_source("fs--cust/c.bin")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key)
        .copy_source_sse_customer_key_md5(&md5)
        .send()
        .await
        .expect("copy out");
    assert_eq!(get(&c, "fs--cust", "out.bin").await, (body.clone(), None));
    c.copy_object()
        .bucket("fs--cust")
        .key("in.txt")
        .copy_source("fs--cust/plain.txt")
        .sse_c(&other, &other_md5)
        .send()
        .await
        .expect("copy in");
    let got = c
        .get_object()
        .bucket("fs--cust")
        .key("in.txt")
        .sse_c(&other, &other_md5)
        .send()
        .await
        .expect("get copy in");
    assert_eq!(body_bytes(got).await, b"plain");
    // NFS has no key: the file is there, its bytes are neither readable nor writable.
    let (mut nfs, root) = crate::nfs::admin_mount(&srv, "cust").await;
    let (h, _) = crate::nfs::lookup(&mut nfs, &root, "c.bin")
        .await
        .expect("lookup");
    assert_eq!(
        crate::nfs::write(&mut nfs, &h, 1 << 20, b"appended").await,
        Err(nfs3_client::nfs3_types::nfs3::nfsstat3::NFS3ERR_ACCES),
        "an append would mix keys"
    );
    let r = nfs
        .read(&nfs3_client::nfs3_types::nfs3::READ3args {
            file: h,
            offset: 0,
            count: 4096,
        })
        .await
        .expect("rpc");
    assert!(
        matches!(
            r,
            nfs3_client::nfs3_types::nfs3::Nfs3Result::Err((
                nfs3_client::nfs3_types::nfs3::nfsstat3::NFS3ERR_ACCES,
                _
            ))
        ),
        "an SSE-C file over NFS"
    );
    drop(nfs);
    let dir = srv.stop().await;
    // (c.bin was copied out to a plain object on purpose; the multipart object never was.)
    assert_eq!(
        plaintext_in(dir.path(), "CUSTOMERPART"),
        Vec::<PathBuf>::new()
    );
    let report = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(
        report.clean(),
        "fsck checks SSE-C chunks without the key: {report:?}"
    );
}

/// Without the test opt-out, a customer's key over plain HTTP is refused and nothing stored.
#[tokio::test]
async fn sse_c_needs_tls() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("tlsonly")
        .send()
        .await
        .expect("mb");
    let (key, md5) = customer_key(3);
    let e = c
        .put_object()
        .bucket("tlsonly")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .sse_c(&key, &md5)
        .send()
        .await
        .expect_err("SSE-C over HTTP");
    assert_eq!(code(&e), "InvalidRequest");
    let listed = c
        .list_objects_v2()
        .bucket("tlsonly")
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty());
}

/// The console's encryption setting, in headless Chromium (tests/browser/encryption.test.mjs).
#[test]
fn console_encryption_setting_in_chromium() {
    crate::web_browser::run_in_chromium("encryption.test.mjs");
}

/// A backup of encrypted objects (SSE-S3 and SSE-C, plain beside them) restores into a new
/// directory that reads them back (the archive carries `master.key`); the same restore with
/// another `master.key` reads none of the encrypted bytes (an error, never other bytes); a
/// damaged sealed chunk is an error over NFS READ too.
#[tokio::test]
async fn backups_carry_what_opens_the_data_and_nothing_opens_without_it() {
    use crate::nfs::{create, lookup, write, writer};
    use nfs3_client::nfs3_types::nfs3::{READ3args, createhow3, nfsstat3, sattr3};
    let srv = TestServer::start_with(|raw| raw.s3.sse_c_over_http = Some(true)).await;
    let c = srv.client();
    c.create_bucket().bucket("bkup").send().await.expect("mb");
    let (key, md5) = customer_key(5);
    c.put_object()
        .bucket("bkup")
        .key("s3")
        .body(ByteStream::from(marked("BACKUPS3", 200_000)))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("sse-s3");
    c.put_object()
        .bucket("bkup")
        .key("c")
        .body(ByteStream::from(marked("BACKUPC", 5000)))
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("sse-c");
    // An encrypted share written over NFS, for the damaged-chunk read below.
    let (mut nfs, root) = writer(&srv, "dmgshare").await;
    encrypt_by_default(&srv, "fs+dmgshare").await;
    let f = create(
        &mut nfs,
        &root,
        "f",
        createhow3::UNCHECKED(sattr3::default()),
    )
    .await
    .expect("create");
    write(&mut nfs, &f, 0, &marked("NFSDAMAGE", 300_000))
        .await
        .expect("write");
    drop(nfs);
    let mut tar = Vec::new();
    srv.store()
        .backup_snapshot(&srv.admin())
        .expect("snapshot")
        .write_tar(&mut tar)
        .expect("tar");
    let dir = srv.stop().await;
    let restore = |master: Option<&[u8]>| {
        let unpacked = tempfile::tempdir().expect("unpacked");
        gatehouse_store::backup::unpack_tar(&mut tar.as_slice(), unpacked.path()).expect("unpack");
        if let Some(m) = master {
            std::fs::write(unpacked.path().join("master.key"), m).expect("other key");
        }
        let restored = tempfile::tempdir().expect("restored");
        let report = gatehouse_store::backup::restore_dir(unpacked.path(), restored.path())
            .expect("restore");
        assert!(
            report.clean(),
            "fsck of the restore needs no key: {report:?}"
        );
        restored
    };
    let srv =
        TestServer::start_in_with(restore(None), |raw| raw.s3.sse_c_over_http = Some(true)).await;
    let c = srv.client();
    assert_eq!(get(&c, "bkup", "s3").await.0, marked("BACKUPS3", 200_000));
    let got = c
        .get_object()
        .bucket("bkup")
        .key("c")
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("sse-c after restore");
    assert_eq!(body_bytes(got).await, marked("BACKUPC", 5000));
    srv.stop().await;
    // Another master key: the store opens (metadata is not encrypted) and reads no sealed byte.
    let other = format!("{}\n", "cd".repeat(32));
    let srv = TestServer::start_in(restore(Some(other.as_bytes()))).await;
    let info = srv
        .store()
        .get_object(&srv.admin(), "bkup", "s3")
        .expect("record");
    let mut s = std::pin::pin!(
        srv.store()
            .read_data(&info.record.data, 0..info.record.size)
    );
    let first = futures_util::StreamExt::next(&mut s)
        .await
        .expect("a piece");
    assert!(first.is_err(), "read with another master key");
    srv.stop().await;
    // A damaged sealed chunk of the share: NFS READ answers an error, not other bytes.
    let blobs = dir.path().join("blobs");
    for p in files_under(&blobs) {
        let mut b = std::fs::read(&p).expect("chunk");
        b[10] ^= 1;
        std::fs::write(&p, b).expect("damage");
    }
    // (127.0.0.1 is still the admin's peer, as `writer` made it.)
    let srv = TestServer::start_in(dir).await;
    let mut nfs = crate::nfs::mount(&srv, "dmgshare").await.expect("mount");
    let root = nfs.root_nfs_fh3();
    let (h, _) = lookup(&mut nfs, &root, "f").await.expect("lookup");
    let r = nfs
        .read(&READ3args {
            file: h,
            offset: 0,
            count: 4096,
        })
        .await
        .expect("rpc");
    match r {
        nfs3_client::nfs3_types::nfs3::Nfs3Result::Err((s, _)) => {
            assert_ne!(s, nfsstat3::NFS3ERR_ACCES, "a damaged chunk, not a refusal")
        }
        nfs3_client::nfs3_types::nfs3::Nfs3Result::Ok(ok) => {
            panic!("read {} bytes of a damaged chunk", ok.data.len())
        }
    }
}

/// A bucket policy may require SSE-C through `s3:x-amz-server-side-encryption-customer-algorithm`
/// (found by the ceph s3-tests suite: the key was refused as one no request carries).
#[tokio::test]
async fn a_bucket_policy_may_require_sse_c() {
    let srv = TestServer::start_with(|raw| raw.s3.sse_c_over_http = Some(true)).await;
    let c = srv.client();
    c.create_bucket()
        .bucket("ssec")
        .send()
        .await
        .expect("bucket");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::ssec/*","Condition":{"Null":{"s3:x-amz-server-side-encryption-customer-algorithm":"true"}}}]}"#;
    c.put_bucket_policy()
        .bucket("ssec")
        .policy(policy)
        .send()
        .await
        .expect("the policy is taken");
    let e = c
        .put_object()
        .bucket("ssec")
        .key("plain")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .expect_err("a plain PUT is denied");
    assert_eq!(code(&e), "AccessDenied");
    let (key, md5) = customer_key(9);
    c.put_object()
        .bucket("ssec")
        .key("sealed")
        .body(ByteStream::from_static(b"sealed"))
        .sse_c(&key, &md5)
        .send()
        .await
        .expect("an SSE-C PUT is allowed");
}

/// A part may repeat its upload's encryption header (boto3's SSE helpers send it on every
/// part) and is sealed as the upload; a part asking for another encryption is refused and
/// stores nothing.
#[tokio::test]
async fn a_part_repeats_its_uploads_encryption_or_is_refused() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("parts").send().await.expect("mb");
    let up = c
        .create_multipart_upload()
        .bucket("parts")
        .key("k")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let part = |n: i32, sse: &'static str| {
        let (c, id) = (c.clone(), id.clone());
        async move {
            c.upload_part()
                .bucket("parts")
                .key("k")
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(vec![b'x'; 5 << 20]))
                .customize()
                .mutate_request(move |r| {
                    r.headers_mut().insert("x-amz-server-side-encryption", sse);
                })
                .send()
                .await
        }
    };
    let ok = part(1, "AES256")
        .await
        .expect("the upload's own encryption");
    assert_eq!(
        ok.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let e = part(2, "aws:kms").await.expect_err("another encryption");
    assert_eq!(code(&e), "InvalidArgument");
    // An upload begun without encryption: a part asking for SSE-S3 is not sealed quietly.
    let plain = c
        .create_multipart_upload()
        .bucket("parts")
        .key("plain")
        .send()
        .await
        .expect("create");
    let e = c
        .upload_part()
        .bucket("parts")
        .key("plain")
        .upload_id(plain.upload_id().expect("id"))
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .customize()
        .mutate_request(|r| {
            r.headers_mut()
                .insert("x-amz-server-side-encryption", "AES256");
        })
        .send()
        .await
        .expect_err("SSE-S3 on a plain upload's part");
    assert_eq!(code(&e), "InvalidArgument");
    assert!(
        format!("{e:?}").contains("encrypted as its upload"),
        "{e:?}"
    );
    let listed = c
        .list_parts()
        .bucket("parts")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(listed.parts().len(), 1, "the refused part stored nothing");
    // The completion may repeat it too.
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(ok.e_tag().expect("etag"))
                .build(),
        )
        .build();
    let complete = |sse: &'static str| {
        let (c, id, done) = (c.clone(), id.clone(), done.clone());
        async move {
            c.complete_multipart_upload()
                .bucket("parts")
                .key("k")
                .upload_id(id)
                .multipart_upload(done)
                .customize()
                .mutate_request(move |r| {
                    r.headers_mut().insert("x-amz-server-side-encryption", sse);
                })
                .send()
                .await
        }
    };
    let e = complete("aws:kms").await.expect_err("another encryption");
    assert_eq!(code(&e), "InvalidArgument");
    let out = complete("AES256").await.expect("the upload's own");
    assert_eq!(
        out.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
}
