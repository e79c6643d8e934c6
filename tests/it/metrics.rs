//! `GET /metrics` on the admin listener, in the Prometheus text format, after real traffic.

use aws_sdk_s3::primitives::ByteStream;

use crate::admin_api::{Api, admin_addr};
use crate::common::*;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_errors_bytes_and_storage() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("met").send().await.expect("mb");
    let big: Vec<u8> = (0..(2 << 20)).map(|i| (i % 251) as u8).collect();
    for k in ["a.bin", "b.bin"] {
        c.put_object()
            .bucket("met")
            .key(k)
            .body(ByteStream::from(big.clone()))
            .send()
            .await
            .expect("put");
    }
    let got = c
        .get_object()
        .bucket("met")
        .key("a.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await.len(), big.len());
    let e = c
        .get_object()
        .bucket("met")
        .key("nope")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&e), "NoSuchKey");
    let (status, _) = Api::admin(&srv).call("GET", "/api/buckets", None).await;
    assert_eq!(status, 200);

    let resp = reqwest::get(format!("http://{}/metrics", admin_addr(&srv)))
        .await
        .expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("text");
    // Every sample line is `name{labels} number`.
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, v) = l
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {l:?}"));
        assert!(v.parse::<f64>().is_ok(), "bad value in {l:?}");
    }
    let put = r#"gatehouse_requests_total{protocol="s3",op="PutObject",status="200"}"#;
    assert_eq!(value(&text, put), Some(2.0), "{text}");
    let missing = r#"gatehouse_errors_total{protocol="s3",code="NoSuchKey"}"#;
    assert_eq!(value(&text, missing), Some(1.0), "{text}");
    let admin = r#"gatehouse_requests_total{protocol="admin",op="GET /api/buckets",status="200"}"#;
    assert_eq!(value(&text, admin), Some(1.0), "{text}");
    let received = value(&text, r#"gatehouse_bytes_received_total{protocol="s3"}"#).expect("in");
    assert!(received >= 2.0 * big.len() as f64, "{received}");
    let sent = value(&text, r#"gatehouse_bytes_sent_total{protocol="s3"}"#).expect("out");
    assert!(sent >= big.len() as f64, "{sent}");
    assert!(
        value(
            &text,
            r#"gatehouse_request_duration_seconds_count{protocol="s3"}"#
        )
        .expect("n")
            >= 5.0
    );
    assert_eq!(
        value(&text, "gatehouse_storage_used_bytes"),
        Some(2.0 * big.len() as f64)
    );
    // The same 2 MiB twice is stored once: the dedup ratio shows it.
    let ratio = value(&text, "gatehouse_dedup_ratio").expect("ratio");
    assert!(ratio >= 1.9, "dedup ratio {ratio}");
    // Kept as chunk rows come and go (not recounted per scrape): the bytes stored once.
    assert_eq!(
        value(&text, "gatehouse_chunk_bytes"),
        Some(big.len() as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "gatehouse_storage_limit_bytes"),
        Some((1u64 << 30) as f64)
    );
}

#[tokio::test]
async fn health_reports_the_store_and_degrades_when_the_disk_takes_no_writes() {
    let srv = TestServer::start().await;
    let url = format!("http://{}/api/health", admin_addr(&srv));
    let r = reqwest::get(&url).await.expect("health");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(v["status"], "ok");
    assert!(
        v["store"]["schema_version"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{v}"
    );
    assert_eq!(v["store"]["blobs_writable"], true);
    // The staging directory replaced by a file: nothing can be written any more.
    let tmp = srv.data_dir().join("blobs").join("tmp");
    std::fs::remove_dir_all(&tmp).expect("rm");
    std::fs::write(&tmp, b"not a directory").expect("file");
    let r = reqwest::get(&url).await.expect("health");
    assert_eq!(r.status().as_u16(), 503);
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(
        (v["status"].as_str(), v["store"]["blobs_writable"].as_bool()),
        (Some("degraded"), Some(false))
    );
    std::fs::remove_file(&tmp).expect("rm");
    std::fs::create_dir(&tmp).expect("mkdir");
    assert_eq!(
        reqwest::get(&url).await.expect("health").status().as_u16(),
        200
    );
}
