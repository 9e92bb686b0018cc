//! The sink operator: formats result rows and appends them to every sink of the process.

use super::Shared;
use crate::aggregate::ResultRow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Operator;
use timely::dataflow::Stream;

/// Writes rows as JSON lines to the process's sinks.
pub fn write_rows(rows: Stream<'_, u64, Vec<ResultRow>>, shared: Arc<Shared>) {
    let mut text = String::new();
    rows.sink(Pipeline, "WriteRows", move |(input, _)| {
        let mut count = 0;
        input.for_each(|_, batch| {
            for row in batch.iter() {
                shared.rows.write(row, &mut text);
            }
            count += batch.len() as u64;
        });
        if text.is_empty() {
            return;
        }
        // Rows are flushed as they fire, so an unbounded run's results reach readers promptly.
        for sink in &shared.sinks {
            if let Err(e) = sink.append(&text).and_then(|()| sink.flush()) {
                shared.fail(format!("cannot write results: {e}"));
            }
        }
        shared.metrics.rows.fetch_add(count, Ordering::Relaxed);
        text.clear();
    });
}
