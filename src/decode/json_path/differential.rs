//! The selective walker against serde_json, on random documents written in random spellings.
//!
//! Documents have random nesting, member names that repeat (also spelled with escapes),
//! strings with every kind of escape, surrogate pairs and raw UTF-8, and numbers in several
//! spellings of one value; some carry faults JSON forbids (raw control characters, bad
//! escapes, unpaired surrogates, numbers like `01`). Wanted paths are random sets that mix
//! parents with their children. What is proved:
//! 1. a document serde_json accepts is accepted, and every wanted path gives what serde_json
//!    reads there (objects and arrays as canonical text, repeated names keeping the last);
//! 2. a fault that lies on a wanted path (inside a wanted value, or in a member name of an
//!    object the walk enters) makes the document malformed; a fault off the wanted paths
//!    either does too, or the values read are those of the document without the fault;
//! 3. two spellings of one document give the same values;
//! 4. an object with more than 64 wanted members gives every one of them.

use super::{DocumentError, JsonPaths};
use crate::plan::FieldUse;
use crate::value::{number, write_json_string, Composite, Value};
use proptest::prelude::*;

/// Numbers serde_json reads exactly, each in several spellings of one value.
const NUMBERS: &[&[&str]] = &[
    &["7", "7.0", "70e-1", "0.7E1", "7e0", "700E-2"],
    &["0", "-0", "0.0", "0e10", "-0.0E-3"],
    &["1e15", "1000000000000000", "1.0e15", "10E14"],
    &["-1.5", "-15e-1", "-1.50", "-0.15E1"],
    &["18446744073709551615"],
    &["-9223372036854775808"],
    &["0.1", "1e-1", "0.10", "10E-2"],
    &["123456789", "1.23456789e8", "123456789.000"],
    &["2.5e-8", "0.000000025", "25E-9"],
];

/// Number spellings JSON forbids.
const BAD_NUMBERS: &[&str] = &["01", "1.", "+1", ".5", "1e", "-", "1.e3", "00"];

/// Characters strings are made of: some need escaping, some are outside the BMP.
const CHARS: &[char] = &[
    'a', 'b', '"', '\\', '/', 'é', '😀', '\n', '\u{1}', '\u{1f}', '{', ']', ' ', ',',
];

/// Raw text JSON forbids inside a string.
const FAULTS: &[&str] = &[
    "\u{1}", "\u{1f}", "\u{0}", "\t", "\n", "\\ud800x", "\\udc00", "\\x",
];

#[derive(Clone, Debug)]
enum Piece {
    Char(char),
    Fault(usize),
}

#[derive(Clone, Debug)]
enum Doc {
    Null,
    Bool(bool),
    Num(usize),
    BadNum(usize),
    Str(Vec<Piece>),
    Arr(Vec<Doc>),
    Obj(Vec<(Vec<Piece>, Doc)>),
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn pieces(
    chars: impl Strategy<Value = char>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Piece>> {
    prop::collection::vec(
        prop_oneof![
            20 => chars.prop_map(Piece::Char),
            1 => (0..FAULTS.len()).prop_map(Piece::Fault),
        ],
        len,
    )
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just(Doc::Null),
        any::<bool>().prop_map(Doc::Bool),
        (0..NUMBERS.len()).prop_map(Doc::Num),
        (0..NUMBERS.len()).prop_map(Doc::Num),
        prop::sample::select((0..BAD_NUMBERS.len()).collect::<Vec<_>>())
            .prop_filter_map("rare", |i| (i < 2).then_some(Doc::BadNum(i))),
        pieces(prop::sample::select(CHARS), 0..6).prop_map(Doc::Str),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Doc::Arr),
            prop::collection::vec(
                (
                    pieces(prop::sample::select(&['a', 'b', 'c', 'd'][..]), 1..2),
                    inner
                ),
                0..6
            )
            .prop_map(Doc::Obj),
        ]
    })
}

/// Paths made of the names and indices documents use, parents and children mixed.
fn wanted() -> impl Strategy<Value = Vec<String>> {
    let all = [
        "a", "b", "c", "a.b", "a.c", "b.a", "a[0]", "a[1]", "a[0].b", "a[1].c", "b.a.c", "c.d[0]",
        "d", "d[2]", "a.b.c", "c.a", "b[0].a",
    ];
    prop::sample::subsequence(all.to_vec(), 1..8)
        .prop_map(|paths| paths.into_iter().map(String::from).collect())
}

/// Writes documents, choosing each spelling from a list of choices (used round and round).
struct Writer<'c> {
    choices: &'c [u8],
    next: usize,
    /// Whether faults are written (or replaced by a plain character or number).
    faults: bool,
    /// Where each written fault is, and whether it is in a member name.
    found: Vec<(Vec<Step>, bool)>,
    out: String,
}

impl Writer<'_> {
    fn choose(&mut self, n: usize) -> usize {
        let c = self.choices[self.next % self.choices.len()];
        self.next += 1;
        usize::from(c) % n
    }

    fn space(&mut self) {
        let s = [" ", "", "", "\n\t ", "\r\n"][self.choose(5)];
        self.out.push_str(s);
    }

    /// Writes a string; returns what it reads as (a fault reads as U+FFFF, which no wanted
    /// name holds) and whether a fault was written.
    fn string(&mut self, pieces: &[Piece]) -> (String, bool) {
        let mut text = String::new();
        let mut faulty = false;
        self.out.push('"');
        for piece in pieces {
            match *piece {
                Piece::Fault(f) if self.faults => {
                    self.out.push_str(FAULTS[f]);
                    text.push('\u{ffff}');
                    faulty = true;
                }
                Piece::Fault(_) => {
                    self.out.push('x');
                    text.push('x');
                }
                Piece::Char(c) => {
                    text.push(c);
                    self.char(c);
                }
            }
        }
        self.out.push('"');
        (text, faulty)
    }

    fn char(&mut self, c: char) {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\n' => Some("\\n"),
            _ => None,
        };
        let raw_allowed = c >= ' ' && c != '"' && c != '\\';
        let mut units = [0u16; 2];
        let escaped: String = c
            .encode_utf16(&mut units)
            .iter()
            .map(|u| {
                if self.choose(2) == 0 {
                    format!("\\u{u:04x}")
                } else {
                    format!("\\u{u:04X}")
                }
            })
            .collect();
        match self.choose(3) {
            0 if raw_allowed => self.out.push(c),
            1 if short.is_some() => self.out.push_str(short.expect("checked")),
            _ => self.out.push_str(&escaped),
        }
    }

    fn doc(&mut self, doc: &Doc, path: &mut Vec<Step>) {
        self.space();
        match doc {
            Doc::Null => self.out.push_str("null"),
            Doc::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Doc::Num(n) => {
                let spelling = NUMBERS[*n][self.choose(NUMBERS[*n].len())];
                self.out.push_str(spelling);
            }
            Doc::BadNum(n) if self.faults => {
                self.out.push_str(BAD_NUMBERS[*n]);
                self.found.push((path.clone(), false));
            }
            Doc::BadNum(_) => self.out.push('1'),
            Doc::Str(pieces) => {
                if self.string(pieces).1 {
                    self.found.push((path.clone(), false));
                }
            }
            Doc::Arr(elements) => {
                self.out.push('[');
                for (i, element) in elements.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    path.push(Step::Index(i));
                    self.doc(element, path);
                    path.pop();
                    self.space();
                }
                self.out.push(']');
            }
            Doc::Obj(members) => {
                self.out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    let (name, faulty) = self.string(name);
                    path.push(Step::Key(name));
                    if faulty {
                        self.found.push((path.clone(), true));
                    }
                    self.space();
                    self.out.push(':');
                    self.doc(value, path);
                    path.pop();
                    self.space();
                }
                self.out.push('}');
            }
        }
    }
}

fn write(doc: &Doc, choices: &[u8], faults: bool) -> (String, Vec<(Vec<Step>, bool)>) {
    let mut writer = Writer {
        choices,
        next: 0,
        faults,
        found: Vec::new(),
        out: String::new(),
    };
    writer.doc(doc, &mut Vec::new());
    (writer.out, writer.found)
}

fn steps(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        steps.push(Step::Key(name.to_string()));
        if let Some(index) = rest.strip_suffix(']') {
            steps.push(Step::Index(index.parse().expect("index")));
        }
    }
    steps
}

/// Whether a fault at `at` (in a member name or not) lies on one of the wanted paths.
fn on_wanted_path(at: &[Step], in_name: bool, wanted: &[Vec<Step>]) -> bool {
    wanted.iter().any(|w| {
        let inside_wanted = at.starts_with(w);
        let walked_object = in_name && {
            let parent = &at[..at.len() - 1];
            w.starts_with(parent) && w.len() > parent.len()
        };
        inside_wanted || walked_object
    })
}

/// What serde_json reads, as a [`Value`].
fn from_serde(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => serde_number(n),
        serde_json::Value::String(s) => Value::Str(s.as_str().into()),
        serde_json::Value::Array(_) => Value::List(Composite::new(canonical(value))),
        serde_json::Value::Object(_) => Value::Map(Composite::new(canonical(value))),
    }
}

fn serde_number(n: &serde_json::Number) -> Value {
    if n.is_f64() {
        number::from_f64(n.as_f64().expect("f64")).expect("finite")
    } else {
        number::value_of(&n.to_string()).expect("integer")
    }
}

/// Canonical text of a serde_json value: members sorted by name, numbers and strings as
/// [`Value::write_json`] writes them.
fn canonical(value: &serde_json::Value) -> String {
    let mut out = String::new();
    match value {
        serde_json::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(canonical).collect();
            out = format!("[{}]", parts.join(","));
        }
        serde_json::Value::Object(o) => {
            let mut members: Vec<(&String, &serde_json::Value)> = o.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = members
                .into_iter()
                .map(|(k, v)| {
                    let mut member = String::new();
                    write_json_string(k, &mut member);
                    format!("{member}:{}", canonical(v))
                })
                .collect();
            out = format!("{{{}}}", parts.join(","));
        }
        other => from_serde(other).write_json(&mut out),
    }
    out
}

fn lookup<'v>(mut value: &'v serde_json::Value, path: &[Step]) -> Option<&'v serde_json::Value> {
    for step in path {
        value = match step {
            Step::Key(k) => value.as_object()?.get(k)?,
            Step::Index(i) => value.as_array()?.get(*i)?,
        };
    }
    Some(value)
}

fn extract(paths: &[String], text: &str) -> Result<Vec<Option<Value>>, DocumentError> {
    extract_as(paths, text, FieldUse::Whole)
}

fn extract_as(
    paths: &[String],
    text: &str,
    used: FieldUse,
) -> Result<Vec<Option<Value>>, DocumentError> {
    let compiled =
        JsonPaths::compile_with(paths.iter().map(|p| (p.as_str(), used))).expect("paths");
    let mut out = vec![None; paths.len()];
    compiled.extract(text.as_bytes(), &mut out).map(|()| out)
}

/// What a path read for its truthiness gives for a value read whole.
fn truthiness(value: &Option<Value>) -> Option<Value> {
    value.as_ref().map(|v| match v {
        Value::Null => Value::Null,
        v => Value::Bool(v.is_non_empty()),
    })
}

/// What serde_json reads at each path of a document it accepts.
fn serde_reading(paths: &[String], text: &str) -> Vec<Option<Value>> {
    let doc: serde_json::Value = serde_json::from_str(text).expect("serde_json reads it");
    paths
        .iter()
        .map(|p| lookup(&doc, &steps(p)).map(from_serde))
        .collect()
}

fn object() -> impl Strategy<Value = Doc> {
    prop::collection::vec(
        (
            pieces(prop::sample::select(&['a', 'b', 'c', 'd'][..]), 1..2),
            doc(),
        ),
        0..7,
    )
    .prop_map(Doc::Obj)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_serde_json(
        doc in object(),
        paths in wanted(),
        choices in prop::collection::vec(any::<u8>(), 1..64),
        other_choices in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let (text, faults) = write(&doc, &choices, true);
        let (clean, _) = write(&doc, &choices, false);
        let want = serde_reading(&paths, &clean);
        let got = extract(&paths, &text);
        // Read for truthiness only, a document is as strictly checked, and each value is
        // the truthiness of the whole one.
        let truths = extract_as(&paths, &text, FieldUse::Truthiness);
        let want_truths = got
            .as_ref()
            .ok()
            .map(|v| v.iter().map(truthiness).collect::<Vec<_>>());
        prop_assert_eq!(truths.ok(), want_truths, "{}", text);
        if faults.is_empty() {
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
            prop_assert_eq!(got.as_ref().ok(), Some(&want), "{}", text);
            // Another spelling of the same document reads the same.
            let (respelled, _) = write(&doc, &other_choices, false);
            prop_assert_eq!(extract(&paths, &respelled).ok(), Some(want), "{} / {}", text, respelled);
        } else {
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "{}", text);
            let wanted: Vec<Vec<Step>> = paths.iter().map(|p| steps(p)).collect();
            let required = faults.iter().any(|(at, in_name)| on_wanted_path(at, *in_name, &wanted));
            match got {
                Ok(values) => {
                    prop_assert!(!required, "accepted a fault on a wanted path: {} {:?}", text, paths);
                    prop_assert_eq!(values, want, "{}", text);
                }
                Err(error) => prop_assert!(matches!(error, DocumentError::Malformed(_))),
            }
        }
    }

    #[test]
    fn reads_any_number_of_wanted_members(
        values in prop::collection::vec(any::<i32>(), 1..150),
        wanted in prop::collection::vec(any::<bool>(), 150),
        whole in any::<bool>(),
    ) {
        let members: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("\"m{i}\":{v}")).collect();
        let text = format!("{{\"o\":{{{}}},\"after\":1}}", members.join(","));
        let mut paths: Vec<String> = (0..values.len())
            .filter(|i| wanted[*i])
            .map(|i| format!("o.m{i}"))
            .collect();
        paths.push("after".into());
        if whole {
            paths.push("o".into());
        }
        prop_assert_eq!(extract(&paths, &text).ok(), Some(serde_reading(&paths, &text)));
    }
}
