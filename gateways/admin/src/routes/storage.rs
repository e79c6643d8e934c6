//! `POST /api/gc`: collect unreferenced chunk files now.
//! `POST /api/fsck`: fsck of the running server (a read snapshot, chunk reads at a bounded rate).
//! `GET /api/storage`: usage per bucket (with the part noncurrent versions hold, and for a share
//! what its snapshots hold), the configured total limit, the disk's free space, and for the
//! server and each bucket the room left and which limit binds it.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use gatehouse_store::naming::snapshot_parts;
use gatehouse_store::ops::{Binding, BucketUsage, DiskSpace, Room};
use serde::Serialize;

use super::buckets::kind_name;
use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::json;

#[derive(Serialize)]
struct Status {
    /// Config `s3.max_size`.
    total_bytes_limit: u64,
    used_bytes: u64,
    /// Bytes the server may still take (`null`: no limit known).
    available_bytes: Option<u64>,
    /// Which limit leaves the least room: "server", "disk" or "none".
    binding: Binding,
    object_count: u64,
    buckets: Vec<Bucket>,
    /// `null` when the filesystem could not be asked.
    disk: Option<Disk>,
}

#[derive(Serialize)]
struct Bucket {
    name: String,
    kind: &'static str,
    /// Every byte held, noncurrent versions included.
    used_bytes: u64,
    /// The part of `used_bytes` held by noncurrent versions.
    noncurrent_bytes: u64,
    /// A share: the bytes its snapshots hold (each snapshot is a row of its own too).
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_bytes: Option<u64>,
    /// A share snapshot's row: the share bucket it was taken of.
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_of: Option<String>,
    object_count: u64,
    /// 0 = unlimited.
    quota_bytes: u64,
    /// `null` without a quota.
    quota_pct: Option<f64>,
    /// Bytes this bucket may still take (`null`: no limit known).
    available_bytes: Option<u64>,
    /// Which limit leaves the least room: "quota", "server", "disk" or "none".
    binding: Binding,
}

fn available(r: Room) -> Option<u64> {
    (r.binding != Binding::None).then_some(r.available_bytes)
}

#[derive(Serialize)]
struct Disk {
    free_bytes: u64,
    total_bytes: u64,
}

impl From<BucketUsage> for Bucket {
    fn from(b: BucketUsage) -> Self {
        Bucket {
            snapshot_bytes: None,
            snapshot_of: snapshot_parts(&b.name).map(|(share, _)| share.to_string()),
            name: b.name,
            kind: kind_name(b.kind),
            used_bytes: b.used_bytes,
            noncurrent_bytes: b.noncurrent_bytes,
            object_count: b.object_count,
            quota_bytes: b.quota_bytes,
            quota_pct: b.quota_pct,
            available_bytes: available(b.room),
            binding: b.room.binding,
        }
    }
}

impl From<DiskSpace> for Disk {
    fn from(d: DiskSpace) -> Self {
        Disk {
            free_bytes: d.free_bytes,
            total_bytes: d.total_bytes,
        }
    }
}

/// Each share's row gets the sum of its snapshots' rows.
fn with_snapshot_bytes(mut rows: Vec<Bucket>) -> Vec<Bucket> {
    let mut held: HashMap<String, u64> = HashMap::new();
    for r in &rows {
        if let Some(share) = &r.snapshot_of {
            *held.entry(share.clone()).or_default() += r.used_bytes;
        }
    }
    for r in &mut rows {
        if r.kind == "share" && r.snapshot_of.is_none() {
            r.snapshot_bytes = Some(held.get(&r.name).copied().unwrap_or(0));
        }
    }
    rows
}

pub async fn status(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    let s = st.store.storage_status(&c.principal)?;
    Ok(json::ok(&Status {
        total_bytes_limit: s.max_size_bytes,
        used_bytes: s.used_bytes,
        available_bytes: available(s.room),
        binding: s.room.binding,
        object_count: s.object_count,
        buckets: with_snapshot_bytes(s.buckets.into_iter().map(Bucket::from).collect()),
        disk: s.disk.map(Disk::from),
    }))
}

#[derive(Serialize)]
struct GcRun {
    scanned_chunks: u64,
    deleted_chunks: u64,
    freed_bytes: u64,
}

pub async fn gc(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    let s = st.store.collect_garbage(&c.principal).await?;
    Ok(json::ok(&GcRun {
        scanned_chunks: s.scanned,
        deleted_chunks: s.deleted,
        freed_bytes: s.deleted_bytes,
    }))
}

/// Chunk bytes an online fsck reads per second unless `rate_mib` says otherwise.
const FSCK_RATE_MIB: u64 = 64;

pub async fn fsck(
    State(st): State<AdminState>,
    c: Caller,
    q: crate::json::Query,
) -> ApiResult<Response> {
    let rate = match q.get("rate_mib") {
        None => FSCK_RATE_MIB,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|r| (1..=1 << 20).contains(r))
            .ok_or_else(|| {
                crate::error::ApiError::invalid_request(format!(
                    "rate_mib must be a whole number of MiB per second from 1 to 1048576, not {v:?}"
                ))
            })?,
    };
    let r = st.store.fsck_online(&c.principal, rate << 20).await?;
    Ok(json::ok(&r))
}
