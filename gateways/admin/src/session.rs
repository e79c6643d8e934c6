//! Web sign-in: the in-memory session map and the failed-attempt lockout.
//!
//! A session is a random 256-bit id (the cookie) mapped to the access key that signed in, a
//! SHA-256 of its secret, a CSRF token and an expiry. It holds no principal: the caller's
//! principal is resolved again from the access key on every request, and the session dies as
//! soon as that key no longer yields the same secret (rotation, removal). Sessions live in
//! memory only, so a restart signs everybody out.
//!
//! Lockout: failed sign-ins are counted per access key and per client address; at
//! `max_failures` within one lockout period that key (or address) is refused for the lockout
//! period, even with the right secret. A success clears both counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "gatehouse_session";

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Above this many entries, expired sessions and stale failure counters are swept.
const SWEEP_ABOVE: usize = 1024;

#[derive(Clone)]
struct Session {
    access_key: String,
    secret_sha256: [u8; 32],
    csrf: String,
    expires: Instant,
}

/// What a valid session cookie stands for.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub access_key: String,
    pub csrf: String,
    pub expires_in: Duration,
}

#[derive(Default)]
struct Failures {
    count: u32,
    last: Option<Instant>,
    locked_until: Option<Instant>,
}

/// Who a failure counter is for.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Subject {
    Key(String),
    Addr(IpAddr),
}

/// Sessions and sign-in failure counters, shared by all requests of one admin listener.
pub struct Sessions {
    max_failures: u32,
    lockout: Duration,
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<Subject, Failures>>,
}

impl Sessions {
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Sessions {
            max_failures: max_failures.max(1),
            lockout,
            live: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; returns (cookie id, CSRF token).
    pub fn create(&self, access_key: &str, secret: &str) -> Result<(String, String), String> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let mut live = lock(&self.live);
        if live.len() > SWEEP_ABOVE {
            live.retain(|_, s| s.expires > now);
        }
        live.insert(
            id.clone(),
            Session {
                access_key: access_key.to_string(),
                secret_sha256: sha256(secret),
                csrf: csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        Ok((id, csrf))
    }

    /// The live session behind a cookie id, if `current_secret` (the secret its access key
    /// has now, `None` when the key is gone) is still the one it signed in with. A dead
    /// session is forgotten; a failed lookup is passed on and leaves the session be.
    pub fn check<E>(
        &self,
        id: &str,
        current_secret: impl FnOnce(&str) -> Result<Option<String>, E>,
    ) -> Result<Option<SessionInfo>, E> {
        let Some(s) = lock(&self.live).get(id).cloned() else {
            return Ok(None);
        };
        let now = Instant::now();
        let alive = s.expires > now
            && current_secret(&s.access_key)?
                .is_some_and(|sec| bool::from(sha256(&sec).ct_eq(&s.secret_sha256)));
        if !alive {
            self.end(id);
            return Ok(None);
        }
        Ok(Some(SessionInfo {
            access_key: s.access_key,
            csrf: s.csrf,
            expires_in: s.expires - now,
        }))
    }

    /// Forgets a session (sign-out).
    pub fn end(&self, id: &str) {
        lock(&self.live).remove(id);
    }

    /// Time left on a lockout of this key or address, if any.
    pub fn locked_out(&self, access_key: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let failures = lock(&self.failures);
        subjects(access_key, addr)
            .filter_map(|s| failures.get(&s)?.locked_until)
            .filter(|&t| t > now)
            .map(|t| t - now)
            .max()
    }

    /// Counts a failed sign-in; locks the key (or address) out when it reaches the limit.
    pub fn failed(&self, access_key: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() > SWEEP_ABOVE {
            let lockout = self.lockout;
            failures.retain(|_, f| {
                f.locked_until.is_some_and(|t| t > now) || f.last.is_some_and(|t| now - t < lockout)
            });
        }
        for s in subjects(access_key, addr) {
            let f = failures.entry(s).or_default();
            // Failures further apart than one lockout period do not add up.
            if f.last.is_some_and(|t| now - t >= self.lockout) {
                f.count = 0;
            }
            f.count += 1;
            f.last = Some(now);
            if f.count >= self.max_failures {
                f.count = 0;
                f.locked_until = Some(now + self.lockout);
            }
        }
    }

    /// A successful sign-in clears the counters of its key and address.
    pub fn succeeded(&self, access_key: &str, addr: Option<IpAddr>) {
        let mut failures = lock(&self.failures);
        for s in subjects(access_key, addr) {
            failures.remove(&s);
        }
    }
}

fn subjects(access_key: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Subject> {
    std::iter::once(Subject::Key(access_key.to_string())).chain(addr.map(Subject::Addr))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// 256 random bits as 64 hex characters.
fn random_hex() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for a session id: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Constant-time string equality (secrets, CSRF tokens).
pub fn same_secret(a: &str, b: &str) -> bool {
    // Comparing digests keeps the time independent of where the strings differ and of
    // their lengths.
    bool::from(sha256(a).ct_eq(&sha256(b)))
}

/// The value of the session cookie in a `Cookie` header, if any.
pub fn cookie_id(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_counts_per_key_and_address() {
        let s = Sessions::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..2 {
            s.failed("AK", Some(ip));
        }
        assert!(s.locked_out("AK", Some(ip)).is_none());
        s.failed("AK", Some(ip));
        assert!(s.locked_out("AK", None).is_some(), "the key is locked");
        assert!(
            s.locked_out("OTHER", Some(ip)).is_some(),
            "so is the address"
        );
        assert!(s.locked_out("OTHER", None).is_none());
    }

    #[test]
    fn success_clears_and_lockout_expires() {
        let s = Sessions::new(2, Duration::from_millis(50));
        s.failed("AK", None);
        s.succeeded("AK", None);
        s.failed("AK", None);
        assert!(
            s.locked_out("AK", None).is_none(),
            "the success reset the count"
        );
        s.failed("AK", None);
        assert!(s.locked_out("AK", None).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.locked_out("AK", None).is_none());
    }

    #[test]
    fn sessions_die_with_their_secret() {
        let s = Sessions::new(5, Duration::from_secs(60));
        let (id, csrf) = s.create("AK", "secret").unwrap();
        assert_eq!(id.len(), 64);
        let now = |v: &'static str| move |_: &str| Ok::<_, ()>(Some(v.to_string()));
        assert!(s.check(&id, |_| Err("store down")).is_err());
        let info = s.check(&id, now("secret")).unwrap().unwrap();
        assert_eq!(info.csrf, csrf, "a failed lookup did not end the session");
        assert!(s.check(&id, now("rotated")).unwrap().is_none());
        assert!(
            s.check(&id, now("secret")).unwrap().is_none(),
            "a dead session stays dead"
        );
        assert!(s.check("nope", now("secret")).unwrap().is_none());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=b; gatehouse_session=abc ; c=d".parse().unwrap(),
        );
        assert_eq!(cookie_id(&h), Some("abc"));
        h.insert(http::header::COOKIE, "gatehouse_session=".parse().unwrap());
        assert_eq!(cookie_id(&h), None);
    }
}
