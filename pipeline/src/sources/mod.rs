//! Readers for what the crawl job is fed: where inputs live ([`input`]: local
//! paths, directories, globs, http(s) URLs, path lists), how bytes are decoded
//! ([`gzip`]: multi-member gzip that survives corrupt members), and the record
//! formats ([`warc`] for WARC and WAT files, [`wat`] for the WAT metadata
//! JSON, [`table`] for url+caption tables).
//!
//! Every reader streams: memory is bounded by the largest record, never by
//! the file. Bad records are reported as values (with a class name that the
//! stage counts) so that one bad record never stops a file.

pub mod gzip;
pub mod input;
pub mod table;
pub mod warc;
pub mod wat;

use std::io;
use std::path::PathBuf;

/// Errors that stop reading one input (a missing file, a failed download, an
/// unreadable table). Damage inside a file is reported record by record
/// instead (see [`warc::Fault`]).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An I/O error on a local path.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An input that names nothing.
    #[error("input {0:?} not found (no such file, directory or glob match)")]
    NotFound(String),
    /// A bad glob pattern.
    #[error("bad glob pattern {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A failed http(s) request.
    #[error("{url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A table that cannot be read.
    #[error("{input}: {message}")]
    Table {
        /// The input's name.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// An I/O error while streaming a named input.
    #[error("{input}: {source}")]
    Read {
        /// The input's name.
        input: String,
        /// The underlying error.
        source: io::Error,
    },
}
