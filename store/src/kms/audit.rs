//! The key service's audit log (decision 0046): every change of a key (written in the change's
//! own transaction) and every use of one — a write sealed with it, a read opened with it, a
//! refusal — as rows of `kms_audit`, newest last, the oldest trimmed past [`AUDIT_KEEP`].
//!
//! Uses are many (an NFS reader opens a file's key on every READ), so they are noted in memory
//! and written in one transaction a second, as access times are; equal uses within one batch
//! (same caller, key, version, operation, object and outcome) become one row with a count. At
//! most [`MAX_PENDING`] distinct uses wait; past that, uses are counted and the batch writes
//! one row saying how many went unrecorded, so a gap is never silent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::KeyRecord;
use crate::error::Result;
use crate::model::Principal;
use crate::tables::KMS_AUDIT;
use crate::{Store, codec};

/// Rows the log keeps (about 200 bytes each).
pub const AUDIT_KEEP: u64 = 1_000_000;
/// Distinct uses waiting for their batch at most.
pub(crate) const MAX_PENDING: usize = 65_536;
/// How long a use waits for its batch.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The row's place in the log (set when read).
    #[serde(default)]
    pub seq: u64,
    pub time_ms: i64,
    /// Who: user name and id (`server` for the server's own deletions).
    pub actor: String,
    pub actor_id: String,
    /// `create`, `enable`, `disable`, `rotate`, `schedule-deletion`, `cancel-deletion`,
    /// `delete`; `encrypt`, `decrypt` for uses.
    pub op: String,
    pub key_id: String,
    /// The material version used or made.
    pub version: Option<u32>,
    pub bucket: Option<String>,
    pub object: Option<String>,
    pub allowed: bool,
    /// Why it was refused.
    pub reason: Option<String>,
    /// Equal uses this row stands for (1 for changes).
    pub count: u64,
}

/// Who acted.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub name: String,
    pub id: String,
}

impl Actor {
    pub fn of(p: &Principal) -> Actor {
        Actor {
            name: p.name.clone(),
            id: p.user_id.clone(),
        }
    }

    pub fn server() -> Actor {
        Actor {
            name: "server".into(),
            id: String::new(),
        }
    }
}

impl AuditEvent {
    pub(crate) fn change(actor: &Actor, op: &str, rec: &KeyRecord, time_ms: i64) -> AuditEvent {
        AuditEvent {
            seq: 0,
            time_ms,
            actor: actor.name.clone(),
            actor_id: actor.id.clone(),
            op: op.into(),
            key_id: rec.id.clone(),
            version: Some(rec.current_version()),
            bucket: None,
            object: None,
            allowed: true,
            reason: None,
            count: 1,
        }
    }
}

/// A use of a key, as noted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Use {
    pub actor_id: String,
    pub op: &'static str,
    pub key_num: u64,
    pub version: Option<u32>,
    pub bucket: String,
    pub object: String,
    pub allowed: bool,
}

/// Uses noted and not yet written.
#[derive(Default)]
pub(crate) struct Pending {
    batch: Mutex<Batch>,
    scheduled: AtomicBool,
    /// Uses that found the batch full (written as one row by the next batch).
    lost: AtomicU64,
}

#[derive(Default)]
struct Batch {
    index: HashMap<Use, usize>,
    rows: Vec<AuditEvent>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        match self.batch.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Notes a use; `true` when a batch must be scheduled.
    fn note(
        &self,
        u: Use,
        target: (&str, &str),
        actor: &str,
        key_id: &str,
        reason: Option<String>,
    ) -> bool {
        let mut b = self.lock();
        if let Some(&i) = b.index.get(&u) {
            b.rows[i].count += 1;
        } else if b.rows.len() >= MAX_PENDING {
            self.lost.fetch_add(1, Ordering::Relaxed);
        } else {
            let ev = AuditEvent {
                seq: 0,
                time_ms: crate::now_unix_ms(),
                actor: actor.into(),
                actor_id: u.actor_id.clone(),
                op: u.op.into(),
                key_id: key_id.into(),
                version: u.version,
                bucket: Some(target.0.to_string()),
                // (none: a use under S3 Bucket Keys, counted per bucket; `kms::audit_name`)
                object: (!target.1.is_empty())
                    .then(|| crate::rbac::roles::truncate(target.1, 1024)),
                allowed: u.allowed,
                reason,
                count: 1,
            };
            let i = b.rows.len();
            b.rows.push(ev);
            b.index.insert(u, i);
        }
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().rows.is_empty() && self.lost.load(Ordering::Relaxed) == 0
    }

    /// Takes the pending uses out of memory (with the count of those that found it full).
    pub(crate) fn take(&self) -> (Vec<AuditEvent>, u64) {
        self.scheduled.store(false, Ordering::Release);
        let rows = std::mem::take(&mut *self.lock()).rows;
        (rows, self.lost.swap(0, Ordering::Relaxed))
    }

    /// Uses taken by [`Pending::take`] that could not be written: counted, so the next batch's
    /// `unrecorded` row says so.
    pub(crate) fn lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// A batch was asked for where none can be started (no runtime): the next use asks again.
    fn unschedule(&self) {
        self.scheduled.store(false, Ordering::Release);
    }
}

/// Writes a batch taken by [`Pending::take`] in `t`.
pub(crate) fn write(t: &WriteTransaction, rows: &[AuditEvent], lost: u64) -> Result<()> {
    let gap = (lost > 0).then(|| AuditEvent {
        seq: 0,
        time_ms: crate::now_unix_ms(),
        actor: "server".into(),
        actor_id: String::new(),
        op: "unrecorded".into(),
        key_id: String::new(),
        version: None,
        bucket: None,
        object: None,
        allowed: true,
        reason: Some(format!(
            "{lost} uses were not recorded (more than {MAX_PENDING} waited to be written, or their batch failed)"
        )),
        count: lost,
    });
    append_all(t, rows.iter().chain(gap.as_ref()))
}

/// Appends one row (and trims the oldest past [`AUDIT_KEEP`]).
pub(crate) fn append(t: &WriteTransaction, ev: &AuditEvent) -> Result<()> {
    append_all(t, std::iter::once(ev))
}

/// Appends rows in order — the table opened and its last sequence read once for the batch —
/// then trims the oldest past [`AUDIT_KEEP`].
fn append_all<'a>(t: &WriteTransaction, rows: impl Iterator<Item = &'a AuditEvent>) -> Result<()> {
    let mut log = t.open_table(KMS_AUDIT)?;
    let first = log.last()?.map_or(1, |(k, _)| k.value() + 1);
    for (seq, ev) in (first..).zip(rows) {
        log.insert(seq, codec::encode(ev)?.as_slice())?;
    }
    let over = log.len()?.saturating_sub(AUDIT_KEEP);
    for _ in 0..over {
        if log.pop_first()?.is_none() {
            break;
        }
    }
    Ok(())
}

/// The newest `limit` rows (of key number `key`, or all), newest first.
pub(crate) fn read(
    db: &redb::Database,
    key: Option<&KeyRecord>,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let rtxn = db.begin_read()?;
    let log = rtxn.open_table(KMS_AUDIT)?;
    let mut out = Vec::new();
    for e in log.iter()?.rev() {
        let (k, v) = e?;
        let mut ev: AuditEvent = codec::decode(v.value())?;
        // (a gap in the log, `unrecorded`, concerns every key)
        if key.is_some_and(|r| r.id != ev.key_id) && ev.op != "unrecorded" {
            continue;
        }
        ev.seq = k.value();
        out.push(ev);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl Store {
    /// Notes a use of key `rec` by `p` (name, user id; see the module doc) and schedules its
    /// batch.
    pub(crate) fn kms_used(
        &self,
        p: (&str, &str),
        rec: &KeyRecord,
        op: &'static str,
        version: Option<u32>,
        target: (&str, &str),
        refused: Option<&str>,
    ) {
        let (name, id) = p;
        let u = Use {
            actor_id: id.to_string(),
            op,
            key_num: rec.num,
            version,
            // Refusals are one row per caller, key, operation and version within a batch
            // (the first object named): a caller cannot flood the log with refused names.
            bucket: if refused.is_none() {
                target.0.into()
            } else {
                String::new()
            },
            object: if refused.is_none() {
                crate::rbac::roles::truncate(target.1, 1024)
            } else {
                String::new()
            },
            allowed: refused.is_none(),
        };
        if !self
            .inner
            .kms
            .audit
            .note(u, target, name, &rec.id, refused.map(str::to_string))
        {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // (the commit thread): the next use, the server's 1 s tick or the stop writes it.
            self.inner.kms.audit.unschedule();
            return;
        };
        let weak = std::sync::Arc::downgrade(&self.inner);
        rt.spawn(async move {
            tokio::time::sleep(FLUSH_EVERY).await;
            if let Some(inner) = weak.upgrade() {
                let store = Store { inner };
                if let Err(e) = store.flush_kms_audit().await {
                    tracing::warn!(error = %e, "writing the key service's audit log failed");
                }
            }
        });
    }

    /// Writes the pending uses now (taken out of memory first: a batch whose commit fails is
    /// counted as unrecorded, never silently gone).
    pub async fn flush_kms_audit(&self) -> Result<()> {
        if self.inner.kms.audit.is_empty() {
            return Ok(());
        }
        let (rows, lost) = self.inner.kms.audit.take();
        let n = rows.iter().map(|r| r.count).sum::<u64>() + lost;
        let r = self
            .inner
            .committer
            .write(move |t| write(t, &rows, lost))
            .await;
        if r.is_err() {
            self.inner.kms.audit.lost(n);
        }
        r
    }
}
