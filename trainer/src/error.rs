//! The crate's error type.

use std::path::PathBuf;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (part of the message, so not also a `source()` that
        /// `{:#}` would print a second time).
        error: std::io::Error,
    },
    /// A parquet file is unreadable or lacks a needed column.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be trained, loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An image could not be decoded or written.
    #[error("{path}: {message}")]
    Image {
        /// The image file (or the shard and row it came from).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint is missing a file or does not match the run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Bad options.
    #[error("{0}")]
    Config(String),
    /// Another tool's model files (weights, config, tokenizer) do not fit
    /// witcurate's model, or a witcurate model does not fit the other tool.
    #[error("{}: {message}", path.display())]
    Interop {
        /// The file (or checkpoint) concerned.
        path: PathBuf,
        /// What is wrong, naming the key or part.
        message: String,
    },
    /// A shard directory holds no shard file.
    #[error("{}: no shard files (*.parquet or *.tar) in this directory", .0.display())]
    NoShardFiles(PathBuf),
    /// The shards hold no usable sample.
    #[error("no successful samples with a caption and an image in {0}")]
    NoSamples(String),
    /// Too many samples in a row could not be used.
    #[error(
        "{count} samples in a row could not be used (the last: {last}); giving up: \
         are the shards' images readable? (--max-consecutive-failures raises the limit)"
    )]
    TooManyFailures {
        /// Unusable samples in a row.
        count: u64,
        /// Where the last one came from and what was wrong with it.
        last: String,
    },
    /// A collective operation of data-parallel training failed, or the
    /// ranks disagree.
    #[error("distributed training: {0}")]
    Distributed(String),
    /// A JSON file could not be read or written.
    #[error("{}: {error}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause (part of the message).
        error: serde_json::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<atomic_output::AtomicError> for Error {
    fn from(e: atomic_output::AtomicError) -> Self {
        Error::Io {
            path: e.path,
            error: e.source,
        }
    }
}

/// Adds the path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |error| Error::Io { path, error }
}
