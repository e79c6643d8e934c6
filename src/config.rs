//! Configuration in two steps: [`RawConfig`] is the YAML file (every field optional, with a
//! documented default), [`Config`] is the validated result the app runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gatehouse_admin::AdminConfig;
use serde::Deserialize;

/// The YAML file. Unknown fields are refused so typos do not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where `meta.redb` and `blobs/` live. Default `./gatehouse-data`.
    pub data_dir: Option<PathBuf>,
    /// Who is admin: user ids (16 hex, preferred: immutable) or names (mutable labels; logged
    /// with a warning). Absent: the bootstrap admin created in the data directory. Present
    /// (even empty): exactly these, nobody else.
    pub admin_peers: Option<Vec<String>>,
    /// Shared secret for self-service `gatehouse join`. Absent: joining is disabled.
    pub enrolment_token: Option<String>,
    /// Objects older than this many days are deleted by the sweeper; 0 = never. Default 9125.
    pub object_expiry_days: Option<u32>,
    /// Lifetime of a new file share unless it names its own expiry. Default 365.
    pub share_expiry_days: Option<u32>,
    /// How long a deleted or expired share's data is kept (and can be restored). Default 90.
    pub tombstone_retention_days: Option<u32>,
    /// TLS for the S3 and admin listeners (PEM files). Absent: plain HTTP.
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub s3: RawS3,
    #[serde(default)]
    pub nfs: RawNfs,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub rate_limits: RawRateLimits,
    #[serde(default)]
    pub kms: RawKms,
}

/// The key service (decision 0046).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKms {
    /// The shortest waiting period of a key's scheduled deletion, in days (AWS KMS: 7). Test
    /// setups may lower it to 0. Default 7.
    pub min_pending_days: Option<u32>,
}

/// Request rates (issue 22): token buckets per client address (unsigned S3 requests, NFS
/// guests) and per principal; over the rate S3 answers 503 SlowDown, the admin API 429, both
/// with `Retry-After`; NFS calls are delayed instead.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    /// Unsigned S3 requests per minute per client address (IPv6 per /64). Default 200.
    pub anonymous_per_minute: Option<u32>,
    /// Requests they may make at once before the rate applies. Default 50.
    pub anonymous_burst: Option<u32>,
    /// S3 and admin requests per minute per signed user; 0 = unlimited. Default 60000.
    pub user_per_minute: Option<u32>,
    /// Default 10000.
    pub user_burst: Option<u32>,
    /// Roles with a rate of their own (per minute; 0 = unlimited): a user gets the most
    /// generous of its roles'. Default `{admin: 0, system: 0}`; entries given here add to or
    /// replace those.
    pub roles: Option<std::collections::BTreeMap<String, u32>>,
    /// NFS calls per minute per principal (delayed, never failed); 0 = unlimited. Default 0:
    /// a kernel client makes thousands of calls a second in ordinary use.
    pub nfs_per_minute: Option<u32>,
    /// Default: a tenth of a second's worth, at least 100.
    pub nfs_burst: Option<u32>,
    /// Principals and addresses tracked at once (24 bytes each, allocated at start). Default
    /// 65536.
    pub max_keys: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Listen address of the admin API and web page, or `off`. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Failed web sign-ins per access key (and per client address) before a lockout.
    /// Default 5.
    pub login_max_failures: Option<u32>,
    /// Seconds a sign-in lockout lasts. Default 900 (15 minutes).
    pub login_lockout_secs: Option<u64>,
    /// Connections served at once; see [`HttpLimits`]. Default 4096 (less under a low open-file limit).
    pub max_connections: Option<usize>,
    /// Seconds a request header may take to arrive complete. Default 30.
    pub header_timeout_secs: Option<u64>,
    /// Seconds a connection with no request under way may stay silent, and the longest pause
    /// in a request body or in reading a response. Default 120.
    pub idle_timeout_secs: Option<u64>,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client for
    /// sign-in lockouts. Default none: the header is ignored.
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    /// Listen address of the S3 gateway, or `off`. Default `127.0.0.1:9000`.
    pub listen: Option<String>,
    /// Region reported to clients. Default `us-east-1`.
    pub region: Option<String>,
    /// Domains for virtual-host-style addressing (`bucket.<domain>`). Default `[localhost]`.
    pub domains: Option<Vec<String>>,
    /// Total logical bytes the server may hold; writes past it get `QuotaExceeded`. Default `1Gi`.
    pub max_size: Option<Size>,
    /// Every bucket behaves as if all four public access block flags were set: no bucket
    /// policy may be public and none grants anonymous callers anything. Default `false`
    /// (decision 0041).
    pub block_public_access: Option<bool>,
    /// Take customer-provided encryption keys (SSE-C) over plain HTTP. AWS refuses them there
    /// (a key sent in the clear is a key given away): for test setups only. Default `false`.
    pub sse_c_over_http: Option<bool>,
    /// The S3 endpoint as clients reach it (`https://s3.example.org`), reported by
    /// `/api/info` and used in presigned URLs. Default `http://<s3.listen>`, which is no use to
    /// a remote client when listening on `0.0.0.0`.
    pub public_url: Option<String>,
    /// Connections served at once; see [`HttpLimits`]. Default 4096 (less under a low open-file limit).
    pub max_connections: Option<usize>,
    /// Seconds a request header may take to arrive complete. Default 30.
    pub header_timeout_secs: Option<u64>,
    /// Seconds a connection with no request under way may stay silent, and the longest pause
    /// in a request body or in reading a response. Default 120.
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNfs {
    /// Listen address of NFSv3 + MOUNT (+ PORTMAP GETPORT), one TCP port for all three.
    /// Default `127.0.0.1:12049`; use `0.0.0.0:2049` to serve clients with default options.
    /// `off`: no NFS.
    pub listen: Option<String>,
    /// Like knfsd's `async` export option: metadata changes over NFS (create, mkdir, remove,
    /// rename, setattr, symlink) are answered before they are durable, and made durable within
    /// [`NFS_ASYNC_WINDOW`]. A power loss or crash loses at most that window of them. WRITE data
    /// still follows FILE_SYNC / COMMIT. Default false: every change durable before its reply.
    #[serde(rename = "async")]
    pub async_: Option<bool>,
    /// Connections served at once (further clients wait to be accepted). Default 4096 (less
    /// under a low open-file limit).
    pub max_connections: Option<usize>,
    /// Seconds a connection with no call under way may stay silent before it is closed (the
    /// client reconnects when it needs to). Default 360, as knfsd.
    pub idle_timeout_secs: Option<u64>,
}

/// The address space reserved for the database's cached pages (decision 0057): twice the
/// page cache and 16 MiB for pages a transaction dirties or a read holds a moment. Pages past
/// it come from the allocator at large, as before.
pub fn page_pool_bytes(db_cache: usize) -> usize {
    db_cache.saturating_mul(2).saturating_add(16 << 20)
}

/// How long an `nfs.async` metadata change may stay not yet durable.
pub const NFS_ASYNC_WINDOW: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// Chunk size for object data. Default `1Mi`.
    pub chunk_size: Option<Size>,
    /// Objects up to this size are kept inline in the database. Default `64Ki`.
    pub inline_max: Option<Size>,
    /// Largest single PUT or part. Default `5Gi`.
    pub max_object_size: Option<Size>,
    /// Memory for the metadata database's page cache. Default `32Mi`.
    pub db_cache: Option<Size>,
    /// Memory for whole chunks on their way to disk, across all uploads and NFS flushes
    /// (each upload also fills one chunk of its own). At least twice `chunk_size`. Default
    /// `16Mi`.
    pub write_buffer: Option<Size>,
    /// Memory for whole chunks read for S3 GETs, all readers together; past it a reader
    /// verifies a chunk through a small buffer and reads its range in 128 KiB pieces (a little
    /// more CPU, no wait). `0`: always in pieces. Default `8Mi`.
    pub read_buffer: Option<Size>,
    /// Chunk bytes written lately whose pages stay in the kernel's page cache; the pages of
    /// older writes are dropped once on disk (decision 0052). `all`: left to the kernel.
    /// `auto` (the default): `1Gi` on a virtual machine whose host takes back free memory
    /// (free page reporting), `all` elsewhere.
    pub cached_writes: Option<String>,
    /// Seconds an unreferenced chunk is kept before GC may delete it. Default 900.
    pub gc_grace_secs: Option<u64>,
    /// Seconds between GC runs. Default 3600.
    pub gc_interval_secs: Option<u64>,
    /// What a write has on disk when it is answered: `always` (chunk files and metadata
    /// fsynced), `metadata` (metadata only) or `never` (durable within a second). Default
    /// `always`.
    pub fsync: Option<String>,
    /// Every commit records the database's allocator state, so the start after a crash does
    /// not walk the whole metadata file (milliseconds instead of seconds at millions of
    /// objects), at the cost of a second sync per commit. Default `true`.
    pub quick_repair: Option<bool>,
    /// A file (mode 0600) holding the operator secret that wraps `master.key` (decision 0045;
    /// or `GATEHOUSE_MASTER_SECRET`). Default: none, `master.key` stored as it is.
    pub master_secret_file: Option<PathBuf>,
    /// Where chunks live: `kind: local` (default) or `kind: s3` with its endpoint.
    pub backend: Option<crate::config_backend::RawBackend>,
    /// The local read cache of a remote backend.
    pub cache: Option<crate::config_backend::RawCache>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `error|warn|info|debug|trace` or a tracing filter; `RUST_LOG` wins. Default `info`.
    pub level: Option<String>,
    /// `text` or `json`. Default `text`.
    pub format: Option<String>,
    /// Access lines (one per S3 or admin request, target `access`): one request in N gets
    /// one, and every failed request (status >= 400); 0: none (each request then costs the
    /// decision only). Default 1: every request.
    pub access_every: Option<u64>,
}

/// A byte size written as `100Gi`, `500Mi`, `10G`, `64Ki` or plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        "Ti" | "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use Ki, Mi, Gi, Ti, K, M, G, T)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Bounds of one HTTP listener (S3 or admin), plain or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served (or in their TLS handshake) at once; further clients wait in the
    /// kernel's accept queue until one closes. `None`: [`DEFAULT_MAX_CONNECTIONS`], lowered to
    /// fit the open-file limit.
    pub max_connections: Option<usize>,
    /// From the first byte of a request to its complete header.
    pub header_timeout: Duration,
    /// Silence with no request under way before the connection is closed. Longer than the
    /// SDKs' pool idle times (aws-sdk-rust: 90 s), so a client rarely reuses a connection that
    /// the server is closing. Also the longest the server waits on a client during a request:
    /// for the next piece of a request body, or for room to send the response.
    pub idle_timeout: Duration,
}

/// Connections per listener unless configured (and the open-file limit allows).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `None`: the listener is off.
    pub s3_listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub nfs_listen: Option<SocketAddr>,
    pub s3_limits: HttpLimits,
    pub admin_limits: HttpLimits,
    /// `nfs.max_connections`; `None` as in [`HttpLimits::max_connections`].
    pub nfs_max_connections: Option<usize>,
    pub nfs_idle_timeout: Duration,
    /// `nfs.async`: see [`RawNfs::async_`].
    pub nfs_async: bool,
    pub admin_peers: Option<Vec<String>>,
    pub enrolment_token: Option<String>,
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    /// `admin.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<gatehouse_store::ops::PeerNet>,
    /// (certificate chain, private key) PEM files when the listeners speak TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub object_expiry: Duration,
    pub share_expiry: Duration,
    pub tombstone_retention: Duration,
    pub region: String,
    pub domains: Vec<String>,
    pub max_size: u64,
    /// `s3.block_public_access`.
    pub block_public_access: bool,
    /// `s3.sse_c_over_http`.
    pub sse_c_over_http: bool,
    /// Validated `s3.public_url` (scheme and authority, no path).
    pub s3_public_url: Option<String>,
    pub chunk_size: usize,
    pub inline_max: usize,
    pub max_object_size: u64,
    pub db_cache: usize,
    pub write_buffer: usize,
    pub read_buffer: usize,
    /// `storage.cached_writes`, resolved (`None`: all).
    pub cached_writes: Option<u64>,
    /// Whether `cached_writes` came from `auto`.
    pub cached_writes_auto: bool,
    pub gc_grace: Duration,
    pub gc_interval: Duration,
    /// `storage.fsync`.
    pub fsync: gatehouse_store::Fsync,
    /// `storage.quick_repair`.
    pub quick_repair: bool,
    /// `storage.master_secret_file`.
    pub master_secret_file: Option<PathBuf>,
    /// `storage.backend` when remote; `None`: chunk files under `data_dir/blobs`.
    pub backend: Option<crate::config_backend::Backend>,
    pub log_level: String,
    pub log_json: bool,
    /// `log.access_every`.
    pub log_access_every: u64,
    /// `rate_limits`.
    pub rate_limits: gatehouse_store::rates::RateConfig,
    /// `kms.min_pending_days`.
    pub kms_min_pending_days: u32,
}

impl Config {
    /// The effective configuration as YAML that `--config` accepts back (the enrolment token is
    /// masked: the output is meant to be shown).
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| format!("{s:?}");
        let days = |d: Duration| d.as_secs() / 86_400;
        let mut y = String::new();
        let mut line = |s: String| {
            y.push_str(&s);
            y.push('\n');
        };
        line(format!(
            "data_dir: {}",
            q(&self.data_dir.display().to_string())
        ));
        match &self.admin_peers {
            Some(p) => line(format!(
                "admin_peers: [{}]",
                p.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ")
            )),
            None => line("# admin_peers: not set (the bootstrap admin)".into()),
        }
        match &self.enrolment_token {
            Some(t) => line(format!(
                "# enrolment_token: set ({} characters, not shown)",
                t.len()
            )),
            None => line("# enrolment_token: not set (join disabled)".into()),
        }
        line(format!("object_expiry_days: {}", days(self.object_expiry)));
        line(format!("share_expiry_days: {}", days(self.share_expiry)));
        line(format!(
            "tombstone_retention_days: {}",
            days(self.tombstone_retention)
        ));
        if let Some((c, k)) = &self.tls {
            line("tls:".into());
            line(format!("  cert_file: {}", q(&c.display().to_string())));
            line(format!("  key_file: {}", q(&k.display().to_string())));
        }
        line("admin:".into());
        line(format!("  listen: {}", q(&listen_text(self.admin_listen))));
        limits_yaml(&mut line, &self.admin_limits);
        line(format!("  login_max_failures: {}", self.login_max_failures));
        line(format!(
            "  login_lockout_secs: {}",
            self.login_lockout.as_secs()
        ));
        line(format!(
            "  trusted_proxies: [{}]",
            self.trusted_proxies
                .iter()
                .map(|n| q(&n.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        line("s3:".into());
        line(format!("  listen: {}", q(&listen_text(self.s3_listen))));
        limits_yaml(&mut line, &self.s3_limits);
        line(format!("  region: {}", q(&self.region)));
        line(format!(
            "  domains: [{}]",
            self.domains
                .iter()
                .map(|x| q(x))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        line(format!("  max_size: {}", self.max_size));
        line(format!(
            "  block_public_access: {}",
            self.block_public_access
        ));
        line(format!("  sse_c_over_http: {}", self.sse_c_over_http));
        if let Some(u) = &self.s3_public_url {
            line(format!("  public_url: {}", q(u)));
        }
        line("storage:".into());
        line(format!("  chunk_size: {}", self.chunk_size));
        line(format!("  inline_max: {}", self.inline_max));
        line(format!("  max_object_size: {}", self.max_object_size));
        line(format!(
            "  db_cache: {} # metadata page cache; its pages held in a pool of at most {} bytes",
            self.db_cache,
            page_pool_bytes(self.db_cache)
        ));
        line(format!(
            "  write_buffer: {} # chunks on their way to disk, all uploads together",
            self.write_buffer
        ));
        line(format!(
            "  read_buffer: {} # whole chunks read for GETs, all readers together",
            self.read_buffer
        ));
        let resolved = self
            .cached_writes
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        line(if self.cached_writes_auto {
            format!(
                "  cached_writes: auto # chunk bytes written lately left in the OS page cache: \
                 {resolved} here ({})",
                if self.cached_writes.is_some() {
                    "the host takes back free memory"
                } else {
                    "nothing dropped: the host keeps free memory, or chunks are not local \
                     files fsynced before the answer"
                }
            )
        } else {
            format!(
                "  cached_writes: {resolved} # chunk bytes written lately left in the OS page cache"
            )
        });
        line(format!("  gc_grace_secs: {}", self.gc_grace.as_secs()));
        line(format!(
            "  gc_interval_secs: {}",
            self.gc_interval.as_secs()
        ));
        line(format!(
            "  fsync: {} # always | metadata | never: what an answered write has on disk",
            self.fsync.name()
        ));
        line(format!("  quick_repair: {}", self.quick_repair));
        match &self.master_secret_file {
            Some(p) => line(format!("  master_secret_file: {}", p.display())),
            None => line(
                "  # master_secret_file: not set (master.key not wrapped, unless GATEHOUSE_MASTER_SECRET is)".into(),
            ),
        }
        crate::config_backend::yaml(&self.backend, &mut line);
        // The fixed bounds of the server's other buffers and caches (decisions 0031, 0032).
        line(format!(
            "  # fixed: {} threads for blocking work, freed memory back to the kernel after {} ms (MIMALLOC_PURGE_DELAY), \
             16 chunks read ahead for NFS READs, 8 decoded manifests, 8 spare chunk buffers, \
             256 KiB per upload queued for MD5, 16384 pending access times; NFS write-back \
             holds at most {} windows of 1 MiB in memory, the rest in scratch files on the \
             data disk (a writer waits at 256 MiB buffered per file, 1 GiB in all); the NFS \
             duplicate request cache keeps the replies of the last {} non-idempotent calls \
             (at most {} KiB of replies) for {} s; bucket \
             replication sends {} objects at once, read whole up to {} KiB, larger ones \
             streamed a chunk or two at a time",
            crate::app::BLOCKING_THREADS,
            gatehouse_alloc_tune::purge_delay_ms(),
            gatehouse_nfs::WRITE_BACK_MEMORY_WINDOWS,
            gatehouse_nfs::DRC_ENTRIES,
            gatehouse_nfs::DRC_BYTES >> 10,
            gatehouse_nfs::DRC_MAX_AGE.as_secs(),
            gatehouse_replication::MAX_IN_FLIGHT,
            gatehouse_replication::WHOLE >> 10,
        ));
        line("nfs:".into());
        line(format!("  listen: {}", q(&listen_text(self.nfs_listen))));
        line(format!("  async: {}", self.nfs_async));
        match self.nfs_max_connections {
            Some(n) => line(format!("  max_connections: {n}")),
            None => {
                line("  # max_connections: not set (4096, less under a low open-file limit)".into())
            }
        }
        line(format!(
            "  idle_timeout_secs: {}",
            self.nfs_idle_timeout.as_secs()
        ));
        line("log:".into());
        line(format!("  level: {}", q(&self.log_level)));
        line(format!(
            "  format: {}",
            if self.log_json { "json" } else { "text" }
        ));
        line(format!(
            "  access_every: {} # an access line for one request in N and every failure; 0: none",
            self.log_access_every
        ));
        line("kms:".into());
        line(format!(
            "  min_pending_days: {} # shortest wait of a key's scheduled deletion",
            self.kms_min_pending_days
        ));
        let r = &self.rate_limits;
        line("rate_limits: # requests per minute; 0 = unlimited".into());
        line(format!(
            "  anonymous_per_minute: {}",
            r.anonymous.per_minute
        ));
        line(format!("  anonymous_burst: {}", r.anonymous.burst));
        line(format!("  user_per_minute: {}", r.user.per_minute));
        line(format!("  user_burst: {}", r.user.burst));
        line(format!(
            "  roles: {{{}}}",
            r.roles
                .iter()
                .map(|(k, v)| format!("{}: {v}", q(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        line(format!("  nfs_per_minute: {}", r.nfs.per_minute));
        line(format!("  nfs_burst: {}", r.nfs.burst));
        line(format!(
            "  max_keys: {} # {} KiB at start",
            r.max_keys,
            r.max_keys * 24 / 1024
        ));
        y
    }
}

/// A listen address as the config spells it: `ADDR:PORT` or `off`.
pub fn listen_text(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "off".into(), |a| a.to_string())
}

fn limits_yaml(line: &mut impl FnMut(String), l: &HttpLimits) {
    match l.max_connections {
        Some(n) => line(format!("  max_connections: {n}")),
        None => {
            line("  # max_connections: not set (4096, less under a low open-file limit)".into())
        }
    }
    line(format!(
        "  header_timeout_secs: {}",
        l.header_timeout.as_secs()
    ));
    line(format!("  idle_timeout_secs: {}", l.idle_timeout.as_secs()));
}

/// `ADDR:PORT`, or `off` (the listener is not started).
fn parse_listen(what: &str, text: &str) -> anyhow::Result<Option<SocketAddr>> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .with_context(|| format!("{what} listen address {text:?} is not ADDR:PORT or off"))
}

fn max_connections(what: &str, n: Option<usize>) -> anyhow::Result<Option<usize>> {
    if let Some(n) = n
        && !(1..=1_000_000).contains(&n)
    {
        bail!("{what}.max_connections must be between 1 and 1000000");
    }
    Ok(n)
}

fn timeout(what: &str, secs: Option<u64>, default: u64) -> anyhow::Result<Duration> {
    let s = secs.unwrap_or(default);
    if !(1..=86_400).contains(&s) {
        bail!("{what} must be between 1 and 86400 seconds");
    }
    Ok(Duration::from_secs(s))
}

fn http_limits(
    what: &str,
    max: Option<usize>,
    header: Option<u64>,
    idle: Option<u64>,
) -> anyhow::Result<HttpLimits> {
    Ok(HttpLimits {
        max_connections: max_connections(what, max)?,
        header_timeout: timeout(&format!("{what}.header_timeout_secs"), header, 30)?,
        idle_timeout: timeout(&format!("{what}.idle_timeout_secs"), idle, 120)?,
    })
}

/// Command-line overrides, applied after the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub s3_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub nfs_listen: Option<String>,
}

impl RawConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        serde_norway::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }

    pub fn validate(mut self, o: &Overrides) -> anyhow::Result<Config> {
        let rate_limits = rate_limits(&self.rate_limits)?;
        let listen = o
            .s3_listen
            .clone()
            .or(self.s3.listen)
            .unwrap_or_else(|| "127.0.0.1:9000".into());
        let s3_listen = parse_listen("s3", &listen)?;
        let admin = o
            .admin_listen
            .clone()
            .or(self.admin.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let admin_listen = parse_listen("admin", &admin)?;
        let nfs = o
            .nfs_listen
            .clone()
            .or(self.nfs.listen)
            .unwrap_or_else(|| "127.0.0.1:12049".into());
        let nfs_listen = parse_listen("nfs", &nfs)?;
        if s3_listen.is_none() && admin_listen.is_none() && nfs_listen.is_none() {
            bail!("s3, admin and nfs listeners are all off: nothing to serve");
        }
        let s3_limits = http_limits(
            "s3",
            self.s3.max_connections,
            self.s3.header_timeout_secs,
            self.s3.idle_timeout_secs,
        )?;
        let admin_limits = http_limits(
            "admin",
            self.admin.max_connections,
            self.admin.header_timeout_secs,
            self.admin.idle_timeout_secs,
        )?;
        let nfs_max_connections = max_connections("nfs", self.nfs.max_connections)?;
        let nfs_idle_timeout = timeout("nfs.idle_timeout_secs", self.nfs.idle_timeout_secs, 360)?;
        if let Some(t) = &self.enrolment_token
            && t.len() < 16
        {
            bail!("enrolment_token must be at least 16 characters");
        }
        if let Some(peers) = &self.admin_peers
            && let Some(bad) = peers.iter().find(|p| p.trim().is_empty() || p.len() > 63)
        {
            bail!("admin_peers entry {bad:?} is not a user id or name");
        }
        let chunk_size = self.storage.chunk_size.map_or(1 << 20, |s| s.0);
        if !(64 << 10..=64 << 20).contains(&chunk_size) {
            bail!("storage.chunk_size must be between 64Ki and 64Mi");
        }
        let write_buffer = self
            .storage
            .write_buffer
            .map_or(gatehouse_store::blobs::DEFAULT_WRITE_BUFFER as u64, |s| s.0);
        if write_buffer < 2 * chunk_size || write_buffer > 16 << 30 {
            bail!(
                "storage.write_buffer must be at least twice storage.chunk_size, and at most 16Gi"
            );
        }
        let read_buffer = self
            .storage
            .read_buffer
            .map_or(gatehouse_store::blobs::DEFAULT_READ_BUFFER as u64, |s| s.0);
        if read_buffer > 16 << 30 {
            bail!("storage.read_buffer must be at most 16Gi");
        }
        let backend = crate::config_backend::validate(
            self.storage.backend.take(),
            self.storage.cache.take(),
            self.storage.gc_grace_secs.unwrap_or(900),
        )?;
        let inline_max = self.storage.inline_max.map_or(64 << 10, |s| s.0);
        if inline_max > 1 << 20 {
            bail!("storage.inline_max must be at most 1Mi");
        }
        let login_max_failures = self
            .admin
            .login_max_failures
            .unwrap_or(AdminConfig::DEFAULT_LOGIN_MAX_FAILURES);
        if login_max_failures == 0 {
            bail!("admin.login_max_failures must be at least 1");
        }
        let login_lockout = self
            .admin
            .login_lockout_secs
            .map_or(AdminConfig::DEFAULT_LOGIN_LOCKOUT, Duration::from_secs);
        let trusted_proxies = self
            .admin
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|p| {
                gatehouse_store::ops::parse_peer_address(p)
                    .map_err(|e| anyhow::anyhow!("admin.trusted_proxies: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let object_expiry_days = self.object_expiry_days.unwrap_or(9125);
        if object_expiry_days > 36_500 {
            bail!("object_expiry_days must be at most 36500 (0 = never)");
        }
        let share_expiry_days = self.share_expiry_days.unwrap_or(365);
        if !(1..=36_500).contains(&share_expiry_days) {
            bail!("share_expiry_days must be between 1 and 36500");
        }
        let retention_days = self.tombstone_retention_days.unwrap_or(90);
        if retention_days > 3650 {
            bail!("tombstone_retention_days must be at most 3650");
        }
        let s3_public_url = match self.s3.public_url {
            Some(u) => Some(validate_public_url(&u)?),
            None => None,
        };
        let fsync: gatehouse_store::Fsync = match &self.storage.fsync {
            Some(s) => s.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            None => gatehouse_store::Fsync::Always,
        };
        // Only local chunk files fsynced before the answer have pages to drop (decision 0052):
        // elsewhere a size would be accepted and do nothing, so it is refused, and `auto`
        // leaves every page to the kernel.
        let drops_pages = backend.is_none() && fsync == gatehouse_store::Fsync::Always;
        let (cached_writes, cached_writes_auto) =
            match self.storage.cached_writes.as_deref().map(str::trim) {
                None | Some("auto") => (
                    (drops_pages && gatehouse_store::blobs::host_takes_back_free_memory())
                        .then_some(gatehouse_store::blobs::AUTO_CACHED_WRITES),
                    true,
                ),
                Some("all") => (None, false),
                Some(s) => {
                    let n = parse_size(s).map_err(|e| {
                        anyhow::anyhow!("storage.cached_writes: {e} (a size, `all` or `auto`)")
                    })?;
                    if !drops_pages {
                        bail!(
                            "storage.cached_writes: a size applies to local chunk files under \
                             storage.fsync: always only (use `auto` or `all`)"
                        );
                    }
                    (Some(n), false)
                }
            };
        let format = self.log.format.unwrap_or_else(|| "text".into());
        if format != "text" && format != "json" {
            bail!("log.format must be text or json");
        }
        Ok(Config {
            data_dir: o
                .data_dir
                .clone()
                .or(self.data_dir)
                .unwrap_or_else(|| PathBuf::from("./gatehouse-data")),
            s3_listen,
            admin_listen,
            nfs_listen,
            s3_limits,
            admin_limits,
            nfs_max_connections,
            nfs_idle_timeout,
            nfs_async: self.nfs.async_.unwrap_or(false),
            admin_peers: self.admin_peers,
            enrolment_token: self.enrolment_token,
            login_max_failures,
            login_lockout,
            trusted_proxies,
            tls: self.tls.map(|t| (t.cert_file, t.key_file)),
            object_expiry: Duration::from_secs(u64::from(object_expiry_days) * 86_400),
            share_expiry: Duration::from_secs(u64::from(share_expiry_days) * 86_400),
            tombstone_retention: Duration::from_secs(u64::from(retention_days) * 86_400),
            region: self.s3.region.unwrap_or_else(|| "us-east-1".into()),
            domains: self.s3.domains.unwrap_or_else(|| vec!["localhost".into()]),
            max_size: self.s3.max_size.map_or(1 << 30, |s| s.0),
            block_public_access: self.s3.block_public_access.unwrap_or(false),
            sse_c_over_http: self.s3.sse_c_over_http.unwrap_or(false),
            s3_public_url,
            chunk_size: chunk_size as usize,
            inline_max: inline_max as usize,
            max_object_size: self.storage.max_object_size.map_or(5 << 30, |s| s.0),
            db_cache: self.storage.db_cache.map_or(32 << 20, |s| s.0) as usize,
            write_buffer: write_buffer as usize,
            read_buffer: read_buffer as usize,
            cached_writes,
            cached_writes_auto,
            gc_grace: Duration::from_secs(self.storage.gc_grace_secs.unwrap_or(900)),
            gc_interval: Duration::from_secs(self.storage.gc_interval_secs.unwrap_or(3600).max(1)),
            fsync,
            quick_repair: self.storage.quick_repair.unwrap_or(true),
            master_secret_file: self.storage.master_secret_file,
            backend,
            log_level: self.log.level.unwrap_or_else(|| "info".into()),
            log_json: format == "json",
            log_access_every: self.log.access_every.unwrap_or(1),
            rate_limits,
            kms_min_pending_days: {
                let d = self
                    .kms
                    .min_pending_days
                    .unwrap_or(gatehouse_store::kms::MIN_PENDING_DAYS);
                if d > gatehouse_store::kms::MAX_PENDING_DAYS {
                    anyhow::bail!(
                        "kms.min_pending_days is at most {}",
                        gatehouse_store::kms::MAX_PENDING_DAYS
                    );
                }
                d
            },
        })
    }
}

fn rate_limits(r: &RawRateLimits) -> anyhow::Result<gatehouse_store::rates::RateConfig> {
    use gatehouse_store::rate_limit::Rate;
    let d = gatehouse_store::rates::RateConfig::default();
    let mut roles = d.roles.clone();
    roles.extend(r.roles.clone().unwrap_or_default());
    let nfs_per_minute = r.nfs_per_minute.unwrap_or(d.nfs.per_minute);
    let max_keys = r.max_keys.unwrap_or(d.max_keys);
    if !(64..=1 << 24).contains(&max_keys) {
        bail!("rate_limits.max_keys {max_keys} is outside 64..=16777216");
    }
    Ok(gatehouse_store::rates::RateConfig {
        anonymous: Rate {
            per_minute: r.anonymous_per_minute.unwrap_or(d.anonymous.per_minute),
            burst: r.anonymous_burst.unwrap_or(d.anonymous.burst),
        },
        user: Rate {
            per_minute: r.user_per_minute.unwrap_or(d.user.per_minute),
            burst: r.user_burst.unwrap_or(d.user.burst),
        },
        roles,
        nfs: Rate {
            per_minute: nfs_per_minute,
            burst: r.nfs_burst.unwrap_or((nfs_per_minute / 600).max(100)),
        },
        max_keys,
    })
}

/// `http(s)://host[:port]`, without a path: presigned URLs sign the path, so a prefix added by
/// a proxy would break them.
fn validate_public_url(u: &str) -> anyhow::Result<String> {
    let t = u.trim().trim_end_matches('/');
    let uri: http::Uri = t
        .parse()
        .map_err(|e| anyhow::anyhow!("s3.public_url {u:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https"))
        || uri.authority().is_none()
        || !matches!(uri.path(), "" | "/")
        || uri.query().is_some()
    {
        bail!("s3.public_url {u:?} must be http(s)://host[:port] without a path");
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        assert_eq!(
            validate_public_url("https://s3.example.org/")
                .ok()
                .as_deref(),
            Some("https://s3.example.org")
        );
        assert!(validate_public_url("http://h:9000").is_ok());
        assert!(validate_public_url("h:9000").is_err());
        assert!(validate_public_url("https://h/prefix").is_err());
        assert!(validate_public_url("ftp://h").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100Gi"), Ok(100 << 30));
        assert_eq!(parse_size("500Mi"), Ok(500 << 20));
        assert_eq!(parse_size("10G"), Ok(10_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10X").is_err());
        assert!(parse_size("Gi").is_err());
    }

    #[test]
    fn yaml_and_overrides() {
        let raw: RawConfig = serde_norway::from_str(
            "data_dir: /srv/gh\ns3:\n  listen: 0.0.0.0:9100\n  max_size: 100Gi\nstorage:\n  chunk_size: 2Mi\n",
        )
        .expect("yaml");
        let c = raw
            .validate(&Overrides {
                data_dir: Some("/tmp/x".into()),
                s3_listen: None,
                admin_listen: None,
                nfs_listen: None,
            })
            .expect("valid");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.s3_listen.map(|a| a.port()), Some(9100));
        assert_eq!(c.max_size, 100 << 30);
        assert_eq!(c.chunk_size, 2 << 20);
        assert_eq!(c.login_max_failures, 5);
        assert_eq!(c.login_lockout, Duration::from_secs(900));
        let raw: RawConfig =
            serde_norway::from_str("admin:\n  login_max_failures: 3\n  login_lockout_secs: 60\n")
                .expect("yaml");
        let c = raw.validate(&Overrides::default()).expect("valid");
        assert_eq!(c.login_max_failures, 3);
        assert_eq!(c.login_lockout, Duration::from_secs(60));
        assert_eq!(
            c.nfs_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:12049")
        );
        assert!(serde_norway::from_str::<RawConfig>("bogus: 1").is_err());
    }

    #[test]
    fn cached_writes_takes_a_size_all_or_auto() {
        let parse = |v: &str| {
            let raw: RawConfig =
                serde_norway::from_str(&format!("storage:\n  cached_writes: {v}\n")).expect("yaml");
            raw.validate(&Overrides::default())
                .map(|c| (c.cached_writes, c.cached_writes_auto))
        };
        assert_eq!(parse("64Mi").expect("size"), (Some(64 << 20), false));
        assert_eq!(parse("0").expect("zero"), (Some(0), false));
        assert_eq!(parse("all").expect("all"), (None, false));
        let auto = gatehouse_store::blobs::host_takes_back_free_memory()
            .then_some(gatehouse_store::blobs::AUTO_CACHED_WRITES);
        assert_eq!(parse("auto").expect("auto"), (auto, true));
        let raw: RawConfig = serde_norway::from_str("s3:\n  region: x\n").expect("yaml");
        let c = raw.validate(&Overrides::default()).expect("default");
        assert_eq!((c.cached_writes, c.cached_writes_auto), (auto, true));
        let e = parse("lots").expect_err("refused");
        assert!(e.to_string().contains("storage.cached_writes"), "{e}");
        // A size where no pages are dropped is refused, not ignored; `auto` drops none there.
        for other in ["fsync: never", "fsync: metadata"] {
            let raw: RawConfig =
                serde_norway::from_str(&format!("storage:\n  {other}\n  cached_writes: 64Mi\n"))
                    .expect("yaml");
            let e = raw.validate(&Overrides::default()).expect_err("refused");
            assert!(e.to_string().contains("fsync: always"), "{e}");
            let raw: RawConfig =
                serde_norway::from_str(&format!("storage:\n  {other}\n")).expect("yaml");
            let c = raw.validate(&Overrides::default()).expect("auto");
            assert_eq!((c.cached_writes, c.cached_writes_auto), (None, true));
        }
    }

    #[test]
    fn listeners_can_be_off_and_connection_limits_are_read() {
        let raw: RawConfig = serde_norway::from_str(
            "nfs:\n  listen: off\n  idle_timeout_secs: 60\n  max_connections: 7\nadmin:\n  listen: \"off\"\ns3:\n  max_connections: 10\n  header_timeout_secs: 5\n",
        )
        .expect("yaml");
        let c = raw.validate(&Overrides::default()).expect("valid");
        assert_eq!((c.nfs_listen, c.admin_listen), (None, None));
        assert_eq!(c.nfs_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.nfs_max_connections, Some(7));
        assert_eq!(
            c.s3_limits,
            HttpLimits {
                max_connections: Some(10),
                header_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(120),
            }
        );
        assert_eq!(c.admin_limits.max_connections, None);
        assert_eq!(c.admin_limits.header_timeout, Duration::from_secs(30));
        let shown = c.to_yaml();
        assert!(shown.contains("listen: \"off\""), "{shown}");
        let back: RawConfig = serde_norway::from_str(&shown).expect("yaml");
        let b = back.validate(&Overrides::default()).expect("valid");
        assert_eq!(format!("{b:?}"), format!("{c:?}"));
        // The command line switches one off too; all three off is refused.
        let o = Overrides {
            s3_listen: Some("off".into()),
            ..Overrides::default()
        };
        let err =
            serde_norway::from_str::<RawConfig>("nfs:\n  listen: off\nadmin:\n  listen: off\n")
                .expect("yaml")
                .validate(&o)
                .expect_err("nothing to serve");
        assert!(format!("{err:#}").contains("all off"), "{err:#}");
        for bad in [
            "s3:\n  max_connections: 0\n",
            "admin:\n  header_timeout_secs: 0\n",
            "nfs:\n  idle_timeout_secs: 100000\n",
            "s3:\n  listen: of\n",
        ] {
            let raw: RawConfig = serde_norway::from_str(bad).expect("yaml");
            assert!(raw.validate(&Overrides::default()).is_err(), "{bad}");
        }
    }
}
