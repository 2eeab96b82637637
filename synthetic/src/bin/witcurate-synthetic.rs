//! Writes the generated coloured-shapes dataset:
//! `DIR/shards/NNNNN.parquet` (training shards) and `DIR/held_out/` (an
//! ImageFolder tree with `classes.tsv`) for `witcurate train` and `eval`.
//!
//! `witcurate-synthetic DIR [SHARDS] [ROWS_PER_SHARD] [HELD_OUT_PER_CLASS]`
//! (built with the workspace: `cargo build --workspace --bins`).

use std::path::PathBuf;

use synthetic::shards::{self, ShardOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: witcurate-synthetic DIR [SHARDS] [ROWS_PER_SHARD] [HELD_OUT_PER_CLASS]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let opts = ShardOptions {
        shards: num(1, 4)?,
        rows_per_shard: num(2, 2000)?,
        ..ShardOptions::default()
    };
    let files = shards::write_shards(&dir.join("shards"), &opts)?;
    let classes = synthetic::image_folder::write_seeded(&dir.join("held_out"), num(3, 20)?, 48, 1)?;
    println!(
        "synthetic: {} shard files of {} rows in {}, held-out images with {}",
        files.len(),
        opts.rows_per_shard,
        dir.join("shards").display(),
        classes.display()
    );
    Ok(())
}
