//! Versions through the paths that must not lose them: an online backup restored into a new
//! data directory (every version, marker and null version listed the same, each version's
//! bytes by id, fsck clean and counting them), a `kill -9` of the real server binary while
//! writers keep adding versions (no acknowledged version lost, none half-written, offline fsck
//! clean), and fsck's repair of a versioned bucket's counters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;
use md5::Digest as _;

use crate::admin_api::{cli, ok};
use crate::common::*;
use crate::exposure::Spawned;
use crate::versioning::set_versioning;

/// PUT `body` to `key`; the version id the answer names (`None`: the null version).
async fn put(c: &Client, b: &str, key: &str, body: &[u8]) -> Option<String> {
    let out = c
        .put_object()
        .bucket(b)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put");
    assert_eq!(out.e_tag(), Some(etag_of(body).as_str()), "{key}");
    out.version_id().map(String::from)
}

/// A marker's id.
async fn delete(c: &Client, b: &str, key: &str) -> String {
    let d = c
        .delete_object()
        .bucket(b)
        .key(key)
        .send()
        .await
        .expect("delete");
    assert_eq!(d.delete_marker(), Some(true), "{key}");
    d.version_id().expect("marker id").to_string()
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5::Md5::digest(body)))
}

/// The bytes of one version, and the ETag and version id it was served with.
async fn get_version(c: &Client, b: &str, key: &str, id: &str) -> (Vec<u8>, String, String) {
    let o = c
        .get_object()
        .bucket(b)
        .key(key)
        .version_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key} version {id}: {e:?}"));
    let etag = o.e_tag().unwrap_or_default().to_string();
    let vid = o.version_id().unwrap_or_default().to_string();
    (body_bytes(o).await, etag, vid)
}

/// One `<Version>` or `<DeleteMarker>` of a ListObjectVersions answer, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    marker: bool,
    key: String,
    version_id: String,
    latest: bool,
    etag: Option<String>,
    size: Option<u64>,
    last_modified: String,
}

fn field(block: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let at = block.find(&open)? + open.len();
    let end = block[at..].find(&format!("</{name}>"))? + at;
    Some(
        block[at..end]
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'"),
    )
}

/// The entries of one answer in document order (versions and markers interleaved as sent).
fn parse_versions(xml: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut rest = xml;
    loop {
        let v = rest.find("<Version>");
        let m = rest.find("<DeleteMarker>");
        let (at, marker, close) = match (v, m) {
            (None, None) => break,
            (Some(v), Some(m)) if m < v => (m, true, "</DeleteMarker>"),
            (None, Some(m)) => (m, true, "</DeleteMarker>"),
            (Some(v), _) => (v, false, "</Version>"),
        };
        let end = rest[at..].find(close).expect("closed") + at;
        let block = &rest[at..end];
        out.push(Listed {
            marker,
            key: field(block, "Key").expect("Key"),
            version_id: field(block, "VersionId").expect("VersionId"),
            latest: field(block, "IsLatest").expect("IsLatest") == "true",
            etag: field(block, "ETag"),
            size: field(block, "Size").map(|s| s.parse().expect("size")),
            last_modified: field(block, "LastModified").expect("LastModified"),
        });
        rest = &rest[end..];
    }
    out
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Every page of ListObjectVersions of `bucket` at `max_keys` per page, as raw XML bodies, and
/// the entries of all of them in order.
async fn list_versions_raw(
    srv: &TestServer,
    bucket: &str,
    max_keys: usize,
) -> (Vec<String>, Vec<Listed>) {
    let (mut pages, mut all) = (Vec::new(), Vec::new());
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    for _ in 0..1000 {
        let mut q = vec![format!("max-keys={max_keys}")];
        if let Some(k) = &key_marker {
            q.push(format!("key-marker={}", enc(k)));
        }
        if let Some(v) = &id_marker {
            q.push(format!("version-id-marker={}", enc(v)));
        }
        q.push("versions=".into());
        q.sort();
        let qs = q.join("&");
        let r = srv
            .signed("GET", &format!("/{bucket}"), Some(qs.as_str()), &[], vec![])
            .await;
        assert_eq!(r.status().as_u16(), 200);
        let xml = r.text().await.expect("body");
        all.extend(parse_versions(&xml));
        let truncated = field(&xml, "IsTruncated").as_deref() == Some("true");
        key_marker = field(&xml, "NextKeyMarker");
        id_marker = field(&xml, "NextVersionIdMarker");
        pages.push(xml);
        if !truncated {
            return (pages, all);
        }
    }
    panic!("ListObjectVersions of {bucket} did not end");
}

/// An online backup of `srv` through the CLI (`gatehouse backup --to`), the server stopped,
/// and the backup restored (`gatehouse restore --from`) into a new data directory.
async fn backup_and_restore(srv: TestServer) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    let creds = srv.data_dir().join("admin.credentials");
    let bdir = home.path().join("backup");
    let out = ok(&cli(
        &srv,
        home.path(),
        &[],
        &[
            "--credentials",
            creds.to_str().expect("utf-8"),
            "backup",
            "--to",
            bdir.to_str().expect("utf-8"),
        ],
    )
    .await);
    assert!(out.contains("Backup written"), "{out}");
    srv.stop().await;
    let newd = tempfile::tempdir().expect("new");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["restore", "--from"])
        .arg(&bdir)
        .arg("--data-dir")
        .arg(newd.path())
        .output()
        .expect("restore");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    newd
}

fn content(key: &str, n: u32) -> Vec<u8> {
    // Every third body is chunked (over the inline limit, two 1 MiB chunks and a tail).
    let len = if n.is_multiple_of(3) {
        (2 << 20) + 333
    } else {
        900 + n as usize
    };
    let seed = key.bytes().fold(u64::from(n) << 32, |a, b| {
        a.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    bytes(len, seed)
}

/// A versioned bucket with several versions of several keys, delete markers, a current and a
/// noncurrent null version, written through the SDK; an online backup of it (the CLI against
/// the running server, as `backup.rs` does) restored into a new data directory lists the same
/// versions in the same order with the same ids, latest flags, markers, ETags, sizes and
/// times, serves each version's bytes by id, and passes fsck with the versions counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_keep_every_version_marker_and_null_version() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("vbk").send().await.expect("mb");
    // (key, version id) → bytes of every version that holds an object.
    let mut want: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    let mut n = 0u32;
    let mut put_kept = async |c: &Client, key: &str, want: &mut BTreeMap<_, _>| {
        n += 1;
        let body = content(key, n);
        let id = put(c, "vbk", key, &body)
            .await
            .unwrap_or_else(|| "null".to_string());
        want.insert((key.to_string(), id.clone()), body);
        id
    };
    // Before versioning: "old" gets the null version that versioning keeps.
    put_kept(&c, "old", &mut want).await;
    set_versioning(&c, "vbk", BucketVersioningStatus::Enabled).await;
    for key in ["a", "b", "c/d", "old"] {
        for _ in 0..3 {
            put_kept(&c, key, &mut want).await;
        }
    }
    // "b" ends deleted (a marker is its latest); "c/d" has a marker between versions.
    let marker_b = delete(&c, "vbk", "b").await;
    let marker_cd = delete(&c, "vbk", "c/d").await;
    put_kept(&c, "c/d", &mut want).await;
    // Suspended: "a" gets a current null version, "s" only a null version.
    set_versioning(&c, "vbk", BucketVersioningStatus::Suspended).await;
    assert_eq!(put_kept(&c, "a", &mut want).await, "null");
    assert_eq!(put_kept(&c, "s", &mut want).await, "null");
    // Enabled again: a version over "s"'s null, which stays as a noncurrent null version.
    set_versioning(&c, "vbk", BucketVersioningStatus::Enabled).await;
    put_kept(&c, "s", &mut want).await;
    // An unversioned bucket beside it.
    c.create_bucket().bucket("plain").send().await.expect("mb");
    put(&c, "plain", "p", b"plain bytes").await;

    let (pages_before, before) = list_versions_raw(&srv, "vbk", 1000).await;
    assert_eq!(pages_before.len(), 1);
    let (_, paged_before) = list_versions_raw(&srv, "vbk", 3).await;
    assert_eq!(paged_before, before, "pages of 3 list the same as one page");
    let markers: Vec<_> = before.iter().filter(|l| l.marker).collect();
    assert_eq!(
        markers
            .iter()
            .map(|l| (l.key.as_str(), l.version_id.as_str(), l.latest))
            .collect::<Vec<_>>(),
        vec![
            ("b", marker_b.as_str(), true),
            ("c/d", marker_cd.as_str(), false)
        ],
    );
    let nulls: Vec<_> = before
        .iter()
        .filter(|l| l.version_id == "null")
        .map(|l| (l.key.as_str(), l.latest))
        .collect();
    assert_eq!(nulls, vec![("a", true), ("old", false), ("s", false)]);
    assert_eq!(before.len(), want.len() + 2, "{before:#?}");
    let head_before = srv.store().head_bucket(&srv.admin(), "vbk").expect("head");
    let noncurrent = before.iter().filter(|l| !l.latest && !l.marker).count() as u64;

    // Online backup through the CLI, then the server goes away.
    let newd = backup_and_restore(srv).await;

    // fsck of the restored directory: clean, and it counted the noncurrent versions.
    let r = gatehouse_store::fsck::fsck(newd.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    assert_eq!(r.orphan_files, 0, "{r:?}");
    assert_eq!(r.versions, noncurrent, "{r:?}");
    assert_eq!(
        r.objects, 5,
        "a, c/d, old, s and plain/p current; b deleted"
    );

    let srv = TestServer::start_in(newd).await;
    let c = srv.client();
    let st = c
        .get_bucket_versioning()
        .bucket("vbk")
        .send()
        .await
        .expect("get versioning");
    assert_eq!(st.status(), Some(&BucketVersioningStatus::Enabled));
    let (pages_after, after) = list_versions_raw(&srv, "vbk", 1000).await;
    assert_eq!(after, before, "the same versions in the same order");
    assert_eq!(pages_after, pages_before, "the very same answer");
    let (_, paged_after) = list_versions_raw(&srv, "vbk", 3).await;
    assert_eq!(paged_after, before);
    let head_after = srv.store().head_bucket(&srv.admin(), "vbk").expect("head");
    assert_eq!(format!("{head_after:?}"), format!("{head_before:?}"));
    // Each version's bytes, by id, with its ETag.
    for l in after.iter().filter(|l| !l.marker) {
        let (got, etag, vid) = get_version(&c, "vbk", &l.key, &l.version_id).await;
        let w = &want[&(l.key.clone(), l.version_id.clone())];
        assert!(got == *w, "{} {} differs", l.key, l.version_id);
        assert_eq!(etag, etag_of(w));
        assert_eq!(l.etag.as_deref(), Some(etag.as_str()));
        assert_eq!(l.size, Some(w.len() as u64));
        assert_eq!(vid, l.version_id);
    }
    // Deleted "b" answers 404 with its marker; deleting the marker brings its last version.
    let e = c
        .get_object()
        .bucket("vbk")
        .key("b")
        .send()
        .await
        .expect_err("b is deleted");
    assert_eq!(code(&e), "NoSuchKey");
    c.delete_object()
        .bucket("vbk")
        .key("b")
        .version_id(&marker_b)
        .send()
        .await
        .expect("delete marker");
    let b_last = after
        .iter()
        .find(|l| l.key == "b" && !l.marker)
        .expect("a version of b");
    let o = c
        .get_object()
        .bucket("vbk")
        .key("b")
        .send()
        .await
        .expect("b is back");
    assert_eq!(o.version_id(), Some(b_last.version_id.as_str()));
    // New versions on the restored store get new ids after the old ones.
    let id = put(&c, "vbk", "a", b"after restore").await.expect("id");
    assert!(!want.keys().any(|(_, v)| *v == id), "{id} is new");
    let (_, now) = list_versions_raw(&srv, "vbk", 1000).await;
    let first_a = now.iter().find(|l| l.key == "a").expect("a");
    assert!(first_a.latest && first_a.version_id == id, "{first_a:?}");
    crate::multipart_promises::stop_and_fsck(srv).await;
}

const WRITERS: u32 = 4;
const KEYS: u32 = 3;

/// The body writer `w` sends as its `i`th PUT: a header naming both, then bytes of a size that
/// makes every third body chunked.
fn crash_body(w: u32, i: u32) -> Vec<u8> {
    let len = if i.is_multiple_of(3) {
        (1 << 20) + 4096 + i as usize
    } else {
        20_000 + i as usize
    };
    let mut b = format!("w{w:02}i{i:08}|").into_bytes();
    b.extend(bytes(len, u64::from(w) << 32 | u64::from(i)));
    b
}

/// Which (writer, put) a body says it is.
fn crash_origin(body: &[u8]) -> Option<(u32, u32)> {
    let h = std::str::from_utf8(body.get(..13)?).ok()?;
    let w = h.get(1..3)?.parse().ok()?;
    let i = h.get(4..12)?.parse().ok()?;
    (h.starts_with('w') && &h[3..4] == "i" && &h[12..13] == "|").then_some((w, i))
}

/// Every version of `bucket` (no markers are made here), paged through the SDK:
/// key → [(version id, latest, ETag, size)] newest first.
async fn versions_by_key(
    c: &Client,
    bucket: &str,
) -> BTreeMap<String, Vec<(String, bool, String, i64)>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let (mut km, mut vm) = (None::<String>, None::<String>);
    loop {
        let page = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(50)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .expect("list versions");
        assert!(page.delete_markers().is_empty(), "no deletes were made");
        for v in page.versions() {
            out.entry(v.key().expect("key").to_string())
                .or_default()
                .push((
                    v.version_id().expect("id").to_string(),
                    v.is_latest().unwrap_or(false),
                    v.e_tag().unwrap_or_default().to_string(),
                    v.size().unwrap_or(-1),
                ));
        }
        if page.is_truncated() != Some(true) {
            return out;
        }
        km = page.next_key_marker().map(String::from);
        vm = page.next_version_id_marker().map(String::from);
    }
}

/// The real server binary killed with SIGKILL while four writers keep PUTting versions of
/// three keys into a versioned bucket: after a restart every acknowledged version is listed
/// under its key with its id and reads back whole by id; every listed version (also one whose
/// answer the kill cut off) reads back as exactly one of the bodies sent, its ETag its MD5; a
/// writer's versions are in its order; offline fsck of the killed directory is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_writing_versions_loses_no_acknowledged_version() {
    let yaml = "storage:\n  fsync: always\n";
    let srv = Spawned::start("true", yaml, &["--nfs-listen", "off"]);
    let c = srv.client();
    c.create_bucket().bucket("vcrash").send().await.expect("mb");
    set_versioning(&c, "vcrash", BucketVersioningStatus::Enabled).await;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            // (key, version id, put number) of every PUT answered 200.
            let mut acked: Vec<(String, String, u32)> = Vec::new();
            for i in 0.. {
                let key = format!("k{}", (w + i) % KEYS);
                let body = crash_body(w, i);
                match c
                    .put_object()
                    .bucket("vcrash")
                    .key(&key)
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                {
                    Ok(out) => {
                        assert_eq!(out.e_tag(), Some(etag_of(&body).as_str()));
                        let id = out.version_id().expect("a version id").to_string();
                        acked.push((key, id, i));
                    }
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    // Let them write for a while; the kill lands in the middle of PUTs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let dir = srv.kill9();
    let mut acked = Vec::new();
    for (w, t) in tasks.into_iter().enumerate() {
        for (key, id, i) in t.await.expect("join") {
            acked.push((w as u32, key, id, i));
        }
    }
    assert!(
        acked.len() >= 20,
        "only {} versions before the kill",
        acked.len()
    );
    let ids: BTreeSet<&str> = acked.iter().map(|a| a.2.as_str()).collect();
    assert_eq!(ids.len(), acked.len(), "every answered PUT got its own id");

    let data = dir.path().join("data");
    let r = gatehouse_store::fsck::fsck(&data, false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    assert!(r.versions as usize >= acked.len() - KEYS as usize, "{r:?}");

    let srv = Spawned::start_in(dir, "true", yaml, &["--nfs-listen", "off"]);
    let c = srv.client();
    let listed = versions_by_key(&c, "vcrash").await;
    let total: usize = listed.values().map(Vec::len).sum();
    eprintln!(
        "{} versions acknowledged before the kill, {total} listed after it",
        acked.len()
    );
    assert_eq!(
        r.versions as usize + listed.len(),
        total,
        "fsck counted them"
    );
    // At most one PUT per writer was in flight at the kill.
    assert!(
        total >= acked.len() && total <= acked.len() + WRITERS as usize,
        "{total} listed, {} acknowledged",
        acked.len()
    );
    for (w, key, id, i) in &acked {
        let vs = listed
            .get(key)
            .unwrap_or_else(|| panic!("{key} has no versions"));
        assert!(
            vs.iter().any(|v| v.0 == *id),
            "acknowledged version {id} of {key} (writer {w}, put {i}) is missing"
        );
    }
    // Every listed version: whole, its ETag the MD5 of its bytes, one of the bodies sent to
    // that key; the acknowledged ones the very body of that PUT.
    let by_id: BTreeMap<&str, (u32, u32)> = acked
        .iter()
        .map(|(w, _, id, i)| (id.as_str(), (*w, *i)))
        .collect();
    for (key, vs) in &listed {
        assert_eq!(
            vs.iter().filter(|v| v.1).count(),
            1,
            "{key}: exactly one latest"
        );
        assert!(vs[0].1, "{key}: the newest is the latest");
        let mut seen_of_writer: BTreeMap<u32, u32> = BTreeMap::new();
        for (id, _, etag, size) in vs {
            let (got, got_etag, vid) = get_version(&c, "vcrash", key, id).await;
            assert_eq!(&vid, id);
            assert_eq!(got.len() as i64, *size, "{key} {id}: listed size");
            assert_eq!(&got_etag, etag, "{key} {id}");
            assert_eq!(etag, &etag_of(&got), "{key} {id}: ETag is the MD5");
            let (w, i) = crash_origin(&got).unwrap_or_else(|| panic!("{key} {id}: foreign"));
            assert!(got == crash_body(w, i), "{key} {id}: half-written");
            assert_eq!(*key, format!("k{}", (w + i) % KEYS), "{id}: wrong key");
            if let Some(&(aw, ai)) = by_id.get(id.as_str()) {
                assert_eq!((aw, ai), (w, i), "{key} {id}: another PUT's bytes");
            }
            // Newest first: one writer's PUTs appear in descending order.
            if let Some(&later) = seen_of_writer.get(&w) {
                assert!(
                    i < later,
                    "{key}: writer {w}'s put {i} listed after {later}"
                );
            }
            seen_of_writer.insert(w, i);
        }
    }
    // The store goes on: one more version, listed first.
    let body = crash_body(99, 0);
    let out = c
        .put_object()
        .bucket("vcrash")
        .key("k0")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put after restart");
    let id = out.version_id().expect("id").to_string();
    assert!(!ids.contains(id.as_str()));
    let listed = versions_by_key(&c, "vcrash").await;
    assert_eq!(listed["k0"][0].0, id);
    assert!(listed["k0"][0].1);
    let dir = srv.kill9();
    let r = gatehouse_store::fsck::fsck(&dir.path().join("data"), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
}

/// Replaces the msgpack value of `name` in a redb value encoded by the store's codec (a
/// version byte, then a map with named fields) by 0, keeping its width, so the record still
/// decodes and nothing else in it moves. Only the integer encodings are accepted.
fn zero_field(rec: &mut [u8], name: &str) -> u64 {
    let mut key = vec![0xa0 | name.len() as u8];
    key.extend_from_slice(name.as_bytes());
    let at = rec
        .windows(key.len())
        .position(|w| w == key.as_slice())
        .unwrap_or_else(|| panic!("{name} not in the record"))
        + key.len();
    let (width, old) = match rec[at] {
        b @ 0x00..=0x7f => (0, u64::from(b)),
        0xcc => (1, u64::from(rec[at + 1])),
        0xcd => (2, u64::from(u16::from_be_bytes([rec[at + 1], rec[at + 2]]))),
        0xce => (
            4,
            u64::from(u32::from_be_bytes(
                <[u8; 4]>::try_from(&rec[at + 1..at + 5]).expect("4"),
            )),
        ),
        0xcf => (
            8,
            u64::from_be_bytes(<[u8; 8]>::try_from(&rec[at + 1..at + 9]).expect("8")),
        ),
        other => panic!("{name}: not an unsigned integer (0x{other:02x})"),
    };
    if width == 0 {
        rec[at] = 0;
    } else {
        rec[at + 1..at + 1 + width].fill(0);
    }
    old
}

/// fsck recounts a versioned bucket's version counters (noncurrent bytes, version rows): both
/// zeroed in the stored record are reported as the bucket's usage mismatch, `--repair` puts
/// back the counted values, and the server then finds the delete marker of a deleted key
/// again (it looks for one only while the bucket records version rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_repair_restores_a_versioned_buckets_counters() {
    use redb::{ReadableDatabase as _, ReadableTable as _};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("vfix").send().await.expect("mb");
    set_versioning(&c, "vfix", BucketVersioningStatus::Enabled).await;
    let mut sizes = Vec::new();
    for n in 0..4u32 {
        let body = content("x", n);
        sizes.push(body.len() as u64);
        put(&c, "vfix", "x", &body).await.expect("id");
    }
    put(&c, "vfix", "gone", b"soon deleted").await.expect("id");
    let marker = delete(&c, "vfix", "gone").await;
    let dir = srv.stop().await;
    let db_path = dir.path().join("meta.redb");
    let buckets = redb::TableDefinition::<&str, &[u8]>::new("buckets");
    {
        let db = redb::Database::open(&db_path).expect("open");
        let t = db.begin_write().expect("write");
        {
            let mut table = t.open_table(buckets).expect("buckets");
            let mut rec = table
                .get("vfix")
                .expect("get")
                .expect("vfix")
                .value()
                .to_vec();
            // x's three older versions and "gone"'s version are noncurrent.
            let noncurrent = sizes[..3].iter().sum::<u64>() + b"soon deleted".len() as u64;
            assert_eq!(zero_field(&mut rec, "noncurrent_bytes"), noncurrent);
            // Three of x, one of "gone", one marker.
            assert_eq!(zero_field(&mut rec, "version_rows"), 5);
            table.insert("vfix", rec.as_slice()).expect("insert");
        }
        t.commit().expect("commit");
    }
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.usage_mismatches, vec!["vfix".to_string()], "{r:?}");
    assert!(!r.clean());
    assert_eq!(r.usage_total_mismatch, None, "usage bytes were not touched");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["fsck", "--repair", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("fsck --repair");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    assert_eq!(r.versions, 4, "{r:?}");
    {
        let db = redb::Database::open(&db_path).expect("open");
        let t = db.begin_read().expect("read");
        let table = t.open_table(buckets).expect("buckets");
        let mut rec = table
            .get("vfix")
            .expect("get")
            .expect("vfix")
            .value()
            .to_vec();
        assert_eq!(zero_field(&mut rec, "version_rows"), 5);
    }

    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    let e = c
        .get_object()
        .bucket("vfix")
        .key("gone")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&e), "NoSuchKey");
    let (marker_header, id_header) = headers_of(&e);
    assert_eq!(marker_header.as_deref(), Some("true"));
    assert_eq!(id_header.as_deref(), Some(marker.as_str()));
    let head = srv.store().head_bucket(&srv.admin(), "vfix").expect("head");
    assert_eq!(
        head.usage_bytes,
        sizes.iter().sum::<u64>() + b"soon deleted".len() as u64
    );
    // Deleting every version empties the bucket; then it can go.
    let l = c
        .list_object_versions()
        .bucket("vfix")
        .send()
        .await
        .expect("list");
    for (k, v) in l
        .versions()
        .iter()
        .map(|v| (v.key(), v.version_id()))
        .chain(l.delete_markers().iter().map(|m| (m.key(), m.version_id())))
    {
        c.delete_object()
            .bucket("vfix")
            .key(k.expect("key"))
            .version_id(v.expect("id"))
            .send()
            .await
            .expect("delete version");
    }
    c.delete_bucket()
        .bucket("vfix")
        .send()
        .await
        .expect("an empty bucket goes");
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// The version chains (decision 0053) are checked against the log's rows and rebuilt from
/// them: a key's head row removed and a middle row's link pointed at nothing are both found
/// (reads of that key fail or miss versions meanwhile), `--repair` relinks them, and the key
/// lists every version again, newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_relinks_version_chains_from_the_log() {
    use redb::ReadableTable as _;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("vchain").send().await.expect("mb");
    set_versioning(&c, "vchain", BucketVersioningStatus::Enabled).await;
    let mut ids = Vec::new();
    for n in 0..4u32 {
        ids.push(put(&c, "vchain", "x", &content("x", n)).await.expect("id"));
        put(&c, "vchain", "y", &content("y", n)).await.expect("id");
    }
    let dir = srv.stop().await;
    let db_path = dir.path().join("meta.redb");
    let heads = redb::TableDefinition::<&[u8], u64>::new("version_heads");
    let log = redb::TableDefinition::<&[u8], &[u8]>::new("version_log");
    {
        let db = redb::Database::open(&db_path).expect("open");
        let t = db.begin_write().expect("write");
        {
            let mut h = t.open_table(heads).expect("heads");
            let mut l = t.open_table(log).expect("log");
            // x's head (its newest noncurrent version, ids[2]) and y's newest row's link.
            let mut x_head = None;
            let mut y_rows = Vec::new();
            for e in h.iter().expect("iter") {
                let (k, seq) = e.expect("row");
                match &k.value()[8..] {
                    b"x" => x_head = Some(k.value().to_vec()),
                    b"y" => y_rows.push(seq.value()),
                    _ => {}
                }
            }
            let x_head = x_head.expect("x has a head");
            let id = x_head[..8].to_vec();
            h.remove(x_head.as_slice()).expect("remove x's head");
            let y_newest = [id.as_slice(), &y_rows[0].to_be_bytes()].concat();
            let mut row = l
                .get(y_newest.as_slice())
                .expect("get")
                .expect("y's newest row")
                .value()
                .to_vec();
            assert!(zero_field(&mut row, "older") > 0, "it links an older row");
            l.insert(y_newest.as_slice(), row.as_slice())
                .expect("insert");
        }
        t.commit().expect("commit");
    }
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert_eq!(r.version_chain_mismatches, 2, "{r:?}");
    assert!(!r.clean());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["fsck", "--repair", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("fsck --repair");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("2 links of the version chains differ from the version log"),
        "{out}"
    );
    let r = gatehouse_store::fsck::fsck(dir.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    assert_eq!(r.versions, 6, "{r:?}");

    let srv = TestServer::start_in(dir).await;
    let c = srv.client();
    let l = c
        .list_object_versions()
        .bucket("vchain")
        .send()
        .await
        .expect("list");
    let listed: Vec<(&str, &str)> = l
        .versions()
        .iter()
        .map(|v| (v.key().expect("key"), v.version_id().expect("id")))
        .collect();
    let x: Vec<&str> = listed
        .iter()
        .filter(|(k, _)| *k == "x")
        .map(|(_, v)| *v)
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(x, newest_first);
    assert_eq!(listed.iter().filter(|(k, _)| *k == "y").count(), 4);
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// `x-amz-delete-marker` and `x-amz-version-id` of an S3 error answer.
fn headers_of<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<String>, Option<String>) {
    let get = |name: &str| match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            s.raw().headers().get(name).map(String::from)
        }
        _ => None,
    };
    (get("x-amz-delete-marker"), get("x-amz-version-id"))
}

/// Object locks and share snapshots survive an online backup and a restore (decisions 0039,
/// 0040): a COMPLIANCE version still refuses deletion on the restored server, a legal hold is
/// still on, and a snapshot still reads its point-in-time bytes over S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_keep_locks_and_snapshots() {
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("vault")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("mb");
    let until = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let locked = c
        .put_object()
        .bucket("vault")
        .key("deed")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"signed"))
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("id")
        .to_string();
    crate::nfs::share(&srv, "docs", false).await;
    crate::nfs::s3_put(&srv, "fs+docs", "plan.txt", b"first plan".to_vec()).await;
    srv.store()
        .create_snapshot(&srv.admin(), "docs", Some("v1"))
        .await
        .expect("snapshot");
    crate::nfs::s3_put(&srv, "fs+docs", "plan.txt", b"second plan".to_vec()).await;

    let newd = backup_and_restore(srv).await;
    let r = gatehouse_store::fsck::fsck(newd.path(), false).expect("fsck");
    assert!(r.clean(), "{r:?}");
    assert_eq!(r.locked_versions, 1, "{r:?}");

    let srv = TestServer::start_in(newd).await;
    let c = srv.client();
    let h = c
        .head_object()
        .bucket("vault")
        .key("deed")
        .send()
        .await
        .expect("head");
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(
        h.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let e = c
        .delete_object()
        .bucket("vault")
        .key("deed")
        .version_id(&locked)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect_err("still locked");
    assert_eq!(code(&e), "AccessDenied");
    let snap = c
        .get_object()
        .bucket("fs--docs.v1")
        .key("plan.txt")
        .send()
        .await
        .expect("snapshot after restore");
    assert_eq!(body_bytes(snap).await, b"first plan");
    let live = c
        .get_object()
        .bucket("fs+docs")
        .key("plan.txt")
        .send()
        .await
        .expect("live");
    assert_eq!(body_bytes(live).await, b"second plan");
}
