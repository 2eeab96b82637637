//! `witcurate import`: another tool's model as a checkpoint for `eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::export::ModelFormat;
use super::GlobalArgs;

/// Flags of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The format to read.
    #[arg(long, value_enum)]
    pub format: ModelFormat,
    /// The weights: open_clip's state dict as `.safetensors`.
    #[arg(long)]
    pub weights: PathBuf,
    /// The model config: `open_clip_config.json`, or one of open_clip's
    /// `model_configs/*.json`.
    #[arg(long)]
    pub config: PathBuf,
    /// The tokenizer in the Hugging Face `tokenizer.json` format (default:
    /// `tokenizer.json` beside the weights).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// The checkpoint directory to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `import`.
pub fn run(args: ImportArgs, _global: &GlobalArgs) -> Result<()> {
    match args.format {
        ModelFormat::OpenClip => {
            let s =
                trainer::interop::open_clip::import(&trainer::interop::open_clip::ImportOptions {
                    weights: args.weights,
                    config: args.config,
                    tokenizer: args.tokenizer,
                    out: args.out,
                })?;
            let m = &s.model;
            println!(
                "import: {} tensors -> checkpoint {} (ViT {}px/{} {}x{}w, text {}x{}w, embed {}); \
                 evaluate with witcurate eval --checkpoint {}",
                s.tensors,
                s.dir.display(),
                m.image_size,
                m.patch_size,
                m.vision_layers,
                m.vision_width,
                m.text_layers,
                m.text_width,
                m.embed_dim,
                s.dir.display()
            );
        }
    }
    Ok(())
}
