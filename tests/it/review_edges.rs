//! Review of issue 17's edges (wave 2): a client that stops sending a request body, or stops
//! reading a response, cannot hold a connection (and its slot under the cap) for ever.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::exposure::nfs_null_call;

/// Reads what the server sends on `s` until it closes or `limit` passes: (bytes, closed).
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(end.into(), s.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_and_closed_after_the_idle_timeout() {
    let srv = TestServer::start_with(|raw| {
        raw.s3.idle_timeout_secs = Some(1);
        raw.admin.idle_timeout_secs = Some(1);
    })
    .await;
    srv.client()
        .create_bucket()
        .bucket("stall")
        .send()
        .await
        .expect("bucket");

    // S3: a presigned PUT whose body stops after 10 of 1000 bytes.
    let url = srv.presign("PUT", "/stall/k", 600, SystemTime::now());
    let pq = url.split_once(&srv.addr.to_string()).expect("url").1;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    let head = format!(
        "PUT {pq} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\n",
        srv.addr
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(&[b'x'; 10]).await.expect("write");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(6)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed, "a stalled upload kept its connection: {text:?}");
    assert!(text.starts_with("HTTP/1.1 400"), "{text:?}");
    assert!(text.contains("IncompleteBody"), "{text:?}");
    assert!(
        srv.client()
            .head_object()
            .bucket("stall")
            .key("k")
            .send()
            .await
            .is_err(),
        "nothing was stored"
    );

    // Admin: the unauthenticated sign-in reads a body too.
    let admin = crate::admin_api::admin_addr(&srv);
    let mut s = TcpStream::connect(admin).await.expect("connect");
    s.write_all(
        b"POST /api/session HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"access_key\"",
    )
    .await
    .expect("write");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(6)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed, "a stalled sign-in kept its connection: {text:?}");
    assert!(text.starts_with("HTTP/1.1 4"), "{text:?}");

    // A slow body that keeps coming is not cut: 4 pieces 0.6 s apart (2.4 s > the timeout).
    let url = srv.presign("PUT", "/stall/slow", 600, SystemTime::now());
    let pq = url.split_once(&srv.addr.to_string()).expect("url").1;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    let head = format!(
        "PUT {pq} HTTP/1.1\r\nHost: {}\r\nContent-Length: 4\r\n\r\n",
        srv.addr
    );
    s.write_all(head.as_bytes()).await.expect("write");
    for b in b"slow" {
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.write_all(&[*b]).await.expect("write");
    }
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    srv.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_response_is_disconnected() {
    let srv = TestServer::start_with(|raw| {
        raw.s3.idle_timeout_secs = Some(1);
    })
    .await;
    let c = srv.client();
    c.create_bucket()
        .bucket("big")
        .send()
        .await
        .expect("bucket");
    let len = 24 << 20;
    c.put_object()
        .bucket("big")
        .key("k")
        .body(ByteStream::from(bytes(len, 7)))
        .send()
        .await
        .expect("put");

    // A small receive window, and nothing read for 4 s: the server gives up on the client.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = sock.connect(srv.addr).await.expect("connect");
    let url = srv.presign("GET", "/big/k", 600, SystemTime::now());
    let pq = url.split_once(&srv.addr.to_string()).expect("url").1;
    let head = format!("GET {pq} HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr);
    s.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(closed, "the connection stayed open");
    assert!(
        got.len() < len,
        "the whole object ({} bytes) was still sent",
        got.len()
    );
    srv.stop().await;
}

#[tokio::test]
async fn presigning_with_the_s3_listener_off_is_a_clear_conflict() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = gatehouse::config::RawConfig::default()
        .validate(&gatehouse::config::Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            s3_listen: Some("off".into()),
            admin_listen: Some("127.0.0.1:0".into()),
            nfs_listen: Some("off".into()),
        })
        .expect("config");
    let running = gatehouse::app::start(cfg).await.expect("starts");
    let admin = running.admin_addr.expect("admin on");
    let (ak, sk) = read_credentials(&dir.path().join("admin.credentials"));
    let http = reqwest::Client::new();
    let call = |path: &str, body: serde_json::Value| {
        http.post(format!("http://{admin}{path}"))
            .basic_auth(&ak, Some(&sk))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = call("/api/buckets", serde_json::json!({"name": "nos3"}))
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let r = call(
        "/api/buckets/nos3/presign",
        serde_json::json!({"key": "k", "method": "GET"}),
    )
    .await
    .expect("send");
    let status = r.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "api.no_s3_endpoint", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("s3.public_url")),
        "{body}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn nfs_idle_clock_stops_when_a_record_begins_and_a_trickled_record_is_cut() {
    let srv = TestServer::start_with(|raw| {
        raw.nfs.idle_timeout_secs = Some(2);
    })
    .await;
    // Idle 1.4 s, then a call that takes 1 s to arrive: 2.4 s after the connection opened
    // but 1 s after its first byte. It is answered.
    let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    let call = nfs_null_call(7);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    s.write_all(&call[..20]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(&call[20..]).await.expect("write");
    let mut mark = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut mark))
        .await
        .expect("answered in time")
        .expect("the call was answered, not the connection closed mid-record");
    let mut reply = vec![0u8; (u32::from_be_bytes(mark) & 0x7fff_ffff) as usize];
    s.read_exact(&mut reply).await.expect("reply");
    assert_eq!(&reply[..4], &7u32.to_be_bytes());

    // A record trickled a byte every 300 ms is cut about 2 s after it began.
    let mut s = TcpStream::connect(srv.nfs_addr).await.expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for b in nfs_null_call(8) {
        if s.write_all(&[b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    if !cut {
        cut = read_until_closed(&mut s, Duration::from_millis(500))
            .await
            .1;
    }
    assert!(cut, "a trickled record kept the connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_stop_ends_within_the_drain_limit_while_a_slow_upload_goes_on() {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/up",
        post(|body: axum::body::Body| async move {
            axum::body::to_bytes(body, 1 << 20)
                .await
                .map_or(0, |b| b.len())
                .to_string()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let limits = gatehouse::listen::Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        drain: Duration::from_secs(1),
    };
    let task = gatehouse::listen::spawn(listener, app, None, limits, stop_rx, "test");
    // An upload that keeps coming, a byte every 200 ms (100 bytes: 20 s).
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        .await
        .expect("write");
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if s.write_all(b"x").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(4), task)
        .await
        .expect("the listener stopped within the drain limit")
        .expect("join");
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(3), trickle)
            .await
            .expect("the upload was cut")
            .expect("join"),
        "the connection was closed"
    );
}
