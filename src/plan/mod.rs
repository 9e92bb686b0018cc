//! Dataflow files: turns one `dataflows/*.toml` into a typed, validated [`Plan`].
//!
//! Everything the engine does comes from the plan; this module never touches records.
//! Validation errors name the file, the key and what is allowed.

mod condition;
mod duration;
mod toml_form;
mod validate;

pub use condition::{Condition, Test};
pub use duration::{parse_millis, DurationError};
pub use validate::{load, parse, PlanError};

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
    /// The default sink URIs (`[[sink]]`; `jsonl:` paths resolved against the dataflow's
    /// folder), used when the command line names none.
    pub sinks: Vec<String>,
    /// Record format; `None` means "from the file extension".
    pub format: Option<Format>,
    /// Named fields: first those extracted from records, then those derived from them, in
    /// the order the dataflow declares them.
    pub fields: Vec<FieldPlan>,
    /// The one list-valued field (a derived list, such as hashtags), if any: outputs that
    /// use it see one record per element.
    pub list_field: Option<usize>,
    /// Event time and watermark settings.
    pub time: TimePlan,
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

/// A named field: where to find it in a record, or how to compute it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldPlan {
    /// The name other parts of the dataflow use.
    pub name: String,
    /// Where its value comes from.
    pub source: FieldSource,
}

/// Where a field's value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldSource {
    /// JSON paths (`a.b[0].c`) or CSV column names; the first present wins (one dataflow
    /// reads several layouts of the same data).
    Paths(Vec<String>),
    /// Computed from other fields.
    Derived(Derivation),
}

/// How a derived field is computed (indices are of earlier fields).
#[derive(Clone, Debug, PartialEq)]
pub enum Derivation {
    /// The cell of a `size`-degree grid holding (lat, lon), named by its centre
    /// (`"41.885,-87.625"`).
    GridCell {
        /// Latitude field.
        lat: usize,
        /// Longitude field.
        lon: usize,
        /// Cell size in degrees.
        size: f64,
    },
    /// How many times any of `patterns` occurs in a text field.
    CountOf {
        /// The text field.
        field: usize,
        /// Substrings counted (non-overlapping, each on its own).
        patterns: Vec<String>,
    },
    /// The distinct hashtags of a text field, lower-cased (a list-valued field).
    Hashtags {
        /// The text field.
        field: usize,
    },
    /// The English polarity (-1..1) of a text field, by the Pattern/TextBlob lexicon.
    Polarity {
        /// The text field.
        field: usize,
    },
    /// `labels[0]` for a negative number, `labels[1]` for zero, `labels[2]` for positive.
    Sign {
        /// The numeric field.
        field: usize,
        /// Negative, zero and positive labels.
        labels: [String; 3],
    },
}

impl FieldPlan {
    /// The paths of an extracted field; none for a derived one.
    pub fn paths(&self) -> &[String] {
        match &self.source {
            FieldSource::Paths(paths) => paths,
            FieldSource::Derived(_) => &[],
        }
    }
}

/// Event-time settings.
#[derive(Clone, Debug)]
pub struct TimePlan {
    /// Index of the timestamp field.
    pub field: usize,
    /// How the timestamp is written; with several, the first that parses wins.
    pub formats: Vec<TimeFormat>,
    /// How far behind the highest event time the watermark trails, per partition.
    pub max_out_of_orderness_ms: u64,
    /// How long after a window's end late records still correct it.
    pub allowed_lateness_ms: u64,
    /// How far ahead of the wall clock an event time may be before the record is a dead
    /// letter (one bad clock must not drag the watermark into the future). Default 1 minute.
    pub max_future_skew_ms: u64,
    /// How long a partition that had records may sit at the end of its log before it stops
    /// holding the frontier back (`None`: never). Default 30 seconds.
    pub idle_timeout_ms: Option<u64>,
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

/// What an output's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// Aggregates per window and key (or a ranking of keys).
    Windowed,
    /// One final row per kept record, at once: its `key` fields are the listed fields and its
    /// window the record's own millisecond; no aggregates.
    PerRecord,
}

/// How an output's windows follow one another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// Windows `size` long starting every `slide` (tumbling when the two are equal).
    Sliding,
    /// Windows growing from the start of each `size`-long cycle, one `slide` step after
    /// another ("so far today" every 15 minutes).
    Cumulative,
    /// Per key, a session of events each less than `size` (the gap) after the one before:
    /// `[first event, last event + gap)`. Sessions grow and merge as events come, so their
    /// bounds depend on the data.
    Session,
}

/// One output.
#[derive(Clone, Debug)]
pub struct OutputPlan {
    /// The output's name (the `output` field of every row).
    pub name: String,
    /// Window shape.
    pub window: WindowPlan,
    /// Indices of the key fields.
    pub key: Vec<usize>,
    /// Aggregates, in output order.
    pub aggregates: Vec<AggregatePlan>,
    /// Top-k / bottom-k ranking of keys, if any.
    pub rank: Option<RankPlan>,
    /// Windowed aggregates, or one row per record.
    pub kind: OutputKind,
    /// Conditions a record must satisfy to count in this output (all of them).
    pub filters: Vec<Condition>,
    /// Early results: while a window is open, its changed rows are emitted (provisional)
    /// this often, in milliseconds of wall-clock time.
    pub emit_every_ms: Option<u64>,
}

/// Window shape: tumbling when `slide == size`; cumulative windows all start at a cycle
/// boundary (every `size`) and end one `slide` step after another up to the cycle's end;
/// session windows close after a gap of `size` without events for their key.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowPlan {
    /// Window length in milliseconds (for cumulative windows: the cycle, such as a day; for
    /// session windows: the gap).
    pub size_ms: u64,
    /// Distance between window starts in milliseconds (for cumulative windows: between ends;
    /// for session windows: the gap, as `size_ms`).
    pub slide_ms: u64,
    /// Sliding (or tumbling), cumulative or session.
    pub kind: WindowKind,
    /// Shift of window boundaries from the epoch (or from local midnight with a zone).
    pub offset_ms: u64,
    /// Boundaries follow this zone's wall clock when set.
    pub zone: Option<chrono_tz::Tz>,
}

/// One aggregate column.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregatePlan {
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
    /// The numeric value with the latest event time (ties: the larger value).
    Last,
    /// Exact number of distinct values of a field.
    Distinct,
    /// Estimated number of distinct values of a field (HyperLogLog++ with `2^precision`
    /// registers).
    ApproxDistinct {
        /// Bits of the register index.
        precision: u8,
    },
}

/// The precision of `approx_distinct` when a dataflow gives none: 2^14 registers, a standard
/// error of about 0.81 % (1.04 / √2^14), at most 13 KiB of registers per cell.
pub const APPROX_DEFAULT_PRECISION: u8 = 14;

/// The precisions `approx_distinct` may have (2^4 to 2^18 registers).
pub const APPROX_PRECISIONS: std::ops::RangeInclusive<u8> = 4..=18;

/// The type of an aggregate's result. It alone decides the aggregate's Cassandra column and
/// how a result is bound to it, so the two cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultType {
    /// A whole number (a count).
    Integer,
    /// Any number: a sum or mean, or the minimum, maximum or last of a field, which may hold
    /// whole numbers in some records and fractions in others.
    Real,
}

impl AggregateFunction {
    /// The type of the function's result.
    pub fn result_type(self) -> ResultType {
        match self {
            Self::Count | Self::Distinct | Self::ApproxDistinct { .. } => ResultType::Integer,
            Self::Sum | Self::Avg | Self::Min | Self::Max | Self::Last => ResultType::Real,
        }
    }

    /// Whether the function needs a numeric input field.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Self::Sum | Self::Avg | Self::Min | Self::Max | Self::Last
        )
    }
}

/// Keep only the first `k` keys of each window, ordered by one aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct RankPlan {
    /// How many ranks.
    pub k: usize,
    /// Index (within the output's aggregates) of the ranking aggregate.
    pub by: usize,
    /// Largest first (`top`) or smallest first (`bottom`).
    pub descending: bool,
}

/// How much of a field's value the plan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldUse {
    /// Its whole value: a key, an aggregate's or a derivation's input, the event time, the
    /// de-duplication id, or a test that compares it with a value.
    Whole,
    /// Only whether it is there and non-empty: its every use is an `exists` or `non_empty`
    /// test (or it has none). Decoding reads it as `true`/`false` (`null` stays `null`), so
    /// a large array such a test looks at is checked, not copied.
    Truthiness,
}

impl Plan {
    /// How much of each field's value the plan reads, in field order.
    pub fn field_uses(&self) -> Vec<FieldUse> {
        let mut uses = vec![FieldUse::Truthiness; self.fields.len()];
        let mut whole = |field: usize| uses[field] = FieldUse::Whole;
        whole(self.time.field);
        self.dedup.into_iter().for_each(&mut whole);
        self.list_field.into_iter().for_each(&mut whole);
        for field in &self.fields {
            match &field.source {
                FieldSource::Paths(_) => {}
                FieldSource::Derived(Derivation::GridCell { lat, lon, .. }) => {
                    whole(*lat);
                    whole(*lon);
                }
                FieldSource::Derived(
                    Derivation::CountOf { field, .. }
                    | Derivation::Hashtags { field }
                    | Derivation::Polarity { field }
                    | Derivation::Sign { field, .. },
                ) => whole(*field),
            }
        }
        let outputs = self.outputs.iter();
        let conditions = self
            .filters
            .iter()
            .chain(outputs.clone().flat_map(|o| o.filters.iter()))
            .chain(
                outputs
                    .clone()
                    .flat_map(|o| o.aggregates.iter().filter_map(|a| a.condition.as_ref())),
            );
        for condition in conditions {
            match condition.test {
                Test::Exists | Test::NonEmpty => {}
                Test::Equals(_) | Test::NotEquals(_) | Test::OneOf(_) => whole(condition.field),
            }
        }
        for output in outputs {
            output.key.iter().copied().for_each(&mut whole);
            output
                .aggregates
                .iter()
                .filter_map(|a| a.field)
                .for_each(&mut whole);
        }
        uses
    }
}
