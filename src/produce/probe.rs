//! A background check of whether the destination topic takes writes: a broker answers
//! with a leader for every partition. It tells the producer when to stop sending (no broker
//! for a while) and when to start draining the spool (a broker answered after a failure).

use super::kafka_out::{self, KafkaProducer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive failed checks that make the broker count as down.
const DOWN_AFTER: u64 = 2;

/// What the checks last saw.
struct Seen {
    epoch: Instant,
    /// When (ms after `epoch`, plus one) the latest successful check was asked; zero when
    /// the latest check failed.
    writable_since: AtomicU64,
    failures_in_a_row: AtomicU64,
    stop: AtomicBool,
}

/// The running checks; stopped when dropped.
pub struct Probe {
    seen: Arc<Seen>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    /// Starts checking `topic` through the producer's connections.
    pub fn start(producer: Arc<KafkaProducer>, topic: String) -> Probe {
        let seen = Arc::new(Seen {
            epoch: Instant::now(),
            writable_since: AtomicU64::new(0),
            failures_in_a_row: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let shared = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Relaxed) {
                let asked_at = shared.epoch.elapsed().as_millis() as u64 + 1;
                if kafka_out::topic_writable(&producer, &topic, TIMEOUT) {
                    shared.writable_since.store(asked_at, Ordering::Relaxed);
                    shared.failures_in_a_row.store(0, Ordering::Relaxed);
                } else {
                    shared.writable_since.store(0, Ordering::Relaxed);
                    shared.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(EVERY);
            }
        });
        Probe {
            seen,
            thread: Some(thread),
        }
    }

    /// A point in time to compare later checks with.
    pub fn now(&self) -> u64 {
        self.seen.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether a check asked after `since` found the topic writable.
    pub fn writable_after(&self, since: u64) -> bool {
        self.seen.writable_since.load(Ordering::Relaxed) > since
    }

    /// Whether the last few checks all failed.
    pub fn broker_down(&self) -> bool {
        self.seen.failures_in_a_row.load(Ordering::Relaxed) >= DOWN_AFTER
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.seen.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
