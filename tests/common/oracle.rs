//! Running a generated dataflow in process for the property tests against batch oracles.

use serde_json::Value;
use std::path::Path;
use tidemark::engine::{run, Cluster, RunOptions};

/// Writes `dataflow` (its source relative to `dir`) into `dir`, runs it with `workers`
/// workers and returns its final rows, each as its JSON object.
pub fn final_rows(dir: &Path, dataflow: &str, workers: usize) -> Vec<Value> {
    let path = dir.join("dataflow.toml");
    std::fs::write(&path, dataflow).expect("write dataflow");
    let out = dir.join("out.jsonl");
    run(RunOptions {
        dataflow: path,
        sinks: vec![format!("jsonl:{}", out.display())],
        cluster: Cluster {
            workers,
            ..Cluster::default()
        },
        ..RunOptions::default()
    })
    .expect("run");
    std::fs::read_to_string(&out)
        .expect("output")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("json"))
        .filter(|row| row["final"] == true)
        .collect()
}

/// A row's time field (`window_start`, `window_end`) in UTC milliseconds.
pub fn millis(row: &Value, field: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(row[field].as_str().expect(field))
        .expect("time")
        .timestamp_millis() as u64
}

/// What the property tests' dataflows compute over (value, user) pairs: count, sum, distinct
/// users, min and max.
pub fn stats(values: impl IntoIterator<Item = (i64, u8)>) -> Vec<i64> {
    let values: Vec<(i64, u8)> = values.into_iter().collect();
    let numbers = values.iter().map(|x| x.0);
    vec![
        values.len() as i64,
        numbers.clone().sum(),
        values
            .iter()
            .map(|x| x.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as i64,
        numbers.clone().min().expect("non-empty"),
        numbers.max().expect("non-empty"),
    ]
}
