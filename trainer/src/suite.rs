//! An evaluation suite: a list of zero-shot, linear-probe and retrieval
//! tasks run on one checkpoint, summarised in one table with one average
//! (as DataComp averages its benchmarks).
//!
//! The suite file is JSON:
//!
//! ```json
//! {"tasks": [
//!   {"name": "cifar10", "kind": "zero_shot", "images": "cifar10/test", "dataset": "cifar10"},
//!   {"name": "pets probe", "kind": "linear_probe", "train": "pets/train", "test": "pets/test"},
//!   {"name": "coco", "kind": "retrieval", "json": "dataset_coco.json", "images": "coco"},
//!   {"name": "held-out", "kind": "shard_retrieval", "shards": ["run/shards/00099.parquet"]}
//! ]}
//! ```
//!
//! Relative paths are taken from the suite file's directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::Loaded;
use crate::error::io_err;
use crate::{Error, Result};

/// One task of a suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SuiteTask {
    /// Zero-shot classification of labelled images (see `eval --images`).
    ZeroShot {
        /// Row name.
        name: String,
        /// An ImageFolder tree, a table or a bundled set.
        images: PathBuf,
        /// A table's image column.
        #[serde(default)]
        image_col: Option<String>,
        /// A table's label column.
        #[serde(default)]
        label_col: Option<String>,
        /// `folder<TAB>name` lines.
        #[serde(default)]
        classes: Option<PathBuf>,
        /// Templates file.
        #[serde(default)]
        templates: Option<PathBuf>,
        /// A bundled benchmark's class names and templates.
        #[serde(default)]
        dataset: Option<String>,
    },
    /// The linear probe (see `eval --probe-train`).
    LinearProbe {
        /// Row name.
        name: String,
        /// Training images (an ImageFolder tree, a table or a bundled set).
        train: PathBuf,
        /// Test images.
        test: PathBuf,
        /// A table's image column.
        #[serde(default)]
        image_col: Option<String>,
        /// A table's label column.
        #[serde(default)]
        label_col: Option<String>,
    },
    /// Retrieval on a Karpathy-split JSON (see `eval --retrieval-json`).
    Retrieval {
        /// Row name.
        name: String,
        /// The JSON.
        json: PathBuf,
        /// Its images' directory.
        images: PathBuf,
        /// The split ranked.
        #[serde(default = "default_split")]
        split: String,
        /// At most this many images.
        #[serde(default)]
        max_images: Option<usize>,
    },
    /// Retrieval on held-out shard rows (see `eval --shards`).
    ShardRetrieval {
        /// Row name.
        name: String,
        /// Shard files, directories or patterns.
        shards: Vec<PathBuf>,
        /// Pairs ranked.
        #[serde(default = "default_max_pairs")]
        max_pairs: usize,
    },
}

fn default_split() -> String {
    "test".into()
}

fn default_max_pairs() -> usize {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    tasks: Vec<SuiteTask>,
}

/// Reads a suite file, resolving relative paths against its directory.
pub fn load_suite(path: &Path) -> Result<Vec<SuiteTask>> {
    let bytes = storage::files::read(path).map_err(io_err(path))?;
    let file: SuiteFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Config(format!("{}: not a suite file: {e}", path.display())))?;
    if file.tasks.is_empty() {
        return Err(Error::Config(format!("{}: no tasks", path.display())));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let at = |p: &mut PathBuf| {
        let bundled = p.to_string_lossy().starts_with("bundled:");
        if p.is_relative() && !storage::files::is_object(p) && !bundled {
            *p = base.join(&*p);
        }
    };
    let mut tasks = file.tasks;
    let mut names = std::collections::HashSet::new();
    for t in &mut tasks {
        let name = match t {
            SuiteTask::ZeroShot {
                name,
                images,
                classes,
                templates,
                ..
            } => {
                at(images);
                classes.iter_mut().for_each(at);
                templates.iter_mut().for_each(at);
                name
            }
            SuiteTask::LinearProbe {
                name, train, test, ..
            } => {
                at(train);
                at(test);
                name
            }
            SuiteTask::Retrieval {
                name, json, images, ..
            } => {
                at(json);
                at(images);
                name
            }
            SuiteTask::ShardRetrieval { name, shards, .. } => {
                shards.iter_mut().for_each(at);
                name
            }
        };
        if !names.insert(name.clone()) {
            return Err(Error::Config(format!(
                "{}: two tasks are named {name:?}",
                path.display()
            )));
        }
    }
    Ok(tasks)
}

/// One row of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteRow {
    /// The task's name.
    pub name: String,
    /// Its kind (`zero_shot`, ...).
    pub kind: String,
    /// What `score` measures.
    pub metric: String,
    /// The task's main number, in [0, 1].
    pub score: f64,
    /// The task's whole report.
    pub report: serde_json::Value,
}

/// What a suite found.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The checkpoint evaluated.
    pub checkpoint: PathBuf,
    /// Its step.
    pub step: u64,
    /// One row per task, in the suite's order.
    pub rows: Vec<SuiteRow>,
    /// The mean of the rows' scores.
    pub average: f64,
}

/// Runs every task on the loaded checkpoint.
pub fn run_suite(
    loaded: &Loaded,
    checkpoint: &Path,
    tasks: &[SuiteTask],
    batch: usize,
    feature_cache: Option<&Path>,
) -> Result<SuiteReport> {
    let (model, tok) = (&loaded.model, &loaded.tokenizer);
    let mut rows = Vec::new();
    for t in tasks {
        let row = match t {
            SuiteTask::ZeroShot {
                name,
                images,
                image_col,
                label_col,
                classes,
                templates,
                dataset,
            } => {
                let columns = crate::labelled::TableColumns {
                    image: image_col.clone(),
                    label: label_col.clone(),
                };
                let task = crate::eval::ZeroShotTask::load_with(
                    images,
                    &columns,
                    classes.as_deref(),
                    templates.as_deref(),
                    dataset.as_deref(),
                )?;
                let r = task.run(model, tok, batch)?;
                let (metric, score) = if dataset.as_deref().is_some_and(uses_mean_recall) {
                    ("mean per-class recall", r.mean_per_class_recall)
                } else {
                    ("top-1", r.top1)
                };
                SuiteRow {
                    name: name.clone(),
                    kind: "zero_shot".into(),
                    metric: metric.into(),
                    score,
                    report: json(&r)?,
                }
            }
            SuiteTask::LinearProbe {
                name,
                train,
                test,
                image_col,
                label_col,
            } => {
                let opts = crate::probe_images::ProbeOptions {
                    train: train.clone(),
                    test: test.clone(),
                    columns: crate::labelled::TableColumns {
                        image: image_col.clone(),
                        label: label_col.clone(),
                    },
                    cache: feature_cache.map(Path::to_path_buf),
                };
                let id = crate::probe_images::model_id(checkpoint, loaded.meta.step);
                let r = crate::probe_images::probe_folders(model, &id, &opts, batch)?;
                SuiteRow {
                    name: name.clone(),
                    kind: "linear_probe".into(),
                    metric: "top-1".into(),
                    score: r.top1,
                    report: json(&r)?,
                }
            }
            SuiteTask::Retrieval {
                name,
                json: file,
                images,
                split,
                max_images,
            } => {
                let set = crate::captioned::load_karpathy(file, images, split, *max_images)?;
                let r = crate::captioned::captioned_retrieval(model, tok, &set, batch)?;
                SuiteRow {
                    name: name.clone(),
                    kind: "retrieval".into(),
                    metric: "mean R@1 (image→text, text→image)".into(),
                    score: (r.image_to_text[0] + r.text_to_image[0]) / 2.0,
                    report: json(&r)?,
                }
            }
            SuiteTask::ShardRetrieval {
                name,
                shards,
                max_pairs,
            } => {
                let set = crate::data::ShardSet::open(shards)?;
                let r = crate::eval::retrieval(model, tok, &set, *max_pairs, batch)?;
                SuiteRow {
                    name: name.clone(),
                    kind: "shard_retrieval".into(),
                    metric: "mean R@1 (image→text, text→image)".into(),
                    score: (r.image_to_text_r1 + r.text_to_image_r1) / 2.0,
                    report: json(&r)?,
                }
            }
        };
        log::info!("suite: {} {}: {:.4}", row.name, row.metric, row.score);
        rows.push(row);
    }
    let average = rows.iter().map(|r| r.score).sum::<f64>() / rows.len().max(1) as f64;
    Ok(SuiteReport {
        checkpoint: checkpoint.to_path_buf(),
        step: loaded.meta.step,
        rows,
        average,
    })
}

/// Loads the checkpoint (a run directory means its newest; object storage
/// too) and runs the suite file's tasks on it.
pub fn evaluate_suite(
    checkpoint: &Path,
    device: &candle_core::Device,
    suite: &Path,
    batch: usize,
    feature_cache: Option<&Path>,
) -> Result<SuiteReport> {
    let tasks = load_suite(suite)?;
    let (loaded, named) = crate::eval::load_for_eval(checkpoint, device)?;
    run_suite(&loaded, &named, &tasks, batch, feature_cache)
}

/// Writes `suite.json`, `suite.md` and `suite.html` into `dir` (each whole
/// or not at all); returns their paths.
pub fn write_suite(r: &SuiteReport, dir: &Path) -> Result<[PathBuf; 3]> {
    let paths = [
        dir.join("suite.json"),
        dir.join("suite.md"),
        dir.join("suite.html"),
    ];
    let texts = [
        serde_json::to_string_pretty(r).map_err(|e| Error::Config(e.to_string()))? + "\n",
        render_markdown(r),
        render_html(r),
    ];
    for (p, t) in paths.iter().zip(texts) {
        storage::files::write(p, t.as_bytes()).map_err(io_err(p))?;
    }
    Ok(paths)
}

/// The benchmarks the CLIP paper reports as mean per-class recall.
fn uses_mean_recall(dataset: &str) -> bool {
    matches!(
        dataset.to_ascii_lowercase().as_str(),
        "fgvcaircraft"
            | "aircraft"
            | "oxfordpets"
            | "pets"
            | "caltech101"
            | "flowers102"
            | "flowers"
    )
}

/// A report as a JSON value.
fn json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Config(e.to_string()))
}

/// The summary as a Markdown table.
pub fn render_markdown(r: &SuiteReport) -> String {
    let mut out = format!(
        "# Evaluation of {} (step {})\n\n| task | kind | metric | score |\n|---|---|---|---:|\n",
        r.checkpoint.display(),
        r.step
    );
    for row in &r.rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} % |\n",
            row.name.replace('|', "\\|"),
            row.kind,
            row.metric,
            row.score * 100.0
        ));
    }
    out.push_str(&format!(
        "| **average** | | | **{:.2} %** |\n",
        r.average * 100.0
    ));
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The summary as a standalone HTML page.
pub fn render_html(r: &SuiteReport) -> String {
    let mut rows = String::new();
    for row in &r.rows {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{:.2} %</td></tr>\n",
            escape(&row.name),
            escape(&row.kind),
            escape(&row.metric),
            row.score * 100.0
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=utf-8><title>Evaluation</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 10px}}.n{{text-align:right}}</style></head>\n\
         <body><h1>Evaluation of {} (step {})</h1>\n<table>\n\
         <tr><th>task</th><th>kind</th><th>metric</th><th>score</th></tr>\n{rows}\
         <tr><th colspan=3>average</th><th class=n>{:.2} %</th></tr>\n</table></body></html>\n",
        escape(&r.checkpoint.display().to_string()),
        r.step,
        r.average * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_files_resolve_paths_and_refuse_mistakes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("suite.json");
        std::fs::write(
            &f,
            r#"{"tasks": [
                {"name": "c10", "kind": "zero_shot", "images": "c10", "dataset": "cifar10"},
                {"name": "p", "kind": "linear_probe", "train": "/abs/train", "test": "t"},
                {"name": "coco", "kind": "retrieval", "json": "k.json", "images": "img"}
            ]}"#,
        )
        .unwrap();
        let t = load_suite(&f).unwrap();
        let SuiteTask::ZeroShot { images, .. } = &t[0] else {
            panic!()
        };
        assert_eq!(images, &d.path().join("c10"));
        let SuiteTask::LinearProbe { train, test, .. } = &t[1] else {
            panic!()
        };
        assert_eq!(train, Path::new("/abs/train"));
        assert_eq!(test, &d.path().join("t"));
        let SuiteTask::Retrieval { split, .. } = &t[2] else {
            panic!()
        };
        assert_eq!(split, "test");
        for bad in [
            r#"{"tasks": []}"#,
            r#"{"tasks": [{"name": "a", "kind": "nope"}]}"#,
            r#"{"tasks": [{"name": "a", "kind": "zero_shot", "images": "x", "extra": 1}]}"#,
            r#"{"tasks": [{"name": "a", "kind": "zero_shot", "images": "x"},
                          {"name": "a", "kind": "zero_shot", "images": "y"}]}"#,
        ] {
            std::fs::write(&f, bad).unwrap();
            let e = load_suite(&f).unwrap_err().to_string();
            assert!(e.contains("suite.json"), "{e}");
        }
    }

    #[test]
    fn the_table_has_a_row_per_task_and_the_average() {
        let r = SuiteReport {
            checkpoint: PathBuf::from("run/step-00000010"),
            step: 10,
            rows: vec![
                SuiteRow {
                    name: "a|b".into(),
                    kind: "zero_shot".into(),
                    metric: "top-1".into(),
                    score: 0.5,
                    report: serde_json::Value::Null,
                },
                SuiteRow {
                    name: "<c>".into(),
                    kind: "linear_probe".into(),
                    metric: "top-1".into(),
                    score: 0.25,
                    report: serde_json::Value::Null,
                },
            ],
            average: 0.375,
        };
        let md = render_markdown(&r);
        assert!(
            md.contains("| a\\|b | zero_shot | top-1 | 50.00 % |"),
            "{md}"
        );
        assert!(md.contains("**37.50 %**"), "{md}");
        let html = render_html(&r);
        assert!(
            html.contains("&lt;c&gt;") && html.contains("37.50 %"),
            "{html}"
        );
    }
}
