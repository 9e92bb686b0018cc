//! Where each source operator of the process holds its frontier.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Where each source operator of the process holds its frontier, so a worker whose
/// partitions are all idle or empty can follow the others instead of holding them back.
#[derive(Default)]
pub(crate) struct SourceFrontiers {
    by_worker: Mutex<BTreeMap<usize, u64>>,
}

impl SourceFrontiers {
    /// Notes where `worker`'s source holds the frontier.
    pub fn publish(&self, worker: usize, time: u64) {
        self.by_worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker, time);
    }

    /// Notes that `worker`'s source has ended and holds nothing.
    pub fn withdraw(&self, worker: usize) {
        self.by_worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&worker);
    }

    /// The lowest frontier the other sources of the process hold: following it, a source
    /// holds nothing back that they do not.
    pub fn lowest_other(&self, worker: usize) -> Option<u64> {
        self.by_worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(w, _)| **w != worker)
            .map(|(_, t)| *t)
            .min()
    }
}
