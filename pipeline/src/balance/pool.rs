//! What the balance stage balances: the matched pairs before download
//! ([`Matched`], stage `balance`) or the downloaded, deduplicated images
//! after download ([`Downloaded`], stage `balance_downloaded`). One stage
//! implementation serves both; a pool only says where its rows, counts and
//! outputs are.

use std::path::PathBuf;

use arrow_schema::SchemaRef;

use crate::dedup::stage::pool_schema;
use crate::run_dir::RunDir;
use crate::schema::matched_schema;

/// Where a balance stage reads and writes.
pub trait Pool: Send + Sync + 'static {
    /// The stage's name.
    const STAGE: &'static str;
    /// The stage whose outputs are the pool.
    const UPSTREAM: &'static str;
    /// What the input parts are called in messages.
    const WHAT: &'static str;
    /// What one input row is, in messages (`pairs`, `images`).
    const UNIT: &'static str;
    /// The input parts' columns (at least `uid` and `query_ids`); the output
    /// parts have the same.
    fn schema() -> SchemaRef;
    /// The directory of input parts.
    fn input(run: &RunDir) -> PathBuf;
    /// Input part N.
    fn input_part(run: &RunDir, task: usize) -> PathBuf;
    /// Matches per entry over the whole pool.
    fn counts(run: &RunDir) -> PathBuf;
    /// The directory of output parts.
    fn output(run: &RunDir) -> PathBuf;
    /// Output part N: the kept rows of input part N.
    fn output_part(run: &RunDir, task: usize) -> PathBuf;
    /// The directory of per-task kept counts.
    fn kept_counts_parts(run: &RunDir) -> PathBuf;
    /// Per-task kept counts of task N.
    fn kept_counts_part(run: &RunDir, task: usize) -> PathBuf;
    /// Per entry, count before and after (the reduce's table).
    fn counts_table(run: &RunDir) -> PathBuf;
    /// The reduce's summary.
    fn summary(run: &RunDir) -> PathBuf;
}

/// The matched (URL, alt-text) pairs of the match stage: balancing before
/// download, MetaCLIP's published order.
pub struct Matched;

impl Pool for Matched {
    const STAGE: &'static str = "balance";
    const UPSTREAM: &'static str = "match";
    const WHAT: &'static str = "matched";
    const UNIT: &'static str = "pairs";
    fn schema() -> SchemaRef {
        matched_schema()
    }
    fn input(run: &RunDir) -> PathBuf {
        run.matched()
    }
    fn input_part(run: &RunDir, task: usize) -> PathBuf {
        run.matched_part(task)
    }
    fn counts(run: &RunDir) -> PathBuf {
        run.match_counts()
    }
    fn output(run: &RunDir) -> PathBuf {
        run.selected()
    }
    fn output_part(run: &RunDir, task: usize) -> PathBuf {
        run.selected_part(task)
    }
    fn kept_counts_parts(run: &RunDir) -> PathBuf {
        run.balance_counts_parts()
    }
    fn kept_counts_part(run: &RunDir, task: usize) -> PathBuf {
        run.balance_counts_part(task)
    }
    fn counts_table(run: &RunDir) -> PathBuf {
        run.balance_counts()
    }
    fn summary(run: &RunDir) -> PathBuf {
        run.balance_summary()
    }
}

/// The images that were downloaded, kept by dedup and match an entry (one
/// row, hence one alt-text, per image: `pool/` of the dedup stage):
/// balancing after download and deduplication, as MetaCLIP recommends.
pub struct Downloaded;

impl Pool for Downloaded {
    const STAGE: &'static str = "balance_downloaded";
    const UPSTREAM: &'static str = "dedup";
    const WHAT: &'static str = "pool";
    const UNIT: &'static str = "images";
    fn schema() -> SchemaRef {
        pool_schema()
    }
    fn input(run: &RunDir) -> PathBuf {
        run.pool()
    }
    fn input_part(run: &RunDir, task: usize) -> PathBuf {
        run.pool_part(task)
    }
    fn counts(run: &RunDir) -> PathBuf {
        run.pool_counts()
    }
    fn output(run: &RunDir) -> PathBuf {
        run.balanced()
    }
    fn output_part(run: &RunDir, task: usize) -> PathBuf {
        run.balanced_part(task)
    }
    fn kept_counts_parts(run: &RunDir) -> PathBuf {
        run.balanced_counts_parts()
    }
    fn kept_counts_part(run: &RunDir, task: usize) -> PathBuf {
        run.balanced_counts_part(task)
    }
    fn counts_table(run: &RunDir) -> PathBuf {
        run.balanced_counts()
    }
    fn summary(run: &RunDir) -> PathBuf {
        run.balanced_summary()
    }
}
