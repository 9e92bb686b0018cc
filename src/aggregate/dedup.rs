//! De-duplication by an id field, for as long as a duplicate could still change a result.

use crate::value::Value;
use hashbrown::HashMap;

/// Remembers ids until the frontier passes their deadline.
///
/// Ids that are decimal numbers written as text (tweet and trade ids) are kept as 64-bit
/// integers, a third of the memory and hashing of the text; any other id is kept as it is.
/// The two never collide: a text id is one or the other by its own digits.
///
/// Expiry sweeps the whole table, but only after the frontier has moved by a sixteenth of
/// the retention span since the last sweep, so its cost per id stays constant.
pub struct Deduplicator {
    numeric: HashMap<u64, u64, rustc_hash::FxBuildHasher>,
    other: HashMap<Value, u64, rustc_hash::FxBuildHasher>,
    sweep_every: u64,
    last_sweep: u64,
}

/// The number a text id spells in canonical decimal (no sign, no leading zero), if it fits
/// in 64 bits; any other spelling of the same number is a different id.
fn decimal_id(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

impl Deduplicator {
    /// A de-duplicator for ids kept about `retention_ms` each.
    pub fn new(retention_ms: u64) -> Deduplicator {
        Deduplicator {
            numeric: HashMap::default(),
            other: HashMap::default(),
            sweep_every: (retention_ms / 16).max(1),
            last_sweep: 0,
        }
    }

    /// True the first time `id` is offered; remembers it until the frontier reaches `deadline`.
    pub fn first_sighting(&mut self, id: &Value, deadline: u64) -> bool {
        if let Value::Str(text) = id {
            if let Some(number) = decimal_id(text) {
                return match self.numeric.entry(number) {
                    hashbrown::hash_map::Entry::Occupied(_) => false,
                    hashbrown::hash_map::Entry::Vacant(slot) => {
                        slot.insert(deadline);
                        true
                    }
                };
            }
        }
        if self.other.contains_key(id) {
            return false;
        }
        self.other.insert(id.clone(), deadline);
        true
    }

    /// Forgets ids whose deadline the frontier has reached; by then any copy would be too late
    /// to count anyway.
    pub fn expire(&mut self, frontier: u64) {
        if frontier.saturating_sub(self.last_sweep) < self.sweep_every {
            return;
        }
        self.last_sweep = frontier;
        self.numeric.retain(|_, deadline| *deadline > frontier);
        self.other.retain(|_, deadline| *deadline > frontier);
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.numeric.len() + self.other.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn numeric_and_other_spellings_stay_distinct() {
        let mut d = Deduplicator::new(16);
        for id in [
            Value::Str("1574236253620420608".into()),
            Value::Str("01574236253620420608".into()),
            Value::Int(1_574_236_253_620_420_608),
            Value::Str("18446744073709551616".into()), // one past u64::MAX
            Value::Str("0".into()),
            Value::Str("00".into()),
            Value::Str("".into()),
            Value::Str("-1".into()),
        ] {
            assert!(d.first_sighting(&id, 100), "{id:?} is new");
            assert!(!d.first_sighting(&id, 100), "{id:?} is seen");
        }
        assert_eq!(d.len(), 8);
        assert_eq!(decimal_id("18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal_id("1a"), None);
    }
}
