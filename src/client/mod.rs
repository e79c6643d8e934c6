//! The command-line client of the admin API: `role`, `group`, `user`, `bucket`, `object`,
//! `share`, `peer`, `replication`, `storage`, `backup`, `status`, `keygen`, `join`.
//!
//! # Layout
//! - `args`: the commands' grammar (clap); `cli.rs` mounts it.
//! - `api`: signed requests over hyper, JSON, streamed uploads/downloads.
//! - `credentials`: which credentials sign (flag, env, data directory) and the aws file format.
//! - `access` (role, group), `users` (user, status, keygen, join), `storage` (bucket, object,
//!   storage status), `shares` (share, share snapshot), `peers` (peer), `replication`
//!   (replication): one function per command, each one request (or two) and its rendering.
//! - `output`: tables and `--json`, every stdout line (quiet on a closed pipe); `progress`:
//!   the stderr progress line.
//! - `error`: exit codes and the `--json` error object on stderr.
//!
//! The client decides nothing about access: the server answers, and a refusal is shown with
//! the server's reason.

// First, so its `println!` (stdout that ends quietly on a closed pipe) is the one every module
// below uses.
#[macro_use]
pub mod output;

mod access;
mod api;
pub mod args;
mod backup;
mod credentials;
pub mod error;
mod keys;
mod peers;
mod progress;
mod replication;
mod shares;
mod storage;
pub use storage::fsck_online;
mod users;

pub use args::{ClientCommand, ClientOpts};

use api::Api;

/// What every command needs: the API client and the output mode.
pub(crate) struct Ctx {
    pub api: Api,
    pub json: bool,
}

impl Ctx {
    /// A context whose requests are signed with the resolved credentials.
    fn signed(opts: &ClientOpts) -> anyhow::Result<Ctx> {
        let creds = credentials::resolve(opts)?;
        Ok(Ctx {
            api: Api::new(&opts.server, opts.cacert.as_deref(), Some(creds))?,
            json: opts.json,
        })
    }

    /// For the endpoints that take no credentials (join).
    fn anonymous(opts: &ClientOpts) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            api: Api::new(&opts.server, opts.cacert.as_deref(), None)?,
            json: opts.json,
        })
    }

    /// What a command without a reply body prints under `--json`.
    fn done(&self, human: impl FnOnce()) -> anyhow::Result<()> {
        if self.json {
            output::json(&serde_json::json!({ "ok": true }))
        } else {
            human();
            Ok(())
        }
    }
}

pub async fn run(opts: &ClientOpts, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Role(c) => access::role(&Ctx::signed(opts)?, c).await,
        ClientCommand::Group(c) => access::group(&Ctx::signed(opts)?, c).await,
        ClientCommand::User(c) => users::user(&Ctx::signed(opts)?, c).await,
        ClientCommand::Bucket(c) => storage::bucket(&Ctx::signed(opts)?, c).await,
        ClientCommand::Object(c) => storage::object(&Ctx::signed(opts)?, c).await,
        ClientCommand::Share(c) => shares::share(&Ctx::signed(opts)?, c).await,
        ClientCommand::Peer(c) => peers::peer(&Ctx::signed(opts)?, c).await,
        ClientCommand::Key(c) => keys::key(&Ctx::signed(opts)?, c).await,
        ClientCommand::Replication(c) => replication::replication(&Ctx::signed(opts)?, c).await,
        ClientCommand::Backup { to } => backup::backup(&Ctx::signed(opts)?, &to).await,
        ClientCommand::Storage(args::StorageCmd::Migrate { config, .. }) => {
            // It reads the data directory itself: credentials would be used by nothing.
            if opts.credentials.is_some() {
                return Err(error::ClientError::usage(
                    "storage migrate talks to no server: --credentials does not apply (stop \
                     the server, give --config and --data-dir)",
                )
                .into());
            }
            let (dir, json) = (opts.data_dir.clone(), opts.json);
            tokio::task::spawn_blocking(move || {
                crate::remote_backend::migrate(&config, dir.as_deref(), json)
            })
            .await?
        }
        ClientCommand::Storage(c) => storage::storage(&Ctx::signed(opts)?, c).await,
        ClientCommand::Gc => storage::gc(&Ctx::signed(opts)?).await,
        ClientCommand::Status => users::status(&Ctx::signed(opts)?).await,
        ClientCommand::Keygen { out } => users::keygen(opts.json, out),
        ClientCommand::Join {
            token,
            name,
            key,
            write_credentials,
        } => {
            let ctx = Ctx::anonymous(opts)?;
            users::join(&ctx, &token, &name, key, write_credentials).await
        }
    }
}
