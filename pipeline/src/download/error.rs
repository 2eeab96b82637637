//! Errors that stop a download job (bad input files, unwritable outputs).
//! Failures of single samples are rows, not errors: see [`super::status`].

use std::path::PathBuf;

use crate::task::TaskError;

/// A job-level error.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No input parts were found.
    #[error("no input: {0}")]
    NoInput(String),
    /// An input file cannot be read as the expected table.
    #[error("{path}: {message}")]
    BadInput {
        /// The input file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An output could not be written.
    #[error("{path}: {message}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A bad setting.
    #[error("{0}")]
    Config(String),
    /// The task layer failed (I/O on a named path).
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl DownloadError {
    /// A bad-input error on `path`.
    pub fn bad_input(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        DownloadError::BadInput {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// A write error on `path`.
    pub fn write(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        DownloadError::Write {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
