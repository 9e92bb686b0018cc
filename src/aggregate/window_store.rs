//! The window store: merges partial states and fires results as the frontier moves.
//!
//! A window fires its on-time result when the frontier passes its end, re-fires corrections
//! when late partial states change it, and fires its final result (then releases its state)
//! when the frontier passes its end plus the allowed lateness. Windows whose bounds follow
//! from time are kept as panes by `fixed_store.rs`; session windows, whose bounds depend on
//! the data, per key by `session_store.rs`.

use super::fixed_store::FixedStore;
use super::key_table::KeyTable;
use super::session_store::SessionStore;
use super::{Accumulator, Key, Partial};
use crate::plan::{Plan, WindowKind};
use crate::time::{Window, WindowAssigner};
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One result line: an output's aggregates for one window and key (or rank).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Index of the output in the plan.
    pub output: u16,
    /// The window.
    pub window: Window,
    /// Rank from 1, for ranked outputs.
    pub rank: Option<u32>,
    /// The key.
    pub key: Key,
    /// Aggregate values in the output's order.
    pub values: Vec<Value>,
    /// Whether this is the window's final result.
    pub is_final: bool,
}

/// What a window store holds: the state of every open window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Windows open (not final yet), over all outputs.
    pub windows: u64,
    /// (window, key) cells.
    pub cells: u64,
    /// Values held by distinct sets.
    pub distinct_values: u64,
    /// An estimate of the bytes all of it takes.
    pub bytes: u64,
    /// Of `bytes`, those that hold the distinct sets' values (their lists and tables).
    pub distinct_bytes: u64,
}

impl StateSize {
    /// Adds what one cell's accumulators hold (themselves, and the distinct sets' values).
    pub(super) fn add_accumulators(&mut self, accumulators: &[Accumulator]) {
        self.bytes += std::mem::size_of_val(accumulators) as u64;
        self.add_distinct_sets(accumulators);
    }

    /// Adds the values the distinct sets among `accumulators` hold, not the accumulators.
    pub(super) fn add_distinct_sets<'a>(
        &mut self,
        accumulators: impl IntoIterator<Item = &'a Accumulator>,
    ) {
        for set in accumulators
            .into_iter()
            .filter_map(Accumulator::distinct_set)
        {
            self.distinct_values += set.held() as u64;
            self.bytes += set.heap_bytes() as u64;
            self.distinct_bytes += set.heap_bytes() as u64;
        }
    }

    /// The two together.
    pub fn plus(self, other: &StateSize) -> StateSize {
        StateSize {
            windows: self.windows + other.windows,
            cells: self.cells + other.cells,
            distinct_values: self.distinct_values + other.distinct_values,
            bytes: self.bytes + other.bytes,
            distinct_bytes: self.distinct_bytes + other.distinct_bytes,
        }
    }
}

struct OutputStore {
    windows: Windows,
    early: Option<EarlyFiring>,
}

/// The open windows of one output.
enum Windows {
    /// Windows whose bounds follow from time alone (sliding, tumbling, cumulative).
    Fixed(FixedStore),
    /// Session windows, per key.
    Sessions(SessionStore),
}

/// When an output with `emit_every` next shows its window in progress.
struct EarlyFiring {
    every: Duration,
    next: Instant,
}

/// Window contents for every output of a plan, on one worker.
pub struct WindowStore {
    outputs: Vec<OutputStore>,
    /// The keys of the outputs with fixed windows, each held once for all of them.
    keys: KeyTable,
}

impl WindowStore {
    /// An empty store for the plan's outputs.
    pub fn new(plan: &Plan) -> WindowStore {
        let outputs = plan
            .outputs
            .iter()
            .enumerate()
            .map(|(index, o)| OutputStore {
                windows: match o.window.kind {
                    WindowKind::Session => Windows::Sessions(SessionStore::new(
                        index as u16,
                        plan.time.allowed_lateness_ms,
                    )),
                    WindowKind::Sliding | WindowKind::Cumulative => {
                        Windows::Fixed(FixedStore::new(
                            index as u16,
                            o.aggregates.len(),
                            o.rank.clone(),
                            WindowAssigner::new(&o.window, plan.time.allowed_lateness_ms),
                        ))
                    }
                },
                early: o.emit_every_ms.map(|ms| EarlyFiring {
                    every: Duration::from_millis(ms),
                    next: Instant::now() + Duration::from_millis(ms),
                }),
            })
            .collect();
        WindowStore {
            outputs,
            keys: KeyTable::default(),
        }
    }

    /// Merges one partial state.
    pub fn absorb(&mut self, partial: Partial) {
        let Partial {
            output,
            span,
            window,
            key,
            accumulators,
        } = partial;
        match &mut self.outputs[usize::from(output)].windows {
            Windows::Fixed(windows) => {
                windows.absorb(&mut self.keys, span, window, key, accumulators)
            }
            Windows::Sessions(sessions) => sessions.absorb(key, window, accumulators),
        }
    }

    /// What the store holds now (walks every open cell: call it now and then, not per
    /// record).
    pub fn state(&self) -> StateSize {
        let mut size = StateSize {
            bytes: self.keys.bytes() as u64,
            ..StateSize::default()
        };
        for output in &self.outputs {
            size = size.plus(&match &output.windows {
                Windows::Fixed(windows) => windows.state(),
                Windows::Sessions(sessions) => sessions.state(),
            });
        }
        size
    }

    /// Whether no window is open.
    pub fn is_empty(&self) -> bool {
        self.outputs.iter().all(|o| match &o.windows {
            Windows::Fixed(windows) => windows.is_empty(),
            Windows::Sessions(sessions) => sessions.is_empty(),
        })
    }

    /// Where the frontier after the store must stay: at the start of the earliest open
    /// session, if any output has sessions (`None`: nothing to hold).
    pub fn hold(&self) -> Option<u64> {
        self.outputs
            .iter()
            .filter_map(|o| match &o.windows {
                Windows::Fixed(_) => None,
                Windows::Sessions(sessions) => sessions.hold(),
            })
            .min()
    }

    /// Fires every window the frontier has passed; `None` means the input is complete.
    /// Windows that became final are added to `finished` as (output, start, end).
    ///
    /// Stops between two windows once `rows` holds `at_most` rows, and returns false: call
    /// again (after the rows are on their way) for the rest. So the input's end, when every
    /// window fires at once, holds a window's rows at a time, not every window's. Returns
    /// true once every window the frontier passed has fired.
    pub fn advance(
        &mut self,
        frontier: Option<u64>,
        rows: &mut Vec<ResultRow>,
        finished: &mut Vec<(u16, u64, u64)>,
        at_most: usize,
    ) -> bool {
        self.outputs
            .iter_mut()
            .all(|store| match &mut store.windows {
                Windows::Fixed(windows) => {
                    windows.advance(&mut self.keys, frontier, rows, finished, at_most)
                }
                Windows::Sessions(sessions) => sessions.advance(frontier, rows, finished, at_most),
            })
    }
}

impl WindowStore {
    /// Early results: for each output whose `emit_every` has come round by `now`, emits the
    /// changed rows (the whole ranking, for a ranked output) of its window in progress, the
    /// open window that ends next, as provisional rows. Returns how long until the next
    /// early firing while some output has an open window, so the caller can wake then.
    pub fn advance_early(&mut self, now: Instant, rows: &mut Vec<ResultRow>) -> Option<Duration> {
        let mut wake: Option<Duration> = None;
        for store in &mut self.outputs {
            let Some(early) = store.early.as_mut() else {
                continue;
            };
            let unfired = match &store.windows {
                Windows::Fixed(windows) => windows.has_unfired(),
                Windows::Sessions(sessions) => sessions.has_unfired(),
            };
            if !unfired {
                continue;
            }
            if now >= early.next {
                early.next = now + early.every;
                match &mut store.windows {
                    Windows::Fixed(windows) => windows.advance_early(&self.keys, rows),
                    Windows::Sessions(sessions) => sessions.advance_early(rows),
                }
            }
            let until = early.next.saturating_duration_since(now);
            wake = Some(wake.map_or(until, |w| w.min(until)));
        }
        wake
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::test_plan::plan;
    use crate::aggregate::Key;
    use crate::plan::RankPlan;

    fn partial(key: &str, count: u64) -> Partial {
        Partial {
            output: 0,
            span: crate::aggregate::Span::Pane,
            window: Window { start: 0, end: 10 },
            key: Key(vec![Value::Str(key.into())].into()),
            accumulators: smallvec::smallvec![Accumulator::Count(count)],
        }
    }

    fn fire(store: &mut WindowStore, frontier: Option<u64>) -> Vec<(String, i64, bool)> {
        let mut rows = Vec::new();
        assert!(store.advance(frontier, &mut rows, &mut Vec::new(), usize::MAX));
        let mut out: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let Value::Str(k) = &r.key.0[0] else {
                    panic!("key")
                };
                let Value::Int(n) = r.values[0] else {
                    panic!("count")
                };
                (k.to_string(), n, r.is_final)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn early_results_show_the_window_in_progress_then_it_fires_whole() {
        let mut store = WindowStore::new(&plan(5, None));
        let start = Instant::now();
        store.absorb(partial("a", 2));
        store.absorb(partial("b", 1));
        let mut rows = Vec::new();
        let wake = store
            .advance_early(start, &mut rows)
            .expect("an open window");
        assert!(rows.is_empty(), "not before emit_every has passed");
        assert!(wake <= Duration::from_millis(1000));
        let later = start + Duration::from_secs(2);
        assert!(store.advance_early(later, &mut rows).is_some());
        let running: Vec<(i64, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.values[0].as_number().map_or(-1, |n| n.as_f64() as i64),
                    r.is_final,
                )
            })
            .collect();
        assert_eq!(running.len(), 2);
        assert!(running.iter().all(|(_, is_final)| !is_final));
        // Only what changed since.
        rows.clear();
        store.absorb(partial("a", 1));
        store.advance_early(later + Duration::from_secs(2), &mut rows);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].values[0], Value::Int(3));
        // Nothing changed: nothing emitted.
        rows.clear();
        store.advance_early(later + Duration::from_secs(4), &mut rows);
        assert!(rows.is_empty());
        // On time: every key, whole.
        assert_eq!(
            fire(&mut store, Some(10)),
            [("a".to_string(), 3, false), ("b".to_string(), 1, false)]
        );
        // A fired window is not shown early again.
        store.absorb(partial("b", 1));
        rows.clear();
        store.advance_early(later + Duration::from_secs(6), &mut rows);
        assert!(rows.is_empty());
    }

    #[test]
    fn fires_on_time_then_corrections_then_final() {
        let mut store = WindowStore::new(&plan(5, None));
        store.absorb(partial("a", 2));
        store.absorb(partial("b", 1));
        assert!(
            fire(&mut store, Some(9)).is_empty(),
            "frontier before the end: nothing fires"
        );
        assert_eq!(
            fire(&mut store, Some(10)),
            vec![("a".into(), 2, false), ("b".into(), 1, false)]
        );
        assert!(
            fire(&mut store, Some(11)).is_empty(),
            "no change, no correction"
        );
        store.absorb(partial("a", 1));
        assert_eq!(
            fire(&mut store, Some(12)),
            vec![("a".into(), 3, false)],
            "only the changed key"
        );
        assert_eq!(
            fire(&mut store, Some(15)),
            vec![("a".into(), 3, true), ("b".into(), 1, true)]
        );
        assert!(store.is_empty(), "final windows release their state");
    }

    #[test]
    fn without_lateness_the_first_firing_is_final() {
        let mut store = WindowStore::new(&plan(0, None));
        store.absorb(partial("a", 1));
        assert_eq!(fire(&mut store, Some(10)), vec![("a".into(), 1, true)]);
        assert!(store.is_empty());
    }

    #[test]
    fn ranked_outputs_emit_ranks_and_rerank_on_correction() {
        let mut store = WindowStore::new(&plan(
            5,
            Some(RankPlan {
                k: 1,
                by: 0,
                descending: true,
            }),
        ));
        store.absorb(partial("a", 2));
        store.absorb(partial("b", 1));
        assert_eq!(fire(&mut store, Some(10)), vec![("a".into(), 2, false)]);
        store.absorb(partial("b", 5));
        assert_eq!(fire(&mut store, Some(11)), vec![("b".into(), 6, false)]);
        assert_eq!(fire(&mut store, None), vec![("b".into(), 6, true)]);
    }
}
