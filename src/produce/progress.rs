//! The live progress line of `tidemark produce`: sent/s, acknowledged, spooled, spool
//! backlog and broker state, once a second (every five seconds when not on a terminal).

use super::spool::Spool;
use super::ProduceSummary;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Draws the line; call `show` as often as convenient.
pub struct ProgressLine {
    tty: bool,
    started: Instant,
    last: Instant,
    last_read: u64,
    printed: u64,
}

impl Default for ProgressLine {
    fn default() -> Self {
        ProgressLine {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: Instant::now(),
            last_read: 0,
            printed: 0,
        }
    }
}

impl ProgressLine {
    /// Prints the line if a second has passed (and always `at_end`).
    pub fn show(
        &mut self,
        summary: &ProduceSummary,
        spool: Option<&Spool>,
        broker: &str,
        at_end: bool,
    ) {
        let now = Instant::now();
        if !at_end && now.duration_since(self.last) < Duration::from_secs(1) {
            return;
        }
        let (since, since_read) = if at_end {
            (self.started, 0)
        } else {
            (self.last, self.last_read)
        };
        let rate =
            (summary.read - since_read) as f64 / now.duration_since(since).as_secs_f64().max(1e-3);
        self.last = now;
        self.last_read = summary.read;
        self.printed += 1;
        let backlog = spool.map_or(String::new(), |s| {
            format!(
                ", spool backlog {:.1} MiB",
                s.bytes() as f64 / (1024.0 * 1024.0)
            )
        });
        let line = format!(
            "produce: read {} ({:.0}/s{}), acknowledged {}, spooled {}{backlog}, {broker}",
            summary.read,
            rate,
            if at_end { " overall" } else { "" },
            summary.acked,
            summary.spooled,
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
            if at_end {
                eprintln!();
            }
        } else if at_end || self.printed % 5 == 1 {
            eprintln!("{line}");
        }
    }
}
