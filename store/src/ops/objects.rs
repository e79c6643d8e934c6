//! Objects: put (streamed), get/head, ranged reads, delete, copy (chunks shared), tags.

use std::ops::Range;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use redb::ReadableDatabase;

use super::ns::Ns;
use super::txn;
use crate::blobs::Pins;
use crate::checksum::ChecksumAlgorithm;
use crate::error::{Result, StoreError};
use crate::model::{
    BucketRecord, ChecksumValue, ChunkRef, Data, ObjectMeta, ObjectRecord, Principal,
};
use crate::rbac::{Resource, Verb, authorize};
use crate::readahead::ChunkBytes;
use crate::stage::{self, StageError, StageOptions, Staged};
use crate::tables::{self, BUCKETS, ENTRIES, INODE_DATA, INODES};
use crate::{Store, codec, deny, naming, now_ms};

/// What a writer asserts and sets besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub meta: ObjectMeta,
    /// The new object's ACL (x-amz-acl / x-amz-grant-*; decision 0042); `None`: private.
    pub acl: Option<crate::model::Acl>,
    pub tags: Vec<(String, String)>,
    /// `Content-MD5`: mismatch → `BadDigest`, nothing stored.
    pub content_md5: Option<[u8; 16]>,
    /// `x-amz-content-sha256` of a signed payload.
    pub content_sha256: Option<[u8; 32]>,
    /// Flexible checksum to compute, and the value the client sent in a header (if any).
    pub checksum: Option<ChecksumAlgorithm>,
    pub checksum_expected: Option<Vec<u8>>,
    /// The body's size as the client declared it: a write that cannot fit the quotas is
    /// refused before any byte is read (the commit checks again with the real size).
    pub declared_size: Option<u64>,
    /// `If-Match` / `If-None-Match` of the write, decided inside the commit.
    pub condition: WriteCondition,
    /// `x-amz-object-lock-*` of the write (decision 0039).
    pub lock: crate::locks::LockRequest,
    /// `x-amz-server-side-encryption` of the write (decision 0044); `None`: the bucket's
    /// default.
    pub sse: Option<crate::sse::SseMode>,
    /// The customer's key of an SSE-C write (or of an UploadPart of an SSE-C upload).
    pub customer_key: Option<std::sync::Arc<crate::sse::CustomerKey>>,
}

/// What a conditional write (PutObject, CopyObject's destination, CompleteMultipartUpload)
/// asks of the key's current object. It is decided inside the commit that would replace the
/// object, so two racing writers cannot both pass, and it never reads with the caller's
/// permissions: a write-only caller's `If-None-Match: *` is honoured all the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// `If-Match`: the current object's ETag must be one of these (comma-separated, quotes
    /// ignored; `*` = any object). No object → `NoSuchKey`, as S3 answers.
    pub if_match: Option<String>,
    /// `If-None-Match: *`: the key must hold no object.
    pub if_none_match: bool,
}

impl WriteCondition {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && !self.if_none_match
    }

    /// Whether a write may replace what `key` of bucket `bucket_id` holds now, in the write's
    /// own transaction; an unconditional write reads nothing.
    pub(crate) fn check_in(&self, ns: &Ns, bucket_id: u64, key: &str) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let etag = match txn::lookup(ns, bucket_id, key)? {
            Some(ino) => Some(txn::inode_attrs(ns, ino)?.etag),
            None => None,
        };
        self.check(etag.as_deref())
    }

    /// Whether a write may replace `current` (the key's ETag now, `None` when it is free).
    fn check(&self, current: Option<&str>) -> Result<()> {
        if let Some(list) = &self.if_match {
            let Some(etag) = current else {
                return Err(StoreError::NoSuchKey);
            };
            if !etag_in_list(list, etag) {
                return Err(StoreError::PreconditionFailed);
            }
        }
        if self.if_none_match && current.is_some() {
            return Err(StoreError::PreconditionFailed);
        }
        Ok(())
    }
}

/// Whether `etag` (unquoted) is in an `If-Match`/`If-None-Match` list: comma-separated,
/// quoted or not, weak tags compared as strong ones, `*` matching any.
pub fn etag_in_list(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

/// An object as readers see it.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub key: String,
    pub ino: u64,
    pub record: ObjectRecord,
    /// When a lifecycle rule expires this (current) object, for `x-amz-expiration`; `None`
    /// for versions read by id and objects no rule expires.
    pub expiration: Option<super::expiry_index::Expiration>,
}

/// The pins of a commit under way, let go of after the committer has run past it if the
/// request is dropped first ([`Store::commit_staged`]).
struct PendingPins {
    staged: Option<Vec<Staged>>,
    store: Store,
}

impl Drop for PendingPins {
    fn drop(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the server is gone, and its GC with it
        };
        let store = self.store.clone();
        rt.spawn(async move {
            // Queued behind the dropped request's job: done once that job has run.
            let _ = store.inner.committer.write(|_| Ok(())).await;
            drop(staged);
        });
    }
}

/// How CopyObject builds the destination's metadata.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// The copy's ACL (a copy never takes its source's; decision 0042); `None`: private.
    pub acl: Option<crate::model::Acl>,
    /// `Some` = metadata directive REPLACE.
    pub replace_meta: Option<ObjectMeta>,
    /// `Some` = tagging directive REPLACE.
    pub replace_tags: Option<Vec<(String, String)>>,
    /// `If-Match` / `If-None-Match` on the destination.
    pub condition: WriteCondition,
    /// `?versionId=` of the copy source (`None`: its current version).
    pub source_version: Option<String>,
    /// `x-amz-object-lock-*` of the copy (the source's lock is not copied).
    pub lock: crate::locks::LockRequest,
    /// `x-amz-server-side-encryption` of the copy (decision 0044); `None`: the destination
    /// bucket's default.
    pub sse: Option<crate::sse::SseMode>,
    /// The copy's SSE-C key (`x-amz-server-side-encryption-customer-*`).
    pub customer_key: Option<std::sync::Arc<crate::sse::CustomerKey>>,
    /// The source's SSE-C key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub source_customer_key: Option<std::sync::Arc<crate::sse::CustomerKey>>,
    /// `x-amz-checksum-algorithm`: the copy's full-object checksum of that algorithm,
    /// computed from the bytes unless the source already has it.
    pub checksum: Option<ChecksumAlgorithm>,
}

impl Store {
    /// Streams `body` into the store as `bucket/key`. Authorization, bucket existence and key
    /// rules are checked before any byte is accepted; digests are verified before commit, and
    /// `late_check` (trailing checksums that arrive after the body) runs last. On any error
    /// nothing becomes visible.
    pub async fn put_object<S, E>(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        body: S,
        mut opts: PutOptions,
        late_check: impl FnOnce(&Staged) -> Result<()>,
    ) -> std::result::Result<ObjectInfo, StageError<E>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    {
        deny(authorize(p, Verb::Put, Resource::Object(bucket, key)))?;
        crate::locks::authorize_request(p, bucket, key, &opts.lock)?;
        self.authorize_extras(p, bucket, key, opts.acl.as_ref(), !opts.tags.is_empty())?;
        self.accepts_acl(bucket, opts.acl.as_ref())?;
        crate::replication::accept_marker(p, bucket, &mut opts.meta);
        let b = self.bucket_record(bucket)?;
        naming::validate_key(b.kind, key)?;
        // Early answers save reading a body that would be refused; the commit decides.
        self.precheck_condition(bucket, key, &opts.condition)?;
        if let Some(n) = opts.declared_size {
            self.precheck_room(&b, key, n)?;
        }
        let (sse, seal) = self.sealer_with(p, &b, key, opts.sse, opts.customer_key.as_deref())?;
        // SSE-C and SSE-KMS objects' ETags are no MD5 of their content (AWS documents it; a
        // listing without the key shows no fingerprint): keyed under their domain.
        let keyed = seal.clone().filter(|_| keyed_etag(sse));
        let staged = self
            .stage(
                body,
                &StageOptions {
                    md5: true,
                    sha256: opts.content_sha256.is_some(),
                    checksum: opts.checksum,
                    max_size: self.inner.cfg.max_object_size,
                    allow_inline: true,
                    seal,
                },
            )
            .await?;
        if let Err(e) = verify_staged(&staged, &opts).and_then(|()| late_check(&staged)) {
            self.discard(staged);
            return Err(e.into());
        }
        let checksum = staged.checksum.as_ref().map(|(a, v)| ChecksumValue {
            algorithm: a.name().to_string(),
            value: crate::checksum::base64(v),
            kind: "FULL_OBJECT".into(),
        });
        let condition = opts.condition;
        let lock = opts.lock;
        let acl = opts.acl;
        let etag = match &keyed {
            Some(s) => hex::encode(s.keyed_etag(&staged.md5)),
            None => staged.md5_hex(),
        };
        let rec = ObjectRecord {
            size: staged.size,
            etag,
            mtime_ms: now_ms(),
            meta: opts.meta,
            tags: opts.tags,
            checksum,
            parts: Vec::new(),
            data: staged.data.clone(),
            nlink: 1,
            times: None,
            version_id: None,
            retention: None,
            legal_hold: false,
            acl,
            sse,
            part_checksums: Vec::new(),
        };
        let (this, bucket, key) = (self.clone(), bucket.to_string(), key.to_string());
        let commit = async move {
            this.commit_new_object(&bucket, &key, rec, condition, lock)
                .await
        };
        Ok(self.commit_staged(vec![staged], commit).await?)
    }

    /// The condition check of the commit, made early against the committed state.
    pub(crate) fn precheck_condition(
        &self,
        bucket: &str,
        key: &str,
        cond: &WriteCondition,
    ) -> Result<()> {
        if cond.is_empty() {
            return Ok(());
        }
        match self.read_object(bucket, key) {
            Ok(o) => cond.check(Some(&o.record.etag)),
            Err(StoreError::NoSuchKey) => cond.check(None),
            Err(e) => Err(e),
        }
    }

    /// The quota check of the commit, made early from a declared size.
    pub(crate) fn precheck_room(&self, b: &BucketRecord, key: &str, size: u64) -> Result<()> {
        let limit = self.inner.cfg.max_size;
        if b.quota_bytes == 0 && limit == 0 {
            return Ok(());
        }
        // Most writes fit without counting what they replace: only one that does not looks
        // the replaced object up (its bytes may be freed by this write; the commit knows).
        match txn::ensure_room(b, size, limit, || self.total_usage()) {
            Err(StoreError::QuotaExceeded(_)) => {}
            fits_or_failed => return fits_or_failed,
        }
        let replaced = match self.read_object(&b.name, key) {
            Ok(o) => o.record.size,
            Err(StoreError::NoSuchKey) => 0,
            Err(e) => return Err(e),
        };
        txn::ensure_room(b, size.saturating_sub(replaced), limit, || {
            self.total_usage()
        })
    }

    /// Logical bytes held by every bucket and every deleted share awaiting purge.
    pub fn total_usage(&self) -> Result<u64> {
        let rtxn = self.db().begin_read()?;
        txn::read_counter(&rtxn.open_table(crate::tables::META)?, txn::USAGE_TOTAL)
    }

    pub(crate) async fn stage<S, E>(
        &self,
        body: S,
        opts: &StageOptions,
    ) -> std::result::Result<Staged, StageError<E>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    {
        let referenced = self.referenced();
        let staged = stage::stage(
            &self.inner.blobs,
            self.inner.cfg.chunk_size,
            self.inner.cfg.inline_max,
            body,
            opts,
            &referenced,
        )
        .await;
        if let Err(StageError::Store(StoreError::NoSpace)) = &staged {
            // Deleted objects may have left chunk files behind: free them now.
            self.gc_soon();
        }
        staged
    }

    /// Drops staged data that will not be committed, removing the chunks it created.
    pub(crate) fn discard(&self, staged: Staged) {
        staged.discard(self.referenced());
    }

    /// Runs `commit` (the commit job of what `staged` wrote), then lets go of its chunks: kept
    /// when it landed, discarded when it failed. Should the request be dropped while its job
    /// waits in the committer's queue (a client gone, a drain), the pins are handed to a task
    /// that lets go of them only once the committer has run past that job: a GC meanwhile
    /// cannot delete a chunk the commit then references.
    pub(crate) async fn commit_staged<T>(
        &self,
        staged: Vec<Staged>,
        commit: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let referenced = self.referenced();
        let mut pending = PendingPins {
            staged: Some(staged),
            store: self.clone(),
        };
        let done = commit.await;
        let staged = pending.staged.take().unwrap_or_default();
        if done.is_ok() {
            drop(staged);
        } else {
            for s in staged {
                s.discard(referenced.clone());
            }
        }
        done
    }

    /// [`crate::chunk_referenced`] against this store, for the GC decisions of aborted writes.
    fn referenced(&self) -> stage::Referenced {
        let store = self.clone();
        std::sync::Arc::new(move |h: &crate::blobs::Hash| {
            crate::chunk_referenced(store.db_durable()?, h)
        })
    }
    /// Links a record whose chunks are pinned by the caller: takes their references and
    /// replaces whatever `key` held, in one transaction, if `cond` holds there and then.
    pub(crate) async fn commit_new_object(
        &self,
        bucket: &str,
        key: &str,
        mut rec: ObjectRecord,
        cond: WriteCondition,
        lock: crate::locks::LockRequest,
    ) -> Result<ObjectInfo> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let limit = self.inner.cfg.max_size;
        let atimes = self.inner.atimes.clone();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                cond.check_in(&ns, b.id, &key)?;
                txn::check_share_conflicts(&ns, &b, &key)?;
                crate::locks::apply_to_new(&b, &lock, &mut rec, crate::now_unix_ms())?;
                txn::check_quota(&ns, &b, &key, rec.size, limit)?;
                txn::incref(&mut ns, rec.data.chunks())?;
                let ino = txn::link_object(&mut ns, &mut b, &key, &mut rec)?;
                // A replaced file keeps its inode number: a READ's atime noted for the old
                // content is not the new object's (see `atime`).
                atimes.forget(ino);
                let expiration = super::expiry_index::expiration_of(&b, &key, &rec);
                Ok(ObjectInfo {
                    key,
                    ino,
                    record: rec,
                    expiration,
                })
            })
            .await
    }

    /// GetObject/HeadObject metadata.
    pub fn get_object(&self, p: &Principal, bucket: &str, key: &str) -> Result<ObjectInfo> {
        self.read_or_deny(p, Verb::Get, bucket, key, || self.read_object(bucket, key))
    }

    /// GetObject for a reader of the bytes: the object and its chunk files pinned, so they
    /// stay until the pins are dropped (hand them to [`Store::read_data_pinned`]) even if the
    /// object is deleted or overwritten and GC runs while the body is still streaming.
    ///
    /// Why pin, then check that the files are there: GC decides under the pin lock against
    /// committed state, and the manifest was read before the pin, so a delete and a GC may
    /// both fall between the two. A file present after our pin is one GC can no longer take;
    /// a missing one means exactly that race happened, and the object is read again (its
    /// newer state: the new version, or `NoSuchKey`). Pinning inside the manifest's read
    /// transaction would not help (GC looks at a newer snapshot), and taking the pin lock
    /// around that transaction would stall every writer's pins behind a database read. The
    /// files are looked for only when some chunk file was deleted since just before the
    /// manifest was read (a deletion counter; GC deletes rarely). So the cost is two pin-lock
    /// turns and one map entry per chunk, and as many again to unpin; inline objects pin
    /// nothing.
    pub fn open_object(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectInfo, Pins)> {
        let (info, pins) = self.read_or_deny(p, Verb::Get, bucket, key, || {
            self.open_object_unchecked(bucket, key)
        })?;
        // SSE-KMS: reading the bytes is using the key (AWS: kms:Decrypt).
        self.kms_check_object(p, &info, bucket)?;
        Ok((info, pins))
    }

    /// [`Store::open_object`] for the server's own readers (replication), who ask no one.
    pub(crate) fn open_object_unchecked(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectInfo, Pins)> {
        self.open_pinned(bucket, key, || self.read_object(bucket, key))
    }

    /// What `read` finds, its chunk files pinned (the reasons are [`Store::open_object`]'s):
    /// read, pin, and read again if a chunk went meanwhile. Every opener of data for a body
    /// (current object or an older version) goes through here.
    pub(crate) fn open_pinned(
        &self,
        bucket: &str,
        key: &str,
        read: impl Fn() -> Result<ObjectInfo>,
    ) -> Result<(ObjectInfo, Pins)> {
        // Each retry needs another delete (or overwrite) and GC between two reads microseconds
        // apart; a few in a row mean something else is wrong.
        for _ in 0..4 {
            let since = self.inner.blobs.deletions();
            let info = read()?;
            let hashes: Vec<_> = info.record.data.chunks().iter().map(|c| c.hash).collect();
            if hashes.is_empty() {
                return Ok((info, Pins::new(self.inner.blobs.clone())));
            }
            if let Some(pins) = Pins::for_reading(&self.inner.blobs, &hashes, since)? {
                return Ok((info, pins));
            }
        }
        Err(StoreError::Internal(format!(
            "the chunks of {bucket}/{key} kept disappearing while it was opened"
        )))
    }

    pub(crate) fn read_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        let txn = self.db().begin_read()?;
        let buckets = txn.open_table(BUCKETS)?;
        let b: BucketRecord = codec::decode(
            buckets
                .get(bucket)?
                .ok_or(StoreError::NoSuchBucket)?
                .value(),
        )?;
        let entries = txn.open_table(ENTRIES)?;
        let ino = entries
            .get(tables::entry_key(b.id, key).as_slice())?
            .ok_or(StoreError::NoSuchKey)?
            .value();
        let mut info = read_inode(&txn, key, ino)?;
        info.expiration = super::expiry_index::expiration_of(&b, key, &info.record);
        Ok(info)
    }

    /// The bytes `range` of an object's data, chunk by chunk, each chunk's BLAKE3 verified
    /// before any of it is sent. Reads one chunk ahead; whole chunks in memory while
    /// `storage.read_buffer` lasts, verified files read in pieces past it.
    pub fn read_data(
        &self,
        data: &Data,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        self.read_data_for(data, range, None)
    }

    /// [`Store::read_data`] of an object that may be encrypted with a customer's key (SSE-C):
    /// `customer` opens its chunks; without it they are refused.
    pub fn read_data_for(
        &self,
        data: &Data,
        range: Range<u64>,
        customer: Option<std::sync::Arc<crate::sse::CustomerKey>>,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let pieces: Vec<Piece> = match data {
            Data::Inline(v) => {
                let s = (range.start as usize).min(v.len());
                let e = (range.end as usize).min(v.len());
                vec![Piece::Inline(Bytes::copy_from_slice(&v[s..e]))]
            }
            Data::Sealed { seal, bytes } => {
                let mut v = bytes.clone();
                let opened = self
                    .keyring()
                    .opener(seal.domain, customer.as_deref())
                    .and_then(|s| s.open(seal, &mut v));
                match opened {
                    Ok(()) => {
                        let s = (range.start as usize).min(v.len());
                        let e = (range.end as usize).min(v.len());
                        vec![Piece::Inline(Bytes::from(v).slice(s..e))]
                    }
                    Err(e) => vec![Piece::Failed(e)],
                }
            }
            Data::Chunks(chunks) => {
                let mut out = Vec::new();
                let mut off = 0u64;
                for c in chunks {
                    let (cs, ce) = (off, off + u64::from(c.len));
                    off = ce;
                    if ce <= range.start || cs >= range.end {
                        continue;
                    }
                    let from = range.start.saturating_sub(cs) as usize;
                    let to = (range.end.min(ce) - cs) as usize;
                    out.push(Piece::Chunk(*c, from, to));
                }
                out
            }
        };
        let blobs = self.inner.blobs.clone();
        let keyring = self.keyring().clone();
        let opened = self.inner.opened.clone();
        let depth = blobs.read_depth();
        stream::iter(pieces)
            .map(move |p| {
                let blobs = blobs.clone();
                let keyring = keyring.clone();
                let opened = opened.clone();
                let customer = customer.clone();
                async move {
                    match p {
                        Piece::Inline(b) => Ok(ChunkBytes::Whole(b)),
                        Piece::Failed(e) => Err(e),
                        Piece::Chunk(c, from, to) => match c.seal {
                            None => {
                                crate::readahead::chunk_bytes(blobs, c.hash, c.len, from, to).await
                            }
                            Some(seal) => {
                                crate::readahead::sealed_chunk_bytes(
                                    blobs,
                                    &keyring,
                                    &opened,
                                    customer.as_deref(),
                                    &c,
                                    seal,
                                    from,
                                    to,
                                )
                                .await
                            }
                        },
                    }
                }
            })
            .buffered(depth)
            .flat_map(|c| match c {
                Ok(c) => c.into_stream(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            })
    }

    /// [`Store::read_data`] holding `pins` (from [`Store::open_object`]) until the stream is
    /// dropped: the chunk files it has not opened yet survive a delete and GC meanwhile.
    pub fn read_data_pinned(
        &self,
        data: &Data,
        range: Range<u64>,
        pins: Pins,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        self.read_data_pinned_for(data, range, pins, None)
    }

    /// [`Store::read_data_pinned`] with an SSE-C object's key (see [`Store::read_data_for`]).
    pub fn read_data_pinned_for(
        &self,
        data: &Data,
        range: Range<u64>,
        pins: Pins,
        customer: Option<std::sync::Arc<crate::sse::CustomerKey>>,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        self.read_data_for(data, range, customer).map(move |piece| {
            let _held = &pins;
            piece
        })
    }

    /// DeleteObject: succeeds whether or not the key existed (S3 semantics).
    pub async fn delete_object(&self, p: &Principal, bucket: &str, key: &str) -> Result<bool> {
        let mut r = self
            .delete_objects(p, bucket, vec![key.to_string()])
            .await?;
        r.pop().unwrap_or(Ok(false))
    }

    /// DeleteObjects: every key in one transaction; per-key outcome (true = existed). A key
    /// that fails with a storage error ([`crate::commit::poisons_batch`]) fails the whole
    /// request: it may have written part of its removal, which must not commit.
    pub async fn delete_objects(
        &self,
        p: &Principal,
        bucket: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Result<bool>>> {
        let denied = crate::rbac::each_key(
            p,
            Verb::Delete,
            bucket,
            keys.iter().map(|k| (k.as_str(), None)),
        )?;
        let bucket = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                let mut out = Vec::with_capacity(keys.len());
                for (k, denied) in keys.into_iter().zip(denied) {
                    out.push(match denied {
                        Some(e) => Err(e),
                        None => per_key(txn::unlink_object(&mut ns, &mut b, &k))?,
                    });
                }
                Ok(out)
            })
            .await
    }

    /// CopyObject without copying data: the destination shares the source's chunks.
    /// `check` sees the source record inside the transaction (copy-source conditions).
    pub async fn copy_object(
        &self,
        p: &Principal,
        src: (&str, &str),
        dst: (&str, &str),
        opts: CopyOptions,
        check: impl FnOnce(&ObjectRecord) -> Result<()> + Send + 'static,
    ) -> Result<ObjectInfo> {
        if crate::rbac::bucket_access::reads_existing_tags(p, src.0)
            || !authorize(p, Verb::Get, Resource::Object(src.0, src.1)).allowed
        {
            // The source's own ACL may grant the read, as it does a GET (decision 0042).
            self.read_or_deny(p, Verb::Get, src.0, src.1, || {
                match opts.source_version.as_deref() {
                    Some(id) => self.read_version(src.0, src.1, id),
                    None => self.read_object(src.0, src.1),
                }
            })
            .map_err(copy_source_error)?;
        }
        deny(authorize(p, Verb::Put, Resource::Object(dst.0, dst.1)))?;
        crate::locks::authorize_request(p, dst.0, dst.1, &opts.lock)?;
        let tagged = opts.replace_tags.as_ref().is_some_and(|t| !t.is_empty());
        self.authorize_extras(p, dst.0, dst.1, opts.acl.as_ref(), tagged)?;
        self.accepts_acl(dst.0, opts.acl.as_ref())?;
        let dst_bucket = self.bucket_record(dst.0)?;
        naming::validate_key(dst_bucket.kind, dst.1)?;
        // A copy shares the source's chunks (sealed ones keep their domain's keys). Asked to
        // be encrypted, a copy of bytes that are not is encrypted now: read and staged again;
        // so is any copy from or to a customer's key (SSE-C), whose chunks only that key opens.
        let (dst_sse, dst_seal) = self.sealer_with(
            p,
            &dst_bucket,
            dst.1,
            opts.sse,
            opts.customer_key.as_deref(),
        )?;
        // Only a copy that may be staged again (encryption asked, or a customer's key given)
        // reads its source ahead; a plain copy shares the chunks in its commit alone.
        let to_customer = opts.customer_key.is_some();
        let may_restage = dst_sse.is_some()
            || to_customer
            || opts.source_customer_key.is_some()
            || opts.checksum.is_some();
        // (the source read ahead: inode and ETag; what was staged from it, and its ETag)
        let mut read: Option<(u64, String, Option<crate::sse::SseMode>)> = None;
        let mut restaged: Option<(Staged, String)> = None;
        if may_restage {
            let (source, pins) = match opts.source_version.as_deref() {
                Some(id) => self.open_version(p, src.0, src.1, id),
                None => self.open_object(p, src.0, src.1),
            }
            .map_err(copy_source_error)?;
            crate::sse::CustomerKey::check(opts.source_customer_key.as_deref(), source.record.sse)?;
            let from_customer = matches!(
                source.record.sse,
                Some(crate::sse::SseMode::Customer { .. })
            );
            read = Some((source.ino, source.record.etag.clone(), source.record.sse));
            // Into another key of the key service, or out of one: sealed again under the
            // destination's (its key is what governs the copy).
            // (or the same key under another encryption context or Bucket Key setting: the
            // copy is what it asked for)
            let kms_changes = dst_sse.is_some()
                && (source.record.sse.and_then(|m| m.kms_key())
                    != dst_sse.and_then(|m| m.kms_key())
                    || (dst_sse.and_then(|m| m.kms_key()).is_some()
                        && source.record.sse != dst_sse));
            // A checksum asked for that the source does not have as its whole object's.
            let checksum_new = opts.checksum.is_some_and(|a| {
                !source
                    .record
                    .checksum
                    .as_ref()
                    .is_some_and(|c| c.algorithm == a.name() && c.kind == "FULL_OBJECT")
            });
            if from_customer
                || to_customer
                || kms_changes
                || checksum_new
                || (dst_sse.is_some() && !source.record.data.fully_sealed())
            {
                let body = self.read_data_pinned_for(
                    &source.record.data,
                    0..source.record.size,
                    pins,
                    opts.source_customer_key.clone(),
                );
                let staged = self
                    .stage(
                        body,
                        &StageOptions {
                            md5: true,
                            max_size: self.inner.cfg.max_object_size,
                            allow_inline: true,
                            seal: dst_seal.clone(),
                            checksum: opts.checksum,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| match e {
                        StageError::Body(e) | StageError::Store(e) => e,
                    })?;
                let etag = match dst_seal.as_ref().filter(|_| keyed_etag(dst_sse)) {
                    Some(s) => hex::encode(s.keyed_etag(&staged.md5)),
                    None => staged.md5_hex(),
                };
                restaged = Some((staged, etag));
            }
        }
        let sealed_data = restaged.as_ref().map(|(s, new_etag)| {
            let checksum = s.checksum.as_ref().map(|(a, v)| ChecksumValue {
                algorithm: a.name().to_string(),
                value: crate::checksum::base64(v),
                kind: "FULL_OBJECT".into(),
            });
            (s.data.clone(), new_etag.clone(), checksum)
        });
        let (sb, sk, db, dk) = (
            src.0.to_string(),
            src.1.to_string(),
            dst.0.to_string(),
            dst.1.to_string(),
        );
        let limit = self.inner.cfg.max_size;
        let atimes = self.inner.atimes.clone();
        // A source sealed by the key service is read with its key (AWS: kms:Decrypt), even
        // when the copy shares its chunks without reading them.
        let tag_p = p.clone();
        let kms_gate = {
            let (store, p, sb, sk) = (self.clone(), p.clone(), sb.clone(), sk.clone());
            move |r: &ObjectRecord| {
                store.kms_check_open(&p, &r.data, (&sb, crate::kms::audit_name(r.sse, &sk)))
            }
        };
        let this = self.clone();
        let commit = async move {
            this.inner
                .committer
                .write(move |t| {
                    let mut ns = Ns::new(t);
                    let sbr = txn::get_bucket(&ns, &sb)?;
                    let (ino, _) = crate::versioning::resolve_in(
                        &ns,
                        &sbr,
                        &sk,
                        opts.source_version.as_deref(),
                    )
                    .map_err(copy_source_error)?;
                    let mut src = txn::get_inode(&ns, ino)?;
                    check(&src)?;
                    Store::decide_on_tags(&tag_p, Verb::Get, &sb, &sk, &src)?;
                    match &read {
                        // What was decided above was decided on this source: it, or nothing.
                        // (its encryption too: a plaintext rewrite of the same bytes keeps the
                        // ETag, and a copy asked to be encrypted must not share plaintext chunks)
                        Some((i, etag, sse))
                            if *i != ino || *etag != src.etag || *sse != src.sse =>
                        {
                            return Err(StoreError::Conflict(
                                "the copy source changed while it was being copied; retry".into(),
                            ));
                        }
                        Some(_) => {}
                        // Not read ahead (no key given): an SSE-C source is refused here.
                        None => {
                            crate::sse::CustomerKey::check(None, src.sse)?;
                            kms_gate(&src)?;
                        }
                    }
                    if let Some((data, new_etag, checksum)) = sealed_data {
                        src.data = data;
                        src.etag = new_etag;
                        src.sse = dst_sse;
                        if checksum.is_some() {
                            // The whole copy's, computed from its bytes: the parts' are not its.
                            src.checksum = checksum;
                            src.part_checksums = Vec::new();
                        }
                    } else {
                        // Shared chunks keep their keys: a copy of a key service's object stays
                        // under its key; of other sealed bytes, server-managed keys.
                        src.sse = crate::sse::mode_of(&src.data, src.sse);
                    }
                    let mut b = txn::get_bucket(&ns, &db)?;
                    opts.condition.check_in(&ns, b.id, &dk)?;
                    txn::check_share_conflicts(&ns, &b, &dk)?;
                    let mut rec = src;
                    rec.mtime_ms = now_ms();
                    // A new object as S3 wrote it: its file times derive from this write and its
                    // metadata (decision 0023), not the source's.
                    rec.times = None;
                    if let Some(m) = opts.replace_meta {
                        rec.meta = m;
                    }
                    if let Some(tags) = opts.replace_tags {
                        rec.tags = tags;
                    }
                    // A copy is a new file with one name, even of a hard-linked source; its lock
                    // is the one asked for (or the bucket's default), never the source's.
                    rec.nlink = 1;
                    rec.acl = opts.acl;
                    crate::locks::apply_to_new(&b, &opts.lock, &mut rec, crate::now_unix_ms())?;
                    // ...written here: a replica's marker (decision 0036) is not copied with it,
                    // or a replicated bucket would not send the copy.
                    rec.meta
                        .user
                        .retain(|(k, _)| k != crate::replication::REPLICA_MARKER);
                    txn::check_quota(&ns, &b, &dk, rec.size, limit)?;
                    txn::incref(&mut ns, rec.data.chunks())?;
                    // Copy onto itself: link_object drops the old references after we took ours.
                    let ino = txn::link_object(&mut ns, &mut b, &dk, &mut rec)?;
                    // A replaced file keeps its inode number: a READ's atime noted for the old
                    // content is not the new object's (see `atime`).
                    atimes.forget(ino);
                    let expiration = super::expiry_index::expiration_of(&b, &dk, &rec);
                    Ok(ObjectInfo {
                        key: dk,
                        ino,
                        record: rec,
                        expiration,
                    })
                })
                .await
        };
        let staged = restaged.map(|(s, _)| s).into_iter().collect();
        self.commit_staged(staged, commit).await
    }

    /// Put/DeleteObjectTagging (delete = empty set).
    pub async fn set_object_tags(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        self.set_version_tags(p, bucket, key, None, tags).await
    }

    /// Put/DeleteObjectTagging of version `version` (`None`: the current one).
    pub async fn set_version_tags(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        version: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        self.authorize_existing(p, Verb::Put, bucket, key, version.as_deref())?;
        let (bucket, key, p) = (bucket.to_string(), key.to_string(), p.clone());
        self.inner
            .committer
            .write(move |t| {
                let mut ns = Ns::new(t);
                let b = txn::get_bucket(&ns, &bucket)?;
                let (ino, current) =
                    crate::versioning::resolve_in(&ns, &b, &key, version.as_deref())?;
                let mut rec = txn::get_inode(&ns, ino)?;
                Store::decide_on_tags(&p, Verb::Put, &bucket, &key, &rec)?;
                rec.tags = tags;
                crate::replication::queue::make_local(&mut rec);
                txn::put_inode(&mut ns, ino, &rec, false)?;
                if !current && super::expiry_index::object_filter_rules(&b) {
                    // A noncurrent version's new tags may bring it under a filtered
                    // NoncurrentVersionExpiration: the key is looked at on the next sweep.
                    crate::versioning::expiry::enter(&mut ns, crate::now_unix_ms(), b.id, &key)?;
                }
                if current && super::expiry_index::object_filter_rules(&b) {
                    // A lifecycle rule's tag filter may select it now: looked at when due.
                    super::expiry_index::reschedule_names(
                        &mut ns,
                        &b,
                        Some(&key),
                        ino,
                        rec.mtime_ms,
                    )?;
                }
                if b.replicated && current {
                    // Tags belong to the inode: every name of a hard-linked file changed.
                    if b.kind == crate::model::BucketKind::Share {
                        crate::replication::queue::inode_changed(&mut ns, &b, ino)?;
                    } else {
                        crate::replication::queue::enqueue(
                            &mut ns,
                            &b,
                            &key,
                            crate::model::ReplOp::Put,
                        )?;
                    }
                }
                Ok(())
            })
            .await
    }
}

/// One key's outcome inside a multi-key mutation (DeleteObjects): a refusal (no such key,
/// access denied, a lock, a failed precondition) is that key's answer, and the others go on;
/// a storage error is the mutation's own (`Err` of the outer result), so the shared
/// transaction is aborted rather than committed with a key half removed.
pub(crate) fn per_key<T>(r: Result<T>) -> Result<Result<T>> {
    match r {
        Err(e) if crate::commit::poisons_batch(&e) => Err(e),
        r => Ok(r),
    }
}

/// Inode `ino` (named `key`) with its data, in a read transaction.
pub(crate) fn read_inode(txn: &redb::ReadTransaction, key: &str, ino: u64) -> Result<ObjectInfo> {
    let v = txn
        .open_table(INODES)?
        .get(ino)?
        .ok_or_else(|| StoreError::Corrupt(format!("missing inode {ino}")))?;
    let mut record: ObjectRecord = codec::decode(v.value())?;
    if let Some(d) = txn.open_table(INODE_DATA)?.get(ino)? {
        record.data = codec::decode(d.value())?;
    }
    Ok(ObjectInfo {
        key: key.to_string(),
        ino,
        record,
        expiration: None,
    })
}

enum Piece {
    Inline(Bytes),
    /// A chunk and the range of its content to send.
    Chunk(ChunkRef, usize, usize),
    /// Bytes that could not be read (a sealed inline object that does not open).
    Failed(StoreError),
}

pub(crate) fn verify_staged(staged: &Staged, opts: &PutOptions) -> Result<()> {
    if let Some(md5) = opts.content_md5
        && md5 != staged.md5
    {
        return Err(StoreError::BadDigest);
    }
    if let Some(sha) = opts.content_sha256
        && Some(sha) != staged.sha256
    {
        return Err(StoreError::ContentSha256Mismatch);
    }
    if let (Some(expected), Some((alg, got))) = (&opts.checksum_expected, &staged.checksum)
        && expected != got
    {
        return Err(StoreError::ChecksumMismatch {
            algorithm: alg.name(),
            computed: crate::checksum::base64(got),
        });
    }
    Ok(())
}

/// A copy source that is a delete marker, named by version id: what S3 answers.
fn copy_source_error(e: StoreError) -> StoreError {
    match e {
        StoreError::DeleteMarker { .. } => StoreError::InvalidRequest(
            "The source of a copy request may not specifically refer to a delete marker by version id.".into(),
        ),
        e => e,
    }
}

/// Whether an object written with `sse` has a keyed ETag rather than its MD5 (SSE-C, SSE-KMS).
pub(crate) fn keyed_etag(sse: Option<crate::sse::SseMode>) -> bool {
    matches!(
        sse,
        Some(crate::sse::SseMode::Customer { .. } | crate::sse::SseMode::Kms { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_conditions_follow_s3() {
        let none = WriteCondition::default();
        assert!(none.is_empty());
        assert!(none.check(None).is_ok() && none.check(Some("a")).is_ok());

        let create = WriteCondition {
            if_none_match: true,
            ..Default::default()
        };
        assert!(create.check(None).is_ok());
        assert!(matches!(
            create.check(Some("a")),
            Err(StoreError::PreconditionFailed)
        ));

        let swap = WriteCondition {
            if_match: Some("\"abc\"".into()),
            ..Default::default()
        };
        assert!(swap.check(Some("abc")).is_ok());
        assert!(matches!(
            swap.check(Some("abd")),
            Err(StoreError::PreconditionFailed)
        ));
        assert!(matches!(swap.check(None), Err(StoreError::NoSuchKey)));

        let any = WriteCondition {
            if_match: Some("*".into()),
            ..Default::default()
        };
        assert!(any.check(Some("x")).is_ok());
        assert!(matches!(any.check(None), Err(StoreError::NoSuchKey)));
    }

    #[test]
    fn etag_lists() {
        assert!(etag_in_list("\"abc\", W/\"def\"", "def"));
        assert!(etag_in_list("abc", "abc"));
        assert!(!etag_in_list("\"abc\"", "ab"));
    }
}
