//! Validation of `[[derive]]` tables: what each derived field computes from earlier fields.

use super::Validator;
use crate::plan::toml_form::*;
use crate::plan::{Derivation, FieldPlan, PlanError};

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    pub(super) fn derivation(
        &self,
        key: &str,
        t: &DeriveTable,
        fields: &[FieldPlan],
    ) -> Result<Derivation, PlanError> {
        let input = |name: &Option<String>, what: &str| -> Result<usize, PlanError> {
            match name {
                Some(name) => self.field(fields, &format!("{key}.{what}"), name),
                None => Err((self.fail)(
                    &format!("{key}.{what}"),
                    format!("`{}` needs `{what}`", t.function),
                )),
            }
        };
        Ok(match t.function.as_str() {
            "grid_cell" => {
                let size = t.size.filter(|s| *s > 0.0 && *s <= 90.0).ok_or_else(|| {
                    (self.fail)(
                        &format!("{key}.size"),
                        "grid_cell needs a cell size in degrees (0 < size <= 90)".into(),
                    )
                })?;
                Derivation::GridCell {
                    lat: input(&t.lat, "lat")?,
                    lon: input(&t.lon, "lon")?,
                    size,
                }
            }
            "count" => {
                let patterns = t.of.clone().unwrap_or_default();
                if patterns.is_empty() || patterns.iter().any(String::is_empty) {
                    return Err((self.fail)(
                        &format!("{key}.of"),
                        "count needs `of`, a list of non-empty strings to count".into(),
                    ));
                }
                Derivation::CountOf {
                    field: input(&t.field, "field")?,
                    patterns,
                }
            }
            "hashtags" => Derivation::Hashtags {
                field: input(&t.field, "field")?,
            },
            "polarity" => Derivation::Polarity {
                field: input(&t.field, "field")?,
            },
            "sign" => {
                let labels: [String; 3] = t
                    .labels
                    .clone()
                    .unwrap_or_else(|| vec!["negative".into(), "neutral".into(), "positive".into()])
                    .try_into()
                    .map_err(|_| {
                        (self.fail)(
                            &format!("{key}.labels"),
                            "give three labels: negative, zero, positive".into(),
                        )
                    })?;
                Derivation::Sign {
                    field: input(&t.field, "field")?,
                    labels,
                }
            }
            other => {
                return Err((self.fail)(
                    &format!("{key}.fn"),
                    format!(
                        "`{other}` is not a derivation; allowed: grid_cell, count, hashtags, \
                         polarity, sign"
                    ),
                ))
            }
        })
    }
}
