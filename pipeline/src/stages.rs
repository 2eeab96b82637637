//! The registry of crawl stages, in pipeline order: what `crawl run-task`
//! can rebuild from a run directory. A new stage is one module implementing
//! [`crate::stage::Stage`], plus one line here.

use crate::balance::{BalanceStage, DownloadedBalanceStage};
use crate::dedup::DedupStage;
use crate::download::DownloadStage;
use crate::executor::{ExecutorError, StageUnit};
use crate::extract::ExtractStage;
use crate::matching::MatchStage;
use crate::run_dir::RunDir;
use crate::stage::{record, Stage, StageError};

/// The stages' names, in pipeline order.
pub const NAMES: [&str; 6] = [
    ExtractStage::NAME,
    MatchStage::NAME,
    BalanceStage::NAME,
    DownloadStage::NAME,
    DedupStage::NAME,
    DownloadedBalanceStage::NAME,
];

fn open<S: Stage + 'static>(run: &RunDir) -> Result<Box<dyn StageUnit>, ExecutorError> {
    let path = run.job(S::NAME);
    let params: S::Params = record::read(&path)?.ok_or_else(|| StageError::Corrupt {
        path: path.clone(),
        detail: "missing: the stage was never started in this run directory".into(),
    })?;
    let stage = S::open(params).map_err(|e| StageError::Stage {
        stage: S::NAME.into(),
        source: e,
    })?;
    Ok(Box::new(stage))
}

/// Rebuilds stage `name` from the settings recorded in `run`.
pub fn open_recorded(run: &RunDir, name: &str) -> Result<Box<dyn StageUnit>, ExecutorError> {
    match name {
        ExtractStage::NAME => open::<ExtractStage>(run),
        MatchStage::NAME => open::<MatchStage>(run),
        BalanceStage::NAME => open::<BalanceStage>(run),
        DownloadStage::NAME => open::<DownloadStage>(run),
        DedupStage::NAME => open::<DedupStage>(run),
        DownloadedBalanceStage::NAME => open::<DownloadedBalanceStage>(run),
        other => Err(ExecutorError::Failed(format!(
            "unknown stage `{other}` (stages: {})",
            NAMES.join(", ")
        ))),
    }
}
