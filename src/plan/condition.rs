//! Conditions on a record's fields, used by filters and conditional aggregates.

use crate::value::Value;

/// A test on one named field of a decoded record.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Index of the field in the plan's field list.
    pub field: usize,
    /// What the field must satisfy.
    pub test: Test,
}

/// The kinds of test a condition can make.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// The field is present (and not `null`).
    Exists,
    /// The field is a non-empty string, array or object (or any number or boolean).
    NonEmpty,
    /// The field equals this value.
    Equals(Value),
    /// The field is present and differs from this value.
    NotEquals(Value),
    /// The field equals one of these values.
    OneOf(Vec<Value>),
}

impl Condition {
    /// Evaluates the condition against a record's fields (a missing field is `None`).
    pub fn holds(&self, fields: &[Option<Value>]) -> bool {
        self.test_value(fields.get(self.field).and_then(Option::as_ref))
    }

    /// Evaluates the condition on a list-valued field: `exists` and `non_empty` look at the
    /// list, value tests hold when any element passes.
    pub fn holds_for_list(&self, fields: &[Option<Value>], elements: &[Value]) -> bool {
        match self.test {
            Test::Exists | Test::NonEmpty => self.holds(fields),
            _ => elements.iter().any(|e| self.test_value(Some(e))),
        }
    }

    fn test_value(&self, value: Option<&Value>) -> bool {
        match (&self.test, value) {
            (Test::Exists, Some(v)) => !matches!(v, Value::Null),
            (Test::NonEmpty, Some(v)) => v.is_non_empty(),
            (Test::Equals(want), Some(v)) => v == want,
            (Test::NotEquals(want), Some(v)) => v != want,
            (Test::OneOf(options), Some(v)) => options.contains(v),
            (_, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Composite;

    fn check(test: Test, value: Option<Value>) -> bool {
        Condition { field: 0, test }.holds(&[value])
    }

    #[test]
    fn tests_on_present_and_missing_fields() {
        let city = || Some(Value::Str("city".into()));
        assert!(check(Test::Equals(Value::Str("city".into())), city()));
        assert!(!check(Test::Equals(Value::Str("poi".into())), city()));
        assert!(check(Test::NotEquals(Value::Str("poi".into())), city()));
        assert!(!check(Test::NotEquals(Value::Str("poi".into())), None));
        let list = |n: i64| Value::List(Composite::array(&vec![Value::Int(1); n as usize]));
        assert!(check(Test::NonEmpty, Some(list(1))));
        assert!(!check(Test::NonEmpty, Some(list(0))));
        assert!(!check(Test::NonEmpty, None));
        // Falsy scalars are empty, whatever their type; every other scalar is not.
        for empty in [
            Value::Null,
            Value::Bool(false),
            Value::Int(0),
            Value::Str("".into()),
        ] {
            assert!(!check(Test::NonEmpty, Some(empty.clone())), "{empty:?}");
        }
        for full in [
            Value::Bool(true),
            Value::Int(-1),
            Value::Float(0.5),
            Value::Str("0".into()),
        ] {
            assert!(check(Test::NonEmpty, Some(full.clone())), "{full:?}");
        }
        assert!(!check(Test::Exists, Some(Value::Null)));
        assert!(check(
            Test::OneOf(vec![Value::Int(1), Value::Int(2)]),
            Some(Value::Int(2))
        ));
    }
}
