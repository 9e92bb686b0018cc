//! Accumulators: the mergeable state of one aggregate in one window for one key.
//!
//! Merging is commutative and associative *exactly* (sums are fixed-point, not floating), so
//! results are bit-identical whatever order workers combine partial states in.

use super::approx::ApproxSet;
use super::distinct::DistinctSet;
use crate::plan::AggregateFunction;
use crate::value::{Number, Value};
use serde::{Deserialize, Serialize};

/// Fixed-point scale of sums: nine decimal places.
const SCALE: i128 = 1_000_000_000;

/// The running state of one aggregate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Accumulator {
    /// Records counted.
    Count(u64),
    /// Sum of values, in units of 10⁻⁹, and how many values were summed.
    Sum {
        /// Fixed-point total.
        total: i128,
        /// Values seen.
        n: u64,
    },
    /// Like `Sum`, reported as the mean.
    Avg {
        /// Fixed-point total.
        total: i128,
        /// Values seen.
        n: u64,
    },
    /// Smallest value seen.
    Min(Option<Number>),
    /// Largest value seen.
    Max(Option<Number>),
    /// The value with the latest event time (ties: the larger value), and that time.
    Last(Option<(u64, Number)>),
    /// Every distinct value seen.
    Distinct(DistinctSet),
    /// A sketch of the distinct values seen.
    ApproxDistinct(Box<ApproxSet>),
}

/// Whether `candidate` (event time, value) replaces `current` as the last value: a later
/// time wins, and equal times go to the larger value, so any merge order agrees.
fn is_later(candidate: (u64, Number), current: Option<(u64, Number)>) -> bool {
    current.is_none_or(|(time, value)| {
        candidate
            .0
            .cmp(&time)
            .then_with(|| number_order(candidate.1, value))
            .is_gt()
    })
}

fn fixed(n: Number) -> i128 {
    match n {
        Number::Int(i) => i128::from(i) * SCALE,
        Number::Float(f) => (f * SCALE as f64).round() as i128,
    }
}

/// Orders numbers by value; an integer precedes an equal float so ties resolve the same way
/// in any merge order.
fn number_order(a: Number, b: Number) -> std::cmp::Ordering {
    a.as_f64()
        .total_cmp(&b.as_f64())
        .then_with(|| matches!(a, Number::Float(_)).cmp(&matches!(b, Number::Float(_))))
}

impl Accumulator {
    /// The set of a distinct count (the only accumulator that owns memory beyond its size).
    pub fn distinct_set(&self) -> Option<&DistinctSet> {
        match self {
            Accumulator::Distinct(set) => Some(set),
            Accumulator::Count(_)
            | Accumulator::Sum { .. }
            | Accumulator::Avg { .. }
            | Accumulator::Min(_)
            | Accumulator::Max(_)
            | Accumulator::Last(_)
            | Accumulator::ApproxDistinct(_) => None,
        }
    }
    /// The empty state of a function.
    pub fn new(function: AggregateFunction) -> Accumulator {
        match function {
            AggregateFunction::Count => Accumulator::Count(0),
            AggregateFunction::Sum => Accumulator::Sum { total: 0, n: 0 },
            AggregateFunction::Avg => Accumulator::Avg { total: 0, n: 0 },
            AggregateFunction::Min => Accumulator::Min(None),
            AggregateFunction::Max => Accumulator::Max(None),
            AggregateFunction::Last => Accumulator::Last(None),
            AggregateFunction::Distinct => Accumulator::Distinct(DistinctSet::default()),
            AggregateFunction::ApproxDistinct { precision } => {
                Accumulator::ApproxDistinct(Box::new(ApproxSet::new(precision)))
            }
        }
    }

    /// Adds one record's input. `value` is the aggregate's field (absent for `count`); a
    /// missing value leaves field aggregates unchanged. Numeric fields were checked when
    /// decoding, so a non-number here is skipped like a missing one. `time` is the record's
    /// event time (for `last`).
    #[inline]
    pub fn add(&mut self, value: Option<&Value>, time: u64) {
        match self {
            Accumulator::Last(last) => {
                if let Some(x) = value.and_then(Value::as_number) {
                    if is_later((time, x), *last) {
                        *last = Some((time, x));
                    }
                }
            }
            Accumulator::Count(c) => *c += 1,
            Accumulator::Sum { total, n } | Accumulator::Avg { total, n } => {
                if let Some(x) = value.and_then(Value::as_number) {
                    *total += fixed(x);
                    *n += 1;
                }
            }
            Accumulator::Min(m) => {
                if let Some(x) = value.and_then(Value::as_number) {
                    if m.is_none_or(|cur| number_order(x, cur).is_lt()) {
                        *m = Some(x);
                    }
                }
            }
            Accumulator::Max(m) => {
                if let Some(x) = value.and_then(Value::as_number) {
                    if m.is_none_or(|cur| number_order(x, cur).is_gt()) {
                        *m = Some(x);
                    }
                }
            }
            Accumulator::Distinct(set) => {
                if let Some(v) = value.filter(|v| !matches!(v, Value::Null)) {
                    set.insert(v);
                }
            }
            Accumulator::ApproxDistinct(sketch) => {
                if let Some(v) = value.filter(|v| !matches!(v, Value::Null)) {
                    sketch.insert(v);
                }
            }
        }
    }

    /// Puts the state in its settled form: a distinct set's listed values into its set.
    pub fn settle(&mut self) {
        if let Accumulator::Distinct(set) = self {
            set.settle();
        }
    }

    /// Folds another state of the same function into this one. The states of one
    /// aggregate always share its function; a state of another is a bug, and panics.
    pub fn merge(&mut self, other: Accumulator) {
        let mismatch = |other: &Accumulator| -> ! {
            panic!("merged accumulators of different functions: {other:?}")
        };
        match self {
            Accumulator::Count(a) => match other {
                Accumulator::Count(b) => *a += b,
                other => mismatch(&other),
            },
            Accumulator::Sum { total, n } => match other {
                Accumulator::Sum { total: t2, n: n2 } => {
                    *total += t2;
                    *n += n2;
                }
                other => mismatch(&other),
            },
            Accumulator::Avg { total, n } => match other {
                Accumulator::Avg { total: t2, n: n2 } => {
                    *total += t2;
                    *n += n2;
                }
                other => mismatch(&other),
            },
            Accumulator::Min(a) => match other {
                Accumulator::Min(b) => {
                    if let Some(b) = b.filter(|&b| a.is_none_or(|cur| number_order(b, cur).is_lt()))
                    {
                        *a = Some(b);
                    }
                }
                other => mismatch(&other),
            },
            Accumulator::Max(a) => match other {
                Accumulator::Max(b) => {
                    if let Some(b) = b.filter(|&b| a.is_none_or(|cur| number_order(b, cur).is_gt()))
                    {
                        *a = Some(b);
                    }
                }
                other => mismatch(&other),
            },
            Accumulator::Last(a) => match other {
                Accumulator::Last(b) => {
                    if let Some(b) = b.filter(|&b| is_later(b, *a)) {
                        *a = Some(b);
                    }
                }
                other => mismatch(&other),
            },
            Accumulator::Distinct(a) => match other {
                Accumulator::Distinct(b) => a.merge(b),
                other => mismatch(&other),
            },
            Accumulator::ApproxDistinct(a) => match other {
                Accumulator::ApproxDistinct(b) => a.merge(&b),
                other => mismatch(&other),
            },
        }
    }

    /// Folds in another state of the same function, read in place: assembling a window
    /// from its panes folds each key's state of every pane, and a count or a sum is added
    /// without a copy of it (the others are folded from a copy, as [`Accumulator::merge`]).
    pub fn merge_from(&mut self, other: &Accumulator) {
        match (&mut *self, other) {
            (Accumulator::Count(a), Accumulator::Count(b)) => *a += b,
            (Accumulator::Sum { total, n }, Accumulator::Sum { total: t2, n: n2 })
            | (Accumulator::Avg { total, n }, Accumulator::Avg { total: t2, n: n2 }) => {
                *total += t2;
                *n += n2;
            }
            (Accumulator::ApproxDistinct(a), Accumulator::ApproxDistinct(b)) => a.merge(b),
            _ => self.merge(other.clone()),
        }
    }

    /// The aggregate's current value (`null` when no value was seen), of the function's
    /// [`ResultType`](crate::plan::ResultType): counts are integers; sums, means, minima,
    /// maxima and last values are floats whatever the spelling of the numbers they came
    /// from (`7` and `7.0` give the same row).
    pub fn value(&self) -> Value {
        match self {
            Accumulator::Count(c) => Value::Int(*c as i64),
            Accumulator::Sum { n: 0, .. } | Accumulator::Avg { n: 0, .. } => Value::Null,
            Accumulator::Sum { total, .. } => Value::Float(*total as f64 / SCALE as f64),
            Accumulator::Avg { total, n } => Value::Float(*total as f64 / SCALE as f64 / *n as f64),
            Accumulator::Last(last) => last.map_or(Value::Null, |(_, n)| Value::Float(n.as_f64())),
            Accumulator::Min(m) | Accumulator::Max(m) => {
                m.map_or(Value::Null, |n| Value::Float(n.as_f64()))
            }
            Accumulator::Distinct(set) => Value::Int(set.len() as i64),
            Accumulator::ApproxDistinct(sketch) => Value::Int(sketch.estimate() as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Folds `values`, the i-th at event time `(first + i) % 7` (so times repeat).
    fn fold_from(function: AggregateFunction, values: &[Value], first: usize) -> Accumulator {
        let mut acc = Accumulator::new(function);
        for (i, v) in values.iter().enumerate() {
            acc.add(Some(v), ((first + i) % 7) as u64);
        }
        acc
    }

    fn fold(function: AggregateFunction, values: &[Value]) -> Accumulator {
        fold_from(function, values, 0)
    }

    #[test]
    fn an_accumulator_is_a_few_words() {
        // The state budget: a cell of one count is its key, this and a stamp.
        assert!(std::mem::size_of::<Accumulator>() <= 32);
    }

    #[test]
    fn each_function_reports_its_value() {
        let values = [
            Value::Int(3),
            Value::Float(1.5),
            Value::Str("$2.25".into()),
            Value::Int(3),
        ];
        assert_eq!(
            fold(AggregateFunction::Count, &values).value(),
            Value::Int(4)
        );
        assert_eq!(
            fold(AggregateFunction::Sum, &values).value(),
            Value::Float(9.75)
        );
        assert_eq!(
            fold(AggregateFunction::Avg, &values).value(),
            Value::Float(9.75 / 4.0)
        );
        assert_eq!(
            fold(AggregateFunction::Min, &values).value(),
            Value::Float(1.5)
        );
        // Real results are floats, whatever the spelling of the largest input.
        assert_eq!(
            fold(AggregateFunction::Max, &values).value(),
            Value::Float(3.0)
        );
        assert_eq!(
            fold(AggregateFunction::Last, &values).value(),
            Value::Float(3.0),
            "the value with the latest event time"
        );
        let mut tie = Accumulator::new(AggregateFunction::Last);
        tie.add(Some(&Value::Float(2.5)), 9);
        tie.add(Some(&Value::Float(1.5)), 9);
        tie.add(Some(&Value::Float(7.0)), 8);
        assert_eq!(
            tie.value(),
            Value::Float(2.5),
            "equal times: the larger value"
        );
        assert_eq!(
            fold(AggregateFunction::Distinct, &values).value(),
            Value::Int(3)
        );
        assert_eq!(fold(AggregateFunction::Sum, &[]).value(), Value::Null);
    }

    proptest! {
        /// Folding a state in place gives exactly what folding a copy of it gives, for
        /// every function.
        #[test]
        fn merge_from_is_merge(
            xs in prop::collection::vec(-1e6f64..1e6, 0..40),
            cut in 0usize..40,
            ints in any::<bool>(),
        ) {
            let values: Vec<Value> = xs
                .iter()
                .map(|x| if ints { Value::Int(*x as i64 % 9) } else { Value::Float(*x) })
                .collect();
            let cut = cut.min(values.len());
            for f in [
                AggregateFunction::Count,
                AggregateFunction::Sum,
                AggregateFunction::Avg,
                AggregateFunction::Min,
                AggregateFunction::Max,
                AggregateFunction::Last,
                AggregateFunction::Distinct,
                AggregateFunction::ApproxDistinct { precision: 12 },
            ] {
                let left = fold(f, &values[..cut]);
                let mut by_copy = fold_from(f, &values[cut..], cut);
                let mut in_place = by_copy.clone();
                by_copy.merge(left.clone());
                in_place.merge_from(&left);
                prop_assert_eq!(by_copy.value(), in_place.value());
                prop_assert_eq!(by_copy, in_place);
            }
        }

        /// Splitting the input anywhere and merging gives exactly the unsplit result.
        #[test]
        fn merge_is_exact(xs in prop::collection::vec(-1e6f64..1e6, 0..40), cut in 0usize..40) {
            let values: Vec<Value> = xs.iter().map(|x| Value::Float(*x)).collect();
            let cut = cut.min(values.len());
            for f in [AggregateFunction::Sum, AggregateFunction::Avg, AggregateFunction::Min, AggregateFunction::Max, AggregateFunction::Last, AggregateFunction::Distinct] {
                let whole = fold(f, &values);
                let mut right = fold_from(f, &values[cut..], cut);
                right.merge(fold(f, &values[..cut]));
                prop_assert_eq!(whole.value(), right.value());
            }
        }
    }
}
