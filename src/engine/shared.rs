//! What the workers of one process share: the plan, sources, decoder and sinks, the
//! counters, and how the run ends (a failure, an abort, a stop on a signal).

use super::dedup::SourceDedup;
use super::{sink_lag, source_frontiers::SourceFrontiers, stop};
use crate::dashboard::LiveStore;
use crate::decode::Decoder;
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::sink::{RejectLog, RowFormat, RowSink};
use crate::source::Sources;
use std::sync::{Arc, Mutex};

/// What the workers of one process share.
pub(crate) struct Shared {
    pub plan: Plan,
    pub sources: Sources,
    pub decoder: Decoder,
    pub rows: RowFormat,
    pub sinks: Vec<Box<dyn RowSink>>,
    pub dead_letters: RejectLog,
    pub late: RejectLog,
    pub metrics: Arc<Metrics>,
    pub sink_lag: sink_lag::SinkLag,
    pub failures: Mutex<Vec<String>>,
    pub stop: stop::Stop,
    pub source_frontiers: SourceFrontiers,
    /// De-duplication in the sources, when every input is a file read in pieces judged in
    /// file order (the de-duplication operator is then left out).
    pub source_dedup: Option<SourceDedup>,
    /// The dashboard's live store, when `--http` is on (on every process: all build the
    /// same dataflow; process 0 serves it).
    pub live: Option<Arc<LiveStore>>,
}

impl Shared {
    /// Waits for every sink to write what it accepted and flushes the rejected-record logs.
    /// A sink that failed for good is left as it is: it may never finish its other writes.
    pub fn flush_outputs(&self) -> Result<(), Failure> {
        for sink in self.sinks.iter().filter(|sink| sink.failure().is_none()) {
            sink.finish()
                .map_err(|e| Failure::Failed(format!("cannot write results: {e}")))?;
        }
        for log in [&self.dead_letters, &self.late] {
            log.flush()
                .map_err(|e| Failure::Failed(format!("cannot write rejected records: {e}")))?;
        }
        Ok(())
    }

    /// Records a failure that ends the run with an error once the dataflow stops.
    pub fn fail(&self, message: String) {
        tracing::error!("{message}");
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }

    /// Ends a run stopped by a signal once every worker has settled: what was written is
    /// flushed, the summary printed, and the process exits with code 0.
    pub fn finish_stopped(&self) -> ! {
        if !self.stop.begin_ending() {
            // Another thread is ending the process.
            loop {
                std::thread::park();
            }
        }
        if self.stop.completed() {
            // The run ended before the signal and its summary is printed: only the
            // dashboard server was still going.
            tracing::info!("stopped by a signal");
            std::process::exit(0)
        }
        if let Err(e) = self.flush_outputs() {
            self.abort(e.to_string());
        }
        tracing::info!("stopped by a signal: every row that fired is written, positions committed");
        eprintln!("{}", self.metrics.summary());
        std::process::exit(0)
    }

    /// Ends the process at once with exit code 1 after a failure the dataflow cannot go on
    /// from (an input that can no longer be read). The frontier is never advanced past
    /// what was read, so no window is marked final early: what was written stays, buffered
    /// rows and rejected records are flushed, and the summary so far is printed.
    pub fn abort(&self, message: String) -> ! {
        if !self.stop.begin_ending() {
            loop {
                std::thread::park();
            }
        }
        tracing::error!("{message}");
        if let Err(e) = self.flush_outputs() {
            tracing::error!("{e}");
        }
        eprintln!("{}", self.metrics.summary());
        eprintln!("error: {message}");
        std::process::exit(1)
    }
}
