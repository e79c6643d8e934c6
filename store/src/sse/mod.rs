//! Encryption at rest (issue 23, decision 0044): chunks sealed with AES-256-GCM under keys
//! derived per *domain*, named by the BLAKE3 of what is on disk.
//!
//! - [`keys`]: the key ring (from the master key), a domain's keys, what a chunk records.
//! - [`chunk`]: sealing and opening one chunk (or a small object's bytes kept in its record).
//!
//! A domain is who shares a key: today a bucket (SSE-S3, `Domain::Bucket(id)`). Within a
//! domain, equal plaintext gives equal ciphertext (the chunk key is derived from a keyed hash
//! of the plaintext), so dedup and cheap copies keep working; across domains nothing is equal,
//! so a chunk name reveals nothing about another tenant's data. The chunk's name is the hash of
//! its ciphertext: fsck and the GC verify and count chunks without any key.

pub mod chunk;
pub mod keys;

pub use keys::{Domain, Keyring, Seal, Sealer};

impl Sealer {
    /// An SSE-C object's ETag from the MD5 of its content: keyed, so it is no fingerprint of
    /// the content for whoever lists the bucket without the key (AWS: not an MD5 either).
    pub fn keyed_etag(&self, md5: &[u8; 16]) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(&self.name_key);
        h.update(b"etag");
        h.update(md5);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }
}

/// How an object is encrypted at rest, as S3 reports it (`x-amz-server-side-encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SseMode {
    /// SSE-S3: `AES256`, keys the server manages (a bucket's domain under the master key).
    S3,
    /// SSE-C: a key the customer sends with every request, never stored; only its MD5 is kept
    /// (shown back, as AWS does, and checked against a key a request brings).
    Customer { key_md5: [u8; 16] },
    /// SSE-KMS: `aws:kms`, the key service's key number `key` (decision 0046); `context`: the
    /// digest of the encryption context the write gave (zeros: none), bound into the data's
    /// keys; `bucket_key`: `BucketKeyEnabled` as asked (kept and shown).
    Kms {
        key: u64,
        bucket_key: bool,
        context: [u8; 16],
    },
}

/// A bucket's default encryption (PutBucketEncryption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketEncryption {
    pub mode: SseMode,
    /// `BucketKeyEnabled` as given: S3 Bucket Keys change how often SSE-KMS asks its key
    /// service, nothing for SSE-S3 (AWS documents no effect there either); kept to be shown.
    pub bucket_key: bool,
}

impl SseMode {
    /// The `x-amz-server-side-encryption` value.
    pub fn header(self) -> &'static str {
        match self {
            SseMode::S3 | SseMode::Customer { .. } => "AES256",
            SseMode::Kms { .. } => "aws:kms",
        }
    }

    /// The key service's key number of an SSE-KMS mode.
    pub fn kms_key(self) -> Option<u64> {
        match self {
            SseMode::Kms { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The digest an encryption context is bound into the data's keys by: of its canonical
    /// JSON (keys sorted), `None` for an empty one.
    pub fn context_digest(context: &std::collections::BTreeMap<String, String>) -> [u8; 16] {
        if context.is_empty() {
            return [0; 16];
        }
        let mut h = blake3::Hasher::new_derive_key("gatehouse 2026 sse-kms context");
        for (k, v) in context {
            h.update(&(k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
            h.update(&(v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }
}

/// How an object whose bytes are `data` is encrypted, as S3 reports it (decision 0044: what
/// its bytes are): `None` unless every byte is sealed; SSE-KMS when some bytes are sealed by a
/// key of the key service (the first such key; keeping `prior`'s Bucket Key and context when
/// it names that key); else SSE-S3 (or `prior`'s SSE-C).
pub(crate) fn mode_of(data: &crate::model::Data, prior: Option<SseMode>) -> Option<SseMode> {
    use crate::model::Data;
    if !data.fully_sealed() {
        return None;
    }
    let mut domains = match data {
        Data::Sealed { seal, .. } => vec![seal.domain],
        Data::Chunks(c) => c.iter().filter_map(|c| c.seal.map(|s| s.domain)).collect(),
        Data::Inline(_) => Vec::new(),
    }
    .into_iter();
    // Any byte under a key of the key service: the object is reported under (the first such)
    // key, since reading it takes `use` of that key.
    let one_key = domains.find_map(|d| match d {
        Domain::Kms { key, context, .. } => Some((key, context)),
        _ => None,
    });
    match (one_key, prior) {
        (Some((key, _)), Some(p @ SseMode::Kms { key: k, .. })) if k == key => Some(p),
        (Some((key, context)), _) => Some(SseMode::Kms {
            key,
            bucket_key: false,
            context,
        }),
        (None, Some(p @ SseMode::Customer { .. })) => Some(p),
        (None, _) => Some(SseMode::S3),
    }
}

/// The SSE-C keys of a copy: the destination's and the source's.
#[derive(Debug, Clone, Default)]
pub struct CopyKeys {
    pub customer: Option<std::sync::Arc<CustomerKey>>,
    pub source: Option<std::sync::Arc<CustomerKey>>,
}

/// A customer-provided key (SSE-C), as a request brings it.
#[derive(Clone)]
pub struct CustomerKey {
    pub key: zeroize::Zeroizing<[u8; 32]>,
    pub md5: [u8; 16],
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomerKey(md5 {})", hex::encode(self.md5))
    }
}

impl CustomerKey {
    /// Whether this is the key object `mode` was written with (`Err` says what AWS says).
    pub fn check(
        customer: Option<&CustomerKey>,
        mode: Option<SseMode>,
    ) -> crate::error::Result<()> {
        use crate::error::StoreError;
        match (mode, customer) {
            (Some(SseMode::Customer { key_md5 }), Some(k)) if k.md5 == key_md5 => Ok(()),
            (Some(SseMode::Customer { .. }), Some(_)) => Err(StoreError::AccessDenied(
                "the customer-provided key is not the one the object was encrypted with".into(),
            )),
            (Some(SseMode::Customer { .. }), None) => Err(StoreError::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct \
                 parameters must be provided to retrieve the object."
                    .into(),
            )),
            (_, Some(_)) => Err(StoreError::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            )),
            (_, None) => Ok(()),
        }
    }
}

impl crate::Store {
    /// The encryption of a write by `p` of `object` into bucket `b`: what it asked for, else
    /// the bucket's default; with the keys to seal it (`None`: stored as it is). An SSE-KMS
    /// write needs its key usable and `use` of it (audited).
    pub(crate) fn sealer_for(
        &self,
        p: &crate::model::Principal,
        b: &crate::model::BucketRecord,
        object: &str,
        asked: Option<SseMode>,
    ) -> crate::Result<(Option<SseMode>, Option<std::sync::Arc<Sealer>>)> {
        self.sealer_with(p, b, object, asked, None)
    }

    /// [`Store::sealer_for`] with the customer's key of an SSE-C write (it wins over any
    /// default, as an explicit request's encryption does in S3).
    pub(crate) fn sealer_with(
        &self,
        p: &crate::model::Principal,
        b: &crate::model::BucketRecord,
        object: &str,
        asked: Option<SseMode>,
        customer: Option<&CustomerKey>,
    ) -> crate::Result<(Option<SseMode>, Option<std::sync::Arc<Sealer>>)> {
        if let Some(k) = customer {
            return Ok((
                Some(SseMode::Customer { key_md5: k.md5 }),
                Some(std::sync::Arc::new(Sealer::customer(&k.key, b.id))),
            ));
        }
        // `aws:kms` without a key id: the bucket's default key (there is no AWS managed key).
        let asked = match asked {
            Some(SseMode::Kms {
                key: crate::kms::BUCKET_DEFAULT_KEY,
                bucket_key,
                context,
            }) => match b.encryption.and_then(|e| e.mode.kms_key()) {
                Some(key) => Some(SseMode::Kms {
                    key,
                    bucket_key,
                    context,
                }),
                None => {
                    return Err(crate::StoreError::InvalidArgument(
                        "aws:kms without x-amz-server-side-encryption-aws-kms-key-id: gatehouse \
                         has no AWS managed key; name a key of its key service, or give the \
                         bucket a default one (PutBucketEncryption with a KMSMasterKeyID)"
                            .into(),
                    ));
                }
            },
            other => other,
        };
        Ok(match asked.or(b.encryption.map(|e| e.mode)) {
            Some(SseMode::S3) => (
                Some(SseMode::S3),
                Some(std::sync::Arc::new(
                    self.inner.keyring.sealer(Domain::Bucket(b.id)),
                )),
            ),
            Some(mode @ SseMode::Kms { key, context, .. }) => (
                Some(mode),
                Some(self.kms_sealer(
                    p,
                    key,
                    context,
                    b,
                    crate::kms::audit_name(Some(mode), object),
                )?),
            ),
            // Never a default, never asked without its key.
            Some(SseMode::Customer { .. }) | None => (None, None),
        })
    }

    /// The key ring (readers open sealed chunks with it).
    pub(crate) fn keyring(&self) -> &std::sync::Arc<Keyring> {
        &self.inner.keyring
    }
}

impl crate::Store {
    /// GetBucketEncryption: the bucket's default encryption, if any. Reading it is reading the
    /// bucket.
    pub fn bucket_encryption(
        &self,
        p: &crate::model::Principal,
        bucket: &str,
    ) -> crate::Result<Option<BucketEncryption>> {
        Ok(self.head_bucket(p, bucket)?.encryption)
    }

    /// Put/DeleteBucketEncryption (`None`: no default; objects keep how they were written).
    /// Changing it is changing the bucket's settings (`put` on the bucket).
    pub async fn set_bucket_encryption(
        &self,
        p: &crate::model::Principal,
        bucket: &str,
        enc: Option<BucketEncryption>,
    ) -> crate::Result<()> {
        use crate::rbac::{Resource, Verb, authorize};
        crate::deny(authorize(p, Verb::Put, Resource::Buckets(Some(bucket))))?;
        if bucket == crate::naming::SYSTEM_BUCKET || crate::naming::snapshot_parts(bucket).is_some()
        {
            return Err(crate::StoreError::AccessDenied(format!(
                "bucket {bucket} takes no encryption setting"
            )));
        }
        if let Some(num) = enc.and_then(|e| e.mode.kms_key()) {
            // A default no write could use is refused now, not at every write.
            match self.kms().get(num) {
                Some(k) => k.usable()?,
                None => {
                    return Err(crate::StoreError::NoSuchKmsKey(format!("key number {num}")));
                }
            }
        }
        let name = bucket.to_string();
        self.inner
            .committer
            .write(move |t| {
                let mut ns = crate::ops::ns::Ns::new(t);
                let mut b = crate::ops::txn::get_bucket(&ns, &name)?;
                b.encryption = enc;
                crate::ops::txn::put_bucket(&mut ns, &b)
            })
            .await?;
        crate::ops::audit_action(
            p,
            if enc.is_some() {
                "bucket.encryption.put"
            } else {
                "bucket.encryption.delete"
            },
            bucket,
        );
        Ok(())
    }
}
