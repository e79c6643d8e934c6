//! Wiring: open the store, make sure the bootstrap admin (a real user with its own keypair in
//! the data directory), the `svc:gatehouse` service user and the system bucket exist, apply
//! `admin_peers`, start the S3, admin and NFS listeners and the GC loop, and stop them together on
//! one shutdown signal (the database closes last).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use gatehouse_admin::{AdminConfig, AdminState};
use gatehouse_s3::{S3Config, S3State};
use gatehouse_store::identity::Keypair;
use gatehouse_store::{Store, StoreConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, DEFAULT_MAX_CONNECTIONS};

/// Threads for blocking work (chunk files, read-ahead, snapshots): tokio's default is 512,
/// and every thread that ran keeps its own allocator pages and stack until it idles out, so a
/// burst of 64 ranged GETs grew the resident set by ~90 MiB. 16 keeps a full write budget of
/// chunks and an NFS read-ahead window moving at once (decision 0032).
pub const BLOCKING_THREADS: usize = 16;

/// How long a blocking thread with nothing to do lives on (tokio's default is 10 s). A thread
/// that ends gives its allocator pages back; one that waits keeps them (decision 0032).
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// The async runtime a server (or any command) runs on. A worker thread going idle gives
/// back the memory it freed ([`gatehouse_alloc_tune::collect_when_idle`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .on_thread_park(gatehouse_alloc_tune::collect_when_idle)
        .build()
}

/// How long a stop waits for the last tasks to let go of the store before closing it.
const STORE_RELEASE_LIMIT: Duration = Duration::from_secs(10);

/// A started server. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    /// The bound addresses; `None` for a listener configured `off`.
    pub s3_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// NFSv3 + MOUNT + PORTMAP GETPORT, one port.
    pub nfs_addr: Option<SocketAddr>,
    /// User id of the bootstrap admin (`<data-dir>/admin_ed25519`).
    pub admin_user_id: String,
    pub store: Store,
    /// Set when this start wrote `admin.credentials`: (access key, secret).
    pub new_admin: Option<(String, String)>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, then closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Access times read since the last batch (`Store::close` writes any noted after).
        self.store.flush_atimes().await;
        // A connection task that has finished its last request may still be dropping its
        // handle of the store; the database closes (and a clean stop is recorded) only once
        // this is the last one. Bounded: a handle still held after this is reported.
        let deadline = tokio::time::Instant::now() + STORE_RELEASE_LIMIT;
        while self.store.handles() > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if self.store.handles() > 1 {
            tracing::warn!(
                handles = self.store.handles() - 1,
                "the store is still held at stop; it closes when they are dropped"
            );
        }
        self.store.close();
    }

    /// Waits for `signal`, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await;
        tracing::info!("stopped");
    }
}

pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let open_files = raise_open_file_limit();
    if !gatehouse_alloc_tune::reserve(crate::config::page_pool_bytes(cfg.db_cache)) {
        tracing::warn!("no address space for the page pool: cached pages from the allocator");
    }
    let mut sc = StoreConfig::new(&cfg.data_dir);
    sc.chunk_size = cfg.chunk_size;
    sc.inline_max = cfg.inline_max;
    sc.gc_grace = cfg.gc_grace;
    sc.max_object_size = cfg.max_object_size;
    sc.db_cache_bytes = cfg.db_cache;
    sc.write_buffer = cfg.write_buffer;
    sc.read_buffer = cfg.read_buffer;
    sc.cached_writes = cfg.cached_writes;
    sc.enrolment_token = cfg.enrolment_token.clone();
    sc.share_expiry = cfg.share_expiry;
    sc.object_expiry = cfg.object_expiry;
    sc.max_size = cfg.max_size;
    sc.tombstone_retention = cfg.tombstone_retention;
    sc.fs_async = cfg.nfs_async.then_some(crate::config::NFS_ASYNC_WINDOW);
    sc.fsync = cfg.fsync;
    sc.quick_repair = cfg.quick_repair;
    sc.kms_min_pending_days = cfg.kms_min_pending_days;
    sc.region = cfg.region.clone();
    sc.master_secret =
        gatehouse_store::master_wrap::OperatorSecret::given(cfg.master_secret_file.as_deref())
            .map_err(anyhow::Error::msg)?;
    let mut remote = None;
    if let Some(b) = &cfg.backend {
        let cache = cfg.data_dir.join("blobs").join("cache");
        let s3 = b.s3.clone();
        let backend = tokio::task::spawn_blocking(move || {
            gatehouse_chunks_s3::S3Backend::connect(&s3, &cache)
        })
        .await
        .context("connecting to the chunk backend")??;
        tracing::info!(backend = %b.s3.location(), "chunks in a remote backend");
        sc.backend = Some(gatehouse_store::blobs::ChunkBackend {
            store: backend.clone(),
            location: b.s3.location(),
        });
        if b.snapshot_every.is_some() {
            sc.min_gc_grace = cfg.gc_grace;
        }
        remote = Some((backend, b.snapshot_every, b.snapshots_kept));
    }
    let (store, report) = Store::open(sc)
        .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?;
    if report.created {
        tracing::info!(data_dir = %cfg.data_dir.display(), schema = report.schema_version, "created a new data directory");
    } else if report.migrated_from != report.schema_version {
        tracing::info!(
            from = report.migrated_from,
            to = report.schema_version,
            "migrated the database schema"
        );
    }
    store.metrics().set_access_every(cfg.log_access_every);
    let (admin_user_id, new_admin) = bootstrap(&store, &cfg).await?;
    store.log_space()?;

    let s3_listener = bind(cfg.s3_listen, "S3").await?;
    let s3_addr = local_addr(&s3_listener)?;
    let admin_listener = bind(cfg.admin_listen, "admin").await?;
    let admin_addr = local_addr(&admin_listener)?;
    let nfs_listener = bind(cfg.nfs_listen, "NFS").await?;
    let nfs_addr = local_addr(&nfs_listener)?;
    let (stop, stop_rx) = watch::channel(false);
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    warn_if_caps_exceed(&cfg, open_files);
    let mut tasks = Vec::new();
    if let Some(l) = nfs_listener {
        let limits = gatehouse_nfs::Limits {
            max_connections: connection_cap(cfg.nfs_max_connections, open_files),
            idle_timeout: cfg.nfs_idle_timeout,
        };
        tasks.push(tokio::spawn(gatehouse_nfs::serve(
            l,
            store.clone(),
            limits,
            stop_rx.clone(),
        )));
    }
    if let Some(l) = admin_listener {
        let admin_app = gatehouse_admin::router(AdminState::new(
            store.clone(),
            AdminConfig {
                region: cfg.region.clone(),
                // With S3 off and no public_url there is no endpoint to name.
                s3_endpoint: cfg.s3_public_url.clone().unwrap_or_else(|| match s3_addr {
                    Some(a) => format!("{scheme}://{a}"),
                    None => String::new(),
                }),
                max_size: cfg.max_size,
                login_max_failures: cfg.login_max_failures,
                login_lockout: cfg.login_lockout,
                secure_cookie: tls.is_some(),
                trusted_proxies: cfg.trusted_proxies.clone(),
                nfs_endpoint: nfs_addr.map(|a| a.to_string()).unwrap_or_default(),
            },
        ));
        tasks.push(crate::listen::spawn(
            l,
            admin_app,
            tls.clone(),
            http_limits(&cfg.admin_limits, open_files),
            stop_rx.clone(),
            "admin",
        ));
    }
    if let Some(l) = s3_listener {
        let state = S3State::new(
            store.clone(),
            S3Config {
                region: cfg.region.clone(),
                domains: cfg.domains.clone(),
                sse_c_over_http: cfg.sse_c_over_http,
            },
        );
        tasks.push(crate::listen::spawn(
            l,
            gatehouse_s3::router(state),
            tls.clone(),
            http_limits(&cfg.s3_limits, open_files),
            stop_rx.clone(),
            "S3",
        ));
    }
    let sweep_store = store.clone();
    let mut sweep_rx = stop_rx.clone();
    // Expired shares are tombstoned, and tombstones past retention purged, within a minute.
    let sweep_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = async { sweep_rx.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tokio::time::sleep(SHARE_SWEEP_INTERVAL) => {
                    let now = gatehouse_store::now_unix_ms();
                    match sweep_store.sweep_shares(now).await {
                        Ok(s) if s.expired + s.purged > 0 => tracing::info!(expired = s.expired, purged = s.purged, entries = s.entries_removed, "share sweep"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "share sweep failed"),
                    }
                    // Object expiry and lifecycle rules; the budget bounds one sweep.
                    if let Err(e) = sweep_store.sweep_expiry(now, EXPIRY_BUDGET).await {
                        tracing::warn!(error = %e, "expiry sweep failed");
                    }
                }
            }
        }
    });
    // The key service (decision 0046): keys whose deletion is due lose their material within
    // a second of it (an in-memory look when none is pending); uses waiting for the audit log
    // are written.
    let kms_store = store.clone();
    let mut kms_rx = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = async { kms_rx.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                    // Uses noted from where no batch could be scheduled (the commit thread).
                    if let Err(e) = kms_store.flush_kms_audit().await {
                        tracing::warn!(error = %e, "key service: writing the audit log failed");
                    }
                    match kms_store.kms().delete_due().await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(keys = n, "key service: keys deleted at the end of their waiting period"),
                        Err(e) => tracing::warn!(error = %e, "key service: deleting due keys failed"),
                    }
                }
            }
        }
    }));
    // Metadata snapshots shipped to a remote chunk backend (decision 0034).
    if let Some((backend, Some(every), keep)) = remote {
        tasks.push(tokio::spawn(gatehouse_chunks_s3::snapshots::ship_every(
            store.clone(),
            backend,
            every,
            keep,
            stop_rx.clone(),
        )));
    }
    // Bucket replication (decision 0036): idle, a look at the rules a second, until one exists.
    tasks.push(tokio::spawn(gatehouse_replication::run(
        store.clone(),
        stop_rx.clone(),
    )));
    let gc_store = store.clone();
    let mut rx = stop_rx;
    let interval = cfg.gc_interval;
    // After an unclean stop, one walk over every chunk file finds what uncommitted writes left;
    // otherwise each round reads only the chunks freed since (decision 0028).
    let mut walk = report.unclean;
    let gc_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = async { rx.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tokio::time::sleep(interval) => {
                    let (what, run) = if std::mem::take(&mut walk) {
                        ("chunk GC (a walk after an unclean stop)", gc_store.gc(None).await)
                    } else {
                        ("chunk GC", gc_store.gc_freed().await)
                    };
                    match run {
                        Ok(s) if s.deleted > 0 || s.scanned > 0 => tracing::info!(scanned = s.scanned, deleted = s.deleted, bytes = s.deleted_bytes, "{what}"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "chunk GC failed"),
                    }
                }
            }
        }
    });
    let shown = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
    tracing::info!(
        s3_addr = %shown(s3_addr),
        admin_addr = %shown(admin_addr),
        nfs_addr = %shown(nfs_addr),
        data_dir = %cfg.data_dir.display(),
        "gatehouse serving"
    );
    tasks.push(gc_task);
    tasks.push(sweep_task);
    Ok(Running {
        s3_addr,
        admin_addr,
        nfs_addr,
        admin_user_id,
        store,
        new_admin,
        stop,
        tasks,
    })
}

/// Binds a listener unless it is off.
async fn bind(
    addr: Option<SocketAddr>,
    what: &str,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    match addr {
        None => {
            tracing::info!("the {what} listener is off");
            Ok(None)
        }
        Some(a) => tokio::net::TcpListener::bind(a)
            .await
            .map(Some)
            .with_context(|| format!("binding the {what} listener on {a}")),
    }
}

fn local_addr(l: &Option<tokio::net::TcpListener>) -> anyhow::Result<Option<SocketAddr>> {
    Ok(match l {
        Some(l) => Some(l.local_addr()?),
        None => None,
    })
}

fn http_limits(l: &crate::config::HttpLimits, open_files: Option<u64>) -> crate::listen::Limits {
    crate::listen::Limits {
        max_connections: connection_cap(l.max_connections, open_files),
        header_timeout: l.header_timeout,
        idle_timeout: l.idle_timeout,
        drain: crate::listen::DRAIN_LIMIT,
    }
}

/// A listener's connection cap: as configured, else [`DEFAULT_MAX_CONNECTIONS`] but no more
/// than a quarter of the open-file limit, so the three listeners together leave room for the
/// database, chunk files and the accept loops themselves.
fn connection_cap(configured: Option<usize>, open_files: Option<u64>) -> usize {
    configured.unwrap_or_else(|| {
        let quarter =
            open_files.map_or(usize::MAX, |n| usize::try_from(n / 4).unwrap_or(usize::MAX));
        DEFAULT_MAX_CONNECTIONS.min(quarter.max(16))
    })
}

/// Configured caps that together reach the open-file limit let a connection flood exhaust the
/// descriptors that requests need for chunk files: said once at start.
fn warn_if_caps_exceed(cfg: &Config, open_files: Option<u64>) {
    let Some(limit) = open_files else { return };
    let on = |addr: Option<SocketAddr>, cap: Option<usize>| {
        addr.map_or(0, |_| connection_cap(cap, open_files) as u64)
    };
    let total = on(cfg.s3_listen, cfg.s3_limits.max_connections)
        + on(cfg.admin_listen, cfg.admin_limits.max_connections)
        + on(cfg.nfs_listen, cfg.nfs_max_connections);
    if total >= limit {
        tracing::warn!(
            connections = total,
            open_files = limit,
            "the listeners' max_connections add up to the open-file limit or more: a flood of \
             connections can leave requests without descriptors; lower them or raise LimitNOFILE"
        );
    }
}

/// Raises the soft open-file limit to the hard limit (a server with thousands of clients and
/// chunk files needs more than the usual 1024) and logs what is in force. `None`: unlimited.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let mut current = lim.current;
    if lim.current != lim.maximum {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => current = lim.maximum,
            Err(e) => {
                tracing::warn!(error = %e, soft = ?lim.current, hard = ?lim.maximum, "could not raise the open-file limit")
            }
        }
    }
    match current {
        Some(n) => tracing::info!(open_files = n, "open-file limit"),
        None => tracing::info!("open-file limit: unlimited"),
    }
    current
}

const SHARE_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// At most this many objects expire per sweep (per minute): a clock jump cannot empty the
/// store at once.
const EXPIRY_BUDGET: u64 = 10_000;

/// The server's own identities. The bootstrap admin is an ordinary user whose keypair lives
/// in the data directory; without `admin_peers` in the config it is the one admin, with it the
/// config decides alone. Returns its user id and, when `admin.credentials` was (re)written, the
/// credentials in it.
async fn bootstrap(
    store: &Store,
    cfg: &Config,
) -> anyhow::Result<(String, Option<(String, String)>)> {
    let key_path = cfg.data_dir.join("admin_ed25519");
    let kp = if key_path.exists() {
        Keypair::load(&key_path).with_context(|| format!("loading {}", key_path.display()))?
    } else {
        let kp = Keypair::generate()?;
        kp.write_files(&key_path, "gatehouse bootstrap admin")
            .with_context(|| format!("writing {}", key_path.display()))?;
        kp
    };
    let admin = store.register_local_user(kp.public(), "admin").await?;
    let peers = match &cfg.admin_peers {
        Some(p) => p.clone(),
        None => vec![admin.user_id.clone()],
    };
    if peers.is_empty() {
        tracing::warn!("admin_peers is empty: nobody is admin");
    }
    store.set_admin_peers(peers)?;
    store.set_block_public_access(cfg.block_public_access)?;
    store.set_rate_limits(cfg.rate_limits.clone())?;
    store.log_admin_matches()?;
    let svc = store.ensure_service_user("gatehouse").await?;
    store.ensure_system_bucket(&svc.user_id).await?;

    let cred_path = cfg.data_dir.join("admin.credentials");
    let text = credentials_text(&admin.access_key, &admin.secret_key);
    let current = std::fs::read_to_string(&cred_path).ok();
    let written = if current.as_deref() == Some(text.as_str()) {
        None
    } else {
        write_credentials(&cred_path, &text)?;
        Some((admin.access_key, admin.secret_key))
    };
    Ok((admin.user_id, written))
}

fn credentials_text(access: &str, secret: &str) -> String {
    format!("[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
}

/// The aws CLI credentials-file format, mode 0600, written durably.
fn write_credentials(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.sync_all()?;
    Ok(())
}
