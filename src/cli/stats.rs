//! `witcurate stats`: the dataset statistics report of a run directory.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use pipeline::stats::{collect, write_reports, Options};

use super::GlobalArgs;

/// Flags of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The run directory (as given to `crawl --out`).
    pub run: PathBuf,
    /// Vocabulary directory (default: RUN/vocab).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Balancing threshold t to mark (default: the t of the balance stage's
    /// record, RUN/_stages/balance/reduce.json, else 20000).
    #[arg(long)]
    pub t: Option<u64>,
    /// Rows in the top tables (entries, texts, domains).
    #[arg(long, default_value_t = 25)]
    pub top: usize,
    /// Where to write the reports (default: RUN/stats).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keys kept by the bounded top-text and top-domain summaries.
    #[arg(long, default_value_t = 10_000)]
    pub sketch_size: usize,
    /// Include the results of `witcurate eval --suite` (its suite.json, or
    /// the --suite-out directory) for a model trained on this data;
    /// repeatable.
    #[arg(long)]
    pub eval_suite: Vec<PathBuf>,
}

/// Runs `stats`.
pub fn run(args: StatsArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.top == 0 {
        anyhow::bail!("--top must be at least 1");
    }
    let mut opts = Options {
        vocab_dir: args.vocab.clone(),
        t: args.t,
        top: args.top,
        progress: !global.quiet,
        eval_suites: args.eval_suite.clone(),
        ..Options::default()
    };
    opts.limits.heavy_capacity = args.sketch_size.max(args.top);
    let stats = collect(&args.run, &opts)?;
    let out = args.out.unwrap_or_else(|| args.run.join("stats"));
    let paths = write_reports(&stats, &out)
        .with_context(|| format!("writing the reports to {}", out.display()))?;
    let files: u64 = stats.stage_files.values().map(|f| f.files).sum();
    let rows: u64 = stats.stage_files.values().map(|f| f.rows).sum();
    let secs = started.elapsed().as_secs_f64();
    let missing = if stats.stages.missing.is_empty() {
        String::new()
    } else {
        format!(" (missing: {})", stats.stages.missing.join(", "))
    };
    println!(
        "stats: {} stage(s){missing}, {files} files, {rows} rows in {secs:.1}s ({:.0} rows/s); report: {}",
        stats.stages.present.len(),
        rows as f64 / secs.max(1e-9),
        paths.html.display()
    );
    println!(
        "stats: also {} and {}",
        paths.json.display(),
        paths.markdown.display()
    );
    Ok(())
}
