//! Validation of a dataflow file into a [`Plan`]: every key checked, errors naming the file,
//! the key and what is allowed. One file per part of the dataflow.

mod aggregate;
mod condition;
mod derive;
mod output;
mod time;
mod window;

use super::toml_form::*;
use super::{parse_millis, Derivation, FieldPlan, FieldSource, Format, OutputPlan, Plan};
use crate::value::Value;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A dataflow file that could not be read or is not valid.
#[derive(Debug, Error)]
#[error("{file}: {key}: {message}")]
pub struct PlanError {
    /// The dataflow file.
    pub file: PathBuf,
    /// The offending key (`output.top_cities.rank.by`), or `file` for read/parse errors.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// How long a partition may sit at its log end before it stops holding the frontier, unless
/// the dataflow says otherwise.
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Reads and validates a dataflow file.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let reason = e.to_string();
        // "No such file or directory (os error 2)": the reason is for people.
        let reason = match reason.find(" (os error") {
            Some(at) => reason[..at].to_string(),
            None => reason,
        };
        PlanError {
            file: path.to_path_buf(),
            key: "cannot read".into(),
            message: reason,
        }
    })?;
    parse(path, &text)
}

/// Whether every `%` of a strftime pattern starts a known specifier.
fn strftime_is_valid(pattern: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !StrftimeItems::new(pattern).any(|item| matches!(item, Item::Error))
}

/// Validates dataflow text as if it were read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Plan, PlanError> {
    let fail = |key: &str, message: String| PlanError {
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

struct Validator<'a, F: Fn(&str, String) -> PlanError> {
    raw: &'a DataflowFile,
    fail: &'a F,
}

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    fn plan(&self, path: &Path) -> Result<Plan, PlanError> {
        let raw = self.raw;
        if raw.fields.is_empty() {
            return Err((self.fail)(
                "fields",
                "declare at least one field (name = \"path\")".into(),
            ));
        }
        let mut fields: Vec<FieldPlan> = Vec::new();
        for (name, paths) in &raw.fields {
            let paths = paths.to_vec();
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err((self.fail)(
                    &format!("fields.{name}"),
                    "give a path, or a list of alternative paths (the first present wins)".into(),
                ));
            }
            fields.push(FieldPlan {
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
            fields.push(FieldPlan {
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
        let sinks = raw
            .sink
            .iter()
            .map(|s| resolve_relative(path, "jsonl:", &s.uri))
            .collect();
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
            sinks,
            format,
            fields,
            list_field,
            time,
            filters,
            dedup,
            outputs,
        })
    }

    fn field(&self, fields: &[FieldPlan], key: &str, name: &str) -> Result<usize, PlanError> {
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

    fn duration(&self, key: &str, text: &str) -> Result<u64, PlanError> {
        parse_millis(text).map_err(|m| (self.fail)(key, m.to_string()))
    }

    fn zone(&self, key: &str, name: &str) -> Result<chrono_tz::Tz, PlanError> {
        name.parse().map_err(|_| {
            (self.fail)(
                key,
                format!("`{name}` is not an IANA time zone (e.g. \"America/Chicago\")"),
            )
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
    resolve_relative(dataflow, "file:", uri)
}

/// Resolves a URI of `scheme` (`file:`, `jsonl:`) with a relative path against the dataflow
/// file's folder; other URIs (and standard streams, `-`) stay as they are.
fn resolve_relative(dataflow: &Path, scheme: &str, uri: &str) -> String {
    match uri.strip_prefix(scheme) {
        Some(rel) if rel != "-" && Path::new(rel).is_relative() => {
            let base = dataflow.parent().unwrap_or_else(|| Path::new("."));
            format!("{scheme}{}", base.join(rel).display())
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index of a field by name.
    fn field_index(plan: &Plan, name: &str) -> Option<usize> {
        plan.fields.iter().position(|f| f.name == name)
    }

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
            vec![field_index(&plan, "user").expect("field")]
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
    fn sinks_of_the_file_resolve_jsonl_paths_against_its_folder() {
        let with_sinks = format!(
            "{MINIMAL}\n[[sink]]\nuri = \"jsonl:out/rows.jsonl\"\n[[sink]]\nuri = \"jsonl:-\"\n\
             [[sink]]\nuri = \"kafka://k:9092/rows\"\n"
        );
        let plan = parse(Path::new("dataflows/t.toml"), &with_sinks).expect("valid");
        assert_eq!(
            plan.sinks,
            vec![
                "jsonl:dataflows/out/rows.jsonl".to_string(),
                "jsonl:-".to_string(),
                "kafka://k:9092/rows".to_string()
            ]
        );
        let wrong = format!("{MINIMAL}\n[[sink]]\npath = \"x\"\n");
        let text = parse(Path::new("t.toml"), &wrong)
            .expect_err("no uri")
            .to_string();
        assert!(text.contains("path"), "{text}");
    }

    #[test]
    fn approx_distinct_takes_a_precision_in_range_and_nothing_else_does() {
        let approx = |extra: &str| {
            MINIMAL.replace(
                "fn = \"count\"",
                &format!("fn = \"approx_distinct\", field = \"user\"{extra}"),
            )
        };
        let plan = parse(Path::new("t.toml"), &approx("")).expect("default precision");
        assert_eq!(
            plan.outputs[0].aggregates[0].function,
            crate::plan::AggregateFunction::ApproxDistinct {
                precision: crate::plan::APPROX_DEFAULT_PRECISION
            }
        );
        let plan = parse(Path::new("t.toml"), &approx(", precision = 10")).expect("valid");
        assert_eq!(
            plan.outputs[0].aggregates[0].function,
            crate::plan::AggregateFunction::ApproxDistinct { precision: 10 }
        );
        for wrong in [", precision = 3", ", precision = 19", ", precision = -1"] {
            let text = parse(Path::new("t.toml"), &approx(wrong))
                .expect_err(wrong)
                .to_string();
            assert!(
                text.contains("output.per_user.aggregates.n.precision:")
                    && text.contains("allowed: 4 to 18"),
                "{text}"
            );
        }
        let exact = MINIMAL.replace(
            "fn = \"count\"",
            "fn = \"distinct\", field = \"user\", precision = 12",
        );
        let text = parse(Path::new("t.toml"), &exact)
            .expect_err("precision on distinct")
            .to_string();
        assert!(
            text.contains("only approx_distinct takes a precision"),
            "{text}"
        );
    }

    #[test]
    fn session_windows_take_a_gap_and_nothing_else() {
        let with = |window: &str| {
            MINIMAL.replace(
                "window = { tumbling = \"1m\" }",
                &format!("window = {window}"),
            )
        };
        let plan = parse(Path::new("t.toml"), &with("{ session = \"30m\" }")).expect("valid");
        assert_eq!(
            plan.outputs[0].window.kind,
            crate::plan::WindowKind::Session
        );
        assert_eq!(plan.outputs[0].window.size_ms, 1_800_000);
        for (wrong, says) in [
            ("{ session = \"30m\", every = \"5m\" }", "{ session = GAP }"),
            (
                "{ session = \"30m\", tumbling = \"5m\" }",
                "{ session = GAP }",
            ),
            ("{ session = \"0s\" }", "must be positive"),
            ("{ session = \"soon\" }", "output.per_user.window.session"),
            (
                "{ session = \"30m\", offset = \"1m\" }",
                "no offset or time_zone",
            ),
            (
                "{ session = \"1h\", time_zone = \"America/Chicago\" }",
                "no offset or time_zone",
            ),
        ] {
            let text = parse(Path::new("t.toml"), &with(wrong))
                .expect_err(wrong)
                .to_string();
            assert!(
                text.contains("output.per_user.window") && text.contains(says),
                "{wrong}: {text}"
            );
        }
        let ranked = with("{ session = \"30m\" }").replace(
            "aggregates = [{ name = \"n\", fn = \"count\" }]",
            "aggregates = [{ name = \"n\", fn = \"count\" }]\nrank = { top = 3, by = \"n\" }",
        );
        let text = parse(Path::new("t.toml"), &ranked)
            .expect_err("ranked sessions")
            .to_string();
        assert!(
            text.contains("output.per_user.rank")
                && text.contains("session windows cannot be ranked"),
            "{text}"
        );
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
        use crate::plan::FieldUse;
        let plan = load(Path::new("dataflows/evilnet.toml")).expect("plan");
        let uses = plan.field_uses();
        let of = |name: &str| uses[field_index(&plan, name).expect(name)];
        // `referenced` is only ever tested with non_empty.
        assert_eq!(of("referenced"), FieldUse::Truthiness);
        // Keys, distinct inputs, the time, the id and an equality test need the whole value.
        for whole in ["city", "author", "created_at", "id", "place_type"] {
            assert_eq!(of(whole), FieldUse::Whole, "{whole}");
        }
    }
}
