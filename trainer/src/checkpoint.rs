//! Checkpoints: a directory `step-NNNNNNNN/` holding
//! - `model.safetensors`: every variable by name (f32);
//! - `optimizer.safetensors`: AdamW's moments (`exp_avg.NAME`, `exp_avg_sq.NAME`;
//!   absent from weights imported from another tool, see [`save_weights`]);
//! - `tokenizer.json`: the trained tokenizer;
//! - `checkpoint.json`: [`CheckpointMeta`] (model shape, run hyper-parameters,
//!   step, stream position).
//!
//! The directory is written under a temporary name and renamed into place,
//! so a checkpoint either exists complete or not at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, Precision, TrainConfig};
use crate::error::io_err;
use crate::model::Clip;
use crate::optim::AdamW;
use crate::tokenizer::TextTokenizer;
use crate::{Error, Result};

/// Weights file.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimizer state file.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Metadata file.
pub const META_FILE: &str = "checkpoint.json";
/// Version of this layout.
pub const FORMAT_VERSION: u32 = 1;

/// What `checkpoint.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version.
    pub format_version: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// Stream samples consumed (the data position to resume from).
    pub samples_consumed: u64,
    /// Epoch of the stream at that point.
    pub epoch: u64,
    /// Loss of the last step.
    pub loss: Option<f64>,
    /// Model shape.
    pub model: ModelConfig,
    /// Run hyper-parameters.
    pub train: TrainConfig,
}

/// The directory name of the checkpoint after `step` steps.
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:08}")
}

fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(map, path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes a checkpoint under `out` atomically and returns its directory.
pub fn save(
    out: &Path,
    meta: &CheckpointMeta,
    model: &Clip,
    optimizer: &AdamW,
    tokenizer: &TextTokenizer,
) -> Result<PathBuf> {
    let dest = out.join(step_dir_name(meta.step));
    commit_dir(&dest, |tmp| {
        write_model_files(tmp, meta, model, tokenizer)?;
        save_tensors(
            &optimizer.state_map(&model.params),
            &tmp.join(OPTIMIZER_FILE),
        )
    })?;
    Ok(dest)
}

/// Writes a checkpoint without optimizer state (enough for `eval`, not for
/// `train --resume`) as the directory `dest` itself, atomically: weights
/// brought in from another tool.
pub fn save_weights(
    dest: &Path,
    meta: &CheckpointMeta,
    model: &Clip,
    tokenizer: &TextTokenizer,
) -> Result<()> {
    commit_dir(dest, |tmp| write_model_files(tmp, meta, model, tokenizer))
}

fn write_model_files(
    dir: &Path,
    meta: &CheckpointMeta,
    model: &Clip,
    tokenizer: &TextTokenizer,
) -> Result<()> {
    save_tensors(&model.params.to_map(), &dir.join(MODEL_FILE))?;
    tokenizer.save(&dir.join(TOKENIZER_FILE))?;
    let json = serde_json::to_vec_pretty(meta).expect("serialisable");
    let meta_path = dir.join(META_FILE);
    std::fs::write(&meta_path, json).map_err(io_err(&meta_path))
}

/// Makes the directory `dest` atomically: `write` fills a temporary sibling
/// (named as [`atomic_output::temp_path_for`] names it), which then replaces
/// `dest`, so `dest` either exists complete or not at all.
pub(crate) fn commit_dir(dest: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = atomic_output::temp_path_for(dest);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io_err(dest))?;
    }
    std::fs::rename(&tmp, dest).map_err(io_err(dest))
}

/// Removes what a killed run left half-written under `out`: the temporary
/// checkpoint directories of [`save`] and temporary files (both named
/// `.NAME.tmp-HOST-PID`), once their writer is dead; returns how many.
pub fn remove_unfinished(out: &Path) -> Result<usize> {
    Ok(atomic_output::clean_stale_temps(out)?)
}

/// The newest complete checkpoint under a run directory, if any.
pub fn latest(out: &Path) -> Result<Option<PathBuf>> {
    if !out.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(u64, PathBuf)> = None;
    for e in std::fs::read_dir(out).map_err(io_err(out))? {
        let p = e.map_err(io_err(out))?.path();
        let Some(step) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if p.join(META_FILE).is_file() && best.as_ref().is_none_or(|(s, _)| step > *s) {
            best = Some((step, p));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// A checkpoint directory itself, or the newest checkpoint of a run directory.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(META_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    latest(path)?.ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("neither a checkpoint (no {META_FILE}) nor a run directory holding one"),
    })
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Loaded {
    /// Where it was read from.
    pub dir: PathBuf,
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// The model with the saved weights.
    pub model: Clip,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
}

/// Reads the metadata of a checkpoint directory.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let p = dir.join(META_FILE);
    let bytes = std::fs::read(&p).map_err(io_err(&p))?;
    let meta: CheckpointMeta =
        serde_json::from_slice(&bytes).map_err(|error| Error::Json { path: p, error })?;
    if meta.format_version != FORMAT_VERSION {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            message: format!("unsupported format version {}", meta.format_version),
        });
    }
    Ok(meta)
}

fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Loads model, tokenizer and metadata (a run directory means its newest checkpoint).
pub fn load(path: &Path, device: &Device) -> Result<Loaded> {
    load_with_precision(path, device, Precision::F32)
}

/// [`load`], with the model's matrix products in `precision`.
pub fn load_with_precision(path: &Path, device: &Device, precision: Precision) -> Result<Loaded> {
    let dir = resolve(path)?;
    let meta = read_meta(&dir)?;
    let model = Clip::with_precision(&meta.model, device, meta.train.seed, precision)?;
    let weights = load_tensors(&dir.join(MODEL_FILE), device)?;
    model
        .params
        .load_map(&weights)
        .map_err(|e| Error::Checkpoint {
            path: dir.clone(),
            message: e.to_string(),
        })?;
    let tokenizer = TextTokenizer::load(&dir.join(TOKENIZER_FILE), meta.model.context_length)?;
    Ok(Loaded {
        dir,
        meta,
        model,
        tokenizer,
    })
}

/// Restores the optimizer state saved beside the weights.
pub fn load_optimizer(dir: &Path, model: &Clip, optimizer: &mut AdamW, step: u64) -> Result<()> {
    let path = dir.join(OPTIMIZER_FILE);
    let map = load_tensors(&path, model.params.device())?;
    optimizer
        .load_state(&model.params, &map, step)
        .map_err(|e| Error::Checkpoint {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })
}
