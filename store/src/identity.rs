//! Identity crypto: users are Ed25519 public keys.
//!
//! Everything here is pure computation except the key files named in the API
//! ([`Keypair::write_files`], [`Keypair::load`], [`MasterKey::load_or_create`]).
//!
//! - [`PublicKey`]: a validated Ed25519 point; parses OpenSSH public lines, 32 raw bytes or 64 hex
//!   characters. Its [`user_id`](PublicKey::user_id) is the start of the `ssh-keygen -l -E sha256`
//!   fingerprint, so a user can find their id from the key they already have.
//! - [`Keypair`]: a signing key; reads and writes unencrypted OpenSSH private key files.
//! - [`MasterKey`]: the server secret from which service users' keypairs and every user's S3
//!   secret are derived (HKDF-SHA256). Nothing derived from it is ever stored.
//! - [`join_message`]: what a joining client signs.
//!
//! OpenSSH public lines and private key files are parsed by the `ssh-key` crate, and private key
//! files are encoded by it; the public blob and line (a fixed 51-byte layout) are written here and
//! tested byte for byte against `ssh-key` and `ssh-keygen`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

/// The SSH algorithm name of gatehouse user keys.
const ED25519: &str = "ssh-ed25519";
/// An ssh-ed25519 blob: string "ssh-ed25519" (4 + 11 bytes), string key (4 + 32 bytes).
const ED25519_BLOB_LEN: usize = 51;
/// The first 19 bytes of every ssh-ed25519 blob.
const ED25519_BLOB_HEADER: [u8; 19] = *b"\0\0\0\x0bssh-ed25519\0\0\0\x20";
/// Private key and master key files are never legitimately bigger than this.
const MAX_KEY_FILE: u64 = 64 << 10;

/// Why a key could not be parsed, loaded, written or verified. Messages name what to do.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key is of another SSH key type (`ssh-rsa`, `ecdsa-sha2-nistp256`, …).
    #[error(
        "{0} keys are not supported; gatehouse users are ssh-ed25519 keys (ssh-keygen -t ed25519)"
    )]
    UnsupportedKeyType(String),
    /// An OpenSSH certificate was given instead of a plain public key.
    #[error(
        "OpenSSH certificates ({0}) are not supported; give the plain ssh-ed25519 public key (the .pub file)"
    )]
    Certificate(String),
    /// The base64 field of an OpenSSH public key line does not decode.
    #[error("public key is not valid base64 ({0}); paste the whole line of the .pub file")]
    InvalidBase64(String),
    /// A key, seed or signature of the wrong size.
    #[error("expected {expected} {what}, got {got}")]
    WrongLength {
        /// What was measured, with its unit: "bytes of raw public key", "hex characters", ….
        what: &'static str,
        /// The one accepted length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The SSH key blob goes on after the key.
    #[error(
        "public key data has {0} trailing bytes after the ssh-ed25519 key; the line is corrupt"
    )]
    TrailingBytes(usize),
    /// Input in none of the accepted forms.
    #[error(
        "unrecognized public key ({0} bytes): expected an OpenSSH line `ssh-ed25519 AAAA… [comment]`, \
         64 hex characters, or exactly 32 raw bytes"
    )]
    UnrecognizedFormat(usize),
    /// The line or blob is structurally wrong in another way.
    #[error("malformed OpenSSH public key: {0}")]
    MalformedPublicKey(String),
    /// 32 bytes that do not encode a point of the Ed25519 curve (canonically).
    #[error("public key is not a valid Ed25519 point")]
    InvalidPoint,
    /// A small-order point: no signature by it verifies strictly, so it cannot be a user.
    #[error("public key is a weak (small-order) Ed25519 point and cannot identify a user")]
    WeakKey,
    /// The signature does not verify under the key (or is malformed).
    #[error("signature verification failed: the message was not signed by this key")]
    BadSignature,
    /// The private key file is passphrase-protected.
    #[error(
        "encrypted private keys are not supported: {0}; use a key without a passphrase \
         (`ssh-keygen -t ed25519 -N ''`, or remove it from a copy with `ssh-keygen -p -N '' -f COPY`)"
    )]
    EncryptedPrivateKey(String),
    /// The private key is of another type than ssh-ed25519.
    #[error("private key is a {0} key; gatehouse needs an ssh-ed25519 key (ssh-keygen -t ed25519)")]
    UnsupportedPrivateKeyType(String),
    /// The text is not an OpenSSH private key, or it is corrupt.
    #[error("malformed OpenSSH private key: {0}")]
    MalformedPrivateKey(String),
    /// A secret key file that group or others may access.
    #[error(
        "{} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file that would be overwritten.
    #[error("{} already exists; refusing to overwrite it", .0.display())]
    AlreadyExists(PathBuf),
    /// The master key file exists but does not hold a key. It is never replaced automatically:
    /// a new master key would change every service user and every S3 secret.
    #[error(
        "master key file {} is malformed ({reason}); it was left as is: restore it from a backup \
         (a new master key changes every S3 secret and service user)",
        path.display()
    )]
    MalformedMasterKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    /// `master.key` and the operator secret (decision 0045) do not go together: wrapped without
    /// a secret, a secret that does not open it, or a secret given for a key not wrapped.
    #[error("{}: {reason}", path.display())]
    MasterKeyWrap {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A file operation failed; the message names the file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, IdentityError>;

/// An io::Error that names the file it happened on, keeping its kind.
fn io_at(path: &Path, what: &str, e: std::io::Error) -> IdentityError {
    IdentityError::Io(std::io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

/// A user: a validated (canonical, not small-order) Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Accepts: an OpenSSH public key line `ssh-ed25519 AAAA… [comment]` (surrounding whitespace
    /// ok), exactly 32 raw bytes, or 64 hex chars. Rejects other key types by name, bad base64,
    /// wrong lengths, blobs with trailing bytes, and bytes that are not a valid Ed25519 point.
    pub fn parse(input: &[u8]) -> Result<PublicKey> {
        if let Ok(raw) = <&[u8; 32]>::try_from(input) {
            return PublicKey::from_bytes(raw);
        }
        let text = input.trim_ascii();
        if !text.is_empty() && text.iter().all(u8::is_ascii_hexdigit) {
            let mut raw = [0u8; 32];
            if text.len() != 64 {
                return Err(IdentityError::WrongLength {
                    what: "hex characters",
                    expected: 64,
                    got: text.len(),
                });
            }
            hex::decode_to_slice(text, &mut raw)
                .map_err(|e| IdentityError::MalformedPublicKey(e.to_string()))?;
            return PublicKey::from_bytes(&raw);
        }
        if let Ok(line) = std::str::from_utf8(text) {
            let mut fields = line.split_ascii_whitespace();
            if let Some(algorithm) = fields.next().filter(|a| is_algorithm_name(a)) {
                match fields.next() {
                    Some(data)
                        if looks_like_ssh_key_type(algorithm) || data.starts_with("AAAA") =>
                    {
                        return PublicKey::parse_openssh_line(algorithm, data);
                    }
                    None if algorithm == ED25519 => {
                        return Err(IdentityError::MalformedPublicKey(
                            "the base64 key data after ssh-ed25519 is missing".into(),
                        ));
                    }
                    // "ssh-rsa" alone.
                    None if looks_like_ssh_key_type(algorithm) => {
                        return Err(unsupported_type(algorithm));
                    }
                    _ => {}
                }
            }
        }
        if input.len() < 64 && !input.is_ascii() {
            return Err(IdentityError::WrongLength {
                what: "bytes of raw public key",
                expected: 32,
                got: input.len(),
            });
        }
        Err(IdentityError::UnrecognizedFormat(input.len()))
    }

    /// `algorithm data` of an OpenSSH line, the comment already dropped.
    fn parse_openssh_line(algorithm: &str, data: &str) -> Result<PublicKey> {
        if algorithm != ED25519 {
            return Err(unsupported_type(algorithm));
        }
        // Our own decode first, for a precise message; ssh-key then parses the line for real.
        let blob = BASE64
            .decode(data)
            .map_err(|e| IdentityError::InvalidBase64(e.to_string()))?;
        let parsed = ssh_key::PublicKey::from_openssh(&format!("{algorithm} {data}")).map_err(
            |e| match e {
                ssh_key::Error::TrailingData { remaining } => {
                    IdentityError::TrailingBytes(remaining)
                }
                ssh_key::Error::AlgorithmUnknown => IdentityError::MalformedPublicKey(format!(
                    "the line says ssh-ed25519 but its key data is {}",
                    blob_algorithm(&blob).unwrap_or_else(|| "something else".into())
                )),
                ssh_key::Error::Encoding(_)
                    if blob.len() > ED25519_BLOB_LEN && blob.starts_with(&ED25519_BLOB_HEADER) =>
                {
                    IdentityError::TrailingBytes(blob.len() - ED25519_BLOB_LEN)
                }
                ssh_key::Error::Encoding(e) => IdentityError::MalformedPublicKey(format!(
                    "the key data is truncated or corrupt ({e})"
                )),
                other => IdentityError::MalformedPublicKey(other.to_string()),
            },
        )?;
        match parsed.key_data().ed25519() {
            Some(k) => PublicKey::from_bytes(&k.0),
            None => Err(unsupported_type(parsed.algorithm().as_str())),
        }
    }

    /// The key from its 32 bytes; rejects non-points, non-canonical encodings and
    /// small-order points.
    pub fn from_bytes(b: &[u8; 32]) -> Result<PublicKey> {
        let vk = VerifyingKey::from_bytes(b).map_err(|_| IdentityError::InvalidPoint)?;
        // One point, one encoding, one user id.
        if vk.to_edwards().compress().to_bytes() != *b {
            return Err(IdentityError::InvalidPoint);
        }
        if vk.is_weak() {
            return Err(IdentityError::WeakKey);
        }
        Ok(PublicKey(*b))
    }

    /// The 32 bytes of the key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SSH wire-format blob: string "ssh-ed25519", string key (the bytes ssh-keygen fingerprints).
    pub fn blob(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ED25519_BLOB_LEN);
        b.extend_from_slice(&ED25519_BLOB_HEADER);
        b.extend_from_slice(&self.0);
        b
    }

    /// `ssh-ed25519 AAAA… comment` (no comment: no trailing space). Control characters in the
    /// comment become spaces so the result is always one line.
    pub fn to_openssh(&self, comment: &str) -> String {
        let mut line = format!("{ED25519} {}", BASE64.encode(self.blob()));
        let comment: String = comment
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let comment = comment.trim();
        if !comment.is_empty() {
            line.push(' ');
            line.push_str(comment);
        }
        line
    }

    /// User id: hex of the first 8 bytes of SHA-256(blob) = the first 16 hex digits of the
    /// `ssh-keygen -l -E sha256` fingerprint, base64-decoded.
    pub fn user_id(&self) -> String {
        let digest = Sha256::digest(self.blob());
        hex::encode(&digest[..8])
    }

    /// Strict Ed25519 verification (verify_strict) of a 64-byte signature over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        let sig: &[u8; 64] = sig.try_into().map_err(|_| IdentityError::WrongLength {
            what: "bytes of Ed25519 signature",
            expected: 64,
            got: sig.len(),
        })?;
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| IdentityError::InvalidPoint)?;
        vk.verify_strict(msg, &Signature::from_bytes(sig))
            .map_err(|_| IdentityError::BadSignature)
    }
}

/// First whitespace-separated field of a line.
fn fields_first(line: &str) -> Option<&str> {
    line.split_ascii_whitespace().next()
}

/// The character set of SSH algorithm names (RFC 4251 §6, plus `@` domains).
fn is_algorithm_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// A lone word that is clearly an SSH key type, so it deserves the "not supported" message.
fn looks_like_ssh_key_type(s: &str) -> bool {
    is_algorithm_name(s)
        && (s.starts_with("ssh-") || s.starts_with("ecdsa-") || s.starts_with("sk-"))
}

fn unsupported_type(algorithm: &str) -> IdentityError {
    if algorithm.contains("-cert-v") {
        IdentityError::Certificate(algorithm.to_string())
    } else {
        IdentityError::UnsupportedKeyType(algorithm.to_string())
    }
}

/// The algorithm name at the start of an SSH blob, if it has a readable one.
fn blob_algorithm(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()?;
    is_algorithm_name(name).then(|| name.to_string())
}

/// A user's or service's signing key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("user_id", &self.public().user_id())
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// A new keypair from 32 bytes of operating-system randomness.
    pub fn generate() -> Result<Keypair> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
        let kp = Keypair::from_seed(seed);
        seed.zeroize();
        Ok(kp)
    }

    /// The keypair of a 32-byte Ed25519 seed (the "private key" of RFC 8032).
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        // A key derived from a seed is a canonical, prime-order point.
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// Unencrypted OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----"), readable by
    /// `ssh-keygen -y -f`. LF line endings, ending with a newline.
    pub fn to_openssh_private(&self, comment: &str) -> Result<String> {
        let keypair = ssh_key::private::Ed25519Keypair {
            public: ssh_key::public::Ed25519PublicKey(self.signing.verifying_key().to_bytes()),
            private: ssh_key::private::Ed25519PrivateKey::from_bytes(&self.signing.to_bytes()),
        };
        let key =
            ssh_key::PrivateKey::new(ssh_key::private::KeypairData::Ed25519(keypair), comment)
                .map_err(|e| IdentityError::MalformedPrivateKey(e.to_string()))?;
        let text = key
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| IdentityError::MalformedPrivateKey(e.to_string()))?;
        Ok(text.as_str().to_owned())
    }

    /// Parses an unencrypted OpenSSH ed25519 private key; encrypted or other types -> clear error.
    pub fn parse_openssh_private(text: &str) -> Result<Keypair> {
        let text = text.trim();
        if !text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return Err(IdentityError::MalformedPrivateKey(
                not_openssh_private_hint(text),
            ));
        }
        let key = ssh_key::PrivateKey::from_openssh(text).map_err(|e| match e {
            ssh_key::Error::Encrypted => {
                IdentityError::EncryptedPrivateKey("the key has a passphrase".into())
            }
            other => match private_key_algorithm(text) {
                // A type this build of ssh-key cannot decode (ecdsa-sha2-*, sk-*, …).
                Some(alg) if alg != ED25519 => IdentityError::UnsupportedPrivateKeyType(alg),
                _ => IdentityError::MalformedPrivateKey(other.to_string()),
            },
        })?;
        if key.is_encrypted() {
            return Err(IdentityError::EncryptedPrivateKey(format!(
                "the key is protected with {} and a passphrase",
                key.cipher().as_str()
            )));
        }
        let Some(pair) = key.key_data().ed25519() else {
            return Err(IdentityError::UnsupportedPrivateKeyType(
                key.algorithm().as_str().to_string(),
            ));
        };
        let kp = Keypair::from_seed(pair.private.to_bytes());
        if kp.public().0 != pair.public.0 {
            return Err(IdentityError::MalformedPrivateKey(
                "the public key in the file does not belong to its private key".into(),
            ));
        }
        Ok(kp)
    }

    /// Writes `path` (mode 0600, refuses to overwrite an existing file) and `path.pub` (0644),
    /// fsyncs both and their directory. If `path.pub` already exists nothing is written (a stale
    /// .pub would name another key).
    pub fn write_files(&self, path: &Path, comment: &str) -> Result<()> {
        let pub_path = pub_path_of(path);
        for p in [path, pub_path.as_path()] {
            if p.symlink_metadata().is_ok() {
                return Err(IdentityError::AlreadyExists(p.to_path_buf()));
            }
        }
        let private = Zeroizing::new(self.to_openssh_private(comment)?);
        let public = format!("{}\n", self.public().to_openssh(comment));

        write_new_file(path, private.as_bytes(), 0o600)?;
        if let Err(e) = write_new_file(&pub_path, public.as_bytes(), 0o644) {
            // Do not leave a private key whose .pub could not be written next to it.
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        sync_parent_dir(path)
    }

    /// Reads a private key file; refuses files accessible by group/others (like ssh does) with a
    /// clear error.
    pub fn load(path: &Path) -> Result<Keypair> {
        let file = File::open(path).map_err(|e| io_at(path, "opening private key", e))?;
        let text = read_secret_file(&file, path, "reading private key")?;
        Keypair::parse_openssh_private(&text)
    }
}

/// The key type named in an OpenSSH private key file's public section, read without ssh-key:
/// "openssh-key-v1\0", string cipher, string kdf, string kdf options, u32 count, string blob.
fn private_key_algorithm(pem: &str) -> Option<String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let bin = BASE64.decode(body).ok()?;
    let mut rest = bin.strip_prefix(b"openssh-key-v1\0")?;
    for _ in 0..3 {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        rest = rest.get(4usize.checked_add(len)?..)?;
    }
    // u32 key count, then the u32 length of the public blob.
    blob_algorithm(rest.get(8..)?)
}

/// `key` → `key.pub`.
fn pub_path_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// What the text is, when it is not an OpenSSH private key.
fn not_openssh_private_hint(text: &str) -> String {
    if let Some(label) = text
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label)
    {
        let label: String = label.chars().take(40).collect();
        return format!(
            "found a PEM `{label}`, not an OpenSSH private key; gatehouse reads the OpenSSH format \
             of `ssh-keygen -t ed25519`"
        );
    }
    if fields_first(text).is_some_and(looks_like_ssh_key_type) {
        return "this is a public key; give the private key file (the one without .pub)".into();
    }
    "expected a file starting with -----BEGIN OPENSSH PRIVATE KEY-----".into()
}

/// Refuses group/other access like ssh, then reads at most [`MAX_KEY_FILE`] bytes.
fn read_secret_file(file: &File, path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let meta = file.metadata().map_err(|e| io_at(path, what, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if !meta.is_file() {
        return Err(io_at(
            path,
            what,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(|e| io_at(path, what, e))?;
    Ok(text)
}

/// Creates `path` (must not exist) with `mode`, writes `data`, fsyncs.
fn write_new_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                IdentityError::AlreadyExists(path.to_path_buf())
            } else {
                io_at(path, "creating", e)
            }
        })?;
    let written = (|| {
        // The umask may have narrowed `mode`; set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(io_at(path, "writing", e));
    }
    Ok(())
}

/// fsyncs the directory holding `path`, so a new name in it is durable.
fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_at(dir, "syncing directory", e))
}

/// HKDF-SHA256 into a fixed-size output.
fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    let mut okm = [0u8; N];
    let info = info.concat();
    // N ≤ 255 × 32 for every caller here, the only way expand can fail.
    if Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(&info, &mut okm)
        .is_err()
    {
        unreachable!("HKDF-SHA256 output of {N} bytes is within 255 blocks");
    }
    okm
}

/// The server's master key: 32 random bytes stored as 64 hex chars + newline in a 0600 file.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// RFC 4648 base32 alphabet (32 symbols, 5 bits each).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Standard base64 alphabet (64 symbols, 6 bits each).
const BASE64_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl MasterKey {
    /// Loads the file, or creates it (create_new, 0600, fsync file and directory) if missing.
    /// Malformed content or group/other-accessible mode -> error (never silently replaced).
    ///
    /// A new key is written to a temporary file and hard-linked into place, so `path` never
    /// exists with partial content, and a concurrent creator loses cleanly (then loads).
    pub fn load_or_create(path: &Path) -> Result<MasterKey> {
        MasterKey::load_or_create_with(path, None)
    }

    /// [`MasterKey::load_or_create`] with the operator's secret (decision 0045): a wrapped
    /// file needs it, a new one is created wrapped by it, and a file not wrapped is refused
    /// while one is given (`gatehouse master-key wrap` wraps it).
    pub fn load_or_create_with(
        path: &Path,
        secret: Option<&crate::master_wrap::OperatorSecret>,
    ) -> Result<MasterKey> {
        let wrap_error = |reason: String| IdentityError::MasterKeyWrap {
            path: path.to_path_buf(),
            reason,
        };
        match File::open(path) {
            Ok(f) => {
                let text = read_secret_file(&f, path, "reading master key")?;
                return match (crate::master_wrap::is_wrapped(&text), secret) {
                    (true, Some(s)) => crate::master_wrap::unwrap(&text, s)
                        .map(|k| MasterKey(*k))
                        .map_err(wrap_error),
                    (true, None) => Err(wrap_error(format!(
                        "the master key is wrapped by an operator secret: give it \
                         ({} or storage.master_secret_file)",
                        crate::master_wrap::ENV
                    ))),
                    (false, Some(_)) => Err(wrap_error(
                        "an operator secret is given but the master key is not wrapped: run \
                         `gatehouse master-key wrap --data-dir DIR` (with the same secret) first, \
                         or start without the secret"
                            .into(),
                    )),
                    (false, None) => MasterKey::parse(&text, path),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(path, "opening master key", e)),
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| IdentityError::Random(e.to_string()))?;
        let key = MasterKey(raw);
        raw.zeroize();
        let text = match secret {
            Some(s) => crate::master_wrap::wrap(&key.0, s).map_err(wrap_error)?,
            None => Zeroizing::new(format!("{}\n", hex::encode(key.0))),
        };

        let mut tmp_name = path.as_os_str().to_owned();
        let mut tag = [0u8; 6];
        getrandom::fill(&mut tag).map_err(|e| IdentityError::Random(e.to_string()))?;
        tmp_name.push(format!(".tmp-{}", hex::encode(tag)));
        let tmp = PathBuf::from(tmp_name);
        write_new_file(&tmp, text.as_bytes(), 0o600)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent_dir(path)?;
                Ok(key)
            }
            // Someone else created it first: theirs is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                MasterKey::load_or_create_with(path, secret)
            }
            Err(e) => Err(io_at(path, "creating master key", e)),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<MasterKey> {
        let malformed = |reason: String| IdentityError::MalformedMasterKey {
            path: path.to_path_buf(),
            reason,
        };
        let body = text.trim_ascii();
        if body.is_empty() {
            return Err(malformed("the file is empty".into()));
        }
        if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(format!(
                "expected 64 hex characters and a newline, found {} bytes",
                text.len()
            )));
        }
        let mut raw = [0u8; 32];
        hex::decode_to_slice(body, &mut raw).map_err(|e| malformed(e.to_string()))?;
        let key = MasterKey(raw);
        raw.zeroize();
        Ok(key)
    }

    /// The secret part of a user's NFS mount token for credential generation `generation`:
    /// HKDF-SHA256(ikm = master, salt = "gatehouse-nfs-mount-token", info = user id ‖ gen).
    /// Rotating the user's credentials changes it, which revokes the old token.
    pub fn mount_token_mac(&self, user_id: &str, generation: u32) -> [u8; 12] {
        hkdf::<12>(
            b"gatehouse-nfs-mount-token",
            &self.0,
            &[user_id.as_bytes(), &generation.to_be_bytes()],
        )
    }

    /// The key's bytes (`gatehouse master-key` rewrites the file with them).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A master key from its bytes (tests, tools).
    pub fn from_bytes(b: [u8; 32]) -> MasterKey {
        MasterKey(b)
    }

    /// A 32-byte subkey for one named purpose (`"nfs-handle"`, …):
    /// HKDF-SHA256(ikm = master, salt = "gatehouse-subkey", info = purpose). Distinct purposes
    /// get independent keys, and none of them reveals the master key.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        hkdf::<32>(b"gatehouse-subkey", &self.0, &[purpose.as_bytes()])
    }

    /// Keypair of service user `svc:<name>`:
    /// seed = HKDF-SHA256(ikm = master, salt = "gatehouse-service-user", info = "svc:" + name).
    pub fn service_keypair(&self, name: &str) -> Keypair {
        let seed = hkdf::<32>(
            b"gatehouse-service-user",
            &self.0,
            &[b"svc:", name.as_bytes()],
        );
        Keypair::from_seed(seed)
    }

    /// S3 credentials `(access key, secret key)` of a user at `generation` (rotation bumps it):
    /// access key = 20 chars of [A-Z2-7] from
    /// HKDF-SHA256(ikm = blob, salt = "gatehouse", info = "s3-access-key" ‖ generation as u32 BE);
    /// secret = 40 chars of [A-Za-z0-9+/] from
    /// HKDF-SHA256(ikm = server_secret ‖ blob, salt = "gatehouse", info = "s3-secret-key" ‖ generation BE),
    /// where server_secret = HKDF-SHA256(ikm = master, salt = "gatehouse", info = "s3-server-secret").
    ///
    /// Each character takes one output byte's low 5 (access key) or 6 (secret) bits: 32 and 64
    /// divide 256, so every character is uniform (no modulo bias); 100 and 240 bits in all. The
    /// access key depends only on the public key, the secret also on the master key.
    pub fn s3_credentials(&self, pk: &PublicKey, generation: u32) -> (String, String) {
        let blob = pk.blob();
        let gen_be = generation.to_be_bytes();

        let ak_bytes = hkdf::<20>(b"gatehouse", &blob, &[b"s3-access-key", &gen_be]);
        let access_key: String = ak_bytes
            .iter()
            .map(|b| BASE32[usize::from(b & 0x1f)] as char)
            .collect();

        let mut server_secret = hkdf::<32>(b"gatehouse", &self.0, &[b"s3-server-secret"]);
        let mut ikm = [server_secret.as_slice(), &blob].concat();
        let mut sk_bytes = hkdf::<40>(b"gatehouse", &ikm, &[b"s3-secret-key", &gen_be]);
        let secret: String = sk_bytes
            .iter()
            .map(|b| BASE64_CHARS[usize::from(b & 0x3f)] as char)
            .collect();
        server_secret.zeroize();
        ikm.zeroize();
        sk_bytes.zeroize();
        (access_key, secret)
    }
}

/// The message a joining client signs: b"gatehouse-join-v1\0" ‖ nonce ‖ b"\0" ‖ name ‖ b"\0" ‖ blob.
///
/// Unambiguous as long as `nonce` and `name` contain no NUL (hex nonces and validated names
/// do not).
pub fn join_message(nonce: &str, name: &str, pk: &PublicKey) -> Vec<u8> {
    let blob = pk.blob();
    let mut m = Vec::with_capacity(18 + nonce.len() + 1 + name.len() + 1 + blob.len());
    m.extend_from_slice(b"gatehouse-join-v1\0");
    m.extend_from_slice(nonce.as_bytes());
    m.push(0);
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    m.extend_from_slice(&blob);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every key below is a throwaway test fixture made for these tests and used nowhere else.

    /// `ssh-keygen -q -t ed25519 -N '' -C fixture@gatehouse -f k1` (OpenSSH 9.x).
    const FIXTURE_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMVcJeNsDbhdGep/5l9rpkxy1rJOaHV7MgIieBKnTe+e fixture@gatehouse";
    const FIXTURE_PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDFXCXjbA24XRnqf+Zfa6ZMctayTmh1ezICIngSp03vngAAAJjUPwdy1D8H
cgAAAAtzc2gtZWQyNTUxOQAAACDFXCXjbA24XRnqf+Zfa6ZMctayTmh1ezICIngSp03vng
AAAEDpa+ONRwd8z5Te6dEdga4rielBFPgkO2G9zjUR1P72NcVcJeNsDbhdGep/5l9rpkxy
1rJOaHV7MgIieBKnTe+eAAAAEWZpeHR1cmVAZ2F0ZWhvdXNlAQIDBA==
-----END OPENSSH PRIVATE KEY-----
";
    /// `ssh-keygen -l -E sha256 -f k1.pub`:
    /// `256 SHA256:PHddaLFywbbEB/NfxA5O7oErstL11L7JLHse5PsB5M8 fixture@gatehouse (ED25519)`,
    /// whose first 8 bytes in hex are:
    const FIXTURE_USER_ID: &str = "3c775d68b172c1b6";
    const FIXTURE_FINGERPRINT: &str = "PHddaLFywbbEB/NfxA5O7oErstL11L7JLHse5PsB5M8";

    /// `ssh-keygen -t ed25519 -N hunter2 -C enc@gatehouse`.
    const ENCRYPTED_PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABD/oNGE9z
kUMGhC/bG5CPG2AAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIEjR7ZsfOQQbZSTu
R48PcZSSpSdGWnxm2s4Gh4svvD3fAAAAkAy0OJRD9/8hq/2PaLVZx9BQhpghr8uAPUyNPf
IddsP1Xs3lrZoQ2YQtdp4SUfDfGJzrjaIMReUsMXO47sro57hIQLEFzM1HHwR53BOUZJVR
QAvy3gAC+N4jpKAyiQVSyVSROsFMOT7OaMm9Vrh11aiFpkg2o4TlP1r7W8nVV7A22bgZR/
ucHjJuAQ/izfvPHg==
-----END OPENSSH PRIVATE KEY-----
";
    const ECDSA_PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS
1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQTWpRyX8SjMuwfKyMAYz7d4lw7GxEVl
mI6+bURgo1H+aMZaQq9tpHrjhsTAZrRjoLvwCdwvPmathbwse91T6u9wAAAAoERoB35EaA
d+AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNalHJfxKMy7B8rI
wBjPt3iXDsbERWWYjr5tRGCjUf5oxlpCr22keuOGxMBmtGOgu/AJ3C8+Zq2FvCx73VPq73
AAAAAhALXoDpkoMCpiwRtjgLhpdcSkF+FJS+w4aW1y9WkQVZT2AAAAAmVjAQIDBAU=
-----END OPENSSH PRIVATE KEY-----
";
    const RSA_PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAlwAAAAdzc2gtcn
NhAAAAAwEAAQAAAIEAoSlGuvTRoa3WzfFX8vUZ8hAXyLnYyVqiuMqPyLGOndEQlxyzg6RE
E4iAz+5w5X7U6DtQoQ7PBvjPWGYxzrtP7KkzxonWXBfNMZWfNCM8TkhYKep2eD6g9aP72U
QQN7mbDoZ7UnY7HVyiz7zEcgA52cajERtAb1aMtHo7V82ltLcAAAIAnlvCcZ5bwnEAAAAH
c3NoLXJzYQAAAIEAoSlGuvTRoa3WzfFX8vUZ8hAXyLnYyVqiuMqPyLGOndEQlxyzg6REE4
iAz+5w5X7U6DtQoQ7PBvjPWGYxzrtP7KkzxonWXBfNMZWfNCM8TkhYKep2eD6g9aP72UQQ
N7mbDoZ7UnY7HVyiz7zEcgA52cajERtAb1aMtHo7V82ltLcAAAADAQABAAAAgQCZ9+lPLB
4rLP4PewffYjMLhDx01Lk8hY74pO2Be8EZHWeQNyd6GTHAx6TpApBxcR7PT/vUI2W+726I
sfnb3DCaEWA6br30gi9B2w9B29VMvtCQ4SSRp6tdq0VX8ZEWtsHWW5s7R82Iooat/+Ekkf
a+1raAcXZvcsbOxRLXSmDVwQAAAEEAsfOHQcrn/SsjLXPaNmrweVdKFvXSCGsPCMy3L+rq
HyBIVy3HBERx5+x55p0rknP0ScYT9+Z09qbaebTZGnrEhgAAAEEAyzFjJOBdGulqX1XLv4
KbquZou8TcSAeyFpKiM1jaDplMXMiday0xn6QQqR9v+V19MpbjS7lNfxTKswUVdTeE3wAA
AEEAywt7dNLJltZiLf2I23pWV2RP864dPwNZ7mHLFGiAnlzIu0fyxQ2PK6MsoFj07isCEM
NSfo9z+FDV5C+Vv9czKQAAAANyc2EBAgMEBQY=
-----END OPENSSH PRIVATE KEY-----
";
    const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQChKUa69NGhrdbN8Vfy9RnyEBfIudjJWqK4yo/IsY6d0RCXHLODpEQTiIDP7nDlftToO1ChDs8G+M9YZjHOu0/sqTPGidZcF80xlZ80IzxOSFgp6nZ4PqD1o/vZRBA3uZsOhntSdjsdXKLPvMRyADnZxqMRG0BvVoy0ejtXzaW0tw== rsa";
    const ECDSA_PUB: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNalHJfxKMy7B8rIwBjPt3iXDsbERWWYjr5tRGCjUf5oxlpCr22keuOGxMBmtGOgu/AJ3C8+Zq2FvCx73VPq73A= ec";

    fn fixture() -> PublicKey {
        PublicKey::parse(FIXTURE_PUB.as_bytes()).unwrap()
    }

    fn fixture_blob() -> Vec<u8> {
        BASE64
            .decode(FIXTURE_PUB.split(' ').nth(1).unwrap())
            .unwrap()
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn user_id_matches_ssh_keygen_fingerprint() {
        let pk = fixture();
        assert_eq!(pk.user_id(), FIXTURE_USER_ID);
        // Recomputed independently: SHA-256 of the decoded line's blob.
        let blob = fixture_blob();
        assert_eq!(pk.blob(), blob);
        assert_eq!(hex::encode(&Sha256::digest(&blob)[..8]), FIXTURE_USER_ID);
        // And from the printed fingerprint (unpadded base64).
        let fp = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(FIXTURE_FINGERPRINT)
            .unwrap();
        assert_eq!(hex::encode(&fp[..8]), FIXTURE_USER_ID);
        assert_eq!(pk.user_id().len(), 16);
    }

    #[test]
    fn blob_and_line_match_ssh_key_encoder() {
        let pk = fixture();
        let theirs = ssh_key::PublicKey::new(
            ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(*pk.as_bytes())),
            "fixture@gatehouse",
        );
        assert_eq!(pk.blob(), theirs.to_bytes().unwrap());
        assert_eq!(
            pk.to_openssh("fixture@gatehouse"),
            theirs.to_openssh().unwrap()
        );
        assert_eq!(pk.to_openssh("fixture@gatehouse"), FIXTURE_PUB);
        let bare = pk.to_openssh("");
        assert_eq!(bare.split(' ').count(), 2);
        assert_eq!(PublicKey::parse(bare.as_bytes()).unwrap(), pk);
        let weird = pk.to_openssh("two\nlines\r");
        assert!(!weird.contains('\n') && !weird.contains('\r'));
        assert_eq!(PublicKey::parse(weird.as_bytes()).unwrap(), pk);
    }

    #[test]
    fn parse_accepts_line_raw_and_hex() {
        let pk = fixture();
        let raw = *pk.as_bytes();
        assert_eq!(PublicKey::parse(&raw).unwrap(), pk);
        assert_eq!(PublicKey::from_bytes(&raw).unwrap(), pk);
        let hx = hex::encode(raw);
        assert_eq!(PublicKey::parse(hx.as_bytes()).unwrap(), pk);
        assert_eq!(PublicKey::parse(hx.to_uppercase().as_bytes()).unwrap(), pk);
        assert_eq!(
            PublicKey::parse(format!("  {hx}\n").as_bytes()).unwrap(),
            pk
        );
        let padded = format!("\n\t {FIXTURE_PUB}  \r\n");
        assert_eq!(PublicKey::parse(padded.as_bytes()).unwrap(), pk);
        let no_comment = FIXTURE_PUB.rsplit_once(' ').unwrap().0;
        assert_eq!(PublicKey::parse(no_comment.as_bytes()).unwrap(), pk);
        let long_comment = format!("{no_comment} a comment with spaces");
        assert_eq!(PublicKey::parse(long_comment.as_bytes()).unwrap(), pk);
        let tabs = FIXTURE_PUB.replace(' ', "\t");
        assert_eq!(PublicKey::parse(tabs.as_bytes()).unwrap(), pk);
    }

    #[test]
    fn parse_rejects_other_key_types_by_name() {
        let e = PublicKey::parse(RSA_PUB.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, IdentityError::UnsupportedKeyType(t) if t == "ssh-rsa"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "ssh-rsa keys are not supported; gatehouse users are ssh-ed25519 keys (ssh-keygen -t ed25519)"
        );
        let e = PublicKey::parse(ECDSA_PUB.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, IdentityError::UnsupportedKeyType(t) if t == "ecdsa-sha2-nistp256"),
            "{e:?}"
        );
        let e = PublicKey::parse(b"ssh-rsa").unwrap_err();
        assert!(matches!(e, IdentityError::UnsupportedKeyType(_)), "{e:?}");
        let cert = FIXTURE_PUB.replace("ssh-ed25519 ", "ssh-ed25519-cert-v01@openssh.com ");
        let e = PublicKey::parse(cert.as_bytes()).unwrap_err();
        assert!(matches!(e, IdentityError::Certificate(_)), "{e:?}");
        // An RSA blob behind an ssh-ed25519 label.
        let lying = format!("ssh-ed25519 {}", RSA_PUB.split(' ').nth(1).unwrap());
        let e = PublicKey::parse(lying.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("ssh-rsa"), "{e}");
    }

    #[test]
    fn parse_rejects_bad_base64_lengths_trailing_and_garbage() {
        let b64 = FIXTURE_PUB.split(' ').nth(1).unwrap();
        // Truncated base64 (not a multiple of 4).
        let e = PublicKey::parse(format!("ssh-ed25519 {}", &b64[..b64.len() - 3]).as_bytes())
            .unwrap_err();
        assert!(matches!(e, IdentityError::InvalidBase64(_)), "{e:?}");
        assert!(e.to_string().starts_with("public key is not valid base64"));
        // Valid base64 of a truncated blob.
        let blob = fixture_blob();
        let short = format!("ssh-ed25519 {}", BASE64.encode(&blob[..40]));
        let e = PublicKey::parse(short.as_bytes()).unwrap_err();
        assert!(matches!(e, IdentityError::MalformedPublicKey(_)), "{e:?}");
        // Characters outside base64.
        let e = PublicKey::parse(b"ssh-ed25519 AAAA*AAA").unwrap_err();
        assert!(matches!(e, IdentityError::InvalidBase64(_)), "{e:?}");
        // Missing data.
        let e = PublicKey::parse(b"ssh-ed25519").unwrap_err();
        assert!(matches!(e, IdentityError::MalformedPublicKey(_)), "{e:?}");
        // Blob with trailing bytes.
        let mut long = blob.clone();
        long.extend_from_slice(&[0, 0, 0, 1]);
        let e = PublicKey::parse(format!("ssh-ed25519 {}", BASE64.encode(&long)).as_bytes())
            .unwrap_err();
        assert!(matches!(e, IdentityError::TrailingBytes(4)), "{e:?}");
        // 31 and 33 raw bytes.
        let raw = *fixture().as_bytes();
        for bad in [&raw[..31], &[raw.as_slice(), &[0x80]].concat()[..]] {
            let e = PublicKey::parse(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    IdentityError::WrongLength { expected: 32, .. }
                        | IdentityError::UnrecognizedFormat(_)
                ),
                "{} bytes: {e:?}",
                bad.len()
            );
        }
        let e = PublicKey::parse(&[0xffu8; 33]).unwrap_err();
        assert!(
            matches!(
                e,
                IdentityError::WrongLength {
                    expected: 32,
                    got: 33,
                    ..
                }
            ),
            "{e:?}"
        );
        // Hex of the wrong length.
        let e = PublicKey::parse(hex::encode(&raw[..31]).as_bytes()).unwrap_err();
        assert!(
            matches!(
                e,
                IdentityError::WrongLength {
                    expected: 64,
                    got: 62,
                    ..
                }
            ),
            "{e:?}"
        );
        // Garbage.
        for g in [
            &b""[..],
            b"   ",
            b"hello world",
            b"not a key at all, sorry",
            &[0u8; 100],
        ] {
            assert!(PublicKey::parse(g).is_err(), "{g:?}");
        }
        let e = PublicKey::parse(b"hello").unwrap_err();
        assert!(matches!(e, IdentityError::UnrecognizedFormat(5)), "{e:?}");
        let e = PublicKey::parse(b"hello world").unwrap_err();
        assert!(matches!(e, IdentityError::UnrecognizedFormat(11)), "{e:?}");
    }

    #[test]
    fn from_bytes_rejects_invalid_and_weak_points() {
        // y = 2 is not on the curve (no x with x² = (y²-1)/(dy²+1)).
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(matches!(
            PublicKey::from_bytes(&not_a_point),
            Err(IdentityError::InvalidPoint)
        ));
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&identity),
            Err(IdentityError::WeakKey)
        ));
        // Non-canonical encoding: y = p + 1 ≡ 1 (2^255 - 19 + 1 = 2^255 - 18).
        let mut noncanon = [0xffu8; 32];
        noncanon[0] = 0xee;
        noncanon[31] = 0x7f;
        assert!(PublicKey::from_bytes(&noncanon).is_err());
        // Both through parse as well, as raw and hex.
        assert!(PublicKey::parse(&not_a_point).is_err());
        assert!(PublicKey::parse(hex::encode(identity).as_bytes()).is_err());
    }

    #[test]
    fn openssh_private_round_trip() {
        let kp = Keypair::generate().unwrap();
        let text = kp.to_openssh_private("round@trip").unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(text.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        let back = Keypair::parse_openssh_private(&text).unwrap();
        assert_eq!(back.public(), kp.public());
        let msg = b"same key";
        assert_eq!(back.sign(msg), kp.sign(msg));
    }

    #[test]
    fn ssh_keygen_private_key_parses() {
        let kp = Keypair::parse_openssh_private(FIXTURE_PRIVATE).unwrap();
        assert_eq!(kp.public(), fixture());
        assert_eq!(kp.public().user_id(), FIXTURE_USER_ID);
        // Re-encoding it gives the same bytes apart from the checkint ssh-keygen chose at random.
        let again = kp.to_openssh_private("fixture@gatehouse").unwrap();
        assert_eq!(
            Keypair::parse_openssh_private(&again).unwrap().public(),
            fixture()
        );
        // CRLF and surrounding whitespace are fine.
        let crlf = format!("\n{}\n", FIXTURE_PRIVATE.replace('\n', "\r\n"));
        assert_eq!(
            Keypair::parse_openssh_private(&crlf).unwrap().public(),
            fixture()
        );
    }

    #[test]
    fn private_key_errors_are_clear() {
        let e = Keypair::parse_openssh_private(ENCRYPTED_PRIVATE).unwrap_err();
        assert!(matches!(e, IdentityError::EncryptedPrivateKey(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("encrypted private keys are not supported: "),
            "{e}"
        );
        let e = Keypair::parse_openssh_private(FIXTURE_PUB).unwrap_err();
        assert!(e.to_string().contains("this is a public key"), "{e}");
        let e = Keypair::parse_openssh_private(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("RSA PRIVATE KEY"), "{e}");
        // `ssh-keygen -t ecdsa -N ''` and `ssh-keygen -t rsa -b 1024 -N ''`.
        for (pem, alg) in [
            (ECDSA_PRIVATE, "ecdsa-sha2-nistp256"),
            (RSA_PRIVATE, "ssh-rsa"),
        ] {
            let e = Keypair::parse_openssh_private(pem).unwrap_err();
            assert!(
                matches!(&e, IdentityError::UnsupportedPrivateKeyType(a) if a == alg),
                "{e:?}"
            );
            assert_eq!(private_key_algorithm(pem).as_deref(), Some(alg));
        }
        assert_eq!(
            private_key_algorithm(FIXTURE_PRIVATE).as_deref(),
            Some(ED25519)
        );
        let e = Keypair::parse_openssh_private("").unwrap_err();
        assert!(matches!(e, IdentityError::MalformedPrivateKey(_)), "{e:?}");
        // A corrupted body.
        for (from, to) in [
            ("jUPwdy", "jUPwdz"),             // one checkint changed
            ("1rJOaHV7", "1rJOaHV8"),         // the public copy after the private half changed
            ("AAAAEWZpeHR1", "AAAAGWZpeHR1"), // comment length (25) runs past the end
        ] {
            let broken = FIXTURE_PRIVATE.replace(from, to);
            assert_ne!(broken, FIXTURE_PRIVATE);
            let Err(e) = Keypair::parse_openssh_private(&broken) else {
                panic!("corruption {from} -> {to} was accepted");
            };
            assert!(
                matches!(e, IdentityError::MalformedPrivateKey(_)),
                "{from}: {e:?}"
            );
        }
        // Private half of one key, public half of another: rejected.
        let a = Keypair::from_seed([1; 32]);
        let b = Keypair::from_seed([2; 32]);
        let pair = ssh_key::private::Ed25519Keypair {
            public: ssh_key::public::Ed25519PublicKey(*b.public().as_bytes()),
            private: ssh_key::private::Ed25519PrivateKey::from_bytes(&a.signing.to_bytes()),
        };
        let text = ssh_key::PrivateKey::new(ssh_key::private::KeypairData::Ed25519(pair), "")
            .unwrap()
            .to_openssh(ssh_key::LineEnding::LF)
            .unwrap();
        let e = Keypair::parse_openssh_private(&text).unwrap_err();
        assert!(e.to_string().contains("does not belong"), "{e}");
    }

    #[test]
    fn write_files_modes_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id_ed25519");
        let kp = Keypair::generate().unwrap();
        kp.write_files(&path, "me@host").unwrap();
        let pub_path = dir.path().join("id_ed25519.pub");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&pub_path), 0o644);
        let line = std::fs::read_to_string(&pub_path).unwrap();
        assert_eq!(line, format!("{}\n", kp.public().to_openssh("me@host")));
        assert_eq!(PublicKey::parse(line.as_bytes()).unwrap(), kp.public());
        assert_eq!(Keypair::load(&path).unwrap().public(), kp.public());

        // Refuses to overwrite, and leaves both files as they were.
        let other = Keypair::generate().unwrap();
        let e = other.write_files(&path, "x").unwrap_err();
        assert!(matches!(e, IdentityError::AlreadyExists(_)), "{e:?}");
        assert_eq!(Keypair::load(&path).unwrap().public(), kp.public());
        assert_eq!(std::fs::read_to_string(&pub_path).unwrap(), line);

        // A stale .pub alone also stops it, before the private key is written.
        let path2 = dir.path().join("second");
        std::fs::write(dir.path().join("second.pub"), "stale").unwrap();
        let e = other.write_files(&path2, "x").unwrap_err();
        assert!(matches!(e, IdentityError::AlreadyExists(_)), "{e:?}");
        assert!(!path2.exists());
    }

    #[test]
    fn load_refuses_group_or_world_readable_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        Keypair::generate().unwrap().write_files(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Keypair::load(&path).unwrap_err();
        assert!(
            matches!(e, IdentityError::InsecurePermissions { mode: 0o644, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(Keypair::load(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Keypair::load(&path).is_ok());
        let e = Keypair::load(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn ssh_keygen_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k1");
        std::fs::write(&path, FIXTURE_PRIVATE).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Keypair::load(&path).unwrap().public(), fixture());
    }

    #[test]
    fn s3_credentials_shape_and_derivation() {
        let m = MasterKey::from_bytes([7; 32]);
        let pk = fixture();
        let (ak, sk) = m.s3_credentials(&pk, 0);
        assert_eq!((ak.clone(), sk.clone()), m.s3_credentials(&pk, 0), "stable");
        assert_eq!(ak.len(), 20);
        assert!(ak.bytes().all(|b| BASE32.contains(&b)), "{ak}");
        assert_eq!(sk.len(), 40);
        assert!(sk.bytes().all(|b| BASE64_CHARS.contains(&b)), "{sk}");

        let (ak1, sk1) = m.s3_credentials(&pk, 1);
        assert_ne!(ak1, ak);
        assert_ne!(sk1, sk);

        let other_master = MasterKey::from_bytes([8; 32]);
        let (ak_o, sk_o) = other_master.s3_credentials(&pk, 0);
        assert_eq!(ak_o, ak, "access key depends on the public key only");
        assert_ne!(sk_o, sk);

        let other_user = Keypair::from_seed([3; 32]).public();
        let (ak_u, sk_u) = m.s3_credentials(&other_user, 0);
        assert_ne!(ak_u, ak);
        assert_ne!(sk_u, sk);

        // Pinned: changing the derivation would silently change every user's credentials.
        let mut expected_ak = [0u8; 20];
        Hkdf::<Sha256>::new(Some(b"gatehouse"), &pk.blob())
            .expand(
                &[&b"s3-access-key"[..], &0u32.to_be_bytes()].concat(),
                &mut expected_ak,
            )
            .unwrap();
        let expected: String = expected_ak
            .iter()
            .map(|b| BASE32[usize::from(b & 31)] as char)
            .collect();
        assert_eq!(ak, expected);
    }

    #[test]
    fn s3_credential_characters_cover_the_alphabets() {
        // Uniform mapping: over many users every symbol shows up.
        let m = MasterKey::from_bytes([9; 32]);
        let mut seen_ak = std::collections::HashSet::new();
        let mut seen_sk = std::collections::HashSet::new();
        for i in 0..64u8 {
            let (ak, sk) = m.s3_credentials(&Keypair::from_seed([i; 32]).public(), 0);
            seen_ak.extend(ak.bytes());
            seen_sk.extend(sk.bytes());
        }
        assert_eq!(seen_ak.len(), 32);
        assert_eq!(seen_sk.len(), 64);
    }

    #[test]
    fn service_keypairs_are_deterministic_per_name() {
        let m = MasterKey::from_bytes([5; 32]);
        let a = m.service_keypair("gatehouse");
        assert_eq!(a.public(), m.service_keypair("gatehouse").public());
        assert_ne!(a.public(), m.service_keypair("backup").public());
        assert_ne!(
            a.public(),
            MasterKey::from_bytes([6; 32])
                .service_keypair("gatehouse")
                .public()
        );
        let seed = hkdf::<32>(b"gatehouse-service-user", &[5; 32], &[b"svc:gatehouse"]);
        assert_eq!(a.public(), Keypair::from_seed(seed).public());
    }

    #[test]
    fn sign_and_verify() {
        let kp = Keypair::from_seed([4; 32]);
        let pk = kp.public();
        let sig = kp.sign(b"hello");
        pk.verify(b"hello", &sig).unwrap();
        assert!(matches!(
            pk.verify(b"hellO", &sig),
            Err(IdentityError::BadSignature)
        ));
        let mut forged = sig;
        forged[10] ^= 1;
        assert!(matches!(
            pk.verify(b"hello", &forged),
            Err(IdentityError::BadSignature)
        ));
        assert!(matches!(
            pk.verify(b"hello", &[0u8; 64]),
            Err(IdentityError::BadSignature)
        ));
        assert!(matches!(
            pk.verify(b"hello", &[0xffu8; 64]),
            Err(IdentityError::BadSignature)
        ));
        assert!(matches!(
            pk.verify(b"hello", &sig[..63]),
            Err(IdentityError::WrongLength {
                expected: 64,
                got: 63,
                ..
            })
        ));
        // Someone else's signature.
        let other = Keypair::from_seed([5; 32]);
        assert!(pk.verify(b"hello", &other.sign(b"hello")).is_err());
        // Non-canonical S (S + ℓ) is rejected by strict verification.
        let mut high_s = sig;
        let ell: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let s = u16::from(high_s[32 + i]) + u16::from(ell[i]) + carry;
            high_s[32 + i] = s as u8;
            carry = s >> 8;
        }
        assert!(pk.verify(b"hello", &high_s).is_err());
    }

    #[test]
    fn join_message_layout() {
        let pk = fixture();
        let m = join_message("n0nce", "alice", &pk);
        let mut expected = b"gatehouse-join-v1\0n0nce\0alice\0".to_vec();
        expected.extend_from_slice(&fixture_blob());
        assert_eq!(m, expected);
        let kp = Keypair::from_seed([1; 32]);
        let msg = join_message("abc", "bob", &kp.public());
        kp.public().verify(&msg, &kp.sign(&msg)).unwrap();
        assert!(
            kp.public()
                .verify(&join_message("abc", "eve", &kp.public()), &kp.sign(&msg))
                .is_err()
        );
    }

    #[test]
    fn master_key_load_or_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let m1 = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert_eq!(text.trim_end(), hex::encode(m1.0));
        let m2 = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(m1.0, m2.0);
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // Group/other access: refused, file untouched.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = MasterKey::load_or_create(&path).unwrap_err();
        assert!(
            matches!(e, IdentityError::InsecurePermissions { .. }),
            "{e:?}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        // Malformed content: refused and never replaced.
        for bad in [
            "",
            "\n",
            "abcd\n",
            &"g".repeat(64),
            &"a".repeat(66),
            &format!("{text}{text}"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = MasterKey::load_or_create(&path).unwrap_err();
            assert!(
                matches!(e, IdentityError::MalformedMasterKey { .. }),
                "{bad:?}: {e:?}"
            );
            assert!(e.to_string().contains("restore it from a backup"), "{e}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
        // Without the final newline it still loads.
        std::fs::write(&path, text.trim_end()).unwrap();
        assert_eq!(MasterKey::load_or_create(&path).unwrap().0, m1.0);
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let m = MasterKey::from_bytes([0xab; 32]);
        assert!(!format!("{m:?}").contains("ab"));
        let kp = Keypair::from_seed([0xab; 32]);
        assert_eq!(
            format!("{kp:?}"),
            format!("Keypair {{ user_id: {:?}, .. }}", kp.public().user_id())
        );
    }
}
