//! Validation of conditions (`where`, `[[filter]]`): their tables and tests.

use super::{scalar_value, Validator};
use crate::plan::toml_form::*;
use crate::plan::{Condition, FieldPlan, PlanError, Test};
use serde::Deserialize;

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    /// Reads one condition table (`{ field = ..., equals = ... }`) at `key`.
    pub(super) fn condition_table(
        &self,
        key: &str,
        value: &toml::Value,
    ) -> Result<ConditionTable, PlanError> {
        ConditionTable::deserialize(value.clone()).map_err(|e| {
            (self.fail)(
                key,
                format!(
                    "{}; a condition is {{ field = NAME, and one of equals, not_equals, \
                     one_of = [...], non_empty = true, exists = true }} (an output's `where` may \
                     also be a list of them)",
                    e.to_string().trim_end()
                ),
            )
        })
    }

    pub(super) fn condition(
        &self,
        key: &str,
        c: &ConditionTable,
        fields: &[FieldPlan],
    ) -> Result<Condition, PlanError> {
        let field = self.field(fields, &format!("{key}.field"), &c.field)?;
        let scalar = |v: &toml::Value| {
            scalar_value(v).ok_or_else(|| {
                (self.fail)(key, format!("`{v}` is not a string, number or boolean"))
            })
        };
        let mut tests = Vec::new();
        if let Some(v) = &c.equals {
            tests.push(Test::Equals(scalar(v)?));
        }
        if let Some(v) = &c.not_equals {
            tests.push(Test::NotEquals(scalar(v)?));
        }
        if let Some(list) = &c.one_of {
            tests.push(Test::OneOf(
                list.iter().map(scalar).collect::<Result<_, _>>()?,
            ));
        }
        if c.non_empty == Some(true) {
            tests.push(Test::NonEmpty);
        }
        if c.exists == Some(true) {
            tests.push(Test::Exists);
        }
        match (tests.pop(), tests.is_empty()) {
            (Some(test), true) => Ok(Condition { field, test }),
            _ => Err((self.fail)(
                key,
                "give exactly one test: equals, not_equals, one_of, non_empty = true or exists = true"
                    .into(),
            )),
        }
    }
}
