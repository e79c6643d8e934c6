//! NFS peers: client addresses the network vouches for, each acting as one user. Managing them
//! is user administration (`create`/`delete` on `users`); reading them is the `peers-mgmt`
//! panel's.

use std::net::IpAddr;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::model::{PeerRecord, Principal, UserRecord};
use crate::rbac::roles::truncate;
use crate::rbac::{Resource, Verb, authorize};
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

/// Parses a peer address: one IPv4 or IPv6 address (an IPv4-mapped IPv6 address is its IPv4
/// form, so one host has one entry).
pub fn parse_peer_address(s: &str) -> Result<IpAddr> {
    let ip: IpAddr = s.trim().parse().map_err(|_| {
        StoreError::InvalidArgument(format!(
            "{:?} is not an IP address (a peer is one client address, e.g. 10.0.0.5)",
            truncate(s, 80)
        ))
    })?;
    Ok(ip.to_canonical())
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

    /// Maps `address` to a user (id or name). Re-adding an address re-points it.
    pub async fn add_peer(
        &self,
        p: &Principal,
        address: &str,
        user: &str,
        description: &str,
    ) -> Result<PeerInfo> {
        deny(authorize(p, Verb::Create, Resource::Users))?;
        let ip = parse_peer_address(address)?;
        if description.len() > 1024 {
            return Err(StoreError::InvalidArgument(
                "the description is longer than 1024 bytes".into(),
            ));
        }
        let (user, description) = (user.to_string(), description.to_string());
        let info = self
            .inner
            .committer
            .write(move |txn| {
                let (user_id, u) = resolve_user_txn(txn, &user)?;
                let rec = PeerRecord {
                    user_id: user_id.clone(),
                    description,
                    created_ms: now_ms(),
                };
                let address = ip.to_string();
                txn.open_table(PEERS)?
                    .insert(address.as_str(), codec::encode(&rec)?.as_slice())?;
                Ok(PeerInfo {
                    address,
                    user_id,
                    name: u.name,
                    description: rec.description,
                    created_ms: rec.created_ms,
                })
            })
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
            .write(move |txn| {
                if txn.open_table(PEERS)?.remove(a.as_str())?.is_none() {
                    return Err(StoreError::NoSuchPeer(a));
                }
                Ok(())
            })
            .await?;
        audit(p, "peer.remove", &address);
        Ok(())
    }

    /// The principal a request from `ip` acts as, if `ip` is a registered peer whose user
    /// still exists. For the NFS gateway.
    pub fn peer_principal(&self, ip: IpAddr) -> Result<Option<Principal>> {
        let txn = self.db().begin_read()?;
        let Some(v) = txn
            .open_table(PEERS)?
            .get(ip.to_canonical().to_string().as_str())?
        else {
            return Ok(None);
        };
        let r: PeerRecord = codec::decode(v.value())?;
        let Some(u) = txn.open_table(USERS)?.get(r.user_id.as_str())? else {
            return Ok(None);
        };
        let u: UserRecord = codec::decode(u.value())?;
        Ok(Some(self.policy().resolve(&r.user_id, &u.name, u.kind)))
    }

    /// The principal of a caller nobody vouches for: a member of `everyone` only (see
    /// [`crate::rbac::Policy::guest`]). Resolved from the current policy, so a binding change
    /// applies to the next request.
    pub fn guest_principal(&self) -> Principal {
        self.policy().guest()
    }
}
