//! Windowed aggregation: accumulators, the per-worker pre-aggregation that runs before the
//! exchange, the window store that fires results on the frontier, ranking and de-duplication.
//!
//! Everything here is plain state with no timely types, so it is unit-tested and benchmarked
//! directly; `engine` wires it into operators. Nothing here reads input or writes output.

mod accumulator;
mod approx;
mod cell_rows;
mod dedup;
mod distinct;
mod fixed_store;
mod fold_cells;
mod id_table;
mod key;
mod key_table;
mod preaggregate;
mod rank_merge;
mod ranking;
mod session_store;
#[cfg(test)]
mod test_plan;
mod window_store;

pub use accumulator::Accumulator;
pub use approx::ApproxSet;
pub use dedup::Deduplicator;
pub use key::{Key, KeyView};
pub use preaggregate::{Accumulators, Partial, PreAggregator, Span};
pub use rank_merge::{Fired, LocalRanking, RankMerge};
pub use ranking::rank;
pub use window_store::{ResultRow, StateSize, WindowStore};
