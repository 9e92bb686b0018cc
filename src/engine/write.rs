//! The sink operator: hands result rows to every sink of the process.
//!
//! Sinks never block a worker: rows a sink cannot take yet stay here, the operator holds a
//! capability so the run cannot end without them, and it tries again shortly.

use super::Shared;
use crate::aggregate::ResultRow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::Stream;

/// Writes rows to the process's sinks.
pub fn write_rows(rows: Stream<'_, u64, Vec<ResultRow>>, shared: Arc<Shared>) {
    let scope = rows.scope();
    rows.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Pipeline,
        "WriteRows",
        move |_, info| {
            let activator = scope.activator_for(info.address);
            // Rows not yet taken, per sink, and the capability that keeps the run alive for them.
            let mut pending: Vec<Vec<ResultRow>> =
                shared.sinks.iter().map(|_| Vec::new()).collect();
            let mut held: Option<Capability<u64>> = None;
            move |(input, _), _output| {
                let mut arrived: Vec<ResultRow> = Vec::new();
                input.for_each_stamp(|cap, batches| {
                    for batch in batches {
                        arrived.append(batch);
                    }
                    if held.is_none() {
                        held = cap.retain_least(0);
                    }
                });
                shared
                    .metrics
                    .rows
                    .fetch_add(arrived.len() as u64, Ordering::Relaxed);
                for (index, sink) in shared.sinks.iter().enumerate() {
                    let mut batch = std::mem::take(&mut pending[index]);
                    batch.extend(arrived.iter().cloned());
                    if batch.is_empty() {
                        continue;
                    }
                    match sink.offer(batch, &shared.rows) {
                        Ok(None) => {}
                        Ok(Some(refused)) => pending[index] = refused,
                        Err(e) => shared.fail(format!("cannot write results: {e}")),
                    }
                }
                if pending.iter().all(Vec::is_empty) {
                    held = None;
                } else {
                    activator.activate_after(Duration::from_millis(1));
                }
            }
        },
    );
}
