//! The watermark of one source partition.

/// Tracks one partition's watermark: the highest event time seen minus the allowed
/// out-of-orderness, never decreasing.
#[derive(Clone, Debug)]
pub struct PartitionWatermark {
    max_out_of_orderness_ms: u64,
    current: Option<u64>,
}

impl PartitionWatermark {
    /// A watermark that has seen no events yet.
    pub fn new(max_out_of_orderness_ms: u64) -> Self {
        PartitionWatermark {
            max_out_of_orderness_ms,
            current: None,
        }
    }

    /// A watermark resumed from a committed position (`None`: as new).
    pub fn resumed(max_out_of_orderness_ms: u64, current: Option<u64>) -> Self {
        PartitionWatermark {
            max_out_of_orderness_ms,
            current,
        }
    }

    /// The watermark, or `None` before the first event.
    pub fn current(&self) -> Option<u64> {
        self.current
    }

    /// Raises the watermark to `floor` (the frontier the source holds) once it has one or
    /// `floor` is past the start: a partition that held nothing back while it was idle or
    /// empty judges its next records against the frontier, not against its own past.
    pub fn raise_to(&mut self, floor: u64) {
        if floor > 0 {
            self.current = Some(self.current.map_or(floor, |w| w.max(floor)));
        }
    }

    /// Records an event and returns its arrival time on the frontier: its own event time, or
    /// the watermark if the event is already behind it.
    ///
    /// The arrival time depends only on this partition's history, so lateness decisions made
    /// from it are the same at any worker count.
    pub fn observe(&mut self, event_time: u64) -> u64 {
        let arrival = match self.current {
            Some(w) => event_time.max(w),
            None => event_time,
        };
        let candidate = event_time.saturating_sub(self.max_out_of_orderness_ms);
        self.current = Some(self.current.map_or(candidate, |w| w.max(candidate)));
        arrival
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionWatermark;

    #[test]
    fn trails_max_and_never_decreases() {
        let mut wm = PartitionWatermark::new(10);
        assert_eq!(wm.current(), None);
        assert_eq!(wm.observe(100), 100);
        assert_eq!(wm.current(), Some(90));
        assert_eq!(wm.observe(95), 95, "within out-of-orderness: on time");
        assert_eq!(
            wm.observe(50),
            90,
            "behind the watermark: arrives at the watermark"
        );
        assert_eq!(wm.current(), Some(90));
        wm.observe(200);
        assert_eq!(wm.current(), Some(190));
    }
}
