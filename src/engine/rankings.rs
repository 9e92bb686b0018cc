//! The rank merge operator: rows of outputs that are not ranked pass on where they are; each
//! worker's ranking of a window goes to the worker that merges that window (by hash of output
//! and window), which fires the window's ranking (see `aggregate/rank_merge.rs`).

use super::Shared;
use crate::aggregate::{Fired, RankMerge, ResultRow};
use std::hash::BuildHasher;
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::Stream;

/// Fired rows and rankings in, result rows out.
pub fn merge<'s>(
    fired: Stream<'s, u64, Vec<Fired>>,
    shared: &Arc<Shared>,
) -> Stream<'s, u64, Vec<ResultRow>> {
    let here = fired.scope().index() as u64;
    let route = Exchange::new(move |fired: &Fired| match fired {
        Fired::Row(_) => here,
        Fired::Ranking(r) => rustc_hash::FxBuildHasher.hash_one((r.output, r.window)),
    });
    let mut merge = RankMerge::new(&shared.plan);
    fired.unary_frontier(route, "Rankings", move |_, _| {
        let mut held: Option<Capability<u64>> = None;
        let mut passed = Vec::new();
        let mut rows = Vec::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|cap, batches| {
                let mut ranked = false;
                for batch in batches {
                    for fired in batch.drain(..) {
                        match fired {
                            Fired::Row(row) => passed.push(row),
                            Fired::Ranking(ranking) => {
                                merge.absorb(ranking);
                                ranked = true;
                            }
                        }
                    }
                }
                if !passed.is_empty() {
                    output.session(&cap).give_container(&mut passed);
                }
                if ranked
                    && held
                        .as_ref()
                        .is_none_or(|h| cap.least().is_some_and(|t| t < h.time()))
                {
                    held = cap.retain_least(0);
                }
            });
            let now = frontier.frontier().first().copied();
            merge.advance(now, &mut rows);
            if let Some(cap) = held.as_mut() {
                if !rows.is_empty() {
                    output.session(&*cap).give_container(&mut rows);
                }
                match now {
                    _ if merge.is_empty() => held = None,
                    Some(t) if t > *cap.time() => cap.downgrade(&t),
                    _ => {}
                }
            }
        }
    })
}
