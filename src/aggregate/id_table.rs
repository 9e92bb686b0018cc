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
///
/// The table is cut into [`SHARDS`] shards by the first bits of an id's hash, each grown on
/// its own: growing copies one shard, not the whole table, so the table never holds its
/// old and new slots at once. A shard has any number of slots, not only a power of two, and
/// grows by half when three quarters full, so it stays between about half and three
/// quarters full.
pub struct IdTable {
    shards: Vec<Shard>,
    len: usize,
}

/// The ids whose hash starts with the shard's number.
#[derive(Default)]
struct Shard {
    slots: Vec<Slot>,
    len: usize,
}

/// How many bits of the hash pick the shard.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
const MIN_SLOTS: usize = 8;

/// Fibonacci hashing: the product's top bits depend on every bit of the id, so sequential
/// ids and ids whose low bits are all zero both spread over the table.
#[inline]
fn hash(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Default for IdTable {
    fn default() -> IdTable {
        IdTable {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            len: 0,
        }
    }
}

/// The shard of an id of this hash: the hash's first bits.
#[inline]
fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

impl IdTable {
    /// Asks the processor to bring `id`'s slot into cache ahead of a lookup.
    #[inline]
    pub fn prefetch(&self, id: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let hash = hash(id);
            let shard = &self.shards[shard_of(hash)];
            let slot = shard.slots.as_ptr().wrapping_add(shard.home(hash));
            // SAFETY: a prefetch is a hint that never faults, whatever the address; `slot`
            // lies inside the shard (or just past an empty one) anyway.
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
        let hash = hash(id);
        let shard = &mut self.shards[shard_of(hash)];
        let (fresh, added) = shard.insert(id, hash, deadline, arrival);
        self.len += usize::from(added);
        fresh
    }

    /// Forgets the ids whose deadline is at or before `frontier`, shrinking the shards that
    /// are then mostly empty.
    pub fn expire(&mut self, frontier: u64) {
        for shard in &mut self.shards {
            self.len -= shard.expire(frontier);
        }
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Shard {
    /// Where an id of this hash would sit with no collision: the hash's bits after the
    /// shard's, scaled to the number of slots.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash << SHARD_BITS) * self.slots.len() as u128) >> 64) as usize
    }

    /// [`IdTable::insert`] in this shard: whether the id is fresh, and whether it was added
    /// (not there before).
    #[inline]
    fn insert(&mut self, id: u64, hash: u64, deadline: u64, arrival: u64) -> (bool, bool) {
        // Grow by half past three quarters full: linear probes stay short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let slots = self.slots.len();
            self.rebuild((slots + slots / 2).max(MIN_SLOTS), 0);
        }
        let end = self.slots.len();
        let mut at = self.home(hash);
        loop {
            let slot = &mut self.slots[at];
            if slot.deadline == 0 {
                *slot = Slot {
                    id,
                    deadline: deadline.max(1),
                };
                self.len += 1;
                return (true, true);
            }
            if slot.id == id {
                if slot.deadline > arrival {
                    return (false, false);
                }
                slot.deadline = deadline.max(1);
                return (true, false);
            }
            at += 1;
            if at == end {
                at = 0;
            }
        }
    }

    /// Forgets the ids whose deadline is at or before `frontier`, shrinking to about half
    /// full when less than a third full; returns how many it forgot.
    fn expire(&mut self, frontier: u64) -> usize {
        let kept = self.slots.iter().filter(|s| s.deadline > frontier).count();
        let forgotten = self.len - kept;
        if forgotten == 0 {
            return 0;
        }
        let slots = if kept * 3 < self.slots.len() {
            (kept * 2).max(MIN_SLOTS)
        } else {
            self.slots.len()
        };
        self.rebuild(slots, frontier);
        forgotten
    }

    /// Moves the ids with deadlines after `frontier` into `slots` slots.
    fn rebuild(&mut self, slots: usize, frontier: u64) {
        let old = std::mem::replace(
            self,
            Shard {
                slots: vec![Slot::default(); slots],
                len: 0,
            },
        );
        for slot in old.slots.into_iter().filter(|s| s.deadline > frontier) {
            self.insert(slot.id, hash(slot.id), slot.deadline, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Slots held in all: what the table's memory is.
    fn slots(table: &IdTable) -> usize {
        table.shards.iter().map(|s| s.slots.len()).sum()
    }

    /// Many ids grow every shard, expiry shrinks them, and in between each id is held or
    /// forgotten as its deadline says, with the table never more than twice the ids it holds
    /// (plus the shards' least size).
    #[test]
    fn grows_and_shrinks_shard_by_shard() {
        let ids = 100_000u64;
        let mut table = IdTable::default();
        for id in 0..ids {
            assert!(table.insert(id << 12, 10 + id % 3, 0));
            assert!(slots(&table) <= 2 * table.len() + SHARDS * MIN_SLOTS);
        }
        assert_eq!(table.len(), ids as usize);
        for id in (0..ids).step_by(7) {
            assert!(!table.insert(id << 12, 50, 0), "{id} is held");
        }
        table.expire(11);
        assert_eq!(table.len(), (0..ids).filter(|id| id % 3 == 2).count());
        assert!(slots(&table) <= 2 * table.len() + SHARDS * MIN_SLOTS);
        for id in 0..ids {
            assert_eq!(table.insert(id << 12, 12, 0), id % 3 != 2, "{id}");
        }
    }

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
