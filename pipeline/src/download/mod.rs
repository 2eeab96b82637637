//! The download stage: `selected/` pairs (or any url+caption table) become
//! image shards, `shards/NNNNN.parquet` + `shards/NNNNN_stats.json`.
//!
//! It reads as its steps, one module each:
//! [`reader`] (samples in input order, cut into shards) →
//! [`fetch`] (HTTP with deadlines, retries, redirect and address checks;
//! [`dns`] is its caching, address-filtering resolver) →
//! [`resize`] (header checks, decode; [`geometry`] says which size,
//! [`resample`] computes the pixels, [`encode`] writes JPEG, PNG or WebP) →
//! [`writer`] (parquet or webdataset shards, stats). [`job`] runs them:
//! requests on a tokio runtime, pixels on the rayon pool, one writer thread.
//!
//! The shard is the unit of work: sample `i` of the input goes to shard
//! `i / shard_size` with key `{shard:05}{i % shard_size:04}` (for 10,000
//! samples per shard), so a rerun or another task slice computes the same
//! shards; a shard whose record exists (see [`crate::stage`]) is skipped, and a shard
//! interrupted mid-way is redone from the start, so after a crash and a
//! rerun every sample appears exactly once.
//!
//! Every sample ends as a row: `status` is `success` or a
//! [`status::FailureClass`], with `error_message` saying what went wrong.

pub mod blur;
pub mod budget;
pub mod color;
pub mod dns;
pub mod encode;
pub mod error;
pub mod fetch;
pub mod geometry;
pub mod hash;
pub mod job;
pub mod reader;
pub mod resample;
pub mod resize;
pub mod stage;
pub mod status;
pub mod writer;

pub use encode::EncodeFormat;
pub use error::DownloadError;
pub use fetch::FetchConfig;
pub use hash::{HashAlgo, VerifyHash};
pub use job::{DownloadConfig, DownloadSummary};
pub use reader::InputSpec;
pub use resample::Interpolation;
pub use resize::{ImageConfig, ResizeMode};
pub use stage::DownloadStage;
pub use writer::OutputFormat;
