//! The bundled CLIP trainer: reads shards (parquet, or webdataset tars),
//! trains a CLIP model with the paper's recipe and evaluates it zero-shot.
//!
//! The crate is organised as the training loop reads:
//! - [`data`]: shard selection (directories, globs, brace patterns), shard
//!   reading (parquet row groups, success rows only; webdataset tars,
//!   streamed), the seeded shuffle buffer, JPEG decoding and augmentation on a
//!   worker pool ahead of the step, bounded retries and throttled warnings
//!   for bad data;
//! - [`tokenizer`]: the byte-level BPE tokenizer trained on the captions;
//! - [`model`]: the CLIP model (ViT image tower, causal text tower) written
//!   with candle's differentiable tensor ops, and the symmetric InfoNCE loss;
//! - [`optim`]: AdamW with decoupled weight decay, warmup + cosine schedule and
//!   gradient clipping, with state that checkpoints exactly;
//! - [`step`]: the gradient of one step, over one batch or accumulated over
//!   micro-batches with the big batch's negatives (open_clip's scheme);
//! - [`checkpoint`]: safetensors + JSON checkpoints that resume bit for bit;
//! - [`distributed`]: data-parallel training over MPI ranks, with the
//!   single-process step's result;
//! - [`train`] and [`eval`]: the two jobs;
//! - [`interop`]: export to and import from open_clip.
//!
//! The tests train on the coloured shapes of the `synthetic` crate.
//!
//! Everything random (initialisation, data order, augmentation) derives from
//! one seed through [`rng::Rng`], so the same inputs and seed give the same
//! weights whatever the number of decoding threads.

#![warn(missing_docs)]

pub mod captioned;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distributed;
pub mod error;
pub mod eval;
pub mod interop;
pub mod labelled;
pub mod mirror;
pub mod model;
pub mod optim;
pub mod probe;
pub mod probe_images;
pub mod prompts;
pub mod rng;
pub mod step;
pub mod suite;
pub mod tokenizer;
pub mod train;

pub use config::{Activation, ModelConfig, Precision, TrainConfig};
pub use error::{Error, Result};

/// The CPU math threads used when neither `--compute-threads` nor
/// `CANDLE_NUM_THREADS` says otherwise: every core but one, which is left to
/// the image-decoding workers and whatever else runs. candle's CPU kernels
/// synchronise their threads with spinning barriers, so a thread that loses
/// its core stalls every operation: on 2 cores, two math threads were ~15%
/// faster than one on an idle machine, but 2-3x slower with another job
/// running beside them.
pub fn default_compute_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// Sets the number of threads candle's CPU kernels use. candle reads it once,
/// at its first CPU operation, so call this before any tensor is made. An
/// explicit `threads` wins; without it a `CANDLE_NUM_THREADS` already in the
/// environment is kept, else [`default_compute_threads`] applies. Returns the
/// count in effect.
///
/// In candle 0.11 this count sizes the pool of its element-wise kernels,
/// whose threads meet at spinning barriers. Matrix products (and the fused
/// kernels of [`model::fused`]) run on rayon instead, sized by
/// `RAYON_NUM_THREADS` or the core count; rayon's idle threads sleep, so
/// they cost nothing when another job takes the cores, and are left alone.
pub fn configure_compute_threads(threads: Option<usize>) -> Result<usize> {
    const VAR: &str = "CANDLE_NUM_THREADS";
    let from_env = std::env::var(VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let n = match (threads, from_env) {
        (Some(0), _) => return Err(Error::Config("--compute-threads must be at least 1".into())),
        (Some(n), _) => n,
        (None, Some(n)) => n,
        (None, None) => default_compute_threads(),
    };
    // candle has no API for its thread count; it reads this variable. The
    // command line calls this while no other thread reads the environment.
    std::env::set_var(VAR, n.to_string());
    Ok(n)
}

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
