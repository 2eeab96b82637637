//! Executors: who runs a stage's tasks.
//!
//! A stage ([`crate::stage::Stage`]) is a set of tasks plus at most one
//! reduce, and the stage runner makes every task idempotent and skipped when
//! done, so an executor only has to start processes: [`Executor::Local`]
//! runs the stages in this process (every core), [`Executor::Slurm`]
//! submits each stage as a Slurm job array whose elements run
//! `witcurate crawl run-task` on the stage's settings as serialized in the
//! run directory (`_stages/STAGE/job.json`), its reduce as a job that depends
//! on the array, and the next stage depending on that. No cluster protocol
//! of our own: the scheduler the user already has does the scheduling.

pub mod slurm;

use std::path::PathBuf;
use std::time::Duration;

use crate::run_dir::RunDir;
use crate::stage::{prepare, run_stage, stage_state, Phase, RunOptions, Stage, StageError};
use crate::task::TaskSlice;

/// One stage as an executor sees it (any [`Stage`] is one).
pub trait StageUnit: Sync {
    /// The stage's name.
    fn name(&self) -> &'static str;
    /// Whether it has a reduce.
    fn has_reduce(&self) -> bool;
    /// Takes the parameter guard and records the settings (see [`prepare`]).
    fn prepare(&self, run: &RunDir, force: bool) -> Result<(), StageError>;
    /// Runs the stage here (see [`run_stage`]); returns its one-line summary.
    fn run_here(&self, run: &RunDir, opts: &RunOptions) -> Result<String, StageError>;
    /// Of `count` slices, those with a task not done; `None` when that cannot
    /// be known yet (the upstream stage has not completed).
    fn pending_slices(&self, run: &RunDir, count: usize) -> Option<Vec<usize>>;
    /// Whether the stage has completed.
    fn complete(&self, run: &RunDir) -> bool;
}

impl<S: Stage> StageUnit for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn has_reduce(&self) -> bool {
        Stage::has_reduce(self)
    }
    fn prepare(&self, run: &RunDir, force: bool) -> Result<(), StageError> {
        prepare(run, self, force)
    }
    fn run_here(&self, run: &RunDir, opts: &RunOptions) -> Result<String, StageError> {
        let outcome = run_stage(run, self, opts)?;
        Ok(self.summary(&outcome))
    }
    fn pending_slices(&self, run: &RunDir, count: usize) -> Option<Vec<usize>> {
        let state = stage_state(run, self).ok()?;
        let pending = state.pending();
        Some(
            (0..count)
                .filter(|&i| pending.iter().any(|&t| t % count == i))
                .collect(),
        )
    }
    fn complete(&self, run: &RunDir) -> bool {
        crate::storage::files::exists(&run.completion(S::NAME))
    }
}

/// Which executor runs the stages.
#[derive(Debug, Clone, Default)]
pub enum Executor {
    /// Every task in this process, using every core.
    #[default]
    Local,
    /// Slurm job arrays (`sbatch --array`).
    Slurm(SlurmOptions),
    /// Nothing runs: the stages' parameters and settings are recorded in the
    /// run directory and the command lines of their tasks are reported, for
    /// another scheduler to run (`witcurate crawl run-task`).
    Plan {
        /// The `witcurate` program the commands run (absolute).
        program: PathBuf,
    },
}

/// Settings of the Slurm executor.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// sbatch options.
    pub config: slurm::SlurmConfig,
    /// Array elements (task slices) per stage.
    pub tasks: usize,
    /// Return right after submitting instead of waiting for the jobs.
    pub no_wait: bool,
    /// The `witcurate` program the jobs run (absolute).
    pub program: PathBuf,
    /// `--threads` for the task processes.
    pub threads: Option<usize>,
}

/// Errors of the executors.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// A scheduler command could not be started.
    #[error("could not run `{command}`: {source} (is Slurm installed and SLURM_CONF set?)")]
    Spawn {
        /// The command.
        command: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A scheduler command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The scheduler said something we could not read.
    #[error("unexpected output from `{command}`: {output}")]
    Parse {
        /// The command.
        command: String,
        /// What it printed.
        output: String,
    },
    /// Files of the executor could not be written.
    #[error(transparent)]
    Task(#[from] crate::task::TaskError),
    /// A stage failed.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// Tasks failed.
    #[error("{0}")]
    Failed(String),
}

/// One stage as submitted to Slurm: command lines of its task slices and reduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageJob {
    /// Stage name (`extract`, `match`, ...): names scripts, logs and jobs.
    pub name: String,
    /// Number of slices the stage's tasks are split into (`--task-count`).
    pub task_count: usize,
    /// Slices to run.
    pub pending: Vec<usize>,
    /// The command that runs one slice, without `--task-index/--task-count`
    /// (the executor appends them).
    pub task_argv: Vec<String>,
    /// The command that runs the reduce, if the stage has one.
    pub reduce_argv: Option<Vec<String>>,
    /// Whether the stage is already complete (no reduce to submit).
    pub reduce_done: bool,
}

/// Runs `stages` in order on `executor`; `report` gets each line to show
/// (a stage's summary, what was submitted).
pub fn execute(
    run: &RunDir,
    stages: &[&dyn StageUnit],
    executor: &Executor,
    opts: &RunOptions,
    report: &mut dyn FnMut(&str),
) -> Result<(), ExecutorError> {
    match executor {
        Executor::Local => {
            for stage in stages {
                let line = stage.run_here(run, opts)?;
                report(&line);
            }
            Ok(())
        }
        Executor::Slurm(s) => submit(run, stages, s, opts.force, report),
        Executor::Plan { program } => {
            let root = crate::storage::files::absolute(run.root());
            for stage in stages {
                stage.prepare(&RunDir::new(&root), opts.force)?;
                let base = format!(
                    "{} --quiet crawl run-task --stage {} --out {}",
                    program.display(),
                    stage.name(),
                    slurm::shell_quote(&root.to_string_lossy())
                );
                report(&format!(
                    "{}: tasks: {base} --phase tasks --task-index I --task-count N",
                    stage.name()
                ));
                if stage.has_reduce() {
                    report(&format!(
                        "{}: then once: {base} --phase reduce",
                        stage.name()
                    ));
                }
            }
            Ok(())
        }
    }
}

fn submit(
    run: &RunDir,
    stages: &[&dyn StageUnit],
    s: &SlurmOptions,
    force: bool,
    report: &mut dyn FnMut(&str),
) -> Result<(), ExecutorError> {
    if s.tasks == 0 {
        return Err(ExecutorError::Failed(
            "--slurm-tasks must be at least 1".into(),
        ));
    }
    let root = crate::storage::files::absolute(run.root());
    let abs = RunDir::new(&root);
    crate::storage::files::create_dir_all(&root).map_err(|e| StageError::io(&root, e))?;
    let n = s.tasks;
    let mut jobs = Vec::new();
    for stage in stages {
        stage.prepare(&abs, force)?;
        let mut base = vec![s.program.to_string_lossy().into_owned(), "--quiet".into()];
        if let Some(t) = s.threads {
            base.extend(["--threads".into(), t.to_string()]);
        }
        base.extend(["crawl", "run-task", "--stage", stage.name(), "--out"].map(String::from));
        base.push(root.to_string_lossy().into_owned());
        let mut task_argv = base.clone();
        task_argv.extend(["--phase".into(), "tasks".into()]);
        let reduce_argv = stage.has_reduce().then(|| {
            let mut r = base.clone();
            r.extend(["--phase".into(), "reduce".into()]);
            r
        });
        let pending = stage
            .pending_slices(&abs, n)
            .unwrap_or_else(|| (0..n).collect());
        jobs.push(StageJob {
            name: stage.name().to_string(),
            task_count: n,
            reduce_done: stage.complete(&abs) && pending.is_empty(),
            pending,
            task_argv,
            reduce_argv,
        });
    }
    let submitted = slurm::submit_chain(&abs, &jobs, &s.config)?;
    for sub in &submitted {
        report(&format!(
            "slurm: {}: {} slice(s) submitted{}{}, logs in {}",
            sub.name,
            sub.slices.len(),
            sub.array_job
                .as_ref()
                .map(|j| format!(" as array job {j}"))
                .unwrap_or_default(),
            sub.reduce_job
                .as_ref()
                .map(|j| format!(", reduce job {j}"))
                .unwrap_or_default(),
            sub.log_dir.display()
        ));
    }
    if s.no_wait {
        report("slurm: submitted; rerun the same command to wait and resubmit what failed");
        return Ok(());
    }
    slurm::wait_for(&slurm::job_ids(&submitted), Duration::from_secs(1), None)?;
    // Where each stage stands now, read once (not once per slice).
    let pending: std::collections::HashMap<&str, Option<Vec<usize>>> = stages
        .iter()
        .map(|st| (st.name(), st.pending_slices(&abs, n)))
        .collect();
    let slice_done = |name: &str, slice: usize| {
        pending
            .get(name)
            .and_then(|p| p.as_ref())
            .is_some_and(|p| !p.contains(&slice))
    };
    let reduce_done = |name: &str| {
        stages
            .iter()
            .any(|st| st.name() == name && st.complete(&abs))
    };
    let failed = slurm::failures(&submitted, &slice_done, &reduce_done);
    if failed.is_empty() {
        report("slurm: every task completed");
        return Ok(());
    }
    let lines: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "failed: {} {} ({}), log: {}",
                f.stage,
                f.slice
                    .map(|s| format!("task {s}"))
                    .unwrap_or_else(|| "reduce".into()),
                f.state,
                f.log.display()
            )
        })
        .collect();
    Err(ExecutorError::Failed(format!(
        "{}\n{} task(s) did not complete; rerun the same command to resubmit only those",
        lines.join("\n"),
        failed.len()
    )))
}

/// Runs one slice (or the reduce) of stage `name` in `run` from the settings
/// recorded in the run directory: what a Slurm array element does.
pub fn run_recorded_task(
    run: &RunDir,
    name: &str,
    slice: TaskSlice,
    phase: Phase,
) -> Result<String, ExecutorError> {
    let opts = RunOptions {
        slice,
        phase,
        force: false,
        progress: false,
    };
    let stage = crate::stages::open_recorded(run, name)?;
    Ok(stage.run_here(run, &opts)?)
}
