//! Bucket-name and key rules, checked once here for every gateway.

use crate::error::{Result, StoreError};
use crate::model::BucketKind;

/// Prefix of share buckets: `fs+<share>`.
pub const SHARE_PREFIX: &str = "fs+";
/// Reserved for the aliases of share buckets (clients that reject `+`); no plain bucket may use it.
pub const RESERVED_ALIAS_PREFIX: &str = "fs--";
/// The reserved system bucket.
pub const SYSTEM_BUCKET: &str = "gatehouse-system";
/// Longest key of a plain (or the system) bucket: S3's limit, which S3 clients expect.
pub const MAX_KEY_LEN: usize = 1024;
/// Longest path in a share: Linux `PATH_MAX`. A path is a key without a directory marker's
/// trailing `/`, so a directory whose path has 4,096 bytes can still have its marker.
pub const MAX_SHARE_PATH: usize = 4096;
/// Longest name (one path segment) in a share: `NAME_MAX`.
pub const MAX_NAME: usize = 255;

/// Separates a share from a snapshot's name in a snapshot's bucket: `fs+<share>@<snapshot>`.
pub const SNAPSHOT_SEP: char = '@';

/// The bucket of snapshot `snap` of share `share` (decision 0040): `fs+<share>@<snap>`.
pub fn snapshot_bucket(share: &str, snap: &str) -> String {
    format!("{SHARE_PREFIX}{share}{SNAPSHOT_SEP}{snap}")
}

/// (share bucket, snapshot name) of a snapshot's bucket name.
pub fn snapshot_parts(bucket: &str) -> Option<(&str, &str)> {
    let rest = bucket.strip_prefix(SHARE_PREFIX)?;
    let at = rest.find(SNAPSHOT_SEP)?;
    Some((&bucket[..SHARE_PREFIX.len() + at], &rest[at + 1..]))
}

/// The alias of a snapshot's bucket for clients that reject `+` and `@`:
/// `fs--<share>.<snapshot>` (neither name may hold a `.`).
pub fn snapshot_alias(share: &str, snap: &str) -> String {
    format!("{RESERVED_ALIAS_PREFIX}{share}.{snap}")
}

/// Validates a bucket name and tells which kind of bucket it names.
pub fn bucket_kind(name: &str) -> Result<BucketKind> {
    if let Some((share_bucket, snap)) = snapshot_parts(name) {
        bucket_kind(share_bucket)?;
        validate_share_name(snap).map_err(|e| match e {
            StoreError::InvalidArgument(m) => StoreError::InvalidBucketName(m),
            other => other,
        })?;
        return Ok(BucketKind::Share);
    }
    if let Some(share) = name.strip_prefix(SHARE_PREFIX) {
        validate_share_name(share).map_err(|e| match e {
            StoreError::InvalidArgument(m) => StoreError::InvalidBucketName(m),
            other => other,
        })?;
        return Ok(BucketKind::Share);
    }
    validate_plain_bucket(name)?;
    if name == SYSTEM_BUCKET {
        return Ok(BucketKind::System);
    }
    Ok(BucketKind::Plain)
}

fn invalid(name: &str, why: &str) -> StoreError {
    StoreError::InvalidBucketName(format!("{name:?}: {why}"))
}

/// S3 general-purpose bucket naming rules.
fn validate_plain_bucket(name: &str) -> Result<()> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Err(invalid(name, "must be 3 to 63 characters long"));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
    {
        return Err(invalid(
            name,
            "only lowercase letters, digits, '-' and '.' are allowed",
        ));
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(invalid(name, "must begin and end with a letter or digit"));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(invalid(
            name,
            "adjacent periods or period-hyphen are not allowed",
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid(name, "must not be formatted as an IP address"));
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.starts_with(RESERVED_ALIAS_PREFIX)
    {
        return Err(invalid(name, "the prefix is reserved"));
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        return Err(invalid(name, "the suffix is reserved"));
    }
    Ok(())
}

/// Share names: DNS-safe labels: lowercase letters, digits and hyphens, 1 to 63 characters,
/// not starting or ending with a hyphen.
pub fn validate_share_name(share: &str) -> Result<()> {
    let b = share.as_bytes();
    let bad = |why: &str| {
        StoreError::InvalidArgument(format!(
            "invalid share name {:?}: {why}",
            crate::rbac::roles::truncate(share, 80)
        ))
    };
    if b.is_empty() || b.len() > 63 {
        return Err(bad("a share name has 1 to 63 characters"));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return Err(bad(
            "a share name has only lowercase letters, digits and '-' (it is a DNS label)",
        ));
    }
    if b[0] == b'-' || b[b.len() - 1] == b'-' {
        return Err(bad("a share name must not begin or end with '-'"));
    }
    Ok(())
}

/// The bucket of a share: `fs+<share>`.
pub fn share_bucket(share: &str) -> String {
    format!("{SHARE_PREFIX}{share}")
}

/// The alias of a share's bucket for clients that reject `+` (botocore: aws CLI, boto3):
/// `fs--<share>`. The prefix is reserved, so no plain bucket can take it.
pub fn share_alias(share: &str) -> String {
    format!("{RESERVED_ALIAS_PREFIX}{share}")
}

/// The canonical name of a bucket as a client named it: `fs--<share>` is `fs+<share>`;
/// anything else is itself.
pub fn canonical_bucket(name: &str) -> std::borrow::Cow<'_, str> {
    if let Some((share, snap)) = name
        .strip_prefix(RESERVED_ALIAS_PREFIX)
        .and_then(|r| r.split_once('.'))
        && !share.is_empty()
        && !snap.is_empty()
    {
        return snapshot_bucket(share, snap).into();
    }
    match name.strip_prefix(RESERVED_ALIAS_PREFIX) {
        Some(share) if !share.is_empty() => share_bucket(share).into(),
        _ => name.into(),
    }
}

/// Rules for every object key. Keys are opaque bytes to the store: a key never becomes a
/// filesystem path (`../../etc/passwd` is a fine key in a plain bucket).
pub fn validate_key(kind: BucketKind, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("the key is empty".into()));
    }
    check_key_len(kind, key)?;
    // XML 1.0 cannot carry these, so listings could not return the key.
    if key.chars().any(|c| {
        (c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == '\u{FFFE}' || c == '\u{FFFF}'
    }) {
        return Err(StoreError::InvalidKey(
            "the key contains control characters that XML cannot carry".into(),
        ));
    }
    if kind == BucketKind::Share {
        validate_share_path(key)?;
    }
    Ok(())
}

/// The one length rule for keys (docs/decisions/0024): a share holds paths of up to
/// [`MAX_SHARE_PATH`] bytes, any other bucket keys of up to [`MAX_KEY_LEN`] (S3's limit).
/// Also for keys only looked up (an NFS LOOKUP of a too-long path is `NAMETOOLONG`, not
/// "not found").
pub fn check_key_len(kind: BucketKind, key: &str) -> Result<()> {
    let too_long = match kind {
        BucketKind::Share => key.strip_suffix('/').unwrap_or(key).len() > MAX_SHARE_PATH,
        BucketKind::Plain | BucketKind::System => key.len() > MAX_KEY_LEN,
    };
    if too_long {
        return Err(StoreError::KeyTooLong);
    }
    Ok(())
}

/// Path rules of `fs+` buckets, so that the NFS view is a well-formed tree.
fn validate_share_path(key: &str) -> Result<()> {
    let body = key.strip_suffix('/').unwrap_or(key);
    if body.is_empty() {
        return Err(StoreError::InvalidKey(
            "the key names the share root".into(),
        ));
    }
    for seg in body.split('/') {
        if seg.is_empty() {
            return Err(StoreError::InvalidKey(
                "empty path segment ('//' or leading '/') in a share".into(),
            ));
        }
        if seg == "." || seg == ".." {
            return Err(StoreError::InvalidKey(
                "'.' and '..' segments are not allowed in a share".into(),
            ));
        }
        if seg.len() > MAX_NAME {
            return Err(StoreError::KeyTooLong);
        }
        if seg.contains('\0') {
            return Err(StoreError::InvalidKey("NUL in a path segment".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.v2", "a1b", "fs+team-files", "fs+a"] {
            assert!(bucket_kind(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--ab",
            "fs--x",
            "fs+",
            "fs+-x",
            "fs+a_b",
            "fs+Team",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(bucket_kind(bad).is_err(), "{bad}");
        }
        assert_eq!(bucket_kind("fs+x").ok(), Some(BucketKind::Share));
        assert_eq!(bucket_kind(SYSTEM_BUCKET).ok(), Some(BucketKind::System));
    }

    #[test]
    fn share_names_and_aliases() {
        for bad in [
            "-x",
            "x-",
            "a_b",
            "Team",
            "fs+x",
            "",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(validate_share_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["a", "team-files", "x1", &"a".repeat(63)] {
            assert!(validate_share_name(ok).is_ok(), "{ok:?}");
        }
        assert_eq!(canonical_bucket("fs--team-files"), "fs+team-files");
        assert_eq!(canonical_bucket("fs+team-files"), "fs+team-files");
        assert_eq!(canonical_bucket("photos"), "photos");
        assert_eq!(canonical_bucket("fs--"), "fs--");
        assert_eq!(share_alias("team"), "fs--team");
        // The alias is what botocore accepts: ^[a-zA-Z0-9.\-_]{1,255}$.
        assert!(
            share_alias("team")
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
        );
    }

    #[test]
    fn keys() {
        assert!(validate_key(BucketKind::Plain, "../../etc/passwd").is_ok());
        assert!(validate_key(BucketKind::Plain, "a//b").is_ok());
        assert!(validate_key(BucketKind::Share, "a//b").is_err());
        assert!(validate_key(BucketKind::Share, "a/../b").is_err());
        assert!(validate_key(BucketKind::Share, "a/b/").is_ok());
        assert!(validate_key(BucketKind::Plain, &"k".repeat(1024)).is_ok());
        assert!(matches!(
            validate_key(BucketKind::Plain, &"k".repeat(1025)),
            Err(StoreError::KeyTooLong)
        ));
        // A share: paths up to 4,096 bytes (a marker's slash not counted), names up to 255.
        let path = |len: usize| {
            let mut p = "d".repeat(200);
            while p.len() + 201 <= len {
                p.push('/');
                p.push_str(&"d".repeat(200));
            }
            let rest = len - p.len() - 1;
            p.push('/');
            p.push_str(&"f".repeat(rest));
            assert_eq!(p.len(), len);
            p
        };
        assert!(validate_key(BucketKind::Share, &path(4096)).is_ok());
        assert!(validate_key(BucketKind::Share, &format!("{}/", path(4096))).is_ok());
        assert!(matches!(
            validate_key(BucketKind::Share, &path(4097)),
            Err(StoreError::KeyTooLong)
        ));
        assert!(matches!(
            validate_key(BucketKind::Plain, &path(4000)),
            Err(StoreError::KeyTooLong)
        ));
        assert!(validate_key(BucketKind::Share, &format!("a/{}", "n".repeat(255))).is_ok());
        assert!(matches!(
            validate_key(BucketKind::Share, &format!("a/{}", "n".repeat(256))),
            Err(StoreError::KeyTooLong)
        ));
        assert!(validate_key(BucketKind::Plain, "bad\u{1}key").is_err());
        assert!(validate_key(BucketKind::Plain, "").is_err());
    }
}
