//! What a phase measured: latencies on the client side, CPU time and peak RSS of the server
//! process read from `/proc/<pid>` (so any server can be measured, not only gatehouse).

use std::time::Duration;

/// Per-request latencies, in microseconds.
#[derive(Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }
    /// The `q` quantile (0..=1) in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() - 1) as f64 * q).round() as usize;
        f64::from(self.0[i]) / 1000.0
    }
}

/// Reads a server process's counters.
pub struct ServerProbe {
    pid: u32,
    ticks_per_sec: f64,
    can_reset_peak: bool,
}

#[derive(Clone, Copy)]
pub struct Sample {
    /// utime + stime of the whole process (every thread, living or gone), seconds.
    pub cpu_secs: f64,
}

impl ServerProbe {
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let ticks = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(100.0);
        let probe = ServerProbe {
            pid,
            ticks_per_sec: ticks,
            can_reset_peak: false,
        };
        probe.sample()?;
        let can_reset_peak = probe.reset_peak();
        Ok(ServerProbe {
            can_reset_peak,
            ..probe
        })
    }

    pub fn sample(&self) -> anyhow::Result<Sample> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{}/stat", self.pid))?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        Ok(Sample {
            cpu_secs: (num(11) + num(12)) / self.ticks_per_sec,
        })
    }

    /// Resets the kernel's peak-RSS mark (`clear_refs` 5, Linux ≥ 4.0); false if not allowed.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Whether [`peak_rss_mib`](Self::peak_rss_mib) is per phase (else: since the server started).
    pub fn peak_is_per_phase(&self) -> bool {
        self.can_reset_peak
    }

    /// VmHWM: the peak resident set size, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

/// One line of the report.
pub struct PhaseResult {
    pub name: String,
    pub ops: usize,
    pub bytes: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_cpu_secs: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl PhaseResult {
    pub fn header() -> &'static str {
        "| phase | ops | seconds | ops/s | MB/s | p50 ms | p99 ms | server CPU ms/op | server peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    }

    pub fn row(&self) -> String {
        let per_s = |x: f64| if self.secs > 0.0 { x / self.secs } else { 0.0 };
        let cpu = self.server_cpu_secs.map_or("-".to_string(), |c| {
            format!("{:.3}", c * 1000.0 / self.ops.max(1) as f64)
        });
        let rss = self
            .peak_rss_mib
            .map_or("-".to_string(), |m| format!("{m:.0}"));
        format!(
            "| {} | {} | {:.2} | {:.0} | {:.1} | {:.2} | {:.2} | {} | {} |",
            self.name,
            self.ops,
            self.secs,
            per_s(self.ops as f64),
            per_s(self.bytes as f64) / 1e6,
            self.p50_ms,
            self.p99_ms,
            cpu,
            rss
        )
    }
}
