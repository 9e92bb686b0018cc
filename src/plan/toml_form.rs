//! The TOML form of a dataflow file, as serde reads it: one struct per table, unknown keys
//! refused. [`super::validate`] turns it into a [`super::Plan`].

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DataflowFile {
    pub(super) name: String,
    #[serde(default)]
    pub(super) source: SourceTable,
    pub(super) fields: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub(super) derive: Vec<DeriveTable>,
    pub(super) time: TimeTable,
    #[serde(default)]
    pub(super) dedup: Option<DedupTable>,
    /// Condition tables, read in validation so that a mistake inside names its key.
    #[serde(default)]
    pub(super) filter: Vec<toml::Value>,
    pub(super) output: Vec<OutputTable>,
    /// Where results go unless the command line says otherwise.
    #[serde(default)]
    pub(super) sink: Vec<SinkTable>,
}

/// One `[[sink]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SinkTable {
    pub(super) uri: String,
}

/// A string, or a list of alternatives.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeriveTable {
    pub(super) name: String,
    #[serde(rename = "fn")]
    pub(super) function: String,
    pub(super) field: Option<String>,
    pub(super) lat: Option<String>,
    pub(super) lon: Option<String>,
    pub(super) size: Option<f64>,
    pub(super) of: Option<Vec<String>>,
    pub(super) labels: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceTable {
    pub(super) uri: Option<String>,
    pub(super) format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimeTable {
    pub(super) field: String,
    pub(super) format: OneOrMany,
    pub(super) time_zone: Option<String>,
    pub(super) max_out_of_orderness: String,
    pub(super) allowed_lateness: String,
    pub(super) max_future_skew: Option<String>,
    pub(super) idle_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DedupTable {
    pub(super) field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConditionTable {
    pub(super) field: String,
    pub(super) equals: Option<toml::Value>,
    pub(super) not_equals: Option<toml::Value>,
    pub(super) one_of: Option<Vec<toml::Value>>,
    pub(super) non_empty: Option<bool>,
    pub(super) exists: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputTable {
    pub(super) name: String,
    pub(super) window: Option<WindowTable>,
    #[serde(default)]
    pub(super) key: Vec<String>,
    #[serde(default)]
    pub(super) aggregates: Vec<AggregateTable>,
    pub(super) rank: Option<RankTable>,
    pub(super) records: Option<Vec<String>>,
    pub(super) emit_every: Option<String>,
    /// One condition table, or a list of them that must all hold; read in validation, so
    /// that a mistake inside names its key.
    #[serde(rename = "where")]
    pub(super) condition: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowTable {
    pub(super) tumbling: Option<String>,
    pub(super) sliding: Option<String>,
    pub(super) cumulative: Option<String>,
    pub(super) session: Option<String>,
    pub(super) every: Option<String>,
    pub(super) offset: Option<String>,
    pub(super) time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AggregateTable {
    pub(super) name: String,
    #[serde(rename = "fn")]
    pub(super) function: String,
    pub(super) field: Option<String>,
    /// `approx_distinct`: bits of the register index.
    pub(super) precision: Option<i64>,
    /// A condition table, read in validation so that a mistake inside names its key.
    #[serde(rename = "where")]
    pub(super) condition: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RankTable {
    pub(super) top: Option<usize>,
    pub(super) bottom: Option<usize>,
    pub(super) by: String,
}
