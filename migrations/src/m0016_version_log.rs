//! Schema 16: noncurrent versions in write order (decision 0053). `versions` (bucket id BE ++
//! key ++ 0x00 ++ (u64::MAX − seq) BE → version row) becomes `version_log` (bucket id BE ++ seq
//! BE → {key, older, row}: the key's rows chained newest first through `older`) and
//! `version_heads` (bucket id BE ++ key → the seq of its newest row); `versions` is deleted.
//! One pass over the old table. Frozen: later schemas add steps, never edit this one.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::MigrationError;

const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("versions");
const VERSION_LOG: TableDefinition<&[u8], &[u8]> = TableDefinition::new("version_log");
const VERSION_HEADS: TableDefinition<&[u8], u64> = TableDefinition::new("version_heads");

/// A version row as schema 12 wrote it (version byte 1, then rmp-serde with named fields).
#[derive(Serialize, Deserialize)]
struct VersionRow {
    version_id: String,
    inode: Option<u64>,
    mtime_ms: i64,
    size: u64,
    #[serde(default)]
    noncurrent_ms: i64,
}

/// A `version_log` row as schema 16 writes it.
#[derive(Serialize)]
struct LogRow<'a> {
    key: &'a str,
    older: Option<u64>,
    row: VersionRow,
}

fn decode(bytes: &[u8]) -> Result<VersionRow, MigrationError> {
    match bytes.split_first() {
        Some((1, rest)) => rmp_serde::from_slice(rest)
            .map_err(|e| MigrationError::Db(format!("undecodable version row: {e}"))),
        _ => Err(MigrationError::Db(
            "version row of an unknown version".into(),
        )),
    }
}

fn encode(row: &LogRow<'_>) -> Result<Vec<u8>, MigrationError> {
    let mut out = vec![1u8];
    rmp_serde::encode::write_named(&mut out, row)
        .map_err(|e| MigrationError::Db(format!("unencodable version row: {e}")))?;
    Ok(out)
}

/// (bucket id, key, seq) of a `versions` key.
fn split(k: &[u8]) -> Result<(u64, &str, u64), MigrationError> {
    let bad = || MigrationError::Db("malformed versions key".into());
    if k.len() < 17 {
        return Err(bad());
    }
    let id = u64::from_be_bytes(k[..8].try_into().map_err(|_| bad())?);
    let (head, seq) = k.split_at(k.len() - 8);
    let seq = u64::MAX - u64::from_be_bytes(seq.try_into().map_err(|_| bad())?);
    let key = std::str::from_utf8(&head[8..head.len() - 1]).map_err(|_| bad())?;
    Ok((id, key, seq))
}

/// The tables a pass writes.
struct Out<'t> {
    log: redb::Table<'t, &'static [u8], &'static [u8]>,
    heads: redb::Table<'t, &'static [u8], u64>,
    meta: redb::Table<'t, &'static str, &'static [u8]>,
}

/// The next version sequence number (META `next_version`, a little-endian u64).
fn next_version(meta: &mut redb::Table<&str, &[u8]>) -> Result<u64, MigrationError> {
    let cur = match meta.get("next_version")? {
        Some(v) => u64::from_le_bytes(
            v.value()
                .try_into()
                .map_err(|_| MigrationError::Db("malformed next_version".into()))?,
        ),
        None => 0,
    };
    meta.insert("next_version", (cur + 1).to_le_bytes().as_slice())?;
    Ok(cur + 1)
}

/// Writes one key's rows (newest first) into the log, chained, and its head. A number another
/// key of the bucket holds already (two names of one hard-linked inode kept the same version)
/// gets a new one, and the version an id with it, as a write does since this schema: it is
/// then the key's newest noncurrent row.
fn put_key(
    out: &mut Out<'_>,
    id: u64,
    key: &str,
    mut rows: Vec<(u64, VersionRow)>,
) -> Result<(), MigrationError> {
    let log_key = |seq: u64| [id.to_be_bytes(), seq.to_be_bytes()].concat();
    let mut renumbered = false;
    for (seq, row) in rows.iter_mut() {
        if out.log.get(log_key(*seq).as_slice())?.is_some() {
            let fresh = next_version(&mut out.meta)?;
            if row.version_id != "null" {
                let rest = row.version_id.get(16..).unwrap_or("0000000000000000");
                row.version_id = format!("{fresh:016x}{rest}");
            }
            *seq = fresh;
            renumbered = true;
        }
    }
    if renumbered {
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    }
    let (log, heads) = (&mut out.log, &mut out.heads);
    let olders: Vec<Option<u64>> = rows.iter().skip(1).map(|(s, _)| Some(*s)).collect();
    let mut hk = id.to_be_bytes().to_vec();
    hk.extend_from_slice(key.as_bytes());
    if let Some((newest, _)) = rows.first() {
        heads.insert(hk.as_slice(), *newest)?;
    }
    for (i, (seq, row)) in rows.into_iter().enumerate() {
        let older = olders.get(i).copied().flatten();
        log.insert(
            log_key(seq).as_slice(),
            encode(&LogRow { key, older, row })?.as_slice(),
        )?;
    }
    Ok(())
}

pub(crate) fn apply(txn: &redb::WriteTransaction) -> Result<(), MigrationError> {
    {
        let old = txn.open_table(VERSIONS)?;
        let mut out = Out {
            log: txn.open_table(VERSION_LOG)?,
            heads: txn.open_table(VERSION_HEADS)?,
            meta: txn.open_table(crate::META)?,
        };
        let mut current: Option<(u64, String)> = None;
        let mut rows: Vec<(u64, VersionRow)> = Vec::new();
        for e in old.iter()? {
            let (k, v) = e?;
            let (id, key, seq) = split(k.value())?;
            if current
                .as_ref()
                .is_some_and(|(cid, ckey)| *cid != id || ckey != key)
                && let Some((cid, ckey)) = current.take()
            {
                put_key(&mut out, cid, &ckey, std::mem::take(&mut rows))?;
            }
            if current.is_none() {
                current = Some((id, key.to_string()));
            }
            rows.push((seq, decode(v.value())?));
        }
        if let Some((cid, ckey)) = current {
            put_key(&mut out, cid, &ckey, rows)?;
        }
    }
    txn.delete_table(VERSIONS)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase, ReadableTableMetadata};
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize, Debug)]
    struct Row {
        version_id: String,
        inode: Option<u64>,
    }

    #[derive(Deserialize, Debug)]
    struct Logged {
        key: String,
        older: Option<u64>,
        row: Row,
    }

    fn old_key(id: u64, key: &str, seq: u64) -> Vec<u8> {
        [
            id.to_be_bytes().as_slice(),
            key.as_bytes(),
            &[0],
            &(u64::MAX - seq).to_be_bytes(),
        ]
        .concat()
    }

    fn old_row(id: &str, inode: Option<u64>) -> Vec<u8> {
        let row = VersionRow {
            version_id: id.into(),
            inode,
            mtime_ms: 1,
            size: 3,
            noncurrent_ms: 2,
        };
        let mut out = vec![1u8];
        rmp_serde::encode::write_named(&mut out, &row).expect("encode");
        out
    }

    #[test]
    fn each_keys_rows_become_a_chain_and_a_shared_number_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("m.redb")).expect("create");
        let txn = db.begin_write().expect("write");
        for step in &crate::STEPS[..15] {
            step(&txn).expect("step");
        }
        {
            let mut meta = txn.open_table(crate::META).expect("meta");
            meta.insert(crate::SCHEMA_VERSION_KEY, 15u64.to_le_bytes().as_slice())
                .expect("version");
            meta.insert("next_version", 9u64.to_le_bytes().as_slice())
                .expect("counter");
            let mut v = txn.open_table(VERSIONS).expect("versions");
            let id = |seq: u64| format!("{seq:016x}00000000000000aa");
            // Key "a": versions 3 and 7 and a null (numbered 5); key "b" shares 7 (a hard
            // link's version kept under both names) and has a marker 8; bucket 2 has key "a" 7.
            for (b, key, seq, vid, ino) in [
                (1, "a", 3, id(3), Some(30)),
                (1, "a", 5, "null".to_string(), Some(50)),
                (1, "a", 7, id(7), Some(70)),
                (1, "b", 7, id(7), Some(71)),
                (1, "b", 8, id(8), None),
                (2, "a", 7, id(7), Some(72)),
            ] {
                v.insert(
                    old_key(b, key, seq).as_slice(),
                    old_row(&vid, ino).as_slice(),
                )
                .expect("row");
            }
        }
        txn.commit().expect("commit");

        crate::migrate(&db).expect("migrate");

        let r = db.begin_read().expect("read");
        assert!(
            r.open_table(VERSIONS).is_err(),
            "the old table is gone after the step"
        );
        let log = r.open_table(VERSION_LOG).expect("log");
        let heads = r.open_table(VERSION_HEADS).expect("heads");
        let head = |b: u64, key: &str| {
            heads
                .get(
                    [b.to_be_bytes().as_slice(), key.as_bytes()]
                        .concat()
                        .as_slice(),
                )
                .expect("get")
                .map(|v| v.value())
        };
        let chain = |b: u64, key: &str| {
            let mut out = Vec::new();
            let mut at = head(b, key);
            while let Some(seq) = at {
                let k = [b.to_be_bytes(), seq.to_be_bytes()].concat();
                let v = log.get(k.as_slice()).expect("get").expect("linked row");
                let r: Logged = rmp_serde::from_slice(&v.value()[1..]).expect("decode");
                assert_eq!(r.key, key);
                out.push((seq, r.row.version_id, r.row.inode));
                at = r.older;
            }
            out
        };
        let id = |seq: u64| format!("{seq:016x}00000000000000aa");
        assert_eq!(
            chain(1, "a"),
            vec![
                (7, id(7), Some(70)),
                (5, "null".to_string(), Some(50)),
                (3, id(3), Some(30))
            ]
        );
        // "b"'s copy of 7 took the next number (10) and an id with it: now its newest.
        assert_eq!(
            chain(1, "b"),
            vec![(10, id(10), Some(71)), (8, id(8), None)]
        );
        assert_eq!(chain(2, "a"), vec![(7, id(7), Some(72))]);
        assert_eq!(log.len().expect("len"), 6);
        assert_eq!(heads.len().expect("len"), 3);
    }
}
