//! What a dashboard can ask of a dataflow: its outputs, their windows, keys and aggregates,
//! and the one form rows take in every answer, whichever backend gives them.
//!
//! Rows are given as the Cassandra tables hold them (keys as their column type, counts as
//! whole numbers, every other aggregate as a double), so the live store and Cassandra give
//! byte-identical answers.

use super::request::RequestError;
use crate::aggregate::{Key, ResultRow};
use crate::plan::{
    AggregateFunction, Derivation, FieldSource, OutputPlan, Plan, RankPlan, ResultType, WindowPlan,
};
use crate::plan::{OutputKind, WindowKind};
use crate::sink::{key_types, stored_result, KeyType, RowFormat};
use crate::time::Window;
use serde_json::json;

/// How an output's rows are identified and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One row per window and key.
    Keyed,
    /// One row per window (no key fields).
    Totals,
    /// The first k keys of each window, one row per rank.
    Ranked,
    /// One row per kept record.
    Records,
}

/// One output as dashboards see it.
#[derive(Clone, Debug)]
pub struct OutputInfo {
    /// The output's name.
    pub name: String,
    /// How its rows are identified.
    pub shape: Shape,
    /// Key field names, in key order.
    pub keys: Vec<String>,
    key_types: Vec<KeyType>,
    /// Aggregate names and functions, in output order.
    pub aggregates: Vec<(String, AggregateFunction)>,
    result_types: Vec<ResultType>,
    window: WindowPlan,
    rank: Option<RankPlan>,
    /// The one key field is a grid cell named by its centre (`"lat,lon"`): the page maps it.
    pub geo: bool,
}

impl OutputInfo {
    fn new(plan: &Plan, output: &OutputPlan) -> OutputInfo {
        let shape = match (&output.rank, output.kind, output.key.is_empty()) {
            (Some(_), _, _) => Shape::Ranked,
            (None, OutputKind::PerRecord, _) => Shape::Records,
            (None, OutputKind::Windowed, true) => Shape::Totals,
            (None, OutputKind::Windowed, false) => Shape::Keyed,
        };
        OutputInfo {
            name: output.name.clone(),
            shape,
            keys: output
                .key
                .iter()
                .map(|&i| plan.fields[i].name.clone())
                .collect(),
            key_types: key_types(plan, output),
            aggregates: output
                .aggregates
                .iter()
                .map(|a| (a.name.clone(), a.function))
                .collect(),
            result_types: output
                .aggregates
                .iter()
                .map(|a| a.function.result_type())
                .collect(),
            window: output.window.clone(),
            rank: output.rank.clone(),
            geo: matches!(
                output.key.as_slice(),
                [field] if matches!(
                    plan.fields[*field].source,
                    FieldSource::Derived(Derivation::GridCell { .. })
                )
            ),
        }
    }

    /// The time a row is filed under: the window's end for rankings ("the top 5 of the hour
    /// ending at T"), its start for everything else. Ranges and "latest" are over this time.
    pub fn time_column(&self) -> &'static str {
        match self.shape {
            Shape::Ranked => "window_end",
            Shape::Keyed | Shape::Totals | Shape::Records => "window_start",
        }
    }

    /// A window's place in time order: (filing time, other bound).
    pub fn order(&self, window: Window) -> (u64, u64) {
        match self.shape {
            Shape::Ranked => (window.end, window.start),
            Shape::Keyed | Shape::Totals | Shape::Records => (window.start, window.end),
        }
    }

    /// The row as dashboards get it (see the module comment).
    pub fn stored(&self, row: &ResultRow) -> ResultRow {
        let key = row
            .key
            .0
            .iter()
            .zip(&self.key_types)
            .map(|(value, kind)| kind.stored(value))
            .collect();
        let values = row
            .values
            .iter()
            .zip(&self.result_types)
            .map(|(value, &result)| stored_result(result, value))
            .collect();
        ResultRow {
            output: row.output,
            window: row.window,
            rank: row.rank,
            key: Key(key),
            values,
            is_final: row.is_final,
        }
    }

    /// How each key field is stored.
    pub fn key_types(&self) -> &[KeyType] {
        &self.key_types
    }

    /// Each aggregate's result type.
    pub fn result_types(&self) -> &[ResultType] {
        &self.result_types
    }

    fn describe(&self) -> serde_json::Value {
        let window = match self.window.kind {
            _ if self.shape == Shape::Records => json!({ "kind": "record" }),
            WindowKind::Cumulative => {
                json!({ "kind": "cumulative", "cycle_ms": self.window.size_ms, "every_ms": self.window.slide_ms })
            }
            WindowKind::Session => json!({ "kind": "session", "gap_ms": self.window.size_ms }),
            WindowKind::Sliding if self.window.size_ms == self.window.slide_ms => {
                json!({ "kind": "tumbling", "size_ms": self.window.size_ms })
            }
            WindowKind::Sliding => {
                json!({ "kind": "sliding", "size_ms": self.window.size_ms, "every_ms": self.window.slide_ms })
            }
        };
        let aggregates: Vec<serde_json::Value> = self
            .aggregates
            .iter()
            .zip(&self.result_types)
            .map(|((name, function), result)| {
                json!({
                    "name": name,
                    "fn": format!("{function:?}").to_lowercase(),
                    "type": match result {
                        ResultType::Integer => "integer",
                        ResultType::Real => "real",
                    },
                })
            })
            .collect();
        let rank = self.rank.as_ref().map(|rank| {
            json!({
                "order": if rank.descending { "top" } else { "bottom" },
                "k": rank.k,
                "by": self.aggregates[rank.by].0,
            })
        });
        json!({
            "name": self.name,
            "shape": match self.shape {
                Shape::Keyed => "keyed",
                Shape::Totals => "totals",
                Shape::Ranked => "ranked",
                Shape::Records => "records",
            },
            "time": self.time_column(),
            "window": window,
            "keys": self.keys,
            "aggregates": aggregates,
            "rank": rank,
            "geo": self.geo,
        })
    }
}

/// Every output of one dataflow.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The dataflow's name.
    pub dataflow: String,
    /// The outputs, in plan order (a row's `output` indexes this).
    pub outputs: Vec<OutputInfo>,
    format: RowFormat,
}

impl Catalog {
    /// The catalog of a plan.
    pub fn new(plan: &Plan) -> Catalog {
        Catalog {
            dataflow: plan.name.clone(),
            outputs: plan
                .outputs
                .iter()
                .map(|o| OutputInfo::new(plan, o))
                .collect(),
            format: RowFormat::new(plan),
        }
    }

    /// The output called `name`, with its index.
    pub fn output(&self, name: &str) -> Result<(usize, &OutputInfo), RequestError> {
        self.outputs
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == name)
            .ok_or_else(|| RequestError::UnknownOutput {
                name: name.to_string(),
                known: self.names(),
            })
    }

    /// The names of every output.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
        names.join(", ")
    }

    /// Appends `row` as one JSON object (no newline), in the JSONL sink's form.
    pub fn write_row(&self, row: &ResultRow, out: &mut String) {
        self.format.write(row, out);
        if out.ends_with('\n') {
            out.pop();
        }
    }

    /// Appends `rows` as a JSON array.
    pub fn write_rows(&self, rows: &[ResultRow], out: &mut String) {
        out.push('[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write_row(row, out);
        }
        out.push(']');
    }

    /// The description `GET /api/outputs` answers with.
    pub fn describe(&self) -> serde_json::Value {
        json!({
            "dataflow": self.dataflow,
            "outputs": self.outputs.iter().map(OutputInfo::describe).collect::<Vec<_>>(),
        })
    }
}

/// A catalog of two outputs for unit tests: `by_city` (keyed by `city`) and `totals`, both
/// counting in 5-minute windows.
#[cfg(test)]
pub fn test_catalog() -> Catalog {
    let plan = crate::plan::parse(
        std::path::Path::new("t.toml"),
        r#"
name = "t"
[fields]
city = "c"
ts = "t"
[time]
field = "ts"
format = "rfc3339"
max_out_of_orderness = "0s"
allowed_lateness = "0s"
[[output]]
name = "by_city"
window = { tumbling = "5m" }
key = ["city"]
aggregates = [{ name = "n", fn = "count" }]
[[output]]
name = "totals"
window = { tumbling = "5m" }
aggregates = [{ name = "n", fn = "count" }]
"#,
    )
    .expect("plan");
    Catalog::new(&plan)
}
