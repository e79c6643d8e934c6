//! PORTMAP v2 (program 100000), just enough for clients that ask where NFS and MOUNT are: both
//! are on this one listener. Nothing registers here; SET/UNSET/CALLIT are not served.

use crate::rpc::{self, Accept};
use crate::xdr::{Reader, put_u32};

pub const PROGRAM: u32 = 100_000;
pub const VERSION: u32 = 2;
const IPPROTO_TCP: u32 = 6;

/// The (program, version) pairs served on our port.
const SERVED: [(u32, u32); 3] = [
    (PROGRAM, VERSION),
    (nfs3_types::nfs3::PROGRAM, 3),
    (nfs3_types::mount::PROGRAM, 3),
];

pub fn call(xid: u32, proc_: u32, args: &[u8], port: u16) -> Vec<u8> {
    match proc_ {
        0 => rpc::accepted(xid, Accept::Success),
        3 => {
            let mut r = Reader::new(args);
            let parsed = (|| Ok::<_, crate::xdr::Garbage>((r.u32()?, r.u32()?, r.u32()?)))();
            let Ok((prog, vers, prot)) = parsed else {
                return rpc::accepted(xid, Accept::GarbageArgs);
            };
            let ours = prot == IPPROTO_TCP && SERVED.contains(&(prog, vers));
            let mut out = rpc::accepted(xid, Accept::Success);
            put_u32(&mut out, if ours { u32::from(port) } else { 0 });
            out
        }
        4 => {
            let mut out = rpc::accepted(xid, Accept::Success);
            for (prog, vers) in SERVED {
                for v in [1, prog, vers, IPPROTO_TCP, u32::from(port)] {
                    put_u32(&mut out, v);
                }
            }
            put_u32(&mut out, 0);
            out
        }
        _ => rpc::accepted(xid, Accept::ProcUnavail),
    }
}
