//! `witcurate crawl balance`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use pipeline::balance::{run_balance, BalanceOptions, Cap, Threshold};

use crate::cli::executor::{run_on_slurm, ExecutorArgs, ExecutorChoice, StageSpec};
use crate::cli::{GlobalArgs, TaskArgs};
use pipeline::executor::markers;

/// The cap, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CapArg {
    /// MetaCLIP's: keep a pair if any entry wins its draw with p = t / max(count, t).
    Soft,
    /// No entry in more than t kept pairs (rarest-entry-first greedy; see docs/matching.md).
    Hard,
}

/// Flags of `crawl balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// The run directory (reads RUN/matched/ and RUN/counts.parquet, writes RUN/selected/).
    #[arg(long)]
    pub out: PathBuf,
    /// The cap t: entries matched more than t times are sampled down to about t pairs.
    #[arg(long, default_value_t = 20_000, conflicts_with = "tail_share")]
    pub t: u64,
    /// Choose t instead so that entries matched fewer than t times hold this
    /// share of all matches (MetaCLIP: 0.06 for large pools).
    #[arg(long)]
    pub tail_share: Option<f64>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Soft (MetaCLIP) or hard cap.
    #[arg(long, value_enum, default_value_t = CapArg::Soft)]
    pub cap: CapArg,
    #[command(flatten)]
    pub tasks: TaskArgs,
    #[command(flatten)]
    pub exec: ExecutorArgs,
}

/// Runs `crawl balance`.
pub fn run(args: BalanceArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    if args.exec.executor == ExecutorChoice::Slurm {
        let stage = StageSpec::from_this_process(STAGE, &[], Some(&[]))?;
        return run_on_slurm(&args.out, &[stage], &args.exec);
    }
    let opts = BalanceOptions {
        threshold: match args.tail_share {
            Some(s) => Threshold::TailShare(s),
            None => Threshold::Fixed(args.t),
        },
        seed: args.seed,
        cap: match args.cap {
            CapArg::Soft => Cap::Soft,
            CapArg::Hard => Cap::Hard,
        },
        slice: args.tasks.slice()?,
        progress: !global.quiet,
    };
    let r = run_balance(&args.out, &opts)?;
    markers::mark_slice_done(&args.out, STAGE, opts.slice)?;
    if args.out.join("balance.json").exists() {
        markers::mark_reduce_done(&args.out, STAGE)?;
    }
    let c = &r.counters;
    println!(
        "balance: t = {}, {} cap; {} of {} tasks run ({} already done); {} pairs in, {} kept \
         in {:.1}s{}",
        r.t,
        opts.cap.name(),
        r.tasks_run,
        r.tasks_total,
        r.tasks_skipped,
        c.get("pairs_in"),
        c.get("pairs_kept"),
        r.seconds,
        match &r.reduced {
            Some(s) => format!(
                "; balance.json written: {} entries capped of {} matched, largest count after {}",
                s.entries_capped, s.entries_matched, s.max_count_after
            ),
            None => String::new(),
        }
    );
    Ok(())
}

/// Name of this stage in completion markers and Slurm jobs.
const STAGE: &str = "balance";
