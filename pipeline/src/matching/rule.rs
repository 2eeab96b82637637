//! The matching rules: when does a vocabulary entry occur in a text?
//!
//! [`Rule::MetaClip`] is MetaCLIP's `substr_matching`, exactly: the text is
//! padded with a space at both ends, each of `, . ; : ? ! `` gets a space on
//! both sides, tab, CR and LF become spaces, and an entry matches when
//! `" " + entry + " "` occurs in the result, case-sensitively.
//!
//! [`Rule::WordBoundary`] finds the entry itself anywhere in the unmodified
//! text, case-sensitively, and accepts an occurrence when it does not cut a
//! word in two: the character before it (if the entry starts with a word
//! character) and the character after it (if the entry ends with one) must not
//! be word characters. Word characters are Unicode alphanumerics and `_`, the
//! `\w` of regular expressions. So `(dog)`, `dog's`, `dog-friendly` and
//! `"dog"` match `dog`, and `St. Louis` matches `St. Louis`; `dogs` does not.
//!
//! [`Rule::MetaClip2`] is MetaCLIP 2's multilingual rule: the same spaced
//! text, but an entry gets its padding space only on a side whose boundary
//! character is not "CJK or similar" or punctuation
//! ([`super::script::metaclip2_unpadded`]), so entries of languages written
//! without spaces match as substrings. [`Rule::ScriptAware`] is the same with
//! the boundary test by Unicode script, which also covers Hiragana, Katakana
//! and Hangul ([`super::script::script_aware_unpadded`]).

use std::fmt;

/// How a vocabulary entry is found in a text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// MetaCLIP's space-delimited substring rule (the default).
    #[default]
    #[serde(rename = "metaclip")]
    MetaClip,
    /// Unicode-aware word boundaries on the unmodified text.
    WordBoundary,
    /// MetaCLIP 2's multilingual rule: padding only on sides that are not
    /// "CJK or similar" or punctuation.
    #[serde(rename = "metaclip2")]
    MetaClip2,
    /// MetaCLIP 2's rule with the side test by Unicode script (also Hiragana,
    /// Katakana, Hangul).
    ScriptAware,
}

impl Rule {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::MetaClip => "metaclip",
            Rule::WordBoundary => "word-boundary",
            Rule::MetaClip2 => "metaclip2",
            Rule::ScriptAware => "script-aware",
        }
    }

    /// Every rule, in the order of the command line's help.
    pub const ALL: [Rule; 4] = [
        Rule::MetaClip,
        Rule::WordBoundary,
        Rule::MetaClip2,
        Rule::ScriptAware,
    ];

    /// For the rules that match on MetaCLIP's spaced text: whether `entry`
    /// goes without its padding space at the (start, end). `None` for
    /// [`Rule::WordBoundary`], which does not pad.
    pub fn unpadded(self, entry: &str) -> Option<(bool, bool)> {
        match self {
            Rule::MetaClip => Some((false, false)),
            Rule::WordBoundary => None,
            Rule::MetaClip2 => Some(super::script::metaclip2_unpadded(entry)),
            Rule::ScriptAware => Some(super::script::script_aware_unpadded(entry)),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What MetaCLIP's spacing does to each byte: 0 = keep, 1 = wrap in spaces,
/// 2 = replace by a space. Only ASCII bytes are touched, and no byte of a
/// multi-byte UTF-8 sequence is ASCII, so this works on UTF-8 bytes directly.
const SPACING: [u8; 256] = {
    let mut t = [0u8; 256];
    let wrap = b",.;:?!`";
    let mut i = 0;
    while i < wrap.len() {
        t[wrap[i] as usize] = 1;
        i += 1;
    }
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t
};

/// Writes MetaCLIP's spaced form of `text` into `out` (cleared first):
/// `" " + text + " "`, with spaces around `, . ; : ? ! `` and tab/CR/LF
/// turned into spaces. The result is valid UTF-8 when `text` is.
pub fn metaclip_spacing_into(text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len() + text.len() / 4 + 2);
    out.push(b' ');
    for &b in text.as_bytes() {
        match SPACING[b as usize] {
            0 => out.push(b),
            1 => out.extend_from_slice(&[b' ', b, b' ']),
            _ => out.push(b' '),
        }
    }
    out.push(b' ');
}

/// MetaCLIP's spaced form of `text` (see [`metaclip_spacing_into`]).
pub fn metaclip_spacing(text: &str) -> String {
    let mut out = Vec::new();
    metaclip_spacing_into(text, &mut out);
    String::from_utf8(out).expect("spacing only inserts ASCII spaces")
}

/// Whether `c` is a word character for [`Rule::WordBoundary`]: a Unicode
/// alphanumeric or `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the occurrence `text[start..end]` of an entry lies on word
/// boundaries. `entry_starts_word` / `entry_ends_word` say whether the entry's
/// first / last character is a word character (a boundary is only needed on a
/// side where the entry has a word character).
pub fn on_word_boundaries(
    text: &str,
    start: usize,
    end: usize,
    entry_starts_word: bool,
    entry_ends_word: bool,
) -> bool {
    if entry_starts_word {
        if let Some(c) = text[..start].chars().next_back() {
            if is_word_char(c) {
                return false;
            }
        }
    }
    if entry_ends_word {
        if let Some(c) = text[end..].chars().next() {
            if is_word_char(c) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_matches_metaclip() {
        assert_eq!(metaclip_spacing("a dog."), " a dog .  ");
        assert_eq!(metaclip_spacing("x,y\tz\r\n"), " x , y z   ");
        assert_eq!(metaclip_spacing(""), "  ");
        assert_eq!(metaclip_spacing("café`s"), " café ` s ");
    }

    #[test]
    fn word_boundaries() {
        let t = "(dog) dog's dogs";
        assert!(on_word_boundaries(t, 1, 4, true, true));
        assert!(on_word_boundaries(t, 6, 9, true, true));
        assert!(!on_word_boundaries(t, 12, 15, true, true));
        assert!(!on_word_boundaries("édog", 2, 5, true, true));
        assert!(on_word_boundaries("x.y", 1, 2, false, false));
    }
}
