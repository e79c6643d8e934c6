//! `master.key` wrapped by an operator secret (issue 23, decision 0045): a data directory (or a
//! backup) alone then holds no usable key — every S3 secret, NFS handle key and encryption key
//! is derived from the master key, so without the secret none of them can be had.
//!
//! The wrapped file is one line, `gatehouse-wrapped-v1:` ‖ base64(salt ‖ nonce ‖ sealed key),
//! the key sealed with XChaCha20-Poly1305 under HKDF-SHA256(secret, salt). The secret comes
//! from the environment (`GATEHOUSE_MASTER_SECRET`) or a file (`storage.master_secret_file`);
//! it must be at least 32 bytes (e.g. `openssl rand -hex 32`): it is not stretched, so a short
//! passphrase would be guessable.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The first bytes of a wrapped `master.key`.
pub const PREFIX: &str = "gatehouse-wrapped-v1:";
/// The environment variable the secret may come from.
pub const ENV: &str = "GATEHOUSE_MASTER_SECRET";
const MIN_SECRET: usize = 32;
const AAD: &[u8] = b"gatehouse master.key v1";

/// The operator's secret (never shown).
#[derive(Clone)]
pub struct OperatorSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for OperatorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorSecret(..)")
    }
}

impl OperatorSecret {
    /// A secret from its bytes (a trailing newline is not part of it).
    pub fn new(mut bytes: Vec<u8>) -> Result<OperatorSecret, String> {
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        let secret = OperatorSecret(Zeroizing::new(bytes));
        if secret.0.len() < MIN_SECRET {
            return Err(format!(
                "the operator secret is {} bytes; at least {MIN_SECRET} are needed (e.g. `openssl rand -hex 32`)",
                secret.0.len()
            ));
        }
        Ok(secret)
    }

    /// The secret given to this process: `GATEHOUSE_MASTER_SECRET`, else the file `file`
    /// (0600 or stricter), else none. Both at once is refused (which one would be meant?).
    pub fn given(file: Option<&std::path::Path>) -> Result<Option<OperatorSecret>, String> {
        let env = std::env::var_os(ENV).filter(|v| !v.is_empty());
        match (env, file) {
            (Some(_), Some(f)) => Err(format!(
                "both {ENV} and storage.master_secret_file ({}) are set: give one",
                f.display()
            )),
            (Some(v), None) => {
                use std::os::unix::ffi::OsStrExt;
                OperatorSecret::new(v.as_bytes().to_vec()).map(Some)
            }
            (None, Some(f)) => {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(f)
                    .map_err(|e| format!("master secret file {}: {e}", f.display()))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(format!(
                        "master secret file {} is readable by others: chmod 600 it",
                        f.display()
                    ));
                }
                let bytes = std::fs::read(f)
                    .map_err(|e| format!("master secret file {}: {e}", f.display()))?;
                OperatorSecret::new(bytes).map(Some)
            }
            (None, None) => Ok(None),
        }
    }

    fn cipher(&self, salt: &[u8]) -> XChaCha20Poly1305 {
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes are within HKDF-SHA256's output limit: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(salt), &self.0)
            .expand(b"gatehouse master.key wrap", &mut *key);
        XChaCha20Poly1305::new((&*key).into())
    }
}

/// Whether `text` (a `master.key` file's content) is wrapped.
pub fn is_wrapped(text: &str) -> bool {
    text.trim_ascii().starts_with(PREFIX)
}

/// The file content holding `key` wrapped by `secret`.
pub fn wrap(key: &[u8; 32], secret: &OperatorSecret) -> Result<Zeroizing<String>, String> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
    let sealed = secret
        .cipher(&salt)
        .encrypt(&XNonce::from(nonce), Payload { msg: key, aad: AAD })
        .map_err(|_| "sealing the master key failed".to_string())?;
    let mut raw = Vec::with_capacity(16 + 24 + sealed.len());
    raw.extend_from_slice(&salt);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&sealed);
    Ok(Zeroizing::new(format!(
        "{PREFIX}{}\n",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )))
}

/// The file content holding `key` as it is (64 hex characters and a newline).
pub fn plain(key: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(format!("{}\n", hex::encode(key)))
}

/// The key in wrapped file content `text`, with `secret`.
pub fn unwrap(text: &str, secret: &OperatorSecret) -> Result<Zeroizing<[u8; 32]>, String> {
    let body = text
        .trim_ascii()
        .strip_prefix(PREFIX)
        .ok_or("not a wrapped master key")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the wrapped master key is not base64")?;
    if raw.len() != 16 + 24 + 32 + 16 {
        return Err("the wrapped master key has the wrong length".into());
    }
    let (salt, rest) = raw.split_at(16);
    let (nonce, sealed) = rest.split_at(24);
    let mut n = [0u8; 24];
    n.copy_from_slice(nonce);
    let plain = Zeroizing::new(
        secret
            .cipher(salt)
            .decrypt(
                &XNonce::from(n),
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| {
                "the operator secret does not unwrap master.key (wrong secret, or a damaged file)"
                    .to_string()
            })?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&plain);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_open_with_their_secret_only() {
        let s =
            OperatorSecret::new(b"0123456789abcdef0123456789abcdef\n".to_vec()).expect("secret");
        assert!(OperatorSecret::new(b"short".to_vec()).is_err());
        let key = [9u8; 32];
        let text = wrap(&key, &s).expect("wrap");
        assert!(is_wrapped(&text));
        assert!(!text.contains(&hex::encode(key)));
        assert_eq!(*unwrap(&text, &s).expect("unwrap"), key);
        let other = OperatorSecret::new(vec![b'x'; 40]).expect("secret");
        assert!(
            unwrap(&text, &other)
                .unwrap_err()
                .contains("does not unwrap")
        );
        let mut damaged = text.to_string();
        damaged.replace_range(30..31, if &damaged[30..31] == "A" { "B" } else { "A" });
        assert!(unwrap(&damaged, &s).is_err());
    }
}
