//! An open_clip state dict as a witcurate checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde_json::Value;

use super::config::{self, OpenClipShape, TextPool};
use super::names::{open_clip_name, TextPrefix};
use super::{check_out_dir, interop_err, TOKENIZER_FILE};
use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::error::io_err;
use crate::model::Clip;
use crate::tokenizer::TextTokenizer;
use crate::{Error, ModelConfig, Result, TrainConfig};

/// The files of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// open_clip's state dict as `.safetensors`.
    pub weights: PathBuf,
    /// Its config: `open_clip_config.json`, or a bare model config as in
    /// open_clip's `model_configs/`.
    pub config: PathBuf,
    /// The tokenizer in the `tokenizers` format (default: `tokenizer.json`
    /// beside the weights).
    pub tokenizer: Option<PathBuf>,
    /// The checkpoint directory to write.
    pub out: PathBuf,
}

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The model shape.
    pub model: ModelConfig,
    /// Tensors read.
    pub tensors: usize,
}

/// Reads the open_clip config at `path` as a witcurate model shape.
pub fn read_config(path: &Path) -> Result<OpenClipShape> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|error| Error::Json {
        path: path.to_path_buf(),
        error,
    })?;
    config::from_open_clip(&v).map_err(|m| interop_err(path, m))
}

/// The tokenizer of an import, checked against the model: its ids fit the
/// token table, and open_clip's pooling finds its end-of-text token.
fn import_tokenizer(path: &Path, shape: &OpenClipShape) -> Result<TextTokenizer> {
    let tok = TextTokenizer::load(path, shape.model.context_length)?;
    let bad = |m: String| Err(interop_err(path, m));
    if tok.max_id() as usize >= shape.model.vocab_size {
        return bad(format!(
            "id {} is beyond the model's {} token rows (text_cfg.vocab_size)",
            tok.max_id(),
            shape.model.vocab_size
        ));
    }
    match shape.pool {
        TextPool::Argmax if tok.eot_id() != tok.max_id() => bad(format!(
            "the end-of-text token has id {}, not the highest ({}): open_clip's argmax \
             pooling would not pool at it, so this is not the model's tokenizer",
            tok.eot_id(),
            tok.max_id()
        )),
        TextPool::Eos(id) if tok.eot_id() != id => bad(format!(
            "the end-of-text token has id {}, the model pools at id {id} (text_cfg.eos_id)",
            tok.eot_id()
        )),
        _ => Ok(tok),
    }
}

/// Converts an open_clip state dict into a witcurate checkpoint directory.
pub fn import(opts: &ImportOptions) -> Result<ImportSummary> {
    check_out_dir(&opts.out, checkpoint::META_FILE)?;
    let shape = read_config(&opts.config)?;
    let tok_path = match &opts.tokenizer {
        Some(p) => p.clone(),
        None => {
            let beside = opts
                .weights
                .parent()
                .unwrap_or(Path::new("."))
                .join(TOKENIZER_FILE);
            if !beside.is_file() {
                return Err(interop_err(
                    &opts.weights,
                    format!(
                        "no {TOKENIZER_FILE} beside the weights; pass --tokenizer (for \
                         OpenAI's CLIP, the tokenizer.json of openai/clip-vit-base-patch32 \
                         on the Hugging Face hub)"
                    ),
                ));
            }
            beside
        }
    };
    let tokenizer = import_tokenizer(&tok_path, &shape)?;
    let c = &shape.model;
    let w = &opts.weights;
    let mut state = candle_core::safetensors::load(w, &Device::Cpu)
        .map_err(|e| interop_err(w, e.to_string()))?;
    let prefix = if shape.custom_text {
        TextPrefix::Text
    } else {
        TextPrefix::TopLevel
    };
    let model = Clip::new(c, &Device::Cpu, 0)?;
    let mut ours = HashMap::new();
    for p in model.params.iter() {
        let (name, layout) = open_clip_name(&p.name, c.patch_size, prefix).ok_or_else(|| {
            interop_err(
                w,
                format!("witcurate variable {:?} has no open_clip name", p.name),
            )
        })?;
        let t = state.remove(&name).ok_or_else(|| {
            interop_err(
                w,
                format!("no tensor {name:?} (a ViT CLIP as the config describes has one)"),
            )
        })?;
        let mut t = t.to_dtype(DType::F32)?;
        let want = layout.open_clip_shape(p.var.dims());
        if name == "logit_scale" && t.elem_count() == 1 {
            t = t.reshape(())?;
        }
        if t.dims() != want.as_slice() {
            return Err(interop_err(
                w,
                format!(
                    "tensor {name:?} has shape {:?}; the config ({}) makes it {want:?}",
                    t.dims(),
                    opts.config.display()
                ),
            ));
        }
        ours.insert(p.name.clone(), layout.from_open_clip(&t)?);
    }
    if !state.is_empty() {
        let mut left: Vec<&String> = state.keys().collect();
        left.sort();
        let shown: Vec<&str> = left.iter().take(5).map(|s| s.as_str()).collect();
        return Err(interop_err(
            w,
            format!(
                "{} tensors have no counterpart in witcurate's CLIP ({}{}): the model has \
                 parts witcurate cannot represent",
                left.len(),
                shown.join(", "),
                if left.len() > 5 { ", …" } else { "" }
            ),
        ));
    }
    model.params.load_map(&ours)?;
    let meta = CheckpointMeta {
        format_version: FORMAT_VERSION,
        step: 0,
        samples_consumed: 0,
        epoch: 0,
        loss: None,
        model: c.clone(),
        train: TrainConfig::default(),
    };
    checkpoint::save_weights(&opts.out, &meta, &model, &tokenizer)?;
    Ok(ImportSummary {
        dir: opts.out.clone(),
        model: c.clone(),
        tensors: ours.len(),
    })
}
