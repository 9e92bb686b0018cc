//! Exact JSON numbers: the grammar JSON allows, and one [`Value`] per exact decimal value.
//!
//! `7`, `7.0`, `70e-1` and `0.7e1` are one value, and so are `1e15` and `1000000000000000`;
//! `18446744073709551616` and `18446744073709551617` are two, although a 64-bit float
//! cannot tell them apart. A number is read as its sign, its significant digits and a power
//! of ten; that triple decides the variant, so every spelling of a value lands in the same
//! one:
//! - an integer in the 64-bit range is [`Value::Int`];
//! - otherwise, a value that a float holds exactly as its shortest spelling (`0.1`, `1.5`,
//!   `1e20`) is [`Value::Float`];
//! - anything else (`2^64 + 1`, more digits than a float keeps, a value past a float's range
//!   of precision) is [`Value::Decimal`], kept as its canonical text.

use super::Value;
use smallvec::SmallVec;

/// Checks the JSON number grammar (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`)
/// at the start of `bytes`; returns its length, or where and why it breaks.
#[inline]
pub fn scan(bytes: &[u8]) -> Result<usize, (usize, &'static str)> {
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let digits_from = |mut i: usize| {
        while digit(i) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_from(i + 1),
        _ => return Err((i, "expected a digit in a number")),
    }
    if bytes.get(i) == Some(&b'.') {
        if !digit(i + 1) {
            return Err((i + 1, "expected a digit after `.` in a number"));
        }
        i = digits_from(i + 1);
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = bytes.get(i) {
            i += 1;
        }
        if !digit(i) {
            return Err((i, "expected a digit in a number's exponent"));
        }
        i = digits_from(i);
    }
    if let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = bytes.get(i) {
        return Err((
            i,
            "invalid number (a leading zero, or a sign or point out of place)",
        ));
    }
    Ok(i)
}

/// A number as sign, significant digits (no leading or trailing zeros; none for zero) and
/// the power of ten of the last digit.
#[derive(Debug, PartialEq, Eq)]
struct Exact {
    negative: bool,
    digits: SmallVec<[u8; 24]>,
    exponent: i64,
}

/// The largest written exponent read: beyond it no two values could be told apart by the
/// arithmetic here, so such numbers are refused as out of range.
const EXPONENT_LIMIT: i64 = 1 << 40;

impl Exact {
    /// Reads text that [`scan`] accepted (or a float's shortest spelling, which also obeys
    /// the grammar); `None` when its exponent is past [`EXPONENT_LIMIT`].
    fn read(text: &[u8]) -> Option<Exact> {
        let negative = text.first() == Some(&b'-');
        let body = &text[usize::from(negative)..];
        let (mantissa, written_exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
            Some(e) => (&body[..e], parse_exponent(&body[e + 1..])?),
            None => (body, 0),
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let mut digits: SmallVec<[u8; 24]> = int.iter().chain(frac).copied().collect();
        let mut exponent = written_exponent - frac.len() as i64;
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
        digits.truncate(digits.len() - trailing);
        exponent += trailing as i64;
        if digits.is_empty() {
            exponent = 0;
        }
        Some(Exact {
            negative: negative && !digits.is_empty(),
            digits,
            exponent,
        })
    }

    /// The value as a 64-bit integer, when it is one.
    fn as_i64(&self) -> Option<i64> {
        if self.exponent < 0 || self.digits.len() as i64 + self.exponent > 19 {
            return None;
        }
        let mut n: i128 = 0;
        for &d in &self.digits {
            n = n * 10 + i128::from(d - b'0');
        }
        n *= 10i128.pow(self.exponent as u32);
        i64::try_from(if self.negative { -n } else { n }).ok()
    }

    /// The canonical text of the value: plain digits for integers of up to 40 digits and
    /// for fractions near 1, scientific notation otherwise; a function of the value only.
    fn text(&self) -> String {
        let digits = std::str::from_utf8(&self.digits).expect("ASCII digits");
        let n = self.digits.len() as i64;
        let point = n + self.exponent;
        let mut out = String::with_capacity(digits.len() + 8);
        if self.negative {
            out.push('-');
        }
        if self.exponent >= 0 && point <= 40 {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', self.exponent as usize));
        } else if self.exponent < 0 && point > 0 {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        } else if self.exponent < 0 && point > -20 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(digits);
        } else {
            out.push_str(&digits[..1]);
            if n > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push('e');
            out.push_str(itoa::Buffer::new().format(point - 1));
        }
        out
    }
}

/// An exponent's digits (with an optional sign); `None` past [`EXPONENT_LIMIT`].
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut magnitude = 0i64;
    for &d in digits {
        magnitude = magnitude * 10 + i64::from(d - b'0');
        if magnitude > EXPONENT_LIMIT {
            return None;
        }
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// The value of a JSON number's text, which [`scan`] accepted. A number too large for a
/// float (`1e400`) is refused, as JSON readers refuse it.
pub fn value_of(text: &str) -> Result<Value, &'static str> {
    // Most numbers are short integers.
    if text.len() <= 18 && !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
    }
    let exact = Exact::read(text.as_bytes()).ok_or("number out of range")?;
    if let Some(i) = exact.as_i64() {
        return Ok(Value::Int(i));
    }
    if exact.digits.len() as i64 + exact.exponent > 400 {
        return Err("number out of range");
    }
    let float: f64 = text.parse().map_err(|_| "invalid number")?;
    if !float.is_finite() {
        return Err("number out of range");
    }
    let shortest = ryu::Buffer::new().format_finite(float).to_owned();
    if Exact::read(shortest.as_bytes()).as_ref() == Some(&exact) {
        Ok(Value::Float(float))
    } else {
        Ok(Value::Decimal(exact.text().into()))
    }
}

/// The value of a float written in its shortest spelling (`7.0` is `Int(7)`, as the JSON
/// `7.0` is); `None` when it is not finite.
pub fn from_f64(float: f64) -> Option<Value> {
    if !float.is_finite() {
        return None;
    }
    value_of(ryu::Buffer::new().format_finite(float)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value(text: &str) -> Value {
        assert_eq!(scan(text.as_bytes()), Ok(text.len()), "{text}");
        value_of(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_spelling_of_a_value_is_one_value() {
        for (a, b) in [
            ("7", "7.0"),
            ("7", "70e-1"),
            ("7", "0.7E+1"),
            ("1e15", "1000000000000000"),
            ("0", "-0"),
            ("0", "0.0e5"),
            ("-0.0", "0"),
            ("0.1", "1e-1"),
            ("1.5", "15000e-4"),
            ("1e20", "100000000000000000000"),
            ("18446744073709551617", "1.8446744073709551617e19"),
            ("-9223372036854775808", "-92233720368547758.08e2"),
            ("1e-400", "0.1e-399"),
        ] {
            assert_eq!(value(a), value(b), "{a} and {b}");
        }
    }

    #[test]
    fn different_values_never_merge() {
        for (a, b) in [
            ("18446744073709551616", "18446744073709551617"),
            ("9223372036854775807", "9223372036854775808"),
            ("0.1", "0.1000000000000000000000001"),
            ("1e-400", "0"),
            ("7", "7.000000000000001"),
        ] {
            assert_ne!(value(a), value(b), "{a} and {b}");
        }
        assert_eq!(value("7.0"), Value::Int(7));
        assert_eq!(from_f64(7.0), Some(Value::Int(7)));
        assert_eq!(from_f64(0.25), Some(Value::Float(0.25)));
        assert_eq!(from_f64(f64::NAN), None);
        assert_eq!(value("1.5"), Value::Float(1.5));
        assert_eq!(
            value("18446744073709551617"),
            Value::Decimal("18446744073709551617".into())
        );
        assert_eq!(value("-1.5e-900"), Value::Decimal("-1.5e-900".into()));
    }

    #[test]
    fn refuses_what_json_forbids() {
        for bad in [
            "01", "+1", ".5", "5.", "1e", "1e+", "-", "--1", "1.e5", "1.5.2", "1e5e",
        ] {
            assert!(scan(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(value_of("1e400"), Err("number out of range"));
        assert_eq!(
            value_of("-1e99999999999999999999"),
            Err("number out of range")
        );
        assert_eq!(
            value_of("1e-99999999999999999999"),
            Err("number out of range")
        );
        assert_ne!(value("1e-999999"), value("1e-999998"));
    }

    proptest! {
        /// Written at any scale, with any padding of zeros, a value stays itself; and the
        /// canonical text of a decimal reads back as the same value.
        #[test]
        fn spellings_agree(
            negative in any::<bool>(),
            digits in "[1-9][0-9]{0,25}",
            exponent in -30i64..30,
            shift in 0usize..5,
            zeros in 0usize..3,
        ) {
            let sign = if negative { "-" } else { "" };
            let plain = format!("{sign}{digits}e{exponent}");
            // The same value with `shift` digits moved behind the point and zeros appended.
            let (head, tail) = digits.split_at(digits.len().saturating_sub(shift).max(1));
            let moved = exponent + tail.len() as i64;
            let other = if tail.is_empty() {
                format!("{sign}{head}{}e{moved}", ".0".repeat(zeros.min(1)))
            } else {
                format!("{sign}{head}.{tail}{}e{moved}", "0".repeat(zeros))
            };
            let a = value(&plain);
            prop_assert_eq!(&a, &value(&other), "{} and {}", plain, other);
            let mut text = String::new();
            a.write_json(&mut text);
            prop_assert_eq!(&a, &value(&text), "{} wrote {}", plain, text);
        }
    }
}
