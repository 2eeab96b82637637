//! `witcurate crawl match`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use pipeline::matching::{human_bytes, run_match, MatchOptions, Rule, Vocab};

use crate::cli::executor::{run_on_slurm, ExecutorArgs, ExecutorChoice, StageSpec};
use crate::cli::{GlobalArgs, TaskArgs};
use pipeline::executor::markers;

/// The matching rule, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// MetaCLIP's rule exactly: space-delimited, case-sensitive substring match.
    Metaclip,
    /// Unicode-aware word boundaries on the unmodified text (`(dog)`, `dog's` match `dog`).
    WordBoundary,
}

impl From<RuleArg> for Rule {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::Metaclip => Rule::MetaClip,
            RuleArg::WordBoundary => Rule::WordBoundary,
        }
    }
}

/// Flags of `crawl match`.
#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The run directory (reads RUN/pairs/, writes RUN/matched/, RUN/counts/, RUN/counts.parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// The vocabulary directory (holding queries.txt) or a queries.txt file.
    #[arg(long)]
    pub vocab: PathBuf,
    /// When an entry matches a text.
    #[arg(long, value_enum, default_value_t = RuleArg::Metaclip)]
    pub rule: RuleArg,
    /// Refuse a vocabulary whose automaton is estimated to need more memory
    /// than this. In bytes, or a number with a unit: 2G or 2GiB mean 2 GiB
    /// (powers of 1024, also K, M, T), 2GB means 2·10^9 bytes (KB, MB, TB).
    #[arg(long, default_value = "16GiB", value_parser = parse_size)]
    pub max_vocab_memory: u64,
    #[command(flatten)]
    pub tasks: TaskArgs,
    #[command(flatten)]
    pub exec: ExecutorArgs,
}

/// Parses a byte size (see [`units::parse_size`]).
pub fn parse_size(s: &str) -> Result<u64, String> {
    units::parse_size(s).map_err(|e| e.to_string())
}

/// Runs `crawl match`.
pub fn run(args: MatchArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    if args.exec.executor == ExecutorChoice::Slurm {
        let stage = StageSpec::from_this_process(STAGE, &[], Some(&[]))?;
        return run_on_slurm(&args.out, &[stage], &args.exec);
    }
    let slice = args.tasks.slice()?;
    let vocab = Vocab::load(&args.vocab).context("reading the vocabulary")?;
    let opts = MatchOptions {
        rule: args.rule.into(),
        max_vocab_memory: args.max_vocab_memory,
        slice,
        progress: !global.quiet,
    };
    let r = run_match(&args.out, &vocab, &opts)?;
    markers::mark_slice_done(&args.out, STAGE, slice)?;
    if args.out.join("counts.parquet").exists() {
        markers::mark_reduce_done(&args.out, STAGE)?;
    }
    let c = &r.counters;
    let secs = r.task_seconds.max(1e-9);
    println!(
        "match: {} of {} tasks run ({} already done); {} pairs in, {} matched, {} matches; \
         {:.0} pairs/s, {:.1} MB/s; automaton {} built in {:.1}s{}",
        r.tasks_run,
        r.tasks_total,
        r.tasks_skipped,
        c.get("pairs_in"),
        c.get("pairs_matched"),
        c.get("matches"),
        c.get("pairs_in") as f64 / secs,
        c.get("text_bytes") as f64 / secs / 1e6,
        human_bytes(r.automaton_bytes as u64),
        r.build_seconds,
        match &r.reduced {
            Some(s) => format!(
                "; counts.parquet written: {} of {} entries matched",
                s.entries_matched, s.vocab_entries
            ),
            None => String::new(),
        }
    );
    Ok(())
}

/// Name of this stage in completion markers and Slurm jobs.
const STAGE: &str = "match";

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("x").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
