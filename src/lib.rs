//! gatehouse: one binary serving S3 (and, later, NFSv3) over one embedded store.
//!
//! # Layout
//! - `main.rs`: parse the CLI, set up logging, load config, call [`app::start`].
//! - [`config`]: YAML → validated [`config::Config`]; [`app`]: wiring and shutdown;
//!   [`listen`]: the HTTP listeners' accept loop (connection caps, header and idle timeouts);
//!   [`bench`]: the S3 load generator; [`client`]: the admin API client behind `role`,
//!   `group`, `user`, `bucket`, `object`, `status`, `keygen`, `join`; `telemetry`,
//!   `shutdown`, `cli`.
//!
//! The library exists so integration tests start the whole server in-process on port 0.

pub mod app;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod config_backend;
pub mod listen;
pub mod remote_backend;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
