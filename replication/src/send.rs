//! One key's send: its current object as a PutObject (or a multipart upload with the source's
//! part sizes, so the target computes the same ETag), or a DeleteObject.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use gatehouse_chunks_s3::remote::{Fault, classify};
use gatehouse_store::Store;
use gatehouse_store::blobs::Pins;
use gatehouse_store::model::{ObjectRecord, ReplOp, RuleRecord};
use gatehouse_store::ops::ObjectInfo;
use gatehouse_store::replication::{Outcome, REPLICA_HEADER, REPLICA_MARKER};
use http_body::Frame;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Retry;

/// Objects up to this size are read whole and sent as one retryable body (at most 32 in
/// flight: 32 MiB); larger ones stream.
pub const WHOLE: u64 = 1 << 20;
/// A single PUT takes at most this much (S3's limit); larger objects without parts go in
/// parts of [`SPLIT_PART`].
const MAX_SINGLE: u64 = 5 << 30;
const SPLIT_PART: u64 = 64 << 20;

/// What `x-amz-tagging` leaves as it is (RFC 3986 unreserved).
const TAG: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `req` (a PutObject or CreateMultipartUpload builder: the same setters) for the rule's target
/// key, carrying the object's content headers, user metadata with this node's replica marker,
/// and tags.
macro_rules! carry {
    ($job:expr, $rec:expr, $req:expr) => {{
        let m = &$rec.meta;
        $req.bucket(&$job.rule.target_bucket)
            .key(&$job.key)
            .set_content_type(m.content_type.clone())
            .set_content_encoding(m.content_encoding.clone())
            .set_content_disposition(m.content_disposition.clone())
            .set_content_language(m.content_language.clone())
            .set_cache_control(m.cache_control.clone())
            .set_expires(expires(m.expires.as_deref()))
            .set_metadata(Some($job.user_meta($rec)))
            .set_tagging(tagging(&$rec.tags))
    }};
}

/// What a replica asks of the target's encryption: SSE-S3 for an object encrypted here.
fn sse(rec: &ObjectRecord) -> Option<aws_sdk_s3::types::ServerSideEncryption> {
    (rec.sse.is_some() || rec.data.is_sealed())
        .then_some(aws_sdk_s3::types::ServerSideEncryption::Aes256)
}

pub(crate) struct Job {
    pub store: Store,
    pub client: Client,
    pub rule: RuleRecord,
    pub key: String,
    pub op: ReplOp,
    pub marker: String,
    /// The connection speaks TLS: only then do encrypted objects leave (decision 0044).
    pub tls: bool,
}

impl Job {
    pub async fn run(self) -> Result<Outcome, Retry> {
        // The key's state now, whatever the row says: a row only says what changed last here.
        let (store, bucket, key) = (
            self.store.clone(),
            self.rule.bucket.clone(),
            self.key.clone(),
        );
        let opened = tokio::task::spawn_blocking(move || store.replication().open(&bucket, &key))
            .await
            .map_err(|e| Retry::remote(format!("reading the object: {e}")))?
            .map_err(|e| read_failure(e, &self.key))?;
        let replica = |info: &ObjectInfo| {
            info.record
                .meta
                .user
                .iter()
                .any(|(k, _)| k == REPLICA_MARKER)
        };
        match (self.op, opened) {
            // What the key holds came from the other site (its write replaced this site's
            // change): sending this site's older change would undo it there.
            (_, Some((info, _))) if replica(&info) => Ok(Outcome::Skipped),
            (ReplOp::Put, Some((info, pins))) => self.put(info, pins).await,
            // Written again since, by a write that queued nothing: leave the target's copy.
            (ReplOp::Delete, Some(_)) => Ok(Outcome::Skipped),
            (_, None) if self.rule.deletes => self.delete().await,
            (_, None) => Ok(Outcome::Skipped),
        }
    }

    async fn delete(&self) -> Result<Outcome, Retry> {
        let marker = self.marker.clone();
        let r = self
            .client
            .delete_object()
            .bucket(&self.rule.target_bucket)
            .key(&self.key)
            .customize()
            // A gatehouse target does not send this delete back (other services ignore it).
            .mutate_request(move |req| {
                req.headers_mut().insert(REPLICA_HEADER, marker.clone());
            })
            .send()
            .await;
        match r {
            Ok(_) => Ok(Outcome::Sent { bytes: 0 }),
            Err(e) => verdict(&e, "DELETE"),
        }
    }

    async fn put(&self, info: ObjectInfo, pins: Pins) -> Result<Outcome, Retry> {
        let rec = &info.record;
        // An object stored encrypted goes out decrypted: over TLS only, and asked to be
        // encrypted there too (SSE-S3; a target without it refuses, and the key is failed,
        // rather than stored in the clear).
        if matches!(
            rec.sse,
            Some(gatehouse_store::sse::SseMode::Customer { .. })
        ) {
            return Ok(Outcome::Refused(
                "an object encrypted with a customer-provided key (SSE-C) is not replicated: the server has no key"
                    .into(),
            ));
        }
        // Under a key of the key service: its key decides who reads it, and a replica would
        // escape that (AWS replicates SSE-KMS objects only when told to, under a replica key;
        // decision 0046). Judged by the bytes, as below.
        if rec.data.is_kms_sealed() {
            return Ok(Outcome::Refused(
                "an object encrypted under a key of the key service (SSE-KMS) is not replicated: a replica would not be governed by its key"
                    .into(),
            ));
        }
        // Judged by the bytes (a file partly sealed by an NFS write reports no encryption).
        let sealed = rec.sse.is_some() || rec.data.is_sealed();
        if sealed && !self.tls {
            return Ok(Outcome::Refused(
                "an encrypted object is replicated over TLS only (the connection's endpoint is not https://)"
                    .into(),
            ));
        }
        let parts = if !rec.parts.is_empty() {
            rec.parts.clone()
        } else if rec.size > MAX_SINGLE {
            split(rec.size)
        } else {
            Vec::new()
        };
        let r = if parts.is_empty() {
            self.put_single(&info, pins).await
        } else {
            self.put_multipart(&info, pins, &parts).await
        };
        r.map(|()| Outcome::Sent { bytes: rec.size })
            .or_else(|e| match e {
                Failure::Key(m) => Ok(Outcome::Refused(m)),
                Failure::Retry(m) => Err(Retry::remote(m)),
                Failure::Local(m) => Err(Retry::local(m)),
            })
    }

    /// The bytes `range` of `rec`, streamed; the caller holds the object's pins until the
    /// send is over.
    fn body(&self, rec: &ObjectRecord, range: std::ops::Range<u64>) -> ByteStream {
        let len = range.end - range.start;
        let mut stream = Box::pin(self.store.read_data(&rec.data, range));
        // The SDK wants a body it can share between threads; the store's stream is only Send.
        // A task reads it into a short channel the body drains.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            while let Some(piece) = stream.next().await {
                let stop = piece.is_err();
                if tx.send(piece).await.is_err() || stop {
                    break;
                }
            }
        });
        ByteStream::from_body_1_x(ChannelBody { rx, left: len })
    }

    async fn whole(&self, rec: &ObjectRecord) -> Result<Bytes, Failure> {
        let mut buf = Vec::with_capacity(rec.size as usize);
        let mut s = std::pin::pin!(self.store.read_data(&rec.data, 0..rec.size));
        while let Some(piece) = s.next().await {
            buf.extend_from_slice(&piece.map_err(|e| match read_failure(e, &self.key) {
                Retry { msg, local: true } => Failure::Local(msg),
                Retry { msg, .. } => Failure::Retry(msg),
            })?);
        }
        Ok(Bytes::from(buf))
    }

    async fn put_single(&self, info: &ObjectInfo, pins: Pins) -> Result<(), Failure> {
        let rec = &info.record;
        let body = if rec.size <= WHOLE {
            ByteStream::from(self.whole(rec).await?)
        } else {
            self.body(rec, 0..rec.size)
        };
        let mut req = carry!(self, rec, self.client.put_object())
            .content_length(rec.size as i64)
            .set_server_side_encryption(sse(rec))
            .body(body);
        // A single PUT's ETag is its MD5 (not an SSE-C object's keyed one): the target checks
        // the bytes against it.
        if let Some(md5) = md5_of(&rec.etag).filter(|_| !keyed_etag(rec)) {
            req = req.content_md5(md5);
        }
        let r = req.send().await;
        drop(pins);
        r.map(drop).map_err(|e| failure(&e, "PUT"))
    }

    async fn put_multipart(
        &self,
        info: &ObjectInfo,
        pins: Pins,
        parts: &[u64],
    ) -> Result<(), Failure> {
        let rec = &info.record;
        let created = carry!(self, rec, self.client.create_multipart_upload())
            .set_server_side_encryption(sse(rec))
            .send()
            .await
            .map_err(|e| failure(&e, "CreateMultipartUpload"))?;
        let Some(upload_id) = created.upload_id().map(str::to_string) else {
            return Err(Failure::Retry("CreateMultipartUpload: no upload id".into()));
        };
        let sent = self.send_parts(rec, parts, &upload_id).await;
        let r = match sent {
            Ok(done) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.rule.target_bucket)
                .key(&self.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(|e| failure(&e, "CompleteMultipartUpload")),
            Err(e) => Err(e),
        };
        drop(pins);
        if r.is_err() {
            // Best effort: the target's own lifecycle rules clear what this leaves.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.rule.target_bucket)
                .key(&self.key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        r
    }

    async fn send_parts(
        &self,
        rec: &ObjectRecord,
        parts: &[u64],
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>, Failure> {
        let mut done = Vec::with_capacity(parts.len());
        let mut off = 0u64;
        for (i, len) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let body = self.body(rec, off..off + len);
            off += len;
            let r = self
                .client
                .upload_part()
                .bucket(&self.rule.target_bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .part_number(n)
                .content_length(*len as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| failure(&e, "UploadPart"))?;
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(r.e_tag().map(str::to_string))
                    .build(),
            );
        }
        Ok(done)
    }

    /// The object's user metadata with this node's replica marker.
    fn user_meta(&self, rec: &ObjectRecord) -> std::collections::HashMap<String, String> {
        let mut out: std::collections::HashMap<String, String> = rec
            .meta
            .user
            .iter()
            .filter(|(k, _)| k != REPLICA_MARKER)
            .cloned()
            .collect();
        out.insert(REPLICA_MARKER.to_string(), self.marker.clone());
        out
    }
}

/// A body fed by [`Job::body`]'s reader task.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<gatehouse_store::Result<Bytes>>,
    left: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = gatehouse_store::StoreError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|o| {
            o.map(|r| {
                r.map(|b| {
                    self.left = self.left.saturating_sub(b.len() as u64);
                    Frame::data(b)
                })
            })
        })
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

enum Failure {
    /// The target refused this key for good.
    Key(String),
    Retry(String),
    /// Reading the object here failed (a chunk missing or damaged, the chunk backend away).
    Local(String),
}

/// A failed read of the object here: damage (a chunk missing or wrong) counts toward giving
/// the key up; anything else (the chunk backend away, a busy database) is only waited out.
fn read_failure(e: gatehouse_store::StoreError, key: &str) -> Retry {
    let local = matches!(e, gatehouse_store::StoreError::Corrupt(_));
    Retry {
        msg: format!("reading {key}: {e}"),
        local,
    }
}

/// Part sizes for an object of `size` bytes sent without its own parts: [`SPLIT_PART`], or more
/// for an object that would need over S3's 10,000 parts.
fn split(size: u64) -> Vec<u64> {
    let part = SPLIT_PART.max(size.div_ceil(10_000));
    let mut v = vec![part; (size / part) as usize];
    if !size.is_multiple_of(part) {
        v.push(size % part);
    }
    v
}

fn tagging(tags: &[(String, String)]) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    Some(
        tags.iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, TAG),
                    utf8_percent_encode(v, TAG)
                )
            })
            .collect::<Vec<_>>()
            .join("&"),
    )
}

fn expires(v: Option<&str>) -> Option<DateTime> {
    v.and_then(|s| DateTime::from_str(s, DateTimeFormat::HttpDate).ok())
}

/// base64 of the MD5 a single-PUT ETag (32 hex digits) is.
/// Whether `rec`'s ETag is keyed rather than its content's MD5 (SSE-C, SSE-KMS).
fn keyed_etag(rec: &ObjectRecord) -> bool {
    matches!(
        rec.sse,
        Some(
            gatehouse_store::sse::SseMode::Customer { .. }
                | gatehouse_store::sse::SseMode::Kms { .. }
        )
    )
}

fn md5_of(etag: &str) -> Option<String> {
    if etag.len() != 32 {
        return None;
    }
    let raw = hex::decode(etag).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Whether a refusal is of the connection as a whole (wait and retry) rather than of the key.
fn connection_wide(status: Option<u16>, code: &str) -> bool {
    matches!(status, Some(401 | 403 | 404 | 409))
        || matches!(
            code,
            "AccessDenied"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "NoSuchBucket"
                | "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "RequestTimeTooSkewed"
        )
}

fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    what: &str,
) -> Failure {
    match classify(e) {
        Fault::Unavailable(m) => Failure::Retry(format!("{what}: {m}")),
        Fault::NotFound => Failure::Retry(format!("{what}: 404 from the target")),
        Fault::Refused(m) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if connection_wide(status, e.code().unwrap_or("")) {
                Failure::Retry(format!("{what}: {m}"))
            } else {
                Failure::Key(format!("{what}: {m}"))
            }
        }
    }
}

/// A DELETE's answer: a missing key is as good as deleted.
fn verdict<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    what: &str,
) -> Result<Outcome, Retry> {
    if e.code() == Some("NoSuchKey") {
        return Ok(Outcome::Sent { bytes: 0 });
    }
    match failure(e, what) {
        Failure::Key(m) => Ok(Outcome::Refused(m)),
        Failure::Retry(m) | Failure::Local(m) => Err(Retry::remote(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_the_object() {
        assert_eq!(split(SPLIT_PART * 2 + 5), vec![SPLIT_PART, SPLIT_PART, 5]);
        assert_eq!(split(SPLIT_PART), vec![SPLIT_PART]);
        let huge = 1u64 << 40;
        let parts = split(huge);
        assert!(parts.len() <= 10_000 && parts.iter().sum::<u64>() == huge);
    }

    #[test]
    fn tags_are_form_encoded() {
        let t = vec![("a b".into(), "c&d".into()), ("k".into(), "v".into())];
        assert_eq!(tagging(&t).as_deref(), Some("a%20b=c%26d&k=v"));
        assert_eq!(tagging(&[]), None);
    }

    #[test]
    fn md5_only_for_single_put_etags() {
        assert_eq!(
            md5_of("d41d8cd98f00b204e9800998ecf8427e").as_deref(),
            Some("1B2M2Y8AsgTpgAmY7PhCfg==")
        );
        assert_eq!(md5_of("d41d8cd98f00b204e9800998ecf8427e-2"), None);
    }
}
