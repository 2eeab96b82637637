//! `witcurate vocab build`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use query_vocab::build::SourceCaps;
use query_vocab::languages::{
    build_languages, pageview_projects, set_thresholds, thresholds, GivenThresholds,
};
use query_vocab::pageviews::PageviewParams;
use query_vocab::select::WikiThresholds;
use query_vocab::BuildOptions;

use super::GlobalArgs;

/// Vocabulary commands.
#[derive(Debug, Subcommand)]
pub enum VocabCommand {
    /// Build the query list from Wikipedia, pageviews and WordNet.
    Build(Box<BuildArgs>),
}

/// Flags of `vocab build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Output directory (queries.txt, queries.parquet, vocab.json); with
    /// several --lang, one subdirectory per language (OUT/ja/, OUT/de/, ...).
    #[arg(long)]
    pub out: PathBuf,
    /// The Wikipedia edition(s) to build for (ja, de, zh, ...; comma-separated
    /// for several at once, each from the --wiki-dump and --omw files named
    /// after it). Without it: English, as MetaCLIP.
    #[arg(long, value_delimiter = ',', value_name = "LANG")]
    pub lang: Vec<String>,
    /// Open Multilingual Wordnet tab file (wn-data-jpn.tab, ...) whose lemmas
    /// join the WordNet entries. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub omw: Vec<PathBuf>,
    /// MediaWiki pages-articles XML dump (.xml, .xml.bz2; multistream decoded in parallel). Repeatable.
    #[arg(long = "wiki-dump", value_name = "FILE")]
    pub wiki_dumps: Vec<PathBuf>,
    /// Pageviews hourly file (pageviews-*.gz) or a directory of them. Repeatable.
    #[arg(long, value_name = "FILE_OR_DIR")]
    pub pageviews: Vec<PathBuf>,
    /// WordNet 3.x database directory (data.noun, data.verb, ...), e.g. /usr/share/wordnet.
    #[arg(long, value_name = "DIR")]
    pub wordnet: Option<PathBuf>,
    /// Total number of entries wanted (Wikipedia sources are trimmed by score to fit).
    #[arg(long, default_value_t = 500_000)]
    pub target_size: usize,
    /// Keep Wikipedia words occurring at least this often [default: 100 for
    /// English, 1 for other languages, which use --unigram-top-share].
    #[arg(long)]
    pub unigram_min_count: Option<u64>,
    /// Keep only this share of the distinct Wikipedia words, the most frequent
    /// (at most 251,465), so that the threshold scales with the corpus
    /// [default: 0.1 for languages other than English, as MetaCLIP 2; none
    /// for English].
    #[arg(long, value_name = "SHARE")]
    pub unigram_top_share: Option<f64>,
    /// Keep bigrams whose log2 PMI is at least this.
    #[arg(long, default_value_t = 30.0)]
    pub bigram_min_pmi: f64,
    /// Keep bigrams occurring at least this often.
    #[arg(long, default_value_t = 1)]
    pub bigram_min_count: u64,
    /// Keep at most this many bigrams, the highest PMI [default: none for
    /// English; 100646 for other languages, as MetaCLIP 2].
    #[arg(long, value_name = "N")]
    pub bigram_max: Option<usize>,
    /// Keep titles whose counted pageviews sum to at least this [default: 70
    /// for English, 1 for other languages].
    #[arg(long)]
    pub title_min_views: Option<u64>,
    /// Keep only this share of the titles, the most viewed (at most 61,235)
    /// [default: none for English; 0.76 for other languages, as MetaCLIP 2].
    #[arg(long, value_name = "SHARE")]
    pub title_top_share: Option<f64>,
    /// Count an hourly pageviews figure only if it is at least this [default:
    /// 50 for English, 1 for other languages].
    #[arg(long)]
    pub title_hourly_min: Option<u64>,
    /// Pageviews projects counted (comma-separated) [default: en,en.m; with
    /// --lang XX: XX,XX.m].
    #[arg(long, value_delimiter = ',')]
    pub pageviews_projects: Vec<String>,
    /// Memory for the count tables and sort buffers; beyond it, counts spill
    /// to disk. In bytes, or a number with a unit: 2G or 2GiB mean 2 GiB
    /// (powers of 1024, also K, M, T), 2GB means 2·10^9 bytes (KB, MB, TB).
    #[arg(long, default_value = "4G", value_parser = units::parse_size_usize)]
    pub memory_limit: usize,
    /// Directory for spill files (default: inside --out).
    #[arg(long, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// Rebuild even when the outputs exist.
    #[arg(long)]
    pub force: bool,
}

/// Runs a vocab command.
pub fn run(cmd: VocabCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        VocabCommand::Build(args) => build(*args, global),
    }
}

fn build(args: BuildArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    if args.wiki_dumps.is_empty() && args.pageviews.is_empty() && args.wordnet.is_none() {
        log::warn!(
            "no --wiki-dump, --pageviews or --wordnet given: the vocabulary holds only the numbers"
        );
    }
    for (flag, share) in [
        ("--unigram-top-share", args.unigram_top_share),
        ("--title-top-share", args.title_top_share),
    ] {
        if let Some(s) = share {
            if !(s > 0.0 && s <= 1.0) {
                anyhow::bail!("{flag} must be in (0, 1], got {s}");
            }
        }
    }
    let given = GivenThresholds {
        min_count: args.unigram_min_count,
        top_share: args.unigram_top_share,
        bigram_max: args.bigram_max,
        title_min_views: args.title_min_views,
        title_hourly_min: args.title_hourly_min,
        title_top_share: args.title_top_share,
    };
    let single = match args.lang.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        _ => {
            if !args.pageviews_projects.is_empty() {
                anyhow::bail!(
                    "--pageviews-projects applies to one language; with several --lang each \
                     counts its own (LANG, LANG.m)"
                );
            }
            None
        }
    };
    let projects = match (&single, args.pageviews_projects.is_empty()) {
        (_, false) => args.pageviews_projects,
        (Some(l), true) => pageview_projects(l),
        (None, true) => pageview_projects("en"),
    };
    let mut opts = BuildOptions {
        out: args.out,
        wiki_dumps: args.wiki_dumps,
        pageviews: args.pageviews,
        wordnet: args.wordnet,
        omw: args.omw,
        lang: single.clone(),
        target_size: args.target_size,
        wiki: WikiThresholds {
            unigram_min_count: 0,
            unigram_top_share: None,
            bigram_min_pmi: args.bigram_min_pmi,
            bigram_min_count: args.bigram_min_count,
        },
        titles: PageviewParams {
            projects,
            hourly_min: 0,
            min_views: 0,
        },
        caps: SourceCaps::default(),
        memory_limit: args.memory_limit,
        tmp_dir: args.tmp_dir,
        force: args.force,
        quiet: global.quiet,
    };
    // Per language in a multi-language build; here for one (or English).
    set_thresholds(&mut opts, &thresholds(single.as_deref(), &given));
    if args.lang.len() > 1 {
        let reports = build_languages(&opts, &args.lang, given).context("vocab build failed")?;
        for (lang, report) in reports {
            println!("{lang}: {}", report.summary());
        }
        return Ok(());
    }
    let report = query_vocab::build(&opts).context("vocab build failed")?;
    println!("{}", report.summary());
    Ok(())
}
