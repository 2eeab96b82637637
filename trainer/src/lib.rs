//! The bundled CLIP trainer: reads `shards/*.parquet`, trains a CLIP model with
//! the paper's recipe and evaluates it zero-shot.
//!
//! The crate is organised as the training loop reads:
//! - [`data`]: shard reading (parquet row groups, success rows only), the seeded
//!   shuffle buffer, JPEG decoding and augmentation on a worker pool ahead of
//!   the step;
//! - [`tokenizer`]: the byte-level BPE tokenizer trained on the captions;
//! - [`model`]: the CLIP model (ViT image tower, causal text tower) written
//!   with candle's differentiable tensor ops, and the symmetric InfoNCE loss;
//! - [`optim`]: AdamW with decoupled weight decay, warmup + cosine schedule and
//!   gradient clipping, with state that checkpoints exactly;
//! - [`checkpoint`]: safetensors + JSON checkpoints that resume bit for bit;
//! - [`train`] and [`eval`]: the two jobs;
//! - [`synthetic`]: a generated dataset (coloured shapes) for tests and demos.
//!
//! Everything random (initialisation, data order, augmentation) derives from
//! one seed through [`rng::Rng`], so the same inputs and seed give the same
//! weights whatever the number of decoding threads.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod model;
pub mod optim;
pub mod rng;
pub mod synthetic;
pub mod tokenizer;
pub mod train;

pub use config::{ModelConfig, TrainConfig};
pub use error::{Error, Result};

/// Picks the compute device from a name: `cpu`, `cuda` or `cuda:N`.
pub fn device(name: &str) -> Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        "cuda" => Ok(candle_core::Device::new_cuda(0)?),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(candle_core::Device::new_cuda(n)?),
            _ => Err(Error::Config(format!(
                "unknown device {other:?} (expected cpu, cuda or cuda:N)"
            ))),
        },
    }
}
