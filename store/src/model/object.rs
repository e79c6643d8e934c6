use serde::{Deserialize, Serialize};

/// One chunk of an object's data, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    #[serde(with = "serde_hash")]
    pub hash: [u8; 32],
    /// Bytes of content (the plaintext of a sealed chunk; its file has
    /// [`crate::sse::chunk::OVERHEAD`] more: [`ChunkRef::stored_len`]).
    pub len: u32,
    /// An encrypted chunk's domain and tag (decision 0044); `None`: stored as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<crate::sse::Seal>,
}

impl ChunkRef {
    /// The length of the chunk's file: what its name hashes, what the chunk rows count.
    pub fn stored_len(&self) -> u32 {
        match self.seal {
            Some(_) => self.len + crate::sse::chunk::OVERHEAD as u32,
            None => self.len,
        }
    }
}

/// Where an object's bytes are: inline in the record (small objects) or a chunk manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Data {
    Inline(#[serde(with = "serde_bytes_vec")] Vec<u8>),
    Chunks(Vec<ChunkRef>),
    /// A small object's bytes kept in its record, encrypted (ciphertext ‖ GCM tag; decision
    /// 0044).
    Sealed {
        seal: crate::sse::Seal,
        #[serde(with = "serde_bytes_vec")]
        bytes: Vec<u8>,
    },
}

impl Default for Data {
    fn default() -> Self {
        Data::Inline(Vec::new())
    }
}

impl Data {
    pub fn chunks(&self) -> &[ChunkRef] {
        match self {
            Data::Inline(_) | Data::Sealed { .. } => &[],
            Data::Chunks(c) => c,
        }
    }

    /// Whether every byte is encrypted (and there is something: an empty object's bytes are
    /// sealed too when it was written encrypted).
    pub fn fully_sealed(&self) -> bool {
        match self {
            Data::Inline(_) => false,
            Data::Sealed { .. } => true,
            Data::Chunks(c) => !c.is_empty() && c.iter().all(|c| c.seal.is_some()),
        }
    }

    /// Whether any of the bytes are sealed under a key of the key service (SSE-KMS).
    pub fn is_kms_sealed(&self) -> bool {
        let kms = |s: &crate::sse::Seal| matches!(s.domain, crate::sse::Domain::Kms { .. });
        match self {
            Data::Inline(_) => false,
            Data::Sealed { seal, .. } => kms(seal),
            Data::Chunks(c) => c.iter().any(|c| c.seal.as_ref().is_some_and(kms)),
        }
    }

    /// Whether any of the bytes are encrypted.
    pub fn is_sealed(&self) -> bool {
        match self {
            Data::Inline(_) => false,
            Data::Sealed { .. } => true,
            Data::Chunks(c) => c.iter().any(|c| c.seal.is_some()),
        }
    }
}

/// A stored flexible checksum: algorithm name as S3 spells it (`CRC32`, …) and base64 value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumValue {
    pub algorithm: String,
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE` (multipart, checksum of part checksums).
    pub kind: String,
}

/// HTTP-visible metadata set by the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// `x-amz-meta-*` without the prefix, names lowercased, in the order received.
    pub user: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub size: u64,
    /// Quoted-less ETag: hex MD5, or `hex(md5(part md5s))-N`.
    pub etag: String,
    /// Unix milliseconds.
    pub mtime_ms: i64,
    pub meta: ObjectMeta,
    pub tags: Vec<(String, String)>,
    pub checksum: Option<ChecksumValue>,
    /// Sizes of the multipart parts in order (empty for a single PUT): serves `partNumber` GETs.
    pub parts: Vec<u64>,
    /// Stored apart from the attributes (table `inode_data`), so listings and attribute reads
    /// never decode manifests or inline bytes. Empty in records read by listings.
    #[serde(skip)]
    pub data: Data,
    /// Names (entries) that link to this inode. 0 in records written before hard links: read
    /// through [`ObjectRecord::links`] as 1.
    #[serde(default)]
    pub nlink: u32,
    /// The file view's times, kept apart once the file view has touched the inode; `None` for
    /// an object as S3 wrote it, whose times derive from its metadata and write time.
    #[serde(default)]
    pub times: Option<FileTimes>,
    /// The S3 version id of this object (decision 0038); `None` is the `null` version (written
    /// while the bucket was unversioned or suspended).
    #[serde(default)]
    pub version_id: Option<String>,
    /// Object lock retention of this version (decision 0039).
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Object lock legal hold of this version.
    #[serde(default)]
    pub legal_hold: bool,
    /// The object's (this version's) ACL beyond the owner's full control (decision 0042).
    #[serde(default)]
    pub acl: Option<crate::model::Acl>,
    /// How its bytes are encrypted at rest (decision 0044); `None`: stored as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::sse::SseMode>,
    /// A multipart object's parts' checksums (base64, of `checksum`'s algorithm), one per
    /// entry of `parts`, when every part had one; empty otherwise. GetObjectAttributes lists
    /// them (decision 0049).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
}

/// S3 object lock modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Removable before its date by a principal granted `bypass-governance` who asks to.
    Governance,
    /// Removable by nobody before its date.
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<LockMode> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: kept until `until_ms` (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    pub until_ms: i64,
}

impl ObjectRecord {
    /// How many names link to this inode (at least 1).
    pub fn links(&self) -> u32 {
        self.nlink.max(1)
    }
}

/// Access, modification and change times of an inode, Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTimes {
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

pub(crate) mod serde_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(h)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let v: super::serde_bytes_buf::Buf = Deserialize::deserialize(d)?;
        v.0.as_slice()
            .try_into()
            .map_err(|_| D::Error::custom("chunk hash must be 32 bytes"))
    }
}

mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v: super::serde_bytes_buf::Buf = Deserialize::deserialize(d)?;
        Ok(v.0)
    }
}

/// Accepts msgpack bin (what we write) as an owned buffer.
mod serde_bytes_buf {
    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
    use std::fmt;

    pub struct Buf(pub Vec<u8>);

    impl<'de> Deserialize<'de> for Buf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Buf;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Buf, E> {
                    Ok(Buf(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
                    Ok(Buf(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Buf, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Buf(out))
                }
            }
            d.deserialize_bytes(V)
        }
    }
}
