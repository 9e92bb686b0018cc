//! How far the sinks of this process are behind: the age of the oldest result rows that fired
//! but are not yet written, per worker.
//!
//! Sources read this to hold back while a sink is behind. Reading on would only make the
//! rows still waiting wait longer: the broker, the database and the workers share the
//! machine's cores, and a worker that keeps decoding takes the time a write needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The oldest unwritten rows of each worker, as microseconds since `epoch` (`NONE`: none).
pub(crate) struct SinkLag {
    epoch: Instant,
    oldest: Box<[AtomicU64]>,
}

const NONE: u64 = u64::MAX;

impl SinkLag {
    /// No rows waiting, for `workers` workers (indexed by their global index).
    pub fn new(workers: usize) -> SinkLag {
        SinkLag {
            epoch: Instant::now(),
            oldest: (0..workers).map(|_| AtomicU64::new(NONE)).collect(),
        }
    }

    /// Records when the oldest rows `worker` has not written yet fired, if it has any.
    pub fn set(&self, worker: usize, oldest: Option<Instant>) {
        let micros = oldest.map_or(NONE, |t| {
            t.saturating_duration_since(self.epoch).as_micros() as u64
        });
        self.oldest[worker].store(micros, Ordering::Relaxed);
    }

    /// Whether some worker's rows have waited longer than `limit` to be written.
    pub fn behind(&self, limit: Duration) -> bool {
        let now = self.epoch.elapsed().as_micros() as u64;
        let limit = limit.as_micros() as u64;
        self.oldest.iter().any(|oldest| {
            let oldest = oldest.load(Ordering::Relaxed);
            oldest != NONE && now.saturating_sub(oldest) > limit
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_only_while_old_rows_wait() {
        let lag = SinkLag::new(2);
        assert!(!lag.behind(Duration::ZERO));
        let fired = Instant::now();
        lag.set(1, Some(fired));
        assert!(!lag.behind(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(2));
        assert!(lag.behind(Duration::from_millis(1)));
        lag.set(1, None);
        assert!(!lag.behind(Duration::ZERO));
    }
}
