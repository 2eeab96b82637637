//! The stage abstraction and its one runner.
//!
//! A crawl stage is a set of independent tasks plus at most one reduce. A
//! stage module implements [`Stage`] (its name, its parameters, its tasks and
//! their outputs, how to run tasks, the reduce); [`run_stage`] does
//! everything else, the same way for every stage:
//!
//! - the **parameter guard** ([`guard`]): the first run records the guarded
//!   parameters in `RUN/_stages/STAGE/params.json`, atomically (two
//!   processes with different parameters cannot both proceed); a later run
//!   with other parameters stops with an error naming each differing value,
//!   and `--force` starts the stage over;
//! - the **upstream check**: a stage refuses input whose producing stage has
//!   not completed (`RUN/_stages/UPSTREAM/complete.json`), and each task
//!   record names the upstream generation it read, so a task whose upstream
//!   changed since is redone;
//! - **skip-if-done**: a task is done when its record
//!   (`_stats/STAGE/task-N.json`) and its outputs exist; the record is
//!   written after the outputs, so a killed task is simply redone;
//! - **stale-temporary cleanup** of the stage's directories (one policy, see
//!   [`atomic_output::clean_stale_temps`]);
//! - **progress** (one bar style) and **failure collection**: a failing task
//!   never stops the others; the run ends with an error naming them;
//! - **per-task counters** in one schema ([`record`]), and **reduce gating**:
//!   the reduce runs once every task is done, and is redone whenever the task
//!   records it summarises changed;
//! - the **completion record**, written last.

pub mod guard;
pub mod progress;
pub mod record;
mod runner;

use std::fmt::Debug;
use std::path::PathBuf;

use indicatif::ProgressBar;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::run_dir::RunDir;
use crate::task::{Counters, TaskSlice};

pub use guard::ParamsDiff;
pub use record::{Completion, ReduceRecord, TaskRecord};
pub use runner::{prepare, run_stage, stage_state, task_record_files, StageState};

/// Any error of a stage's own code (its messages name the file or record).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one completed task reports.
#[derive(Debug, Clone, Default)]
pub struct TaskDone {
    /// The task's counters.
    pub counters: Counters,
    /// Seconds the task took.
    pub seconds: f64,
}

/// What one task produced, or why it failed.
pub type TaskResult = Result<TaskDone, BoxError>;

/// Runs `tasks` one after the other with `run` (for stages whose tasks use
/// every core inside), timing each and reporting it to `done`.
pub fn run_each<E: Into<BoxError>>(
    tasks: &[usize],
    done: &(dyn Fn(usize, TaskResult) + Sync),
    mut run: impl FnMut(usize) -> Result<Counters, E>,
) {
    for &task in tasks {
        let start = std::time::Instant::now();
        let result = run(task).map_err(Into::into).map(|counters| TaskDone {
            counters,
            seconds: start.elapsed().as_secs_f64(),
        });
        done(task, result);
    }
}

/// Runs `tasks` with `run`, up to `width` of them at once (each on its own
/// thread; `width` ≤ 1 is [`run_each`]), timing each and reporting it to
/// `done`. For stages whose tasks have serial parts (a reader and a writer
/// thread) around a parallel middle: several tasks keep every core busy
/// where one task's serial parts would leave cores idle. Tasks are taken in
/// order; what each writes does not depend on `width`.
pub fn run_some_at_once<E: Into<BoxError>>(
    tasks: &[usize],
    done: &(dyn Fn(usize, TaskResult) + Sync),
    width: usize,
    run: impl Fn(usize) -> Result<Counters, E> + Sync,
) {
    let width = width.min(tasks.len());
    if width <= 1 {
        return run_each(tasks, done, run);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..width {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&task) = tasks.get(i) else { break };
                run_each(&[task], done, &run);
            });
        }
    });
}

/// What a stage's tasks and reduce get from the runner.
pub struct StageContext<'a> {
    /// The run directory.
    pub run: &'a RunDir,
    /// The stage's progress bar (hidden with `--quiet`); a stage sets its
    /// length in its own unit ([`Stage::progress_unit`]) and advances it.
    pub progress: &'a ProgressBar,
}

/// A crawl stage. Implement this (and give the stage an options struct on
/// the command line); [`run_stage`] and the executors do the rest.
pub trait Stage: Sync + Sized {
    /// The stage's name: `extract`, `match`, ... (names its records, its
    /// Slurm jobs and its `crawl` subcommand).
    const NAME: &'static str;

    /// Every setting of the stage. Serialized into the run directory, so
    /// that an executor can run the stage's tasks in another process
    /// ([`Stage::open`]); paths in it should be absolute.
    type Params: Serialize + DeserializeOwned + Clone + Debug + Send + Sync;

    /// The stage's settings.
    fn params(&self) -> &Self::Params;

    /// Rebuilds the stage from its settings (in a task process).
    fn open(params: Self::Params) -> Result<Self, BoxError>;

    /// The parameters its outputs depend on, as a JSON object: the guard
    /// compares them with those of existing outputs, field by field. By
    /// default every setting.
    fn guarded(&self) -> serde_json::Value {
        serde_json::to_value(self.params()).expect("parameters serialise")
    }

    /// The stage whose completed output this one reads, if any.
    fn upstream(&self) -> Option<&'static str>;

    /// Every task of the stage (ascending ids). Called after the upstream
    /// check, so it may read the upstream's outputs.
    fn tasks(&self, run: &RunDir) -> Result<Vec<usize>, BoxError>;

    /// The files task `task` writes (all must exist for it to be done).
    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf>;

    /// Directories the stage writes into (stale temporaries are cleaned
    /// there; `--force` empties them).
    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf>;

    /// What the progress bar counts: `tasks` unless the stage sets its
    /// length in rows, samples, ...
    fn progress_unit(&self) -> &'static str {
        "tasks"
    }

    /// Runs `tasks` (all pending, in this slice), calling `done` once per
    /// task as soon as its outputs are committed (or it failed). A task's
    /// failure must not stop the others. An `Err` means no task could run
    /// (for example the vocabulary automaton could not be built).
    fn run_tasks(
        &self,
        ctx: &StageContext<'_>,
        tasks: &[usize],
        done: &(dyn Fn(usize, TaskResult) + Sync),
    ) -> Result<(), BoxError>;

    /// Whether the stage has a reduce.
    fn has_reduce(&self) -> bool {
        false
    }

    /// The files the reduce writes (removed before a reduce is redone over
    /// changed task outputs).
    fn reduce_outputs(&self, _run: &RunDir) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Runs the reduce over the records of every task; returns its counters.
    /// It may resume partial outputs of an interrupted reduce over the same
    /// task records.
    fn reduce(
        &self,
        _ctx: &StageContext<'_>,
        _records: &[TaskRecord],
    ) -> Result<Counters, BoxError> {
        Ok(Counters::default())
    }

    /// The one-line summary printed at the end of a run of the stage.
    fn summary(&self, outcome: &StageOutcome) -> String {
        outcome.default_line(Self::NAME)
    }
}

/// Which part of a stage a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// The slice's tasks, then the reduce once every task is done.
    #[default]
    All,
    /// Only the slice's tasks.
    Tasks,
    /// Only the reduce; fails unless every task is done.
    Reduce,
}

/// How [`run_stage`] runs a stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Which tasks this process runs.
    pub slice: TaskSlice,
    /// Tasks, reduce or both.
    pub phase: Phase,
    /// Start the stage over: remove its outputs and records first.
    pub force: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// What [`run_stage`] did.
#[derive(Debug, Clone, Default)]
pub struct StageOutcome {
    /// Tasks of the whole stage.
    pub tasks_total: usize,
    /// Tasks of this slice that ran now and succeeded.
    pub tasks_run: usize,
    /// Tasks of this slice skipped because they were done.
    pub tasks_skipped: usize,
    /// Failed tasks: `task N: error`.
    pub failures: Vec<String>,
    /// Counters summed over the tasks that ran now.
    pub counters: Counters,
    /// Seconds spent in tasks.
    pub task_seconds: f64,
    /// The reduce's record, when it ran now.
    pub reduced: Option<ReduceRecord>,
    /// When the reduce could not run yet: how many tasks are not done.
    pub reduce_waiting: Option<usize>,
    /// Whether the stage is complete (its completion record exists).
    pub complete: bool,
}

impl StageOutcome {
    /// `STAGE: R of N tasks run (S already done)` and the counters.
    pub fn default_line(&self, name: &str) -> String {
        let counters: Vec<String> = self
            .counters
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{name}: {} of {} tasks run ({} already done{}){}{}",
            self.tasks_run,
            self.tasks_total,
            self.tasks_skipped,
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(", {} failed", self.failures.len())
            },
            if counters.is_empty() {
                String::new()
            } else {
                format!("; {}", counters.join(" "))
            },
            self.tail()
        )
    }

    /// `; complete`, `; reduce waits for N tasks`, or nothing.
    pub fn tail(&self) -> String {
        match self.reduce_waiting {
            Some(n) => format!("; reduce waits for {n} tasks"),
            None if self.complete => String::new(),
            None => "; not complete".into(),
        }
    }
}

/// Errors of the runner.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Outputs exist that were made with other parameters.
    #[error(
        "{stage}: {path} holds outputs made with other parameters: {diff}. \
         Rerun with the same ones, use another --out, or pass --force to start the stage over"
    )]
    ParamsMismatch {
        /// The stage.
        stage: String,
        /// Its parameters record.
        path: PathBuf,
        /// What differs.
        diff: ParamsDiff,
    },
    /// The stage this one reads has not completed.
    #[error(
        "{stage}: the {upstream} stage has not completed in {run} ({detail}); \
         run `witcurate crawl {upstream}` to the end first"
    )]
    UpstreamIncomplete {
        /// The stage.
        stage: String,
        /// The stage it reads.
        upstream: String,
        /// The run directory.
        run: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// Only the reduce was asked for, but tasks are not done.
    #[error("{stage}: the reduce needs every task done; {missing} of {total} are not (first: task {first})")]
    TasksMissing {
        /// The stage.
        stage: String,
        /// Tasks not done.
        missing: usize,
        /// Tasks in all.
        total: usize,
        /// The first of them.
        first: usize,
    },
    /// Some tasks failed; the others completed.
    #[error("{stage}: {failed} of {attempted} tasks failed:\n  {}", list.join("\n  "))]
    TasksFailed {
        /// The stage.
        stage: String,
        /// How many failed.
        failed: usize,
        /// How many were attempted.
        attempted: usize,
        /// The first failures (`task N: error`).
        list: Vec<String>,
    },
    /// The stage's own code failed outside a task.
    #[error("{stage}: {source}")]
    Stage {
        /// The stage.
        stage: String,
        /// The error.
        source: BoxError,
    },
    /// A record of the run directory is not what it should be.
    #[error("{path}: {detail}")]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl From<atomic_output::AtomicError> for StageError {
    fn from(e: atomic_output::AtomicError) -> Self {
        StageError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl StageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StageError::Io {
            path: path.into(),
            source,
        }
    }
}
