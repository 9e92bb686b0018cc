//! Generated stock ticks: `{"symbol", "price", "volume", "ts", "currency"}`.
//!
//! Each symbol's price is a random walk from its own opening price (cents, never below one
//! cent); a few symbols trade far more often than the rest (`skew`); volumes are mostly
//! round lots of 100 with a heavy tail, and some odd lots. `ts` is epoch milliseconds.

use super::{skewed, EventClock, GenOptions};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::fmt::Write;

/// One traded symbol.
struct Symbol {
    name: String,
    currency: &'static str,
    cents: i64,
}

/// Ticks one at a time, in order.
pub struct StockGenerator {
    rng: Pcg64Mcg,
    clock: EventClock,
    symbols: Vec<Symbol>,
    skew: f64,
}

impl StockGenerator {
    /// Starts the sequence `options` describe.
    pub fn new(options: &GenOptions) -> StockGenerator {
        let mut rng = Pcg64Mcg::seed_from_u64(options.seed);
        let symbols = (0..options.symbols.max(1))
            .map(|i| {
                let currency = match i % 10 {
                    7 => "EUR",
                    9 => "CAD",
                    _ => "USD",
                };
                // Opening prices spread log-uniformly over $5 to $500.
                let dollars = 5.0 * 100f64.powf(rng.random::<f64>());
                Symbol {
                    name: symbol_name(i),
                    currency,
                    cents: (dollars * 100.0).round() as i64,
                }
            })
            .collect();
        StockGenerator {
            rng,
            clock: EventClock::new(options),
            symbols,
            skew: options.skew,
        }
    }

    /// Writes the next tick (with its newline) into `line`; `false` after the last.
    pub fn next_line(&mut self, line: &mut String) -> bool {
        let Some((_, ts)) = self.clock.next_event(&mut self.rng) else {
            return false;
        };
        let rng = &mut self.rng;
        let index = skewed(rng, self.symbols.len(), self.skew);
        let symbol = &mut self.symbols[index];
        // A step of up to ±0.2 %, at least a cent either way.
        let step = (symbol.cents as f64 * 0.002 * (rng.random::<f64>() * 2.0 - 1.0)).round();
        symbol.cents = (symbol.cents + step as i64).max(1);
        let volume = if rng.random_bool(0.1) {
            rng.random_range(1..100)
        } else {
            // Pareto-tailed number of round lots.
            let lots = (1.0 - rng.random::<f64>()).powf(-1.0 / 1.2).min(10_000.0) as u64;
            lots.max(1) * 100
        };
        line.clear();
        let _ = writeln!(
            line,
            "{{\"symbol\": \"{}\", \"price\": {}.{:02}, \"volume\": {volume}, \"ts\": {ts}, \"currency\": \"{}\"}}",
            symbol.name,
            symbol.cents / 100,
            symbol.cents % 100,
            symbol.currency
        );
        true
    }
}

/// A ticker for symbol `i`: two to four capital letters, distinct for every `i`.
fn symbol_name(i: usize) -> String {
    // Bijective base 26 over 0..26^4, read from three letters up (AAA, AAB, ...), with a
    // stride so neighbours do not look alike.
    let mut n = (i * 7919 + 12) % (26 * 26 * 26 * 26 - 26 * 26);
    let mut letters = Vec::new();
    n += 26 * 26;
    loop {
        letters.push(b'A' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use super::super::{write_lines, GenKind};
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn ticks_are_valid_deterministic_and_skewed() {
        let options = GenOptions {
            count: 20_000,
            symbols: 300,
            users: 200_000,
            ..GenOptions::defaults(GenKind::Stocks)
        };
        let mut out = Vec::new();
        write_lines(GenKind::Stocks, &options, &mut out).expect("write");
        let mut again = Vec::new();
        write_lines(GenKind::Stocks, &options, &mut again).expect("write");
        assert_eq!(out, again, "same seed, same bytes");
        let text = String::from_utf8(out).expect("utf8");
        let mut trades: HashMap<String, u64> = HashMap::new();
        let mut last_ts = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let symbol = v["symbol"].as_str().expect("symbol").to_string();
            assert!((2..=4).contains(&symbol.len()), "{symbol}");
            assert!(v["price"].as_f64().expect("price") >= 0.01);
            assert!(v["volume"].as_u64().expect("volume") >= 1);
            assert!(["USD", "EUR", "CAD"].contains(&v["currency"].as_str().expect("currency")));
            let ts = v["ts"].as_u64().expect("ts");
            assert!(ts >= last_ts, "in order without disorder");
            last_ts = ts;
            *trades.entry(symbol).or_default() += 1;
        }
        assert!(
            trades.len() > 100,
            "hundreds of symbols trade: {}",
            trades.len()
        );
        let mut counts: Vec<u64> = trades.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        assert!(
            counts[0] > 10 * counts[counts.len() / 2],
            "skewed: {counts:?}"
        );
    }

    #[test]
    fn symbol_names_are_distinct() {
        let names: HashSet<String> = (0..5000).map(symbol_name).collect();
        assert_eq!(names.len(), 5000);
    }
}
