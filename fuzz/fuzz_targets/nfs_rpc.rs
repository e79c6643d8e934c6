//! The NFS gateway's whole call path on a byte stream as a client sends it: ONC RPC record
//! marking (`read_record`, up to 8 records), the CALL header and credentials, PORTMAP, MOUNT
//! and every NFSv3 procedure's argument decoding and store call, from a registered peer (the
//! admin) in share `fz`. Every reply must be an RPC reply to that call (same xid).
#![no_main]
use gatehouse_fuzz::{PEER, env};
use gatehouse_nfs::rpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        env();
    },
    |data: &[u8]| {
    let env = env();
    env.rt.block_on(async {
        let mut input = data;
        let mut buf = Vec::new();
        for _ in 0..8 {
            if rpc::read_record(&mut input, &mut buf).await.is_err() {
                break;
            }
            if let Some(reply) = env.nfs.call(&buf, PEER).await {
                let b = &reply.body;
                // The shortest reply is a denial: xid, REPLY, MSG_DENIED, AUTH_ERROR, auth_stat.
                assert!(b.len() >= 20, "short reply: {b:?}");
                assert_eq!(b[..4], buf[..4], "reply to another xid");
                assert_eq!(b[4..8], [0, 0, 0, 1], "not a REPLY");
            }
        }
        env.nfs.flush().await;
    });
});
