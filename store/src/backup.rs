//! Online backup and offline restore.
//!
//! redb has no backup API and copying its file during writes is unsafe, so a backup copies one
//! read transaction's view, table by table, into a new database file: a consistent state as of
//! one instant while writes go on. The chunks that view references are pinned (the GC cannot
//! remove them meanwhile) and streamed as they are: chunk files are immutable. The identity
//! files (`master.key`, the bootstrap keypair) travel along, or every derived credential would
//! change on restore.
//!
//! The archive is a plain ustar stream (`meta.redb`, `blobs/ab/cd/<hash>`, key files), written
//! and read here so that `tar -x` and `gatehouse restore` both understand it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableHandle};

use crate::blobs::{Hash, Pins};
use crate::error::{Result, StoreError};
use crate::model::Principal;
use crate::rbac::{Resource, Verb, authorize};
use crate::{Store, deny, tables};

/// Files of the data directory that belong in a backup besides the database and chunks.
pub const KEY_FILES: &[&str] = &[
    "master.key",
    "admin_ed25519",
    "admin_ed25519.pub",
    "admin.credentials",
];

/// A consistent copy of the database plus the pinned chunk files it references, ready to be
/// written as an archive. Dropping it removes the temporary database and unpins the chunks.
pub struct Snapshot {
    tmp: PathBuf,
    files: Vec<(String, Source)>,
    pins: Pins,
    pub chunks: u64,
}

/// Where an archive member's bytes come from.
enum Source {
    File(PathBuf),
    /// A pinned chunk, opened through its backend when written.
    Chunk(Hash),
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

macro_rules! copy_tables {
    ($src:expr, $dst:expr, $($t:expr),* $(,)?) => {{
        let mut names: Vec<String> = Vec::new();
        $(
            {
                let def = $t;
                names.push(def.name().to_string());
                let from = $src.open_table(def)?;
                let mut to = $dst.open_table(def)?;
                for e in from.iter()? {
                    let (k, v) = e?;
                    to.insert(k.value(), v.value())?;
                }
            }
        )*
        names
    }};
}

/// Copies every table of `src` into `dst`; returns the names copied.
fn copy_all(src: &redb::ReadTransaction, dst: &redb::WriteTransaction) -> Result<Vec<String>> {
    let mut names = copy_tables!(
        src,
        dst,
        tables::META,
        tables::BUCKETS,
        tables::ENTRIES,
        tables::INODES,
        tables::INODE_DATA,
        tables::CHUNKS,
        tables::UPLOADS,
        tables::UPLOAD_PARTS,
        tables::COMPLETED_UPLOADS,
        tables::COMPLETED_BY_TIME,
        tables::CREDENTIALS,
        tables::USERS,
        tables::USER_NAMES,
        tables::GROUPS,
        tables::ROLES,
        tables::BINDINGS,
        tables::SHARES,
        tables::PEERS,
        tables::DIR_INODES,
        tables::DIR_PATHS,
        tables::DIR_TIMES,
        tables::DIR_SUBDIRS,
        tables::EXPIRY_DUE,
        tables::ABORT_DUE,
        tables::CHUNK_FREED,
        tables::EXPIRY_REBUILD,
        tables::REPL_CONNECTIONS,
        tables::REPL_RULES,
        tables::REPL_QUEUE,
        tables::REPL_LATEST,
        tables::REPL_FAILED,
        tables::INODE_NAMES,
        tables::VERSION_LOG,
        tables::VERSION_HEADS,
        tables::NONCURRENT_DUE,
        tables::INODE_VERSIONS,
        tables::BUCKET_ACCESS,
        tables::KMS_KEYS,
        tables::KMS_AUDIT,
    );
    // Created by the store at open, not by a migration: in every database a running store
    // copies, absent from one that was only migrated.
    match src.open_table(tables::CHUNK_FREED_AT) {
        Ok(from) => {
            let mut to = dst.open_table(tables::CHUNK_FREED_AT)?;
            for e in from.iter()? {
                let (k, v) = e?;
                to.insert(k.value(), v.value())?;
            }
            names.push(tables::CHUNK_FREED_AT.name().to_string());
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(names)
}

impl Store {
    /// A consistent snapshot for an online backup. Admin only (`get` on `backup`).
    pub fn backup_snapshot(&self, p: &Principal) -> Result<Snapshot> {
        deny(authorize(p, Verb::Get, Resource::Backup))?;
        // A chunk dropped by a delete right after our read transaction could be collected
        // before we pin it (only when older than the GC grace): then take a newer view.
        for _ in 0..3 {
            if let Some(s) = self.try_snapshot(true)? {
                crate::ops::audit_action(p, "backup", &format!("{} chunks", s.chunks));
                return Ok(s);
            }
        }
        Err(StoreError::Internal(
            "chunks kept disappearing under the backup; retry".into(),
        ))
    }

    /// The database (and key files) without chunks, for a node whose chunks live in a remote
    /// backend already: shipped there as a disaster-recovery point (`restore --from-backend`).
    /// The copy keeps its record of where the chunks are. Internal: the server ships it.
    pub fn metadata_snapshot(&self) -> Result<Snapshot> {
        self.try_snapshot(false)?
            .ok_or_else(|| StoreError::internal("a snapshot without chunks cannot miss one"))
    }

    /// `with_chunks`: the archive carries every chunk the copy references (pinned meanwhile),
    /// and the copy says they are local files; `None` when one vanished under us.
    fn try_snapshot(&self, with_chunks: bool) -> Result<Option<Snapshot>> {
        let data_dir = &self.inner.cfg.data_dir;
        let tmp = data_dir.join(format!("backup-tmp-{}", random_suffix()));
        crate::private::create_dir_all(&tmp)?;
        let mut pins = Pins::new(self.inner.blobs.clone());
        let mut files = Vec::new();
        let guard = TmpDir(tmp.clone());
        let chunks = {
            let rtxn = self.db().begin_read()?;
            let db_path = tmp.join("meta.redb");
            let copy = Database::create(&db_path)
                .map_err(|e| StoreError::Internal(format!("backup database: {e}")))?;
            let wtxn = copy.begin_write()?;
            copy_all(&rtxn, &wtxn)?;
            // The archive carries the chunks (from whichever backend): restored, they are
            // files in the new data directory.
            if with_chunks {
                crate::blobs::set_location(&wtxn, crate::blobs::LOCAL)?;
            }
            wtxn.commit()?;
            drop(copy);
            files.push(("meta.redb".to_string(), Source::File(db_path)));
            let mut n = 0u64;
            for e in rtxn
                .open_table(tables::CHUNKS)?
                .iter()?
                .take_while(|_| with_chunks)
            {
                let (k, _) = e?;
                let h: Hash = *k.value();
                pins.add(h);
                if !self.inner.blobs.contains(&h)? {
                    return Ok(None);
                }
                files.push((archive_name_of_chunk(&h), Source::Chunk(h)));
                n += 1;
            }
            n
        };
        for f in KEY_FILES {
            let p = data_dir.join(f);
            if p.exists() {
                files.push((f.to_string(), Source::File(p)));
            }
        }
        std::mem::forget(guard);
        Ok(Some(Snapshot {
            tmp,
            files,
            pins,
            chunks,
        }))
    }
}

struct TmpDir(PathBuf);
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

fn archive_name_of_chunk(h: &Hash) -> String {
    let x = hex::encode(h);
    format!("blobs/{}/{}/{x}", &x[0..2], &x[2..4])
}

impl Snapshot {
    /// Writes the archive (blocking): the database first, then chunks, then key files.
    pub fn write_tar(&self, w: &mut impl Write) -> Result<()> {
        for (name, source) in &self.files {
            let mut f = match source {
                Source::File(path) => File::open(path)?,
                Source::Chunk(h) => self.pins.blobs().open_chunk(h)?,
            };
            let len = f.metadata()?.len();
            let mode = if KEY_FILES.contains(&name.as_str()) && name != "admin_ed25519.pub" {
                0o600
            } else {
                0o644
            };
            write_header(w, name, len, mode)?;
            let copied = io::copy(&mut (&mut f).take(len), w)?;
            if copied != len {
                return Err(StoreError::Internal(format!(
                    "{name} shrank while backed up"
                )));
            }
            pad(w, len)?;
        }
        // End of archive: two zero blocks.
        w.write_all(&[0u8; 1024])?;
        w.flush()?;
        Ok(())
    }
}

fn write_header(w: &mut impl Write, name: &str, len: u64, mode: u32) -> Result<()> {
    if name.len() > 99 {
        return Err(StoreError::Internal(format!(
            "archive name too long: {name}"
        )));
    }
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], len);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    w.write_all(&h)?;
    Ok(())
}

/// Zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(s);
    field[digits] = 0;
}

fn pad(w: &mut impl Write, len: u64) -> Result<()> {
    let rem = (len % 512) as usize;
    if rem != 0 {
        w.write_all(&vec![0u8; 512 - rem])?;
    }
    Ok(())
}

/// Unpacks an archive made by [`Snapshot::write_tar`] into `dir` (which must be empty or
/// absent). Only regular files with plain relative names are accepted. Returns the number of
/// files written.
pub fn unpack_tar(r: &mut impl Read, dir: &Path) -> Result<u64> {
    ensure_empty_dir(dir)?;
    let mut n = 0;
    loop {
        let mut h = [0u8; 512];
        r.read_exact(&mut h)
            .map_err(|e| bad_archive(&format!("truncated ({e})")))?;
        if h.iter().all(|b| *b == 0) {
            return Ok(n);
        }
        let stored: u64 = parse_octal(&h[148..156])?;
        let mut sum_h = h;
        sum_h[148..156].copy_from_slice(b"        ");
        let sum: u64 = sum_h.iter().map(|b| u64::from(*b)).sum();
        if sum != stored {
            return Err(bad_archive("header checksum mismatch"));
        }
        let name_end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name =
            std::str::from_utf8(&h[..name_end]).map_err(|_| bad_archive("non-UTF-8 name"))?;
        let len = parse_octal(&h[124..136])?;
        if h[156] != b'0' && h[156] != 0 {
            return Err(bad_archive(&format!(
                "{name}: only regular files are expected"
            )));
        }
        let rel = Path::new(name);
        if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad_archive(&format!("unsafe name {name:?}")));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            crate::private::create_dir_all(parent)?;
        }
        let mut f = open_new(&path)?;
        let copied = io::copy(&mut r.by_ref().take(len), &mut f)?;
        if copied != len {
            return Err(bad_archive(&format!("{name} is truncated")));
        }
        f.sync_all()?;
        let rem = (len % 512) as usize;
        if rem != 0 {
            let mut skip = vec![0u8; 512 - rem];
            r.read_exact(&mut skip)
                .map_err(|_| bad_archive("truncated padding"))?;
        }
        n += 1;
    }
}

/// A new file of a restored data directory: private, whatever mode the backup recorded.
fn open_new(path: &Path) -> Result<File> {
    Ok(crate::private::file_options().create_new(true).open(path)?)
}

fn parse_octal(field: &[u8]) -> Result<u64> {
    let s: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| bad_archive("bad octal field"))
}

fn bad_archive(why: &str) -> StoreError {
    StoreError::InvalidArgument(format!("not a gatehouse backup archive: {why}"))
}

/// `dir` must not exist or be an empty directory: restores and backups never overwrite.
pub fn ensure_empty_dir(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(StoreError::InvalidArgument(format!(
                    "{} is not empty; give an empty or new directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::private::create_dir_all(dir)?;
            Ok(())
        }
        Err(e) => Err(StoreError::io(e)),
    }
}

/// Restores a backup directory (an unpacked archive) into a new data directory, then checks
/// the result with fsck. `to` must be empty or absent.
/// The chunks a (stopped or restored) data directory's database names.
pub fn chunks_named(dir: &Path) -> Result<Vec<Hash>> {
    let db = crate::fsck::open_stopped(dir)?;
    let rtxn = db.begin_read()?;
    let mut out = Vec::new();
    for e in rtxn.open_table(tables::CHUNKS)?.iter()? {
        out.push(*e?.0.value());
    }
    Ok(out)
}

pub fn restore_dir(from: &Path, to: &Path) -> Result<crate::fsck::FsckReport> {
    if !from.join("meta.redb").is_file() {
        return Err(StoreError::InvalidArgument(format!(
            "{} holds no meta.redb: not a gatehouse backup",
            from.display()
        )));
    }
    ensure_empty_dir(to)?;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(from.join(&rel))? {
            let e = e?;
            let name = rel.join(e.file_name());
            let ft = e.file_type()?;
            if ft.is_dir() {
                crate::private::create_dir_all(&to.join(&name))?;
                stack.push(name);
            } else if ft.is_file() {
                let mut src = File::open(e.path())?;
                let mut dst = open_new(&to.join(&name))?;
                io::copy(&mut src, &mut dst)?;
                dst.sync_all()?;
            }
        }
    }
    crate::fsck::fsck(to, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_of_the_schema_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("m.redb")).unwrap();
        gatehouse_migrations::migrate(&db).unwrap();
        let rtxn = db.begin_read().unwrap();
        let mut schema: Vec<String> = rtxn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_string())
            .collect();
        schema.sort();
        let other = Database::create(dir.path().join("copy.redb")).unwrap();
        let wtxn = other.begin_write().unwrap();
        let mut copied: Vec<String> = copy_all(&rtxn, &wtxn)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        copied.sort();
        assert_eq!(
            schema, copied,
            "a table the backup does not copy (add it to copy_all)"
        );
    }

    #[test]
    fn archives_round_trip_and_hostile_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        write_header(&mut buf, "meta.redb", 5, 0o644).unwrap();
        buf.extend_from_slice(b"hello");
        pad(&mut buf, 5).unwrap();
        write_header(&mut buf, "blobs/ab/cd/x", 0, 0o644).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let out = dir.path().join("out");
        assert_eq!(unpack_tar(&mut buf.as_slice(), &out).unwrap(), 2);
        assert_eq!(fs::read(out.join("meta.redb")).unwrap(), b"hello");
        // Not into a non-empty directory.
        assert!(unpack_tar(&mut buf.as_slice(), &out).is_err());
        // Path escapes and truncation.
        let mut evil = Vec::new();
        write_header(&mut evil, "../escape", 1, 0o644).unwrap();
        evil.extend_from_slice(&[b'x'; 512]);
        assert!(unpack_tar(&mut evil.as_slice(), &dir.path().join("e1")).is_err());
        assert!(!dir.path().join("escape").exists());
        assert!(unpack_tar(&mut &buf[..700], &dir.path().join("e2")).is_err());
        let mut tampered = buf.clone();
        tampered[0] = b'X';
        assert!(unpack_tar(&mut tampered.as_slice(), &dir.path().join("e3")).is_err());
    }
}
