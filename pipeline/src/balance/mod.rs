//! The balance stage: cap how many pairs each vocabulary entry brings.
//!
//! Input: `matched/part-NNNNN.parquet` and `counts.parquet` of the match
//! stage. Output: `selected/part-NNNNN.parquet` (same columns as `matched/`),
//! per-task `balance_counts/part-NNNNN.parquet` (kept pairs per entry), and,
//! once every task is done, the reduce's `balance_counts.parquet` (`id,
//! count_before, count_after, p, capped` per entry with a match) and
//! `balance.json` (parameters and totals).
//!
//! - [`Cap::Soft`] (default) is MetaCLIP's: an entry matched `count` times is
//!   kept with probability `p = t / max(count, t)`, and a pair is kept when
//!   any of its entries wins its draw ([`draw::draw`]). Entries can exceed t
//!   through pairs kept for other entries.
//! - [`Cap::Hard`] guarantees that no entry is in more than t kept pairs
//!   (rule in [`hard`]).
//!
//! t is fixed (`--t`, default 20,000) or chosen by tail share
//! ([`threshold::Threshold::TailShare`]). After a multilingual match
//! (`crawl match --lid`), that t is English's and every other language gets
//! its own ([`caps`], MetaCLIP 2's rule).

use std::fmt;
use std::path::PathBuf;

pub mod caps;
pub mod draw;
pub mod hard;
pub mod pool;
pub mod stage;
pub mod threshold;

pub use pool::{Downloaded, Matched, Pool};
pub use stage::{Balance, BalanceParams, BalanceStage, BalanceSummary, DownloadedBalanceStage};
pub use threshold::Threshold;

use crate::parts::PartsError;
use crate::task::TaskError;

/// Which cap to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// MetaCLIP's probabilistic cap.
    #[default]
    Soft,
    /// No entry in more than t kept pairs.
    Hard,
}

impl Cap {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Cap::Soft => "soft",
            Cap::Hard => "hard",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the balance stage.
#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An option is out of range.
    #[error("{0}")]
    BadOption(String),
    /// Reading or writing a parquet part failed.
    #[error(transparent)]
    Parts(#[from] PartsError),
    /// The task layer failed.
    #[error(transparent)]
    Task(#[from] TaskError),
}
