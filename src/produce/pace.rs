//! Pacing of `tidemark produce`: as fast as possible, a steady rate of messages, or each
//! message at the moment its event time says (see [`super::replay`]).

use std::time::{Duration, Instant};

/// When the next message may go.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: Option<f64>,
    start: Instant,
    released: u64,
    /// When the message at hand is due by its event time.
    due: Option<Instant>,
}

impl Pacer {
    /// `rate` messages per second, or unlimited.
    pub fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            rate: rate.filter(|r| *r > 0.0),
            start: Instant::now(),
            released: 0,
            due: None,
        }
    }

    /// Holds the message at hand until `due` (`None`: no hold).
    pub fn hold_until(&mut self, due: Option<Instant>) {
        self.due = due;
    }

    /// How long to wait before the next message may go (zero: now).
    pub fn wait(&self) -> Duration {
        let by_rate = self
            .rate
            .map(|rate| self.start + Duration::from_secs_f64(self.released as f64 / rate));
        match by_rate.max(self.due) {
            None => Duration::ZERO,
            Some(due) => due.saturating_duration_since(Instant::now()),
        }
    }

    /// Counts one message as gone.
    pub fn release(&mut self) {
        self.released += 1;
        self.due = None;
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

    #[test]
    fn a_held_message_waits_until_due_and_release_lets_go() {
        let mut pacer = Pacer::new(None);
        pacer.hold_until(Some(Instant::now() + Duration::from_secs(3)));
        assert!(pacer.wait() > Duration::from_secs(2));
        pacer.release();
        assert_eq!(pacer.wait(), Duration::ZERO);
    }
}
