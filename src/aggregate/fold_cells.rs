//! The cells a pre-aggregator folds one key group's records into between two drains.
//!
//! At high key cardinality a key gets a record or two per pane between drains, so keeping
//! the cells, not folding into them, is the cost. Every cell of the group lives in one
//! vector and every accumulator in another, each key's cells linked most recent first: a
//! cell costs no allocation of its own, and the cells one record opens for the outputs of
//! its group sit side by side.

use super::{Accumulator, Accumulators, Key, KeyView, Span};
use crate::plan::AggregatePlan;
use crate::prefetch::prefetch;
use crate::time::Window;
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// The end of a key's list of cells.
const END: u32 = u32::MAX;

/// How many cells a key scans before its cells are indexed: a key usually has one or two, an
/// output without a key or with cumulative windows can have thousands.
const SCAN_CELLS: u32 = 8;

/// Which cell: one output's pane or window for one key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CellOf {
    /// The key's number ([`FoldCells::key`]).
    pub key: u32,
    /// Which output of the group.
    pub fold: u16,
    /// The pane or window.
    pub window: Window,
    /// What the window is: a pane or one window.
    pub span: Span,
}

/// An open cell.
struct Cell {
    of: CellOf,
    /// The key's cell before this one, or [`END`].
    next: u32,
    /// Where its accumulators start; they end where the next cell's start.
    first: u32,
}

/// The newest of a key's cells, where its accumulators start, and how many cells it has.
#[derive(Clone, Copy)]
struct KeyCells {
    head: u32,
    /// The newest cell's first accumulator: known before the cell is read, so the
    /// accumulators are fetched while the cells are compared.
    first: u32,
    len: u32,
}

/// A key group's cells, by key, output, pane or window, and span.
#[derive(Default)]
pub(super) struct FoldCells {
    /// Each key's number.
    numbers: HashMap<Key, u32, FxBuildHasher>,
    /// The keys by number.
    keys: Vec<Key>,
    /// Each key's cells, by number.
    lists: Vec<KeyCells>,
    cells: Vec<Cell>,
    accumulators: Vec<Accumulator>,
    /// The cells of keys with more than [`SCAN_CELLS`] cells.
    index: HashMap<CellOf, u32, FxBuildHasher>,
    /// Cells already moved out by a drain in parts ([`FoldCells::drain`]).
    drained: usize,
}

/// Makes room for `more` items, doubling: the vectors keep their size from drain to drain, so
/// they grow only while the first drains fill them, and each growth copies every cell. The
/// spare room a doubling leaves is never written, so it takes address space, not memory.
#[inline]
fn make_room<T>(items: &mut Vec<T>, more: usize) {
    if items.capacity() - items.len() < more {
        items.reserve(more.max(1024));
    }
}

impl FoldCells {
    /// The number of the key `view` shows, numbered now if it has no cells yet.
    #[inline]
    pub(super) fn key(&mut self, view: &KeyView<'_>) -> u32 {
        match self.numbers.entry_ref(view) {
            EntryRef::Occupied(entry) => *entry.get(),
            EntryRef::Vacant(entry) => {
                let number = u32::try_from(self.keys.len()).expect("fewer than 2³² keys");
                let key = view.to_key();
                self.keys.push(key.clone());
                self.lists.push(KeyCells {
                    head: END,
                    first: 0,
                    len: 0,
                });
                entry.insert_with_key(key, number);
                number
            }
        }
    }

    /// Asks for the newest cells of key `key` and their accumulators to be fetched, ahead of
    /// [`FoldCells::cell`].
    #[inline]
    pub(super) fn prefetch(&self, key: u32) {
        let list = self.lists[key as usize];
        if list.len > 0 {
            prefetch(self.cells.as_ptr().wrapping_add(list.head as usize));
            // The cells one record opens for the outputs of the group are side by side, as
            // are their accumulators, which end at the newest cell's: the 128 bytes before.
            let newest = self.accumulators.as_ptr().wrapping_add(list.first as usize);
            prefetch(newest);
            prefetch(newest.wrapping_byte_sub(64));
            prefetch(newest.wrapping_byte_sub(128));
        }
    }

    /// The accumulators of cell `of` (one per aggregate of `aggregates`, its output's),
    /// opened empty if it is not there.
    #[inline]
    pub(super) fn cell(&mut self, of: CellOf, aggregates: &[AggregatePlan]) -> &mut [Accumulator] {
        let list = self.lists[of.key as usize];
        let found = if list.len > SCAN_CELLS {
            self.index.get(&of).copied()
        } else {
            let mut at = list.head;
            while at != END {
                let cell = &self.cells[at as usize];
                if cell.of == of {
                    break;
                }
                at = cell.next;
            }
            (at != END).then_some(at)
        };
        let at = match found {
            Some(at) => at,
            None => self.open(of, aggregates),
        };
        let first = self.cells[at as usize].first as usize;
        &mut self.accumulators[first..first + aggregates.len()]
    }

    /// Opens an empty cell and returns its number.
    fn open(&mut self, of: CellOf, aggregates: &[AggregatePlan]) -> u32 {
        debug_assert_eq!(self.drained, 0, "a cell opened while a drain is under way");
        let at = u32::try_from(self.cells.len()).expect("fewer than 2³² cells");
        let list = &mut self.lists[of.key as usize];
        make_room(&mut self.cells, 1);
        make_room(&mut self.accumulators, aggregates.len());
        let first = u32::try_from(self.accumulators.len()).expect("fewer than 2³² accumulators");
        self.cells.push(Cell {
            of,
            next: list.head,
            first,
        });
        list.first = first;
        self.accumulators
            .extend(aggregates.iter().map(|a| Accumulator::new(a.function)));
        list.head = at;
        list.len += 1;
        if list.len == SCAN_CELLS + 1 {
            // Index the key's cells from now on, this one among them.
            let mut cell = at;
            while cell != END {
                let c = &self.cells[cell as usize];
                self.index.insert(c.of, cell);
                cell = c.next;
            }
        } else if list.len > SCAN_CELLS {
            self.index.insert(of, at);
        }
        at
    }

    /// Moves up to `at_most` cells out, in the order they were opened, as `(output of the
    /// group, span, window, key, accumulators)`, and returns how many. The cells after them
    /// stay for the next call; the call that moves the last leaves no cell and no key.
    /// Between the first call and the last, no cell may be opened.
    pub(super) fn drain(
        &mut self,
        at_most: usize,
        mut give: impl FnMut(u16, Span, Window, Key, Accumulators),
    ) -> usize {
        let from = self.drained;
        let to = self.cells.len().min(from.saturating_add(at_most));
        for at in from..to {
            let cell = &self.cells[at];
            let end = self
                .cells
                .get(at + 1)
                .map_or(self.accumulators.len(), |next| next.first as usize);
            // Taken, not removed: the accumulators after them stay where they are.
            let own: Accumulators = self.accumulators[cell.first as usize..end]
                .iter_mut()
                .map(|acc| std::mem::replace(acc, Accumulator::Count(0)))
                .collect();
            give(
                cell.of.fold,
                cell.of.span,
                cell.of.window,
                self.keys[cell.of.key as usize].clone(),
                own,
            );
        }
        self.drained = to;
        if to == self.cells.len() {
            self.drained = 0;
            self.accumulators.clear();
            self.cells.clear();
            self.numbers.clear();
            self.keys.clear();
            self.lists.clear();
            self.index.clear();
        }
        to - from
    }

    /// How many keys are numbered.
    #[cfg(test)]
    pub(super) fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Whether no cell is open (or left to drain).
    pub(super) fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use crate::value::Value;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn count() -> AggregatePlan {
        AggregatePlan {
            name: "n".into(),
            function: AggregateFunction::Count,
            field: None,
            condition: None,
        }
    }

    proptest! {
        /// Whatever the mix of keys, outputs, windows and spans (many cells for one key
        /// included, so the index takes over), every record lands in its own cell and a drain,
        /// in parts of any size, gives each cell once with its count, then nothing.
        #[test]
        fn each_cell_counts_its_records(
            records in prop::collection::vec((0u8..4, 0u16..2, 0u64..20, any::<bool>()), 0..300),
            part in 1usize..64,
        ) {
            let aggregates = [[count()].to_vec(), [count(), count()].to_vec()];
            let mut cells = FoldCells::default();
            let mut model: BTreeMap<(Key, u16, Window, bool), u64> = BTreeMap::new();
            for (key, fold, start, pane) in records {
                let fields = [Some(Value::Int(i64::from(key)))];
                let view = KeyView { fields: &fields, indices: &[0] };
                let number = cells.key(&view);
                let window = Window { start, end: start + 1 };
                let span = if pane { Span::Pane } else { Span::Window };
                let of = CellOf { key: number, fold, window, span };
                let accumulators = cells.cell(of, &aggregates[usize::from(fold)]);
                prop_assert_eq!(accumulators.len(), aggregates[usize::from(fold)].len());
                for acc in accumulators {
                    acc.add(None, 0);
                }
                *model.entry((view.to_key(), fold, window, pane)).or_default() += 1;
            }
            let mut drained = BTreeMap::new();
            let mut check = |fold, span, window, key: Key, counts: Accumulators| {
                let pane = span == Span::Pane;
                let mut expected = Accumulator::new(AggregateFunction::Count);
                let n = model.get(&(key.clone(), fold, window, pane)).copied().unwrap_or(0);
                for _ in 0..n {
                    expected.add(None, 0);
                }
                assert!(counts.iter().all(|c| *c == expected), "cell {key:?} {fold} {window:?}");
                assert_eq!(counts.len(), aggregates[usize::from(fold)].len());
                assert!(drained.insert((key, fold, window, pane), ()).is_none(), "a cell twice");
            };
            while !cells.is_empty() {
                let moved = cells.drain(part, &mut check);
                prop_assert!(0 < moved && moved <= part, "{moved} cells moved in a part of {part}");
            }
            prop_assert_eq!(drained.len(), model.len());
            let mut again = 0;
            cells.drain(usize::MAX, |_, _, _, _, _| again += 1);
            prop_assert_eq!(again, 0);
        }
    }
}
