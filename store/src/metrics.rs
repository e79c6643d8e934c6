//! Process-wide counters and histograms, rendered in the Prometheus text format (0.0.4) for
//! `GET /metrics`. Every gateway records its requests here (the store is what they share); the
//! store adds what it knows: usage, chunks, GC and sweeper runs. No exporter crate: a handful
//! of atomics and one small map under a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets, seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Requests {
    /// protocol → op → status → count (nested so that a request's op is looked up by
    /// reference: a name is copied only the first time it is seen).
    by_op: BTreeMap<&'static str, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// (protocol, error code) → count.
    errors: BTreeMap<(&'static str, String), u64>,
    /// protocol → latency.
    latency: BTreeMap<&'static str, Histogram>,
    /// protocol → (bytes in, bytes out).
    bytes: BTreeMap<&'static str, (u64, u64)>,
}

/// What a scrape reads from the database (computed by the store, then rendered here).
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageGauges {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    pub buckets: u64,
    pub objects: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
    /// Which requests get an access line ([`Metrics::access_line`]).
    access: AccessLog,
    pub gc_runs: AtomicU64,
    pub gc_deleted_chunks: AtomicU64,
    pub gc_deleted_bytes: AtomicU64,
    pub sweeper_runs: AtomicU64,
    pub shares_expired: AtomicU64,
    pub shares_purged: AtomicU64,
    /// When the newest metadata snapshot shipped to a remote chunk backend was taken (ms since
    /// the epoch; 0: none yet), and the counts of rounds shipped and failed (decision 0034).
    pub snapshot_taken_ms: AtomicU64,
    pub snapshots_shipped: AtomicU64,
    pub snapshot_failures: AtomicU64,
    /// NFS retransmissions of a non-idempotent call answered from the duplicate request cache,
    /// and those dropped because the same call was still under way (decision 0051).
    pub nfs_drc_replayed: AtomicU64,
    pub nfs_drc_dropped: AtomicU64,
}

/// One finished request.
pub struct RequestRecord<'a> {
    pub protocol: &'static str,
    pub op: &'a str,
    pub status: u16,
    /// Stable error code (`NoSuchKey`, `rbac.denied`, …), if the request failed.
    pub error: Option<&'a str>,
    pub latency: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The access-line policy (`log.access_every`): one request in N gets a line, every failed
/// one (status ≥ 400) too; 0 writes none. Lines go to the `access` target, apart from the
/// operational log. Deciding costs one or two relaxed atomics, no formatting.
#[derive(Default)]
struct AccessLog {
    /// N, stored as N + 1 so that the default (0) means every request.
    every_plus_one: AtomicU64,
    seen: AtomicU64,
}

impl Metrics {
    /// Sets the access-line policy: a line for one request in `every` (and for every failed
    /// one); 0: none. Every request gets one until this is called.
    pub fn set_access_every(&self, every: u64) {
        self.access
            .every_plus_one
            .store(every.saturating_add(1), Ordering::Relaxed);
    }

    /// Whether a finished request with this status gets an access line.
    pub fn access_line(&self, status: u16) -> bool {
        match self.access.every_plus_one.load(Ordering::Relaxed) {
            0 | 2 => true,
            1 => false,
            n => {
                status >= 400
                    || self
                        .access
                        .seen
                        .fetch_add(1, Ordering::Relaxed)
                        .is_multiple_of(n - 1)
            }
        }
    }

    pub fn record(&self, r: RequestRecord<'_>) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let ops = m.by_op.entry(r.protocol).or_default();
        let statuses = match ops.get_mut(r.op) {
            Some(s) => s,
            None => ops.entry(r.op.to_string()).or_default(),
        };
        *statuses.entry(r.status).or_default() += 1;
        if let Some(code) = r.error {
            *m.errors.entry((r.protocol, code.to_string())).or_default() += 1;
        }
        let h = m.latency.entry(r.protocol).or_default();
        let secs = r.latency.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
        let b = m.bytes.entry(r.protocol).or_default();
        b.0 += r.bytes_in;
        b.1 += r.bytes_out;
    }

    /// Seconds since the newest metadata snapshot shipped to a remote chunk backend was taken;
    /// `None` before the first (or without snapshots).
    pub fn snapshot_age_seconds(&self) -> Option<f64> {
        let taken = self.snapshot_taken_ms.load(Ordering::Relaxed);
        (taken > 0).then(|| (crate::now_unix_ms() as u64).saturating_sub(taken) as f64 / 1000.0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: &StorageGauges) -> String {
        let mut out = String::with_capacity(4096);
        let m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP gatehouse_requests_total Requests served, by protocol, operation and status."
        );
        let _ = writeln!(out, "# TYPE gatehouse_requests_total counter");
        for (proto, ops) in &m.by_op {
            for (op, statuses) in ops {
                for (status, n) in statuses {
                    let _ = writeln!(
                        out,
                        "gatehouse_requests_total{{protocol=\"{proto}\",op=\"{}\",status=\"{status}\"}} {n}",
                        escape(op)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_errors_total Failed requests, by protocol and error code."
        );
        let _ = writeln!(out, "# TYPE gatehouse_errors_total counter");
        for ((proto, code), n) in &m.errors {
            let _ = writeln!(
                out,
                "gatehouse_errors_total{{protocol=\"{proto}\",code=\"{}\"}} {n}",
                escape(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_request_duration_seconds Request latency, by protocol."
        );
        let _ = writeln!(out, "# TYPE gatehouse_request_duration_seconds histogram");
        for (proto, h) in &m.latency {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "gatehouse_request_duration_seconds_bucket{{protocol=\"{proto}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_bucket{{protocol=\"{proto}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_sum{{protocol=\"{proto}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_count{{protocol=\"{proto}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_bytes_received_total Request body bytes, by protocol."
        );
        let _ = writeln!(out, "# TYPE gatehouse_bytes_received_total counter");
        for (proto, (i, _)) in &m.bytes {
            let _ = writeln!(
                out,
                "gatehouse_bytes_received_total{{protocol=\"{proto}\"}} {i}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_bytes_sent_total Response body bytes, by protocol."
        );
        let _ = writeln!(out, "# TYPE gatehouse_bytes_sent_total counter");
        for (proto, (_, o)) in &m.bytes {
            let _ = writeln!(
                out,
                "gatehouse_bytes_sent_total{{protocol=\"{proto}\"}} {o}"
            );
        }
        drop(m);
        let gauges = [
            (
                "gatehouse_storage_used_bytes",
                "Logical bytes stored (dedup does not reduce it), deleted shares awaiting purge included: what s3.max_size is checked against.",
                g.used_bytes,
            ),
            (
                "gatehouse_storage_limit_bytes",
                "s3.max_size (0 = unlimited).",
                g.limit_bytes,
            ),
            (
                "gatehouse_buckets",
                "Buckets, share buckets included.",
                g.buckets,
            ),
            ("gatehouse_objects", "Objects in all buckets.", g.objects),
            ("gatehouse_chunks", "Distinct chunks stored.", g.chunks),
            (
                "gatehouse_chunk_bytes",
                "Bytes in distinct chunks (what the disk holds).",
                g.chunk_bytes,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let ratio = if g.chunk_bytes == 0 {
            1.0
        } else {
            g.used_bytes as f64 / g.chunk_bytes as f64
        };
        let _ = writeln!(
            out,
            "# HELP gatehouse_dedup_ratio Logical bytes over chunk bytes (inline objects count as logical only).\n# TYPE gatehouse_dedup_ratio gauge\ngatehouse_dedup_ratio {ratio}"
        );
        let counters = [
            ("gatehouse_gc_runs_total", "Chunk GC runs.", &self.gc_runs),
            (
                "gatehouse_gc_deleted_chunks_total",
                "Chunk files the GC deleted.",
                &self.gc_deleted_chunks,
            ),
            (
                "gatehouse_gc_deleted_bytes_total",
                "Bytes the GC deleted.",
                &self.gc_deleted_bytes,
            ),
            (
                "gatehouse_sweeper_runs_total",
                "Share sweeper runs.",
                &self.sweeper_runs,
            ),
            (
                "gatehouse_shares_expired_total",
                "Shares the sweeper tombstoned at expiry.",
                &self.shares_expired,
            ),
            (
                "gatehouse_shares_purged_total",
                "Tombstoned shares purged.",
                &self.shares_purged,
            ),
            (
                "gatehouse_metadata_snapshots_shipped_total",
                "Metadata snapshots shipped to the remote chunk backend.",
                &self.snapshots_shipped,
            ),
            (
                "gatehouse_metadata_snapshot_failures_total",
                "Rounds that failed to ship a metadata snapshot.",
                &self.snapshot_failures,
            ),
            (
                "gatehouse_nfs_drc_replayed_total",
                "NFS retransmissions answered with the reply their call had (duplicate request cache).",
                &self.nfs_drc_replayed,
            ),
            (
                "gatehouse_nfs_drc_dropped_total",
                "NFS retransmissions dropped while their call was still under way.",
                &self.nfs_drc_dropped,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        if let Some(age) = self.snapshot_age_seconds() {
            // What restoring from the backend would lose now: alert when it grows past a few
            // intervals.
            let _ = writeln!(
                out,
                "# HELP gatehouse_metadata_snapshot_age_seconds Age of the newest metadata snapshot in the backend.\n# TYPE gatehouse_metadata_snapshot_age_seconds gauge\ngatehouse_metadata_snapshot_age_seconds {age}"
            );
        }
        process_metrics(&mut out);
        out
    }
}

/// The standard Prometheus process metrics (the names client libraries export), read from
/// `/proc/self`. Where there is no `/proc`, a metric is left out rather than reported as 0.
fn process_metrics(out: &mut String) {
    let mut gauge = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    // Fields after the command name, which is in parentheses and may hold anything.
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // proc(5): utime is field 14, stime 15, starttime 22, rss 24; `state` (3) is index 0 here.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    if let (Some(u), Some(s)) = (field(14), field(15))
        && ticks > 0.0
    {
        gauge(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (u + s) as f64 / ticks,
        );
    }
    if let Some(pages) = field(24) {
        gauge(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            (pages * rustix::param::page_size() as u64) as f64,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Some(max) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        gauge(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22))
        && ticks > 0.0
    {
        gauge(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + start as f64 / ticks,
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Bucket replication's per-rule figures (decision 0036), labelled by the source bucket's id
/// (`gatehouse replication status --json` shows it beside the name): `/metrics` needs no
/// credentials, so bucket and share names stay off it.
pub fn render_replication(rules: &[crate::replication::RuleStatus]) -> String {
    let mut out = String::new();
    if rules.is_empty() {
        return out;
    }
    type Pick = fn(&crate::replication::RuleStatus) -> f64;
    let series: [(&str, &str, &str, Pick); 7] = [
        (
            "gatehouse_replication_queued",
            "gauge",
            "Keys waiting to be sent.",
            |r| r.queued as f64,
        ),
        (
            "gatehouse_replication_in_flight",
            "gauge",
            "Keys being sent now.",
            |r| r.in_flight as f64,
        ),
        (
            "gatehouse_replication_replicated_total",
            "counter",
            "Keys sent since the rule was added.",
            |r| r.replicated as f64,
        ),
        (
            "gatehouse_replication_replicated_bytes_total",
            "counter",
            "Object bytes sent since the rule was added.",
            |r| r.replicated_bytes as f64,
        ),
        (
            "gatehouse_replication_failed",
            "gauge",
            "Keys the target refused (until they change again).",
            |r| r.failed as f64,
        ),
        (
            "gatehouse_replication_lag_seconds",
            "gauge",
            "Age of the oldest change not sent yet.",
            |r| r.lag_seconds,
        ),
        (
            "gatehouse_replication_paused",
            "gauge",
            "1 while the rule is paused.",
            |r| f64::from(u8::from(r.paused)),
        ),
    ];
    for (name, kind, help, pick) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in rules {
            let _ = writeln!(out, "{name}{{bucket_id=\"{}\"}} {}", r.bucket_id, pick(r));
        }
    }
    out
}
