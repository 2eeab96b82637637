//! A witcurate checkpoint as an open_clip model directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;

use super::names::{open_clip_name, TextPrefix};
use super::{check_out_dir, config, interop_err};
use super::{CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::checkpoint;
use crate::error::io_err;
use crate::interop::token_order::EotLast;
use crate::model::Clip;
use crate::tokenizer::TextTokenizer;
use crate::{Error, ModelConfig, Result};

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

/// Exports the checkpoint at `checkpoint` (a step directory, or a run
/// directory meaning its newest checkpoint; on disk or on object storage)
/// to the directory `out`.
pub fn export(checkpoint: &Path, out: &Path) -> Result<ExportSummary> {
    let (local, _) = crate::mirror::local_checkpoint(checkpoint)?;
    let loaded = checkpoint::load(&local, &Device::Cpu)?;
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
