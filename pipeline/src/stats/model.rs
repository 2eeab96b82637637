//! The content of `stats/stats.json`: every number the Markdown and HTML
//! reports show comes from these structures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sketch::{HeavyHitter, Histogram};

/// Version of the `stats.json` layout.
pub const FORMAT_VERSION: u32 = 1;

/// Statistics of one run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The program that wrote the file (`witcurate-pipeline X.Y.Z`).
    pub generator: String,
    /// The run directory, as given.
    pub run_dir: String,
    /// Which stages' outputs were found.
    pub stages: StagePresence,
    /// From crawled records to downloaded images, with the drop at each step.
    pub funnel: Vec<FunnelStep>,
    /// The vocabulary and the distribution of matches over its entries.
    pub vocab: Option<VocabStats>,
    /// Caption statistics per stage (`pairs`, `matched`, `selected`, `shards`).
    pub captions: BTreeMap<String, CaptionStats>,
    /// Top image domains per stage.
    pub domains: BTreeMap<String, TopList>,
    /// Image statistics of the downloaded shards.
    pub images: Option<ImageStats>,
    /// Files and rows read per stage, and files that could not be read.
    pub stage_files: BTreeMap<String, StageFiles>,
    /// Counters and facts of the stages' own JSON files, per stage.
    pub stage_reports: BTreeMap<String, StageReport>,
    /// Rows per second of task time, per stage whose JSON gives durations.
    pub throughput: Vec<Throughput>,
}

/// Stages found and missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePresence {
    /// Stages whose outputs exist (`vocab`, `pairs`, `matched`, `counts`, `selected`, `shards`).
    pub present: Vec<String>,
    /// Stages whose outputs were not found.
    pub missing: Vec<String>,
}

/// One step of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// Machine name of the step (`input_records`, `pairs`, `unique_pairs`, `matched`, ...).
    pub step: String,
    /// What is counted.
    pub label: String,
    /// How many.
    pub count: u64,
    /// Whether `count` is an estimate (HyperLogLog for distinct counts).
    pub estimated: bool,
    /// `previous count − count` (absent for the first step).
    pub drop: Option<i64>,
    /// Why rows were dropped at this step, by class.
    pub reasons: Vec<Reason>,
}

/// A drop reason and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The class (a failure class, a counter name, or a description).
    pub class: String,
    /// How many rows (or records) it accounts for.
    pub count: u64,
}

/// Vocabulary statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VocabStats {
    /// Which file the entries came from (absent when the vocabulary is missing).
    pub file: Option<String>,
    /// Number of entries (absent when the vocabulary is missing).
    pub entries: Option<u64>,
    /// Entries per source (`number`, `wordnet`, `unigram`, `bigram`, `title`).
    pub per_source: BTreeMap<String, u64>,
    /// Entries that matched at least one text, per source.
    pub matched_per_source: BTreeMap<String, u64>,
    /// Entries that matched at least one text.
    pub matched_entries: u64,
    /// Entries that matched nothing (absent when the vocabulary is missing).
    pub never_matched: Option<u64>,
    /// Where the per-entry counts before balancing come from.
    pub counts_from: String,
    /// Sum of matches over entries before balancing.
    pub total_matches_before: u64,
    /// Sum of matches over entries after balancing (absent without `selected/`).
    pub total_matches_after: Option<u64>,
    /// The balancing threshold t.
    pub t: u64,
    /// Where t comes from (`--t`, a stage JSON key, or the default).
    pub t_from: String,
    /// Entries with more than t matches before balancing.
    pub capped_entries: u64,
    /// Matches held by the capped entries before balancing.
    pub capped_matches: u64,
    /// `capped_matches / total_matches_before` (0 when there are no matches).
    pub capped_share: f64,
    /// Entries above t after balancing (a soft cap lets head entries exceed t).
    pub over_t_after: Option<u64>,
    /// Rank-frequency curves (log-spaced samples).
    pub rank_frequency: RankFrequency,
    /// Entries with the most matches before balancing.
    pub top_entries: Vec<TopEntry>,
    /// Number of matched entries per text, per stage (`matched`, `selected`).
    pub matches_per_text: BTreeMap<String, Histogram>,
}

/// Rank-frequency curves: `[rank, count]` points, rank 1 = most matched entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankFrequency {
    /// Before balancing.
    pub before: Vec<[u64; 2]>,
    /// After balancing.
    pub after: Option<Vec<[u64; 2]>>,
}

/// A row of the top entries table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntry {
    /// Entry id.
    pub id: u32,
    /// The entry text (absent when the vocabulary is missing).
    pub query: Option<String>,
    /// The entry's source.
    pub source: Option<String>,
    /// Matches before balancing.
    pub before: u64,
    /// Matches after balancing.
    pub after: Option<u64>,
}

/// Caption statistics of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionStats {
    /// Number of captions.
    pub texts: u64,
    /// Length in characters (Unicode scalar values).
    pub chars: Histogram,
    /// Length in tokens (whitespace-separated words).
    pub tokens: Histogram,
    /// Most common texts.
    pub top_texts: TopList,
}

/// The most frequent keys of a stream (see [`super::sketch::HeavyHitters`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopList {
    /// Total count over all keys.
    pub total: u64,
    /// Counts may be below the truth by at most this much (0 = exact).
    pub max_undercount: u64,
    /// The top keys, most frequent first.
    pub top: Vec<HeavyHitter>,
}

/// Image statistics of `shards/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageStats {
    /// Rows in the shards (download attempts).
    pub rows: u64,
    /// Rows with status `success`.
    pub successes: u64,
    /// Rows per status (`success` or the failure class).
    pub status: BTreeMap<String, u64>,
    /// Width before resizing (successes).
    pub width_before: Histogram,
    /// Height before resizing.
    pub height_before: Histogram,
    /// Aspect ratio (width / height) before resizing.
    pub aspect_before: Histogram,
    /// Width after resizing.
    pub width_after: Histogram,
    /// Height after resizing.
    pub height_after: Histogram,
    /// Aspect ratio after resizing.
    pub aspect_after: Histogram,
    /// Stored image formats (from a `format` column, else the magic bytes of `jpg`).
    pub formats: BTreeMap<String, u64>,
    /// Size of the stored images in bytes.
    pub bytes: Histogram,
    /// Total bytes of the stored images.
    pub bytes_total: u64,
    /// Distinct `sha256` values among successes.
    pub distinct_sha256: u64,
    /// Successes whose original bytes duplicate another success (`successes with sha256 − distinct`).
    pub duplicate_sha256: u64,
    /// Whether the distinct count is exact (else a HyperLogLog estimate).
    pub sha256_exact: bool,
}

/// Files and rows read for one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFiles {
    /// Parquet files read.
    pub files: u64,
    /// Rows read.
    pub rows: u64,
    /// Bytes of the parquet files.
    pub file_bytes: u64,
    /// Files (or columns) that could not be read, by class.
    pub problems: BTreeMap<String, u64>,
    /// Rows per value of the `source` column (pairs), capped at 64 values.
    pub sources: BTreeMap<String, u64>,
}

/// What a stage's own JSON files say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// JSON files read (relative to the run directory).
    pub files: Vec<String>,
    /// Numeric values by flattened key (`a.b.c`), summarised over the files.
    pub counters: BTreeMap<String, CounterSummary>,
    /// Text and boolean values by flattened key (`"(varies)"` when files disagree).
    pub facts: BTreeMap<String, String>,
}

/// A numeric key over a stage's JSON files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterSummary {
    /// Sum over the files (the stage total for counters).
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of files with the key.
    pub files: u64,
}

/// Throughput of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// The stage.
    pub stage: String,
    /// Rows the stage wrote.
    pub rows: u64,
    /// The duration key used.
    pub duration_key: String,
    /// Sum of the tasks' durations in seconds.
    pub task_seconds: f64,
    /// `rows / task_seconds`.
    pub rows_per_task_second: f64,
}

/// Position of a stage (directory or producing stage) in the pipeline, for
/// showing per-stage maps in pipeline order rather than alphabetically.
pub fn stage_rank(name: &str) -> usize {
    const ORDER: [&str; 11] = [
        "vocab", "extract", "pairs", "match", "matched", "counts", "balance", "selected",
        "download", "shards", "train",
    ];
    ORDER.iter().position(|s| *s == name).unwrap_or(ORDER.len())
}

/// The entries of a per-stage map in pipeline order (unknown names last, by name).
pub fn in_stage_order<V>(map: &BTreeMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<(&String, &V)> = map.iter().collect();
    v.sort_by_key(|(k, _)| (stage_rank(k), k.as_str()));
    v
}

/// The first and the last entry of a per-stage map in pipeline order (one
/// entry when they coincide): the before and after of a run.
pub fn first_and_last<V>(map: &BTreeMap<String, V>) -> Vec<(&String, &V)> {
    let mut v = in_stage_order(map);
    if v.len() > 2 {
        let last = v.pop().expect("non-empty");
        v.truncate(1);
        v.push(last);
    }
    v
}
