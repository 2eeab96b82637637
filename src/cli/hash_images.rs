//! `witcurate hash-images`: the perceptual hashes of an image folder (an
//! evaluation set), computed once, for `crawl dedup --against`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline::dedup::reference::{hash_folder, write_hashes};

use super::GlobalArgs;

/// Flags of `hash-images`.
#[derive(Debug, Args)]
pub struct HashImagesArgs {
    /// The folder of images (searched recursively).
    #[arg(long)]
    pub images: PathBuf,
    /// The hashes table to write (parquet: path, phash).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `hash-images`.
pub fn run(args: HashImagesArgs, _global: &GlobalArgs) -> Result<()> {
    let rows =
        hash_folder(&args.images).with_context(|| format!("hashing {}", args.images.display()))?;
    write_hashes(&args.out, &rows)?;
    println!(
        "hash-images: {} images of {} hashed into {}",
        rows.len(),
        args.images.display(),
        args.out.display()
    );
    Ok(())
}
