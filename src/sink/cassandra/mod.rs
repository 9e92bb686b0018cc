//! The Cassandra sink: idempotent upserts of result rows through the `scylla` driver.
//!
//! The engine owns one tokio runtime per process with one writer task that owns the session.
//! Timely workers hand rows over through a bounded channel and never block: a full channel
//! is the backpressure signal, and the sink operator keeps the rows (and holds its
//! capability, so the run cannot end) until they are accepted; meanwhile the sources hold
//! off reading (see `engine/sink_lag.rs`). The writer retries every
//! failed write with backoff, so Cassandra being down delays rows but loses none.
//!
//! The rows of one handover that land in the same partition of a table (the rows of one
//! day in a by-window or ranked table) go as unlogged batches of up to `BATCH_ROWS`:
//! Cassandra applies each as one mutation, so a burst of windows firing at once costs a
//! request per partition rather than per row.
//!
//! Retries reorder writes, so each row carries a write timestamp taken when the writer
//! receives it: every version of a (window, key) row comes from the one worker that owns
//! the key, in order, so the latest version (the final one) always wins.

mod latency;
mod statements;
mod uri;
mod writer;

pub use uri::CassandraUri;

use super::{Offer, RowFormat, RowSink, SinkError};
use crate::aggregate::ResultRow;
use crate::plan::Plan;
use latency::WriteLatency;
use statements::prepare;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::mpsc;
use writer::write_rows;

/// Writes (single upserts or batches) in flight at once.
pub(super) const CONCURRENCY: usize = 256;
/// Upserts into one partition sent together as one unlogged batch at most: a few kilobytes,
/// under Cassandra's batch size warning.
pub(super) const BATCH_ROWS: usize = 16;
/// Batches of rows the channel holds before workers are pushed back.
const CHANNEL_BATCHES: usize = 64;

/// Writes of one accepted batch still outstanding; zero means all are in Cassandra.
pub type Ticket = Arc<AtomicUsize>;

/// Rows handed to the writer, with the ticket it counts down as it writes them and when
/// their window fired.
pub(super) type Batch = (Vec<ResultRow>, Ticket, Instant);

/// A connected Cassandra sink shared by the workers of one process.
pub struct CassandraSink {
    runtime: tokio::runtime::Runtime,
    tables_per_output: Vec<usize>,
    fatal: Arc<OnceLock<String>>,
    sender: Mutex<Option<mpsc::Sender<Batch>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    latency: WriteLatency,
}

impl CassandraSink {
    /// Connects, creates the keyspace and tables from the plan, and prepares the upserts.
    /// (Blocking here is fine: it runs before any worker starts.)
    pub fn connect(uri: &CassandraUri, plan: &Plan) -> Result<CassandraSink, SinkError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("cassandra-sink")
            .build()
            .map_err(|e| SinkError::Writer(format!("cannot start its runtime: {e}")))?;
        let (session, statements) = runtime.block_on(prepare(uri, plan))?;
        let tables_per_output = (0..plan.outputs.len())
            .map(|o| statements.tables.iter().filter(|t| t.output == o).count())
            .collect();
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        let latency = WriteLatency::new();
        let fatal = Arc::clone(&statements.fatal);
        let writer = runtime.spawn(write_rows(
            Arc::new(session),
            Arc::new(statements),
            receiver,
            latency.clone(),
        ));
        Ok(CassandraSink {
            runtime,
            tables_per_output,
            fatal,
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            latency,
        })
    }

    /// Offers rows to the writer without blocking. Accepted rows come back as a ticket that
    /// reaches zero once every one of them is in Cassandra; refused rows (channel full) come
    /// back as they were. `fired` is when their window fired: their write latency counts from
    /// then, time spent refused included.
    fn try_offer(&self, rows: Vec<ResultRow>, fired: Instant) -> Result<Ticket, Vec<ResultRow>> {
        let writes = rows
            .iter()
            .map(|r| self.tables_per_output[usize::from(r.output)])
            .sum();
        let ticket = Arc::new(AtomicUsize::new(writes));
        match &*self.sender.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(sender) => match sender.try_send((rows, Arc::clone(&ticket), fired)) {
                Ok(()) => Ok(ticket),
                Err(
                    mpsc::error::TrySendError::Full((rows, _, _))
                    | mpsc::error::TrySendError::Closed((rows, _, _)),
                ) => Err(rows),
            },
            None => Err(rows),
        }
    }
}

impl RowSink for CassandraSink {
    fn offer(
        &self,
        rows: Vec<ResultRow>,
        fired: Instant,
        _format: &RowFormat,
    ) -> Result<Offer, SinkError> {
        Ok(match self.try_offer(rows, fired) {
            Ok(ticket) => Offer::Accepted(ticket),
            Err(rows) => Offer::Refused(rows),
        })
    }

    fn kind(&self) -> &'static str {
        "cassandra"
    }

    /// The write that failed for good, if one did: the run cannot go on.
    fn failure(&self) -> Option<String> {
        self.fatal.get().cloned()
    }

    /// Waits until every accepted row is written, then logs the write latency.
    fn finish(&self) -> Result<(), SinkError> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let finished = match writer {
            Some(writer) => self
                .runtime
                .block_on(writer)
                .map_err(|e| SinkError::Writer(e.to_string())),
            None => Ok(()),
        };
        self.latency.report();
        finished
    }
}
