//! Running the balance stage over a run directory: tasks, then the reduce.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::draw::{keep_probability, soft_keep};
use super::hard::{is_candidate, plan, HardPlan};
use super::threshold::{tail_share, tail_share_threshold, Threshold};
use super::{BalanceError, Cap};
use crate::matching::parts::{
    conform_columns, list_parts, required_nulls, transform_part, write_parquet_atomically,
    PartsError,
};
use crate::matching::stage::{paths as match_paths, read_counts, write_counts};
use crate::params_guard::check_or_record;
use crate::schema::{col, matched_schema};
use crate::task::{clean_stale_temps, is_done, part_name, write_atomically, Counters, TaskSlice};

/// Where the balance stage writes inside a run directory.
pub mod paths {
    use std::path::{Path, PathBuf};

    /// `RUN/selected/`.
    pub fn selected(run: &Path) -> PathBuf {
        run.join("selected")
    }
    /// `RUN/balance_counts/` (kept pairs per entry, per task).
    pub fn counts_parts(run: &Path) -> PathBuf {
        run.join("balance_counts")
    }
    /// `RUN/balance_counts.parquet` (per entry: count before and after).
    pub fn counts(run: &Path) -> PathBuf {
        run.join("balance_counts.parquet")
    }
    /// `RUN/balance.json` (parameters and totals).
    pub fn report(run: &Path) -> PathBuf {
        run.join("balance.json")
    }
    /// `RUN/selected/.params.json`: the parameters existing outputs were made with.
    pub fn params(run: &Path) -> PathBuf {
        selected(run).join(".params.json")
    }
}

/// Counter names of balance tasks.
pub mod counter {
    /// Rows read from `matched/`.
    pub const PAIRS_IN: &str = "pairs_in";
    /// Rows written to `selected/`.
    pub const PAIRS_KEPT: &str = "pairs_kept";
    /// Entry matches read (sum of `query_ids` lengths).
    pub const MATCHES_IN: &str = "matches_in";
    /// Entry matches of kept pairs.
    pub const MATCHES_KEPT: &str = "matches_kept";
    /// Rows skipped because a required column is null.
    pub const FAULT_NULL_FIELD: &str = "fault_null_field";
}

/// Options of [`run_balance`].
#[derive(Debug, Clone)]
pub struct BalanceOptions {
    /// How t is chosen.
    pub threshold: Threshold,
    /// Seed of the draws.
    pub seed: u64,
    /// Soft or hard cap.
    pub cap: Cap,
    /// Which tasks this process runs.
    pub slice: TaskSlice,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        Self {
            threshold: Threshold::Fixed(20_000),
            seed: 0,
            cap: Cap::Soft,
            slice: TaskSlice::ALL,
            progress: false,
        }
    }
}

/// What [`run_balance`] did.
#[derive(Debug, Clone, Default)]
pub struct BalanceReport {
    /// The t applied.
    pub t: u64,
    /// Tasks of the stage (matched parts).
    pub tasks_total: usize,
    /// Tasks in this slice that ran now.
    pub tasks_run: usize,
    /// Tasks in this slice skipped because their outputs exist.
    pub tasks_skipped: usize,
    /// Counters summed over the tasks that ran now.
    pub counters: Counters,
    /// Seconds spent in tasks (and the hard cap's plan).
    pub seconds: f64,
    /// The reduce's summary, when it ran now.
    pub reduced: Option<BalanceSummary>,
}

/// The parameters outputs are made with; reruns must use the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BalanceParams {
    cap: String,
    t: u64,
    seed: u64,
    counts_fingerprint: String,
}

/// `balance.json`: parameters and totals of a completed stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceSummary {
    /// `soft` or `hard`.
    pub cap: String,
    /// The t applied.
    pub t: u64,
    /// The seed of the draws.
    pub seed: u64,
    /// The requested tail share, when t was chosen by it.
    pub tail_share_requested: Option<f64>,
    /// Share of matches held by entries with count < t (before balancing).
    pub tail_share: f64,
    /// Entries with at least one match.
    pub entries_matched: usize,
    /// Entries with count > t (those the cap acts on).
    pub entries_capped: usize,
    /// Entries with more than t kept pairs after balancing (0 for the hard cap).
    pub entries_over_t_after: usize,
    /// The largest count after balancing.
    pub max_count_after: u64,
    /// Number of tasks.
    pub tasks: usize,
    /// Counters summed over every task.
    pub counters: Counters,
}

/// The per-entry report `balance_counts.parquet`.
pub fn balance_counts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::ID, DataType::UInt32, false),
        Field::new("count_before", DataType::UInt64, false),
        Field::new("count_after", DataType::UInt64, false),
        Field::new("p", DataType::Float64, false),
        Field::new("capped", DataType::Boolean, false),
    ]))
}

fn check_params(run: &Path, params: &BalanceParams) -> Result<(), BalanceError> {
    check_or_record(&paths::params(run), params, |recorded| {
        format!(
            "existing selected/ outputs were made with --cap {} --t {} --seed {} \
             (counts {}); this run asks for --cap {} --t {} --seed {} (counts {}). \
             Use another --out, or remove selected/, balance_counts/, \
             balance_counts.parquet and balance.json",
            recorded.cap,
            recorded.t,
            recorded.seed,
            recorded.counts_fingerprint,
            params.cap,
            params.t,
            params.seed,
            params.counts_fingerprint
        )
    })?;
    Ok(())
}

/// Runs this slice's balance tasks in `run`, then the reduce when every
/// task's outputs exist.
pub fn run_balance(run: &Path, opts: &BalanceOptions) -> Result<BalanceReport, BalanceError> {
    let counts_path = match_paths::counts(run);
    if !is_done(&counts_path) {
        return Err(BalanceError::NotMatched { path: counts_path });
    }
    let (counts, _) = read_counts(&counts_path)?;
    let t = match opts.threshold {
        Threshold::Fixed(t) if t >= 1 => t,
        Threshold::Fixed(_) => {
            return Err(BalanceError::BadOption("--t must be at least 1".into()))
        }
        Threshold::TailShare(s) if s > 0.0 && s <= 1.0 => tail_share_threshold(&counts, s),
        Threshold::TailShare(s) => {
            return Err(BalanceError::BadOption(format!(
                "--tail-share must be in (0, 1], got {s}"
            )))
        }
    };
    let parts = list_parts(&match_paths::matched(run))?;
    let fingerprint = std::fs::read(&counts_path)
        .map(|b| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&b)))
        .map_err(|e| BalanceError::Io {
            path: counts_path.clone(),
            source: e,
        })?;
    let params = BalanceParams {
        cap: opts.cap.name().to_string(),
        t,
        seed: opts.seed,
        counts_fingerprint: fingerprint,
    };
    std::fs::create_dir_all(paths::selected(run)).map_err(|e| BalanceError::Io {
        path: paths::selected(run),
        source: e,
    })?;
    check_params(run, &params)?;
    clean_stale_temps(&paths::selected(run))?;
    clean_stale_temps(&paths::counts_parts(run))?;

    let mut report = BalanceReport {
        t,
        tasks_total: parts.len(),
        ..Default::default()
    };
    let pending: Vec<_> = parts
        .iter()
        .filter(|p| opts.slice.includes(p.task))
        .filter(|p| {
            let done = is_done(&paths::counts_parts(run).join(part_name(p.task, "parquet")));
            if done {
                report.tasks_skipped += 1;
            }
            !done
        })
        .collect();
    let start = Instant::now();
    let mut failures = Vec::new();
    if !pending.is_empty() {
        let hard_plan = match opts.cap {
            Cap::Soft => None,
            Cap::Hard => {
                let p = plan(&parts, &counts, t, opts.seed)?;
                log::info!("hard cap: {} candidate pairs planned", p.candidates);
                Some(p)
            }
        };
        let total_rows: u64 = pending
            .iter()
            .map(|p| {
                crate::matching::parts::open_checked(&p.path, &matched_schema(), "matched")
                    .map(|(_, r)| r as u64)
                    .unwrap_or(0)
            })
            .sum();
        let bar = if opts.progress {
            let bar = ProgressBar::new(total_rows);
            bar.set_style(
                ProgressStyle::with_template(
                    "balance {bar:40} {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
                )
                .expect("valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        for part in pending {
            let kept_rows = hard_plan
                .as_ref()
                .map(|p: &HardPlan| p.kept.get(&part.task).map_or(&[][..], |v| &v[..]));
            match run_task(
                run, &part.path, part.task, &counts, t, opts, kept_rows, &bar,
            ) {
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
    }
    report.seconds = start.elapsed().as_secs_f64();
    if !failures.is_empty() {
        return Err(BalanceError::TasksFailed {
            failed: failures.len(),
            total: failures.len() + report.tasks_run,
            first: failures.swap_remove(0),
        });
    }
    let tasks: Vec<usize> = parts.iter().map(|p| p.task).collect();
    report.reduced = reduce(run, &tasks, &counts, t, opts)?;
    Ok(report)
}

/// How many rows with a null in a required column are logged per task.
const NULL_WARNINGS_PER_TASK: u64 = 5;

/// One task: `matched/part-N` → `selected/part-N` + `balance_counts/part-N`.
#[allow(clippy::too_many_arguments)]
fn run_task(
    run: &Path,
    input: &Path,
    task: usize,
    counts: &[u64],
    t: u64,
    opts: &BalanceOptions,
    hard_kept: Option<&[u32]>,
    bar: &ProgressBar,
) -> Result<Counters, BalanceError> {
    let name = part_name(task, "parquet");
    let schema = matched_schema();
    let uid_col = schema.index_of(col::UID).expect("uid column");
    let ids_col = schema.index_of(col::QUERY_IDS).expect("query_ids column");
    let pairs_in = AtomicU64::new(0);
    let matches_in = AtomicU64::new(0);
    let nulls = AtomicU64::new(0);
    let mut kept_counts = vec![0u64; counts.len()];
    let mut pairs_kept = 0u64;
    let mut matches_kept = 0u64;

    let transform = |batch: &RecordBatch, first_row: usize| -> Result<RecordBatch, PartsError> {
        let cols = conform_columns(input, batch, &schema)?;
        let bad = required_nulls(&cols, &schema);
        let uids = cols[uid_col].as_string::<i32>();
        let lists = cols[ids_col].as_list::<i32>();
        let n = batch.num_rows();
        let mut keep = Vec::with_capacity(n);
        for i in 0..n {
            if bad.as_ref().is_some_and(|b| b[i]) {
                if nulls.fetch_add(1, Ordering::Relaxed) < NULL_WARNINGS_PER_TASK {
                    log::warn!(
                        "{}: row {}: a required column is null; row skipped",
                        input.display(),
                        first_row + i
                    );
                }
                keep.push(false);
                continue;
            }
            let ids_arr = lists.value(i);
            let ids = ids_arr.as_primitive::<UInt32Type>().values();
            matches_in.fetch_add(ids.len() as u64, Ordering::Relaxed);
            let k = match hard_kept {
                None => soft_keep(opts.seed, uids.value(i), ids, counts, t),
                Some(kept) => {
                    !is_candidate(ids, counts, t)
                        || kept.binary_search(&((first_row + i) as u32)).is_ok()
                }
            };
            keep.push(k);
        }
        pairs_in.fetch_add(n as u64, Ordering::Relaxed);
        let mask = BooleanArray::from(keep);
        let out: Vec<ArrayRef> = cols
            .iter()
            .map(|c| arrow_select::filter::filter(c.as_ref(), &mask))
            .collect::<Result<_, _>>()
            .map_err(|e| PartsError::arrow(input, e))?;
        RecordBatch::try_new(schema.clone(), out).map_err(|e| PartsError::arrow(input, e))
    };
    let observe = |b: &RecordBatch| {
        let values = b.column(ids_col).as_list::<i32>().values().clone();
        let values = values.as_primitive::<UInt32Type>();
        for &id in values.values() {
            if let Some(c) = kept_counts.get_mut(id as usize) {
                *c += 1;
            }
        }
        pairs_kept += b.num_rows() as u64;
        matches_kept += values.len() as u64;
    };
    transform_part(
        input,
        &schema,
        "matched",
        &paths::selected(run).join(&name),
        &schema,
        transform,
        observe,
        |n| bar.inc(n),
    )?;
    let mut counters = Counters::default();
    counters.add(counter::PAIRS_IN, pairs_in.into_inner());
    counters.add(counter::PAIRS_KEPT, pairs_kept);
    counters.add(counter::MATCHES_IN, matches_in.into_inner());
    counters.add(counter::MATCHES_KEPT, matches_kept);
    counters.add(counter::FAULT_NULL_FIELD, nulls.into_inner());
    write_counts(
        &paths::counts_parts(run).join(&name),
        &kept_counts,
        &counters,
    )?;
    Ok(counters)
}

/// The reduce: when every task's `balance_counts/part-N.parquet` exists and
/// `balance_counts.parquet` does not, writes `balance.json` and
/// `balance_counts.parquet`.
fn reduce(
    run: &Path,
    tasks: &[usize],
    counts: &[u64],
    t: u64,
    opts: &BalanceOptions,
) -> Result<Option<BalanceSummary>, BalanceError> {
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
        log::info!(
            "balance reduce waits for {missing} of {} tasks",
            files.len()
        );
        return Ok(None);
    }
    let mut after = vec![0u64; counts.len()];
    let mut counters = Counters::default();
    for f in &files {
        let (dense, c) = read_counts(f)?;
        for (a, d) in after.iter_mut().zip(&dense) {
            *a += d;
        }
        counters.merge(&c);
    }
    let mut ids = Vec::new();
    let mut before_col = Vec::new();
    let mut after_col = Vec::new();
    let mut p_col = Vec::new();
    let mut capped_col = Vec::new();
    for (id, (&b, &a)) in counts.iter().zip(&after).enumerate() {
        if b == 0 {
            continue;
        }
        ids.push(id as u32);
        before_col.push(b);
        after_col.push(a);
        p_col.push(match opts.cap {
            Cap::Soft => keep_probability(b, t),
            Cap::Hard => a as f64 / b as f64,
        });
        capped_col.push(b > t);
    }
    let summary = BalanceSummary {
        cap: opts.cap.name().to_string(),
        t,
        seed: opts.seed,
        tail_share_requested: match opts.threshold {
            Threshold::TailShare(s) => Some(s),
            Threshold::Fixed(_) => None,
        },
        tail_share: tail_share(counts, t),
        entries_matched: ids.len(),
        entries_capped: capped_col.iter().filter(|&&c| c).count(),
        entries_over_t_after: after.iter().filter(|&&a| a > t).count(),
        max_count_after: after.iter().copied().max().unwrap_or(0),
        tasks: tasks.len(),
        counters,
    };
    let schema = balance_counts_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(ids)) as ArrayRef,
            Arc::new(UInt64Array::from(before_col)),
            Arc::new(UInt64Array::from(after_col)),
            Arc::new(Float64Array::from(p_col)),
            Arc::new(BooleanArray::from(capped_col)),
        ],
    )
    .map_err(|e| PartsError::arrow(&out, e))?;
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    write_atomically(&paths::report(run), &json)?;
    write_parquet_atomically(&out, &schema, &[batch], None)?;
    Ok(Some(summary))
}
