//! `witcurate crawl extract`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use pipeline::executor::markers;
use pipeline::extract::{self, ExtractConfig, InputFormat, Phase};
use pipeline::sources::input::COMMONCRAWL_BASE_URL;
use pipeline::sources::table::TableOptions;
use pipeline::task::part_name;

use crate::cli::executor::{run_on_slurm, ExecutorArgs, ExecutorChoice, StageSpec};
use crate::cli::{GlobalArgs, TaskArgs};

/// How inputs are read.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// From the file name (.wat[.gz], .warc[.gz], .parquet, .csv, .tsv, .jsonl[.gz]).
    Auto,
    /// WARC files: `<img>` elements of HTML responses.
    Warc,
    /// WAT files: `IMG@/src` links of the metadata JSON.
    Wat,
    /// url+caption tables (parquet, csv, tsv, jsonl; format from the extension).
    Table,
}

/// Which part of the stage to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    /// Map tasks, then the de-duplication once every map task is done.
    All,
    /// Only the map tasks (one per input file).
    Map,
    /// Only the de-duplication (one task per partition).
    Reduce,
}

/// Flags of `crawl extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The run directory; pairs go to RUN/pairs/part-NNNNN.parquet.
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Input files: paths, directories, globs, http(s) URLs, or path lists
    /// (`*.paths[.gz]`, like Common Crawl's wat.paths.gz).
    #[arg(long, value_name = "PATH_OR_URL", num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Base URL of relative entries in path lists.
    #[arg(long, default_value = COMMONCRAWL_BASE_URL)]
    pub base_url: String,
    /// Table column holding the image URL.
    #[arg(long, default_value = "url")]
    pub url_col: String,
    /// Table column holding the caption.
    #[arg(long, default_value = "caption")]
    pub caption_col: String,
    /// Also emit a pair with the image's `title` attribute as text.
    #[arg(long)]
    pub include_title: bool,
    /// Keep images whose alt-text is empty or missing (text "").
    #[arg(long)]
    pub keep_empty_alt: bool,
    /// Drop texts shorter than this many characters.
    #[arg(long, default_value_t = 0)]
    pub min_text_len: usize,
    /// Drop texts longer than this many characters.
    #[arg(long, default_value_t = 4096)]
    pub max_text_len: usize,
    /// Number of output partitions (pairs/part-NNNNN.parquet files); each is
    /// de-duplicated alone, so size them to fit memory (see docs/extract.md).
    #[arg(long, default_value_t = 16)]
    pub partitions: usize,
    /// Skip (and count) WARC/WAT records larger than this many MiB.
    #[arg(long, default_value_t = 32)]
    pub max_record_mb: usize,
    /// Map, reduce, or both (for cluster runs: map as one job array, then reduce).
    #[arg(long, value_enum, default_value_t = PhaseArg::All)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub tasks: TaskArgs,
    #[command(flatten)]
    pub exec: ExecutorArgs,
}

/// Runs `crawl extract`.
pub fn run(args: ExtractArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    if args.exec.executor == ExecutorChoice::Slurm {
        let stage =
            StageSpec::from_this_process(STAGE, &["--phase", "map"], Some(&["--phase", "reduce"]))?;
        return run_on_slurm(&args.out, &[stage], &args.exec);
    }
    let run_dir = args.out.clone();
    let partitions = args.partitions;
    let phase = args.phase;
    let mut cfg = ExtractConfig::new(args.out, args.input);
    cfg.format = match args.format {
        FormatArg::Auto => InputFormat::Auto,
        FormatArg::Warc => InputFormat::Warc,
        FormatArg::Wat => InputFormat::Wat,
        FormatArg::Table => InputFormat::Table,
    };
    cfg.phase = match args.phase {
        PhaseArg::All => Phase::All,
        PhaseArg::Map => Phase::Map,
        PhaseArg::Reduce => Phase::Reduce,
    };
    cfg.base_url = args.base_url;
    cfg.table = TableOptions {
        url_col: args.url_col,
        caption_col: args.caption_col,
        caption_fallback: None,
    };
    cfg.text.include_title = args.include_title;
    cfg.text.keep_empty_alt = args.keep_empty_alt;
    cfg.text.min_text_len = args.min_text_len;
    cfg.text.max_text_len = args.max_text_len;
    cfg.partitions = args.partitions;
    cfg.max_record_bytes = args
        .max_record_mb
        .checked_mul(1 << 20)
        .ok_or_else(|| anyhow::anyhow!("--max-record-mb is too large"))?;
    cfg.slice = args.tasks.slice()?;
    cfg.progress = !global.quiet;
    let slice = cfg.slice;
    let summary = extract::run(&cfg)?;
    println!("{}", summary.line());
    summary.check()?;
    if phase != PhaseArg::Reduce {
        markers::mark_slice_done(&run_dir, STAGE, slice)?;
    }
    let reduced =
        (0..partitions).all(|p| run_dir.join("pairs").join(part_name(p, "parquet")).exists());
    if phase != PhaseArg::Map && reduced {
        markers::mark_reduce_done(&run_dir, STAGE)?;
    }
    Ok(())
}

/// Name of this stage in completion markers and Slurm jobs.
const STAGE: &str = "extract";
