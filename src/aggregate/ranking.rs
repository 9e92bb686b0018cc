//! Top-k and bottom-k: ordering the keys of one window by one aggregate.

use crate::value::Value;

/// Returns the first `k` entries ordered by `score` (largest first when `descending`), ties
/// broken by key ascending. `entries` yields `(key, score)`; keys are distinct.
pub fn rank<K: Ord>(
    entries: impl Iterator<Item = (K, Value)>,
    k: usize,
    descending: bool,
) -> Vec<(K, Value)> {
    let mut all: Vec<(K, Value)> = entries.collect();
    let order = |a: &(K, Value), b: &(K, Value)| {
        let by_score = if descending {
            b.1.cmp(&a.1)
        } else {
            a.1.cmp(&b.1)
        };
        by_score.then_with(|| a.0.cmp(&b.0))
    };
    if all.len() > k {
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_unstable_by(order);
    all
}

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
}
