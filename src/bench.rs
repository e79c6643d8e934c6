//! `gatehouse bench`: an S3 load generator (implemented in the benchmark work).

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint URL.
    #[arg(long)]
    pub endpoint: String,
}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("the load generator is not built yet")
}
