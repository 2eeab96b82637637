//! What every stage's tasks share: which tasks this process runs
//! ([`TaskSlice`]), atomic commit of outputs, and named [`Counters`]. The
//! stage runner that uses them is [`crate::stage`].

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which slice of a stage's tasks this process runs (`--task-index i --task-count n`).
///
/// Task `t` belongs to slice `t % count == index`, so slices are disjoint and
/// together cover every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSlice {
    /// This process's slice, `0 <= index < count`.
    pub index: usize,
    /// How many slices the tasks are split into.
    pub count: usize,
}

impl Default for TaskSlice {
    fn default() -> Self {
        Self::ALL
    }
}

impl TaskSlice {
    /// The slice that holds every task.
    pub const ALL: TaskSlice = TaskSlice { index: 0, count: 1 };

    /// Builds a slice, checking `index < count` and `count > 0`.
    pub fn new(index: usize, count: usize) -> Result<Self, TaskError> {
        if count == 0 || index >= count {
            return Err(TaskError::BadSlice { index, count });
        }
        Ok(Self { index, count })
    }

    /// Whether task number `task` belongs to this slice.
    pub fn includes(&self, task: usize) -> bool {
        task % self.count == self.index
    }
}

/// Errors of the task layer.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// `--task-index` is not below `--task-count`, or the count is zero.
    #[error("task index {index} is out of range for task count {count} (need 0 <= index < count)")]
    BadSlice {
        /// The requested index.
        index: usize,
        /// The requested count.
        count: usize,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl From<atomic_output::AtomicError> for TaskError {
    fn from(e: atomic_output::AtomicError) -> Self {
        TaskError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl TaskError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        TaskError::Io {
            path: path.into(),
            source,
        }
    }
}

/// A writer's error lifted so that the storage layer's errors and the
/// writer's own both come back as `E` from [`commit_atomically`] and
/// [`commit_dir`].
struct Lifted<E>(E);

impl<E: From<TaskError>> From<atomic_output::AtomicError> for Lifted<E> {
    fn from(e: atomic_output::AtomicError) -> Self {
        Lifted(E::from(TaskError::from(e)))
    }
}

/// Writes an output atomically (see [`crate::storage::files::commit`]):
/// `write` receives a temporary path, and on success the file is renamed to
/// `final_path` (or uploaded, when `final_path` is an object URL); on failure
/// nothing appears.
pub fn commit_atomically<E, F>(final_path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<TaskError>,
{
    crate::storage::files::commit(final_path, |tmp| write(tmp).map_err(Lifted))
        .map_err(|Lifted(e)| e)
}

/// Writes the directory `final_path` (see
/// [`crate::storage::files::commit_dir`]): renamed into place whole on disk;
/// on an object store its files go up one by one and the caller's completion
/// marker, written after, is what says the directory is whole.
pub fn commit_dir<E, F>(final_path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<TaskError>,
{
    crate::storage::files::commit_dir(final_path, |tmp| write(tmp).map_err(Lifted))
        .map_err(|Lifted(e)| e)
}

/// Writes bytes to `final_path` atomically (see [`commit_atomically`]).
pub fn write_atomically(final_path: &Path, bytes: &[u8]) -> Result<(), TaskError> {
    crate::storage::files::write(final_path, bytes).map_err(|e| TaskError::io(final_path, e))
}

/// Removes the stale temporary files of one output, leaving the rest of its
/// directory alone (see [`atomic_output::clean_stale_temps_of`]).
pub fn clean_stale_temps_of(final_path: &Path) -> Result<usize, TaskError> {
    Ok(crate::storage::files::clean_stale_temps_of(final_path)?)
}

/// Named counters of one task (records read, pairs written, faults by class,
/// ...). They roll up into the stage's and the run's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters(pub BTreeMap<String, u64>);

impl Counters {
    /// Adds `n` to counter `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        *self.0.entry(name.to_string()).or_insert(0) += n;
    }

    /// Adds one to counter `name`.
    pub fn incr(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// The value of counter `name` (0 when never touched).
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// Adds every counter of `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn slices_partition_tasks() {
        let slices: Vec<_> = (0..3).map(|i| TaskSlice::new(i, 3).unwrap()).collect();
        for task in 0..20 {
            assert_eq!(slices.iter().filter(|s| s.includes(task)).count(), 1);
        }
        assert!(TaskSlice::new(3, 3).is_err());
        assert!(TaskSlice::new(0, 0).is_err());
    }

    #[test]
    fn atomic_commit_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/part-00000.parquet");
        let r: Result<(), TaskError> = commit_atomically(&target, |tmp| {
            fs::write(tmp, b"half").unwrap();
            Err(TaskError::BadSlice { index: 1, count: 1 })
        });
        assert!(r.is_err());
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
        write_atomically(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
    }
}
