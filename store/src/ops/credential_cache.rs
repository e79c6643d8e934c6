//! Signed requests' credential lookups, remembered. For a small request, deriving the caller's
//! S3 secret (parsing its Ed25519 key, then HKDF over the master key) and resolving its
//! principal (a walk over every binding, one grant built per match) cost more than the rest of
//! the request together, and the principal's cost grew with the buckets its user created (each
//! creator is bound `bucket-admin` on its bucket). Neither depends on anything but the user's
//! key and credential generation (the secret) and the policy snapshot (the principal), so:
//!
//! - a secret and principal are kept for an access key under the identity epoch read *before*
//!   the key's credential and user rows were read and the principal resolved (the epoch of
//!   [`super::PeerPrincipals`], moved by every change of users, credentials, peers, roles,
//!   groups and bindings once it has committed — by the commit thread itself
//!   (`Store::policy_changed`), so even a request dropped midway moves it). While the epoch has not moved, a
//!   lookup is answered from here without reading a row; a rotated or removed user's old key
//!   fails at once after the change (the epoch moved, the rows are read again and no longer
//!   match), and a lookup racing a change is never served after it;
//! - once the epoch has moved, the secret is still reused for the same user id and generation
//!   (the rows read again say whether they still hold), and the principal resolved again.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::Principal;

/// Access keys remembered before the map starts over.
const CREDENTIALS_MAX: usize = 4096;

struct Known {
    user_id: String,
    generation: u32,
    secret: String,
    epoch: u64,
    principal: Principal,
}

#[derive(Default)]
pub(crate) struct CredentialCache {
    known: Mutex<HashMap<String, Known>>,
}

/// What is kept for an access key that still names this user and generation.
pub(crate) struct Hit {
    pub secret: String,
    /// The principal, when it was resolved under the epoch asked for.
    pub principal: Option<Principal>,
}

impl CredentialCache {
    /// The secret and principal kept for `access_key` if they were looked up under `epoch`,
    /// the current one: nothing that could change them has committed since.
    pub(crate) fn current(&self, access_key: &str, epoch: u64) -> Option<(String, Principal)> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let k = known.get(access_key)?;
        (k.epoch == epoch).then(|| (k.secret.clone(), k.principal.clone()))
    }

    pub(crate) fn get(
        &self,
        access_key: &str,
        user_id: &str,
        generation: u32,
        epoch: u64,
    ) -> Option<Hit> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let k = known.get(access_key)?;
        (k.user_id == user_id && k.generation == generation).then(|| Hit {
            secret: k.secret.clone(),
            principal: (k.epoch == epoch).then(|| k.principal.clone()),
        })
    }

    /// Keeps a lookup's answer; `epoch` is the one read before `principal` was resolved. A
    /// result older than what is kept for the key is dropped.
    pub(crate) fn put(
        &self,
        access_key: &str,
        user_id: &str,
        generation: u32,
        secret: &str,
        epoch: u64,
        principal: &Principal,
    ) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = known.get(access_key)
            && k.epoch > epoch
        {
            return;
        }
        if known.len() >= CREDENTIALS_MAX && !known.contains_key(access_key) {
            known.clear();
        }
        known.insert(
            access_key.to_string(),
            Known {
                user_id: user_id.to_string(),
                generation,
                secret: secret.to_string(),
                epoch,
                principal: principal.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_lookup_serves_only_its_user_generation_and_epoch() {
        let cache = CredentialCache::default();
        let p = crate::rbac::Policy::default().guest();
        cache.put("AK", "u1", 0, "s0", 5, &p);
        let hit = cache.get("AK", "u1", 0, 5).expect("kept");
        assert_eq!(hit.secret, "s0");
        assert!(hit.principal.is_some());
        // A policy change: the secret still serves, the principal is resolved again.
        let hit = cache.get("AK", "u1", 0, 6).expect("kept");
        assert!(hit.principal.is_none());
        assert!(cache.current("AK", 5).is_some());
        assert!(cache.current("AK", 6).is_none(), "not once the epoch moved");
        assert!(cache.current("BK", 5).is_none());
        // Rotated credentials (another generation) or another user: nothing.
        assert!(cache.get("AK", "u1", 1, 5).is_none());
        assert!(cache.get("AK", "u2", 0, 5).is_none());
        // A resolution that began before the change does not replace a newer one.
        cache.put("AK", "u1", 0, "s0", 7, &p);
        cache.put("AK", "u1", 0, "s0", 6, &p);
        assert!(
            cache
                .get("AK", "u1", 0, 7)
                .and_then(|h| h.principal)
                .is_some()
        );
    }
}
