//! Rate limits as the server applies them (issue 22): who is counted under which key and rate.
//! The token buckets themselves are [`crate::rate_limit`].
//!
//! - Unsigned (anonymous) S3 requests and NFS guests: per client address (IPv6 per /64).
//! - Everyone else: per principal, at `user_per_minute`, unless one of the principal's roles
//!   has its own rate in `roles` (the most generous of them applies; 0 = unlimited). By
//!   default `admin` and `system` are unlimited.
//! - NFS calls: per principal (the address's peer user, or the guest per address) at
//!   `nfs_per_minute`, answered by delaying the call (at most 5 s), never by failing it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::Store;
use crate::model::Principal;
use crate::rate_limit::{Key, Rate, RateLimits, Verdict};
use crate::rbac::policy::GUEST_ID;

/// `rate_limits` from the config, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    pub anonymous: Rate,
    pub user: Rate,
    /// Role name → requests per minute (0 = unlimited); burst scales with it.
    pub roles: BTreeMap<String, u32>,
    pub nfs: Rate,
    /// Keys (principals and addresses) tracked at once; memory is fixed at start.
    pub max_keys: usize,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            anonymous: Rate {
                per_minute: 200,
                burst: 50,
            },
            user: Rate {
                per_minute: 60_000,
                burst: 10_000,
            },
            roles: [("admin".to_string(), 0), ("system".to_string(), 0)]
                .into_iter()
                .collect(),
            nfs: Rate {
                per_minute: 0,
                burst: 0,
            },
            max_keys: 65_536,
        }
    }
}

/// The limiter and its settings.
pub(crate) struct Rates {
    cfg: RateConfig,
    limits: RateLimits,
}

impl Default for Rates {
    /// The defaults on a small table: the server replaces it at start
    /// ([`Store::set_rate_limits`]).
    fn default() -> Self {
        Rates::new(RateConfig {
            max_keys: 64,
            ..RateConfig::default()
        })
    }
}

impl Rates {
    pub(crate) fn new(cfg: RateConfig) -> Rates {
        Rates {
            limits: RateLimits::new(cfg.max_keys),
            cfg,
        }
    }
}

/// A role's own rate, as a [`Rate`] (burst a sixth of the minute's worth, at least 10).
fn role_rate(per_minute: u32) -> Rate {
    Rate {
        per_minute,
        burst: (per_minute / 6).max(10),
    }
}

impl Store {
    /// Sets the rate limits (start-up only): the tables are allocated once.
    pub fn set_rate_limits(&self, cfg: RateConfig) -> crate::Result<()> {
        let mut r = self
            .inner
            .rates
            .write()
            .map_err(|_| crate::StoreError::internal("lock"))?;
        *r = Rates::new(cfg);
        drop(r);
        // Principals carry their roles' rates.
        self.reload_policy()
    }

    /// The role rates principals are resolved with.
    pub(crate) fn role_rates(&self) -> BTreeMap<String, u32> {
        match self.inner.rates.read() {
            Ok(r) => r.cfg.roles.clone(),
            Err(p) => p.into_inner().cfg.roles.clone(),
        }
    }

    /// Counts one S3 or admin request of `p` (from `addr`): `Err(retry_after)` when over its
    /// rate (S3 answers 503 SlowDown, the admin API 429, both with `Retry-After`).
    pub fn admit(&self, p: &Principal, addr: Option<IpAddr>) -> Result<(), Duration> {
        let rates = match self.inner.rates.read() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let (key, rate) = if p.anonymous || p.user_id == GUEST_ID {
            drop(rates);
            return self.admit_address(addr);
        } else {
            let rate = match p.rate_per_minute {
                Some(n) => role_rate(n),
                None => rates.cfg.user,
            };
            (Key::Principal(&p.user_id), rate)
        };
        match rates.limits.check(key, rate, Instant::now()) {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => {
                tracing::debug!(user = %p.user_id, "rate limited");
                Err(retry_after)
            }
        }
    }

    /// Whether NFS calls are rate limited at all (callers skip resolving the principal if not).
    pub fn nfs_rate_limited(&self) -> bool {
        match self.inner.rates.read() {
            Ok(r) => r.cfg.nfs.per_minute > 0,
            Err(p) => p.into_inner().cfg.nfs.per_minute > 0,
        }
    }

    /// Counts one request nobody vouches for (unsigned, a preflight, one that failed
    /// authentication) against its address's rate.
    pub fn admit_address(&self, addr: Option<IpAddr>) -> Result<(), Duration> {
        let Some(ip) = addr else { return Ok(()) };
        let rates = match self.inner.rates.read() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        match rates
            .limits
            .check(Key::Address(ip), rates.cfg.anonymous, Instant::now())
        {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => Err(retry_after),
        }
    }

    /// Counts one NFS call of `p` from `addr`: how long to delay it, if at all (at most 5 s).
    pub fn admit_nfs(&self, p: &Principal, addr: IpAddr) -> Option<Duration> {
        let rates = match self.inner.rates.read() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        if rates.cfg.nfs.per_minute == 0 {
            return None;
        }
        let key = if p.user_id == GUEST_ID {
            Key::Address(addr)
        } else {
            Key::Principal(&p.user_id)
        };
        rates.limits.delay_for(key, rates.cfg.nfs, Instant::now())
    }
}
