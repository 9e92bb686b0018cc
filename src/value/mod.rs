//! Field values: the small shared type every step of the data path speaks.
//!
//! A value is what decoding found at a field path. Keys, distinct sets and conditions compare
//! values, so `Value` has a total order and a hash that agree with equality. Equal JSON values
//! are equal however they are spelled: numbers by their exact decimal value ([`number`]),
//! arrays and objects by their canonical text ([`Composite`]). Text and numbers are never
//! equal (`"7"` and `7` are two values).

pub mod number;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// One decoded field value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// A number whose value is an integer that fits in 64 bits (`7`, `7.0`, `1e15`).
    Int(i64),
    /// Any other number that a float holds exactly as its shortest spelling (`1.5`, `1e20`).
    /// Decoded JSON is never an integer of the 64-bit range here (derived values and
    /// aggregate results may be).
    Float(f64),
    /// Any other number (`18446744073709551617`, `0.1000000000000000000001`), as its
    /// canonical decimal text; never equal to an `Int` or a `Float`.
    Decimal(Box<str>),
    /// Text (short strings, like ids and city names, are stored inline without allocating).
    Str(CompactString),
    /// An array.
    List(Composite),
    /// An object.
    Map(Composite),
}

/// An array or an object as its canonical JSON text: members sorted by name (a repeated name
/// keeps its last value), numbers in the canonical form of [`number`], strings escaped the one
/// way [`write_json_string`] escapes them, no spaces. Two composites are equal exactly when
/// they are the same JSON value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Composite {
    json: Box<str>,
}

impl Composite {
    /// A composite from its canonical text.
    pub fn new(json: String) -> Composite {
        Composite {
            json: json.into_boxed_str(),
        }
    }

    /// An array of `elements`, in order.
    pub fn array<'a>(elements: impl IntoIterator<Item = &'a Value>) -> Composite {
        let mut json = String::from("[");
        for (i, element) in elements.into_iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            element.write_json(&mut json);
        }
        json.push(']');
        Composite::new(json)
    }

    /// Whether there are no elements or members (`[]` or `{}`).
    pub fn is_empty(&self) -> bool {
        self.json.len() == 2
    }

    /// The canonical JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }
}

impl Value {
    /// The number this value spells when it is text in canonical decimal (digits only, no
    /// leading zero) that fits in 64 bits, as ids usually are; any other spelling of the same
    /// number, and any non-text value, gives `None`, so equal results mean equal values.
    #[inline]
    pub fn decimal_id(&self) -> Option<u64> {
        let Value::Str(text) = self else {
            return None;
        };
        let bytes = text.as_bytes();
        if bytes.is_empty() || bytes.len() > 20 || (bytes[0] == b'0' && bytes.len() > 1) {
            return None;
        }
        // Nineteen digits cannot overflow; a twentieth is added with checks.
        let (head, last) = match bytes.split_at_checked(19) {
            Some((head, last)) => (head, last.first()),
            None => (bytes, None),
        };
        let mut chunks = head.chunks_exact(8);
        let mut n = 0u64;
        for chunk in &mut chunks {
            n = n * 100_000_000 + eight_digits(chunk.try_into().expect("8 bytes"))?;
        }
        for &b in chunks.remainder() {
            n = n * 10 + digit(b)?;
        }
        match last {
            Some(&b) => n.checked_mul(10)?.checked_add(digit(b)?),
            None => Some(n),
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => "number",
            Value::Str(_) => "string",
            Value::List(_) => "array",
            Value::Map(_) => "object",
        }
    }

    /// Whether the value can be part of a key or a distinct set (scalars only).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::List(_) | Value::Map(_))
    }

    /// What `non_empty` tests: true for a non-empty string, array or object, for `true` and
    /// for any number but zero; false for `null`, `false`, `0` (in any spelling), `""`, `[]`
    /// and `{}`.
    pub fn is_non_empty(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Decimal(_) => true,
            Value::Str(s) => !s.is_empty(),
            Value::List(c) | Value::Map(c) => !c.is_empty(),
        }
    }

    /// The value as text: a string as it is, anything else in its JSON form. Cassandra key
    /// columns and dashboard key filters use it.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            other => {
                let mut text = String::new();
                other.write_json(&mut text);
                text
            }
        }
    }

    /// The value as a number; text is parsed (after trimming, and without a leading `$`,
    /// which money columns in CSV exports carry).
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Float(f) if f.is_finite() => Some(Number::Float(*f)),
            Value::Float(_) => None,
            Value::Decimal(text) => Number::parse(text),
            Value::Str(s) => Number::parse(s.trim().trim_start_matches('$')),
            Value::Null | Value::Bool(_) | Value::List(_) | Value::Map(_) => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => 2,
            Value::Str(_) => 3,
            Value::List(_) => 4,
            Value::Map(_) => 5,
        }
    }

    /// A number's place in the order of numbers: its nearest float, then its variant; values
    /// of one variant with the same nearest float are then ordered by their payload.
    fn number_key(&self) -> Option<(f64, u8)> {
        match self {
            Value::Int(i) => Some((*i as f64, 0)),
            Value::Float(f) => Some((fold_zero(*f), 1)),
            Value::Decimal(text) => Some((fold_zero(text.parse().unwrap_or(f64::NAN)), 2)),
            Value::Null | Value::Bool(_) | Value::Str(_) | Value::List(_) | Value::Map(_) => None,
        }
    }

    /// Writes the value as JSON text.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Value::Float(f) => write_float(*f, out),
            Value::Decimal(text) => out.push_str(text),
            Value::Str(s) => write_json_string(s, out),
            Value::List(c) | Value::Map(c) => out.push_str(c.json()),
        }
    }
}

/// Writes a float as a JSON number (`null` when not finite).
pub fn write_float(f: f64, out: &mut String) {
    if f.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(f));
    } else {
        out.push_str("null");
    }
}

/// Writes `s` as a quoted, escaped JSON string.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A number taken from a field: integers stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Number {
    /// An exact integer.
    Int(i64),
    /// A finite float.
    Float(f64),
}

impl Number {
    /// Parses decimal text; integers that fit in 64 bits stay integers.
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Some(Number::Float(f)),
            _ => None,
        }
    }

    /// The number as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl PartialEq for Value {
    /// Agrees with `cmp`; text and integers, the usual keys, are compared directly.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => same_bytes(a.as_bytes(), b.as_bytes()),
            (Value::Int(a), Value::Int(b)) => a == b,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

/// Byte-wise equality for short text (keys and ids) in a few word compares, without a
/// call to `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    match n {
        0..4 => a == b,
        4..8 => {
            let half =
                |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
            half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
        }
        8..=32 => {
            // Whole words from the front, then the last word (overlapping when n is not a
            // multiple of 8).
            (0..n / 8).all(|i| word(a, 8 * i) == word(b, 8 * i)) && word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn fold_zero(f: f64) -> f64 {
    if f == 0.0 {
        0.0
    } else {
        f
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => fold_zero(*a).total_cmp(&fold_zero(*b)),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) | (Value::Map(a), Value::Map(b)) => a.cmp(b),
            _ => match (self.number_key(), other.number_key()) {
                // Integers of one nearest float keep their order, so ordering first by the
                // nearest float and then by the payload is one total order.
                (Some((x, kind_x)), Some((y, kind_y))) => x
                    .total_cmp(&y)
                    .then(kind_x.cmp(&kind_y))
                    .then_with(|| match (self, other) {
                        (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
                        _ => Ordering::Equal,
                    }),
                _ => self.rank().cmp(&other.rank()),
            },
        }
    }
}

/// The value of one ASCII digit.
#[inline]
fn digit(byte: u8) -> Option<u64> {
    let d = byte.wrapping_sub(b'0');
    (d <= 9).then_some(u64::from(d))
}

/// The value of eight ASCII digits, read as one word and combined pairwise (first digit
/// most significant); `None` unless all eight are digits.
#[inline]
fn eight_digits(bytes: &[u8; 8]) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let word = u64::from_le_bytes(*bytes);
    // Every byte is 0x30..=0x39: its high nibble is 3, and adding 6 keeps it 3.
    let high = 0xF0F0_F0F0_F0F0_F0F0;
    if word & high != ZEROS || word.wrapping_add(0x0606_0606_0606_0606) & high != ZEROS {
        return None;
    }
    // The first digit sits in the lowest byte; no step carries out of its lane.
    let mut v = word - ZEROS;
    v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF;
    Some(v)
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => state.write_u8(0),
            Value::Bool(b) => state.write_u8(2 + *b as u8),
            Value::Int(i) => {
                state.write_u8(4);
                state.write_i64(*i);
            }
            Value::Float(f) => {
                state.write_u8(5);
                state.write_u64(fold_zero(*f).to_bits());
            }
            Value::Decimal(text) => {
                state.write_u8(9);
                state.write(text.as_bytes());
            }
            Value::Str(s) => {
                state.write_u8(6);
                state.write(s.as_bytes());
            }
            Value::List(c) => {
                state.write_u8(7);
                state.write(c.json().as_bytes());
            }
            Value::Map(c) => {
                state.write_u8(8);
                state.write(c.json().as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_small() {
        // Field values travel in every event: a composite must not widen them.
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn numbers_from_text_strip_currency() {
        assert_eq!(
            Value::Str("$7.65".into()).as_number(),
            Some(Number::Float(7.65))
        );
        assert_eq!(Value::Str(" 12 ".into()).as_number(), Some(Number::Int(12)));
        assert_eq!(Value::Str("twelve".into()).as_number(), None);
        assert_eq!(Value::Bool(true).as_number(), None);
    }

    proptest::proptest! {
        /// Equality agrees with the order, and with byte equality for text of any length.
        #[test]
        fn text_equality_agrees_with_order(a in "[ab]{0,40}", b in "[ab]{0,40}") {
            let (x, y) = (Value::Str(a.as_str().into()), Value::Str(b.as_str().into()));
            proptest::prop_assert_eq!(x == y, a == b);
            proptest::prop_assert_eq!(x == y, x.cmp(&y) == Ordering::Equal);
        }
    }

    proptest::proptest! {
        /// Whatever the text, the id is what the standard parser reads from canonical
        /// decimal text, and nothing otherwise.
        #[test]
        fn decimal_ids_agree_with_the_standard_parser(
            text in "[0-9]{1,21}|[0-9/:]{1,20}|[0-9]{0,12}[^0-9][0-9]{0,12}",
        ) {
            let canonical = !(text.starts_with('0') && text.len() > 1)
                && text.bytes().all(|b| b.is_ascii_digit());
            let want = text.parse::<u64>().ok().filter(|_| canonical);
            proptest::prop_assert_eq!(Value::Str(text.as_str().into()).decimal_id(), want);
        }
    }

    #[test]
    fn decimal_ids_are_canonical_text_only() {
        let id = |s: &str| Value::Str(s.into()).decimal_id();
        assert_eq!(id("1574236253620420608"), Some(1_574_236_253_620_420_608));
        assert_eq!(id("18446744073709551615"), Some(u64::MAX));
        assert_eq!(id("0"), Some(0));
        for other in ["18446744073709551616", "01", "00", "", "-1", "1a", " 1"] {
            assert_eq!(id(other), None, "{other:?}");
        }
        assert_eq!(Value::Int(7).decimal_id(), None);
    }

    #[test]
    fn order_is_total_and_matches_equality() {
        let mut values = [
            Value::Str("b".into()),
            Value::Int(3),
            Value::Null,
            Value::Float(-0.0),
            Value::Float(0.0),
            Value::Str("a".into()),
        ];
        values.sort();
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[1], values[2], "-0.0 and 0.0 are one value");
        assert_eq!(values[4], Value::Str("a".into()));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_string("a\"b\\c\n\u{1}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
        let back: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }
}
