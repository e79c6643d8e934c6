//! Listings: v1/v2 pagination, delimiters over a few thousand keys, byte order, encoding.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

async fn fill(srv: &TestServer, bucket: &str, keys: &[String]) {
    let c = srv.client();
    c.create_bucket().bucket(bucket).send().await.expect("mb");
    let mut set = tokio::task::JoinSet::new();
    for chunk in keys.chunks(keys.len().div_ceil(16).max(1)) {
        let c = c.clone();
        let chunk = chunk.to_vec();
        let bucket = bucket.to_string();
        set.spawn(async move {
            for k in chunk {
                c.put_object()
                    .bucket(&bucket)
                    .key(&k)
                    .body(ByteStream::from_static(b"v"))
                    .send()
                    .await
                    .expect("put");
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join");
    }
}

#[tokio::test]
async fn paginated_listing_over_thousands_of_keys_with_delimiters() {
    let srv = TestServer::start().await;
    let mut keys = Vec::new();
    for d in 0..30 {
        for f in 0..80 {
            keys.push(format!("dir{d:02}/file{f:03}"));
        }
    }
    for f in 0..150 {
        keys.push(format!("top{f:03}"));
    }
    fill(&srv, "many", &keys).await;
    let c = srv.client();
    let mut sorted = keys.clone();
    sorted.sort();

    // v2, all keys, pages of 1000.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("many")
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("v2");
        pages += 1;
        seen.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, sorted);

    // Delimiter at the root: 30 common prefixes + 150 keys, in pages of 50.
    let mut prefixes = Vec::new();
    let mut files = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("many")
            .delimiter("/")
            .max_keys(50)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("v2 delim");
        assert!(out.key_count().unwrap_or(0) <= 50);
        prefixes.extend(
            out.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        files.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_string);
    }
    assert_eq!(prefixes.len(), 30);
    assert_eq!(prefixes[0], "dir00/");
    assert_eq!(files.len(), 150);

    // Prefix + delimiter inside one directory; v1 with markers.
    let mut marker: Option<String> = None;
    let mut got = Vec::new();
    loop {
        let out = c
            .list_objects()
            .bucket("many")
            .prefix("dir07/")
            .delimiter("/")
            .max_keys(30)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("v1");
        got.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        if out.is_truncated() != Some(true) {
            break;
        }
        marker = out.next_marker().map(str::to_string);
    }
    assert_eq!(got.len(), 80);
    assert!(got.iter().all(|k| k.starts_with("dir07/")));

    // start-after skips; a start-after that is itself a common prefix skips the whole prefix.
    let out = c
        .list_objects_v2()
        .bucket("many")
        .delimiter("/")
        .start_after("dir28/")
        .send()
        .await
        .expect("sa");
    let p: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(p, vec!["dir29/"]);
    srv.stop().await;
}

#[tokio::test]
async fn byte_order_utf8_and_url_encoding() {
    let srv = TestServer::start().await;
    let keys: Vec<String> = ["a/b", "a-b", "a", "a0", "é", "z", "a b", "Z"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    fill(&srv, "order", &keys).await;
    let out = srv
        .client()
        .list_objects_v2()
        .bucket("order")
        .send()
        .await
        .expect("list");
    let got: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    // Byte order: ' ' < '-' < '/' < '0' < 'Z' < 'a' < 'z' < UTF-8 multi-byte.
    assert_eq!(got, vec!["Z", "a", "a b", "a-b", "a/b", "a0", "z", "é"]);

    let r = srv
        .signed(
            "GET",
            "/order",
            Some("delimiter=%2F&encoding-type=url&list-type=2"),
            &[],
            vec![],
        )
        .await;
    let body = r.text().await.expect("text");
    assert!(body.contains("<Key>a%20b</Key>"), "{body}");
    assert!(body.contains("<Key>%C3%A9</Key>"), "{body}");
    assert!(body.contains("<Prefix>a/</Prefix>"), "{body}");
    assert!(body.contains("<EncodingType>url</EncodingType>"), "{body}");
    srv.stop().await;
}
