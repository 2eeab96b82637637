//! `--executor local|slurm` and the Slurm flags every stage accepts, and the
//! glue that turns "run this stage" into Slurm job arrays by re-invoking this
//! same binary on each task slice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use pipeline::executor::slurm::{self, SlurmConfig};
use pipeline::executor::{markers, StageJob};

/// Which executor runs a stage's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ExecutorChoice {
    /// Every task in this process, using every core.
    #[default]
    Local,
    /// One Slurm job array per stage, the reduce as a dependent job.
    Slurm,
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
}

/// Flags that belong to the submitting process only and are dropped from the
/// command lines of the tasks it submits: (flag, takes a value).
const SUBMITTER_FLAGS: &[(&str, bool)] = &[
    ("--executor", true),
    ("--phase", true),
    ("--task-index", true),
    ("--task-count", true),
    ("--slurm-tasks", true),
    ("--slurm-partition", true),
    ("--slurm-time", true),
    ("--slurm-cpus", true),
    ("--slurm-mem", true),
    ("--slurm-account", true),
    ("--slurm-max-parallel", true),
    ("--slurm-arg", true),
    ("--slurm-config", true),
    ("--no-wait", false),
];

/// This process's command line with the submitter-only flags removed and the
/// binary as an absolute path.
pub fn task_command_line(args: &[String]) -> Result<Vec<String>> {
    let exe = std::env::current_exe().context("locating the witcurate binary")?;
    let mut out = vec![exe.to_string_lossy().into_owned()];
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        let name = a.split('=').next().unwrap_or(a);
        if let Some((_, takes_value)) = SUBMITTER_FLAGS.iter().find(|(f, _)| *f == name) {
            i += if *takes_value && !a.contains('=') {
                2
            } else {
                1
            };
            continue;
        }
        out.push(absolutize(a));
        i += 1;
    }
    Ok(out)
}

/// Relative paths that exist here are made absolute, since Slurm may start
/// tasks in another working directory.
fn absolutize(arg: &str) -> String {
    if arg.starts_with('-') || arg.contains("://") || Path::new(arg).is_absolute() {
        return arg.to_string();
    }
    let p = Path::new(arg);
    if p.exists()
        || p.parent()
            .is_some_and(|d| !d.as_os_str().is_empty() && d.exists())
    {
        if let Ok(cwd) = std::env::current_dir() {
            return cwd.join(p).to_string_lossy().into_owned();
        }
    }
    arg.to_string()
}

/// One stage to hand to the Slurm executor.
pub struct StageSpec<'a> {
    /// Stage name (`extract`, `match`, ...).
    pub name: &'a str,
    /// The stage's command line as this process would run it.
    pub argv: Vec<String>,
    /// Flags that make the command run only the tasks of a slice
    /// (e.g. `--phase map`); `--task-index/--task-count` are added after them.
    pub task_flags: Vec<String>,
    /// Flags that make the command run only the reduce, if the stage has one.
    pub reduce_flags: Option<Vec<String>>,
}

impl<'a> StageSpec<'a> {
    /// A stage run as this very process was started, minus the submitter's flags.
    pub fn from_this_process(
        name: &'a str,
        task_flags: &[&str],
        reduce_flags: Option<&[&str]>,
    ) -> Result<Self> {
        let args: Vec<String> = std::env::args().collect();
        Ok(StageSpec {
            name,
            argv: task_command_line(&args)?,
            task_flags: task_flags.iter().map(|s| s.to_string()).collect(),
            reduce_flags: reduce_flags.map(|f| f.iter().map(|s| s.to_string()).collect()),
        })
    }
}

/// Submits `stages` (in dependency order) as Slurm job arrays, waits for them
/// unless `--no-wait`, and reports failed tasks with their logs.
pub fn run_on_slurm(run: &Path, stages: &[StageSpec<'_>], exec: &ExecutorArgs) -> Result<()> {
    if exec.slurm_tasks == 0 {
        bail!("--slurm-tasks must be at least 1");
    }
    let cfg = exec.slurm_config()?;
    std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
    let n = exec.slurm_tasks;
    let jobs: Vec<StageJob> = stages
        .iter()
        .map(|s| {
            let mut task_argv = s.argv.clone();
            task_argv.extend(["--executor", "local"].map(String::from));
            task_argv.extend(s.task_flags.iter().cloned());
            let reduce_argv = s.reduce_flags.as_ref().map(|flags| {
                let mut r = s.argv.clone();
                r.extend(["--executor", "local"].map(String::from));
                r.extend(flags.iter().cloned());
                r
            });
            StageJob {
                name: s.name.to_string(),
                task_count: n,
                pending: markers::pending_slices(run, s.name, n),
                task_argv,
                reduce_argv,
            }
        })
        .collect();
    let submitted = slurm::submit_chain(run, &jobs, &cfg)?;
    for s in &submitted {
        println!(
            "slurm: {}: {} slice(s) submitted{}{}, logs in {}",
            s.name,
            s.slices.len(),
            s.array_job
                .as_ref()
                .map(|j| format!(" as array job {j}"))
                .unwrap_or_default(),
            s.reduce_job
                .as_ref()
                .map(|j| format!(", reduce job {j}"))
                .unwrap_or_default(),
            s.log_dir.display()
        );
    }
    if exec.no_wait {
        println!("slurm: submitted; rerun the same command to wait and resubmit what failed");
        return Ok(());
    }
    slurm::wait_for(&slurm::job_ids(&submitted), Duration::from_secs(1), None)?;
    let failed = slurm::failures(run, &submitted);
    if failed.is_empty() {
        println!("slurm: every task completed");
        return Ok(());
    }
    for f in &failed {
        eprintln!(
            "failed: {} {} ({}), log: {}",
            f.stage,
            f.slice
                .map(|s| format!("task {s}"))
                .unwrap_or_else(|| "reduce".into()),
            f.state,
            f.log.display()
        );
    }
    bail!(
        "{} task(s) did not complete; rerun the same command to resubmit only those",
        failed.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitter_flags_are_dropped() {
        let args: Vec<String> = [
            "witcurate",
            "crawl",
            "extract",
            "--out",
            "/runs/x",
            "--executor",
            "slurm",
            "--slurm-mem=4G",
            "--no-wait",
            "--slurm-arg",
            "--qos=low",
            "--input",
            "/data/a.warc",
        ]
        .map(String::from)
        .to_vec();
        let out = task_command_line(&args).unwrap();
        assert_eq!(
            &out[1..],
            &[
                "crawl",
                "extract",
                "--out",
                "/runs/x",
                "--input",
                "/data/a.warc"
            ]
        );
    }
}
