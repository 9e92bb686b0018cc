//! De-duplication by an id field, exchanged by id.

use super::aggregate_ops::stable_hash;
use super::large_batches::LargeBatches;
use super::Shared;
use crate::aggregate::Deduplicator;
use crate::event::Event;
use crate::plan::{OutputKind, Plan};
use crate::value::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use timely::dataflow::channels::pact::ExchangeCore;
use timely::dataflow::operators::Operator;
use timely::dataflow::Stream;

/// How long an id is remembered: until every window holding its first copy is final, or for
/// per-record outputs until the allowed lateness after its event time ends.
#[derive(Clone, Copy)]
pub struct Retention {
    per_record: bool,
    lateness: u64,
    longest: u64,
}

impl Retention {
    /// The retention of `plan`'s outputs.
    pub fn of(plan: &Plan) -> Retention {
        Retention {
            per_record: plan.outputs.iter().any(|o| o.kind == OutputKind::PerRecord),
            lateness: plan.time.allowed_lateness_ms,
            longest: plan
                .outputs
                .iter()
                .map(|o| o.window.size_ms)
                .max()
                .unwrap_or(0),
        }
    }

    /// A de-duplicator that keeps ids this long.
    pub fn deduplicator(&self) -> Deduplicator {
        Deduplicator::new(self.longest + self.lateness)
    }

    /// When `event`'s id may be forgotten.
    pub fn deadline(&self, event: &Event) -> u64 {
        if self.per_record {
            event.final_at.max(event.time.saturating_add(self.lateness))
        } else {
            event.final_at
        }
    }
}

pub fn deduplicate<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    field: usize,
    shared: &Arc<Shared>,
) -> Stream<'s, u64, Vec<Event>> {
    let shared = Arc::clone(shared);
    let by_id = ExchangeCore::<LargeBatches<Event>, _>::new_core(move |e: &Event| {
        stable_hash(&e.fields[field])
    });
    events.unary_frontier(by_id, "Deduplicate", move |_, _| {
        let retention = Retention::of(&shared.plan);
        let mut seen = retention.deduplicator();
        let mut fresh = Vec::new();
        move |(input, frontier), output| {
            let mut dropped = 0;
            input.for_each_stamp(|cap, batches| {
                let mut session = output.session(&cap);
                for batch in batches {
                    let ids: Vec<(Option<&Value>, u64)> = batch
                        .iter()
                        .map(|event| (event.fields[field].as_ref(), retention.deadline(event)))
                        .collect();
                    seen.first_sightings(&ids, &mut fresh);
                    drop(ids);
                    // Kept in place: duplicates are rare, so hardly an event moves.
                    let before = batch.len();
                    let mut verdicts = fresh.iter();
                    batch.retain(|_| verdicts.next().copied().unwrap_or(true));
                    dropped += (before - batch.len()) as u64;
                    session.give_container(batch);
                }
            });
            shared
                .metrics
                .duplicates
                .fetch_add(dropped, Ordering::Relaxed);
            seen.expire(frontier.frontier().first().copied().unwrap_or(u64::MAX));
        }
    })
}
