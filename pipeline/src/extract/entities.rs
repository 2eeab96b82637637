//! Decoding of HTML character references in attribute values, following the
//! WHATWG tokenizer rules for the attribute-value state: named references
//! (longest match, legacy names without `;` accepted unless followed by `=` or
//! an alphanumeric), decimal and hexadecimal numeric references, and the
//! windows-1252 remapping of C1 code points.

use std::borrow::Cow;

use super::entities_table::ENTITIES;

/// The longest entity name (without the `&`).
const MAX_NAME: usize = 32;

/// Decodes the character references in an attribute value. Returns the input
/// unchanged (borrowed) when it holds no `&`.
pub fn decode_attribute(value: &str) -> Cow<'_, str> {
    let Some(first) = memchr::memchr(b'&', value.as_bytes()) else {
        return Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(value.len());
    out.push_str(&value[..first]);
    let mut rest = &value[first..];
    while let Some(amp) = memchr::memchr(b'&', rest.as_bytes()) {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match decode_reference(after) {
            Some((consumed, replacement)) => {
                replacement.push_to(&mut out);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What one reference decodes to.
enum Replacement {
    Str(&'static str),
    Char(char),
}

impl Replacement {
    fn push_to(&self, out: &mut String) {
        match self {
            Replacement::Str(s) => out.push_str(s),
            Replacement::Char(c) => out.push(*c),
        }
    }
}

/// Decodes the reference starting right after an `&`: returns how many bytes
/// it spans and its replacement, or `None` when the `&` is literal.
fn decode_reference(after: &str) -> Option<(usize, Replacement)> {
    let bytes = after.as_bytes();
    if bytes.first() == Some(&b'#') {
        return decode_numeric(after);
    }
    // Candidate: the alphanumeric run, plus one `;` if it follows.
    let run = bytes
        .iter()
        .take(MAX_NAME)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if run == 0 {
        return None;
    }
    let with_semi = run < bytes.len() && bytes[run] == b';';
    let max = if with_semi { run + 1 } else { run };
    for len in (1..=max).rev() {
        let name = &after[..len];
        if let Ok(i) = ENTITIES.binary_search_by(|(k, _)| k.cmp(&name)) {
            if !name.ends_with(';') {
                // Legacy reference in an attribute: literal when followed by
                // '=' or an alphanumeric.
                if let Some(&next) = bytes.get(len) {
                    if next == b'=' || next.is_ascii_alphanumeric() {
                        return None;
                    }
                }
            }
            return Some((len, Replacement::Str(ENTITIES[i].1)));
        }
    }
    None
}

/// `&#123;` / `&#x7b;` (the `;` optional, as the spec tolerates).
fn decode_numeric(after: &str) -> Option<(usize, Replacement)> {
    let bytes = after.as_bytes();
    let (radix, start) = match bytes.get(1) {
        Some(b'x') | Some(b'X') => (16, 2),
        _ => (10, 1),
    };
    let digits = bytes[start..]
        .iter()
        .take_while(|b| {
            if radix == 16 {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        return None;
    }
    let mut end = start + digits;
    // Saturate instead of overflowing on absurdly long numbers.
    let mut code: u32 = 0;
    for &b in &bytes[start..end] {
        let d = (b as char).to_digit(radix).unwrap_or(0);
        code = code.saturating_mul(radix).saturating_add(d);
    }
    if bytes.get(end) == Some(&b';') {
        end += 1;
    }
    Some((end, Replacement::Char(numeric_char(code))))
}

/// The character a numeric reference stands for, with the spec's fix-ups.
fn numeric_char(code: u32) -> char {
    const C1: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let code = match code {
        0 => 0xFFFD,
        0x80..=0x9F => C1[(code - 0x80) as usize],
        _ => code,
    };
    char::from_u32(code).unwrap_or('\u{FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(ENTITIES.len(), 2231);
    }

    #[test]
    fn named_numeric_and_literal() {
        assert_eq!(decode_attribute("plain"), "plain");
        assert_eq!(decode_attribute("a &amp; b"), "a & b");
        assert_eq!(decode_attribute("caf&eacute;"), "café");
        assert_eq!(decode_attribute("&lt;&gt;&quot;&apos;"), "<>\"'");
        assert_eq!(decode_attribute("&#39;&#x27;&#X41;&#65"), "''AA");
        assert_eq!(
            decode_attribute("&#128;&#0;&#x110000;"),
            "€\u{FFFD}\u{FFFD}"
        );
        assert_eq!(decode_attribute("&nbsp;x"), "\u{a0}x");
        assert_eq!(decode_attribute("AT&T & co &;"), "AT&T & co &;");
        assert_eq!(decode_attribute("&unknown;"), "&unknown;");
        assert_eq!(decode_attribute("trailing &"), "trailing &");
        assert_eq!(decode_attribute("&#;&#x;"), "&#;&#x;");
    }

    #[test]
    fn legacy_names_follow_attribute_rules() {
        // Legacy (no ';') reference decoded when followed by a non-alphanumeric.
        assert_eq!(decode_attribute("&amp b"), "& b");
        assert_eq!(decode_attribute("&copy 2020"), "© 2020");
        // ...but literal when followed by '=' or an alphanumeric (query strings).
        assert_eq!(decode_attribute("?a=1&copy=2"), "?a=1&copy=2");
        assert_eq!(decode_attribute("&notit;"), "&notit;");
        assert_eq!(decode_attribute("&not;it"), "¬it");
        // Longest match wins.
        assert_eq!(decode_attribute("&NotEqualTilde;"), "≂\u{338}");
    }
}
