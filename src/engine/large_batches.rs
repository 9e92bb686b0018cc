//! A container builder for exchanges of large records (decoded events), which sends them on
//! in batches of `BATCH_RECORDS` rather than of timely's default 8 KiB.
//!
//! With records a few hundred bytes long, 8 KiB is a few dozen records: every batch is a
//! message through a channel and a call of the receiving operator, and those costs then
//! weigh as much as the records' own processing.

use std::collections::VecDeque;
use timely::container::{ContainerBuilder, LengthPreservingContainerBuilder, PushInto};

/// Records per batch an exchange sends (when it has that many for one worker).
const BATCH_RECORDS: usize = 1024;

/// Builds vectors of up to `BATCH_RECORDS` records, in the order pushed.
pub struct LargeBatches<T> {
    /// The batch being filled.
    current: Vec<T>,
    /// A sent batch's allocation, kept for the next one.
    empty: Option<Vec<T>>,
    /// Full batches waiting to be sent.
    pending: VecDeque<Vec<T>>,
}

impl<T> Default for LargeBatches<T> {
    fn default() -> Self {
        LargeBatches {
            current: Vec::new(),
            empty: None,
            pending: VecDeque::new(),
        }
    }
}

impl<T> PushInto<T> for LargeBatches<T> {
    #[inline]
    fn push_into(&mut self, record: T) {
        if self.current.capacity() == 0 {
            self.current = self.empty.take().unwrap_or_default();
            self.current.clear();
            self.current.reserve(BATCH_RECORDS);
        }
        self.current.push(record);
        if self.current.len() >= BATCH_RECORDS {
            self.pending.push_back(std::mem::take(&mut self.current));
        }
    }
}

impl<T> ContainerBuilder for LargeBatches<T> {
    type Container = Vec<T>;

    #[inline]
    fn extract(&mut self) -> Option<&mut Vec<T>> {
        self.empty = Some(self.pending.pop_front()?);
        self.empty.as_mut()
    }

    #[inline]
    fn finish(&mut self) -> Option<&mut Vec<T>> {
        if !self.current.is_empty() {
            self.pending.push_back(std::mem::take(&mut self.current));
        }
        self.empty = self.pending.pop_front();
        self.empty.as_mut()
    }
}

impl<T> LengthPreservingContainerBuilder for LargeBatches<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_every_record_once_in_order_in_batches_of_at_most_the_limit() {
        let mut builder = LargeBatches::default();
        let mut sent = Vec::new();
        for record in 0..2 * BATCH_RECORDS + 5 {
            builder.push_into(record);
            while let Some(batch) = builder.extract() {
                assert!(batch.len() <= BATCH_RECORDS);
                sent.append(batch);
            }
        }
        while let Some(batch) = builder.finish() {
            sent.append(batch);
        }
        assert_eq!(sent, (0..2 * BATCH_RECORDS + 5).collect::<Vec<_>>());
    }
}
