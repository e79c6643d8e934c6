//! Wiring: open the store, create the bootstrap credential, start the S3 listener and the GC
//! loop, and stop them together on one shutdown signal (the database closes last).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use gatehouse_s3::{S3Config, S3State};
use gatehouse_store::{Store, StoreConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A started server. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub s3_addr: SocketAddr,
    pub store: Store,
    /// Set when this start created the bootstrap credential: (access key, secret).
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
    let new_admin = store.ensure_bootstrap_admin().await?;
    if let Some((ak, sk)) = &new_admin {
        write_credentials(&cfg.data_dir.join("admin.credentials"), ak, sk)?;
    }

    let listener = tokio::net::TcpListener::bind(cfg.s3_listen)
        .await
        .with_context(|| format!("binding the S3 listener on {}", cfg.s3_listen))?;
    let s3_addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let state = S3State::new(
        store.clone(),
        S3Config {
            region: cfg.region.clone(),
            domains: cfg.domains.clone(),
        },
    );
    let app = gatehouse_s3::router(state);
    let mut rx = stop_rx.clone();
    let s3_task = tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _stopped = rx.wait_for(|s| *s).await.map(|_| ());
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "S3 listener failed");
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
    tracing::info!(%s3_addr, data_dir = %cfg.data_dir.display(), "gatehouse serving S3");
    Ok(Running {
        s3_addr,
        store,
        new_admin,
        stop,
        tasks: vec![s3_task, gc_task],
    })
}

/// The aws CLI credentials-file format, mode 0600, written durably.
fn write_credentials(path: &Path, access: &str, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    write!(
        f,
        "[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
    )?;
    f.sync_all()?;
    Ok(())
}
