//! The sink operator: hands result rows to every sink of the process.
//!
//! Sinks never block a worker. Rows a sink cannot take yet stay here, and rows a sink took
//! but has not yet written are tracked by their ticket; either way the operator holds a
//! capability at the rows' time, so the frontier after this operator (the acknowledgement
//! the sources commit their positions by) passes a time only once its rows are written.
//! When the oldest rows still unwritten fired is published for the sources to pace by.

use super::Shared;
use crate::aggregate::ResultRow;
use crate::prometheus;
use crate::sink::{Offer, Ticket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::Stream;

/// Rows at one time that one sink (by index) has not written yet.
enum Unwritten {
    Refused(usize, Vec<ResultRow>),
    /// Taken: how many rows, written once the ticket reaches zero.
    Accepted(usize, u64, Ticket),
}

/// Writes rows to the process's sinks; the returned stream carries no data, only the
/// frontier of what is written.
pub fn write_rows<'s>(
    rows: Stream<'s, u64, Vec<ResultRow>>,
    shared: Arc<Shared>,
) -> Stream<'s, u64, Vec<()>> {
    let scope = rows.scope();
    rows.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Pipeline,
        "WriteRows",
        move |_, info| {
            let activator = scope.activator_for(info.address);
            let worker = scope.index();
            // Each entry with when its rows fired (reached this operator).
            let mut unwritten: Vec<(Capability<u64>, Unwritten, Instant)> = Vec::new();
            move |(input, _), _output| {
                input.for_each_stamp(|cap, batches| {
                    let fired = Instant::now();
                    let mut arrived: Vec<ResultRow> = Vec::new();
                    for batch in batches {
                        arrived.append(batch);
                    }
                    shared
                        .metrics
                        .rows
                        .fetch_add(arrived.len() as u64, Ordering::Relaxed);
                    let mut per_output = std::collections::BTreeMap::<u16, u64>::new();
                    for row in &arrived {
                        *per_output.entry(row.output).or_default() += 1;
                    }
                    for (output, n) in per_output {
                        prometheus::count_rows(&shared.plan.outputs[usize::from(output)].name, n);
                    }
                    let Some(cap) = cap.retain_least(0).filter(|_| !arrived.is_empty()) else {
                        return;
                    };
                    let last = shared.sinks.len().saturating_sub(1);
                    for index in 0..last {
                        let rows = arrived.clone();
                        unwritten.push((cap.clone(), Unwritten::Refused(index, rows), fired));
                    }
                    unwritten.push((cap, Unwritten::Refused(last, arrived), fired));
                });
                // A sink that failed for good ends the run: the rows it did not write keep
                // their capabilities until the process ends, so no source commits past them.
                if let Some(failure) = shared.sinks.iter().find_map(|sink| sink.failure()) {
                    shared.abort(failure);
                }
                let mut still = Vec::new();
                for (cap, entry, fired) in unwritten.drain(..) {
                    match entry {
                        Unwritten::Refused(index, rows) => {
                            let sink = &shared.sinks[index];
                            let count = rows.len() as u64;
                            match sink.offer(rows, fired, &shared.rows) {
                                Ok(Offer::Written) => {
                                    prometheus::count_written(sink.kind(), count);
                                    let seconds = fired.elapsed().as_secs_f64();
                                    prometheus::record_write(sink.kind(), seconds);
                                }
                                Ok(Offer::Accepted(ticket)) => still.push((
                                    cap,
                                    Unwritten::Accepted(index, count, ticket),
                                    fired,
                                )),
                                Ok(Offer::Refused(rows)) => {
                                    still.push((cap, Unwritten::Refused(index, rows), fired))
                                }
                                Err(e) => shared.abort(format!("cannot write results: {e}")),
                            }
                        }
                        Unwritten::Accepted(index, count, ticket)
                            if ticket.load(Ordering::Acquire) > 0 =>
                        {
                            still.push((cap, Unwritten::Accepted(index, count, ticket), fired))
                        }
                        Unwritten::Accepted(index, count, _) => {
                            prometheus::count_written(shared.sinks[index].kind(), count)
                        }
                    }
                }
                unwritten = still;
                let oldest = unwritten.iter().map(|(_, _, fired)| *fired).min();
                shared.sink_lag.set(worker, oldest);
                if !unwritten.is_empty() {
                    activator.activate_after(Duration::from_millis(1));
                }
            }
        },
    )
}
