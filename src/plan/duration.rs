//! Human durations in dataflow files (`"500ms"`, `"10s"`, `"5m"`, `"1h"`, `"1d"`).
//!
//! Owns only the text form; everything downstream works in milliseconds.

use thiserror::Error;

/// What a duration may look like.
const ALLOWED: &str = "a duration such as \"500ms\", \"10s\", \"5m\", \"1h\" or \"1d\"";

/// Text that is not a duration.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration; expected {}", ALLOWED)]
    Empty,
    /// The text is not an amount and unit, repeated.
    #[error("`{0}` is not {ALLOWED}", ALLOWED = ALLOWED)]
    NotADuration(String),
    /// More milliseconds than a `u64` holds.
    #[error("`{0}` is out of range")]
    OutOfRange(String),
}

/// Parses a duration such as `"90s"` or `"1h30m"` into milliseconds.
pub fn parse_millis(text: &str) -> Result<u64, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let not_a_duration = || DurationError::NotADuration(text.to_string());
    let out_of_range = || DurationError::OutOfRange(text.to_string());
    let mut total: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(not_a_duration());
        }
        let amount: u64 = rest[..digits].parse().map_err(|_| out_of_range())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(not_a_duration()),
        };
        rest = &rest[unit_len..];
        total = amount
            .checked_mul(unit)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(out_of_range)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_millis;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("10s"), Ok(10_000));
        assert_eq!(parse_millis("5m"), Ok(300_000));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("1d"), Ok(86_400_000));
        assert_eq!(parse_millis("0s"), Ok(0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_millis("").is_err());
        assert!(parse_millis("5").is_err());
        assert!(parse_millis("m5").is_err());
        assert!(parse_millis("5 weeks").is_err());
    }
}
