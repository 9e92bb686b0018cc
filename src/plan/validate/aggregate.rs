//! Validation of an output's aggregates: function, field and condition.

use super::Validator;
use crate::plan::toml_form::*;
use crate::plan::{AggregateFunction, AggregatePlan, FieldPlan, PlanError};
use crate::plan::{APPROX_DEFAULT_PRECISION, APPROX_PRECISIONS};

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    pub(super) fn aggregate(
        &self,
        key: &str,
        a: &AggregateTable,
        fields: &[FieldPlan],
    ) -> Result<AggregatePlan, PlanError> {
        let function = match a.function.as_str() {
            "count" => AggregateFunction::Count,
            "sum" => AggregateFunction::Sum,
            "avg" => AggregateFunction::Avg,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "last" => AggregateFunction::Last,
            "distinct" => AggregateFunction::Distinct,
            "approx_distinct" => AggregateFunction::ApproxDistinct {
                precision: match a.precision {
                    None => APPROX_DEFAULT_PRECISION,
                    Some(p) if u8::try_from(p).is_ok_and(|p| APPROX_PRECISIONS.contains(&p)) => {
                        p as u8
                    }
                    Some(p) => {
                        return Err((self.fail)(
                            &format!("{key}.precision"),
                            format!(
                                "{p} is not a precision; allowed: {} to {} (2^precision \
                                 registers; default {APPROX_DEFAULT_PRECISION})",
                                APPROX_PRECISIONS.start(),
                                APPROX_PRECISIONS.end()
                            ),
                        ))
                    }
                },
            },
            other => {
                return Err((self.fail)(
                    &format!("{key}.fn"),
                    format!(
                        "`{other}` is not an aggregate; allowed: count, sum, avg, min, max, last, \
                     distinct, approx_distinct"
                    ),
                ))
            }
        };
        if a.precision.is_some() && !matches!(function, AggregateFunction::ApproxDistinct { .. }) {
            return Err((self.fail)(
                &format!("{key}.precision"),
                "only approx_distinct takes a precision".into(),
            ));
        }
        let field = match (&a.field, function) {
            (None, AggregateFunction::Count) => None,
            (Some(_), AggregateFunction::Count) => {
                return Err((self.fail)(
                    &format!("{key}.field"),
                    "count takes no field; use `where` for a conditional count".into(),
                ))
            }
            (Some(name), _) => Some(self.field(fields, &format!("{key}.field"), name)?),
            (None, _) => {
                return Err((self.fail)(
                    &format!("{key}.field"),
                    format!("{} needs a field", a.function),
                ))
            }
        };
        let condition = match &a.condition {
            Some(c) => {
                let key = format!("{key}.where");
                Some(self.condition(&key, &self.condition_table(&key, c)?, fields)?)
            }
            None => None,
        };
        Ok(AggregatePlan {
            name: a.name.clone(),
            function,
            field,
            condition,
        })
    }
}
