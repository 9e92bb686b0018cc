//! A set of 64-bit ids, each with a deadline, laid out for lookups in batches.
//!
//! De-duplication checks every event's id against every id still remembered: millions of
//! them, far more than fit in cache, so each lookup is a memory miss. Open addressing with
//! linear probing keeps an id and its deadline in one 12-byte slot, and a batch of lookups
//! can ask for the slots it will need a few ids ahead ([`IdTable::prefetch`]), so the misses
//! overlap instead of following one another.

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// One slot: an id and its deadline in milliseconds after its shard's base (deadlines held
/// at once lie within the retention span, far less than the 49 days 32 bits reach); 0 marks
/// an empty slot. Packed: 12 bytes, not 16.
#[derive(Clone, Copy, Default)]
#[repr(C, packed(4))]
struct Slot {
    id: u64,
    after_base: u32,
}

impl Slot {
    #[inline]
    fn is_empty(self) -> bool {
        self.after_base == 0
    }

    /// The deadline held, in a shard of this base.
    #[inline]
    fn deadline(self, base: u64) -> u64 {
        base + u64::from(self.after_base)
    }
}

/// Ids with deadlines (at least 1 ms: a deadline of 0 is kept as 1).
///
/// The table is cut into [`SHARDS`] shards by the first bits of an id's hash, each grown on
/// its own: growing copies one shard, not the whole table, so the table never holds its
/// old and new slots at once. A shard has any number of slots, not only a power of two, and
/// grows by half when three quarters full, so it stays between about half and three
/// quarters full. The shards' sizes are staggered (their least sizes differ), so they do not
/// all grow at once: the table as a whole stays about 60 % full, never half full at once.
///
/// An id whose deadline lies too far from its shard's others to be held as 32 bits after the
/// shard's base (a record whose event time is weeks away from the rest) is kept apart, with
/// its whole deadline.
///
/// Told how many ids it will hold ([`IdTable::expect`]), a shard that must grow grows
/// straight to room for its share of them, at most [`LEAP`] times its size at once: each
/// growth allocates fresh memory, which the kernel hands out a page fault at a time, and
/// moves every id, so growing by half from empty to a million ids faulted in and filled
/// three times the table's final memory. The expectation holds until an id first expires:
/// from then on the retention span, not the input, bounds what the table holds.
pub struct IdTable {
    shards: Vec<Shard>,
    /// Ids whose deadlines do not fit their shard's slots, with their deadlines.
    far: HashMap<u64, u64, FxBuildHasher>,
    /// The slots a shard is expected to need (0: no expectation).
    expected_slots: usize,
    /// Whether an id expired: expectations are no longer taken.
    expired: bool,
}

/// The ids whose hash starts with the shard's number.
struct Shard {
    slots: Vec<Slot>,
    len: usize,
    /// Deadlines are held as milliseconds after this.
    base: u64,
    /// At most the lowest deadline held and at least the highest (bounds kept since the
    /// last rebuild, widened by each deadline written).
    lowest: u64,
    highest: u64,
    /// The shard's least size, staggered from shard to shard.
    least: usize,
}

/// How many bits of the hash pick the shard.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// The least size of the first shard; shard `i` has `i / 8` slots more, so the shards reach
/// their growth points at counts spread over a factor of 1.5, the growth step.
const MIN_SLOTS: usize = 16;
/// The most a shard grows by at once towards an expectation: a wrong one (ids that will
/// expire before the input ends) leaves the table at most this many times the room growing
/// by half would have.
const LEAP: usize = 4;
/// The greatest deadline a slot holds after its shard's base.
const REACH: u64 = u32::MAX as u64;

/// Fibonacci hashing: the product's top bits depend on every bit of the id, so sequential
/// ids and ids whose low bits are all zero both spread over the table.
#[inline]
fn hash(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Default for IdTable {
    fn default() -> IdTable {
        IdTable {
            shards: (0..SHARDS)
                .map(|i| Shard {
                    slots: Vec::new(),
                    len: 0,
                    base: 0,
                    lowest: u64::MAX,
                    highest: 0,
                    least: MIN_SLOTS + i * MIN_SLOTS / (2 * SHARDS),
                })
                .collect(),
            far: HashMap::default(),
            expected_slots: 0,
            expired: false,
        }
    }
}

/// The shard of an id of this hash: the hash's first bits.
#[inline]
fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// The deadline of `id` in `far`, the ids kept apart from the slots (most often none).
#[inline]
fn far_deadline(far: &mut HashMap<u64, u64, FxBuildHasher>, id: u64) -> Option<&mut u64> {
    if far.is_empty() {
        return None;
    }
    far.get_mut(&id)
}

impl IdTable {
    /// Asks the processor to bring `id`'s slot into cache ahead of a lookup.
    #[inline]
    pub fn prefetch(&self, id: u64) {
        let hash = hash(id);
        let shard = &self.shards[shard_of(hash)];
        crate::prefetch::prefetch(shard.slots.as_ptr().wrapping_add(shard.home(hash)));
    }

    /// Expects to hold about `ids` ids at once, until the first expires (then this is
    /// ignored): shards grow straight towards room for them, two thirds full.
    pub fn expect(&mut self, ids: usize) {
        if !self.expired {
            self.expected_slots = ids / SHARDS * 3 / 2;
        }
    }

    /// Adds `id` with `deadline` and returns true, unless it is there with a deadline after
    /// `arrival`: then returns false (its deadline unchanged). One there with an earlier
    /// deadline takes the new one.
    #[inline]
    pub fn insert(&mut self, id: u64, deadline: u64, arrival: u64) -> bool {
        let deadline = deadline.max(1);
        let hash = hash(id);
        let shard = &mut self.shards[shard_of(hash)];
        shard.make_room(self.expected_slots);
        match shard.find(id, hash) {
            Ok(at) => {
                if shard.deadline_at(at) > arrival {
                    return false;
                }
                if !shard.write(at, id, deadline) {
                    shard.remove(at);
                    self.far.insert(id, deadline);
                }
                true
            }
            Err(at) => {
                if let Some(held) = far_deadline(&mut self.far, id) {
                    if *held > arrival {
                        return false;
                    }
                    *held = deadline;
                    return true;
                }
                if shard.write(at, id, deadline) {
                    shard.len += 1;
                } else {
                    self.far.insert(id, deadline);
                }
                true
            }
        }
    }

    /// Forgets the ids whose deadline is at or before `frontier`, shrinking the shards that
    /// are then mostly empty.
    pub fn expire(&mut self, frontier: u64) {
        let held = self.len();
        for shard in &mut self.shards {
            shard.expire(frontier);
        }
        self.far.retain(|_, deadline| *deadline > frontier);
        if self.len() < held {
            self.expired = true;
            self.expected_slots = 0;
        }
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len).sum::<usize>() + self.far.len()
    }
}

impl Shard {
    /// Where an id of this hash would sit with no collision: the hash's bits after the
    /// shard's, scaled to the number of slots.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash << SHARD_BITS) * self.slots.len() as u128) >> 64) as usize
    }

    /// Grows past three quarters full (linear probes stay short), so that one more id finds
    /// an empty slot: by half, or towards `expected` slots when that is more (at most
    /// [`LEAP`] times the size).
    #[inline]
    fn make_room(&mut self, expected: usize) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let slots = self.slots.len();
            let by_half = (slots + slots / 2).max(self.least);
            self.rebuild(by_half.max(expected.min(slots * LEAP)), 0);
        }
    }

    /// The slot holding `id` (`Ok`), or the empty slot where it would go (`Err`). The shard
    /// has an empty slot.
    #[inline]
    fn find(&self, id: u64, hash: u64) -> Result<usize, usize> {
        let end = self.slots.len();
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot.is_empty() {
                return Err(at);
            }
            if slot.id == id {
                return Ok(at);
            }
            at += 1;
            if at == end {
                at = 0;
            }
        }
    }

    /// The deadline held in slot `at`.
    #[inline]
    fn deadline_at(&self, at: usize) -> u64 {
        self.slots[at].deadline(self.base)
    }

    /// Writes `id` with `deadline` into slot `at`, first moving the base when the deadline
    /// is out of its reach and every deadline held would still be in reach; false (nothing
    /// written) when it cannot be.
    #[inline]
    fn write(&mut self, at: usize, id: u64, deadline: u64) -> bool {
        if deadline <= self.base || deadline - self.base > REACH {
            let (lowest, highest) = if self.len == 0 {
                (deadline, deadline)
            } else {
                (self.lowest.min(deadline), self.highest.max(deadline))
            };
            if highest - lowest >= REACH {
                return false;
            }
            // Room on both sides: deadlines move on with time, and a few come out of order.
            let spare = REACH - 1 - (highest - lowest);
            self.rebase((lowest - 1).saturating_sub(spare / 2));
        }
        self.slots[at] = Slot {
            id,
            after_base: (deadline - self.base) as u32,
        };
        self.lowest = self.lowest.min(deadline);
        self.highest = self.highest.max(deadline);
        true
    }

    /// Holds every deadline after `base` instead (each must be in its reach).
    fn rebase(&mut self, base: u64) {
        for slot in self.slots.iter_mut().filter(|s| !s.is_empty()) {
            let deadline = slot.deadline(self.base);
            slot.after_base = (deadline - base) as u32;
        }
        self.base = base;
    }

    /// Empties slot `at`, moving back the ids after it that linear probing placed past
    /// their home because of it.
    fn remove(&mut self, at: usize) {
        let end = self.slots.len();
        let mut hole = at;
        let mut next = at;
        loop {
            next = if next + 1 == end { 0 } else { next + 1 };
            let slot = self.slots[next];
            if slot.is_empty() {
                break;
            }
            let home = self.home(hash(slot.id));
            // The id may fill the hole unless its home lies after the hole (cyclically).
            if (next + end - home) % end >= (next + end - hole) % end {
                self.slots[hole] = slot;
                hole = next;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
    }

    /// Forgets the ids whose deadline is at or before `frontier`, shrinking to at most half
    /// full when less than a third full.
    fn expire(&mut self, frontier: u64) {
        if frontier < self.lowest {
            return;
        }
        let kept = self
            .slots
            .iter()
            .filter(|s| !s.is_empty() && s.deadline(self.base) > frontier)
            .count();
        if kept == self.len {
            return;
        }
        // By steps of the growth factor, so the shard keeps its place among the others.
        let mut slots = self.slots.len();
        while slots * 2 / 3 >= self.least && kept * 3 <= slots {
            slots = slots * 2 / 3;
        }
        self.rebuild(slots, frontier);
    }

    /// Moves the ids with deadlines after `frontier` into `slots` slots.
    fn rebuild(&mut self, slots: usize, frontier: u64) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots]);
        self.len = 0;
        self.lowest = u64::MAX;
        self.highest = 0;
        for slot in old {
            let deadline = slot.deadline(self.base);
            if slot.is_empty() || deadline <= frontier {
                continue;
            }
            let at = self.find(slot.id, hash(slot.id)).expect_err("each id once");
            self.slots[at] = slot;
            self.len += 1;
            self.lowest = self.lowest.min(deadline);
            self.highest = self.highest.max(deadline);
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

    /// The shards' least sizes together.
    fn least(table: &IdTable) -> usize {
        table.shards.iter().map(|s| s.least).sum()
    }

    #[test]
    fn a_slot_takes_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 12);
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
            assert!(slots(&table) <= 2 * table.len() + least(&table));
        }
        assert_eq!(table.len(), ids as usize);
        for id in (0..ids).step_by(7) {
            assert!(!table.insert(id << 12, 50, 0), "{id} is held");
        }
        table.expire(11);
        assert_eq!(table.len(), (0..ids).filter(|id| id % 3 == 2).count());
        assert!(slots(&table) <= 3 * table.len() + least(&table));
        for id in 0..ids {
            assert_eq!(table.insert(id << 12, 12, 0), id % 3 != 2, "{id}");
        }
    }

    /// Told how many ids are coming, the shards make room for all of them before three
    /// quarters have come, and the rest fit without another growth; once an id expires, an
    /// expectation is no longer taken.
    #[test]
    fn grows_towards_what_it_expects() {
        let ids = 100_000u64;
        let mut table = IdTable::default();
        table.expect(ids as usize);
        for id in 0..ids * 3 / 4 {
            assert!(table.insert(id << 12, 10 + id % 3, 0));
        }
        let room = slots(&table);
        assert!(room * 3 >= ids as usize * 4, "{room} slots for {ids} ids");
        for id in ids * 3 / 4..ids {
            assert!(table.insert(id << 12, 10 + id % 3, 0));
        }
        assert_eq!(slots(&table), room, "no growth for the expected ids");
        assert!(room <= 2 * ids as usize);
        table.expire(10);
        table.expect(100 * ids as usize);
        assert_eq!(
            table.expected_slots, 0,
            "ids expired: retention bounds the table"
        );
    }

    /// Deadlines beyond a slot's reach of the others are kept apart and still judged
    /// exactly; once the others expire, the shards move their base and hold the later
    /// deadlines in their slots again.
    #[test]
    fn deadlines_weeks_apart() {
        const DAY: u64 = 86_400_000;
        let today = 1_670_000_000_000;
        let mut table = IdTable::default();
        for id in 0..1000u64 {
            assert!(table.insert(id, today + id, today));
        }
        assert!(table.far.is_empty());
        assert!(table.insert(5000, today + 60 * DAY, today));
        assert_eq!(table.far.len(), 1, "60 days from the others");
        assert!(!table.insert(5000, today + 61 * DAY, today + 60 * DAY - 1));
        assert!(table.insert(5000, today + 61 * DAY, today + 60 * DAY));
        assert!(!table.insert(7, today + 60 * DAY, today + 6));
        assert!(
            table.insert(7, today + 60 * DAY, today + 7),
            "held until today + 7"
        );
        assert_eq!(table.far.len(), 2, "moved out of its slot");
        table.expire(today + 999);
        assert_eq!(table.len(), 2);
        for id in 10_000..11_000u64 {
            assert!(table.insert(id, today + 59 * DAY + id, today + 1000));
        }
        assert_eq!(table.far.len(), 2, "the slots' base moved on");
        assert_eq!(table.len(), 1002);
        table.expire(today + 62 * DAY);
        assert_eq!(table.len(), 0);
    }

    proptest! {
        /// Inserts (a copy arriving at or after the held deadline is new again) and expiries
        /// agree with a plain map, for ids that collide a lot (small ranges, shared low bits)
        /// and for spread ones, with deadlines a few milliseconds apart or weeks apart (out
        /// of a slot's reach from the others), near zero or near today.
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
            ),
            scale in prop_oneof![Just(1u64), Just(1 << 29), Just(1 << 33)],
            offset in prop_oneof![Just(0u64), Just(1_670_000_000_000)],
            expected in prop_oneof![Just(0usize), 0usize..5_000],
        ) {
            let time = |t: u64| offset + t * scale;
            let mut table = IdTable::default();
            table.expect(expected);
            let mut model: HashMap<u64, u64> = HashMap::new();
            for (id, value, arrival) in steps {
                let (value, arrival) = (time(value), time(arrival));
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
