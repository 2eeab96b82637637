//! The match stage: which vocabulary entries occur in each alt-text.
//!
//! One task per `pairs/part-NNNNN.parquet` writes
//! `matched/part-NNNNN.parquet` (the pairs with at least one match, plus
//! `query_ids: list<uint32>`, ascending) and `counts/part-NNNNN.parquet`
//! (`id: uint32, count: uint64`, entries with a match only). When every task's
//! counts exist, a reduce sums them into `counts.parquet` and writes
//! `match.json` (parameters and totals).
//!
//! Matching runs one Aho-Corasick automaton ([`aho_corasick`], contiguous
//! NFA) over the whole vocabulary with overlapping search, so each text costs
//! one pass over its bytes whatever the vocabulary size. The default
//! [`Rule::MetaClip`] reproduces MetaCLIP's `substr_matching` exactly;
//! [`Rule::WordBoundary`] is an alternative (see [`rule`]).
//!
//! ```
//! use pipeline::matching::{Matcher, Rule};
//! let vocab: Vec<String> = ["dog", "hot dog", "St. Louis"].map(String::from).into();
//! let m = Matcher::new(&vocab, Rule::MetaClip, u64::MAX).unwrap();
//! assert_eq!(m.find("A hot dog, in St. Louis."), vec![0, 1]);
//! let m = Matcher::new(&vocab, Rule::WordBoundary, u64::MAX).unwrap();
//! assert_eq!(m.find("(dog) in St. Louis."), vec![0, 2]);
//! ```

use std::path::PathBuf;

pub mod languages;
pub mod lid;
pub mod matcher;
mod matchers;
pub mod rule;
pub mod script;
pub mod stage;
pub mod tokens;
pub mod vocab;

pub use crate::parts::PartsError;
pub use matcher::{estimate_memory, Matcher, Scratch};
pub use rule::Rule;
pub use stage::{MatchParams, MatchStage, MatchSummary};
pub use vocab::Vocab;

use crate::task::TaskError;

/// Formats a byte count for people: `1.5 GiB` (see [`units::format_bytes`]).
pub fn human_bytes(n: u64) -> String {
    units::format_bytes(n)
}

/// Errors of the match stage.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The vocabulary file has no entries.
    #[error("{path}: the vocabulary is empty (expected one entry per line)")]
    EmptyVocab {
        /// The vocabulary file.
        path: PathBuf,
    },
    /// A line of the vocabulary file is not a valid entry.
    #[error("{path}: line {line}: {reason}")]
    BadEntry {
        /// The vocabulary file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The automaton would need more memory than allowed.
    #[error(
        "a vocabulary of {entries} entries needs about {} to build its automaton, \
         over the limit of {} (raise --max-vocab-memory, or split the vocabulary)",
        human_bytes(*estimated), human_bytes(*limit)
    )]
    VocabTooLarge {
        /// Number of entries.
        entries: usize,
        /// Estimated peak bytes.
        estimated: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A language has two vocabularies in a vocabulary directory.
    #[error("language {lang} is given twice: {} and {}", first.display(), second.display())]
    DuplicateLanguage {
        /// The language code.
        lang: String,
        /// One vocabulary file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A vocabulary directory without any language's vocabulary.
    #[error(
        "{}: no vocabularies by language (expected LANG/queries.txt or LANG.txt, \
         LANG a Wikipedia language code such as en, ja, zh)",
        dir.display()
    )]
    NoLanguages {
        /// The directory.
        dir: PathBuf,
    },
    /// The automaton could not be built.
    #[error("building the vocabulary automaton: {0}")]
    Build(#[from] aho_corasick::BuildError),
    /// No input parts.
    #[error("{dir}: no part-*.parquet files to read (run `witcurate crawl extract` first)")]
    NoInput {
        /// The directory searched.
        dir: PathBuf,
    },
    /// Reading or writing a parquet part failed.
    #[error(transparent)]
    Parts(#[from] PartsError),
    /// The task layer failed.
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl MatchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MatchError::Io {
            path: path.into(),
            source,
        }
    }
}
