//! Human output (aligned tables, key/value blocks, sizes, UTC times) and `--json` output.
//!
//! Every line the client prints reaches stdout through [`line`]: a reader that closes the pipe
//! early (`gatehouse … | head`) ends the command quietly instead of a panic. `client/mod.rs`
//! declares this module first with `#[macro_use]`, so the `println!` below replaces std's in
//! every client module; `main.rs` imports it for the offline verbs.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;

/// std's `println!`, but through [`line`]: a closed stdout ends the process quietly.
#[macro_export]
macro_rules! println {
    () => {
        $crate::client::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::client::output::line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout. A closed pipe ends the process quietly with exit 0 (the reader
/// has what it wanted; see [`exit_code_on_closed_pipe`]); any other write error ends it with
/// exit 1 and the reason on stderr.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = r {
        stdout_failed(&e);
    }
}

/// Writes `text` as it is (no newline added), like [`line`] on failure.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(&e);
    }
}

/// The exit code when the reader closes stdout early: 0, unless the command already knows
/// a verdict it must not lose that way (`fsck`'s).
static CLOSED_PIPE_EXIT: AtomicU8 = AtomicU8::new(0);

/// Sets the exit code of a closed stdout (see [`CLOSED_PIPE_EXIT`]).
pub fn exit_code_on_closed_pipe(code: u8) {
    CLOSED_PIPE_EXIT.store(code, Ordering::Relaxed);
}

fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(CLOSED_PIPE_EXIT.load(Ordering::Relaxed)));
    }
    eprintln!("gatehouse: writing to standard output: {e}");
    std::process::exit(1);
}

/// Pretty JSON on stdout.
pub fn json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `label:  value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let w = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{:<w$}  {v}", format!("{k}:"));
    }
}

/// Binary units: `512 B`, `3.0 MiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(time_ms(0), "1970-01-01 00:00:00");
        assert_eq!(time_ms(1_709_210_096_000), "2024-02-29 12:34:56");
    }
}
