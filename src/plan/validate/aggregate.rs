//! Validation of an output's aggregates: function, field and condition.

use super::Validator;
use crate::plan::toml_form::*;
use crate::plan::{AggregateFunction, AggregatePlan, FieldPlan, PlanError};

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
            other => {
                return Err((self.fail)(
                    &format!("{key}.fn"),
                    format!(
                        "`{other}` is not an aggregate; allowed: count, sum, avg, min, max, last, \
                     distinct"
                    ),
                ))
            }
        };
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
