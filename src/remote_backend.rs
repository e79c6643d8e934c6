//! The offline verbs of a remote chunk backend (`storage.backend: s3`, decisions 0033-0034):
//!
//! - `gatehouse restore --from-backend`: a node brought back on another machine from the
//!   metadata snapshots its server shipped to the backend. The chunks stay in the backend; the
//!   restored data directory records them there, so `gatehouse serve` with the same
//!   `storage.backend` serves them.
//! - `gatehouse storage migrate --to-backend`: a stopped server's chunk files moved into the
//!   backend, resumably, each checked against its hash.

use std::path::Path;

use anyhow::{Context, bail};
use gatehouse_chunks_s3::S3Backend;

use crate::config::{Config, Overrides, RawConfig};
use crate::println;

/// The config at `config` (with `data_dir` overriding its own) and its remote backend.
fn load(
    config: &Path,
    data_dir: Option<&Path>,
) -> anyhow::Result<(Config, crate::config_backend::Backend)> {
    let cfg = RawConfig::load(config)?.validate(&Overrides {
        data_dir: data_dir.map(Path::to_path_buf),
        ..Overrides::default()
    })?;
    let Some(b) = cfg.backend.clone() else {
        bail!(
            "{} names no remote storage.backend (kind: s3)",
            config.display()
        );
    };
    Ok((cfg, b))
}

/// `gatehouse storage migrate --to-backend --config FILE [--data-dir DIR]`.
pub fn migrate(config: &Path, data_dir: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let (cfg, b) = load(config, data_dir)?;
    let dir = cfg.data_dir;
    let location = b.s3.location();
    let cache = dir.join("blobs").join("cache");
    let connect = || S3Backend::connect(&b.s3, &cache);
    let mut last = std::time::Instant::now();
    let report =
        gatehouse_store::blobs::migrate::migrate(&dir, connect, &location, &mut |done, all| {
            if !json && (last.elapsed().as_secs() >= 2 || done == all) {
                last = std::time::Instant::now();
                eprintln!("{done}/{all} chunks in {location}");
            }
        })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if report.already_switched {
        println!(
            "{} already keeps its chunks in {location}; {} leftover local files removed",
            dir.display(),
            report.local_files_removed
        );
    } else {
        println!(
            "{}: {} chunks in {location} ({} stored now, {} bytes; {} were there already); \
             {} local files removed. Start it with gatehouse serve --config {}",
            dir.display(),
            report.chunks,
            report.uploaded,
            report.uploaded_bytes,
            report.present,
            report.local_files_removed,
            config.display()
        );
    }
    Ok(())
}

/// `gatehouse restore --from-backend --config FILE --data-dir NEW [--snapshot NAME]`.
pub fn restore(config: &Path, snapshot: Option<&str>, to: &Path, json: bool) -> anyhow::Result<()> {
    let (_, b) = load(config, Some(to))?;
    if to.exists() && to.read_dir()?.next().is_some() {
        bail!(
            "{} is not empty: restore into a new or empty directory",
            to.display()
        );
    }
    // The download and this connection's cache live beside the restore (the same file
    // system, which has room for the database; /tmp may not) and go with it.
    let beside = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let scratch = beside.join(format!(".gatehouse-restore-{}", std::process::id()));
    let res = (|| {
        let backend = S3Backend::connect(&b.s3, &scratch.join("cache"))?;
        let all = backend.snapshots()?;
        let chosen = match snapshot {
            None => all.last(),
            Some(name) => all
                .iter()
                .find(|s| s.key == name || s.key.rsplit('/').next() == Some(name)),
        };
        let Some(chosen) = chosen.cloned() else {
            let names: Vec<&str> = all.iter().map(|s| s.key.as_str()).collect();
            bail!(
                "no such snapshot in {} (there: {})",
                b.s3.location(),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            );
        };
        let tar = scratch.join("snapshot.tar");
        backend
            .fetch_snapshot(&chosen.key, &tar)
            .with_context(|| format!("downloading {}", chosen.key))?;
        let mut f = std::io::BufReader::new(std::fs::File::open(&tar)?);
        gatehouse_store::backup::unpack_tar(&mut f, to)?;
        // Every chunk the snapshot names must be in the backend (one listing).
        let mut stored = std::collections::HashSet::new();
        gatehouse_store::blobs::ChunkStore::visit(&*backend, &mut |c| {
            stored.insert(c.hash);
            Ok(())
        })?;
        let named = gatehouse_store::backup::chunks_named(to)?;
        let missing = named.iter().filter(|h| !stored.contains(*h)).count();
        Ok((chosen, named.len(), missing))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let (chosen, chunks, missing) = res?;
    if missing > 0 {
        bail!(
            "restored {} into {}, but {missing} of its {chunks} chunks are not in the backend \
             (collected since it was taken?): try an older snapshot with --snapshot, or run \
             gatehouse fsck --server on the started node for the objects they belong to",
            chosen.key,
            to.display()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "data_dir": to,
                "snapshot": chosen.key,
                "taken_ms": chosen.taken_ms,
                "chunks": chunks,
            })
        );
    } else {
        println!(
            "Restored snapshot {} (taken {} ms after the epoch) into {}: {chunks} chunks, all in \
             the backend; start it with gatehouse serve --config {} --data-dir {}",
            chosen.key,
            chosen.taken_ms,
            to.display(),
            config.display(),
            to.display()
        );
    }
    Ok(())
}
