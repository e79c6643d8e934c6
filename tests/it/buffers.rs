//! The memory bounds of large transfers (decision 0031), with the real binary: a write budget
//! of two chunks still takes many concurrent multi-chunk uploads, each object reads back
//! whole and by ranges across chunk edges when every read goes through the piecewise path
//! (`storage.read_buffer: 0`), and the MD5 of each (its ETag, here from the SIMD lanes of
//! the hashing thread where the CPU has them) is the body's.

use aws_sdk_s3::primitives::ByteStream;
use md5::Digest as _;

use crate::common::*;
use crate::exposure::Spawned;

#[tokio::test]
async fn tight_budgets_keep_every_byte_and_etag() {
    let yaml = "storage:\n  chunk_size: 64Ki\n  write_buffer: 128Ki\n  read_buffer: 0\n";
    let srv = Spawned::start("true", yaml, &["--nfs-listen", "off"]);
    let c = srv.client();
    c.create_bucket().bucket("buf").send().await.expect("mb");
    // Sizes around the hand-off to the hashing thread (128 KiB) and chunk edges.
    let sizes: Vec<usize> = vec![
        (128 << 10) - 1,
        (128 << 10) + 1,
        (1 << 20) + 13,
        (3 << 20) + 4095,
        5 << 20,
        (2 << 20) + 64,
    ];
    let mut puts = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let c = c.clone();
        let body = bytes(*n, i as u64 + 40);
        puts.push(tokio::spawn(async move {
            let r = c
                .put_object()
                .bucket("buf")
                .key(format!("o{i}"))
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .expect("put");
            (body, r.e_tag().unwrap_or_default().to_string())
        }));
    }
    for (i, p) in puts.into_iter().enumerate() {
        let (body, etag) = p.await.expect("task");
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(md5::Md5::digest(&body))),
            "o{i}"
        );
        let got = c
            .get_object()
            .bucket("buf")
            .key(format!("o{i}"))
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert!(got == body, "o{i} reads back whole");
        // A range over a chunk edge and one inside a chunk.
        for (a, b) in [(65_000usize, 200_000usize), (70_000, 70_100)] {
            let b = b.min(body.len() - 1);
            let part = c
                .get_object()
                .bucket("buf")
                .key(format!("o{i}"))
                .range(format!("bytes={a}-{b}"))
                .send()
                .await
                .expect("range")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            assert!(part == body[a..=b], "o{i} bytes {a}-{b}");
        }
    }
}

#[test]
fn a_write_buffer_under_two_chunks_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "storage:\n  chunk_size: 1Mi\n  write_buffer: 1Mi\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("storage.write_buffer must be at least twice storage.chunk_size"),
        "{err}"
    );
}
