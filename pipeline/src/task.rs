//! The task abstraction shared by all stages: which tasks this process runs,
//! atomic commit of outputs, skip-if-done, and per-task counters.

use std::collections::BTreeMap;
use std::fs;
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

impl TaskError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        TaskError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The conventional name of a task's output part: `part-00042.parquet`.
pub fn part_name(task: usize, extension: &str) -> String {
    format!("part-{task:05}.{extension}")
}

/// The temporary path an output is written under before it is committed:
/// a hidden sibling (`.NAME.tmp-HOST-PID`) in the same directory, so the final
/// rename is atomic and readers listing `*.parquet` never see it. The host
/// name lets [`clean_stale_temps`] tell this machine's leftovers from files
/// other machines sharing the directory are still writing.
pub fn temp_path_for(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        host_name(),
        std::process::id()
    ))
}

/// This machine's name, reduced to `[A-Za-z0-9_]` (used in temporary names).
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Whether an output has been committed (its final path exists).
pub fn is_done(final_path: &Path) -> bool {
    final_path.exists()
}

/// Writes an output atomically: `write` receives a temporary path in the same
/// directory, and on success the file is fsynced and renamed to `final_path`.
/// On failure the temporary file is removed and nothing appears at `final_path`.
pub fn commit_atomically<E, F>(final_path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<TaskError>,
{
    if let Some(dir) = final_path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(|e| TaskError::io(dir, e))?;
        }
    }
    let tmp = temp_path_for(final_path);
    match write(&tmp) {
        Ok(()) => {
            if let Ok(f) = fs::File::open(&tmp) {
                let _ = f.sync_all();
            }
            fs::rename(&tmp, final_path).map_err(|e| TaskError::io(final_path, e))?;
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes bytes to `final_path` atomically (see [`commit_atomically`]).
pub fn write_atomically(final_path: &Path, bytes: &[u8]) -> Result<(), TaskError> {
    commit_atomically(final_path, |tmp| {
        fs::write(tmp, bytes).map_err(|e| TaskError::io(tmp, e))
    })
}

/// How long a temporary file must have gone unmodified before
/// [`clean_stale_temps`] treats it as left behind by a killed task.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes temporary files left in `dir` by killed tasks (`.*.tmp-PID`).
///
/// Several processes (task slices, possibly on several machines sharing the
/// directory) may be writing at the same time, so a temporary file is removed
/// only when it is stale: written by a process of this machine that is no
/// longer alive, or written elsewhere and not modified for [`STALE_TEMP_AGE`].
/// Returns how many were removed.
pub fn clean_stale_temps(dir: &Path) -> Result<usize, TaskError> {
    clean_temps_older_than(dir, STALE_TEMP_AGE)
}

/// [`clean_stale_temps`] with a chosen age.
pub fn clean_temps_older_than(dir: &Path, age: std::time::Duration) -> Result<usize, TaskError> {
    clean_temps(dir, None, age)
}

/// Removes the stale temporary files of one output (see [`clean_stale_temps`]),
/// leaving the other files of its directory alone: for outputs written into a
/// directory the run does not own (say, `eval --json FILE`).
pub fn clean_stale_temps_of(final_path: &Path) -> Result<usize, TaskError> {
    let Some(name) = final_path.file_name() else {
        return Ok(0);
    };
    let dir = match final_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    clean_temps(dir, Some(&prefix), STALE_TEMP_AGE)
}

fn clean_temps(
    dir: &Path,
    prefix: Option<&str>,
    age: std::time::Duration,
) -> Result<usize, TaskError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(TaskError::io(dir, e)),
    };
    let now = std::time::SystemTime::now();
    let this_host = host_name();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| TaskError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, owner)) = name.rsplit_once(".tmp-") else {
            continue;
        };
        if !name.starts_with('.') || prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        // `HOST-PID`, or a bare `PID` (taken as this machine's).
        let (host, pid) = match owner.rsplit_once('-') {
            Some((host, pid)) => (Some(host), pid),
            None => (None, owner),
        };
        let local = host.is_none_or(|h| h == this_host);
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|d| d >= age);
        let stale = if local { !alive } else { old };
        if stale {
            let path = entry.path();
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                // Another process cleaned it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(TaskError::io(path, e)),
            }
        }
    }
    Ok(removed)
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
        assert!(is_done(&target));
    }

    #[test]
    fn stale_temps_are_cleaned_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_name();
        let old = std::time::SystemTime::now() - STALE_TEMP_AGE * 2;
        let age = |p: &Path| {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        // Left by a dead process of this machine: removed at once.
        let dead = dir
            .path()
            .join(format!(".part-00001.parquet.tmp-{host}-4294967"));
        fs::write(&dead, b"x").unwrap();
        // Being written by this (live) process: kept, however old.
        let live = temp_path_for(&dir.path().join("part-00002.parquet"));
        fs::write(&live, b"x").unwrap();
        age(&live);
        // Another machine's, recent: kept; old: removed.
        let remote = dir.path().join(".part-00003.parquet.tmp-othermachine-12");
        fs::write(&remote, b"x").unwrap();
        let remote_old = dir.path().join(".part-00004.parquet.tmp-othermachine-13");
        fs::write(&remote_old, b"x").unwrap();
        age(&remote_old);
        fs::write(dir.path().join("part-00000.parquet"), b"x").unwrap();
        assert_eq!(clean_stale_temps(dir.path()).unwrap(), 2);
        assert!(!dead.exists() && !remote_old.exists());
        assert!(live.exists() && remote.exists());
        assert!(dir.path().join("part-00000.parquet").exists());
    }

    #[test]
    fn stale_temps_of_one_output() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_name();
        let mine = dir.path().join(format!(".eval.json.tmp-{host}-4294967"));
        let other = dir.path().join(format!(".notes.txt.tmp-{host}-4294967"));
        fs::write(&mine, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        assert_eq!(
            clean_stale_temps_of(&dir.path().join("eval.json")).unwrap(),
            1
        );
        assert!(!mine.exists() && other.exists());
    }
}
