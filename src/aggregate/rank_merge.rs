//! Rankings across workers: each worker ranks the keys it holds, one worker per window merges
//! those rankings into the window's.
//!
//! A key's partial states all go to one worker, so the best `k` keys of a window are among the
//! union of every worker's best `k`: merging the workers' rankings gives exactly the ranking
//! of all keys, with the same ties (broken by key). A worker sends its whole ranking of a
//! window each time the window fires there; the merge keeps each worker's latest and fires the
//! window's ranking when one changed.
//!
//! A worker fires a window's final ranking before the frontier passes the window's final time
//! (its output capability is never later than its input frontier when it fires), so once the
//! merge's frontier passes that time every worker's last ranking of the window is in, and the
//! merged final ranking is exact.

use super::{rank, Key, ResultRow};
use crate::plan::{Plan, RankPlan};
use crate::time::{Window, WindowAssigner};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One worker's ranking of one window of a ranked output: its best keys among those it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalRanking {
    /// The worker that ranked.
    pub worker: u32,
    /// Index of the output in the plan.
    pub output: u16,
    /// The window.
    pub window: Window,
    /// Whether the window was still open there (an early result).
    pub early: bool,
    /// Its rows, best first.
    pub rows: Vec<ResultRow>,
}

/// What the window operator fires: a row, or a worker's ranking of a window to be merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fired {
    /// A row of an output that is not ranked.
    Row(ResultRow),
    /// A worker's ranking of one window of a ranked output.
    Ranking(LocalRanking),
}

impl Fired {
    /// Splits the rows one worker fired (early results or not) into rows and rankings: a
    /// ranked output's firing is one run of rows numbered from 1.
    pub fn split(
        rows: &mut Vec<ResultRow>,
        ranked: &[bool],
        worker: u32,
        early: bool,
        out: &mut Vec<Fired>,
    ) {
        for row in rows.drain(..) {
            if !ranked[usize::from(row.output)] {
                out.push(Fired::Row(row));
                continue;
            }
            match out.last_mut() {
                Some(Fired::Ranking(ranking))
                    if row.rank != Some(1)
                        && ranking.output == row.output
                        && ranking.window == row.window =>
                {
                    ranking.rows.push(row)
                }
                _ => out.push(Fired::Ranking(LocalRanking {
                    worker,
                    output: row.output,
                    window: row.window,
                    early,
                    rows: vec![row],
                })),
            }
        }
    }
}

/// The windows of ranked outputs being merged on one worker.
pub struct RankMerge {
    /// Per output: how it ranks and when its windows are final (`None`: not ranked).
    outputs: Vec<Option<(RankPlan, WindowAssigner)>>,
    windows: BTreeMap<(Window, u16), Merging>,
}

#[derive(Default)]
struct Merging {
    /// Each worker's latest ranking.
    rankings: Vec<(u32, Vec<ResultRow>)>,
    /// Whether its on-time ranking was fired.
    fired: bool,
    /// Whether a ranking that is not final came since the last firing: a correction once
    /// the window has ended.
    dirty: bool,
    /// Whether an early ranking came since the last firing: early rows while it is open.
    early: bool,
}

impl RankMerge {
    /// An empty merge for the plan's ranked outputs.
    pub fn new(plan: &Plan) -> RankMerge {
        let outputs = plan
            .outputs
            .iter()
            .map(|o| {
                let assigner = WindowAssigner::new(&o.window, plan.time.allowed_lateness_ms);
                o.rank.clone().map(|r| (r, assigner))
            })
            .collect();
        RankMerge {
            outputs,
            windows: BTreeMap::new(),
        }
    }

    /// Takes a worker's latest ranking of a window. A final one changes nothing shown before
    /// the window's final ranking.
    pub fn absorb(&mut self, ranking: LocalRanking) {
        let merging = self
            .windows
            .entry((ranking.window, ranking.output))
            .or_default();
        merging.early |= ranking.early;
        merging.dirty |= !ranking.rows.iter().all(|row| row.is_final);
        match merging
            .rankings
            .iter_mut()
            .find(|(worker, _)| *worker == ranking.worker)
        {
            Some((_, rows)) => *rows = ranking.rows,
            None => merging.rankings.push((ranking.worker, ranking.rows)),
        }
    }

    /// Whether no window is being merged.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Fires merged rankings as a window store fires rows, on the frontier (`None`: the input
    /// is complete): final once it passes the window's end plus the allowed lateness, on
    /// time once it passes the end, then corrections when a worker's ranking changed; before
    /// the end, early rankings as they come.
    pub fn advance(&mut self, frontier: Option<u64>, rows: &mut Vec<ResultRow>) {
        let mut done = Vec::new();
        for (&(window, output), merging) in self.windows.iter_mut() {
            let Some((ranking, assigner)) = &self.outputs[usize::from(output)] else {
                continue;
            };
            let is_final = frontier.is_none_or(|f| f >= assigner.final_at(window));
            let due = match frontier.is_none_or(|f| f >= window.end) {
                true => is_final || !merging.fired || merging.dirty,
                false => merging.early,
            };
            if !due {
                continue;
            }
            merge(ranking, &merging.rankings, is_final, rows);
            merging.dirty = false;
            merging.early = false;
            merging.fired |= frontier.is_none_or(|f| f >= window.end);
            if is_final {
                done.push((window, output));
            }
        }
        for window in done {
            self.windows.remove(&window);
        }
    }
}

/// The ranking of the union of the workers' rankings.
fn merge(
    ranking: &RankPlan,
    rankings: &[(u32, Vec<ResultRow>)],
    is_final: bool,
    rows: &mut Vec<ResultRow>,
) {
    let by_key: HashMap<&Key, &ResultRow, rustc_hash::FxBuildHasher> = rankings
        .iter()
        .flat_map(|(_, rows)| rows)
        .map(|row| (&row.key, row))
        .collect();
    let scored = by_key
        .iter()
        .map(|(&key, row)| (key, row.values[ranking.by].clone()));
    for (position, (key, _)) in rank(scored, ranking.k, ranking.descending)
        .into_iter()
        .enumerate()
    {
        rows.push(ResultRow {
            rank: Some(position as u32 + 1),
            is_final,
            ..by_key[key].clone()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::test_plan;
    use crate::value::Value;

    /// One output, top 2 by its count, tumbling windows of 10, allowed lateness 5.
    fn plan() -> Plan {
        test_plan::plan(
            5,
            Some(RankPlan {
                k: 2,
                by: 0,
                descending: true,
            }),
        )
    }

    const WINDOW: Window = Window { start: 0, end: 10 };

    fn ranking(worker: u32, entries: &[(&str, i64)]) -> LocalRanking {
        LocalRanking {
            worker,
            output: 0,
            window: WINDOW,
            early: false,
            rows: entries
                .iter()
                .enumerate()
                .map(|(i, (k, n))| ResultRow {
                    output: 0,
                    window: WINDOW,
                    rank: Some(i as u32 + 1),
                    key: Key(vec![Value::Str((*k).into())].into()),
                    values: vec![Value::Int(*n)],
                    is_final: false,
                })
                .collect(),
        }
    }

    fn fire(merge: &mut RankMerge, frontier: Option<u64>) -> Vec<(String, i64, u32, bool)> {
        let mut rows = Vec::new();
        merge.advance(frontier, &mut rows);
        rows.into_iter()
            .map(|r| {
                let (Value::Str(k), Value::Int(n)) = (&r.key.0[0], &r.values[0]) else {
                    panic!("row")
                };
                (k.to_string(), *n, r.rank.expect("ranked"), r.is_final)
            })
            .collect()
    }

    #[test]
    fn the_workers_rankings_merge_into_the_windows() {
        let mut merge = RankMerge::new(&plan());
        merge.absorb(ranking(0, &[("a", 5), ("c", 2)]));
        merge.absorb(ranking(1, &[("b", 5), ("d", 4)]));
        assert!(
            fire(&mut merge, Some(9)).is_empty(),
            "on-time rankings wait for the end"
        );
        // Ties break by key, as in one worker's ranking.
        let best = vec![("a".into(), 5, 1, false), ("b".into(), 5, 2, false)];
        assert_eq!(fire(&mut merge, Some(10)), best, "on time, once");
        assert!(fire(&mut merge, Some(11)).is_empty(), "nothing changed");
        // A worker's new ranking replaces its last one.
        merge.absorb(ranking(0, &[("c", 9), ("a", 5)]));
        assert_eq!(
            fire(&mut merge, Some(12)),
            vec![("c".into(), 9, 1, false), ("a".into(), 5, 2, false)]
        );
        // A final ranking is shown by the final firing only.
        let mut last = ranking(1, &[("d", 9)]);
        last.rows.iter_mut().for_each(|r| r.is_final = true);
        merge.absorb(last);
        assert!(fire(&mut merge, Some(14)).is_empty());
        assert_eq!(
            fire(&mut merge, Some(15)),
            vec![("c".into(), 9, 1, true), ("d".into(), 9, 2, true)]
        );
        assert!(merge.is_empty());
    }

    #[test]
    fn early_rankings_show_while_the_window_is_open() {
        let mut merge = RankMerge::new(&plan());
        let mut early = ranking(0, &[("a", 1)]);
        early.early = true;
        merge.absorb(early);
        assert_eq!(fire(&mut merge, Some(3)), vec![("a".into(), 1, 1, false)]);
        assert!(fire(&mut merge, Some(4)).is_empty(), "nothing new");
        assert_eq!(fire(&mut merge, None), vec![("a".into(), 1, 1, true)]);
    }

    #[test]
    fn a_firing_is_one_run_of_ranks_from_one() {
        let rows = |r: LocalRanking| r.rows;
        let mut fired = Vec::new();
        let mut all = rows(ranking(0, &[("a", 1), ("b", 1)]));
        all.extend(rows(ranking(0, &[("a", 2)])));
        Fired::split(&mut all, &[true], 3, false, &mut fired);
        let sizes: Vec<(u32, usize)> = fired
            .iter()
            .map(|f| match f {
                Fired::Ranking(r) => (r.worker, r.rows.len()),
                Fired::Row(_) => panic!("ranked"),
            })
            .collect();
        assert_eq!(sizes, vec![(3, 2), (3, 1)]);
    }
}
