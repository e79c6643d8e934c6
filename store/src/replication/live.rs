//! What the replication worker is doing now, per rule, in memory (lost at restart, which only
//! resets the in-flight count and the last error): the store's status calls merge it with the
//! running totals kept in the rule records.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Default)]
pub struct LiveRule {
    /// Keys being sent now.
    pub in_flight: u32,
    /// The last failed send's error (cleared by the next success).
    pub last_error: Option<String>,
    /// While backing off after a failure: Unix ms of the next attempt.
    pub retry_at_ms: Option<i64>,
}

/// Per bucket id.
#[derive(Default)]
pub struct Live(Mutex<HashMap<u64, LiveRule>>);

impl Live {
    pub fn get(&self, bucket_id: u64) -> LiveRule {
        self.0
            .lock()
            .map(|m| m.get(&bucket_id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Changes bucket `id`'s entry.
    pub fn update(&self, bucket_id: u64, f: impl FnOnce(&mut LiveRule)) {
        if let Ok(mut m) = self.0.lock() {
            f(m.entry(bucket_id).or_default());
        }
    }

    pub fn forget(&self, bucket_id: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&bucket_id);
        }
    }
}
