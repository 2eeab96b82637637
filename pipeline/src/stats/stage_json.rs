//! Reading the stages' own JSON files (`vocab/vocab.json`,
//! `pairs/_stats/*.json`, `shards/NNNNN_stats.json`, `RUN/balance.json`, ...)
//! as flat `{key: number}` counters and `{key: text}` facts.
//!
//! Nested objects are flattened to dotted keys (`failures.timeout`). Numbers
//! are summed over a stage's files (tasks write one file each), and their
//! minimum and maximum kept so that parameters (the same in every file) can
//! be told from counters.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{CounterSummary, StageReport};

/// Stage directories of a run and the stage whose JSON files they hold.
pub const STAGE_DIRS: [(&str, &str); 5] = [
    ("pairs", "extract"),
    ("matched", "match"),
    ("counts", "match"),
    ("selected", "balance"),
    ("shards", "download"),
];

/// Lists the JSON files of every stage: `vocab_dir/*.json`, `DIR/*.json` and
/// `DIR/_stats/**/*.json` for each stage directory, and `RUN/*.json` (keyed by
/// file stem). Hidden files are skipped; the order is sorted by path.
pub fn discover(run: &Path, vocab_dir: Option<&Path>) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    if let Some(v) = vocab_dir {
        out.entry("vocab".into())
            .or_default()
            .extend(json_files(v, false));
    }
    for (dir, stage) in STAGE_DIRS {
        let d = run.join(dir);
        let files = out.entry(stage.into()).or_default();
        files.extend(json_files(&d, false));
        files.extend(json_files(&d.join("_stats"), true));
    }
    for f in json_files(run, false) {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == "stats" {
            // This report's own output when written with `--out RUN`.
            continue;
        }
        out.entry(stem).or_default().push(f);
    }
    out.retain(|_, v| !v.is_empty());
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

fn json_files(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            if recursive {
                out.extend(json_files(&path, true));
            }
        } else if name.ends_with(".json") {
            out.push(path);
        }
    }
    out
}

/// Reads and summarises one stage's JSON files. Unreadable files are logged,
/// recorded as a fact `error: PATH`, and skipped.
pub fn read_report(run: &Path, files: &[PathBuf]) -> StageReport {
    let mut report = StageReport::default();
    for path in files {
        let rel = path
            .strip_prefix(run)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let parsed = fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(value) => {
                let mut flat = Vec::new();
                flatten("", &value, &mut flat);
                for (key, v) in flat {
                    add_value(&mut report, key, v);
                }
            }
            Err(e) => {
                log::warn!("{}: not a readable JSON file: {e}", path.display());
                report.facts.insert(format!("error: {rel}"), e);
            }
        }
        report.files.push(rel);
    }
    report
}

enum Flat {
    Number(f64),
    Text(String),
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Flat)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.push((prefix.to_string(), Flat::Number(f)));
            }
        }
        Value::String(s) => out.push((prefix.to_string(), Flat::Text(s.clone()))),
        Value::Bool(b) => out.push((prefix.to_string(), Flat::Text(b.to_string()))),
        Value::Array(items) => {
            if items.iter().all(|v| !v.is_object() && !v.is_array()) && items.len() <= 16 {
                let parts: Vec<String> = items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push((prefix.to_string(), Flat::Text(parts.join(", "))));
            } else {
                out.push((
                    prefix.to_string(),
                    Flat::Text(format!("[{} items]", items.len())),
                ));
            }
        }
        Value::Null => {}
    }
}

fn add_value(report: &mut StageReport, key: String, value: Flat) {
    if key.is_empty() {
        return;
    }
    match value {
        Flat::Number(v) => {
            let c = report.counters.entry(key).or_insert(CounterSummary {
                sum: 0.0,
                min: v,
                max: v,
                files: 0,
            });
            c.sum += v;
            c.min = c.min.min(v);
            c.max = c.max.max(v);
            c.files += 1;
        }
        Flat::Text(s) => {
            report
                .facts
                .entry(key)
                .and_modify(|old| {
                    if *old != s {
                        *old = "(varies)".into();
                    }
                })
                .or_insert(s);
        }
    }
}

/// Whether a counter name reads as a failure or drop class.
pub fn is_failure_key(key: &str) -> bool {
    const WORDS: [&str; 12] = [
        "error",
        "fail",
        "bad",
        "invalid",
        "skip",
        "truncat",
        "malformed",
        "too_",
        "drop",
        "reject",
        "corrupt",
        "timeout",
    ];
    let k = key.to_ascii_lowercase();
    WORDS.iter().any(|w| k.contains(w)) && !k.contains("duration") && !k.ends_with("_rate")
}

/// The first counter named like one of `names` (exact key or last dotted segment).
pub fn find_counter<'a>(
    report: &'a StageReport,
    names: &[&str],
) -> Option<(&'a str, &'a CounterSummary)> {
    for name in names {
        for (k, c) in &report.counters {
            let last = k.rsplit('.').next().unwrap_or(k);
            if k == name || last == *name {
                return Some((k.as_str(), c));
            }
        }
    }
    None
}

/// A duration in seconds from a stage's counters (keys with `duration`,
/// `elapsed` or `seconds`; `_ms` keys are converted), summed over tasks.
pub fn find_duration(report: &StageReport) -> Option<(String, f64)> {
    for (k, c) in &report.counters {
        let l = k.to_ascii_lowercase();
        if l.contains("duration")
            || l.contains("elapsed")
            || l.contains("seconds")
            || l.ends_with("_secs")
        {
            let secs = if l.ends_with("_ms") || l.ends_with("millis") {
                c.sum / 1000.0
            } else {
                c.sum
            };
            if secs > 0.0 {
                return Some((k.clone(), secs));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_and_sums_over_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        fs::create_dir_all(run.join("pairs/_stats")).unwrap();
        fs::create_dir_all(run.join("shards")).unwrap();
        fs::write(
            run.join("pairs/_stats/part-00000.json"),
            r#"{"records": 10, "errors": {"bad_gzip": 1}, "format": "wat", "t": 5}"#,
        )
        .unwrap();
        fs::write(
            run.join("pairs/_stats/part-00001.json"),
            r#"{"records": 4, "errors": {"bad_gzip": 2}, "format": "warc", "t": 5}"#,
        )
        .unwrap();
        fs::write(run.join("pairs/_stats/.hidden.json"), "{").unwrap();
        fs::write(run.join("shards/00000_stats.json"), "not json").unwrap();
        fs::write(
            run.join("balance.json"),
            r#"{"params": {"t": 3, "cap": "soft"}}"#,
        )
        .unwrap();
        fs::write(run.join("stats.json"), r#"{"format_version": 1}"#).unwrap();
        let found = discover(run, None);
        assert!(!found.contains_key("stats"));
        assert_eq!(found["extract"].len(), 2);
        assert_eq!(found["download"].len(), 1);
        assert_eq!(found["balance"].len(), 1);
        let r = read_report(run, &found["extract"]);
        assert_eq!(r.counters["records"].sum, 14.0);
        assert_eq!(r.counters["errors.bad_gzip"].sum, 3.0);
        assert_eq!(r.counters["t"].max, 5.0);
        assert_eq!(r.facts["format"], "(varies)");
        assert!(is_failure_key("errors.bad_gzip"));
        assert!(!is_failure_key("records"));
        assert_eq!(find_counter(&r, &["records"]).unwrap().1.sum, 14.0);
        let d = read_report(run, &found["download"]);
        assert!(d
            .facts
            .keys()
            .any(|k| k.starts_with("error: shards/00000_stats.json")));
        let b = read_report(run, &found["balance"]);
        assert_eq!(find_counter(&b, &["t"]).unwrap().0, "params.t");
        assert_eq!(b.facts["params.cap"], "soft");
    }
}
