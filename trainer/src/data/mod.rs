//! The data path: shards → seeded shuffle buffer → decode and augment on a
//! worker pool → batches, prepared ahead of the training step.
//!
//! - [`shards`]: lists shard files and reads one parquet row group at a time
//!   (only `caption`, `status` and `jpg`; success rows only);
//! - [`stream`]: the endless, seeded sample stream (row-group order shuffled
//!   per epoch, then a shuffle buffer);
//! - [`augment`]: JPEG (or any `image` format) decoding, random resized crop,
//!   resize and CLIP normalisation;
//! - [`loader`]: the background thread and decoding pool that turn the stream
//!   into ready batches.
//!
//! Determinism: the order depends only on the seed and the shards; the
//! augmentation of sample `n` of the stream uses a generator derived from
//! `(seed, n)`, so results do not depend on the number of decoding threads.
//! Resuming after `k` consumed samples replays the stream without decoding.

pub mod augment;
pub mod loader;
pub mod shards;
pub mod stream;

pub use loader::{Batch, Loader, LoaderOptions};
pub use shards::{Sample, ShardSet};
pub use stream::SampleStream;
