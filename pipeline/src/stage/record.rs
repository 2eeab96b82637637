//! The one counters schema: a record per task, one for the reduce, and the
//! completion record, all JSON under `RUN/_stages/STAGE/`.
//!
//! Counter names are typed by their prefix, and `witcurate stats` reads them
//! by name:
//! - `fault_*`: an input record or sample that could not be processed (bad
//!   data, a network failure, ...); counted as a failure;
//! - `skip_*`: an input removed on purpose by a rule (too short, filtered,
//!   duplicate, ...);
//! - anything else is a measure (`records`, `pairs`, `bytes_raw`, ...).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StageError;
use crate::task::Counters;

/// The kind of a counter, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKind {
    /// `fault_*`: a failure.
    Fault,
    /// `skip_*`: removed by a rule.
    Skip,
    /// Anything else.
    Measure,
}

impl CounterKind {
    /// The kind of counter `name`.
    pub fn of(name: &str) -> Self {
        if name.starts_with("fault_") {
            CounterKind::Fault
        } else if name.starts_with("skip_") {
            CounterKind::Skip
        } else {
            CounterKind::Measure
        }
    }
}

/// The record of one completed task: `_stats/STAGE/task-N.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The stage.
    pub stage: String,
    /// The task id.
    pub task: usize,
    /// Seconds the task took.
    pub seconds: f64,
    /// The generation of the upstream stage the task read (`None`: no upstream).
    pub upstream: Option<String>,
    /// The task's counters.
    pub counters: Counters,
}

/// The record of a completed reduce: `_stages/STAGE/reduce.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceRecord {
    /// The stage.
    pub stage: String,
    /// Seconds the reduce took.
    pub seconds: f64,
    /// Number of task records it summarised.
    pub tasks: usize,
    /// Fingerprint of those task records: a changed task means a new reduce.
    pub tasks_fingerprint: String,
    /// The reduce's counters.
    pub counters: Counters,
}

/// The completion record, written last: `_stages/STAGE/complete.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// The stage.
    pub stage: String,
    /// Identifies this completed state of the stage's outputs: downstream
    /// task records name it, and are redone when it changes.
    pub generation: String,
    /// Number of tasks.
    pub tasks: usize,
}

/// Reads a JSON record; `None` when the file does not exist.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StageError> {
    match crate::storage::files::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StageError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("unreadable record ({e}); remove it to redo what it records"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StageError::io(path, e)),
    }
}

/// Writes a JSON record atomically.
pub fn write<T: Serialize>(path: &Path, record: &T) -> Result<(), StageError> {
    let json = serde_json::to_vec_pretty(record).expect("records serialise");
    crate::storage::files::write(path, &json).map_err(|e| StageError::io(path, e))
}

/// Sum of the counters of `records`.
pub fn total(records: &[TaskRecord]) -> Counters {
    let mut c = Counters::default();
    for r in records {
        c.merge(&r.counters);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        assert_eq!(
            CounterKind::of("fault_gzip_corrupt_member"),
            CounterKind::Fault
        );
        assert_eq!(CounterKind::of("skip_text_too_short"), CounterKind::Skip);
        assert_eq!(CounterKind::of("pairs"), CounterKind::Measure);
        assert_eq!(CounterKind::of("bad_fault_"), CounterKind::Measure);
    }
}
