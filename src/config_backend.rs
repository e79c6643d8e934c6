//! `storage.backend` and `storage.cache`: where chunks live (decision 0033).

use std::path::PathBuf;

use anyhow::{Context, bail};
use gatehouse_chunks_s3::S3BackendConfig;
use serde::Deserialize;

use crate::config::Size;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    /// `local` (chunk files under `<data_dir>/blobs/`, the default) or `s3`.
    pub kind: Option<String>,
    /// `http(s)://host[:port]` of an S3-compatible service (path-style requests).
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    /// Prefix of this node's objects, e.g. `node-a/`. Default: none.
    pub prefix: Option<String>,
    /// Region requests are signed for. Default `us-east-1`.
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub access_key_file: Option<PathBuf>,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    /// Seconds between metadata snapshots shipped to the backend; 0: none. Default 300.
    pub snapshot_every_secs: Option<u64>,
    /// Snapshots kept in the backend, newest first. Default 24.
    pub snapshots_kept: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Bytes of chunks kept on the local disk for reads (remote backends). Default `1Gi`.
    pub max_size: Option<Size>,
}

/// A validated remote backend, with what `show-config` may print back.
#[derive(Debug, Clone)]
pub struct Backend {
    pub s3: S3BackendConfig,
    /// How often the metadata is shipped to the backend (`None`: never).
    pub snapshot_every: Option<std::time::Duration>,
    pub snapshots_kept: usize,
    pub access_key_file: Option<PathBuf>,
    pub secret_key_file: Option<PathBuf>,
}

const DEFAULT_CACHE: u64 = 1 << 30;
const DEFAULT_SNAPSHOT_EVERY: u64 = 300;
const DEFAULT_SNAPSHOTS_KEPT: usize = 24;

/// `None`: the local directory.
/// `gc_grace_secs`: a chunk freed after the newest snapshot must outlive it, so snapshots
/// need the GC's grace to be at least two of their intervals.
pub fn validate(
    backend: Option<RawBackend>,
    cache: Option<RawCache>,
    gc_grace_secs: u64,
) -> anyhow::Result<Option<Backend>> {
    let b = backend.unwrap_or_default();
    match b.kind.as_deref().unwrap_or("local") {
        "local" => {
            let extra = [
                ("endpoint", b.endpoint.is_some()),
                ("bucket", b.bucket.is_some()),
                ("prefix", b.prefix.is_some()),
                ("region", b.region.is_some()),
                (
                    "access_key",
                    b.access_key.is_some() || b.access_key_file.is_some(),
                ),
                (
                    "secret_key",
                    b.secret_key.is_some() || b.secret_key_file.is_some(),
                ),
            ];
            if let Some((name, _)) = extra.iter().find(|(_, set)| *set) {
                bail!("storage.backend.{name} is for kind: s3; this backend is local");
            }
            if cache.is_some() {
                bail!("storage.cache is for a remote storage.backend (kind: s3)");
            }
            Ok(None)
        }
        "s3" => {
            let endpoint = b
                .endpoint
                .context("storage.backend.endpoint is required for kind: s3")?;
            let uri: http::Uri = endpoint
                .parse()
                .map_err(|e| anyhow::anyhow!("storage.backend.endpoint {endpoint:?}: {e}"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                bail!("storage.backend.endpoint must be http(s)://host[:port], not {endpoint:?}");
            }
            let bucket = b
                .bucket
                .context("storage.backend.bucket is required for kind: s3")?;
            if bucket.len() < 3
                || bucket.len() > 63
                || !bucket
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            {
                bail!("storage.backend.bucket {bucket:?} is not an S3 bucket name");
            }
            let prefix = b.prefix.unwrap_or_default();
            if prefix.starts_with('/') || prefix.len() > 512 {
                bail!("storage.backend.prefix must be relative and at most 512 bytes");
            }
            let access_key = secret("access_key", b.access_key, b.access_key_file.as_ref())?;
            let secret_key = secret("secret_key", b.secret_key, b.secret_key_file.as_ref())?;
            let cache_max = cache
                .and_then(|c| c.max_size)
                .map_or(DEFAULT_CACHE, |s| s.0);
            let every = b.snapshot_every_secs.unwrap_or(DEFAULT_SNAPSHOT_EVERY);
            if every > 0 && gc_grace_secs < every.saturating_mul(2) {
                bail!(
                    "storage.gc_grace_secs ({gc_grace_secs}) must be at least twice \
                     storage.backend.snapshot_every_secs ({every}): chunks freed after the newest \
                     shipped snapshot must outlive it (or set snapshot_every_secs: 0)"
                );
            }
            let kept = b.snapshots_kept.unwrap_or(DEFAULT_SNAPSHOTS_KEPT);
            if kept == 0 {
                bail!("storage.backend.snapshots_kept must be at least 1");
            }
            Ok(Some(Backend {
                s3: S3BackendConfig {
                    endpoint: endpoint.trim_end_matches('/').to_string(),
                    bucket,
                    prefix,
                    region: b.region.unwrap_or_else(|| "us-east-1".into()),
                    access_key,
                    secret_key,
                    cache_max,
                },
                snapshot_every: (every > 0).then(|| std::time::Duration::from_secs(every)),
                snapshots_kept: kept,
                access_key_file: b.access_key_file,
                secret_key_file: b.secret_key_file,
            }))
        }
        other => bail!("storage.backend.kind must be local or s3, not {other:?}"),
    }
}

/// A credential given inline or in a file (one of the two).
fn secret(name: &str, inline: Option<String>, file: Option<&PathBuf>) -> anyhow::Result<String> {
    let v = match (inline, file) {
        (Some(_), Some(_)) => bail!("storage.backend: {name} and {name}_file are both set"),
        (Some(v), None) => v,
        (None, Some(p)) => std::fs::read_to_string(p)
            .with_context(|| format!("storage.backend.{name}_file {}", p.display()))?
            .trim()
            .to_string(),
        (None, None) => bail!("storage.backend.{name} (or {name}_file) is required for kind: s3"),
    };
    if v.is_empty() {
        bail!("storage.backend.{name} is empty");
    }
    Ok(v)
}

/// The `backend:` and `cache:` lines of `show-config` (secrets never shown).
pub fn yaml(b: &Option<Backend>, line: &mut dyn FnMut(String)) {
    let Some(b) = b else {
        line("  backend:".into());
        line("    kind: local # chunk files under data_dir/blobs".into());
        return;
    };
    let q = |s: &str| format!("{s:?}");
    line("  backend:".into());
    line("    kind: s3".into());
    line(format!("    endpoint: {}", q(&b.s3.endpoint)));
    line(format!("    bucket: {}", q(&b.s3.bucket)));
    line(format!("    prefix: {}", q(&b.s3.prefix)));
    line(format!("    region: {}", q(&b.s3.region)));
    match &b.access_key_file {
        Some(p) => line(format!(
            "    access_key_file: {}",
            q(&p.display().to_string())
        )),
        None => line(format!("    access_key: {}", q(&b.s3.access_key))),
    }
    match &b.secret_key_file {
        Some(p) => line(format!(
            "    secret_key_file: {}",
            q(&p.display().to_string())
        )),
        None => line("    # secret_key: set, not shown".into()),
    }
    line(format!(
        "    snapshot_every_secs: {} # metadata shipped to the backend; 0: never",
        b.snapshot_every.map_or(0, |d| d.as_secs())
    ));
    line(format!("    snapshots_kept: {}", b.snapshots_kept));
    line("  cache:".into());
    line(format!(
        "    max_size: {} # chunks kept on the local disk for reads",
        b.s3.cache_max
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> anyhow::Result<Option<Backend>> {
        #[derive(Deserialize)]
        struct S {
            backend: Option<RawBackend>,
            cache: Option<RawCache>,
        }
        let s: S = serde_norway::from_str(yaml)?;
        validate(s.backend, s.cache, 900)
    }

    #[test]
    fn what_is_not_used_is_refused_and_what_is_missing_is_named() {
        assert!(parse("backend: {kind: local}").expect("local").is_none());
        let err = |y: &str| format!("{:#}", parse(y).expect_err(y));
        assert!(err("backend: {kind: local, endpoint: 'http://x'}").contains("for kind: s3"));
        assert!(err("cache: {max_size: 1Gi}").contains("remote"));
        assert!(err("backend: {kind: ftp}").contains("local or s3"));
        assert!(err("backend: {kind: s3, bucket: b1b}").contains("endpoint is required"));
        assert!(err("backend: {kind: s3, endpoint: 'ftp://x', bucket: bbb}").contains("http(s)"));
        let base = "backend: {kind: s3, endpoint: 'http://127.0.0.1:9', bucket: bbb";
        assert!(err(&format!("{base}}}")).contains("access_key"));
        assert!(
            err(&format!(
                "{base}, access_key: a, secret_key: s, secret_key_file: /f}}"
            ))
            .contains("both set")
        );
        assert!(err(&format!("{base}, access_key: a, secret_key_file: /nope}}")).contains("/nope"));
        let b = parse(&format!("{base}, access_key: a, secret_key: s}}"))
            .expect("valid")
            .expect("s3");
        assert_eq!(b.s3.region, "us-east-1");
        assert_eq!(b.s3.cache_max, DEFAULT_CACHE);
        assert_eq!(b.snapshot_every, Some(std::time::Duration::from_secs(300)));
        assert!(
            err(&format!(
                "{base}, access_key: a, secret_key: s, snapshot_every_secs: 600}}"
            ))
            .contains("twice")
        );
        let mut shown = Vec::new();
        yaml(&Some(b), &mut |l| shown.push(l));
        assert!(!shown.join("\n").contains("secret_key: \"s\""), "{shown:?}");
    }
}
