//! Event-time replay for `tidemark produce`: `--speedup X` sends each message when its own
//! event time comes round at X times the original pace, and `--retime now` rewrites event
//! times so the first message happens now.
//!
//! With both, the retimed event time of a message is the moment it is due, so a historical
//! log becomes a live stream whatever the speedup; with `--retime now` alone the gaps
//! between event times are kept as they were. Out-of-order messages keep their offsets
//! (a message 5 s behind its predecessor stays 5 s behind, divided by the speedup), and
//! go as soon as they are read. Messages whose event time cannot be read are sent as they
//! are, at once, and counted.

use crate::plan::TimeFormat;
use crate::time::TimestampParser;
use crate::value::Value;
use chrono::TimeZone;
use std::time::{Duration, Instant};

/// Where messages carry their event time.
#[derive(Clone, Debug)]
pub struct EventTimeField {
    /// The field's JSON paths as written (`data.created_at`); the first present is used.
    pub paths: Vec<String>,
    /// How the time may be written; the first that parses is used, and kept when retiming.
    pub formats: Vec<TimeFormat>,
}

/// How to replay event time.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The event-time field.
    pub field: EventTimeField,
    /// Pace messages at this multiple of their event-time pace.
    pub speedup: Option<f64>,
    /// Shift event times so the first message is now.
    pub retime: bool,
}

/// The first message's event time, and when and at what wall-clock time it was read.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    event_ms: i64,
    at: Instant,
    wall_ms: i64,
}

/// Paces and rewrites messages by their event time.
pub struct Replay {
    options: ReplayOptions,
    pointers: Vec<String>,
    parser: TimestampParser,
    anchor: Option<Anchor>,
    /// Messages without a readable event time.
    pub unreadable: u64,
}

impl Replay {
    /// A replay of `options`.
    pub fn new(options: ReplayOptions) -> Replay {
        Replay {
            pointers: options
                .field
                .paths
                .iter()
                .map(|p| json_pointer(p))
                .collect(),
            parser: TimestampParser::new(options.field.formats.clone()),
            options,
            anchor: None,
            unreadable: 0,
        }
    }

    /// Reads the event time of `message`, rewrites it if retiming, and says when the
    /// message is due (`None`: at once).
    pub fn apply(&mut self, message: &mut Vec<u8>) -> Option<Instant> {
        let Some(mut document) = serde_json::from_slice::<serde_json::Value>(message).ok() else {
            self.unreadable += 1;
            return None;
        };
        let Some(pointer) = self.pointers.iter().find(|p| document.pointer(p).is_some()) else {
            self.unreadable += 1;
            return None;
        };
        let slot = document.pointer_mut(pointer).expect("just found");
        let Ok((event_ms, format)) = self.parser.parse_with(&as_value(slot)) else {
            self.unreadable += 1;
            return None;
        };
        let event_ms = event_ms as i64;
        let anchor = *self.anchor.get_or_insert_with(|| Anchor {
            event_ms,
            at: Instant::now(),
            wall_ms: chrono::Utc::now().timestamp_millis(),
        });
        let speedup = self.options.speedup.unwrap_or(1.0);
        let offset_ms = (event_ms - anchor.event_ms) as f64 / speedup;
        if self.options.retime {
            let retimed = anchor.wall_ms + offset_ms.round() as i64;
            *slot = written_like(slot, retimed.max(0), format);
            if let Ok(text) = serde_json::to_vec(&document) {
                *message = text;
            }
        }
        self.options.speedup?;
        (offset_ms > 0.0).then(|| anchor.at + Duration::from_secs_f64(offset_ms / 1000.0))
    }
}

/// `a.b[0].c` as the JSON pointer `/a/b/0/c`.
fn json_pointer(path: &str) -> String {
    let mut pointer = String::new();
    for part in path.split('.') {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            pointer.push('/');
            pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        for index in indices.split(['[', ']']).filter(|i| !i.is_empty()) {
            pointer.push('/');
            pointer.push_str(index);
        }
    }
    pointer
}

/// A JSON value as the engine's field value.
fn as_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::String(s) => Value::Str(s.as_str().into()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::Bool(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

/// `ms` written in `format`, as a string if `old` was one (CSV columns are) and with a
/// fraction if `old` had one.
fn written_like(old: &serde_json::Value, ms: i64, format: &TimeFormat) -> serde_json::Value {
    let as_text = old.is_string();
    let had_fraction = match old {
        serde_json::Value::String(s) => s.contains('.'),
        serde_json::Value::Number(n) => !n.is_i64() && !n.is_u64(),
        _ => false,
    };
    let number = |whole: i64, fractional: f64| -> serde_json::Value {
        match (as_text, had_fraction) {
            (true, false) => whole.to_string().into(),
            (true, true) => format!("{fractional:.3}").into(),
            (false, false) => whole.into(),
            (false, true) => fractional.into(),
        }
    };
    match format {
        TimeFormat::Rfc3339 => crate::time::format_rfc3339_millis(ms as u64).into(),
        TimeFormat::EpochSeconds => number(ms.div_euclid(1000), ms as f64 / 1000.0),
        TimeFormat::EpochMillis => number(ms, ms as f64),
        TimeFormat::Pattern { pattern, zone } => zone
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.format(pattern).to_string())
            .unwrap_or_default()
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(path: &str, format: TimeFormat, speedup: Option<f64>, retime: bool) -> Replay {
        Replay::new(ReplayOptions {
            field: EventTimeField {
                paths: vec![path.into()],
                formats: vec![format],
            },
            speedup,
            retime,
        })
    }

    fn field(message: &[u8], pointer: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(message).expect("json");
        v.pointer(pointer).expect("field").clone()
    }

    #[test]
    fn paths_become_pointers() {
        assert_eq!(json_pointer("data.created_at"), "/data/created_at");
        assert_eq!(
            json_pointer("includes.places[0].full_name"),
            "/includes/places/0/full_name"
        );
        assert_eq!(
            json_pointer("Trip Start Timestamp"),
            "/Trip Start Timestamp"
        );
    }

    #[test]
    fn retime_shifts_to_now_keeping_gaps_and_layout() {
        let mut r = replay("data.at", TimeFormat::Rfc3339, None, true);
        let before = chrono::Utc::now().timestamp_millis();
        let mut first = br#"{"data": {"id": 1, "at": "2013-12-24T02:37:04Z"}, "z": 0}"#.to_vec();
        let mut second =
            br#"{"data": {"id": 2, "at": "2013-12-24T02:37:14.500Z"}, "z": 0}"#.to_vec();
        assert_eq!(r.apply(&mut first), None, "no --speedup: no pacing");
        assert_eq!(r.apply(&mut second), None);
        let parse = |m: &[u8]| {
            chrono::DateTime::parse_from_rfc3339(field(m, "/data/at").as_str().expect("text"))
                .expect("rfc3339")
                .timestamp_millis()
        };
        let (a, b) = (parse(&first), parse(&second));
        assert!(a >= before && a <= chrono::Utc::now().timestamp_millis());
        assert_eq!(b - a, 10_500, "the gap is kept");
        assert!(
            String::from_utf8(first)
                .expect("utf8")
                .starts_with(r#"{"data":{"id":1,"at""#),
            "members keep their order"
        );
    }

    #[test]
    fn speedup_paces_by_event_time_and_retimed_times_follow_the_pace() {
        let mut r = replay("ts", TimeFormat::EpochSeconds, Some(10.0), true);
        let mut first = br#"{"ts": 1400269500.0}"#.to_vec();
        let mut later = br#"{"ts": "1400269560"}"#.to_vec();
        let mut earlier = br#"{"ts": 1400269490.5}"#.to_vec();
        let start = Instant::now();
        assert_eq!(r.apply(&mut first), None);
        let due = r.apply(&mut later).expect("paced");
        let wait = due.duration_since(start);
        // 60 s of event time at 10x: due 6 s after the first message was read.
        assert!(wait >= Duration::from_secs(6));
        assert!(wait <= Duration::from_secs(6) + start.elapsed());
        assert_eq!(r.apply(&mut earlier), None, "behind the first: at once");
        let seconds = |m: &[u8]| -> f64 {
            match field(m, "/ts") {
                serde_json::Value::String(s) => s.parse().expect("number"),
                v => v.as_f64().expect("number"),
            }
        };
        assert!(field(&later, "/ts").is_string(), "CSV text stays text");
        assert!(field(&first, "/ts").is_f64(), "fractions stay fractions");
        assert!((seconds(&later) - seconds(&first) - 6.0).abs() < 1.01);
        assert!((seconds(&first) - seconds(&earlier) - 0.95).abs() < 0.01);
    }

    #[test]
    fn unreadable_times_go_at_once_and_are_counted() {
        let mut r = replay("ts", TimeFormat::EpochMillis, Some(2.0), true);
        let mut no_field = br#"{"other": 1}"#.to_vec();
        let mut not_json = b"not json".to_vec();
        let mut bad_time = br#"{"ts": "soon"}"#.to_vec();
        assert_eq!(r.apply(&mut no_field), None);
        assert_eq!(r.apply(&mut not_json), None);
        assert_eq!(r.apply(&mut bad_time), None);
        assert_eq!(r.unreadable, 3);
        assert_eq!(not_json, b"not json", "sent as it is");
    }

    #[test]
    fn local_patterns_are_written_back_in_their_zone() {
        let format = TimeFormat::Pattern {
            pattern: "%m/%d/%Y %I:%M:%S %p".into(),
            zone: chrono_tz::America::Chicago,
        };
        let written = written_like(&"x".into(), 1_429_315_200_000, &format);
        assert_eq!(written, "04/17/2015 07:00:00 PM");
    }
}
