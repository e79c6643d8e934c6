//! Chunk garbage collection on demand: `gatehouse gc` / `POST /api/gc` (an admin collects the
//! chunk files of deleted objects now, not after the grace period), and a background run when a
//! write hits a full disk.
//!
//! "Now" means grace zero. That is safe because the grace period is not what protects writes:
//! a writer pins every chunk from before it looks for or writes the file until its commit has
//! finished, and GC deletes a file only while holding the pin lock, when it is neither pinned
//! nor referenced by a committed row (read in a transaction begun under that lock, after every
//! answered mutation is durable; a run deletes nothing when that cannot be done). See `blobs.rs`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::blobs::GcStats;
use crate::error::Result;
use crate::model::Principal;
use crate::rbac::{Resource, Verb, authorize};
use crate::{Store, deny};

/// Whether a background run started by a full disk is under way (one at a time).
#[derive(Default)]
pub(crate) struct GcTrigger(AtomicBool);

impl Store {
    /// Collects every chunk file no object, part or in-flight write refers to, now
    /// (`create` on `storage`: admins).
    pub async fn collect_garbage(&self, p: &Principal) -> Result<GcStats> {
        deny(authorize(p, Verb::Create, Resource::Storage))?;
        let stats = self.gc(Some(std::time::Duration::ZERO)).await?;
        super::users::audit(
            p,
            "storage.gc",
            &format!(
                "{} of {} chunk files deleted, {} bytes freed",
                stats.deleted, stats.scanned, stats.deleted_bytes
            ),
        );
        Ok(stats)
    }

    /// A write found the disk full (staging its chunks, or committing its metadata): collect
    /// garbage now in the background, so that space freed by deletes comes back soon. At most
    /// one such run at a time.
    pub(crate) fn gc_soon(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.gc_trigger.0.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        rt.spawn(async move {
            match this.gc(Some(std::time::Duration::ZERO)).await {
                Ok(s) => tracing::info!(
                    scanned = s.scanned,
                    deleted = s.deleted,
                    bytes = s.deleted_bytes,
                    "chunk GC after a full disk"
                ),
                Err(e) => tracing::warn!(error = %e, "chunk GC after a full disk failed"),
            }
            this.inner.gc_trigger.0.store(false, Ordering::Release);
        });
    }
}
