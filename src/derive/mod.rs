//! Derived fields: values computed from a record's extracted fields after decoding and
//! before filters (a grid cell from a position, a count of smileys in a text, the hashtags
//! of a tweet, a sentiment score, a sign label).
//!
//! Derivations run in the order the dataflow declares them, so one may use another. The
//! one list-valued derivation (hashtags) fills the record's list elements; outputs that use
//! that field see one record per element.

mod hashtags;
mod polarity;

pub use hashtags::hashtags;
pub use polarity::PolarityLexicon;

use crate::plan::{Derivation, FieldSource, Plan};
use crate::value::{Composite, Value};
use std::sync::Arc;

/// Computes a plan's derived fields.
#[derive(Clone, Debug)]
pub struct Deriver {
    /// (field index, how) in declaration order.
    steps: Vec<(usize, Derivation)>,
    lexicon: Option<Arc<PolarityLexicon>>,
}

impl Deriver {
    /// The derivations of `plan` (none for most dataflows).
    pub fn new(plan: &Plan) -> Deriver {
        let steps: Vec<(usize, Derivation)> = plan
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match &f.source {
                FieldSource::Derived(d) => Some((i, d.clone())),
                FieldSource::Paths(_) => None,
            })
            .collect();
        let lexicon = steps
            .iter()
            .any(|(_, d)| matches!(d, Derivation::Polarity { .. }))
            .then(|| Arc::new(PolarityLexicon::english()));
        Deriver { steps, lexicon }
    }

    /// Whether there is nothing to derive.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Fills the derived fields of one record; a list-valued derivation stores its count in
    /// the field and its elements in `elements`. A derivation whose input is missing leaves
    /// its field missing.
    pub fn apply(&self, fields: &mut [Option<Value>], elements: &mut Vec<Value>) {
        for (target, derivation) in &self.steps {
            let text = |i: usize| match &fields[i] {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            };
            let number = |i: usize| fields[i].as_ref().and_then(Value::as_number);
            let value = match derivation {
                Derivation::GridCell { lat, lon, size } => match (number(*lat), number(*lon)) {
                    (Some(lat), Some(lon)) => grid_cell(lat.as_f64(), lon.as_f64(), *size),
                    _ => None,
                },
                Derivation::CountOf { field, patterns } => text(*field).map(|t| {
                    let n: usize = patterns.iter().map(|p| t.matches(p.as_str()).count()).sum();
                    Value::Int(n as i64)
                }),
                Derivation::Hashtags { field } => text(*field).map(|t| {
                    elements.clear();
                    elements.extend(hashtags(t).into_iter().map(|h| Value::Str(h.into())));
                    Value::List(Composite::array(elements.iter()))
                }),
                Derivation::Polarity { field } => {
                    let lexicon = self.lexicon.as_ref().expect("loaded for polarity");
                    text(*field).map(|t| Value::Float(lexicon.polarity(t)))
                }
                Derivation::Sign { field, labels } => number(*field).map(|n| {
                    let x = n.as_f64();
                    let label = if x < 0.0 {
                        &labels[0]
                    } else if x > 0.0 {
                        &labels[2]
                    } else {
                        &labels[1]
                    };
                    Value::Str(label.as_str().into())
                }),
            };
            fields[*target] = value;
        }
    }
}

/// The cell of a `size`-degree grid holding (lat, lon), named by its centre with one more
/// decimal than the size has (`0.01` → `"41.885,-87.625"`). `None` off the globe.
pub fn grid_cell(lat: f64, lon: f64, size: f64) -> Option<Value> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let decimals = (0..10)
        .find(|d| {
            let scaled = size * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-9
        })
        .unwrap_or(9) as usize
        + 1;
    let centre = |x: f64| ((x / size).floor() + 0.5) * size;
    Some(Value::Str(
        format!("{:.*},{:.*}", decimals, centre(lat), decimals, centre(lon)).into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_cells_are_named_by_their_centre() {
        assert_eq!(
            grid_cell(41.8807, -87.6233, 0.01),
            Some(Value::Str("41.885,-87.625".into()))
        );
        assert_eq!(
            grid_cell(41.88, -87.62, 0.5),
            Some(Value::Str("41.75,-87.75".into()))
        );
        assert_eq!(grid_cell(95.0, 0.0, 0.01), None);
    }
}
