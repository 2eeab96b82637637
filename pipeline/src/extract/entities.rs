//! Decoding of HTML character references in attribute values, following the
//! WHATWG tokenizer rules for the attribute-value state: named references
//! (legacy names without `;` accepted unless followed by `=` or an
//! alphanumeric), decimal and hexadecimal numeric references, and the
//! windows-1252 remapping of C1 code points. The `htmlize` crate does the
//! work, with the WHATWG table (`entities.json`) built into a perfect hash
//! map at compile time.

use std::borrow::Cow;

/// Decodes the character references in an attribute value. Returns the input
/// unchanged (borrowed) when it holds no reference.
pub fn decode_attribute(value: &str) -> Cow<'_, str> {
    htmlize::unescape_attribute(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_numeric_and_literal() {
        assert!(matches!(decode_attribute("plain"), Cow::Borrowed(_)));
        assert!(matches!(decode_attribute("AT&T"), Cow::Borrowed(_)));
        assert_eq!(decode_attribute("plain"), "plain");
        assert_eq!(decode_attribute("a &amp; b"), "a & b");
        assert_eq!(decode_attribute("caf&eacute;"), "café");
        assert_eq!(decode_attribute("&lt;&gt;&quot;&apos;"), "<>\"'");
        assert_eq!(decode_attribute("&#39;&#x27;&#X41;&#65"), "''AA");
        assert_eq!(
            decode_attribute("&#128;&#0;&#x110000;"),
            "€\u{FFFD}\u{FFFD}"
        );
        assert_eq!(
            decode_attribute("&#xD800;&#99999999999;"),
            "\u{FFFD}\u{FFFD}"
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
        // Longest match wins; two-code-point replacements.
        assert_eq!(decode_attribute("&NotEqualTilde;"), "≂\u{338}");
        assert_eq!(decode_attribute("&CounterClockwiseContourIntegral;"), "∳");
    }
}
