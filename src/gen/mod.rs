//! Deterministic data generators for demos, tests and benchmarks: tweets, Chicago taxi
//! trips and stock ticks, one JSON object per line.
//!
//! Every generator takes the same [`GenOptions`]: the same seed always gives the same
//! bytes; event time advances `rate` events per second from `start`; `disorder_s` delays
//! events by up to that many seconds, `very_late` is the share pushed two to three hours
//! into the past (beyond any sensible allowed lateness), and `skew` is how strongly a few
//! keys (cities, community areas, symbols) dominate.

mod options;
mod stocks;
mod taxi;
mod tweets;

pub use options::{parse_start, GenError, GenKind, GenOptions, GenUri};
pub use tweets::REAL_CITIES;

use rand::Rng;
use rand_pcg::Pcg64Mcg;
use std::io::Write;

/// One generator, any kind.
pub enum Generator {
    /// Twitter API v2 filtered-stream messages.
    Tweets(tweets::TweetGenerator),
    /// Chicago taxi trips in the TFX sample's layout.
    Taxi(taxi::TaxiGenerator),
    /// Stock ticks.
    Stocks(stocks::StockGenerator),
}

impl Generator {
    /// Starts the sequence `options` describe for `kind`.
    pub fn new(kind: GenKind, options: &GenOptions) -> Generator {
        match kind {
            GenKind::Tweets => Generator::Tweets(tweets::TweetGenerator::new(options)),
            GenKind::Taxi => Generator::Taxi(taxi::TaxiGenerator::new(options)),
            GenKind::Stocks => Generator::Stocks(stocks::StockGenerator::new(options)),
        }
    }

    /// Writes the next event (with its newline) into `line`; `false` after the last.
    pub fn next_line(&mut self, line: &mut String) -> bool {
        match self {
            Generator::Tweets(g) => g.next_line(line),
            Generator::Taxi(g) => g.next_line(line),
            Generator::Stocks(g) => g.next_line(line),
        }
    }
}

/// Writes every event of `kind` that `options` describe, one JSON object per line.
pub fn write_lines(
    kind: GenKind,
    options: &GenOptions,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut generator = Generator::new(kind, options);
    let mut line = String::with_capacity(1024);
    while generator.next_line(&mut line) {
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// The event sequence every generator shares: `count` events, event `i` happening at
/// `start + i / rate` minus its delay (disorder or very late).
#[derive(Clone, Debug)]
struct EventClock {
    start_ms: u64,
    step_ms: f64,
    disorder_ms: u64,
    very_late: f64,
    count: u64,
    next: u64,
}

impl EventClock {
    fn new(options: &GenOptions) -> EventClock {
        EventClock {
            start_ms: options.start_ms,
            step_ms: 1000.0 / options.rate.max(1) as f64,
            disorder_ms: options.disorder_s * 1000,
            very_late: options.very_late.clamp(0.0, 1.0),
            count: options.count,
            next: 0,
        }
    }

    /// The next event's index and event time; `None` after the last.
    fn next_event(&mut self, rng: &mut Pcg64Mcg) -> Option<(u64, u64)> {
        if self.next >= self.count {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some((i, self.time_of(i, rng)))
    }

    /// The event time of event `i`.
    fn time_of(&self, i: u64, rng: &mut Pcg64Mcg) -> u64 {
        let clock = self.start_ms + (i as f64 * self.step_ms) as u64;
        let delay_ms = if rng.random_bool(self.very_late) {
            rng.random_range(7_200_000..10_800_000)
        } else if self.disorder_ms > 0 {
            rng.random_range(0..self.disorder_ms)
        } else {
            0
        };
        clock.saturating_sub(delay_ms)
    }
}

/// An index in `0..n` where small indices are more likely the larger `skew` is (1: uniform;
/// 3: a few busy keys, many quiet ones, like real traffic).
fn skewed(rng: &mut Pcg64Mcg, n: usize, skew: f64) -> usize {
    let u: f64 = rng.random();
    (u.powf(skew) * n as f64) as usize % n
}
