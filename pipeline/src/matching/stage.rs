//! Running the match stage over a run directory: tasks, then the reduce.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

use super::matcher::{Matcher, Scratch};
use super::parts::{
    conform_columns, list_parts, open_checked, query_ids_field, read_all, read_metadata_value,
    required_nulls, transform_part, write_parquet_atomically, Part, PartsError, COUNTERS_KEY,
};
use super::{MatchError, Rule, Vocab};
use crate::params_guard::check_or_record;
use crate::schema::{col, counts_schema, matched_schema, pairs_schema};
use crate::task::{clean_stale_temps, is_done, part_name, write_atomically, Counters, TaskSlice};

/// Where the match stage reads and writes inside a run directory.
pub mod paths {
    use std::path::{Path, PathBuf};

    /// `RUN/pairs/` (input).
    pub fn pairs(run: &Path) -> PathBuf {
        run.join("pairs")
    }
    /// `RUN/matched/`.
    pub fn matched(run: &Path) -> PathBuf {
        run.join("matched")
    }
    /// `RUN/counts/` (per-task counts).
    pub fn counts_parts(run: &Path) -> PathBuf {
        run.join("counts")
    }
    /// `RUN/counts.parquet` (the reduce).
    pub fn counts(run: &Path) -> PathBuf {
        run.join("counts.parquet")
    }
    /// `RUN/match.json` (parameters and totals, written by the reduce).
    pub fn report(run: &Path) -> PathBuf {
        run.join("match.json")
    }
    /// `RUN/matched/.params.json`: the parameters existing outputs were made with.
    pub fn params(run: &Path) -> PathBuf {
        matched(run).join(".params.json")
    }
}

/// Counter names of match tasks.
pub mod counter {
    /// Rows read from `pairs/`.
    pub const PAIRS_IN: &str = "pairs_in";
    /// Rows written to `matched/` (at least one match).
    pub const PAIRS_MATCHED: &str = "pairs_matched";
    /// Entry matches written (sum of `query_ids` lengths).
    pub const MATCHES: &str = "matches";
    /// Bytes of text matched.
    pub const TEXT_BYTES: &str = "text_bytes";
    /// Rows skipped because a required column (uid, url, text, source) is null.
    pub const FAULT_NULL_FIELD: &str = "fault_null_field";
}

/// Options of [`run_match`].
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// The matching rule.
    pub rule: Rule,
    /// Refuse to build an automaton estimated to need more bytes than this.
    pub max_vocab_memory: u64,
    /// Which tasks this process runs.
    pub slice: TaskSlice,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            rule: Rule::MetaClip,
            max_vocab_memory: 16 << 30,
            slice: TaskSlice::ALL,
            progress: false,
        }
    }
}

/// What [`run_match`] did.
#[derive(Debug, Clone, Default)]
pub struct MatchReport {
    /// Tasks of the stage (pairs parts).
    pub tasks_total: usize,
    /// Tasks in this slice that ran now.
    pub tasks_run: usize,
    /// Tasks in this slice skipped because their outputs exist.
    pub tasks_skipped: usize,
    /// Counters summed over the tasks that ran now.
    pub counters: Counters,
    /// Seconds spent building the automaton (0 when no task ran).
    pub build_seconds: f64,
    /// Heap bytes of the automaton.
    pub automaton_bytes: usize,
    /// Seconds spent in tasks.
    pub task_seconds: f64,
    /// The reduce's summary, when it ran now.
    pub reduced: Option<MatchSummary>,
}

/// The parameters outputs are made with; reruns must use the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MatchParams {
    rule: String,
    vocab_entries: usize,
    vocab_fingerprint: String,
}

/// `match.json`: parameters and totals of a completed stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchSummary {
    /// The rule used.
    pub rule: String,
    /// The vocabulary file.
    pub vocab: PathBuf,
    /// Number of vocabulary entries.
    pub vocab_entries: usize,
    /// xxh3-64 (hex) of the vocabulary file.
    pub vocab_fingerprint: String,
    /// Number of tasks (pairs parts).
    pub tasks: usize,
    /// Entries with at least one match.
    pub entries_matched: usize,
    /// Entries with no match.
    pub entries_unmatched: usize,
    /// Counters summed over every task.
    pub counters: Counters,
}

fn check_params(run: &Path, params: &MatchParams) -> Result<(), MatchError> {
    check_or_record(&paths::params(run), params, |recorded| {
        format!(
            "existing matched/ outputs were made with rule {} and a vocabulary of {} \
             entries (fingerprint {}); this run asks for rule {} with {} entries \
             (fingerprint {}). Use another --out, or remove matched/, counts/ and \
             counts.parquet",
            recorded.rule,
            recorded.vocab_entries,
            recorded.vocab_fingerprint,
            params.rule,
            params.vocab_entries,
            params.vocab_fingerprint
        )
    })?;
    Ok(())
}

fn counters_metadata(counters: &Counters) -> Option<Vec<KeyValue>> {
    Some(vec![KeyValue::new(
        COUNTERS_KEY.to_string(),
        serde_json::to_string(counters).expect("counters serialise"),
    )])
}

/// Writes an `id, count` parquet (ids ascending, zero counts left out).
pub(crate) fn write_counts(
    path: &Path,
    counts: &[u64],
    counters: &Counters,
) -> Result<(), PartsError> {
    let (ids, values): (Vec<u32>, Vec<u64>) = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| (i as u32, c))
        .unzip();
    let schema = counts_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(ids)) as ArrayRef,
            Arc::new(UInt64Array::from(values)) as ArrayRef,
        ],
    )
    .map_err(|e| PartsError::arrow(path, e))?;
    write_parquet_atomically(path, &schema, &[batch], counters_metadata(counters))
}

/// Largest entry id accepted in a counts file (guards the dense count arrays).
const MAX_ENTRY_ID: u32 = 1 << 28;

/// Reads an `id, count` parquet into a dense array (index = id) and the
/// counters stored in its metadata.
pub fn read_counts(path: &Path) -> Result<(Vec<u64>, Counters), PartsError> {
    let schema = counts_schema();
    let mut dense: Vec<u64> = Vec::new();
    for b in read_all(path, &schema, "counts")? {
        let ids = b.column(0).as_primitive::<UInt32Type>();
        let counts = b.column(1).as_primitive::<arrow_array::types::UInt64Type>();
        for (id, c) in ids.values().iter().zip(counts.values()) {
            if *id > MAX_ENTRY_ID {
                return Err(PartsError::Schema {
                    path: path.to_path_buf(),
                    what: "counts",
                    detail: format!("entry id {id} is implausibly large"),
                });
            }
            let i = *id as usize;
            if dense.len() <= i {
                dense.resize(i + 1, 0);
            }
            dense[i] += c;
        }
    }
    let counters = match read_metadata_value(path, COUNTERS_KEY)? {
        Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        None => Counters::default(),
    };
    Ok((dense, counters))
}

fn progress_bar(show: bool, total: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{human_pos}}/{{human_len}} rows ({{per_sec}}, eta {{eta}})"
        ))
        .expect("valid template"),
    );
    bar
}

/// Runs this slice's match tasks in `run` against `vocab`, then the reduce
/// when every task's counts exist. Tasks whose outputs exist are skipped; a
/// failing task does not stop the others (the error names them all at the end).
pub fn run_match(
    run: &Path,
    vocab: &Vocab,
    opts: &MatchOptions,
) -> Result<MatchReport, MatchError> {
    let parts = list_parts(&paths::pairs(run))?;
    if parts.is_empty() {
        return Err(MatchError::NoInput {
            dir: paths::pairs(run),
        });
    }
    let params = MatchParams {
        rule: opts.rule.name().to_string(),
        vocab_entries: vocab.len(),
        vocab_fingerprint: format!("{:016x}", vocab.fingerprint),
    };
    std::fs::create_dir_all(paths::matched(run)).map_err(|e| MatchError::io(run, e))?;
    check_params(run, &params)?;
    clean_stale_temps(&paths::matched(run))?;
    clean_stale_temps(&paths::counts_parts(run))?;

    let mut report = MatchReport {
        tasks_total: parts.len(),
        ..Default::default()
    };
    let mut pending: Vec<(&Part, usize)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for part in parts.iter().filter(|p| opts.slice.includes(p.task)) {
        if is_done(&paths::counts_parts(run).join(part_name(part.task, "parquet"))) {
            report.tasks_skipped += 1;
            continue;
        }
        match open_checked(&part.path, &pairs_schema(), "pairs") {
            Ok((_, rows)) => pending.push((part, rows)),
            Err(e) => {
                log::error!("{e}");
                failures.push(e.to_string());
            }
        }
    }

    if !pending.is_empty() {
        let start = Instant::now();
        let matcher = Matcher::new(&vocab.entries, opts.rule, opts.max_vocab_memory)?;
        report.build_seconds = start.elapsed().as_secs_f64();
        report.automaton_bytes = matcher.memory_usage();
        log::info!(
            "automaton for {} entries ({} rule) built in {:.2}s, {}",
            vocab.len(),
            opts.rule,
            report.build_seconds,
            super::human_bytes(report.automaton_bytes as u64)
        );
        let total_rows = pending.iter().map(|(_, r)| *r as u64).sum();
        let bar = progress_bar(opts.progress, total_rows, "match");
        let start = Instant::now();
        for (part, _) in &pending {
            match run_task(run, part, &matcher, &bar) {
                Ok(c) => {
                    report.counters.merge(&c);
                    report.tasks_run += 1;
                }
                Err(e) => {
                    log::error!("task {}: {e}", part.task);
                    failures.push(format!("task {}: {e}", part.task));
                }
            }
        }
        bar.finish_and_clear();
        report.task_seconds = start.elapsed().as_secs_f64();
    }
    if !failures.is_empty() {
        return Err(MatchError::TasksFailed {
            failed: failures.len(),
            total: failures.len() + report.tasks_run,
            first: failures.swap_remove(0),
        });
    }
    let tasks: Vec<usize> = parts.iter().map(|p| p.task).collect();
    report.reduced = reduce_counts(run, &tasks, vocab, opts.rule)?;
    Ok(report)
}

/// How many rows with a null in a required column are logged per task.
const NULL_WARNINGS_PER_TASK: u64 = 5;

/// One task: `pairs/part-N` → `matched/part-N` + `counts/part-N`.
fn run_task(
    run: &Path,
    part: &Part,
    matcher: &Matcher,
    bar: &ProgressBar,
) -> Result<Counters, MatchError> {
    let name = part_name(part.task, "parquet");
    let matched_path = paths::matched(run).join(&name);
    let counts_path = paths::counts_parts(run).join(&name);
    let in_schema = pairs_schema();
    let out_schema = matched_schema();
    let text_col = in_schema.index_of(col::TEXT).expect("pairs have text");

    let pairs_in = AtomicU64::new(0);
    let text_bytes = AtomicU64::new(0);
    let nulls = AtomicU64::new(0);
    let mut counts = vec![0u64; matcher.entries()];
    let mut pairs_matched = 0u64;
    let mut matches = 0u64;

    let transform = |batch: &RecordBatch, first_row: usize| -> Result<RecordBatch, PartsError> {
        let cols = conform_columns(&part.path, batch, &in_schema)?;
        let bad = required_nulls(&cols, &in_schema);
        let texts = cols[text_col].as_string::<i32>();
        let n = batch.num_rows();
        let mut keep = Vec::with_capacity(n);
        let mut list = ListBuilder::with_capacity(UInt32Builder::with_capacity(n * 4), n)
            .with_field(query_ids_field());
        let mut scratch = Scratch::default();
        let mut ids = Vec::new();
        let mut bytes = 0u64;
        for i in 0..n {
            if bad.as_ref().is_some_and(|b| b[i]) {
                if nulls.fetch_add(1, Ordering::Relaxed) < NULL_WARNINGS_PER_TASK {
                    log::warn!(
                        "{}: row {}: a required column is null; row skipped",
                        part.path.display(),
                        first_row + i
                    );
                }
                keep.push(false);
                continue;
            }
            let text = texts.value(i);
            bytes += text.len() as u64;
            matcher.find_into(text, &mut scratch, &mut ids);
            if ids.is_empty() {
                keep.push(false);
            } else {
                list.values().append_slice(&ids);
                list.append(true);
                keep.push(true);
            }
        }
        pairs_in.fetch_add(n as u64, Ordering::Relaxed);
        text_bytes.fetch_add(bytes, Ordering::Relaxed);
        let mask = BooleanArray::from(keep);
        let mut out: Vec<ArrayRef> = cols
            .iter()
            .map(|c| arrow_select::filter::filter(c.as_ref(), &mask))
            .collect::<Result<_, _>>()
            .map_err(|e| PartsError::arrow(&part.path, e))?;
        out.push(Arc::new(list.finish()));
        RecordBatch::try_new(out_schema.clone(), out).map_err(|e| PartsError::arrow(&part.path, e))
    };
    let observe = |b: &RecordBatch| {
        let ids = b.column(b.num_columns() - 1).as_list::<i32>();
        let values = ids.values().as_primitive::<UInt32Type>();
        for &id in values.values() {
            counts[id as usize] += 1;
        }
        pairs_matched += b.num_rows() as u64;
        matches += values.len() as u64;
    };
    transform_part(
        &part.path,
        &in_schema,
        "pairs",
        &matched_path,
        &out_schema,
        transform,
        observe,
        |n| bar.inc(n),
    )?;

    let mut counters = Counters::default();
    counters.add(counter::PAIRS_IN, pairs_in.into_inner());
    counters.add(counter::PAIRS_MATCHED, pairs_matched);
    counters.add(counter::MATCHES, matches);
    counters.add(counter::TEXT_BYTES, text_bytes.into_inner());
    counters.add(counter::FAULT_NULL_FIELD, nulls.into_inner());
    write_counts(&counts_path, &counts, &counters)?;
    Ok(counters)
}

/// The reduce: when `counts/part-N.parquet` exists for every task in `tasks`
/// and `counts.parquet` does not, sums them into `counts.parquet` and writes
/// `match.json`. Returns its summary, or `None` when there was nothing to do
/// (already reduced, or some tasks not finished yet).
pub fn reduce_counts(
    run: &Path,
    tasks: &[usize],
    vocab: &Vocab,
    rule: Rule,
) -> Result<Option<MatchSummary>, MatchError> {
    let out = paths::counts(run);
    if is_done(&out) {
        return Ok(None);
    }
    let files: Vec<PathBuf> = tasks
        .iter()
        .map(|&t| paths::counts_parts(run).join(part_name(t, "parquet")))
        .collect();
    let missing = files.iter().filter(|f| !is_done(f)).count();
    if missing > 0 {
        log::info!("counts reduce waits for {missing} of {} tasks", files.len());
        return Ok(None);
    }
    let mut total = vec![0u64; vocab.len()];
    let mut counters = Counters::default();
    for f in &files {
        let (dense, c) = read_counts(f)?;
        if dense.len() > total.len() {
            return Err(PartsError::Schema {
                path: f.clone(),
                what: "counts",
                detail: format!(
                    "entry id {} is beyond the vocabulary's {} entries",
                    dense.len() - 1,
                    total.len()
                ),
            }
            .into());
        }
        for (t, d) in total.iter_mut().zip(&dense) {
            *t += d;
        }
        counters.merge(&c);
    }
    let entries_matched = total.iter().filter(|&&c| c > 0).count();
    let summary = MatchSummary {
        rule: rule.name().to_string(),
        vocab: vocab.path.clone(),
        vocab_entries: vocab.len(),
        vocab_fingerprint: format!("{:016x}", vocab.fingerprint),
        tasks: tasks.len(),
        entries_matched,
        entries_unmatched: vocab.len() - entries_matched,
        counters: counters.clone(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    write_atomically(&paths::report(run), &json)?;
    write_counts(&out, &total, &counters)?;
    Ok(Some(summary))
}
