//! The dedup stage: near-duplicate images removed after download, and the
//! run decontaminated against evaluation sets, as MetaCLIP and DataComp
//! recommend.
//!
//! One task per shard reads the success rows' `key, uid, sha256, phash`
//! (never the image bytes) into `dedup/_map/task-N.parquet`; the reduce groups
//! every image of the run whose perceptual hashes are within `--max-distance`
//! bits, or whose bytes are identical (sha256), with multi-index hashing and
//! union-find ([`index`]), drops every image within that distance of a
//! reference hash (`--against`, [`mod@reference`]), and writes
//! `dedup/part-N.parquet` for each shard: `key, uid, kept, reason, group`.
//!
//! **Keep rule**: in each group the first image in (shard, key) order that is
//! not contaminated is kept; the others are dropped as `exact_duplicate`
//! (same sha256 as the kept one) or `near_duplicate`. The rule depends only
//! on the shards, so results are byte-identical whatever the task count.
//!
//! Memory: the reduce streams the map outputs instead of loading them
//! ([`reduce`]): about 18 bytes per image for the union-find and the keep
//! rule, plus one pass's band entries, which the number of passes over the
//! hashes keeps within `--reduce-memory` ([`partitioned`]).

pub mod index;
pub mod partitioned;
pub mod reduce;
pub mod reference;
pub mod stage;

pub use stage::{DedupParams, DedupStage};
