//! Multipart uploads. Each part is staged into chunks and holds one reference on them; complete
//! concatenates the parts' manifests into the object's (no data is copied) and moves the
//! references; abort drops them.

use std::ops::Range;

use bytes::Bytes;
use futures_util::Stream;
use md5::{Digest as _, Md5};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::ns::Ns;
use super::objects::{PutOptions, WriteCondition, verify_staged};
use super::txn;
use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::error::{Result, StoreError};
use crate::model::{
    ChecksumValue, CompletedUploadRecord, Data, ObjectMeta, ObjectRecord, PartRecord, Principal,
    UploadRecord,
};
use crate::rbac::{Resource, Verb, authorize};
use crate::stage::{StageError, StageOptions, Staged};
use crate::tables::{self, COMPLETED_BY_TIME, COMPLETED_UPLOADS, UPLOAD_PARTS, UPLOADS};
use crate::{Store, codec, deny, naming, now_ms};

pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_NUMBER: u32 = 10_000;
/// How long a completed upload is remembered for retried completions (at least a day; the
/// expiry sweeper forgets it afterwards).
pub const COMPLETION_KEPT_MS: i64 = 86_400_000;

#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: i64,
    pub owner: String,
    pub checksum_algorithm: Option<String>,
    /// The encryption of its parts and object (decision 0044).
    pub sse: Option<crate::sse::SseMode>,
}

/// What ListMultipartUploads asks for.
#[derive(Debug, Clone, Default)]
pub struct UploadsQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max: usize,
}

/// One entry of a ListMultipartUploads page.
#[derive(Debug, Clone)]
pub enum UploadsEntry {
    Upload(UploadInfo),
    /// A common prefix: the keys of uploads that have the delimiter after the prefix.
    Prefix(String),
}

#[derive(Debug, Clone)]
pub struct PartInfo {
    /// The algorithm of `checksum` (`CRC32`, …).
    pub checksum_algorithm: Option<String>,
    pub part_number: u32,
    pub size: u64,
    /// Hex MD5 (unquoted).
    pub etag: String,
    pub mtime_ms: i64,
    pub checksum: Option<String>,
    /// Stored encrypted (decision 0044).
    pub sse: Option<crate::sse::SseMode>,
}

/// What CompleteMultipartUpload answers: the same for the first completion and for a retry of
/// it with the same part list.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Unquoted `<md5 of part md5s>-<n>`.
    pub etag: String,
    pub checksum: Option<ChecksumValue>,
    /// The version id made (a versioned bucket).
    pub version_id: Option<String>,
    /// How the object is encrypted (decision 0044).
    pub sse: Option<crate::sse::SseMode>,
    /// When a lifecycle rule expires the object (`x-amz-expiration`); `None` on a retry's
    /// answer from the completion record.
    pub expiration: Option<super::expiry_index::Expiration>,
}

/// What a CompleteMultipartUpload says of the object it makes, each checked against what the
/// listed parts give before anything is linked: its `x-amz-checksum-<alg>` value, its
/// `x-amz-checksum-type`, its `x-amz-mp-object-size`.
#[derive(Debug, Clone, Default)]
pub struct CompleteClaims {
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    pub checksum_type: Option<ChecksumType>,
    pub object_size: Option<u64>,
    /// `x-amz-server-side-encryption` (and key) repeated on the completion: the upload's.
    pub sse: Option<crate::sse::SseMode>,
}

#[derive(Debug, Clone)]
pub struct CompletePart {
    pub part_number: u32,
    /// As the client sent it; quotes are ignored.
    pub etag: String,
    /// The part's `<Checksum…>` element, if sent: it must be the part's own.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

/// UploadPart's checksum against its upload's (the API_UploadPart reference: "This checksum
/// algorithm must be the same for all parts and it match the checksum value supplied in the
/// CreateMultipartUpload request"); AWS's message. A part may carry one when its upload has
/// none (SDKs add CRC32 to every part by default).
fn check_part_algorithm(upload: Option<&str>, part: Option<ChecksumAlgorithm>) -> Result<()> {
    let Some(want) = upload else {
        return Ok(());
    };
    if part.is_some_and(|p| p.name().eq_ignore_ascii_case(want)) {
        return Ok(());
    }
    Err(StoreError::InvalidRequest(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
        want.to_ascii_lowercase(),
        part.map_or("null".to_string(), |p| p.name().to_ascii_lowercase())
    )))
}

/// A completion's part `cp` against the part stored (`rec`) in an upload of `upload_alg`: a
/// checksum sent must be the part's (`InvalidPart`, as AWS answers).
fn check_completed_part(
    cp: &CompletePart,
    rec: &PartRecord,
    upload_alg: Option<&str>,
) -> Result<()> {
    match &cp.checksum {
        Some((alg, sent)) => {
            // A part stored before its algorithm was kept, in an upload without one, names
            // none: its value alone is compared.
            let stored_alg = rec.checksum_algorithm.as_deref().or(upload_alg);
            let same_alg = stored_alg.is_none_or(|a| a.eq_ignore_ascii_case(alg.name()));
            if !same_alg || rec.checksum.as_deref() != Some(sent.trim()) {
                return Err(StoreError::InvalidPart(format!(
                    "part {}: the {} checksum sent is not the part's",
                    cp.part_number,
                    alg.name()
                )));
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// A composite upload's completion (`composite`: its parts' checksums make the object's) must
/// send every part's checksum: the refusal for the first part `cp` without one. Asked after the
/// object's own claimed checksum was compared, so a wrong one is `BadDigest` first.
fn missing_part_checksum(
    cp: &CompletePart,
    upload_alg: Option<&str>,
    composite: bool,
) -> Option<StoreError> {
    match (&cp.checksum, upload_alg) {
        (None, Some(a)) if composite => Some(StoreError::InvalidRequest(format!(
            "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
            a.to_ascii_lowercase(),
            cp.part_number
        ))),
        _ => None,
    }
}

/// The object's checksum from its parts': their checksums' checksum (`-<parts>`), or the
/// CRCs combined into the whole object's. `None` without an algorithm or a part's value.
fn object_checksum(
    alg: Option<ChecksumAlgorithm>,
    kind: ChecksumType,
    parts: Option<&[Vec<u8>]>,
    sizes: &[u64],
) -> Option<ChecksumValue> {
    let (alg, parts) = (alg?, parts?);
    let value = match kind {
        ChecksumType::Composite => format!(
            "{}-{}",
            crate::checksum::base64(&alg.digest(&parts.concat())),
            parts.len()
        ),
        ChecksumType::FullObject => {
            let mut whole = parts.first()?.clone();
            for (v, len) in parts.iter().zip(sizes).skip(1) {
                whole = alg.combine(&whole, v, *len)?;
            }
            crate::checksum::base64(&whole)
        }
    };
    Some(ChecksumValue {
        algorithm: alg.name().to_string(),
        value,
        kind: kind.name().into(),
    })
}

/// A completion's claims against the object its parts make: the same checksum type and
/// algorithm, the value the parts give (`-<parts>` on a composite value may be left off), the
/// size they add up to.
fn check_claims(
    claims: &CompleteClaims,
    alg: Option<ChecksumAlgorithm>,
    kind: ChecksumType,
    got: Option<&ChecksumValue>,
    size: u64,
) -> Result<()> {
    if let Some(want) = claims.object_size
        && want != size
    {
        return Err(StoreError::InvalidRequest(format!(
            "The provided 'x-amz-mp-object-size' header value {want} does not match what was computed: {size}"
        )));
    }
    if let Some(k) = claims.checksum_type
        && k != kind
    {
        return Err(StoreError::InvalidRequest(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            kind.name()
        )));
    }
    let Some((claimed, value)) = &claims.checksum else {
        return Ok(());
    };
    if alg != Some(*claimed) {
        return Err(StoreError::InvalidRequest(format!(
            "The upload was created using {} checksum. The complete request must use the same checksum algorithm.",
            alg.map_or("no", ChecksumAlgorithm::name)
        )));
    }
    let Some(got) = got else {
        return Err(StoreError::InvalidRequest(format!(
            "a part of the upload has no {} checksum to check the object's against",
            claimed.name()
        )));
    };
    let bare = |v: &str| v.trim().split('-').next().unwrap_or_default().to_string();
    if bare(value) != bare(&got.value) {
        return Err(StoreError::ChecksumMismatch {
            algorithm: claimed.name(),
            computed: got.value.clone(),
        });
    }
    Ok(())
}

fn upload_info(id: &str, u: &UploadRecord) -> UploadInfo {
    UploadInfo {
        upload_id: id.to_string(),
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        initiated_ms: u.initiated_ms,
        owner: u.owner.clone(),
        checksum_algorithm: u.checksum_algorithm.clone(),
        sse: u.sse,
    }
}

fn get_upload(t: &WriteTransaction, id: &str, bucket: &str, key: &str) -> Result<UploadRecord> {
    let uploads = t.open_table(UPLOADS)?;
    let v = uploads.get(id)?.ok_or(StoreError::NoSuchUpload)?;
    let u: UploadRecord = codec::decode(v.value())?;
    if u.bucket != bucket || u.key != key {
        return Err(StoreError::NoSuchUpload);
    }
    Ok(u)
}

/// Upload `id`'s parts, as (key in [`UPLOAD_PARTS`], record), in part order.
fn parts_of(t: &WriteTransaction, id: &str) -> Result<Vec<(Vec<u8>, PartRecord)>> {
    let prefix = tables::parts_prefix(id);
    let parts = t.open_table(UPLOAD_PARTS)?;
    let mut out = Vec::new();
    for e in parts.range(prefix.as_slice()..)? {
        let (k, v) = e?;
        if !k.value().starts_with(&prefix) {
            break;
        }
        out.push((k.value().to_vec(), codec::decode(v.value())?));
    }
    Ok(out)
}

/// Bytes `parts` hold in their bucket's usage: their sizes if the upload counts its parts
/// (`parts_counted`), else 0.
fn counted_bytes(u: &UploadRecord, parts: &[(Vec<u8>, PartRecord)]) -> u64 {
    if !u.parts_counted {
        return 0;
    }
    parts
        .iter()
        .fold(0u64, |sum, (_, p)| sum.saturating_add(p.size))
}

/// Removes an upload and drops the references its parts hold. Returns the bytes its parts
/// held in their bucket's `usage_bytes` (0 for an upload begun before parts counted): the
/// caller gives them back to the bucket, unless the bucket itself is going away.
pub(crate) fn drop_upload(ns: &mut Ns, id: &str) -> Result<u64> {
    let t = ns.txn();
    let doomed = parts_of(t, id)?;
    let held = match t.open_table(UPLOADS)?.get(id)? {
        Some(v) => counted_bytes(&codec::decode(v.value())?, &doomed),
        None => 0,
    };
    let mut parts = t.open_table(UPLOAD_PARTS)?;
    for (k, p) in doomed {
        txn::decref(ns, &p.chunks)?;
        parts.remove(k.as_slice())?;
    }
    let mut uploads = t.open_table(UPLOADS)?;
    uploads.remove(id)?;
    Ok(held)
}

/// Bytes upload `id`'s parts hold in their bucket's usage now (what [`drop_upload`] would
/// give back), read without changing anything.
fn held_bytes(t: &WriteTransaction, u: &UploadRecord, id: &str) -> Result<u64> {
    if !u.parts_counted {
        return Ok(0);
    }
    Ok(counted_bytes(u, &parts_of(t, id)?))
}

/// Aborts upload `id` (which must exist): drops it and gives its parts' bytes back to its
/// bucket. Abort and the abort-incomplete sweep both end here.
///
/// The bucket must be live: an upload of a deleted share (its bucket record parked in the
/// share record, counters and all) is `NoSuchBucket`, as UploadPart and Complete answer, and
/// stays until the share is purged (its parts dropped with it) or restored (and can be aborted
/// then). Dropping it now would leave its bytes in the parked counters, which a restore would
/// bring back as usage nothing holds. Nothing is written before that check.
pub(crate) fn abort_in(ns: &mut Ns, id: &str) -> Result<()> {
    let bucket = {
        let v = ns.txn().open_table(UPLOADS)?;
        let v = v.get(id)?.ok_or(StoreError::NoSuchUpload)?;
        codec::decode::<UploadRecord>(v.value())?.bucket
    };
    let mut b = txn::get_bucket(ns, &bucket)?;
    let released = drop_upload(ns, id)?;
    if released > 0 {
        b.usage_bytes = b.usage_bytes.saturating_sub(released);
        txn::put_bucket(ns, &b)?;
    }
    Ok(())
}

/// Names one part list: the same list (ETags compared without quotes, case-insensitively) gives
/// the same digest.
fn parts_digest(parts: &[CompletePart]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&p.part_number.to_be_bytes());
        h.update(
            p.etag
                .trim()
                .trim_matches('"')
                .to_ascii_lowercase()
                .as_bytes(),
        );
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

/// A retried completion of upload `id`: the answer it got, if `bucket/key` (the same bucket,
/// not one created since under its name) and the part list are the ones it was completed
/// with; otherwise `NoSuchUpload`.
fn completed_before(
    t: &WriteTransaction,
    id: &str,
    bucket: &str,
    key: &str,
    digest: &str,
) -> Result<Completion> {
    let table = t.open_table(COMPLETED_UPLOADS)?;
    let v = table.get(id)?.ok_or(StoreError::NoSuchUpload)?;
    let c: CompletedUploadRecord = codec::decode(v.value())?;
    let live_id = txn::get_bucket(&Ns::new(t), bucket)?.id;
    if c.bucket != bucket
        || c.bucket_id.is_some_and(|b| b != live_id)
        || c.key != key
        || c.parts_digest != digest
    {
        return Err(StoreError::NoSuchUpload);
    }
    Ok(Completion {
        etag: c.etag,
        checksum: c.checksum,
        version_id: c.version_id,
        sse: c.sse,
        expiration: None,
    })
}

fn new_upload_id() -> Result<String> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(raw))
}

fn check_part_number(n: u32) -> Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}

/// A part's or a completion's own `x-amz-server-side-encryption` (and key): a part is sealed as
/// its upload is, so it may repeat the upload's encryption, never ask for another.
/// `aws:kms` without a key id asks for the bucket's default key: `bucket_default` gives it.
fn check_part_encryption(
    asked: crate::sse::SseMode,
    upload: Option<crate::sse::SseMode>,
    bucket_default: impl FnOnce() -> Result<Option<u64>>,
) -> Result<()> {
    use crate::sse::SseMode;
    let same = match (asked, upload) {
        (SseMode::S3, Some(SseMode::S3)) => true,
        (
            SseMode::Kms {
                key: a,
                context: ca,
                ..
            },
            Some(SseMode::Kms {
                key: b,
                context: cb,
                ..
            }),
        ) => {
            let a = match a {
                crate::kms::BUCKET_DEFAULT_KEY => bucket_default()?,
                a => Some(a),
            };
            a == Some(b) && (ca == [0; 16] || ca == cb)
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(
            "the part asks for another encryption than the multipart upload was begun with; \
             a part is encrypted as its upload"
                .into(),
        ))
    }
}

impl Store {
    /// The keys an upload's parts are sealed with (its encryption, in its bucket's domain); an
    /// SSE-C upload's parts must each bring its key (AWS's rule), which is checked here.
    fn upload_sealer(
        &self,
        p: &Principal,
        u: &UploadRecord,
        customer: Option<&crate::sse::CustomerKey>,
    ) -> Result<Option<std::sync::Arc<crate::sse::Sealer>>> {
        use crate::sse::SseMode;
        match (u.sse, customer) {
            (None, None) => Ok(None),
            (Some(SseMode::Customer { key_md5 }), Some(k)) if k.md5 == key_md5 => Ok(self
                .sealer_with(p, &self.bucket_record(&u.bucket)?, &u.key, None, Some(k))?
                .1),
            (Some(SseMode::Customer { .. }), Some(_)) => Err(StoreError::InvalidArgument(
                "the customer-provided key is not the one the multipart upload was begun with"
                    .into(),
            )),
            (Some(SseMode::Customer { .. }), None) => Err(StoreError::InvalidRequest(
                "The multipart upload initiate requested encryption. Subsequent part requests \
                 must include the appropriate encryption parameters."
                    .into(),
            )),
            (_, Some(_)) => Err(StoreError::InvalidRequest(
                "The multipart upload initiate did not request encryption with a customer key: \
                 its parts take none"
                    .into(),
            )),
            (Some(_), None) => Ok(self
                .sealer_for(p, &self.bucket_record(&u.bucket)?, &u.key, u.sse)?
                .1),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create_upload(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        tags: Vec<(String, String)>,
        checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
        lock: crate::locks::LockRequest,
        acl: Option<crate::model::Acl>,
        sse: Option<crate::sse::SseMode>,
        customer: Option<&crate::sse::CustomerKey>,
    ) -> Result<UploadInfo> {
        deny(authorize(p, Verb::Put, Resource::Object(bucket, key)))?;
        crate::locks::authorize_request(p, bucket, key, &lock)?;
        self.authorize_extras(p, bucket, key, acl.as_ref(), !tags.is_empty())?;
        self.accepts_acl(bucket, acl.as_ref())?;
        crate::replication::accept_marker(p, bucket, &mut meta);
        let b = self.bucket_record(bucket)?;
        naming::validate_key(b.kind, key)?;
        crate::locks::check_request(&b, &lock, crate::now_unix_ms())?;
        let id = new_upload_id()?;
        let rec = UploadRecord {
            bucket: bucket.to_string(),
            key: key.to_string(),
            initiated_ms: now_ms(),
            meta,
            tags,
            checksum_algorithm: checksum.map(|(c, _)| c.name().to_string()),
            checksum_type: checksum.map(|(_, t)| t.name().to_string()),
            owner: p.user_id.clone(),
            parts_counted: true,
            lock,
            acl,
            sse: self.sealer_with(p, &b, key, sse, customer)?.0,
        };
        let info = upload_info(&id, &rec);
        self.inner
            .committer
            .write(move |t| {
                let b = txn::get_bucket(&Ns::new(t), &rec.bucket)?;
                t.open_table(UPLOADS)?
                    .insert(id.as_str(), codec::encode(&rec)?.as_slice())?;
                super::expiry_index::schedule_upload(t, &b, &id, &rec)
            })
            .await?;
        Ok(info)
    }

    /// UploadPart: stages the body and records it as part `part_number` (replacing an earlier
    /// upload of the same number).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<S, E>(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: S,
        opts: PutOptions,
        late_check: impl FnOnce(&Staged) -> Result<()>,
    ) -> std::result::Result<PartInfo, StageError<E>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    {
        deny(authorize(p, Verb::Put, Resource::Object(bucket, key)))?;
        check_part_number(part_number)?;
        let u = self.upload_exists(upload_id, bucket, key)?;
        check_part_algorithm(u.checksum_algorithm.as_deref(), opts.checksum)?;
        if let Some(n) = opts.declared_size {
            self.precheck_part_room(&u, upload_id, part_number, n)?;
        }
        if let Some(asked) = opts.sse {
            check_part_encryption(asked, u.sse, || {
                Ok(self
                    .bucket_record(&u.bucket)?
                    .encryption
                    .and_then(|e| e.mode.kms_key()))
            })?;
        }
        let seal = self.upload_sealer(p, &u, opts.customer_key.as_deref())?;
        let keyed = seal.clone().filter(|_| super::objects::keyed_etag(u.sse));
        let mut staged = self
            .stage(
                body,
                &StageOptions {
                    md5: true,
                    sha256: opts.content_sha256.is_some(),
                    checksum: opts.checksum,
                    max_size: self.inner.cfg.max_object_size,
                    allow_inline: false,
                    seal,
                },
            )
            .await?;
        if let Err(e) = verify_staged(&staged, &opts).and_then(|()| late_check(&staged)) {
            self.discard(staged);
            return Err(e.into());
        }
        // An SSE-C or SSE-KMS part's ETag is no MD5 of its content (see `Sealer::keyed_etag`).
        if let Some(s) = &keyed {
            staged.md5 = s.keyed_etag(&staged.md5);
        }
        let commit = self.commit_part(&u, upload_id, part_number, &staged);
        Ok(self.commit_staged(vec![staged], commit).await?)
    }

    /// UploadPartCopy: a byte range of an existing object becomes a part. The range is read and
    /// re-staged (the part's MD5 needs the bytes); identical chunks dedup, so no disk is used.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        src: (&str, &str, Option<&str>),
        range: Option<Range<u64>>,
        keys: crate::sse::CopyKeys,
        check: impl FnOnce(&ObjectRecord) -> Result<()>,
    ) -> Result<PartInfo> {
        deny(authorize(p, Verb::Put, Resource::Object(bucket, key)))?;
        check_part_number(part_number)?;
        let (source, pins) = match src.2 {
            Some(id) => self.open_version(p, src.0, src.1, id)?,
            None => self.open_object(p, src.0, src.1)?,
        };
        crate::sse::CustomerKey::check(keys.source.as_deref(), source.record.sse)?;
        check(&source.record)?;
        let u = self.upload_exists(upload_id, bucket, key)?;
        let range = match range {
            Some(r) if r.end > source.record.size || r.start >= r.end => {
                return Err(StoreError::InvalidRange);
            }
            Some(r) => r,
            None => 0..source.record.size,
        };
        self.precheck_part_room(&u, upload_id, part_number, range.end - range.start)?;
        let seal = self.upload_sealer(p, &u, keys.customer.as_deref())?;
        let keyed = seal.clone().filter(|_| super::objects::keyed_etag(u.sse));
        let body = self.read_data_pinned_for(&source.record.data, range, pins, keys.source);
        let mut staged = self
            .stage(
                body,
                &StageOptions {
                    md5: true,
                    max_size: self.inner.cfg.max_object_size,
                    seal,
                    // The upload's checksum, computed here for the copied bytes (AWS answers
                    // it in CopyPartResult), so the object's can be made from its parts'.
                    checksum: u
                        .checksum_algorithm
                        .as_deref()
                        .and_then(ChecksumAlgorithm::parse),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| match e {
                StageError::Body(e) | StageError::Store(e) => e,
            })?;
        if let Some(s) = &keyed {
            staged.md5 = s.keyed_etag(&staged.md5);
        }
        let commit = self.commit_part(&u, upload_id, part_number, &staged);
        self.commit_staged(vec![staged], commit).await
    }

    /// The quota check of [`Self::commit_part`], made before the body is read from its
    /// declared size: a part that cannot fit is refused at once.
    fn precheck_part_room(
        &self,
        u: &UploadRecord,
        id: &str,
        part_number: u32,
        size: u64,
    ) -> Result<()> {
        let limit = self.inner.cfg.max_size;
        let b = self.bucket_record(&u.bucket)?;
        if !u.parts_counted || (b.quota_bytes == 0 && limit == 0) {
            return Ok(());
        }
        let replaced = {
            let txn = self.db().begin_read()?;
            let parts = txn.open_table(UPLOAD_PARTS)?;
            match parts.get(tables::part_key(id, part_number).as_slice())? {
                Some(v) => codec::decode::<PartRecord>(v.value())?.size,
                None => 0,
            }
        };
        txn::ensure_room(&b, size.saturating_sub(replaced), limit, || {
            self.total_usage()
        })
    }

    fn upload_exists(&self, id: &str, bucket: &str, key: &str) -> Result<UploadRecord> {
        let txn = self.db().begin_read()?;
        let uploads = txn.open_table(UPLOADS)?;
        let v = uploads.get(id)?.ok_or(StoreError::NoSuchUpload)?;
        let u: UploadRecord = codec::decode(v.value())?;
        if u.bucket != bucket || u.key != key {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(u)
    }

    /// The commit that records `staged` as part `part_number`, for [`Store::commit_staged`]
    /// (it owns nothing of the request's).
    fn commit_part(
        &self,
        u: &UploadRecord,
        upload_id: &str,
        part_number: u32,
        staged: &Staged,
    ) -> impl std::future::Future<Output = Result<PartInfo>> + Send + 'static {
        let (bucket, key) = (u.bucket.as_str(), u.key.as_str());
        let rec = PartRecord {
            size: staged.size,
            md5: staged.md5_hex(),
            mtime_ms: now_ms(),
            chunks: staged.data.chunks().to_vec(),
            checksum: staged
                .checksum
                .as_ref()
                .map(|(_, v)| crate::checksum::base64(v)),
            checksum_algorithm: staged.checksum.as_ref().map(|(a, _)| a.name().to_string()),
        };
        let info = PartInfo {
            part_number,
            size: rec.size,
            etag: rec.md5.clone(),
            mtime_ms: rec.mtime_ms,
            checksum: rec.checksum.clone(),
            checksum_algorithm: rec.checksum_algorithm.clone(),
            // The upload's encryption (SSE-C answers with its own headers, not AES256's).
            sse: u.sse.filter(|_| !rec.chunks.is_empty()),
        };
        let (bucket, key, id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
        let limit = self.inner.cfg.max_size;
        let this = self.clone();
        async move {
            this.inner
                .committer
                .write(move |t| {
                    let u = get_upload(t, &id, &bucket, &key)?;
                    let pk = tables::part_key(&id, part_number);
                    let old: Option<PartRecord> = {
                        let parts = t.open_table(UPLOAD_PARTS)?;
                        match parts.get(pk.as_slice())? {
                            Some(v) => Some(codec::decode(v.value())?),
                            None => None,
                        }
                    };
                    let mut ns = Ns::new(t);
                    // The part's bytes count against the limits now, replacing an earlier upload
                    // of the same number (a retry): checked before anything is written.
                    let mut b = if u.parts_counted {
                        let b = txn::get_bucket(&ns, &bucket)?;
                        let replaced = old.as_ref().map_or(0, |o| o.size);
                        txn::ensure_room(&b, rec.size.saturating_sub(replaced), limit, || {
                            txn::total_usage(&ns)
                        })?;
                        Some(b)
                    } else {
                        None
                    };
                    txn::incref(&mut ns, &rec.chunks)?;
                    if let Some(old) = &old {
                        txn::decref(&mut ns, &old.chunks)?;
                    }
                    if let Some(b) = &mut b {
                        b.usage_bytes = b
                            .usage_bytes
                            .saturating_sub(old.as_ref().map_or(0, |o| o.size))
                            .saturating_add(rec.size);
                        txn::put_bucket(&mut ns, b)?;
                    }
                    let mut parts = t.open_table(UPLOAD_PARTS)?;
                    parts.insert(pk.as_slice(), codec::encode(&rec)?.as_slice())?;
                    Ok(())
                })
                .await?;
            Ok(info)
        }
    }

    /// CompleteMultipartUpload: checks order, ETags and sizes, then links the object whose
    /// manifest is the concatenation of the listed parts', if `cond` holds for the key then.
    /// The completion is remembered for [`COMPLETION_KEPT_MS`]: the same request again (a
    /// retry after a lost reply) gets the same answer; another part list gets `NoSuchUpload`.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_upload(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletePart>,
        cond: WriteCondition,
        customer_md5: Option<[u8; 16]>,
        claims: CompleteClaims,
    ) -> Result<Completion> {
        deny(authorize(p, Verb::Put, Resource::Object(bucket, key)))?;
        if parts.is_empty() {
            return Err(StoreError::InvalidPart("no parts were listed".into()));
        }
        for w in parts.windows(2) {
            if w[1].part_number <= w[0].part_number {
                return Err(StoreError::InvalidPartOrder);
            }
        }
        let (bucket, key, id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
        let limit = self.inner.cfg.max_size;
        let atimes = self.inner.atimes.clone();
        let digest = parts_digest(&parts);
        self.inner
            .committer
            .write(move |t| {
                let u = match get_upload(t, &id, &bucket, &key) {
                    Ok(u) => u,
                    Err(StoreError::NoSuchUpload) => {
                        return completed_before(t, &id, &bucket, &key, &digest);
                    }
                    Err(e) => return Err(e),
                };
                if let Some(asked) = claims.sse {
                    check_part_encryption(asked, u.sse, || {
                        Ok(txn::get_bucket(&Ns::new(t), &bucket)?
                            .encryption
                            .and_then(|e| e.mode.kms_key()))
                    })?;
                }
                // An SSE-C key given here (s3transfer sends it) must be the upload's.
                check_upload_customer_key(u.sse, customer_md5)?;
                let mut ns = Ns::new(t);
                let mut b = txn::get_bucket(&ns, &bucket)?;
                cond.check_in(&ns, b.id, &key)?;
                txn::check_share_conflicts(&ns, &b, &key)?;
                let mut records = Vec::with_capacity(parts.len());
                let mut missing = None;
                {
                    let table = t.open_table(UPLOAD_PARTS)?;
                    for cp in &parts {
                        let v = table
                            .get(tables::part_key(&id, cp.part_number).as_slice())?
                            .ok_or_else(|| {
                                StoreError::InvalidPart(format!(
                                    "part {} was not uploaded",
                                    cp.part_number
                                ))
                            })?;
                        let rec: PartRecord = codec::decode(v.value())?;
                        let sent = cp.etag.trim().trim_matches('"');
                        if !sent.eq_ignore_ascii_case(&rec.md5) {
                            return Err(StoreError::InvalidPart(format!(
                                "part {} has ETag \"{}\", not \"{sent}\"",
                                cp.part_number, rec.md5
                            )));
                        }
                        check_completed_part(cp, &rec, u.checksum_algorithm.as_deref())?;
                        if missing.is_none() {
                            missing = missing_part_checksum(
                                cp,
                                u.checksum_algorithm.as_deref(),
                                u.checksum_type.as_deref().and_then(ChecksumType::parse)
                                    != Some(ChecksumType::FullObject),
                            );
                        }
                        records.push(rec);
                    }
                }
                let last = records.len() - 1;
                for (i, r) in records.iter().enumerate() {
                    if i < last && r.size < MIN_PART_SIZE {
                        return Err(StoreError::EntityTooSmall {
                            part: parts[i].part_number,
                            size: r.size,
                        });
                    }
                }
                let mut md5_cat = Md5::new();
                let mut manifest = Vec::new();
                let mut sizes = Vec::with_capacity(records.len());
                let mut part_sums: Option<Vec<Vec<u8>>> = Some(Vec::new());
                for r in &records {
                    let raw = hex::decode(&r.md5).map_err(StoreError::internal)?;
                    md5_cat.update(&raw);
                    manifest.extend_from_slice(&r.chunks);
                    sizes.push(r.size);
                    match (
                        &mut part_sums,
                        r.checksum
                            .as_deref()
                            .and_then(crate::checksum::base64_decode),
                    ) {
                        (Some(c), Some(v)) => c.push(v),
                        _ => part_sums = None,
                    }
                }
                let alg = u
                    .checksum_algorithm
                    .as_deref()
                    .and_then(ChecksumAlgorithm::parse);
                let kind = u
                    .checksum_type
                    .as_deref()
                    .and_then(ChecksumType::parse)
                    .unwrap_or(ChecksumType::Composite);
                let checksum = object_checksum(alg, kind, part_sums.as_deref(), &sizes);
                let part_checksums = match (&checksum, &part_sums) {
                    (Some(_), Some(sums)) => {
                        sums.iter().map(|v| crate::checksum::base64(v)).collect()
                    }
                    _ => Vec::new(),
                };
                check_claims(&claims, alg, kind, checksum.as_ref(), sizes.iter().sum())?;
                if let Some(e) = missing {
                    return Err(e);
                }
                let mut rec = ObjectRecord {
                    size: sizes.iter().sum(),
                    etag: format!("{}-{}", hex::encode(md5_cat.finalize()), records.len()),
                    mtime_ms: now_ms(),
                    meta: u.meta.clone(),
                    tags: u.tags.clone(),
                    checksum,
                    parts: sizes,
                    data: Data::Chunks(manifest),
                    nlink: 1,
                    times: None,
                    version_id: None,
                    retention: None,
                    legal_hold: false,
                    acl: u.acl.clone(),
                    sse: u.sse,
                    part_checksums,
                };
                // The parts' bytes (all of them: those not listed are dropped) are in the
                // bucket's usage already; they become the object's.
                crate::locks::apply_to_new(&b, &u.lock, &mut rec, crate::now_unix_ms())?;
                let held = held_bytes(t, &u, &id)?;
                txn::check_quota_releasing(&ns, &b, &key, rec.size, held, limit)?;
                txn::incref(&mut ns, rec.data.chunks())?;
                let released = drop_upload(&mut ns, &id)?;
                b.usage_bytes = b.usage_bytes.saturating_sub(released);
                let ino = txn::link_object(&mut ns, &mut b, &key, &mut rec)?;
                // A replaced file keeps its inode number: a READ's atime noted for the old
                // content is not the new object's (see `atime`).
                atimes.forget(ino);
                let expiration = super::expiry_index::expiration_of(&b, &key, &rec);
                let done = CompletedUploadRecord {
                    bucket,
                    bucket_id: Some(b.id),
                    key,
                    etag: rec.etag,
                    checksum: rec.checksum,
                    parts_digest: digest,
                    completed_ms: rec.mtime_ms,
                    version_id: rec.version_id,
                    sse: rec.sse,
                };
                t.open_table(COMPLETED_UPLOADS)?
                    .insert(id.as_str(), codec::encode(&done)?.as_slice())?;
                t.open_table(COMPLETED_BY_TIME)?.insert(
                    tables::completed_key(done.completed_ms, &id).as_slice(),
                    id.as_str(),
                )?;
                Ok(Completion {
                    etag: done.etag,
                    checksum: done.checksum,
                    version_id: done.version_id,
                    sse: done.sse,
                    expiration,
                })
            })
            .await
    }

    pub async fn abort_upload(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Object(bucket, key)))?;
        let (bucket, key, id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
        self.inner
            .committer
            .write(move |t| {
                get_upload(t, &id, &bucket, &key)?;
                abort_in(&mut Ns::new(t), &id)
            })
            .await
    }

    /// ListParts after `marker` (exclusive), at most `max`; returns whether more exist.
    #[allow(clippy::too_many_arguments)]
    pub fn list_parts(
        &self,
        p: &Principal,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
        customer_md5: Option<[u8; 16]>,
    ) -> Result<(UploadInfo, Vec<PartInfo>, bool)> {
        deny(authorize(p, Verb::List, Resource::Object(bucket, key)))?;
        let u = self.upload_exists(upload_id, bucket, key)?;
        // An SSE-C key given with the listing (SDKs resuming an upload send it) must be the
        // upload's, as at completion.
        check_upload_customer_key(u.sse, customer_md5)?;
        let txn = self.db().begin_read()?;
        let parts = txn.open_table(UPLOAD_PARTS)?;
        let prefix = tables::parts_prefix(upload_id);
        let start = tables::part_key(upload_id, marker.saturating_add(1));
        let mut out = Vec::new();
        let mut truncated = false;
        for e in parts.range(start.as_slice()..)? {
            let (k, v) = e?;
            let k = k.value();
            if !k.starts_with(&prefix) {
                break;
            }
            if out.len() == max {
                truncated = true;
                break;
            }
            let n = k[prefix.len()..]
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("part key".into()))?;
            let r: PartRecord = codec::decode(v.value())?;
            out.push(PartInfo {
                part_number: n,
                size: r.size,
                etag: r.md5,
                mtime_ms: r.mtime_ms,
                sse: u.sse.filter(|_| !r.chunks.is_empty()),
                checksum: r.checksum,
                checksum_algorithm: r.checksum_algorithm.or(u.checksum_algorithm.clone()),
            });
        }
        Ok((upload_info(upload_id, &u), out, truncated))
    }

    /// ListMultipartUploads: the bucket's uploads under `q.prefix` in key order (then by
    /// initiation), from the markers on; with a delimiter, the keys that have it after the
    /// prefix are rolled up into their common prefixes, each counted once against `max`.
    pub fn list_uploads(
        &self,
        p: &Principal,
        bucket: &str,
        q: &UploadsQuery<'_>,
    ) -> Result<(Vec<UploadsEntry>, bool)> {
        deny(authorize(p, Verb::List, Resource::Objects(bucket)))?;
        self.bucket_record(bucket)?;
        let txn = self.db().begin_read()?;
        let uploads = txn.open_table(UPLOADS)?;
        let mut all = Vec::new();
        for e in uploads.iter()? {
            let (k, v) = e?;
            let u: UploadRecord = codec::decode(v.value())?;
            if u.bucket == bucket && u.key.starts_with(q.prefix) {
                all.push(upload_info(k.value(), &u));
            }
        }
        all.sort_by(|a, b| {
            (a.key.as_str(), a.initiated_ms, a.upload_id.as_str()).cmp(&(
                b.key.as_str(),
                b.initiated_ms,
                b.upload_id.as_str(),
            ))
        });
        let mut out = Vec::new();
        let mut truncated = false;
        for u in all {
            let after_marker = match (q.key_marker, q.upload_id_marker) {
                (Some(km), Some(im)) => {
                    u.key.as_str() > km || (u.key == km && u.upload_id.as_str() > im)
                }
                (Some(km), None) => u.key.as_str() > km,
                _ => true,
            };
            if !after_marker {
                continue;
            }
            let rolled = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                let rest = &u.key[q.prefix.len()..];
                rest.find(d)
                    .map(|i| u.key[..q.prefix.len() + i + d.len()].to_string())
            });
            let entry = match rolled {
                // A prefix a page ended on (its NextKeyMarker) is not listed again.
                Some(cp) if Some(cp.as_str()) == q.key_marker => continue,
                Some(cp) => {
                    if matches!(out.last(), Some(UploadsEntry::Prefix(last)) if *last == cp) {
                        continue;
                    }
                    UploadsEntry::Prefix(cp)
                }
                None => UploadsEntry::Upload(u),
            };
            if out.len() == q.max {
                truncated = true;
                break;
            }
            out.push(entry);
        }
        Ok((out, truncated))
    }
}

/// An SSE-C key (its MD5) named with a request on an upload (completion, part listing): it
/// must be the key the upload was begun with, and the upload must have been begun with one.
fn check_upload_customer_key(
    sse: Option<crate::sse::SseMode>,
    customer_md5: Option<[u8; 16]>,
) -> Result<()> {
    let Some(m) = customer_md5 else {
        return Ok(());
    };
    match sse {
        Some(crate::sse::SseMode::Customer { key_md5 }) if key_md5 == m => Ok(()),
        Some(crate::sse::SseMode::Customer { .. }) => Err(StoreError::InvalidArgument(
            "the customer-provided key is not the one the multipart upload was begun with".into(),
        )),
        _ => Err(StoreError::InvalidRequest(
            "The multipart upload initiate did not request encryption with a customer key".into(),
        )),
    }
}
