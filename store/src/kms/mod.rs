//! The key service (issue 23, decision 0046): named keys for SSE-KMS, reached through
//! [`crate::Store::kms`].
//!
//! - A key has an id (a UUID, as AWS KMS), an optional alias (`alias/<name>`), a description,
//!   a state (enabled, disabled, pending deletion until a date, deleted) and one or more
//!   *material versions*. A version's material is derived from the master key's ring and a
//!   random salt kept in the key's record ([`material`]): a stolen database without
//!   `master.key` gives nothing, and forgetting the salts (deletion) makes every byte sealed
//!   under the key unreadable for good.
//! - Rotation adds a version: new writes use it, what older versions sealed keeps opening
//!   with theirs (each sealed chunk names its version in its domain), so rotation rewrites
//!   nothing.
//! - Using a key (sealing a write, opening a read) needs RBAC's `use` on `kms/<id>`;
//!   administering it `manage`. Every use and change is written to the audit log ([`audit`]).
//!
//! Keys are few: the whole table is kept in memory ([`KeyTable`]), swapped whole on every
//! change, as the RBAC snapshot is; reads of it take no lock beyond an `Arc` clone.

pub mod audit;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::model::Principal;
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::KMS_KEYS;
use crate::{Store, codec, deny};

pub use audit::{AUDIT_KEEP, AuditEvent};

/// Least and most days a deletion waits (AWS KMS: 7–30, default 30).
pub const MIN_PENDING_DAYS: u32 = 7;
pub const MAX_PENDING_DAYS: u32 = 30;
pub const DEFAULT_PENDING_DAYS: u32 = 30;
/// The key number an `aws:kms` write without a key id asks for: its bucket's default key
/// (numbers of real keys start at 1).
pub const BUCKET_DEFAULT_KEY: u64 = 0;
/// Most keys a server holds (each is in memory).
pub const MAX_KEYS: usize = 10_000;

/// A key of the key service as stored (`kms_keys`: number → this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The server's number for the key: what sealed chunks name (compact, never reused).
    pub num: u64,
    /// The key id shown to users: a UUID.
    pub id: String,
    /// `alias/<alias>` names it too.
    pub alias: Option<String>,
    pub description: String,
    pub created_ms: i64,
    /// Who created it (user name).
    pub creator: String,
    pub state: KeyState,
    /// Material versions, oldest first; the last is the one new writes use.
    pub versions: Vec<KeyVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    /// Scheduled for deletion at `due_ms`; unusable meanwhile, cancellable (back to
    /// disabled, as AWS KMS does).
    PendingDeletion {
        due_ms: i64,
    },
    /// Its material is gone: what it sealed cannot be read by anyone. The record stays so
    /// that such objects say why.
    Deleted {
        at_ms: i64,
    },
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion { .. } => "PendingDeletion",
            KeyState::Deleted { .. } => "Deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: u32,
    pub created_ms: i64,
    /// `None` once the key is deleted.
    pub salt: Option<[u8; 32]>,
}

/// A key as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub arn: String,
    pub alias: Option<String>,
    pub description: String,
    pub state: &'static str,
    pub created_ms: i64,
    pub creator: String,
    /// When a pending deletion happens.
    pub deletion_due_ms: Option<i64>,
    pub deleted_ms: Option<i64>,
    /// The version new writes use, and when each version was made.
    pub current_version: u32,
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub created_ms: i64,
}

impl KeyRecord {
    /// The key's ARN in `region` (there are no accounts: `000000000000`).
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:kms:{region}:000000000000:key/{}", self.id)
    }

    pub fn info(&self, region: &str) -> KeyInfo {
        KeyInfo {
            arn: self.arn(region),
            id: self.id.clone(),
            alias: self.alias.clone(),
            description: self.description.clone(),
            state: self.state.as_str(),
            created_ms: self.created_ms,
            creator: self.creator.clone(),
            deletion_due_ms: match self.state {
                KeyState::PendingDeletion { due_ms } => Some(due_ms),
                _ => None,
            },
            deleted_ms: match self.state {
                KeyState::Deleted { at_ms } => Some(at_ms),
                _ => None,
            },
            current_version: self.current_version(),
            versions: self
                .versions
                .iter()
                .map(|v| VersionInfo {
                    version: v.version,
                    created_ms: v.created_ms,
                })
                .collect(),
        }
    }

    pub fn current_version(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.version)
    }

    /// Whether the key may seal or open now (`Err`: what S3 answers).
    pub fn usable(&self) -> Result<()> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(StoreError::KmsKeyDisabled(format!(
                "{} is disabled.",
                self.id
            ))),
            KeyState::PendingDeletion { .. } => Err(StoreError::KmsInvalidState(format!(
                "{} is pending deletion.",
                self.id
            ))),
            KeyState::Deleted { .. } => Err(StoreError::NoSuchKmsKey(format!(
                "{} was deleted: what it encrypted cannot be decrypted.",
                self.id
            ))),
        }
    }
}

/// What a request names a key by: its id, its ARN, `alias/<name>` or an alias ARN.
fn parse_ref(s: &str) -> Option<Ref<'_>> {
    let s = s.trim();
    let tail = if let Some(rest) = s.strip_prefix("arn:") {
        // arn:<partition>:kms:<region>:<account>:key/<id> | …:alias/<name>
        let mut parts = rest.splitn(5, ':');
        let (_partition, service, _region, _account, res) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if service != "kms" {
            return None;
        }
        if let Some(id) = res.strip_prefix("key/") {
            return Some(Ref::Id(id));
        }
        res
    } else {
        s
    };
    match tail.strip_prefix("alias/") {
        Some(a) => Some(Ref::Alias(a)),
        None => Some(Ref::Id(tail)),
    }
}

enum Ref<'a> {
    Id(&'a str),
    Alias(&'a str),
}

/// Every key, in memory.
#[derive(Debug, Default)]
pub struct KeyTable {
    by_num: BTreeMap<u64, Arc<KeyRecord>>,
    by_id: HashMap<String, u64>,
    by_alias: HashMap<String, u64>,
}

impl KeyTable {
    fn insert(&mut self, rec: KeyRecord) {
        self.by_id.insert(rec.id.clone(), rec.num);
        if let Some(a) = &rec.alias {
            self.by_alias.insert(a.clone(), rec.num);
        }
        self.by_num.insert(rec.num, Arc::new(rec));
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = &Arc<KeyRecord>> {
        self.by_num.values()
    }

    pub fn get(&self, num: u64) -> Option<&Arc<KeyRecord>> {
        self.by_num.get(&num)
    }

    /// The key a request names (id, ARN, alias), if it exists. A bare name that is no key's
    /// id is looked up as an alias too (MinIO and Ceph RGW take key names bare; AWS wants
    /// `alias/`): ids win, and they are UUIDs.
    pub fn find(&self, name: &str) -> Option<&Arc<KeyRecord>> {
        let num = match parse_ref(name)? {
            Ref::Id(id) => self.by_id.get(id).or_else(|| self.by_alias.get(id))?,
            Ref::Alias(a) => self.by_alias.get(a)?,
        };
        self.by_num.get(num)
    }
}

/// The key service's state in the store: the table and the audit log's pending events.
#[derive(Default)]
pub(crate) struct KeyService {
    table: RwLock<Arc<KeyTable>>,
    reload: std::sync::Mutex<()>,
    pub(crate) audit: audit::Pending,
}

impl KeyService {
    pub(crate) fn table(&self) -> Arc<KeyTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn swap(&self, t: KeyTable) {
        let t = Arc::new(t);
        match self.table.write() {
            Ok(mut g) => *g = t,
            Err(p) => *p.into_inner() = t,
        }
    }
}

/// The material of version `version` of key `num` (32 bytes; see the module doc).
pub(crate) fn material(root: &[u8; 32], num: u64, version: u32, salt: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("gatehouse 2026 kms key material");
    h.update(root);
    h.update(&num.to_be_bytes());
    h.update(&version.to_be_bytes());
    h.update(salt);
    *h.finalize().as_bytes()
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| StoreError::Internal(format!("randomness: {e}")))?;
    Ok(b)
}

/// A version-4 UUID, as AWS KMS key ids are.
fn new_key_id() -> Result<String> {
    let mut b: [u8; 16] = random()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Alias names: 1–250 of `A-Z a-z 0-9 / _ -`, not starting with `aws/` (AWS's rule).
fn validate_alias(a: &str) -> Result<()> {
    let ok = (1..=250).contains(&a.len())
        && a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/_-".contains(&c))
        && !a.starts_with("aws/");
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "alias {:?}: 1-250 of A-Z a-z 0-9 / _ -, not starting with aws/",
            crate::rbac::roles::truncate(a, 80)
        )))
    }
}

/// What a key is asked to be.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeySpec {
    /// Without `alias/`.
    pub alias: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// The key service, as reached from a store: [`Store::kms`].
pub struct Keys<'a> {
    store: &'a Store,
}

impl Store {
    /// The key service (decision 0046).
    pub fn kms(&self) -> Keys<'_> {
        Keys { store: self }
    }

    /// Loads every key into memory and their materials into the key ring (at open).
    pub(crate) fn reload_kms(&self) -> Result<()> {
        // One reload at a time: the last to read the committed table is the last to swap.
        let _one = match self.inner.kms.reload.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let rtxn = self.db().begin_read()?;
        let t = rtxn.open_table(KMS_KEYS)?;
        let mut table = KeyTable::default();
        for e in t.iter()? {
            let (_, v) = e?;
            table.insert(codec::decode::<KeyRecord>(v.value())?);
        }
        self.inner.keyring.set_kms(&table);
        self.inner.kms.swap(table);
        Ok(())
    }
}

impl Keys<'_> {
    /// A key's ARN, as S3 answers name it (`x-amz-server-side-encryption-aws-kms-key-id`).
    pub fn arn(&self, rec: &KeyRecord) -> String {
        rec.arn(&self.store.inner.cfg.region)
    }

    fn info(&self, rec: &KeyRecord) -> KeyInfo {
        rec.info(&self.store.inner.cfg.region)
    }

    /// The key `name` (id, ARN or alias) names, if it exists. No permission asked: S3 says
    /// whether a key exists before asking whether the caller may use it, as AWS does.
    pub fn find(&self, name: &str) -> Option<Arc<KeyRecord>> {
        self.store.inner.kms.table().find(name).cloned()
    }

    /// The key with number `num`.
    pub fn get(&self, num: u64) -> Option<Arc<KeyRecord>> {
        self.store.inner.kms.table().get(num).cloned()
    }

    fn named(&self, name: &str) -> Result<Arc<KeyRecord>> {
        self.find(name).ok_or_else(|| {
            StoreError::NoSuchKmsKey(format!(
                "Invalid keyId {}",
                crate::rbac::roles::truncate(name, 300)
            ))
        })
    }

    /// Keys the caller may see: all for who may manage keys, else those it may use or manage.
    pub fn list(&self, p: &Principal) -> Result<Vec<KeyInfo>> {
        let table = self.store.inner.kms.table();
        let all = authorize(p, Verb::Manage, Resource::Kms(None)).allowed;
        let out: Vec<KeyInfo> = table
            .by_num
            .values()
            .filter(|k| {
                all || authorize(p, Verb::Use, Resource::Kms(Some(&k.id))).allowed
                    || authorize(p, Verb::Manage, Resource::Kms(Some(&k.id))).allowed
            })
            .map(|k| self.info(k))
            .collect();
        if out.is_empty() && !all {
            // Nothing to show and no right to list: say so rather than an empty list.
            deny(authorize(p, Verb::Manage, Resource::Kms(None)))?;
        }
        Ok(out)
    }

    /// One key, for who may use or manage it.
    pub fn describe(&self, p: &Principal, name: &str) -> Result<KeyInfo> {
        let k = self.named(name)?;
        if !authorize(p, Verb::Use, Resource::Kms(Some(&k.id))).allowed {
            deny(authorize(p, Verb::Manage, Resource::Kms(Some(&k.id))))?;
        }
        Ok(self.info(&k))
    }

    /// Creates a key (enabled, one material version).
    pub async fn create(&self, p: &Principal, spec: KeySpec) -> Result<KeyInfo> {
        deny(authorize(p, Verb::Manage, Resource::Kms(None)))?;
        let alias = spec
            .alias
            .map(|a| a.strip_prefix("alias/").map(str::to_string).unwrap_or(a));
        if let Some(a) = &alias {
            validate_alias(a)?;
        }
        if spec.description.len() > 8192 {
            return Err(StoreError::InvalidArgument(
                "a description is at most 8192 bytes".into(),
            ));
        }
        let id = new_key_id()?;
        let salt: [u8; 32] = random()?;
        let now = crate::now_unix_ms();
        let creator = p.name.clone();
        let description = spec.description;
        let rec = self
            .change(audit::Actor::of(p), "create", move |keys| {
                if keys.len()? >= MAX_KEYS as u64 {
                    return Err(StoreError::InvalidArgument(format!(
                        "the server holds {MAX_KEYS} keys at most"
                    )));
                }
                if let Some(a) = &alias {
                    for e in keys.iter()? {
                        let (_, v) = e?;
                        if codec::decode::<KeyRecord>(v.value())?.alias.as_deref() == Some(a) {
                            return Err(StoreError::Conflict(format!("alias/{a} already exists")));
                        }
                    }
                }
                let num = keys.last()?.map_or(1, |(k, _)| k.value() + 1);
                Ok(KeyRecord {
                    num,
                    id,
                    alias,
                    description,
                    created_ms: now,
                    creator,
                    state: KeyState::Enabled,
                    versions: vec![KeyVersion {
                        version: 1,
                        created_ms: now,
                        salt: Some(salt),
                    }],
                })
            })
            .await?;
        Ok(self.info(&rec))
    }

    /// Enables or disables a key. A disabled key neither seals nor opens anything until
    /// enabled again; a key pending deletion must be cancelled first.
    pub async fn set_enabled(&self, p: &Principal, name: &str, on: bool) -> Result<KeyInfo> {
        let op = if on { "enable" } else { "disable" };
        self.update(p, name, op, move |rec| {
            match rec.state {
                KeyState::Enabled | KeyState::Disabled => {
                    rec.state = if on {
                        KeyState::Enabled
                    } else {
                        KeyState::Disabled
                    }
                }
                _ => rec.usable()?,
            }
            Ok(())
        })
        .await
    }

    /// Schedules a key's deletion after `days` (7–30; `None`: 30). Until then it is unusable
    /// and the deletion can be cancelled; then its material is gone.
    pub async fn schedule_deletion(
        &self,
        p: &Principal,
        name: &str,
        days: Option<u32>,
    ) -> Result<KeyInfo> {
        self.managed(p, name)?; // (who may not, or no such key: said before the days)
        let days = days.unwrap_or(DEFAULT_PENDING_DAYS);
        let min = self.store.inner.cfg.kms_min_pending_days;
        if !(min..=MAX_PENDING_DAYS).contains(&days) {
            return Err(StoreError::InvalidArgument(format!(
                "the waiting period is {min} to {MAX_PENDING_DAYS} days"
            )));
        }
        let due_ms = crate::now_unix_ms() + i64::from(days) * 86_400_000;
        self.update(p, name, "schedule-deletion", move |rec| {
            match rec.state {
                KeyState::Enabled | KeyState::Disabled => {
                    rec.state = KeyState::PendingDeletion { due_ms }
                }
                _ => rec.usable()?,
            }
            Ok(())
        })
        .await
    }

    /// Cancels a pending deletion: the key comes back disabled (AWS KMS does the same).
    pub async fn cancel_deletion(&self, p: &Principal, name: &str) -> Result<KeyInfo> {
        self.update(p, name, "cancel-deletion", |rec| match rec.state {
            KeyState::PendingDeletion { .. } => {
                rec.state = KeyState::Disabled;
                Ok(())
            }
            _ => Err(StoreError::KmsInvalidState(format!(
                "{} is not pending deletion",
                rec.id
            ))),
        })
        .await
    }

    /// Rotates a key: a new material version for new writes; older versions keep opening what
    /// they sealed (nothing is rewritten).
    pub async fn rotate(&self, p: &Principal, name: &str) -> Result<KeyInfo> {
        let salt: [u8; 32] = random()?;
        let now = crate::now_unix_ms();
        self.update(p, name, "rotate", move |rec| {
            if rec.state != KeyState::Enabled {
                rec.usable()?;
            }
            let version = rec.current_version() + 1;
            rec.versions.push(KeyVersion {
                version,
                created_ms: now,
                salt: Some(salt),
            });
            Ok(())
        })
        .await
    }

    /// A change by `p` (who must manage key `name`) that `f` makes to the key's record as the
    /// write transaction has it.
    async fn update<F>(&self, p: &Principal, name: &str, op: &'static str, f: F) -> Result<KeyInfo>
    where
        F: FnOnce(&mut KeyRecord) -> Result<()> + Send + 'static,
    {
        let num = self.managed(p, name)?.num;
        let rec = self
            .change(audit::Actor::of(p), op, move |keys| {
                let mut rec = current(keys, num)?;
                f(&mut rec)?;
                Ok(rec)
            })
            .await?;
        Ok(self.info(&rec))
    }

    /// The audit log: the newest `limit` events (of key `name`, or of every key), newest first.
    pub async fn audit(
        &self,
        p: &Principal,
        name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let key = match name {
            Some(n) => Some(self.managed(p, n)?),
            None => {
                deny(authorize(p, Verb::Manage, Resource::Kms(None)))?;
                None
            }
        };
        self.store.flush_kms_audit().await?;
        audit::read(self.store.db(), key.as_deref(), limit.clamp(1, 10_000))
    }

    /// Deletes the material of keys whose waiting period is over (the periodic sweep).
    pub async fn delete_due(&self) -> Result<usize> {
        let now = crate::now_unix_ms();
        let due: Vec<u64> = self
            .store
            .inner
            .kms
            .table()
            .by_num
            .values()
            .filter(|k| matches!(k.state, KeyState::PendingDeletion { due_ms } if due_ms <= now))
            .map(|k| k.num)
            .collect();
        let mut deleted = 0;
        for num in &due {
            let num = *num;
            let done = self
                .change_if(audit::Actor::server(), "delete", move |keys| {
                    let mut rec = current(keys, num)?;
                    if !matches!(rec.state, KeyState::PendingDeletion { due_ms } if due_ms <= now) {
                        return Ok(None); // cancelled meanwhile
                    }
                    rec.state = KeyState::Deleted { at_ms: now };
                    for v in &mut rec.versions {
                        v.salt = None;
                    }
                    Ok(Some(rec))
                })
                .await?;
            deleted += usize::from(done.is_some());
        }
        Ok(deleted)
    }

    /// The key `name`, for who may manage it.
    fn managed(&self, p: &Principal, name: &str) -> Result<Arc<KeyRecord>> {
        let k = self.named(name)?;
        deny(authorize(p, Verb::Manage, Resource::Kms(Some(&k.id))))?;
        Ok(k)
    }

    /// One change of one key: `f` makes the new record from the key table as it is inside
    /// the write transaction (the one writer serialises changes); the record and its audit
    /// event commit together, and the in-memory table is read again after the commit.
    async fn change<F>(&self, actor: audit::Actor, op: &'static str, f: F) -> Result<Arc<KeyRecord>>
    where
        F: FnOnce(&mut redb::Table<'_, u64, &'static [u8]>) -> Result<KeyRecord> + Send + 'static,
    {
        self.change_if(actor, op, move |keys| f(keys).map(Some))
            .await?
            .ok_or_else(|| StoreError::internal("a key change made nothing"))
    }

    /// [`Keys::change`] where `f` may find nothing to do (`None`: nothing written, nothing
    /// audited).
    async fn change_if<F>(
        &self,
        actor: audit::Actor,
        op: &'static str,
        f: F,
    ) -> Result<Option<Arc<KeyRecord>>>
    where
        F: FnOnce(&mut redb::Table<'_, u64, &'static [u8]>) -> Result<Option<KeyRecord>>
            + Send
            + 'static,
    {
        let who = actor.clone();
        let rec = self
            .store
            .inner
            .committer
            .write(move |t| {
                let mut keys = t.open_table(KMS_KEYS)?;
                let Some(rec) = f(&mut keys)? else {
                    return Ok(None);
                };
                keys.insert(rec.num, codec::encode(&rec)?.as_slice())?;
                audit::append(
                    t,
                    &AuditEvent::change(&actor, op, &rec, crate::now_unix_ms()),
                )?;
                Ok(Some(rec))
            })
            .await?;
        let Some(rec) = rec else {
            return Ok(None);
        };
        // The change is committed: the table in memory must follow it (a second try before
        // the error, which would leave the old state in force until the next change).
        if let Err(e) = self.store.reload_kms() {
            tracing::warn!(error = %e, "key service: reading the keys again failed; retrying");
            self.store.reload_kms()?;
        }
        self.store.inner.opened.clear();
        tracing::info!(target: "audit", actor = %who.name, actor_id = %who.id, action = %format!("kms.{op}"), resource = %rec.id, "admin action");
        Ok(Some(Arc::new(rec)))
    }
}

/// Key `num` as the write transaction has it.
fn current(keys: &redb::Table<'_, u64, &'static [u8]>, num: u64) -> Result<KeyRecord> {
    match keys.get(num)? {
        Some(v) => codec::decode(v.value()),
        None => Err(StoreError::NoSuchKmsKey(format!("key number {num}"))),
    }
}

/// The object name a use of an object written with `sse` is audited under: none with S3
/// Bucket Keys (`BucketKeyEnabled`), whose point is that uses are per bucket rather than per
/// object (AWS's KMS sees bucket-level calls then; here the audit log has one row per caller,
/// key, version and bucket within each batch, with its count); else the object's key.
pub(crate) fn audit_name(sse: Option<crate::sse::SseMode>, key: &str) -> &str {
    match sse {
        Some(crate::sse::SseMode::Kms {
            bucket_key: true, ..
        }) => "",
        _ => key,
    }
}

/// Uses of keys: sealing a write, opening a read (decision 0046).
impl Store {
    /// Whether `p` may use key `rec` now: the key usable, `use` granted.
    fn kms_may_use(&self, p: &Principal, rec: &KeyRecord) -> Result<()> {
        rec.usable()?;
        deny(authorize(p, Verb::Use, Resource::Kms(Some(&rec.id))))
    }

    /// [`Self::kms_may_use`], a refusal audited as `op` of `version` on `target` (the caller
    /// audits the use once it has happened).
    fn kms_may_use_audited(
        &self,
        p: &Principal,
        rec: &KeyRecord,
        op: &'static str,
        version: u32,
        target: (&str, &str),
    ) -> Result<()> {
        self.kms_may_use(p, rec).inspect_err(|e| {
            self.kms_used(
                (&p.name, &p.user_id),
                rec,
                op,
                Some(version),
                target,
                Some(&e.to_string()),
            );
        })
    }

    /// Whether `p` may write file `object` of bucket `b` whose encryption is `file` (for a
    /// write answered before it is sealed: an NFS write kept in the write-back buffer). The
    /// flush seals under the file's own key, else the bucket's default; a refusal is audited.
    pub(crate) fn kms_may_write(
        &self,
        p: &Principal,
        b: &crate::model::BucketRecord,
        object: &str,
        file: Option<crate::sse::SseMode>,
    ) -> Result<()> {
        let asked = file.filter(|m| !matches!(m, crate::sse::SseMode::Customer { .. }));
        let Some(num) = asked
            .or(b.encryption.map(|e| e.mode))
            .and_then(|m| m.kms_key())
        else {
            return Ok(());
        };
        let rec = self
            .kms()
            .get(num)
            .ok_or_else(|| StoreError::NoSuchKmsKey(format!("key number {num}")))?;
        self.kms_may_use_audited(p, &rec, "encrypt", rec.current_version(), (&b.name, object))
    }

    /// The keys a write by `p` of `object` in bucket `b` is sealed with under key `num` (its
    /// current version), the use audited.
    pub(crate) fn kms_sealer(
        &self,
        p: &Principal,
        num: u64,
        context: [u8; 16],
        b: &crate::model::BucketRecord,
        object: &str,
    ) -> Result<Arc<crate::sse::Sealer>> {
        let rec = self
            .kms()
            .get(num)
            .ok_or_else(|| StoreError::NoSuchKmsKey(format!("key number {num}")))?;
        let version = rec.current_version();
        let target = (b.name.as_str(), object);
        self.kms_may_use_audited(p, &rec, "encrypt", version, target)?;
        let sealer = self.keyring().kms_sealer(crate::sse::Domain::Kms {
            key: num,
            version,
            bucket: b.id,
            context,
        })?;
        self.kms_used(
            (&p.name, &p.user_id),
            &rec,
            "encrypt",
            Some(version),
            target,
            None,
        );
        Ok(Arc::new(sealer))
    }

    /// [`Store::kms_check_open`] of an object opened for reading its bytes (audited under
    /// its name, or per bucket under S3 Bucket Keys).
    pub(crate) fn kms_check_object(
        &self,
        p: &Principal,
        info: &crate::ops::ObjectInfo,
        bucket: &str,
    ) -> Result<()> {
        let name = audit_name(info.record.sse, &info.key);
        self.kms_check_open(p, &info.record.data, (bucket, name))
    }

    /// A read by `p` of the bytes of `data` (object `target`): every key of the key service
    /// that sealed some of them must be usable and usable by `p`. Each use audited.
    pub(crate) fn kms_check_open(
        &self,
        p: &Principal,
        data: &crate::model::Data,
        target: (&str, &str),
    ) -> Result<()> {
        let mut seen: Vec<(u64, u32)> = Vec::new();
        for (key, version) in kms_domains(data) {
            if seen.contains(&(key, version)) {
                continue;
            }
            seen.push((key, version));
            let Some(rec) = self.kms().get(key) else {
                return Err(StoreError::NoSuchKmsKey(format!("key number {key}")));
            };
            self.kms_may_use_audited(p, &rec, "decrypt", version, target)?;
            self.kms_used(
                (&p.name, &p.user_id),
                &rec,
                "decrypt",
                Some(version),
                target,
                None,
            );
        }
        Ok(())
    }
}

/// The (key, version) of every chunk of `data` sealed by the key service.
fn kms_domains(data: &crate::model::Data) -> impl Iterator<Item = (u64, u32)> + '_ {
    let seals: Box<dyn Iterator<Item = crate::sse::Seal> + '_> = match data {
        crate::model::Data::Sealed { seal, .. } => Box::new(std::iter::once(*seal)),
        crate::model::Data::Chunks(c) => Box::new(c.iter().filter_map(|c| c.seal)),
        crate::model::Data::Inline(_) => Box::new(std::iter::empty()),
    };
    seals.filter_map(|s| match s.domain {
        crate::sse::Domain::Kms { key, version, .. } => Some((key, version)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_references_parse_as_aws_names_them() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        for s in [
            id.to_string(),
            format!("arn:aws:kms:us-east-1:111122223333:key/{id}"),
        ] {
            assert!(matches!(parse_ref(&s), Some(Ref::Id(x)) if x == id), "{s}");
        }
        for s in ["alias/app", "arn:aws:kms:us-east-1:111122223333:alias/app"] {
            assert!(matches!(parse_ref(s), Some(Ref::Alias("app"))), "{s}");
        }
        assert!(parse_ref("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn key_ids_are_version_4_uuids() {
        let id = new_key_id().expect("id");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_key_id().expect("id"));
    }

    #[test]
    fn aliases_follow_aws_rules() {
        assert!(validate_alias("app/prod_1-x").is_ok());
        for bad in ["", "aws/s3", "a b", "é"] {
            assert!(validate_alias(bad).is_err(), "{bad:?}");
        }
    }
}
