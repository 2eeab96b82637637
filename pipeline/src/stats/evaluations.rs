//! Model evaluations in the report: the summary tables that
//! `witcurate eval --suite` writes (`suite.json`), one per evaluated
//! checkpoint, so that a dataset's report shows what a model trained on it
//! scores beside how it was curated.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StatsError;
use crate::storage::files;

/// One task's row of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// The task's name.
    pub name: String,
    /// Its kind (`zero_shot`, `linear_probe`, `retrieval`, `shard_retrieval`).
    pub kind: String,
    /// What `score` measures (`top-1`, `mean per-class recall`, ...).
    pub metric: String,
    /// The score, in [0, 1].
    pub score: f64,
}

/// One evaluation suite's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSuite {
    /// The `suite.json` read.
    pub source: String,
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// Its training step.
    pub step: u64,
    /// One row per task.
    pub rows: Vec<EvalRow>,
    /// The mean of the scores.
    pub average: f64,
}

/// Reads the suites at `paths`: `suite.json` files, or directories holding
/// one (the `--suite-out` of `eval --suite`). A file that is missing or not
/// a suite is an error naming it.
pub fn read(paths: &[PathBuf]) -> Result<Vec<EvalSuite>, StatsError> {
    paths.iter().map(|p| read_one(p)).collect()
}

fn read_one(path: &Path) -> Result<EvalSuite, StatsError> {
    let file = match files::kind(path) {
        Ok(Some(files::Kind::Dir)) => path.join("suite.json"),
        _ => path.to_path_buf(),
    };
    let bad = |message: String| StatsError::EvalSuite {
        path: file.clone(),
        message,
    };
    let bytes = files::read(&file).map_err(|e| bad(format!("cannot read: {e}")))?;
    #[derive(Deserialize)]
    struct Written {
        checkpoint: String,
        step: u64,
        rows: Vec<EvalRow>,
        average: f64,
    }
    let w: Written = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not the suite.json of `eval --suite`: {e}")))?;
    if let Some(r) = w.rows.iter().find(|r| !(0.0..=1.0).contains(&r.score)) {
        return Err(bad(format!(
            "task {:?} has score {}, outside [0, 1]",
            r.name, r.score
        )));
    }
    Ok(EvalSuite {
        source: file.display().to_string(),
        checkpoint: w.checkpoint,
        step: w.step,
        rows: w.rows,
        average: w.average,
    })
}

/// A suite's title line: the checkpoint, its step and the average.
pub fn title(s: &EvalSuite) -> String {
    format!(
        "{} (step {}): average {} over {} tasks",
        s.checkpoint,
        s.step,
        super::fmt::share(s.average),
        s.rows.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_suite_by_file_or_directory_and_names_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::json!({
            "checkpoint": "run/step-00000100", "step": 100, "average": 0.5,
            "rows": [
                {"name": "digits", "kind": "zero_shot", "metric": "top-1", "score": 0.25, "report": {}},
                {"name": "probe", "kind": "linear_probe", "metric": "top-1", "score": 0.75, "report": {}}
            ]
        });
        std::fs::write(dir.path().join("suite.json"), json.to_string()).unwrap();
        let by_dir = read(&[dir.path().to_path_buf()]).unwrap();
        let by_file = read(&[dir.path().join("suite.json")]).unwrap();
        assert_eq!(by_dir, by_file);
        assert_eq!(by_dir[0].rows[1].name, "probe");
        assert_eq!(
            title(&by_dir[0]),
            "run/step-00000100 (step 100): average 50.0% over 2 tasks"
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"rows\": 3}").unwrap();
        let e = read(&[bad]).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("not the suite.json"),
            "{e}"
        );
        let e = read(&[dir.path().join("none.json")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.json") && e.contains("cannot read"), "{e}");
    }
}
