//! Top-k and bottom-k: ordering the keys of one window by one aggregate.

use crate::value::Value;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Returns the first `k` entries ordered by `score` (largest first when `descending`), ties
/// broken by key ascending. `entries` yields `(key, score)`; keys are distinct.
///
/// Only the best `k` seen so far are kept, in a heap whose top is the worst of them: an
/// entry is compared with that one alone, and most entries of a window with thousands of
/// keys lose on the score, without their key being read. The entries are never collected.
pub fn rank<K: Ord>(
    entries: impl Iterator<Item = (K, Value)>,
    k: usize,
    descending: bool,
) -> Vec<(K, Value)> {
    if k == 0 {
        return Vec::new();
    }
    let mut kept: BinaryHeap<Ranked<K>> = BinaryHeap::with_capacity(k);
    for (key, score) in entries {
        let entry = Ranked {
            key,
            score,
            descending,
        };
        if kept.len() < k {
            kept.push(entry);
        } else if let Some(mut worst) = kept.peek_mut() {
            if entry < *worst {
                *worst = entry;
            }
        }
    }
    kept.into_sorted_vec()
        .into_iter()
        .map(|entry| (entry.key, entry.score))
        .collect()
}

/// An entry ordered by rank: the better ranked is the lesser.
struct Ranked<K> {
    key: K,
    score: Value,
    descending: bool,
}

impl<K: Ord> Ord for Ranked<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_score = if self.descending {
            other.score.cmp(&self.score)
        } else {
            self.score.cmp(&other.score)
        };
        by_score.then_with(|| self.key.cmp(&other.key))
    }
}

impl<K: Ord> PartialOrd for Ranked<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord> PartialEq for Ranked<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord> Eq for Ranked<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_and_bottom_break_ties_by_key() {
        let keys = ["d", "a", "c", "b", "e"];
        let scores = [5, 7, 5, 1, 5];
        let entries = || keys.iter().zip(scores).map(|(k, s)| (k, Value::Int(s)));
        let top: Vec<&str> = rank(entries(), 3, true)
            .into_iter()
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(top, vec!["a", "c", "d"]);
        let bottom: Vec<&str> = rank(entries(), 2, false)
            .into_iter()
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(bottom, vec!["b", "c"]);
        assert_eq!(rank(entries(), 10, true).len(), 5);
    }

    proptest::proptest! {
        /// The same entries as ordering them all and taking the first `k`, whatever the
        /// scores (ties and equal scores of other types included) and `k`.
        #[test]
        fn the_first_k_of_the_whole_order(
            scores in proptest::collection::vec(0i64..6, 0..200),
            k in 0usize..12,
            descending: bool,
            floats: bool,
        ) {
            let score = |s: i64| if floats { Value::Float(s as f64 / 2.0) } else { Value::Int(s) };
            let entries = || scores.iter().enumerate().map(|(key, &s)| (key, score(s)));
            let mut all: Vec<(usize, Value)> = entries().collect();
            all.sort_by(|a, b| {
                let by_score = if descending { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) };
                by_score.then_with(|| a.0.cmp(&b.0))
            });
            all.truncate(k);
            proptest::prop_assert_eq!(rank(entries(), k, descending), all);
        }
    }
}
