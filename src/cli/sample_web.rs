//! `witcurate sample-web`: the synthetic web of the offline demo (generated
//! by [`synthetic::web`]; this module only reads the flags).

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;
use synthetic::web::{generate, is_complete, SampleWebOptions};

/// Flags of `sample-web`.
#[derive(Debug, Args)]
pub struct SampleWebArgs {
    /// Output directory (web/, crawl/, eval/).
    #[arg(long)]
    pub out: PathBuf,
    /// URL the site will be served at (image URLs resolve against it).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Number of HTML pages.
    #[arg(long, default_value_t = 200)]
    pub pages: usize,
    /// Images per page.
    #[arg(long, default_value_t = 10)]
    pub images_per_page: usize,
    /// Held-out evaluation images per class.
    #[arg(long, default_value_t = 20)]
    pub eval_per_class: usize,
    /// Seed: the same seed gives the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pages in German and in Japanese after the English ones (alt-texts in
    /// those languages), with a stand-in Wikipedia dump per language in
    /// wiki/ for `vocab build --lang de,ja`.
    #[arg(long, default_value_t = 0)]
    pub pages_per_language: usize,
}

/// Runs `sample-web`. An output directory already holding a complete sample
/// web made with the same options is left as it is (regenerating would write
/// the same bytes).
pub fn run(args: SampleWebArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let opts = SampleWebOptions {
        pages: args.pages,
        images_per_page: args.images_per_page,
        eval_per_class: args.eval_per_class,
        base_url: args.base_url,
        seed: args.seed,
        pages_per_language: args.pages_per_language,
    };
    if is_complete(&args.out, &opts)? {
        println!(
            "sample web: {} is complete; nothing to do",
            args.out.display()
        );
        return Ok(());
    }
    let summary = generate(&args.out, &opts)?;
    println!(
        "sample web: {} pages, {} images, {} held-out images in {} ({:.1}s)",
        summary.pages,
        summary.images,
        summary.eval_images,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
