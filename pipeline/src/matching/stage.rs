//! The match stage on the stage runner: one task per `pairs/part-N.parquet`
//! writes `matched/part-N.parquet` and `counts/part-N.parquet`; the reduce
//! sums the counts into `counts.parquet` and writes `match.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::human_bytes;
use super::languages::{number, LangVocab};
use super::lid;
use super::matcher::Scratch;
use super::matchers::Matchers;
use super::{MatchError, Rule, Vocab};
use crate::counts::{add_counts, write_counts};
use crate::parts::{
    conform_columns, filter_rows, list_parts, open_checked, query_ids_field, required_nulls,
    transform_part, NullRows, PartLayout, PartsError,
};
use crate::run_dir::RunDir;
use crate::schema::{col, matched_schema, pairs_schema};
use crate::splice::Spliced;
use crate::stage::{
    run_some_at_once, BoxError, Stage, StageContext, StageOutcome, TaskRecord, TaskResult,
};
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
    /// With language identification: rows whose language has no vocabulary
    /// (including rows whose language could not be told), not matched.
    pub const SKIP_NO_VOCAB: &str = "skip_no_vocab";
    /// With language identification: prefix of the per-language row counts
    /// (`lang_en`, `lang_ja`, ..., `lang_und`).
    pub const LANG_PREFIX: &str = "lang_";
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
    /// Identify each text's language and match it against that language's
    /// vocabulary (`languages`). Then `vocab` is the vocabulary directory, and
    /// `vocab_fingerprint` and `vocab_entries` cover every language.
    #[serde(default)]
    pub lid: bool,
    /// With `lid`: the vocabulary of each language, in code order, with the
    /// range of entry ids it was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<LangVocab>,
    /// With `lid`: the language of texts whose identification is not
    /// reliable (see [`lid::identify_or`]); none = the identifier's best guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid_fallback: Option<String>,
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
    /// With language identification: each language's vocabulary and its ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<LangVocab>,
    /// Counters summed over every task.
    pub counters: Counters,
}

/// The match stage.
pub struct MatchStage {
    params: MatchParams,
    /// The vocabulary, or with `lid` one per language (as `params.languages`).
    vocabs: Vec<Vocab>,
    /// Seconds to build the automaton and its heap bytes, once built.
    automaton: Mutex<Option<(f64, usize)>>,
}

impl MatchStage {
    /// The stage for `vocab` (loaded) with `rule`.
    pub fn new(vocab: Vocab, rule: Rule, max_vocab_memory: u64) -> Self {
        let vocab_path = crate::storage::files::absolute(&vocab.path);
        Self {
            params: MatchParams {
                vocab: vocab_path,
                vocab_fingerprint: format!("{:016x}", vocab.fingerprint),
                vocab_entries: vocab.len(),
                rule,
                max_vocab_memory,
                lid: false,
                languages: Vec::new(),
                lid_fallback: None,
            },
            vocabs: vec![vocab],
            automaton: Mutex::new(None),
        }
    }

    /// The stage with language identification: each text is matched against
    /// the vocabulary of its language, `vocabs` (language code, vocabulary)
    /// in code order, as [`super::languages::scan_vocab_dir`] lists them;
    /// `dir` is where they were found (recorded in reports).
    pub fn with_lid(
        dir: &Path,
        vocabs: Vec<(String, Vocab)>,
        rule: Rule,
        max_vocab_memory: u64,
    ) -> Result<Self, MatchError> {
        let languages = number(&vocabs)?;
        let entries = languages.iter().map(|l| l.entries).sum();
        Ok(Self {
            params: MatchParams {
                vocab: crate::storage::files::absolute(dir),
                vocab_fingerprint: languages_fingerprint(&languages),
                vocab_entries: entries,
                rule,
                max_vocab_memory,
                lid: true,
                languages,
                lid_fallback: None,
            },
            vocabs: vocabs.into_iter().map(|(_, v)| v).collect(),
            automaton: Mutex::new(None),
        })
    }
}

impl MatchStage {
    /// With language identification, gives texts whose identification is
    /// not reliable the language `lang` (see [`lid::identify_or`]).
    pub fn with_lid_fallback(mut self, lang: Option<String>) -> Self {
        self.params.lid_fallback = lang;
        self
    }
}

/// The fingerprint of a set of vocabularies: xxh3-64 of their languages and
/// fingerprints.
fn languages_fingerprint(languages: &[LangVocab]) -> String {
    let mut key = String::new();
    for l in languages {
        key.push_str(&format!("{}={}\n", l.lang, l.fingerprint));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

impl Stage for MatchStage {
    const NAME: &'static str = "match";
    type Params = MatchParams;

    fn params(&self) -> &MatchParams {
        &self.params
    }

    fn open(params: MatchParams) -> Result<Self, BoxError> {
        let files: Vec<(&Path, &str)> = if params.lid {
            params
                .languages
                .iter()
                .map(|l| (l.vocab.as_path(), l.fingerprint.as_str()))
                .collect()
        } else {
            vec![(params.vocab.as_path(), params.vocab_fingerprint.as_str())]
        };
        let mut vocabs = Vec::with_capacity(files.len());
        for (path, then) in files {
            let vocab = Vocab::load(path)?;
            let now = format!("{:016x}", vocab.fingerprint);
            if now != then {
                return Err(format!(
                    "{}: the vocabulary changed since the stage was started (fingerprint {then} then, {now} now)",
                    path.display(),
                )
                .into());
            }
            vocabs.push(vocab);
        }
        Ok(Self {
            params,
            vocabs,
            automaton: Mutex::new(None),
        })
    }

    fn guarded(&self) -> serde_json::Value {
        let mut g = serde_json::json!({
            "rule": self.params.rule,
            "vocab_entries": self.params.vocab_entries,
            "vocab_fingerprint": self.params.vocab_fingerprint,
        });
        if self.params.lid {
            g["lid"] = serde_json::Value::Bool(true);
            if let Some(f) = &self.params.lid_fallback {
                g["lid_fallback"] = serde_json::Value::String(f.clone());
            }
        }
        g
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
        let matchers = Matchers::new(&self.params, &self.vocabs)?;
        let built = start.elapsed().as_secs_f64();
        log::info!(
            "matcher for {} entries ({} rule) built in {built:.2}s, {}",
            self.params.vocab_entries,
            self.params.rule,
            human_bytes(matchers.memory_usage() as u64)
        );
        *self.automaton.lock().expect("not poisoned") = Some((built, matchers.memory_usage()));
        ctx.progress.set_length(rows);
        run_some_at_once(&ready, done, tasks_at_once(matchers.entries), |t| {
            match_part(ctx, t, &matchers)
        });
        Ok(())
    }

    fn has_reduce(&self) -> bool {
        true
    }

    fn reduce_outputs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![run.match_counts(), run.match_summary()]
    }

    fn reduce(&self, ctx: &StageContext<'_>, records: &[TaskRecord]) -> Result<Counters, BoxError> {
        let entries = self.params.vocab_entries;
        let mut total = vec![0u64; entries];
        let mut counters = Counters::default();
        for r in records {
            add_counts(&ctx.run.match_counts_part(r.task), &mut total)?;
            counters.merge(&r.counters);
        }
        let entries_matched = total.iter().filter(|&&c| c > 0).count();
        let summary = MatchSummary {
            rule: self.params.rule.name().to_string(),
            vocab: self.params.vocab.clone(),
            vocab_entries: entries,
            vocab_fingerprint: self.params.vocab_fingerprint.clone(),
            tasks: records.len(),
            entries_matched,
            entries_unmatched: entries - entries_matched,
            languages: self.params.languages.clone(),
            counters,
        };
        let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
        crate::task::write_atomically(&ctx.run.match_summary(), &json)?;
        write_counts(&ctx.run.match_counts(), &total)?;
        let mut out = Counters::default();
        out.add(counter::ENTRIES_MATCHED, entries_matched as u64);
        out.add(
            counter::ENTRIES_UNMATCHED,
            (entries - entries_matched) as u64,
        );
        Ok(out)
    }

    fn summary(&self, r: &StageOutcome) -> String {
        let c = &r.counters;
        let built = *self.automaton.lock().expect("not poisoned");
        // The rates are those of the tasks, without building the matcher
        // (reported on its own).
        let secs = (r.task_seconds - built.map_or(0.0, |(s, _)| s)).max(1e-9);
        let automaton = match built {
            Some((s, bytes)) => {
                format!("; matcher {} built in {s:.1}s", human_bytes(bytes as u64))
            }
            None => String::new(),
        };
        let languages = if self.params.lid {
            // The five most frequent languages, then the texts left unmatched.
            let mut seen: Vec<(&str, u64)> =
                c.0.iter()
                    .filter_map(|(k, &n)| Some((k.strip_prefix(counter::LANG_PREFIX)?, n)))
                    .collect();
            seen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = seen
                .iter()
                .take(5)
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            format!(
                "; {} languages seen ({}{}), {} pairs in languages without a vocabulary",
                seen.len(),
                top.join(", "),
                if seen.len() > 5 { ", ..." } else { "" },
                c.get(counter::SKIP_NO_VOCAB)
            )
        } else {
            String::new()
        };
        format!(
            "match: {} of {} tasks run ({} already done); {} pairs in, {} matched, {} matches{languages}; \
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
                    self.params.vocab_entries
                ),
                None => r.tail(),
            }
        )
    }
}

/// The column language identification adds to `matched/` (after `query_ids`):
/// the text's language, a Wikipedia edition code or `und`.
pub const LANG_COLUMN: &str = "lang";

/// The columns of `matched/` with language identification: those of
/// [`matched_schema`] and [`LANG_COLUMN`].
pub fn matched_lid_schema() -> SchemaRef {
    let base = matched_schema();
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(LANG_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// How many match tasks run at once: one per core, as long as their
/// per-entry count arrays (8 bytes per vocabulary entry each) stay within
/// 1 GiB together; a task's reader and writer are serial, so one task at a
/// time leaves cores idle.
fn tasks_at_once(entries: usize) -> usize {
    const COUNTS_BUDGET: usize = 1 << 30;
    let by_memory = COUNTS_BUDGET / (entries.max(1) * std::mem::size_of::<u64>());
    rayon::current_num_threads().min(by_memory).max(1)
}

/// One task: `pairs/part-N` → `matched/part-N` + `counts/part-N`.
///
/// `matched/part-N` holds every row of `pairs/part-N`, in its order and row
/// groups, with `query_ids` (empty when nothing matched) and, with language
/// identification, `lang`. The pair columns are copied as they are stored
/// (see [`crate::splice`]); only `text` is decoded. A part that stores them
/// otherwise (another writer's types, nullable columns) is decoded and
/// re-encoded instead, and its rows with a null in a required column are
/// skipped and counted.
fn match_part(
    ctx: &StageContext<'_>,
    task: usize,
    matchers: &Matchers,
) -> Result<Counters, PartsError> {
    let input = ctx.run.pairs_part(task);
    let output = ctx.run.matched_part(task);
    let in_schema = pairs_schema();
    let out_schema = if matchers.lid {
        matched_lid_schema()
    } else {
        matched_schema()
    };
    let kept = in_schema.fields().len();
    let text_col = in_schema.index_of(col::TEXT).expect("pairs have text");
    let ids_col = out_schema
        .index_of(col::QUERY_IDS)
        .expect("matched has query_ids");

    let totals = MatchTotals::default();
    let mut counts = vec![0u64; matchers.entries];
    let mut pairs_matched = 0u64;
    let mut matches = 0u64;
    let mut observe = |computed: &[ArrayRef]| {
        let ids = computed[ids_col - kept].as_list::<i32>();
        let offsets = ids.value_offsets();
        pairs_matched += offsets.windows(2).filter(|w| w[1] > w[0]).count() as u64;
        let values = ids.values().as_primitive::<UInt32Type>();
        for &id in values.values() {
            counts[id as usize] += 1;
        }
        matches += values.len() as u64;
    };
    let spliced = crate::splice::splice_part(
        &input,
        &output,
        &out_schema,
        kept,
        &[col::TEXT],
        MAX_SPLICED_GROUP_ROWS,
        PartLayout::Fast,
        |batch, _| {
            let texts = batch.column(0).as_string_view();
            Ok(match_texts(
                matchers,
                texts.len(),
                |i| texts.value(i),
                &totals,
            ))
        },
        &mut observe,
        |n| ctx.progress.inc(n),
    )?;
    let nulls = NullRows::new(&input);
    if let Spliced::Incompatible(why) = spliced {
        log::debug!("{}: decoding every column: {why}", input.display());
        let transform = |batch: &RecordBatch,
                         first_row: usize|
         -> Result<RecordBatch, PartsError> {
            let mut cols = conform_columns(&input, batch, &in_schema)?;
            let bad = required_nulls(&cols, &in_schema);
            if bad.is_some() {
                let keep: Vec<bool> = (0..batch.num_rows())
                    .map(|i| !nulls.skip(&bad, i, first_row))
                    .collect();
                totals.pairs_in.fetch_add(
                    keep.iter().filter(|k| !**k).count() as u64,
                    Ordering::Relaxed,
                );
                cols = filter_rows(&input, &cols, keep)?;
            }
            let texts = cols[text_col].as_string::<i32>();
            let computed = match_texts(matchers, texts.len(), |i| texts.value(i), &totals);
            cols.extend(computed);
            RecordBatch::try_new(out_schema.clone(), cols).map_err(|e| PartsError::arrow(&input, e))
        };
        transform_part(
            &input,
            &in_schema,
            "pairs",
            &output,
            &out_schema,
            PartLayout::Fast,
            transform,
            |b: &RecordBatch| observe(&b.columns()[kept..]),
            |n| ctx.progress.inc(n),
        )?;
    }

    let mut counters = totals.by_lang.into_inner().expect("not poisoned");
    counters.add(counter::PAIRS_IN, totals.pairs_in.into_inner());
    counters.add(counter::PAIRS_MATCHED, pairs_matched);
    counters.add(counter::MATCHES, matches);
    counters.add(counter::TEXT_BYTES, totals.text_bytes.into_inner());
    counters.add(counter::FAULT_NULL_FIELD, nulls.count());
    write_counts(&ctx.run.match_counts_part(task), &counts)?;
    Ok(counters)
}

/// The largest row group of `pairs/` whose `matched/` row group is written
/// by copying (the `query_ids` of a row group are held in memory until it is
/// written): parquet writers' usual limit, and more than extract writes. A
/// part with larger row groups is decoded and re-encoded instead.
const MAX_SPLICED_GROUP_ROWS: usize = 1 << 20;

/// Totals of a task that the batches matched in parallel add to.
#[derive(Default)]
struct MatchTotals {
    pairs_in: AtomicU64,
    text_bytes: AtomicU64,
    by_lang: Mutex<Counters>,
}

/// Matches the `n` texts `text(0..n)`: their `query_ids` (empty where
/// nothing matched) and, with language identification, each one's language.
fn match_texts<'a>(
    matchers: &Matchers,
    n: usize,
    text: impl Fn(usize) -> &'a str,
    totals: &MatchTotals,
) -> Vec<ArrayRef> {
    let fallback = matchers.fallback.as_deref();
    let mut list = ListBuilder::with_capacity(UInt32Builder::with_capacity(n * 4), n)
        .with_field(query_ids_field());
    let mut langs = StringBuilder::new();
    let mut lang_rows: BTreeMap<&str, u64> = BTreeMap::new();
    let mut scratch = Scratch::default();
    let mut ids = Vec::new();
    let mut bytes = 0u64;
    for i in 0..n {
        let text = text(i);
        bytes += text.len() as u64;
        if matchers.lid {
            let lang = lid::identify_or(text, fallback);
            *lang_rows.entry(lang).or_default() += 1;
            langs.append_value(lang);
            if let Some((matcher, first_id)) = matchers.of(lang) {
                matcher.find_into(text, &mut scratch, &mut ids);
                for &id in &ids {
                    list.values().append_value(id + first_id);
                }
            }
        } else {
            matchers.list[0].find_into(text, &mut scratch, &mut ids);
            list.values().append_slice(&ids);
        }
        list.append(true);
    }
    totals.pairs_in.fetch_add(n as u64, Ordering::Relaxed);
    totals.text_bytes.fetch_add(bytes, Ordering::Relaxed);
    let mut out: Vec<ArrayRef> = vec![Arc::new(list.finish())];
    if matchers.lid {
        let mut c = totals.by_lang.lock().expect("not poisoned");
        for (lang, n) in lang_rows {
            c.add(&format!("{}{lang}", counter::LANG_PREFIX), n);
            if matchers.of(lang).is_none() {
                c.add(counter::SKIP_NO_VOCAB, n);
            }
        }
        out.push(Arc::new(langs.finish()));
    }
    out
}
