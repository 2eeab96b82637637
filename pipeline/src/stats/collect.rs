//! Gathering the statistics of a run directory: discover what stages exist,
//! stream their files in parallel (merging per-file summaries in file order,
//! so the result does not depend on the thread count) and assemble
//! [`RunStats`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::counters::STAGES as RECORD_STAGES;
use super::model::*;
use super::scan::{scan_file, Acc, Kind, Limits};
use super::sketch::HeavyHitters;
use super::{records, vocab, StatsError};
use crate::balance::stage::counter as balance;
use crate::dedup::stage::counter as dedup;
use crate::download::stage::counter as download;
use crate::matching::stage::counter as matching;
use crate::storage::files;

/// Default balancing threshold, MetaCLIP's t.
pub const DEFAULT_T: u64 = 20_000;

/// Options of [`collect`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Vocabulary directory (default `RUN/vocab`).
    pub vocab_dir: Option<PathBuf>,
    /// Balancing threshold t (default: the t of the balance stage's record,
    /// else 20,000).
    pub t: Option<u64>,
    /// Rows of the top tables (entries, texts, domains).
    pub top: usize,
    /// Sizes of the bounded summaries.
    pub limits: Limits,
    /// Show a progress bar.
    pub progress: bool,
    /// `suite.json` files (or directories of one) of `eval --suite` to
    /// include.
    pub eval_suites: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            vocab_dir: None,
            t: None,
            top: 25,
            limits: Limits::default(),
            progress: false,
            eval_suites: Vec::new(),
        }
    }
}

/// What the run directory holds, in stage order.
const STAGES: [&str; 6] = ["vocab", "pairs", "matched", "counts", "selected", "shards"];

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = files::list_files(dir)
        .unwrap_or_else(|e| {
            log::warn!("{}: {e}", dir.display());
            Vec::new()
        })
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    out
}

/// Reads every stage of `run` and computes its statistics.
pub fn collect(run: &Path, opts: &Options) -> Result<RunStats, StatsError> {
    if !matches!(files::kind(run), Ok(Some(files::Kind::Dir))) {
        return Err(StatsError::NotADirectory(run.to_path_buf()));
    }
    // Read first: a bad suite file fails before the long scan.
    let evaluations = super::evaluations::read(&opts.eval_suites)?;
    let vocab_dir = opts.vocab_dir.clone().unwrap_or_else(|| run.join("vocab"));
    let mut jobs: Vec<(Kind, PathBuf)> = Vec::new();
    for kind in [Kind::Pairs, Kind::Matched, Kind::Selected, Kind::Shards] {
        jobs.extend(
            parquet_files(&run.join(kind.name()))
                .into_iter()
                .map(|p| (kind, p)),
        );
    }
    let reduced_counts = run.join("counts.parquet");
    if files::exists(&reduced_counts) {
        jobs.push((Kind::Counts, reduced_counts));
    } else {
        jobs.extend(
            parquet_files(&run.join("counts"))
                .into_iter()
                .map(|p| (Kind::Counts, p)),
        );
    }
    let vocab_found = vocab::vocab_file(&vocab_dir).is_some();
    let mut present: Vec<String> = Vec::new();
    for stage in STAGES {
        let here = if stage == "vocab" {
            vocab_found
        } else {
            jobs.iter().any(|(k, _)| k.name() == stage)
        };
        if here {
            present.push(stage.to_string());
        }
    }
    if present.is_empty() {
        return Err(StatsError::NoStages {
            run: run.to_path_buf(),
            vocab_dir,
        });
    }
    let missing: Vec<String> = STAGES
        .iter()
        .filter(|s| !present.iter().any(|p| p == *s))
        .map(|s| s.to_string())
        .collect();
    for m in &missing {
        log::info!(
            "{}: no {m} output found; the report leaves it out",
            run.display()
        );
    }

    let accs = scan_all(&jobs, opts);
    let mut vocab_problems = StageFiles::default();
    let vocab = if multilingual_vocabs(run).is_some() {
        // Its ids span every language's vocabulary: one file does not
        // describe them (the top entries are looked up per language).
        log::info!(
            "{}: a multilingual match; entry sources and counts per vocabulary are left out",
            run.display()
        );
        Ok(None)
    } else {
        vocab::load(&vocab_dir)
    };
    let vocab = vocab.unwrap_or_else(|e| {
        log::warn!("{e}; the report goes on without the vocabulary");
        vocab_problems
            .problems
            .insert("unreadable_vocabulary".into(), 1);
        None
    });
    let records = records::read_all(run);
    let without_records: Vec<String> = present
        .iter()
        .filter(|dir| writer_of(dir).is_some_and(|stage| !records.contains_key(stage)))
        .cloned()
        .collect();
    for dir in &without_records {
        log::info!(
            "{}: {dir} exists but the {} stage has no records; it is left out of the funnel",
            run.display(),
            writer_of(dir).unwrap_or("?")
        );
    }
    let funnel = funnel(&accs, &records);

    let mut stats = RunStats {
        format_version: FORMAT_VERSION,
        generator: format!("witcurate-pipeline {}", env!("CARGO_PKG_VERSION")),
        run_dir: run.display().to_string(),
        stages: StagePresence {
            present,
            missing,
            without_records,
        },
        throughput: throughput(&funnel, &records),
        funnel,
        vocab: None,
        captions: BTreeMap::new(),
        domains: BTreeMap::new(),
        images: None,
        stage_files: BTreeMap::new(),
        stage_records: BTreeMap::new(),
        vocab_build: vocab::build_report(&vocab_dir),
        languages: super::languages::collect(run),
        evaluations,
    };
    stats.vocab = vocab_stats(run, &accs, vocab.as_ref(), &vocab_dir, &records, opts);
    if let Some(v) = &vocab {
        vocab_problems.files = 1;
        vocab_problems.rows = v.entries;
        vocab_problems.file_bytes = std::fs::metadata(&v.file).map(|m| m.len()).unwrap_or(0);
    }
    if vocab_found {
        stats.stage_files.insert("vocab".into(), vocab_problems);
    }
    for (kind, acc) in &accs {
        let name = kind.name().to_string();
        stats.stage_files.insert(name.clone(), acc.files.clone());
        if *kind == Kind::Counts {
            continue;
        }
        if acc.captions.chars.n > 0 {
            stats.captions.insert(
                name.clone(),
                CaptionStats {
                    texts: acc.captions.chars.n,
                    chars: acc.captions.chars.clone(),
                    tokens: acc.captions.tokens.clone(),
                    top_texts: top_list(&acc.captions.texts, opts.top),
                },
            );
        }
        if acc.domains.total() > 0 {
            stats
                .domains
                .insert(name.clone(), top_list(&acc.domains, opts.top));
        }
        if let Some(img) = &acc.images {
            let successes = img.status.get("success").copied().unwrap_or(0);
            let distinct = img.sha.count();
            stats.images = Some(ImageStats {
                rows: acc.files.rows,
                successes,
                status: img.status.clone(),
                width_before: img.width_before.clone(),
                height_before: img.height_before.clone(),
                aspect_before: img.aspect_before.clone(),
                width_after: img.width_after.clone(),
                height_after: img.height_after.clone(),
                aspect_after: img.aspect_after.clone(),
                formats: img.formats.clone(),
                bytes_total: img.bytes.sum as u64,
                bytes: img.bytes.clone(),
                distinct_sha256: distinct,
                duplicate_sha256: img.sha_rows.saturating_sub(distinct),
                sha256_exact: img.sha.is_exact(),
            });
        }
    }
    stats.stage_records = records;
    Ok(stats)
}

/// Scans every file, a bounded number at a time, and merges the summaries
/// per stage in file order.
fn scan_all(jobs: &[(Kind, PathBuf)], opts: &Options) -> BTreeMap<Kind, Acc> {
    let bar = crate::stage::progress::bar("stats", "files", opts.progress);
    bar.set_length(jobs.len() as u64);
    let mut merged: BTreeMap<Kind, Acc> = BTreeMap::new();
    let in_flight = (2 * rayon::current_num_threads()).max(2);
    for chunk in jobs.chunks(in_flight) {
        let partial: Vec<Acc> = chunk
            .par_iter()
            .map(|(kind, path)| {
                let acc = scan_file(path, *kind, &opts.limits);
                bar.inc(1);
                acc
            })
            .collect();
        for acc in partial {
            match merged.get_mut(&acc.kind) {
                Some(m) => m.merge(&acc),
                None => {
                    merged.insert(acc.kind, acc);
                }
            }
        }
    }
    bar.finish_and_clear();
    merged
}

fn top_list(hh: &HeavyHitters, n: usize) -> TopList {
    TopList {
        total: hh.total(),
        max_undercount: hh.max_undercount(),
        top: hh.top(n),
    }
}

fn rows(accs: &BTreeMap<Kind, Acc>, kind: Kind) -> Option<u64> {
    accs.get(&kind)
        .filter(|a| a.files.files > 0)
        .map(|a| a.files.rows)
}

/// The stage that writes output directory `dir` (`None` for the vocabulary).
fn writer_of(dir: &str) -> Option<&'static str> {
    match dir {
        "pairs" => Some("extract"),
        "matched" | "counts" => Some("match"),
        "selected" => Some("balance"),
        "shards" => Some("download"),
        _ => None,
    }
}

/// A funnel step as the funnel reads it from a stage's records.
struct Spec<'a> {
    /// The step's name within the stage.
    name: &'static str,
    /// The counters summed (those present; the step is left out when none is).
    counters: &'a [&'a str],
    /// Task counters or the reduce's.
    from: RecordPart,
    /// `inputs`, `records` or `pairs`.
    unit: &'static str,
    /// The label (default: the first counter's).
    label: Option<String>,
    /// The `fault_*` and `skip_*` counters of the same record that explain
    /// the step's drop.
    reasons: &'a dyn Fn(&str) -> bool,
    /// What the rest of the drop is, if the counters leave some.
    remainder: Option<(ReasonKind, String)>,
    /// Rows of the output files that should equal the count.
    output_rows: Option<u64>,
}

fn none(_: &str) -> bool {
    false
}

impl Spec<'_> {
    fn step(
        &self,
        stage: &str,
        r: &StageRecords,
    ) -> Option<(FunnelStep, Option<(ReasonKind, String)>)> {
        let part = match self.from {
            RecordPart::Tasks => &r.tasks,
            RecordPart::Reduce => r.reduce.as_ref()?,
        };
        let present: Vec<&Counter> = self
            .counters
            .iter()
            .filter_map(|n| part.iter().find(|c| c.name == *n))
            .collect();
        let first = present.first()?;
        let mut reasons: Vec<Reason> = part
            .iter()
            .filter(|c| c.kind != CounterClass::Measure && c.value > 0 && (self.reasons)(&c.name))
            .map(|c| Reason {
                counter: Some(c.name.clone()),
                kind: if c.kind == CounterClass::Fault {
                    ReasonKind::Fault
                } else {
                    ReasonKind::Skip
                },
                label: c.label.clone(),
                count: c.value,
            })
            .collect();
        sort_reasons(&mut reasons);
        let step = FunnelStep {
            step: format!("{stage}.{}", self.name),
            stage: stage.to_string(),
            counters: present.iter().map(|c| c.name.clone()).collect(),
            from: self.from,
            label: self.label.clone().unwrap_or_else(|| first.label.clone()),
            unit: self.unit.to_string(),
            count: present.iter().map(|c| c.value).sum(),
            drop: None,
            reasons,
            output_rows: self.output_rows,
        };
        Some((step, self.remainder.clone()))
    }
}

fn sort_reasons(reasons: &mut [Reason]) {
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
}

/// The funnel: for each stage with records, its steps from named counters
/// (extract: inputs, records or rows read, pairs extracted, pairs after
/// de-duplication within each input, unique pairs; match: pairs read, pairs
/// matched; balance: pairs read, pairs kept; download: samples, images),
/// each with the drop from the step before (when it counts the same unit)
/// and the `fault_*` and `skip_*` counters that explain it.
fn funnel(accs: &BTreeMap<Kind, Acc>, records: &BTreeMap<String, StageRecords>) -> Vec<FunnelStep> {
    let shard_successes = accs
        .get(&Kind::Shards)
        .filter(|a| a.files.files > 0)
        .and_then(|a| a.images.as_ref())
        .map(|i| i.status.get("success").copied().unwrap_or(0));
    let pending = |stage: &str| Some((ReasonKind::Pending, format!("not (yet) read by {stage}")));
    let unexplained = || {
        Some((
            ReasonKind::Unexplained,
            "not accounted for by a counter".to_string(),
        ))
    };
    let any_but_in_task_duplicates = |n: &str| n != "skip_duplicate_in_task";
    let in_task_duplicates = |n: &str| n == "skip_duplicate_in_task";
    let all = |_: &str| true;
    let no_entry = |n: &str| n == dedup::NO_ENTRY;
    let not_no_entry = |n: &str| n != dedup::NO_ENTRY;
    let mut steps: Vec<(FunnelStep, Option<(ReasonKind, String)>)> = Vec::new();
    for stage in RECORD_STAGES {
        let Some(r) = records.get(stage) else {
            continue;
        };
        let specs: Vec<Spec> = match stage {
            "extract" => {
                let read = match (r.task("records").is_some(), r.task("rows").is_some()) {
                    (true, true) => Some("WARC/WAT records and table rows read".to_string()),
                    _ => None,
                };
                vec![
                    Spec {
                        name: "inputs",
                        counters: &["inputs_warc", "inputs_wat", "inputs_table"],
                        from: RecordPart::Tasks,
                        unit: "inputs",
                        label: Some("inputs read".into()),
                        reasons: &none,
                        remainder: None,
                        output_rows: None,
                    },
                    Spec {
                        name: "records",
                        counters: &["records", "rows"],
                        from: RecordPart::Tasks,
                        unit: "records",
                        label: read,
                        reasons: &none,
                        remainder: None,
                        output_rows: None,
                    },
                    Spec {
                        name: "pairs_extracted",
                        counters: &["pairs_extracted"],
                        from: RecordPart::Tasks,
                        unit: "pairs",
                        label: None,
                        reasons: &any_but_in_task_duplicates,
                        remainder: None,
                        output_rows: None,
                    },
                    Spec {
                        name: "pairs",
                        counters: &["pairs"],
                        from: RecordPart::Tasks,
                        unit: "pairs",
                        label: None,
                        reasons: &in_task_duplicates,
                        remainder: unexplained(),
                        output_rows: None,
                    },
                    Spec {
                        name: "unique_pairs",
                        counters: &["unique_pairs"],
                        from: RecordPart::Reduce,
                        unit: "pairs",
                        label: None,
                        reasons: &all,
                        remainder: unexplained(),
                        output_rows: rows(accs, Kind::Pairs),
                    },
                ]
            }
            "match" => vec![
                Spec {
                    name: "pairs_in",
                    counters: &[matching::PAIRS_IN],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &none,
                    remainder: pending("match"),
                    output_rows: None,
                },
                Spec {
                    name: "pairs_matched",
                    counters: &[matching::PAIRS_MATCHED],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &all,
                    remainder: Some((ReasonKind::Selection, "no vocabulary entry matched".into())),
                    output_rows: rows(accs, Kind::Matched),
                },
            ],
            "balance" => vec![
                Spec {
                    name: "pairs_in",
                    counters: &[balance::PAIRS_IN],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &none,
                    remainder: pending("balance"),
                    output_rows: None,
                },
                Spec {
                    name: "pairs_kept",
                    counters: &[balance::PAIRS_KEPT],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &all,
                    remainder: Some((
                        ReasonKind::Selection,
                        "not drawn by balancing (entries over t)".into(),
                    )),
                    output_rows: rows(accs, Kind::Selected),
                },
            ],
            "dedup" => vec![
                Spec {
                    name: "images",
                    counters: &[dedup::IMAGES],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &none,
                    remainder: Some((ReasonKind::Pending, "not (yet) read by dedup".into())),
                    output_rows: None,
                },
                Spec {
                    name: "kept",
                    counters: &[dedup::KEPT],
                    from: RecordPart::Reduce,
                    unit: "pairs",
                    label: None,
                    reasons: &not_no_entry,
                    remainder: unexplained(),
                    output_rows: None,
                },
                Spec {
                    name: "pool",
                    counters: &[dedup::POOL],
                    from: RecordPart::Reduce,
                    unit: "pairs",
                    label: None,
                    reasons: &no_entry,
                    remainder: unexplained(),
                    output_rows: None,
                },
            ],
            "balance_downloaded" => vec![Spec {
                name: "images_kept",
                counters: &[balance::PAIRS_KEPT],
                from: RecordPart::Tasks,
                unit: "pairs",
                label: None,
                reasons: &all,
                remainder: Some((
                    ReasonKind::Selection,
                    "not drawn by balancing after download (entries over t)".into(),
                )),
                output_rows: None,
            }],
            _ => vec![
                Spec {
                    name: "samples",
                    counters: &[download::SAMPLES],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &none,
                    remainder: Some((ReasonKind::Pending, "not (yet) downloaded".into())),
                    output_rows: rows(accs, Kind::Shards),
                },
                Spec {
                    name: "images",
                    counters: &[download::IMAGES],
                    from: RecordPart::Tasks,
                    unit: "pairs",
                    label: None,
                    reasons: &all,
                    remainder: unexplained(),
                    output_rows: shard_successes,
                },
            ],
        };
        steps.extend(specs.iter().filter_map(|s| s.step(stage, r)));
    }
    for i in 1..steps.len() {
        let (prev, unit) = (steps[i - 1].0.count, steps[i - 1].0.unit.clone());
        let (s, remainder) = &mut steps[i];
        if s.unit != unit {
            continue;
        }
        let drop = prev as i64 - s.count as i64;
        s.drop = Some(drop);
        let named: u64 = s.reasons.iter().map(|r| r.count).sum();
        let rest = drop - named as i64;
        if let (true, Some((kind, label))) = (rest > 0, remainder.take()) {
            s.reasons.push(Reason {
                counter: None,
                kind,
                label,
                count: rest as u64,
            });
            sort_reasons(&mut s.reasons);
        }
    }
    steps.into_iter().map(|(s, _)| s).collect()
}

/// Throughput of each stage with task time: its first funnel step after the
/// inputs per second of task time.
fn throughput(funnel: &[FunnelStep], records: &BTreeMap<String, StageRecords>) -> Vec<Throughput> {
    let mut out = Vec::new();
    for (stage, r) in records {
        let Some(step) = funnel
            .iter()
            .find(|s| s.stage == *stage && s.unit != "inputs")
        else {
            continue;
        };
        if r.task_seconds <= 0.0 {
            continue;
        }
        out.push(Throughput {
            stage: stage.clone(),
            what: step.label.clone(),
            count: step.count,
            task_seconds: r.task_seconds,
            per_task_second: step.count as f64 / r.task_seconds,
            reduce_seconds: r.reduce_seconds,
        });
    }
    out.sort_by_key(|t| stage_rank(&t.stage));
    out
}

/// Points of the rank-frequency curve: every rank up to 20, then ranks 8%
/// apart, and the last rank.
pub fn rank_curve(per_entry: &[u64]) -> Vec<[u64; 2]> {
    let mut counts: Vec<u64> = per_entry.iter().copied().filter(|c| *c > 0).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let n = counts.len();
    let mut out = Vec::new();
    let mut rank = 1usize;
    while rank <= n {
        out.push([rank as u64, counts[rank - 1]]);
        rank = if rank < 20 {
            rank + 1
        } else {
            (rank + 1).max((rank as f64 * 1.08).ceil() as usize)
        };
    }
    if n > 0 && out.last().map(|p| p[0]) != Some(n as u64) {
        out.push([n as u64, counts[n - 1]]);
    }
    out
}

fn find_t(records: &BTreeMap<String, StageRecords>, opts: &Options) -> (u64, String) {
    if let Some(t) = opts.t {
        return (t, "--t".into());
    }
    if let Some(t) = records
        .get("balance_downloaded")
        .and_then(|r| r.reduced(balance::T))
    {
        return (t, "the balance_downloaded stage's record".into());
    }
    if let Some(t) = records.get("balance").and_then(|r| r.reduced(balance::T)) {
        return (t, "the balance stage's record".into());
    }
    (
        DEFAULT_T,
        format!("the default ({DEFAULT_T}; no balance record in the run, pass --t)"),
    )
}

/// Per entry, the counts of balancing after download, when that stage
/// completed: before (`pool_counts.parquet`) and after
/// (`balanced_counts.parquet`'s `count_after`).
fn final_counts(run: &Path) -> Option<(Vec<u64>, Vec<u64>)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{UInt32Type, UInt64Type};
    let run = crate::run_dir::RunDir::new(run);
    if !files::exists(&run.completion(<crate::balance::Downloaded as crate::balance::Pool>::STAGE))
    {
        return None;
    }
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new(
            crate::schema::col::ID,
            arrow_schema::DataType::UInt32,
            false,
        ),
        arrow_schema::Field::new("count_after", arrow_schema::DataType::UInt64, false),
    ]));
    let read = || -> Result<(Vec<u64>, Vec<u64>), crate::parts::PartsError> {
        let pool = crate::counts::read_counts(&run.pool_counts())?;
        let mut after: Vec<u64> = vec![0; pool.len()];
        for b in crate::parts::read_all(&run.balanced_counts(), &schema, "balanced counts")? {
            let ids = b.column(0).as_primitive::<UInt32Type>();
            let counts = b.column(1).as_primitive::<UInt64Type>();
            for (id, c) in ids.values().iter().zip(counts.values()) {
                let id = *id as usize;
                if id >= after.len() {
                    after.resize(id + 1, 0);
                }
                after[id] = *c;
            }
        }
        Ok((pool, after))
    };
    match read() {
        Ok(c) => Some(c),
        Err(e) => {
            log::warn!("{e}; the counts of balancing after download are left out");
            None
        }
    }
}

/// The what-if rows: powers of ten up to the largest count, MetaCLIP's
/// 20,000 and 170,000 when within range, and the run's own t.
pub fn what_if(per_entry: &[u64], t_run: u64) -> Vec<WhatIf> {
    let max = per_entry.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Vec::new();
    }
    let mut ts: BTreeSet<u64> = BTreeSet::new();
    let mut p = 1u64;
    while p <= max.saturating_mul(10) && p <= 10_000_000 {
        ts.insert(p);
        p *= 10;
    }
    for t in [20_000, 170_000] {
        if t <= max {
            ts.insert(t);
        }
    }
    ts.insert(t_run.max(1));
    let mut sorted: Vec<u64> = per_entry.iter().copied().filter(|c| *c > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().sum();
    // prefix[i] = sum of the i smallest counts.
    let mut prefix = Vec::with_capacity(sorted.len() + 1);
    prefix.push(0u64);
    for c in &sorted {
        prefix.push(prefix.last().unwrap() + c);
    }
    ts.into_iter()
        .map(|t| {
            let at_most_t = sorted.partition_point(|&c| c <= t);
            let below_t = sorted.partition_point(|&c| c < t);
            let capped = (sorted.len() - at_most_t) as u64;
            let kept = prefix[at_most_t] + capped * t;
            WhatIf {
                t,
                capped_entries: capped,
                matches_kept: kept,
                kept_share: kept as f64 / total as f64,
                tail_share: prefix[below_t] as f64 / total as f64,
            }
        })
        .collect()
}

/// `[k, matches held by the k most matched entries]`, at the ranks of
/// [`rank_curve`].
pub fn cumulative_curve(per_entry: &[u64]) -> Vec<[u64; 2]> {
    let mut counts: Vec<u64> = per_entry.iter().copied().filter(|c| *c > 0).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut cum = Vec::with_capacity(counts.len());
    let mut acc = 0u64;
    for c in &counts {
        acc += c;
        cum.push(acc);
    }
    rank_curve(per_entry)
        .into_iter()
        .map(|[rank, _]| [rank, cum[rank as usize - 1]])
        .collect()
}

/// The vocabularies of a multilingual match (`match.json`'s `languages`), if
/// the run has one.
fn multilingual_vocabs(run: &Path) -> Option<Vec<crate::matching::languages::LangVocab>> {
    let bytes = std::fs::read(crate::run_dir::RunDir::new(run).match_summary()).ok()?;
    let s: crate::matching::stage::MatchSummary = serde_json::from_slice(&bytes).ok()?;
    (!s.languages.is_empty()).then_some(s.languages)
}

fn vocab_stats(
    run: &Path,
    accs: &BTreeMap<Kind, Acc>,
    vocab: Option<&vocab::Vocab>,
    vocab_dir: &Path,
    records: &BTreeMap<String, StageRecords>,
    opts: &Options,
) -> Option<VocabStats> {
    let has = |k: Kind| accs.get(&k).filter(|a| a.has_entries);
    // Balanced after download: the pool that was balanced and the final
    // dataset. Otherwise: the matched pairs and the selection.
    let balanced = final_counts(run);
    let (before, counts_from): (&[u64], String) =
        match (&balanced, has(Kind::Counts), has(Kind::Matched)) {
            (Some((pool, _)), _, _) => (
                pool,
                "pool_counts.parquet (the pool after download and dedup)".into(),
            ),
            (None, Some(c), _) => (&c.per_entry, "counts parquet".into()),
            (None, None, Some(m)) => (&m.per_entry, "matched/ query_ids".into()),
            (None, None, None) => (&[], "none".into()),
        };
    let (after, after_from) = match (&balanced, has(Kind::Selected)) {
        (Some((_, b)), _) => (
            Some(b.as_slice()),
            "balanced_counts.parquet (balanced after download)",
        ),
        (None, Some(a)) => (Some(a.per_entry.as_slice()), "selected/ query_ids"),
        (None, None) => (None, "none"),
    };
    if vocab.is_none() && counts_from == "none" {
        return None;
    }
    let (t, t_from) = find_t(records, opts);
    let mut per_source = BTreeMap::new();
    let mut matched_per_source = BTreeMap::new();
    if let Some(v) = vocab {
        for id in 0..v.source_of.len() {
            if let Some(s) = v.source(id) {
                *per_source.entry(s.to_string()).or_insert(0u64) += 1;
                let matched = matched_per_source.entry(s.to_string()).or_insert(0u64);
                if before.get(id).copied().unwrap_or(0) > 0 {
                    *matched += 1;
                }
            }
        }
    }
    let matched_entries = before.iter().filter(|c| **c > 0).count() as u64;
    let total_before: u64 = before.iter().sum();
    let capped: Vec<u64> = before.iter().copied().filter(|c| *c > t).collect();
    let capped_matches: u64 = capped.iter().sum();
    let mut order: Vec<u32> = (0..before.len() as u32)
        .filter(|i| before[*i as usize] > 0)
        .collect();
    order.sort_by(|a, b| before[*b as usize].cmp(&before[*a as usize]).then(a.cmp(b)));
    order.truncate(opts.top);
    let wanted: BTreeSet<u32> = order.iter().copied().collect();
    // A multilingual match numbers every language's entries one after
    // another (match.json): look each id up in its language's file.
    let languages = multilingual_vocabs(run);
    let texts = match &languages {
        Some(langs) => {
            let mut texts = BTreeMap::new();
            for l in langs {
                let range = l.first_id..l.first_id.saturating_add(l.entries as u32);
                let ids: BTreeSet<u32> = wanted.range(range).copied().collect();
                match vocab::lookup_txt(&l.vocab, &ids, l.first_id) {
                    Ok(t) => texts.extend(t),
                    Err(e) => log::warn!("{e}; its top entries are shown without their text"),
                }
            }
            texts
        }
        None => vocab::lookup(vocab_dir, &wanted).unwrap_or_else(|e| {
            log::warn!("{e}; the top entries are shown without their text");
            BTreeMap::new()
        }),
    };
    let lang_of = |id: u32| {
        languages.as_ref().and_then(|ls| {
            ls.iter()
                .find(|l| (l.first_id..l.first_id.saturating_add(l.entries as u32)).contains(&id))
                .map(|l| l.lang.clone())
        })
    };
    let top_entries = order
        .iter()
        .map(|&id| TopEntry {
            id,
            query: texts.get(&id).cloned(),
            source: match &languages {
                Some(_) => lang_of(id),
                None => vocab
                    .and_then(|v| v.source(id as usize))
                    .map(str::to_string),
            },
            before: before[id as usize],
            after: after.map(|a| a.get(id as usize).copied().unwrap_or(0)),
        })
        .collect();
    let mut matches_per_text = BTreeMap::new();
    for kind in [Kind::Matched, Kind::Selected] {
        if let Some(a) = has(kind) {
            matches_per_text.insert(kind.name().to_string(), a.matches_per_text.clone());
        }
    }
    Some(VocabStats {
        file: vocab.map(|v| v.file.display().to_string()),
        entries: vocab.map(|v| v.entries),
        per_source,
        matched_per_source,
        matched_entries,
        never_matched: vocab.map(|v| v.entries.saturating_sub(matched_entries)),
        counts_from,
        total_matches_before: total_before,
        total_matches_after: after.map(|a| a.iter().sum()),
        after_from: after_from.into(),
        t,
        t_from,
        capped_entries: capped.len() as u64,
        capped_matches,
        capped_share: if total_before == 0 {
            0.0
        } else {
            capped_matches as f64 / total_before as f64
        },
        over_t_after: after.map(|a| a.iter().filter(|c| **c > t).count() as u64),
        rank_frequency: RankFrequency {
            before: rank_curve(before),
            after: after.map(rank_curve),
        },
        cumulative: cumulative_curve(before),
        what_if: what_if(before, t),
        top_entries,
        matches_per_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_if_caps_counts_and_measures_the_tail() {
        // Counts 1, 2, 5, 100 (total 108); entry 4 matched nothing.
        let w = what_if(&[1, 2, 0, 5, 100], 5);
        let ts: Vec<u64> = w.iter().map(|r| r.t).collect();
        assert_eq!(ts, vec![1, 5, 10, 100, 1000]);
        let at = |t: u64| w.iter().find(|r| r.t == t).unwrap().clone();
        // t = 5: only 100 is over t; left 1 + 2 + 5 + 5 = 13; tail (< 5) = 3.
        assert_eq!(at(5).capped_entries, 1);
        assert_eq!(at(5).matches_kept, 13);
        assert!((at(5).tail_share - 3.0 / 108.0).abs() < 1e-12);
        // t = 1: three entries over t, each left with 1.
        assert_eq!((at(1).capped_entries, at(1).matches_kept), (3, 4));
        assert_eq!(at(1).tail_share, 0.0);
        // t above every count keeps everything, and all of it is tail.
        assert_eq!((at(1000).capped_entries, at(1000).matches_kept), (0, 108));
        assert_eq!(at(1000).tail_share, 1.0);
        assert!(what_if(&[0, 0], 10).is_empty());
    }

    #[test]
    fn cumulative_curve_rises_to_one() {
        let c = cumulative_curve(&[1, 2, 0, 5, 100]);
        assert_eq!(c, vec![[1, 100], [2, 105], [3, 107], [4, 108]]);
        assert!(cumulative_curve(&[0]).is_empty());
        assert!(c.windows(2).all(|w| w[0][1] <= w[1][1]));
    }

    #[test]
    fn rank_curve_samples_log_spaced_and_ends_at_last_rank() {
        let counts: Vec<u64> = (1..=1000).collect();
        let c = rank_curve(&counts);
        assert_eq!(c[0], [1, 1000]);
        assert_eq!(c[19], [20, 981]);
        assert_eq!(*c.last().unwrap(), [1000, 1]);
        assert!(c.len() < 120);
        assert!(c
            .windows(2)
            .all(|w| w[0][0] < w[1][0] && w[0][1] >= w[1][1]));
        assert!(rank_curve(&[0, 0]).is_empty());
    }
}
