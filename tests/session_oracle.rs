//! Property test: session windows on random out-of-order streams, with random gaps, lateness,
//! partitions and worker counts, equal a naive batch computation of the documented semantics:
//!
//! - per partition (one file each), watermark = max event time seen - max_out_of_orderness;
//!   a record arrives at max(its event time, the watermark before it);
//! - a record is late, and left out, when it arrives more than the allowed lateness after its
//!   event time;
//! - per key, the other records sorted by time form sessions: a record less than `gap` after
//!   the one before it is in the same session; a session is [first, last + gap).

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
mod common;

use common::oracle::{final_rows, millis, stats};

const BASE: u64 = 1_000_000_000_000;

#[derive(Clone, Debug)]
struct Case {
    gap: u64,
    lateness: u64,
    ooo: u64,
    workers: usize,
    partitions: usize,
    records: Vec<(u64, u8, i64, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u64..12,
        0u64..20,
        0u64..15,
        1usize..4,
        1usize..4,
        prop::collection::vec((0u64..300, 0u8..4, -50i64..50, 0u8..6), 1..150),
    )
        .prop_map(|(gap, lateness, ooo, workers, partitions, records)| Case {
            gap: gap * 1000,
            lateness: lateness * 1000,
            ooo: ooo * 1000,
            workers,
            partitions,
            records: records
                .into_iter()
                .map(|(t, k, v, u)| (BASE + t * 250, k, v, u))
                .collect(),
        })
}

/// (start, end, key, [count, sum, distinct users, min, max]).
type Row = (u64, u64, String, Vec<i64>);

/// The records of partition `p`: every `partitions`-th one, in order.
fn partition(c: &Case, p: usize) -> impl Iterator<Item = &(u64, u8, i64, u8)> {
    c.records.iter().skip(p).step_by(c.partitions)
}

/// The batch computation: every final session row.
fn oracle(c: &Case) -> BTreeSet<Row> {
    let mut per_key: BTreeMap<u8, Vec<(u64, i64, u8)>> = BTreeMap::new();
    for p in 0..c.partitions {
        let mut watermark: Option<u64> = None;
        for &(t, k, v, u) in partition(c, p) {
            let arrival = watermark.map_or(t, |w| t.max(w));
            watermark = Some(watermark.map_or(t - c.ooo, |w| w.max(t.saturating_sub(c.ooo))));
            if arrival <= t + c.lateness {
                per_key.entry(k).or_default().push((t, v, u));
            }
        }
    }
    let mut rows = BTreeSet::new();
    for (k, mut records) in per_key {
        records.sort();
        let mut sessions: Vec<Vec<(u64, i64, u8)>> = Vec::new();
        for record in records {
            match sessions.last_mut() {
                Some(session) if record.0 - session.last().expect("non-empty").0 < c.gap => {
                    session.push(record)
                }
                _ => sessions.push(vec![record]),
            }
        }
        for session in sessions {
            let first = session[0].0;
            let last = session.last().expect("non-empty").0;
            rows.insert((
                first,
                last + c.gap,
                format!("k{k}"),
                stats(session.iter().map(|r| (r.1, r.2))),
            ));
        }
    }
    rows
}

fn engine(c: &Case) -> BTreeSet<Row> {
    let dir = tempfile::tempdir().expect("tempdir");
    for p in 0..c.partitions {
        let lines: Vec<String> = partition(c, p)
            .map(|(t, k, v, u)| format!(r#"{{"t": {t}, "k": "k{k}", "v": {v}, "u": "user{u}"}}"#))
            .collect();
        std::fs::write(dir.path().join(format!("in{p}.jsonl")), lines.join("\n"))
            .expect("write input");
    }
    let dataflow = format!(
        r#"
name = "random_sessions"
[source]
uri = "file:in*.jsonl"
[fields]
t = "t"
k = "k"
v = "v"
u = "u"
[time]
field = "t"
format = "epoch_millis"
max_out_of_orderness = "{ooo}ms"
allowed_lateness = "{lateness}ms"
[[output]]
name = "sessions"
window = {{ session = "{gap}ms" }}
key = ["k"]
aggregates = [
  {{ name = "count", fn = "count" }},
  {{ name = "sum", fn = "sum", field = "v" }},
  {{ name = "users", fn = "distinct", field = "u" }},
  {{ name = "min", fn = "min", field = "v" }},
  {{ name = "max", fn = "max", field = "v" }},
]
"#,
        ooo = c.ooo,
        lateness = c.lateness,
        gap = c.gap,
    );
    let mut rows = BTreeSet::new();
    for r in final_rows(dir.path(), &dataflow, c.workers) {
        let int = |name: &str| r[name].as_f64().expect(name) as i64;
        let row = (
            millis(&r, "window_start"),
            millis(&r, "window_end"),
            r["k"].as_str().expect("key").to_string(),
            vec![
                int("count"),
                int("sum"),
                int("users"),
                int("min"),
                int("max"),
            ],
        );
        assert!(rows.insert(row.clone()), "two final lines for {row:?}");
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn sessions_match_batch_oracle(c in case()) {
        prop_assert_eq!(engine(&c), oracle(&c));
    }
}
