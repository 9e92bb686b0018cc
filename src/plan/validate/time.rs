//! Validation of `[time]`: the event-time field, its format and zone, lateness and idle timeout.

use super::{strftime_is_valid, Validator, DEFAULT_IDLE_TIMEOUT_MS};
use crate::plan::{parse_millis, FieldPlan, PlanError, TimeFormat, TimePlan};

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    pub(super) fn time(&self, fields: &[FieldPlan]) -> Result<TimePlan, PlanError> {
        let t = &self.raw.time;
        let field = self.field(fields, "time.field", &t.field)?;
        let zone = match &t.time_zone {
            Some(name) => self.zone("time.time_zone", name)?,
            None => chrono_tz::UTC,
        };
        let mut formats = Vec::new();
        for format in t.format.to_vec() {
            formats.push(match format.as_str() {
                "rfc3339" => TimeFormat::Rfc3339,
                "epoch_seconds" => TimeFormat::EpochSeconds,
                "epoch_millis" => TimeFormat::EpochMillis,
                pattern if pattern.contains('%') => {
                    if !strftime_is_valid(pattern) {
                        return Err((self.fail)(
                            "time.format",
                            format!(
                                "`{pattern}` is not a valid strftime pattern (unknown or \
                                 incomplete `%` specifier; see \
                                 https://docs.rs/chrono/latest/chrono/format/strftime/)"
                            ),
                        ));
                    }
                    TimeFormat::Pattern {
                        pattern: pattern.to_string(),
                        zone,
                    }
                }
                other => {
                    return Err((self.fail)(
                        "time.format",
                        format!(
                            "`{other}` is not a time format; allowed: \"rfc3339\", \"epoch_seconds\", \
                             \"epoch_millis\" or a strftime pattern such as \"%m/%d/%Y %I:%M:%S %p\" \
                             (or a list of them: the first that parses wins)"
                        ),
                    ))
                }
            });
        }
        if formats.is_empty() {
            return Err((self.fail)(
                "time.format",
                "give at least one format".into(),
            ));
        }
        Ok(TimePlan {
            field,
            formats,
            max_out_of_orderness_ms: self
                .duration("time.max_out_of_orderness", &t.max_out_of_orderness)?,
            allowed_lateness_ms: self.duration("time.allowed_lateness", &t.allowed_lateness)?,
            max_future_skew_ms: match &t.max_future_skew {
                Some(text) => self.duration("time.max_future_skew", text)?,
                None => 60_000,
            },
            idle_timeout_ms: match t.idle_timeout.as_deref() {
                None => Some(DEFAULT_IDLE_TIMEOUT_MS),
                Some("off") => None,
                Some(text) => Some(parse_millis(text).map_err(|m| {
                    (self.fail)(
                        "time.idle_timeout",
                        format!("{m}; or \"off\" never to idle"),
                    )
                })?),
            },
        })
    }
}
