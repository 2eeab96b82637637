//! `witcurate crawl balance`: its flags, and the stage they make.

use anyhow::Result;
use clap::{Args, ValueEnum};
use pipeline::balance::{BalanceParams, BalanceStage, Cap, DownloadedBalanceStage, Threshold};
use pipeline::executor::StageUnit;

/// What `crawl balance` balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolArg {
    /// The matched pairs, before download (RUN/matched/ → RUN/selected/).
    Matched,
    /// The downloaded images that dedup kept, one alt-text per image
    /// (RUN/pool/ → RUN/balanced/, which `train --select` reads).
    Downloaded,
}

/// The cap, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CapArg {
    /// MetaCLIP's: keep a pair if any entry wins its draw with p = t / max(count, t).
    Soft,
    /// No entry in more than t kept pairs (rarest-entry-first greedy; see docs/matching.md).
    Hard,
}

/// Flags of the balance stage (reads RUN/matched/ and RUN/counts.parquet,
/// writes RUN/selected/).
#[derive(Debug, Clone, Args)]
pub struct BalanceOptions {
    /// The cap t: entries matched more than t times are sampled down to about t pairs.
    #[arg(long, default_value_t = 20_000, conflicts_with = "tail_share")]
    pub t: u64,
    /// Choose t instead so that entries matched fewer than t times hold this
    /// share of all matches (MetaCLIP: 0.06 for large pools).
    #[arg(long)]
    pub tail_share: Option<f64>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Soft (MetaCLIP) or hard cap.
    #[arg(long, value_enum, default_value_t = CapArg::Soft)]
    pub cap: CapArg,
}

impl BalanceOptions {
    /// The stage these flags describe, over `pool`.
    pub fn stage_of(&self, pool: PoolArg) -> Result<Box<dyn StageUnit>> {
        Ok(match pool {
            PoolArg::Matched => Box::new(self.stage()?),
            PoolArg::Downloaded => Box::new(DownloadedBalanceStage::new(self.params())?),
        })
    }

    /// The stage these flags describe, over the matched pairs.
    pub fn stage(&self) -> Result<BalanceStage> {
        Ok(BalanceStage::new(self.params())?)
    }

    fn params(&self) -> BalanceParams {
        BalanceParams {
            threshold: match self.tail_share {
                Some(s) => Threshold::TailShare(s),
                None => Threshold::Fixed(self.t),
            },
            seed: self.seed,
            cap: match self.cap {
                CapArg::Soft => Cap::Soft,
                CapArg::Hard => Cap::Hard,
            },
        }
    }
}
