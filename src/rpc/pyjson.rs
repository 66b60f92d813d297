//! JSON text as Python's `json.dumps` writes it, which is what oslo.messaging and
//! Trove put on the wire: `", "` and `": "` separators, every character outside
//! printable ASCII escaped as `\uXXXX` (UTF-16 surrogate pairs above U+FFFF), and
//! floats in `repr` form (`1e+16`, `1e-05`, `100.0`).
//!
//! Any JSON parser reads compact serde output just as well; writing Python's form
//! keeps our bodies byte-for-byte like the Python agent's (key order aside, which
//! Python takes from insertion), so captures of the two can be compared directly
//! and the body is pure ASCII whatever the content.
//!
//! Writing into a `String` cannot fail, so unlike `serde_json::to_string` these
//! functions return no `Result`. [`to_text`] writes any `Serialize` type the
//! same way, through serde_json with [`Python`] as its formatter, so a large
//! answer goes to text without first becoming a `Value` tree.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::{Number, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `json.dumps(value)`.
pub(crate) fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// `json.dumps(value)` of anything serde can serialize: byte for byte what
/// [`dumps`] writes for the `Value` it would serialize to (a property test
/// holds them to it). Fails only where serde_json does: a map key that is
/// not a string, or a type's own `Serialize` failing.
pub(crate) fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, Python,
    ))?;
    // Every byte written is ASCII: strings escape everything else.
    String::from_utf8(out).map_err(|_| serde::ser::Error::custom("non-ASCII output"))
}

/// serde_json's compact output made Python's: `", "` and `": "`
/// separators, `ensure_ascii` escaping, floats as `repr` writes them.
struct Python;

impl Formatter for Python {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        let mut text = String::new();
        write_float(&mut text, value);
        w.write_all(text.as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    /// serde_json hands over runs without quotes, backslashes or control
    /// characters; Python also escapes everything else outside printable
    /// ASCII.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        let mut text = String::with_capacity(fragment.len() * 2);
        write_str_body(&mut text, fragment);
        w.write_all(text.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let c = match escape {
            CharEscape::Quote => '"',
            CharEscape::ReverseSolidus => '\\',
            CharEscape::Solidus => '/',
            CharEscape::Backspace => '\u{8}',
            CharEscape::FormFeed => '\u{c}',
            CharEscape::LineFeed => '\n',
            CharEscape::CarriageReturn => '\r',
            CharEscape::Tab => '\t',
            CharEscape::AsciiControl(b) => char::from(b),
        };
        let mut text = String::with_capacity(6);
        write_str_body(&mut text, c.encode_utf8(&mut [0; 4]));
        w.write_all(text.as_bytes())
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Appends `value` to `out`.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map.iter()),
    }
}

/// Appends an object whose members come in the given order, the way a Python dict
/// keeps insertion order.
pub(crate) fn write_object<'a, K>(
    out: &mut String,
    members: impl IntoIterator<Item = (K, &'a Value)>,
) where
    K: AsRef<str>,
{
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str(out, key.as_ref());
        out.push_str(": ");
        write_value(out, value);
    }
    out.push('}');
}

/// Appends a JSON string literal with `ensure_ascii` escaping.
///
/// Runs of characters that need no escape (nearly all of a listing) are
/// copied as slices; only the others go one by one. The envelope escapes the
/// whole inner message through here a second time, so this is the agent's
/// hottest loop on large answers.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    write_str_body(out, s);
    out.push('"');
}

/// [`write_str`] of `prefix` followed by `s`, without joining them first
/// (escaping works character by character, so the result is the same).
pub(crate) fn write_str_prefixed(out: &mut String, prefix: &str, s: &str) {
    out.reserve(prefix.len() + s.len() + 2);
    out.push('"');
    write_str_body(out, prefix);
    write_str_body(out, s);
    out.push('"');
}

/// The inside of a JSON string literal (`ensure_ascii` escaping).
fn write_str_body(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        // `i` is at a character boundary: only whole characters are skipped.
        out.push_str(&s[start..i]);
        let c = s[i..].chars().next().unwrap_or('\0');
        write_escaped(out, c);
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Appends the escape of one character that cannot appear as it is.
fn write_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(char::from(HEX[usize::from((*unit >> shift) & 0xf)]));
                }
            }
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    match n.as_f64() {
        Some(f) if n.is_f64() => write_float(out, f),
        _ => out.push_str(&n.to_string()),
    }
}

/// Python's `float.__repr__`: the shortest digits that round-trip, in fixed
/// notation while the decimal point sits within 16 places, otherwise as
/// `d.ddde±XX`. Rust's `{:e}` gives the same shortest digits; only the layout
/// differs. (In an exact tie between two shortest candidates, about one double
/// in 20,000, Python takes the even last digit and Rust may not; both parse back
/// to the same number.)
fn write_float(out: &mut String, f: f64) {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    // Position of the decimal point relative to the first digit, as CPython counts it.
    let decpt = exp + 1;
    if negative {
        out.push('-');
    }
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = decpt.unsigned_abs() as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Vectors from Python's own `json.dumps`; see testdata/make_vectors.py.
    fn vectors() -> Value {
        serde_json::from_str(include_str!("testdata/trove_vectors.json")).unwrap()
    }

    #[test]
    fn floats_match_python_repr() {
        let v = vectors();
        for case in v["floats"].as_array().unwrap() {
            assert_eq!(
                dumps(&case["value"]),
                case["dumps"].as_str().unwrap(),
                "{case}"
            );
        }
    }

    #[test]
    fn strings_match_python_ensure_ascii() {
        let v = vectors();
        for case in v["strings"].as_array().unwrap() {
            assert_eq!(
                dumps(&case["value"]),
                case["dumps"].as_str().unwrap(),
                "{case}"
            );
        }
    }

    #[test]
    fn entity_plaintexts_match_python() {
        let v = vectors();
        for case in v["entities"].as_array().unwrap() {
            assert_eq!(dumps(&case["value"]), case["plaintext"].as_str().unwrap());
        }
    }

    #[test]
    fn separators_and_integers() {
        let value = json!({"b": [1, -2, 18446744073709551615u64], "a": {"x": null, "y": true}});
        assert_eq!(
            dumps(&value),
            r#"{"a": {"x": null, "y": true}, "b": [1, -2, 18446744073709551615]}"#
        );
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
    }

    #[test]
    fn output_reparses_to_the_same_value() {
        let value = json!({"s": "é😀\u{7f}\u{0}", "f": [0.1, 1e300, -5e-324], "n": null});
        let back: Value = serde_json::from_str(&dumps(&value)).unwrap();
        assert_eq!(back, value);
        assert!(dumps(&value).is_ascii());
    }
}
