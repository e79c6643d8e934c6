//! `gatehouse storage migrate --to-backend`: an existing data directory's chunk files moved
//! into a remote backend, the server stopped (decision 0033). Resumable: every referenced chunk
//! is read, checked against its hash and stored unless the backend has it (a rerun skips what
//! an interrupted one finished); only when all are there does the database switch to the
//! backend, and only then are the local files removed (a rerun after the switch finishes that).

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::chunk_store::ChunkStore;
use super::local::LocalDir;
use super::{Hash, LOCAL, recorded_location, set_location};
use crate::error::{Result, StoreError};

/// What a migration did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct MigrateReport {
    /// Chunks the database references.
    pub chunks: u64,
    /// Stored in the backend by this run.
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    /// Already in the backend (an earlier, interrupted run).
    pub present: u64,
    /// Local files removed after the switch (referenced or not).
    pub local_files_removed: u64,
    /// The database already named this backend before the run.
    pub already_switched: bool,
}

/// Moves the chunks of the stopped data directory `data_dir` into the backend `connect` makes
/// (called only once the database is known to be free: a running server's cache is not
/// touched), which names itself `location`. `progress` is called after each chunk with
/// (done, total).
pub fn migrate<B: ChunkStore + ?Sized>(
    data_dir: &Path,
    connect: impl FnOnce() -> Result<std::sync::Arc<B>>,
    location: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MigrateReport> {
    let db = crate::fsck::open_stopped(data_dir)?;
    let target = connect()?;
    let mut report = MigrateReport::default();
    let recorded = recorded_location(&db.begin_read()?)?;
    let local = LocalDir::new(&data_dir.join("blobs"));
    if recorded == location {
        report.already_switched = true;
    } else if recorded != LOCAL {
        return Err(StoreError::InvalidArgument(format!(
            "this data directory's chunks are in {recorded}, not local files"
        )));
    } else {
        let hashes: Vec<(Hash, u64)> = {
            let r = db.begin_read()?;
            let t = r.open_table(crate::tables::CHUNKS)?;
            t.iter()?
                .map(|e| e.map(|(k, v)| (*k.value(), v.value().1)))
                .collect::<std::result::Result<_, _>>()?
        };
        report.chunks = hashes.len() as u64;
        for (i, (h, _)) in hashes.iter().enumerate() {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut local.open(h)?, &mut bytes)?;
            if blake3::hash(&bytes).as_bytes() != h {
                return Err(StoreError::Corrupt(format!(
                    "chunk {} does not match its hash: run gatehouse fsck first",
                    hex::encode(h)
                )));
            }
            let len = bytes.len() as u64;
            // `put` asks the backend first: what an earlier run stored is not sent again.
            if target.put(h, &bytes.into(), true)? {
                report.uploaded += 1;
                report.uploaded_bytes += len;
            } else {
                report.present += 1;
            }
            progress(i as u64 + 1, report.chunks);
        }
        let w = db.begin_write()?;
        set_location(&w, location)?;
        w.commit()?;
    }
    // The database names the backend now: the local files are copies (or garbage).
    let mut files = Vec::new();
    local.visit(&mut |c| {
        files.push(c.hash);
        Ok(())
    })?;
    for h in files {
        if local.remove(&h)?.is_some() {
            report.local_files_removed += 1;
        }
    }
    Ok(report)
}
