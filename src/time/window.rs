//! Window assignment: which tumbling, sliding or cumulative windows contain an event time,
//! which session window an event opens, and when a record is too late for them.

use crate::plan::{OutputKind, WindowKind};
use crate::plan::{Plan, WindowPlan};
use chrono::{Offset, TimeZone};
use serde::{Deserialize, Serialize};

/// A half-open window `[start, end)` in UTC milliseconds. Windows order by end first, which is
/// the order in which the frontier finishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// Exclusive end.
    pub end: u64,
    /// Inclusive start.
    pub start: u64,
}

/// Assigns event times to the windows of one output and judges lateness against them.
#[derive(Clone, Debug)]
pub struct WindowAssigner {
    size: i64,
    slide: i64,
    kind: WindowKind,
    offset: i64,
    zone: Option<chrono_tz::Tz>,
    allowed_lateness: u64,
}

impl WindowAssigner {
    /// An assigner for a validated window and the dataflow's allowed lateness.
    pub fn new(window: &WindowPlan, allowed_lateness_ms: u64) -> Self {
        WindowAssigner {
            size: window.size_ms as i64,
            slide: window.slide_ms as i64,
            kind: window.kind,
            offset: window.offset_ms as i64,
            zone: window.zone,
            allowed_lateness: allowed_lateness_ms,
        }
    }

    /// The pane of `time`, when this output's windows are unions of panes: a pane is one
    /// slide long, and every window is `size / slide` consecutive panes (UTC windows whose
    /// size is a multiple of their slide; a cumulative window is the panes of its cycle up to
    /// its end). Aggregating panes once and expanding them into windows later costs one
    /// update per event instead of one per window.
    #[inline]
    pub fn pane(&self, time: u64) -> Option<Window> {
        if self.kind == WindowKind::Session || self.zone.is_some() || self.size % self.slide != 0 {
            return None;
        }
        let start = (time as i64 - self.offset).div_euclid(self.slide) * self.slide + self.offset;
        Some(Window {
            start: start.max(0) as u64,
            end: (start + self.slide).max(0) as u64,
        })
    }

    /// Whether an event in `pane` arriving at `arrival` still counts in every window that
    /// contains the pane (the earliest of them ends with the pane).
    #[inline]
    pub fn pane_is_open(&self, pane: Window, arrival: u64) -> bool {
        arrival < self.final_at(pane)
    }

    /// Calls `each` for every window made of `pane`.
    pub fn for_each_window_of_pane(&self, pane: Window, mut each: impl FnMut(Window)) {
        if self.kind == WindowKind::Cumulative {
            let cycle = self.cycle_start(pane.start as i64);
            let mut end = pane.end as i64;
            while end <= cycle + self.size {
                each(Window {
                    start: cycle.max(0) as u64,
                    end: end.max(0) as u64,
                });
                end += self.slide;
            }
            return;
        }
        let mut start = pane.start as i64;
        while start + self.size > pane.start as i64 {
            each(Window {
                start: start.max(0) as u64,
                end: (start + self.size).max(0) as u64,
            });
            start -= self.slide;
        }
    }

    /// One assigner per windowed output of a plan, in output order (`None` for per-record
    /// outputs, which take every record at once and have no lateness).
    pub fn for_outputs(plan: &Plan) -> Vec<Option<WindowAssigner>> {
        plan.outputs
            .iter()
            .map(|o| {
                (o.kind == OutputKind::Windowed)
                    .then(|| WindowAssigner::new(&o.window, plan.time.allowed_lateness_ms))
            })
            .collect()
    }

    /// The time at which the frontier makes `window` final.
    #[inline]
    pub fn final_at(&self, window: Window) -> u64 {
        window.end.saturating_add(self.allowed_lateness)
    }

    /// Calls `each` for every window containing `time` that an event arriving at `arrival`
    /// may still change (those not yet final).
    pub fn for_each_open_window(&self, time: u64, arrival: u64, mut each: impl FnMut(Window)) {
        match self.kind {
            WindowKind::Session => {
                if !self.is_too_late(time, arrival) {
                    self.for_each_window(time, each);
                }
            }
            WindowKind::Sliding | WindowKind::Cumulative => self.for_each_window(time, |w| {
                if arrival < self.final_at(w) {
                    each(w)
                }
            }),
        }
    }

    /// The session gap, for session windows (`None` for fixed windows).
    pub fn gap(&self) -> Option<u64> {
        (self.kind == WindowKind::Session).then_some(self.size as u64)
    }

    /// When the last window containing `time` becomes final: after that the event cannot
    /// change anything. For a session window it is the earliest the event's session can be
    /// final (the session may go on longer).
    pub fn final_at_last(&self, time: u64) -> u64 {
        self.last_end(time).saturating_add(self.allowed_lateness)
    }

    /// The first arrival at which a record with event time `time` is too late for this
    /// output. Fixed windows: when every window containing it is final. Sessions: when the
    /// record is more than the allowed lateness behind its partition's watermark. (A session
    /// is final when the frontier passes its last event + gap + allowed lateness, so every
    /// record that is not too late reaches its session before it is final, and sessions do
    /// not depend on the order in which records reach the window operator.)
    pub fn late_from(&self, time: u64) -> u64 {
        self.late_from_given(time, self.final_at_last(time))
    }

    /// [`late_from`](Self::late_from) for a record whose last window becomes final at
    /// `final_at_last` (what [`final_at_last`](Self::final_at_last) gives for `time`),
    /// without working that out again.
    #[inline]
    pub fn late_from_given(&self, time: u64, final_at_last: u64) -> u64 {
        match self.kind {
            WindowKind::Session => time.saturating_add(self.allowed_lateness).saturating_add(1),
            WindowKind::Sliding | WindowKind::Cumulative => final_at_last,
        }
    }

    /// True when `arrival` is at or after [`late_from`](Self::late_from): the event is too
    /// late to count anywhere in this output.
    pub fn is_too_late(&self, time: u64, arrival: u64) -> bool {
        arrival >= self.late_from(time)
    }

    /// Calls `each` for every window containing `time`, latest start first (cumulative
    /// windows: earliest end first; sessions: the event's own session, `[time, time + gap)`).
    pub fn for_each_window(&self, time: u64, mut each: impl FnMut(Window)) {
        let local = self.to_local(time as i64);
        match self.kind {
            // The session of this one event; sessions of a key merge where they overlap.
            WindowKind::Session => each(Window {
                start: time,
                end: time.saturating_add(self.size as u64),
            }),
            WindowKind::Cumulative => {
                let cycle = self.cycle_start(local);
                let mut end = cycle + ((local - cycle).div_euclid(self.slide) + 1) * self.slide;
                while end <= cycle + self.size {
                    each(Window {
                        start: self.to_utc(cycle).max(0) as u64,
                        end: self.to_utc(end).max(0) as u64,
                    });
                    end += self.slide;
                }
            }
            WindowKind::Sliding => {
                let mut start =
                    (local - self.offset).div_euclid(self.slide) * self.slide + self.offset;
                while start + self.size > local {
                    let window = Window {
                        start: self.to_utc(start).max(0) as u64,
                        end: self.to_utc(start + self.size).max(0) as u64,
                    };
                    each(window);
                    start -= self.slide;
                }
            }
        }
    }

    /// The end of the last window containing `time`: once the frontier passes it (plus the
    /// allowed lateness) the event can no longer change any result. For sessions: the end of
    /// the event's own session, the earliest its session can end.
    pub fn last_end(&self, time: u64) -> u64 {
        match self.kind {
            WindowKind::Session => time.saturating_add(self.size as u64),
            WindowKind::Cumulative => {
                let local = self.to_local(time as i64);
                self.to_utc(self.cycle_start(local) + self.size).max(0) as u64
            }
            WindowKind::Sliding => {
                let local = self.to_local(time as i64);
                let start = (local - self.offset).div_euclid(self.slide) * self.slide + self.offset;
                self.to_utc(start + self.size).max(0) as u64
            }
        }
    }

    /// Where the cumulative cycle containing the (local) time `t` starts.
    fn cycle_start(&self, t: i64) -> i64 {
        (t - self.offset).div_euclid(self.size) * self.size + self.offset
    }

    #[inline(always)]
    fn to_local(&self, utc: i64) -> i64 {
        match self.zone {
            None => utc,
            Some(zone) => zone_to_local(zone, utc),
        }
    }

    /// Maps a wall-clock boundary back to UTC: an ambiguous time takes its earliest instant, a
    /// skipped one the instant the clock jumps to. Whole-hour windows keep this monotone.
    #[inline(always)]
    fn to_utc(&self, local: i64) -> i64 {
        match self.zone {
            None => local,
            Some(zone) => zone_to_utc(zone, local),
        }
    }
}

/// The wall-clock time in `zone` at the UTC instant `utc`.
fn zone_to_local(zone: chrono_tz::Tz, utc: i64) -> i64 {
    let offset = zone
        .offset_from_utc_datetime(&naive(utc))
        .fix()
        .local_minus_utc();
    utc + i64::from(offset) * 1000
}

/// [`WindowAssigner::to_utc`] in `zone`.
fn zone_to_utc(zone: chrono_tz::Tz, local: i64) -> i64 {
    let wall = naive(local);
    match zone.from_local_datetime(&wall).earliest() {
        Some(t) => t.timestamp_millis(),
        None => {
            let before = zone.offset_from_utc_datetime(&naive(local - 86_400_000));
            local - i64::from(before.fix().local_minus_utc()) * 1000
        }
    }
}

fn naive(ms: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_plan(size: u64, slide: u64, zone: Option<&str>) -> WindowPlan {
        WindowPlan {
            size_ms: size,
            slide_ms: slide,
            kind: WindowKind::Sliding,
            offset_ms: 0,
            zone: zone.map(|z| z.parse().expect("zone")),
        }
    }

    fn windows(a: &WindowAssigner, t: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        a.for_each_window(t, |w| out.push((w.start, w.end)));
        out
    }

    #[test]
    fn an_event_opens_its_own_session_and_is_late_past_the_lateness() {
        let mut session = window_plan(1_800_000, 1_800_000, None);
        session.kind = WindowKind::Session;
        let a = WindowAssigner::new(&session, 600_000);
        let t = 10_000_000;
        assert_eq!(windows(&a, t), vec![(t, t + 1_800_000)]);
        assert_eq!(a.pane(t), None, "sessions are not made of panes");
        assert_eq!(a.gap(), Some(1_800_000));
        assert_eq!(a.final_at_last(t), t + 1_800_000 + 600_000);
        assert!(
            !a.is_too_late(t, t + 600_000),
            "exactly the lateness behind"
        );
        assert!(a.is_too_late(t, t + 600_001));
        let mut open = 0;
        a.for_each_open_window(t, t + 600_001, |_| open += 1);
        assert_eq!(open, 0);
        a.for_each_open_window(t, t, |_| open += 1);
        assert_eq!(open, 1);
    }

    #[test]
    fn tumbling_windows_align_to_epoch() {
        let a = WindowAssigner::new(&window_plan(300_000, 300_000, None), 0);
        assert_eq!(windows(&a, 0), vec![(0, 300_000)]);
        assert_eq!(windows(&a, 299_999), vec![(0, 300_000)]);
        assert_eq!(windows(&a, 300_000), vec![(300_000, 600_000)]);
        assert_eq!(a.last_end(299_999), 300_000);
    }

    #[test]
    fn sliding_windows_cover_size_over_slide() {
        let a = WindowAssigner::new(&window_plan(3_600_000, 300_000, None), 60_000);
        let t = 10_000_000_000;
        let w = windows(&a, t);
        assert_eq!(w.len(), 12);
        assert!(w
            .iter()
            .all(|&(s, e)| s <= t && t < e && e - s == 3_600_000));
        assert_eq!(a.last_end(t), w[0].1);
        let last = w[0].1;
        assert!(!a.is_too_late(t, last + 59_999));
        assert!(a.is_too_late(t, last + 60_000));
        let mut open = 0;
        a.for_each_open_window(t, w[5].1 + 60_000, |_| open += 1);
        assert_eq!(open, 5, "windows ending after the sixth are still open");
        let pane = a.pane(t).expect("1h is a multiple of 5m");
        assert_eq!(pane.end, w[11].1, "the pane ends with the earliest window");
        let mut of_pane = Vec::new();
        a.for_each_window_of_pane(pane, |w| of_pane.push((w.start, w.end)));
        assert_eq!(of_pane, w);
    }

    #[test]
    fn cumulative_windows_grow_from_the_cycle_start() {
        let mut day = window_plan(86_400_000, 900_000, None);
        day.kind = WindowKind::Cumulative;
        let a = WindowAssigner::new(&day, 0);
        let t = 86_400_000 * 3 + 3_600_000 + 1; // 01:00:00.001 on day 3
        let w = windows(&a, t);
        assert_eq!(w.len(), 96 - 4, "ends from 01:15 to midnight");
        assert!(w.iter().all(|&(s, e)| s == 86_400_000 * 3 && e > t));
        assert_eq!(w[0].1, 86_400_000 * 3 + 4_500_000);
        assert_eq!(a.last_end(t), 86_400_000 * 4);
        let pane = a.pane(t).expect("steps divide the day");
        let mut of_pane = Vec::new();
        a.for_each_window_of_pane(pane, |w| of_pane.push((w.start, w.end)));
        assert_eq!(of_pane, w, "a pane expands into the same windows");
    }

    #[test]
    fn cumulative_chicago_days_start_at_local_midnight() {
        let mut day = window_plan(86_400_000, 900_000, Some("America/Chicago"));
        day.kind = WindowKind::Cumulative;
        let a = WindowAssigner::new(&day, 0);
        let t = chrono::DateTime::parse_from_rfc3339("2015-04-18T00:07:00-05:00").expect("time");
        let w = windows(&a, t.timestamp_millis() as u64);
        let midnight =
            chrono::DateTime::parse_from_rfc3339("2015-04-18T00:00:00-05:00").expect("time");
        assert_eq!(w[0].0, midnight.timestamp_millis() as u64);
        assert_eq!(w[0].1 - w[0].0, 900_000, "the first window ends at 00:15");
        assert_eq!(w.len(), 96);
    }

    #[test]
    fn chicago_days_follow_local_midnight_across_dst() {
        let a = WindowAssigner::new(
            &window_plan(86_400_000, 86_400_000, Some("America/Chicago")),
            0,
        );
        // 2024-03-10 is the spring-forward day in Chicago: 23 hours long.
        let noon = chrono::DateTime::parse_from_rfc3339("2024-03-10T12:00:00-05:00").expect("time");
        let w = windows(&a, noon.timestamp_millis() as u64);
        let start =
            chrono::DateTime::parse_from_rfc3339("2024-03-10T00:00:00-06:00").expect("time");
        let end = chrono::DateTime::parse_from_rfc3339("2024-03-11T00:00:00-05:00").expect("time");
        assert_eq!(
            w,
            vec![(
                start.timestamp_millis() as u64,
                end.timestamp_millis() as u64
            )]
        );
        assert_eq!(w[0].1 - w[0].0, 23 * 3_600_000);
    }
}
