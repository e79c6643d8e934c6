//! A one-line transfer progress on stderr, drawn only when stderr is a terminal and the
//! transfer is large enough to be worth watching.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::output::size;

/// Transfers smaller than this finish before a progress line would help.
const MIN_BYTES: u64 = 4 << 20;
const REDRAW: Duration = Duration::from_millis(100);

pub struct Progress {
    label: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
    enabled: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        Progress {
            label,
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            enabled: std::io::stderr().is_terminal() && total.is_none_or(|t| t >= MIN_BYTES),
        }
    }

    pub fn add(&mut self, n: u64) {
        self.done += n;
        if !self.enabled {
            return;
        }
        let finished = self.total.is_some_and(|t| self.done >= t);
        if finished || self.drawn.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.draw(finished);
        }
    }

    fn draw(&mut self, finished: bool) {
        self.drawn = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = size((self.done as f64 / secs) as u64);
        let line = match self.total {
            Some(t) if t > 0 => format!(
                "{} {} / {} ({:>3}%) {rate}/s",
                self.label,
                size(self.done),
                size(t),
                self.done * 100 / t
            ),
            _ => format!("{} {} {rate}/s", self.label, size(self.done)),
        };
        let mut err = std::io::stderr().lock();
        // \r + erase line: redraw in place.
        let _ = write!(err, "\r\x1b[2K{line}");
        if finished {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

impl Drop for Progress {
    /// An unfinished line (unknown total, or an error) still ends with a newline.
    fn drop(&mut self) {
        if self.enabled && self.drawn.is_some() && self.total.is_none_or(|t| self.done < t) {
            let _ = writeln!(std::io::stderr());
        }
    }
}
