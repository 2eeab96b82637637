//! Word segmentation for languages written without spaces between words
//! (Japanese, Chinese, Thai, Lao, Khmer, Burmese, ...), with ICU4X's word
//! segmenter (`icu_segmenter`, dictionary mode: its compiled-in dictionaries
//! for Chinese and Japanese and for Thai, Lao, Khmer and Burmese; Unicode
//! UAX #29 rules for everything else).
//!
//! Only runs of such scripts are segmented: a token that holds none of their
//! characters (a Latin word inside Japanese text) is left as the
//! whitespace tokenizer cut it, so spaced text is tokenised exactly as
//! without segmentation.

#[cfg(feature = "segmentation")]
use icu_segmenter::options::WordBreakInvariantOptions;
#[cfg(feature = "segmentation")]
use icu_segmenter::{WordSegmenter, WordSegmenterBorrowed};

/// Wikipedia editions whose text is segmented into words: MetaCLIP 2's
/// languages written without spaces (`no_space_languages` of its
/// `build_ngram.py`), by edition code as witcurate writes them.
pub const UNSPACED_LANGUAGES: [&str; 11] = [
    "bo",
    "dz",
    "ja",
    "km",
    "lo",
    "my",
    "ryu",
    "th",
    "zh",
    "zh-classical",
    "zh-yue",
];

/// Whether the edition `lang` is written without spaces (`zh_yue` and
/// `zh-yue` alike).
pub fn is_unspaced(lang: &str) -> bool {
    let lang = lang.replace('_', "-");
    UNSPACED_LANGUAGES.contains(&lang.as_str())
}

/// Whether `c` belongs to a script written without spaces: CJK ideographs
/// (with extensions, compatibility ideographs and radicals), Hiragana,
/// Katakana (with halfwidth forms), Thai, Lao, Tibetan, Myanmar and Khmer.
pub fn is_unspaced_char(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F
        | 0x2E80..=0x2FDF
        | 0x3040..=0x30FF
        | 0x31F0..=0x31FF
        | 0xFF66..=0xFF9F
        | 0x0E00..=0x0EFF
        | 0x0F00..=0x0FFF
        | 0x1000..=0x109F
        | 0x1780..=0x17FF
    )
}

/// A word segmenter (cheap to copy; its data is compiled in). Without the
/// `segmentation` feature it cannot be made ([`Segmenter::try_new`]).
#[derive(Clone, Copy)]
pub struct Segmenter(
    #[cfg(feature = "segmentation")] WordSegmenterBorrowed<'static>,
    #[cfg(not(feature = "segmentation"))] Never,
);

/// Stands for the segmenter of a build without the `segmentation` feature.
#[cfg(not(feature = "segmentation"))]
#[derive(Clone, Copy)]
pub enum Never {}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Segmenter(icu_segmenter dictionary)")
    }
}

impl Segmenter {
    /// The dictionary segmenter, or none in a build without the
    /// `segmentation` feature.
    pub fn try_new() -> Option<Self> {
        #[cfg(feature = "segmentation")]
        return Some(Self(WordSegmenter::new_dictionary(
            WordBreakInvariantOptions::default(),
        )));
        #[cfg(not(feature = "segmentation"))]
        None
    }

    /// Calls `emit(word, adjacent)` for each word-like segment of `text`
    /// (letters, numbers, ideographs, kana; not punctuation or spaces), in
    /// order; `adjacent` is true when it directly follows the previous word,
    /// with no other segment between them.
    pub fn words<'a>(&self, text: &'a str, emit: impl FnMut(&'a str, bool)) {
        #[cfg(feature = "segmentation")]
        self.segment(text, emit);
        #[cfg(not(feature = "segmentation"))]
        {
            let _ = (text, emit);
            match self.0 {}
        }
    }

    #[cfg(feature = "segmentation")]
    fn segment<'a>(&self, text: &'a str, mut emit: impl FnMut(&'a str, bool)) {
        let mut it = self.0.segment_str(text);
        let mut start = match it.next() {
            Some(s) => s,
            None => return,
        };
        let mut adjacent = false;
        while let Some(end) = it.next() {
            if it.is_word_like() {
                emit(&text[start..end], adjacent);
                adjacent = true;
            } else {
                adjacent = false;
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "segmentation")]
    fn words(s: &str) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        Segmenter::try_new()
            .unwrap()
            .words(s, |w, a| v.push((w.to_string(), a)));
        v
    }

    #[cfg(feature = "segmentation")]
    #[test]
    fn segments_japanese_chinese_and_thai() {
        let ja = words("人権の無視及び軽侮が、人類の良心を踏みにじった");
        let ja: Vec<&str> = ja.iter().map(|(w, _)| w.as_str()).collect();
        assert!(ja.contains(&"人権") && ja.contains(&"良心"), "{ja:?}");
        assert!(!ja.contains(&"、"));
        let zh = words("人人生而自由，在尊严和权利上一律平等。");
        let zh: Vec<&str> = zh.iter().map(|(w, _)| w.as_str()).collect();
        assert!(zh.contains(&"自由") && zh.contains(&"权利"), "{zh:?}");
        let th = words("ทุกสองสัปดาห์");
        assert_eq!(th.len(), 3, "{th:?}");
        // Punctuation breaks adjacency.
        let w = words("自由、平等");
        assert_eq!(w, [("自由".into(), false), ("平等".into(), false)]);
    }

    #[cfg(not(feature = "segmentation"))]
    #[test]
    fn without_the_feature_there_is_no_segmenter() {
        assert!(Segmenter::try_new().is_none());
    }

    #[test]
    fn languages_and_scripts() {
        assert!(is_unspaced("ja") && is_unspaced("zh_yue") && is_unspaced("zh-classical"));
        assert!(!is_unspaced("de") && !is_unspaced("ko"));
        for c in ['権', 'の', 'ン', 'ก', 'ສ', 'က', 'ក', 'ཀ'] {
            assert!(is_unspaced_char(c), "{c}");
        }
        for c in ['a', 'é', 'д', '한', '1', '、'] {
            assert!(!is_unspaced_char(c), "{c}");
        }
    }
}
