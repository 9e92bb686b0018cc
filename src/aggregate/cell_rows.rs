//! The accumulators of a pane's (or a window's own) cells, one fixed-width row per cell with
//! the stamp of its last change, in segments that never move.
//!
//! Each cell of an output holds as many accumulators as the output has aggregates. Kept in a
//! box per cell, that is an allocation and a 16-byte pointer per cell; kept in one growing
//! vector, up to half of it is spare after doubling. Here rows are appended to segments that
//! double from one row up to [`SEGMENT_ROWS`] rows and then stay that size: no row ever moves,
//! and at most one segment is partly empty. A row's stamp sits beside it, so the index from
//! keys to rows holds only the row's number.

use super::Accumulator;

/// Rows of the largest segment.
const SEGMENT_ROWS: usize = 1024;
/// Segments before the first of full size.
const DOUBLING: usize = SEGMENT_ROWS.trailing_zeros() as usize + 1;

/// A row's number in its [`CellRows`].
pub(super) type RowId = u32;

/// Rows of a segment: their accumulators, `width` per row, and the stamp of each row's
/// last change.
struct Segment {
    accumulators: Vec<Accumulator>,
    changed: Vec<u64>,
}

/// Rows of `width` accumulators, appended, never moved or removed one by one.
pub(super) struct CellRows {
    width: usize,
    rows: usize,
    segments: Vec<Segment>,
}

impl CellRows {
    /// No rows yet, each to hold `width` accumulators.
    pub(super) fn new(width: usize) -> Self {
        CellRows {
            width,
            rows: 0,
            segments: Vec::new(),
        }
    }

    /// Appends a row changed at `stamp`; `accumulators` holds `width` of them.
    pub(super) fn push(
        &mut self,
        accumulators: impl IntoIterator<Item = Accumulator>,
        stamp: u64,
    ) -> RowId {
        let id = self.rows;
        let (segment, _) = place(id);
        if segment == self.segments.len() {
            let rows = segment_rows(segment);
            self.segments.push(Segment {
                accumulators: Vec::with_capacity(rows * self.width),
                changed: Vec::with_capacity(rows),
            });
        }
        let last = &mut self.segments[segment];
        let before = last.accumulators.len();
        last.accumulators.extend(accumulators);
        debug_assert_eq!(
            last.accumulators.len() - before,
            self.width,
            "a row of the output's width"
        );
        last.changed.push(stamp);
        self.rows += 1;
        RowId::try_from(id).expect("fewer than 2³² cells in a pane")
    }

    /// The accumulators of row `id`.
    pub(super) fn row(&self, id: RowId) -> &[Accumulator] {
        let (segment, at) = place(id as usize);
        let start = at * self.width;
        &self.segments[segment].accumulators[start..start + self.width]
    }

    /// The accumulators of row `id`, to merge into, which is then stamped `stamp`.
    pub(super) fn change(&mut self, id: RowId, stamp: u64) -> &mut [Accumulator] {
        let (segment, at) = place(id as usize);
        let start = at * self.width;
        let segment = &mut self.segments[segment];
        segment.changed[at] = stamp;
        &mut segment.accumulators[start..start + self.width]
    }

    /// The stamp of row `id`'s last change.
    pub(super) fn changed(&self, id: RowId) -> u64 {
        let (segment, at) = place(id as usize);
        self.segments[segment].changed[at]
    }

    /// Every accumulator held, row after row.
    pub(super) fn accumulators(&self) -> impl Iterator<Item = &Accumulator> {
        self.segments.iter().flat_map(|s| &s.accumulators)
    }

    /// Bytes the segments take, spare room included.
    pub(super) fn bytes(&self) -> usize {
        let accumulators: usize = self
            .segments
            .iter()
            .map(|s| s.accumulators.capacity())
            .sum();
        let stamps: usize = self.segments.iter().map(|s| s.changed.capacity()).sum();
        accumulators * std::mem::size_of::<Accumulator>()
            + stamps * std::mem::size_of::<u64>()
            + self.segments.capacity() * std::mem::size_of::<Segment>()
    }
}

/// Rows of segment `segment`: 1, 1, 2, 4, … up to [`SEGMENT_ROWS`], then [`SEGMENT_ROWS`].
fn segment_rows(segment: usize) -> usize {
    match segment {
        0 => 1,
        s if s < DOUBLING => 1 << (s - 1),
        _ => SEGMENT_ROWS,
    }
}

/// The segment of row `id` and its place in it. Segment `s` below the full size starts at row
/// 2^(s−1) (the rows before it sum to that); full segments follow from row [`SEGMENT_ROWS`].
fn place(id: usize) -> (usize, usize) {
    if id < SEGMENT_ROWS {
        let segment = (usize::BITS - id.leading_zeros()) as usize;
        let start = if segment == 0 { 0 } else { 1 << (segment - 1) };
        (segment, id - start)
    } else {
        (
            DOUBLING + (id - SEGMENT_ROWS) / SEGMENT_ROWS,
            id % SEGMENT_ROWS,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_rows_without_gaps() {
        let mut next = (0, 0);
        for id in 0..5 * SEGMENT_ROWS {
            let (segment, at) = place(id);
            assert_eq!((segment, at), next, "row {id}");
            next = if at + 1 == segment_rows(segment) {
                (segment + 1, 0)
            } else {
                (segment, at + 1)
            };
        }
    }

    #[test]
    fn rows_keep_their_accumulators() {
        let mut rows = CellRows::new(2);
        let ids: Vec<RowId> = (0..3000u64)
            .map(|n| rows.push([Accumulator::Count(n), Accumulator::Count(n * 2)], n))
            .collect();
        rows.change(ids[1500], 7)[1].merge(Accumulator::Count(1));
        for (n, &id) in ids.iter().enumerate() {
            let n = n as u64;
            let (second, stamp) = if n == 1500 {
                (n * 2 + 1, 7)
            } else {
                (n * 2, n)
            };
            assert_eq!(
                rows.row(id),
                &[Accumulator::Count(n), Accumulator::Count(second)]
            );
            assert_eq!(rows.changed(id), stamp);
        }
        assert_eq!(rows.accumulators().count(), 6000);
        let row_bytes = 2 * std::mem::size_of::<Accumulator>() + std::mem::size_of::<u64>();
        let spare_rows = rows.bytes() / row_bytes - 3000;
        assert!(
            spare_rows < SEGMENT_ROWS + 32,
            "at most one segment partly empty"
        );
    }
}
