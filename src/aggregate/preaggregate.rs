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
///
/// A key usually touches one or two cells per batch, found fastest by a scan; an output
/// without a key, or with cumulative windows, can touch thousands, so past a few cells they
/// are indexed by a hash map.
#[derive(Default)]
struct Cells {
    list: Vec<((Window, Span), Vec<Accumulator>)>,
    index: Option<HashMap<(Window, Span), usize, rustc_hash::FxBuildHasher>>,
}

/// How many cells a key scans before it indexes them.
const SCAN_CELLS: usize = 8;

impl Cells {
    /// The accumulators of a cell, created by `new` if the cell is not there yet.
    #[inline]
    fn get_or_insert(
        &mut self,
        cell: (Window, Span),
        new: impl FnOnce() -> Vec<Accumulator>,
    ) -> &mut Vec<Accumulator> {
        let found = match &self.index {
            Some(index) => index.get(&cell).copied(),
            None => self.list.iter().position(|(c, _)| *c == cell),
        };
        let at = match found {
            Some(at) => at,
            None => {
                self.list.push((cell, new()));
                let at = self.list.len() - 1;
                match &mut self.index {
                    Some(index) => {
                        index.insert(cell, at);
                    }
                    None if self.list.len() > SCAN_CELLS => {
                        self.index = Some(
                            self.list
                                .iter()
                                .enumerate()
                                .map(|(i, (c, _))| (*c, i))
                                .collect(),
                        );
                    }
                    None => {}
                }
                at
            }
        };
        &mut self.list[at].1
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Span {
    Pane,
    Window,
}

struct OutputFold {
    /// Per-record outputs take no part in windows.
    windowed: bool,
    /// The output's own conditions.
    filters: Vec<crate::spec::Condition>,
    /// The plan's list-valued field, when this output uses it: the output then counts an
    /// event once per element, with the field set to the element.
    per_element: Option<usize>,
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
                windowed: !o.records,
                filters: o.filters.clone(),
                per_element: plan.list_field.filter(|&list| {
                    o.key.contains(&list)
                        || o.filters.iter().any(|c| c.field == list)
                        || o.aggregates.iter().any(|a| {
                            a.field == Some(list)
                                || a.condition.as_ref().is_some_and(|c| c.field == list)
                        })
                }),
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
        for fold in self.outputs.iter_mut().filter(|f| f.windowed) {
            match fold.per_element {
                None => fold.add(&event.fields, event, &mut self.open),
                Some(list) => {
                    let mut fields = event.fields.clone();
                    for element in &event.elements {
                        fields[list] = Some(element.clone());
                        fold.add(&fields, event, &mut self.open);
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
                for ((window, span), accumulators) in cells.list {
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
impl OutputFold {
    /// Adds one record with these field values (the event's, or with the list field set to
    /// one element) at the event's time and arrival.
    fn add(
        &mut self,
        fields: &[Option<crate::value::Value>],
        event: &Event,
        open: &mut Vec<(Window, Span)>,
    ) {
        if self.key.iter().any(|&k| fields[k].is_none()) {
            // Not every output keys by this field: the record is left out of this one.
            return;
        }
        if !self.filters.iter().all(|c| c.holds(fields)) {
            return;
        }
        open.clear();
        match self.assigner.pane(event.time) {
            Some(pane) if self.assigner.pane_is_open(pane, event.arrival) => {
                open.push((pane, Span::Pane))
            }
            _ => self
                .assigner
                .for_each_open_window(event.time, event.arrival, |w| open.push((w, Span::Window))),
        }
        if open.is_empty() {
            return;
        }
        let view = KeyView {
            fields,
            indices: &self.key,
        };
        let aggregates = &self.aggregates;
        let cells = self.cells.entry_ref(&view).or_default();
        for &(window, span) in open.iter() {
            let slot = cells.get_or_insert((window, span), || {
                aggregates
                    .iter()
                    .map(|a| Accumulator::new(a.function))
                    .collect()
            });
            for (acc, spec) in slot.iter_mut().zip(aggregates) {
                if spec.condition.as_ref().is_none_or(|c| c.holds(fields)) {
                    acc.add(spec.field.and_then(|f| fields[f].as_ref()), event.time);
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
