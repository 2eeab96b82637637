//! The dataset statistics report of a run directory (`witcurate stats RUN`).
//!
//! [`collect()`] reads whatever stages a run holds — the vocabulary,
//! `pairs/`, `matched/`, `counts.parquet` (or `counts/`), `selected/`,
//! `shards/` and the stages' records (`_stages/STAGE/`, see [`records`]) —
//! and computes [`RunStats`]: the funnel from crawled records to downloaded
//! images, from the stages' counters read by name, with the drop at each
//! step and the counters that explain it, the distribution of matches over
//! vocabulary entries
//! before and after balancing, caption and image statistics, top domains and
//! run facts. [`write_reports`] writes it as `stats.json`, a Markdown summary
//! (`report.md`) and a self-contained HTML page with inline SVG charts
//! (`report.html`).
//!
//! Parquet files are streamed with column projection in row batches; every
//! summary has a fixed memory bound (fixed-bin histograms, Misra–Gries
//! heavy hitters, an exact-then-HyperLogLog distinct counter; see
//! [`sketch`]). Files are read in parallel and merged in file order, so the
//! output is byte-identical whatever the thread count.
//!
//! ```no_run
//! use pipeline::stats::{collect, write_reports, Options};
//! let run = std::path::Path::new("out/run");
//! let stats = collect(run, &Options::default())?;
//! let paths = write_reports(&stats, &run.join("stats"))?;
//! println!("{}", paths.html.display());
//! # Ok::<(), pipeline::stats::StatsError>(())
//! ```

use std::path::{Path, PathBuf};

pub mod collect;
pub mod counters;
pub mod evaluations;
pub mod fmt;
pub mod languages;
pub mod model;
pub mod records;
pub mod report_html;
pub mod report_json;
pub mod report_md;
pub mod scan;
pub mod sketch;
pub mod svg;
pub mod train_curves;
pub mod vocab;

pub use collect::{collect, Options};
pub use model::RunStats;

use crate::task::{clean_stale_temps_of, write_atomically, TaskError};

/// Errors of the statistics report.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The run directory does not exist or is not a directory.
    #[error("{0}: not a run directory (it does not exist or is not a directory)")]
    NotADirectory(PathBuf),
    /// The run directory holds no stage output at all.
    #[error(
        "{run}: no stage outputs found; expected at least one of {vocab}/queries.parquet (or \
         queries.txt; see --vocab), pairs/*.parquet, matched/*.parquet, counts.parquet, \
         selected/*.parquet, shards/*.parquet",
        run = run.display(),
        vocab = vocab_dir.display()
    )]
    NoStages {
        /// The run directory.
        run: PathBuf,
        /// Where the vocabulary was looked for.
        vocab_dir: PathBuf,
    },
    /// An evaluation suite's `suite.json` could not be read.
    #[error("{path}: {message}", path = path.display())]
    EvalSuite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A training log could not be read, or its curves written.
    #[error("{path}: {message}", path = path.display())]
    TrainLog {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The vocabulary could not be read.
    #[error("{path}: cannot read the vocabulary: {message}", path = path.display())]
    Vocab {
        /// The vocabulary file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Writing a report failed.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Serialising `stats.json` failed.
    #[error("cannot serialise the statistics: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where [`write_reports`] wrote the reports.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// `stats.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
}

/// Writes `stats.json`, `report.md` and `report.html` into `out_dir`, each
/// atomically (a rerun replaces them, and removes what a killed one left).
pub fn write_reports(stats: &RunStats, out_dir: &Path) -> Result<ReportPaths, StatsError> {
    let paths = ReportPaths {
        json: out_dir.join("stats.json"),
        markdown: out_dir.join("report.md"),
        html: out_dir.join("report.html"),
    };
    for p in [&paths.json, &paths.markdown, &paths.html] {
        clean_stale_temps_of(p)?;
    }
    write_atomically(&paths.json, report_json::render(stats)?.as_bytes())?;
    write_atomically(&paths.markdown, report_md::render(stats).as_bytes())?;
    write_atomically(&paths.html, report_html::render(stats)?.as_bytes())?;
    Ok(paths)
}
