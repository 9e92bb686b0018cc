//! Property test: a file read in pieces by several workers gives exactly the final rows, dead
//! letters and late records of the same file read whole by one worker. The files mix
//! disorder, records far ahead and far behind, duplicate ids with different times, filtered
//! records, blank lines and lines that are not JSON; pieces are a few lines each. With
//! de-duplication (which keeps the first copy of an id to reach it, so a file's copies must
//! meet it in file order) the same must hold too: such a file is read whole.

use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;
use tidemark::engine::{run, Cluster, RunOptions};

const BASE: i64 = 1_000_000_000_000;

#[derive(Clone, Debug)]
struct Case {
    ooo: u64,
    lateness: u64,
    workers: usize,
    piece_bytes: u64,
    dedup: bool,
    /// (kind, time offset, key, id, value)
    lines: Vec<(u8, i64, u8, u16, i64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0u64..3_000,
        0u64..4_000,
        2usize..5,
        1u64..600,
        prop::bool::weighted(0.5),
        prop::collection::vec(
            (0u8..16, -4_000i64..4_000, 0u8..6, 0u16..300, -20i64..20),
            1..700,
        ),
    )
        .prop_map(|(ooo, lateness, workers, piece_bytes, dedup, lines)| Case {
            ooo,
            lateness,
            workers,
            piece_bytes,
            dedup,
            lines,
        })
}

/// The input file's text.
fn text(c: &Case) -> String {
    let mut out = String::new();
    for (i, &(kind, dt, k, id, v)) in c.lines.iter().enumerate() {
        let t = BASE + i as i64 * 100 + dt;
        let line = match kind {
            0..=9 => format!(r#"{{"id": {id}, "t": {t}, "k": "k{k}", "v": {v}, "keep": true}}"#),
            // Far ahead: the watermark jumps, and much after it is late.
            10 => format!(
                r#"{{"id": {id}, "t": {}, "k": "k{k}", "v": {v}, "keep": true}}"#,
                t + 60_000
            ),
            // Far behind: late for every window.
            11 => format!(
                r#"{{"id": {id}, "t": {}, "k": "k{k}", "v": {v}, "keep": true}}"#,
                t - 60_000
            ),
            12 => format!(r#"{{"id": {id}, "t": {t}, "k": "k{k}", "v": {v}, "keep": false}}"#),
            13 => format!(r#"{{"id": {id}, "t": "then", "k": "k{k}"}}"#),
            14 => format!(r#"{{"id": {id}, "t": {t}, "#),
            _ => "   ".to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn dataflow(c: &Case) -> String {
    format!(
        r#"
name = "pieces"
[source]
uri = "file:in.jsonl"
[fields]
id = "id"
t = "t"
k = "k"
v = "v"
keep = "keep"
[time]
field = "t"
format = "epoch_millis"
max_out_of_orderness = "{ooo}ms"
allowed_lateness = "{lateness}ms"
{dedup}
[[filter]]
field = "keep"
equals = true
[[output]]
name = "stats"
window = {{ sliding = "3s", every = "1s" }}
key = ["k"]
aggregates = [
  {{ name = "count", fn = "count" }},
  {{ name = "sum", fn = "sum", field = "v" }},
  {{ name = "ids", fn = "distinct", field = "id" }},
]
[[output]]
name = "top"
window = {{ tumbling = "2s" }}
key = ["k"]
aggregates = [{{ name = "sum", fn = "sum", field = "v" }}]
rank = {{ top = 2, by = "sum" }}
[[output]]
name = "sessions"
window = {{ session = "700ms" }}
key = ["k"]
aggregates = [{{ name = "count", fn = "count" }}]
"#,
        ooo = c.ooo,
        lateness = c.lateness,
        dedup = if c.dedup {
            "[dedup]\nfield = \"id\""
        } else {
            ""
        },
    )
}

/// A JSON-lines file's lines, sorted (without each line's order of arrival).
fn sorted_lines(path: &Path, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| keep(&serde_json::from_str::<Value>(line).expect("json")))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Final rows, dead letters and late records of a run over `c` (written into `dir`) with
/// `workers` workers.
fn outcome(c: &Case, dir: &Path, workers: usize) -> [Vec<String>; 3] {
    let path = dir.join("dataflow.toml");
    let file = |name: &str| dir.join(format!("{workers}-{name}"));
    let uri = |name: &str| format!("jsonl:{}", file(name).display());
    run(RunOptions {
        dataflow: path,
        sinks: vec![uri("rows.jsonl")],
        dead_letter: Some(uri("dead.jsonl")),
        late: Some(uri("late.jsonl")),
        cluster: Cluster {
            workers,
            ..Cluster::default()
        },
        piece_bytes: Some(c.piece_bytes),
        ..RunOptions::default()
    })
    .expect("run");
    [
        sorted_lines(&file("rows.jsonl"), |row| row["final"] == true),
        sorted_lines(&file("dead.jsonl"), |_| true),
        sorted_lines(&file("late.jsonl"), |_| true),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn pieces_never_change_a_final_row(c in case()) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("in.jsonl"), text(&c)).expect("write input");
        std::fs::write(dir.path().join("dataflow.toml"), dataflow(&c)).expect("write dataflow");
        // One worker reads the file whole, in order: the reference.
        let whole = outcome(&c, dir.path(), 1);
        let pieces = outcome(&c, dir.path(), c.workers);
        prop_assert_eq!(&pieces[0], &whole[0], "final rows");
        prop_assert_eq!(&pieces[1], &whole[1], "dead letters");
        prop_assert_eq!(&pieces[2], &whole[2], "late records");
    }
}
