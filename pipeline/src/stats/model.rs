//! The content of `stats/stats.json`: every number the Markdown and HTML
//! reports show comes from these structures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sketch::{HeavyHitter, Histogram};

/// Version of the `stats.json` layout.
pub const FORMAT_VERSION: u32 = 2;

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
    /// From crawled records to downloaded images, with the drop at each step:
    /// the named counters of the stages' records.
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
    /// What the stages' records (`RUN/_stages/STAGE/`) say, per stage.
    pub stage_records: BTreeMap<String, StageRecords>,
    /// The vocabulary's build report (`vocab.json`), flattened.
    pub vocab_build: Option<VocabBuild>,
    /// Items per second of task time, per stage with task records.
    pub throughput: Vec<Throughput>,
    /// Per language, for a run matched with language identification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<super::languages::LanguageStats>,
    /// Evaluations of models trained on the data (`stats --eval-suite`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evaluations: Vec<super::evaluations::EvalSuite>,
}

/// Stages found and missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePresence {
    /// Stages whose outputs exist (`vocab`, `pairs`, `matched`, `counts`, `selected`, `shards`).
    pub present: Vec<String>,
    /// Stages whose outputs were not found.
    pub missing: Vec<String>,
    /// Outputs found without the records of the stage that writes them
    /// (`pairs`, ...): they are not in the funnel.
    pub without_records: Vec<String>,
}

/// One step of the funnel: a named counter (or a sum of named counters) of
/// one stage's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// Machine name of the step, `STAGE.NAME`: the counter's name, except
    /// `extract.inputs` (`inputs_warc + inputs_wat + inputs_table`) and
    /// `extract.records` (`records + rows`).
    pub step: String,
    /// The stage whose records give the count.
    pub stage: String,
    /// The counters summed for the count.
    pub counters: Vec<String>,
    /// `tasks` (summed over the task records) or `reduce` (the reduce record).
    pub from: RecordPart,
    /// What is counted.
    pub label: String,
    /// What one counts: `inputs`, `records` or `pairs` (a sample to download
    /// and an image are pairs too).
    pub unit: String,
    /// How many.
    pub count: u64,
    /// `previous count − count`, where the previous step counts the same
    /// unit (absent otherwise).
    pub drop: Option<i64>,
    /// Why items were dropped at this step (or, at the first pair step, why
    /// records gave no pair), most first.
    pub reasons: Vec<Reason>,
    /// Rows of the stage's output files for this step (`pairs/`, `matched/`,
    /// `selected/`, rows and successes of `shards/`), when they were read: a
    /// value other than `count` means the files and the records disagree.
    pub output_rows: Option<u64>,
}

/// Which record of a stage a counter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordPart {
    /// Summed over the task records (`_stats/STAGE/task-N.json`).
    Tasks,
    /// The reduce record (`reduce.json`).
    Reduce,
}

/// The kind of a counter, from its name (`pipeline::stage::record::CounterKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterClass {
    /// `fault_*`: a failure (bad input data, a network failure, ...).
    Fault,
    /// `skip_*`: removed on purpose by a rule (a filter, a duplicate).
    Skip,
    /// Anything else.
    Measure,
}

/// Why items were dropped at a funnel step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    /// A `fault_*` counter: a failure.
    Fault,
    /// A `skip_*` counter: removed by a rule.
    Skip,
    /// What the stage selects leaves the rest out (no vocabulary entry
    /// matched, not drawn by balancing): the drop less the counted reasons.
    Selection,
    /// Not (yet) read by the next stage.
    Pending,
    /// A drop no counter accounts for.
    Unexplained,
}

/// A drop reason and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The counter (absent for a reason that is a remainder).
    pub counter: Option<String>,
    /// Its kind.
    pub kind: ReasonKind,
    /// What it means.
    pub label: String,
    /// How many items (records, pairs, samples) it accounts for.
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
    /// Sum of matches over entries after balancing (absent without `selected/`
    /// or `balanced_counts.parquet`).
    pub total_matches_after: Option<u64>,
    /// Where the per-entry counts after balancing (the final dataset) come
    /// from: `balanced_counts.parquet` when the run was balanced after
    /// download, else `selected/ query_ids`, else `none`.
    pub after_from: String,
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
    /// Matches held by the k most matched entries, before balancing:
    /// `[k, matches]` points (log-spaced k, ending at every matched entry).
    pub cumulative: Vec<[u64; 2]>,
    /// What balancing would do at other values of t, from the counts before
    /// balancing.
    pub what_if: Vec<WhatIf>,
    /// Entries with the most matches before balancing.
    pub top_entries: Vec<TopEntry>,
    /// Number of matched entries per text, per stage (`matched`, `selected`).
    pub matches_per_text: BTreeMap<String, Histogram>,
}

/// One row of the what-if table: balancing at threshold `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// The threshold.
    pub t: u64,
    /// Entries with more than t matches (those the cap acts on).
    pub capped_entries: u64,
    /// Matches left after capping every entry at t: `Σ min(count, t)`. Under
    /// the soft cap this is the expected number of entry matches kept by
    /// each entry's own draw; pairs kept is at most this.
    pub matches_kept: u64,
    /// `matches_kept` over the matches before balancing.
    pub kept_share: f64,
    /// Share of matches held by entries with count < t (MetaCLIP's tail share).
    pub tail_share: f64,
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

/// What a stage's records say (`RUN/_stages/STAGE/`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageRecords {
    /// Task records read (`_stats/STAGE/task-N.json`).
    pub task_records: u64,
    /// The number of tasks of the completed stage (`complete.json`); absent
    /// while the stage is not complete.
    pub complete_tasks: Option<u64>,
    /// Seconds of the tasks, summed over the task records.
    pub task_seconds: f64,
    /// Seconds of the reduce (absent without a reduce record).
    pub reduce_seconds: Option<f64>,
    /// The counters summed over the task records, by name.
    pub tasks: Vec<Counter>,
    /// The counters of the reduce record (absent without one), by name.
    pub reduce: Option<Vec<Counter>>,
    /// Sum of the `fault_*` counters (tasks and reduce).
    pub failures: u64,
    /// Sum of the `skip_*` counters (tasks and reduce).
    pub filtered: u64,
    /// Records that could not be read or do not belong, and why.
    pub problems: Vec<String>,
}

impl StageRecords {
    /// The value of task counter `name`, summed over the task records.
    pub fn task(&self, name: &str) -> Option<u64> {
        self.tasks.iter().find(|c| c.name == name).map(|c| c.value)
    }

    /// The value of the reduce's counter `name`.
    pub fn reduced(&self, name: &str) -> Option<u64> {
        self.reduce
            .as_ref()?
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }
}

/// A counter of a stage's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Its name in the records.
    pub name: String,
    /// Its kind (from the name's prefix).
    pub kind: CounterClass,
    /// What it counts.
    pub label: String,
    /// Its value (summed over the task records for task counters).
    pub value: u64,
}

/// `vocab.json` of the vocabulary directory, flattened: nested keys joined
/// with dots (`sources.wordnet.kept`), values as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocabBuild {
    /// The file read.
    pub file: String,
    /// Its values by flattened key (or the error that made it unreadable,
    /// under `error`).
    pub values: BTreeMap<String, String>,
}

/// Throughput of one stage, from its records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// The stage.
    pub stage: String,
    /// What is counted (the stage's first funnel step).
    pub what: String,
    /// How many.
    pub count: u64,
    /// Sum of the tasks' seconds.
    pub task_seconds: f64,
    /// `count / task_seconds`.
    pub per_task_second: f64,
    /// Seconds of the reduce, if the stage has one and it ran.
    pub reduce_seconds: Option<f64>,
}

/// Position of a stage (directory or producing stage) in the pipeline, for
/// showing per-stage maps in pipeline order rather than alphabetically.
pub fn stage_rank(name: &str) -> usize {
    const ORDER: [&str; 16] = [
        "vocab",
        "extract",
        "pairs",
        "match",
        "matched",
        "counts",
        "balance",
        "selected",
        "download",
        "shards",
        "dedup",
        "dedup_out",
        "pool",
        "balance_downloaded",
        "balanced",
        "train",
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
