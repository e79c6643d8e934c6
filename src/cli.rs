//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "S3 and NFSv3 over one store")]
pub struct Cli {
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
        /// S3 listen address ADDR:PORT (overrides the config file).
        #[arg(long)]
        s3_listen: Option<String>,
    },
    /// Load generator: measure any S3 endpoint with one client.
    Bench(crate::bench::BenchArgs),
}
