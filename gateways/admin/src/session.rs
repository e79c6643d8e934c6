//! Web sign-in: the in-memory session map and the failed-attempt lockout.
//!
//! A session is a random 256-bit id (the cookie) mapped to the access key that signed in, a
//! SHA-256 of its secret, a CSRF token and an expiry. It holds no principal: the caller's
//! principal is resolved again from the access key on every request, and the session dies as
//! soon as that key no longer yields the same secret (rotation, removal). Sessions live in
//! memory only, so a restart signs everybody out.
//!
//! Lockout: failed sign-ins are counted per access key and per client address; at
//! `max_failures` within one lockout period that key (or address) is locked for the lockout
//! period. A locked key is refused even with the right secret. A locked address only refuses
//! wrong credentials: a correct secret for a key that is not itself locked still signs in, so
//! failures by others behind one address (a NAT, a proxy) never lock a user out. A wrong guess
//! from a locked address still counts against its key. A success clears its key's counter
//! only: one valid account cannot reset its address's count between guesses at others.
//!
//! The client address is the connection's peer, or, when that peer is a configured trusted
//! proxy (`admin.trusted_proxies`), the nearest untrusted address in `X-Forwarded-For`.

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

/// Above this many entries, expired sessions and stale failure counters are swept; after a
/// sweep, not again before the map has doubled, so a flood of sign-ins costs amortized O(1)
/// each rather than a scan of every entry per request.
const SWEEP_ABOVE: usize = 1024;

/// A map swept of dead entries now and then.
struct Swept<K, V> {
    map: HashMap<K, V>,
    sweep_above: usize,
}

impl<K: std::hash::Hash + Eq, V> Swept<K, V> {
    fn new() -> Self {
        Swept {
            map: HashMap::new(),
            sweep_above: SWEEP_ABOVE,
        }
    }

    /// Keeps only the entries `alive` says are, once the map has grown past its mark.
    fn sweep(&mut self, alive: impl FnMut(&K, &mut V) -> bool) {
        if self.map.len() > self.sweep_above {
            self.map.retain(alive);
            self.sweep_above = SWEEP_ABOVE.max(self.map.len().saturating_mul(2));
        }
    }
}

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

/// Who a failure counter is for. A key by its SHA-256: the client chooses the text (up to the
/// JSON body limit), and a counter must not hold a megabyte.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Subject {
    Key([u8; 32]),
    Addr(IpAddr),
}

/// Sessions and sign-in failure counters, shared by all requests of one admin listener.
pub struct Sessions {
    max_failures: u32,
    lockout: Duration,
    live: Mutex<Swept<String, Session>>,
    failures: Mutex<Swept<Subject, Failures>>,
}

impl Sessions {
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Sessions {
            max_failures: max_failures.max(1),
            lockout,
            live: Mutex::new(Swept::new()),
            failures: Mutex::new(Swept::new()),
        }
    }

    /// Starts a session; returns (cookie id, CSRF token).
    pub fn create(&self, access_key: &str, secret: &str) -> Result<(String, String), String> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let mut live = lock(&self.live);
        live.sweep(|_, s| s.expires > now);
        live.map.insert(
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
        let Some(s) = lock(&self.live).map.get(id).cloned() else {
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
        lock(&self.live).map.remove(id);
    }

    /// Time left on a lockout of this access key, if any.
    pub fn key_locked_out(&self, access_key: &str) -> Option<Duration> {
        self.locked(&Subject::key(access_key))
    }

    /// Time left on a lockout of this client address, if any.
    pub fn addr_locked_out(&self, addr: Option<IpAddr>) -> Option<Duration> {
        self.locked(&Subject::Addr(addr?))
    }

    fn locked(&self, s: &Subject) -> Option<Duration> {
        let now = Instant::now();
        let t = lock(&self.failures).map.get(s)?.locked_until?;
        (t > now).then(|| t - now)
    }

    /// Counts a failed sign-in; locks the key (or address) out when it reaches the limit.
    pub fn failed(&self, access_key: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        let lockout = self.lockout;
        failures.sweep(|_, f| {
            f.locked_until.is_some_and(|t| t > now) || f.last.is_some_and(|t| now - t < lockout)
        });
        for s in subjects(access_key, addr) {
            let f = failures.map.entry(s).or_default();
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

    /// A successful sign-in clears the counter of its key (not of its address).
    pub fn succeeded(&self, access_key: &str) {
        lock(&self.failures).map.remove(&Subject::key(access_key));
    }
}

/// The address a sign-in comes from: the connection's `peer`, unless that peer is one of the
/// `trusted` proxies; then `X-Forwarded-For` is read from its right end (the hop the trusted
/// proxy appended) leftwards, skipping further trusted proxies, and the first other address is
/// the client. An entry that is not an address ends the walk at the last trusted hop: a
/// client-supplied prefix of the header is never believed.
pub fn client_addr(
    peer: Option<IpAddr>,
    headers: &http::HeaderMap,
    trusted: &[gatehouse_store::ops::PeerNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut addr = peer?.to_canonical();
    if !is_trusted(addr) {
        return Some(addr);
    }
    // Split as bytes: a client-supplied prefix with bytes that are not text must not hide the
    // hops a proxy appended after it in the same header line.
    let hops: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = std::str::from_utf8(hop)
            .ok()
            .and_then(|h| parse_hop(h.trim()))
        else {
            break;
        };
        addr = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(addr)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

fn subjects(access_key: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Subject> {
    std::iter::once(Subject::key(access_key)).chain(addr.map(Subject::Addr))
}

impl Subject {
    fn key(access_key: &str) -> Subject {
        Subject::Key(sha256(access_key))
    }
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
        assert!(s.key_locked_out("AK").is_none());
        assert!(s.addr_locked_out(Some(ip)).is_none());
        s.failed("AK", Some(ip));
        assert!(s.key_locked_out("AK").is_some(), "the key is locked");
        assert!(s.addr_locked_out(Some(ip)).is_some(), "so is the address");
        assert!(s.key_locked_out("OTHER").is_none(), "not another key");
        assert!(s.addr_locked_out(None).is_none());
    }

    #[test]
    fn success_clears_its_key_only_and_lockout_expires() {
        let s = Sessions::new(2, Duration::from_millis(50));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        s.failed("AK", Some(ip));
        s.succeeded("AK");
        s.failed("AK", None);
        assert!(
            s.key_locked_out("AK").is_none(),
            "the success reset the key's count"
        );
        s.failed("OTHER", Some(ip));
        assert!(
            s.addr_locked_out(Some(ip)).is_some(),
            "the success did not reset the address's count"
        );
        s.failed("AK", None);
        assert!(s.key_locked_out("AK").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.key_locked_out("AK").is_none());
        assert!(s.addr_locked_out(Some(ip)).is_none());
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
    fn a_flood_of_distinct_failures_is_not_a_scan_per_request() {
        // 20 000 failed sign-ins with made-up 4 KiB keys from one address: each used to scan
        // every counter once past 1024 (~10^8 visits) and to keep a copy of every key.
        let s = Sessions::new(5, Duration::from_secs(900));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let pad = "k".repeat(4096);
        let t = Instant::now();
        for i in 0..20_000 {
            s.failed(&format!("{i}{pad}"), Some(ip));
        }
        let took = t.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert!(s.addr_locked_out(Some(ip)).is_some());
        s.failed("victim", Some(ip));
        assert!(
            s.key_locked_out("victim").is_none(),
            "one failure is no lockout"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        use gatehouse_store::ops::parse_peer_address;
        let trusted = [parse_peer_address("10.0.0.0/8").unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        assert_eq!(
            client_addr(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_addr(ip("10.1.2.3"), &h, &trusted),
            ip("192.0.2.7"),
            "the hop the trusted proxy appended, not the client's own prefix"
        );
        h.insert("x-forwarded-for", "192.0.2.7, 10.9.9.9".parse().unwrap());
        assert_eq!(
            client_addr(ip("10.1.2.3"), &h, &trusted),
            ip("192.0.2.7"),
            "a chain of trusted proxies is skipped"
        );
        h.insert("x-forwarded-for", "192.0.2.7, junk".parse().unwrap());
        assert_eq!(
            client_addr(ip("10.1.2.3"), &h, &trusted),
            ip("10.1.2.3"),
            "garbage stops the walk at the last trusted hop"
        );
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff\xfe, 192.0.2.7").unwrap(),
        );
        assert_eq!(
            client_addr(ip("10.1.2.3"), &h, &trusted),
            ip("192.0.2.7"),
            "a prefix that is not text does not hide the hop the proxy appended"
        );
        h.insert("x-forwarded-for", "[2001:db8::1]:443".parse().unwrap());
        assert_eq!(
            client_addr(ip("::ffff:10.1.2.3"), &h, &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(client_addr(None, &h, &trusted), None);
        assert_eq!(
            client_addr(ip("10.1.2.3"), &http::HeaderMap::new(), &[]),
            ip("10.1.2.3")
        );
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
