//! Gathering the statistics of a run directory: discover what stages exist,
//! stream their files in parallel (merging per-file summaries in file order,
//! so the result does not depend on the thread count) and assemble
//! [`RunStats`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::model::*;
use super::scan::{scan_file, Acc, Kind, Limits};
use super::sketch::HeavyHitters;
use super::{stage_json, vocab, StatsError};

/// Default balancing threshold, MetaCLIP's t.
pub const DEFAULT_T: u64 = 20_000;

/// Options of [`collect`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Vocabulary directory (default `RUN/vocab`).
    pub vocab_dir: Option<PathBuf>,
    /// Balancing threshold t (default: from the balance stage's JSON, else 20,000).
    pub t: Option<u64>,
    /// Rows of the top tables (entries, texts, domains).
    pub top: usize,
    /// Sizes of the bounded summaries.
    pub limits: Limits,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            vocab_dir: None,
            t: None,
            top: 25,
            limits: Limits::default(),
            progress: false,
        }
    }
}

/// What the run directory holds, in stage order.
const STAGES: [&str; 6] = ["vocab", "pairs", "matched", "counts", "selected", "shards"];

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with('.') && name.ends_with(".parquet") && p.is_file()
        })
        .collect();
    out.sort();
    out
}

/// Reads every stage of `run` and computes its statistics.
pub fn collect(run: &Path, opts: &Options) -> Result<RunStats, StatsError> {
    if !run.is_dir() {
        return Err(StatsError::NotADirectory(run.to_path_buf()));
    }
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
    if reduced_counts.is_file() {
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
    let vocab = vocab::load(&vocab_dir).unwrap_or_else(|e| {
        log::warn!("{e}; the report goes on without the vocabulary");
        vocab_problems
            .problems
            .insert("unreadable_vocabulary".into(), 1);
        None
    });
    let reports: BTreeMap<String, StageReport> = stage_json::discover(run, Some(&vocab_dir))
        .into_iter()
        .map(|(stage, files)| (stage, stage_json::read_report(run, &files)))
        .collect();

    let mut stats = RunStats {
        format_version: FORMAT_VERSION,
        generator: format!("witcurate-pipeline {}", env!("CARGO_PKG_VERSION")),
        run_dir: run.display().to_string(),
        stages: StagePresence { present, missing },
        funnel: funnel(&accs, &reports),
        vocab: None,
        captions: BTreeMap::new(),
        domains: BTreeMap::new(),
        images: None,
        stage_files: BTreeMap::new(),
        stage_reports: BTreeMap::new(),
        throughput: throughput(&accs, &reports),
    };
    stats.vocab = vocab_stats(&accs, vocab.as_ref(), &vocab_dir, &reports, opts);
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
    stats.stage_reports = reports;
    Ok(stats)
}

/// Scans every file, a bounded number at a time, and merges the summaries
/// per stage in file order.
fn scan_all(jobs: &[(Kind, PathBuf)], opts: &Options) -> BTreeMap<Kind, Acc> {
    let bar = if opts.progress {
        let bar = ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "stats {bar:40} {pos}/{len} files {elapsed_precise} ({eta} left)",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
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

const INPUT_FILE_KEYS: [&str; 4] = ["input_files", "files_read", "files", "inputs"];
const INPUT_RECORD_KEYS: [&str; 5] = [
    "input_records",
    "records_read",
    "records",
    "rows_read",
    "records_in",
];

fn failure_reasons(report: Option<&StageReport>) -> Vec<Reason> {
    let Some(r) = report else { return Vec::new() };
    let mut out: Vec<Reason> = r
        .counters
        .iter()
        .filter(|(k, c)| stage_json::is_failure_key(k) && c.sum > 0.0)
        .map(|(k, c)| Reason {
            class: k.clone(),
            count: c.sum as u64,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
    out
}

fn funnel(accs: &BTreeMap<Kind, Acc>, reports: &BTreeMap<String, StageReport>) -> Vec<FunnelStep> {
    let extract = reports.get("extract");
    let mut steps: Vec<FunnelStep> = Vec::new();
    let step = |step: &str, label: &str, count: u64| FunnelStep {
        step: step.into(),
        label: label.into(),
        count,
        estimated: false,
        drop: None,
        reasons: Vec::new(),
    };
    if let Some(r) = extract {
        if let Some((_, c)) = stage_json::find_counter(r, &INPUT_FILE_KEYS) {
            steps.push(step("input_files", "input files read", c.sum as u64));
        }
        if let Some((_, c)) = stage_json::find_counter(r, &INPUT_RECORD_KEYS) {
            steps.push(step("input_records", "input records read", c.sum as u64));
        }
    }
    // Steps counted in pairs; the drop is computed between consecutive ones.
    let mut pair_steps: Vec<FunnelStep> = Vec::new();
    if let Some(n) = rows(accs, Kind::Pairs) {
        let mut s = step("pairs", "pairs extracted", n);
        s.reasons = failure_reasons(extract);
        pair_steps.push(s);
        let uids = &accs[&Kind::Pairs].uids;
        let mut u = step(
            "unique_pairs",
            "unique pairs (distinct uid)",
            uids.count().min(n),
        );
        u.estimated = !uids.is_exact();
        pair_steps.push(u);
    }
    if let Some(n) = rows(accs, Kind::Matched) {
        pair_steps.push(step("matched", "pairs matching a vocabulary entry", n));
    }
    if let Some(n) = rows(accs, Kind::Selected) {
        pair_steps.push(step("selected", "pairs selected by balancing", n));
    }
    if let Some(acc) = accs.get(&Kind::Shards).filter(|a| a.files.files > 0) {
        pair_steps.push(step(
            "download_attempted",
            "downloads attempted (rows in shards)",
            acc.files.rows,
        ));
        let img = acc.images.as_ref().expect("shards have images");
        let ok = img.status.get("success").copied().unwrap_or(0);
        let mut s = step("downloaded", "images downloaded successfully", ok);
        let mut reasons: Vec<Reason> = img
            .status
            .iter()
            .filter(|(k, _)| k.as_str() != "success")
            .map(|(k, v)| Reason {
                class: k.clone(),
                count: *v,
            })
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
        s.reasons = reasons;
        pair_steps.push(s);
    }
    for i in 1..pair_steps.len() {
        let prev = pair_steps[i - 1].count as i64;
        let s = &mut pair_steps[i];
        let drop = prev - s.count as i64;
        s.drop = Some(drop);
        if s.reasons.is_empty() && drop > 0 {
            let why = match s.step.as_str() {
                "unique_pairs" => "duplicate (url, text)",
                "matched" => "no vocabulary entry matched",
                "selected" => "not drawn by balancing (entries over t)",
                "download_attempted" => "not (yet) in shards",
                _ => "not accounted for",
            };
            s.reasons.push(Reason {
                class: why.into(),
                count: drop as u64,
            });
        }
    }
    steps.extend(pair_steps);
    steps
}

fn throughput(
    accs: &BTreeMap<Kind, Acc>,
    reports: &BTreeMap<String, StageReport>,
) -> Vec<Throughput> {
    let mut out = Vec::new();
    for (stage, kind) in [
        ("extract", Kind::Pairs),
        ("match", Kind::Matched),
        ("balance", Kind::Selected),
        ("download", Kind::Shards),
    ] {
        let (Some(report), Some(n)) = (reports.get(stage), rows(accs, kind)) else {
            continue;
        };
        if let Some((key, secs)) = stage_json::find_duration(report) {
            out.push(Throughput {
                stage: stage.into(),
                rows: n,
                duration_key: key,
                task_seconds: secs,
                rows_per_task_second: n as f64 / secs,
            });
        }
    }
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

fn find_t(reports: &BTreeMap<String, StageReport>, opts: &Options) -> (u64, String) {
    if let Some(t) = opts.t {
        return (t, "--t".into());
    }
    for stage in ["balance", "match"] {
        if let Some(r) = reports.get(stage) {
            if let Some((key, c)) = stage_json::find_counter(r, &["t"]) {
                if c.max >= 1.0 {
                    return (c.max as u64, format!("{stage} JSON key {key}"));
                }
            }
        }
    }
    (
        DEFAULT_T,
        format!("default ({DEFAULT_T}; no t found in the run, pass --t)"),
    )
}

fn vocab_stats(
    accs: &BTreeMap<Kind, Acc>,
    vocab: Option<&vocab::Vocab>,
    vocab_dir: &Path,
    reports: &BTreeMap<String, StageReport>,
    opts: &Options,
) -> Option<VocabStats> {
    let has = |k: Kind| accs.get(&k).filter(|a| a.has_entries);
    let (before, counts_from): (&[u64], String) = match (has(Kind::Counts), has(Kind::Matched)) {
        (Some(c), _) => (&c.per_entry, "counts parquet".into()),
        (None, Some(m)) => (&m.per_entry, "matched/ query_ids".into()),
        (None, None) => (&[], "none".into()),
    };
    let after = has(Kind::Selected).map(|a| a.per_entry.as_slice());
    if vocab.is_none() && counts_from == "none" {
        return None;
    }
    let (t, t_from) = find_t(reports, opts);
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
    let texts = vocab::lookup(vocab_dir, &wanted).unwrap_or_else(|e| {
        log::warn!("{e}; the top entries are shown without their text");
        BTreeMap::new()
    });
    let top_entries = order
        .iter()
        .map(|&id| TopEntry {
            id,
            query: texts.get(&id).cloned(),
            source: vocab
                .and_then(|v| v.source(id as usize))
                .map(str::to_string),
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
        top_entries,
        matches_per_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
