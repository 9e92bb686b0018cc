//! A plan of one windowed output for unit tests: windows of 10 ms sliding by 10, counting
//! per key `k`, with early results every second.

use crate::plan::{
    AggregateFunction, AggregatePlan, FieldPlan, OutputKind, OutputPlan, Plan, RankPlan,
    TimeFormat, TimePlan, WindowKind, WindowPlan,
};
use std::path::PathBuf;

/// The plan, with this allowed lateness and ranking.
pub(crate) fn plan(lateness: u64, rank: Option<RankPlan>) -> Plan {
    Plan {
        name: "t".into(),
        path: PathBuf::from("t.toml"),
        source: None,
        sinks: Vec::new(),
        format: None,
        list_field: None,
        fields: vec![FieldPlan {
            name: "k".into(),
            source: crate::plan::FieldSource::Paths(vec!["k".into()]),
        }],
        time: TimePlan {
            field: 0,
            formats: vec![TimeFormat::EpochMillis],
            max_out_of_orderness_ms: 0,
            allowed_lateness_ms: lateness,
            max_future_skew_ms: 60_000,
            idle_timeout_ms: None,
        },
        filters: vec![],
        dedup: None,
        outputs: vec![OutputPlan {
            name: "o".into(),
            window: WindowPlan {
                size_ms: 10,
                slide_ms: 10,
                kind: WindowKind::Sliding,
                offset_ms: 0,
                zone: None,
            },
            key: vec![0],
            aggregates: vec![AggregatePlan {
                name: "n".into(),
                function: AggregateFunction::Count,
                field: None,
                condition: None,
            }],
            rank,
            kind: OutputKind::Windowed,
            filters: vec![],
            emit_every_ms: Some(1000),
        }],
    }
}
