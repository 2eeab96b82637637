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
mod export;
mod import;
pub mod names;

use std::path::Path;

pub use self::export::{export, export_model, ExportSummary};
pub use self::import::{import, read_config, ImportOptions, ImportSummary};
use crate::error::io_err;
use crate::{Error, Result};

/// The exported weights (the file name open_clip looks for first in a
/// directory).
pub const WEIGHTS_FILE: &str = "open_clip_model.safetensors";
/// The exported model and preprocessing config.
pub const CONFIG_FILE: &str = "open_clip_config.json";
/// The exported tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The exported tokenizer's Hugging Face settings.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// An [`Error::Interop`] about `path`.
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
