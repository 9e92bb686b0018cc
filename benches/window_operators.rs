//! Per-core throughput of the window operators on pre-decoded events (one thread, no
//! timely): pre-aggregation in batches as the engine does, the merge into the window store,
//! and firing on the frontier. Also the JSON decoder on real-shaped tweets, and the JSON-lines
//! sink writing evilnet `city_stats` rows to a file.
//!
//! Run with `cargo bench --bench window_operators`.

// `criterion_group!` generates a function it cannot document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::path::Path;
use tidemark::aggregate::{PreAggregator, ResultRow, WindowStore};
use tidemark::decode::Decoder;
use tidemark::event::Event;
use tidemark::gen::{write_lines, GenKind, GenOptions};
use tidemark::plan::{self, Plan};
use tidemark::value::Value;

const EVENTS: usize = 1 << 20;
/// Partial states absorbed at once, as the engine sends them.
const PARTIALS_AT_ONCE: usize = 8192;
const BATCH: usize = 8192;

fn plan(window: &str, aggregates: &str, rank: &str) -> Plan {
    let text = format!(
        r#"
name = "bench"
[fields]
t = "t"
campaign = "campaign"
user = "user"
[time]
field = "t"
format = "epoch_millis"
max_out_of_orderness = "1s"
allowed_lateness = "0s"
[[output]]
name = "o"
window = {window}
key = ["campaign"]
aggregates = [{aggregates}]
{rank}
"#
    );
    plan::parse(Path::new("bench.toml"), &text).expect("bench plan")
}

/// Events one millisecond apart over `keys` campaigns and a million users, like the Yahoo
/// Streaming Benchmark's ad events.
fn events(keys: u64) -> Vec<Event> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..EVENTS as u64)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let campaign = format!("campaign-{:04}", state % keys);
            let user = Value::Int((state >> 20) as i64 % 1_000_000);
            let t = 1_600_000_000_000 + i;
            Event {
                time: t,
                arrival: t,
                final_at: 0, // only de-duplication reads it, and this plan has none
                fields: vec![None, Some(Value::Str(campaign.into())), Some(user)].into(),
                elements: Vec::new(),
            }
        })
        .collect()
}

/// The engine's path for one worker: pre-aggregate each batch, merge, fire on the frontier.
fn run(plan: &Plan, events: &[Event]) -> usize {
    let mut folder = PreAggregator::new(plan);
    let mut store = WindowStore::new(plan);
    let mut rows: Vec<ResultRow> = Vec::new();
    for batch in events.chunks(BATCH) {
        folder.add(batch);
        folder.drain(PARTIALS_AT_ONCE, usize::MAX, |partials| {
            for partial in partials.drain(..) {
                store.absorb(partial);
            }
        });
        let frontier = batch.last().map(|e| e.time.saturating_sub(1_000));
        store.advance(frontier, &mut rows, &mut Vec::new(), usize::MAX);
    }
    store.advance(None, &mut rows, &mut Vec::new(), usize::MAX);
    rows.len()
}

fn window_operators(c: &mut Criterion) {
    let mut group = c.benchmark_group("window_operators");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    let ysb = events(100);
    let cases = [
        (
            "windowed_count",
            plan(
                r#"{ tumbling = "10s" }"#,
                r#"{ name = "n", fn = "count" }"#,
                "",
            ),
        ),
        (
            "exact_distinct",
            plan(
                r#"{ tumbling = "10s" }"#,
                r#"{ name = "users", fn = "distinct", field = "user" }"#,
                "",
            ),
        ),
        (
            "sliding_top_k",
            plan(
                r#"{ sliding = "60s", every = "5s" }"#,
                r#"{ name = "n", fn = "count" }"#,
                r#"rank = { top = 5, by = "n" }"#,
            ),
        ),
    ];
    for (name, plan) in &cases {
        group.bench_function(*name, |b| b.iter(|| black_box(run(plan, &ysb))));
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let plan = plan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dataflows/evilnet.toml"))
        .expect("evilnet");
    let decoder = Decoder::new(&plan).expect("decoder");
    let mut bytes = Vec::new();
    let options = GenOptions {
        count: 20_000,
        seed: 3,
        disorder_s: 10,
        ..GenOptions::defaults(GenKind::Tweets)
    };
    write_lines(GenKind::Tweets, &options, &mut bytes).expect("tweets");
    let text = String::from_utf8(bytes).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("evilnet_tweets", |b| {
        b.iter_batched(
            || (),
            |_| {
                lines
                    .iter()
                    .filter(|l| decoder.decode_json(l.as_bytes(), u64::MAX / 2).is_ok())
                    .count()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn jsonl_sink(c: &mut Criterion) {
    use tidemark::aggregate::Key;
    use tidemark::sink::{FileMode, JsonlFile, RowFormat, RowSink};
    use tidemark::time::Window;
    let plan = plan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dataflows/evilnet.toml"))
        .expect("evilnet");
    let format = RowFormat::new(&plan);
    const ROWS: u64 = 100_000;
    let rows: Vec<ResultRow> = (0..ROWS)
        .map(|i| ResultRow {
            output: 0,
            window: Window {
                start: 1_664_150_400_000 + (i / 50_000) * 300_000,
                end: 1_664_150_700_000 + (i / 50_000) * 300_000,
            },
            rank: None,
            key: Key(vec![Value::Str(format!("City {}, Region", i % 50_000).into())].into()),
            values: vec![
                Value::Int((i % 97) as i64),
                Value::Int((i % 13) as i64),
                Value::Int((i % 89) as i64),
            ],
            is_final: i % 2 == 0,
        })
        .collect();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("rows.jsonl");
    let mut group = c.benchmark_group("jsonl_sink");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    // Each iteration writes into a file truncated before it: the sink's own cost and the
    // copy into the page cache, not how fast this machine's disk takes the gigabytes the
    // iterations together would write.
    group.bench_function("city_stats_rows", |b| {
        b.iter_batched(
            || {
                let sink = JsonlFile::create(&path, FileMode::Truncate).expect("a rows file");
                (rows.clone(), sink)
            },
            |(rows, sink)| {
                sink.offer(rows, std::time::Instant::now(), &format)
                    .expect("rows written");
                sink
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, window_operators, decode, jsonl_sink);
criterion_main!(benches);
