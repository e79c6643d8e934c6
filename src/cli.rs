//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "S3 and NFSv3 over one store",
    after_help = crate::client::error::EXIT_CODES_HELP
)]
pub struct Cli {
    /// Flags of the client commands (`--server`, `--credentials`, `--data-dir`, `--json`),
    /// accepted before or after the subcommand. `serve` and `bench` keep their own
    /// `--data-dir` and `--credentials`; `serve` and the offline verbs (`fsck`, `restore`,
    /// `check-config`, `show-config`) declare their own flags under the same ids, which keeps clap from
    /// propagating these into them (and out of their `--help`), and refuse the server flags
    /// ([`NoServer`]).
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
        #[command(flatten)]
        offline: NoServer,
        /// `--json` is the client's; the server's JSON logs are `log.format: json`.
        #[arg(long, hide = true, value_parser = refuse_json)]
        json: bool,
    },
    /// Validate a configuration file: prints what is wrong and exits non-zero, or says it is
    /// valid. Nothing is started or written.
    CheckConfig {
        /// YAML configuration file.
        file: PathBuf,
        #[command(flatten)]
        offline: NotAClient,
    },
    /// Print the effective configuration (defaults filled in) as YAML that --config accepts.
    ShowConfig {
        /// YAML configuration file [default: none, the embedded defaults].
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        offline: NotAClient,
    },
    /// Check a stopped server's data directory (`--data-dir`, default ./gatehouse-data): chunk
    /// hashes, refcounts, orphans, missing chunks per object, usage counters. Exit 0 clean
    /// (or fully repaired), 1 problems left, 2 damage (missing or corrupt data).
    /// With `--server URL`: check that running server through its admin API instead (a read
    /// snapshot, so writers go on; chunk files read at `--rate-mib`; nothing repaired, and files
    /// no row names are not counted: writes in flight have them).
    Fsck {
        /// Fix what can be fixed without losing data (refcounts, counters, orphan files).
        #[arg(long, conflicts_with = "server")]
        repair: bool,
        /// The data directory to check (the server must be stopped) [default: ./gatehouse-data];
        /// with --server, where admin.credentials is.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The report as JSON on standard output.
        #[arg(long)]
        json: bool,
        /// Admin API of a running server to check online (admin credentials).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Credentials for --server: an aws credentials file ([default] profile).
        #[arg(long, value_name = "FILE", requires = "server")]
        credentials: Option<PathBuf>,
        /// PEM CA certificates to trust for an https:// --server, besides the system's roots
        /// (default: $GATEHOUSE_CACERT).
        #[arg(long, value_name = "FILE", requires = "server")]
        cacert: Option<PathBuf>,
        /// Chunk bytes an online check reads per second, in MiB [default: 64].
        #[arg(long, value_name = "MIB", requires = "server")]
        rate_mib: Option<u64>,
    },
    /// Wrap `master.key` with an operator secret, or unwrap it (decision 0045). The secret comes
    /// from GATEHOUSE_MASTER_SECRET or --secret-file (at least 32 bytes, e.g. `openssl rand -hex
    /// 32`); the server then needs the same secret to start. The file is replaced atomically and
    /// checked before the old one goes.
    MasterKey {
        /// wrap or unwrap.
        action: MasterKeyAction,
        /// The data directory [default: ./gatehouse-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A file (mode 0600) holding the secret, instead of GATEHOUSE_MASTER_SECRET.
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
    },
    /// Restore a backup (a directory from `gatehouse backup --to`, a tar file, or `-` for a tar
    /// on standard input) into a new, empty data directory (`--data-dir`), then fsck it.
    Restore {
        /// The backup: a directory written by `gatehouse backup --to DIR`, a tar file, or `-`
        /// to read a tar (from `gatehouse backup --to -`) on standard input.
        #[arg(
            long,
            value_name = "DIR|FILE|-",
            required_unless_present = "from_backend"
        )]
        from: Option<PathBuf>,
        /// Restore from the metadata snapshots a server ships to its chunk backend
        /// (`storage.backend: s3` in `--config`): the newest, or `--snapshot`. The chunks
        /// stay in the backend; the restored node uses them where they are.
        #[arg(long, conflicts_with = "from", requires = "config")]
        from_backend: bool,
        /// The server's config file naming the backend (with `--from-backend`).
        #[arg(long, value_name = "FILE", requires = "from_backend")]
        config: Option<PathBuf>,
        /// Which shipped snapshot (its key or file name, from the list printed on failure);
        /// default the newest.
        #[arg(long, value_name = "NAME", requires = "from_backend")]
        snapshot: Option<String>,
        /// The data directory to restore into: new, or empty (required).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The result as JSON on standard output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        offline: NoServer,
    },
    /// Load generator: measure any S3 endpoint with one client.
    Bench(Box<crate::bench::BenchArgs>),
    /// Client commands: talk to a server's admin API.
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

/// `--server` and `--credentials` on a verb that talks to no server: accepted by the grammar
/// (the client's global flags would otherwise be propagated here), hidden from its help, and
/// refused when given, so a flag never silently does nothing.
#[derive(Debug, Clone, Args)]
pub struct NoServer {
    #[arg(long, hide = true, value_parser = refuse_server)]
    server: Option<String>,
    #[arg(long, hide = true, value_parser = refuse_credentials)]
    credentials: Option<PathBuf>,
    #[arg(long, hide = true, value_parser = refuse_cacert)]
    cacert: Option<PathBuf>,
}

/// [`NoServer`] plus `--data-dir` and `--json`, for the verbs that read only a config file.
#[derive(Debug, Clone, Args)]
pub struct NotAClient {
    #[command(flatten)]
    no_server: NoServer,
    #[arg(long, hide = true, value_parser = refuse_data_dir)]
    data_dir: Option<PathBuf>,
    #[arg(long, hide = true, value_parser = refuse_json)]
    json: bool,
}

const OFFLINE: &str = "this command talks to no server (client flags belong to client commands)";

fn refuse_cacert(_: &str) -> Result<PathBuf, String> {
    Err(OFFLINE.into())
}

fn refuse_server(_: &str) -> Result<String, String> {
    Err(OFFLINE.into())
}

fn refuse_credentials(_: &str) -> Result<PathBuf, String> {
    Err(OFFLINE.into())
}

fn refuse_data_dir(_: &str) -> Result<PathBuf, String> {
    Err("this command reads a config file, not a data directory (use --config)".into())
}

/// Lets the flag's implicit default (`false`) through; `--json` itself is refused.
fn refuse_json(v: &str) -> Result<bool, String> {
    match v {
        "false" => Ok(false),
        _ => Err("this command has no JSON output".into()),
    }
}

/// The client flags given on the command line before an offline verb (`gatehouse --server X
/// fsck`), which clap accepts as global flags: the caller refuses them.
pub fn misplaced_client_flags(m: &clap::ArgMatches) -> Vec<&'static str> {
    // `fsck` takes `--server` and `--credentials` itself (online check).
    let offline = matches!(
        m.subcommand_name(),
        Some("serve" | "restore" | "check-config" | "show-config")
    );
    if !offline {
        return Vec::new();
    }
    let given = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let mut flags = vec![("server", "--server"), ("credentials", "--credentials")];
    if matches!(m.subcommand_name(), Some("check-config" | "show-config")) {
        flags.extend([("data_dir", "--data-dir"), ("json", "--json")]);
    }
    if m.subcommand_name() == Some("serve") {
        flags.push(("json", "--json"));
    }
    flags
        .into_iter()
        .filter(|(id, _)| given(id))
        .map(|(_, f)| f)
        .collect()
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

    /// Every flag and argument a `--help` lists says what it is.
    #[test]
    fn every_listed_flag_has_a_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if a.is_hide_set() || a.get_help().is_some() {
                    continue;
                }
                missing.push(format!("{path} {}", a.get_id()));
            }
            for sc in cmd.get_subcommands() {
                walk(sc, &format!("{path} {}", sc.get_name()), missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "gatehouse", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
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

    /// `fsck --cacert` belongs to the online check: without `--server` it is refused, not
    /// ignored.
    #[test]
    fn fsck_takes_cacert_only_with_server() {
        assert!(Cli::try_parse_from(["gatehouse", "fsck", "--cacert", "/ca.pem"]).is_err());
        assert!(
            Cli::try_parse_from([
                "gatehouse",
                "fsck",
                "--server",
                "https://h:1",
                "--cacert",
                "/ca.pem"
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["gatehouse", "fsck"]).is_ok());
    }

    #[test]
    fn serve_neither_lists_nor_takes_the_client_flags() {
        let mut cmd = Cli::command();
        cmd.build();
        let serve = cmd.find_subcommand_mut("serve").expect("serve");
        let help = serve.render_long_help().to_string();
        for flag in ["--server", "--credentials", "--cacert", "--json"] {
            assert!(!help.contains(flag), "serve --help lists {flag}:\n{help}");
        }
        assert!(help.contains("--data-dir"), "{help}");
        for argv in [
            &["gatehouse", "serve", "--server", "http://h:1"][..],
            &["gatehouse", "serve", "--credentials", "/c"][..],
            &["gatehouse", "serve", "--cacert", "/ca.pem"][..],
            &["gatehouse", "serve", "--json"][..],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?} accepted");
        }
        for argv in [
            &["gatehouse", "--server", "http://h:1", "serve"][..],
            &["gatehouse", "--json", "serve"][..],
        ] {
            let m = Cli::command().try_get_matches_from(argv).expect("parses");
            assert!(!misplaced_client_flags(&m).is_empty(), "{argv:?} accepted");
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

/// What `gatehouse master-key` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MasterKeyAction {
    /// Seal master.key with the operator secret.
    Wrap,
    /// Store master.key as it is again.
    Unwrap,
}
