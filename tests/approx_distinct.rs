//! `approx_distinct` end to end: the same estimates at any `-w`/`-n`, within the sketch's
//! stated error of the exact count (and exact for small counts), and stored in Cassandra as
//! the JSONL sink has them.

mod common;

use common::cassandra::{keyspace, sink, Cassandra};
use common::{final_lines, gen_tweets, read_jsonl, run_ok, run_two_processes_of};
use serde_json::Value;

const DATAFLOW: &str = "tests/data/dataflows/approx_users.toml";

/// The standard error of a HyperLogLog++ sketch of `2^precision` registers.
fn standard_error(precision: u32) -> f64 {
    1.04 / f64::from(1u32 << precision).sqrt()
}

#[test]
fn estimates_agree_at_any_worker_count_and_stay_within_their_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    // About 1.4 hours of tweets from up to 200 000 authors, in some disorder.
    gen_tweets(
        &tweets,
        &[
            "--count",
            "120000",
            "--rate",
            "25",
            "--seed",
            "8",
            "--disorder-s",
            "5",
        ],
    );
    let source = format!("file:{}", tweets.display());
    let keyspace = keyspace("approx");
    let run = |workers: &str, name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let sink_uri = format!("jsonl:{}", out.display());
        let mut args = vec![
            DATAFLOW, "--source", &source, "--sink", &sink_uri, "-w", workers,
        ];
        args.extend_from_slice(extra);
        run_ok(&args);
        final_lines(&read_jsonl(&out))
    };
    let cassandra = sink(&keyspace);
    let one = run("1", "one.jsonl", &["--sink", &cassandra]);
    let three = run("3", "three.jsonl", &[]);
    let two_processes = run_two_processes_of(DATAFLOW, &source, dir.path(), "2");
    assert!(one.len() > 100, "{} final rows", one.len());
    assert_eq!(one, three, "-w 1 and -w 3 differ");
    assert_eq!(one, two_processes, "-w 1 and -n 2 differ");

    let mut dense = 0;
    for line in &one {
        let row: Value = serde_json::from_str(line).expect("row");
        let exact = row["exact"].as_f64().expect("exact");
        for (column, precision) in [("approx", 14), ("approx_p10", 10)] {
            let Some(approx) = row[column].as_f64() else {
                continue;
            };
            let error = (approx - exact).abs();
            if exact < 1000.0 {
                // The sparse form: exact but for rare hash collisions.
                assert!(error <= 1.0 + exact * 0.005, "{column}: {line}");
            } else {
                dense += 1;
                let bound = 3.0 * standard_error(precision) * exact;
                assert!(error <= bound, "{column}: off by {error} > {bound}: {line}");
            }
        }
    }
    assert!(
        dense >= 2,
        "the dense registers were exercised {dense} times"
    );

    // Cassandra holds the estimates as bigint, as the JSONL sink has them.
    let db = Cassandra::connect();
    let stored = db.query(&format!(
        "SELECT window_start, exact, approx, approx_p10 FROM {keyspace}.hourly_users_by_window"
    ));
    let mut from_cassandra: Vec<(i64, i64, i64, i64)> = stored
        .rows::<(scylla::value::CqlTimestamp, i64, i64, i64)>()
        .expect("typed rows")
        .map(|r| {
            let (start, exact, approx, p10) = r.expect("row");
            (start.0, exact, approx, p10)
        })
        .collect();
    from_cassandra.sort();
    let mut from_jsonl: Vec<(i64, i64, i64, i64)> = one
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("row"))
        .filter(|r| r["output"] == "hourly_users")
        .map(|r| {
            let start =
                chrono::DateTime::parse_from_rfc3339(r["window_start"].as_str().expect("start"))
                    .expect("time")
                    .timestamp_millis();
            let n = |c: &str| r[c].as_i64().expect(c);
            (start, n("exact"), n("approx"), n("approx_p10"))
        })
        .collect();
    from_jsonl.sort();
    assert!(!from_jsonl.is_empty());
    assert_eq!(from_cassandra, from_jsonl);
}
