//! The set behind an exact distinct count.

use crate::value::Value;
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Every distinct value seen. Text that spells a number in canonical decimal (user and tweet
/// ids) is kept as that number: a quarter of the memory, and one multiply to hash instead
/// of hashing the text. A value is one kind or the other by its own characters, so the two
/// sets never hold the same value twice and their sizes add up to the count.
///
/// Numbers are first only listed (`staged`), not hashed: a pre-aggregated partial state
/// collects a batch's ids that way and is merged into its window's set, which then hashes
/// each id once instead of twice. The first merge, or [`DistinctSet::settle`], moves them
/// into the set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DistinctSet {
    numbers: HashSet<u64, rustc_hash::FxBuildHasher>,
    staged: Vec<u64>,
    other: HashSet<Value, rustc_hash::FxBuildHasher>,
}

impl DistinctSet {
    /// Adds a value (numbers are listed; other values hashed once, copied only when new).
    #[inline]
    pub fn insert(&mut self, value: &Value) {
        match value.decimal_id() {
            Some(number) => self.staged.push(number),
            None => {
                self.other.get_or_insert_with(value, Value::clone);
            }
        }
    }

    /// Moves the listed numbers into the set.
    pub fn settle(&mut self) {
        self.numbers.extend(self.staged.drain(..));
    }

    /// Adds every value of `more`, folding the smaller set into the larger.
    pub fn merge(&mut self, mut more: DistinctSet) {
        if self.numbers.len() < more.numbers.len() {
            std::mem::swap(&mut self.numbers, &mut more.numbers);
        }
        self.numbers.extend(more.numbers);
        self.numbers.extend(more.staged);
        self.settle();
        if self.other.len() < more.other.len() {
            std::mem::swap(&mut self.other, &mut more.other);
        }
        self.other.extend(more.other);
    }

    /// Every number seen, listed ones included (a copy only while some are listed).
    fn all_numbers(&self) -> Cow<'_, HashSet<u64, rustc_hash::FxBuildHasher>> {
        if self.staged.is_empty() {
            return Cow::Borrowed(&self.numbers);
        }
        let mut all = self.numbers.clone();
        all.extend(&self.staged);
        Cow::Owned(all)
    }

    /// How many distinct values were seen.
    pub fn len(&self) -> usize {
        self.all_numbers().len() + self.other.len()
    }

    /// Values held: distinct ones plus numbers listed but not yet hashed (an upper bound of
    /// [`DistinctSet::len`], without its cost).
    pub fn held(&self) -> usize {
        self.numbers.len() + self.staged.len() + self.other.len()
    }

    /// An estimate of the memory the set owns: its tables' capacity at a byte of control
    /// data per slot, and the listed numbers (not the heap of text values).
    pub fn heap_bytes(&self) -> usize {
        self.numbers.capacity() * (std::mem::size_of::<u64>() + 1)
            + self.staged.capacity() * std::mem::size_of::<u64>()
            + self.other.capacity() * (std::mem::size_of::<Value>() + 1)
    }

    /// Whether no value was seen.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty() && self.staged.is_empty() && self.other.is_empty()
    }
}

/// Equal when they hold the same values, however many are still listed.
impl PartialEq for DistinctSet {
    fn eq(&self, other: &DistinctSet) -> bool {
        self.other == other.other && self.all_numbers() == other.all_numbers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..40).prop_map(|n| Value::Str(n.to_string().into())),
            (0u64..40).prop_map(|n| Value::Str(format!("0{n}").into())),
            (0i64..40).prop_map(Value::Int),
            "[a-c]{0,2}".prop_map(|s| Value::Str(s.into())),
            Just(Value::Str("18446744073709551616".into())),
        ]
    }

    proptest! {
        /// Counts agree with a set of the values themselves, however the input is split and
        /// merged: `7`, `"7"` and `"07"` are three values.
        #[test]
        fn counts_like_a_set_of_values(
            values in prop::collection::vec(value(), 0..80),
            cut in 0usize..80,
        ) {
            let cut = cut.min(values.len());
            let expected: std::collections::HashSet<&Value> = values.iter().collect();
            let mut left = DistinctSet::default();
            values[..cut].iter().for_each(|v| left.insert(v));
            let left_expected: std::collections::HashSet<&Value> = values[..cut].iter().collect();
            // Unsettled (numbers only listed, repeats included) and settled alike.
            prop_assert_eq!(left.len(), left_expected.len());
            let mut settled = left.clone();
            settled.settle();
            prop_assert_eq!(settled.len(), left_expected.len());
            prop_assert_eq!(&settled, &left);
            let mut right = DistinctSet::default();
            values[cut..].iter().for_each(|v| right.insert(v));
            right.merge(left);
            prop_assert_eq!(right.len(), expected.len());
            prop_assert_eq!(right.is_empty(), values.is_empty());
        }
    }
}
