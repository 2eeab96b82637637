//! The linear probe on image folders: the frozen image embeddings of two
//! ImageFolder trees (train, test), cached on disk per checkpoint and image
//! set, then [`crate::probe::linear_probe`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::eval::{embed_images, image_files, load_classes};
use crate::model::Clip;
use crate::probe::{linear_probe, Features, ProbeReport};
use crate::{Error, Result};

/// Where the probe's images are and where their features are kept.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// ImageFolder tree the probe is fitted on.
    pub train: PathBuf,
    /// ImageFolder tree it is scored on (class sub-folders among `train`'s).
    pub test: PathBuf,
    /// Directory of cached features (none: embed every time).
    pub cache: Option<PathBuf>,
}

/// The name of a checkpoint in the feature cache's keys: its location and step.
pub fn model_id(checkpoint: &Path, step: u64) -> String {
    format!("{}@{step}", checkpoint.display())
}

/// Embeds both trees (or reads their cached features) and runs the probe.
/// `model_id` names the checkpoint in the cache key (its location and step).
pub fn probe_folders(
    model: &Clip,
    model_id: &str,
    opts: &ProbeOptions,
    batch: usize,
) -> Result<ProbeReport> {
    let classes: Vec<String> = load_classes(&opts.train, None)?
        .into_iter()
        .map(|c| c.folder)
        .collect();
    let train = folder_features(model, model_id, &opts.train, &classes, batch, opts)?;
    let test = folder_features(model, model_id, &opts.test, &classes, batch, opts)?;
    linear_probe(&train, &test, classes.len())
}

/// The features of every decodable image of `root`'s class sub-folders,
/// labelled by the folder's index in `classes`.
fn folder_features(
    model: &Clip,
    model_id: &str,
    root: &Path,
    classes: &[String],
    batch: usize,
    opts: &ProbeOptions,
) -> Result<Features> {
    let folders: Vec<String> = load_classes(root, None)?
        .into_iter()
        .map(|c| c.folder)
        .collect();
    let mut files = Vec::new();
    for f in &folders {
        let Some(label) = classes.iter().position(|c| c == f) else {
            return Err(Error::Config(format!(
                "{}: class folder {f:?} is not among the training classes of {}",
                root.display(),
                opts.train.display()
            )));
        };
        for p in image_files(&root.join(f))? {
            files.push((p, label));
        }
    }
    let cache_file = match &opts.cache {
        Some(dir) => Some(dir.join(format!(
            "{}.safetensors",
            cache_key(model_id, root, &files)?
        ))),
        None => None,
    };
    if let Some(f) = cache_file.as_ref().filter(|f| f.is_file()) {
        match read_cached(f) {
            Ok(features) => {
                log::info!("probe: features of {} from {}", root.display(), f.display());
                return Ok(features);
            }
            Err(e) => log::warn!(
                "{}: unreadable feature cache ({e}); embedding again",
                f.display()
            ),
        }
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut dim = 0;
    for chunk in files.chunks(batch.max(1) * 8) {
        let bytes = chunk
            .iter()
            .map(|(p, _)| storage::files::read(p).map_err(io_err(p)))
            .collect::<Result<Vec<_>>>()?;
        let Ok((emb, ok)) = embed_images(model, &bytes, batch) else {
            log::warn!(
                "{}: a batch without a decodable image; skipped",
                root.display()
            );
            continue;
        };
        dim = emb.dim(1)?;
        values.extend(emb.flatten_all()?.to_vec1::<f32>()?);
        for ((p, label), good) in chunk.iter().zip(ok) {
            if good {
                labels.push(*label);
            } else {
                log::warn!("{}: cannot decode image; skipped", p.display());
            }
        }
    }
    if labels.is_empty() {
        return Err(Error::Config(format!(
            "{}: no decodable image for the linear probe",
            root.display()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::Config(
            "the model gives non-finite (NaN or infinite) image embeddings".into(),
        ));
    }
    let features = Features {
        dim,
        values,
        labels,
    };
    if let Some(f) = &cache_file {
        write_cached(f, &features)?;
    }
    Ok(features)
}

/// A digest of the model and of every image (path, size, modification time).
fn cache_key(model_id: &str, root: &Path, files: &[(PathBuf, usize)]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(model_id.as_bytes());
    h.update([0]);
    h.update(root.to_string_lossy().as_bytes());
    for (p, label) in files {
        h.update([0]);
        h.update(p.to_string_lossy().as_bytes());
        // Objects are keyed by name (they are written once); files also by
        // size and modification time.
        if !storage::files::is_object(p) {
            let m = std::fs::metadata(p).map_err(io_err(p))?;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.update(format!("\t{}\t{mtime}", m.len()).as_bytes());
        }
        h.update(format!("\t{label}").as_bytes());
    }
    Ok(hex::encode(&h.finalize()[..12]))
}

fn read_cached(path: &Path) -> Result<Features> {
    let t = candle_core::safetensors::load(path, &Device::Cpu)?;
    let (Some(f), Some(l)) = (t.get("features"), t.get("labels")) else {
        return Err(Error::Config("features or labels missing".into()));
    };
    Ok(Features {
        dim: f.dim(1)?,
        values: f.flatten_all()?.to_vec1::<f32>()?,
        labels: l
            .to_vec1::<u32>()?
            .into_iter()
            .map(|v| v as usize)
            .collect(),
    })
}

fn write_cached(path: &Path, f: &Features) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let labels: Vec<u32> = f.labels.iter().map(|&l| l as u32).collect();
    let n = labels.len();
    let map = HashMap::from([
        (
            "features".to_string(),
            Tensor::from_vec(f.values.clone(), (n, f.dim), &Device::Cpu)?,
        ),
        (
            "labels".to_string(),
            Tensor::from_vec(labels, n, &Device::Cpu)?,
        ),
    ]);
    atomic_output::commit_atomically(path, |tmp| {
        candle_core::safetensors::save(&map, tmp)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    })
}
