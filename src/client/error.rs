//! How a failed command ends: its exit code and, under `--json`, the `{"error", "message"}`
//! object on stderr (the admin API's own error shape, so a script reads both alike).
//!
//! Exit codes: 0 success, 1 any other failure, 2 usage (the command line is wrong), 3 the
//! server says not found, 4 the server refuses (no or wrong credentials, not allowed), 5 the
//! server cannot be reached. `fsck` keeps its own verdicts (0 clean, 1 problems, 2 damage).

use serde_json::json;

/// The documented exit codes; `--help` and the README list the same table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Other = 1,
    Usage = 2,
    NotFound = 3,
    Denied = 4,
    Unreachable = 5,
}

/// The table `gatehouse --help` ends with.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  any other failure
  2  usage: the command line is wrong
  3  not found (the server says so)
  4  denied: no or wrong credentials, or not allowed
  5  the server cannot be reached
  fsck has its own: 0 clean, 1 problems left, 2 damage
With --json a failure is one JSON object on stderr: {\"error\": code, \"message\": text}";

/// A failure whose class is known: the server's answer or a local check.
#[derive(Debug)]
pub struct ClientError {
    pub exit: Exit,
    /// Stable code: the server's own (`store.no_such_bucket`, `rbac.denied`, …) when it sent
    /// one, else `cli.*`.
    pub code: String,
    pub message: String,
}

impl ClientError {
    pub fn new(exit: Exit, code: impl Into<String>, message: impl Into<String>) -> Self {
        ClientError {
            exit,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, "cli.usage", message)
    }

    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(Exit::Unreachable, "cli.unreachable", message)
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

/// Standard output was closed by its reader (`gatehouse … | head`): not a failure.
#[derive(Debug)]
pub struct OutputClosed;

impl std::fmt::Display for OutputClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for OutputClosed {}

/// Prints `e` the way the output mode asks and returns the exit code.
pub fn report(e: &anyhow::Error, json: bool) -> std::process::ExitCode {
    if e.chain().any(|c| c.is::<OutputClosed>()) {
        return std::process::ExitCode::SUCCESS;
    }
    let known = e.chain().find_map(|c| c.downcast_ref::<ClientError>());
    let (exit, code) = match known {
        Some(k) => (k.exit, k.code.as_str()),
        None => (Exit::Other, "cli.failed"),
    };
    let message = format!("{e:#}");
    if json {
        eprintln!("{}", json!({ "error": code, "message": message }));
    } else {
        eprintln!("gatehouse: {message}");
    }
    std::process::ExitCode::from(exit as u8)
}

/// A command-line (clap) error under `--json`: the same object, exit 2.
pub fn report_usage_json(rendered: &str) -> std::process::ExitCode {
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).trim();
    eprintln!("{}", json!({ "error": "cli.usage", "message": message }));
    std::process::ExitCode::from(Exit::Usage as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_survives_context() {
        let e = anyhow::Error::new(ClientError::new(
            Exit::NotFound,
            "store.no_such_bucket",
            "no bucket x",
        ))
        .context("listing x");
        let k = e
            .chain()
            .find_map(|c| c.downcast_ref::<ClientError>())
            .expect("found under the context");
        assert_eq!(k.exit, Exit::NotFound);
        assert_eq!(format!("{e:#}"), "listing x: no bucket x");
    }
}
