//! S3 versioning (decision 0038) through aws-sdk-s3: the bucket setting, version ids on every
//! write, reads and deletes by version, delete markers, the null version, ListObjectVersions
//! paging in AWS order, DeleteObjects with version ids, copies and tags of old versions, and
//! usage that counts every version.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
    VersioningConfiguration,
};

use crate::common::*;

/// PutBucketVersioning with `status`.
pub(crate) async fn set_versioning(c: &Client, b: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("put versioning");
}

async fn put(c: &Client, b: &str, k: &str, body: &[u8]) -> Option<String> {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .map(String::from)
}

async fn get_version(c: &Client, b: &str, k: &str, v: &str) -> Vec<u8> {
    body_bytes(
        c.get_object()
            .bucket(b)
            .key(k)
            .version_id(v)
            .send()
            .await
            .expect("get version"),
    )
    .await
}

/// (key, version id, is latest, delete marker) of a whole listing, in the order returned.
async fn all_versions(c: &Client, b: &str) -> Vec<(String, String, bool, bool)> {
    let out = c
        .list_object_versions()
        .bucket(b)
        .send()
        .await
        .expect("list versions");
    let mut v: Vec<(String, String, bool, bool)> = out
        .versions()
        .iter()
        .map(|o| {
            (
                o.key().unwrap_or("").to_string(),
                o.version_id().unwrap_or("").to_string(),
                o.is_latest().unwrap_or(false),
                false,
            )
        })
        .collect();
    v.extend(out.delete_markers().iter().map(|m| {
        (
            m.key().unwrap_or("").to_string(),
            m.version_id().unwrap_or("").to_string(),
            m.is_latest().unwrap_or(false),
            true,
        )
    }));
    v
}

/// A response header of an S3 error (`x-amz-delete-marker`, `x-amz-version-id`).
fn header<E>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    name: &str,
) -> Option<String> {
    match e {
        SdkError::ServiceError(s) => s.raw().headers().get(name).map(String::from),
        _ => None,
    }
}

#[tokio::test]
async fn versions_of_one_key_through_their_whole_life() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("ver").send().await.expect("mb");
    let st = c
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .expect("get");
    assert_eq!(st.status(), None, "never configured: no Status");

    // Written before versioning: the null version, no id in the answer.
    assert_eq!(put(&c, "ver", "k", b"zero").await, None);
    set_versioning(&c, "ver", BucketVersioningStatus::Enabled).await;
    let st = c
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .expect("get");
    assert_eq!(st.status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put(&c, "ver", "k", b"one").await.expect("v1 id");
    let v2 = put(&c, "ver", "k", b"two!").await.expect("v2 id");
    assert_ne!(v1, v2);
    // A plain GET reads the newest.
    let o = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(o.version_id(), Some(v2.as_str()));
    assert_eq!(body_bytes(o).await, b"two!");
    assert_eq!(get_version(&c, "ver", "k", &v1).await, b"one");
    assert_eq!(get_version(&c, "ver", "k", "null").await, b"zero");
    let h = c
        .head_object()
        .bucket("ver")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("head v1");
    assert_eq!(
        (h.content_length(), h.version_id()),
        (Some(3), Some(v1.as_str()))
    );

    // Listing: newest first, the current one latest.
    assert_eq!(
        all_versions(&c, "ver").await,
        vec![
            ("k".into(), v2.clone(), true, false),
            ("k".into(), v1.clone(), false, false),
            ("k".into(), "null".into(), false, false),
        ]
    );
    // Plain listings show the current version only.
    let l = c
        .list_objects_v2()
        .bucket("ver")
        .send()
        .await
        .expect("list");
    assert_eq!(l.contents().len(), 1);
    assert_eq!(l.contents()[0].size(), Some(4));

    // Every version's bytes count in the bucket's usage.
    let b = srv
        .store()
        .head_bucket(&srv.admin(), "ver")
        .expect("head bucket");
    assert_eq!((b.usage_bytes, b.object_count), (4 + 3 + 4, 1));

    // DELETE without a version id: a delete marker, the data stays.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(d.delete_marker(), Some(true));
    let marker = d.version_id().expect("marker id").to_string();
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "NoSuchKey");
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("true"));
    assert_eq!(
        header(&e, "x-amz-version-id").as_deref(),
        Some(marker.as_str())
    );
    let e = c
        .head_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .expect_err("a marker has no body");
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(405),
        "{e:?}"
    );
    assert_eq!(get_version(&c, "ver", "k", &v2).await, b"two!");
    let l = c
        .list_objects_v2()
        .bucket("ver")
        .send()
        .await
        .expect("list");
    assert!(l.contents().is_empty(), "a deleted key is not listed");
    assert_eq!(all_versions(&c, "ver").await.len(), 4);
    let e = c
        .delete_bucket()
        .bucket("ver")
        .send()
        .await
        .expect_err("versions remain");
    assert_eq!(code(&e), "BucketNotEmpty");

    // Deleting the marker brings v2 back.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .expect("delete marker");
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker.as_str()));
    let o = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .expect("back");
    assert_eq!(body_bytes(o).await, b"two!");

    // Deleting the current version by id makes the one before current.
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .expect("delete v2");
    let o = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .expect("v1 now");
    assert_eq!(o.version_id(), Some(v1.as_str()));
    assert_eq!(body_bytes(o).await, b"one");

    // A version that does not exist: NoSuchVersion on reads; a delete of it deletes nothing.
    let missing = "00000000000000ff0123456789abcdef";
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(missing)
        .send()
        .await
        .expect_err("no such version");
    assert_eq!(code(&e), "NoSuchVersion");
    // ...and another key's version is not this key's.
    let other = put(&c, "ver", "other", b"o").await.expect("id");
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&other)
        .send()
        .await
        .expect_err("another key's version");
    assert_eq!(code(&e), "NoSuchVersion");
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id("not-an-id")
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(code(&e), "InvalidArgument");
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(missing)
        .send()
        .await
        .expect("deleting a version that is not there succeeds");
    assert_eq!(all_versions(&c, "ver").await.len(), 3);

    // Remove every version: the bucket is empty and can go, usage back to 0.
    for v in [v1.as_str(), "null"] {
        c.delete_object()
            .bucket("ver")
            .key("k")
            .version_id(v)
            .send()
            .await
            .expect("delete version");
    }
    c.delete_object()
        .bucket("ver")
        .key("other")
        .version_id(&other)
        .send()
        .await
        .expect("delete other");
    assert!(all_versions(&c, "ver").await.is_empty());
    let b = srv
        .store()
        .head_bucket(&srv.admin(), "ver")
        .expect("head bucket");
    assert_eq!((b.usage_bytes, b.object_count), (0, 0));
    c.delete_bucket().bucket("ver").send().await.expect("rb");
}

#[tokio::test]
async fn suspended_versioning_writes_the_null_version() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("sus").send().await.expect("mb");
    set_versioning(&c, "sus", BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, "sus", "k", b"v1").await.expect("id");
    set_versioning(&c, "sus", BucketVersioningStatus::Suspended).await;
    let st = c
        .get_bucket_versioning()
        .bucket("sus")
        .send()
        .await
        .expect("get");
    assert_eq!(st.status(), Some(&BucketVersioningStatus::Suspended));
    // A null version; v1 kept.
    assert_eq!(put(&c, "sus", "k", b"n1").await, None);
    // Another null version replaces the first.
    put(&c, "sus", "k", b"n2").await;
    assert_eq!(
        all_versions(&c, "sus").await,
        vec![
            ("k".into(), "null".into(), true, false),
            ("k".into(), v1.clone(), false, false),
        ]
    );
    assert_eq!(get_version(&c, "sus", "k", "null").await, b"n2");
    // A delete makes a null delete marker, replacing the null version.
    let d = c
        .delete_object()
        .bucket("sus")
        .key("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        (d.delete_marker(), d.version_id()),
        (Some(true), Some("null"))
    );
    assert_eq!(
        all_versions(&c, "sus").await,
        vec![
            ("k".into(), v1.clone(), false, false),
            ("k".into(), "null".into(), true, true),
        ]
    );
    let b = srv
        .store()
        .head_bucket(&srv.admin(), "sus")
        .expect("head bucket");
    assert_eq!(b.usage_bytes, 2, "only v1's bytes are held");
}

#[tokio::test]
async fn version_listing_pages_in_aws_order() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("pages").send().await.expect("mb");
    set_versioning(&c, "pages", BucketVersioningStatus::Enabled).await;
    let mut want: Vec<(String, String)> = Vec::new();
    for key in ["a", "b/1", "b/2", "c"] {
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                put(&c, "pages", key, format!("{key}{i}").as_bytes())
                    .await
                    .expect("id"),
            );
        }
        if key == "c" {
            let d = c
                .delete_object()
                .bucket("pages")
                .key(key)
                .send()
                .await
                .expect("rm");
            ids.push(d.version_id().expect("marker").to_string());
        }
        ids.reverse();
        want.extend(ids.into_iter().map(|v| (key.to_string(), v)));
    }
    // Pages of 5 with key and version-id markers walk every version once, in order.
    let mut got: Vec<(String, String)> = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    loop {
        let out = c
            .list_object_versions()
            .bucket("pages")
            .max_keys(5)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .expect("page");
        let mut page: Vec<(String, String, i64)> = Vec::new();
        for v in out.versions() {
            page.push((
                v.key().unwrap_or("").into(),
                v.version_id().unwrap_or("").into(),
                0,
            ));
        }
        for m in out.delete_markers() {
            page.push((
                m.key().unwrap_or("").into(),
                m.version_id().unwrap_or("").into(),
                1,
            ));
        }
        assert!(page.len() <= 5);
        // Versions and markers come as separate lists; their order is the version ids'.
        page.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        got.extend(page.into_iter().map(|(k, v, _)| (k, v)));
        if out.is_truncated() != Some(true) {
            break;
        }
        km = out.next_key_marker().map(String::from);
        vm = out.next_version_id_marker().map(String::from);
    }
    assert_eq!(got, want);

    // A delimiter rolls keys up into common prefixes.
    let out = c
        .list_object_versions()
        .bucket("pages")
        .delimiter("/")
        .send()
        .await
        .expect("delimited");
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["b/"]);
    assert_eq!(out.versions().len(), 3 + 3);
    assert_eq!(out.delete_markers().len(), 1);

    // A version-id marker without a key marker is refused.
    let e = c
        .list_object_versions()
        .bucket("pages")
        .version_id_marker("x")
        .send()
        .await
        .expect_err("no key marker");
    assert_eq!(code(&e), "InvalidArgument");
}

/// Every version of `bucket` through ListObjectVersions pages of `max_keys`, in AWS order, as
/// (key, version id, is latest), starting after `key_marker`/`version_id_marker`.
async fn paged_versions(
    c: &Client,
    bucket: &str,
    max_keys: i32,
    mut km: Option<String>,
    mut vm: Option<String>,
) -> Vec<(String, String, bool)> {
    let mut got = Vec::new();
    loop {
        let out = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(max_keys)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .expect("page");
        let mut page: Vec<(String, String, bool)> = out
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id(), v.is_latest()))
            .chain(
                out.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id(), m.is_latest())),
            )
            .map(|(k, v, l)| {
                (
                    k.unwrap_or("").to_string(),
                    v.unwrap_or("").to_string(),
                    l == Some(true),
                )
            })
            .collect();
        assert!(
            page.len() <= max_keys as usize,
            "{} > {max_keys}",
            page.len()
        );
        // Versions and markers come as two lists: a key's are newest first by version id
        // (ours rise with each write), the null version, written before versioning, last.
        let order = |v: &str| {
            if v == "null" {
                String::new()
            } else {
                v.to_string()
            }
        };
        page.sort_by(|a, b| a.0.cmp(&b.0).then(order(&b.1).cmp(&order(&a.1))));
        got.extend(page);
        if out.is_truncated() != Some(true) {
            return got;
        }
        km = out.next_key_marker().map(String::from);
        vm = out.next_version_id_marker().map(String::from);
    }
}

#[tokio::test]
async fn a_key_with_many_versions_pages_from_its_markers() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("many").send().await.expect("mb");
    // `k`: the null version (written before versioning), then 40 versions with a delete marker
    // after every tenth; `l` after it: two versions.
    let mut k_ids = vec![put(&c, "many", "k", b"null").await.unwrap_or_default()];
    assert_eq!(k_ids[0], "", "no version id before versioning");
    k_ids[0] = "null".into();
    set_versioning(&c, "many", BucketVersioningStatus::Enabled).await;
    for i in 1..=40 {
        k_ids.push(
            put(&c, "many", "k", format!("k{i}").as_bytes())
                .await
                .expect("id"),
        );
        if i % 10 == 0 {
            let d = c
                .delete_object()
                .bucket("many")
                .key("k")
                .send()
                .await
                .expect("rm");
            k_ids.push(d.version_id().expect("marker id").to_string());
        }
    }
    let mut l_ids = Vec::new();
    for i in 0..2 {
        l_ids.push(
            put(&c, "many", "l", format!("l{i}").as_bytes())
                .await
                .expect("id"),
        );
    }
    let mut want: Vec<(String, String, bool)> = Vec::new();
    for (key, ids) in [("k", &k_ids), ("l", &l_ids)] {
        for (i, id) in ids.iter().rev().enumerate() {
            want.push((key.to_string(), id.clone(), i == 0));
        }
    }
    assert_eq!(want.len(), 47);
    // Pages smaller than the key's versions, each starting inside its chain: every version
    // once, in order, only each key's newest latest (a delete marker, for `k`).
    for max_keys in [1, 7, 46, 1000] {
        assert_eq!(
            paged_versions(&c, "many", max_keys, None, None).await,
            want,
            "pages of {max_keys}"
        );
    }
    // From any version of `k` named as the marker, the listing goes on with the next older
    // one; after the null version (the oldest), with `l`.
    for (i, id) in k_ids.iter().rev().enumerate() {
        let rest = paged_versions(&c, "many", 5, Some("k".into()), Some(id.clone())).await;
        assert_eq!(rest, want[i + 1..], "after {id}");
    }
    // A marker that names none of `k`'s versions: nothing more of `k`, then `l`.
    let rest = paged_versions(
        &c,
        "many",
        5,
        Some("k".into()),
        Some(format!("{:032x}", 7u8)),
    )
    .await;
    assert_eq!(rest, want[45..]);
}

#[tokio::test]
async fn delete_objects_copies_tags_and_multipart_by_version() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("ops").send().await.expect("mb");
    set_versioning(&c, "ops", BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, "ops", "k", b"first").await.expect("id");
    let v2 = put(&c, "ops", "k", b"second").await.expect("id");

    // CopyObject from an old version; the copy is a new version of its key.
    let cp = c
        .copy_object()
        .bucket("ops")
        .key("copy")
        .copy_source(format!("ops/k?versionId={v1}"))
        .send()
        .await
        .expect("copy v1");
    assert_eq!(cp.copy_source_version_id(), Some(v1.as_str()));
    assert!(cp.version_id().is_some());
    let o = c
        .get_object()
        .bucket("ops")
        .key("copy")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(o).await, b"first");

    // Tags of one version, not the others.
    c.put_object_tagging()
        .bucket("ops")
        .key("k")
        .version_id(&v1)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("state")
                        .value("old")
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tag v1");
    let t1 = c
        .get_object_tagging()
        .bucket("ops")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("tags v1");
    assert_eq!(t1.tag_set().len(), 1);
    assert_eq!(t1.version_id(), Some(v1.as_str()));
    let t2 = c
        .get_object_tagging()
        .bucket("ops")
        .key("k")
        .send()
        .await
        .expect("tags");
    assert!(t2.tag_set().is_empty());

    // Multipart completion makes a version; UploadPartCopy reads an old one.
    let up = c
        .create_multipart_upload()
        .bucket("ops")
        .key("mp")
        .send()
        .await
        .expect("mpu");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part_copy()
        .bucket("ops")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .copy_source(format!("ops/k?versionId={v1}"))
        .send()
        .await
        .expect("part copy");
    let done = c
        .complete_multipart_upload()
        .bucket("ops")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(
                            part.copy_part_result()
                                .and_then(|r| r.e_tag())
                                .unwrap_or(""),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let mp_version = done.version_id().expect("a version id").to_string();
    assert_eq!(get_version(&c, "ops", "mp", &mp_version).await, b"first");

    // DeleteObjects: one version by id, one key without (a marker), one unknown version.
    let out = c
        .delete_objects()
        .bucket("ops")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(&v1)
                        .build()
                        .expect("o"),
                )
                .objects(ObjectIdentifier::builder().key("copy").build().expect("o"))
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id("bad")
                        .build()
                        .expect("o"),
                )
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let deleted = out.deleted();
    assert_eq!(deleted.len(), 2, "{out:?}");
    assert_eq!(deleted[0].version_id(), Some(v1.as_str()));
    assert_eq!(deleted[1].delete_marker(), Some(true));
    assert!(deleted[1].delete_marker_version_id().is_some());
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("InvalidArgument"));
    let left: Vec<String> = all_versions(&c, "ops")
        .await
        .into_iter()
        .map(|(k, v, _, m)| format!("{k}:{}:{m}", v == v2))
        .collect();
    assert!(left.contains(&"k:true:false".to_string()), "{left:?}");
    assert!(
        !left
            .iter()
            .any(|l| l.starts_with("k:") && l != "k:true:false")
    );
}

#[tokio::test]
async fn concurrent_puts_make_distinct_ordered_versions() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("race").send().await.expect("mb");
    set_versioning(&c, "race", BucketVersioningStatus::Enabled).await;
    let mut tasks = Vec::new();
    for i in 0..24u32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            put(&c, "race", "hot", &i.to_le_bytes()).await.expect("id")
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    let listed = all_versions(&c, "race").await;
    assert_eq!(listed.len(), 24);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 24, "every PUT its own version");
    // Newest first: the listing's order is the ids' order, descending, the first latest.
    let listed_ids: Vec<&String> = listed.iter().map(|(_, v, _, _)| v).collect();
    let mut sorted = listed_ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed_ids, sorted);
    assert!(listed[0].2 && listed[1..].iter().all(|l| !l.2));
    // The current object is the newest version's bytes.
    let o = c
        .get_object()
        .bucket("race")
        .key("hot")
        .send()
        .await
        .expect("get");
    assert_eq!(o.version_id(), Some(listed[0].1.as_str()));
}

#[tokio::test]
async fn versioning_configuration_is_checked() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("cfg").send().await.expect("mb");
    for (body, want) in [
        (
            "<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>",
            "MalformedXML",
        ),
        (
            "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>",
            "NotImplemented",
        ),
        ("<Nope/>", "MalformedXML"),
    ] {
        let r = srv
            .signed(
                "PUT",
                "/cfg",
                Some("versioning"),
                &[],
                body.as_bytes().to_vec(),
            )
            .await;
        let text = r.text().await.expect("body");
        assert!(text.contains(want), "{body}: {text}");
    }
    // A small XML body's Content-MD5 and flexible checksum are checked, not just accepted.
    let enable = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    for (name, value) in [
        ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-amz-checksum-crc32", "AAAAAA=="),
    ] {
        let r = srv
            .signed(
                "PUT",
                "/cfg",
                Some("versioning"),
                &[(name, value)],
                enable.to_vec(),
            )
            .await;
        let text = r.text().await.expect("body");
        assert!(text.contains("BadDigest"), "{name}: {text}");
    }
    let st = c
        .get_bucket_versioning()
        .bucket("cfg")
        .send()
        .await
        .expect("get");
    assert_eq!(st.status(), None, "nothing was applied");
    let md5 = {
        use base64::Engine;
        use md5::Digest;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(enable))
    };
    let r = srv
        .signed(
            "PUT",
            "/cfg",
            Some("versioning"),
            &[("content-md5", &md5)],
            enable.to_vec(),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Lifecycle rules for versions: NoncurrentVersionExpiration (with NewerNoncurrentVersions)
/// and ExpiredObjectDeleteMarker, applied by the sweeper at an injected time; a rule put after
/// the versions were made applies to them too.
#[tokio::test]
async fn lifecycle_expires_noncurrent_versions_and_lone_markers() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter, NoncurrentVersionExpiration,
    };
    const DAY: i64 = 86_400_000;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("lcv").send().await.expect("mb");
    set_versioning(&c, "lcv", BucketVersioningStatus::Enabled).await;
    // Four versions of k (three noncurrent), and a key deleted: one version and its marker.
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            put(&c, "lcv", "k", format!("v{i}").as_bytes())
                .await
                .expect("id"),
        );
    }
    put(&c, "lcv", "gone", b"g").await;
    c.delete_object()
        .bucket("lcv")
        .key("gone")
        .send()
        .await
        .expect("rm");
    // A DELETE of a key that never was: a delete marker alone.
    c.delete_object()
        .bucket("lcv")
        .key("solo")
        .send()
        .await
        .expect("rm");
    // The rule comes after: the versions already there are entered by the rebuild.
    let rules = vec![
        LifecycleRule::builder()
            .id("old-versions")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(10)
                    .newer_noncurrent_versions(1)
                    .build(),
            )
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("markers")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .build()
            .expect("rule"),
    ];
    c.put_bucket_lifecycle_configuration()
        .bucket("lcv")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .expect("cfg"),
        )
        .send()
        .await
        .expect("put lifecycle");
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcv")
        .send()
        .await
        .expect("get");
    let nve = got.rules()[0]
        .noncurrent_version_expiration()
        .expect("kept");
    assert_eq!(
        (nve.noncurrent_days(), nve.newer_noncurrent_versions()),
        (Some(10), Some(1))
    );
    assert_eq!(
        got.rules()[1]
            .expiration()
            .and_then(|e| e.expired_object_delete_marker()),
        Some(true)
    );

    let store = srv.store();
    let now = gatehouse_store::now_unix_ms();
    let s = store
        .sweep_expiry(now + 5 * DAY, 10_000)
        .await
        .expect("sweep");
    // The lone marker goes at once (the first sweep after the rule).
    assert_eq!(s.versions_expired, 1, "{s:?}");
    assert_eq!(all_versions(&c, "lcv").await.len(), 4 + 2);
    let s = store
        .sweep_expiry(now + 11 * DAY, 10_000)
        .await
        .expect("sweep");
    // k: the current version and the newest noncurrent one stay (NewerNoncurrentVersions 1);
    // the two older go. gone: its one noncurrent version is the newest, so it stays, and so
    // does its marker (not alone).
    let left: Vec<(String, String)> = all_versions(&c, "lcv")
        .await
        .into_iter()
        .map(|(k, v, _, _)| (k, v))
        .collect();
    assert_eq!(s.versions_expired, 2, "{s:?}");
    assert_eq!(left.len(), 4, "{left:?}");
    let k_ids: Vec<&str> = left
        .iter()
        .filter(|(k, _)| k == "k")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(k_ids, vec![ids[3].as_str(), ids[2].as_str()]);
    let s = store
        .sweep_expiry(now + 12 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.versions_expired, 0, "{s:?}");
    let b = store.head_bucket(&srv.admin(), "lcv").expect("head");
    assert_eq!(b.usage_bytes, 2 + 2 + 1, "v3, v2 and gone's version");

    // Once gone's version is deleted by hand, its marker is alone: the next sweep takes it.
    let versions = c
        .list_object_versions()
        .bucket("lcv")
        .prefix("gone")
        .send()
        .await
        .expect("list");
    let gv = versions.versions()[0].version_id().expect("id").to_string();
    c.delete_object()
        .bucket("lcv")
        .key("gone")
        .version_id(&gv)
        .send()
        .await
        .expect("delete version");
    let s = store
        .sweep_expiry(now + 13 * DAY, 10_000)
        .await
        .expect("sweep");
    assert_eq!(s.versions_expired, 1, "{s:?}");
    assert!(all_versions(&c, "lcv").await.iter().all(|(k, ..)| k == "k"));

    // Bad configurations are refused whole.
    let e = c
        .put_bucket_lifecycle_configuration()
        .bucket("lcv")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .status(ExpirationStatus::Enabled)
                        .expiration(
                            LifecycleExpiration::builder()
                                .days(3)
                                .expired_object_delete_marker(true)
                                .build(),
                        )
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("cfg"),
        )
        .send()
        .await
        .expect_err("Days with ExpiredObjectDeleteMarker");
    assert_eq!(code(&e), "InvalidArgument");
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcv")
        .send()
        .await
        .expect("get");
    assert_eq!(got.rules().len(), 2, "the old rules stay");
    // The chains the sweeps relinked are whole (fsck rebuilds them from the log).
    crate::multipart_promises::stop_and_fsck(srv).await;
}

/// CopyObject and UploadPartCopy from a versioned source name the version they copied
/// (`x-amz-copy-source-version-id`) also when the request named none: the current one.
#[tokio::test]
async fn copies_name_the_source_version_they_copied() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("vsrc").send().await.expect("mb");
    set_versioning(&c, "vsrc", BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, "vsrc", "k", b"first").await.expect("v1");
    let v2 = put(&c, "vsrc", "k", &[7u8; 5 << 20]).await.expect("v2");
    assert_ne!(v1, v2);
    let copied = c
        .copy_object()
        .bucket("vsrc")
        .key("copy")
        .copy_source("vsrc/k")
        .send()
        .await
        .expect("copy");
    assert_eq!(copied.copy_source_version_id(), Some(v2.as_str()));
    let copied = c
        .copy_object()
        .bucket("vsrc")
        .key("copy-old")
        .copy_source(format!("vsrc/k?versionId={v1}"))
        .send()
        .await
        .expect("copy by id");
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    let up = c
        .create_multipart_upload()
        .bucket("vsrc")
        .key("parts")
        .send()
        .await
        .expect("upload");
    let part = c
        .upload_part_copy()
        .bucket("vsrc")
        .key("parts")
        .upload_id(up.upload_id().expect("id"))
        .part_number(1)
        .copy_source("vsrc/k")
        .send()
        .await
        .expect("part copy");
    assert_eq!(part.copy_source_version_id(), Some(v2.as_str()));
}
