//! Generated data for the demo, the tests and the benchmarks: one generator
//! of coloured shapes and the alt-texts that describe them, written in every
//! form the project reads.
//!
//! - [`shapes`]: the images (coloured shapes on noisy grey) and their
//!   alt-texts, the part every other module shares;
//! - [`warc`]: a WARC/1.0 writer (one record per gzip member, or plain);
//! - [`web`]: a small website and a crawl of it (`witcurate sample-web`);
//! - [`image_folder`]: held-out images per class for zero-shot evaluation;
//! - [`shards`]: training shards in the shard format (`docs/formats.md`);
//! - [`run`]: a whole run directory with every stage's files, sized at will,
//!   for benchmarking `witcurate stats`;
//! - [`formats`]: the file schemas these write (those of `docs/formats.md`).
//!
//! Every output is a function of the options and a seed: the same options
//! give the same bytes.

#![warn(missing_docs)]

pub mod formats;
pub mod image_folder;
pub mod languages;
pub mod run;
pub mod shapes;
pub mod shards;
pub mod warc;
pub mod web;

use std::path::{Path, PathBuf};

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("encoding a generated image: {0}")]
    Image(String),
    /// A parquet file could not be written.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An output directory holds data generated with other options.
    #[error(
        "{out} holds a sample web generated with other options ({marker}); use another output directory or remove it"
    )]
    OtherOptions {
        /// The output directory.
        out: PathBuf,
        /// Its completion marker.
        marker: PathBuf,
    },
    /// A completion marker is not valid JSON.
    #[error("{path}: not a sample web marker (invalid JSON): {source}")]
    Marker {
        /// The marker file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<atomic_output::AtomicError> for Error {
    fn from(e: atomic_output::AtomicError) -> Self {
        Error::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// Wraps an I/O error with its path.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
