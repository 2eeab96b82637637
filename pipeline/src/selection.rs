//! Selections: directories of a crawl run that say, per shard, which of its
//! rows belong to the dataset (`dedup/`: the images dedup kept; `balanced/`:
//! the images balancing after download kept). The trainer reads them with
//! `train --select`; this module says whether one is complete.

use std::path::{Path, PathBuf};

use crate::balance::{Downloaded, Pool};
use crate::dedup::DedupStage;
use crate::run_dir::RunDir;
use crate::stage::Stage;

/// Why a directory cannot be used as a selection.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// Not a selection directory of a crawl run.
    #[error(
        "{0}: not a selection of a crawl run (expected RUN/dedup or RUN/balanced, \
         written by `crawl dedup` and `crawl balance --pool downloaded`)"
    )]
    Unknown(PathBuf),
    /// The stage that writes it has not completed.
    #[error(
        "{dir}: the `{stage}` stage of {run} has not completed (no {marker}); \
         run or finish it first"
    )]
    Incomplete {
        /// The selection directory.
        dir: PathBuf,
        /// Its stage.
        stage: &'static str,
        /// The run directory.
        run: PathBuf,
        /// The missing completion record.
        marker: PathBuf,
    },
}

/// The stage that writes selection directory `dir`, by its name.
pub fn selection_stage(dir: &Path) -> Option<&'static str> {
    match dir.file_name()?.to_str()? {
        "dedup" => Some(DedupStage::NAME),
        "balanced" => Some(Downloaded::STAGE),
        _ => None,
    }
}

/// Checks that `dir` is a selection whose stage completed: a stage never
/// trusts unfinished upstream output, and neither does the trainer.
pub fn require_complete(dir: &Path) -> Result<(), SelectionError> {
    let stage = selection_stage(dir).ok_or_else(|| SelectionError::Unknown(dir.to_path_buf()))?;
    let run = RunDir::new(dir.parent().unwrap_or(Path::new(".")));
    let marker = run.completion(stage);
    if !marker.is_file() {
        return Err(SelectionError::Incomplete {
            dir: dir.to_path_buf(),
            stage,
            run: run.root().to_path_buf(),
            marker,
        });
    }
    Ok(())
}
