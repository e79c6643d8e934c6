//! Entry points for the fuzz targets in `fuzz/` (hidden from the docs; not an API): the
//! gateway's whole call path — CALL header, program dispatch, every procedure's argument
//! decoding and its store call — on one record, without a socket.

use std::net::IpAddr;
use std::time::Duration;

use gatehouse_store::Store;

use crate::{Gateway, rpc};

/// A gateway over `store`, as `serve` builds it (handles are signed with the store's key).
pub struct Harness {
    gw: Gateway,
}

impl Harness {
    pub fn new(store: Store) -> Self {
        Harness {
            gw: Gateway::new(store, 2049),
        }
    }

    /// One RPC record (without its record mark) from `ip`; `None` when nothing would be sent
    /// (not a call at all: the connection would be dropped; or a retransmission of a call
    /// still under way).
    pub async fn call(&self, rec: &[u8], ip: IpAddr) -> Option<rpc::Reply> {
        match self.gw.call(rec, ip).await {
            crate::Answer::Reply(r) => Some(r),
            crate::Answer::Nothing | crate::Answer::NotACall => None,
        }
    }

    /// Commits what UNSTABLE writes left buffered, as the periodic flusher would.
    pub async fn flush(&self) {
        self.gw
            .writeback
            .flush_older(&self.gw.store, Duration::ZERO, Duration::ZERO)
            .await;
    }
}
