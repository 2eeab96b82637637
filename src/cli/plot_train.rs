//! `witcurate plot-train`: the training curves of a run as SVG.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;

/// Flags of `plot-train`.
#[derive(Debug, Args)]
pub struct PlotTrainArgs {
    /// The training run directory (its `train_log.jsonl`).
    pub run: PathBuf,
    /// The SVG to write (default: RUN/train_curves.svg).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `plot-train`.
pub fn run(args: PlotTrainArgs, _global: &GlobalArgs) -> Result<()> {
    let path = pipeline::stats::train_curves::write(&args.run, args.out.as_deref())?;
    println!("plot-train: training curves written to {}", path.display());
    Ok(())
}
