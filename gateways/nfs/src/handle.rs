//! File handles: opaque to clients, signed by us.
//!
//! Layouts, all within NFSv3's 64 bytes, all ending in HMAC-SHA256 over the bytes before it
//! (first 16 bytes):
//! - version 3, 45 bytes, minted for a caller known by address (a registered peer, or the
//!   guest): `3 | bucket id (8, BE) | inode (8, BE) | generation (4, BE) | address tag (8) |
//!   MAC` ([`address_tag`]: SHA-256 over the address's 4 or 16 bytes). Bound to the client's address, not to whom that address stands for: when
//!   `peer add`/`peer remove` changes the address's principal, the handles it holds stay
//!   valid and the next call runs as the new principal, RBAC deciding (docs/decisions/0025).
//! - version 2, 49 bytes, minted through a mount token (`/<share>@<token>`):
//!   `2 | bucket id | inode | generation | user id (8 raw bytes) | credential generation (4,
//!   BE) | MAC`. The handle names its user: whoever presents it acts as that user while the
//!   user's credential generation is unchanged (a rotation revokes token and handles).
//! - version 1, 45 bytes, minted before version 3 existed: the version-3 layout with the tag of
//!   the principal (first 8 bytes of SHA-256 of its user id) instead of the address. Still
//!   accepted, from a caller whose principal is that one, so clients keep their mounts across
//!   the upgrade; never minted any more.
//!
//! - The key is derived from the store's master key (`derive_key("nfs-handle")`), so handles
//!   survive restarts and a forged or altered handle fails the MAC (→ `NFS3ERR_BADHANDLE`).
//! - A handle presented from another address than the one it was minted for is a bad handle,
//!   so a handle replayed from elsewhere does not reach a share around the principal check.
//! - Inode numbers are never reused, so `generation` is 0 today; it is reserved for a future
//!   where they could be (restoring into a fresh store) and is covered by the MAC.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const V_PRINCIPAL: u8 = 1;
const V_TOKEN: u8 = 2;
const V_ADDRESS: u8 = 3;
pub const LEN: usize = 45;
pub const TOKEN_LEN: usize = 49;
const MAC: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    pub bucket_id: u64,
    pub ino: u64,
    pub generation: u32,
}

/// Whom a handle is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    /// The caller's address: its tag ([`address_tag`]).
    Address([u8; 8]),
    /// The principal an address stood for, as version-1 handles name it ([`principal_tag`]):
    /// verified, never minted by the gateway (tests and fuzz seeds mint old handles with it).
    Principal([u8; 8]),
    /// A user through a mount token: the user id's 8 bytes and its credential generation.
    Token { user: [u8; 8], generation: u32 },
}

/// The 8-byte tag of a principal's user id.
pub fn principal_tag(user_id: &str) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"gatehouse-nfs-principal\0");
    h.update(user_id.as_bytes());
    let d = h.finalize();
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&d[..8]);
    tag
}

/// The 8-byte tag of a client address (IPv4-mapped IPv6 addresses count as their IPv4).
pub fn address_tag(ip: std::net::IpAddr) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"gatehouse-nfs-address\0");
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => h.update(v4.octets()),
        std::net::IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let d = h.finalize();
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&d[..8]);
    tag
}

pub struct Signer {
    /// HMAC-SHA-256 with the key already absorbed (its inner and outer pads hashed once, not
    /// for every handle).
    keyed: Hmac<Sha256>,
}

impl Signer {
    pub fn new(key: [u8; 32]) -> Self {
        let keyed = match <Hmac<Sha256> as KeyInit>::new_from_slice(&key) {
            Ok(m) => m,
            // HMAC accepts keys of any length.
            Err(_) => unreachable!("HMAC key length"),
        };
        Signer { keyed }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC] {
        let mut m = self.keyed.clone();
        m.update(body);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC];
        out.copy_from_slice(&full[..MAC]);
        out
    }

    /// The length of a handle [`Signer::mint`] makes for `bearer` (what a reply counts for it).
    pub fn minted_len(bearer: &Bearer) -> usize {
        match bearer {
            Bearer::Address(_) | Bearer::Principal(_) => LEN,
            Bearer::Token { .. } => TOKEN_LEN,
        }
    }

    pub fn mint(&self, h: Handle, bearer: &Bearer) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOKEN_LEN);
        out.push(match bearer {
            Bearer::Address(_) => V_ADDRESS,
            Bearer::Principal(_) => V_PRINCIPAL,
            Bearer::Token { .. } => V_TOKEN,
        });
        out.extend_from_slice(&h.bucket_id.to_be_bytes());
        out.extend_from_slice(&h.ino.to_be_bytes());
        out.extend_from_slice(&h.generation.to_be_bytes());
        match bearer {
            Bearer::Address(tag) | Bearer::Principal(tag) => out.extend_from_slice(tag),
            Bearer::Token { user, generation } => {
                out.extend_from_slice(user);
                out.extend_from_slice(&generation.to_be_bytes());
            }
        }
        let mac = self.mac(&out);
        out.extend_from_slice(&mac);
        out
    }

    /// The handle and whom it was minted for, if `raw` is one we minted (length, version and
    /// MAC check out).
    fn open(&self, raw: &[u8]) -> Option<(Handle, Bearer)> {
        let version = *raw.first()?;
        let len = match version {
            V_ADDRESS | V_PRINCIPAL => LEN,
            V_TOKEN => TOKEN_LEN,
            _ => return None,
        };
        if raw.len() != len {
            return None;
        }
        let (body, mac) = raw.split_at(len - MAC);
        if !bool::from(self.mac(body).ct_eq(mac)) {
            return None;
        }
        let mut b8 = [0u8; 8];
        let mut b4 = [0u8; 4];
        let mut u64_at = |i: usize| {
            b8.copy_from_slice(&body[i..i + 8]);
            u64::from_be_bytes(b8)
        };
        let (bucket_id, ino) = (u64_at(1), u64_at(9));
        b4.copy_from_slice(&body[17..21]);
        let h = Handle {
            bucket_id,
            ino,
            generation: u32::from_be_bytes(b4),
        };
        let mut who = [0u8; 8];
        who.copy_from_slice(&body[21..29]);
        let bearer = match version {
            V_ADDRESS => Bearer::Address(who),
            V_PRINCIPAL => Bearer::Principal(who),
            _ => {
                b4.copy_from_slice(&body[29..33]);
                Bearer::Token {
                    user: who,
                    generation: u32::from_be_bytes(b4),
                }
            }
        };
        Some((h, bearer))
    }

    /// The handle, if `raw` is one we minted for `bearer`; `None` otherwise (wrong length,
    /// version, MAC or bearer: all the same to the caller, a bad handle).
    pub fn verify(&self, raw: &[u8], bearer: &Bearer) -> Option<Handle> {
        let (h, minted_for) = self.open(raw)?;
        let same = match (minted_for, bearer) {
            (Bearer::Address(a), Bearer::Address(b))
            | (Bearer::Principal(a), Bearer::Principal(b)) => bool::from(a.ct_eq(b)),
            (
                Bearer::Token { user, generation },
                Bearer::Token {
                    user: u2,
                    generation: g2,
                },
            ) => bool::from(user.ct_eq(u2)) && generation == *g2,
            _ => false,
        };
        same.then_some(h)
    }

    /// The mount-token user a genuine version-2 handle names (the caller of a call that
    /// carries it acts as that user, if the generation is still current).
    pub fn token_of(&self, raw: &[u8]) -> Option<([u8; 8], u32)> {
        if raw.first() != Some(&V_TOKEN) {
            return None; // not one: no MAC to compute
        }
        match self.open(raw)? {
            (_, Bearer::Token { user, generation }) => Some((user, generation)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC is HMAC-SHA-256 cut to 16 bytes, the same however it is computed: a handle a
    /// client got before the signer's key was kept pre-absorbed verifies after (value from
    /// Python's `hmac`).
    #[test]
    fn the_mac_is_hmac_sha256_of_the_handle_key() {
        let s = Signer::new([7u8; 32]);
        assert_eq!(
            hex::encode(s.mac(b"gatehouse-handle-kat")),
            "371d0767915255b43dd94f57bfef4128"
        );
        // Twice: the kept state is cloned, not used up.
        assert_eq!(s.mac(b"x"), s.mac(b"x"));
    }

    #[test]
    fn round_trip_and_every_altered_byte_is_refused() {
        let s = Signer::new([7u8; 32]);
        let alice = address_tag("192.0.2.1".parse().expect("ip"));
        let h = Handle {
            bucket_id: 42,
            ino: 1234,
            generation: 0,
        };
        let raw = s.mint(h, &Bearer::Address(alice));
        assert_eq!(raw.len(), LEN);
        assert_eq!(s.verify(&raw, &Bearer::Address(alice)), Some(h));
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.verify(&bad, &Bearer::Address(alice)), None, "byte {i}");
        }
        assert_eq!(s.verify(&raw[..LEN - 1], &Bearer::Address(alice)), None);
        assert_eq!(s.verify(&[], &Bearer::Address(alice)), None);
    }

    #[test]
    fn bound_to_address_and_key() {
        let s = Signer::new([7u8; 32]);
        let h = Handle {
            bucket_id: 1,
            ino: 2,
            generation: 0,
        };
        let here = address_tag("10.0.0.7".parse().expect("ip"));
        let alice = Bearer::Address(here);
        let raw = s.mint(h, &alice);
        assert_eq!(raw[0], V_ADDRESS);
        assert_eq!(
            s.verify(
                &raw,
                &Bearer::Address(address_tag("10.0.0.8".parse().expect("ip")))
            ),
            None
        );
        // The same address, however written.
        assert_eq!(
            s.verify(
                &raw,
                &Bearer::Address(address_tag("::ffff:10.0.0.7".parse().expect("ip")))
            ),
            Some(h)
        );
        // An address handle is not a principal handle, even with the same tag bytes.
        assert_eq!(s.verify(&raw, &Bearer::Principal(here)), None);

        // Version 1 (before handles followed the address): still verified for its principal.
        let old = s.mint(h, &Bearer::Principal(principal_tag("alice")));
        assert_eq!((old.len(), old[0]), (LEN, V_PRINCIPAL));
        assert_eq!(
            s.verify(&old, &Bearer::Principal(principal_tag("alice"))),
            Some(h)
        );
        assert_eq!(
            s.verify(&old, &Bearer::Principal(principal_tag("guest"))),
            None
        );
        assert_eq!(
            s.verify(&old, &Bearer::Address(principal_tag("alice"))),
            None
        );
        assert_eq!(Signer::new([8u8; 32]).verify(&raw, &alice), None);
        assert_eq!(s.token_of(&raw), None);

        // A token handle names its user and generation; it is not an address handle.
        let tok = Bearer::Token {
            user: *b"\x01\x02\x03\x04\x05\x06\x07\x08",
            generation: 3,
        };
        let raw = s.mint(h, &tok);
        assert_eq!(raw.len(), TOKEN_LEN);
        assert_eq!(Signer::minted_len(&tok), TOKEN_LEN);
        assert_eq!(Signer::minted_len(&alice), LEN);
        assert_eq!(s.verify(&raw, &tok), Some(h));
        assert_eq!(
            s.token_of(&raw),
            Some((*b"\x01\x02\x03\x04\x05\x06\x07\x08", 3))
        );
        let older = Bearer::Token {
            user: *b"\x01\x02\x03\x04\x05\x06\x07\x08",
            generation: 2,
        };
        assert_eq!(s.verify(&raw, &older), None);
        assert_eq!(s.verify(&raw, &alice), None);
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x80;
            assert_eq!(s.token_of(&bad), None, "byte {i}");
        }
    }
}
