//! `witcurate crawl dedup`: its flags, and the stage they make.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pipeline::dedup::DedupStage;

/// Flags of the dedup stage (reads RUN/shards/, writes RUN/dedup/).
#[derive(Debug, Clone, Args)]
pub struct DedupOptions {
    /// Images whose perceptual hashes differ in at most this many of 64 bits
    /// are near-duplicates (identical bytes always are).
    #[arg(long, default_value_t = 4)]
    pub max_distance: u32,
    /// Drop every image near one of these (repeatable): a folder of images
    /// (an evaluation set) or a hashes table from `witcurate hash-images`.
    #[arg(long, value_name = "DIR_OR_TABLE")]
    pub against: Vec<PathBuf>,
    /// Memory the reduce's band entries may take in one pass over the hashes
    /// (more images take more passes; the decisions are the same).
    #[arg(long, default_value = "1GiB", value_parser = units::parse_size)]
    pub reduce_memory: u64,
}

impl DedupOptions {
    /// The stage these flags describe.
    pub fn stage(&self) -> Result<DedupStage> {
        DedupStage::with_reduce_memory(self.max_distance, &self.against, self.reduce_memory)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
