use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::config::{Overrides, RawConfig};
use gatehouse::{app, bench, client, shutdown, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Serve {
            config,
            data_dir,
            s3_listen,
            admin_listen,
            nfs_listen,
        } => serve(config, data_dir, s3_listen, admin_listen, nfs_listen).await,
        Command::Bench(args) => bench::run(*args).await,
        Command::Client(cmd) => client::run(&cli.client, cmd).await,
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
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
        println!(
            "Bootstrap admin (user id {}) credentials (shown once; also saved with mode 0600):\n  access key: {ak}\n  secret key: {sk}\n  file:       {}\nUse it with: AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url http://{} s3 ls",
            running.admin_user_id,
            data_dir.join("admin.credentials").display(),
            data_dir.join("admin.credentials").display(),
            running.s3_addr
        );
    }
    running.run_until(shutdown::signal()).await;
    Ok(())
}
