//! The sketch behind an approximate distinct count: HyperLogLog++ (the `hyperloglogplus`
//! crate), with its sparse form for cells with few values and 6-bit dense registers.
//!
//! A value is identified as in an exact distinct count (a canonical decimal id as its
//! number, anything else as its value), and hashed with fixed keys: sketches built on any
//! worker of any process merge, and merging keeps the larger register, so the estimate does
//! not depend on the order states are combined in.

use crate::value::Value;
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

/// SipHash with fixed keys: every process of a run hashes a value alike.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct FixedKeys;

impl BuildHasher for FixedKeys {
    type Hasher = std::hash::DefaultHasher;

    fn build_hasher(&self) -> Self::Hasher {
        std::hash::DefaultHasher::new()
    }
}

/// An approximate set of distinct values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApproxSet(HyperLogLogPlus<Value, FixedKeys>);

impl ApproxSet {
    /// An empty sketch with `2^precision` registers (`precision` in
    /// [`crate::plan::APPROX_PRECISIONS`], as the dataflow's validation ensures).
    pub fn new(precision: u8) -> ApproxSet {
        ApproxSet(HyperLogLogPlus::new(precision, FixedKeys).expect("a validated precision"))
    }

    /// Adds a value.
    #[inline]
    pub fn insert(&mut self, value: &Value) {
        match value.decimal_id() {
            Some(id) => self.0.insert_any(&(0u8, id)),
            None => self.0.insert_any(&(1u8, value)),
        }
    }

    /// Adds every value `other` saw. Both have the precision of one aggregate.
    pub fn merge(&mut self, other: &ApproxSet) {
        self.0
            .merge(&other.0)
            .expect("sketches of one aggregate share its precision");
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> u64 {
        // Counting folds the sparse form's pending values in, so it needs its own copy.
        self.0.clone().count().round() as u64
    }
}

/// Equal when they estimate the same count.
impl PartialEq for ApproxSet {
    fn eq(&self, other: &ApproxSet) -> bool {
        self.estimate() == other.estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::APPROX_DEFAULT_PRECISION;
    use proptest::prelude::*;

    fn id(n: u64) -> Value {
        Value::Str(n.to_string().into())
    }

    #[test]
    fn estimates_known_cardinalities_within_three_standard_errors() {
        // 1.04 / sqrt(2^14) = 0.81 %; three standard errors is about 2.4 %.
        for cardinality in [10u64, 1_000, 50_000, 200_000] {
            let mut set = ApproxSet::new(APPROX_DEFAULT_PRECISION);
            for n in 0..cardinality {
                set.insert(&id(n * 7919 + 13));
                set.insert(&id(n * 7919 + 13)); // repeats do not count
            }
            let estimate = set.estimate() as f64;
            let error = (estimate - cardinality as f64).abs() / cardinality as f64;
            assert!(
                error <= 0.025,
                "{cardinality}: estimated {estimate} ({:.2} %)",
                error * 100.0
            );
        }
    }

    #[test]
    fn one_value_in_any_spelling_counts_once() {
        let mut set = ApproxSet::new(APPROX_DEFAULT_PRECISION);
        set.insert(&Value::Str("7".into()));
        set.insert(&Value::Str("7".into()));
        set.insert(&Value::Str("seven".into()));
        assert_eq!(set.estimate(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// However values are split among partial states and whatever order those merge
        /// in, the estimate is the same.
        #[test]
        fn merge_order_never_changes_the_estimate(
            values in prop::collection::vec(0u64..100_000, 1..20_000),
            parts in 1usize..7,
            seed in any::<u64>(),
        ) {
            let mut whole = ApproxSet::new(APPROX_DEFAULT_PRECISION);
            for &v in &values {
                whole.insert(&id(v));
            }
            let mut partial: Vec<ApproxSet> = (0..parts).map(|_| ApproxSet::new(APPROX_DEFAULT_PRECISION)).collect();
            for (i, &v) in values.iter().enumerate() {
                let part = (v.wrapping_mul(seed | 1).wrapping_add(i as u64) % parts as u64) as usize;
                partial[part].insert(&id(v));
            }
            // Merge in a seed-dependent order.
            partial.rotate_left((seed % parts as u64) as usize);
            if seed % 2 == 1 {
                partial.reverse();
            }
            let mut merged = partial.pop().expect("a part");
            while let Some(next) = partial.pop() {
                merged.merge(&next);
            }
            prop_assert_eq!(merged.estimate(), whole.estimate());
        }
    }
}
