//! The run directory: the one place that knows every path of a crawl run.
//!
//! ```text
//! RUN/
//!   _stages/STAGE/params.json          parameters the outputs are made with (the guard)
//!   _stages/STAGE/job.json             every setting, for executors (`crawl run-task`)
//!   _stats/STAGE/task-N.json          one record per completed task: counters, seconds
//!   _stages/STAGE/reduce-started.json  which task records the running reduce summarises
//!   _stages/STAGE/reduce.json          the reduce's record
//!   _stages/STAGE/complete.json        written last: the stage is complete
//!   pairs/_map/task-N.parquet          extract: one map output per input
//!   pairs/part-P.parquet               extract: unique pairs, partition P
//!   matched/part-N.parquet             match: pairs with their entry ids
//!   counts/part-N.parquet, counts.parquet, match.json
//!   selected/part-N.parquet            balance
//!   balance_counts/part-N.parquet, balance_counts.parquet, balance.json
//!   shards/NNNNN.parquet|tar, NNNNN_stats.json
//!   dedup/part-N.parquet               dedup: which images of shard N are kept
//!   pool/part-N.parquet, pool_counts.parquet
//!                                      dedup: the kept, matched images of shard N
//!                                      (the pool of balancing after download)
//!   balanced/part-N.parquet            balance_downloaded: the images of shard N
//!                                      in the final dataset
//!   balanced_counts/part-N.parquet, balanced_counts.parquet, balanced.json
//!   slurm/STAGE/                       Slurm scripts and logs (local disk
//!                                      for a run on object storage)
//!   stats/                             the statistics report
//! ```

use std::path::{Path, PathBuf};

/// The conventional name of a task's output part: `part-00042.parquet`.
pub fn part_name(task: usize, extension: &str) -> String {
    format!("part-{task:05}.{extension}")
}

/// A crawl run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created): a local path, or
    /// an object URL (`s3://bucket/run`), whose files the stages then read
    /// and write through [`crate::storage::files`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    // --- stage bookkeeping -------------------------------------------------

    /// `RUN/_stages/`.
    pub fn stages(&self) -> PathBuf {
        self.root.join("_stages")
    }
    /// `RUN/_stages/STAGE/`.
    pub fn stage(&self, stage: &str) -> PathBuf {
        self.stages().join(stage)
    }
    /// `RUN/_stages/STAGE/params.json`: the guarded parameters.
    pub fn params(&self, stage: &str) -> PathBuf {
        self.stage(stage).join("params.json")
    }
    /// `RUN/_stages/STAGE/job.json`: every setting of the stage, for executors.
    pub fn job(&self, stage: &str) -> PathBuf {
        self.stage(stage).join("job.json")
    }
    /// `RUN/_stats/STAGE/`: the stage's task records (the per-task counters
    /// of DESIGN.md's contract).
    pub fn task_records(&self, stage: &str) -> PathBuf {
        self.root.join("_stats").join(stage)
    }
    /// `RUN/_stats/STAGE/task-N.json`.
    pub fn task_record(&self, stage: &str, task: usize) -> PathBuf {
        self.task_records(stage)
            .join(format!("task-{task:05}.json"))
    }
    /// `RUN/_stages/STAGE/reduce-started.json`.
    pub fn reduce_started(&self, stage: &str) -> PathBuf {
        self.stage(stage).join("reduce-started.json")
    }
    /// `RUN/_stages/STAGE/reduce.json`.
    pub fn reduce_record(&self, stage: &str) -> PathBuf {
        self.stage(stage).join("reduce.json")
    }
    /// `RUN/_stages/STAGE/complete.json`.
    pub fn completion(&self, stage: &str) -> PathBuf {
        self.stage(stage).join("complete.json")
    }
    /// `RUN/slurm/STAGE/`: scripts and logs of the Slurm executor. Slurm
    /// writes its logs to local (or shared) disks only, so for a run on
    /// object storage they go to `slurm/BUCKET/KEY/STAGE/` under the current
    /// directory instead.
    pub fn slurm(&self, stage: &str) -> PathBuf {
        match crate::storage::files::object_url(&self.root) {
            None => self.root.join("slurm").join(stage),
            Some(url) => std::path::absolute("slurm")
                .unwrap_or_else(|_| PathBuf::from("slurm"))
                .join(&url.bucket)
                .join(&url.key)
                .join(stage),
        }
    }

    // --- extract -----------------------------------------------------------

    /// `RUN/pairs/`.
    pub fn pairs(&self) -> PathBuf {
        self.root.join("pairs")
    }
    /// `RUN/pairs/part-P.parquet`.
    pub fn pairs_part(&self, partition: usize) -> PathBuf {
        self.pairs().join(part_name(partition, "parquet"))
    }
    /// `RUN/pairs/_map/`: map outputs (one per input).
    pub fn pairs_map(&self) -> PathBuf {
        self.pairs().join("_map")
    }
    /// `RUN/pairs/_map/task-N.parquet`.
    pub fn pairs_map_task(&self, task: usize) -> PathBuf {
        self.pairs_map().join(format!("task-{task:05}.parquet"))
    }
    /// `RUN/_stages/extract/partitions/`: per-partition records of the reduce.
    pub fn extract_partition_records(&self) -> PathBuf {
        self.stage("extract").join("partitions")
    }

    // --- match -------------------------------------------------------------

    /// `RUN/matched/`.
    pub fn matched(&self) -> PathBuf {
        self.root.join("matched")
    }
    /// `RUN/matched/part-N.parquet`.
    pub fn matched_part(&self, task: usize) -> PathBuf {
        self.matched().join(part_name(task, "parquet"))
    }
    /// `RUN/counts/`: matches per entry, per task.
    pub fn match_counts_parts(&self) -> PathBuf {
        self.root.join("counts")
    }
    /// `RUN/counts/part-N.parquet`.
    pub fn match_counts_part(&self, task: usize) -> PathBuf {
        self.match_counts_parts().join(part_name(task, "parquet"))
    }
    /// `RUN/counts.parquet`: matches per entry over the whole run.
    pub fn match_counts(&self) -> PathBuf {
        self.root.join("counts.parquet")
    }
    /// `RUN/match.json`: the match stage's summary.
    pub fn match_summary(&self) -> PathBuf {
        self.root.join("match.json")
    }

    // --- balance -----------------------------------------------------------

    /// `RUN/selected/`.
    pub fn selected(&self) -> PathBuf {
        self.root.join("selected")
    }
    /// `RUN/selected/part-N.parquet`.
    pub fn selected_part(&self, task: usize) -> PathBuf {
        self.selected().join(part_name(task, "parquet"))
    }
    /// `RUN/balance_counts/`: kept pairs per entry, per task.
    pub fn balance_counts_parts(&self) -> PathBuf {
        self.root.join("balance_counts")
    }
    /// `RUN/balance_counts/part-N.parquet`.
    pub fn balance_counts_part(&self, task: usize) -> PathBuf {
        self.balance_counts_parts().join(part_name(task, "parquet"))
    }
    /// `RUN/balance_counts.parquet`: per entry, count before and after.
    pub fn balance_counts(&self) -> PathBuf {
        self.root.join("balance_counts.parquet")
    }
    /// `RUN/balance.json`: the balance stage's summary.
    pub fn balance_summary(&self) -> PathBuf {
        self.root.join("balance.json")
    }

    // --- download ----------------------------------------------------------

    /// `RUN/shards/`.
    pub fn shards(&self) -> PathBuf {
        self.root.join("shards")
    }

    // --- dedup -------------------------------------------------------------

    /// `RUN/dedup/`: per shard, which images are kept.
    pub fn dedup(&self) -> PathBuf {
        self.root.join("dedup")
    }
    /// `RUN/dedup/part-N.parquet`: the decisions for shard N.
    pub fn dedup_part(&self, shard: usize) -> PathBuf {
        self.dedup().join(part_name(shard, "parquet"))
    }
    /// `RUN/dedup/_map/`: the hashes read from each shard.
    pub fn dedup_map(&self) -> PathBuf {
        self.dedup().join("_map")
    }
    /// `RUN/dedup/_map/task-N.parquet`.
    pub fn dedup_map_task(&self, shard: usize) -> PathBuf {
        self.dedup_map().join(format!("task-{shard:05}.parquet"))
    }
    /// `RUN/pool/`: per shard, the kept images that match an entry (`key,
    /// uid, query_ids`), the pool of balancing after download.
    pub fn pool(&self) -> PathBuf {
        self.root.join("pool")
    }
    /// `RUN/pool/part-N.parquet`: the pool rows of shard N.
    pub fn pool_part(&self, shard: usize) -> PathBuf {
        self.pool().join(part_name(shard, "parquet"))
    }
    /// `RUN/pool_counts.parquet`: matches per entry over the pool.
    pub fn pool_counts(&self) -> PathBuf {
        self.root.join("pool_counts.parquet")
    }

    // --- balance after download ---------------------------------------------

    /// `RUN/balanced/`: per shard, the images of the final dataset.
    pub fn balanced(&self) -> PathBuf {
        self.root.join("balanced")
    }
    /// `RUN/balanced/part-N.parquet`: the kept pool rows of shard N.
    pub fn balanced_part(&self, shard: usize) -> PathBuf {
        self.balanced().join(part_name(shard, "parquet"))
    }
    /// `RUN/balanced_counts/`: kept images per entry, per task.
    pub fn balanced_counts_parts(&self) -> PathBuf {
        self.root.join("balanced_counts")
    }
    /// `RUN/balanced_counts/part-N.parquet`.
    pub fn balanced_counts_part(&self, shard: usize) -> PathBuf {
        self.balanced_counts_parts()
            .join(part_name(shard, "parquet"))
    }
    /// `RUN/balanced_counts.parquet`: per entry, count before and after.
    pub fn balanced_counts(&self) -> PathBuf {
        self.root.join("balanced_counts.parquet")
    }
    /// `RUN/balanced.json`: the summary of balancing after download.
    pub fn balanced_summary(&self) -> PathBuf {
        self.root.join("balanced.json")
    }

    // --- stats -------------------------------------------------------------

    /// `RUN/stats/`: the statistics report.
    pub fn stats(&self) -> PathBuf {
        self.root.join("stats")
    }
}
