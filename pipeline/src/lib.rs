//! The crawl-and-filter job.
//!
//! Every stage is a set of independent [`task`]s (one per input partition) that
//! read files and write files, plus at most one small reduce. A task writes its
//! outputs under a temporary name and renames them into place when complete; a
//! task whose outputs exist is skipped. That one rule gives resume after a
//! crash and lets any executor (threads on one machine, or a cluster
//! scheduler) run the tasks.
//!
//! Stages and their outputs (see `docs/formats.md`):
//! extract → `pairs/`, match → `matched/` + `counts/` + `counts.parquet`,
//! balance → `selected/`, download → `shards/`.

#![warn(missing_docs)]

pub mod balance;
pub mod counts;
pub mod dedup;
pub mod download;
pub mod executor;
pub mod extract;
pub mod matching;
pub mod parts;
pub mod phash;
pub mod run_dir;
pub mod schema;
pub mod selection;
pub mod sources;
pub mod splice;
pub mod stage;
pub mod stages;
pub mod stats;
pub mod storage;
pub mod task;
