//! `gatehouse bench`: one S3 load generator for any endpoint, so that gatehouse and a peer are
//! measured by the same client in the same run.
//!
//! Phases (each bounded by `--duration`, each checking what it reads back):
//! `put-small` / `get-small` (N objects at concurrency C), `list` (pages of 1000 keys from
//! random start points), `mpu-put` (one large object in parts), `get-large` (the same object in
//! one stream), `get-range` (random ranged GETs of it), `put-concurrent` (several large single
//! PUTs at once: the server's peak RSS shows whether memory is flat in object size),
//! `delete-objects` (the small objects, 1000 keys per request).
//! With `--pid`, the server's CPU time and peak RSS come from `/proc/<pid>`.

mod client;
mod data;
mod measure;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use tokio::task::JoinSet;

use client::S3Client;
use data::{FRAME, Pool};
use measure::{Latencies, PhaseResult, ServerProbe};

const PHASES: &[&str] = &[
    "put-small",
    "get-small",
    "head-small",
    "list",
    "mpu-put",
    "get-large",
    "get-range",
    "put-concurrent",
    "delete-objects",
];

fn size(s: &str) -> Result<u64, String> {
    crate::config::parse_size(s)
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint URL (http://HOST:PORT); requests are path-style.
    #[arg(long)]
    pub endpoint: String,
    /// Access key (or AWS_ACCESS_KEY_ID, or --credentials).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    /// Secret key (or AWS_SECRET_ACCESS_KEY, or --credentials).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// An aws credentials file ([default] profile), e.g. <data-dir>/admin.credentials.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Region the requests are signed for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Bucket to use (created if missing; default: a new ghbench-<time> bucket, removed after).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Server process id: report its CPU time per op and peak RSS per phase.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Name printed with the results (e.g. the server measured).
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Comma-separated phases to run (default: all).
    #[arg(long, value_delimiter = ',', default_values_t = PHASES.iter().map(|s| s.to_string()))]
    pub phases: Vec<String>,
    /// Upper bound on each phase's running time, seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Small objects to PUT (and GET).
    #[arg(long, default_value_t = 20_000)]
    pub objects: usize,
    /// Size of each small object.
    #[arg(long, default_value = "4Ki", value_parser = size)]
    pub object_size: u64,
    /// Requests in flight for the small-object and ranged phases.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// ListObjectsV2 pages to request in `list`.
    #[arg(long, default_value_t = 300)]
    pub list_pages: usize,
    /// Keys per list page (max-keys).
    #[arg(long, default_value_t = 1000)]
    pub page_keys: usize,
    /// List requests in flight.
    #[arg(long, default_value_t = 4)]
    pub list_concurrency: usize,
    /// Size of the large object (`mpu-put`, `get-large`, `get-range`).
    #[arg(long, default_value = "1Gi", value_parser = size)]
    pub large_size: u64,
    /// Multipart part size in `mpu-put`.
    #[arg(long, default_value = "16Mi", value_parser = size)]
    pub part_size: u64,
    /// Parts uploaded in flight in `mpu-put`.
    #[arg(long, default_value_t = 8)]
    pub part_concurrency: usize,
    /// Bytes per ranged GET in `get-range`.
    #[arg(long, default_value = "1Mi", value_parser = size)]
    pub range_size: u64,
    /// Ranged GETs in `get-range`.
    #[arg(long, default_value_t = 2000)]
    pub range_ops: usize,
    /// Concurrent single PUTs in `put-concurrent`.
    #[arg(long, default_value_t = 8)]
    pub uploads: usize,
    /// Size of each object in `put-concurrent`.
    #[arg(long, default_value = "256Mi", value_parser = size)]
    pub upload_size: u64,
    /// How object bodies are sent: `unsigned` (UNSIGNED-PAYLOAD, as SDKs send over HTTPS) or
    /// `signed` (SHA-256 signed plus a CRC32 checksum header, as boto3 sends over HTTP).
    #[arg(long, value_enum, default_value = "unsigned")]
    pub payload: client::Payload,
    /// Small objects already in `--bucket` from an earlier `--keep` run with the same `--seed`
    /// and `--object-size`: `put-small` adds the rest up to `--objects`, and `get-small`,
    /// `head-small` and `list` use them all (measuring a store as it grows).
    #[arg(long, default_value_t = 0)]
    pub stored: usize,
    /// Seed of the payloads (default: from the clock, so runs differ); give the one printed by
    /// the run that stored the objects when using `--stored`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Leave the bucket and its objects in place.
    #[arg(long)]
    pub keep: bool,
}

struct Ctx {
    s3: Arc<S3Client>,
    pool: Arc<Pool>,
    bucket: String,
    probe: Option<ServerProbe>,
    args: BenchArgs,
    /// Varies the bytes from run to run, so a deduplicating server cannot reuse an earlier
    /// run's chunks (still on disk until their grace period ends).
    seed: u64,
    /// Small objects stored by `put-small`.
    small: usize,
    large_done: bool,
}

const SMALL_SEED: u64 = 0x5111;
const LARGE_SEED: u64 = 0x1a7e;
const LARGE_KEY: &str = "large/mpu.bin";

fn small_key(i: usize) -> String {
    format!("small/{i:08}")
}

fn read_credentials(path: &PathBuf) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let get = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    Ok((
        get("aws_access_key_id").context("no aws_access_key_id")?,
        get("aws_secret_access_key").context("no aws_secret_access_key")?,
    ))
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    for p in &args.phases {
        ensure!(
            PHASES.contains(&p.as_str()),
            "unknown phase {p:?} (phases: {})",
            PHASES.join(",")
        );
    }
    ensure!(
        args.part_size.is_multiple_of(FRAME as u64) && args.part_size >= 5 << 20,
        "--part-size must be a multiple of 1 MiB and at least 5 MiB"
    );
    ensure!(args.concurrency > 0 && args.objects > 0, "nothing to do");
    let (ak, sk) = match (&args.access_key, &args.secret_key, &args.credentials) {
        (_, _, Some(f)) => read_credentials(f)?,
        (Some(a), Some(s), None) => (a.clone(), s.clone()),
        _ => bail!("give --credentials FILE or --access-key and --secret-key"),
    };
    let s3 = Arc::new(S3Client::new(
        &args.endpoint,
        &ak,
        &sk,
        &args.region,
        args.payload,
    )?);
    let probe = args.pid.map(ServerProbe::new).transpose()?;
    let (bucket, own_bucket) = match &args.bucket {
        Some(b) => (b.clone(), false),
        None => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            (format!("ghbench-{t}"), true)
        }
    };
    s3.create_bucket(&bucket).await?;
    let mut ctx = Ctx {
        s3,
        pool: Arc::new(Pool::new(0x6a7e)),
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64
        }),
        bucket,
        probe,
        small: args.stored,
        args,
        large_done: false,
    };
    println!(
        "gatehouse bench: {} at {} — bucket {}, {} small objects of {} B at concurrency {}, large object {} MiB in {} MiB parts, {}×{} MiB concurrent PUTs, {} payloads, seed {}",
        ctx.args.label,
        ctx.args.endpoint,
        ctx.bucket,
        ctx.args.objects,
        ctx.args.object_size,
        ctx.args.concurrency,
        ctx.args.large_size >> 20,
        ctx.args.part_size >> 20,
        ctx.args.uploads,
        ctx.args.upload_size >> 20,
        match ctx.args.payload {
            client::Payload::Unsigned => "unsigned",
            client::Payload::Signed => "signed",
        },
        ctx.seed,
    );
    if let Some(p) = &ctx.probe
        && !p.peak_is_per_phase()
    {
        println!("(peak RSS is since the server started: /proc/PID/clear_refs is not writable)");
    }
    println!("{}", PhaseResult::header());
    let phases = ctx.args.phases.clone();
    for name in PHASES.iter().filter(|p| phases.iter().any(|q| q == *p)) {
        let res = run_phase(&mut ctx, name).await?;
        if let Some(r) = res {
            println!("{}", r.row());
        }
    }
    if !ctx.args.keep {
        cleanup(&ctx, own_bucket).await?;
    }
    Ok(())
}

async fn run_phase(ctx: &mut Ctx, name: &str) -> anyhow::Result<Option<PhaseResult>> {
    let before = ctx.probe.as_ref().map(|p| {
        p.reset_peak();
        p.sample()
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(ctx.args.duration);
    let (label, ops, bytes, mut lat) = match name {
        "put-small" => {
            let (n, b, l) = put_small(ctx, deadline).await?;
            ctx.small = ctx.args.stored + n;
            (
                format!(
                    "put-small {} B c={}",
                    ctx.args.object_size, ctx.args.concurrency
                ),
                n,
                b,
                l,
            )
        }
        "get-small" => {
            if ctx.small == 0 {
                return skip(name, "no small objects (run put-small)");
            }
            let (n, b, l) = get_small(ctx, deadline).await?;
            (
                format!(
                    "get-small {} B c={}",
                    ctx.args.object_size, ctx.args.concurrency
                ),
                n,
                b,
                l,
            )
        }
        "head-small" => {
            if ctx.small == 0 {
                return skip(name, "no small objects (run put-small)");
            }
            let (n, b, l) = head_small(ctx, deadline).await?;
            (format!("head-small c={}", ctx.args.concurrency), n, b, l)
        }
        "list" => {
            if ctx.small == 0 {
                return skip(name, "no small objects (run put-small)");
            }
            let (n, b, l) = list(ctx, deadline).await?;
            (
                format!(
                    "list {} keys/page c={}",
                    ctx.args.page_keys.min(ctx.small),
                    ctx.args.list_concurrency
                ),
                n,
                b,
                l,
            )
        }
        "mpu-put" => {
            let (n, b, l) = mpu_put(ctx, deadline).await?;
            ctx.large_done = true;
            (
                format!(
                    "mpu-put {} MiB, {} MiB parts c={}",
                    ctx.args.large_size >> 20,
                    ctx.args.part_size >> 20,
                    ctx.args.part_concurrency
                ),
                n,
                b,
                l,
            )
        }
        "get-large" => {
            if !ctx.large_done {
                return skip(name, "no large object (run mpu-put)");
            }
            let (n, b, l) = get_large(ctx).await?;
            (
                format!("get-large {} MiB, one stream", ctx.args.large_size >> 20),
                n,
                b,
                l,
            )
        }
        "get-range" => {
            if !ctx.large_done {
                return skip(name, "no large object (run mpu-put)");
            }
            let (n, b, l) = get_range(ctx, deadline).await?;
            (
                format!(
                    "get-range {} KiB c={}",
                    ctx.args.range_size >> 10,
                    ctx.args.concurrency
                ),
                n,
                b,
                l,
            )
        }
        "put-concurrent" => {
            let (n, b, l) = put_concurrent(ctx, deadline).await?;
            (
                format!(
                    "put-concurrent {}×{} MiB",
                    ctx.args.uploads,
                    ctx.args.upload_size >> 20
                ),
                n,
                b,
                l,
            )
        }
        "delete-objects" => {
            if ctx.small == 0 {
                return skip(name, "no small objects (run put-small)");
            }
            let (n, b, l) = delete_objects(ctx, deadline).await?;
            ctx.small = 0;
            ("delete-objects 1000 keys/req c=4".to_string(), n, b, l)
        }
        _ => bail!("unknown phase {name}"),
    };
    let secs = started.elapsed().as_secs_f64();
    let (cpu, rss) = match (&ctx.probe, before) {
        (Some(p), Some(Ok(b))) => (
            Some(p.sample()?.cpu_secs - b.cpu_secs),
            Some(p.peak_rss_mib()),
        ),
        _ => (None, None),
    };
    Ok(Some(PhaseResult {
        name: label,
        ops,
        bytes,
        secs,
        p50_ms: lat.quantile_ms(0.5),
        p99_ms: lat.quantile_ms(0.99),
        server_cpu_secs: cpu,
        peak_rss_mib: rss,
    }))
}

fn skip(name: &str, why: &str) -> anyhow::Result<Option<PhaseResult>> {
    println!("| {name} | skipped: {why} |");
    Ok(None)
}

/// Runs `op(i)` for i = 0, 1, … < `total` on `conc` tasks until done or `deadline`; `op`
/// returns the bytes it moved. Indices are handed out in order, so the completed ones are
/// exactly `0..ops`. The first error ends the phase.
async fn workers<F, Fut>(
    conc: usize,
    total: usize,
    deadline: Instant,
    op: F,
) -> anyhow::Result<(usize, u64, Latencies)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..conc.max(1) {
        let (op, next) = (op.clone(), next.clone());
        set.spawn(async move {
            let (mut n, mut bytes, mut lat) = (0usize, 0u64, Latencies::default());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                bytes += op(i).await.with_context(|| format!("operation {i}"))?;
                lat.push(t.elapsed());
                n += 1;
            }
            anyhow::Ok((n, bytes, lat))
        });
    }
    let (mut n, mut bytes, mut lat) = (0, 0, Latencies::default());
    while let Some(r) = set.join_next().await {
        let (a, b, l) = r??;
        n += a;
        bytes += b;
        lat.extend(l);
    }
    Ok((n, bytes, lat))
}

type Measured = (usize, u64, Latencies);

async fn put_small(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, pool, bucket) = (ctx.s3.clone(), ctx.pool.clone(), ctx.bucket.clone());
    let seed = ctx.seed;
    let size = ctx.args.object_size as usize;
    let first = ctx.args.stored;
    let todo = ctx.args.objects.saturating_sub(first);
    workers(ctx.args.concurrency, todo, deadline, move |i| {
        let i = first + i;
        let (s3, bucket) = (s3.clone(), bucket.clone());
        let body = pool.small(SMALL_SEED ^ seed, i as u64, size);
        async move {
            let n = body.len() as u64;
            s3.put(&bucket, &small_key(i), vec![body]).await?;
            Ok(n)
        }
    })
    .await
}

async fn get_small(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, pool, bucket) = (ctx.s3.clone(), ctx.pool.clone(), ctx.bucket.clone());
    let seed = ctx.seed;
    let (size, stored) = (ctx.args.object_size as usize, ctx.small);
    workers(ctx.args.concurrency, stored, deadline, move |i| {
        // A fixed permutation of the stored keys: not the order they were written in.
        let k = (i as u64 * 7_919 + 13) as usize % stored;
        let (s3, bucket) = (s3.clone(), bucket.clone());
        let want = pool.small(SMALL_SEED ^ seed, k as u64, size);
        async move {
            let got = s3.get(&bucket, &small_key(k), None).await?;
            ensure!(got == want, "{} came back different", small_key(k));
            Ok(got.len() as u64)
        }
    })
    .await
}

async fn head_small(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, bucket) = (ctx.s3.clone(), ctx.bucket.clone());
    let (size, stored) = (ctx.args.object_size, ctx.small);
    workers(ctx.args.concurrency, stored, deadline, move |i| {
        // Another fixed permutation than get-small's.
        let k = (i as u64 * 7_907 + 29) as usize % stored;
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move {
            let len = s3.head(&bucket, &small_key(k)).await?;
            ensure!(len == size, "{}: Content-Length {len}", small_key(k));
            Ok(0)
        }
    })
    .await
}

async fn list(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, bucket) = (ctx.s3.clone(), ctx.bucket.clone());
    let (stored, page) = (ctx.small, ctx.args.page_keys);
    workers(
        ctx.args.list_concurrency,
        ctx.args.list_pages,
        deadline,
        move |i| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            // Start after a spread of keys; each page must be the next `page` keys in order.
            let span = stored.saturating_sub(page).max(1);
            let first = (i * 7_919) % span;
            let start_after = if first == 0 {
                String::new()
            } else {
                small_key(first - 1)
            };
            async move {
                let keys = s3.list_page(&bucket, "small/", &start_after, page).await?;
                let want = page.min(stored - first);
                ensure!(
                    keys.len() == want,
                    "page from {first}: {} keys, want {want}",
                    keys.len()
                );
                ensure!(
                    keys.first().map(String::as_str) == Some(small_key(first).as_str())
                        && keys.last().map(String::as_str)
                            == Some(small_key(first + want - 1).as_str()),
                    "page from {first} is not the next {want} keys"
                );
                Ok(0)
            }
        },
    )
    .await
}

async fn mpu_put(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (len, part) = (ctx.args.large_size, ctx.args.part_size);
    let parts = len.div_ceil(part) as usize;
    ensure!(
        (1..=10_000).contains(&parts),
        "--large-size / --part-size gives {parts} parts"
    );
    let id = ctx.s3.create_multipart(&ctx.bucket, LARGE_KEY).await?;
    let seed = ctx.seed;
    let (s3, pool, bucket, id2) = (
        ctx.s3.clone(),
        ctx.pool.clone(),
        ctx.bucket.clone(),
        id.clone(),
    );
    let etags = Arc::new(std::sync::Mutex::new(vec![String::new(); parts]));
    let etags2 = etags.clone();
    // Parts are not time-bounded: a half-uploaded object measures nothing.
    let far = deadline.max(Instant::now() + Duration::from_secs(3600));
    let measured = workers(ctx.args.part_concurrency, parts, far, move |i| {
        let (s3, bucket, id, etags) = (s3.clone(), bucket.clone(), id2.clone(), etags2.clone());
        let start = i as u64 * part;
        let frames = pool.frames(LARGE_SEED ^ seed, len, start, part);
        let n: u64 = frames.iter().map(|f| f.len() as u64).sum();
        async move {
            let etag = s3
                .upload_part(&bucket, LARGE_KEY, &id, i as u32 + 1, frames)
                .await?;
            if let Ok(mut e) = etags.lock() {
                e[i] = etag;
            }
            Ok(n)
        }
    })
    .await?;
    let list: Vec<(u32, String)> = etags
        .lock()
        .map_err(|_| anyhow::anyhow!("part list poisoned"))?
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.clone()))
        .collect();
    ctx.s3
        .complete_multipart(&ctx.bucket, LARGE_KEY, &id, &list)
        .await?;
    Ok(measured)
}

async fn get_large(ctx: &Ctx) -> anyhow::Result<Measured> {
    let len = ctx.args.large_size;
    let t = Instant::now();
    let path = format!("/{}/{LARGE_KEY}", ctx.bucket);
    let resp = ctx
        .s3
        .send(
            Method::GET,
            &path,
            "",
            HeaderMap::new(),
            client::empty(),
            None,
            None,
        )
        .await?;
    ensure!(
        resp.status().is_success(),
        "GET {path}: HTTP {}",
        resp.status()
    );
    let mut body = resp.into_body();
    let mut pos = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame?.into_data() {
            ensure!(
                ctx.pool.matches(LARGE_SEED ^ ctx.seed, len, pos, &d),
                "large object differs near byte {pos}"
            );
            pos += d.len() as u64;
        }
    }
    ensure!(pos == len, "large object: {pos} bytes, want {len}");
    let mut lat = Latencies::default();
    lat.push(t.elapsed());
    Ok((1, pos, lat))
}

async fn get_range(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, pool, bucket) = (ctx.s3.clone(), ctx.pool.clone(), ctx.bucket.clone());
    let seed = ctx.seed;
    let (len, rs) = (ctx.args.large_size, ctx.args.range_size.max(1));
    workers(
        ctx.args.concurrency,
        ctx.args.range_ops,
        deadline,
        move |i| {
            let (s3, pool, bucket) = (s3.clone(), pool.clone(), bucket.clone());
            // Unaligned starts spread over the object.
            let start =
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % len.saturating_sub(rs).max(1);
            let end = (start + rs).min(len) - 1;
            async move {
                let got = s3.get(&bucket, LARGE_KEY, Some((start, end))).await?;
                ensure!(
                    got.len() as u64 == end - start + 1,
                    "range {start}-{end}: {} bytes",
                    got.len()
                );
                ensure!(
                    pool.matches(LARGE_SEED ^ seed, len, start, &got),
                    "range {start}-{end} differs"
                );
                Ok(got.len() as u64)
            }
        },
    )
    .await
}

async fn put_concurrent(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, pool, bucket) = (ctx.s3.clone(), ctx.pool.clone(), ctx.bucket.clone());
    let seed = ctx.seed;
    let len = ctx.args.upload_size;
    let far = deadline.max(Instant::now() + Duration::from_secs(3600));
    workers(ctx.args.uploads, ctx.args.uploads, far, move |i| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        let frames = pool.frames((0xc0 + i as u64) ^ seed, len, 0, len);
        async move {
            s3.put(&bucket, &format!("concurrent/{i}"), frames).await?;
            Ok(len)
        }
    })
    .await
}

async fn delete_objects(ctx: &Ctx, deadline: Instant) -> anyhow::Result<Measured> {
    let (s3, bucket, stored) = (ctx.s3.clone(), ctx.bucket.clone(), ctx.small);
    let batches = stored.div_ceil(1000);
    let far = deadline.max(Instant::now() + Duration::from_secs(600));
    let m = workers(4, batches, far, move |b| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        let keys: Vec<String> = (b * 1000..((b + 1) * 1000).min(stored))
            .map(small_key)
            .collect();
        async move {
            let failed = s3.delete_objects(&bucket, &keys).await?;
            ensure!(failed == 0, "{failed} keys were not deleted");
            Ok(0)
        }
    })
    .await?;
    let left = ctx.s3.list_page(&ctx.bucket, "small/", "", 10).await?;
    ensure!(
        left.is_empty(),
        "delete-objects left {} keys behind",
        left.len()
    );
    Ok(m)
}

async fn cleanup(ctx: &Ctx, own_bucket: bool) -> anyhow::Result<()> {
    loop {
        let keys = ctx.s3.list_page(&ctx.bucket, "", "", 1000).await?;
        if keys.is_empty() {
            break;
        }
        for chunk in keys.chunks(1000) {
            ctx.s3.delete_objects(&ctx.bucket, chunk).await?;
        }
    }
    if own_bucket {
        ctx.s3.delete_bucket(&ctx.bucket).await?;
    }
    Ok(())
}
