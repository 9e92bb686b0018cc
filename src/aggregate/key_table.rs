//! The keys of a window store's open windows, each held once and named by a number.
//!
//! A key shows up in many panes and windows: a sliding hour every five minutes holds a city
//! in twelve panes, and assembles a window from all twelve. With the key held here once,
//! panes hold its number: a cell is smaller, and assembling a window merges cells by number
//! instead of hashing and comparing the key's values in every pane again.

use super::Key;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A key's number in its [`KeyTable`].
pub(super) type KeyId = u32;

struct Slot {
    key: Key,
    hash: u64,
    /// How many cells (a pane's or a window's own) hold the key; it is let go at none.
    holders: u32,
}

/// Numbers keys while some cell holds them, and reuses the numbers of keys let go.
#[derive(Default)]
pub(super) struct KeyTable {
    /// By number; `None` for a number that is free.
    slots: Vec<Option<Slot>>,
    free: Vec<KeyId>,
    index: HashTable<KeyId>,
    /// The key numbered last and its number. The partial states of one key for the outputs
    /// of a store come one after another and share the key's values (one allocation), so
    /// all but the first find their number by that allocation alone.
    last: Option<(Key, KeyId)>,
}

impl KeyTable {
    /// The number of `key`, numbered now if it has none. It is let go unless a cell
    /// [`hold`](Self::hold)s it before the next [`release`](Self::release).
    pub(super) fn id(&mut self, key: Key) -> KeyId {
        if let Some((last, id)) = &self.last {
            if Arc::ptr_eq(&last.0, &key.0) {
                return *id;
            }
        }
        let hash = rustc_hash::FxBuildHasher.hash_one(&key);
        let slots = &self.slots;
        let found = self.index.find(hash, |&id| {
            slots[id as usize]
                .as_ref()
                .is_some_and(|slot| slot.key == key)
        });
        if let Some(&id) = found {
            self.last = Some((key, id));
            return id;
        }
        let slot = Some(Slot {
            key: key.clone(),
            hash,
            holders: 0,
        });
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                KeyId::try_from(self.slots.len() - 1).expect("fewer than 2³² keys open")
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, id, |&id| {
            slots[id as usize].as_ref().map_or(0, |slot| slot.hash)
        });
        self.last = Some((key, id));
        id
    }

    /// The key of a number some cell holds.
    pub(super) fn key(&self, id: KeyId) -> &Key {
        &self.held(id).key
    }

    fn held(&self, id: KeyId) -> &Slot {
        self.slots[id as usize]
            .as_ref()
            .expect("a key number is used only while a cell holds it")
    }

    /// One more cell holds the key.
    pub(super) fn hold(&mut self, id: KeyId) {
        if let Some(slot) = &mut self.slots[id as usize] {
            slot.holders += 1;
        }
    }

    /// A cell no longer holds the key: at no holder, the key is let go and its number free.
    pub(super) fn release(&mut self, id: KeyId) {
        let Some(slot) = &mut self.slots[id as usize] else {
            return;
        };
        slot.holders = slot.holders.saturating_sub(1);
        if slot.holders == 0 {
            let hash = slot.hash;
            if let Ok(entry) = self.index.find_entry(hash, |&other| other == id) {
                entry.remove();
            }
            self.slots[id as usize] = None;
            self.free.push(id);
            if self.last.as_ref().is_some_and(|&(_, last)| last == id) {
                self.last = None;
            }
            if self.index.is_empty() {
                // Every window is closed: give the memory back.
                *self = KeyTable::default();
            }
        }
    }

    /// An estimate of the bytes the table takes: its slots, index and the keys' values.
    pub(super) fn bytes(&self) -> usize {
        let values: usize = self
            .slots
            .iter()
            .flatten()
            .map(|slot| std::mem::size_of_val::<[crate::value::Value]>(&slot.key.0))
            .sum();
        self.slots.capacity() * std::mem::size_of::<Option<Slot>>()
            + self.free.capacity() * std::mem::size_of::<KeyId>()
            + self.index.capacity() * (std::mem::size_of::<KeyId>() + 1)
            + values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn key(name: &str) -> Key {
        Key(vec![Value::Str(name.into())].into())
    }

    #[test]
    fn the_last_key_is_found_by_its_allocation_until_let_go() {
        let mut table = KeyTable::default();
        let z = table.id(key("z"));
        table.hold(z);
        let a = key("a");
        let id = table.id(a.clone());
        table.hold(id);
        assert_eq!(table.id(a.clone()), id, "the same allocation");
        assert_eq!(table.id(key("a")), id, "equal values in another allocation");
        assert_eq!(table.id(a.clone()), id);
        table.release(id);
        // The same allocation again, right after its number was let go: numbered anew.
        let again = table.id(a.clone());
        table.hold(again);
        assert_eq!(table.key(again), &key("a"));
        assert_eq!(table.index.len(), 2, "z and a");
        let b = table.id(key("b"));
        table.hold(b);
        assert_ne!(b, again);
        assert_eq!(table.key(b), &key("b"));
        assert_eq!(table.id(a), again, "a keeps its number");
    }

    #[test]
    fn numbers_a_key_while_held_and_reuses_the_number() {
        let mut table = KeyTable::default();
        let a = table.id(key("a"));
        table.hold(a);
        table.hold(a);
        let b = table.id(key("b"));
        table.hold(b);
        assert_ne!(a, b);
        assert_eq!(table.id(key("a")), a);
        assert_eq!(table.key(b), &key("b"));
        table.release(a);
        assert_eq!(table.id(key("a")), a, "still held by one cell");
        table.release(a);
        assert_eq!(table.index.len(), 1);
        let c = table.id(key("c"));
        assert_eq!(c, a, "the number of a key let go is reused");
        assert_eq!(table.key(c), &key("c"));
        assert_eq!(table.key(b), &key("b"));
    }
}
