//! open_clip (`open_clip_torch`) models: export a witcurate checkpoint as a
//! directory open_clip loads, and import an open_clip ViT CLIP as a
//! witcurate checkpoint.
//!
//! An export directory holds
//! - [`WEIGHTS_FILE`]: the state dict of open_clip's `CLIP`, by its names
//!   ([`names`]);
//! - [`CONFIG_FILE`]: `{"model_cfg": …, "preprocess_cfg": …}` ([`config`]),
//!   the layout of models on the Hugging Face hub, so that
//!   `open_clip.create_model_and_transforms("local-dir:DIR")` builds the
//!   model and its preprocessing;
//! - [`TOKENIZER_FILE`]: the tokenizer in the `tokenizers` format, with the
//!   end-of-text token moved to the highest id ([`super::token_order`]) as
//!   the token table is, and `<|startoftext|> … <|endoftext|>` as its
//!   post-processor;
//! - [`TOKENIZER_CONFIG_FILE`]: what Hugging Face's `AutoTokenizer` needs
//!   besides, so that `open_clip.get_tokenizer("local-dir:DIR")` (its
//!   `HFTokenizer`, named by `text_cfg.hf_tokenizer_name`) encodes captions
//!   to witcurate's ids.
//!
//! An import reads such a state dict (`.safetensors`), its config and a
//! `tokenizer.json`, and writes a checkpoint directory that `witcurate eval`
//! reads (without optimizer state).

pub mod config;
pub mod names;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde_json::Value;

use self::config::{OpenClipShape, TextPool};
use self::names::{open_clip_name, TextPrefix};
use super::token_order::EotLast;
use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::error::io_err;
use crate::model::Clip;
use crate::tokenizer::TextTokenizer;
use crate::{Error, ModelConfig, Result, TrainConfig};

/// The exported weights (the file name open_clip looks for first in a
/// directory).
pub const WEIGHTS_FILE: &str = "open_clip_model.safetensors";
/// The exported model and preprocessing config.
pub const CONFIG_FILE: &str = "open_clip_config.json";
/// The exported tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The exported tokenizer's Hugging Face settings.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The directory written.
    pub dir: PathBuf,
    /// Tensors in the state dict.
    pub tensors: usize,
    /// The model shape.
    pub model: ModelConfig,
    /// open_clip's built-in config of the same shape, if any.
    pub builtin: Option<&'static str>,
    /// The end-of-text id in the witcurate tokenizer …
    pub eot_before: u32,
    /// … and in the exported one.
    pub eot_after: u32,
}

fn interop_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Interop {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Refuses to replace a directory that holds something other than a
/// previous output (one holding `marker`).
fn check_out_dir(out: &Path, marker: &str) -> Result<()> {
    let non_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(io_err(out))?
            .next()
            .is_some();
    if (non_empty && !out.join(marker).is_file()) || (out.exists() && !out.is_dir()) {
        return Err(interop_err(
            out,
            format!("exists and is not an earlier output (no {marker}); choose a new --out"),
        ));
    }
    Ok(())
}

/// Exports the checkpoint at `checkpoint` (a step directory, or a run
/// directory meaning its newest checkpoint) to the directory `out`.
pub fn export(checkpoint: &Path, out: &Path) -> Result<ExportSummary> {
    let loaded = checkpoint::load(checkpoint, &Device::Cpu)?;
    export_model(&loaded.model, &loaded.tokenizer, out)
}

/// Exports `model` and `tokenizer` to the directory `out` (replaced
/// atomically when it holds an earlier export).
pub fn export_model(model: &Clip, tokenizer: &TextTokenizer, out: &Path) -> Result<ExportSummary> {
    check_out_dir(out, CONFIG_FILE)?;
    let c = &model.config;
    if tokenizer.max_id() as usize >= c.vocab_size {
        return Err(interop_err(
            out,
            format!(
                "the tokenizer has id {} but the token table only {} rows",
                tokenizer.max_id(),
                c.vocab_size
            ),
        ));
    }
    let swap = EotLast::new(tokenizer.eot_id(), c.vocab_size);
    let mut state = HashMap::new();
    for p in model.params.iter() {
        let (name, layout) = open_clip_name(&p.name, c.patch_size, TextPrefix::TopLevel)
            .ok_or_else(|| {
                interop_err(
                    out,
                    format!(
                        "variable {:?} has no counterpart in open_clip's CLIP; this model \
                         cannot be exported",
                        p.name
                    ),
                )
            })?;
        let mut t = layout.to_open_clip(p.var.as_tensor())?;
        if p.name == "token_embedding.weight" {
            t = swap.permute_rows(&t)?;
        }
        state.insert(name, t);
    }
    let mut tok_json: Value =
        serde_json::from_str(&tokenizer.to_json()?).map_err(|e| Error::Tokenizer(e.to_string()))?;
    swap.apply_to_tokenizer_json(&mut tok_json);
    // The exported tokenizer must read back with the end-of-text id where
    // open_clip's argmax finds it.
    let moved = TextTokenizer::from_json(&tok_json.to_string(), c.context_length)?
        .with_special_token_template()?;
    debug_assert_eq!(moved.eot_id() as usize, c.vocab_size - 1);
    let abs = std::path::absolute(out).map_err(io_err(out))?;
    let hub = config::hub_config(c, moved.pad_id(), Some(&abs.to_string_lossy()));
    let hf = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": crate::tokenizer::SOT,
        "eos_token": crate::tokenizer::EOT,
        "pad_token": moved.token(moved.pad_id()),
        "model_max_length": c.context_length,
        "clean_up_tokenization_spaces": false,
    });
    checkpoint::commit_dir(out, |tmp| {
        let w = tmp.join(WEIGHTS_FILE);
        candle_core::safetensors::save(&state, &w).map_err(|e| interop_err(&w, e.to_string()))?;
        for (name, v) in [(CONFIG_FILE, &hub), (TOKENIZER_CONFIG_FILE, &hf)] {
            let path = tmp.join(name);
            let text = serde_json::to_vec_pretty(v).expect("serialisable");
            std::fs::write(&path, text).map_err(io_err(&path))?;
        }
        moved.save(&tmp.join(TOKENIZER_FILE))
    })?;
    Ok(ExportSummary {
        dir: out.to_path_buf(),
        tensors: state.len(),
        model: c.clone(),
        builtin: config::builtin_name(c),
        eot_before: tokenizer.eot_id(),
        eot_after: moved.eot_id(),
    })
}

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
