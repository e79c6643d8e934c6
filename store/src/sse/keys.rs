//! The key ring: every encryption key is derived from the master key (`master.key`), so the
//! data directory's one secret (and a backup's) decides whether chunks can be read.
//!
//! ```text
//! root        = HKDF-SHA256(master, "gatehouse-subkey", "sse-root")
//! domain key  = BLAKE3-derive("gatehouse 2026 sse domain", root ‖ domain)
//! name key    = BLAKE3-derive("gatehouse 2026 sse chunk tag", domain key)
//! enc key     = BLAKE3-derive("gatehouse 2026 sse chunk key", domain key)
//! tag         = BLAKE3-keyed(name key, plaintext)          (kept in the manifest)
//! chunk key   = BLAKE3-keyed(enc key, tag)                 (never stored)
//! ```
//!
//! Each chunk key seals exactly one plaintext (it is derived from it), so the fixed nonce is
//! never reused with another message. The tag tells nothing without the domain key; equal tags
//! mean equal plaintext within one domain only, which its dedup shows anyway.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Who shares a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Domain {
    /// SSE-S3 in the bucket with this id: the key follows the data (a copy into another bucket
    /// shares the chunks and keeps reading them with this domain's key).
    Bucket(u64),
    /// SSE-C in the bucket with this id: keys derived from the customer's key, which the
    /// server never stores (so it cannot open these chunks without the request that has it).
    Customer(u64),
    /// SSE-KMS (decision 0046): version `version` of the key service's key number `key`, in
    /// the bucket with id `bucket`, under the encryption context whose digest is `context`
    /// (zeros: none given). Keys derived from that version's material: deleting the key's
    /// material leaves these chunks unreadable for good.
    Kms {
        key: u64,
        version: u32,
        bucket: u64,
        context: [u8; 16],
    },
}

impl Domain {
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(37);
        match self {
            Domain::Bucket(id) => {
                b.push(1);
                b.extend_from_slice(&id.to_be_bytes());
            }
            Domain::Customer(id) => {
                b.push(2);
                b.extend_from_slice(&id.to_be_bytes());
            }
            Domain::Kms {
                key,
                version,
                bucket,
                context,
            } => {
                b.push(3);
                b.extend_from_slice(&key.to_be_bytes());
                b.extend_from_slice(&version.to_be_bytes());
                b.extend_from_slice(&bucket.to_be_bytes());
                b.extend_from_slice(context);
            }
        }
        b
    }
}

/// What a sealed chunk records beside its name and length: its domain and its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub domain: Domain,
    #[serde(with = "crate::model::object_serde_hash")]
    pub tag: [u8; 32],
}

/// The server's key ring: the root every domain key comes from.
pub struct Keyring {
    root: [u8; 32],
    /// The key service's materials: (key number, version) → material, for every key not
    /// deleted (decision 0046). Swapped whole when a key changes.
    kms: std::sync::RwLock<std::sync::Arc<KmsMaterials>>,
}

/// (key number, version) → material, and the key record (its state decides whether the
/// material may be used now).
type KmsMaterials = std::collections::HashMap<
    (u64, u32),
    (
        zeroize::Zeroizing<[u8; 32]>,
        std::sync::Arc<crate::kms::KeyRecord>,
    ),
>;

impl Drop for Keyring {
    fn drop(&mut self) {
        self.root.zeroize();
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    pub fn new(root: [u8; 32]) -> Keyring {
        Keyring {
            root,
            kms: Default::default(),
        }
    }

    /// Takes the materials of every key of `table` that still has them.
    pub(crate) fn set_kms(&self, table: &crate::kms::KeyTable) {
        let mut m = KmsMaterials::new();
        for k in table.records() {
            for v in &k.versions {
                if let Some(salt) = &v.salt {
                    let material = crate::kms::material(&self.root, k.num, v.version, salt);
                    m.insert(
                        (k.num, v.version),
                        (zeroize::Zeroizing::new(material), k.clone()),
                    );
                }
            }
        }
        let m = std::sync::Arc::new(m);
        match self.kms.write() {
            Ok(mut g) => *g = m,
            Err(p) => *p.into_inner() = m,
        }
    }

    /// The keys of SSE-KMS domain `domain` (its key's material must exist: a deleted key has
    /// none).
    pub(crate) fn kms_sealer(&self, domain: Domain) -> crate::error::Result<Sealer> {
        let Domain::Kms { key, version, .. } = domain else {
            return Err(crate::error::StoreError::internal("not an SSE-KMS domain"));
        };
        let materials = match self.kms.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match materials.get(&(key, version)) {
            Some((m, rec)) => {
                // Disabled or pending deletion: nothing is sealed or opened with it, by anyone.
                rec.usable()?;
                Ok(Sealer::derive("gatehouse 2026 sse-kms domain", m, domain))
            }
            None => Err(crate::error::StoreError::NoSuchKmsKey(
                "the key service's key this was encrypted with no longer exists (deleted):                  it cannot be decrypted"
                    .into(),
            )),
        }
    }

    /// The keys of server-managed `domain` (a customer's domain has a sealer only from its key:
    /// [`Sealer::customer`]).
    pub fn sealer(&self, domain: Domain) -> Sealer {
        Sealer::derive("gatehouse 2026 sse domain", &self.root, domain)
    }

    /// The keys that open chunks of `domain`: the server's, or (SSE-C) those of the customer's
    /// key this request brought — without it, refused (the server cannot open them).
    pub fn opener(
        &self,
        domain: Domain,
        customer: Option<&super::CustomerKey>,
    ) -> crate::error::Result<Sealer> {
        match (domain, customer) {
            (Domain::Bucket(_), _) => Ok(self.sealer(domain)),
            (Domain::Kms { .. }, _) => self.kms_sealer(domain),
            (Domain::Customer(b), Some(k)) => Ok(Sealer::customer(&k.key, b)),
            (Domain::Customer(_), None) => Err(crate::error::StoreError::AccessDenied(
                "encrypted with a customer-provided key (SSE-C): readable only with that key, \
                 over S3"
                    .into(),
            )),
        }
    }
}

impl Sealer {
    /// The keys of SSE-C domain `Customer(bucket)` under the customer's `key`.
    pub fn customer(key: &[u8; 32], bucket: u64) -> Sealer {
        Sealer::derive("gatehouse 2026 sse-c domain", key, Domain::Customer(bucket))
    }

    fn derive(context: &str, secret: &[u8; 32], domain: Domain) -> Sealer {
        let mut h = blake3::Hasher::new_derive_key(context);
        h.update(secret);
        h.update(&domain.bytes());
        let mut key: [u8; 32] = *h.finalize().as_bytes();
        let sealer = Sealer {
            domain,
            name_key: blake3::derive_key("gatehouse 2026 sse chunk tag", &key),
            enc_key: blake3::derive_key("gatehouse 2026 sse chunk key", &key),
        };
        key.zeroize();
        sealer
    }
}

/// One domain's keys: seals chunks for it and opens them.
pub struct Sealer {
    pub(crate) domain: Domain,
    pub(crate) name_key: [u8; 32],
    pub(crate) enc_key: [u8; 32],
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.name_key.zeroize();
        self.enc_key.zeroize();
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({:?})", self.domain)
    }
}

impl Sealer {
    pub fn domain(&self) -> Domain {
        self.domain
    }
}
