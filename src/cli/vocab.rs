//! `witcurate vocab build`.

use clap::{Args, Subcommand};

use super::GlobalArgs;

/// Vocabulary commands.
#[derive(Debug, Subcommand)]
pub enum VocabCommand {
    /// Build the query list from Wikipedia, pageviews and WordNet.
    Build(BuildArgs),
}

/// Flags of `vocab build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Output directory (queries.txt, queries.parquet, vocab.json).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs a vocab command.
pub fn run(cmd: VocabCommand, _global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        VocabCommand::Build(_args) => anyhow::bail!("vocab build is not available in this build"),
    }
}
