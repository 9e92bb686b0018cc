//! The session windows of one output: per key, sessions that grow and merge as partial states
//! come in.
//!
//! A partial state covers `[first event, last event + gap)` of some events of one key. It
//! merges with every session of its key it overlaps, so a key's sessions never overlap and
//! each is a run of events less than a gap apart. A session fires (provisional) when the
//! frontier passes its end, fires again when late events change it, and fires its final row
//! (then releases its state) when the frontier passes its end plus the allowed lateness.
//!
//! Records are too late for a session output when they are more than the allowed lateness
//! behind their partition's watermark (`WindowAssigner::late_from`). Every other record
//! reaches the store before any session it belongs to can be final, so the final sessions are
//! those of a batch computation over the records that were not late, whatever order the
//! records reach the store in, and the same at any worker count.

use super::window_store::StateSize;
use super::{Accumulator, Accumulators, Key, ResultRow};
use crate::time::Window;
use hashbrown::HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// One session of one key.
struct Session {
    /// Last event + gap.
    end: u64,
    accumulators: Vec<Accumulator>,
    /// Whether a row of this session (with these bounds) has been emitted.
    fired: bool,
    /// Whether it changed since its last row.
    dirty: bool,
    /// The frontier at which it next fires: its end until its first row, its end plus the
    /// allowed lateness after that (its end again when a late event changes it).
    due: u64,
}

impl Session {
    /// This session's row, for `key` and its start.
    fn row(&self, output: u16, key: &Key, start: u64, is_final: bool) -> ResultRow {
        ResultRow {
            output,
            window: Window {
                start,
                end: self.end,
            },
            rank: None,
            key: key.clone(),
            values: self.accumulators.iter().map(Accumulator::value).collect(),
            is_final,
        }
    }
}

/// The sessions of one output on one worker.
pub(super) struct SessionStore {
    output: u16,
    allowed_lateness: u64,
    /// Each key's sessions by start.
    by_key: HashMap<Key, BTreeMap<u64, Session>, rustc_hash::FxBuildHasher>,
    /// Each session once, as (due, start, key), in the order the frontier reaches them.
    due: BTreeSet<(u64, u64, Key)>,
    /// How many open sessions start at each time: the earliest is where the frontier after
    /// this output is held (see [`SessionStore::hold`]).
    starts: BTreeMap<u64, u32>,
}

impl SessionStore {
    /// An empty store for output `output`.
    pub(super) fn new(output: u16, allowed_lateness: u64) -> SessionStore {
        SessionStore {
            output,
            allowed_lateness,
            by_key: HashMap::default(),
            due: BTreeSet::new(),
            starts: BTreeMap::new(),
        }
    }

    /// Merges the partial state of `key`'s events spanning `window` into its sessions.
    pub(super) fn absorb(&mut self, key: Key, window: Window, accumulators: Accumulators) {
        if !self.by_key.contains_key(&key) {
            self.by_key.insert(key.clone(), BTreeMap::new());
        }
        let sessions = self.by_key.get_mut(&key).expect("inserted above");
        let overlapping: Vec<u64> = sessions
            .range(..window.end)
            .rev()
            .take_while(|(_, s)| s.end > window.start)
            .map(|(&start, _)| start)
            .collect();
        if let [start] = overlapping[..] {
            let session = sessions.get_mut(&start).expect("listed above");
            if start <= window.start && window.end <= session.end {
                // Inside a session: its bounds stay, a fired one owes a correction.
                for (acc, more) in session.accumulators.iter_mut().zip(accumulators) {
                    acc.merge(more);
                }
                session.dirty = true;
                if session.fired && session.due != session.end {
                    self.due.remove(&(session.due, start, key.clone()));
                    session.due = session.end;
                    self.due.insert((session.due, start, key));
                }
                return;
            }
        }
        // A new session, or one whose bounds change: rows under the old bounds stay
        // provisional, the session fires anew under its new ones.
        let mut accumulators = accumulators.into_vec();
        accumulators.iter_mut().for_each(Accumulator::settle);
        let (mut start, mut end) = (window.start, window.end);
        for old_start in overlapping {
            let old = sessions.remove(&old_start).expect("listed above");
            self.due.remove(&(old.due, old_start, key.clone()));
            release(&mut self.starts, old_start);
            start = start.min(old_start);
            end = end.max(old.end);
            for (acc, more) in accumulators.iter_mut().zip(old.accumulators) {
                acc.merge(more);
            }
        }
        sessions.insert(
            start,
            Session {
                end,
                accumulators,
                fired: false,
                dirty: true,
                due: end,
            },
        );
        self.due.insert((end, start, key));
        *self.starts.entry(start).or_default() += 1;
    }

    /// Fires every session the frontier has reached; `None` means the input is complete.
    /// Sessions that became final are added to `finished` as (output, start, end). Stops
    /// once `rows` holds `at_most` rows and returns false; true once every due session fired.
    pub(super) fn advance(
        &mut self,
        frontier: Option<u64>,
        rows: &mut Vec<ResultRow>,
        finished: &mut Vec<(u16, u64, u64)>,
        at_most: usize,
    ) -> bool {
        while let Some((due, start, key)) = self.due.first().cloned() {
            if frontier.is_some_and(|f| f < due) {
                break;
            }
            if rows.len() >= at_most {
                return false;
            }
            self.due.pop_first();
            let sessions = self.by_key.get_mut(&key).expect("a due session exists");
            let session = sessions.get_mut(&start).expect("a due session exists");
            let final_at = session.end.saturating_add(self.allowed_lateness);
            let is_final = frontier.is_none_or(|f| f >= final_at);
            rows.push(session.row(self.output, &key, start, is_final));
            if is_final {
                finished.push((self.output, start, session.end));
                sessions.remove(&start);
                if sessions.is_empty() {
                    self.by_key.remove(&key);
                }
                release(&mut self.starts, start);
            } else {
                session.fired = true;
                session.dirty = false;
                session.due = final_at;
                self.due.insert((final_at, start, key));
            }
        }
        true
    }

    /// Emits every session that has not fired yet and changed since its last early row, as
    /// provisional rows.
    pub(super) fn advance_early(&mut self, rows: &mut Vec<ResultRow>) {
        for (key, sessions) in self.by_key.iter_mut() {
            for (&start, session) in sessions.iter_mut() {
                if !session.fired && session.dirty {
                    rows.push(session.row(self.output, key, start, false));
                    session.dirty = false;
                }
            }
        }
    }

    /// Whether some session has not fired yet (early results have something to show).
    pub(super) fn has_unfired(&self) -> bool {
        self.by_key
            .values()
            .any(|sessions| sessions.values().any(|s| !s.fired))
    }

    /// The start of the earliest open session: the frontier after this output is held there,
    /// so the written frontier (and the offsets a source commits with it) never passes the
    /// first event of a session that is still open, and a restart reads it again whole.
    pub(super) fn hold(&self) -> Option<u64> {
        self.starts.first_key_value().map(|(&start, _)| start)
    }

    /// Whether no session is open.
    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// What the open sessions hold (each session counts as a window and a cell).
    pub(super) fn state(&self) -> StateSize {
        let session_bytes = std::mem::size_of::<(u64, Session)>() as u64;
        let mut size = StateSize::default();
        for sessions in self.by_key.values() {
            size.bytes += std::mem::size_of::<(Key, BTreeMap<u64, Session>)>() as u64;
            for session in sessions.values() {
                size.windows += 1;
                size.cells += 1;
                size.bytes += session_bytes;
                size.add_accumulators(&session.accumulators);
            }
        }
        size
    }
}

/// Takes one open session starting at `start` off the count.
fn release(starts: &mut BTreeMap<u64, u32>, start: u64) {
    if let Some(n) = starts.get_mut(&start) {
        *n -= 1;
        if *n == 0 {
            starts.remove(&start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn key(k: &str) -> Key {
        Key(vec![Value::Str(k.into())].into())
    }

    /// One event of `k` at `t` with gap 10.
    fn event(store: &mut SessionStore, k: &str, t: u64) {
        store.absorb(
            key(k),
            Window {
                start: t,
                end: t + 10,
            },
            smallvec::smallvec![Accumulator::Count(1)],
        );
    }

    fn fire(store: &mut SessionStore, frontier: Option<u64>) -> Vec<(String, u64, u64, i64, bool)> {
        let mut rows = Vec::new();
        assert!(store.advance(frontier, &mut rows, &mut Vec::new(), usize::MAX));
        let mut out: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let Value::Str(k) = &r.key.0[0] else {
                    panic!("key")
                };
                let Value::Int(n) = r.values[0] else {
                    panic!("count")
                };
                (k.to_string(), r.window.start, r.window.end, n, r.is_final)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn events_less_than_a_gap_apart_share_a_session() {
        let mut store = SessionStore::new(0, 0);
        event(&mut store, "a", 0);
        event(&mut store, "a", 9);
        event(&mut store, "a", 18);
        event(&mut store, "b", 5);
        assert_eq!(store.hold(), Some(0));
        assert!(fire(&mut store, Some(14)).is_empty());
        assert_eq!(
            fire(&mut store, Some(15)),
            vec![("b".into(), 5, 15, 1, true)]
        );
        assert!(
            fire(&mut store, Some(27)).is_empty(),
            "a's session ends at 28"
        );
        assert_eq!(
            fire(&mut store, Some(28)),
            vec![("a".into(), 0, 28, 3, true)]
        );
        assert!(store.is_empty());
    }

    #[test]
    fn a_gap_of_exactly_the_gap_starts_a_new_session() {
        let mut store = SessionStore::new(0, 0);
        event(&mut store, "a", 0);
        event(&mut store, "a", 10);
        assert_eq!(
            fire(&mut store, None),
            vec![("a".into(), 0, 10, 1, true), ("a".into(), 10, 20, 1, true)]
        );
    }

    #[test]
    fn a_late_event_merges_two_sessions_then_one_final_row() {
        let mut store = SessionStore::new(0, 100);
        event(&mut store, "a", 0);
        event(&mut store, "a", 15);
        assert_eq!(
            fire(&mut store, Some(30)),
            vec![
                ("a".into(), 0, 10, 1, false),
                ("a".into(), 15, 25, 1, false)
            ]
        );
        // Bridges the two: one session [0, 25) of three events, fired anew.
        event(&mut store, "a", 7);
        assert_eq!(store.hold(), Some(0));
        assert_eq!(
            fire(&mut store, Some(31)),
            vec![("a".into(), 0, 25, 3, false)]
        );
        // Inside it: a correction under the same bounds.
        event(&mut store, "a", 3);
        assert_eq!(
            fire(&mut store, Some(32)),
            vec![("a".into(), 0, 25, 4, false)]
        );
        assert!(fire(&mut store, Some(124)).is_empty());
        assert_eq!(
            fire(&mut store, Some(125)),
            vec![("a".into(), 0, 25, 4, true)]
        );
        assert!(store.is_empty());
        assert_eq!(store.hold(), None);
    }

    #[test]
    fn merge_order_does_not_change_the_sessions() {
        let times = [3u64, 40, 12, 25, 90, 33, 0, 99, 51];
        let run = |order: &[u64]| {
            let mut store = SessionStore::new(0, 0);
            for &t in order {
                event(&mut store, "a", t);
            }
            fire(&mut store, None)
        };
        let forward = run(&times);
        let mut backward = times;
        backward.reverse();
        assert_eq!(forward, run(&backward));
        assert_eq!(
            forward,
            vec![
                ("a".into(), 0, 22, 3, true),
                ("a".into(), 25, 50, 3, true),
                ("a".into(), 51, 61, 1, true),
                ("a".into(), 90, 109, 2, true),
            ]
        );
    }

    #[test]
    fn early_rows_show_unfired_sessions_that_changed() {
        let mut store = SessionStore::new(0, 50);
        event(&mut store, "a", 0);
        let mut rows = Vec::new();
        store.advance_early(&mut rows);
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].is_final);
        rows.clear();
        store.advance_early(&mut rows);
        assert!(rows.is_empty(), "unchanged since");
        assert!(store.has_unfired());
        fire(&mut store, Some(10));
        assert!(!store.has_unfired());
    }
}
