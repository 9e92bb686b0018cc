//! Decoding: turns a raw record (a JSON line or a CSV row) into an [`Event`]'s fields and
//! event time, computing derived fields and applying the dataflow's filters. It never
//! decides about windows or lateness.
//!
//! [`Event`]: crate::event::Event

mod csv_columns;
mod json_index;
mod json_path;

pub use csv_columns::CsvColumns;
pub use json_path::{next_line, record_of_line, DocumentError, JsonError, JsonPaths, PathError};

use crate::derive::Deriver;
use crate::event::Fields;
use crate::plan::OutputKind;
use crate::plan::{Condition, FieldUse, Plan};
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
        detail: crate::time::TimestampError,
    },
}

impl From<DocumentError> for DecodeError {
    fn from(error: DocumentError) -> DecodeError {
        match error {
            DocumentError::InvalidUtf8 => DecodeError::InvalidUtf8,
            DocumentError::Malformed(e) => DecodeError::MalformedJson(e),
        }
    }
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
            DecodeError::BadTimestamp { field, detail } => write!(f, "field `{field}`: {detail}"),
            DecodeError::FutureTimestamp { field, detail } => {
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
        fields: Fields,
        /// The elements of the plan's list-valued field (empty without one).
        elements: Vec<Value>,
    },
    /// Failed a filter.
    Filtered,
}

/// Decodes records for one dataflow.
#[derive(Clone, Debug)]
pub struct Decoder {
    names: Vec<String>,
    /// Alternative paths of each extracted field (extracted fields come first in the plan).
    alternatives: Vec<Vec<String>>,
    /// Where each extracted field's alternatives land in the JSON extractor's slots; `None`
    /// when every field has one path of its own and extraction fills the fields directly.
    slots: Option<Vec<Vec<usize>>>,
    /// Number of distinct JSON paths.
    distinct_paths: usize,
    json: JsonPaths,
    deriver: Deriver,
    list_field: Option<usize>,
    filters: Vec<Condition>,
    time_field: usize,
    timestamps: TimestampParser,
    max_future_skew_ms: u64,
    required: Vec<usize>,
    numeric: Vec<usize>,
}

impl Decoder {
    /// A decoder for the plan's fields, filters and timestamp.
    pub fn new(plan: &Plan) -> Result<Decoder, PathError> {
        let alternatives: Vec<Vec<String>> = plan
            .fields
            .iter()
            .map(|f| f.paths().to_vec())
            .take_while(|paths| !paths.is_empty())
            .collect();
        let mut distinct: Vec<&str> = Vec::new();
        let slots: Vec<Vec<usize>> = alternatives
            .iter()
            .map(|paths| {
                paths
                    .iter()
                    .map(|path| match distinct.iter().position(|d| d == path) {
                        Some(i) => i,
                        None => {
                            distinct.push(path);
                            distinct.len() - 1
                        }
                    })
                    .collect()
            })
            .collect();
        let direct = slots.iter().enumerate().all(|(i, s)| s == &[i]);
        // A path read for several fields is read whole if any of them needs it whole.
        let field_uses = plan.field_uses();
        let path_uses: Vec<FieldUse> = (0..distinct.len())
            .map(|path| {
                let whole = slots
                    .iter()
                    .zip(&field_uses)
                    .any(|(s, u)| s.contains(&path) && *u == FieldUse::Whole);
                if whole {
                    FieldUse::Whole
                } else {
                    FieldUse::Truthiness
                }
            })
            .collect();
        let json = JsonPaths::compile_with(distinct.iter().copied().zip(path_uses))?;
        let distinct_paths = distinct.len();
        // A key field every windowed output needs makes a record without it a dead letter;
        // one only some outputs need leaves the record out of those outputs alone.
        let windowed: Vec<&Vec<usize>> = plan
            .outputs
            .iter()
            .filter(|o| o.kind == OutputKind::Windowed)
            .map(|o| &o.key)
            .collect();
        let mut required: Vec<usize> = windowed
            .first()
            .map(|first| {
                first
                    .iter()
                    .copied()
                    .filter(|k| windowed.iter().all(|key| key.contains(k)))
                    .collect()
            })
            .unwrap_or_default();
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
            alternatives,
            slots: (!direct).then_some(slots),
            distinct_paths,
            json,
            deriver: Deriver::new(plan),
            list_field: plan.list_field,
            filters: plan.filters.clone(),
            time_field: plan.time.field,
            timestamps: TimestampParser::new(plan.time.formats.clone()),
            max_future_skew_ms: plan.time.max_future_skew_ms,
            required,
            numeric,
        })
    }

    /// The alternative paths of each extracted field, in plan order.
    pub fn alternatives(&self) -> &[Vec<String>] {
        &self.alternatives
    }

    /// Maps a CSV header onto this dataflow's fields (their paths are column names).
    pub fn csv_columns(&self, header: &csv::StringRecord) -> CsvColumns {
        CsvColumns::new(header, &self.alternatives)
    }

    /// Decodes one CSV row read under `columns`; `now_ms` is the wall clock, for the
    /// future-skew check.
    pub fn decode_csv(
        &self,
        columns: &CsvColumns,
        row: &csv::StringRecord,
        now_ms: u64,
    ) -> Result<Decoded, DecodeError> {
        let mut fields = columns.extract(row);
        fields.resize(self.names.len(), None);
        self.finish(fields, now_ms)
    }

    /// Decodes one JSON line; `now_ms` is the wall clock, for the future-skew check.
    pub fn decode_json(&self, line: &[u8], now_ms: u64) -> Result<Decoded, DecodeError> {
        let mut fields = Fields::new();
        fields.resize_with(self.names.len(), || None);
        match &self.slots {
            None => self
                .json
                .extract(line, &mut fields[..self.alternatives.len()])?,
            Some(slots) => {
                let mut found = Vec::with_capacity(self.distinct_paths);
                found.resize_with(self.distinct_paths, || None);
                self.json.extract(line, &mut found)?;
                for (field, slots) in fields.iter_mut().zip(slots) {
                    *field = slots.iter().find_map(|&s| found[s].take());
                }
            }
        }
        self.finish(fields, now_ms)
    }

    /// Finishes a record whose fields were extracted (from JSON or CSV): derived fields,
    /// filters, then timestamp, then checks of key and numeric fields.
    fn finish(&self, mut fields: Fields, now_ms: u64) -> Result<Decoded, DecodeError> {
        let mut elements = Vec::new();
        if !self.deriver.is_empty() {
            self.deriver.apply(&mut fields, &mut elements);
        }
        let passes = |c: &Condition| match self.list_field {
            Some(list) if c.field == list => c.holds_for_list(&fields, &elements),
            _ => c.holds(&fields),
        };
        if !self.filters.iter().all(passes) {
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
            if Some(i) == self.list_field {
                continue;
            }
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
        Ok(Decoded::Kept {
            time,
            fields,
            elements,
        })
    }
}
