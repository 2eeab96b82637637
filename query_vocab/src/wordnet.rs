//! WordNet 3.x synset names, as MetaCLIP derives them.
//!
//! A synset's name is its *first lemma* in the `data.*` file, lower-cased and
//! stripped of the adjective position marker (`(a)`, `(p)`, `(ip)`), which is
//! the lemma part of NLTK's `synset.name()`. MetaCLIP then cuts the name at
//! the first `.` and turns `_` into spaces. Empty results (lemmas that start
//! with `.`, such as `.22_caliber`) are dropped: an empty entry can never be
//! a useful query. On WordNet 3.0 this gives 86,554 distinct names, which
//! with the numbers `0..99` makes MetaCLIP's 86,654.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::error::{Result, VocabError};

/// The data files read, in this order (nouns, verbs, adjectives, adverbs).
pub const DATA_FILES: [&str; 4] = ["data.noun", "data.verb", "data.adj", "data.adv"];

/// What reading a WordNet directory gives.
#[derive(Debug, Clone, Default)]
pub struct WordNetNames {
    /// Distinct names in file order (first occurrence wins).
    pub names: Vec<String>,
    /// Synsets read.
    pub synsets: u64,
    /// Lines that could not be parsed (counted and skipped).
    pub bad_lines: u64,
}

/// Reads the synset names of the WordNet database in `dir`.
///
/// Fails when the directory or one of its four data files is missing; a
/// malformed synset line is logged, counted and skipped.
pub fn read_names(dir: &Path) -> Result<WordNetNames> {
    if !dir.is_dir() {
        return Err(VocabError::WordNet {
            path: dir.to_path_buf(),
            reason: "not found or not a directory (on Debian: apt-get install wordnet-base, \
                     then pass --wordnet /usr/share/wordnet)"
                .into(),
        });
    }
    let mut out = WordNetNames::default();
    let mut seen = HashSet::new();
    for file in DATA_FILES {
        let path = dir.join(file);
        let bytes = fs::read(&path).map_err(|e| VocabError::WordNet {
            path: path.clone(),
            reason: format!("cannot read data file: {e}"),
        })?;
        for (lineno, line) in bytes.split(|&b| b == b'\n').enumerate() {
            // The licence header lines start with two spaces.
            if line.is_empty() || line.starts_with(b"  ") {
                continue;
            }
            match synset_name(line) {
                Some(name) => {
                    out.synsets += 1;
                    if !name.is_empty() && seen.insert(name.clone()) {
                        out.names.push(name);
                    }
                }
                None => {
                    out.bad_lines += 1;
                    log::warn!(
                        "{}:{}: not a WordNet synset line; skipped",
                        path.display(),
                        lineno + 1
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The MetaCLIP name of the synset on one `data.*` line:
/// `offset lex_filenum ss_type w_cnt word lex_id ...`.
pub fn synset_name(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.split(' ');
    let offset = fields.next()?;
    if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let _lex_filenum = fields.next()?;
    let ss_type = fields.next()?;
    if !matches!(ss_type, "n" | "v" | "a" | "s" | "r") {
        return None;
    }
    let _w_cnt = fields.next()?;
    let word = fields.next()?;
    if word.is_empty() {
        return None;
    }
    // Adjective position markers: `word(a)`, `word(p)`, `word(ip)`.
    let word = match word.find('(') {
        Some(i) if word.ends_with(')') => &word[..i],
        _ => word,
    };
    let lemma = word.to_lowercase();
    let cut = lemma.split('.').next().unwrap_or("");
    Some(cut.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_metaclip() {
        let line = b"00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived";
        assert_eq!(synset_name(line).unwrap(), "entity");
        let line = b"03146311 01 a 04 .22_caliber 0 .22-caliber 0 | of a rifle";
        assert_eq!(synset_name(line).unwrap(), "");
        let line = b"00013005 00 s 02 Aboriginal(a) 0 native 0 | characteristic";
        assert_eq!(synset_name(line).unwrap(), "aboriginal");
        let line = b"09000000 15 n 02 St._Louis 0 x 0 | city";
        assert_eq!(synset_name(line).unwrap(), "st");
        let line = b"02000000 29 v 01 take_a_breather 0 000 | rest";
        assert_eq!(synset_name(line).unwrap(), "take a breather");
        assert!(synset_name(b"  1 This software and database").is_none());
        assert!(synset_name(b"garbage").is_none());
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let err = read_names(Path::new("/nonexistent/wordnet")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/wordnet"), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
    }

    #[test]
    fn bad_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        for f in DATA_FILES {
            fs::write(dir.path().join(f), "").unwrap();
        }
        fs::write(
            dir.path().join("data.noun"),
            "  1 licence header\n00001740 03 n 01 entity 0 000 | x\nbroken line\n\
             00001741 03 n 01 Dog 0 000 | x\n00001742 03 n 01 dog 0 000 | x\n",
        )
        .unwrap();
        let names = read_names(dir.path()).unwrap();
        assert_eq!(names.names, vec!["entity", "dog"]);
        assert_eq!(names.synsets, 3);
        assert_eq!(names.bad_lines, 1);
    }
}
