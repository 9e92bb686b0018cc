//! Grouping keys.

use crate::value::Value;
use hashbrown::Equivalent;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The values of an output's key fields, in declaration order. Shared, not copied: the
/// partial states of a key's outputs, its window store and its rows hold the same values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub Arc<[Value]>);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for value in self.0.iter() {
            value.hash(state);
        }
    }
}

/// A key read in place from an event's fields, for lookups that allocate only on insert.
#[derive(Clone, Copy, Debug)]
pub struct KeyView<'a> {
    /// The event's fields.
    pub fields: &'a [Option<Value>],
    /// Which fields form the key.
    pub indices: &'a [usize],
}

const MISSING: Value = Value::Null;

impl KeyView<'_> {
    fn values(&self) -> impl Iterator<Item = &Value> + '_ {
        self.indices.iter().map(|&i| {
            self.fields
                .get(i)
                .and_then(Option::as_ref)
                .unwrap_or(&MISSING)
        })
    }

    /// Copies the viewed values into an owned key.
    pub fn to_key(&self) -> Key {
        Key(self.values().cloned().collect())
    }
}

impl Hash for KeyView<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for value in self.values() {
            value.hash(state);
        }
    }
}

impl Equivalent<Key> for KeyView<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        key.0.len() == self.indices.len() && self.values().zip(key.0.iter()).all(|(a, b)| a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn view_hashes_and_compares_like_owned_key() {
        let fields = vec![Some(Value::Str("x".into())), None, Some(Value::Int(3))];
        let view = KeyView {
            fields: &fields,
            indices: &[2, 0],
        };
        let key = view.to_key();
        assert_eq!(key, Key(vec![Value::Int(3), Value::Str("x".into())].into()));
        let s = rustc_hash::FxBuildHasher;
        assert_eq!(s.hash_one(view), s.hash_one(&key));
        assert!(view.equivalent(&key));
    }
}
