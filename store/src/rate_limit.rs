//! Per-key token-bucket rate limits with bounded memory.
//!
//! A key is a principal id or a client address. [`RateLimits::check`] takes one
//! token for a key and either allows the request or says how long to wait
//! (for an HTTP `Retry-After` header); [`RateLimits::delay_for`] is for callers
//! that would rather wait than fail (NFS).
//!
//! # Bucket maths
//!
//! Each bucket refills continuously: `tokens = min(burst, tokens + elapsed *
//! rate)`, and a request needs one whole token. The state is stored in the
//! equivalent "theoretical arrival time" form: one instant `tat` such that
//! `tokens(now) = burst - max(0, tat - now) / interval`, where `interval` is
//! `60 s / per_minute` (rounded up to whole nanoseconds, which errs on the
//! strict side by under a nanosecond per token). Taking a token adds
//! `interval` to `max(tat, now)`. A bucket is *full* exactly when
//! `tat <= now`, whatever its rate, which is what makes eviction lossless
//! (below). Because the state is measured in time, a key whose rate changes
//! between calls (config reload) keeps its debt in seconds.
//!
//! `per_minute == 0` means unlimited: the call returns at once and touches no
//! state. `burst == 0` is treated as `burst == 1`, since a bucket that can
//! hold no token could never allow anything.
//!
//! # Keys
//!
//! * `Key::Principal(id)`: the id string.
//! * `Key::Address(IPv4)`: the full 32-bit address.
//! * `Key::Address(IPv6)`: the /64 prefix. One host (or one customer's
//!   network) normally owns a whole /64 and can pick any address in it, so
//!   keying by the full address would hand a single host 2^64 buckets.
//!   The price is that hosts behind one /64 (a shared LAN) share a limit.
//! * IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as reported by dual-stack
//!   sockets) is keyed as the IPv4 address it carries, not as one /64 shared
//!   by the whole IPv4 internet.
//!
//! Principals and addresses never share a bucket (the kind is hashed too).
//!
//! # Table design and eviction
//!
//! The table is allocated once, in [`RateLimits::new`], and never grows: at
//! most `max_keys` slots in total. It is split into shards (up to
//! [`MAX_SHARDS`], each a cache-line-padded `std::sync::Mutex`), and each
//! shard into *sets* of up to [`WAYS`] slots (set-associative, like a CPU
//! cache). A key is hashed with two independently keyed SipHash instances
//! (std `RandomState`, keys random per process) into a 128-bit fingerprint;
//! its bits choose the shard and the set, and a slot stores the fingerprint
//! plus the bucket's `tat` (24 bytes). Keys are therefore not stored (a
//! principal would need an allocation); two distinct keys share a slot only
//! on a 128-bit keyed-hash collision, which an attacker cannot aim for
//! without the per-process keys. Each call scans one set: O(WAYS) = O(1),
//! with no allocation and no walk of the table.
//!
//! When a key is not in its set:
//!
//! 1. It takes over any slot whose bucket is **full** (`tat <= now`; never
//!    used slots are full too). Replacing a full bucket loses nothing: if the
//!    evicted key comes back it starts with a full bucket, which is exactly
//!    what it had. So a flood can only ever displace keys that are owed no
//!    limit, and **cannot reset anyone's limit** — not a well-behaved heavy
//!    user's, and not the attacker's own drained key.
//! 2. If every slot in the set holds a partly drained bucket, the key is
//!    *homeless*: it is charged against the set's single shared **overflow
//!    bucket** (one per set, 8 bytes, same rate as the call). Homeless keys
//!    of that set share one limit; keys that have a slot are unaffected. A
//!    homeless key gets its own slot on its first call after any slot in the
//!    set has refilled.
//!
//! Trade-offs:
//!
//! * A key that holds a slot is never affected by anyone else's traffic.
//! * A flood can only hurt *new* keys, and only in sets it keeps entirely
//!   busy. Keeping one slot busy costs the attacker a sustained `rate` of
//!   requests (a bucket drained by one token refills in one `interval`), so
//!   denying new keys everywhere costs `max_keys * rate` requests per
//!   second, and while it lasts new keys of a saturated set share one
//!   bucket with the attacker's extra keys. With bounded memory some new
//!   keys must share state during such a flood; sharing a per-set overflow
//!   bucket confines the damage to new keys of that set, whereas sharing an
//!   established key's bucket would let the flood drain that key, and
//!   evicting a busy bucket would let the flood reset limits.
//! * The total allowed across *all* keys is bounded by the table size:
//!   every slot and every overflow bucket refills at `rate`, so distinct-key
//!   floods get at most `(slots + sets) * rate` requests per second, plus one
//!   burst per slot and per set.
//! * Memory is fixed at `max_keys * 24` bytes plus 8 bytes per set
//!   (`max_keys / WAYS` sets) and the shard headers, allocated up front.
//!
//! A poisoned shard mutex is recovered rather than propagated: a shard holds
//! only integers and every update is a single store, so it is never left
//! inconsistent.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Slots per set: how many keys hashing to the same set can be tracked.
pub const WAYS: usize = 8;

/// Upper bound on the number of shards (independent mutexes).
pub const MAX_SHARDS: usize = 64;

/// Longest delay [`RateLimits::delay_for`] asks a caller to sleep.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

const NANOS_PER_MINUTE: u64 = 60_000_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A limit: `per_minute` requests per minute sustained, up to `burst` at once.
/// `per_minute == 0` means unlimited; `burst == 0` behaves as 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

/// What a limit is applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// An authenticated principal id.
    Principal(&'a str),
    /// A client address; IPv6 is grouped by /64 (see the module docs).
    Address(IpAddr),
}

/// Result of [`RateLimits::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A token was taken; go ahead.
    Allowed,
    /// No token: retry after this long (whole seconds, at least 1 s).
    Limited { retry_after: Duration },
}

#[derive(Clone, Copy)]
struct Slot {
    /// 128-bit keyed fingerprint of the key; `[0, 0]` in a never-used slot.
    fp: [u64; 2],
    /// Theoretical arrival time, in nanoseconds since `RateLimits::base`.
    tat: u64,
}

const EMPTY: Slot = Slot { fp: [0, 0], tat: 0 };

struct Shard {
    /// `sets * ways` slots; set `i` is `slots[i * ways..(i + 1) * ways]`.
    slots: Box<[Slot]>,
    /// One shared bucket per set for keys that found no slot.
    overflow: Box<[u64]>,
}

/// Keeps shard mutexes on separate cache lines.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// Per-key token buckets in a fixed-size, sharded, set-associative table.
pub struct RateLimits {
    shards: Box<[Padded]>,
    ways: usize,
    hash_a: RandomState,
    hash_b: RandomState,
    base: Instant,
}

/// Per-call limit parameters in nanoseconds.
#[derive(Clone, Copy)]
struct Params {
    interval: u64,
    /// How far `tat` may be ahead of `now` and still allow: `(burst-1) * interval`.
    tolerance: u64,
}

impl Params {
    fn new(rate: Rate) -> Option<Self> {
        if rate.per_minute == 0 {
            return None;
        }
        let interval = NANOS_PER_MINUTE.div_ceil(u64::from(rate.per_minute));
        let extra = u64::from(rate.burst.max(1) - 1);
        Some(Params {
            interval,
            tolerance: interval.saturating_mul(extra),
        })
    }

    /// Time from `now` until a token is available in a bucket at `tat`
    /// (0 if one is available now).
    fn wait(self, tat: u64, now: u64) -> u64 {
        tat.saturating_sub(now.saturating_add(self.tolerance))
    }
}

impl RateLimits {
    /// A table tracking at most `max_keys` keys (at least one slot is
    /// always allocated). All memory is allocated here.
    pub fn new(max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let ways = WAYS.min(max_keys);
        let total_sets = max_keys / ways;
        let shard_count = MAX_SHARDS.min(total_sets);
        // Spread the sets over the shards; every shard gets at least one.
        let shards = (0..shard_count)
            .map(|i| {
                let sets = total_sets / shard_count + usize::from(i < total_sets % shard_count);
                Padded(Mutex::new(Shard {
                    slots: vec![EMPTY; sets * ways].into_boxed_slice(),
                    overflow: vec![0; sets].into_boxed_slice(),
                }))
            })
            .collect();
        RateLimits {
            shards,
            ways,
            hash_a: RandomState::new(),
            hash_b: RandomState::new(),
            base: Instant::now(),
        }
    }

    /// Number of key slots: `max_keys` rounded down to a multiple of
    /// [`WAYS`] (or `max_keys` itself if smaller); fixed for the table's life.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).slots.len()).sum()
    }

    /// Number of slots that have ever held a key (≤ [`Self::capacity`]).
    /// Walks the whole table: for metrics and tests, not the request path.
    pub fn occupied(&self) -> usize {
        self.shards
            .iter()
            .map(|s| lock(&s.0).slots.iter().filter(|s| s.fp != [0, 0]).count())
            .sum()
    }

    /// Takes one token for `key` at `now` under `rate`. O(1); never allocates.
    pub fn check(&self, key: Key<'_>, rate: Rate, now: Instant) -> Verdict {
        let Some(p) = Params::new(rate) else {
            return Verdict::Allowed;
        };
        let now = self.nanos(now);
        self.with_bucket(key, now, |tat| {
            let start = (*tat).max(now);
            match p.wait(start, now) {
                0 => {
                    *tat = start.saturating_add(p.interval);
                    Verdict::Allowed
                }
                wait => Verdict::Limited {
                    retry_after: Duration::from_secs(wait.div_ceil(NANOS_PER_SECOND).max(1)),
                },
            }
        })
    }

    /// For callers that wait instead of failing. Takes a token if one is
    /// available and returns `None`; otherwise reserves the next free token
    /// for this caller and returns how long to sleep before going ahead.
    ///
    /// The sleep is capped at [`MAX_DELAY`] (5 s) so an NFS request never
    /// stalls a server thread, or the client's RPC timer, for long. When the
    /// key's queue of reservations is already deeper than that, the caller
    /// is still let through after `MAX_DELAY` but the queue is not extended
    /// further (the excess is forgiven, so debt stays bounded). Hence this is
    /// a shaper: under overload a key gets at most
    /// `max(rate, in_flight / 5 s)` requests per second, where `in_flight`
    /// is its number of concurrent waiting requests (bounded by the NFS
    /// session's slot table). A caller that wants a hard limit can treat a
    /// returned `MAX_DELAY` as "reply NFS4ERR_DELAY / NFS3ERR_JUKEBOX".
    pub fn delay_for(&self, key: Key<'_>, rate: Rate, now: Instant) -> Option<Duration> {
        let p = Params::new(rate)?;
        let now = self.nanos(now);
        let cap = u64::try_from(MAX_DELAY.as_nanos()).unwrap_or(u64::MAX);
        self.with_bucket(key, now, |tat| {
            let start = (*tat).max(now);
            let wait = p.wait(start, now);
            // Hold the queue at most `cap` deep: the reservation made here
            // becomes available at `now + min(wait, cap)`.
            let limit = now.saturating_add(p.tolerance).saturating_add(cap);
            *tat = start.min(limit).saturating_add(p.interval);
            match wait {
                0 => None,
                wait => Some(Duration::from_nanos(wait.min(cap))),
            }
        })
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn fingerprint(&self, key: Key<'_>) -> [u64; 2] {
        let mut a = self.hash_a.build_hasher();
        let mut b = self.hash_b.build_hasher();
        for h in [&mut a, &mut b] {
            hash_key(key, h);
        }
        [a.finish(), b.finish()]
    }

    /// Runs `f` on the bucket (`tat`) of `key` under its shard's lock,
    /// finding, claiming or sharing a slot as described in the module docs.
    fn with_bucket<R>(&self, key: Key<'_>, now: u64, f: impl FnOnce(&mut u64) -> R) -> R {
        let fp = self.fingerprint(key);
        // There is at least one shard, and each has at least one set.
        let shard_count = self.shards.len() as u64;
        let shard_index = (fp[0] % shard_count) as usize;
        let mut shard = lock(&self.shards[shard_index].0);
        let Shard { slots, overflow } = &mut *shard;
        let set_index = ((fp[0] / shard_count) % overflow.len() as u64) as usize;
        let start = set_index * self.ways;
        let set = &mut slots[start..start + self.ways];

        let mut free = None;
        for (i, slot) in set.iter_mut().enumerate() {
            if slot.fp == fp {
                return f(&mut slot.tat);
            }
            if free.is_none() && slot.tat <= now {
                free = Some(i);
            }
        }
        match free {
            Some(i) => {
                // A full bucket: replacing it loses no state.
                let slot = &mut set[i];
                *slot = Slot { fp, tat: now };
                f(&mut slot.tat)
            }
            None => f(&mut overflow[set_index]),
        }
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hash_key(key: Key<'_>, h: &mut impl Hasher) {
    match key {
        Key::Principal(id) => {
            h.write_u8(0);
            id.hash(h);
        }
        Key::Address(IpAddr::V4(v4)) => {
            h.write_u8(1);
            h.write(&v4.octets());
        }
        Key::Address(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => {
                h.write_u8(1);
                h.write(&v4.octets());
            }
            None => {
                let octets = v6.octets();
                h.write_u8(2);
                h.write(&octets[..8]);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    const fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn allowed(v: Verdict) -> bool {
        v == Verdict::Allowed
    }

    /// Number of consecutive allowed checks at one instant (stops at `max`).
    fn drain(l: &RateLimits, key: Key<'_>, r: Rate, now: Instant, max: usize) -> usize {
        (0..max)
            .take_while(|_| allowed(l.check(key, r, now)))
            .count()
    }

    fn v6(s: &str) -> Key<'static> {
        Key::Address(IpAddr::V6(s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)))
    }

    #[test]
    fn burst_then_limited() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let k = Key::Principal("alice");
        assert_eq!(drain(&l, k, rate(60, 10), t, 100), 10);
        assert!(!allowed(l.check(k, rate(60, 10), t)));
        // burst 0 behaves as 1.
        assert_eq!(drain(&l, Key::Principal("bob"), rate(60, 0), t, 100), 1);
    }

    #[test]
    fn refill_is_continuous_and_capped() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let k = Key::Principal("alice");
        let r = rate(60, 10); // one token per second
        assert_eq!(drain(&l, k, r, t, 100), 10);
        assert!(!allowed(l.check(k, r, t + secs(0.999))));
        assert!(allowed(l.check(k, r, t + secs(1.0))));
        assert!(!allowed(l.check(k, r, t + secs(1.0))));
        // 3.5 s after the drain 3.5 tokens accrued; one was used at 1.0 s.
        assert_eq!(drain(&l, k, r, t + secs(3.5), 100), 2);
        // The half token carries over.
        assert!(allowed(l.check(k, r, t + secs(4.0))));
        // A long idle period refills to `burst`, not beyond.
        assert_eq!(drain(&l, k, r, t + secs(1000.0), 100), 10);
        // Fractional rates: 90/min = 1.5/s.
        let k2 = Key::Principal("carol");
        let r2 = rate(90, 1);
        assert!(allowed(l.check(k2, r2, t)));
        assert!(!allowed(l.check(k2, r2, t + secs(0.66))));
        assert!(allowed(l.check(k2, r2, t + secs(0.67))));
    }

    #[test]
    fn unlimited_touches_nothing() {
        let l = RateLimits::new(16);
        let t = Instant::now();
        for i in 0..1000 {
            let id = format!("u{i}");
            assert!(allowed(l.check(Key::Principal(&id), rate(0, 0), t)));
            assert_eq!(l.delay_for(Key::Principal(&id), rate(0, 0), t), None);
        }
        assert_eq!(l.occupied(), 0);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let limited = |s| Verdict::Limited {
            retry_after: Duration::from_secs(s),
        };
        let k = Key::Principal("a");
        assert!(allowed(l.check(k, rate(1, 1), t)));
        assert_eq!(l.check(k, rate(1, 1), t), limited(60));
        assert_eq!(l.check(k, rate(1, 1), t + secs(0.5)), limited(60));
        assert_eq!(l.check(k, rate(1, 1), t + secs(1.0)), limited(59));
        assert_eq!(l.check(k, rate(1, 1), t + secs(58.9)), limited(2));
        // Less than a second left still says 1 s, never 0.
        assert_eq!(l.check(k, rate(1, 1), t + secs(59.999)), limited(1));
        // Sub-second intervals: 600/min = 0.1 s per token, still 1 s.
        let k = Key::Principal("b");
        assert!(allowed(l.check(k, rate(600, 1), t)));
        assert_eq!(l.check(k, rate(600, 1), t), limited(1));
        // 7/min: 8.57 s per token rounds up to 9 s.
        let k = Key::Principal("c");
        assert!(allowed(l.check(k, rate(7, 1), t)));
        assert_eq!(l.check(k, rate(7, 1), t), limited(9));
    }

    #[test]
    fn keys_are_isolated() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let r = rate(60, 3);
        assert_eq!(drain(&l, Key::Principal("alice"), r, t, 10), 3);
        assert_eq!(drain(&l, Key::Principal("bob"), r, t, 10), 3);
        let ip = Key::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(drain(&l, ip, r, t, 10), 3);
        let ip2 = Key::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(drain(&l, ip2, r, t, 10), 3);
        // A principal that looks like an address is still a separate key.
        let l = RateLimits::new(1024);
        assert_eq!(drain(&l, Key::Principal("192.0.2.1"), r, t, 10), 3);
        assert_eq!(drain(&l, ip, r, t, 10), 3);
    }

    #[test]
    fn ipv6_grouped_by_slash_64() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let r = rate(60, 4);
        assert_eq!(drain(&l, v6("2001:db8:1:2::1"), r, t, 10), 4);
        assert!(!allowed(l.check(v6("2001:db8:1:2:ffff:1:2:3"), r, t)));
        assert!(!allowed(l.check(v6("2001:db8:1:2::2"), r, t)));
        // Neighbouring /64s are separate.
        assert_eq!(drain(&l, v6("2001:db8:1:3::1"), r, t, 10), 4);
        assert_eq!(drain(&l, v6("2001:db8:1:1::1"), r, t, 10), 4);
    }

    #[test]
    fn ipv4_mapped_is_keyed_as_ipv4() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let r = rate(60, 2);
        let a = Key::Address(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(drain(&l, a, r, t, 10), 2);
        assert!(!allowed(l.check(v6("::ffff:198.51.100.7"), r, t)));
        // Other IPv4 hosts (same mapped /64) are not affected.
        assert_eq!(drain(&l, v6("::ffff:198.51.100.8"), r, t, 10), 2);
    }

    #[test]
    fn delay_for_reserves_and_caps() {
        let l = RateLimits::new(1024);
        let t = Instant::now();
        let k = Key::Principal("nfs");
        let r = rate(60, 2);
        assert_eq!(l.delay_for(k, r, t), None);
        assert_eq!(l.delay_for(k, r, t), None);
        for s in 1..=5 {
            assert_eq!(l.delay_for(k, r, t), Some(Duration::from_secs(s)));
        }
        // Deeper than the cap: sleep 5 s, queue not extended.
        assert_eq!(l.delay_for(k, r, t), Some(MAX_DELAY));
        assert_eq!(l.delay_for(k, r, t), Some(MAX_DELAY));
        // check() sees the reservations: next token is 6 s away.
        assert_eq!(
            l.check(k, r, t),
            Verdict::Limited {
                retry_after: Duration::from_secs(6)
            }
        );
        // After the queue drains, bucket refills normally.
        assert_eq!(drain(&l, k, r, t + secs(6.0 + 2.0), 10), 2);
        // A partial wait is exact, not rounded.
        let k = Key::Principal("nfs2");
        assert_eq!(l.delay_for(k, rate(60, 1), t), None);
        assert_eq!(
            l.delay_for(k, rate(60, 1), t + secs(0.25)),
            Some(secs(0.75))
        );
    }

    #[test]
    fn concurrent_callers_take_no_more_than_allowed() {
        let l = Arc::new(RateLimits::new(1024));
        let r = rate(6000, 20); // 100/s
        // Same instant: exactly `burst` tokens across all threads.
        let t = Instant::now();
        let got = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (l, got) = (Arc::clone(&l), Arc::clone(&got));
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if allowed(l.check(Key::Principal("hot"), r, t)) {
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            assert!(th.join().is_ok());
        }
        assert_eq!(got.load(Ordering::Relaxed), 20);

        // Real time over a window: at most burst + rate * elapsed.
        let k = "hot2";
        let start = Instant::now();
        let got = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (l, got) = (Arc::clone(&l), Arc::clone(&got));
                std::thread::spawn(move || {
                    while start.elapsed() < Duration::from_millis(300) {
                        if allowed(l.check(Key::Principal(k), r, Instant::now())) {
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            assert!(th.join().is_ok());
        }
        let elapsed = start.elapsed().as_secs_f64();
        let got = got.load(Ordering::Relaxed) as f64;
        let max = 20.0 + 100.0 * elapsed;
        assert!(got <= max, "took {got} tokens, at most {max} allowed");
        assert!(got >= 20.0 + 100.0 * 0.3 - 2.0, "took only {got}");
    }

    fn flood_key(i: u64) -> Key<'static> {
        let hi = (0x2001_0db8u128 << 96) | (u128::from(i) << 64);
        Key::Address(IpAddr::V6(Ipv6Addr::from(hi | 1)))
    }

    #[test]
    fn flood_of_distinct_keys_stays_bounded() {
        let max_keys = 10_000;
        let l = RateLimits::new(max_keys);
        assert!(l.capacity() <= max_keys);
        assert!(l.capacity() > max_keys - WAYS);
        let t = Instant::now();
        let r = rate(60, 5);
        let mut allowed_count = 0u64;
        for i in 0..1_000_000u64 {
            // Time advances 1 µs per request: 1M requests in one second.
            let now = t + Duration::from_micros(i);
            if allowed(l.check(flood_key(i), r, now)) {
                allowed_count += 1;
            }
        }
        let occupied = l.occupied();
        let bytes = l.capacity() * std::mem::size_of::<Slot>();
        println!(
            "flood: capacity {} occupied {occupied} slot bytes {bytes} allowed {allowed_count}",
            l.capacity()
        );
        assert!(occupied <= l.capacity());
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        // Each slot and each overflow bucket gives at most `burst` tokens
        // plus one per second of refill; the flood lasted one second.
        let sets = (l.capacity() / WAYS) as u64;
        let bound = (l.capacity() as u64 + sets) * (5 + 1);
        assert!(allowed_count <= bound, "{allowed_count} > {bound}");
        assert!(allowed_count < 1_000_000 / 10);
    }

    #[test]
    fn flood_cannot_reset_or_drain_established_keys() {
        let l = RateLimits::new(256);
        let t = Instant::now();
        let r = rate(60, 5);
        let heavy = Key::Principal("heavy-user");
        let attacker = Key::Address(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        let light = Key::Principal("light-user");
        assert_eq!(drain(&l, heavy, r, t, 10), 5);
        assert_eq!(drain(&l, attacker, r, t, 10), 5);
        assert_eq!(drain(&l, light, r, t, 2), 2);

        // 200k distinct keys at the same instant (no refill anywhere).
        for i in 0..200_000 {
            let _ = l.check(flood_key(i), r, t);
        }
        // Nobody's limit was reset...
        assert!(!allowed(l.check(heavy, r, t)));
        assert!(!allowed(l.check(attacker, r, t)));
        // ...and an established key keeps exactly its remaining tokens.
        assert_eq!(drain(&l, light, r, t, 10), 3);

        // Still true while the flood keeps going over time.
        for i in 0..200_000u64 {
            let now = t + Duration::from_micros(i * 5); // one second
            let _ = l.check(flood_key(1_000_000 + i), r, now);
        }
        let t1 = t + secs(1.0);
        assert_eq!(drain(&l, heavy, r, t1, 10), 1);
        assert_eq!(drain(&l, attacker, r, t1, 10), 1);
    }

    #[test]
    fn homeless_keys_share_overflow_then_get_a_slot() {
        // One set of WAYS slots, so every key competes for it.
        let l = RateLimits::new(WAYS);
        assert_eq!(l.capacity(), WAYS);
        let t = Instant::now();
        let r = rate(60, 2);
        let ids: Vec<String> = (0..WAYS).map(|i| format!("busy{i}")).collect();
        for id in &ids {
            assert!(allowed(l.check(Key::Principal(id), r, t)));
        }
        // The set is full of partly drained buckets: newcomers share one
        // overflow bucket of burst 2.
        assert!(allowed(l.check(Key::Principal("new1"), r, t)));
        assert!(allowed(l.check(Key::Principal("new2"), r, t)));
        assert!(!allowed(l.check(Key::Principal("new3"), r, t)));
        // Established keys are unaffected.
        for id in &ids {
            assert!(allowed(l.check(Key::Principal(id), r, t)));
        }
        // Once slots refill (2 s), a newcomer gets its own full bucket.
        let t2 = t + secs(2.0);
        assert_eq!(drain(&l, Key::Principal("new3"), r, t2, 10), 2);
        assert_eq!(l.occupied(), WAYS);
    }

    #[test]
    fn tiny_tables() {
        let t = Instant::now();
        for n in [0, 1, 3, 8, 9, 100] {
            let l = RateLimits::new(n);
            assert!(l.capacity() <= n.max(1) && l.capacity() >= 1);
            assert_eq!(drain(&l, Key::Principal("x"), rate(60, 3), t, 10), 3);
        }
    }

    #[test]
    fn instants_before_creation_or_out_of_order() {
        let early = Instant::now();
        let l = RateLimits::new(64);
        let k = Key::Principal("a");
        let r = rate(60, 1);
        assert!(allowed(l.check(k, r, early)));
        let later = Instant::now() + secs(10.0);
        assert!(allowed(l.check(k, r, later)));
        // A racing caller with an older `now` does not get a refund.
        assert!(!allowed(l.check(k, r, later - secs(5.0))));
    }
}
