//! The Cassandra tables of a plan, and how a result row fills them.
//!
//! Every output gets tables shaped for the dashboard reads it serves, so no read needs
//! `ALLOW FILTERING`:
//! - keyed outputs: `<output>` partitioned by key and clustered by `window_start DESC`
//!   ("the trend of city X over the last 6 hours" is one partition), and
//!   `<output>_by_window` partitioned by the UTC `day` of `window_start` and clustered by
//!   `window_start DESC` then key ("all cities in the last hour" reads one or two partitions);
//! - per-record outputs: only the second shape, named after the output ("the polarity of
//!   every tweet in the last hour" reads one or two partitions);
//! - ranked outputs: `<output>` partitioned by the UTC `day` of `window_end` and clustered by
//!   `window_end DESC, rank` ("the top 5 cities in the current hour" is one slice).
//!
//! Cumulative windows share their start, so their tables cluster by `window_end DESC` after
//! `window_start` (the first row of a day is "so far today").
//!
//! Rows are upserts keyed by (window, key) or (window, rank): a replay or a correction
//! overwrites and never adds.

use crate::aggregate::ResultRow;
use crate::plan::{Derivation, FieldSource, OutputPlan, Plan, ResultType};
use crate::plan::{OutputKind, WindowKind};
use crate::value::{Number, Value};
use scylla::value::{CqlDate, CqlTimestamp, CqlValue};

/// One table: its name, columns (name, CQL type) in insert order, and primary key.
#[derive(Clone, Debug)]
pub struct Table {
    /// Index of the output it stores.
    pub output: usize,
    /// Table name.
    pub name: String,
    columns: Vec<(String, &'static str)>,
    partition_key: Vec<String>,
    clustering: Vec<(String, &'static str)>,
    layout: Layout,
    /// Type of each key column, in key order.
    key_types: Vec<KeyType>,
    /// Type of each aggregate column, in aggregate order.
    aggregate_types: Vec<ResultType>,
}

/// How a key value is stored (and so how dashboards read it back, from either backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// As text: strings as they are, numbers and booleans in JSON form.
    Text,
    /// As a number (numeric derived fields of per-record outputs).
    Double,
}

impl KeyType {
    fn cql(self) -> &'static str {
        match self {
            KeyType::Text => "text",
            KeyType::Double => "double",
        }
    }

    fn bind(self, value: &Value) -> Option<CqlValue> {
        match self {
            KeyType::Text => Some(CqlValue::Text(value.to_text())),
            KeyType::Double => value.as_number().map(|n| CqlValue::Double(n.as_f64())),
        }
    }

    /// The value as its column holds it: text, or a number (`Null` for none).
    pub fn stored(self, value: &Value) -> Value {
        match self {
            KeyType::Text => Value::Str(value.to_text().into()),
            KeyType::Double => value
                .as_number()
                .map_or(Value::Null, |n| Value::Float(n.as_f64())),
        }
    }
}

/// An aggregate's result as its column holds it: a whole number or a double (`Null` for
/// none).
pub fn stored_result(result: ResultType, value: &Value) -> Value {
    let Some(number) = value.as_number() else {
        return Value::Null;
    };
    match result {
        ResultType::Integer => Value::Int(match number {
            Number::Int(i) => i,
            Number::Float(f) => f as i64,
        }),
        ResultType::Real => Value::Float(number.as_f64()),
    }
}

/// How each key field of `output` is stored. Per-record outputs store numeric derived fields
/// (polarity, counts) as numbers; everything else is text.
pub fn key_types(plan: &Plan, output: &OutputPlan) -> Vec<KeyType> {
    output
        .key
        .iter()
        .map(|&i| match &plan.fields[i].source {
            FieldSource::Derived(Derivation::Polarity { .. } | Derivation::CountOf { .. })
                if output.kind == OutputKind::PerRecord =>
            {
                KeyType::Double
            }
            FieldSource::Derived(
                Derivation::Polarity { .. }
                | Derivation::CountOf { .. }
                | Derivation::GridCell { .. }
                | Derivation::Hashtags { .. }
                | Derivation::Sign { .. },
            )
            | FieldSource::Paths(_) => KeyType::Text,
        })
        .collect()
}

/// The CQL column type of an aggregate's result.
fn result_cql(result: ResultType) -> &'static str {
    match result {
        ResultType::Integer => "bigint",
        ResultType::Real => "double",
    }
}

/// Binds an aggregate's result to its column: whatever number the value holds (a `min` of
/// whole numbers is an integer) is bound as the column's type. `None` for no value.
fn bind_result(result: ResultType, value: &Value) -> Option<CqlValue> {
    let stored = stored_result(result, value);
    match result {
        ResultType::Integer => match stored {
            Value::Int(i) => Some(CqlValue::BigInt(i)),
            _ => None,
        },
        ResultType::Real => match stored {
            Value::Float(f) => Some(CqlValue::Double(f)),
            _ => None,
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    ByKey,
    ByWindow,
    Ranked,
}

/// Quotes a CQL identifier unless it is plain lower-case.
pub fn ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The tables of every output of a plan.
pub fn tables(plan: &Plan) -> Vec<Table> {
    let mut tables = Vec::new();
    for (index, output) in plan.outputs.iter().enumerate() {
        let keys: Vec<String> = output
            .key
            .iter()
            .map(|&i| plan.fields[i].name.clone())
            .collect();
        let aggregate_types: Vec<ResultType> = output
            .aggregates
            .iter()
            .map(|a| a.function.result_type())
            .collect();
        let aggregates: Vec<(String, &'static str)> = output
            .aggregates
            .iter()
            .zip(&aggregate_types)
            .map(|(a, &result)| (a.name.clone(), result_cql(result)))
            .collect();
        let key_types = key_types(plan, output);
        let key_columns = keys.iter().cloned().zip(key_types.iter().map(|k| k.cql()));
        let time = |name: &str| (name.to_string(), "timestamp");
        let finished = ("final".to_string(), "boolean");
        if output.rank.is_some() {
            let mut columns = vec![
                ("day".to_string(), "date"),
                time("window_end"),
                ("rank".to_string(), "int"),
                time("window_start"),
            ];
            columns.extend(key_columns);
            columns.extend(aggregates);
            columns.push(finished);
            tables.push(Table {
                output: index,
                name: output.name.clone(),
                columns,
                partition_key: vec!["day".into()],
                clustering: vec![("window_end".into(), "DESC"), ("rank".into(), "ASC")],
                layout: Layout::Ranked,
                key_types: key_types.clone(),
                aggregate_types: aggregate_types.clone(),
            });
            continue;
        }
        if !keys.is_empty() && output.kind == OutputKind::Windowed {
            let mut columns: Vec<(String, &'static str)> = key_columns.clone().collect();
            columns.extend([time("window_start"), time("window_end")]);
            columns.extend(aggregates.iter().cloned());
            columns.push(finished.clone());
            tables.push(Table {
                output: index,
                name: output.name.clone(),
                columns,
                partition_key: keys.clone(),
                clustering: match output.window.kind {
                    WindowKind::Cumulative => vec![
                        ("window_start".into(), "DESC"),
                        ("window_end".into(), "DESC"),
                    ],
                    // A key's sessions never overlap: their start tells them apart.
                    WindowKind::Sliding | WindowKind::Session => {
                        vec![("window_start".into(), "DESC")]
                    }
                },
                layout: Layout::ByKey,
                key_types: key_types.clone(),
                aggregate_types: aggregate_types.clone(),
            });
        }
        let mut columns = vec![("day".to_string(), "date"), time("window_start")];
        columns.extend(key_columns);
        columns.push(time("window_end"));
        columns.extend(aggregates);
        columns.push(finished);
        let mut clustering = vec![("window_start".to_string(), "DESC")];
        match output.window.kind {
            WindowKind::Cumulative => clustering.push(("window_end".to_string(), "DESC")),
            WindowKind::Sliding | WindowKind::Session => {}
        }
        // A per-record row is identified by its time and its first field.
        let identifying = match output.kind {
            OutputKind::PerRecord => 1,
            OutputKind::Windowed => keys.len(),
        };
        clustering.extend(keys.iter().take(identifying).map(|k| (k.clone(), "ASC")));
        tables.push(Table {
            output: index,
            name: match output.kind {
                OutputKind::PerRecord => output.name.clone(),
                OutputKind::Windowed => format!("{}_by_window", output.name),
            },
            columns,
            partition_key: vec!["day".into()],
            clustering,
            layout: Layout::ByWindow,
            key_types,
            aggregate_types,
        });
    }
    tables
}

/// The partition a row lands in, in one table: rows with equal partitions can be written
/// together as one single-partition batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition<'r> {
    /// A table partitioned by the UTC day (days since 1970) of a window bound.
    Day(u64),
    /// A table partitioned by the output's key.
    Key(&'r crate::aggregate::Key),
}

impl Table {
    /// The partition `row` lands in.
    pub fn partition<'r>(&self, row: &'r ResultRow) -> Partition<'r> {
        match self.layout {
            Layout::Ranked => Partition::Day(row.window.end / 86_400_000),
            Layout::ByWindow => Partition::Day(row.window.start / 86_400_000),
            Layout::ByKey => Partition::Key(&row.key),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for this table in `keyspace`.
    pub fn create(&self, keyspace: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t)| format!("  {} {t},", ident(n)))
            .collect();
        let partition: Vec<String> = self.partition_key.iter().map(|k| ident(k)).collect();
        let clustering_columns: Vec<String> =
            self.clustering.iter().map(|(k, _)| ident(k)).collect();
        let order: Vec<String> = self
            .clustering
            .iter()
            .map(|(k, o)| format!("{} {o}", ident(k)))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n  PRIMARY KEY (({}), {})\n) WITH CLUSTERING ORDER BY ({});",
            ident(keyspace),
            ident(&self.name),
            columns.join("\n"),
            partition.join(", "),
            clustering_columns.join(", "),
            order.join(", ")
        )
    }

    /// Whether a missing value may be left unset rather than written as null (a null cell is
    /// a tombstone, and reads of a partition full of them fail). True where a row stands
    /// for one (window, key): an aggregate that has a value never loses it, so an unset
    /// cell never hides an older value. A ranked row's rank may pass to another key,
    /// whose missing values must overwrite the old key's.
    pub fn keeps_missing_unset(&self) -> bool {
        match self.layout {
            Layout::ByKey | Layout::ByWindow => true,
            Layout::Ranked => false,
        }
    }

    /// The upsert for one row. Its write timestamp is bound (`USING TIMESTAMP ?`) so that
    /// later versions of a row win however their writes are reordered by retries; `ttl`
    /// adds `AND TTL ?` after it.
    pub fn insert(&self, keyspace: &str, ttl: bool) -> String {
        let names: Vec<String> = self.columns.iter().map(|(n, _)| ident(n)).collect();
        let marks = vec!["?"; names.len()].join(", ");
        let ttl = if ttl { " AND TTL ?" } else { "" };
        format!(
            "INSERT INTO {}.{} ({}) VALUES ({marks}) USING TIMESTAMP ?{ttl}",
            ident(keyspace),
            ident(&self.name),
            names.join(", ")
        )
    }

    /// The values of one row for this table, in column order.
    pub fn values(&self, row: &ResultRow) -> Vec<Option<CqlValue>> {
        let day = |ms: u64| {
            Some(CqlValue::Date(CqlDate(
                (1u32 << 31) + (ms / 86_400_000) as u32,
            )))
        };
        let time = |ms: u64| Some(CqlValue::Timestamp(CqlTimestamp(ms as i64)));
        let keys = row
            .key
            .0
            .iter()
            .zip(&self.key_types)
            .map(|(k, kind)| kind.bind(k));
        let aggregates = row
            .values
            .iter()
            .zip(&self.aggregate_types)
            .map(|(v, &result)| bind_result(result, v));
        let finished = Some(CqlValue::Boolean(row.is_final));
        let mut values = Vec::with_capacity(self.columns.len());
        match self.layout {
            Layout::Ranked => {
                values.extend([
                    day(row.window.end),
                    time(row.window.end),
                    row.rank.map(|r| CqlValue::Int(r as i32)),
                    time(row.window.start),
                ]);
                values.extend(keys);
                values.extend(aggregates);
            }
            Layout::ByKey => {
                values.extend(keys);
                values.extend([time(row.window.start), time(row.window.end)]);
                values.extend(aggregates);
            }
            Layout::ByWindow => {
                values.extend([day(row.window.start), time(row.window.start)]);
                values.extend(keys);
                values.push(time(row.window.end));
                values.extend(aggregates);
            }
        }
        values.push(finished);
        values
    }
}

/// The CQL that creates a plan's keyspace and tables (what `tidemark schema` prints).
pub fn schema_cql(plan: &Plan, keyspace: &str, replication: u32) -> String {
    let mut cql = format!(
        "-- Tables of the `{}` dataflow, generated by `tidemark schema`.\nCREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': {replication}}};\n",
        plan.name,
        ident(keyspace)
    );
    for table in tables(plan) {
        cql.push('\n');
        cql.push_str(&table.create(keyspace));
        cql.push('\n');
    }
    cql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(ident("city_stats"), "city_stats");
        assert_eq!(ident("City"), "\"City\"");
        assert_eq!(ident("trip total"), "\"trip total\"");
    }

    #[test]
    fn dates_count_days_from_the_cql_epoch() {
        let table = Table {
            output: 0,
            name: "t".into(),
            columns: vec![],
            partition_key: vec![],
            clustering: vec![],
            layout: Layout::ByWindow,
            key_types: vec![KeyType::Text],
            aggregate_types: vec![ResultType::Integer, ResultType::Real],
        };
        let row = ResultRow {
            output: 0,
            window: crate::time::Window {
                start: 86_400_000 * 2 + 5,
                end: 86_400_000 * 3,
            },
            rank: None,
            key: crate::aggregate::Key(vec![Value::Int(7)].into()),
            values: vec![Value::Int(3), Value::Null],
            is_final: true,
        };
        let values = table.values(&row);
        assert_eq!(values[0], Some(CqlValue::Date(CqlDate((1 << 31) + 2))));
        assert_eq!(values[2], Some(CqlValue::Text("7".into())));
        assert_eq!(values[4], Some(CqlValue::BigInt(3)));
        assert_eq!(values[5], None, "a missing aggregate is null");
    }

    #[test]
    fn a_whole_number_bound_to_a_real_column_is_a_double() {
        // min, max and last of a field are Real: a whole-number value must bind as a double.
        for value in [Value::Int(100), Value::Float(100.5)] {
            let bound = bind_result(ResultType::Real, &value);
            assert!(
                matches!(bound, Some(CqlValue::Double(_))),
                "{value:?}: {bound:?}"
            );
        }
        assert_eq!(
            bind_result(ResultType::Integer, &Value::Int(3)),
            Some(CqlValue::BigInt(3))
        );
        assert_eq!(bind_result(ResultType::Real, &Value::Null), None);
    }

    #[test]
    fn rows_share_a_partition_exactly_when_their_partition_key_columns_agree() {
        let plan = crate::plan::load(std::path::Path::new("dataflows/evilnet.toml")).expect("plan");
        let day = 86_400_000;
        let rows: Vec<ResultRow> = [(0, "A"), (0, "B"), (day - 1, "A"), (day, "A"), (day, "B")]
            .into_iter()
            .flat_map(|(start, city)| {
                (0..plan.outputs.len()).map(move |output| ResultRow {
                    output: output as u16,
                    window: crate::time::Window {
                        start,
                        end: start + 300_000,
                    },
                    rank: Some(1),
                    key: crate::aggregate::Key(vec![Value::Str(city.into())].into()),
                    values: vec![Value::Int(1); 3],
                    is_final: true,
                })
            })
            .collect();
        let tables = tables(&plan);
        assert!(tables.iter().any(|t| t.layout == Layout::ByKey));
        for table in &tables {
            let key_columns: Vec<usize> = table
                .partition_key
                .iter()
                .map(|k| {
                    table
                        .columns
                        .iter()
                        .position(|(c, _)| c == k)
                        .expect("column")
                })
                .collect();
            let mine: Vec<&ResultRow> = rows
                .iter()
                .filter(|r| usize::from(r.output) == table.output)
                .collect();
            for a in &mine {
                for b in &mine {
                    let (va, vb) = (table.values(a), table.values(b));
                    let same_columns = key_columns.iter().all(|&i| va[i] == vb[i]);
                    assert_eq!(
                        table.partition(a) == table.partition(b),
                        same_columns,
                        "{}: {:?} and {:?}",
                        table.name,
                        a.window,
                        b.window
                    );
                }
            }
        }
    }
}
