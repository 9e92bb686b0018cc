//! Dataflow files: turns one `dataflows/*.toml` into a typed, validated [`Plan`].
//!
//! Everything the engine does comes from the plan; this module never touches records.
//! Validation errors name the file, the key and what is allowed.

mod condition;
mod duration;
mod file;

pub use condition::{Condition, Test};
pub use duration::parse_millis;
pub use file::{load, parse, SpecError};

use std::path::PathBuf;

/// A validated dataflow.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The dataflow's name.
    pub name: String,
    /// Where the dataflow file lives (relative source paths resolve against its folder).
    pub path: PathBuf,
    /// The default source URI (already resolved against the dataflow's folder).
    pub source: Option<String>,
    /// Record format; `None` means "from the file extension".
    pub format: Option<Format>,
    /// Named fields, each with the path that extracts it.
    pub fields: Vec<FieldSpec>,
    /// Event time and watermark settings.
    pub time: TimeSpec,
    /// Conditions every kept record satisfies.
    pub filters: Vec<Condition>,
    /// Field whose value identifies duplicates, if de-duplication is on.
    pub dedup: Option<usize>,
    /// The windowed outputs.
    pub outputs: Vec<OutputPlan>,
}

/// Record encodings a source can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

/// A named field and where to find it in a record.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    /// The name other parts of the dataflow use.
    pub name: String,
    /// JSON path (`a.b[0].c`) or CSV column name.
    pub path: String,
}

/// Event-time settings.
#[derive(Clone, Debug)]
pub struct TimeSpec {
    /// Index of the timestamp field.
    pub field: usize,
    /// How the timestamp is written.
    pub format: TimeFormat,
    /// How far behind the highest event time the watermark trails, per partition.
    pub max_out_of_orderness_ms: u64,
    /// How long after a window's end late records still correct it.
    pub allowed_lateness_ms: u64,
    /// How far ahead of the wall clock an event time may be before the record is a dead
    /// letter (one bad clock must not drag the watermark into the future). Default 1 minute.
    pub max_future_skew_ms: u64,
}

/// Timestamp encodings.
#[derive(Clone, Debug)]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset (`2022-09-26T03:15:45.000Z`).
    Rfc3339,
    /// Seconds since the Unix epoch (integer or fractional).
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
    /// A `strftime` pattern; with `%z` the text carries its offset, otherwise it is local time in
    /// the zone.
    Pattern {
        /// The chrono format string.
        pattern: String,
        /// Zone for patterns without an offset.
        zone: chrono_tz::Tz,
    },
}

/// One windowed output.
#[derive(Clone, Debug)]
pub struct OutputPlan {
    /// The output's name (the `output` field of every row).
    pub name: String,
    /// Window shape.
    pub window: WindowSpec,
    /// Indices of the key fields.
    pub key: Vec<usize>,
    /// Aggregates, in output order.
    pub aggregates: Vec<AggregateSpec>,
    /// Top-k / bottom-k ranking of keys, if any.
    pub rank: Option<RankSpec>,
}

/// Window shape: tumbling when `slide == size`.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSpec {
    /// Window length in milliseconds.
    pub size_ms: u64,
    /// Distance between window starts in milliseconds.
    pub slide_ms: u64,
    /// Shift of window boundaries from the epoch (or from local midnight with a zone).
    pub offset_ms: u64,
    /// Boundaries follow this zone's wall clock when set.
    pub zone: Option<chrono_tz::Tz>,
}

/// One aggregate column.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateSpec {
    /// Column name in the output.
    pub name: String,
    /// What to compute.
    pub function: AggregateFunction,
    /// Input field, for functions that read one.
    pub field: Option<usize>,
    /// Only records satisfying this condition contribute.
    pub condition: Option<Condition>,
}

/// The aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    /// Number of records.
    Count,
    /// Sum of a numeric field.
    Sum,
    /// Mean of a numeric field.
    Avg,
    /// Smallest value of a numeric field.
    Min,
    /// Largest value of a numeric field.
    Max,
    /// Exact number of distinct values of a field.
    Distinct,
}

impl AggregateFunction {
    /// Whether the function needs a numeric input field.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Sum | Self::Avg | Self::Min | Self::Max)
    }
}

/// Keep only the first `k` keys of each window, ordered by one aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct RankSpec {
    /// How many ranks.
    pub k: usize,
    /// Index (within the output's aggregates) of the ranking aggregate.
    pub by: usize,
    /// Largest first (`top`) or smallest first (`bottom`).
    pub descending: bool,
}

impl Plan {
    /// Index of a field by name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}
