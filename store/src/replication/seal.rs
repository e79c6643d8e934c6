//! Connection secrets sealed at rest: XChaCha20-Poly1305 under a key derived from the master
//! key (`derive_key("replication-secrets")`), a random 24-byte nonce per seal, the connection's
//! name as associated data (a sealed secret moved to another connection's row does not open).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Result, StoreError};

pub(crate) const PURPOSE: &str = "replication-secrets";

/// hex(nonce ++ ciphertext) of `secret`, bound to `name`.
pub(crate) fn seal(key: &[u8; 32], name: &str, secret: &str) -> Result<String> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| StoreError::Internal(format!("random nonce: {e}")))?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: name.as_bytes(),
            },
        )
        .map_err(|_| StoreError::Internal("sealing a connection secret failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(hex::encode(out))
}

/// The secret [`seal`] sealed for `name`.
pub(crate) fn open(key: &[u8; 32], name: &str, sealed_hex: &str) -> Result<String> {
    let bytes = hex::decode(sealed_hex)
        .map_err(|_| StoreError::Corrupt(format!("connection {name}: sealed secret not hex")))?;
    if bytes.len() < 24 + 16 {
        return Err(StoreError::Corrupt(format!(
            "connection {name}: sealed secret too short"
        )));
    }
    let (nonce, ct) = bytes.split_at(24);
    let mut n = [0u8; 24];
    n.copy_from_slice(nonce);
    let plain = XChaCha20Poly1305::new(key.into())
        .decrypt(
            &XNonce::from(n),
            Payload {
                msg: ct,
                aad: name.as_bytes(),
            },
        )
        .map_err(|_| {
            StoreError::Corrupt(format!(
                "connection {name}: its secret does not open with this data directory's master \
                 key (add the connection again)"
            ))
        })?;
    String::from_utf8(plain)
        .map_err(|_| StoreError::Corrupt(format!("connection {name}: secret not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_its_key_and_name() {
        let k = [7u8; 32];
        let s = seal(&k, "site-b", "very secret").unwrap();
        assert!(!s.contains(&hex::encode("very secret")));
        assert_eq!(open(&k, "site-b", &s).unwrap(), "very secret");
        assert!(open(&k, "site-c", &s).is_err());
        assert!(open(&[8u8; 32], "site-b", &s).is_err());
        // Two seals of one secret differ (random nonces).
        assert_ne!(seal(&k, "site-b", "very secret").unwrap(), s);
    }
}
