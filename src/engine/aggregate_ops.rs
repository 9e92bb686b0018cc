//! The aggregation operators: de-duplicate (exchanged by id), pre-aggregate (on the decoding
//! worker), then merge and fire windows (exchanged by key) and merge the workers' rankings of
//! ranked outputs (exchanged by window, `rankings.rs`); per-record outputs turn each
//! de-duplicated event into its rows at once.

use super::dedup;
use super::session_hold::{self, SessionHold};
use super::Shared;
use crate::aggregate::{Fired, Key, Partial, PreAggregator, ResultRow, WindowStore};
use crate::event::Event;
use crate::plan::{OutputKind, WindowKind};
use crate::time::Window;
use crate::value::Value;
use std::hash::{BuildHasher, Hash};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::{Capability, Concat, Operator};
use timely::dataflow::Stream;

pub(super) fn stable_hash(value: impl Hash) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(value)
}

/// A stream that carries no data, only a frontier.
pub type FrontierOnly<'s> = Stream<'s, u64, Vec<()>>;

/// Events in, result rows out; with session outputs, also the stream whose frontier is where
/// open sessions hold the committed position (see `session_hold.rs`).
pub fn aggregate<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    shared: &Arc<Shared>,
) -> (Stream<'s, u64, Vec<ResultRow>>, Option<FrontierOnly<'s>>) {
    let scope = events.scope();
    let events = match shared.plan.dedup {
        Some(_) if shared.source_dedup.is_some() => events,
        Some(field) => dedup::deduplicate(events, field, shared),
        None => events,
    };
    let hold = shared
        .plan
        .outputs
        .iter()
        .any(|o| o.window.kind == WindowKind::Session)
        .then(|| Rc::new(SessionHold::default()));
    let held = hold
        .as_ref()
        .map(|hold| session_hold::hold_stream(scope, Rc::clone(hold)));
    let windowed = super::rankings::merge(
        windows(pre_aggregate(events.clone(), shared), shared, hold),
        shared,
    );
    let rows = if shared
        .plan
        .outputs
        .iter()
        .any(|o| o.kind == OutputKind::PerRecord)
    {
        windowed.concat(per_record(events, shared))
    } else {
        windowed
    };
    (rows, held)
}

/// One final row per event for every per-record output, keyed by its listed fields (one per
/// element of the list field, when an output lists it), in the event's millisecond.
fn per_record<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    shared: &Arc<Shared>,
) -> Stream<'s, u64, Vec<ResultRow>> {
    let outputs: Vec<(u16, Vec<usize>)> = shared
        .plan
        .outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OutputKind::PerRecord)
        .map(|(i, o)| (i as u16, o.key.clone()))
        .collect();
    let list_field = shared.plan.list_field;
    events.unary(Pipeline, "PerRecord", move |_, _| {
        let mut rows = Vec::new();
        move |input, output| {
            input.for_each_stamp(|cap, batches| {
                for batch in batches {
                    for event in batch.iter() {
                        for (output, fields) in &outputs {
                            let row = |key: Vec<Value>| ResultRow {
                                output: *output,
                                window: Window {
                                    start: event.time,
                                    end: event.time + 1,
                                },
                                rank: None,
                                key: Key(key.into()),
                                values: Vec::new(),
                                is_final: true,
                            };
                            let value = |i: usize| event.fields[i].clone().unwrap_or(Value::Null);
                            match list_field.filter(|l| fields.contains(l)) {
                                None => rows.push(row(fields.iter().map(|&i| value(i)).collect())),
                                Some(list) => {
                                    for element in &event.elements {
                                        rows.push(row(fields
                                            .iter()
                                            .map(
                                                |&i| {
                                                    if i == list {
                                                        element.clone()
                                                    } else {
                                                        value(i)
                                                    }
                                                },
                                            )
                                            .collect()));
                                    }
                                }
                            }
                        }
                    }
                }
                output.session(&cap).give_container(&mut rows);
            });
        }
    })
}

/// Events a pre-aggregator folds at most before it sends its partial states on (it holds
/// about one cell per key and pane meanwhile).
const FOLD_AT_MOST: usize = 1 << 20;

/// How long a pre-aggregator holds partial states at most, so early results (`emit_every`)
/// lag the input by a second at most.
const HOLD_AT_MOST: Duration = Duration::from_secs(1);

/// Partial states a pre-aggregator sends on in one go at most: a drain of more goes in
/// parts, one per activation, so the workers absorb each part before the next is sent.
const DRAIN_AT_ONCE: usize = 1 << 16;

/// Partial states sent in one container: the exchange splits them by key anyway.
const SEND_IN: usize = 8192;

/// Folds events into partial states, sent on when the input frontier reaches the earliest end
/// of a pane or window they are for (no window holding them can fire before then), after
/// `HOLD_AT_MOST`, or after `FOLD_AT_MOST` events: so a key's events of one pane travel as a
/// few partial states, however many keys there are.
fn pre_aggregate<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    shared: &Arc<Shared>,
) -> Stream<'s, u64, Vec<Partial>> {
    let mut folder = PreAggregator::new(&shared.plan);
    let scope = events.scope();
    events.unary_frontier(Pipeline, "PreAggregate", move |_, info| {
        let activator = scope.activator_for(info.address);
        // The capability of the states held, when the first was folded, and whether a wake-up
        // for `HOLD_AT_MOST` after that is asked for.
        let mut held: Option<(Capability<u64>, Instant, bool)> = None;
        let mut folded = 0;
        // Whether a drain in parts is under way: no event is folded until it ends.
        let mut draining = false;
        move |(input, frontier), output| {
            // While a drain is under way, events wait in the input.
            if !draining {
                input.for_each_stamp(|cap, batches| {
                    for batch in batches {
                        folder.add(batch);
                        folded += batch.len();
                    }
                    match &mut held {
                        None => held = cap.retain_least(0).map(|cap| (cap, Instant::now(), false)),
                        Some((h, _, _)) => {
                            if cap.least().is_some_and(|t| t < h.time()) {
                                if let Some(earlier) = cap.retain_least(0) {
                                    *h = earlier;
                                }
                            }
                        }
                    }
                });
            }
            if let Some((cap, since, wake)) = held.as_mut() {
                let reached = folder.due().is_none_or(|due| !frontier.less_than(&due));
                let waited = since.elapsed();
                if draining || reached || waited >= HOLD_AT_MOST || folded >= FOLD_AT_MOST {
                    let in_parts = draining;
                    draining = !folder.drain(SEND_IN, DRAIN_AT_ONCE, |partials| {
                        output.session(&*cap).give_container(partials)
                    });
                    if draining || in_parts {
                        // The next part once the exchange has taken this one on; or, the
                        // drain over, the events that waited in the input (their arrival
                        // was spent on the drain and will not wake the operator again).
                        activator.activate();
                    }
                    if !draining {
                        held = None;
                        folded = 0;
                    }
                } else if !*wake {
                    *wake = true;
                    activator.activate_after(HOLD_AT_MOST - waited);
                }
            }
            if held.is_none() && frontier.is_empty() {
                // No event comes any more: the last windows fire with this memory free.
                folder.release();
            }
        }
    })
}

/// Rows a window store fires in one go at most (past that, it finishes the window it is
/// at): where the end of the input makes every window fire, the rows go on in parts.
const FIRE_AT_ONCE: usize = 1 << 16;

/// How often a worker publishes what its window store holds (for the metrics).
const STATE_EVERY: Duration = Duration::from_secs(1);

fn windows<'s>(
    partials: Stream<'s, u64, Vec<Partial>>,
    shared: &Arc<Shared>,
    hold: Option<Rc<SessionHold>>,
) -> Stream<'s, u64, Vec<Fired>> {
    let ranked: Vec<bool> = shared
        .plan
        .outputs
        .iter()
        .map(|o| o.rank.is_some())
        .collect();
    // By key alone: a key's partial states for every output meet on one worker, one after
    // another, and its window store finds the key once for all of them.
    let route = Exchange::new(move |p: &Partial| stable_hash(&p.key));
    let shared = Arc::clone(shared);
    let scope = partials.scope();
    partials.unary_frontier(route, "Windows", move |_, info| {
        // Wakes the operator for early results while no input arrives.
        let activator = scope.activator_for(info.address);
        let mut store = WindowStore::new(&shared.plan);
        let worker = scope.index();
        let mut state_published: Option<Instant> = None;
        let mut state_wake_pending = false;
        let mut held: Option<Capability<u64>> = None;
        let mut rows = Vec::new();
        let mut fired = Vec::new();
        let mut finished = Vec::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|cap, batches| {
                for batch in batches {
                    for partial in batch.drain(..) {
                        store.absorb(partial);
                    }
                }
                if held
                    .as_ref()
                    .is_none_or(|h| cap.least().is_some_and(|t| t < h.time()))
                {
                    held = cap.retain_least(0);
                }
            });
            let now = frontier.frontier().first().copied();
            let caught_up = store.advance(now, &mut rows, &mut finished, FIRE_AT_ONCE);
            if !caught_up {
                // The rest after these rows are on their way (and their memory free).
                activator.activate();
            }
            Fired::split(&mut rows, &ranked, worker as u32, false, &mut fired);
            if let Some(hold) = &hold {
                hold.set(match (now, store.hold()) {
                    (Some(t), Some(session)) => Some(t.min(session)),
                    (now, _) => now,
                });
            }
            shared.metrics.windows_finished(&finished);
            finished.clear();
            // At most once a second, and a second after the last change at the latest (a
            // wake-up is asked for when a change comes too soon after the last publication).
            match state_published.map(|at| at.elapsed()) {
                Some(since) if since < STATE_EVERY => {
                    if !state_wake_pending {
                        state_wake_pending = true;
                        activator.activate_after(STATE_EVERY - since);
                    }
                }
                _ => {
                    state_published = Some(Instant::now());
                    state_wake_pending = false;
                    shared.metrics.set_state(worker, store.state());
                }
            }
            // Early rows only once every due window fired: the window in progress is the
            // next after those.
            let wake = caught_up
                .then(|| store.advance_early(Instant::now(), &mut rows))
                .flatten();
            Fired::split(&mut rows, &ranked, worker as u32, true, &mut fired);
            if let Some(wake) = wake {
                activator.activate_after(wake);
            }
            if let Some(cap) = held.as_mut() {
                if !fired.is_empty() {
                    output.session(&*cap).give_container(&mut fired);
                }
                match now {
                    _ if store.is_empty() => held = None,
                    Some(t) if t > *cap.time() => cap.downgrade(&t),
                    _ => {}
                }
            }
        }
    })
}
