//! A graceful stop on SIGTERM or Ctrl-C.
//!
//! The first signal asks every source to stop reading; a watcher thread wakes every source
//! operator of the process. A source holds its frontier where it is (dropping it would mark
//! every open window final), waits until every row that has fired is written (the frontier
//! after the sinks has caught up with the frontier of what was read, across all processes),
//! commits its position, and reports itself settled; a worker whose input has ended waits
//! for the same. Once every worker of the process has settled, the watcher flushes the
//! outputs, prints the summary and exits with code 0 (with several processes, after a
//! moment's grace so the others settle before this one's connections close). A second
//! signal ends the process at once.

use super::Shared;
use crate::signals::StopSignal;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::scheduling::SyncActivator;

/// Whether a stop was asked for, and which workers have settled since.
pub struct Stop {
    signal: StopSignal,
    workers: usize,
    settled: Mutex<HashSet<usize>>,
    /// Workers whose input has ended.
    ended: Mutex<HashSet<usize>>,
    /// The source operators to wake when a stop is asked for.
    sources: Mutex<Vec<SyncActivator>>,
    /// Set by the first thread to end the process.
    ending: AtomicBool,
    /// Set once the run has ended and its summary is out (a dashboard may still serve).
    completed: AtomicBool,
}

impl Stop {
    /// Listens for SIGTERM and SIGINT, for a process of `workers` workers.
    pub fn listen(workers: usize) -> std::io::Result<Stop> {
        Ok(Stop {
            signal: StopSignal::listen()?,
            workers,
            settled: Mutex::new(HashSet::new()),
            ended: Mutex::new(HashSet::new()),
            sources: Mutex::new(Vec::new()),
            ending: AtomicBool::new(false),
            completed: AtomicBool::new(false),
        })
    }

    /// Registers a source operator to wake when a stop is asked for.
    pub fn wake_on_stop(&self, source: SyncActivator) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// True for the first caller only: the one that ends the process.
    pub fn begin_ending(&self) -> bool {
        !self.ending.swap(true, Ordering::SeqCst)
    }

    /// Whether some thread is ending the process.
    pub fn ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    /// Notes that the run has ended and its outputs are flushed.
    pub fn complete(&self) {
        self.completed.store(true, Ordering::SeqCst);
    }

    /// Whether the run has ended.
    pub fn completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst)
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.signal.requested()
    }

    /// Notes that `worker` reads no more: its input ended, or it stopped and everything it
    /// read is written.
    pub fn settle(&self, worker: usize) {
        self.settled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker);
    }

    /// Notes that `worker`'s input has ended.
    pub fn input_ended(&self, worker: usize) {
        self.ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker);
    }

    /// Whether every worker's input has ended: no source of the process reads any more.
    pub fn inputs_ended(&self) -> bool {
        self.ended.lock().unwrap_or_else(|p| p.into_inner()).len() == self.workers
    }

    /// Whether the process is winding down: every worker's input has ended, or a stop was
    /// asked for. Peers that end then are ending with it, not lost.
    pub fn winding_down(&self) -> bool {
        self.requested() || self.inputs_ended()
    }

    /// Whether a stop was asked for and every worker of the process has settled since.
    pub fn done(&self) -> bool {
        self.requested()
            && self.settled.lock().unwrap_or_else(|p| p.into_inner()).len() == self.workers
    }
}

/// How often the watcher looks whether a stop is done.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// How long a process of several waits, once settled, before it ends.
const GRACE: Duration = Duration::from_secs(1);

/// Starts the thread that wakes the sources on a stop and ends the process once it is done
/// (see the module comment).
pub fn watch(shared: Arc<Shared>, processes: usize) {
    std::thread::Builder::new()
        .name("tidemark-stop".into())
        .spawn(move || {
            while !shared.stop.requested() {
                std::thread::sleep(WATCH_EVERY);
            }
            for source in shared
                .stop
                .sources
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                // A worker that has already finished cannot be woken, and need not be.
                let _ = source.activate();
            }
            // A run that has already ended (a dashboard still serving its results) has
            // nothing left to settle.
            while !shared.stop.done() && !shared.stop.completed() {
                std::thread::sleep(WATCH_EVERY);
            }
            if processes > 1 {
                std::thread::sleep(GRACE);
            }
            shared.finish_stopped();
        })
        .expect("spawn the stop watcher");
}
