//! The JSONL form of result rows.

use crate::aggregate::ResultRow;
use crate::plan::Plan;
use crate::time::write_rfc3339_millis;
use crate::value::write_json_string;

/// Column names needed to write a plan's rows.
#[derive(Clone, Debug)]
pub struct RowFormat {
    outputs: Vec<OutputColumns>,
}

#[derive(Clone, Debug)]
struct OutputColumns {
    name: String,
    keys: Vec<String>,
    aggregates: Vec<String>,
}

impl RowFormat {
    /// The columns of every output of the plan.
    pub fn new(plan: &Plan) -> RowFormat {
        let outputs = plan
            .outputs
            .iter()
            .map(|o| OutputColumns {
                name: o.name.clone(),
                keys: o.key.iter().map(|&i| plan.fields[i].name.clone()).collect(),
                aggregates: o.aggregates.iter().map(|a| a.name.clone()).collect(),
            })
            .collect();
        RowFormat { outputs }
    }

    /// Appends one row as a JSON line: `output`, `window_start`, `window_end`, `rank` (ranked
    /// outputs), key fields, aggregates, `final`.
    pub fn write(&self, row: &ResultRow, out: &mut String) {
        let columns = &self.outputs[usize::from(row.output)];
        self.write_fields(row, columns, true, &row.values, out);
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
        self.write_fields(row, columns, row.rank.is_none(), &[], out);
        out.push('}');
    }

    /// Output, window, rank, key fields (if `keys`) and the given aggregate values, without
    /// the closing brace.
    fn write_fields(
        &self,
        row: &ResultRow,
        columns: &OutputColumns,
        keys: bool,
        values: &[crate::value::Value],
        out: &mut String,
    ) {
        out.push_str("{\"output\":");
        write_json_string(&columns.name, out);
        out.push_str(",\"window_start\":\"");
        write_rfc3339_millis(row.window.start, out);
        out.push_str("\",\"window_end\":\"");
        write_rfc3339_millis(row.window.end, out);
        out.push('"');
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
        for (name, value) in named {
            out.push(',');
            write_json_string(name, out);
            out.push(':');
            value.write_json(out);
        }
    }
}
