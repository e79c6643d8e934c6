//! Which S3 credentials sign the client's requests, and the aws credentials file format
//! (`[default]`, `aws_access_key_id = …`, `aws_secret_access_key = …`) read and written.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::args::ClientOpts;

/// The server writes its bootstrap admin's credentials here, inside its data directory.
const ADMIN_FILE: &str = "admin.credentials";
/// `gatehouse serve`'s default data directory.
const DEFAULT_DATA_DIR: &str = "gatehouse-data";

#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    // The secret stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// `--credentials FILE`, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else
/// `--data-dir DIR` → `DIR/admin.credentials`, else `./gatehouse-data/admin.credentials` if it
/// exists.
pub fn resolve(opts: &ClientOpts) -> anyhow::Result<Credentials> {
    if let Some(f) = &opts.credentials {
        return read_file(f);
    }
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if let (Some(access_key), Some(secret_key)) =
        (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(Credentials {
            access_key,
            secret_key,
        });
    }
    if let Some(dir) = &opts.data_dir {
        return read_file(&dir.join(ADMIN_FILE));
    }
    let default = PathBuf::from(DEFAULT_DATA_DIR).join(ADMIN_FILE);
    if default.exists() {
        return read_file(&default);
    }
    Err(super::error::ClientError::new(
        super::error::Exit::Denied,
        "cli.no_credentials",
        "no credentials: give --credentials FILE, set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or point --data-dir at the server's data directory",
    )
    .into())
}

/// Reads the `[default]` profile (or keys before any section) of an aws credentials file.
pub fn read_file(path: &Path) -> anyhow::Result<Credentials> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading credentials {}", path.display()))?;
    parse(&text).with_context(|| format!("credentials {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<Credentials> {
    let (mut access, mut secret) = (None, None);
    let mut in_default = true;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_default = section.trim() == "default";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => access = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    match (access, secret) {
        (Some(access_key), Some(secret_key)) => Ok(Credentials {
            access_key,
            secret_key,
        }),
        _ => bail!("no aws_access_key_id and aws_secret_access_key in its [default] profile"),
    }
}

/// Writes an aws credentials file with mode 0600 (also when it existed with another mode).
pub fn write_file(path: &Path, c: &Credentials) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let text = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        c.access_key, c.secret_key
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_profile() {
        let c = parse(
            "[other]\naws_access_key_id = X\n[default]\naws_access_key_id = AK\naws_secret_access_key=SK\n",
        )
        .expect("parses");
        assert_eq!((c.access_key.as_str(), c.secret_key.as_str()), ("AK", "SK"));
        assert!(parse("[other]\naws_access_key_id = A\naws_secret_access_key = B\n").is_err());
    }
}
