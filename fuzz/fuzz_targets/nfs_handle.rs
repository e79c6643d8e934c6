//! NFS file handles: whatever bytes a client presents, a handle verifies only if it is exactly
//! what we minted for that bearer, and a token handle names the bearer it verifies for.
#![no_main]
use gatehouse_nfs::handle::{Bearer, Handle, Signer, address_tag, principal_tag};
use libfuzzer_sys::fuzz_target;
// Linked for its allocation bound (see the crate docs), though nothing else is used here.
use gatehouse_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let s = Signer::new([7u8; 32]);
    let addr = Bearer::Address(address_tag(std::net::Ipv4Addr::new(192, 0, 2, 1).into()));
    // Version 1 (bound to a principal, minted before handles followed the address).
    let old = Bearer::Principal(principal_tag("0123456789abcdef"));
    for b in [addr, old] {
        if let Some(h) = s.verify(data, &b) {
            assert_eq!(
                s.mint(h, &b),
                data,
                "a handle that is not the minted bytes verified"
            );
        }
    }
    if let Some((user, generation)) = s.token_of(data) {
        let bearer = Bearer::Token { user, generation };
        let h = s
            .verify(data, &bearer)
            .expect("a token handle verifies for its own bearer");
        assert_eq!(s.mint(h, &bearer), data);
        assert!(
            s.verify(data, &addr).is_none(),
            "a token handle verified for an address"
        );
    }
    // Minting from the input's numbers round-trips, for both layouts.
    if data.len() >= 20 {
        let n = |i: usize| u64::from_be_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
        let h = Handle {
            bucket_id: n(0),
            ino: n(8),
            generation: u32::from_be_bytes(data[16..20].try_into().unwrap_or([0; 4])),
        };
        let token = Bearer::Token {
            user: data[..8].try_into().unwrap_or([0; 8]),
            generation: h.generation,
        };
        for b in [addr, old, token] {
            let raw = s.mint(h, &b);
            assert!(raw.len() <= 64, "a handle longer than NFS3_FHSIZE");
            assert_eq!(s.verify(&raw, &b), Some(h));
        }
    }
});
