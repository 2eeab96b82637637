//! Loading the vocabulary (`vocab/queries.txt`: one entry per line, line
//! number = entry id) with checks that turn bad files into clear errors.

use std::path::{Path, PathBuf};

use super::MatchError;

/// The vocabulary entries, indexed by entry id, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    /// The `queries.txt` the entries were read from.
    pub path: PathBuf,
    /// Entry `i` is line `i` (0-based).
    pub entries: Vec<String>,
    /// xxh3-64 of the file's bytes, to tell vocabularies apart in reports.
    pub fingerprint: u64,
}

/// Resolves `--vocab`: a vocabulary directory (holding `queries.txt`) or the
/// file itself.
pub fn queries_path(vocab: &Path) -> PathBuf {
    if matches!(
        crate::storage::files::kind(vocab),
        Ok(Some(crate::storage::files::Kind::Dir))
    ) {
        vocab.join("queries.txt")
    } else {
        vocab.to_path_buf()
    }
}

impl Vocab {
    /// Reads `queries.txt` (or the `queries.txt` inside a directory).
    ///
    /// Errors, each naming the file and (where it applies) the 1-based line:
    /// a missing file, invalid UTF-8, no entries at all, an empty line (an
    /// empty entry would match every double space), and a carriage return
    /// (CRLF line endings), which no text can ever match.
    pub fn load(vocab: &Path) -> Result<Self, MatchError> {
        let path = queries_path(vocab);
        let bytes = crate::storage::files::read(&path).map_err(|e| MatchError::io(&path, e))?;
        let entries = Self::parse(&path, &bytes)?;
        Ok(Self {
            fingerprint: xxhash_rust::xxh3::xxh3_64(&bytes),
            path,
            entries,
        })
    }

    /// Parses the bytes of a `queries.txt`; `path` is only used in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<String>, MatchError> {
        let bad = |line: usize, reason: &str| MatchError::BadEntry {
            path: path.to_path_buf(),
            line,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            bad(line, "not valid UTF-8")
        })?;
        let body = text.strip_suffix('\n').unwrap_or(text);
        if body.is_empty() {
            return Err(MatchError::EmptyVocab {
                path: path.to_path_buf(),
            });
        }
        let mut entries = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            if line.is_empty() {
                return Err(bad(i + 1, "empty line (an empty entry is not allowed)"));
            }
            if line.contains('\r') {
                return Err(bad(
                    i + 1,
                    "entry contains a carriage return (CRLF line endings?); \
                     entries are one per line, separated by LF",
                ));
            }
            entries.push(line.to_string());
        }
        Ok(entries)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries (never true for a loaded vocabulary).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Vec<String>, MatchError> {
        Vocab::parse(Path::new("q.txt"), s)
    }

    #[test]
    fn parses_lines() {
        assert_eq!(parse(b"a\nb c\n").unwrap(), vec!["a", "b c"]);
        assert_eq!(parse(b"a\nb").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(parse(b""), Err(MatchError::EmptyVocab { .. })));
        assert!(matches!(parse(b"\n"), Err(MatchError::EmptyVocab { .. })));
        let e = parse(b"a\n\nb\n").unwrap_err().to_string();
        assert!(
            e.contains("q.txt") && e.contains("line 2") && e.contains("empty"),
            "{e}"
        );
        let e = parse(b"a\r\nb\r\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("carriage return"), "{e}");
        let e = parse(b"a\nb\xff\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
    }
}
