//! A set of 64-bit ids, each with a deadline, laid out for lookups in batches.
//!
//! De-duplication checks every event's id against every id still remembered: millions of
//! them, far more than fit in cache, so each lookup is a memory miss. Open addressing with
//! linear probing keeps an id and its deadline in one 16-byte slot, and a batch of lookups
//! can ask for the slots it will need a few ids ahead ([`IdTable::prefetch`]), so the misses
//! overlap instead of following one another.

/// One slot: an id and its deadline; deadline 0 marks an empty slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    id: u64,
    deadline: u64,
}

/// Ids with deadlines (at least 1 ms: a deadline of 0 is kept as 1).
pub struct IdTable {
    slots: Vec<Slot>,
    len: usize,
    /// `64 - log2(slots.len())`: the slot of an id is the top bits of its hash.
    shift: u32,
}

const MIN_SLOTS: usize = 16;

/// Fibonacci hashing: the product's top bits depend on every bit of the id, so sequential
/// ids and ids whose low bits are all zero both spread over the table.
#[inline]
fn hash(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Default for IdTable {
    fn default() -> IdTable {
        IdTable::with_slots(MIN_SLOTS)
    }
}

impl IdTable {
    fn with_slots(slots: usize) -> IdTable {
        IdTable {
            slots: vec![Slot::default(); slots],
            len: 0,
            shift: 64 - slots.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, id: u64) -> usize {
        (hash(id) >> self.shift) as usize
    }

    /// Asks the processor to bring `id`'s slot into cache ahead of a lookup.
    #[inline]
    pub fn prefetch(&self, id: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot = self.slots.as_ptr().wrapping_add(self.home(id));
            // SAFETY: a prefetch is a hint that never faults, whatever the address; `slot`
            // lies inside the table anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }

    /// Adds `id` with `deadline` and returns true, unless it is there with a deadline after
    /// `arrival`: then returns false (its deadline unchanged). One there with an earlier
    /// deadline takes the new one.
    #[inline]
    pub fn insert(&mut self, id: u64, deadline: u64, arrival: u64) -> bool {
        // Grow past five eighths full: probes stay short, mostly within one cache line.
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.rebuild(self.slots.len() * 2, 0);
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(id);
        loop {
            let slot = &mut self.slots[at];
            if slot.deadline == 0 {
                *slot = Slot {
                    id,
                    deadline: deadline.max(1),
                };
                self.len += 1;
                return true;
            }
            if slot.id == id {
                if slot.deadline > arrival {
                    return false;
                }
                slot.deadline = deadline.max(1);
                return true;
            }
            at = (at + 1) & mask;
        }
    }

    /// Forgets the ids whose deadline is at or before `frontier`, shrinking the table when
    /// most of it is then empty.
    pub fn expire(&mut self, frontier: u64) {
        let kept = self.slots.iter().filter(|s| s.deadline > frontier).count();
        if kept == self.len {
            return;
        }
        let mut slots = self.slots.len();
        while slots > MIN_SLOTS && kept * 8 < slots * 2 {
            slots /= 2;
        }
        self.rebuild(slots, frontier);
    }

    /// Moves the ids with deadlines after `frontier` into a table of `slots` slots.
    fn rebuild(&mut self, slots: usize, frontier: u64) {
        let old = std::mem::replace(self, IdTable::with_slots(slots));
        for slot in old.slots.into_iter().filter(|s| s.deadline > frontier) {
            self.insert(slot.id, slot.deadline, 0);
        }
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Inserts (a copy arriving at or after the held deadline is new again) and expiries
        /// agree with a plain map, for ids that collide a lot (small
        /// ranges, shared low bits) and for spread ones.
        #[test]
        fn agrees_with_a_map(
            steps in prop::collection::vec(
                prop_oneof![
                    4 => (0u64..300, 0u64..50, 0u64..50)
                        .prop_map(|(id, d, a)| (Some(id << 20), d, a)),
                    4 => (any::<u64>(), 0u64..50, 0u64..50).prop_map(|(id, d, a)| (Some(id), d, a)),
                    1 => (0u64..50).prop_map(|f| (None, f, 0)),
                ],
                0..600,
            )
        ) {
            let mut table = IdTable::default();
            let mut model: HashMap<u64, u64> = HashMap::new();
            for (id, value, arrival) in steps {
                match id {
                    Some(id) => {
                        table.prefetch(id);
                        let fresh = model.get(&id).is_none_or(|&deadline| deadline <= arrival);
                        if fresh {
                            model.insert(id, value.max(1));
                        }
                        prop_assert_eq!(table.insert(id, value, arrival), fresh);
                    }
                    None => {
                        table.expire(value);
                        model.retain(|_, deadline| *deadline > value);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            for (&id, &deadline) in &model {
                prop_assert!(!table.insert(id, deadline, 0));
            }
        }
    }
}
