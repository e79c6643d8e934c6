//! Wiring: open the store, make sure the bootstrap admin (a real user with its own keypair in
//! the data directory), the `svc:gatehouse` service user and the system bucket exist, apply
//! `admin_peers`, start the S3, admin and NFS listeners and the GC loop, and stop them together on
//! one shutdown signal (the database closes last).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use gatehouse_admin::{AdminConfig, AdminState};
use gatehouse_s3::{S3Config, S3State};
use gatehouse_store::identity::Keypair;
use gatehouse_store::{Store, StoreConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A started server. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub s3_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// NFSv3 + MOUNT + PORTMAP GETPORT, one port.
    pub nfs_addr: SocketAddr,
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
    let mut sc = StoreConfig::new(&cfg.data_dir);
    sc.chunk_size = cfg.chunk_size;
    sc.inline_max = cfg.inline_max;
    sc.gc_grace = cfg.gc_grace;
    sc.max_object_size = cfg.max_object_size;
    sc.db_cache_bytes = cfg.db_cache;
    sc.enrolment_token = cfg.enrolment_token.clone();
    sc.share_expiry = cfg.share_expiry;
    sc.object_expiry = cfg.object_expiry;
    sc.max_size = cfg.max_size;
    sc.tombstone_retention = cfg.tombstone_retention;
    sc.fs_async = cfg.nfs_async.then_some(crate::config::NFS_ASYNC_WINDOW);
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
    let (admin_user_id, new_admin) = bootstrap(&store, &cfg).await?;
    store.log_space()?;

    let listener = tokio::net::TcpListener::bind(cfg.s3_listen)
        .await
        .with_context(|| format!("binding the S3 listener on {}", cfg.s3_listen))?;
    let s3_addr = listener.local_addr()?;
    let admin_listener = tokio::net::TcpListener::bind(cfg.admin_listen)
        .await
        .with_context(|| format!("binding the admin listener on {}", cfg.admin_listen))?;
    let admin_addr = admin_listener.local_addr()?;
    let nfs_listener = tokio::net::TcpListener::bind(cfg.nfs_listen)
        .await
        .with_context(|| format!("binding the NFS listener on {}", cfg.nfs_listen))?;
    let nfs_addr = nfs_listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let nfs_task = tokio::spawn(gatehouse_nfs::serve(
        nfs_listener,
        store.clone(),
        stop_rx.clone(),
    ));
    let admin_app = gatehouse_admin::router(AdminState::new(
        store.clone(),
        AdminConfig {
            region: cfg.region.clone(),
            s3_endpoint: cfg
                .s3_public_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{s3_addr}")),
            max_size: cfg.max_size,
            login_max_failures: cfg.login_max_failures,
            login_lockout: cfg.login_lockout,
            secure_cookie: tls.is_some(),
            trusted_proxies: cfg.trusted_proxies.clone(),
            nfs_endpoint: nfs_addr.to_string(),
        },
    ));
    let admin_task = serve(
        admin_listener,
        admin_app,
        tls.clone(),
        stop_rx.clone(),
        "admin",
    )?;
    let state = S3State::new(
        store.clone(),
        S3Config {
            region: cfg.region.clone(),
            domains: cfg.domains.clone(),
        },
    );
    let app = gatehouse_s3::router(state);
    let s3_task = serve(listener, app, tls.clone(), stop_rx.clone(), "S3")?;
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
    let gc_store = store.clone();
    let mut rx = stop_rx;
    let interval = cfg.gc_interval;
    let gc_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = async { rx.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tokio::time::sleep(interval) => {
                    match gc_store.gc(None).await {
                        Ok(s) => tracing::info!(scanned = s.scanned, deleted = s.deleted, bytes = s.deleted_bytes, "chunk GC"),
                        Err(e) => tracing::warn!(error = %e, "chunk GC failed"),
                    }
                }
            }
        }
    });
    tracing::info!(%s3_addr, %admin_addr, %nfs_addr, data_dir = %cfg.data_dir.display(), "gatehouse serving S3, NFSv3 and the admin API");
    Ok(Running {
        s3_addr,
        admin_addr,
        nfs_addr,
        admin_user_id,
        store,
        new_admin,
        stop,
        tasks: vec![s3_task, admin_task, nfs_task, gc_task, sweep_task],
    })
}

/// Serves `app` on `listener` (over TLS when configured) until the stop signal.
fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    stop: watch::Receiver<bool>,
    what: &'static str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut rx = stop.clone();
    let shutdown = async move {
        let _stopped = rx.wait_for(|s| *s).await.map(|_| ());
    };
    // With the peer address (axum's ConnectInfo): web sign-in lockouts count per client.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    Ok(match tls {
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "{what} listener failed");
            }
        }),
        Some(cfg) => {
            // The no-op tap_io is what gives any listener axum's ConnectInfo<SocketAddr>.
            let l = axum::serve::ListenerExt::tap_io(
                crate::tls::TlsListener::new(listener, cfg, stop)?,
                |_| {},
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).with_graceful_shutdown(shutdown).await {
                    tracing::error!(error = %e, "{what} listener failed");
                }
            })
        }
    })
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
