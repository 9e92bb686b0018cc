//! Pacing of `tidemark produce`: as fast as possible, or a steady rate of messages.

use std::time::{Duration, Instant};

/// When the next message may go.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: Option<f64>,
    start: Instant,
    released: u64,
}

impl Pacer {
    /// `rate` messages per second, or unlimited.
    pub fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            rate: rate.filter(|r| *r > 0.0),
            start: Instant::now(),
            released: 0,
        }
    }

    /// How long to wait before the next message may go (zero: now).
    pub fn wait(&self) -> Duration {
        match self.rate {
            None => Duration::ZERO,
            Some(rate) => {
                let due = self.start + Duration::from_secs_f64(self.released as f64 / rate);
                due.saturating_duration_since(Instant::now())
            }
        }
    }

    /// Counts one message as gone.
    pub fn release(&mut self) {
        self.released += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits_and_a_rate_spaces_messages() {
        let mut free = Pacer::new(None);
        free.release();
        assert_eq!(free.wait(), Duration::ZERO);
        let mut paced = Pacer::new(Some(10.0));
        assert_eq!(
            paced.wait(),
            Duration::ZERO,
            "the first message goes at once"
        );
        for _ in 0..20 {
            paced.release();
        }
        // Twenty messages at 10/s: the next is due two seconds after the start.
        let wait = paced.wait();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2));
    }
}
