//! `witcurate crawl`: the crawl-and-filter job, stage by stage or all at
//! once. Each stage's flags are one options struct; the whole run is built
//! from the same structs, so every flag means the same in both forms. The
//! work (runner, executors, stages) is in the `pipeline` crate.

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use pipeline::executor::{execute, run_recorded_task, StageUnit};
use pipeline::run_dir::RunDir;
use pipeline::stage::Phase;
use pipeline::task::TaskSlice;

use super::GlobalArgs;

pub mod balance;
pub mod dedup;
pub mod download;
pub mod extract;
pub mod matching;
pub mod run_args;

use run_args::RunArgs;

/// Flags of `crawl`: a stage, or the flags of a whole run (`crawl --out RUN
/// --vocab DIR --input ... [--stop-after extract|match|balance]`), which runs
/// the stages in order.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    arg_required_else_help = true
)]
pub struct CrawlArgs {
    #[command(subcommand)]
    pub stage: Option<CrawlStage>,
    #[command(flatten)]
    pub all: Box<AllArgs>,
}

/// Flags of a whole run: every stage's flags, plus `--stop-after`.
#[derive(Debug, Args)]
pub struct AllArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub extract: extract::ExtractOptions,
    #[command(flatten)]
    pub matching: matching::MatchOptions,
    #[command(flatten)]
    pub balance: balance::BalanceOptions,
    #[command(flatten)]
    pub download: download::DownloadOptions,
    /// Stop after this stage.
    #[arg(long, value_enum)]
    pub stop_after: Option<StopAfter>,
}

/// Where a whole run may stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StopAfter {
    /// After extract.
    Extract,
    /// After match.
    Match,
    /// After balance.
    Balance,
}

/// The crawl stages.
#[derive(Debug, Subcommand)]
pub enum CrawlStage {
    /// Extract (image URL, alt-text) pairs from WARC/WAT files or url+caption tables.
    Extract {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        opts: extract::ExtractOptions,
    },
    /// Match texts against the query vocabulary and count matches per entry.
    Match {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        opts: matching::MatchOptions,
    },
    /// Balance: cap each entry at t pairs (or, after download and dedup, t images).
    Balance {
        #[command(flatten)]
        run: RunArgs,
        /// What to balance: the matched pairs before download, or the
        /// downloaded images dedup kept (balancing after download).
        #[arg(long, value_enum, default_value_t = balance::PoolArg::Matched)]
        pool: balance::PoolArg,
        #[command(flatten)]
        opts: balance::BalanceOptions,
    },
    /// Download, resize and write image shards.
    Download {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        input: download::DownloadInput,
        #[command(flatten)]
        opts: Box<download::DownloadOptions>,
    },
    /// Remove near-duplicate images and decontaminate against evaluation sets.
    Dedup {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        opts: dedup::DedupOptions,
    },
    /// Run one slice (or the reduce) of a stage from the settings recorded in
    /// the run directory (what the Slurm executor's jobs run).
    RunTask(RunTaskArgs),
}

/// Flags of `crawl run-task`.
#[derive(Debug, Args)]
pub struct RunTaskArgs {
    /// The run directory.
    #[arg(long, value_name = "RUN")]
    pub out: std::path::PathBuf,
    /// The stage.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(pipeline::stages::NAMES))]
    pub stage: String,
    /// Tasks, reduce, or both.
    #[arg(long, value_enum, default_value_t = run_args::PhaseArg::All)]
    pub phase: run_args::PhaseArg,
    /// Run only tasks t with t % task-count == task-index.
    #[arg(long, default_value_t = 0)]
    pub task_index: usize,
    /// Number of slices the stage's tasks are split into.
    #[arg(long, default_value_t = 1)]
    pub task_count: usize,
}

/// Runs `stages` in `run.out` with the executor `run` asks for, printing
/// each stage's summary.
fn run_stages(run: &RunArgs, stages: &[&dyn StageUnit], global: &GlobalArgs) -> Result<()> {
    let executor = run.exec.executor(global)?;
    let opts = run.options(global)?;
    execute(
        &RunDir::new(run.out()?),
        stages,
        &executor,
        &opts,
        &mut |line| println!("{line}"),
    )?;
    Ok(())
}

/// Runs a crawl stage, or the whole run.
pub fn run(args: CrawlArgs, global: &GlobalArgs) -> Result<()> {
    match args.stage {
        Some(CrawlStage::Extract { run, opts }) => run_stages(&run, &[&opts.stage()?], global),
        Some(CrawlStage::Match { run, opts }) => run_stages(&run, &[&opts.stage()?], global),
        Some(CrawlStage::Balance { run, pool, opts }) => {
            run_stages(&run, &[opts.stage_of(pool)?.as_ref()], global)
        }
        Some(CrawlStage::Download { run, input, opts }) => {
            run_stages(&run, &[&opts.stage(input.spec(run.out()?))?], global)
        }
        Some(CrawlStage::Dedup { run, opts }) => run_stages(&run, &[&opts.stage()?], global),
        Some(CrawlStage::RunTask(a)) => {
            let phase = match a.phase {
                run_args::PhaseArg::All => Phase::All,
                run_args::PhaseArg::Tasks => Phase::Tasks,
                run_args::PhaseArg::Reduce => Phase::Reduce,
            };
            let line = run_recorded_task(
                &RunDir::new(&a.out),
                &a.stage,
                TaskSlice::new(a.task_index, a.task_count)?,
                phase,
            )?;
            println!("{line}");
            Ok(())
        }
        None => run_all(*args.all, global),
    }
}

/// The stages in order, each from its own options struct.
fn run_all(all: AllArgs, global: &GlobalArgs) -> Result<()> {
    let run = all.run;
    run.out()?;
    let started = std::time::Instant::now();
    let extract = all.extract.stage()?;
    let mut stages: Vec<Box<dyn StageUnit>> = vec![Box::new(extract)];
    if all.stop_after != Some(StopAfter::Extract) {
        stages.push(Box::new(all.matching.stage()?));
        if all.stop_after != Some(StopAfter::Match) {
            stages.push(Box::new(all.balance.stage()?));
            if all.stop_after != Some(StopAfter::Balance) {
                let input = download::DownloadInput {
                    input: Vec::new(),
                    from: download::FromArg::Selected,
                    url_col: "url".into(),
                    caption_col: None,
                    input_format: None,
                    save_additional_columns: None,
                };
                stages.push(Box::new(all.download.stage(input.spec(run.out()?))?));
            }
        }
    }
    let refs: Vec<&dyn StageUnit> = stages.iter().map(|s| s.as_ref()).collect();
    run_stages(&run, &refs, global)?;
    println!(
        "crawl: {} stage(s) done ({}) in {:.1}s",
        refs.len(),
        refs.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
