//! Access questions asked ahead of time (may this caller do that?), and the storage status the
//! Storage panel shows: usage per bucket from the counters kept in each bucket's record, and the
//! free space of the filesystem holding the data directory.
//!
//! Room: what may still be written is the smallest of three remainders: the bucket's (share's)
//! quota, the server's total (`s3.max_size`) and the disk's free space. [`Room`] names which one
//! binds; `storage status`, the web page, share creation and NFS FSSTAT (what `df` shows on a
//! mount) all answer from it, so none of them promises more than a write would get.
//! [`SpaceView`] is the one place that turns it into what `df` shows.

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::model::{BucketKind, BucketRecord, Principal};
use crate::rbac::{Resource, Verb, authorize};
use crate::tables::{BUCKETS, META};
use crate::{Store, codec, deny, naming};

/// The admin panel that shows [`StorageStatus`]; reading it needs `get` on this panel (admins,
/// or a `panel-viewer` binding scoped to it).
pub const STORAGE_PANEL: &str = "storage";

/// The limit that leaves the least room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// The bucket's or share's quota.
    Quota,
    /// The server's total, `s3.max_size`.
    Server,
    /// The free space of the disk under the data directory.
    Disk,
    /// No limit applies (none set, and the disk could not be asked).
    None,
}

impl Binding {
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::Quota => "quota",
            Binding::Server => "server",
            Binding::Disk => "disk",
            Binding::None => "none",
        }
    }
}

/// Room left for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Bytes that may still be written; `u64::MAX` when [`Binding::None`].
    pub available_bytes: u64,
    pub binding: Binding,
}

/// The smallest remainder of the limits that apply: a bucket quota `(limit, used)` when it has
/// one, the server's total `(limit, used)` (limit 0: none), the disk's free bytes when known.
/// On a tie the narrower scope names it (quota, then server, then disk).
pub fn room(quota: Option<(u64, u64)>, server: (u64, u64), disk_free: Option<u64>) -> Room {
    let quota = quota
        .filter(|(limit, _)| *limit > 0)
        .map(|(limit, used)| (limit.saturating_sub(used), Binding::Quota));
    let server = (server.0 > 0).then(|| (server.0.saturating_sub(server.1), Binding::Server));
    let disk = disk_free.map(|f| (f, Binding::Disk));
    [quota, server, disk]
        .into_iter()
        .flatten()
        .min_by_key(|(left, _)| *left)
        .map_or(
            Room {
                available_bytes: u64::MAX,
                binding: Binding::None,
            },
            |(available_bytes, binding)| Room {
                available_bytes,
                binding,
            },
        )
}

#[derive(Debug, Clone)]
pub struct StorageStatus {
    /// Logical bytes of all current objects (dedup does not reduce it).
    pub used_bytes: u64,
    /// `s3.max_size`; 0 = unlimited.
    pub max_size_bytes: u64,
    /// Room left on the server as a whole (server limit or disk).
    pub room: Room,
    pub object_count: u64,
    /// Every bucket, in name order.
    pub buckets: Vec<BucketUsage>,
    /// `None` when the filesystem could not be asked (the cause is logged).
    pub disk: Option<DiskSpace>,
}

#[derive(Debug, Clone)]
pub struct BucketUsage {
    pub name: String,
    pub kind: BucketKind,
    /// Every byte held, noncurrent versions included.
    pub used_bytes: u64,
    /// The part of `used_bytes` held by noncurrent versions (decision 0038).
    pub noncurrent_bytes: u64,
    pub object_count: u64,
    /// 0 = unlimited.
    pub quota_bytes: u64,
    /// Share of the quota used, in percent (one decimal); `None` without a quota.
    pub quota_pct: Option<f64>,
    /// Room left in this bucket: its quota, the server's or the disk's, whichever is least.
    pub room: Room,
}

/// The most of an NFS write-back flush held twice on a tight disk (see `Store::fs_write_extents`).
pub(crate) const TIGHT_FLUSH_PIECE: u64 = 4 << 20;

#[derive(Debug, Clone, Copy)]
pub struct DiskSpace {
    /// Bytes an unprivileged process may still write.
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Inodes an unprivileged process may still create, and the filesystem's total (0: the
    /// filesystem does not count them, as btrfs does not).
    pub free_files: u64,
    pub total_files: u64,
}

impl DiskSpace {
    /// What writes may still take of the free bytes: all but a reserve for what a write needs
    /// besides its data on the same disk (the database growing, chunk files' last blocks, the
    /// partial chunk a flush replaces until GC collects it, and the piece of an NFS write-back
    /// flush whose bytes are on the disk twice, in the scratch file and in chunk files, until
    /// it commits: at most [`TIGHT_FLUSH_PIECE`] + 2 MiB when the disk is tight): 1/64 of the
    /// filesystem, at least 16 MiB and at most 1 GiB. Measured on a 64 MiB tmpfs: a file of all
    /// the free bytes fits (docs/decisions/0024). The same idea as the blocks ext4 keeps for
    /// root, which `f_bavail` already leaves out.
    pub fn writable_bytes(&self) -> u64 {
        let reserve = (self.total_bytes / 64).clamp(16 << 20, 1 << 30);
        self.free_bytes.saturating_sub(reserve)
    }
}

/// Files a share may still take where the disk does not count inodes (or cannot be asked):
/// the store itself has no limit on the number of files (a file is rows in the database, and
/// its data chunk files shared by content), so this is a stand-in large enough never to bind,
/// the same for every share, and below 2^32 for 32-bit `statvfs` callers.
pub const FILES_UNCOUNTED: u64 = (1 << 32) - 1;

/// What FSSTAT (`df` on a mount) shows for a share: its bytes and files, with room for more.
/// `df` computes Size = Used + Avail from these, so total = used + free exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceView {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub total_files: u64,
    pub free_files: u64,
}

impl SpaceView {
    /// A share holding `used` bytes in `files` files, with `room` for writes and the disk as
    /// `disk` (if known). Free bytes: the room (share quota, `s3.max_size` or disk, whichever
    /// is least); with no limit known at all, as much as the counters can say. Free files: the
    /// disk's free inodes (a file's data chunks take inodes there), else [`FILES_UNCOUNTED`].
    pub fn new(used: u64, files: u64, room: Room, disk: Option<DiskSpace>) -> SpaceView {
        let free_bytes = room.available_bytes.min(u64::MAX - used);
        let free_files = match disk {
            Some(d) if d.total_files > 0 => d.free_files,
            _ => FILES_UNCOUNTED,
        };
        SpaceView {
            total_bytes: used + free_bytes,
            free_bytes,
            total_files: files.saturating_add(free_files),
            free_files,
        }
    }
}

impl Store {
    /// Whether `p` may `verb` on `resource`: the same decision the operation itself would
    /// make, for callers that must answer before doing it (the UI, presigned URLs).
    pub fn may(&self, p: &Principal, verb: Verb, resource: Resource<'_>) -> Result<()> {
        deny(authorize(p, verb, resource))
    }

    /// Whether `p` may `verb` (get or put) the object `bucket/key` later, e.g. through a
    /// presigned URL: allowed, the bucket exists, and the key is valid there.
    pub fn may_object(&self, p: &Principal, verb: Verb, bucket: &str, key: &str) -> Result<()> {
        self.may(p, verb, Resource::Object(bucket, key))?;
        let b = self.bucket_record(bucket)?;
        naming::validate_key(b.kind, key)
    }

    /// The secret that signs a presigned URL for `verb` on `bucket/key`: the caller's own,
    /// found by the access key it authenticated with, and only if [`Store::may_object`] says
    /// yes. A URL is never minted for something its holder could not do.
    pub fn presign_secret(
        &self,
        p: &Principal,
        access_key: &str,
        verb: Verb,
        bucket: &str,
        key: &str,
    ) -> Result<String> {
        self.may_object(p, verb, bucket, key)?;
        match self.lookup_credential(access_key)? {
            Some((secret, owner)) if owner.user_id == p.user_id => Ok(secret),
            // Rotated since the request was authenticated.
            _ => Err(StoreError::AccessDenied(format!(
                "the access key {access_key} no longer belongs to {}",
                p.name
            ))),
        }
    }

    /// Usage of every bucket and of the disk under the data directory, and which limit binds.
    pub fn storage_status(&self, p: &Principal) -> Result<StorageStatus> {
        self.may(p, Verb::Get, Resource::Panels(Some(STORAGE_PANEL)))?;
        let txn = self.db().begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let disk = disk_space(self.data_dir());
        let max_size = self.inner.cfg.max_size;
        let server_used =
            super::txn::read_counter(&txn.open_table(META)?, super::txn::USAGE_TOTAL)?;
        let disk_free = disk.map(|d| d.writable_bytes());
        let mut out = StorageStatus {
            used_bytes: 0,
            max_size_bytes: max_size,
            room: room(None, (max_size, server_used), disk_free),
            object_count: 0,
            buckets: Vec::new(),
            disk,
        };
        for e in t.iter()? {
            let (_, v) = e?;
            let b: BucketRecord = codec::decode(v.value())?;
            out.used_bytes = out.used_bytes.saturating_add(b.usage_bytes);
            out.object_count = out.object_count.saturating_add(b.object_count);
            out.buckets.push(BucketUsage {
                quota_pct: quota_pct(b.usage_bytes, b.quota_bytes),
                room: room(
                    Some((b.quota_bytes, b.usage_bytes)),
                    (max_size, server_used),
                    disk_free,
                ),
                name: b.name,
                kind: b.kind,
                used_bytes: b.usage_bytes,
                noncurrent_bytes: b.noncurrent_bytes,
                object_count: b.object_count,
                quota_bytes: b.quota_bytes,
            });
        }
        Ok(out)
    }

    /// Room left in one bucket, and the disk as it was asked for it (FSSTAT; no
    /// authorization: the caller has done it).
    pub(crate) fn bucket_room(
        &self,
        rtxn: &redb::ReadTransaction,
        b: &BucketRecord,
    ) -> Result<(Room, Option<DiskSpace>)> {
        let used = super::txn::read_counter(&rtxn.open_table(META)?, super::txn::USAGE_TOTAL)?;
        let disk = disk_space(self.data_dir());
        Ok((
            room(
                Some((b.quota_bytes, b.usage_bytes)),
                (self.inner.cfg.max_size, used),
                disk.map(|d| d.writable_bytes()),
            ),
            disk,
        ))
    }

    /// Room left on the server as a whole, and the bytes it holds.
    pub fn server_room(&self) -> Result<(u64, Room)> {
        let rtxn = self.db().begin_read()?;
        let used = super::txn::read_counter(&rtxn.open_table(META)?, super::txn::USAGE_TOTAL)?;
        Ok((
            used,
            room(
                None,
                (self.inner.cfg.max_size, used),
                disk_space(self.data_dir()).map(|d| d.writable_bytes()),
            ),
        ))
    }

    /// One line at start-up: the server's limit (`s3.max_size`) next to the disk's free space,
    /// so a 1 GiB default on a large disk (or a limit the disk cannot hold) is no surprise.
    pub fn log_space(&self) -> Result<()> {
        let (used, r) = self.server_room()?;
        let max = self.inner.cfg.max_size;
        let disk = disk_space(self.data_dir());
        let limit = if max == 0 {
            "unlimited".to_string()
        } else {
            human(max)
        };
        let free = disk.map_or("unknown".to_string(), |d| human(d.free_bytes));
        let line = format!(
            "storage: s3.max_size {limit} ({} used), disk free {free} under {}; room for {} more ({} binds)",
            human(used),
            self.data_dir().display(),
            if r.binding == Binding::None {
                "unlimited".to_string()
            } else {
                human(r.available_bytes)
            },
            r.binding.as_str(),
        );
        match disk {
            Some(d) if max > 0 && max.saturating_sub(used) > d.free_bytes => {
                tracing::warn!("{line}: the disk fills before s3.max_size is reached")
            }
            _ => tracing::info!("{line}"),
        }
        Ok(())
    }

    /// What to tell whoever sets a quota of `quota` bytes on a bucket holding `held` bytes,
    /// if the server cannot give it that much (the quota would promise more than a write
    /// gets).
    pub(crate) fn quota_warning(&self, quota: u64, held: u64) -> Result<Option<String>> {
        if quota == 0 {
            return Ok(None);
        }
        let (_, r) = self.server_room()?;
        let wanted = quota.saturating_sub(held);
        Ok(
            (r.binding != Binding::None && wanted > r.available_bytes).then(|| {
                format!(
                    "the quota {} is more than the server may still hold: {} more ({})",
                    human(quota),
                    human(r.available_bytes),
                    match r.binding {
                        Binding::Server => "s3.max_size binds; raise it in the config",
                        _ => "the disk's free space binds",
                    }
                )
            }),
        )
    }
}

/// `1.5 GiB`: binary units, one decimal.
fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn quota_pct(used: u64, quota: u64) -> Option<f64> {
    (quota > 0).then(|| (used as f64 * 1000.0 / quota as f64).round() / 10.0)
}

/// statvfs of the data directory. A failure is not the caller's problem: it is logged and the
/// status shows no disk figures.
pub(crate) fn disk_space(dir: &std::path::Path) -> Option<DiskSpace> {
    match rustix::fs::statvfs(dir) {
        Ok(s) => Some(DiskSpace {
            free_bytes: s.f_bavail.saturating_mul(s.f_frsize),
            total_bytes: s.f_blocks.saturating_mul(s.f_frsize),
            free_files: s.f_favail,
            total_files: s.f_files,
        }),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "statvfs of the data directory failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Binding, DiskSpace, FILES_UNCOUNTED, Room, SpaceView, human, quota_pct, room};

    #[test]
    fn df_sees_used_plus_room() {
        let r = |available_bytes, binding| Room {
            available_bytes,
            binding,
        };
        let disk = DiskSpace {
            free_bytes: 500,
            total_bytes: 1000,
            free_files: 70,
            total_files: 100,
        };
        assert_eq!(
            SpaceView::new(300, 4, r(200, Binding::Quota), Some(disk)),
            SpaceView {
                total_bytes: 500,
                free_bytes: 200,
                total_files: 74,
                free_files: 70,
            }
        );
        // Nothing known: the counters' limit, never more than they can hold.
        let none = SpaceView::new(300, 4, r(u64::MAX, Binding::None), None);
        assert_eq!(
            (none.total_bytes, none.free_bytes),
            (u64::MAX, u64::MAX - 300)
        );
        assert_eq!(none.free_files, FILES_UNCOUNTED);
        // A filesystem that counts no inodes.
        let btrfs = DiskSpace {
            total_files: 0,
            free_files: 0,
            ..disk
        };
        assert_eq!(
            SpaceView::new(0, 0, r(500, Binding::Disk), Some(btrfs)).free_files,
            FILES_UNCOUNTED
        );
    }

    #[test]
    fn the_smallest_remainder_binds() {
        let r = |available_bytes, binding| Room {
            available_bytes,
            binding,
        };
        // A 10 GiB share on a 1 GiB server with a big disk: the server binds.
        assert_eq!(
            room(Some((10 << 30, 0)), (1 << 30, 100), Some(1 << 40)),
            r((1 << 30) - 100, Binding::Server)
        );
        assert_eq!(
            room(Some((1000, 400)), (1 << 30, 0), Some(1 << 40)),
            r(600, Binding::Quota)
        );
        assert_eq!(room(None, (0, 5), Some(77)), r(77, Binding::Disk));
        assert_eq!(room(Some((0, 9)), (0, 9), Some(77)), r(77, Binding::Disk));
        assert_eq!(room(Some((10, 20)), (100, 20), None), r(0, Binding::Quota));
        assert_eq!(room(None, (0, 0), None), r(u64::MAX, Binding::None));
        assert_eq!(
            room(Some((50, 0)), (50, 0), Some(50)).binding,
            Binding::Quota
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1 << 30), "1.0 GiB");
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn quota_percentages() {
        assert_eq!(quota_pct(5, 0), None);
        assert_eq!(quota_pct(0, 100), Some(0.0));
        assert_eq!(quota_pct(1, 3), Some(33.3));
        assert_eq!(quota_pct(200, 100), Some(200.0));
    }
}
