//! Share snapshot cost (issue 21, decision 0040): a share of N small files made through the
//! store's own write path (concurrent PUTs, batched into commits), then a snapshot taken,
//! timed, its metadata bytes measured (growth of `meta.redb`), the chunk files counted before
//! and after (none written), and the snapshot deleted, timed.
//!
//! ```text
//! cargo bench --bench snapshot -- [FILES] [DATA_DIR]
//! ```

use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use gatehouse_store::ops::{NewShare, PutOptions};
use gatehouse_store::{Store, StoreConfig, StoreError};

fn admin() -> gatehouse_store::Principal {
    use gatehouse_store::rbac::policy::AdminPeers;
    gatehouse_store::rbac::Policy::new(
        vec![],
        Default::default(),
        vec![],
        AdminPeers(vec!["admin".into()]),
    )
    .resolve(
        "0123456789abcdef",
        "admin",
        gatehouse_store::model::UserKind::Person,
    )
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let files: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let (store, _) = Store::open(StoreConfig::new(&dir)).context("open")?;
    let p = admin();
    store
        .create_share(
            &p,
            NewShare {
                name: "big".into(),
                ..Default::default()
            },
        )
        .await?;
    let t0 = Instant::now();
    stream::iter(0..files)
        .map(|i| {
            let (store, p) = (store.clone(), p.clone());
            async move {
                // 10 files per directory, 100 directories per parent: a tree as a share has.
                let key = format!("d{}/e{}/f{i}.txt", i / 1000, (i / 10) % 100);
                let body = stream::iter([Ok::<_, StoreError>(Bytes::from(format!(
                    "file {i} of the share"
                )))]);
                store
                    .put_object(&p, "fs+big", &key, body, PutOptions::default(), |_| Ok(()))
                    .await
                    .map(drop)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    let fill = t0.elapsed();
    let meta = dir.join("meta.redb");
    let chunks_before = count_files(&dir.join("blobs"));
    let bytes_before = std::fs::metadata(&meta)?.len();
    let t1 = Instant::now();
    let snap = store.create_snapshot(&p, "big", Some("bench")).await?;
    let create = t1.elapsed();
    let bytes_after = std::fs::metadata(&meta)?.len();
    let chunks_after = count_files(&dir.join("blobs"));
    let t2 = Instant::now();
    store.delete_snapshot(&p, "big", "bench").await?;
    let delete = t2.elapsed();
    println!(
        "| {files} | {:.1} s | {:.2} s | {} | {:.0} | {} → {} | {:.2} s |",
        fill.as_secs_f64(),
        create.as_secs_f64(),
        snap.objects,
        (bytes_after.saturating_sub(bytes_before)) as f64 / snap.objects.max(1) as f64,
        chunks_before,
        chunks_after,
        delete.as_secs_f64(),
    );
    println!(
        "(columns: files, time to write them, snapshot create, entries in it, meta.redb growth per entry in bytes, chunk files before → after, snapshot delete)"
    );
    Ok(())
}
