//! Every bundled dataflow written into a real Apache Cassandra 5 node (`scripts/services.sh
//! up`, or `TIDEMARK_CASSANDRA=host:port`) stores exactly the final rows its JSONL sink
//! writes, in every table of every output, also when numeric fields hold whole numbers
//! (an integer `min`, `max` or `last` goes into its `double` column).

mod common;

use common::cassandra::{keyspace, Cassandra};
use common::{read_jsonl, root, run_ok};
use scylla::value::{CqlValue, Row};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// A stored or written value in one comparable spelling.
fn from_cql(value: &Option<CqlValue>) -> String {
    match value {
        None => "null".into(),
        Some(CqlValue::Text(s)) => s.clone(),
        Some(CqlValue::BigInt(i)) => i.to_string(),
        Some(CqlValue::Int(i)) => i.to_string(),
        Some(CqlValue::Double(f)) => format!("{f:?}"),
        Some(CqlValue::Boolean(b)) => b.to_string(),
        Some(CqlValue::Timestamp(t)) => chrono::DateTime::from_timestamp_millis(t.0)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
        Some(other) => panic!("unexpected column value {other:?}"),
    }
}

/// A JSONL value as its column of CQL type `kind` stores it.
fn from_json(value: &Value, kind: &str) -> String {
    match (value, kind) {
        (Value::Null, _) => "null".into(),
        (Value::String(s), _) => s.clone(),
        (Value::Number(n), "double") => format!("{:?}", n.as_f64().expect("number")),
        (Value::Number(n), _) => n.to_string(),
        (Value::Bool(b), _) => b.to_string(),
        (other, _) => other.to_string(),
    }
}

/// Reads of any keyspace's tables.
trait AnyTables {
    fn tables(&self, keyspace: &str) -> Vec<(String, Vec<(String, String)>)>;
    fn rows(&self, keyspace: &str, table: &str, columns: &[(String, String)]) -> BTreeSet<String>;
}

impl AnyTables for Cassandra {
    /// Column names and CQL types of every table of a keyspace.
    fn tables(&self, keyspace: &str) -> Vec<(String, Vec<(String, String)>)> {
        let cql = format!(
            "SELECT table_name, column_name, type FROM system_schema.columns WHERE keyspace_name = '{keyspace}'"
        );
        let mut tables: std::collections::BTreeMap<String, Vec<(String, String)>> =
            Default::default();
        for row in self
            .query(&cql)
            .rows::<(String, String, String)>()
            .expect("typed")
        {
            let (table, column, kind) = row.expect("row");
            tables.entry(table).or_default().push((column, kind));
        }
        tables.into_iter().collect()
    }

    /// Every row of a table, as `column=value` lines (the `day` partition column left out:
    /// it is derived from a window bound).
    fn rows(&self, keyspace: &str, table: &str, columns: &[(String, String)]) -> BTreeSet<String> {
        let names: Vec<&str> = columns
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| *c != "day")
            .collect();
        let cql = format!(
            "SELECT {} FROM {keyspace}.{table}",
            names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.query(&cql)
            .rows::<Row>()
            .expect("rows")
            .map(|row| {
                let row = row.expect("row");
                names
                    .iter()
                    .zip(&row.columns)
                    .map(|(n, v)| format!("{n}={}", from_cql(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

/// Runs a dataflow into Cassandra and JSONL at once, and checks every table holds exactly
/// the JSONL final rows of its output.
fn check(dataflow: &str, source: Option<&Path>) {
    let ks = keyspace("every");
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("rows.jsonl");
    let sinks = [
        common::cassandra::sink(&ks),
        format!("jsonl:{}", jsonl.display()),
    ];
    let mut args = vec![dataflow, "--sink", &sinks[0], "--sink", &sinks[1]];
    let source = source.map(|s| format!("file:{}", s.display()));
    if let Some(uri) = &source {
        args.extend(["--source", uri]);
    }
    run_ok(&args);
    let finals: Vec<Value> = read_jsonl(&jsonl)
        .into_iter()
        .filter(|r| r["final"] == true)
        .collect();
    assert!(!finals.is_empty(), "{dataflow}: no final rows");
    let db = Cassandra::connect();
    let tables = db.tables(&ks);
    assert!(!tables.is_empty(), "{dataflow}: no tables");
    for (table, columns) in &tables {
        let stored = db.rows(&ks, table, columns);
        let output = table.strip_suffix("_by_window").unwrap_or(table);
        let want: BTreeSet<String> = finals
            .iter()
            .filter(|r| r["output"] == output)
            .map(|r| {
                columns
                    .iter()
                    .filter(|(c, _)| c != "day")
                    .map(|(c, kind)| format!("{c}={}", from_json(&r[c.as_str()], kind)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert!(!want.is_empty(), "{dataflow}: {table}: no rows to compare");
        assert_eq!(stored, want, "{dataflow}: table {table}");
    }
}

#[test]
fn every_bundled_dataflow_stores_its_final_rows() {
    for dataflow in [
        "dataflows/evilnet.toml",
        "dataflows/hashtags.toml",
        "dataflows/sentiment.toml",
        "dataflows/sessions.toml",
        "dataflows/stocks.toml",
        "dataflows/taxi.toml",
    ] {
        check(dataflow, None);
    }
    // The live taxi dataflow reads Kafka by default; the bundled trips serve here.
    check(
        "dataflows/taxi_live.toml",
        Some(&root().join("data/chicago_taxi/tfx_simple_data.csv")),
    );
}

#[test]
fn whole_number_prices_reach_their_double_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = std::fs::read_to_string(root().join("data/stocks/ticks.jsonl")).expect("ticks");
    // Every other tick's price becomes a whole number, some as `100`, some as `100.0`.
    let mut whole = String::new();
    for (i, line) in ticks.lines().enumerate() {
        let mut tick: serde_json::Map<String, Value> = serde_json::from_str(line).expect("tick");
        let price = tick["price"].as_f64().expect("price").round();
        match i % 4 {
            0 => tick.insert("price".into(), Value::from(price as i64)),
            2 => tick.insert("price".into(), Value::from(price)),
            _ => None,
        };
        whole.push_str(&Value::Object(tick).to_string());
        whole.push('\n');
    }
    let input = dir.path().join("whole.jsonl");
    std::fs::write(&input, whole).expect("write");
    check("dataflows/stocks.toml", Some(&input));
}
