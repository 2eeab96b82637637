//! Object storage and remote inputs: one layer under the crawl stages and
//! the trainer.
//!
//! - [`url`]: `s3://bucket/key`, `gs://bucket/key` and `az://container/key`
//!   URLs ([`ObjectUrl`]).
//! - [`store`]: the store of a bucket, built once per bucket by the
//!   `object_store` crate from the usual environment (`AWS_*`,
//!   `GOOGLE_*`, `AZURE_*`: credentials, region, a custom endpoint for
//!   S3-compatible stores, instance metadata); listing a prefix or a glob.
//! - [`files`]: the files of a run directory, local or objects, behind one
//!   set of functions (whole-or-nothing writes, conditional creation,
//!   ranged reads).
//! - [`ranged`]: an open run file ([`ranged::RunFile`]), read by ranged GETs
//!   when it is an object (parquet's `ChunkReader`, and a plain reader).
//! - [`resumable`]: a blocking, bounded-memory reader of an object or an
//!   http(s) URL that survives a dropped connection: it asks again for the
//!   bytes not yet received (a Range request from the last byte), pinned to
//!   the same version of the object (its ETag), with backoff, and fails the
//!   input only when the retries are spent.
//!
//! See `docs/storage.md`.

pub mod files;
pub mod ranged;
pub mod resumable;
pub mod runtime;
pub mod store;
pub mod url;

pub use resumable::{open_object, open_url, ResumableReader, RetryPolicy};
pub use url::ObjectUrl;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Not an object URL of a supported scheme.
    #[error("{url}: {message}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The store refused or failed a request.
    #[error("{url}: {message}")]
    Request {
        /// The object or prefix.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Nothing at the URL.
    #[error("{0}: no such object or prefix")]
    NotFound(String),
}
