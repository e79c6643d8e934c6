//! S3 flexible checksums (`x-amz-checksum-*`): the algorithms, streaming hashers and the
//! base64 wire form. Computed in the same pass as MD5/BLAKE3 while data is staged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The name S3 uses in headers values and XML (`CRC32`, `CRC64NVME`, …).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header carrying the value: `x-amz-checksum-crc32`, …
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Bytes of the digest (what its base64 value decodes to).
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name) || a.header().eq_ignore_ascii_case(name))
    }

    pub fn hasher(self) -> ChecksumHasher {
        match self {
            ChecksumAlgorithm::Crc32 => ChecksumHasher::Crc(
                self,
                crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            ),
            ChecksumAlgorithm::Crc32c => ChecksumHasher::Crc(
                self,
                crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi),
            ),
            ChecksumAlgorithm::Crc64Nvme => ChecksumHasher::Crc(
                self,
                crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            ),
            ChecksumAlgorithm::Sha1 => ChecksumHasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => ChecksumHasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// The CRC of two pieces one after the other from their CRCs (`b` of `b_len` bytes), in
    /// the bytes [`ChecksumHasher::finish_raw`] gives: a full-object multipart checksum from
    /// its parts'. `None` for the SHA algorithms (or values of the wrong width).
    pub fn combine(self, a: &[u8], b: &[u8], b_len: u64) -> Option<Vec<u8>> {
        let (crc, width) = match self {
            ChecksumAlgorithm::Crc32 => (crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4),
            ChecksumAlgorithm::Crc32c => (crc_fast::CrcAlgorithm::Crc32Iscsi, 4),
            ChecksumAlgorithm::Crc64Nvme => (crc_fast::CrcAlgorithm::Crc64Nvme, 8),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
        };
        let value = |v: &[u8]| -> Option<u64> {
            (v.len() == width).then(|| v.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        };
        let both = crc_fast::checksum_combine(crc, value(a)?, value(b)?, b_len);
        Some(both.to_be_bytes()[8 - width..].to_vec())
    }

    /// Hashes a whole buffer (used for composite multipart checksums).
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish_raw()
    }
}

pub enum ChecksumHasher {
    Crc(ChecksumAlgorithm, crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            ChecksumHasher::Crc(a, _) => *a,
            ChecksumHasher::Sha1(_) => ChecksumAlgorithm::Sha1,
            ChecksumHasher::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            ChecksumHasher::Crc(_, d) => d.update(data),
            ChecksumHasher::Sha1(h) => h.update(data),
            ChecksumHasher::Sha256(h) => h.update(data),
        }
    }

    /// Big-endian raw digest bytes (CRCs as 4 or 8 bytes).
    pub fn finish_raw(self) -> Vec<u8> {
        match self {
            ChecksumHasher::Crc(ChecksumAlgorithm::Crc64Nvme, d) => {
                d.finalize().to_be_bytes().to_vec()
            }
            ChecksumHasher::Crc(_, d) => (d.finalize() as u32).to_be_bytes().to_vec(),
            ChecksumHasher::Sha1(h) => h.finalize().to_vec(),
            ChecksumHasher::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The base64 form S3 puts in headers and XML.
    pub fn finish_base64(self) -> String {
        B64.encode(self.finish_raw())
    }
}

/// What a multipart upload's checksum covers (`x-amz-checksum-type`): the whole object's bytes
/// (a CRC combined from the parts' CRCs) or the parts' checksums (a checksum of checksums,
/// shown with `-<parts>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    FullObject,
    Composite,
}

impl ChecksumType {
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ChecksumType::FullObject, ChecksumType::Composite]
            .into_iter()
            .find(|t| t.name() == s.trim())
    }

    /// S3's type for an algorithm named without one: CRC64NVME full-object, the rest
    /// composite.
    pub fn default_for(alg: ChecksumAlgorithm) -> Self {
        if alg == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        }
    }

    /// The pairs S3 takes: full-object for the CRCs, composite for all but CRC64NVME.
    pub fn allowed(self, alg: ChecksumAlgorithm) -> bool {
        match self {
            ChecksumType::FullObject => {
                !matches!(alg, ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)
            }
            ChecksumType::Composite => alg != ChecksumAlgorithm::Crc64Nvme,
        }
    }
}

pub fn base64(data: &[u8]) -> String {
    B64.encode(data)
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(a: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = a.hasher();
        h.update(data);
        h.finish_base64()
    }

    #[test]
    fn known_values() {
        // Check values of the standard "123456789" test vector for each CRC.
        let v = b"123456789";
        assert_eq!(
            B64.decode(b64(ChecksumAlgorithm::Crc32, v)).unwrap(),
            0xCBF4_3926u32.to_be_bytes()
        );
        assert_eq!(
            B64.decode(b64(ChecksumAlgorithm::Crc32c, v)).unwrap(),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            B64.decode(b64(ChecksumAlgorithm::Crc64Nvme, v)).unwrap(),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            b64(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
