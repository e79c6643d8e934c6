use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketKind {
    /// An ordinary S3 bucket: full S3 key freedom, not exported over NFS.
    Plain,
    /// `fs+<share>`: the S3 view of a file share; path rules apply to keys.
    Share,
    /// The reserved system bucket.
    System,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub id: u64,
    pub name: String,
    pub kind: BucketKind,
    pub owner: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Logical bytes the bucket holds (dedup does not reduce it): current objects, and in a
    /// versioned bucket every noncurrent version too (quotas count every stored version).
    pub usage_bytes: u64,
    /// Current objects (names in `entries`).
    pub object_count: u64,
    /// S3 lifecycle rules (`PUT /{bucket}?lifecycle`), applied by the sweeper.
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRule>,
    /// The bucket has a replication rule: its writes enter the replication queue (decision
    /// 0036). Set and cleared with the rule, in its transaction.
    #[serde(default)]
    pub replicated: bool,
    /// S3 versioning (decision 0038): never set, Enabled or Suspended.
    #[serde(default)]
    pub versioning: Versioning,
    /// The part of `usage_bytes` held by noncurrent versions.
    #[serde(default)]
    pub noncurrent_bytes: u64,
    /// Rows in `versions`: noncurrent versions and delete markers.
    #[serde(default)]
    pub version_rows: u64,
    /// Object lock (decision 0039): `Some` once enabled (it cannot be turned off), with the
    /// default retention of new versions, if any.
    #[serde(default)]
    pub object_lock: Option<ObjectLockConfig>,
    /// A share snapshot (decision 0040): the share bucket it was taken of. Read-only.
    #[serde(default)]
    pub snapshot_of: Option<String>,
    /// A share: the logical bytes its snapshots hold (counted against its quota).
    #[serde(default)]
    pub snapshot_bytes: u64,
    /// Objects the bucket may hold (current objects plus noncurrent versions and delete
    /// markers); 0 = unlimited (issue 22).
    #[serde(default)]
    pub quota_objects: u64,
    /// Default encryption of every write without encryption headers (S3's
    /// PutBucketEncryption; NFS writes of a share too; decision 0044).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::sse::BucketEncryption>,
    /// The bucket's own tags (S3's PutBucketTagging), in the order given; empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

impl BucketRecord {
    /// A new, empty bucket: no quota, rules, versioning, lock, encryption or tags.
    pub fn new(id: u64, name: String, kind: BucketKind, owner: String, created_ms: i64) -> Self {
        BucketRecord {
            id,
            name,
            kind,
            owner,
            created_ms,
            quota_bytes: 0,
            usage_bytes: 0,
            object_count: 0,
            lifecycle: Vec::new(),
            replicated: false,
            versioning: Versioning::Unversioned,
            noncurrent_bytes: 0,
            version_rows: 0,
            object_lock: None,
            snapshot_of: None,
            snapshot_bytes: 0,
            quota_objects: 0,
            encryption: None,
            tags: Vec::new(),
        }
    }
}

/// A bucket's object lock configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    pub default: Option<DefaultRetention>,
}

/// The retention a new version gets when its writer asks for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: crate::model::LockMode,
    /// Exactly one of `days` and `years` is set.
    pub days: Option<u32>,
    pub years: Option<u32>,
}

/// A bucket's versioning state, as S3 names it. Once versioning was enabled a bucket never
/// returns to `Unversioned` (S3 offers Suspended only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    /// Whether writes here may keep what they replace (Enabled or Suspended).
    pub fn is_on(self) -> bool {
        self != Versioning::Unversioned
    }
}

/// One lifecycle rule: what this server implements of S3's (expiration by age or date, of
/// noncurrent versions and lone delete markers, and the abort of incomplete multipart uploads,
/// filtered by key prefix, and expiration also by tags and object size).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub prefix: String,
    pub enabled: bool,
    /// Delete objects this many days after their last modification.
    pub expiration_days: Option<u32>,
    /// Abort multipart uploads this many days after they were initiated.
    pub abort_incomplete_days: Option<u32>,
    /// NoncurrentVersionExpiration: delete a noncurrent version this many days after it
    /// became noncurrent (decision 0038)...
    #[serde(default)]
    pub noncurrent_days: Option<u32>,
    /// ...keeping this many newer noncurrent versions of the key whatever their age.
    #[serde(default)]
    pub newer_noncurrent: Option<u32>,
    /// Expiration's ExpiredObjectDeleteMarker: remove a delete marker that is a key's only
    /// version left.
    #[serde(default)]
    pub expired_object_delete_marker: bool,
    /// The prefix came as the rule's own `<Prefix>` (S3's older form, not `<Filter>`), and is
    /// shown back that way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_prefix: bool,
    /// Expiration's `Date`: objects the rule selects expire at this time (Unix ms, midnight
    /// UTC), whatever their age, and from then on as soon as they are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_ms: Option<i64>,
    /// What the rule's filter asks of an object beyond its key's prefix (decision 0049).
    #[serde(default, skip_serializing_if = "ObjectFilter::is_empty")]
    pub object: ObjectFilter,
}

/// A lifecycle filter's conditions on the object itself: tags it must all carry, and bounds on
/// its size (both exclusive, as S3's `ObjectSizeGreaterThan` / `ObjectSizeLessThan`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
    /// The filter came as `<And>` (shown back that way).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub and: bool,
}

impl ObjectFilter {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.size_greater_than.is_none() && self.size_less_than.is_none()
    }

    /// Whether an object of `size` bytes carrying `tags` passes.
    pub fn passes(&self, size: u64, tags: &[(String, String)]) -> bool {
        self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
            && self.tags.iter().all(|t| tags.contains(t))
    }
}

impl LifecycleRule {
    /// Whether the rule is on and its prefix is `key`'s: all a rule asks of a key name. An
    /// object must also pass [`LifecycleRule::object`].
    pub fn covers(&self, key: &str) -> bool {
        self.enabled && key.starts_with(self.prefix.as_str())
    }
}
