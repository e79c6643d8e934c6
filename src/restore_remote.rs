//! `gatehouse restore --from-backend`: a node brought back on another machine from the
//! metadata snapshots its server shipped to the chunk backend (decision 0034). The chunks stay
//! in the backend; the restored data directory records them there, so `gatehouse serve` with
//! the same `storage.backend` serves them.

use std::path::Path;

use anyhow::{Context, bail};
use gatehouse_chunks_s3::S3Backend;

use crate::config::{Overrides, RawConfig};
use crate::println;

pub fn run(config: &Path, snapshot: Option<&str>, to: &Path, json: bool) -> anyhow::Result<()> {
    let cfg = RawConfig::load(config)?.validate(&Overrides {
        data_dir: Some(to.to_path_buf()),
        ..Overrides::default()
    })?;
    let Some(b) = cfg.backend else {
        bail!(
            "{} names no remote storage.backend (kind: s3): nothing was shipped anywhere",
            config.display()
        );
    };
    if to.exists() && to.read_dir()?.next().is_some() {
        bail!(
            "{} is not empty: restore into a new or empty directory",
            to.display()
        );
    }
    // The cache of this connection lives beside the restore and goes with it.
    let scratch = std::env::temp_dir().join(format!("gatehouse-restore-{}", std::process::id()));
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
