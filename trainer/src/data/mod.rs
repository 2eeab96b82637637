//! The data path: shards → seeded shuffle buffer → decode and augment on a
//! worker pool → batches, prepared ahead of the training step.
//!
//! - [`select`]: which files `--shards` names (directories, files, glob and
//!   brace patterns);
//! - [`shards`]: reads one parquet row group at a time (only `caption`,
//!   `status` and `jpg`; success rows only) or streams a webdataset tar
//!   ([`tar`] reads the archive, [`webdataset`] groups its members into
//!   samples); with several ranks the images are read later, only those of
//!   the samples a rank decodes ([`shards::Images::Defer`]);
//! - [`counted`]: the bytes read from the shard files, images apart;
//! - [`stream`]: the endless, seeded sample stream (part order shuffled per
//!   epoch, then a shuffle buffer);
//! - [`augment`]: JPEG (or any `image` format) decoding, random resized crop,
//!   resize and CLIP normalisation;
//! - [`loader`]: the background thread and decoding pool that turn the stream
//!   into ready batches, giving up after a bounded number of unusable samples
//!   in a row;
//! - [`throttle`]: rate-limited, counted warnings (the first few of each kind
//!   are shown, all are counted and summed up at the end).
//!
//! Determinism: the order depends only on the seed and the shards; the
//! augmentation of sample `n` of the stream uses a generator derived from
//! `(seed, n)`, so results do not depend on the number of decoding threads.
//! Resuming after `k` consumed samples replays the stream without decoding.

pub mod augment;
pub mod counted;
pub mod loader;
pub mod select;
pub mod shards;
pub mod stream;
pub mod tar;
pub mod throttle;
pub mod webdataset;

pub use counted::ReadStats;
pub use loader::{Batch, Loader, LoaderOptions, DEFAULT_MAX_CONSECUTIVE_FAILURES};
pub use select::ShardFormat;
pub use shards::{ImageAt, Images, PartSamples, Sample, ShardPart, ShardSet};
pub use stream::SampleStream;
