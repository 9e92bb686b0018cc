//! Validation of an output's `window`: size, slide, cycle, session gap, offset and zone.

use super::Validator;
use crate::plan::toml_form::*;
use crate::plan::WindowKind;
use crate::plan::{PlanError, WindowPlan};

impl<F: Fn(&str, String) -> PlanError> Validator<'_, F> {
    pub(super) fn window(&self, key: &str, w: &WindowTable) -> Result<WindowPlan, PlanError> {
        let shapes = (&w.tumbling, &w.sliding, &w.cumulative, &w.session, &w.every);
        let (size_ms, slide_ms, kind) = match shapes {
            (None, None, None, Some(gap), None) => {
                if w.offset.is_some() || w.time_zone.is_some() {
                    return Err((self.fail)(
                        key,
                        "a session window has no offset or time_zone: it starts at its first \
                         event"
                            .into(),
                    ));
                }
                let gap = self.duration(&format!("{key}.session"), gap)?;
                (gap, gap, WindowKind::Session)
            }
            (Some(size), None, None, None, None) => {
                let size = self.duration(&format!("{key}.tumbling"), size)?;
                (size, size, WindowKind::Sliding)
            }
            (None, Some(size), None, None, Some(every)) => (
                self.duration(&format!("{key}.sliding"), size)?,
                self.duration(&format!("{key}.every"), every)?,
                WindowKind::Sliding,
            ),
            (None, None, Some(size), None, Some(every)) => (
                self.duration(&format!("{key}.cumulative"), size)?,
                self.duration(&format!("{key}.every"), every)?,
                WindowKind::Cumulative,
            ),
            _ => {
                return Err((self.fail)(
                    key,
                    "give one of { tumbling = SIZE }, { sliding = SIZE, every = SLIDE }, \
                     { cumulative = CYCLE, every = STEP } or { session = GAP }"
                        .into(),
                ))
            }
        };
        if size_ms == 0 || slide_ms == 0 || slide_ms > size_ms {
            return Err((self.fail)(
                key,
                "sizes must be positive and every <= the window size".into(),
            ));
        }
        let cumulative = kind == WindowKind::Cumulative;
        if cumulative && size_ms % slide_ms != 0 {
            return Err((self.fail)(
                key,
                "a cumulative window's step (every) must divide its cycle".into(),
            ));
        }
        let offset_ms = match &w.offset {
            Some(o) => self.duration(&format!("{key}.offset"), o)?,
            None => 0,
        };
        if offset_ms >= if cumulative { size_ms } else { slide_ms } {
            return Err((self.fail)(
                key,
                "offset must be smaller than the window step (a cumulative window's cycle)".into(),
            ));
        }
        let zone = match &w.time_zone {
            Some(name) => {
                const HOUR: u64 = 3_600_000;
                // Cumulative steps may be shorter: they only mark ends within a whole-hour cycle.
                let step_fits =
                    slide_ms % HOUR == 0 || (cumulative && HOUR.is_multiple_of(slide_ms));
                if size_ms % HOUR != 0 || !step_fits || offset_ms % HOUR != 0 {
                    return Err((self.fail)(
                        key,
                        "windows in a time zone must be whole hours (so DST changes cannot split \
                         them); a cumulative window's step may also divide an hour"
                            .into(),
                    ));
                }
                Some(self.zone(&format!("{key}.time_zone"), name)?)
            }
            None => None,
        };
        Ok(WindowPlan {
            size_ms,
            slide_ms,
            kind,
            offset_ms,
            zone,
        })
    }
}
