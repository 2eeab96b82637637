//! `witcurate crawl match`: its flags, and the stage they make.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pipeline::matching::{MatchStage, Rule, Vocab};

/// The matching rule, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// MetaCLIP's rule exactly: space-delimited, case-sensitive substring match.
    Metaclip,
    /// Unicode-aware word boundaries on the unmodified text (`(dog)`, `dog's` match `dog`).
    WordBoundary,
}

impl From<RuleArg> for Rule {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::Metaclip => Rule::MetaClip,
            RuleArg::WordBoundary => Rule::WordBoundary,
        }
    }
}

/// Flags of the match stage (reads RUN/pairs/, writes RUN/matched/,
/// RUN/counts/, RUN/counts.parquet).
#[derive(Debug, Clone, Args)]
pub struct MatchOptions {
    /// The vocabulary directory (holding queries.txt) or a queries.txt file.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// When an entry matches a text.
    #[arg(long, value_enum, default_value_t = RuleArg::Metaclip)]
    pub rule: RuleArg,
    /// Refuse a vocabulary whose automaton is estimated to need more memory
    /// than this. In bytes, or a number with a unit: 2G or 2GiB mean 2 GiB
    /// (powers of 1024, also K, M, T), 2GB means 2·10^9 bytes (KB, MB, TB).
    #[arg(long, default_value = "16GiB", value_parser = parse_size)]
    pub max_vocab_memory: u64,
}

impl MatchOptions {
    /// The stage these flags describe.
    pub fn stage(&self) -> Result<MatchStage> {
        let Some(vocab) = &self.vocab else {
            anyhow::bail!("crawl match needs --vocab DIR (a vocabulary directory or queries.txt)");
        };
        let vocab = Vocab::load(vocab).context("reading the vocabulary")?;
        Ok(MatchStage::new(
            vocab,
            self.rule.into(),
            self.max_vocab_memory,
        ))
    }
}

/// Parses a byte size (see [`units::parse_size`]).
pub fn parse_size(s: &str) -> Result<u64, String> {
    units::parse_size(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("x").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
