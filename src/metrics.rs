//! Run counters, the live progress line and the end-of-run summary.
//!
//! Workers add to these counters once per batch; nothing here touches records.

use crate::aggregate::StateSize;
use crate::time::format_rfc3339_millis;
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Counters shared by the workers of one process.
#[derive(Default)]
pub struct Metrics {
    /// Records read from sources.
    pub read: AtomicU64,
    /// Records that passed decoding and filters and counted somewhere.
    pub kept: AtomicU64,
    /// Records rejected by a filter.
    pub filtered: AtomicU64,
    /// Records too late for every output, so dropped.
    pub late: AtomicU64,
    /// Records dropped as duplicates of an earlier id.
    pub duplicates: AtomicU64,
    /// Result rows written.
    pub rows: AtomicU64,
    /// Windows that became final, as (output, start, end): a window whose keys several
    /// workers hold is finished by each of them, and counted once.
    windows_final: Mutex<hashbrown::HashSet<(u16, u64, u64)>>,
    dead_letters: Mutex<BTreeMap<&'static str, u64>>,
    late_by_output: Mutex<BTreeMap<String, u64>>,
    positions: Mutex<BTreeMap<usize, Position>>,
    partitions: Mutex<BTreeMap<usize, Vec<PartitionPosition>>>,
    states: Mutex<BTreeMap<usize, StateSize>>,
    first_record: OnceLock<Instant>,
}

impl Metrics {
    /// Notes that records are arriving; the first call marks when the run's input began,
    /// so the final rate leaves out connecting, creating tables and waiting for data.
    pub fn mark_reading(&self) {
        self.first_record.get_or_init(Instant::now);
    }

    /// Counts a dead letter under its reason.
    pub fn add_dead_letters(&self, counts: &BTreeMap<&'static str, u64>) {
        let mut all = self.dead_letters.lock().unwrap_or_else(|p| p.into_inner());
        for (reason, n) in counts {
            *all.entry(reason).or_default() += n;
        }
    }

    /// Counts records too late for an output.
    pub fn add_late(&self, counts: &BTreeMap<String, u64>) {
        let mut all = self
            .late_by_output
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (output, n) in counts {
            *all.entry(output.clone()).or_default() += n;
        }
    }

    /// Publishes where a worker's source stands: its frontier (`None` once its partitions
    /// ended) and how far behind the end of its input it is.
    pub fn set_position(
        &self,
        worker: usize,
        watermark: Option<u64>,
        lag: u64,
        unit: &'static str,
    ) {
        let mut all = self.positions.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(
            worker,
            Position {
                watermark,
                lag,
                unit,
            },
        );
    }

    /// Publishes where each partition a worker reads stands.
    pub fn set_partitions(&self, worker: usize, partitions: Vec<PartitionPosition>) {
        let mut all = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(worker, partitions);
    }

    /// Where every partition this process reads stands; a file read in pieces by several
    /// workers is one partition, behind by what all of them have left.
    pub fn partitions(&self) -> Vec<PartitionPosition> {
        let all = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let mut merged: BTreeMap<&str, PartitionPosition> = BTreeMap::new();
        for position in all.values().flatten() {
            merged
                .entry(&position.label)
                .and_modify(|p| p.lag += position.lag)
                .or_insert_with(|| position.clone());
        }
        merged.into_values().collect()
    }

    /// Publishes what a worker's window store holds.
    pub fn set_state(&self, worker: usize, state: StateSize) {
        let mut all = self.states.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(worker, state);
    }

    /// What the window stores of this process hold, together.
    pub fn state(&self) -> StateSize {
        let all = self.states.lock().unwrap_or_else(|p| p.into_inner());
        all.values()
            .fold(StateSize::default(), |sum, s| sum.plus(s))
    }

    /// The process's source frontier, total lag, and the lag's unit.
    pub fn source_position(&self) -> (Option<u64>, u64, &'static str) {
        let all = self.positions.lock().unwrap_or_else(|p| p.into_inner());
        let watermark = all.values().filter_map(|p| p.watermark).min();
        let lag = all.values().map(|p| p.lag).sum();
        (
            watermark,
            lag,
            all.values().next().map_or("records", |p| p.unit),
        )
    }

    /// Notes windows that a worker finished, as (output, start, end).
    pub fn windows_finished(&self, windows: &[(u16, u64, u64)]) {
        if windows.is_empty() {
            return;
        }
        self.windows_final
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(windows.iter().copied());
    }

    /// A snapshot of the counters.
    pub fn summary(&self) -> Summary {
        Summary {
            read: self.read.load(Ordering::Relaxed),
            // Duplicates pass the decoder as kept and are dropped after it: counted apart, so
            // that read = kept + filtered + duplicates + late + dead letters.
            kept: self
                .kept
                .load(Ordering::Relaxed)
                .saturating_sub(self.duplicates.load(Ordering::Relaxed)),
            filtered: self.filtered.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            windows_final: self
                .windows_final
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len() as u64,
            dead_letters: self
                .dead_letters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            late_by_output: self
                .late_by_output
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Where one partition of the source stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionPosition {
    /// The partition's name (file path, `kafka://…/topic/partition`).
    pub label: String,
    /// How far it is behind the end of its input, in the source's lag unit.
    pub lag: u64,
    /// The position committed for it (Kafka offsets), if the source commits.
    pub committed: Option<u64>,
}

/// Where one worker's source stands.
#[derive(Clone, Copy)]
struct Position {
    watermark: Option<u64>,
    lag: u64,
    unit: &'static str,
}

/// What one process did in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub read: u64,
    /// Records kept (duplicates not included).
    pub kept: u64,
    /// Records filtered out.
    pub filtered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Records too late for every output.
    pub late: u64,
    /// Result rows written.
    pub rows: u64,
    /// Windows emitted as final, each counted once however many workers held its keys.
    pub windows_final: u64,
    /// Dead letters by reason.
    pub dead_letters: BTreeMap<String, u64>,
    /// Records too late for an output, by output.
    pub late_by_output: BTreeMap<String, u64>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dead: u64 = self.dead_letters.values().sum();
        writeln!(
            f,
            "summary: read {}, kept {}, filtered {}, duplicates {}, late {}, dead letters {}",
            self.read, self.kept, self.filtered, self.duplicates, self.late, dead
        )?;
        for (reason, n) in &self.dead_letters {
            writeln!(f, "  dead letters {reason}: {n}")?;
        }
        for (output, n) in &self.late_by_output {
            writeln!(f, "  late for {output}: {n}")?;
        }
        write!(
            f,
            "  windows final {}, rows written {}",
            self.windows_final, self.rows
        )
    }
}

/// Prints a live progress line to standard error until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts the progress thread.
    pub fn start(metrics: Arc<Metrics>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let started = Instant::now();
            let mut last = (0, started);
            let mut ticks = 0u64;
            loop {
                let stopping = flag.load(Ordering::Relaxed);
                if !stopping {
                    std::thread::sleep(Duration::from_millis(200));
                    ticks += 1;
                    if !ticks.is_multiple_of(5) {
                        continue;
                    }
                }
                let line = progress_line(&metrics, &mut last, started, stopping);
                if tty {
                    eprint!("\r\x1b[2K{line}");
                } else if stopping || ticks.is_multiple_of(25) {
                    eprintln!("{line}");
                }
                if stopping {
                    if tty {
                        eprintln!();
                    }
                    break;
                }
            }
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }
}

/// One progress line: records read, events/s (over the last interval, or at the end from the
/// first record on), the frontier, and how much input is still unread.
fn progress_line(
    metrics: &Metrics,
    last: &mut (u64, Instant),
    started: Instant,
    at_end: bool,
) -> String {
    let read = metrics.read.load(Ordering::Relaxed);
    let now = Instant::now();
    let (since_read, since) = if at_end {
        (0, metrics.first_record.get().copied().unwrap_or(started))
    } else {
        *last
    };
    let rate = (read - since_read) as f64 / now.duration_since(since).as_secs_f64().max(1e-3);
    *last = (read, now);
    let (watermark, lag, unit) = metrics.source_position();
    let watermark = match watermark {
        Some(w) => {
            let delay = chrono::Utc::now().timestamp_millis() - w as i64;
            format!(
                "{} (delay {:.1} s)",
                format_rfc3339_millis(w),
                delay as f64 / 1000.0
            )
        }
        None => "closed".to_string(),
    };
    let over = if at_end {
        " since the first record"
    } else {
        ""
    };
    format!(
        "progress: {read} events read, {rate:.0} events/s{over}, watermark {watermark}, lag {lag} {unit}, {} rows written",
        metrics.rows.load(Ordering::Relaxed),
    )
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
