//! Sealing and opening one chunk: AES-256-GCM (ring) under a key derived from the plaintext's
//! tag (see [`super::keys`]). What is stored is ciphertext ‖ 16-byte GCM tag; a flipped byte
//! fails the open: an error, never wrong bytes (reads of server-managed domains rely on it and
//! skip the BLAKE3 check of the chunk's name, which fsck and restores still make; SSE-C chunks
//! keep it, since the customer's key could seal other bytes).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroize;

use super::keys::{Seal, Sealer};
use crate::error::{Result, StoreError};

/// Bytes a sealed chunk has beyond its plaintext.
pub const OVERHEAD: usize = 16;

/// Bound into every chunk's authentication: a format change cannot be misread as this one.
const AAD: &[u8] = b"gatehouse chunk v1";

fn aead_key(sealer: &Sealer, tag: &[u8; 32]) -> Result<LessSafeKey> {
    let mut k: [u8; 32] = *blake3::keyed_hash(&sealer.enc_key, tag).as_bytes();
    let key =
        UnboundKey::new(&AES_256_GCM, &k).map_err(|_| StoreError::internal("AES-256-GCM key"))?;
    k.zeroize();
    Ok(LessSafeKey::new(key))
}

impl Sealer {
    /// Seals `plain` in place (it becomes ciphertext ‖ tag: room for [`OVERHEAD`] more bytes
    /// saves a copy); returns what the manifest keeps.
    pub fn seal<B>(&self, plain: &mut B) -> Result<Seal>
    where
        B: AsMut<[u8]> + for<'a> Extend<&'a u8>,
    {
        let tag: [u8; 32] = *blake3::keyed_hash(&self.name_key, plain.as_mut()).as_bytes();
        let key = aead_key(self, &tag)?;
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::from(AAD), plain)
            .map_err(|_| StoreError::internal("AES-256-GCM seal"))?;
        Ok(Seal {
            domain: self.domain,
            tag,
        })
    }

    /// Opens sealed bytes in place (they become the plaintext). Authentication failure — a
    /// damaged chunk, or a key ring that is not the one it was sealed under — is an error.
    pub fn open(&self, seal: &Seal, sealed: &mut Vec<u8>) -> Result<()> {
        if seal.domain != self.domain {
            return Err(StoreError::internal(
                "a chunk opened with another domain's keys",
            ));
        }
        let key = aead_key(self, &seal.tag)?;
        let n = key
            .open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(AAD),
                sealed,
            )
            .map_err(|_| undecryptable())?
            .len();
        sealed.truncate(n);
        Ok(())
    }
}

/// The error for sealed bytes that do not open.
pub fn undecryptable() -> StoreError {
    StoreError::Corrupt(
        "encrypted data does not decrypt: damaged, or the master key is not the one it was \
         written under (restore master.key with the data it belongs to)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::keys::{Domain, Keyring};

    #[test]
    fn sealed_bytes_open_only_with_their_keys_and_intact() {
        let ring = Keyring::new([7; 32]);
        let s = ring.sealer(Domain::Bucket(1));
        let mut a = b"hello, world".to_vec();
        let seal = s.seal(&mut a).expect("seal");
        assert_eq!(a.len(), 12 + super::OVERHEAD);
        assert!(!a.windows(5).any(|w| w == b"hello"), "no plaintext left");
        // Deterministic within a domain (dedup), different across domains (no oracle).
        let mut again = b"hello, world".to_vec();
        assert_eq!(s.seal(&mut again).expect("seal"), seal);
        assert_eq!(again, a);
        let other = ring.sealer(Domain::Bucket(2));
        let mut b = b"hello, world".to_vec();
        let seal_b = other.seal(&mut b).expect("seal");
        assert_ne!(seal_b.tag, seal.tag);
        assert_ne!(b, a);
        // Opens back.
        let mut opened = a.clone();
        s.open(&seal, &mut opened).expect("open");
        assert_eq!(opened, b"hello, world");
        // A flipped byte, another master key, another domain: errors.
        let mut flipped = a.clone();
        flipped[3] ^= 1;
        assert!(s.open(&seal, &mut flipped).is_err());
        let wrong = Keyring::new([8; 32]).sealer(Domain::Bucket(1));
        assert!(wrong.open(&seal, &mut a.clone()).is_err());
        assert!(other.open(&seal, &mut a.clone()).is_err());
    }
}
