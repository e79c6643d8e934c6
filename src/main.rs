use clap::{CommandFactory, FromArgMatches};
use gatehouse::cli::{self, Cli, Command};
use gatehouse::client::error::{self, ClientError};
use gatehouse::config::{Overrides, RawConfig, listen_text};
// stdout lines that end quietly on a closed pipe (`gatehouse fsck | head`).
use gatehouse::println;
use gatehouse::{app, bench, client, shutdown, telemetry};

/// mimalloc: the server allocates and frees many small, short-lived buffers per request from
/// several threads; glibc's malloc spent a third of an NFS worker's time on them. Its options
/// are set first thing in `main` (decision 0032).
#[global_allocator]
static GLOBAL: gatehouse_alloc_tune::ServerAllocator = gatehouse_alloc_tune::SERVER_ALLOCATOR;

fn main() -> std::process::ExitCode {
    gatehouse_alloc_tune::start();
    let rt = match app::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(run())
}

async fn run() -> std::process::ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them on its arenas, and
    // each touched 2 MiB then stays resident whole (peak RSS over the NFS benchmark ~75 MiB
    // with them, ~45 without; decision 0026). Best effort: a kernel without THP says no.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let json = match &cli.command {
        Command::Fsck { json, .. } | Command::Restore { json, .. } => *json,
        _ => cli.client.json,
    };
    let res = match cli.command {
        Command::Serve {
            config,
            data_dir,
            s3_listen,
            admin_listen,
            nfs_listen,
            ..
        } => serve(config, data_dir, s3_listen, admin_listen, nfs_listen).await,
        Command::CheckConfig { file, .. } => check_config(&file),
        Command::ShowConfig { config, .. } => (|| {
            let raw = match &config {
                Some(p) => RawConfig::load(p)?,
                None => RawConfig::default(),
            };
            client::output::text(&raw.validate(&Overrides::default())?.to_yaml());
            Ok(())
        })(),
        Command::Restore {
            from,
            from_backend,
            config,
            snapshot,
            data_dir,
            json,
            ..
        } => match (data_dir, from, config) {
            (None, _, _) => Err(ClientError::usage(
                "restore needs --data-dir NEW: an empty or new directory to restore into",
            )
            .into()),
            (Some(to), _, Some(config)) if from_backend => {
                gatehouse::remote_backend::restore(&config, snapshot.as_deref(), &to, json)
            }
            (Some(to), Some(from), _) => restore(&from, &to, json),
            (Some(_), None, _) => Err(ClientError::usage(
                "restore needs --from BACKUP or --from-backend --config FILE",
            )
            .into()),
        },
        Command::Fsck {
            repair,
            data_dir,
            json,
            server: Some(server),
            credentials,
            cacert,
            rate_mib,
        } => {
            let _ = repair; // refused with --server by clap
            let opts = client::ClientOpts {
                server: server.clone(),
                // As the other client commands take it (not a clap `env`: the offline fsck,
                // which refuses `--cacert`, must not see it).
                cacert: cacert.or_else(|| std::env::var_os("GATEHOUSE_CACERT").map(Into::into)),
                credentials,
                data_dir,
                json,
            };
            return match client::fsck_online(&opts, rate_mib).await {
                Ok(r) => fsck_verdict(&server, &r, json),
                Err(e) => error::report(&e.context("fsck"), json),
            };
        }
        Command::Fsck {
            repair,
            data_dir,
            json,
            ..
        } => {
            let dir = data_dir.unwrap_or_else(|| "./gatehouse-data".into());
            return fsck(&dir, repair, json);
        }
        Command::MasterKey {
            action,
            data_dir,
            secret_file,
        } => master_key(
            action,
            &data_dir.unwrap_or_else(|| "./gatehouse-data".into()),
            secret_file.as_deref(),
        ),
        Command::Bench(args) => bench::run(*args).await,
        Command::Client(cmd) => client::run(&cli.client, cmd).await,
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => error::report(&e, json),
    }
}

/// The command line, or the exit code of a refusal: clap's own message and exit 2, or under
/// `--json` the `{"error": "cli.usage", …}` object; `--help`/`--version` exit 0.
fn parse() -> Result<Cli, std::process::ExitCode> {
    let json = std::env::args_os()
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let refuse = |e: clap::Error| {
        if json && e.use_stderr() {
            error::report_usage_json(&e.render().to_string())
        } else {
            e.exit()
        }
    };
    let mut cmd = Cli::command();
    let m = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .map_err(refuse)?;
    let misplaced = gatehouse::cli::misplaced_client_flags(&m);
    if let Some(flag) = misplaced.first() {
        let e = cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "{flag} belongs to client commands; `{}` talks to no server",
                m.subcommand_name().unwrap_or_default()
            ),
        );
        return Err(refuse(e));
    }
    let mut cli = Cli::from_arg_matches(&m).map_err(refuse)?;
    // `fsck` goes online only for a `--server` given on the command line, not for the client
    // flag's default or GATEHOUSE_SERVER.
    if let Command::Fsck { server, .. } = &mut cli.command {
        let given = m.subcommand_matches("fsck").is_some_and(|f| {
            f.value_source("server") == Some(clap::parser::ValueSource::CommandLine)
        });
        if !given {
            *server = None;
        }
    }
    Ok(cli)
}

/// Runs fsck and turns its verdict into the exit code (0 clean, 1 problems, 2 damage).
fn fsck(dir: &std::path::Path, repair: bool, json: bool) -> std::process::ExitCode {
    let r = match gatehouse_store::fsck::fsck(dir, repair) {
        Ok(r) => r,
        Err(e) => return error::report(&anyhow::anyhow!("fsck: {e}"), json),
    };
    fsck_verdict(&dir.display().to_string(), &r, json)
}

/// Prints an fsck report of `what` (a data directory, or a server checked online) and turns its
/// verdict into the exit code.
fn fsck_verdict(
    what: &str,
    r: &gatehouse_store::fsck::FsckReport,
    json: bool,
) -> std::process::ExitCode {
    let code = if r.damaged() {
        2
    } else if r.clean() || r.repaired {
        0
    } else {
        1
    };
    // `gatehouse fsck | head`: a reader that stops early does not turn damage into exit 0.
    client::output::exit_code_on_closed_pipe(code);
    if json {
        match serde_json::to_string_pretty(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("gatehouse fsck: {e}"),
        }
    } else {
        println!(
            "{}: {} objects, {} chunks verified ({} bytes)",
            what, r.objects, r.chunks_verified, r.bytes_verified
        );
        for (b, k, h) in &r.missing_chunks {
            println!("  MISSING chunk {h} of {b}/{k}");
        }
        for (b, k, h) in &r.corrupt_chunks {
            println!("  CORRUPT chunk {h} of {b}/{k}");
        }
        for (id, k) in &r.dangling_entries {
            println!("  entry {k:?} in bucket #{id} points at no inode");
        }
        for b in &r.usage_mismatches {
            println!("  usage counters of {b} differ from a recount");
        }
        if let Some((stored, counted)) = r.usage_total_mismatch {
            println!(
                "  the server's total usage records {stored} bytes, its buckets hold {counted}"
            );
        }
        if let Some((stored, counted)) = r.live_objects_mismatch {
            println!(
                "  the server's object total records {stored} objects, its buckets hold {counted}"
            );
        }
        if let Some(((rows, bytes), (want_rows, want_bytes))) = r.chunk_totals_mismatch {
            println!(
                "  the chunk totals record {rows} chunks of {bytes} bytes, the rows are {want_rows} of {want_bytes}"
            );
        }
        for (ino, stored, counted) in &r.nlink_mismatches {
            println!("  inode {ino} records {stored} links, {counted} entries name it");
        }
        for m in &r.replication_mismatches {
            println!("  {m}");
        }
        let counts = [
            (r.refcount_mismatches, "chunk refcounts wrong"),
            (r.unreferenced_rows, "chunk rows without referents"),
            (r.missing_rows, "referenced chunks without a row"),
            (
                r.subdir_mismatches,
                "directory subdirectory counts (nlink) wrong",
            ),
            (
                r.name_mismatches,
                "rows of the file view's inode-to-names index wrong",
            ),
            (
                r.version_chain_mismatches,
                "links of the version chains differ from the version log",
            ),
            (
                r.orphan_files,
                "orphan chunk files (left by interrupted writes; GC or --repair removes them)",
            ),
        ];
        for (n, what) in counts {
            if n > 0 {
                println!("  {n} {what}");
            }
        }
        let verdict = match (r.clean(), r.repaired, r.damaged()) {
            (true, _, _) => "clean",
            (false, true, false) => "repaired",
            (false, true, true) => {
                "repaired what could be; DAMAGED data remains (restore from a backup)"
            }
            (false, false, true) => "DAMAGED (missing or corrupt data; restore from a backup)",
            (false, false, false) => "problems found (run with --repair)",
        };
        println!("{verdict}");
    }
    std::process::ExitCode::from(code)
}

fn restore(from: &std::path::Path, to: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use gatehouse_store::backup;
    let report = if from == std::path::Path::new("-") {
        backup::unpack_tar(&mut std::io::stdin().lock(), to)?;
        gatehouse_store::fsck::fsck(to, false)?
    } else if from.is_file() {
        let mut f = std::io::BufReader::new(std::fs::File::open(from)?);
        backup::unpack_tar(&mut f, to)?;
        gatehouse_store::fsck::fsck(to, false)?
    } else {
        backup::restore_dir(from, to)?
    };
    if !report.clean() {
        anyhow::bail!(
            "restored into {}, but fsck is not clean: run gatehouse fsck --data-dir {} for details",
            to.display(),
            to.display()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "data_dir": to,
                "objects": report.objects,
                "chunks_verified": report.chunks_verified,
            })
        );
        return Ok(());
    }
    println!(
        "Restored into {}: {} objects, {} chunks verified; start it with gatehouse serve --data-dir {}",
        to.display(),
        report.objects,
        report.chunks_verified,
        to.display()
    );
    Ok(())
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let cfg = RawConfig::load(file)?.validate(&Overrides::default())?;
    println!(
        "{}: valid (data_dir {}, S3 on {}, admin API on {})",
        file.display(),
        cfg.data_dir.display(),
        listen_text(cfg.s3_listen),
        listen_text(cfg.admin_listen)
    );
    Ok(())
}

async fn serve(
    config: Option<std::path::PathBuf>,
    data_dir: Option<std::path::PathBuf>,
    s3_listen: Option<String>,
    admin_listen: Option<String>,
    nfs_listen: Option<String>,
) -> anyhow::Result<()> {
    let raw = match &config {
        Some(p) => RawConfig::load(p)?,
        None => RawConfig::default(),
    };
    let cfg = raw.validate(&Overrides {
        data_dir,
        s3_listen,
        admin_listen,
        nfs_listen,
    })?;
    telemetry::init(&cfg.log_level, cfg.log_json);
    let data_dir = cfg.data_dir.clone();
    let running = app::start(cfg).await?;
    if let Some((ak, sk)) = &running.new_admin {
        // Not through `println!` (which ends the process on a closed stdout): a server keeps
        // running whoever reads its stdout; the credential is in the file either way.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "Bootstrap admin (user id {}) credentials (shown once; also saved with mode 0600):\n  access key: {ak}\n  secret key: {sk}\n  file:       {}\nUse it with: AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url http://{} s3 ls",
            running.admin_user_id,
            data_dir.join("admin.credentials").display(),
            data_dir.join("admin.credentials").display(),
            listen_text(running.s3_addr)
        );
    }
    running.run_until(shutdown::signal()).await;
    Ok(())
}

/// `gatehouse master-key wrap|unwrap`: rewrites `master.key` (a new file renamed over it, after
/// the new content was read back with the secret), so a crash leaves the old or the new one.
fn master_key(
    action: cli::MasterKeyAction,
    data_dir: &std::path::Path,
    secret_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use gatehouse_store::master_wrap::{self, OperatorSecret};
    let secret = OperatorSecret::given(secret_file)
        .map_err(anyhow::Error::msg)?
        .with_context(|| {
            format!(
                "no operator secret: set {} or give --secret-file",
                master_wrap::ENV
            )
        })?;
    let path = data_dir.join("master.key");
    // Rewrites an existing key only: never makes one (a wrong --data-dir would otherwise get a
    // fresh key, wrapped, and the message that all is well).
    anyhow::ensure!(
        path.is_file(),
        "{} does not exist: not a gatehouse data directory (or not started yet)",
        path.display()
    );
    let key = match action {
        cli::MasterKeyAction::Wrap => {
            gatehouse_store::identity::MasterKey::load_or_create_with(&path, None)
        }
        cli::MasterKeyAction::Unwrap => {
            gatehouse_store::identity::MasterKey::load_or_create_with(&path, Some(&secret))
        }
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = match action {
        cli::MasterKeyAction::Wrap => {
            master_wrap::wrap(key.bytes(), &secret).map_err(anyhow::Error::msg)?
        }
        cli::MasterKeyAction::Unwrap => master_wrap::plain(key.bytes()),
    };
    let tmp = data_dir.join("master.key.new");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    // Read back what would replace the key: it must give the same key.
    let again = gatehouse_store::identity::MasterKey::load_or_create_with(
        &tmp,
        (action == cli::MasterKeyAction::Wrap).then_some(&secret),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        again.bytes() == key.bytes(),
        "the rewritten master key reads back differently"
    );
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    client::output::text(&match action {
        cli::MasterKeyAction::Wrap => format!(
            "{} is wrapped: start the server with the same secret ({} or storage.master_secret_file); keep the secret apart from the data directory and its backups",
            path.display(),
            master_wrap::ENV
        ),
        cli::MasterKeyAction::Unwrap => format!("{} is stored unwrapped", path.display()),
    });
    Ok(())
}
