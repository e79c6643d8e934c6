//! A chunk backend in any S3-compatible object store (Ceph RGW, MinIO, Garage, AWS S3, …),
//! with a local read cache (decision 0033).
//!
//! Chunk `h` is the object `<prefix>chunks/<hex of h>`. A put stores the object (its `200`
//! is the backend's durability promise) before the metadata naming it commits, like a local
//! file's fsync; the bytes also go into the cache. A read is served from the cache, or
//! fetched, checked against its hash and kept there; the cache holds at most `cache_max`
//! bytes, least recently used out first. Objects are never changed once stored, and only this
//! node's GC removes them, so a cached chunk is the stored one.
//!
//! The store calls its backend from blocking threads (and a few places from async tasks that
//! block briefly on local files); the client here is async, so each call runs on a small
//! runtime of the backend's own and the caller waits for its answer.
//!
//! Faults: a backend that does not answer within the timeouts, answers 5xx or cannot be
//! reached makes a call fail with `StoreError::Unavailable` (S3 clients get `503 SlowDown`,
//! NFS clients `JUKEBOX`; both retry) after the client's own retries; nothing is recorded as
//! stored. A refusal (403) is `Internal`, with the backend's words.

mod breaker;
mod cache;
pub mod remote;
pub mod snapshots;

use remote::{Fault, classify};

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::StoreError;
use gatehouse_store::blobs::{ChunkInfo, ChunkStore, Hash};

use cache::Cache;

type Result<T> = std::result::Result<T, StoreError>;

/// What [`S3Backend::list_prefix`] calls per object: name after the prefix, length, modified.
type ListedObject<'a> = dyn FnMut(&str, u64, Option<SystemTime>) -> Result<()> + 'a;

/// Where the chunks go: `storage.backend` with `kind: s3`.
#[derive(Clone)]
pub struct S3BackendConfig {
    /// `http(s)://host:port` of the S3 service; requests are path-style.
    pub endpoint: String,
    pub bucket: String,
    /// Prefix of every object this node writes (`node-a/`); several nodes may share a bucket.
    pub prefix: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Bytes of chunks kept in the local read cache.
    pub cache_max: u64,
}

impl std::fmt::Debug for S3BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BackendConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("cache_max", &self.cache_max)
            .finish_non_exhaustive()
    }
}

impl S3BackendConfig {
    /// Names the place the chunks live, for the data directory's record of its backend.
    pub fn location(&self) -> String {
        format!(
            "s3 {}/{}/{}",
            self.endpoint.trim_end_matches('/'),
            self.bucket,
            self.prefix
        )
    }
}

/// How long one attempt may take to connect, and a whole call with its retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct S3Backend {
    client: Client,
    bucket: String,
    prefix: String,
    /// `<prefix>chunks/`
    key_prefix: String,
    cache: Cache,
    /// The endpoint is `https`.
    tls: bool,
    breaker: breaker::Breaker,
    rt: Option<tokio::runtime::Runtime>,
}

impl S3Backend {
    /// Connects and checks the bucket answers to these credentials (a clear error at start
    /// otherwise). `cache_dir` holds the read cache (created; its files are kept across
    /// restarts).
    pub fn connect(cfg: &S3BackendConfig, cache_dir: &Path) -> Result<Arc<Self>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chunks-s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("chunk backend runtime: {e}")))?;
        let conf = remote::config(
            &remote::Endpoint {
                url: &cfg.endpoint,
                region: &cfg.region,
                access_key: &cfg.access_key,
                secret_key: &cfg.secret_key,
            },
            remote::Timeouts {
                connect: CONNECT_TIMEOUT,
                attempt: ATTEMPT_TIMEOUT,
                operation: OPERATION_TIMEOUT,
            },
        );
        let backend = S3Backend {
            client: Client::from_conf(conf),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.clone(),
            key_prefix: format!("{}chunks/", cfg.prefix),
            cache: Cache::open(cache_dir, cfg.cache_max)?,
            tls: cfg.endpoint.starts_with("https://"),
            breaker: breaker::Breaker::default(),
            rt: Some(rt),
        };
        let client = backend.client.clone();
        let bucket = backend.bucket.clone();
        backend
            .run(async move { client.head_bucket().bucket(&bucket).send().await })
            .map_err(|e| match classify(&e) {
                Fault::NotFound => StoreError::Internal(format!(
                    "chunk backend {}: bucket {} does not exist",
                    cfg.endpoint, cfg.bucket
                )),
                Fault::Refused(m) => StoreError::Internal(format!(
                    "chunk backend {} refused access to bucket {} ({m}): check \
                     storage.backend's access key and secret",
                    cfg.endpoint, cfg.bucket
                )),
                Fault::Unavailable(m) => StoreError::Internal(format!(
                    "chunk backend {} cannot be reached ({m})",
                    cfg.endpoint
                )),
            })?;
        Ok(Arc::new(backend))
    }

    fn key(&self, h: &Hash) -> String {
        format!("{}{}", self.key_prefix, hex::encode(h))
    }

    /// Runs `fut` on the backend's runtime and waits for it, from any thread.
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let rt = self
            .rt
            .as_ref()
            .expect("runtime lives as long as the backend");
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the backend's runtime answers every call")
    }

    /// Calls `f` with (the name after `prefix`, length, last modified) of every object under
    /// `prefix`, page by page.
    fn list_prefix(&self, prefix: &str, f: &mut ListedObject<'_>) -> Result<()> {
        let mut token: Option<String> = None;
        loop {
            let (client, bucket, p, t) = (
                self.client.clone(),
                self.bucket.clone(),
                prefix.to_string(),
                token.take(),
            );
            let page = self
                .run(async move {
                    client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(p)
                        .set_continuation_token(t)
                        .send()
                        .await
                })
                .map_err(|e| classify(&e).into_error("LIST", &[0; 32]))?;
            for o in page.contents() {
                let Some(name) = o.key().and_then(|k| k.strip_prefix(prefix)) else {
                    continue;
                };
                let stored = o
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                f(name, o.size().unwrap_or(0).max(0) as u64, stored)?;
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }

    /// The stored length of chunk `h`, or `None`.
    fn head(&self, h: &Hash) -> Result<Option<u64>> {
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key(h));
        match self.run(async move { client.head_object().bucket(bucket).key(key).send().await }) {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) => match classify(&e) {
                Fault::NotFound => Ok(None),
                f => Err(f.into_error("HEAD", h)),
            },
        }
    }
}

impl Drop for S3Backend {
    fn drop(&mut self) {
        // May be dropped inside another runtime (the server's): do not block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The calls themselves; [`ChunkStore`] puts them behind the breaker.
impl S3Backend {
    fn put_now(&self, h: &Hash, data: &bytes::Bytes) -> Result<bool> {
        // Asked of the backend itself: a cached copy proves the bytes, not that the object is
        // still stored (GC may have removed it, the cache may be another location's).
        if self.head(h)?.is_some() {
            return Ok(false);
        }
        // The chunk buffer itself, not a copy: it is recycled only once this call returns.
        let body = ByteStream::from(data.clone());
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key(h));
        let tls = self.tls;
        self.run(async move {
            let put = client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("application/octet-stream")
                .body(body)
                .customize();
            // Over TLS the body cannot change on the way, and every read checks it against its
            // name: SHA-256 of each chunk for its signature would be ~0.8 s of CPU per GiB for
            // nothing. Over plain HTTP the signature is what protects it in transit.
            if tls {
                put.disable_payload_signing().send().await
            } else {
                put.send().await
            }
        })
        .map_err(|e| classify(&e).into_error("PUT", h))?;
        self.cache.insert(h, data);
        Ok(true)
    }

    fn contains_now(&self, h: &Hash) -> Result<bool> {
        Ok(self.head(h)?.is_some())
    }

    fn fetch(&self, h: &Hash) -> Result<File> {
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key(h));
        let (mut tmp, tmp_path) = self.cache.temp_file(h)?;
        let want = *h;
        let fetched = self.run(async move {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify(&e).into_error("GET", &want))?;
            let mut body = out.body;
            let mut hasher = blake3::Hasher::new();
            let mut len = 0u64;
            while let Some(piece) = body.try_next().await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "chunk {}: the backend's answer broke off ({e})",
                    hex::encode(want)
                ))
            })? {
                hasher.update(&piece);
                len += piece.len() as u64;
                tmp.write_all(&piece).map_err(StoreError::io)?;
            }
            if hasher.finalize().as_bytes() != &want {
                return Err(StoreError::Corrupt(format!(
                    "chunk {} in the backend does not match its hash",
                    hex::encode(want)
                )));
            }
            Ok(len)
        });
        match fetched {
            Ok(len) => self.cache.adopt(h, &tmp_path, len),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    /// One DELETE (S3's is idempotent and does not say whether the object was there): the
    /// length reported is the cached copy's, or 0.
    fn remove_now(&self, h: &Hash) -> Result<Option<u64>> {
        let len = self.cache.len_of(h).unwrap_or(0);
        self.cache.remove(h);
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key(h));
        self.run(async move { client.delete_object().bucket(bucket).key(key).send().await })
            .map_err(|e| classify(&e).into_error("DELETE", h))?;
        Ok(Some(len))
    }

    fn visit_now(&self, f: &mut dyn FnMut(ChunkInfo) -> Result<()>) -> Result<()> {
        self.list_prefix(&self.key_prefix, &mut |name, len, stored| {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(name, &mut hash).is_err() {
                return Ok(());
            }
            f(ChunkInfo {
                hash,
                len,
                // No time: taken as new, so the GC leaves it alone.
                stored: stored.unwrap_or_else(SystemTime::now),
            })
        })
    }
}

impl ChunkStore for S3Backend {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn put(&self, h: &Hash, data: &bytes::Bytes, _durable: bool) -> Result<bool> {
        self.breaker.admit()?;
        self.breaker.record(self.put_now(h, data))
    }

    fn contains(&self, h: &Hash) -> Result<bool> {
        self.breaker.admit()?;
        self.breaker.record(self.contains_now(h))
    }

    /// A cache miss costs a round trip: keep 8 chunks of a stream on their way (each on a
    /// blocking thread, within the read budget).
    fn read_depth(&self) -> usize {
        8
    }

    fn open(&self, h: &Hash) -> Result<File> {
        // A cached chunk reads whatever the service is doing.
        if let Some(f) = self.cache.open_chunk(h) {
            return Ok(f);
        }
        self.breaker.admit()?;
        self.breaker.record(self.fetch(h))
    }

    fn remove(&self, h: &Hash) -> Result<Option<u64>> {
        self.breaker.admit()?;
        self.breaker.record(self.remove_now(h))
    }

    fn forget_cached(&self, h: &Hash) {
        self.cache.remove(h);
    }

    fn visit(&self, f: &mut dyn FnMut(ChunkInfo) -> Result<()>) -> Result<()> {
        // Its callback's removals go through the breaker themselves: the listing must not
        // hold the probe's turn they would wait for.
        self.breaker.admit_closed()?;
        self.breaker.record(self.visit_now(f))
    }

    /// False at once while the breaker is open (a health check costs no wait then); after its
    /// window the check is the probe whose answer closes it, so a health probe alone brings
    /// the backend back when nothing else asks.
    fn probe(&self) -> bool {
        if self.breaker.admit().is_err() {
            return false;
        }
        let (client, bucket) = (self.client.clone(), self.bucket.clone());
        let r = self
            .run(async move { client.head_bucket().bucket(bucket).send().await })
            .map_err(|e| classify(&e).into_error("HEAD bucket", &[0; 32]));
        self.breaker.record(r).is_ok()
    }
}

impl Fault {
    fn into_error(self, what: &str, h: &Hash) -> StoreError {
        match self {
            Fault::NotFound => StoreError::Corrupt(format!(
                "chunk {} is missing in the backend",
                hex::encode(h)
            )),
            Fault::Refused(m) => StoreError::Internal(format!("chunk backend refused {what}: {m}")),
            Fault::Unavailable(m) => StoreError::Unavailable(format!("{what}: {m}")),
        }
    }
}
