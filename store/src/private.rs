//! Files only the server's user may read, whatever the umask: the data directory holds the
//! master key, every object's bytes and the metadata, so new directories are created 0700 and
//! new files 0600 (a backup, an archive being unpacked and a restore included). Existing
//! modes are left alone; [`warn_if_shared`] says when a data directory is open to others.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file the store creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory the store creates.
pub const DIR_MODE: u32 = 0o700;

/// `mkdir -p -m 0700`: the directories it creates are private; existing ones are untouched.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Options for creating a private file (add `create`/`create_new`/`truncate` as needed).
pub fn file_options() -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    o.write(true).mode(FILE_MODE);
    o
}

/// Logs a warning when `path` (a directory or file the server keeps private) is readable by
/// group or others, naming the command that fixes it.
pub fn warn_if_shared(path: &Path, fix: &str) {
    if let Ok(m) = fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:04o}"),
                "readable by group or others; run `chmod {fix} {}`",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_under_a_permissive_umask() {
        let dir = tempfile::tempdir().expect("tmp");
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).expect("mkdir");
        let f = nested.join("f");
        drop(file_options().create_new(true).open(&f).expect("create"));
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&f), 0o600);
    }
}
