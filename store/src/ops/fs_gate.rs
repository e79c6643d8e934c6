//! How the file view asks [`authorize`] (decision 0043): as the S3 call on the same path would.
//!
//! While a share has no bucket policy, every decision is per share (the bindings and ACLs
//! cannot tell keys apart) and costs one `authorize` as before. Once its policy exists (a
//! snapshot follows its share's), each call is decided on the keys it touches:
//!
//! - a file named by a handle (GETATTR, READ, READLINK, WRITE, SETATTR, COMMIT) on every key
//!   naming its inode ([`names`](super::names); a hard link is allowed only when each of its
//!   names is): s3:GetObject to read, s3:PutObject to change;
//! - a new or removed name (CREATE, MKDIR, SYMLINK, MKNOD, LINK, REMOVE, RMDIR, RENAME) on its
//!   key (a directory's is its marker `a/b/`): s3:PutObject, s3:DeleteObject; a renamed
//!   directory on every key it moves;
//! - a directory (READDIR, LOOKUP in it, its GETATTR, MOUNT of it) as s3:ListBucket with
//!   `s3:prefix` its path and `s3:delimiter` `/`, as an S3 browser lists a folder; a LOOKUP
//!   the listing refuses still finds a file the caller may read (S3's HEAD) or a directory
//!   it may list, so a path can be reached through folders the caller may not list.

use crate::Store;
use crate::error::Result;
use crate::model::Principal;
use crate::rbac::{RequestFacts, Resource, Verb, authorize};
use redb::ReadableDatabase;

/// The decisions of one file-view call on share bucket `bucket`. Cheap to clone into a commit
/// closure; per share (nothing left to decide) unless the bucket's policy tells keys apart.
#[derive(Clone)]
pub(crate) struct Gate {
    keyed: Option<Keyed>,
}

#[derive(Clone)]
struct Keyed {
    p: Principal,
    bucket: String,
}

/// Whether bucket `bucket` (for a snapshot: its share) has a bucket policy.
fn has_policy(p: &Principal, bucket: &str) -> bool {
    let on = crate::naming::snapshot_parts(bucket).map_or(bucket, |(share, _)| share);
    p.access.bucket(on).is_some_and(|a| a.policy.is_some())
}

impl Gate {
    /// The gate of a call that needs `verbs` on the share's objects: decided now, per share,
    /// unless the share's policy makes the decision per key (then the call asks [`Gate::key`],
    /// [`Gate::names`] or [`Gate::listing`] once it knows its keys).
    pub fn new(p: &Principal, verbs: &[Verb], bucket: &str) -> Result<Gate> {
        if has_policy(p, bucket) {
            return Ok(Gate {
                keyed: Some(Keyed {
                    p: p.clone(),
                    bucket: bucket.to_string(),
                }),
            });
        }
        for v in verbs {
            crate::deny(authorize(p, *v, Resource::Objects(bucket)))?;
        }
        Ok(Gate { keyed: None })
    }

    pub fn is_keyed(&self) -> bool {
        self.keyed.is_some()
    }

    /// `verb` on `key` (the S3 object at that path).
    pub fn key(&self, verb: Verb, key: &str) -> Result<()> {
        let Some(k) = &self.keyed else {
            return Ok(());
        };
        crate::deny(authorize(&k.p, verb, Resource::Object(&k.bucket, key)))
    }

    /// Reading `key` (S3's GetObject/HeadObject), an object carrying `tags`: a policy reading
    /// existing tags sees them.
    pub fn read(&self, key: &str, tags: &[(String, String)]) -> Result<()> {
        self.names(Verb::Get, std::slice::from_ref(&key.to_string()), tags)
    }

    /// `verb` on each of `keys`, the names of one inode that carries `tags` (none: the share
    /// as a whole). A policy reading existing tags sees them on reads, as S3's GetObject on
    /// the object would (AWS gives the key to no write of an object's bytes).
    pub fn names(&self, verb: Verb, keys: &[String], tags: &[(String, String)]) -> Result<()> {
        let Some(k) = &self.keyed else {
            return Ok(());
        };
        if keys.is_empty() {
            return crate::deny(authorize(&k.p, verb, Resource::Objects(&k.bucket)));
        }
        let tagged;
        let p = if verb == Verb::Get && self.reads_tags() {
            tagged = crate::rbac::bucket_access::with_existing_tags(&k.p, tags);
            &tagged
        } else {
            &k.p
        };
        keys.iter()
            .try_for_each(|key| crate::deny(authorize(p, verb, Resource::Object(&k.bucket, key))))
    }

    /// Whether the policy deciding reads objects' existing tags (`s3:ExistingObjectTag`).
    pub fn reads_tags(&self) -> bool {
        self.keyed
            .as_ref()
            .is_some_and(|k| crate::rbac::bucket_access::reads_existing_tags(&k.p, &k.bucket))
    }

    /// Listing directory `path` (`""` the root, else `a/b/`).
    pub fn listing(&self, path: &str) -> Result<()> {
        let Some(k) = &self.keyed else {
            return Ok(());
        };
        crate::deny(authorize(
            &listing_principal(&k.p, path),
            Verb::List,
            Resource::Objects(&k.bucket),
        ))
    }

    /// [`Gate::listing`] as a yes/no.
    pub fn may_list(&self, path: &str) -> bool {
        self.listing(path).is_ok()
    }
}

/// `p` listing directory `path` of a share, as ListObjects with `prefix=path&delimiter=/`.
pub(crate) fn listing_principal(p: &Principal, path: &str) -> Principal {
    let mut facts: RequestFacts = (*p.facts).clone();
    facts.action = Some(("s3:ListBucket", Verb::List));
    facts
        .values
        .retain(|(k, _)| k != "s3:prefix" && k != "s3:delimiter");
    facts
        .values
        .push(("s3:prefix".to_string(), vec![path.to_string()]));
    facts
        .values
        .push(("s3:delimiter".to_string(), vec!["/".to_string()]));
    p.with_facts(facts)
}

/// The tags of inode `ino` when `gate`'s policy reads existing tags (else none: not looked up).
pub(crate) fn inode_tags(
    gate: &Gate,
    inodes: &impl redb::ReadableTable<u64, &'static [u8]>,
    ino: u64,
) -> Result<Vec<(String, String)>> {
    if !gate.reads_tags() {
        return Ok(Vec::new());
    }
    Ok(match inodes.get(ino)? {
        Some(v) => crate::codec::decode::<crate::model::ObjectRecord>(v.value())?.tags,
        None => Vec::new(),
    })
}

impl Store {
    /// `verb` on inode `ino` of share bucket `bucket` (see [`Store::fs_gate_inode`]).
    pub(crate) fn fs_may(&self, p: &Principal, verb: Verb, bucket: &str, ino: u64) -> Result<()> {
        let gate = Gate::new(p, &[verb], bucket)?;
        self.fs_gate_inode(&gate, verb, bucket, ino)
    }

    /// `gate`'s decision on `verb` for inode `ino` of share bucket `bucket`: a directory by its
    /// path (reading it is listing it; changing it is its marker's PutObject), a file by its
    /// names.
    pub(crate) fn fs_gate_inode(
        &self,
        gate: &Gate,
        verb: Verb,
        bucket: &str,
        ino: u64,
    ) -> Result<()> {
        if !gate.is_keyed() {
            return Ok(());
        }
        let rtxn = self.db().begin_read()?;
        let b = super::fs::live_bucket(&rtxn, bucket)?;
        let dir = if ino == super::fs::SNAPSHOTS_INO {
            Some(String::new())
        } else {
            super::fs::DirPaths {
                paths: &rtxn.open_table(crate::tables::DIR_PATHS)?,
                entries: &rtxn.open_table(crate::tables::ENTRIES)?,
            }
            .path(&b, ino)?
        };
        match (dir, verb) {
            (Some(path), Verb::Get | Verb::List) => gate.listing(&path),
            (Some(path), verb) => gate.key(verb, &path),
            (None, verb) => {
                let names =
                    super::names::of(&rtxn.open_table(crate::tables::INODE_NAMES)?, b.id, ino)?;
                let tags = inode_tags(gate, &rtxn.open_table(crate::tables::INODES)?, ino)?;
                gate.names(verb, &names, &tags)
            }
        }
    }
}
