//! De-duplication by an id field, for as long as a duplicate could still change a result.

use crate::value::Value;
use hashbrown::HashMap;

/// Remembers ids until the frontier passes their deadline.
///
/// Expiry sweeps the whole table, but only after the frontier has moved by a sixteenth of
/// the retention span since the last sweep, so its cost per id stays constant.
pub struct Deduplicator {
    seen: HashMap<Value, u64, rustc_hash::FxBuildHasher>,
    sweep_every: u64,
    last_sweep: u64,
}

impl Deduplicator {
    /// A de-duplicator for ids kept about `retention_ms` each.
    pub fn new(retention_ms: u64) -> Deduplicator {
        Deduplicator {
            seen: HashMap::default(),
            sweep_every: (retention_ms / 16).max(1),
            last_sweep: 0,
        }
    }

    /// True the first time `id` is offered; remembers it until the frontier reaches `deadline`.
    pub fn first_sighting(&mut self, id: &Value, deadline: u64) -> bool {
        match self.seen.entry(id.clone()) {
            hashbrown::hash_map::Entry::Occupied(_) => false,
            hashbrown::hash_map::Entry::Vacant(slot) => {
                slot.insert(deadline);
                true
            }
        }
    }

    /// Forgets ids whose deadline the frontier has reached; by then any copy would be too late
    /// to count anyway.
    pub fn expire(&mut self, frontier: u64) {
        if frontier.saturating_sub(self.last_sweep) < self.sweep_every {
            return;
        }
        self.last_sweep = frontier;
        self.seen.retain(|_, deadline| *deadline > frontier);
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
        let mut d = Deduplicator::new(16);
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
