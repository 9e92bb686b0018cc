//! Decoding: turns a raw record (a JSON line or a CSV row) into an [`Event`]'s fields and
//! event time, applying the dataflow's filters. It never decides about windows or lateness.

mod csv_columns;
mod json_path;

pub use csv_columns::CsvColumns;
pub use json_path::{JsonError, JsonPaths};

use crate::spec::{Condition, Plan};
use crate::time::TimestampParser;
use crate::value::Value;
use std::fmt;

/// Why a record could not be decoded; every variant becomes a dead letter.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodeError {
    /// The line is not UTF-8.
    InvalidUtf8,
    /// The line is not a JSON object.
    MalformedJson(JsonError),
    /// A CSV row that could not be read.
    MalformedCsv(String),
    /// A field the dataflow requires is absent.
    MissingField(String),
    /// A field has a type the dataflow cannot use.
    WrongType {
        /// The field's name.
        field: String,
        /// What was wrong.
        detail: String,
    },
    /// The event time is further ahead of the wall clock than the dataflow allows.
    FutureTimestamp {
        /// The field's name.
        field: String,
        /// How far ahead, and the limit.
        detail: String,
    },
    /// The timestamp field is present but not a timestamp.
    BadTimestamp {
        /// The field's name.
        field: String,
        /// What was wrong.
        detail: String,
    },
}

impl DecodeError {
    /// A stable short name for counting dead letters by reason.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::InvalidUtf8 => "invalid_utf8",
            DecodeError::MalformedJson(_) => "malformed_json",
            DecodeError::MalformedCsv(_) => "malformed_csv",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadTimestamp { .. } => "bad_timestamp",
            DecodeError::FutureTimestamp { .. } => "future_timestamp",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidUtf8 => write!(f, "line is not valid UTF-8"),
            DecodeError::MalformedJson(e) => {
                write!(f, "malformed JSON at byte {}: {}", e.offset, e.message)
            }
            DecodeError::MalformedCsv(e) => write!(f, "malformed CSV: {e}"),
            DecodeError::MissingField(name) => write!(f, "missing field `{name}`"),
            DecodeError::WrongType { field, detail } => write!(f, "field `{field}`: {detail}"),
            DecodeError::BadTimestamp { field, detail }
            | DecodeError::FutureTimestamp { field, detail } => {
                write!(f, "field `{field}`: {detail}")
            }
        }
    }
}

/// The outcome of decoding one record that was well-formed.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// Passed the filters: event time and field values.
    Kept {
        /// Event time in UTC milliseconds.
        time: u64,
        /// Field values in plan order.
        fields: Vec<Option<Value>>,
    },
    /// Failed a filter.
    Filtered,
}

/// Decodes records for one dataflow.
#[derive(Clone, Debug)]
pub struct Decoder {
    names: Vec<String>,
    paths: Vec<String>,
    json: JsonPaths,
    filters: Vec<Condition>,
    time_field: usize,
    timestamps: TimestampParser,
    max_future_skew_ms: u64,
    required: Vec<usize>,
    numeric: Vec<usize>,
}

impl Decoder {
    /// A decoder for the plan's fields, filters and timestamp.
    pub fn new(plan: &Plan) -> Result<Decoder, String> {
        let json = JsonPaths::compile(plan.fields.iter().map(|f| f.path.as_str()))?;
        let mut required: Vec<usize> = plan
            .outputs
            .iter()
            .flat_map(|o| o.key.iter().copied())
            .collect();
        required.extend(plan.dedup);
        required.sort_unstable();
        required.dedup();
        let mut numeric: Vec<usize> = plan
            .outputs
            .iter()
            .flat_map(|o| o.aggregates.iter())
            .filter(|a| a.function.is_numeric())
            .filter_map(|a| a.field)
            .collect();
        numeric.sort_unstable();
        numeric.dedup();
        Ok(Decoder {
            names: plan.fields.iter().map(|f| f.name.clone()).collect(),
            paths: plan.fields.iter().map(|f| f.path.clone()).collect(),
            json,
            filters: plan.filters.clone(),
            time_field: plan.time.field,
            timestamps: TimestampParser::new(plan.time.format.clone()),
            max_future_skew_ms: plan.time.max_future_skew_ms,
            required,
            numeric,
        })
    }

    /// The field paths, in plan order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Maps a CSV header onto this dataflow's fields (their paths are column names).
    pub fn csv_columns(&self, header: &csv::StringRecord) -> CsvColumns {
        CsvColumns::new(header, &self.paths)
    }

    /// Decodes one CSV row read under `columns`; `now_ms` is the wall clock, for the
    /// future-skew check.
    pub fn decode_csv(
        &self,
        columns: &CsvColumns,
        row: &csv::StringRecord,
        now_ms: u64,
    ) -> Result<Decoded, DecodeError> {
        self.finish(columns.extract(row), now_ms)
    }

    /// Decodes one JSON line; `now_ms` is the wall clock, for the future-skew check.
    pub fn decode_json(&self, line: &str, now_ms: u64) -> Result<Decoded, DecodeError> {
        let mut fields = vec![None; self.names.len()];
        self.json
            .extract(line, &mut fields)
            .map_err(DecodeError::MalformedJson)?;
        self.finish(fields, now_ms)
    }

    /// Finishes a record whose fields were extracted (from JSON or CSV): filters, then
    /// timestamp, then checks of key and numeric fields.
    fn finish(&self, mut fields: Vec<Option<Value>>, now_ms: u64) -> Result<Decoded, DecodeError> {
        if !self.filters.iter().all(|c| c.holds(&fields)) {
            return Ok(Decoded::Filtered);
        }
        let name = |i: usize| self.names[i].clone();
        let time = match &fields[self.time_field] {
            None | Some(Value::Null) => {
                return Err(DecodeError::MissingField(name(self.time_field)))
            }
            Some(v) => self
                .timestamps
                .parse(v)
                .map_err(|detail| DecodeError::BadTimestamp {
                    field: name(self.time_field),
                    detail,
                })?,
        };
        if time > now_ms.saturating_add(self.max_future_skew_ms) {
            return Err(DecodeError::FutureTimestamp {
                field: name(self.time_field),
                detail: format!(
                    "{} is {} ms ahead of the wall clock (max_future_skew {} ms)",
                    crate::time::format_rfc3339_millis(time),
                    time - now_ms,
                    self.max_future_skew_ms
                ),
            });
        }
        for &i in &self.required {
            match &fields[i] {
                None => return Err(DecodeError::MissingField(name(i))),
                Some(v) if !v.is_scalar() => {
                    return Err(DecodeError::WrongType {
                        field: name(i),
                        detail: format!(
                            "a key must be a string, number or boolean, not an {}",
                            v.type_name()
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        for &i in &self.numeric {
            let slot = &mut fields[i];
            match slot {
                None | Some(Value::Null) => *slot = None,
                Some(v) => match v.as_number() {
                    Some(crate::value::Number::Int(n)) => *v = Value::Int(n),
                    Some(crate::value::Number::Float(f)) => *v = Value::Float(f),
                    None => {
                        let mut shown = String::new();
                        v.write_json(&mut shown);
                        return Err(DecodeError::WrongType {
                            field: name(i),
                            detail: format!("expected a number, got {shown}"),
                        });
                    }
                },
            }
        }
        Ok(Decoded::Kept { time, fields })
    }
}
