//! The tumbling, sliding and cumulative windows of one output: kept as panes, assembled into
//! windows when they fire.
//!
//! Where an output's windows are unions of panes (one slide long), a partial state comes per
//! pane and is merged once, into its pane, however many windows contain the pane; a window's
//! rows are assembled from its panes when it fires. A sliding hour every five minutes thus
//! holds each key once per pane, not once in each of twelve windows. Partial states of records
//! too late for some of a pane's windows come per window and are kept for that window alone,
//! as are all partial states of an output without panes (windows in a time zone).
//!
//! Every merge stamps what it changed, and a window remembers the stamp of its last rows: it
//! owes a correction (or early rows) when one of its parts changed since, and shows the keys
//! that did.
//!
//! Cells name their key by its number in the window store's [`KeyTable`] (one for all its
//! outputs), where each key is held once: a window is assembled from its panes by key
//! number. Their accumulators are rows of
//! the part's [`CellRows`], not an allocation each.

use super::cell_rows::{CellRows, RowId};
use super::key_table::{KeyId, KeyTable};
use super::preaggregate::Span;
use super::window_store::StateSize;
use super::{rank, Accumulator, Accumulators, Key, ResultRow};
use crate::plan::RankPlan;
use crate::time::{Window, WindowAssigner};
use hashbrown::HashMap;
use std::collections::BTreeMap;

type FxHashMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The cells of one pane, or of one window's own part: each key's row of accumulators.
struct Cells {
    keys: FxHashMap<KeyId, RowId>,
    rows: CellRows,
    /// Stamp of the last merge into any of them.
    changed: u64,
}

impl Cells {
    /// No cells yet; each will hold `width` accumulators.
    fn new(width: usize) -> Self {
        Cells {
            keys: FxHashMap::default(),
            rows: CellRows::new(width),
            changed: 0,
        }
    }

    /// The accumulators of a key's cell, by its row.
    fn accumulators(&self, row: RowId) -> &[Accumulator] {
        self.rows.row(row)
    }

    /// Whether the cell in `row` changed since the stamp `shown`.
    fn changed_since(&self, row: RowId, shown: u64) -> bool {
        self.rows.changed(row) > shown
    }

    /// Merges a key's partial state; a new cell holds the key in `table`.
    fn merge(&mut self, key: KeyId, accumulators: Accumulators, stamp: u64, table: &mut KeyTable) {
        self.changed = stamp;
        match self.keys.get(&key) {
            Some(&row) => {
                let held = self.rows.change(row, stamp);
                for (acc, more) in held.iter_mut().zip(accumulators) {
                    acc.merge(more);
                }
            }
            None => {
                let settled = accumulators.into_iter().map(|mut acc| {
                    acc.settle();
                    acc
                });
                let row = self.rows.push(settled, stamp);
                table.hold(key);
                self.keys.insert(key, row);
            }
        }
    }
}

impl Cells {
    /// Lets go of the keys of cells dropped.
    fn release(self, table: &mut KeyTable) {
        for key in self.keys.into_keys() {
            table.release(key);
        }
    }
}

/// An empty map with room for the keys of the part with the most: a window's parts (panes)
/// mostly hold the same keys, so merging them seldom grows it.
fn most_keys_map<V>(parts: &[&Cells]) -> FxHashMap<KeyId, V> {
    let most = parts
        .iter()
        .map(|cells| cells.keys.len())
        .max()
        .unwrap_or(0);
    FxHashMap::with_capacity_and_hasher(most, rustc_hash::FxBuildHasher)
}

struct Pane {
    cells: Cells,
    /// When the last window made of it is final: then it is released.
    released_at: u64,
}

/// A window with data: its rows are assembled from its panes and its own part.
struct WindowState {
    /// Partial states for this window alone.
    own: Cells,
    fired: bool,
    /// Stamp of its last rows.
    shown: u64,
}

impl WindowState {
    /// A window with no rows yet, whose cells hold `width` accumulators.
    fn new(width: usize) -> Self {
        WindowState {
            own: Cells::new(width),
            fired: false,
            shown: 0,
        }
    }
}

/// When a window emits, and with which flag.
#[derive(Clone, Copy, PartialEq)]
enum Firing {
    /// The running rows of a window still open (`emit_every`): only what changed.
    Early,
    OnTime,
    Correction,
    Final,
}

/// The open windows of one output whose bounds follow from time alone.
pub(super) struct FixedStore {
    output: u16,
    /// Accumulators per cell: the output's aggregates.
    width: usize,
    rank: Option<RankPlan>,
    assigner: WindowAssigner,
    panes: BTreeMap<Window, Pane>,
    windows: BTreeMap<Window, WindowState>,
    /// Stamp of the latest merge.
    stamp: u64,
}

impl FixedStore {
    /// An empty store for output `output`, whose cells hold `width` accumulators.
    pub(super) fn new(
        output: u16,
        width: usize,
        rank: Option<RankPlan>,
        assigner: WindowAssigner,
    ) -> Self {
        FixedStore {
            output,
            width,
            rank,
            assigner,
            panes: BTreeMap::new(),
            windows: BTreeMap::new(),
            stamp: 0,
        }
    }

    /// Merges the partial state of `key` for a pane or one window (its cell holds the key in
    /// `keys`).
    pub(super) fn absorb(
        &mut self,
        keys: &mut KeyTable,
        span: Span,
        window: Window,
        key: Key,
        accumulators: Accumulators,
    ) {
        self.stamp += 1;
        let width = self.width;
        let cells = match span {
            Span::Window => {
                &mut self
                    .windows
                    .entry(window)
                    .or_insert_with(|| WindowState::new(width))
                    .own
            }
            Span::Pane => {
                let (assigner, windows) = (&self.assigner, &mut self.windows);
                &mut self
                    .panes
                    .entry(window)
                    .or_insert_with(|| {
                        let mut released_at = 0;
                        assigner.for_each_window_of_pane(window, |w| {
                            windows.entry(w).or_insert_with(|| WindowState::new(width));
                            released_at = released_at.max(assigner.final_at(w));
                        });
                        Pane {
                            cells: Cells::new(width),
                            released_at,
                        }
                    })
                    .cells
            }
        };
        let key = keys.id(key);
        cells.merge(key, accumulators, self.stamp, keys);
    }

    /// Fires every window the frontier has passed; `None` means the input is complete.
    /// Windows that became final are added to `finished` as (output, start, end). Stops
    /// between two windows once `rows` holds `at_most` rows and returns false; true once
    /// every window the frontier passed has fired.
    pub(super) fn advance(
        &mut self,
        keys: &mut KeyTable,
        frontier: Option<u64>,
        rows: &mut Vec<ResultRow>,
        finished: &mut Vec<(u16, u64, u64)>,
        at_most: usize,
    ) -> bool {
        let mut done = Vec::new();
        let mut all = true;
        for (&window, state) in self.windows.iter_mut() {
            if frontier.is_some_and(|f| f < window.end) {
                break;
            }
            if rows.len() >= at_most {
                all = false;
                break;
            }
            let parts = Parts::of(&self.panes, keys, window, state);
            let firing = if frontier.is_none_or(|f| f >= self.assigner.final_at(window)) {
                Firing::Final
            } else if !state.fired {
                Firing::OnTime
            } else if parts.changed_since(state.shown) {
                Firing::Correction
            } else {
                continue;
            };
            parts.emit(
                self.output,
                window,
                self.rank.as_ref(),
                firing,
                state.shown,
                rows,
            );
            state.fired = true;
            state.shown = self.stamp;
            if firing == Firing::Final {
                done.push(window);
            }
        }
        for window in done {
            if let Some(state) = self.windows.remove(&window) {
                state.own.release(keys);
            }
            finished.push((self.output, window.start, window.end));
        }
        if !all {
            // A window not fired yet may still be made of panes the frontier passed.
            return false;
        }
        self.panes.retain(|_, pane| {
            let keep = frontier.is_some_and(|f| f < pane.released_at);
            if !keep {
                std::mem::replace(&mut pane.cells, Cells::new(0)).release(keys);
            }
            keep
        });
        true
    }

    /// Emits the rows that changed (the whole ranking, when ranked) of the open window that
    /// ends next, if it has not fired yet, as provisional rows.
    pub(super) fn advance_early(&mut self, keys: &KeyTable, rows: &mut Vec<ResultRow>) {
        let Some((&window, state)) = self.windows.iter_mut().find(|(_, s)| !s.fired) else {
            return;
        };
        let parts = Parts::of(&self.panes, keys, window, state);
        if parts.changed_since(state.shown) {
            let shown = state.shown;
            parts.emit(
                self.output,
                window,
                self.rank.as_ref(),
                Firing::Early,
                shown,
                rows,
            );
            state.shown = self.stamp;
        }
    }

    /// Whether some window has not fired yet (early results have something to show).
    pub(super) fn has_unfired(&self) -> bool {
        self.windows.values().any(|s| !s.fired)
    }

    /// Whether no window is open.
    pub(super) fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// What the open windows hold: a cell is one key in one pane or one window's own part
    /// (its table slot and its row of accumulators). The keys themselves are held once, in
    /// the window store's key table, and counted there.
    pub(super) fn state(&self) -> StateSize {
        let slot_bytes = std::mem::size_of::<(KeyId, RowId)>() + 1;
        let mut size = StateSize {
            windows: self.windows.len() as u64,
            ..StateSize::default()
        };
        let parts = self.panes.values().map(|p| &p.cells);
        for cells in parts.chain(self.windows.values().map(|w| &w.own)) {
            size.cells += cells.keys.len() as u64;
            size.bytes += (cells.keys.capacity() * slot_bytes + cells.rows.bytes()) as u64;
            size.add_distinct_sets(cells.rows.accumulators());
        }
        size
    }
}

/// What one window is made of: its panes and its own part.
struct Parts<'a> {
    parts: Vec<&'a Cells>,
    keys: &'a KeyTable,
}

impl<'a> Parts<'a> {
    fn of(
        panes: &'a BTreeMap<Window, Pane>,
        keys: &'a KeyTable,
        window: Window,
        state: &'a WindowState,
    ) -> Self {
        // Panes order by end: those inside the window end after its start, by its end.
        let first = Window {
            end: window.start.saturating_add(1),
            start: 0,
        };
        let last = Window {
            end: window.end,
            start: u64::MAX,
        };
        let mut parts: Vec<&Cells> = panes
            .range(first..=last)
            .filter(|(pane, _)| pane.start >= window.start)
            .map(|(_, pane)| &pane.cells)
            .collect();
        if !state.own.keys.is_empty() {
            parts.push(&state.own);
        }
        Parts { parts, keys }
    }

    fn changed_since(&self, stamp: u64) -> bool {
        self.parts.iter().any(|cells| cells.changed > stamp)
    }

    /// The window's accumulators for `key`, merged over its parts.
    fn merged(&self, key: KeyId) -> Vec<Accumulator> {
        let mut found = self
            .parts
            .iter()
            .filter_map(|cells| Some(cells.accumulators(*cells.keys.get(&key)?)));
        let mut merged = found.next().map(<[_]>::to_vec).unwrap_or_default();
        for accumulators in found {
            for (acc, more) in merged.iter_mut().zip(accumulators) {
                acc.merge_from(more);
            }
        }
        merged
    }

    /// A key as ranking orders it (by its values), with its number.
    fn ranked(&self, key: KeyId) -> (&'a Key, KeyId) {
        (self.keys.key(key), key)
    }

    /// The window's rows: every key, or (early and corrections) the keys changed since the
    /// stamp `shown`; for a ranked output, its whole ranking (this worker's part of it).
    fn emit(
        &self,
        output: u16,
        window: Window,
        ranking: Option<&RankPlan>,
        firing: Firing,
        shown: u64,
        rows: &mut Vec<ResultRow>,
    ) {
        let is_final = firing == Firing::Final;
        let row = |key: KeyId, accumulators: &[Accumulator], rank: Option<u32>| ResultRow {
            output,
            window,
            rank,
            key: self.keys.key(key).clone(),
            values: accumulators.iter().map(Accumulator::value).collect(),
            is_final,
        };
        let changed_only = match firing {
            Firing::Early | Firing::Correction => true,
            Firing::OnTime | Firing::Final => false,
        };
        match (ranking, &self.parts[..]) {
            (None, [cells]) => {
                // One part (a tumbling window, or a window without panes): its cells as is.
                for (&key, &at) in &cells.keys {
                    if !changed_only || cells.changed_since(at, shown) {
                        rows.push(row(key, cells.accumulators(at), None));
                    }
                }
            }
            (None, parts) if changed_only => {
                let mut changed: FxHashMap<KeyId, ()> = FxHashMap::default();
                for cells in parts {
                    let keys = cells
                        .keys
                        .iter()
                        .filter(|(_, &at)| cells.changed_since(at, shown));
                    changed.extend(keys.map(|(&key, _)| (key, ())));
                }
                for key in changed.into_keys() {
                    rows.push(row(key, &self.merged(key), None));
                }
            }
            (None, parts) => {
                let mut merged: FxHashMap<KeyId, Vec<Accumulator>> = most_keys_map(parts);
                for cells in parts {
                    for (&key, &at) in &cells.keys {
                        let held = cells.accumulators(at);
                        match merged.get_mut(&key) {
                            Some(accumulators) => {
                                for (acc, more) in accumulators.iter_mut().zip(held) {
                                    acc.merge_from(more);
                                }
                            }
                            None => {
                                merged.insert(key, held.to_vec());
                            }
                        }
                    }
                }
                for (&key, accumulators) in &merged {
                    rows.push(row(key, accumulators, None));
                }
            }
            (Some(ranking), [cells]) => {
                let scored = cells.keys.iter().map(|(&key, &at)| {
                    (self.ranked(key), cells.accumulators(at)[ranking.by].value())
                });
                for (position, ((_, key), _)) in rank(scored, ranking.k, ranking.descending)
                    .into_iter()
                    .enumerate()
                {
                    let accumulators = cells.accumulators(cells.keys[&key]);
                    rows.push(row(key, accumulators, Some(position as u32 + 1)));
                }
            }
            (Some(ranking), parts) => {
                let by = ranking.by;
                let mut scores: FxHashMap<KeyId, Accumulator> = most_keys_map(parts);
                for cells in parts {
                    for (&key, &at) in &cells.keys {
                        let score = &cells.accumulators(at)[by];
                        match scores.get_mut(&key) {
                            Some(acc) => acc.merge_from(score),
                            None => {
                                scores.insert(key, score.clone());
                            }
                        }
                    }
                }
                let scored = scores
                    .iter()
                    .map(|(&key, acc)| (self.ranked(key), acc.value()));
                for (position, ((_, key), _)) in rank(scored, ranking.k, ranking.descending)
                    .into_iter()
                    .enumerate()
                {
                    rows.push(row(key, &self.merged(key), Some(position as u32 + 1)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{WindowKind, WindowPlan};
    use crate::value::Value;

    /// A store with its key table, as a window store holds them.
    struct Store {
        fixed: FixedStore,
        keys: KeyTable,
    }

    impl Store {
        /// Fires what the frontier passed, up to `at_most` rows.
        fn advance(
            &mut self,
            frontier: Option<u64>,
            rows: &mut Vec<ResultRow>,
            at_most: usize,
        ) -> bool {
            let finished = &mut Vec::new();
            self.fixed
                .advance(&mut self.keys, frontier, rows, finished, at_most)
        }

        fn advance_early(&mut self, rows: &mut Vec<ResultRow>) {
            self.fixed.advance_early(&self.keys, rows)
        }

        fn state(&self) -> StateSize {
            StateSize {
                bytes: self.keys.bytes() as u64,
                ..StateSize::default()
            }
            .plus(&self.fixed.state())
        }

        fn is_empty(&self) -> bool {
            self.fixed.is_empty()
        }
    }

    /// Windows of 30 sliding by 10 (three panes each), allowed lateness 5.
    fn store(rank: Option<RankPlan>) -> Store {
        let window = WindowPlan {
            size_ms: 30,
            slide_ms: 10,
            kind: WindowKind::Sliding,
            offset_ms: 0,
            zone: None,
        };
        Store {
            fixed: FixedStore::new(0, 1, rank, WindowAssigner::new(&window, 5)),
            keys: KeyTable::default(),
        }
    }

    fn key(k: &str) -> Key {
        Key(vec![Value::Str(k.into())].into())
    }

    fn add(store: &mut Store, span: Span, start: u64, end: u64, k: &str, n: u64) {
        store.fixed.absorb(
            &mut store.keys,
            span,
            Window { start, end },
            key(k),
            smallvec::smallvec![Accumulator::Count(n)],
        );
    }

    /// (start, key, count, rank, final), sorted.
    type Shown = Vec<(u64, String, Value, Option<u32>, bool)>;

    fn shown(rows: Vec<ResultRow>) -> Shown {
        let mut out: Shown = rows
            .into_iter()
            .map(|r| {
                let Value::Str(k) = &r.key.0[0] else {
                    panic!("key")
                };
                (
                    r.window.start,
                    k.to_string(),
                    r.values[0].clone(),
                    r.rank,
                    r.is_final,
                )
            })
            .collect();
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    fn fire(store: &mut Store, frontier: Option<u64>) -> Shown {
        let mut rows = Vec::new();
        assert!(store.advance(frontier, &mut rows, usize::MAX));
        shown(rows)
    }

    fn row(start: u64, k: &str, n: i64, is_final: bool) -> (u64, String, Value, Option<u32>, bool) {
        (start, k.into(), Value::Int(n), None, is_final)
    }

    #[test]
    fn windows_are_assembled_from_their_panes() {
        let mut store = store(None);
        add(&mut store, Span::Pane, 0, 10, "a", 1);
        add(&mut store, Span::Pane, 10, 20, "a", 2);
        add(&mut store, Span::Pane, 10, 20, "b", 4);
        // Windows ending at 10 (final at 15) and 20 are due; both start at 0 (clamped).
        assert_eq!(
            fire(&mut store, Some(20)),
            vec![
                row(0, "a", 1, true),
                row(0, "a", 3, false),
                row(0, "b", 4, false)
            ]
        );
        assert_eq!(store.state().cells, 3, "one cell per key and pane");
        // A late pane partial: only the changed key of each fired window it is in.
        add(&mut store, Span::Pane, 10, 20, "b", 1);
        assert_eq!(fire(&mut store, Some(21)), vec![row(0, "b", 5, false)]);
        // [0, 20) is final at 25, whole; [0, 30) fires on time with all three panes.
        add(&mut store, Span::Pane, 20, 30, "a", 8);
        assert_eq!(
            fire(&mut store, Some(30)),
            vec![
                row(0, "a", 3, true),
                row(0, "a", 11, false),
                row(0, "b", 5, true),
                row(0, "b", 5, false)
            ]
        );
    }

    #[test]
    fn a_window_partial_counts_in_that_window_only() {
        let mut store = store(None);
        add(&mut store, Span::Pane, 10, 20, "a", 1);
        // A record too late for the pane's earlier windows counts in [10, 40) alone.
        add(&mut store, Span::Window, 10, 40, "a", 5);
        let all = fire(&mut store, None);
        assert_eq!(
            all,
            vec![
                row(0, "a", 1, true),
                row(0, "a", 1, true),
                row(10, "a", 6, true)
            ]
        );
        assert!(store.is_empty());
        assert_eq!(store.state(), StateSize::default(), "panes released too");
    }

    #[test]
    fn firing_in_parts_gives_the_rows_of_firing_at_once() {
        let fill = |store: &mut Store| {
            for (start, k, n) in [(0, "a", 1), (0, "b", 2), (10, "a", 3), (20, "c", 4)] {
                add(store, Span::Pane, start, start + 10, k, n);
            }
            add(store, Span::Window, 10, 40, "b", 5);
        };
        for frontier in [Some(20), Some(36), None] {
            let mut whole = store(None);
            fill(&mut whole);
            let expected = fire(&mut whole, frontier);
            let mut parts = store(None);
            fill(&mut parts);
            let (mut rows, mut calls) = (Vec::new(), 0);
            loop {
                calls += 1;
                let mut part = Vec::new();
                let done = parts.advance(frontier, &mut part, 1);
                assert!(done || !part.is_empty(), "a call that stops fires a window");
                rows.append(&mut part);
                if done {
                    break;
                }
            }
            assert_eq!(shown(rows), expected, "frontier {frontier:?}");
            assert!(calls > 1, "one row at most per call: several calls");
            assert_eq!(parts.state(), whole.state(), "the same panes released");
        }
    }

    #[test]
    fn panes_are_released_when_their_last_window_is_final() {
        let mut store = store(None);
        add(&mut store, Span::Pane, 0, 10, "a", 1);
        add(&mut store, Span::Pane, 20, 30, "a", 1);
        // The pane [0, 10) is in windows ending 10, 20 and 30: released at 35.
        fire(&mut store, Some(34));
        assert_eq!(store.state().cells, 2);
        fire(&mut store, Some(35));
        assert_eq!(store.state().cells, 1);
    }

    #[test]
    fn ranked_windows_rank_the_merged_panes() {
        let mut store = store(Some(RankPlan {
            k: 2,
            by: 0,
            descending: true,
        }));
        add(&mut store, Span::Pane, 0, 10, "a", 3);
        add(&mut store, Span::Pane, 0, 10, "b", 2);
        add(&mut store, Span::Pane, 10, 20, "b", 2);
        add(&mut store, Span::Pane, 10, 20, "c", 3);
        add(&mut store, Span::Pane, 20, 30, "c", 1);
        let ranked: Vec<_> = fire(&mut store, Some(30))
            .into_iter()
            .filter(|r| r.0 == 0)
            .map(|r| (r.1, r.2, r.3))
            .collect();
        // [0, 10): a 3, b 2. [0, 20): b 4, then a 3 ties c 3 and wins by key.
        // [0, 30): b 4 ties c 4 and wins by key.
        assert_eq!(
            ranked,
            vec![
                ("a".into(), Value::Int(3), Some(1)),
                ("a".into(), Value::Int(3), Some(2)),
                ("b".into(), Value::Int(2), Some(2)),
                ("b".into(), Value::Int(4), Some(1)),
                ("b".into(), Value::Int(4), Some(1)),
                ("c".into(), Value::Int(4), Some(2)),
            ]
        );
    }

    #[test]
    fn early_rows_show_what_changed_in_the_next_window() {
        let mut store = store(None);
        add(&mut store, Span::Pane, 0, 10, "a", 1);
        add(&mut store, Span::Pane, 0, 10, "b", 1);
        let mut rows = Vec::new();
        store.advance_early(&mut rows);
        assert_eq!(
            shown(std::mem::take(&mut rows)),
            vec![row(0, "a", 1, false), row(0, "b", 1, false)]
        );
        store.advance_early(&mut rows);
        assert!(rows.is_empty(), "nothing changed");
        add(&mut store, Span::Pane, 0, 10, "b", 1);
        store.advance_early(&mut rows);
        assert_eq!(shown(rows), vec![row(0, "b", 2, false)]);
    }
}
