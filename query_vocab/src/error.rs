//! Errors of the vocabulary builder. Every error names the file (and, where it
//! makes sense, the position) it is about.

use std::io;
use std::path::PathBuf;

/// Everything that can stop a vocabulary build.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The WordNet database directory is missing or lacks its data files.
    #[error("WordNet directory {path}: {reason}")]
    WordNet {
        /// The directory (or data file) involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bzip2 input is corrupt or ends before its last stream does.
    #[error("{path}: bad bzip2 data in the stream starting at compressed byte {offset}: {reason}")]
    Bzip2 {
        /// The dump file.
        path: PathBuf,
        /// Compressed byte offset of the stream that failed.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A dump whose structure is not a MediaWiki XML export.
    #[error("{path}: not a MediaWiki XML export at decoded byte {offset}: {reason}")]
    NotMediaWiki {
        /// The dump file.
        path: PathBuf,
        /// Decoded byte offset where the problem was seen.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A pageviews input that cannot be read at all.
    #[error("{path}: {reason}")]
    Pageviews {
        /// The pageviews file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad option value.
    #[error("invalid option: {0}")]
    Config(String),
    /// The outputs in the directory were built from other parameters or
    /// inputs than the ones given now.
    #[error("{path}: the vocabulary here was built with other options ({detail}); rerun with --force to rebuild it, or choose another --out")]
    OptionsChanged {
        /// The existing `vocab.json`.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// Writing the parquet output failed.
    #[error("{path}: writing parquet: {source}")]
    Parquet {
        /// The output file.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// A spill file that cannot be read back (disk fault or a bug).
    #[error("{path}: corrupt spill file: {reason}")]
    Spill {
        /// The spill file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<atomic_output::AtomicError> for VocabError {
    fn from(e: atomic_output::AtomicError) -> Self {
        VocabError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl VocabError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        VocabError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, VocabError>;
