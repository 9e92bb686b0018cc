//! The sink's write latency: from a window firing to its rows acknowledged, logged every 10
//! seconds and for the whole run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long batches of rows took from being handed to the sink (as their window fired) to
/// being acknowledged by Cassandra, in microseconds: logged every 10 seconds for the interval
/// (a live run's dashboard delay) and at the end for the whole run.
#[derive(Clone)]
pub(super) struct WriteLatency(Arc<Mutex<LatencyState>>);

pub(super) struct LatencyState {
    pub(super) run: hdrhistogram::Histogram<u64>,
    pub(super) interval: hdrhistogram::Histogram<u64>,
    pub(super) interval_start: Instant,
}

/// How often the interval latency is logged.
pub(super) const LATENCY_INTERVAL: Duration = Duration::from_secs(10);

impl WriteLatency {
    pub(super) fn new() -> WriteLatency {
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .expect("valid histogram bounds");
        WriteLatency(Arc::new(Mutex::new(LatencyState {
            interval: histogram.clone(),
            run: histogram,
            interval_start: Instant::now(),
        })))
    }

    pub(super) fn record(&self, since: Instant) {
        let micros = (since.elapsed().as_micros() as u64).clamp(1, 3_600_000_000);
        crate::prometheus::record_write("cassandra", micros as f64 / 1e6);
        tracing::debug!(
            "rows written {:.1} ms after their window fired",
            micros as f64 / 1e3
        );
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = state.run.record(micros);
        let _ = state.interval.record(micros);
        if state.interval_start.elapsed() >= LATENCY_INTERVAL {
            log_latency("over the last 10 s", &state.interval);
            state.interval.reset();
            state.interval_start = Instant::now();
        }
    }

    pub(super) fn report(&self) {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log_latency("over the run", &state.run);
    }
}

pub(super) fn log_latency(span: &str, histogram: &hdrhistogram::Histogram<u64>) {
    if histogram.is_empty() {
        return;
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    tracing::info!(
        "Cassandra write latency (window fired -> rows acknowledged) {span}, {} batches: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        histogram.len(),
        ms(0.5),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
}
