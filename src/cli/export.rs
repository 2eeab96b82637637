//! `witcurate export`: a checkpoint as another tool's model.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::GlobalArgs;

/// The model formats of other tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelFormat {
    /// open_clip (`open_clip_torch`): state dict, `open_clip_config.json`
    /// and `tokenizer.json` in one directory.
    #[value(name = "open_clip")]
    OpenClip,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: ModelFormat,
    /// A checkpoint directory, or a run directory (its newest checkpoint).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The directory to write (replaced when it holds an earlier export).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `export`.
pub fn run(args: ExportArgs, _global: &GlobalArgs) -> Result<()> {
    match args.format {
        ModelFormat::OpenClip => {
            let s = trainer::interop::open_clip::export(&args.checkpoint, &args.out)?;
            let shape = match s.builtin {
                Some(name) => format!("the shape of open_clip's {name}"),
                None => "a custom open_clip ViT config".to_string(),
            };
            println!(
                "export: {} tensors written to {} ({shape}); end-of-text token id {} -> {}",
                s.tensors,
                s.dir.display(),
                s.eot_before,
                s.eot_after
            );
            println!(
                "export: in Python, open_clip.create_model_and_transforms(\"local-dir:{}\")",
                s.dir.display()
            );
        }
    }
    Ok(())
}
