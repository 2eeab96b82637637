//! The linear probe on labelled image sets: the frozen image embeddings of
//! two sets (train, test: ImageFolder trees, tables or bundled sets), cached on disk per checkpoint and image
//! set, then [`crate::probe::linear_probe`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::eval::embed_images;
use crate::labelled::{LabelledImages, TableColumns};
use crate::model::Clip;
use crate::probe::{linear_probe, Features, ProbeReport};
use crate::{Error, Result};

/// Where the probe's images are and where their features are kept.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Labelled images the probe is fitted on (an ImageFolder tree, a table
    /// or a bundled set, see [`crate::labelled`]).
    pub train: PathBuf,
    /// Labelled images it is scored on (classes among `train`'s).
    pub test: PathBuf,
    /// A table's image and label columns.
    pub columns: TableColumns,
    /// Directory of cached features (none: embed every time).
    pub cache: Option<PathBuf>,
}

/// The name of a checkpoint in the feature cache's keys: its checkpoint
/// directory (a run directory means its newest checkpoint; a local one by
/// its canonical path), its step, and when its weights were written, so that other weights written to
/// the same place (a checkpoint replaced by `witcurate import`, a run
/// deleted and trained again) never read the old features.
pub fn model_id(checkpoint: &Path, step: u64) -> String {
    // A run directory and its newest checkpoint are one model: named by the
    // checkpoint directory itself (local ones by their canonical path).
    let resolved = crate::checkpoint::resolve(checkpoint).ok();
    let name = resolved
        .as_ref()
        .and_then(|d| d.canonicalize().ok())
        .unwrap_or_else(|| checkpoint.to_path_buf());
    let written = resolved
        .and_then(|dir| std::fs::metadata(dir.join(crate::checkpoint::MODEL_FILE)).ok())
        .map_or(0, |m| crate::labelled::modified_nanos(&m));
    format!("{}@{step}@{written}", name.display())
}

/// Embeds both sets (or reads their cached features) and runs the probe.
/// `model_id` names the checkpoint in the cache key (its location and step).
pub fn probe_folders(
    model: &Clip,
    model_id: &str,
    opts: &ProbeOptions,
    batch: usize,
) -> Result<ProbeReport> {
    let train = LabelledImages::open(&opts.train, &opts.columns, None)?;
    let mut test = LabelledImages::open(&opts.test, &opts.columns, None)?;
    test.relabel(train.class_ids(), &opts.train)?;
    let classes = train.class_ids().len();
    let train = set_features(model, model_id, &train, batch, opts)?;
    let test = set_features(model, model_id, &test, batch, opts)?;
    linear_probe(&train, &test, classes)
}

/// The features of every decodable image of `set`, labelled by its class.
fn set_features(
    model: &Clip,
    model_id: &str,
    set: &LabelledImages,
    batch: usize,
    opts: &ProbeOptions,
) -> Result<Features> {
    let root = set.location();
    let cache_file = match &opts.cache {
        Some(dir) => Some(dir.join(format!("{}.safetensors", cache_key(model_id, set)?))),
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
    set.for_each_chunk(batch.max(1) * 8, |chunk| {
        let bytes: Vec<&[u8]> = chunk.iter().map(|i| i.bytes.as_slice()).collect();
        let Ok((emb, ok)) = embed_images(model, &bytes, batch) else {
            log::warn!(
                "{}: a batch without a decodable image; skipped",
                root.display()
            );
            return Ok(());
        };
        dim = emb.dim(1)?;
        values.extend(emb.flatten_all()?.to_vec1::<f32>()?);
        for (img, good) in chunk.iter().zip(ok) {
            if good {
                labels.push(img.label);
            } else {
                log::warn!("{}: cannot decode image; skipped", img.name);
            }
        }
        Ok(())
    })?;
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

/// A digest of the model and of the image set (see
/// [`LabelledImages::fingerprint`]), its labels numbered as the probe
/// numbers them.
fn cache_key(model_id: &str, set: &LabelledImages) -> Result<String> {
    let mut h = Sha256::new();
    h.update(model_id.as_bytes());
    h.update([0]);
    h.update(set.fingerprint()?.as_bytes());
    for c in set.class_ids() {
        h.update([0]);
        h.update(c.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_weights_change_the_model_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::checkpoint::META_FILE), b"{}").unwrap();
        let weights = dir.path().join(crate::checkpoint::MODEL_FILE);
        std::fs::write(&weights, b"x").unwrap();
        let before = model_id(dir.path(), 0);
        assert_eq!(model_id(dir.path(), 0), before);
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&weights)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_ne!(model_id(dir.path(), 0), before);
        assert_ne!(model_id(dir.path(), 1), model_id(dir.path(), 0));
    }

    #[test]
    fn a_run_directory_and_its_newest_checkpoint_are_one_model() {
        let run = tempfile::tempdir().unwrap();
        for step in ["step-00000002", "step-00000010"] {
            let dir = run.path().join(step);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(crate::checkpoint::META_FILE), b"{}").unwrap();
            std::fs::write(dir.join(crate::checkpoint::MODEL_FILE), b"x").unwrap();
        }
        let newest = run.path().join("step-00000010");
        assert_eq!(model_id(run.path(), 10), model_id(&newest, 10));
        let relative = newest.join("..").join("step-00000010");
        assert_eq!(model_id(&relative, 10), model_id(&newest, 10));
        let older = run.path().join("step-00000002");
        assert_ne!(model_id(&older, 2), model_id(&newest, 10));
    }
}
