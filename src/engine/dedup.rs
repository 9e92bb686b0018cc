//! De-duplication by an id field: the operator (exchanged by id), or in the sources when every
//! input is a file read in pieces judged in file order.

use super::aggregate_ops::stable_hash;
use super::large_batches::LargeBatches;
use super::Shared;
use crate::aggregate::Deduplicator;
use crate::event::Event;
use crate::plan::{OutputKind, Plan};
use crate::value::Value;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
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
                    let ids: Vec<(Option<&Value>, u64, u64)> = batch
                        .iter()
                        .map(|event| {
                            let id = event.fields[field].as_ref();
                            (id, retention.deadline(event), event.arrival)
                        })
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

/// De-duplication in the sources of one process: each file's pieces are judged in file order
/// and pass through here as they are, so a file's first copy of an id wins, as when one worker
/// reads it whole.
pub struct SourceDedup {
    field: usize,
    retention: Retention,
    /// The bytes of the files read, all together.
    bytes: u64,
    seen: Mutex<Seen>,
}

/// The ids seen, and how far through the files they were seen.
struct Seen {
    ids: Deduplicator,
    /// The bytes of the pieces judged so far.
    judged: u64,
}

impl SourceDedup {
    /// The de-duplication of `plan`, if it de-duplicates, over files of `bytes` bytes in all.
    pub fn of(plan: &Plan, bytes: u64) -> Option<SourceDedup> {
        let retention = Retention::of(plan);
        Some(SourceDedup {
            field: plan.dedup?,
            retention,
            bytes,
            seen: Mutex::new(Seen {
                ids: retention.deduplicator(),
                judged: 0,
            }),
        })
    }

    /// Lets every id go, with the memory that held them: called once no source of the
    /// process reads any more, so no piece is judged again.
    pub fn forget_all(&self) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).ids = self.retention.deduplicator();
    }

    /// Drops from `events[from..]` (one piece's, in file order, `bytes` long) every copy of
    /// an id already seen; ids whose deadline `frontier` (no later than any event still to
    /// come) reached are forgotten. The events before `from` are left alone. Returns how
    /// many were dropped.
    ///
    /// Until an id is forgotten, the ids held so far per byte judged, times the bytes of the
    /// files, is what the table expects to hold: it grows towards that in a few large steps.
    pub fn keep_first(
        &self,
        frontier: u64,
        events: &mut Vec<Event>,
        from: usize,
        bytes: u64,
    ) -> u64 {
        let ids: Vec<(Option<&Value>, u64, u64)> = events[from..]
            .iter()
            .map(|event| {
                let id = event.fields[self.field].as_ref();
                (id, self.retention.deadline(event), event.arrival)
            })
            .collect();
        let mut fresh = Vec::with_capacity(ids.len());
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.judged > 0 {
                let held = seen.ids.len() as u128;
                let expected = held * u128::from(self.bytes) / u128::from(seen.judged);
                seen.ids
                    .expect(usize::try_from(expected).unwrap_or(usize::MAX));
            }
            seen.judged += bytes;
            seen.ids.first_sightings(&ids, &mut fresh);
            seen.ids.expire(frontier);
        }
        drop(ids);
        let before = events.len();
        // In place: the events before `from` stay where they are, and duplicates are rare,
        // so hardly an event moves.
        let mut at = 0;
        events.retain(|_| {
            let keep = at < from || fresh[at - from];
            at += 1;
            keep
        });
        (before - events.len()) as u64
    }
}
