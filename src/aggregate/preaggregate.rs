//! Pre-aggregation: folds a batch of events into one partial state per (window, key) on the
//! worker that decoded them, so the exchange carries partial states instead of events.

use super::fold_cells::{CellOf, FoldCells};
use super::{Accumulator, Key, KeyView};
use crate::event::Event;
use crate::plan::OutputKind;
use crate::plan::{AggregatePlan, Plan};
use crate::time::{Window, WindowAssigner};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// How many accumulators a partial state holds in place: one per aggregate, so an output of
/// up to this many aggregates sends its partial states without an allocation each (at high
/// key cardinality a partial state is sent for nearly every record).
const IN_PLACE: usize = 3;

/// How many events' keys a pre-aggregator looks up ahead of folding them.
const AHEAD: usize = 16;

/// A partial state's accumulators, one per aggregate of its output.
pub type Accumulators = SmallVec<[Accumulator; IN_PLACE]>;

/// The partial state of one output's aggregates for one window and key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Index of the output in the plan.
    pub output: u16,
    /// What `window` is: a pane or one window.
    pub span: Span,
    /// The pane or window.
    pub window: Window,
    /// The key.
    pub key: Key,
    /// One accumulator per aggregate of the output.
    pub accumulators: Accumulators,
}

/// What a partial state covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Span {
    /// One pane: it counts in every window made of the pane.
    Pane,
    /// One window: records too late for some of their pane's windows count in the others
    /// one by one, as do all records of an output without panes.
    Window,
}

/// One windowed output's part in a key group.
struct OutputFold {
    /// Index of the output in the plan.
    output: u16,
    /// The output's own conditions.
    filters: Vec<crate::plan::Condition>,
    aggregates: Vec<AggregatePlan>,
    assigner: WindowAssigner,
}

/// The windowed outputs that share key fields (and the list field, when they use it): an
/// event's key is hashed and looked up once for all of them.
struct KeyGroup {
    /// The plan's list-valued field, when these outputs use it: they then count an event once
    /// per element, with the field set to the element.
    per_element: Option<usize>,
    key: Vec<usize>,
    folds: Vec<OutputFold>,
    /// The cells of every key and fold.
    cells: FoldCells,
}

/// Folds events into partial states for every output of a plan.
pub struct PreAggregator {
    groups: Vec<KeyGroup>,
    open: Vec<(Window, Span)>,
    /// The earliest end of a pane or window holding a partial state (`u64::MAX`: none).
    due: u64,
}

impl PreAggregator {
    /// A pre-aggregator for the plan's outputs.
    pub fn new(plan: &Plan) -> PreAggregator {
        let mut groups: Vec<KeyGroup> = Vec::new();
        for (index, o) in plan
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind == OutputKind::Windowed)
        {
            let per_element = plan.list_field.filter(|&list| {
                o.key.contains(&list)
                    || o.filters.iter().any(|c| c.field == list)
                    || o.aggregates.iter().any(|a| {
                        a.field == Some(list)
                            || a.condition.as_ref().is_some_and(|c| c.field == list)
                    })
            });
            let fold = OutputFold {
                output: index as u16,
                filters: o.filters.clone(),
                aggregates: o.aggregates.clone(),
                assigner: WindowAssigner::new(&o.window, plan.time.allowed_lateness_ms),
            };
            match groups
                .iter_mut()
                .find(|g| g.key == o.key && g.per_element == per_element)
            {
                Some(group) => group.folds.push(fold),
                None => groups.push(KeyGroup {
                    per_element,
                    key: o.key.clone(),
                    folds: vec![fold],
                    cells: FoldCells::default(),
                }),
            }
        }
        PreAggregator {
            groups,
            open: Vec::new(),
            due: u64::MAX,
        }
    }

    /// Adds events, in order, to every window (of every output) each can still change.
    ///
    /// The keys of [`AHEAD`] events are looked up before any of them is folded, and their
    /// cells fetched: at high key cardinality each lookup and each cell is a cache miss, and
    /// lookups one after another wait for their misses together instead of one by one.
    pub fn add(&mut self, events: &[Event]) {
        for chunk in events.chunks(AHEAD) {
            for group in &mut self.groups {
                match group.per_element {
                    None => group.add_all(chunk, &mut self.open, &mut self.due),
                    Some(list) => {
                        for event in chunk {
                            let mut fields = event.fields.clone();
                            for element in &event.elements {
                                fields[list] = Some(element.clone());
                                if let Some(key) = group.key_of(&fields) {
                                    group.add(&fields, event, key, &mut self.open, &mut self.due);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The earliest time at which a window holding one of the partial states can fire: the
    /// earliest end of the panes and windows they are for (`None` when empty). Until the
    /// frontier reaches it, sending them on changes no result.
    pub fn due(&self) -> Option<u64> {
        (self.due != u64::MAX).then_some(self.due)
    }

    /// Moves up to `at_most` partial states out, in vectors of at most `chunk` states, each
    /// handed to `give` (which may take its contents); returns true once none is left. At
    /// high key cardinality a drain moves hundreds of thousands of states: in parts, with
    /// the states of one part on their way before the next is made, they do not all wait in
    /// the exchange at once. Between the first call and the last, no event may be added.
    pub fn drain(
        &mut self,
        chunk: usize,
        at_most: usize,
        mut give: impl FnMut(&mut Vec<Partial>),
    ) -> bool {
        let chunk = chunk.max(1);
        let mut left = at_most;
        let mut out = Vec::new();
        for group in &mut self.groups {
            let folds = &group.folds;
            left -= group
                .cells
                .drain(left, |fold, span, window, key, accumulators| {
                    if out.capacity() == 0 {
                        out.reserve_exact(chunk);
                    }
                    out.push(Partial {
                        output: folds[usize::from(fold)].output,
                        span,
                        window,
                        key,
                        accumulators,
                    });
                    if out.len() == chunk {
                        give(&mut out);
                        out.clear();
                    }
                });
        }
        if !out.is_empty() {
            give(&mut out);
        }
        let empty = self.groups.iter().all(|group| group.cells.is_empty());
        if empty {
            self.due = u64::MAX;
        }
        empty
    }

    /// Gives back the memory of the cells kept for later drains: for when no event comes
    /// any more. Holds no partial state (call it after [`PreAggregator::drain`]).
    pub fn release(&mut self) {
        for group in &mut self.groups {
            group.cells = FoldCells::default();
        }
        self.open = Vec::new();
    }
}

impl KeyGroup {
    /// The number of the key of a record with these field values, its cells fetched; `None`
    /// when it lacks a key field (not every output keys by it: the record is left out of
    /// these) or no output of the group passes it, so a record no output takes numbers no
    /// key.
    fn key_of(&mut self, fields: &[Option<crate::value::Value>]) -> Option<u32> {
        if self.key.iter().any(|&k| fields[k].is_none())
            || !self.folds.iter().any(|fold| fold.passes(fields))
        {
            return None;
        }
        let key = self.cells.key(&KeyView {
            fields,
            indices: &self.key,
        });
        self.cells.prefetch(key);
        Some(key)
    }

    /// Adds events, their keys looked up first (see [`PreAggregator::add`]).
    fn add_all(&mut self, events: &[Event], open: &mut Vec<(Window, Span)>, due: &mut u64) {
        let mut keys = [None; AHEAD];
        for (key, event) in keys.iter_mut().zip(events) {
            *key = self.key_of(&event.fields);
        }
        for (key, event) in keys.into_iter().zip(events) {
            if let Some(key) = key {
                self.add(&event.fields, event, key, open, due);
            }
        }
    }

    /// Adds one record with these field values (the event's, or with the list field set to
    /// one element) and this key at the event's time and arrival.
    fn add(
        &mut self,
        fields: &[Option<crate::value::Value>],
        event: &Event,
        key: u32,
        open: &mut Vec<(Window, Span)>,
        due: &mut u64,
    ) {
        for (fold, index) in self.folds.iter().zip(0u16..) {
            if fold.windows_for(fields, event, open) {
                fold.add(&mut self.cells, key, index, fields, event, open, due);
            }
        }
    }
}

impl OutputFold {
    /// Whether a record with these field values passes the output's own conditions.
    fn passes(&self, fields: &[Option<crate::value::Value>]) -> bool {
        self.filters.iter().all(|c| c.holds(fields))
    }

    /// Lists in `open` the cells (panes or windows) an event adds to, after the output's
    /// conditions; false when there are none.
    fn windows_for(
        &self,
        fields: &[Option<crate::value::Value>],
        event: &Event,
        open: &mut Vec<(Window, Span)>,
    ) -> bool {
        if !self.passes(fields) {
            return false;
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
        !open.is_empty()
    }

    /// Adds one record to the cells listed in `open` of key `key` for this output (`fold`
    /// in its group), lowering `due` to the earliest of their ends.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        cells: &mut FoldCells,
        key: u32,
        fold: u16,
        fields: &[Option<crate::value::Value>],
        event: &Event,
        open: &[(Window, Span)],
        due: &mut u64,
    ) {
        let aggregates = &self.aggregates;
        for &(window, span) in open {
            *due = (*due).min(window.end);
            let of = CellOf {
                key,
                fold,
                window,
                span,
            };
            let accumulators = cells.cell(of, aggregates);
            for (acc, aggregate) in accumulators.iter_mut().zip(aggregates) {
                if aggregate.condition.as_ref().is_none_or(|c| c.holds(fields)) {
                    acc.add(aggregate.field.and_then(|f| fields[f].as_ref()), event.time);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::test_plan;
    use crate::plan::{Condition, Test};
    use crate::value::Value;
    use proptest::prelude::*;

    /// Two outputs keyed alike (one key group): the test plan's, and windows of 30 by 10
    /// of the records whose key is 1.
    fn plan() -> Plan {
        let mut plan = test_plan::plan(20, None);
        let mut wider = plan.outputs[0].clone();
        wider.name = "wide".into();
        wider.window.size_ms = 30;
        wider.filters = vec![Condition {
            field: 0,
            test: Test::Equals(Value::Int(1)),
        }];
        plan.outputs.push(wider);
        plan
    }

    fn drained(folder: &mut PreAggregator) -> Vec<Partial> {
        let mut all = Vec::new();
        while !folder.drain(7, 5, |part| all.append(part)) {}
        all.sort_by_key(|p| {
            let key = format!("{:?}", p.key);
            (
                p.output,
                p.window.start,
                p.window.end,
                p.span == Span::Pane,
                key,
            )
        });
        all
    }

    proptest! {
        /// Adding events all at once (keys looked up ahead of folding) gives the partial
        /// states of adding them one by one, with records lacking the key left out of both.
        #[test]
        fn adding_at_once_folds_like_one_by_one(
            records in prop::collection::vec((prop::option::of(0i64..6), 0u64..80), 0..100),
        ) {
            let events: Vec<Event> = records
                .iter()
                .map(|&(key, time)| Event {
                    time,
                    arrival: time,
                    final_at: 0,
                    fields: [key.map(Value::Int)].into_iter().collect(),
                    elements: Vec::new(),
                })
                .collect();
            let plan = plan();
            let mut at_once = PreAggregator::new(&plan);
            at_once.add(&events);
            let mut one_by_one = PreAggregator::new(&plan);
            for event in &events {
                one_by_one.add(std::slice::from_ref(event));
            }
            let expected = drained(&mut one_by_one);
            let keyed = records.iter().filter(|(key, _)| key.is_some()).count();
            let counted: u64 = expected
                .iter()
                .filter(|p| p.output == 0)
                .map(|p| match p.accumulators[0] {
                    Accumulator::Count(n) => n,
                    _ => 0,
                })
                .sum();
            // Windows of 10 by 10: each keyed record counts once in the first output.
            prop_assert_eq!(counted, keyed as u64);
            prop_assert_eq!(drained(&mut at_once), expected);
        }

        /// A record no output of a group takes numbers no key there.
        #[test]
        fn a_record_no_output_takes_numbers_no_key(
            keys in prop::collection::vec(0i64..40, 0..60),
        ) {
            let mut plan = plan();
            plan.outputs.remove(0);
            let events: Vec<Event> = keys
                .iter()
                .map(|&key| Event {
                    time: 5,
                    arrival: 5,
                    final_at: 0,
                    fields: [Some(Value::Int(key))].into_iter().collect(),
                    elements: Vec::new(),
                })
                .collect();
            let mut folder = PreAggregator::new(&plan);
            folder.add(&events);
            let taken = usize::from(keys.contains(&1));
            prop_assert_eq!(folder.groups[0].cells.keys(), taken);
        }
    }
}
