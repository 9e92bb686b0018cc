//! Turning timestamp field values into event time (UTC milliseconds) and back to text.

use crate::plan::TimeFormat;
use crate::value::{Number, Value};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike};
use thiserror::Error;

/// Why a field value is not a timestamp (the reason a record is a dead letter).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TimestampError {
    /// The dataflow lists no format.
    #[error("no time format")]
    NoFormat,
    /// A string format was given something else.
    #[error("expected a timestamp string, got a {0}")]
    NotText(&'static str),
    /// An epoch format was given something other than a number.
    #[error("expected epoch {unit}, got a {got}")]
    NotANumber {
        /// `seconds` or `milliseconds`.
        unit: &'static str,
        /// The value's type.
        got: &'static str,
    },
    /// Epoch seconds too large to be milliseconds.
    #[error("epoch seconds out of range")]
    OutOfRange,
    /// Not RFC 3339.
    #[error("`{0}` is not an RFC 3339 timestamp")]
    NotRfc3339(String),
    /// Does not match a strftime pattern.
    #[error("`{text}` does not match `{pattern}`: {why}")]
    NoMatch {
        /// The value.
        text: String,
        /// The pattern.
        pattern: String,
        /// The parser's reason.
        why: String,
    },
    /// A local time the zone skips (a daylight-saving gap).
    #[error("`{text}` does not exist in {zone}")]
    NoSuchLocalTime {
        /// The value.
        text: String,
        /// The zone.
        zone: String,
    },
    /// Before the Unix epoch.
    #[error("{0} ms is before 1970")]
    BeforeEpoch(i64),
}

/// Parses one dataflow's timestamp field.
#[derive(Clone, Debug)]
pub struct TimestampParser {
    formats: Vec<TimeFormat>,
}

impl TimestampParser {
    /// A parser trying `formats` in order (the first that parses wins).
    pub fn new(formats: Vec<TimeFormat>) -> Self {
        TimestampParser { formats }
    }

    /// Event time in milliseconds since the epoch, or a reason the value is not a timestamp.
    pub fn parse(&self, value: &Value) -> Result<u64, TimestampError> {
        self.parse_with(value).map(|(ms, _)| ms)
    }

    /// Like `parse`, also saying which format matched.
    pub fn parse_with<'f>(
        &'f self,
        value: &Value,
    ) -> Result<(u64, &'f TimeFormat), TimestampError> {
        let mut first_error = None;
        for format in &self.formats {
            match parse_one(format, value) {
                Ok(ms) => return Ok((ms, format)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(TimestampError::NoFormat))
    }
}

fn parse_one(format: &TimeFormat, value: &Value) -> Result<u64, TimestampError> {
    let millis = match format {
        TimeFormat::Rfc3339 => {
            let text = as_text(value)?;
            fast_rfc3339(text)
                .or_else(|| {
                    DateTime::parse_from_rfc3339(text)
                        .ok()
                        .map(|t| t.timestamp_millis())
                })
                .ok_or_else(|| TimestampError::NotRfc3339(text.to_string()))?
        }
        TimeFormat::EpochSeconds => match value.as_number() {
            Some(Number::Int(s)) => s.checked_mul(1000).ok_or(TimestampError::OutOfRange)?,
            Some(Number::Float(s)) => (s * 1000.0).round() as i64,
            None => {
                return Err(TimestampError::NotANumber {
                    unit: "seconds",
                    got: value.type_name(),
                })
            }
        },
        TimeFormat::EpochMillis => match value.as_number() {
            Some(Number::Int(ms)) => ms,
            Some(Number::Float(ms)) => ms.round() as i64,
            None => {
                return Err(TimestampError::NotANumber {
                    unit: "milliseconds",
                    got: value.type_name(),
                })
            }
        },
        TimeFormat::Pattern { pattern, zone } => {
            let text = as_text(value)?;
            if pattern.contains("%z") || pattern.contains("%:z") {
                DateTime::parse_from_str(text, pattern)
                    .map_err(|e| no_match(text, pattern, e))?
                    .timestamp_millis()
            } else {
                let local = NaiveDateTime::parse_from_str(text, pattern)
                    .map_err(|e| no_match(text, pattern, e))?;
                zone.from_local_datetime(&local)
                    .earliest()
                    .ok_or_else(|| TimestampError::NoSuchLocalTime {
                        text: text.to_string(),
                        zone: zone.to_string(),
                    })?
                    .timestamp_millis()
            }
        }
    };
    u64::try_from(millis).map_err(|_| TimestampError::BeforeEpoch(millis))
}

fn no_match(text: &str, pattern: &str, why: chrono::ParseError) -> TimestampError {
    TimestampError::NoMatch {
        text: text.to_string(),
        pattern: pattern.to_string(),
        why: why.to_string(),
    }
}

fn as_text(value: &Value) -> Result<&str, TimestampError> {
    match value {
        Value::Str(s) => Ok(s),
        other => Err(TimestampError::NotText(other.type_name())),
    }
}

thread_local! {
    /// The `YYYY-MM-DD` of the last date this thread parsed (zero-padded), with its day number.
    static LAST_DATE: std::cell::Cell<(u128, i64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Parses the common `YYYY-MM-DDTHH:MM:SS[.fff]Z` shape without allocation; anything else
/// returns `None` and goes to the full parser.
fn fast_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Timestamps in a stream mostly share their date with the one before.
    let date = u128::from_le_bytes({
        let mut date = [0u8; 16];
        date[..10].copy_from_slice(&b[..10]);
        date
    });
    let days = match LAST_DATE.get() {
        (last, days) if last == date => days,
        _ => {
            let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
            if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            LAST_DATE.set((date, days));
            days
        }
    };
    let mut millis = 0;
    let mut pos = 19;
    if b[pos] == b'.' {
        let digits = b[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let taken = digits.min(3);
        millis = num(pos + 1, pos + 1 + taken)? * 10i64.pow(3 - taken as u32);
        pos += 1 + digits;
    }
    if pos + 1 != b.len() || b[pos] != b'Z' {
        return None;
    }
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats UTC milliseconds as RFC 3339 with millisecond precision and a `Z`.
pub fn format_rfc3339_millis(ms: u64) -> String {
    let mut text = String::with_capacity(24);
    write_rfc3339_millis(ms, &mut text);
    text
}

/// Appends [`format_rfc3339_millis`] of `ms` to `out`, without a format string to interpret
/// (a sink writes two per row).
pub fn write_rfc3339_millis(ms: u64, out: &mut String) {
    let Some(t) = DateTime::from_timestamp_millis(ms as i64) else {
        out.push_str(itoa::Buffer::new().format(ms));
        out.push_str("ms");
        return;
    };
    let year = match u32::try_from(t.year()) {
        Ok(year) if year <= 9999 => year,
        _ => {
            out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            return;
        }
    };
    let fields = [
        (year, 4, '-'),
        (t.month(), 2, '-'),
        (t.day(), 2, 'T'),
        (t.hour(), 2, ':'),
        (t.minute(), 2, ':'),
        (t.second(), 2, '.'),
        ((ms % 1000) as u32, 3, 'Z'),
    ];
    for (value, width, then) in fields {
        let mut digits = [b'0'; 4];
        let mut rest = value;
        for digit in digits[..width].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        digits[..width]
            .iter()
            .for_each(|&d| out.push(char::from(d)));
        out.push(then);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Writing the fields by hand spells every instant as the format string does.
        #[test]
        fn rfc3339_millis_is_the_format_string(ms in 0u64..400_000_000_000_000) {
            let expected = match DateTime::from_timestamp_millis(ms as i64) {
                Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                None => format!("{ms}ms"),
            };
            prop_assert_eq!(format_rfc3339_millis(ms), expected);
        }
    }

    fn rfc(text: &str) -> Result<u64, TimestampError> {
        TimestampParser::new(vec![TimeFormat::Rfc3339]).parse(&Value::Str(text.into()))
    }

    #[test]
    fn parses_formats() {
        assert_eq!(rfc("2022-09-26T03:15:45.000Z"), Ok(1_664_162_145_000));
        assert_eq!(rfc("2022-09-26T05:15:45.5+02:00"), Ok(1_664_162_145_500));
        assert!(rfc("2022-09-26 03:15").is_err());
        assert!(rfc("2022-02-30T00:00:00Z").is_err());
        let secs = TimestampParser::new(vec![TimeFormat::EpochSeconds]);
        assert_eq!(
            secs.parse(&Value::Int(1_400_000_000)),
            Ok(1_400_000_000_000)
        );
        assert_eq!(
            secs.parse(&Value::Str("1400000000".into())),
            Ok(1_400_000_000_000)
        );
        // Both taxi layouts: epoch seconds, else the export's local time.
        let chicago = TimestampParser::new(vec![
            TimeFormat::EpochSeconds,
            TimeFormat::Pattern {
                pattern: "%m/%d/%Y %I:%M:%S %p".into(),
                zone: "America/Chicago".parse().expect("zone"),
            },
        ]);
        assert_eq!(
            chicago.parse(&Value::Str("1400000000".into())),
            Ok(1_400_000_000_000)
        );
        assert!(chicago.parse(&Value::Str("yesterday".into())).is_err());
        assert_eq!(
            chicago.parse(&Value::Str("04/18/2015 12:00:00 AM".into())),
            Ok(DateTime::parse_from_rfc3339("2015-04-18T00:00:00-05:00")
                .expect("t")
                .timestamp_millis() as u64)
        );
        let twitter = TimestampParser::new(vec![TimeFormat::Pattern {
            pattern: "%a %b %d %H:%M:%S %z %Y".into(),
            zone: chrono_tz::UTC,
        }]);
        assert_eq!(
            twitter.parse(&Value::Str("Tue Dec 24 02:37:04 +0000 2013".into())),
            Ok(1_387_852_624_000)
        );
        assert_eq!(
            format_rfc3339_millis(1_664_162_145_000),
            "2022-09-26T03:15:45.000Z"
        );
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_chrono(
            ms in 0i64..4_102_444_800_000,
            same_day in 0i64..86_400_000,
            other_day in 0i64..4_102_444_800_000,
        ) {
            // A new date, the same date again (from the cache), then another date.
            let day_start = ms - ms % 86_400_000;
            for ms in [ms, day_start + same_day, other_day] {
                let text = DateTime::from_timestamp_millis(ms).expect("t").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                prop_assert_eq!(fast_rfc3339(&text), Some(ms));
            }
            // A date that does not exist is refused even right after a valid one was cached.
            prop_assert_eq!(fast_rfc3339("2023-02-28T10:00:00Z"), Some(1_677_578_400_000));
            prop_assert_eq!(fast_rfc3339("2023-02-29T10:00:00Z"), None);
        }
    }
}
