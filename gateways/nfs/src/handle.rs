//! File handles: opaque to clients, signed by us.
//!
//! Layout (45 bytes, within NFSv3's 64):
//! `version (1) | bucket id (8, BE) | inode (8, BE) | generation (4, BE) | principal tag (8) |
//! HMAC-SHA256 over the preceding 29 bytes, first 16 bytes`.
//!
//! - The key is derived from the store's master key (`derive_key("nfs-handle")`), so handles
//!   survive restarts and a forged or altered handle fails the MAC (→ `NFS3ERR_BADHANDLE`).
//! - The principal tag binds a handle to the principal it was minted for (first 8 bytes of
//!   SHA-256 of its user id): presented by another principal it is a bad handle, so a handle
//!   replayed from elsewhere does not reach a share around the principal check.
//! - Inode numbers are never reused, so `generation` is 0 today; it is reserved for a future
//!   where they could be (restoring into a fresh store) and is covered by the MAC.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const VERSION: u8 = 1;
pub const LEN: usize = 45;
const SIGNED: usize = 29;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    pub bucket_id: u64,
    pub ino: u64,
    pub generation: u32,
}

/// The 8-byte tag of a principal's user id.
pub fn principal_tag(user_id: &str) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"gatehouse-nfs-principal\0");
    h.update(user_id.as_bytes());
    let d = h.finalize();
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&d[..8]);
    tag
}

pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn new(key: [u8; 32]) -> Self {
        Signer { key }
    }

    fn mac(&self, body: &[u8]) -> [u8; 16] {
        let mut m = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(m) => m,
            // HMAC accepts keys of any length.
            Err(_) => unreachable!("HMAC key length"),
        };
        m.update(body);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    pub fn mint(&self, h: Handle, principal: &[u8; 8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.push(VERSION);
        out.extend_from_slice(&h.bucket_id.to_be_bytes());
        out.extend_from_slice(&h.ino.to_be_bytes());
        out.extend_from_slice(&h.generation.to_be_bytes());
        out.extend_from_slice(principal);
        let mac = self.mac(&out);
        out.extend_from_slice(&mac);
        out
    }

    /// The handle, if `raw` is one we minted for `principal`; `None` otherwise (wrong length,
    /// version, MAC or principal: all the same to the caller, a bad handle).
    pub fn verify(&self, raw: &[u8], principal: &[u8; 8]) -> Option<Handle> {
        if raw.len() != LEN || raw[0] != VERSION {
            return None;
        }
        let (body, mac) = raw.split_at(SIGNED);
        if !bool::from(self.mac(body).ct_eq(mac)) {
            return None;
        }
        if !bool::from(body[21..29].ct_eq(principal)) {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let mut g = [0u8; 4];
        g.copy_from_slice(&body[17..21]);
        Some(Handle {
            bucket_id: u64_at(1),
            ino: u64_at(9),
            generation: u32::from_be_bytes(g),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_altered_byte_is_refused() {
        let s = Signer::new([7u8; 32]);
        let alice = principal_tag("a1b2c3d4e5f60718");
        let h = Handle {
            bucket_id: 42,
            ino: 1234,
            generation: 0,
        };
        let raw = s.mint(h, &alice);
        assert_eq!(raw.len(), LEN);
        assert_eq!(s.verify(&raw, &alice), Some(h));
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.verify(&bad, &alice), None, "byte {i}");
        }
        assert_eq!(s.verify(&raw[..LEN - 1], &alice), None);
        assert_eq!(s.verify(&[], &alice), None);
    }

    #[test]
    fn bound_to_principal_and_key() {
        let s = Signer::new([7u8; 32]);
        let h = Handle {
            bucket_id: 1,
            ino: 2,
            generation: 0,
        };
        let raw = s.mint(h, &principal_tag("alice"));
        assert_eq!(s.verify(&raw, &principal_tag("guest")), None);
        assert_eq!(
            Signer::new([8u8; 32]).verify(&raw, &principal_tag("alice")),
            None
        );
    }
}
