//! De-duplication by an id field, for as long as a duplicate could still change a result.

use crate::value::Value;
use hashbrown::HashMap;
use std::collections::BTreeMap;

/// Remembers ids until the frontier passes their deadline.
#[derive(Default)]
pub struct Deduplicator {
    seen: HashMap<Value, u64, rustc_hash::FxBuildHasher>,
    expiry: BTreeMap<u64, Vec<Value>>,
}

impl Deduplicator {
    /// True the first time `id` is offered; remembers it until the frontier reaches `deadline`.
    pub fn first_sighting(&mut self, id: &Value, deadline: u64) -> bool {
        if self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.clone(), deadline);
        self.expiry.entry(deadline).or_default().push(id.clone());
        true
    }

    /// Forgets ids whose deadline the frontier has reached; by then any copy would be too late
    /// to count anyway.
    pub fn expire(&mut self, frontier: u64) {
        while let Some(entry) = self.expiry.first_entry() {
            if *entry.key() > frontier {
                break;
            }
            for id in entry.remove() {
                self.seen.remove(&id);
            }
        }
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_repeats_until_expiry() {
        let mut d = Deduplicator::default();
        let id = Value::Str("7".into());
        assert!(d.first_sighting(&id, 100));
        assert!(!d.first_sighting(&id, 100));
        d.expire(99);
        assert_eq!(d.len(), 1);
        d.expire(100);
        assert!(d.is_empty());
        assert!(d.first_sighting(&id, 200));
    }
}
