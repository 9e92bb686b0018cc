//! The set behind an exact distinct count.

use crate::value::Value;
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

type FxHashSet<T> = HashSet<T, rustc_hash::FxBuildHasher>;

/// How many numbers a set keeps as a sorted list before it hashes them.
const FEW: usize = 32;

/// Every distinct value seen. Text that spells a number in canonical decimal (user and tweet
/// ids) is kept as that number: a quarter of the memory, and one multiply to hash instead
/// of hashing the text. A value is one kind or the other by its own characters, so numbers
/// and other values never hold the same value twice and their counts add up.
///
/// Most sets are small (the authors of one city in one pane): up to [`FEW`] numbers are a
/// sorted list, 8 bytes a value, with no table. Past that, or with a value that is not such
/// a number, the set becomes [`Many`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DistinctSet(Form);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Form {
    /// At most [`FEW`] numbers, sorted, each once.
    Few(Vec<u64>),
    /// Any values (boxed: three tables, where `Few` is one list).
    Many(Box<Many>),
}

/// A set of any size and kind of values.
///
/// Numbers are first only listed (`staged`), not hashed: a pre-aggregated partial state
/// collects a batch's ids that way and is merged into its window's set, which then hashes
/// each id once instead of twice. The first merge, or [`DistinctSet::settle`], moves them
/// into the set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Many {
    numbers: FxHashSet<u64>,
    staged: Vec<u64>,
    other: FxHashSet<Value>,
}

impl Default for DistinctSet {
    fn default() -> Self {
        DistinctSet(Form::Few(Vec::new()))
    }
}

impl Many {
    /// A set holding `numbers`.
    fn of(numbers: &[u64]) -> Box<Many> {
        let mut many = Box::<Many>::default();
        many.numbers.extend(numbers);
        many
    }

    fn settle(&mut self) {
        self.numbers.extend(self.staged.drain(..));
    }

    fn merge(&mut self, mut more: Many) {
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
    fn all_numbers(&self) -> Cow<'_, FxHashSet<u64>> {
        if self.staged.is_empty() {
            return Cow::Borrowed(&self.numbers);
        }
        let mut all = self.numbers.clone();
        all.extend(&self.staged);
        Cow::Owned(all)
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Many>()
            + self.numbers.capacity() * (std::mem::size_of::<u64>() + 1)
            + self.staged.capacity() * std::mem::size_of::<u64>()
            + self.other.capacity() * (std::mem::size_of::<Value>() + 1)
    }
}

/// Adds `number` to a sorted list of distinct numbers; false when it is full and the number
/// is new. A full list grows by two numbers while small, then by a quarter, not by doubling:
/// millions of small lists hold little spare room, and a set of a handful of ids (one city's
/// authors in one pane) is moved three times, not once per id.
fn add_few(few: &mut Vec<u64>, number: u64) -> bool {
    match few.binary_search(&number) {
        Ok(_) => true,
        Err(_) if few.len() == FEW => false,
        Err(at) => {
            if few.len() == few.capacity() {
                few.reserve_exact((few.len() / 4).max(2).min(FEW - few.len()));
            }
            few.insert(at, number);
            true
        }
    }
}

/// The union of two sorted lists of distinct numbers, sorted, in one pass and one allocation.
fn union_of(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut union = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        union.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    union.extend_from_slice(&a[i..]);
    union.extend_from_slice(&b[j..]);
    union
}

impl DistinctSet {
    /// The table form, made from the list form when needed.
    fn many(&mut self) -> &mut Many {
        if let Form::Few(few) = &self.0 {
            self.0 = Form::Many(Many::of(few));
        }
        match &mut self.0 {
            Form::Many(many) => many,
            Form::Few(_) => unreachable!("made the table form above"),
        }
    }

    /// Adds a value (numbers are listed; other values hashed once, copied only when new).
    #[inline]
    pub fn insert(&mut self, value: &Value) {
        match (value.decimal_id(), &mut self.0) {
            (Some(number), Form::Few(few)) => {
                if !add_few(few, number) {
                    self.many().numbers.insert(number);
                }
            }
            (Some(number), Form::Many(many)) => many.staged.push(number),
            (None, _) => {
                self.many().other.get_or_insert_with(value, Value::clone);
            }
        }
    }

    /// Moves the listed numbers into the set.
    pub fn settle(&mut self) {
        match &mut self.0 {
            Form::Few(_) => {}
            Form::Many(many) => many.settle(),
        }
    }

    /// Adds every value of `more`.
    pub fn merge(&mut self, more: DistinctSet) {
        match (&mut self.0, more.0) {
            (Form::Few(few), Form::Few(more)) => {
                let union = match (few.is_empty(), more.is_empty()) {
                    (_, true) => return,
                    (true, false) => more,
                    (false, false) => union_of(few, &more),
                };
                self.0 = if union.len() <= FEW {
                    Form::Few(union)
                } else {
                    Form::Many(Many::of(&union))
                };
            }
            (Form::Many(many), Form::Few(more)) => many.numbers.extend(more),
            (Form::Few(few), Form::Many(mut more)) => {
                more.settle();
                more.numbers.extend(few.iter());
                self.0 = Form::Many(more);
            }
            (Form::Many(many), Form::Many(more)) => many.merge(*more),
        }
    }

    /// How many distinct values were seen.
    pub fn len(&self) -> usize {
        match &self.0 {
            Form::Few(few) => few.len(),
            Form::Many(many) => many.all_numbers().len() + many.other.len(),
        }
    }

    /// Values held: distinct ones plus numbers listed but not yet hashed (an upper bound of
    /// [`DistinctSet::len`], without its cost).
    pub fn held(&self) -> usize {
        match &self.0 {
            Form::Few(few) => few.len(),
            Form::Many(many) => many.numbers.len() + many.staged.len() + many.other.len(),
        }
    }

    /// An estimate of the memory the set owns beyond its own size: its list, or its tables'
    /// capacity at a byte of control data per slot and the listed numbers (not the heap of
    /// text values).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Form::Few(few) => few.capacity() * std::mem::size_of::<u64>(),
            Form::Many(many) => many.heap_bytes(),
        }
    }

    /// Whether no value was seen.
    pub fn is_empty(&self) -> bool {
        self.held() == 0
    }
}

/// Equal when they hold the same values, in whichever form.
impl PartialEq for DistinctSet {
    fn eq(&self, other: &DistinctSet) -> bool {
        match (&self.0, &other.0) {
            (Form::Few(a), Form::Few(b)) => a == b,
            (Form::Few(few), Form::Many(many)) | (Form::Many(many), Form::Few(few)) => {
                many.other.is_empty() && {
                    let numbers = many.all_numbers();
                    numbers.len() == few.len() && few.iter().all(|n| numbers.contains(n))
                }
            }
            (Form::Many(a), Form::Many(b)) => {
                a.other == b.other && a.all_numbers() == b.all_numbers()
            }
        }
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

    /// Mostly decimal ids, from a range wide enough to pass the list form's size.
    fn mostly_numbers() -> impl Strategy<Value = Value> {
        prop_oneof![
            9 => (0u64..90).prop_map(|n| Value::Str(n.to_string().into())),
            1 => "[a-c]{1,2}".prop_map(|s| Value::Str(s.into())),
        ]
    }

    fn set_of(values: &[Value]) -> DistinctSet {
        let mut set = DistinctSet::default();
        values.iter().for_each(|v| set.insert(v));
        set
    }

    fn check_split(values: &[Value], cut: usize) -> Result<(), TestCaseError> {
        let cut = cut.min(values.len());
        let expected: std::collections::HashSet<&Value> = values.iter().collect();
        let left = set_of(&values[..cut]);
        let left_expected: std::collections::HashSet<&Value> = values[..cut].iter().collect();
        // Unsettled (numbers only listed, repeats included) and settled alike.
        prop_assert_eq!(left.len(), left_expected.len());
        let mut settled = left.clone();
        settled.settle();
        prop_assert_eq!(settled.len(), left_expected.len());
        prop_assert_eq!(&settled, &left);
        let mut right = set_of(&values[cut..]);
        right.merge(left.clone());
        prop_assert_eq!(right.len(), expected.len());
        prop_assert_eq!(right.is_empty(), values.is_empty());
        // Merging the other way round holds the same values.
        let mut other_way = left;
        other_way.merge(set_of(&values[cut..]));
        prop_assert_eq!(&other_way, &right);
        prop_assert_eq!(&set_of(values), &right);
        Ok(())
    }

    proptest! {
        /// Counts agree with a set of the values themselves, however the input is split and
        /// merged: `7`, `"7"` and `"07"` are three values.
        #[test]
        fn counts_like_a_set_of_values(
            values in prop::collection::vec(value(), 0..80),
            cut in 0usize..80,
        ) {
            check_split(&values, cut)?;
        }

        /// The same across the list form's size, in either form on each side.
        #[test]
        fn counts_across_forms(
            values in prop::collection::vec(mostly_numbers(), 0..120),
            cut in 0usize..120,
        ) {
            check_split(&values, cut)?;
        }
    }

    #[test]
    fn a_small_set_of_ids_is_a_list() {
        let set = set_of(&[Value::Str("17".into()), Value::Str("4".into())]);
        assert!(matches!(&set.0, Form::Few(few) if few == &[4, 17]));
        assert_eq!(std::mem::size_of::<DistinctSet>(), 24);
    }
}
