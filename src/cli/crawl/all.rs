//! `witcurate crawl --out RUN --vocab DIR --input ... [--stop-after STAGE]`:
//! the crawl stages in order (extract, match, balance, download), each given
//! the flags it knows. With `--executor slurm` the stages are submitted as one
//! chain of Slurm jobs, each stage depending on the one before.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Command, Parser};

use super::{balance, download, extract, matching};
use crate::cli::executor::{run_on_slurm, ExecutorChoice, StageSpec};
use crate::cli::{Cli, GlobalArgs};

/// Flags an executor appends to a stage's command line.
type PhaseFlags = &'static [&'static str];

/// A stage and its command line.
type StageLine = (&'static str, Vec<String>);

/// The stages, in order, with the flags that make a process run only a
/// slice's tasks, and only the reduce (`None`: no reduce).
const STAGES: [(&str, PhaseFlags, Option<PhaseFlags>); 4] = [
    ("extract", &["--phase", "map"], Some(&["--phase", "reduce"])),
    ("match", &[], Some(&[])),
    ("balance", &[], Some(&[])),
    ("download", &[], None),
];

/// Flags that only one stage receives when the stages run together (another
/// stage has a flag of the same name with another meaning).
const ONLY_FOR: [(&str, &str); 1] = [("--input", "extract")];

/// Global flags, passed on before the subcommand: (flag, takes a value).
const GLOBAL: [(&str, bool); 5] = [
    ("--threads", true),
    ("--quiet", false),
    ("-q", false),
    ("--verbose", false),
    ("-v", false),
];

/// Long flags of a stage, with whether each takes a value.
fn stage_flags(stage: &'static str) -> BTreeMap<String, bool> {
    let cmd = Command::new(stage);
    let cmd = match stage {
        "extract" => extract::ExtractArgs::augment_args(cmd),
        "match" => matching::MatchArgs::augment_args(cmd),
        "balance" => balance::BalanceArgs::augment_args(cmd),
        _ => download::DownloadArgs::augment_args(cmd),
    };
    cmd.get_arguments()
        .filter_map(|a| {
            a.get_long()
                .map(|l| (format!("--{l}"), a.get_action().takes_values()))
        })
        .collect()
}

/// One flag as given: `--name` with its values (`--name=v` is split).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    name: String,
    values: Vec<String>,
}

impl Flag {
    fn tokens(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.values.iter().cloned())
            .collect()
    }
}

/// Splits raw arguments into flags and their values.
fn split_flags(raw: &[String]) -> Result<Vec<Flag>> {
    let mut flags: Vec<Flag> = Vec::new();
    for token in raw {
        if token.starts_with('-') && token.len() > 1 && !is_number(token) {
            let (name, value) = match token.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (token.clone(), None),
            };
            flags.push(Flag {
                name,
                values: value.into_iter().collect(),
            });
        } else {
            match flags.last_mut() {
                Some(flag) => flag.values.push(token.clone()),
                None => bail!("unexpected argument `{token}` (flags of `crawl` start with --)"),
            }
        }
    }
    Ok(flags)
}

fn is_number(token: &str) -> bool {
    token.parse::<f64>().is_ok()
}

/// The command line of each stage to run, in order.
fn plan(raw: &[String], global: &GlobalArgs) -> Result<(Vec<StageLine>, bool)> {
    let flags = split_flags(raw)?;
    let mut prefix = vec!["witcurate".to_string()];
    if let Some(t) = global.threads {
        prefix.extend(["--threads".to_string(), t.to_string()]);
    }
    if global.quiet {
        prefix.push("--quiet".into());
    }
    for _ in 0..global.verbose {
        prefix.push("-v".into());
    }
    let mut stop_after: Option<String> = None;
    let mut stage_flags_given: Vec<&Flag> = Vec::new();
    for flag in &flags {
        if flag.name == "--stop-after" {
            let [value] = flag.values.as_slice() else {
                bail!("--stop-after takes one of extract, match, balance");
            };
            if !["extract", "match", "balance"].contains(&value.as_str()) {
                bail!("--stop-after must be extract, match or balance, not `{value}`");
            }
            stop_after = Some(value.clone());
        } else if let Some((_, takes_value)) = GLOBAL.iter().find(|(g, _)| *g == flag.name) {
            if !*takes_value && !flag.values.is_empty() {
                bail!("{} takes no value", flag.name);
            }
            prefix.extend(flag.tokens());
        } else {
            stage_flags_given.push(flag);
        }
    }
    let known: Vec<(&str, BTreeMap<String, bool>)> = STAGES
        .iter()
        .map(|(s, _, _)| (*s, stage_flags(s)))
        .collect();
    for flag in &stage_flags_given {
        if !known.iter().any(|(_, f)| f.contains_key(&flag.name)) {
            bail!("unknown flag `{}` for `crawl`", flag.name);
        }
    }
    let mut slurm = false;
    let mut stages = Vec::new();
    for (stage, accepted) in &known {
        let mut argv = prefix.clone();
        argv.extend(["crawl".to_string(), stage.to_string()]);
        for flag in &stage_flags_given {
            let only = ONLY_FOR.iter().find(|(f, _)| *f == flag.name);
            if only.is_some_and(|(_, s)| s != stage) || !accepted.contains_key(&flag.name) {
                continue;
            }
            if flag.name == "--executor" && flag.values.iter().any(|v| v == "slurm") {
                slurm = true;
            }
            argv.extend(flag.tokens());
        }
        stages.push((*stage, argv));
        if stop_after.as_deref() == Some(stage) {
            break;
        }
    }
    Ok((stages, slurm))
}

/// Runs the crawl stages in order (or submits them as one Slurm chain).
pub fn run(raw: &[String], global: &GlobalArgs) -> Result<()> {
    if raw.is_empty() {
        bail!(
            "`crawl` needs a stage (extract, match, balance, download) or the flags of a whole \
             run: --out RUN --vocab DIR --input PATH_OR_URL... [--stop-after STAGE]"
        );
    }
    let (stages, slurm) = plan(raw, global)?;
    let started = std::time::Instant::now();
    if slurm {
        let mut specs = Vec::new();
        let mut exec = None;
        let mut out = None;
        for (stage, argv) in &stages {
            let cli = Cli::try_parse_from(argv).map_err(|e| anyhow!("crawl {stage}: {e}"))?;
            let super::super::Command::Crawl(crawl) = cli.command else {
                unreachable!("the plan builds crawl command lines");
            };
            if let Some(super::CrawlStage::Extract(a)) = crawl.stage {
                exec = Some(a.exec.clone());
                out = Some(a.out.clone());
            }
            let (_, task_flags, reduce_flags) = STAGES
                .iter()
                .find(|(s, _, _)| s == stage)
                .expect("known stage");
            specs.push(StageSpec {
                name: stage,
                argv: crate::cli::executor::task_command_line(argv)?,
                task_flags: task_flags.iter().map(|s| s.to_string()).collect(),
                reduce_flags: reduce_flags.map(|f| f.iter().map(|s| s.to_string()).collect()),
            });
        }
        let (Some(exec), Some(out)) = (exec, out) else {
            bail!("a crawl run starts with extract");
        };
        debug_assert_eq!(exec.executor, ExecutorChoice::Slurm);
        return run_on_slurm(&out, &specs, &exec);
    }
    for (stage, argv) in &stages {
        let cli = Cli::try_parse_from(argv).map_err(|e| anyhow!("crawl {stage}: {e}"))?;
        crate::cli::run(cli)?;
    }
    println!(
        "crawl: {} stage(s) done ({}) in {:.1}s",
        stages.len(),
        stages
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn global() -> GlobalArgs {
        GlobalArgs {
            threads: None,
            quiet: false,
            verbose: 0,
        }
    }

    #[test]
    fn flags_go_to_the_stages_that_know_them() {
        let raw = strings(&[
            "--out",
            "/r",
            "--vocab",
            "/v",
            "--input",
            "a.warc",
            "b.wat",
            "--t",
            "5",
            "--image-size",
            "64",
            "--quiet",
        ]);
        let (stages, slurm) = plan(&raw, &global()).unwrap();
        assert!(!slurm);
        let names: Vec<_> = stages.iter().map(|(s, _)| *s).collect();
        assert_eq!(names, ["extract", "match", "balance", "download"]);
        let argv = |i: usize| stages[i].1.join(" ");
        assert_eq!(
            argv(0),
            "witcurate --quiet crawl extract --out /r --input a.warc b.wat"
        );
        assert_eq!(argv(1), "witcurate --quiet crawl match --out /r --vocab /v");
        assert_eq!(argv(2), "witcurate --quiet crawl balance --out /r --t 5");
        assert_eq!(
            argv(3),
            "witcurate --quiet crawl download --out /r --image-size 64"
        );
        for (_, argv) in &stages {
            Cli::try_parse_from(argv).unwrap();
        }
    }

    #[test]
    fn stop_after_and_errors() {
        let raw = strings(&[
            "--out",
            "/r",
            "--input",
            "a",
            "--stop-after",
            "match",
            "--vocab",
            "/v",
        ]);
        let (stages, _) = plan(&raw, &global()).unwrap();
        assert_eq!(stages.len(), 2);
        let raw = strings(&[
            "--out",
            "/r",
            "--executor=slurm",
            "--input",
            "a",
            "--vocab",
            "/v",
        ]);
        let (stages, slurm) = plan(&raw, &global()).unwrap();
        assert!(slurm);
        assert!(stages[3].1.contains(&"--executor".to_string()));
        assert!(plan(&strings(&["--bogus", "1"]), &global()).is_err());
        assert!(plan(&strings(&["stray"]), &global()).is_err());
        assert!(plan(&strings(&["--stop-after", "download"]), &global()).is_err());
    }
}
