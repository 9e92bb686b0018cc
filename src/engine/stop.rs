//! A graceful stop on SIGTERM or Ctrl-C.
//!
//! The first signal asks every source to stop reading. A source holds its frontier where it
//! is (dropping it would mark every open window final), waits until every row that has fired
//! is written (the frontier after the sinks has caught up with the frontier of what was
//! read), commits its position, and reports itself settled. Once every worker of the process
//! has settled, the process flushes its outputs, prints its summary and exits with code 0.
//! A second signal ends the process at once.

use crate::signals::StopSignal;
use std::collections::HashSet;
use std::sync::Mutex;

/// Whether a stop was asked for, and which workers have settled since.
pub struct Stop {
    signal: StopSignal,
    workers: usize,
    settled: Mutex<HashSet<usize>>,
}

impl Stop {
    /// Listens for SIGTERM and SIGINT, for a process of `workers` workers.
    pub fn listen(workers: usize) -> std::io::Result<Stop> {
        Ok(Stop {
            signal: StopSignal::listen()?,
            workers,
            settled: Mutex::new(HashSet::new()),
        })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.signal.requested()
    }

    /// Notes that `worker` reads no more (its input ended, or it stopped and everything it
    /// read is written); true when this makes every worker of the process settled while a
    /// stop is asked for.
    pub fn settle(&self, worker: usize) -> bool {
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        let newly = settled.insert(worker);
        newly && settled.len() == self.workers && self.requested()
    }
}
