//! Feeds the live store: every row the process's workers compute goes to worker 0 of
//! process 0, which keeps the latest rows for the dashboard API.
//!
//! The feed is a branch of its own after the window operators; it holds no capability and
//! is not on the path of the written frontier, so serving never delays a commit.

use crate::aggregate::ResultRow;
use crate::dashboard::LiveStore;
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::Stream;

/// Sends `rows` to `live` on the first worker (`None` on every other process: they only
/// send).
pub fn publish<'s>(rows: Stream<'s, u64, Vec<ResultRow>>, live: Option<Arc<LiveStore>>) {
    rows.sink(
        Exchange::new(|_: &ResultRow| 0),
        "LiveStore",
        move |(input, _)| {
            input.for_each(|_, batch| {
                if let Some(live) = &live {
                    live.publish(batch);
                }
            });
        },
    );
}
