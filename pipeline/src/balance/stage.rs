//! The balance stage on the stage runner: one task per input part (for the
//! [`Matched`] pool, `matched/part-N.parquet`) writes its kept rows
//! (`selected/part-N.parquet`) and its kept counts per entry
//! (`balance_counts/part-N.parquet`); the reduce writes
//! `balance_counts.parquet` and `balance.json`. The [`Downloaded`] pool
//! (stage `balance_downloaded`) does the same from `pool/` to `balanced/`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::caps::{Caps, LangCap};
use super::draw::{keep_probability, soft_keep_by};
use super::hard::{is_candidate, plan};
use super::pool::{Downloaded, Matched, Pool};
use super::threshold::{tail_share, Threshold};
use super::{BalanceError, Cap};
use crate::counts::{add_counts, read_counts, write_counts};
use crate::matching::languages::LangVocab;
use crate::matching::stage::MatchSummary;
use crate::parts::{
    conform_columns, filter_rows, list_parts, matched_nothing, required_nulls, total_rows,
    transform_part, with_extra_columns, write_parquet_atomically, NullRows, PartsError,
};
use crate::run_dir::RunDir;
use crate::schema::col;
use crate::stage::{run_each, BoxError, Stage, StageContext, StageOutcome, TaskRecord, TaskResult};
use crate::task::Counters;

/// Counter names of balance tasks.
pub mod counter {
    /// Rows read from `matched/` that matched at least one entry (the
    /// others are not candidates).
    pub const PAIRS_IN: &str = "pairs_in";
    /// Rows written to `selected/`.
    pub const PAIRS_KEPT: &str = "pairs_kept";
    /// Entry matches read (sum of `query_ids` lengths).
    pub const MATCHES_IN: &str = "matches_in";
    /// Entry matches of kept pairs.
    pub const MATCHES_KEPT: &str = "matches_kept";
    /// Rows skipped because a required column is null.
    pub const FAULT_NULL_FIELD: &str = "fault_null_field";
    /// Reduce: the t applied.
    pub const T: &str = "t";
    /// Reduce: entries with at least one match.
    pub const ENTRIES_MATCHED: &str = "entries_matched";
    /// Reduce: entries with count > t (those the cap acts on).
    pub const ENTRIES_CAPPED: &str = "entries_capped";
    /// Reduce: the largest count after balancing.
    pub const MAX_COUNT_AFTER: &str = "max_count_after";
    /// Prefix of the rows read per language (`lang_in_ja`), in a
    /// multilingual run.
    pub const LANG_IN_PREFIX: &str = "lang_in_";
    /// Prefix of the rows kept per language (`lang_kept_ja`).
    pub const LANG_KEPT_PREFIX: &str = "lang_kept_";
    /// Reduce: prefix of each matched language's t (`t_ja`), in a
    /// multilingual run.
    pub const T_PREFIX: &str = "t_";
}

/// Settings of the balance stage (all guarded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BalanceParams {
    /// How t is chosen.
    pub threshold: Threshold,
    /// Seed of the draws.
    pub seed: u64,
    /// Soft or hard cap.
    pub cap: Cap,
}

impl Default for BalanceParams {
    fn default() -> Self {
        Self {
            threshold: Threshold::Fixed(20_000),
            seed: 0,
            cap: Cap::Soft,
        }
    }
}

/// `balance.json`: parameters and totals of a completed stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceSummary {
    /// `soft` or `hard`.
    pub cap: String,
    /// The t applied: in a multilingual run English's (each language's t is
    /// in `languages`).
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
    /// English's tail share at its t, which every other language follows
    /// (a multilingual run with English matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_tail_share: Option<f64>,
    /// Per language of a multilingual run (`match.json`'s languages): its
    /// t, tail share, matches, entries and rows before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<LangBalance>,
}

/// One language's line of `balance.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangBalance {
    /// Its cap (language, ids, t, tail share, matches before).
    #[serde(flatten)]
    pub cap: LangCap,
    /// Its entries with at least one match.
    pub entries_matched: usize,
    /// Its entries with count > t.
    pub entries_capped: usize,
    /// Its rows read.
    pub rows_in: u64,
    /// Its rows kept.
    pub rows_kept: u64,
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

/// The balance stage over pool `P`.
pub struct Balance<P: Pool> {
    params: BalanceParams,
    /// Matches per entry before balancing, and the t of every entry (read
    /// once).
    counts: OnceLock<(Vec<u64>, Caps)>,
    pool: PhantomData<P>,
}

/// Balancing the matched pairs before download (stage `balance`).
pub type BalanceStage = Balance<Matched>;

/// Balancing the downloaded, deduplicated images (stage
/// `balance_downloaded`).
pub type DownloadedBalanceStage = Balance<Downloaded>;

impl<P: Pool> Balance<P> {
    /// The stage with `params`; checks the options' ranges.
    pub fn new(params: BalanceParams) -> Result<Self, BalanceError> {
        match params.threshold {
            Threshold::Fixed(0) => {
                return Err(BalanceError::BadOption("--t must be at least 1".into()))
            }
            Threshold::TailShare(s) if !(s > 0.0 && s <= 1.0) => {
                return Err(BalanceError::BadOption(format!(
                    "--tail-share must be in (0, 1], got {s}"
                )))
            }
            _ => {}
        }
        Ok(Self {
            params,
            counts: OnceLock::new(),
            pool: PhantomData,
        })
    }

    /// Matches per entry over the pool (for [`Matched`], the match stage's
    /// `counts.parquet`) and the caps: one t per language when the match
    /// stage's `match.json` lists languages (`crawl match --lid`), else one t.
    fn counts(&self, run: &RunDir) -> Result<&(Vec<u64>, Caps), BalanceError> {
        if let Some(c) = self.counts.get() {
            return Ok(c);
        }
        let counts = read_counts(&P::counts(run))?;
        let caps = match read_languages(run)? {
            Some(langs) => Caps::per_language(&counts, &langs, self.params.threshold),
            None => Caps::uniform(&counts, self.params.threshold),
        };
        Ok(self.counts.get_or_init(|| (counts, caps)))
    }
}

impl<P: Pool> Stage for Balance<P> {
    const NAME: &'static str = P::STAGE;
    type Params = BalanceParams;

    fn params(&self) -> &BalanceParams {
        &self.params
    }

    fn open(params: BalanceParams) -> Result<Self, BoxError> {
        Ok(Self::new(params)?)
    }

    fn upstream(&self) -> Option<&'static str> {
        Some(P::UPSTREAM)
    }

    fn tasks(&self, run: &RunDir) -> Result<Vec<usize>, BoxError> {
        Ok(list_parts(&P::input(run))?.iter().map(|p| p.task).collect())
    }

    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf> {
        vec![P::output_part(run, task), P::kept_counts_part(run, task)]
    }

    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![P::output(run), P::kept_counts_parts(run)]
    }

    fn progress_unit(&self) -> &'static str {
        "rows"
    }

    fn run_tasks(
        &self,
        ctx: &StageContext<'_>,
        tasks: &[usize],
        done: &(dyn Fn(usize, TaskResult) + Sync),
    ) -> Result<(), BoxError> {
        let (counts, caps) = self.counts(ctx.run)?;
        for l in &caps.languages {
            log::info!(
                "{}: t = {} (tail share {:.4}, {} matches)",
                l.lang,
                l.t,
                l.tail_share,
                l.matches
            );
        }
        let hard_plan = match self.params.cap {
            Cap::Soft => None,
            Cap::Hard => {
                let parts = list_parts(&P::input(ctx.run))?;
                let p = plan(&parts, counts, caps, self.params.seed)?;
                log::info!("hard cap: {} candidate pairs planned", p.candidates);
                Some(p)
            }
        };
        ctx.progress.set_length(total_rows(
            tasks.iter().map(|&t| P::input_part(ctx.run, t)),
            &P::schema(),
            P::WHAT,
        ));
        run_each(tasks, done, |task| {
            let kept_rows = hard_plan
                .as_ref()
                .map(|p| p.kept.get(&task).map_or(&[][..], |v| &v[..]));
            balance_part::<P>(ctx, task, counts, caps, &self.params, kept_rows)
        });
        Ok(())
    }

    fn has_reduce(&self) -> bool {
        true
    }

    fn reduce_outputs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![P::counts_table(run), P::summary(run)]
    }

    fn reduce(&self, ctx: &StageContext<'_>, records: &[TaskRecord]) -> Result<Counters, BoxError> {
        let (counts, caps) = self.counts(ctx.run)?;
        let t = caps.t;
        let mut after = vec![0u64; counts.len()];
        let mut counters = Counters::default();
        for r in records {
            add_counts(&P::kept_counts_part(ctx.run, r.task), &mut after)?;
            counters.merge(&r.counters);
        }
        let mut ids = Vec::new();
        let mut before_col = Vec::new();
        let mut after_col = Vec::new();
        let mut p_col = Vec::new();
        let mut capped_col = Vec::new();
        let mut per_lang: Vec<LangBalance> = caps
            .languages
            .iter()
            .map(|l| LangBalance {
                cap: l.clone(),
                entries_matched: 0,
                entries_capped: 0,
                rows_in: counters.get(&format!("{}{}", counter::LANG_IN_PREFIX, l.lang)),
                rows_kept: counters.get(&format!("{}{}", counter::LANG_KEPT_PREFIX, l.lang)),
            })
            .collect();
        let mut over_t_after = 0usize;
        for (id, (&b, &a)) in counts.iter().zip(&after).enumerate() {
            let t_id = caps.t(id as u32);
            if a > t_id {
                over_t_after += 1;
            }
            if b == 0 {
                continue;
            }
            ids.push(id as u32);
            before_col.push(b);
            after_col.push(a);
            p_col.push(match self.params.cap {
                Cap::Soft => keep_probability(b, t_id),
                Cap::Hard => a as f64 / b as f64,
            });
            capped_col.push(b > t_id);
            if let Some(l) = caps.language_of(id as u32) {
                per_lang[l].entries_matched += 1;
                per_lang[l].entries_capped += usize::from(b > t_id);
            }
        }
        let summary = BalanceSummary {
            cap: self.params.cap.name().to_string(),
            t,
            seed: self.params.seed,
            tail_share_requested: match self.params.threshold {
                Threshold::TailShare(s) => Some(s),
                Threshold::Fixed(_) => None,
            },
            tail_share: match caps.reference_tail_share {
                Some(p) => p,
                None => tail_share(counts, t),
            },
            entries_matched: ids.len(),
            entries_capped: capped_col.iter().filter(|&&c| c).count(),
            entries_over_t_after: over_t_after,
            max_count_after: after.iter().copied().max().unwrap_or(0),
            tasks: records.len(),
            counters,
            reference_tail_share: caps.reference_tail_share,
            languages: per_lang,
        };
        let out = P::counts_table(ctx.run);
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
        crate::task::write_atomically(&P::summary(ctx.run), &json)?;
        write_parquet_atomically(&out, &schema, &[batch], None)?;
        let mut c = Counters::default();
        c.add(counter::T, t);
        c.add(counter::ENTRIES_MATCHED, summary.entries_matched as u64);
        c.add(counter::ENTRIES_CAPPED, summary.entries_capped as u64);
        c.add(counter::MAX_COUNT_AFTER, summary.max_count_after);
        for l in summary.languages.iter().filter(|l| l.cap.matches > 0) {
            c.add(&format!("{}{}", counter::T_PREFIX, l.cap.lang), l.cap.t);
        }
        Ok(c)
    }

    fn summary(&self, r: &StageOutcome) -> String {
        let c = &r.counters;
        let t = self
            .counts
            .get()
            .map(|(_, caps)| {
                if caps.languages.is_empty() {
                    caps.t.to_string()
                } else {
                    let per: Vec<String> = caps
                        .languages
                        .iter()
                        .filter(|l| l.matches > 0)
                        .map(|l| format!("{} {}", l.lang, l.t))
                        .collect();
                    format!("{} ({})", caps.t, per.join(", "))
                }
            })
            .unwrap_or_else(|| match self.params.threshold {
                Threshold::Fixed(t) => t.to_string(),
                Threshold::TailShare(s) => format!("(tail share {s})"),
            });
        format!(
            "{}: t = {t}, {} cap; {} of {} tasks run ({} already done); {} {} in, {} kept in \
             {:.1}s{}",
            P::STAGE,
            self.params.cap.name(),
            r.tasks_run,
            r.tasks_total,
            r.tasks_skipped,
            c.get(counter::PAIRS_IN),
            P::UNIT,
            c.get(counter::PAIRS_KEPT),
            r.task_seconds,
            match &r.reduced {
                Some(s) => format!(
                    "; {} written: {} entries capped of {} matched, largest count after {}",
                    P::summary(&RunDir::new(""))
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    s.counters.get(counter::ENTRIES_CAPPED),
                    s.counters.get(counter::ENTRIES_MATCHED),
                    s.counters.get(counter::MAX_COUNT_AFTER)
                ),
                None => r.tail(),
            }
        )
    }
}

/// One task: input part N → its kept rows + kept counts per entry (for
/// [`Matched`]: `matched/part-N` → `selected/part-N` +
/// `balance_counts/part-N`).
fn balance_part<P: Pool>(
    ctx: &StageContext<'_>,
    task: usize,
    counts: &[u64],
    caps: &Caps,
    params: &BalanceParams,
    hard_kept: Option<&[u32]>,
) -> Result<Counters, PartsError> {
    let input = P::input_part(ctx.run, task);
    // Columns beyond the pool's own (a match stage's `lang`) pass through.
    let schema = with_extra_columns(&input, &P::schema())?;
    let uid_col = schema.index_of(col::UID).expect("uid column");
    let ids_col = schema.index_of(col::QUERY_IDS).expect("query_ids column");
    let pairs_in = AtomicU64::new(0);
    let matches_in = AtomicU64::new(0);
    let nulls = NullRows::new(&input);
    let mut kept_counts = vec![0u64; counts.len()];
    let mut pairs_kept = 0u64;
    let mut matches_kept = 0u64;
    // Rows per language (multilingual runs): read, kept.
    let lang_in: Vec<AtomicU64> = caps.languages.iter().map(|_| AtomicU64::new(0)).collect();
    let mut lang_kept = vec![0u64; caps.languages.len()];

    let transform = |batch: &RecordBatch, first_row: usize| -> Result<RecordBatch, PartsError> {
        let cols = conform_columns(&input, batch, &schema)?;
        let bad = required_nulls(&cols, &schema);
        let uids = cols[uid_col].as_string::<i32>();
        let lists = cols[ids_col].as_list::<i32>();
        let n = batch.num_rows();
        let mut keep = Vec::with_capacity(n);
        let mut unmatched = 0u64;
        for i in 0..n {
            // `matched/` holds every pair; one without a match is not a
            // candidate (and not counted as read).
            if matched_nothing(lists, i) {
                unmatched += 1;
                keep.push(false);
                continue;
            }
            if nulls.skip(&bad, i, first_row) {
                keep.push(false);
                continue;
            }
            let ids_arr = lists.value(i);
            let ids = ids_arr.as_primitive::<UInt32Type>().values();
            matches_in.fetch_add(ids.len() as u64, Ordering::Relaxed);
            if let Some(l) = ids.first().and_then(|&id| caps.language_of(id)) {
                lang_in[l].fetch_add(1, Ordering::Relaxed);
            }
            let k = match hard_kept {
                None => soft_keep_by(params.seed, uids.value(i), ids, counts, |id| caps.t(id)),
                Some(kept) => {
                    !is_candidate(ids, counts, caps)
                        || kept.binary_search(&((first_row + i) as u32)).is_ok()
                }
            };
            keep.push(k);
        }
        pairs_in.fetch_add(n as u64 - unmatched, Ordering::Relaxed);
        let out = filter_rows(&input, &cols, keep)?;
        RecordBatch::try_new(schema.clone(), out).map_err(|e| PartsError::arrow(&input, e))
    };
    let observe = |b: &RecordBatch| {
        let lists = b.column(ids_col).as_list::<i32>();
        if !lang_kept.is_empty() {
            for i in 0..b.num_rows() {
                let ids_arr = lists.value(i);
                let ids = ids_arr.as_primitive::<UInt32Type>().values();
                if let Some(l) = ids.first().and_then(|&id| caps.language_of(id)) {
                    lang_kept[l] += 1;
                }
            }
        }
        let values = lists.values().clone();
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
        &input,
        &schema,
        P::WHAT,
        &P::output_part(ctx.run, task),
        &schema,
        crate::parts::PartLayout::Compact,
        transform,
        observe,
        |n| ctx.progress.inc(n),
    )?;
    let mut counters = Counters::default();
    counters.add(counter::PAIRS_IN, pairs_in.into_inner());
    counters.add(counter::PAIRS_KEPT, pairs_kept);
    counters.add(counter::MATCHES_IN, matches_in.into_inner());
    counters.add(counter::MATCHES_KEPT, matches_kept);
    counters.add(counter::FAULT_NULL_FIELD, nulls.count());
    for ((l, n_in), n_kept) in caps.languages.iter().zip(lang_in).zip(lang_kept) {
        let n_in = n_in.into_inner();
        if n_in > 0 {
            counters.add(&format!("{}{}", counter::LANG_IN_PREFIX, l.lang), n_in);
            counters.add(&format!("{}{}", counter::LANG_KEPT_PREFIX, l.lang), n_kept);
        }
    }
    write_counts(&P::kept_counts_part(ctx.run, task), &kept_counts)?;
    Ok(counters)
}

/// The languages of a multilingual match (`match.json`'s `languages`), or
/// none for a single vocabulary or a run without `match.json`.
fn read_languages(run: &RunDir) -> Result<Option<Vec<LangVocab>>, BalanceError> {
    let path = run.match_summary();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BalanceError::Io { path, source: e }),
    };
    let summary: MatchSummary = serde_json::from_slice(&bytes)
        .map_err(|e| BalanceError::BadOption(format!("{}: {e}", path.display())))?;
    Ok((!summary.languages.is_empty()).then_some(summary.languages))
}
