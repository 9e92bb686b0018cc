//! What `tidemark produce` is asked to do, what it did, and why it stopped.

use std::path::PathBuf;
use std::time::Duration;

/// What to produce where.
#[derive(Clone, Debug)]
pub struct ProduceOptions {
    /// `kafka://HOST:PORT[,HOST:PORT]/TOPIC`.
    pub to: String,
    /// JSON path of the field whose value keys each message.
    pub key: Option<String>,
    /// Create the topic with this many partitions if it does not exist.
    pub partitions: Option<i32>,
    /// Messages per second (unlimited without).
    pub rate: Option<f64>,
    /// Send each message at this multiple of its event-time pace.
    pub speedup: Option<f64>,
    /// Shift event times so the first message happens now.
    pub retime: bool,
    /// A dataflow file whose `[time]` says where messages carry their event time (needed
    /// for --speedup and --retime unless every source is one kind of generator).
    pub dataflow: Option<PathBuf>,
    /// Spool directory for outages.
    pub spool: Option<PathBuf>,
    /// With a spool: how long a message may go unacknowledged before it is spooled.
    pub ack_timeout: Duration,
    /// SOURCE arguments.
    pub sources: Vec<String>,
    /// Show the live progress line.
    pub progress: bool,
    /// Serve the producer's counters for Prometheus at `HOST:PORT/metrics`.
    pub metrics: Option<String>,
}

/// How often the producer's counters are published for `--metrics`.
pub(super) const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// What a produce run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceSummary {
    /// Source messages read (after skipping those a previous run handled).
    pub read: u64,
    /// Source messages skipped because a previous run with this spool handled them.
    pub skipped: u64,
    /// Messages handed to the Kafka client (direct and from the spool; a message sent again
    /// after a failure counts again).
    pub sent: u64,
    /// Messages acknowledged by the broker (direct and from the spool).
    pub acked: u64,
    /// Messages written to the spool.
    pub spooled: u64,
    /// Messages sent again after a failure that may have reached the broker anyway.
    pub in_doubt: u64,
    /// Spool records lost to damage (bad checksum, torn write), each reported.
    pub damaged: u64,
    /// Messages sent at once and unchanged by --speedup / --retime because their event
    /// time could not be read.
    pub untimed: u64,
}

impl std::fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "produced: read {}, skipped (already produced) {}, acknowledged {}, spooled {}, \
             possible duplicates {}, damaged spool stretches {}",
            self.read, self.skipped, self.acked, self.spooled, self.in_doubt, self.damaged
        )?;
        if self.untimed > 0 {
            write!(f, ", without a readable event time {}", self.untimed)?;
        }
        Ok(())
    }
}
