#![allow(dead_code)]
//! Helpers shared by the trainer's integration tests.

use std::path::{Path, PathBuf};

use candle_core::Device;
use synthetic::shards::{self, ShardOptions};
use trainer::train::TrainOptions;
use trainer::{ModelConfig, TrainConfig};

/// Writes synthetic shards under `dir/shards`.
pub fn shards(dir: &Path, shards: usize, rows: usize, seed: u64) -> PathBuf {
    let out = dir.join("shards");
    shards::write_shards(
        &out,
        &ShardOptions {
            shards,
            rows_per_shard: rows,
            min_size: 32,
            max_size: 48,
            row_group_size: 128,
            seed,
        },
    )
    .unwrap();
    out
}

/// A tiny model with a short context (fast tests).
pub fn tiny_model() -> ModelConfig {
    let mut m = ModelConfig::preset("tiny").unwrap();
    m.context_length = 16;
    m.vocab_size = 400;
    m
}

/// Options of a short run.
pub fn options(shards: &Path, out: &Path, train: TrainConfig) -> TrainOptions {
    TrainOptions {
        select: Vec::new(),
        shards: vec![shards.to_path_buf()],
        out: out.to_path_buf(),
        model: tiny_model(),
        train,
        resume: false,
        stop_at: None,
        workers: 2,
        prefetch: 2,
        tokenizer_samples: 100_000,
        device: Device::Cpu,
        precision: trainer::Precision::F32,
        quiet: true,
        max_consecutive_failures: 1000,
        eval: None,
        comm: trainer::distributed::solo(),
    }
}
