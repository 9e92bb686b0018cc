//! The TOML form of a dataflow file and its validation into a [`Plan`].

use super::{
    parse_millis, AggregateFunction, AggregateSpec, Condition, Derivation, FieldSource, FieldSpec,
    Format, OutputPlan, Plan, RankSpec, Test, TimeFormat, TimeSpec, WindowSpec,
};
use crate::value::Value;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A dataflow file that could not be read or is not valid.
#[derive(Debug, Error)]
#[error("{file}: {key}: {message}")]
pub struct SpecError {
    /// The dataflow file.
    pub file: PathBuf,
    /// The offending key (`output.top_cities.rank.by`), or `file` for read/parse errors.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataflowFile {
    name: String,
    #[serde(default)]
    source: SourceTable,
    fields: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    derive: Vec<DeriveTable>,
    time: TimeTable,
    #[serde(default)]
    dedup: Option<DedupTable>,
    /// Condition tables, read in validation so that a mistake inside names its key.
    #[serde(default)]
    filter: Vec<toml::Value>,
    output: Vec<OutputTable>,
}

/// A string, or a list of alternatives.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeriveTable {
    name: String,
    #[serde(rename = "fn")]
    function: String,
    field: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
    size: Option<f64>,
    of: Option<Vec<String>>,
    labels: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceTable {
    uri: Option<String>,
    format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeTable {
    field: String,
    format: OneOrMany,
    time_zone: Option<String>,
    max_out_of_orderness: String,
    allowed_lateness: String,
    max_future_skew: Option<String>,
    idle_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupTable {
    field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionTable {
    field: String,
    equals: Option<toml::Value>,
    not_equals: Option<toml::Value>,
    one_of: Option<Vec<toml::Value>>,
    non_empty: Option<bool>,
    exists: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputTable {
    name: String,
    window: Option<WindowTable>,
    #[serde(default)]
    key: Vec<String>,
    #[serde(default)]
    aggregates: Vec<AggregateTable>,
    rank: Option<RankTable>,
    records: Option<Vec<String>>,
    emit_every: Option<String>,
    /// One condition table, or a list of them that must all hold; read in validation, so
    /// that a mistake inside names its key.
    #[serde(rename = "where")]
    condition: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowTable {
    tumbling: Option<String>,
    sliding: Option<String>,
    cumulative: Option<String>,
    every: Option<String>,
    offset: Option<String>,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregateTable {
    name: String,
    #[serde(rename = "fn")]
    function: String,
    field: Option<String>,
    /// A condition table, read in validation so that a mistake inside names its key.
    #[serde(rename = "where")]
    condition: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RankTable {
    top: Option<usize>,
    bottom: Option<usize>,
    by: String,
}

/// How long a partition may sit at its log end before it stops holding the frontier, unless
/// the dataflow says otherwise.
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Reads and validates a dataflow file.
pub fn load(path: &Path) -> Result<Plan, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let reason = e.to_string();
        // "No such file or directory (os error 2)": the reason is for people.
        let reason = match reason.find(" (os error") {
            Some(at) => reason[..at].to_string(),
            None => reason,
        };
        SpecError {
            file: path.to_path_buf(),
            key: "cannot read".into(),
            message: reason,
        }
    })?;
    parse(path, &text)
}

/// Checks a strftime pattern: every `%` must start a known specifier.
fn check_strftime(pattern: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(pattern).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "`{pattern}` is not a valid strftime pattern (unknown or incomplete `%` \
             specifier; see https://docs.rs/chrono/latest/chrono/format/strftime/)"
        ));
    }
    Ok(())
}

/// Validates dataflow text as if it were read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Plan, SpecError> {
    let fail = |key: &str, message: String| SpecError {
        file: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let raw: DataflowFile = toml::from_str(text).map_err(|e| {
        fail(
            "file",
            format!("not a valid dataflow: {}", e.to_string().trim_end()),
        )
    })?;
    Validator {
        raw: &raw,
        fail: &fail,
    }
    .plan(path)
}

struct Validator<'a, F: Fn(&str, String) -> SpecError> {
    raw: &'a DataflowFile,
    fail: &'a F,
}

impl<F: Fn(&str, String) -> SpecError> Validator<'_, F> {
    fn plan(&self, path: &Path) -> Result<Plan, SpecError> {
        let raw = self.raw;
        if raw.fields.is_empty() {
            return Err((self.fail)(
                "fields",
                "declare at least one field (name = \"path\")".into(),
            ));
        }
        let mut fields: Vec<FieldSpec> = Vec::new();
        for (name, paths) in &raw.fields {
            let paths = paths.to_vec();
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err((self.fail)(
                    &format!("fields.{name}"),
                    "give a path, or a list of alternative paths (the first present wins)".into(),
                ));
            }
            fields.push(FieldSpec {
                name: name.clone(),
                source: FieldSource::Paths(paths),
            });
        }
        let mut list_field = None;
        for (i, table) in raw.derive.iter().enumerate() {
            let key = format!("derive[{i}]");
            if fields.iter().any(|f| f.name == table.name) {
                return Err((self.fail)(
                    &format!("{key}.name"),
                    format!("`{}` is already a field; names must be unique", table.name),
                ));
            }
            let derivation = self.derivation(&key, table, &fields)?;
            if matches!(derivation, Derivation::Hashtags { .. }) {
                if list_field.is_some() {
                    return Err((self.fail)(
                        &key,
                        "a dataflow can have one list-valued field (hashtags)".into(),
                    ));
                }
                list_field = Some(fields.len());
            }
            fields.push(FieldSpec {
                name: table.name.clone(),
                source: FieldSource::Derived(derivation),
            });
        }
        let format = match raw.source.format.as_deref() {
            None => None,
            Some("json") | Some("jsonl") => Some(Format::Json),
            Some("csv") => Some(Format::Csv),
            Some(other) => {
                return Err((self.fail)(
                    "source.format",
                    format!("`{other}` is not a format; allowed: \"json\", \"csv\""),
                ))
            }
        };
        let source = raw.source.uri.as_ref().map(|uri| resolve_source(path, uri));
        let time = self.time(&fields)?;
        let filters = raw
            .filter
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = format!("filter[{i}]");
                self.condition(&key, &self.condition_table(&key, c)?, &fields)
            })
            .collect::<Result<_, _>>()?;
        let dedup = match &raw.dedup {
            Some(d) => Some(self.field(&fields, "dedup.field", &d.field)?),
            None => None,
        };
        if raw.output.is_empty() {
            return Err((self.fail)(
                "output",
                "declare at least one [[output]]".into(),
            ));
        }
        let mut outputs: Vec<OutputPlan> = Vec::new();
        for table in &raw.output {
            let output = self.output(table, &fields)?;
            if outputs.iter().any(|o| o.name == output.name) {
                return Err((self.fail)(
                    &format!("output.{}", output.name),
                    "output names must be unique".into(),
                ));
            }
            outputs.push(output);
        }
        Ok(Plan {
            name: raw.name.clone(),
            path: path.to_path_buf(),
            source,
            format,
            fields,
            list_field,
            time,
            filters,
            dedup,
            outputs,
        })
    }

    fn field(&self, fields: &[FieldSpec], key: &str, name: &str) -> Result<usize, SpecError> {
        fields.iter().position(|f| f.name == name).ok_or_else(|| {
            let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            (self.fail)(
                key,
                format!(
                    "unknown field `{name}`; declared fields: {}",
                    known.join(", ")
                ),
            )
        })
    }

    fn duration(&self, key: &str, text: &str) -> Result<u64, SpecError> {
        parse_millis(text).map_err(|m| (self.fail)(key, m))
    }

    fn zone(&self, key: &str, name: &str) -> Result<chrono_tz::Tz, SpecError> {
        name.parse().map_err(|_| {
            (self.fail)(
                key,
                format!("`{name}` is not an IANA time zone (e.g. \"America/Chicago\")"),
            )
        })
    }

    fn time(&self, fields: &[FieldSpec]) -> Result<TimeSpec, SpecError> {
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
                    check_strftime(pattern).map_err(|e| (self.fail)("time.format", e))?;
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
        Ok(TimeSpec {
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

    fn derivation(
        &self,
        key: &str,
        t: &DeriveTable,
        fields: &[FieldSpec],
    ) -> Result<Derivation, SpecError> {
        let input = |name: &Option<String>, what: &str| -> Result<usize, SpecError> {
            match name {
                Some(name) => self.field(fields, &format!("{key}.{what}"), name),
                None => Err((self.fail)(
                    &format!("{key}.{what}"),
                    format!("`{}` needs `{what}`", t.function),
                )),
            }
        };
        Ok(match t.function.as_str() {
            "grid_cell" => {
                let size = t.size.filter(|s| *s > 0.0 && *s <= 90.0).ok_or_else(|| {
                    (self.fail)(
                        &format!("{key}.size"),
                        "grid_cell needs a cell size in degrees (0 < size <= 90)".into(),
                    )
                })?;
                Derivation::GridCell {
                    lat: input(&t.lat, "lat")?,
                    lon: input(&t.lon, "lon")?,
                    size,
                }
            }
            "count" => {
                let patterns = t.of.clone().unwrap_or_default();
                if patterns.is_empty() || patterns.iter().any(String::is_empty) {
                    return Err((self.fail)(
                        &format!("{key}.of"),
                        "count needs `of`, a list of non-empty strings to count".into(),
                    ));
                }
                Derivation::CountOf {
                    field: input(&t.field, "field")?,
                    patterns,
                }
            }
            "hashtags" => Derivation::Hashtags {
                field: input(&t.field, "field")?,
            },
            "polarity" => Derivation::Polarity {
                field: input(&t.field, "field")?,
            },
            "sign" => {
                let labels: [String; 3] = t
                    .labels
                    .clone()
                    .unwrap_or_else(|| vec!["negative".into(), "neutral".into(), "positive".into()])
                    .try_into()
                    .map_err(|_| {
                        (self.fail)(
                            &format!("{key}.labels"),
                            "give three labels: negative, zero, positive".into(),
                        )
                    })?;
                Derivation::Sign {
                    field: input(&t.field, "field")?,
                    labels,
                }
            }
            other => {
                return Err((self.fail)(
                    &format!("{key}.fn"),
                    format!(
                        "`{other}` is not a derivation; allowed: grid_cell, count, hashtags, \
                         polarity, sign"
                    ),
                ))
            }
        })
    }

    /// Reads one condition table (`{ field = ..., equals = ... }`) at `key`.
    fn condition_table(&self, key: &str, value: &toml::Value) -> Result<ConditionTable, SpecError> {
        ConditionTable::deserialize(value.clone()).map_err(|e| {
            (self.fail)(
                key,
                format!(
                    "{}; a condition is {{ field = NAME, and one of equals, not_equals, \
                     one_of = [...], non_empty = true, exists = true }} (an output's `where` may \
                     also be a list of them)",
                    e.to_string().trim_end()
                ),
            )
        })
    }

    fn condition(
        &self,
        key: &str,
        c: &ConditionTable,
        fields: &[FieldSpec],
    ) -> Result<Condition, SpecError> {
        let field = self.field(fields, &format!("{key}.field"), &c.field)?;
        let scalar = |v: &toml::Value| {
            scalar_value(v).ok_or_else(|| {
                (self.fail)(key, format!("`{v}` is not a string, number or boolean"))
            })
        };
        let mut tests = Vec::new();
        if let Some(v) = &c.equals {
            tests.push(Test::Equals(scalar(v)?));
        }
        if let Some(v) = &c.not_equals {
            tests.push(Test::NotEquals(scalar(v)?));
        }
        if let Some(list) = &c.one_of {
            tests.push(Test::OneOf(
                list.iter().map(scalar).collect::<Result<_, _>>()?,
            ));
        }
        if c.non_empty == Some(true) {
            tests.push(Test::NonEmpty);
        }
        if c.exists == Some(true) {
            tests.push(Test::Exists);
        }
        match (tests.pop(), tests.is_empty()) {
            (Some(test), true) => Ok(Condition { field, test }),
            _ => Err((self.fail)(
                key,
                "give exactly one test: equals, not_equals, one_of, non_empty = true or exists = true"
                    .into(),
            )),
        }
    }

    /// A per-record output: one final row per kept record, with the listed fields as its
    /// key, in the record's own millisecond as its window.
    fn records_output(
        &self,
        t: &OutputTable,
        names: &[String],
        fields: &[FieldSpec],
    ) -> Result<OutputPlan, SpecError> {
        let at = |k: &str| format!("output.{}.{k}", t.name);
        if t.window.is_some()
            || !t.key.is_empty()
            || !t.aggregates.is_empty()
            || t.rank.is_some()
            || t.condition.is_some()
            || t.emit_every.is_some()
        {
            return Err((self.fail)(
                &at("records"),
                "a per-record output lists its fields in `records` and has no window, key, \
                 aggregates, rank, where (filter the dataflow instead) or emit_every"
                    .into(),
            ));
        }
        if names.is_empty() {
            return Err((self.fail)(
                &at("records"),
                "list at least one field".into(),
            ));
        }
        let key = names
            .iter()
            .map(|name| self.field(fields, &at("records"), name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OutputPlan {
            name: t.name.clone(),
            window: WindowSpec {
                size_ms: 1,
                slide_ms: 1,
                cumulative: false,
                offset_ms: 0,
                zone: None,
            },
            key,
            aggregates: Vec::new(),
            rank: None,
            records: true,
            filters: Vec::new(),
            emit_every_ms: None,
        })
    }

    fn output(&self, t: &OutputTable, fields: &[FieldSpec]) -> Result<OutputPlan, SpecError> {
        if let Some(names) = &t.records {
            return self.records_output(t, names, fields);
        }
        let at = |k: &str| format!("output.{}.{k}", t.name);
        let Some(window) = &t.window else {
            return Err((self.fail)(
                &at("window"),
                "give a window (or `records = [FIELDS]` for one row per record)".into(),
            ));
        };
        let window = self.window(&at("window"), window)?;
        let key = t
            .key
            .iter()
            .map(|name| self.field(fields, &at("key"), name))
            .collect::<Result<Vec<_>, _>>()?;
        if t.aggregates.is_empty() {
            return Err((self.fail)(
                &at("aggregates"),
                "declare at least one aggregate".into(),
            ));
        }
        let mut aggregates: Vec<AggregateSpec> = Vec::new();
        for a in &t.aggregates {
            let key_name = at(&format!("aggregates.{}", a.name));
            if aggregates.iter().any(|b| b.name == a.name)
                || t.key.contains(&a.name)
                || ["output", "window_start", "window_end", "final", "rank"]
                    .contains(&a.name.as_str())
            {
                return Err((self.fail)(
                    &key_name,
                    "column names must be unique and differ from key fields and \
                     output/window_start/window_end/final/rank"
                        .into(),
                ));
            }
            aggregates.push(self.aggregate(&key_name, a, fields)?);
        }
        let rank = match &t.rank {
            None => None,
            Some(r) => {
                let (k, descending) = match (r.top, r.bottom) {
                    (Some(k), None) => (k, true),
                    (None, Some(k)) => (k, false),
                    _ => {
                        return Err((self.fail)(
                            &at("rank"),
                            "give exactly one of top or bottom".into(),
                        ))
                    }
                };
                if k == 0 {
                    return Err((self.fail)(&at("rank"), "k must be at least 1".into()));
                }
                let by = aggregates
                    .iter()
                    .position(|a| a.name == r.by)
                    .ok_or_else(|| {
                        let names: Vec<&str> = aggregates.iter().map(|a| a.name.as_str()).collect();
                        (self.fail)(
                            &at("rank.by"),
                            format!(
                                "`{}` is not an aggregate of this output (have: {})",
                                r.by,
                                names.join(", ")
                            ),
                        )
                    })?;
                if key.is_empty() {
                    return Err((self.fail)(
                        &at("rank"),
                        "a ranked output needs key fields".into(),
                    ));
                }
                Some(RankSpec { k, by, descending })
            }
        };
        let filters = match &t.condition {
            None => Vec::new(),
            Some(toml::Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let key = at(&format!("where[{i}]"));
                    self.condition(&key, &self.condition_table(&key, c)?, fields)
                })
                .collect::<Result<_, _>>()?,
            Some(one) => {
                let key = at("where");
                vec![self.condition(&key, &self.condition_table(&key, one)?, fields)?]
            }
        };
        let emit_every_ms = t
            .emit_every
            .as_deref()
            .map(|every| self.duration(&at("emit_every"), every))
            .transpose()?;
        if emit_every_ms == Some(0) {
            return Err((self.fail)(
                &at("emit_every"),
                "give a positive duration such as \"5s\"".into(),
            ));
        }
        Ok(OutputPlan {
            name: t.name.clone(),
            window,
            key,
            aggregates,
            rank,
            records: false,
            filters,
            emit_every_ms,
        })
    }

    fn window(&self, key: &str, w: &WindowTable) -> Result<WindowSpec, SpecError> {
        let (size_ms, slide_ms, cumulative) =
            match (&w.tumbling, &w.sliding, &w.cumulative, &w.every) {
                (Some(size), None, None, None) => {
                    let size = self.duration(&format!("{key}.tumbling"), size)?;
                    (size, size, false)
                }
                (None, Some(size), None, Some(every)) => (
                    self.duration(&format!("{key}.sliding"), size)?,
                    self.duration(&format!("{key}.every"), every)?,
                    false,
                ),
                (None, None, Some(size), Some(every)) => (
                    self.duration(&format!("{key}.cumulative"), size)?,
                    self.duration(&format!("{key}.every"), every)?,
                    true,
                ),
                _ => {
                    return Err((self.fail)(
                        key,
                        "give one of { tumbling = SIZE }, { sliding = SIZE, every = SLIDE } or \
                     { cumulative = CYCLE, every = STEP }"
                            .into(),
                    ))
                }
            };
        if size_ms == 0 || slide_ms == 0 || slide_ms > size_ms {
            return Err((self.fail)(
                key,
                "sizes must be positive and every <= the window size".into(),
            ));
        }
        if cumulative && size_ms % slide_ms != 0 {
            return Err((self.fail)(
                key,
                "a cumulative window's step (every) must divide its cycle".into(),
            ));
        }
        let offset_ms = match &w.offset {
            Some(o) => self.duration(&format!("{key}.offset"), o)?,
            None => 0,
        };
        if offset_ms >= if cumulative { size_ms } else { slide_ms } {
            return Err((self.fail)(
                key,
                "offset must be smaller than the window step (a cumulative window's cycle)".into(),
            ));
        }
        let zone = match &w.time_zone {
            Some(name) => {
                const HOUR: u64 = 3_600_000;
                // Cumulative steps may be shorter: they only mark ends within a whole-hour cycle.
                let step_fits =
                    slide_ms % HOUR == 0 || (cumulative && HOUR.is_multiple_of(slide_ms));
                if size_ms % HOUR != 0 || !step_fits || offset_ms % HOUR != 0 {
                    return Err((self.fail)(
                        key,
                        "windows in a time zone must be whole hours (so DST changes cannot split \
                         them); a cumulative window's step may also divide an hour"
                            .into(),
                    ));
                }
                Some(self.zone(&format!("{key}.time_zone"), name)?)
            }
            None => None,
        };
        Ok(WindowSpec {
            size_ms,
            slide_ms,
            cumulative,
            offset_ms,
            zone,
        })
    }

    fn aggregate(
        &self,
        key: &str,
        a: &AggregateTable,
        fields: &[FieldSpec],
    ) -> Result<AggregateSpec, SpecError> {
        let function = match a.function.as_str() {
            "count" => AggregateFunction::Count,
            "sum" => AggregateFunction::Sum,
            "avg" => AggregateFunction::Avg,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "last" => AggregateFunction::Last,
            "distinct" => AggregateFunction::Distinct,
            other => {
                return Err((self.fail)(
                    &format!("{key}.fn"),
                    format!(
                        "`{other}` is not an aggregate; allowed: count, sum, avg, min, max, last, \
                     distinct"
                    ),
                ))
            }
        };
        let field = match (&a.field, function) {
            (None, AggregateFunction::Count) => None,
            (Some(_), AggregateFunction::Count) => {
                return Err((self.fail)(
                    &format!("{key}.field"),
                    "count takes no field; use `where` for a conditional count".into(),
                ))
            }
            (Some(name), _) => Some(self.field(fields, &format!("{key}.field"), name)?),
            (None, _) => {
                return Err((self.fail)(
                    &format!("{key}.field"),
                    format!("{} needs a field", a.function),
                ))
            }
        };
        let condition = match &a.condition {
            Some(c) => {
                let key = format!("{key}.where");
                Some(self.condition(&key, &self.condition_table(&key, c)?, fields)?)
            }
            None => None,
        };
        Ok(AggregateSpec {
            name: a.name.clone(),
            function,
            field,
            condition,
        })
    }
}

fn scalar_value(v: &toml::Value) -> Option<Value> {
    match v {
        toml::Value::String(s) => Some(Value::Str(s.as_str().into())),
        toml::Value::Integer(i) => Some(Value::Int(*i)),
        toml::Value::Float(f) => crate::value::number::from_f64(*f),
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Resolves a relative `file:` URI against the dataflow file's folder.
fn resolve_source(dataflow: &Path, uri: &str) -> String {
    match uri.strip_prefix("file:") {
        Some(rel) if Path::new(rel).is_relative() => {
            let base = dataflow.parent().unwrap_or_else(|| Path::new("."));
            format!("file:{}", base.join(rel).display())
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "t"
        [fields]
        ts = "ts"
        user = "user"
        [time]
        field = "ts"
        format = "epoch_millis"
        max_out_of_orderness = "1s"
        allowed_lateness = "0s"
        [[output]]
        name = "per_user"
        window = { tumbling = "1m" }
        key = ["user"]
        aggregates = [{ name = "n", fn = "count" }]
    "#;

    #[test]
    fn minimal_dataflow_validates() {
        let plan = parse(Path::new("dataflows/t.toml"), MINIMAL).expect("valid");
        assert_eq!(plan.outputs[0].window.size_ms, 60_000);
        assert_eq!(
            plan.outputs[0].key,
            vec![plan.field_index("user").expect("field")]
        );
    }

    #[test]
    fn errors_name_file_key_and_allowed_values() {
        let bad = MINIMAL.replace("fn = \"count\"", "fn = \"median\"");
        let err = parse(Path::new("dataflows/t.toml"), &bad).expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("dataflows/t.toml: output.per_user.aggregates.n.fn:"),
            "{text}"
        );
        assert!(text.contains("allowed: count, sum"), "{text}");

        let bad = MINIMAL.replace("key = [\"user\"]", "key = [\"usr\"]");
        let text = parse(Path::new("x.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(
            text.contains("unknown field `usr`; declared fields: ts, user"),
            "{text}"
        );

        let bad = MINIMAL.replace("name = \"t\"", "name = \"t\"\ncolour = 1");
        let text = parse(Path::new("x.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(text.contains("colour"), "{text}");
    }

    #[test]
    fn zone_windows_must_be_whole_hours() {
        let bad = MINIMAL.replace(
            "window = { tumbling = \"1m\" }",
            "window = { tumbling = \"30m\", time_zone = \"America/Chicago\" }",
        );
        assert!(parse(Path::new("x.toml"), &bad).is_err());
        let good = MINIMAL.replace(
            "window = { tumbling = \"1m\" }",
            "window = { tumbling = \"1d\", time_zone = \"America/Chicago\" }",
        );
        assert!(parse(Path::new("x.toml"), &good).is_ok());
    }

    #[test]
    fn relative_source_resolves_against_dataflow_folder() {
        assert_eq!(
            resolve_source(Path::new("dataflows/a.toml"), "file:../data/x.jsonl"),
            "file:dataflows/../data/x.jsonl"
        );
        assert_eq!(
            resolve_source(Path::new("a.toml"), "file:/abs.jsonl"),
            "file:/abs.jsonl"
        );
    }

    #[test]
    fn a_field_only_tested_for_presence_is_read_for_its_truthiness() {
        use crate::spec::FieldUse;
        let plan = load(Path::new("dataflows/evilnet.toml")).expect("plan");
        let uses = plan.field_uses();
        let of = |name: &str| uses[plan.field_index(name).expect(name)];
        // `referenced` is only ever tested with non_empty.
        assert_eq!(of("referenced"), FieldUse::Truthiness);
        // Keys, distinct inputs, the time, the id and an equality test need the whole value.
        for whole in ["city", "author", "created_at", "id", "place_type"] {
            assert_eq!(of(whole), FieldUse::Whole, "{whole}");
        }
    }
}
