//! The JSONL form of result rows.

use crate::aggregate::ResultRow;
use crate::plan::Plan;
use crate::time::{write_rfc3339_millis, Window};
use crate::value::write_json_string;

/// Column names needed to write a plan's rows.
#[derive(Clone, Debug)]
pub struct RowFormat {
    outputs: Vec<OutputColumns>,
}

/// An output's columns, each spelled once as the JSON text that comes before its value.
#[derive(Clone, Debug)]
struct OutputColumns {
    /// `{"output":"…","window_start":"`
    head: String,
    /// `,"name":` of each key field.
    keys: Vec<String>,
    /// `,"name":` of each aggregate.
    aggregates: Vec<String>,
}

/// A window's bounds as they follow `"window_start":"` in a row:
/// `2022-09-26T03:00:00.000Z","window_end":"2022-09-26T03:05:00.000Z"`.
fn window_text(window: Window) -> String {
    let mut text = String::with_capacity(64);
    write_rfc3339_millis(window.start, &mut text);
    text.push_str("\",\"window_end\":\"");
    write_rfc3339_millis(window.end, &mut text);
    text.push('"');
    text
}

/// `,"name":`, with the name escaped as JSON.
fn member(name: &str) -> String {
    let mut text = String::from(",");
    write_json_string(name, &mut text);
    text.push(':');
    text
}

impl RowFormat {
    /// The columns of every output of the plan.
    pub fn new(plan: &Plan) -> RowFormat {
        let outputs = plan
            .outputs
            .iter()
            .map(|o| {
                let mut head = String::from("{\"output\":");
                write_json_string(&o.name, &mut head);
                head.push_str(",\"window_start\":\"");
                OutputColumns {
                    head,
                    keys: o
                        .key
                        .iter()
                        .map(|&i| member(&plan.fields[i].name))
                        .collect(),
                    aggregates: o.aggregates.iter().map(|a| member(&a.name)).collect(),
                }
            })
            .collect();
        RowFormat { outputs }
    }

    /// Appends one row as a JSON line: `output`, `window_start`, `window_end`, `rank` (ranked
    /// outputs), key fields, aggregates, `final`.
    pub fn write(&self, row: &ResultRow, out: &mut String) {
        self.write_row(row, &window_text(row.window), out);
    }

    /// Appends rows as JSON lines, as [`RowFormat::write`] does, spelling a window's bounds
    /// once for the rows of that window that come one after another.
    pub fn write_all(&self, rows: &[ResultRow], out: &mut String) {
        let mut last: Option<(Window, String)> = None;
        for row in rows {
            let text = match &last {
                Some((window, text)) if *window == row.window => text,
                _ => &last.insert((row.window, window_text(row.window))).1,
            };
            self.write_row(row, text, out);
        }
    }

    fn write_row(&self, row: &ResultRow, window: &str, out: &mut String) {
        let columns = &self.outputs[usize::from(row.output)];
        self.write_fields(row, columns, true, &row.values, window, out);
        out.push_str(if row.is_final {
            ",\"final\":true}\n"
        } else {
            ",\"final\":false}\n"
        });
    }

    /// Appends what identifies a row, as a JSON object: `output`, `window_start`,
    /// `window_end`, and `rank` or the key fields. Every version of one row has the same.
    pub fn write_identity(&self, row: &ResultRow, out: &mut String) {
        let columns = &self.outputs[usize::from(row.output)];
        // A ranked row is its rank; which key holds it changes.
        let window = window_text(row.window);
        self.write_fields(row, columns, row.rank.is_none(), &[], &window, out);
        out.push('}');
    }

    /// Output, window (its [`window_text`]), rank, key fields (if `keys`) and the given
    /// aggregate values, without the closing brace.
    fn write_fields(
        &self,
        row: &ResultRow,
        columns: &OutputColumns,
        keys: bool,
        values: &[crate::value::Value],
        window: &str,
        out: &mut String,
    ) {
        out.push_str(&columns.head);
        out.push_str(window);
        if let Some(rank) = row.rank {
            out.push_str(",\"rank\":");
            out.push_str(itoa::Buffer::new().format(rank));
        }
        let key_count = if keys { columns.keys.len() } else { 0 };
        let named = columns
            .keys
            .iter()
            .zip(row.key.0.iter())
            .take(key_count)
            .chain(columns.aggregates.iter().zip(values));
        for (member, value) in named {
            out.push_str(member);
            value.write_json(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Key;
    use crate::value::Value;

    #[test]
    fn rows_written_together_are_the_rows_written_one_by_one() {
        let plan = crate::plan::parse(
            std::path::Path::new("rows.toml"),
            r#"
name = "rows"
[fields]
t = "t"
"the \"city\"" = "city"
[time]
field = "t"
format = "epoch_millis"
max_out_of_orderness = "0s"
allowed_lateness = "0s"
[[output]]
name = "per city"
window = { tumbling = "5m" }
key = ["the \"city\""]
aggregates = [{ name = "n", fn = "count" }]
"#,
        )
        .expect("a plan");
        let format = RowFormat::new(&plan);
        let row = |start: u64, city: &str, n: i64| ResultRow {
            output: 0,
            window: Window {
                start,
                end: start + 300_000,
            },
            rank: None,
            key: Key(vec![Value::Str(city.into())].into()),
            values: vec![Value::Int(n)],
            is_final: n % 2 == 0,
        };
        let rows = [
            row(0, "a", 1),
            row(0, "b", 2),
            row(300_000, "a", 3),
            row(0, "c", 4),
        ];
        let mut together = String::new();
        format.write_all(&rows, &mut together);
        let mut one_by_one = String::new();
        rows.iter().for_each(|r| format.write(r, &mut one_by_one));
        assert_eq!(together, one_by_one);
        let first: serde_json::Value =
            serde_json::from_str(together.lines().next().expect("a line")).expect("JSON");
        assert_eq!(
            first,
            serde_json::json!({"output": "per city", "window_start": "1970-01-01T00:00:00.000Z",
                "window_end": "1970-01-01T00:05:00.000Z", "the \"city\"": "a", "n": 1,
                "final": false})
        );
    }
}
