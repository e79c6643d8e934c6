//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "S3 and NFSv3 over one store")]
pub struct Cli {
    /// Flags of the client commands (`--server`, `--credentials`, `--data-dir`, `--json`),
    /// accepted before or after the subcommand. `serve` and `bench` keep their own
    /// `--data-dir` and `--credentials`.
    #[command(flatten)]
    pub client: crate::client::ClientOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded single-node default without a config file).
    Serve {
        /// YAML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides the config file).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// S3 listen address ADDR:PORT, or `off` (overrides the config file).
        #[arg(long)]
        s3_listen: Option<String>,
        /// Admin API listen address ADDR:PORT, or `off` (overrides the config file).
        #[arg(long)]
        admin_listen: Option<String>,
        /// NFSv3/MOUNT listen address ADDR:PORT, or `off` (overrides the config file).
        #[arg(long)]
        nfs_listen: Option<String>,
    },
    /// Validate a configuration file: prints what is wrong and exits non-zero, or says it is
    /// valid. Nothing is started or written.
    CheckConfig {
        /// YAML configuration file.
        file: PathBuf,
    },
    /// Print the effective configuration (defaults filled in) as YAML that --config accepts.
    ShowConfig {
        /// YAML configuration file [default: none, the embedded defaults].
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a stopped server's data directory (`--data-dir`, default ./gatehouse-data): chunk
    /// hashes, refcounts, orphans, missing chunks per object, usage counters. Exit 0 clean
    /// (or fully repaired), 1 problems left, 2 damage (missing or corrupt data).
    Fsck {
        /// Fix what can be fixed without losing data (refcounts, counters, orphan files).
        #[arg(long)]
        repair: bool,
    },
    /// Restore a backup (a directory from `gatehouse backup --to`, a tar file, or `-` for a tar
    /// on standard input) into a new, empty data directory (`--data-dir`), then fsck it.
    Restore {
        #[arg(long, value_name = "DIR|FILE|-")]
        from: PathBuf,
    },
    /// Load generator: measure any S3 endpoint with one client.
    Bench(Box<crate::bench::BenchArgs>),
    /// Client commands: talk to a server's admin API.
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::client::{ClientCommand, args::RoleCmd};

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_before_or_after_the_subcommand() {
        for argv in [
            &[
                "gatehouse",
                "--json",
                "--server",
                "http://h:1",
                "role",
                "list",
            ][..],
            &[
                "gatehouse",
                "role",
                "list",
                "--json",
                "--server",
                "http://h:1",
            ][..],
            &[
                "gatehouse",
                "role",
                "--server",
                "http://h:1",
                "list",
                "--json",
            ][..],
        ] {
            let cli = Cli::try_parse_from(argv).expect("parses");
            assert!(cli.client.json, "{argv:?}");
            assert_eq!(cli.client.server, "http://h:1");
            assert!(matches!(
                cli.command,
                Command::Client(ClientCommand::Role(RoleCmd::List))
            ));
        }
    }

    #[test]
    fn serve_keeps_its_own_data_dir() {
        let cli = Cli::try_parse_from(["gatehouse", "serve", "--data-dir", "/d"]).expect("parses");
        let Command::Serve { data_dir, .. } = cli.command else {
            panic!("serve")
        };
        assert_eq!(data_dir.as_deref(), Some(std::path::Path::new("/d")));
    }

    #[test]
    fn bind_scopes_exclude_each_other() {
        let r = Cli::try_parse_from([
            "gatehouse",
            "role",
            "bind",
            "u",
            "r",
            "--bucket",
            "b",
            "--panel-scope",
            "p",
        ]);
        assert!(r.is_err());
    }
}
