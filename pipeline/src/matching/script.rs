//! Which sides of an entry get a padding space, for the multilingual rules.
//!
//! MetaCLIP 2 pads an entry with a space only on a side whose boundary
//! character is neither "CJK or similar" (fixed code point blocks: CJK
//! ideographs and radicals, Thai, Lao, Myanmar, Khmer, Tibetan) nor
//! punctuation (ASCII punctuation and a list of CJK punctuation marks), so
//! that entries of languages written without spaces match as plain
//! substrings. Its blocks leave out Hiragana, Katakana and Hangul, so a
//! Katakana entry is padded and never matches inside unspaced Japanese:
//! [`metaclip2_unpadded`] reproduces that, [`script_aware_unpadded`] decides
//! by the Unicode `Script_Extensions` property instead, so that every
//! character used in those writing systems (including the Katakana-Hiragana
//! prolonged sound mark `ー`, whose script is Common) leaves its side
//! unpadded.

use unicode_script::{Script, UnicodeScript};

/// The punctuation marks besides ASCII's that MetaCLIP 2 leaves unpadded.
pub const METACLIP2_EXTRA_PUNCTUATION: &[char] = &[
    '，', '。', '、', '；', '：', '？', '！', '“', '”', '‘', '’', '（', '）', '【', '】', '《',
    '》', '〈', '〉', '「', '」', '『', '』', '～', '—',
];

/// MetaCLIP 2's punctuation test: an ASCII punctuation character (Python's
/// `string.punctuation`) or one of [`METACLIP2_EXTRA_PUNCTUATION`].
pub fn is_metaclip2_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || METACLIP2_EXTRA_PUNCTUATION.contains(&c)
}

/// MetaCLIP 2's "CJK or similar" test, code point blocks as in its curation
/// code: CJK Unified Ideographs and extensions A–F, compatibility
/// ideographs, CJK radicals, Kangxi radicals, ideographic description
/// characters; Thai, Lao, Myanmar, Khmer and Tibetan; and
/// [`is_metaclip2_punctuation`].
pub fn is_metaclip2_unspaced(c: char) -> bool {
    let u = c as u32;
    let ranges: [(u32, u32); 16] = [
        (0x4E00, 0x9FFF),
        (0x3400, 0x4DBF),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF),
        (0x2CEB0, 0x2EBEF),
        (0xF900, 0xFAFF),
        (0x2E80, 0x2EFF),
        (0x2F00, 0x2FDF),
        (0x2FF0, 0x2FFF),
        (0x0E00, 0x0E7F),
        (0x0E80, 0x0EFF),
        (0x1000, 0x109F),
        (0x1780, 0x17FF),
        (0x0F00, 0x0FFF),
    ];
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&u)) || is_metaclip2_punctuation(c)
}

/// Scripts whose writing puts no space between words (or, for Hangul,
/// attaches particles to words), for [`script_aware_unpadded`].
pub const UNSPACED_SCRIPTS: &[Script] = &[
    Script::Han,
    Script::Hiragana,
    Script::Katakana,
    Script::Hangul,
    Script::Bopomofo,
    Script::Thai,
    Script::Lao,
    Script::Khmer,
    Script::Myanmar,
    Script::Tibetan,
    Script::Yi,
];

/// The script-aware test: `c`'s `Script_Extensions` name one of
/// [`UNSPACED_SCRIPTS`] (Common and Inherited characters name none), or it is
/// [`is_metaclip2_punctuation`].
pub fn is_script_aware_unspaced(c: char) -> bool {
    if is_metaclip2_punctuation(c) {
        return true;
    }
    let ext = c.script_extension();
    // Common and Inherited characters (spaces, digits, symbols, combining
    // marks used by many scripts) count as containing every script.
    !(ext.is_common() || ext.is_inherited())
        && UNSPACED_SCRIPTS.iter().any(|&s| ext.contains_script(s))
}

/// MetaCLIP 2's padding of `entry`: whether its first and last characters
/// are [`is_metaclip2_unspaced`] (`true` = no padding space on that side).
pub fn metaclip2_unpadded(entry: &str) -> (bool, bool) {
    edges(entry, is_metaclip2_unspaced)
}

/// The script-aware padding of `entry` (see [`is_script_aware_unspaced`]).
pub fn script_aware_unpadded(entry: &str) -> (bool, bool) {
    edges(entry, is_script_aware_unspaced)
}

fn edges(entry: &str, unspaced: fn(char) -> bool) -> (bool, bool) {
    (
        entry.chars().next().is_some_and(unspaced),
        entry.chars().next_back().is_some_and(unspaced),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metaclip2_blocks() {
        assert!(is_metaclip2_unspaced('財'));
        assert!(is_metaclip2_unspaced('ก'));
        assert!(is_metaclip2_unspaced('.'));
        assert!(is_metaclip2_unspaced('」'));
        assert!(!is_metaclip2_unspaced('ヘ'));
        assert!(!is_metaclip2_unspaced('の'));
        assert!(!is_metaclip2_unspaced('한'));
        assert!(!is_metaclip2_unspaced('ー'));
        assert!(!is_metaclip2_unspaced('a'));
        assert!(!is_metaclip2_unspaced('д'));
    }

    #[test]
    fn script_aware() {
        for c in [
            '財', 'ヘ', 'の', 'ー', '한', 'ก', 'ລ', 'ក', 'က', 'ཀ', '.', '」',
        ] {
            assert!(is_script_aware_unspaced(c), "{c}");
        }
        for c in ['a', 'é', 'д', 'α', 'ا', ' ', '1'] {
            assert!(!is_script_aware_unspaced(c), "{c}");
        }
        assert_eq!(metaclip2_unpadded("ヘッドポーター"), (false, false));
        assert_eq!(script_aware_unpadded("ヘッドポーター"), (true, true));
        assert_eq!(metaclip2_unpadded("財布"), (true, true));
        assert_eq!(metaclip2_unpadded("U.S."), (false, true));
    }
}
