//! Completion markers: `RUN/_done/STAGE/slice-i-of-n`, written atomically
//! after a task slice (or a reduce: `RUN/_done/STAGE/reduce`) ran to the end.

use std::path::{Path, PathBuf};

use crate::task::{clean_stale_temps, write_atomically, TaskError, TaskSlice};

/// Directory of a stage's markers.
pub fn stage_dir(run: &Path, stage: &str) -> PathBuf {
    run.join("_done").join(stage)
}

/// Marker path of one slice.
pub fn slice_marker(run: &Path, stage: &str, slice: TaskSlice) -> PathBuf {
    stage_dir(run, stage).join(format!("slice-{}-of-{}", slice.index, slice.count))
}

/// Marker path of a stage's reduce.
pub fn reduce_marker(run: &Path, stage: &str) -> PathBuf {
    stage_dir(run, stage).join("reduce")
}

/// Records that `slice` of `stage` completed (first removing the stale
/// temporary markers a killed process left in the stage's marker directory).
pub fn mark_slice_done(run: &Path, stage: &str, slice: TaskSlice) -> Result<(), TaskError> {
    clean_stale_temps(&stage_dir(run, stage))?;
    write_atomically(&slice_marker(run, stage, slice), b"done\n")
}

/// Records that the reduce of `stage` completed. The reduce writes the
/// stage's files at the top of the run directory, so the stale temporary
/// files killed processes left there (and in the marker directory) go first.
pub fn mark_reduce_done(run: &Path, stage: &str) -> Result<(), TaskError> {
    clean_stale_temps(run)?;
    clean_stale_temps(&stage_dir(run, stage))?;
    write_atomically(&reduce_marker(run, stage), b"done\n")
}

/// Slices of `count` whose marker is missing, ascending.
pub fn pending_slices(run: &Path, stage: &str, count: usize) -> Vec<usize> {
    (0..count)
        .filter(|&i| !slice_marker(run, stage, TaskSlice { index: i, count }).exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_follows_markers() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pending_slices(dir.path(), "extract", 3), vec![0, 1, 2]);
        mark_slice_done(dir.path(), "extract", TaskSlice::new(1, 3).unwrap()).unwrap();
        assert_eq!(pending_slices(dir.path(), "extract", 3), vec![0, 2]);
        // A marker of another split does not count.
        assert_eq!(pending_slices(dir.path(), "extract", 2), vec![0, 1]);
        assert!(!reduce_marker(dir.path(), "extract").exists());
        // What a killed process left goes when the next marker is written.
        let host = crate::task::host_name();
        let left = [
            stage_dir(dir.path(), "extract").join(format!(".reduce.tmp-{host}-4294967")),
            dir.path()
                .join(format!(".counts.parquet.tmp-{host}-4294967")),
        ];
        for p in &left {
            std::fs::write(p, b"x").unwrap();
        }
        mark_reduce_done(dir.path(), "extract").unwrap();
        assert!(reduce_marker(dir.path(), "extract").exists());
        assert!(left.iter().all(|p| !p.exists()));
    }
}
