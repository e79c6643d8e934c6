//! NFS peers: client addresses the network vouches for, each acting as one user. Managing them
//! is user administration (`create`/`delete` on `users`); reading them is the `peers-mgmt`
//! panel's.

use std::net::IpAddr;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::model::{PeerRecord, Principal, UserRecord};
use crate::rbac::roles::truncate;
use crate::rbac::{Resource, Verb, authorize, holds_everything};
use crate::tables::{PEERS, USERS};
use crate::{Store, StoreError, codec, deny, now_ms};

use super::users::{audit, resolve_user_txn};

#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// Canonical IP address text (`10.0.0.5`, `fd00::5`).
    pub address: String,
    pub user_id: String,
    /// The user's current name (empty if the user was removed).
    pub name: String,
    pub description: String,
    pub created_ms: i64,
}

/// A peer: one client address or a CIDR block of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerNet {
    /// The network address (host bits cleared; IPv4-mapped IPv6 is its IPv4 form).
    pub addr: IpAddr,
    pub prefix: u8,
}

impl PeerNet {
    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn mask(&self) -> u128 {
        let width = Self::max_prefix(self.addr);
        let host = u32::from(width - self.prefix);
        if host >= 128 {
            0
        } else {
            (u128::MAX << host) & (u128::MAX >> (128 - u32::from(width)))
        }
    }

    /// Whether `ip` (canonical) lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && Self::bits(ip) & self.mask() == Self::bits(self.addr)
    }
}

impl std::fmt::Display for PeerNet {
    /// One host is its bare address (`10.0.0.5`), a block `10.0.0.0/24`: the key in `peers`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == Self::max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Parses a peer: one IPv4 or IPv6 address, or a CIDR block (`10.0.0.0/24`, `fd00::/64`). An
/// IPv4-mapped IPv6 address is its IPv4 form, so one host has one entry; host bits of a block
/// are cleared (`10.0.0.7/24` is `10.0.0.0/24`).
pub fn parse_peer_address(s: &str) -> Result<PeerNet> {
    let bad = || {
        StoreError::InvalidArgument(format!(
            "{:?} is not an IP address or CIDR block (e.g. 10.0.0.5 or 10.0.0.0/24)",
            truncate(s, 80)
        ))
    };
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr = addr.parse::<IpAddr>().map_err(|_| bad())?;
    // A mapped address given with an IPv6 prefix length keeps the length's meaning.
    let (addr, prefix) = match (addr, prefix) {
        (IpAddr::V6(v6), Some(p)) if v6.to_ipv4_mapped().is_some() => {
            let p: u8 = p.parse().map_err(|_| bad())?;
            let v4 = IpAddr::V4(v6.to_ipv4_mapped().ok_or_else(bad)?);
            (v4, Some(p.checked_sub(96).ok_or_else(bad)?))
        }
        (a, Some(p)) => (a.to_canonical(), Some(p.parse::<u8>().map_err(|_| bad())?)),
        (a, None) => (a.to_canonical(), None),
    };
    let max = PeerNet::max_prefix(addr);
    let prefix = prefix.unwrap_or(max);
    if prefix > max {
        return Err(bad());
    }
    let mut net = PeerNet { addr, prefix };
    let masked = PeerNet::bits(addr) & net.mask();
    net.addr = match addr {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(masked as u32)),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(masked)),
    };
    Ok(net)
}

/// Principals of peer addresses, resolved once per identity epoch: the NFS gateway asks for
/// every call, and a resolution is a read transaction plus the policy walk. Any change that can
/// alter a peer's principal (peers, users, roles, groups, bindings) has [`invalidate`] called on
/// the commit thread right after it commits (`Store::policy_changed`); an entry is kept under the epoch read *before* its resolution began, so a
/// resolution racing a change is never served after the change is answered.
///
/// [`invalidate`]: PeerPrincipals::invalidate
#[derive(Default)]
pub(crate) struct PeerPrincipals {
    epoch: std::sync::atomic::AtomicU64,
    known: std::sync::Mutex<(u64, std::collections::HashMap<IpAddr, Option<Principal>>)>,
}

/// Distinct client addresses remembered before the map starts over.
const PEER_PRINCIPALS_MAX: usize = 1024;

impl PeerPrincipals {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn get(&self, epoch: u64, ip: IpAddr) -> Option<Option<Principal>> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        (known.0 == epoch).then(|| known.1.get(&ip).cloned())?
    }

    fn put(&self, epoch: u64, ip: IpAddr, p: Option<Principal>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.0 != epoch {
            if known.0 > epoch {
                return; // resolved under an older epoch than what is kept
            }
            *known = (epoch, Default::default());
        }
        if known.1.len() >= PEER_PRINCIPALS_MAX {
            known.1.clear();
        }
        known.1.insert(ip, p);
    }
}

impl Store {
    pub fn list_peers(&self, p: &Principal) -> Result<Vec<PeerInfo>> {
        self.may_read(p, Resource::Users, "peers-mgmt")?;
        let txn = self.db().begin_read()?;
        let peers = txn.open_table(PEERS)?;
        let users = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for e in peers.iter()? {
            let (k, v) = e?;
            let r: PeerRecord = codec::decode(v.value())?;
            let name = match users.get(r.user_id.as_str())? {
                Some(u) => codec::decode::<UserRecord>(u.value())?.name,
                None => String::new(),
            };
            out.push(PeerInfo {
                address: k.value().to_string(),
                user_id: r.user_id,
                name,
                description: r.description,
                created_ms: r.created_ms,
            });
        }
        Ok(out)
    }

    /// Maps `address` (one address or a CIDR block) to a user (id or name). Re-adding an
    /// address re-points it. Needs `create` on users; mapping to an admin (a user who holds
    /// every grant) or to a service user needs an admin: the address would act as that user
    /// over NFS, so `create` on users must not be a way to become one.
    pub async fn add_peer(
        &self,
        p: &Principal,
        address: &str,
        user: &str,
        description: &str,
    ) -> Result<PeerInfo> {
        deny(authorize(p, Verb::Create, Resource::Users))?;
        let net = parse_peer_address(address)?;
        if description.len() > 1024 {
            return Err(StoreError::InvalidArgument(
                "the description is longer than 1024 bytes".into(),
            ));
        }
        let (user, description) = (user.to_string(), description.to_string());
        let caller_is_admin = holds_everything(p);
        let policy = self.policy();
        let caller = format!("{} (user {})", p.name, p.user_id);
        let info = self
            .inner
            .committer
            .write_then(move |txn| {
                let (user_id, u) = resolve_user_txn(txn, &user)?;
                if !caller_is_admin {
                    let target = policy.resolve(&user_id, &u.name, u.kind);
                    if target.service || holds_everything(&target) {
                        let what = if target.service {
                            "a service user"
                        } else {
                            "an admin"
                        };
                        return Err(StoreError::AccessDenied(format!(
                            "{} is {what}: only an admin may map an address to it, not {caller}",
                            u.name
                        )));
                    }
                }
                let rec = PeerRecord {
                    user_id: user_id.clone(),
                    description,
                    created_ms: now_ms(),
                };
                let address = net.to_string();
                txn.open_table(PEERS)?
                    .insert(address.as_str(), codec::encode(&rec)?.as_slice())?;
                Ok(PeerInfo {
                    address,
                    user_id,
                    name: u.name,
                    description: rec.description,
                    created_ms: rec.created_ms,
                })
            }, self.policy_changed())
            .await?;
        audit(
            p,
            "peer.add",
            &format!("{} -> {}", info.address, info.user_id),
        );
        Ok(info)
    }

    pub async fn remove_peer(&self, p: &Principal, address: &str) -> Result<()> {
        deny(authorize(p, Verb::Delete, Resource::Users))?;
        let address = parse_peer_address(address)?.to_string();
        let a = address.clone();
        self.inner
            .committer
            .write_then(
                move |txn| {
                    if txn.open_table(PEERS)?.remove(a.as_str())?.is_none() {
                        return Err(StoreError::NoSuchPeer(a));
                    }
                    Ok(())
                },
                self.policy_changed(),
            )
            .await?;
        audit(p, "peer.remove", &address);
        Ok(())
    }

    /// The principal a request from `ip` acts as, if `ip` is a registered peer (its own
    /// address, else the most specific CIDR block holding it) whose user still exists. For the
    /// NFS gateway.
    pub fn peer_principal(&self, ip: IpAddr) -> Result<Option<Principal>> {
        let ip = ip.to_canonical();
        let cache = &self.inner.peer_principals;
        let epoch = cache.epoch();
        if let Some(hit) = cache.get(epoch, ip) {
            return Ok(hit);
        }
        let found = self.resolve_peer(ip)?;
        cache.put(epoch, ip, found.clone());
        Ok(found)
    }

    fn resolve_peer(&self, ip: IpAddr) -> Result<Option<Principal>> {
        let txn = self.db().begin_read()?;
        let peers = txn.open_table(PEERS)?;
        let r: PeerRecord = match peers.get(ip.to_string().as_str())? {
            Some(v) => codec::decode(v.value())?,
            None => {
                // Blocks are few (an operator's list); a scan is cheaper than an index here.
                let mut best: Option<(u8, Vec<u8>)> = None;
                for e in peers.iter()? {
                    let (k, v) = e?;
                    let Ok(net) = parse_peer_address(k.value()) else {
                        continue;
                    };
                    if net.contains(ip) && best.as_ref().is_none_or(|(p, _)| net.prefix > *p) {
                        best = Some((net.prefix, v.value().to_vec()));
                    }
                }
                match best {
                    Some((_, v)) => codec::decode(&v)?,
                    None => return Ok(None),
                }
            }
        };
        let Some(u) = txn.open_table(USERS)?.get(r.user_id.as_str())? else {
            return Ok(None);
        };
        let u: UserRecord = codec::decode(u.value())?;
        Ok(Some(self.policy().resolve(&r.user_id, &u.name, u.kind)))
    }

    /// The caller's own NFS mount token: `<user id><24 hex>`, mounted as `/<share>@<token>`
    /// by clients the network does not vouch for. Derived, never stored; rotating the user's
    /// credentials changes it (and with it every handle minted through the old one).
    pub fn nfs_mount_token(&self, p: &Principal) -> Result<String> {
        let txn = self.db().begin_read()?;
        let Some(u) = txn.open_table(USERS)?.get(p.user_id.as_str())? else {
            return Err(StoreError::AccessDenied(
                "only a registered user has a mount token".into(),
            ));
        };
        let u: UserRecord = codec::decode(u.value())?;
        let mac = self.inner.master.mount_token_mac(&p.user_id, u.generation);
        Ok(format!("{}{}", p.user_id, hex::encode(mac)))
    }

    /// Who a mount token stands for, with the credential generation it was made for; `None`
    /// for a token that is malformed, forged, of a removed user or of an older generation.
    pub fn nfs_token_principal(&self, token: &str) -> Result<Option<(Principal, u32)>> {
        if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let (user_id, mac) = token.split_at(16);
        let Ok(mac) = hex::decode(mac) else {
            return Ok(None);
        };
        let txn = self.db().begin_read()?;
        let Some(u) = txn.open_table(USERS)?.get(user_id)? else {
            return Ok(None);
        };
        let u: UserRecord = codec::decode(u.value())?;
        let want = self.inner.master.mount_token_mac(user_id, u.generation);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&want[..], &mac[..])) {
            return Ok(None);
        }
        Ok(Some((
            self.policy().resolve(user_id, &u.name, u.kind),
            u.generation,
        )))
    }

    /// The principal of user `user_id` if its credential generation is still `generation`
    /// (a handle minted through a mount token carries both).
    pub fn nfs_token_user(&self, user_id: &str, generation: u32) -> Result<Option<Principal>> {
        let txn = self.db().begin_read()?;
        let Some(u) = txn.open_table(USERS)?.get(user_id)? else {
            return Ok(None);
        };
        let u: UserRecord = codec::decode(u.value())?;
        Ok((u.generation == generation).then(|| self.policy().resolve(user_id, &u.name, u.kind)))
    }

    /// The principal of a caller nobody vouches for: a member of `everyone` only (see
    /// [`crate::rbac::Policy::guest`]). Resolved from the current policy, so a binding change
    /// applies to the next request.
    pub fn guest_principal(&self) -> Principal {
        self.policy().guest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn peer_principals_never_serve_a_resolution_from_before_a_change() {
        let cache = PeerPrincipals::default();
        let guest = crate::rbac::Policy::default().guest();
        // What is kept for an address: the user id it resolved to, if any.
        let kept = |e: u64, a: &str| cache.get(e, ip(a)).map(|p| p.map(|p| p.user_id));
        let gid = || Some(Some(guest.user_id.clone()));
        let e0 = cache.epoch();
        cache.put(e0, ip("10.0.0.1"), Some(guest.clone()));
        assert_eq!(kept(e0, "10.0.0.1"), gid());
        assert_eq!(kept(e0, "10.0.0.2"), None, "not resolved yet");
        // A change commits while a resolution that began under e0 is still running.
        cache.invalidate();
        let e1 = cache.epoch();
        assert_eq!(kept(e1, "10.0.0.1"), None, "dropped by the change");
        cache.put(e1, ip("10.0.0.1"), None);
        cache.put(e0, ip("10.0.0.2"), Some(guest.clone()));
        assert_eq!(
            kept(e1, "10.0.0.2"),
            None,
            "the late, older result is not kept"
        );
        assert_eq!(kept(e1, "10.0.0.1"), Some(None));
        assert_eq!(kept(e0, "10.0.0.1"), None, "an old epoch finds nothing");
    }

    #[test]
    fn peers_parse_to_one_canonical_key() {
        let key = |s: &str| parse_peer_address(s).map(|n| n.to_string()).ok();
        assert_eq!(key("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(key("::ffff:10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(key("10.0.0.5/32").as_deref(), Some("10.0.0.5"));
        assert_eq!(key("10.0.0.7/24").as_deref(), Some("10.0.0.0/24"));
        assert_eq!(key("::ffff:10.1.2.3/112").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(key("fd00::1:2/64").as_deref(), Some("fd00::/64"));
        assert_eq!(key("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "",
        ] {
            assert_eq!(key(bad), None, "{bad}");
        }
    }

    #[test]
    fn blocks_hold_their_addresses_only() {
        let net = parse_peer_address("10.1.0.0/16").expect("net");
        assert!(net.contains(ip("10.1.255.3")));
        assert!(net.contains(ip("::ffff:10.1.0.1")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::a01:1")));
        let all = parse_peer_address("0.0.0.0/0").expect("net");
        assert!(all.contains(ip("192.168.1.1")) && !all.contains(ip("fd00::1")));
        let v6 = parse_peer_address("fd00::/8").expect("net");
        assert!(v6.contains(ip("fdff::1")) && !v6.contains(ip("fe80::1")));
        let host = parse_peer_address("10.0.0.5").expect("net");
        assert!(host.contains(ip("10.0.0.5")) && !host.contains(ip("10.0.0.4")));
    }
}
