//! Metadata snapshots shipped next to the chunks (decision 0034): `<prefix>meta/<ms>.tar`,
//! the database and key files as `gatehouse backup` writes them, without chunks (they are in
//! the same bucket already). The newest `keep` stay; `restore --from-backend` brings a node
//! back from one.

use std::path::Path;
use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::StoreError;

use crate::{Result, S3Backend, classify};

/// One shipped snapshot.
#[derive(Debug, Clone)]
pub struct ShippedSnapshot {
    /// Its object key (`<prefix>meta/<ms since the epoch, 20 digits>.tar`).
    pub key: String,
    pub bytes: u64,
    /// When it was taken (from its name).
    pub taken_ms: u64,
}

impl S3Backend {
    fn meta_prefix(&self) -> String {
        format!("{}meta/", self.prefix)
    }

    /// Uploads `file` (a snapshot archive taken at `taken_ms`), then removes all but the
    /// newest `keep`. Returns the new snapshot's key. A file past [`MULTIPART_ABOVE`] goes as a
    /// multipart upload in [`PART`]-sized parts (a single PUT stops at 5 GiB, and a broken
    /// transfer then costs one part, not the whole file).
    pub fn ship_snapshot(&self, file: &Path, taken_ms: u64, keep: usize) -> Result<String> {
        self.ship_snapshot_in_parts(file, taken_ms, keep, MULTIPART_ABOVE, PART)
    }

    /// [`S3Backend::ship_snapshot`] with the sizes given (tests use small ones).
    pub fn ship_snapshot_in_parts(
        &self,
        file: &Path,
        taken_ms: u64,
        keep: usize,
        multipart_above: u64,
        part: u64,
    ) -> Result<String> {
        let key = format!("{}{taken_ms:020}.tar", self.meta_prefix());
        let size = std::fs::metadata(file).map_err(StoreError::io)?.len();
        let (client, bucket, k, path) = (
            self.client.clone(),
            self.bucket.clone(),
            key.clone(),
            file.to_path_buf(),
        );
        if size > multipart_above {
            let part = part.max(size.div_ceil(9_000)).max(5 << 20);
            self.run(put_in_parts(client, bucket, k, path, size, part))?;
        } else {
            self.run(async move {
                let body = ByteStream::from_path(&path)
                    .await
                    .map_err(|e| StoreError::Internal(format!("snapshot file: {e}")))?;
                client
                    .put_object()
                    .bucket(bucket)
                    .key(k)
                    .content_type("application/x-tar")
                    .body(body)
                    .customize()
                    .config_override(long_transfer())
                    .send()
                    .await
                    .map_err(|e| classify(&e).into_error("PUT snapshot", &[0; 32]))?;
                Ok::<_, StoreError>(())
            })?;
        }
        let all = self.snapshots()?;
        for old in all.iter().rev().skip(keep.max(1)) {
            let (client, bucket, k) = (self.client.clone(), self.bucket.clone(), old.key.clone());
            self.run(async move { client.delete_object().bucket(bucket).key(k).send().await })
                .map_err(|e| classify(&e).into_error("DELETE snapshot", &[0; 32]))?;
        }
        Ok(key)
    }

    /// The snapshots in the backend, oldest first.
    pub fn snapshots(&self) -> Result<Vec<ShippedSnapshot>> {
        let prefix = self.meta_prefix();
        let mut out = Vec::new();
        self.list_prefix(&prefix, &mut |name, bytes, _| {
            if let Some(ms) = name
                .strip_suffix(".tar")
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push(ShippedSnapshot {
                    key: format!("{prefix}{name}"),
                    bytes,
                    taken_ms: ms,
                });
            }
            Ok(())
        })?;
        out.sort_by_key(|s| s.taken_ms);
        Ok(out)
    }

    /// Downloads snapshot `key` into the file `to` (created).
    pub fn fetch_snapshot(&self, key: &str, to: &Path) -> Result<u64> {
        let mut f = std::fs::File::create(to).map_err(StoreError::io)?;
        let (client, bucket, k) = (self.client.clone(), self.bucket.clone(), key.to_string());
        self.run(async move {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(k)
                .customize()
                .config_override(long_transfer())
                .send()
                .await
                .map_err(|e| classify(&e).into_error("GET snapshot", &[0; 32]))?;
            let mut body = out.body;
            let mut n = 0u64;
            while let Some(piece) = body
                .try_next()
                .await
                .map_err(|e| StoreError::Unavailable(format!("snapshot download broke off: {e}")))?
            {
                std::io::Write::write_all(&mut f, &piece).map_err(StoreError::io)?;
                n += piece.len() as u64;
            }
            f.sync_all().map_err(StoreError::io)?;
            Ok(n)
        })
    }
}

/// Snapshots larger than this go as multipart uploads.
pub const MULTIPART_ABOVE: u64 = 512 << 20;
/// Their part size (more for a file that would need over 9,000 parts).
pub const PART: u64 = 64 << 20;

/// `path` (`size` bytes) as the object `key`, in parts of `part` bytes; an upload that fails is
/// aborted (best effort) so it leaves no parts behind.
async fn put_in_parts(
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    path: std::path::PathBuf,
    size: u64,
    part: u64,
) -> Result<()> {
    use aws_sdk_s3::primitives::Length;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let created = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .content_type("application/x-tar")
        .send()
        .await
        .map_err(|e| classify(&e).into_error("CreateMultipartUpload snapshot", &[0; 32]))?;
    let id = created
        .upload_id()
        .ok_or_else(|| StoreError::Internal("snapshot upload: no upload id".into()))?
        .to_string();
    let sent: Result<Vec<CompletedPart>> = async {
        let mut done = Vec::new();
        let mut off = 0u64;
        let mut n = 1i32;
        while off < size {
            let len = part.min(size - off);
            let body = ByteStream::read_from()
                .path(&path)
                .offset(off)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(|e| StoreError::Internal(format!("snapshot file: {e}")))?;
            let r = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .body(body)
                .customize()
                .config_override(long_transfer())
                .send()
                .await
                .map_err(|e| classify(&e).into_error("UploadPart snapshot", &[0; 32]))?;
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(r.e_tag().map(str::to_string))
                    .build(),
            );
            off += len;
            n += 1;
        }
        client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(&e).into_error("CompleteMultipartUpload snapshot", &[0; 32]))?;
        Ok(done)
    }
    .await;
    if sent.is_err() {
        let _ = client
            .abort_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&id)
            .send()
            .await;
    }
    sent.map(drop)
}

/// A snapshot is the whole database: its transfer gets an hour, not the chunk calls' minute
/// (a 1 GB file at 20 MB/s would never ship within those).
fn long_transfer() -> aws_sdk_s3::config::Builder {
    let hour = std::time::Duration::from_secs(3600);
    aws_sdk_s3::config::Builder::default().timeout_config(
        aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .operation_timeout(hour)
            .operation_attempt_timeout(hour)
            .build(),
    )
}

/// Milliseconds since the epoch now (a snapshot's name).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Ships a metadata snapshot every `every` until `stop` turns true: the first one right after
/// start. A failed round is logged and tried again at the next.
pub async fn ship_every(
    store: gatehouse_store::Store,
    backend: std::sync::Arc<S3Backend>,
    every: std::time::Duration,
    keep: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let dir = store.config().data_dir.clone();
    // What a crash in the middle of a round left (each as large as the database).
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("ship-") && name.ends_with(".tar.tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    loop {
        let (store, backend, dir) = (store.clone(), backend.clone(), dir.clone());
        let t0 = std::time::Instant::now();
        let metrics_store = store.clone();
        let round = tokio::task::spawn_blocking(move || -> Result<(String, u64, u64)> {
            let taken = now_ms();
            let snap = store.metadata_snapshot()?;
            let tmp = dir.join(format!("ship-{taken}.tar.tmp"));
            let res = (|| {
                let mut f =
                    std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(StoreError::io)?);
                snap.write_tar(&mut f)?;
                drop(f);
                drop(snap);
                let bytes = std::fs::metadata(&tmp).map_err(StoreError::io)?.len();
                let key = backend.ship_snapshot(&tmp, taken, keep)?;
                Ok((key, bytes, taken))
            })();
            let _ = std::fs::remove_file(&tmp);
            res
        })
        .await;
        let m = metrics_store.metrics();
        use std::sync::atomic::Ordering::Relaxed;
        match &round {
            Ok(Ok((_, _, taken))) => {
                m.snapshot_taken_ms.store(*taken, Relaxed);
                m.snapshots_shipped.fetch_add(1, Relaxed);
            }
            _ => {
                m.snapshot_failures.fetch_add(1, Relaxed);
            }
        }
        match round {
            Ok(Ok((key, bytes, _))) => tracing::info!(
                key = %key,
                bytes,
                ms = t0.elapsed().as_millis() as u64,
                "metadata snapshot shipped"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "metadata snapshot not shipped"),
            Err(e) => tracing::warn!(error = %e, "metadata snapshot task failed"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
