//! Flags every crawl stage takes: the run directory, `--force`, the task
//! slice and phase, and the executor (local or Slurm).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pipeline::executor::slurm::SlurmConfig;
use pipeline::executor::{Executor, SlurmOptions};
use pipeline::stage::{Phase, RunOptions};
use pipeline::task::TaskSlice;

use crate::cli::GlobalArgs;

/// Which part of a stage a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    /// The slice's tasks, then the reduce once every task is done.
    All,
    /// Only the slice's tasks (for cluster runs: tasks as one job array, then the reduce).
    #[value(alias = "map")]
    Tasks,
    /// Only the reduce; fails unless every task is done.
    Reduce,
}

/// Which executor runs a stage's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ExecutorChoice {
    /// Every task in this process, using every core.
    #[default]
    Local,
    /// One Slurm job array per stage, the reduce as a dependent job.
    Slurm,
    /// Run nothing: record the stages' settings in the run directory and
    /// print the `crawl run-task` command lines for another scheduler.
    Plan,
}

/// The run directory, the task slice, the phase and `--force`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The run directory (required).
    #[arg(long, alias = "output_folder", value_name = "RUN")]
    pub out: Option<PathBuf>,
    /// Start the stage(s) over: remove their outputs and records first
    /// (needed to rerun with other parameters).
    #[arg(long)]
    pub force: bool,
    /// Run only tasks t with t % task-count == task-index.
    #[arg(long, default_value_t = 0)]
    pub task_index: usize,
    /// Number of slices the stage's tasks are split into.
    #[arg(long, default_value_t = 1)]
    pub task_count: usize,
    /// Tasks, reduce, or both.
    #[arg(long, value_enum, default_value_t = PhaseArg::All)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub exec: ExecutorArgs,
}

impl RunArgs {
    /// The run directory, which every stage needs.
    pub fn out(&self) -> Result<&PathBuf> {
        self.out
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the run directory is missing: pass --out RUN"))
    }

    /// The runner's options.
    pub fn options(&self, global: &GlobalArgs) -> Result<RunOptions> {
        Ok(RunOptions {
            slice: TaskSlice::new(self.task_index, self.task_count)?,
            phase: match self.phase {
                PhaseArg::All => Phase::All,
                PhaseArg::Tasks => Phase::Tasks,
                PhaseArg::Reduce => Phase::Reduce,
            },
            force: self.force,
            progress: !global.quiet,
        })
    }
}

/// Executor flags.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    /// Where the tasks run.
    #[arg(long, value_enum, default_value_t = ExecutorChoice::Local)]
    pub executor: ExecutorChoice,
    /// Slurm: number of array elements (task slices) per stage.
    #[arg(long, default_value_t = 16)]
    pub slurm_tasks: usize,
    /// Slurm: partition.
    #[arg(long)]
    pub slurm_partition: Option<String>,
    /// Slurm: time limit per task (e.g. 04:00:00).
    #[arg(long)]
    pub slurm_time: Option<String>,
    /// Slurm: CPUs per task.
    #[arg(long)]
    pub slurm_cpus: Option<u32>,
    /// Slurm: memory per task (e.g. 8G).
    #[arg(long)]
    pub slurm_mem: Option<String>,
    /// Slurm: account.
    #[arg(long)]
    pub slurm_account: Option<String>,
    /// Slurm: most array elements running at once.
    #[arg(long)]
    pub slurm_max_parallel: Option<usize>,
    /// Slurm: a further sbatch argument (repeatable).
    #[arg(long = "slurm-arg", allow_hyphen_values = true)]
    pub slurm_args: Vec<String>,
    /// Slurm: a JSON config file whose `slurm` object sets the options above
    /// (flags win over the file).
    #[arg(long)]
    pub slurm_config: Option<PathBuf>,
    /// Slurm: return right after submitting instead of waiting for the jobs.
    #[arg(long)]
    pub no_wait: bool,
}

impl ExecutorArgs {
    /// The Slurm options from the config file and the flags.
    pub fn slurm_config(&self) -> Result<SlurmConfig> {
        let mut cfg = match &self.slurm_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading Slurm config {}", path.display()))?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not valid JSON", path.display()))?;
                let section = value.get("slurm").cloned().unwrap_or(value);
                serde_json::from_value(section)
                    .with_context(|| format!("{}: bad `slurm` section", path.display()))?
            }
            None => SlurmConfig::default(),
        };
        if self.slurm_partition.is_some() {
            cfg.partition = self.slurm_partition.clone();
        }
        if self.slurm_time.is_some() {
            cfg.time = self.slurm_time.clone();
        }
        if self.slurm_cpus.is_some() {
            cfg.cpus_per_task = self.slurm_cpus;
        }
        if self.slurm_mem.is_some() {
            cfg.mem = self.slurm_mem.clone();
        }
        if self.slurm_account.is_some() {
            cfg.account = self.slurm_account.clone();
        }
        if self.slurm_max_parallel.is_some() {
            cfg.max_parallel = self.slurm_max_parallel;
        }
        cfg.extra_args.extend(self.slurm_args.iter().cloned());
        Ok(cfg)
    }

    /// The executor these flags ask for.
    pub fn executor(&self, global: &GlobalArgs) -> Result<Executor> {
        Ok(match self.executor {
            ExecutorChoice::Local => Executor::Local,
            ExecutorChoice::Slurm => Executor::Slurm(SlurmOptions {
                config: self.slurm_config()?,
                tasks: self.slurm_tasks,
                no_wait: self.no_wait,
                program: std::env::current_exe().context("locating the witcurate binary")?,
                threads: global.threads,
            }),
            ExecutorChoice::Plan => Executor::Plan {
                program: std::env::current_exe().context("locating the witcurate binary")?,
            },
        })
    }
}
