//! Executors: who runs a stage's tasks.
//!
//! A stage is a set of tasks plus at most one reduce. The task layer
//! ([`crate::task`]) makes every task idempotent and skipped when done, so an
//! executor only has to start processes: `local` runs every slice in this
//! process (using every core), `slurm` submits each stage as a Slurm job
//! array, its reduce as a job that depends on the array, and the next stage
//! depending on that. No cluster protocol of our own: the scheduler the user
//! already has does the scheduling.
//!
//! Completion of a task slice is a file: after slice `i` of `n` of a stage has
//! run to the end, `RUN/_done/STAGE/slice-i-of-n` exists (see [`markers`]).
//! Executors resubmit only slices without it.

pub mod markers;
pub mod slurm;

use serde::{Deserialize, Serialize};

/// Which executor runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ExecutorKind {
    /// Every task in this process, using every core.
    #[default]
    Local,
    /// Slurm job arrays (`sbatch --array`).
    Slurm,
}

/// One stage as an executor sees it: command lines to run its task slices
/// and its reduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageJob {
    /// Stage name (`extract`, `match`, ...): names scripts, logs and markers.
    pub name: String,
    /// Number of slices the stage's tasks are split into (`--task-count`).
    pub task_count: usize,
    /// Slices still to run (those without a completion marker).
    pub pending: Vec<usize>,
    /// The command that runs one slice, without `--task-index/--task-count`
    /// (the executor appends them).
    pub task_argv: Vec<String>,
    /// The command that runs the reduce, if the stage has one.
    pub reduce_argv: Option<Vec<String>>,
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
    /// Tasks failed.
    #[error("{0}")]
    Failed(String),
}
