//! De-duplication by an id field, for as long as a duplicate could still change a result.

use super::id_table::IdTable;
use crate::value::Value;
use hashbrown::HashMap;

/// Remembers ids until the frontier passes their deadline.
///
/// Ids that are decimal numbers written as text (tweet and trade ids) are kept as 64-bit
/// integers in an [`IdTable`], a third of the memory and hashing of the text, and looked up
/// a batch at a time; any other id is kept as it is. The two never collide: a text id is one
/// or the other by its own digits.
///
/// Expiry sweeps the whole table, but only after the frontier has moved by a sixteenth of
/// the retention span since the last sweep, so its cost per id stays constant.
pub struct Deduplicator {
    numeric: IdTable,
    other: HashMap<Value, u64, rustc_hash::FxBuildHasher>,
    sweep_every: u64,
    last_sweep: u64,
    /// Scratch for a batch: each id as a number, where it is one.
    numbers: Vec<Option<u64>>,
}

/// How many ids ahead a batch asks for table slots: enough to overlap several memory misses.
const PREFETCH_AHEAD: usize = 8;

impl Deduplicator {
    /// A de-duplicator for ids kept about `retention_ms` each.
    pub fn new(retention_ms: u64) -> Deduplicator {
        Deduplicator {
            numeric: IdTable::default(),
            other: HashMap::default(),
            sweep_every: (retention_ms / 16).max(1),
            last_sweep: 0,
            numbers: Vec::new(),
        }
    }

    /// True when no copy of `id` is held whose deadline is after `arrival` (the copy's arrival
    /// on the frontier), and then remembers `id` until the frontier reaches `deadline`. So a
    /// copy is a duplicate exactly while an earlier copy could still change a result, whatever
    /// the frontier and the batches it came in.
    pub fn first_sighting(&mut self, id: &Value, deadline: u64, arrival: u64) -> bool {
        self.sight(id, id.decimal_id(), deadline, arrival)
    }

    /// [`Self::first_sighting`] for a batch of `(id, deadline, arrival)`, in order, into
    /// `fresh`; a record without an id is always fresh.
    pub fn first_sightings(&mut self, ids: &[(Option<&Value>, u64, u64)], fresh: &mut Vec<bool>) {
        let mut numbers = std::mem::take(&mut self.numbers);
        numbers.clear();
        numbers.extend(ids.iter().map(|(id, ..)| id.and_then(Value::decimal_id)));
        fresh.clear();
        for (at, &(id, deadline, arrival)) in ids.iter().enumerate() {
            if let Some(Some(ahead)) = numbers.get(at + PREFETCH_AHEAD) {
                self.numeric.prefetch(*ahead);
            }
            fresh.push(id.is_none_or(|id| self.sight(id, numbers[at], deadline, arrival)));
        }
        self.numbers = numbers;
    }

    fn sight(&mut self, id: &Value, number: Option<u64>, deadline: u64, arrival: u64) -> bool {
        if let Some(number) = number {
            return self.numeric.insert(number, deadline, arrival);
        }
        match self.other.get_mut(id) {
            Some(held) if *held > arrival => false,
            Some(held) => {
                *held = deadline;
                true
            }
            None => {
                self.other.insert(id.clone(), deadline);
                true
            }
        }
    }

    /// Expects to remember about `ids` ids at once, until one is first forgotten: the
    /// table grows towards room for them in fewer, larger steps (see [`IdTable::expect`]).
    pub fn expect(&mut self, ids: usize) {
        self.numeric.expect(ids);
    }

    /// Forgets ids whose deadline the frontier has reached; by then any copy would be too late
    /// to count anyway.
    pub fn expire(&mut self, frontier: u64) {
        if frontier.saturating_sub(self.last_sweep) < self.sweep_every {
            return;
        }
        self.last_sweep = frontier;
        self.numeric.expire(frontier);
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
        assert!(d.first_sighting(&id, 100, 0));
        assert!(!d.first_sighting(&id, 100, 0));
        d.expire(99);
        assert_eq!(d.len(), 1);
        d.expire(100);
        assert!(d.is_empty());
        assert!(d.first_sighting(&id, 200, 0));
    }

    /// A copy arriving once every window of the first is final is new again, for numeric
    /// and other ids alike, whether or not the first was forgotten yet.
    #[test]
    fn a_copy_after_the_deadline_is_new() {
        let mut d = Deduplicator::new(1 << 40);
        for id in [Value::Str("42".into()), Value::Str("x".into())] {
            assert!(d.first_sighting(&id, 100, 10));
            assert!(
                !d.first_sighting(&id, 300, 99),
                "{id:?} could still change a result"
            );
            assert!(
                d.first_sighting(&id, 300, 100),
                "{id:?}'s windows were final"
            );
            assert!(!d.first_sighting(&id, 400, 299));
        }
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
            assert!(d.first_sighting(&id, 100, 0), "{id:?} is new");
            assert!(!d.first_sighting(&id, 100, 0), "{id:?} is seen");
        }
        assert_eq!(d.len(), 8);
    }

    #[test]
    fn batches_agree_with_single_sightings() {
        let ids: Vec<Value> = (0..100i64)
            .map(|i| match i % 4 {
                0 => Value::Int(i % 7),
                _ => Value::Str((1_574_000_000_000_000_000 + i % 37).to_string().into()),
            })
            .collect();
        let batch: Vec<(Option<&Value>, u64, u64)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((i % 10 != 3).then_some(id), 100, i as u64))
            .collect();
        let mut single = Deduplicator::new(16);
        let expected: Vec<bool> = batch
            .iter()
            .map(|&(id, deadline, arrival)| {
                id.is_none_or(|id| single.first_sighting(id, deadline, arrival))
            })
            .collect();
        let mut batched = Deduplicator::new(16);
        let mut fresh = Vec::new();
        batched.first_sightings(&batch[..40], &mut fresh);
        let mut all = fresh.clone();
        batched.first_sightings(&batch[40..], &mut fresh);
        all.extend(&fresh);
        assert_eq!(all, expected);
        assert!(expected.iter().any(|f| !f), "the batch has repeats");
        assert_eq!(batched.len(), single.len());
    }
}
