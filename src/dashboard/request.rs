//! Dashboard requests: what a caller may ask, parsed from query parameters (the HTTP API)
//! or flags (`tidemark query`) into one typed form, with errors that say what is wrong.

use super::catalog::{Catalog, Shape};
use crate::plan::parse_millis;
use thiserror::Error;

/// How far back a request reaches when it names no range: the last six hours of the output.
pub const DEFAULT_SPAN_MS: u64 = 6 * 3_600_000;

/// The time range of a request, over each row's filing time (see
/// [`super::catalog::OutputInfo::time_column`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// `from <= time <= to`, in UTC milliseconds.
    Between {
        /// First time included.
        from: u64,
        /// Last time included.
        to: u64,
    },
    /// The last `ms` milliseconds up to and including the output's newest row.
    Last(u64),
}

impl Span {
    /// The range as `(from, to)` inclusive, given the output's newest filing time.
    pub fn resolve(self, newest: Option<u64>) -> Option<(u64, u64)> {
        match self {
            Span::Between { from, to } => Some((from, to)),
            Span::Last(ms) => newest.map(|to| (to.saturating_sub(ms.saturating_sub(1)), to)),
        }
    }
}

/// Rows of one output over a range, optionally of one key, optionally only final ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowsRequest {
    /// Index of the output.
    pub output: usize,
    /// The key's values as text, in key order.
    pub key: Option<Vec<String>>,
    /// The range.
    pub span: Span,
    /// Only final rows.
    pub final_only: bool,
}

/// The newest window of one output (its current ranking, for a ranked output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestRequest {
    /// Index of the output.
    pub output: usize,
    /// The newest window whose rows are final, instead of the newest one.
    pub final_only: bool,
}

/// The distinct keys of one output over a range (a dashboard variable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysRequest {
    /// Index of the output.
    pub output: usize,
    /// The range.
    pub span: Span,
}

/// What is wrong with a request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    /// No output of that name.
    #[error("no output `{name}`; this dataflow's outputs are: {known}")]
    UnknownOutput {
        /// The name asked for.
        name: String,
        /// The outputs there are.
        known: String,
    },
    /// A parameter this request does not take.
    #[error("unknown parameter `{name}`; allowed: {allowed}")]
    UnknownParameter {
        /// The parameter.
        name: String,
        /// What the request takes.
        allowed: String,
    },
    /// A key field the output does not have.
    #[error("output `{output}` has no key field `{field}`; its key fields are: {keys}")]
    UnknownKeyField {
        /// The output.
        output: String,
        /// The field asked for.
        field: String,
        /// The output's key fields.
        keys: String,
    },
    /// A key that leaves out one of the output's key fields.
    #[error("output `{output}` is keyed by {keys}; give every one of them (missing `{field}`)")]
    MissingKeyField {
        /// The output.
        output: String,
        /// The field left out.
        field: String,
        /// The output's key fields.
        keys: String,
    },
    /// A key asked of an output without keys.
    #[error("output `{0}` has no key fields")]
    NotKeyed(String),
    /// A time that is neither RFC 3339 nor epoch milliseconds.
    #[error("`{parameter}`: `{value}` is not a time; use RFC 3339 (2022-09-26T03:00:00Z) or epoch milliseconds")]
    BadTime {
        /// The parameter.
        parameter: String,
        /// Its value.
        value: String,
    },
    /// A malformed duration.
    #[error("`{parameter}`: {why}")]
    BadDuration {
        /// The parameter.
        parameter: String,
        /// What is wrong.
        why: crate::plan::DurationError,
    },
    /// A flag that is neither true nor false.
    #[error("`{parameter}`: `{value}` is not true or false")]
    BadFlag {
        /// The parameter.
        parameter: String,
        /// Its value.
        value: String,
    },
    /// `from` after `to`, or only one of them.
    #[error("{0}")]
    BadRange(String),
    /// A range longer than the longest allowed.
    #[error("the range spans {days} days; at most {max_days} are allowed, narrow it")]
    RangeTooLong {
        /// Days asked for.
        days: u64,
        /// Days allowed.
        max_days: u64,
    },
    /// More rows than one answer may hold.
    #[error("output `{output}` has more than {limit} rows in this range; narrow the range or give a key")]
    TooManyRows {
        /// The output.
        output: String,
        /// The row limit.
        limit: usize,
    },
}

/// The longest range a request may span, in days (it bounds the partitions a Cassandra read
/// visits).
pub const MAX_SPAN_DAYS: u64 = 31;

/// Parses a time: RFC 3339 with an offset, or whole milliseconds since the epoch (what
/// Grafana's `${__from}` gives).
pub fn parse_time(parameter: &str, value: &str) -> Result<u64, RequestError> {
    let bad = || RequestError::BadTime {
        parameter: parameter.to_string(),
        value: value.to_string(),
    };
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .ok_or_else(bad)
}

fn parse_flag(parameter: &str, value: &str) -> Result<bool, RequestError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(RequestError::BadFlag {
            parameter: parameter.to_string(),
            value: value.to_string(),
        }),
    }
}

/// Parameters given as `name=value` pairs, checked against what a request takes.
struct Parameters<'p> {
    pairs: &'p [(String, String)],
}

impl<'p> Parameters<'p> {
    fn check(
        pairs: &'p [(String, String)],
        allowed: &[&str],
        keys: bool,
    ) -> Result<Self, RequestError> {
        for (name, _) in pairs {
            let is_key = keys && name.starts_with("key.");
            if !is_key && !allowed.contains(&name.as_str()) {
                let mut listed: Vec<&str> = allowed.to_vec();
                if keys {
                    listed.push("key.FIELD");
                }
                return Err(RequestError::UnknownParameter {
                    name: name.clone(),
                    allowed: listed.join(", "),
                });
            }
        }
        Ok(Parameters { pairs })
    }

    fn get(&self, name: &str) -> Option<&'p str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> Result<bool, RequestError> {
        self.get(name).map_or(Ok(false), |v| parse_flag(name, v))
    }

    fn span(&self) -> Result<Span, RequestError> {
        let from = self
            .get("from")
            .map(|v| parse_time("from", v))
            .transpose()?;
        let to = self.get("to").map(|v| parse_time("to", v)).transpose()?;
        let last = self
            .get("last")
            .map(|v| {
                parse_millis(v).map_err(|why| RequestError::BadDuration {
                    parameter: "last".into(),
                    why,
                })
            })
            .transpose()?;
        let span = match (from, to, last) {
            (None, None, None) => Span::Last(DEFAULT_SPAN_MS),
            (None, None, Some(ms)) => Span::Last(ms),
            (Some(from), Some(to), None) if from <= to => Span::Between { from, to },
            (Some(_), Some(_), None) => {
                return Err(RequestError::BadRange("`from` is after `to`".into()))
            }
            (_, _, Some(_)) => {
                return Err(RequestError::BadRange(
                    "give either `last` or `from` and `to`, not both".into(),
                ))
            }
            (Some(_), None, None) | (None, Some(_), None) => {
                return Err(RequestError::BadRange(
                    "give both `from` and `to` (or `last`)".into(),
                ))
            }
        };
        let length = match span {
            Span::Between { from, to } => to - from,
            Span::Last(ms) => ms,
        };
        let days = length.div_ceil(86_400_000);
        if days > MAX_SPAN_DAYS {
            return Err(RequestError::RangeTooLong {
                days,
                max_days: MAX_SPAN_DAYS,
            });
        }
        Ok(span)
    }
}

/// Parses a rows request for output `name`: `from`/`to` or `last`, `key.FIELD`, `final`.
pub fn rows(
    catalog: &Catalog,
    name: &str,
    pairs: &[(String, String)],
) -> Result<RowsRequest, RequestError> {
    let (output, info) = catalog.output(name)?;
    let parameters = Parameters::check(pairs, &["from", "to", "last", "final"], true)?;
    let given: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(n, v)| n.strip_prefix("key.").map(|field| (field, v.as_str())))
        .collect();
    let key = if given.is_empty() {
        None
    } else {
        let keys = info.keys.join(", ");
        if info.keys.is_empty() {
            return Err(RequestError::NotKeyed(info.name.clone()));
        }
        if let Some((field, _)) = given
            .iter()
            .find(|(f, _)| !info.keys.iter().any(|k| k == f))
        {
            return Err(RequestError::UnknownKeyField {
                output: info.name.clone(),
                field: field.to_string(),
                keys,
            });
        }
        // A per-record output is looked up by its first field alone.
        let needed = match info.shape {
            Shape::Records => &info.keys[..1],
            Shape::Keyed | Shape::Totals | Shape::Ranked => &info.keys[..],
        };
        let mut values = Vec::with_capacity(needed.len());
        for field in needed {
            let value = given
                .iter()
                .rev()
                .find(|(f, _)| f == field)
                .ok_or_else(|| RequestError::MissingKeyField {
                    output: info.name.clone(),
                    field: field.clone(),
                    keys: keys.clone(),
                })?;
            values.push(value.1.to_string());
        }
        Some(values)
    };
    Ok(RowsRequest {
        output,
        key,
        span: parameters.span()?,
        final_only: parameters.flag("final")?,
    })
}

/// Parses a latest-window request for output `name`: `final`.
pub fn latest(
    catalog: &Catalog,
    name: &str,
    pairs: &[(String, String)],
) -> Result<LatestRequest, RequestError> {
    let (output, _) = catalog.output(name)?;
    let parameters = Parameters::check(pairs, &["final"], false)?;
    Ok(LatestRequest {
        output,
        final_only: parameters.flag("final")?,
    })
}

/// Parses a keys request for output `name`: `from`/`to` or `last`.
pub fn keys(
    catalog: &Catalog,
    name: &str,
    pairs: &[(String, String)],
) -> Result<KeysRequest, RequestError> {
    let (output, info) = catalog.output(name)?;
    if info.keys.is_empty() {
        return Err(RequestError::NotKeyed(info.name.clone()));
    }
    let parameters = Parameters::check(pairs, &["from", "to", "last"], false)?;
    Ok(KeysRequest {
        output,
        span: parameters.span()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        crate::dashboard::catalog::test_catalog()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_ranges_keys_and_flags() {
        let c = catalog();
        let r = rows(
            &c,
            "by_city",
            &pairs(&[
                ("from", "2022-09-26T00:00:00Z"),
                ("to", "1664154000000"),
                ("key.city", "Toronto"),
                ("final", "true"),
            ]),
        )
        .expect("request");
        assert_eq!(r.output, 0);
        assert_eq!(r.key, Some(vec!["Toronto".to_string()]));
        assert_eq!(
            r.span,
            Span::Between {
                from: 1_664_150_400_000,
                to: 1_664_154_000_000
            }
        );
        assert!(r.final_only);
        let r = rows(&c, "totals", &pairs(&[("last", "1h")])).expect("request");
        assert_eq!(r.span, Span::Last(3_600_000));
        assert_eq!(
            r.span.resolve(Some(10_000_000)),
            Some((6_400_001, 10_000_000))
        );
        assert_eq!(r.span.resolve(None), None);
    }

    #[test]
    fn says_what_is_wrong() {
        let c = catalog();
        let err = |name: &str, list: &[(&str, &str)]| {
            rows(&c, name, &pairs(list)).expect_err("bad").to_string()
        };
        assert!(err("nope", &[]).contains("by_city, totals"));
        assert!(err("by_city", &[("key.town", "x")]).contains("no key field `town`"));
        assert!(err("totals", &[("key.city", "x")]).contains("no key fields"));
        assert!(err("by_city", &[("from", "yesterday"), ("to", "1")]).contains("`from`"));
        assert!(err("by_city", &[("from", "5"), ("to", "1")]).contains("after"));
        assert!(err("by_city", &[("from", "5")]).contains("both"));
        assert!(err("by_city", &[("last", "6 parsecs")]).contains("`last`"));
        assert!(err("by_city", &[("last", "400d")]).contains("at most 31"));
        assert!(err("by_city", &[("limit", "3")]).contains("unknown parameter `limit`"));
        assert!(err("by_city", &[("final", "maybe")]).contains("not true or false"));
        assert!(keys(&c, "totals", &[]).is_err());
        assert!(latest(&c, "by_city", &pairs(&[("key.city", "x")])).is_err());
    }
}
