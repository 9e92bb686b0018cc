//! Pre-aggregation: folds a batch of events into one partial state per (window, key) on the
//! worker that decoded them, so the exchange carries partial states instead of events.

use super::{Accumulator, Key, KeyView};
use crate::event::Event;
use crate::spec::{AggregateSpec, Plan};
use crate::time::{Window, WindowAssigner};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// The partial state of one output's aggregates for one window and key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Index of the output in the plan.
    pub output: u16,
    /// The window.
    pub window: Window,
    /// The key.
    pub key: Key,
    /// One accumulator per aggregate of the output.
    pub accumulators: Vec<Accumulator>,
}

/// Partial states of one key: per pane (expanded into windows when drained) or, for events
/// that are already too late for some of a pane's windows, per window.
type Cells = Vec<(Window, Span, Vec<Accumulator>)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Pane,
    Window,
}

struct OutputFold {
    key: Vec<usize>,
    aggregates: Vec<AggregateSpec>,
    assigner: WindowAssigner,
    cells: HashMap<Key, Cells, rustc_hash::FxBuildHasher>,
}

/// Folds events into partial states for every output of a plan.
pub struct PreAggregator {
    outputs: Vec<OutputFold>,
    open: Vec<(Window, Span)>,
}

impl PreAggregator {
    /// A pre-aggregator for the plan's outputs.
    pub fn new(plan: &Plan) -> PreAggregator {
        let outputs = plan
            .outputs
            .iter()
            .map(|o| OutputFold {
                key: o.key.clone(),
                aggregates: o.aggregates.clone(),
                assigner: WindowAssigner::new(&o.window, plan.time.allowed_lateness_ms),
                cells: HashMap::default(),
            })
            .collect();
        PreAggregator {
            outputs,
            open: Vec::new(),
        }
    }

    /// Adds an event to every window (of every output) it can still change.
    pub fn add(&mut self, event: &Event) {
        for fold in &mut self.outputs {
            let open = &mut self.open;
            open.clear();
            match fold.assigner.pane(event.time) {
                Some(pane) if fold.assigner.pane_is_open(pane, event.arrival) => {
                    open.push((pane, Span::Pane))
                }
                _ => fold
                    .assigner
                    .for_each_open_window(event.time, event.arrival, |w| {
                        open.push((w, Span::Window))
                    }),
            }
            if open.is_empty() {
                continue;
            }
            let view = KeyView {
                fields: &event.fields,
                indices: &fold.key,
            };
            let aggregates = &fold.aggregates;
            let cells = fold.cells.entry_ref(&view).or_insert_with(Vec::new);
            for &(window, span) in open.iter() {
                let slot = match cells
                    .iter()
                    .position(|(w, s, _)| *w == window && *s == span)
                {
                    Some(i) => &mut cells[i].2,
                    None => {
                        cells.push((
                            window,
                            span,
                            aggregates
                                .iter()
                                .map(|a| Accumulator::new(a.function))
                                .collect(),
                        ));
                        &mut cells.last_mut().expect("just pushed").2
                    }
                };
                for (acc, spec) in slot.iter_mut().zip(aggregates) {
                    if spec
                        .condition
                        .as_ref()
                        .is_none_or(|c| c.holds(&event.fields))
                    {
                        acc.add(spec.field.and_then(|f| event.fields[f].as_ref()));
                    }
                }
            }
        }
    }

    /// Moves every partial state out, leaving the pre-aggregator empty.
    pub fn drain(&mut self, out: &mut Vec<Partial>) {
        for (index, fold) in self.outputs.iter_mut().enumerate() {
            let output = index as u16;
            for (key, cells) in fold.cells.drain() {
                for (window, span, accumulators) in cells {
                    match span {
                        Span::Window => out.push(Partial {
                            output,
                            window,
                            key: key.clone(),
                            accumulators,
                        }),
                        Span::Pane => fold.assigner.for_each_window_of_pane(window, |window| {
                            out.push(Partial {
                                output,
                                window,
                                key: key.clone(),
                                accumulators: accumulators.clone(),
                            })
                        }),
                    }
                }
            }
        }
    }
}
impl From<&KeyView<'_>> for Key {
    fn from(view: &KeyView<'_>) -> Key {
        view.to_key()
    }
}
