//! What the window store holds per open cell and per distinct value, at high key
//! cardinality: tweets per city from 50 000 cities, nearly every tweet by a new author, the
//! evilnet outputs (a 5-minute tumbling count and distinct authors; a sliding hour every 5
//! minutes, ranked). Events are folded and merged as one worker does, and the store's own
//! account (`WindowStore::state`) is read once an hour of event time is in, every window
//! still open (allowed lateness 1 hour).
//!
//! Run with `cargo bench --bench state_size`. Prints, per output, the open windows, the
//! (window, key) cells they show, the cells held, distinct values held, the bytes in all, the
//! bytes per (window, key) cell (key, table slot, accumulators: all but the distinct values)
//! and the bytes per distinct value (the sets' lists and tables).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use tidemark::aggregate::{PreAggregator, StateSize, WindowStore};
use tidemark::event::Event;
use tidemark::plan::{self, Plan};
use tidemark::value::Value;

const CITIES: u64 = 50_000;
/// One hour at 1 000 tweets a second.
const EVENTS: u64 = 3_600_000;
const BATCH: usize = 8192;
/// Partial states absorbed at once, as the engine sends them.
const PARTIALS_AT_ONCE: usize = 8192;

fn plan(output: &str) -> Plan {
    let text = format!(
        r#"
name = "state"
[fields]
t = "t"
city = "city"
author = "author"
[time]
field = "t"
format = "epoch_millis"
max_out_of_orderness = "10s"
allowed_lateness = "1h"
[[output]]
name = "o"
key = ["city"]
{output}
"#
    );
    plan::parse(Path::new("state.toml"), &text).expect("state plan")
}

/// Tweets in the plan's field order.
fn events(plan: &Plan) -> impl Iterator<Item = Event> {
    let at = |name: &str| {
        plan.fields
            .iter()
            .position(|f| f.name == name)
            .expect("a field of the plan")
    };
    let (city_at, author_at) = (at("city"), at("author"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..EVENTS).map(move |i| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let city = format!("City {}, Region", state % CITIES);
        // Author ids as the API writes them: decimal text.
        let author = ((state >> 16) % 1_000_000_000_000).to_string();
        let t = 1_700_000_000_000 + i;
        Event {
            time: t,
            arrival: t,
            final_at: 0,
            fields: (0..3)
                .map(|i| match i {
                    _ if i == city_at => Some(Value::Str(city.as_str().into())),
                    _ if i == author_at => Some(Value::Str(author.as_str().into())),
                    _ => None,
                })
                .collect(),
            elements: Vec::new(),
        }
    })
}

/// The store's account after an hour, and the (window, key) cells its open windows show.
fn measure(plan: &Plan) -> (StateSize, u64) {
    let assigner = tidemark::time::WindowAssigner::new(&plan.outputs[0].window, 3_600_000);
    let mut folder = PreAggregator::new(plan);
    let mut store = WindowStore::new(plan);
    let mut rows = Vec::new();
    let mut shown: BTreeMap<(u64, u64), HashSet<String>> = BTreeMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut all = events(plan).peekable();
    let city_at = plan
        .fields
        .iter()
        .position(|f| f.name == "city")
        .expect("city");
    while all.peek().is_some() {
        batch.clear();
        batch.extend(all.by_ref().take(BATCH));
        folder.add(&batch);
        for event in &batch {
            let Some(Value::Str(city)) = &event.fields[city_at] else {
                unreachable!("generated with a city")
            };
            assigner.for_each_window(event.time, |w| {
                shown
                    .entry((w.start, w.end))
                    .or_default()
                    .insert(city.to_string());
            });
        }
        folder.drain(PARTIALS_AT_ONCE, usize::MAX, |partials| {
            for partial in partials.drain(..) {
                store.absorb(partial);
            }
        });
        let frontier = batch.last().map(|e| e.time - 10_000);
        store.advance(frontier, &mut rows, &mut Vec::new(), usize::MAX);
        rows.clear();
    }
    let cells = shown.values().map(|keys| keys.len() as u64).sum();
    (store.state(), cells)
}

fn main() {
    let outputs = [
        (
            "tumbling 5m: count, distinct authors",
            r#"window = { tumbling = "5m" }
aggregates = [{ name = "tweets", fn = "count" }, { name = "users", fn = "distinct", field = "author" }]"#,
        ),
        (
            "sliding 1h every 5m: count, top 5",
            r#"window = { sliding = "1h", every = "5m" }
aggregates = [{ name = "tweets", fn = "count" }]
rank = { top = 5, by = "tweets" }"#,
        ),
    ];
    println!("{CITIES} cities, {EVENTS} tweets (one hour), every window open:");
    for (name, output) in outputs {
        let (state, shown) = measure(&plan(output));
        let per_value = if state.distinct_values > 0 {
            format!(
                "{:.1} B",
                state.distinct_bytes as f64 / state.distinct_values as f64
            )
        } else {
            "-".into()
        };
        println!(
            "{name}: {} windows, {shown} (window, key) cells shown from {} held, \
             {} distinct values, {:.1} MiB in all: {:.1} B per (window, key) cell besides the \
             distinct values, {per_value} per distinct value",
            state.windows,
            state.cells,
            state.distinct_values,
            state.bytes as f64 / (1 << 20) as f64,
            (state.bytes - state.distinct_bytes) as f64 / shown as f64,
        );
    }
}
