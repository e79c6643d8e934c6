//! Where a metadata file's bytes go (issue 19): per redb table of a stopped server's
//! `meta.redb`, its rows and redb's own accounting (`TableStats`): bytes stored (keys and
//! values), B-tree metadata (branch pages, per-entry offsets), fragmentation (unused room in
//! its pages); then the file's total and what the database as a whole has allocated. With the
//! number of objects given, each figure per object too.
//!
//! ```text
//! cargo bench --bench meta_bytes -- DATA_DIR/meta.redb [OBJECTS]
//! ```

use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let path = args
        .next()
        .context("usage: meta_bytes DATA_DIR/meta.redb [OBJECTS]")?;
    let objects: Option<f64> = args.next().map(|s| s.parse()).transpose()?;
    let file = std::fs::metadata(&path)?.len();
    let db = Database::open(&path).with_context(|| path.clone())?;
    let per = |b: u64| objects.map_or(String::new(), |n| format!("{:.1}", b as f64 / n));
    println!(
        "| table | rows | stored | B-tree metadata | fragmented | stored/object | metadata/object | fragmented/object |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let txn = db.begin_read()?;
    let mut total = (0u64, 0u64, 0u64);
    for h in txn.list_tables()? {
        let t = txn.open_untyped_table(h.clone())?;
        let s = t.stats()?;
        total = (
            total.0 + s.stored_bytes(),
            total.1 + s.metadata_bytes(),
            total.2 + s.fragmented_bytes(),
        );
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            h.name(),
            t.len()?,
            s.stored_bytes(),
            s.metadata_bytes(),
            s.fragmented_bytes(),
            per(s.stored_bytes()),
            per(s.metadata_bytes()),
            per(s.fragmented_bytes()),
        );
    }
    println!(
        "| all tables | | {} | {} | {} | {} | {} | {} |",
        total.0,
        total.1,
        total.2,
        per(total.0),
        per(total.1),
        per(total.2)
    );
    drop(txn);
    let w = db.begin_write()?;
    let d = w.stats()?;
    println!(
        "\nfile {file} bytes ({} per object); allocated pages {} of {} bytes ({} bytes; the rest of the file is free pages)",
        per(file),
        d.allocated_pages(),
        d.page_size(),
        d.allocated_pages() * d.page_size() as u64
    );
    w.abort()?;
    Ok(())
}
