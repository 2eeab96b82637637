//! The extract stage: (image URL, alt-text) pairs from WARC, WAT and
//! url+caption tables, written as `pairs/part-NNNNN.parquet`, exactly
//! de-duplicated on uid.
//!
//! The stage is one **map task per input file** and one **reduce task per
//! partition** ([`shuffle`]):
//!
//! ```text
//! input 0 ─ map ─ pairs/_map/task-00000.parquet ─┐   (row group per partition)
//! input 1 ─ map ─ pairs/_map/task-00001.parquet ─┼─ reduce p ─ pairs/part-0000p.parquet
//! ...                                            ┘   (sorted by uid, unique)
//! ```
//!
//! The stage runs on the stage runner ([`crate::stage`]): the map tasks are
//! its tasks, the partitions its reduce. Every output is committed
//! atomically and skipped when done, so a killed run resumes; the inputs and
//! options are guarded, and task counters (records, pairs, faults by class)
//! go to `_stats/extract/task-TTTTT.json`.
//!
//! The text rules (entity decoding, whitespace, URL resolution, filters) are
//! shared by WARC and WAT ([`pairs`]), which is what makes them agree.

mod entities;
pub mod html;
pub mod pairs;
pub mod records;
pub mod shuffle;
mod stage;

pub use pairs::{Pair, TextOptions};
pub use stage::{counter, ExtractParams, ExtractStage, InputFormat};

use std::io;
use std::path::{Path, PathBuf};

use crate::sources::SourceError;
use crate::task::TaskError;

/// Errors of the extract stage.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An input could not be listed or opened.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A task-layer error (bad slice, commit failure).
    #[error(transparent)]
    Task(#[from] TaskError),
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A parquet error on a path.
    #[error("{path}: {source}")]
    Parquet {
        /// The path.
        path: PathBuf,
        /// The error.
        source: parquet::errors::ParquetError,
    },
    /// An Arrow error on a path.
    #[error("{path}: {source}")]
    Arrow {
        /// The path.
        path: PathBuf,
        /// The error.
        source: arrow_schema::ArrowError,
    },
    /// A file of this stage that is not as written.
    #[error("{path}: {message}")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Options that do not fit (or do not fit the run directory).
    #[error("{0}")]
    Config(String),
}

impl ExtractError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        ExtractError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        ExtractError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn arrow(path: &Path, source: arrow_schema::ArrowError) -> Self {
        ExtractError::Arrow {
            path: path.to_path_buf(),
            source,
        }
    }
}
