//! NFSv3 benchmark: one client (`nfs3_client`, one TCP connection, one request at a time) that
//! measures any NFSv3 server the same way, so gatehouse and NFS-Ganesha can be compared in one
//! run (see `benches/nfs_compare.sh`).
//!
//! ```text
//! cargo bench --bench nfs -- --host 127.0.0.1 --nfs-port P --mount-port M --export /path \
//!     [--label NAME] [--size-mib 1024] [--files 10000] [--random-ops 20000] \
//!     [--random-file-mib 256] [--stable unstable|data_sync|file_sync] [--jobs N] [--server-pid PID] \
//!     [--small-mib 64] [--phases seq,small,create,random]
//! ```
//!
//! Phases, all in a fresh directory `nfsbench-<unix time>-<label>` under the export:
//! - `seq-write`: CREATE, then WRITE `--size-mib` MiB of pseudo-random bytes (a new seed per
//!   MiB, a new base seed per run, so nothing deduplicates) in 1 MiB requests, then one COMMIT.
//! - `seq-read`: READ the file back in 1 MiB requests and compare every byte.
//! - `small-write`: CREATE, then WRITE `--small-mib` MiB in sequential 4 KiB requests (what a
//!   FUSE client without big writes sends), then one COMMIT.
//! - `create`: `--files` CREATE (UNCHECKED, mode 0644) of empty files in one new directory.
//! - `readdirplus`: READDIRPLUS of that directory (dircount 8 KiB, maxcount 64 KiB, like the
//!   Linux client), paging by cookie until eof.
//! - `random-write`: a `--random-file-mib` file is written sequentially and committed (not
//!   timed), then `--random-ops` WRITEs of 4 KiB at random 4 KiB-aligned offsets and one COMMIT.
//! - `rename` (with `create`): RENAME of that directory of `--files` entries to a new name.
//! - `list-dir` (given `--list-dir NAME`): READDIRPLUS, paging as above, of an existing
//!   directory of the export (e.g. one filled through S3), with the server's CPU.
//! - `null` (not by default): `--null-calls` NFS NULL calls (procedure 0: no arguments, no
//!   work), one at a time, with the server's CPU per call: the floor of any one request-reply
//!   round trip on the machine (receive, wake-up, reply, and the reply's delivery to the
//!   client, which a loopback send runs in the server's context), below which no procedure can go.
//!
//! Every request waits for its reply before the next one is sent on its connection:
//! `nfs3_client` has no pipelining. `--jobs N` spreads the `create` and `random-write` calls
//! over N connections (like N processes on a Linux client, which would share one connection
//! with N calls in flight). Rates use MB = 10^6 bytes. One line per phase, `result LABEL PHASE VALUE UNIT`,
//! then a Markdown table row. With `--server-pid`, the server's CPU time (user + system, all
//! threads, from `/proc/PID/stat`) over each write phase is reported too, per WRITE for the
//! 4 KiB phases (`small-cpu`, `random-cpu`, in µs) and per MiB for `seq-write` (`seq-cpu`, in
//! ms): it includes the COMMIT and everything the server does in the background meanwhile.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use nfs3_client::tokio::{TokioConnector, TokioIo};
use nfs3_client::{Nfs3Connection, Nfs3ConnectionBuilder};
use tokio::net::TcpStream;

type Conn = Nfs3Connection<TokioIo<TcpStream>>;

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Stable {
    Unstable,
    #[value(name = "data_sync", alias = "data-sync")]
    DataSync,
    #[value(name = "file_sync", alias = "file-sync")]
    FileSync,
}

impl Stable {
    fn how(self) -> stable_how {
        match self {
            Self::Unstable => stable_how::UNSTABLE,
            Self::DataSync => stable_how::DATA_SYNC,
            Self::FileSync => stable_how::FILE_SYNC,
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "NFSv3 benchmark with nfs3_client (sequential request/response)")]
struct Args {
    /// Server address (an IP literal).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// NFS program port.
    #[arg(long)]
    nfs_port: u16,
    /// MOUNT program port (gatehouse: the same as --nfs-port).
    #[arg(long)]
    mount_port: u16,
    /// Export path to mount, e.g. /bench (gatehouse) or /export (Ganesha).
    #[arg(long)]
    export: String,
    /// Name for the result lines.
    #[arg(long, default_value = "server")]
    label: String,
    /// Size of the sequential file in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: usize,
    /// Number of empty files to create (and list with READDIRPLUS).
    #[arg(long, default_value_t = 10_000)]
    files: usize,
    /// Number of random 4 KiB writes.
    #[arg(long, default_value_t = 20_000)]
    random_ops: usize,
    /// MiB written in sequential 4 KiB WRITEs by the `small` phase.
    #[arg(long, default_value_t = 64)]
    small_mib: usize,
    /// Size of the file the random writes go into, in MiB.
    #[arg(long, default_value_t = 256)]
    random_file_mib: usize,
    /// The `stable` field of every WRITE (the Linux client sends unstable, then COMMIT).
    #[arg(long, value_enum, default_value_t = Stable::Unstable)]
    stable: Stable,
    /// Connections the `create` and `random-write` phases spread their calls over, each with
    /// one request in flight (like that many processes on a Linux client; 1 = sequential).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// A server process to report VmHWM/VmRSS of after each phase (same machine).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connect from a privileged source port (< 1024, needs root).
    #[arg(long)]
    privileged_port: bool,
    /// NULL calls of the `null` phase.
    #[arg(long, default_value_t = 50_000)]
    null_calls: usize,
    /// An existing directory under the export for the `list-dir` phase.
    #[arg(long)]
    list_dir: Option<String>,
    /// The phases to run, comma-separated (seq = seq-write and seq-read, create = create and
    /// readdirplus, small = small-write, random = random-write, rename = create then a RENAME
    /// of its directory, list-dir = READDIRPLUS of `--list-dir`, null = NULL calls); seq,
    /// small, create and random by default.
    #[arg(long, value_delimiter = ',', default_values_t = ["seq".to_string(), "small".into(), "create".into(), "random".into()])]
    phases: Vec<String>,
    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// xorshift64* seeded through splitmix64: fast, and never the same stream for two seeds.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = words.into_remainder();
        let last = self.next().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// The bytes of block `i` of a file written with base seed `seed`.
fn block(seed: u64, i: u64, buf: &mut [u8]) {
    Rng::new(seed ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).fill(buf);
}

fn status<T, E>(r: Nfs3Result<T, E>, what: &str) -> Result<T> {
    match r {
        Nfs3Result::Ok(ok) => Ok(ok),
        Nfs3Result::Err((s, _)) => bail!("{what}: {s:?}"),
    }
}

fn mode_0644() -> sattr3 {
    sattr3 {
        mode: Nfs3Option::Some(0o644),
        ..Default::default()
    }
}

async fn create_file(c: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<nfs_fh3> {
    let r = c
        .create(&CREATE3args {
            where_: diropargs3 {
                dir: dir.clone(),
                name: name.as_bytes().into(),
            },
            how: createhow3::UNCHECKED(mode_0644()),
        })
        .await
        .with_context(|| format!("CREATE {name}"))?;
    match status(r, name)?.obj {
        Nfs3Option::Some(h) => Ok(h),
        Nfs3Option::None => bail!("CREATE {name}: no file handle in the reply"),
    }
}

async fn mkdir(c: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<nfs_fh3> {
    let r = c
        .mkdir(&MKDIR3args {
            where_: diropargs3 {
                dir: dir.clone(),
                name: name.as_bytes().into(),
            },
            attributes: sattr3 {
                mode: Nfs3Option::Some(0o755),
                ..Default::default()
            },
        })
        .await
        .with_context(|| format!("MKDIR {name}"))?;
    match status(r, name)?.obj {
        Nfs3Option::Some(h) => Ok(h),
        Nfs3Option::None => bail!("MKDIR {name}: no file handle in the reply"),
    }
}

/// One WRITE that must be taken whole; returns how the server says it committed it.
async fn write(
    c: &mut Conn,
    f: &nfs_fh3,
    offset: u64,
    data: &[u8],
    stable: Stable,
) -> Result<WRITE3resok> {
    let r = c
        .write(&WRITE3args {
            file: f.clone(),
            offset,
            count: u32::try_from(data.len())?,
            stable: stable.how(),
            data: Opaque::borrowed(data),
        })
        .await
        .with_context(|| format!("WRITE at {offset}"))?;
    let ok = status(r, "WRITE")?;
    ensure!(
        ok.count as usize == data.len(),
        "short WRITE at {offset}: {} of {}",
        ok.count,
        data.len()
    );
    Ok(ok)
}

async fn commit(c: &mut Conn, f: &nfs_fh3) -> Result<writeverf3> {
    let r = c
        .commit(&COMMIT3args {
            file: f.clone(),
            offset: 0,
            count: 0,
        })
        .await
        .context("COMMIT")?;
    Ok(status(r, "COMMIT")?.verf)
}

fn rate(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// "VmHWM 12.3 MiB, VmRSS 10.1 MiB" of a process, if it is there.
fn rss(pid: u32) -> Option<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        let line = s.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    Some((kib("VmHWM:")? / 1024.0, kib("VmRSS:")? / 1024.0))
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // In USER_HZ ticks: 100 a second on every Linux architecture userspace sees.
    Some(ticks / 100.0)
}

struct Bench {
    args: Args,
    conn: Conn,
    /// `--jobs` - 1 more connections.
    extra: Vec<Conn>,
    dir: nfs_fh3,
    seed: u64,
    /// (phase, value, unit) in order, for the Markdown row.
    results: Vec<(&'static str, f64, &'static str)>,
}

impl Bench {
    fn report(&mut self, phase: &'static str, value: f64, unit: &'static str) {
        println!("result {} {phase} {value:.1} {unit}", self.args.label);
        if let Some((hwm, cur)) = self.args.server_pid.and_then(rss) {
            println!(
                "info {} server-rss-after-{phase} hwm={hwm:.1}MiB rss={cur:.1}MiB",
                self.args.label
            );
        }
        self.results.push((phase, value, unit));
    }

    fn cpu(&self) -> Option<f64> {
        self.args.server_pid.and_then(cpu_seconds)
    }

    /// The server's CPU since `before`, scaled (`per` units of work, `scale` to the unit).
    fn report_cpu(
        &mut self,
        phase: &'static str,
        before: Option<f64>,
        per: f64,
        scale: f64,
        unit: &'static str,
    ) {
        if let (Some(a), Some(b)) = (before, self.cpu()) {
            self.report(phase, (b - a) * scale / per, unit);
        }
    }

    fn note_committed(&mut self, phase: &str, seen: &[stable_how]) {
        let mut kinds: Vec<String> = seen.iter().map(|s| format!("{s:?}")).collect();
        kinds.sort();
        kinds.dedup();
        println!(
            "info {} {phase}: WRITE replies committed={}",
            self.args.label,
            kinds.join(",")
        );
    }

    async fn seq_write(&mut self, f: &nfs_fh3) -> Result<()> {
        let mut buf = vec![0u8; MIB];
        let mut seen = Vec::new();
        let cpu = self.cpu();
        let start = Instant::now();
        for i in 0..self.args.size_mib as u64 {
            block(self.seed, i, &mut buf);
            let ok = write(&mut self.conn, f, i * MIB as u64, &buf, self.args.stable).await?;
            if !seen.contains(&ok.committed) {
                seen.push(ok.committed);
            }
        }
        commit(&mut self.conn, f).await?;
        let took = start.elapsed();
        self.note_committed("seq-write", &seen);
        self.report("seq-write", rate(self.args.size_mib * MIB, took), "MB/s");
        let mib = self.args.size_mib as f64;
        self.report_cpu("seq-cpu", cpu, mib, 1e3, "ms/MiB");
        Ok(())
    }

    /// NULL calls one at a time: calls/s and the server's CPU per call.
    async fn null_calls(&mut self) -> Result<()> {
        let n = self.args.null_calls.max(1);
        for _ in 0..n.min(1000) {
            self.conn.null().await.context("NULL")?; // warm-up, not counted
        }
        let cpu = self.cpu();
        let start = Instant::now();
        for _ in 0..n {
            self.conn.null().await.context("NULL")?;
        }
        let took = start.elapsed().as_secs_f64();
        self.report("null", n as f64 / took, "calls/s");
        self.report_cpu("null-cpu", cpu, n as f64, 1e6, "µs/call");
        Ok(())
    }

    async fn small_write(&mut self) -> Result<()> {
        let f = create_file(&mut self.conn, &self.dir, "small.bin").await?;
        let seed = self.seed ^ 0x5A11_4B17;
        let mut buf = vec![0u8; MIB];
        let mut seen = Vec::new();
        let ops = self.args.small_mib * MIB / PAGE;
        let cpu = self.cpu();
        let start = Instant::now();
        for i in 0..self.args.small_mib as u64 {
            block(seed, i, &mut buf);
            for (k, page) in buf.chunks(PAGE).enumerate() {
                let at = i * MIB as u64 + (k * PAGE) as u64;
                let ok = write(&mut self.conn, &f, at, page, self.args.stable).await?;
                if !seen.contains(&ok.committed) {
                    seen.push(ok.committed);
                }
            }
        }
        commit(&mut self.conn, &f).await?;
        let took = start.elapsed();
        self.note_committed("small-write", &seen);
        self.report("small-write", rate(self.args.small_mib * MIB, took), "MB/s");
        self.report_cpu("small-cpu", cpu, ops as f64, 1e6, "µs/WRITE");
        // The last 4 KiB read back.
        if ops > 0 {
            let last = (ops - 1) * PAGE;
            let r = self
                .conn
                .read(&READ3args {
                    file: f.clone(),
                    offset: last as u64,
                    count: PAGE as u32,
                })
                .await
                .context("READ back")?;
            let ok = status(r, "READ back")?;
            ensure!(
                ok.data[..] == buf[MIB - PAGE..],
                "small-write: the last 4 KiB do not read back"
            );
        }
        Ok(())
    }

    async fn seq_read(&mut self, f: &nfs_fh3) -> Result<()> {
        let total = (self.args.size_mib * MIB) as u64;
        let mut expect = vec![0u8; MIB];
        let mut have = 0usize; // bytes of the current block already compared
        let mut offset = 0u64;
        let start = Instant::now();
        block(self.seed, 0, &mut expect);
        while offset < total {
            let r = self
                .conn
                .read(&READ3args {
                    file: f.clone(),
                    offset,
                    count: u32::try_from(MIB - have)?,
                })
                .await
                .with_context(|| format!("READ at {offset}"))?;
            let ok = status(r, "READ")?;
            let n = ok.data.len();
            ensure!(n > 0, "empty READ at {offset} before the end");
            ensure!(
                ok.data[..] == expect[have..have + n],
                "READ at {offset}: bytes differ from what was written"
            );
            offset += n as u64;
            have += n;
            if have == MIB && offset < total {
                have = 0;
                block(self.seed, offset / MIB as u64, &mut expect);
            }
        }
        let took = start.elapsed();
        self.report("seq-read", rate(total as usize, took), "MB/s");
        Ok(())
    }

    async fn create_many(&mut self) -> Result<nfs_fh3> {
        let d = mkdir(&mut self.conn, &self.dir, "files").await?;
        let (files, jobs) = (self.args.files, self.extra.len() + 1);
        let start = Instant::now();
        let conns = std::iter::once(&mut self.conn).chain(self.extra.iter_mut());
        let runs = conns.enumerate().map(|(k, c)| {
            let d = d.clone();
            async move {
                for i in (k..files).step_by(jobs) {
                    create_file(c, &d, &format!("f{i:05}")).await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        });
        for r in futures_util::future::join_all(runs).await {
            r?;
        }
        let took = start.elapsed();
        self.report(
            "create",
            self.args.files as f64 / took.as_secs_f64(),
            "ops/s",
        );
        Ok(d)
    }

    async fn readdirplus(&mut self, d: &nfs_fh3) -> Result<()> {
        let names = self.list(d, "readdirplus").await?;
        ensure!(
            names == self.args.files,
            "READDIRPLUS listed {names} files, expected {}",
            self.args.files
        );
        Ok(())
    }

    /// READDIRPLUS of `d` to its end; reports the time (and the server's CPU) as `phase`;
    /// returns the entries listed.
    async fn list(&mut self, d: &nfs_fh3, phase: &'static str) -> Result<usize> {
        let mut cookie = 0;
        let mut cookieverf = cookieverf3::default();
        let mut names = 0usize;
        let mut pages = 0usize;
        let start = Instant::now();
        loop {
            let r = self
                .conn
                .readdirplus(&READDIRPLUS3args {
                    dir: d.clone(),
                    cookie,
                    cookieverf,
                    dircount: 8192,
                    maxcount: 65536,
                })
                .await
                .context("READDIRPLUS")?;
            let ok = status(r, "READDIRPLUS")?;
            pages += 1;
            cookieverf = ok.cookieverf;
            for e in &ok.reply.entries.0 {
                if e.name.0.as_ref() != b"." && e.name.0.as_ref() != b".." {
                    names += 1;
                }
                cookie = e.cookie;
            }
            if ok.reply.eof {
                break;
            }
            ensure!(
                !ok.reply.entries.0.is_empty(),
                "empty READDIRPLUS page before eof"
            );
        }
        let took = start.elapsed();
        println!(
            "info {} {phase}: {names} entries in {pages} pages",
            self.args.label
        );
        self.report(phase, took.as_secs_f64() * 1e3, "ms");
        Ok(names)
    }

    /// RENAME of directory `name` (in the run's directory) to `name.renamed`.
    async fn rename_dir(&mut self, name: &str) -> Result<()> {
        let before = self.cpu();
        let start = Instant::now();
        let to = format!("{name}.renamed");
        let r = self
            .conn
            .rename(&RENAME3args {
                from: diropargs3 {
                    dir: self.dir.clone(),
                    name: name.as_bytes().into(),
                },
                to: diropargs3 {
                    dir: self.dir.clone(),
                    name: to.as_bytes().into(),
                },
            })
            .await
            .context("RENAME")?;
        status(r, "RENAME")?;
        let took = start.elapsed();
        self.report("rename", took.as_secs_f64() * 1e3, "ms");
        self.report_cpu("rename-cpu", before, 1.0, 1e3, "ms");
        Ok(())
    }

    /// READDIRPLUS of `--list-dir`, looked up under the export's root.
    async fn list_dir(&mut self, root: &nfs_fh3, name: &str) -> Result<()> {
        let r = self
            .conn
            .lookup(&LOOKUP3args {
                what: diropargs3 {
                    dir: root.clone(),
                    name: name.as_bytes().into(),
                },
            })
            .await
            .context("LOOKUP")?;
        let d = status(r, name)?.object;
        let before = self.cpu();
        let names = self.list(&d, "list-dir").await?;
        self.report_cpu("list-dir-cpu", before, 1.0, 1e3, "ms");
        self.report("list-dir-entries", names as f64, "entries");
        Ok(())
    }

    async fn random_write(&mut self) -> Result<()> {
        let f = create_file(&mut self.conn, &self.dir, "random.bin").await?;
        let fill_seed = self.seed ^ 0x5EED_F11E;
        let mut buf = vec![0u8; MIB];
        for i in 0..self.args.random_file_mib as u64 {
            block(fill_seed, i, &mut buf);
            write(&mut self.conn, &f, i * MIB as u64, &buf, self.args.stable).await?;
        }
        commit(&mut self.conn, &f).await?;

        let pages = (self.args.random_file_mib * MIB / PAGE) as u64;
        ensure!(pages > 0, "--random-file-mib must be at least 1");
        let jobs = self.extra.len() + 1;
        let (ops, stable, seed) = (self.args.random_ops, self.args.stable, self.seed);
        let cpu = self.cpu();
        let start = Instant::now();
        let conns = std::iter::once(&mut self.conn).chain(self.extra.iter_mut());
        let runs = conns.enumerate().map(|(k, c)| {
            let f = f.clone();
            async move {
                let mut rng = Rng::new(seed ^ 0xA110_FF5E ^ k as u64);
                let mut data = vec![0u8; PAGE];
                let (mut seen, mut last) = (Vec::new(), 0u64);
                for _ in (k..ops).step_by(jobs) {
                    last = (rng.next() % pages) * PAGE as u64;
                    rng.fill(&mut data);
                    let ok = write(c, &f, last, &data, stable).await?;
                    if !seen.contains(&ok.committed) {
                        seen.push(ok.committed);
                    }
                }
                Ok::<_, anyhow::Error>((seen, last, data))
            }
        });
        let mut seen = Vec::new();
        let (mut last, mut data) = (0u64, vec![0u8; PAGE]);
        let mut overwritten = false;
        for (k, r) in futures_util::future::join_all(runs)
            .await
            .into_iter()
            .enumerate()
        {
            let (s, l, d) = r?;
            for x in s {
                if !seen.contains(&x) {
                    seen.push(x);
                }
            }
            if k == 0 {
                (last, data) = (l, d);
            }
        }
        commit(&mut self.conn, &f).await?;
        let took = start.elapsed();
        // With several writers, another may have written the first one's last page after it.
        if jobs > 1 {
            overwritten = true;
        }
        self.note_committed("random-write", &seen);

        // The last write is what that page must hold now.
        if self.args.random_ops > 0 && !overwritten {
            let r = self
                .conn
                .read(&READ3args {
                    file: f.clone(),
                    offset: last,
                    count: PAGE as u32,
                })
                .await
                .context("READ back")?;
            let ok = status(r, "READ back")?;
            ensure!(
                ok.data[..] == data[..],
                "random-write: the last 4 KiB written at {last} do not read back"
            );
        }
        self.report(
            "random-write",
            self.args.random_ops as f64 / took.as_secs_f64(),
            "ops/s",
        );
        let ops = self.args.random_ops.max(1) as f64;
        self.report_cpu("random-cpu", cpu, ops, 1e6, "µs/WRITE");
        Ok(())
    }
}

/// One more mounted connection, as the current user (AUTH_UNIX).
async fn connect(args: &Args) -> Result<Conn> {
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let gid = std::fs::metadata("/proc/self").map_or(0, |m| m.gid());
    let cred = opaque_auth::auth_unix(&auth_unix {
        stamp: 0,
        machinename: Opaque::borrowed(b"nfsbench"),
        uid,
        gid,
        gids: vec![gid],
    });
    Nfs3ConnectionBuilder::new(TokioConnector, &args.host, &args.export)
        .mount_port(args.mount_port)
        .nfs3_port(args.nfs_port)
        .connect_from_privileged_port(args.privileged_port)
        .credential(cred)
        .mount()
        .await
        .with_context(|| {
            format!(
                "mount {}:{} (nfs {}, mount {})",
                args.host, args.export, args.nfs_port, args.mount_port
            )
        })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let mut conn = connect(&args).await?;
    let root = conn.root_nfs_fh3();

    let info = status(
        conn.fsinfo(&FSINFO3args {
            fsroot: root.clone(),
        })
        .await
        .context("FSINFO")?,
        "FSINFO",
    )?;
    println!(
        "info {} fsinfo rtmax={} wtmax={} dtpref={} (client: one request in flight per connection, {} connection(s) for create and random-write, stable={:?}, uid={uid})",
        args.label, info.rtmax, info.wtmax, info.dtpref, args.jobs, args.stable
    );
    ensure!(
        info.wtmax as usize >= MIB && info.rtmax as usize >= MIB,
        "the server takes less than 1 MiB per request (rtmax {}, wtmax {})",
        info.rtmax,
        info.wtmax
    );

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let name = format!("nfsbench-{}-{}", now.as_secs(), args.label);
    let seed = now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32);
    let dir = mkdir(&mut conn, &root, &name).await?;
    println!("info {} directory {}/{name}", args.label, args.export);

    let mut extra = Vec::new();
    for _ in 1..args.jobs.max(1) {
        extra.push(connect(&args).await?);
    }
    let mut b = Bench {
        args,
        conn,
        extra,
        dir,
        seed,
        results: Vec::new(),
    };
    let phase = |p: &str| b.args.phases.iter().any(|x| x == p);
    let (seq, small) = (phase("seq"), phase("small"));
    let (create, random) = (phase("create"), phase("random"));
    let (rename, list_dir, null) = (phase("rename"), phase("list-dir"), phase("null"));
    ensure!(
        list_dir == b.args.list_dir.is_some(),
        "--list-dir NAME and the list-dir phase go together"
    );
    if null {
        b.null_calls().await?;
    }
    if seq {
        let f = create_file(&mut b.conn, &b.dir, "seq.bin").await?;
        b.seq_write(&f).await?;
        b.seq_read(&f).await?;
    }
    if small {
        b.small_write().await?;
    }
    if create || rename {
        let d = b.create_many().await?;
        b.readdirplus(&d).await?;
        if rename {
            b.rename_dir("files").await?;
        }
    }
    if list_dir {
        let name = b
            .args
            .list_dir
            .clone()
            .context("list-dir needs --list-dir NAME")?;
        b.list_dir(&root, &name).await?;
    }
    if random {
        b.random_write().await?;
    }

    // Markdown: header, separator, this run's row (the compare script keeps the last line).
    let head: Vec<String> = b
        .results
        .iter()
        .map(|(p, _, u)| format!("{p} ({u})"))
        .collect();
    let cells: Vec<String> = b
        .results
        .iter()
        .map(|(_, v, _)| {
            if *v < 100.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .collect();
    println!("| server | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(head.len()));
    println!("| {} | {} |", b.args.label, cells.join(" | "));
    if let Err(e) = b.conn.unmount().await {
        eprintln!("unmount: {e}");
    }
    Ok(())
}
