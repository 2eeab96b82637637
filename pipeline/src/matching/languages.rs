//! Vocabularies by language, for matching with language identification.
//!
//! A vocabulary directory for a multilingual run holds one vocabulary per
//! language, named by its Wikipedia edition code: `DIR/LANG/queries.txt`
//! (what `vocab build` writes under `DIR/LANG/`) or `DIR/LANG.txt`. The
//! languages are put in code order and their entries numbered one after
//! another, so that every entry of every language has its own id:
//! `first_id + line`. The ids stay `uint32` and `counts.parquet` keeps its
//! columns; `match.json` records each language's range.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{MatchError, Vocab};

/// One language's vocabulary within a multilingual match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangVocab {
    /// The language (Wikipedia edition code, as [`super::lid::identify`] names it).
    pub lang: String,
    /// The vocabulary's `queries.txt` (absolute).
    pub vocab: PathBuf,
    /// xxh3-64 (hex) of the file.
    pub fingerprint: String,
    /// Number of entries.
    pub entries: usize,
    /// Id of its first entry; entry `i` of the file has id `first_id + i`.
    pub first_id: u32,
}

/// Whether `code` can name a language, as Wikipedia editions are named: a
/// first part of 2 or 3 lowercase ASCII letters (or `simple`), then any
/// further parts of 2 to 10 lowercase letters or digits after `-` or `_`
/// (`en`, `als`, `zh-classical`, `bat_smg`). So `queries.txt` beside
/// language files is not taken for a language.
pub fn is_lang_code(code: &str) -> bool {
    let mut parts = code.split(['-', '_']);
    let first = parts.next().unwrap_or("");
    let first_ok = ((2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_lowercase()))
        || first == "simple";
    first_ok
        && parts.all(|p| {
            (2..=10).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The vocabularies of a directory: `(lang, queries.txt)` for every
/// `DIR/LANG/queries.txt` and `DIR/LANG.txt`, in code order. A language given
/// both ways is an error; other files are ignored.
pub fn scan_vocab_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, MatchError> {
    use crate::storage::files;
    if files::kind(dir)
        .map_err(|e| MatchError::io(dir, e))?
        .is_none()
    {
        return Err(MatchError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let name_of = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(String::from);
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for sub in files::list_dirs(dir).map_err(|e| MatchError::io(dir, e))? {
        let q = sub.join("queries.txt");
        if let Some(lang) = name_of(&sub).filter(|l| is_lang_code(l) && files::exists(&q)) {
            found.push((lang, q));
        }
    }
    for path in files::list_files(dir).map_err(|e| MatchError::io(dir, e))? {
        let lang = name_of(&path).and_then(|n| n.strip_suffix(".txt").map(String::from));
        if let Some(lang) = lang.filter(|l| is_lang_code(l)) {
            found.push((lang, path));
        }
    }
    found.sort();
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(MatchError::DuplicateLanguage {
            lang: w[0].0.clone(),
            first: w[0].1.clone(),
            second: w[1].1.clone(),
        });
    }
    if found.is_empty() {
        return Err(MatchError::NoLanguages {
            dir: dir.to_path_buf(),
        });
    }
    Ok(found)
}

/// Numbers the loaded vocabularies one after another (they must be in code
/// order, as [`scan_vocab_dir`] gives them) and describes each.
pub fn number(vocabs: &[(String, Vocab)]) -> Result<Vec<LangVocab>, MatchError> {
    let mut first: u64 = 0;
    let mut out = Vec::with_capacity(vocabs.len());
    for (lang, v) in vocabs {
        if first + v.len() as u64 > u64::from(u32::MAX) {
            return Err(MatchError::VocabTooLarge {
                entries: (first as usize) + v.len(),
                estimated: u64::MAX,
                limit: u64::from(u32::MAX),
            });
        }
        out.push(LangVocab {
            lang: lang.clone(),
            vocab: std::path::absolute(&v.path).unwrap_or_else(|_| v.path.clone()),
            fingerprint: format!("{:016x}", v.fingerprint),
            entries: v.len(),
            first_id: first as u32,
        });
        first += v.len() as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lang_codes() {
        for ok in [
            "en",
            "ja",
            "zh",
            "zh-classical",
            "bat_smg",
            "als",
            "simple",
            "zh-min-nan",
        ] {
            assert!(is_lang_code(ok), "{ok}");
        }
        for bad in ["", "e", "EN", "1a", "queries", "a b", "x/y", "en-", "en-x"] {
            assert!(!is_lang_code(bad), "{bad}");
        }
    }

    #[test]
    fn scans_both_layouts() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("ja")).unwrap();
        fs::write(dir.path().join("ja/queries.txt"), "財布\n").unwrap();
        fs::write(dir.path().join("en.txt"), "dog\n").unwrap();
        fs::write(dir.path().join("README.md"), "x").unwrap();
        let found = scan_vocab_dir(dir.path()).unwrap();
        let langs: Vec<&str> = found.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(langs, ["en", "ja"]);
        fs::write(dir.path().join("ja.txt"), "猫\n").unwrap();
        let e = scan_vocab_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("ja") && e.contains("twice"), "{e}");
    }
}
