//! Validation of `[output.NAME]` tables: keys, windows, aggregates, ranking, per-record outputs.

use super::Validator;
use crate::plan::toml_form::*;
use crate::plan::{AggregatePlan, FieldPlan, OutputPlan, PlanError, RankPlan, WindowPlan};
use crate::plan::{OutputKind, WindowKind};

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    /// A per-record output: one final row per kept record, with the listed fields as its
    /// key, in the record's own millisecond as its window.
    pub(super) fn records_output(
        &self,
        t: &OutputTable,
        names: &[String],
        fields: &[FieldPlan],
    ) -> Result<OutputPlan, PlanError> {
        let at = |k: &str| format!("output.{}.{k}", t.name);
        if t.window.is_some()
            || !t.key.is_empty()
            || !t.aggregates.is_empty()
            || t.rank.is_some()
            || t.condition.is_some()
            || t.emit_every.is_some()
        {
            return Err((self.fail)(
                &at("records"),
                "a per-record output lists its fields in `records` and has no window, key, \
                 aggregates, rank, where (filter the dataflow instead) or emit_every"
                    .into(),
            ));
        }
        if names.is_empty() {
            return Err((self.fail)(
                &at("records"),
                "list at least one field".into(),
            ));
        }
        let key = names
            .iter()
            .map(|name| self.field(fields, &at("records"), name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OutputPlan {
            name: t.name.clone(),
            window: WindowPlan {
                size_ms: 1,
                slide_ms: 1,
                kind: WindowKind::Sliding,
                offset_ms: 0,
                zone: None,
            },
            key,
            aggregates: Vec::new(),
            rank: None,
            kind: OutputKind::PerRecord,
            filters: Vec::new(),
            emit_every_ms: None,
        })
    }

    pub(super) fn output(
        &self,
        t: &OutputTable,
        fields: &[FieldPlan],
    ) -> Result<OutputPlan, PlanError> {
        if let Some(names) = &t.records {
            return self.records_output(t, names, fields);
        }
        let at = |k: &str| format!("output.{}.{k}", t.name);
        let Some(window) = &t.window else {
            return Err((self.fail)(
                &at("window"),
                "give a window (or `records = [FIELDS]` for one row per record)".into(),
            ));
        };
        let window = self.window(&at("window"), window)?;
        let key = t
            .key
            .iter()
            .map(|name| self.field(fields, &at("key"), name))
            .collect::<Result<Vec<_>, _>>()?;
        if t.aggregates.is_empty() {
            return Err((self.fail)(
                &at("aggregates"),
                "declare at least one aggregate".into(),
            ));
        }
        let mut aggregates: Vec<AggregatePlan> = Vec::new();
        for a in &t.aggregates {
            let key_name = at(&format!("aggregates.{}", a.name));
            if aggregates.iter().any(|b| b.name == a.name)
                || t.key.contains(&a.name)
                || ["output", "window_start", "window_end", "final", "rank"]
                    .contains(&a.name.as_str())
            {
                return Err((self.fail)(
                    &key_name,
                    "column names must be unique and differ from key fields and \
                     output/window_start/window_end/final/rank"
                        .into(),
                ));
            }
            aggregates.push(self.aggregate(&key_name, a, fields)?);
        }
        let rank = match &t.rank {
            None => None,
            Some(r) => {
                let (k, descending) = match (r.top, r.bottom) {
                    (Some(k), None) => (k, true),
                    (None, Some(k)) => (k, false),
                    _ => {
                        return Err((self.fail)(
                            &at("rank"),
                            "give exactly one of top or bottom".into(),
                        ))
                    }
                };
                if k == 0 {
                    return Err((self.fail)(&at("rank"), "k must be at least 1".into()));
                }
                let by = aggregates
                    .iter()
                    .position(|a| a.name == r.by)
                    .ok_or_else(|| {
                        let names: Vec<&str> = aggregates.iter().map(|a| a.name.as_str()).collect();
                        (self.fail)(
                            &at("rank.by"),
                            format!(
                                "`{}` is not an aggregate of this output (have: {})",
                                r.by,
                                names.join(", ")
                            ),
                        )
                    })?;
                if key.is_empty() {
                    return Err((self.fail)(
                        &at("rank"),
                        "a ranked output needs key fields".into(),
                    ));
                }
                if window.kind == WindowKind::Session {
                    return Err((self.fail)(
                        &at("rank"),
                        "session windows cannot be ranked: each key has sessions of its own \
                         (rank a tumbling or sliding window instead)"
                            .into(),
                    ));
                }
                Some(RankPlan { k, by, descending })
            }
        };
        let filters = match &t.condition {
            None => Vec::new(),
            Some(toml::Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let key = at(&format!("where[{i}]"));
                    self.condition(&key, &self.condition_table(&key, c)?, fields)
                })
                .collect::<Result<_, _>>()?,
            Some(one) => {
                let key = at("where");
                vec![self.condition(&key, &self.condition_table(&key, one)?, fields)?]
            }
        };
        let emit_every_ms = t
            .emit_every
            .as_deref()
            .map(|every| self.duration(&at("emit_every"), every))
            .transpose()?;
        if emit_every_ms == Some(0) {
            return Err((self.fail)(
                &at("emit_every"),
                "give a positive duration such as \"5s\"".into(),
            ));
        }
        Ok(OutputPlan {
            name: t.name.clone(),
            window,
            key,
            aggregates,
            rank,
            kind: OutputKind::Windowed,
            filters,
            emit_every_ms,
        })
    }
}
