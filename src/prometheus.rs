//! The run's counters in the Prometheus text format, served at `/metrics` by `--metrics ADDR`
//! and by the dashboard server.
//!
//! Counters the workers already keep ([`Metrics`]) are published when scraped, so the hot
//! path pays nothing for them; rows per output and sink, and the sink write latency
//! histogram, are recorded where they happen through the `metrics` facade (a no-op until
//! [`install`] runs).

use crate::metrics::Metrics;
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The name of the sink write latency histogram (seconds from a window firing to its rows
/// being written).
pub const WRITE_SECONDS: &str = "tidemark_sink_write_seconds";

/// Buckets of [`WRITE_SECONDS`], in seconds.
const WRITE_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once); later calls return the same handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(Matcher::Full(WRITE_SECONDS.into()), &WRITE_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed (a library user's): ours then
        // renders only what it publishes at scrape time.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The exposition of a run: its counters as of now, and what was recorded.
pub fn render(run: &Metrics) -> String {
    let handle = install();
    publish(run);
    handle.render()
}

fn publish(run: &Metrics) {
    let summary = run.summary();
    counter!("tidemark_records_read_total").absolute(summary.read);
    counter!("tidemark_records_kept_total").absolute(summary.kept);
    counter!("tidemark_records_filtered_total").absolute(summary.filtered);
    counter!("tidemark_records_duplicate_total").absolute(summary.duplicates);
    counter!("tidemark_records_late_total").absolute(summary.late);
    for (output, n) in &summary.late_by_output {
        counter!("tidemark_records_late_by_output_total", "output" => output.clone()).absolute(*n);
    }
    for (reason, n) in &summary.dead_letters {
        counter!("tidemark_dead_letters_total", "reason" => reason.clone()).absolute(*n);
    }
    counter!("tidemark_windows_final_total").absolute(summary.windows_final);
    let (watermark, lag, unit) = run.source_position();
    if let Some(ms) = watermark {
        gauge!("tidemark_watermark_seconds").set(ms as f64 / 1000.0);
        let now = chrono::Utc::now().timestamp_millis() as f64;
        gauge!("tidemark_watermark_delay_seconds").set(((now - ms as f64) / 1000.0).max(0.0));
    }
    gauge!("tidemark_source_lag", "unit" => unit).set(lag as f64);
    for partition in run.partitions() {
        gauge!("tidemark_partition_lag", "partition" => partition.label.clone(), "unit" => unit)
            .set(partition.lag as f64);
        if let Some(offset) = partition.committed {
            gauge!("tidemark_partition_committed_offset", "partition" => partition.label)
                .set(offset as f64);
        }
    }
    let state = run.state();
    gauge!("tidemark_windows_open").set(state.windows as f64);
    gauge!("tidemark_state_cells").set(state.cells as f64);
    gauge!("tidemark_state_distinct_values").set(state.distinct_values as f64);
    gauge!("tidemark_state_bytes").set(state.bytes as f64);
}

/// Counts rows produced for an output (every row the sinks are given).
pub fn count_rows(output: &str, rows: u64) {
    counter!("tidemark_rows_total", "output" => output.to_string()).increment(rows);
}

/// Counts rows a sink has written.
pub fn count_written(sink: &'static str, rows: u64) {
    counter!("tidemark_rows_written_total", "sink" => sink).increment(rows);
}

/// Records how long rows took from firing to written, in seconds.
pub fn record_write(sink: &'static str, seconds: f64) {
    metrics::histogram!(WRITE_SECONDS, "sink" => sink).record(seconds);
}

/// Publishes a producer's counters: read, skipped, sent, acknowledged, spooled, possible
/// duplicates, the spool's backlog and whether a broker takes messages.
pub fn publish_produce(
    summary: &crate::produce::ProduceSummary,
    backlog_bytes: u64,
    broker_up: bool,
) {
    counter!("tidemark_produce_read_total").absolute(summary.read);
    counter!("tidemark_produce_skipped_total").absolute(summary.skipped);
    counter!("tidemark_produce_sent_total").absolute(summary.sent);
    counter!("tidemark_produce_acknowledged_total").absolute(summary.acked);
    counter!("tidemark_produce_spooled_total").absolute(summary.spooled);
    counter!("tidemark_produce_possible_duplicates_total").absolute(summary.in_doubt);
    gauge!("tidemark_produce_spool_backlog_bytes").set(backlog_bytes as f64);
    gauge!("tidemark_produce_broker_up").set(if broker_up { 1.0 } else { 0.0 });
}
