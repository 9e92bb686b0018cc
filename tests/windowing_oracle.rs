//! Property test: on random out-of-order streams, with random window shapes, lateness and
//! worker counts, the engine's final rows equal a naive batch computation of the documented
//! semantics:
//!
//! - per partition, watermark = max event time seen - max_out_of_orderness; a record arrives
//!   at max(its event time, the watermark before it);
//! - a record counts in window [s, e) iff s <= t < e and it arrived before e + allowed lateness.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
mod common;

use common::oracle::{final_rows, millis, stats};

const BASE: u64 = 1_000_000_000_000;

#[derive(Clone, Debug)]
struct Case {
    size: u64,
    slide: u64,
    lateness: u64,
    ooo: u64,
    workers: usize,
    records: Vec<(u64, u8, i64, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u64..20,
        1u64..20,
        0u64..30,
        0u64..15,
        1usize..4,
        prop::collection::vec((0u64..200, 0u8..5, -50i64..50, 0u8..6), 1..120),
    )
        .prop_map(|(size, slide, lateness, ooo, workers, records)| Case {
            size: size.max(slide) * 1000,
            slide: slide.min(size) * 1000,
            lateness: lateness * 1000,
            ooo: ooo * 1000,
            workers,
            records: records
                .into_iter()
                .map(|(t, k, v, u)| (BASE + t * 500, k, v, u))
                .collect(),
        })
}

type Row = (String, u64, String, Vec<i64>);

/// The batch computation: every final row, as (output, window_start, key-or-rank, values).
fn oracle(c: &Case) -> BTreeSet<Row> {
    let mut watermark: Option<u64> = None;
    let mut cells: BTreeMap<(u64, u8), Vec<(i64, u8)>> = BTreeMap::new();
    for &(t, k, v, u) in &c.records {
        let arrival = watermark.map_or(t, |w| t.max(w));
        watermark = Some(watermark.map_or(t - c.ooo, |w| w.max(t.saturating_sub(c.ooo))));
        let mut start = t / c.slide * c.slide;
        loop {
            if start + c.size > t && arrival < start + c.size + c.lateness {
                cells.entry((start, k)).or_default().push((v, u));
            }
            if start < c.slide {
                break;
            }
            start -= c.slide;
            if start + c.size <= t {
                break;
            }
        }
    }
    let mut rows = BTreeSet::new();
    let mut per_window: BTreeMap<u64, Vec<(i64, u8)>> = BTreeMap::new();
    for ((start, k), values) in &cells {
        let count = values.len() as i64;
        rows.insert((
            "stats".to_string(),
            *start,
            format!("k{k}"),
            stats(values.iter().copied()),
        ));
        per_window.entry(*start).or_default().push((count, *k));
    }
    for (start, mut counts) in per_window {
        counts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (rank, (count, k)) in counts.iter().take(2).enumerate() {
            rows.insert((
                "top".to_string(),
                start,
                format!("{}:k{k}", rank + 1),
                vec![*count],
            ));
        }
    }
    rows
}

fn engine(c: &Case) -> BTreeSet<Row> {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let lines: Vec<String> = c
        .records
        .iter()
        .map(|(t, k, v, u)| format!(r#"{{"t": {t}, "k": "k{k}", "v": {v}, "u": "user{u}"}}"#))
        .collect();
    std::fs::write(&input, lines.join("\n")).expect("write input");
    let dataflow = format!(
        r#"
name = "random"
[source]
uri = "file:in.jsonl"
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
name = "stats"
window = {{ sliding = "{size}ms", every = "{slide}ms" }}
key = ["k"]
aggregates = [
  {{ name = "count", fn = "count" }},
  {{ name = "sum", fn = "sum", field = "v" }},
  {{ name = "users", fn = "distinct", field = "u" }},
  {{ name = "min", fn = "min", field = "v" }},
  {{ name = "max", fn = "max", field = "v" }},
]
[[output]]
name = "top"
window = {{ sliding = "{size}ms", every = "{slide}ms" }}
key = ["k"]
aggregates = [{{ name = "count", fn = "count" }}]
rank = {{ top = 2, by = "count" }}
"#,
        ooo = c.ooo,
        lateness = c.lateness,
        size = c.size,
        slide = c.slide
    );
    let mut rows = BTreeSet::new();
    for r in final_rows(dir.path(), &dataflow, c.workers) {
        let start = millis(&r, "window_start");
        let key = r["k"].as_str().expect("key").to_string();
        let int = |name: &str| r[name].as_f64().expect(name) as i64;
        let row = match r["output"].as_str().expect("output") {
            "stats" => (
                "stats".to_string(),
                start,
                key,
                vec![
                    int("count"),
                    int("sum"),
                    int("users"),
                    int("min"),
                    int("max"),
                ],
            ),
            _ => (
                "top".to_string(),
                start,
                format!("{}:{key}", r["rank"]),
                vec![int("count")],
            ),
        };
        assert!(rows.insert(row.clone()), "two final lines for {row:?}");
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn engine_matches_batch_oracle(c in case()) {
        prop_assert_eq!(engine(&c), oracle(&c));
    }
}
