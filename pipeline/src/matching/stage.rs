//! The match stage on the stage runner: one task per `pairs/part-N.parquet`
//! writes `matched/part-N.parquet` and `counts/part-N.parquet`; the reduce
//! sums the counts into `counts.parquet` and writes `match.json`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::human_bytes;
use super::matcher::{Matcher, Scratch};
use super::{MatchError, Rule, Vocab};
use crate::counts::{add_counts, write_counts};
use crate::parts::{
    conform_columns, filter_rows, list_parts, open_checked, query_ids_field, required_nulls,
    transform_part, NullRows, PartsError,
};
use crate::run_dir::RunDir;
use crate::schema::{col, matched_schema, pairs_schema};
use crate::stage::{run_each, BoxError, Stage, StageContext, StageOutcome, TaskRecord, TaskResult};
use crate::task::Counters;

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
    /// Reduce: entries with at least one match.
    pub const ENTRIES_MATCHED: &str = "entries_matched";
    /// Reduce: entries with no match.
    pub const ENTRIES_UNMATCHED: &str = "entries_unmatched";
}

/// Settings of the match stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchParams {
    /// The vocabulary's `queries.txt` (absolute).
    pub vocab: PathBuf,
    /// xxh3-64 (hex) of the vocabulary file.
    pub vocab_fingerprint: String,
    /// Number of vocabulary entries.
    pub vocab_entries: usize,
    /// The matching rule.
    pub rule: Rule,
    /// Refuse to build an automaton estimated to need more bytes than this.
    pub max_vocab_memory: u64,
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

/// The match stage.
pub struct MatchStage {
    params: MatchParams,
    vocab: Vocab,
    /// Seconds to build the automaton and its heap bytes, once built.
    automaton: Mutex<Option<(f64, usize)>>,
}

impl MatchStage {
    /// The stage for `vocab` (loaded) with `rule`.
    pub fn new(vocab: Vocab, rule: Rule, max_vocab_memory: u64) -> Self {
        let vocab_path = std::path::absolute(&vocab.path).unwrap_or_else(|_| vocab.path.clone());
        Self {
            params: MatchParams {
                vocab: vocab_path,
                vocab_fingerprint: format!("{:016x}", vocab.fingerprint),
                vocab_entries: vocab.len(),
                rule,
                max_vocab_memory,
            },
            vocab,
            automaton: Mutex::new(None),
        }
    }
}

impl Stage for MatchStage {
    const NAME: &'static str = "match";
    type Params = MatchParams;

    fn params(&self) -> &MatchParams {
        &self.params
    }

    fn open(params: MatchParams) -> Result<Self, BoxError> {
        let vocab = Vocab::load(&params.vocab)?;
        let fingerprint = format!("{:016x}", vocab.fingerprint);
        if fingerprint != params.vocab_fingerprint {
            return Err(format!(
                "{}: the vocabulary changed since the stage was started (fingerprint {} then, {} now)",
                params.vocab.display(),
                params.vocab_fingerprint,
                fingerprint
            )
            .into());
        }
        Ok(Self {
            params,
            vocab,
            automaton: Mutex::new(None),
        })
    }

    fn guarded(&self) -> serde_json::Value {
        serde_json::json!({
            "rule": self.params.rule,
            "vocab_entries": self.params.vocab_entries,
            "vocab_fingerprint": self.params.vocab_fingerprint,
        })
    }

    fn upstream(&self) -> Option<&'static str> {
        Some("extract")
    }

    fn tasks(&self, run: &RunDir) -> Result<Vec<usize>, BoxError> {
        let parts = list_parts(&run.pairs())?;
        if parts.is_empty() {
            return Err(MatchError::NoInput { dir: run.pairs() }.into());
        }
        Ok(parts.iter().map(|p| p.task).collect())
    }

    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf> {
        vec![run.matched_part(task), run.match_counts_part(task)]
    }

    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![run.matched(), run.match_counts_parts()]
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
        let mut ready = Vec::new();
        let mut rows = 0u64;
        for &t in tasks {
            match open_checked(&ctx.run.pairs_part(t), &pairs_schema(), "pairs") {
                Ok((_, n)) => {
                    rows += n as u64;
                    ready.push(t);
                }
                Err(e) => done(t, Err(e.into())),
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let matcher = Matcher::new(
            &self.vocab.entries,
            self.params.rule,
            self.params.max_vocab_memory,
        )?;
        let built = start.elapsed().as_secs_f64();
        log::info!(
            "automaton for {} entries ({} rule) built in {built:.2}s, {}",
            self.vocab.len(),
            self.params.rule,
            human_bytes(matcher.memory_usage() as u64)
        );
        *self.automaton.lock().expect("not poisoned") = Some((built, matcher.memory_usage()));
        ctx.progress.set_length(rows);
        run_each(&ready, done, |t| match_part(ctx, t, &matcher));
        Ok(())
    }

    fn has_reduce(&self) -> bool {
        true
    }

    fn reduce_outputs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![run.match_counts(), run.match_summary()]
    }

    fn reduce(&self, ctx: &StageContext<'_>, records: &[TaskRecord]) -> Result<Counters, BoxError> {
        let mut total = vec![0u64; self.vocab.len()];
        let mut counters = Counters::default();
        for r in records {
            add_counts(&ctx.run.match_counts_part(r.task), &mut total)?;
            counters.merge(&r.counters);
        }
        let entries_matched = total.iter().filter(|&&c| c > 0).count();
        let summary = MatchSummary {
            rule: self.params.rule.name().to_string(),
            vocab: self.params.vocab.clone(),
            vocab_entries: self.vocab.len(),
            vocab_fingerprint: self.params.vocab_fingerprint.clone(),
            tasks: records.len(),
            entries_matched,
            entries_unmatched: self.vocab.len() - entries_matched,
            counters,
        };
        let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
        atomic_output::write_atomically(&ctx.run.match_summary(), &json)?;
        write_counts(&ctx.run.match_counts(), &total)?;
        let mut out = Counters::default();
        out.add(counter::ENTRIES_MATCHED, entries_matched as u64);
        out.add(
            counter::ENTRIES_UNMATCHED,
            (self.vocab.len() - entries_matched) as u64,
        );
        Ok(out)
    }

    fn summary(&self, r: &StageOutcome) -> String {
        let c = &r.counters;
        let secs = r.task_seconds.max(1e-9);
        let automaton = match *self.automaton.lock().expect("not poisoned") {
            Some((s, bytes)) => {
                format!("; automaton {} built in {s:.1}s", human_bytes(bytes as u64))
            }
            None => String::new(),
        };
        format!(
            "match: {} of {} tasks run ({} already done); {} pairs in, {} matched, {} matches; \
             {:.0} pairs/s, {:.1} MB/s{automaton}{}",
            r.tasks_run,
            r.tasks_total,
            r.tasks_skipped,
            c.get(counter::PAIRS_IN),
            c.get(counter::PAIRS_MATCHED),
            c.get(counter::MATCHES),
            c.get(counter::PAIRS_IN) as f64 / secs,
            c.get(counter::TEXT_BYTES) as f64 / secs / 1e6,
            match &r.reduced {
                Some(s) => format!(
                    "; counts.parquet written: {} of {} entries matched",
                    s.counters.get(counter::ENTRIES_MATCHED),
                    self.vocab.len()
                ),
                None => r.tail(),
            }
        )
    }
}

/// One task: `pairs/part-N` → `matched/part-N` + `counts/part-N`.
fn match_part(
    ctx: &StageContext<'_>,
    task: usize,
    matcher: &Matcher,
) -> Result<Counters, PartsError> {
    let input = ctx.run.pairs_part(task);
    let in_schema = pairs_schema();
    let out_schema = matched_schema();
    let text_col = in_schema.index_of(col::TEXT).expect("pairs have text");

    let pairs_in = AtomicU64::new(0);
    let text_bytes = AtomicU64::new(0);
    let nulls = NullRows::new(&input);
    let mut counts = vec![0u64; matcher.entries()];
    let mut pairs_matched = 0u64;
    let mut matches = 0u64;

    let transform = |batch: &RecordBatch, first_row: usize| -> Result<RecordBatch, PartsError> {
        let cols = conform_columns(&input, batch, &in_schema)?;
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
            if nulls.skip(&bad, i, first_row) {
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
        let mut out = filter_rows(&input, &cols, keep)?;
        out.push(Arc::new(list.finish()));
        RecordBatch::try_new(out_schema.clone(), out).map_err(|e| PartsError::arrow(&input, e))
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
        &input,
        &in_schema,
        "pairs",
        &ctx.run.matched_part(task),
        &out_schema,
        transform,
        observe,
        |n| ctx.progress.inc(n),
    )?;

    let mut counters = Counters::default();
    counters.add(counter::PAIRS_IN, pairs_in.into_inner());
    counters.add(counter::PAIRS_MATCHED, pairs_matched);
    counters.add(counter::MATCHES, matches);
    counters.add(counter::TEXT_BYTES, text_bytes.into_inner());
    counters.add(counter::FAULT_NULL_FIELD, nulls.count());
    write_counts(&ctx.run.match_counts_part(task), &counts)?;
    Ok(counters)
}
