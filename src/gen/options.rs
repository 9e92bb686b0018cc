//! What a generator makes: its kind and options, from the command line or from a
//! `gen:KIND?NAME=VALUE&...` source URI.

use crate::plan::TimeFormat;
use thiserror::Error;

/// Generator options that cannot be used; each names the option and what it may be.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum GenError {
    /// No such generator.
    #[error("unknown generator `{0}`; available: tweets, taxi, stocks")]
    UnknownKind(String),
    /// A parameter without `=`.
    #[error("`{0}` is not NAME=VALUE")]
    NotAPair(String),
    /// A count, seed, rate or time that is not a whole number.
    #[error("{name} must be a whole number, not `{value}`")]
    NotWhole {
        /// The parameter.
        name: String,
        /// What it was given.
        value: String,
    },
    /// A share or factor that is not a number.
    #[error("{name} must be a number, not `{value}`")]
    NotANumber {
        /// The parameter.
        name: String,
        /// What it was given.
        value: String,
    },
    /// No such parameter.
    #[error("unknown parameter `{0}`; allowed: count, duration_s, seed, rate, start, disorder_s, very_late, skew, symbols, users, cities")]
    UnknownParameter(String),
    /// `very_late` outside 0..1.
    #[error("very_late must be a share in 0..1, not `{0}`")]
    VeryLate(f64),
    /// `skew` outside 1..20.
    #[error("skew must be a number from 1 (uniform) to 20, not `{0}`")]
    Skew(f64),
    /// A rate or a number of keys or authors of zero.
    #[error("{0} must be at least 1, not 0")]
    Zero(&'static str),
    /// `start` not an RFC 3339 time after 1970.
    #[error("start must be an RFC 3339 time after 1970, not `{0}`")]
    Start(String),
}

/// The generators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenKind {
    /// Twitter API v2 filtered-stream messages (`data.created_at`, RFC 3339).
    Tweets,
    /// Chicago taxi trips in the TFX sample's columns (`trip_start_timestamp`, epoch seconds).
    Taxi,
    /// Stock ticks `{symbol, price, volume, ts, currency}` (`ts`, epoch milliseconds).
    Stocks,
}

impl GenKind {
    /// The kind named `name`.
    pub fn parse(name: &str) -> Result<GenKind, GenError> {
        match name {
            "tweets" => Ok(GenKind::Tweets),
            "taxi" => Ok(GenKind::Taxi),
            "stocks" => Ok(GenKind::Stocks),
            _ => Err(GenError::UnknownKind(name.to_string())),
        }
    }

    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            GenKind::Tweets => "tweets",
            GenKind::Taxi => "taxi",
            GenKind::Stocks => "stocks",
        }
    }

    /// Where its events carry their event time (a JSON path) and how it is written.
    pub fn event_time(self) -> (&'static str, TimeFormat) {
        match self {
            GenKind::Tweets => ("data.created_at", TimeFormat::Rfc3339),
            GenKind::Taxi => ("trip_start_timestamp", TimeFormat::EpochSeconds),
            GenKind::Stocks => ("ts", TimeFormat::EpochMillis),
        }
    }

    /// How strongly a few keys dominate when not told.
    fn default_skew(self) -> f64 {
        match self {
            GenKind::Tweets | GenKind::Taxi => 3.0,
            GenKind::Stocks => 2.0,
        }
    }
}

/// Options every generator takes.
#[derive(Clone, Debug, PartialEq)]
pub struct GenOptions {
    /// Number of events.
    pub count: u64,
    /// Random seed.
    pub seed: u64,
    /// Events per second of event time.
    pub rate: u64,
    /// Event time of the first event, in UTC milliseconds.
    pub start_ms: u64,
    /// Largest delay of an event behind the event-time clock, in seconds.
    pub disorder_s: u64,
    /// Share of events made very late (0..1).
    pub very_late: f64,
    /// Key skew exponent: 1 is uniform, larger makes the first keys busier.
    pub skew: f64,
    /// Number of distinct stock symbols (stocks only).
    pub symbols: usize,
    /// Number of possible tweet authors (tweets only; how many appear depends on `count`
    /// and `skew`).
    pub users: usize,
    /// Number of cities tweets come from (tweets only): the first of the real Canadian
    /// cities, and past those, numbered ones (`Toronto 2, Ontario`).
    pub cities: usize,
}

impl GenOptions {
    /// The defaults for `kind`: 1000 events, seed 1, 1000 events/s from
    /// 2022-09-26T03:00:00Z, in order, 500 symbols, 200 000 possible authors, the 42 real
    /// cities.
    pub fn defaults(kind: GenKind) -> GenOptions {
        GenOptions {
            count: 1000,
            seed: 1,
            rate: 1000,
            start_ms: 1_664_161_200_000,
            disorder_s: 0,
            very_late: 0.0,
            skew: kind.default_skew(),
            symbols: 500,
            users: 200_000,
            cities: super::tweets::REAL_CITIES,
        }
    }

    /// Parses `KIND?NAME=VALUE&...` (the part of a `gen:` URI after the scheme). Names:
    /// count, duration_s (count = duration × rate), seed, rate, start (RFC 3339),
    /// disorder_s, very_late, skew, symbols, users, cities.
    pub fn parse_uri(text: &str) -> Result<GenUri, GenError> {
        let (kind, query) = text.split_once('?').unwrap_or((text, ""));
        let kind = GenKind::parse(kind)?;
        let mut options = GenOptions::defaults(kind);
        let mut duration_s = None;
        let (mut count_given, mut start_given) = (false, false);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| GenError::NotAPair(pair.to_string()))?;
            let number = || {
                value.parse::<u64>().map_err(|_| GenError::NotWhole {
                    name: name.to_string(),
                    value: value.to_string(),
                })
            };
            let fraction = || {
                value.parse::<f64>().map_err(|_| GenError::NotANumber {
                    name: name.to_string(),
                    value: value.to_string(),
                })
            };
            match name {
                "count" => {
                    options.count = number()?;
                    count_given = true;
                }
                "duration_s" => duration_s = Some(number()?),
                "seed" => options.seed = number()?,
                "rate" => options.rate = number()?,
                "disorder_s" => options.disorder_s = number()?,
                "symbols" => options.symbols = number()? as usize,
                "users" => options.users = number()? as usize,
                "cities" => options.cities = number()? as usize,
                "very_late" => options.very_late = fraction()?,
                "skew" => options.skew = fraction()?,
                "start" => {
                    options.start_ms = parse_start(value)?;
                    start_given = true;
                }
                _ => return Err(GenError::UnknownParameter(name.to_string())),
            }
        }
        if let Some(seconds) = duration_s {
            options.count = seconds * options.rate;
            count_given = true;
        }
        options.check()?;
        Ok(GenUri {
            kind,
            options,
            count_given,
            start_given,
        })
    }

    /// Checks the values that have a range: `very_late` a share in 0..1, `skew` from 1
    /// (uniform) to 20, and `rate`, `symbols`, `users` and `cities` at least 1.
    pub fn check(&self) -> Result<(), GenError> {
        for (name, value) in [
            ("rate", self.rate),
            ("symbols", self.symbols as u64),
            ("users", self.users as u64),
            ("cities", self.cities as u64),
        ] {
            if value == 0 {
                return Err(GenError::Zero(name));
            }
        }
        if !(0.0..=1.0).contains(&self.very_late) {
            return Err(GenError::VeryLate(self.very_late));
        }
        if !(1.0..=20.0).contains(&self.skew) {
            return Err(GenError::Skew(self.skew));
        }
        Ok(())
    }
}

/// A parsed `gen:` URI: the generator, its options, and which options were given.
#[derive(Clone, Debug, PartialEq)]
pub struct GenUri {
    /// The generator.
    pub kind: GenKind,
    /// Its options (defaults where not given).
    pub options: GenOptions,
    /// Whether `count` or `duration_s` was given (the stream is bounded).
    pub count_given: bool,
    /// Whether `start` was given.
    pub start_given: bool,
}

/// An RFC 3339 time after 1970, in milliseconds.
pub fn parse_start(value: &str) -> Result<u64, GenError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .filter(|t| t.timestamp_millis() >= 0)
        .map(|t| t.timestamp_millis() as u64)
        .ok_or_else(|| GenError::Start(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_give_kind_and_options() {
        let uri = GenOptions::parse_uri("stocks?duration_s=10&rate=200&seed=4&symbols=50&skew=1.5")
            .expect("parse");
        let o = uri.options;
        assert_eq!(uri.kind, GenKind::Stocks);
        assert!(uri.count_given && !uri.start_given);
        assert_eq!((o.count, o.rate, o.seed, o.symbols), (2000, 200, 4, 50));
        assert_eq!(o.skew, 1.5);
        let uri = GenOptions::parse_uri("taxi").expect("parse");
        assert_eq!(
            (uri.kind, uri.options),
            (GenKind::Taxi, GenOptions::defaults(GenKind::Taxi))
        );
        assert!(!uri.count_given && !uri.start_given);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = GenOptions::parse_uri("tweets?count=ten")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("count must be a whole number"), "{e}");
        let e = GenOptions::parse_uri("trains")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("unknown generator `trains`"), "{e}");
        let e = GenOptions::parse_uri("taxi?skew=0.5")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("skew must be"), "{e}");
        let e = GenOptions::parse_uri("taxi?colour=red")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("unknown parameter `colour`"), "{e}");
        for name in ["rate", "symbols", "users", "cities"] {
            let e = GenOptions::parse_uri(&format!("tweets?{name}=0"))
                .expect_err("zero")
                .to_string();
            assert_eq!(e, format!("{name} must be at least 1, not 0"));
        }
    }
}
