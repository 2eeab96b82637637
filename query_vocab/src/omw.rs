//! Lemmas of a wordnet in another language, from the Open Multilingual
//! Wordnet's tab files (`wn-data-LANG.tab`, OMW 1.x: lines
//! `SYNSET<TAB>LANG:lemma<TAB>LEMMA`, a `#` header line, other relations
//! such as `LANG:def` ignored). This is what MetaCLIP 2's multilingual
//! WordNet step expects (`wordnet_per_lang.json`: every lemma per language).
//!
//! As MetaCLIP 2 does, a lemma is trimmed, dropped when empty or made of
//! punctuation only, and for Chinese, Japanese and French (`+` joins the
//! parts of some of their multi-word lemmas) its `+` signs are removed.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Result, VocabError};
use crate::wordnet::WordNetNames;

/// OMW's ISO 639-3 wordnet codes and the Wikipedia editions they serve
/// (MetaCLIP 2's `wordnet_to_wiki`).
pub const OMW_TO_WIKI: [(&str, &str); 30] = [
    ("als", "als"),
    ("arb", "ar"),
    ("bul", "bg"),
    ("cat", "ca"),
    ("cmn", "zh"),
    ("dan", "da"),
    ("ell", "el"),
    ("eus", "eu"),
    ("fin", "fi"),
    ("fra", "fr"),
    ("glg", "gl"),
    ("heb", "he"),
    ("hrv", "hr"),
    ("ind", "id"),
    ("isl", "is"),
    ("ita", "it"),
    ("jpn", "ja"),
    ("lit", "lt"),
    ("nld", "nl"),
    ("nno", "nn"),
    ("nob", "no"),
    ("pol", "pl"),
    ("por", "pt"),
    ("ron", "ro"),
    ("slk", "sk"),
    ("slv", "sl"),
    ("spa", "es"),
    ("swe", "sv"),
    ("tha", "th"),
    ("zsm", "ms"),
];

/// The Wikipedia edition of an OMW tab file, from its name
/// (`wn-data-jpn.tab` → `ja`), if it is one of [`OMW_TO_WIKI`].
pub fn edition_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    let code = name.strip_prefix("wn-data-")?.strip_suffix(".tab")?;
    OMW_TO_WIKI
        .iter()
        .find(|(omw, _)| *omw == code)
        .map(|(_, wiki)| *wiki)
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || "，。、；：？¿！“”‘’（）【】《》〈〉「」『』～—".contains(c)
}

/// Reads the lemmas of OMW tab `files` for the edition `lang`, distinct, in
/// file order. A line without three tab-separated fields is counted in
/// `bad_lines`; each `lemma` line counts as one synset sense in `synsets`.
pub fn read_lemmas(files: &[impl AsRef<Path>], lang: &str) -> Result<WordNetNames> {
    let drop_plus = matches!(lang, "zh" | "ja" | "fr");
    let mut out = WordNetNames::default();
    let mut seen = HashSet::new();
    for file in files {
        let path = file.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| VocabError::WordNet {
            path: path.to_path_buf(),
            reason: format!("cannot read OMW tab file: {e}"),
        })?;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(_synset), Some(rel), Some(lemma)) =
                (fields.next(), fields.next(), fields.next())
            else {
                out.bad_lines += 1;
                continue;
            };
            if !rel.ends_with(":lemma") {
                continue;
            }
            out.synsets += 1;
            let mut lemma = lemma.trim().to_string();
            if drop_plus {
                lemma = lemma.replace('+', "");
            }
            if lemma.is_empty() || lemma.chars().all(is_punctuation) {
                continue;
            }
            if seen.insert(lemma.clone()) {
                out.names.push(lemma);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lemmas_of_the_tab_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wn-data-jpn.tab");
        std::fs::write(
            &path,
            "# Japanese\thttp://example/\tlicence\n\
             02084071-n\tjpn:lemma\t犬\n\
             02084071-n\tjpn:def\t0\t飼い慣らされた動物\n\
             02121620-n\tjpn:lemma\t猫\n\
             02121620-n\tjpn:lemma\t犬\n\
             03001627-n\tjpn:lemma\t椅+子\n\
             00000000-n\tjpn:lemma\t「」\n\
             broken line\n",
        )
        .unwrap();
        assert_eq!(edition_of(&path), Some("ja"));
        assert_eq!(edition_of(Path::new("wn-data-xyz.tab")), None);
        let names = read_lemmas(&[&path], "ja").unwrap();
        assert_eq!(names.names, ["犬", "猫", "椅子"]);
        assert_eq!(names.synsets, 5);
        assert_eq!(names.bad_lines, 1);
        let kept = read_lemmas(&[&path], "de").unwrap();
        assert!(kept.names.contains(&"椅+子".to_string()));
    }

    /// Real data: the first 499 lemmas of the Chinese Open Wordnet as OMW
    /// ships it (`tests/data/omw/`, with its licence).
    #[test]
    fn reads_the_chinese_open_wordnet() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/omw/wn-data-cmn.tab");
        assert_eq!(edition_of(&path), Some("zh"));
        let zh = read_lemmas(&[&path], "zh").unwrap();
        assert_eq!((zh.synsets, zh.bad_lines), (499, 0));
        // 444 distinct lemmas; without their `+`, two of them are one.
        assert_eq!(zh.names.len(), 443);
        assert!(zh.names.iter().all(|n| !n.contains('+')));
        for lemma in ["50周年的", "Rh阳性的", "1/10公升", "䁖䁖"] {
            assert!(zh.names.iter().any(|n| n == lemma), "{lemma}");
        }
        let kept = read_lemmas(&[&path], "de").unwrap();
        assert_eq!(kept.names.len(), 444);
        assert!(kept.names.iter().any(|n| n == "50周年+的"));
    }
}
