//! Training curves as one standalone SVG: the loss per step and, when the
//! run evaluated during training, zero-shot top-1/top-5 accuracy, read from
//! a training run's `train_log.jsonl` (one JSON object per step: `step`,
//! `loss`, optional `zero_shot_top1`, `zero_shot_top5`).

use std::path::{Path, PathBuf};

use super::svg::{lines, LineChart, LineSeries};
use super::StatsError;

/// The log file of a training run directory.
pub const LOG_FILE: &str = "train_log.jsonl";
/// The SVG written beside it.
pub const SVG_FILE: &str = "train_curves.svg";

/// The curves of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curves {
    /// `[step, loss]`.
    pub loss: Vec<[f64; 2]>,
    /// `[step, top-1]` at the evaluated steps.
    pub top1: Vec<[f64; 2]>,
    /// `[step, top-5]` at the evaluated steps.
    pub top5: Vec<[f64; 2]>,
}

fn bad(path: &Path, line: usize, message: impl std::fmt::Display) -> StatsError {
    StatsError::TrainLog {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    }
}

/// Reads `RUN/train_log.jsonl`; a line that is not a step record is an
/// error naming it.
pub fn read(run: &Path) -> Result<Curves, StatsError> {
    let path = run.join(LOG_FILE);
    let bytes = crate::storage::files::read(&path).map_err(|e| bad(&path, 0, e))?;
    let text = String::from_utf8(bytes).map_err(|e| bad(&path, 0, e))?;
    let mut c = Curves::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&path, i + 1, e))?;
        let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
        let (Some(step), Some(loss)) = (num("step"), num("loss")) else {
            return Err(bad(&path, i + 1, "no numeric `step` and `loss`"));
        };
        c.loss.push([step, loss]);
        if let Some(t) = num("zero_shot_top1") {
            c.top1.push([step, t]);
        }
        if let Some(t) = num("zero_shot_top5") {
            c.top5.push([step, t]);
        }
    }
    if c.loss.is_empty() {
        return Err(bad(&path, 0, "no steps logged"));
    }
    Ok(c)
}

/// The standalone SVG of `c` (styles inline, so it opens by itself).
pub fn render(c: &Curves) -> String {
    let loss = lines(&LineChart {
        series: vec![LineSeries {
            name: "contrastive loss".into(),
            points: c.loss.clone(),
        }],
        x_label: "step".into(),
        y_label: "loss".into(),
        y_from_zero: false,
    });
    let mut charts = vec![loss];
    if !c.top1.is_empty() {
        let mut series = vec![LineSeries {
            name: "zero-shot top-1".into(),
            points: c.top1.clone(),
        }];
        if !c.top5.is_empty() {
            series.push(LineSeries {
                name: "zero-shot top-5".into(),
                points: c.top5.clone(),
            });
        }
        charts.push(lines(&LineChart {
            series,
            x_label: "step".into(),
            y_label: "accuracy".into(),
            y_from_zero: true,
        }));
    }
    let height = 300 * charts.len();
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 {height}" width="720" height="{height}"><style>text{{font-family:'DejaVu Sans',sans-serif}}.ax{{font-size:11px;fill:#5a6576}}.lg{{font-size:12px;fill:#1d2430}}.grid{{stroke:#e6e9ef}}</style><rect width="720" height="{height}" fill="white"/>"#
    );
    for (i, chart) in charts.iter().enumerate() {
        out.push_str(&format!(r#"<g transform="translate(0 {})">"#, 300 * i));
        out.push_str(chart);
        out.push_str("</g>");
    }
    out.push_str("</svg>\n");
    out
}

/// Reads `run`'s log and writes `out` (default `RUN/train_curves.svg`)
/// atomically; returns the path written.
pub fn write(run: &Path, out: Option<&Path>) -> Result<PathBuf, StatsError> {
    let c = read(run)?;
    let path = out.map_or_else(|| run.join(SVG_FILE), Path::to_path_buf);
    crate::task::write_atomically(&path, render(&c).as_bytes()).map_err(|e| {
        StatsError::TrainLog {
            path: path.clone(),
            message: e.to_string(),
        }
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_steps_and_evaluations_and_draws_every_point() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOG_FILE),
            "{\"step\":1,\"loss\":4.1}\n{\"step\":2,\"loss\":3.5,\"zero_shot_top1\":0.2,\"zero_shot_top5\":0.6}\n\n{\"step\":3,\"loss\":3.0}\n",
        )
        .unwrap();
        let c = read(dir.path()).unwrap();
        assert_eq!(c.loss, vec![[1.0, 4.1], [2.0, 3.5], [3.0, 3.0]]);
        assert_eq!(c.top1, vec![[2.0, 0.2]]);
        let path = write(dir.path(), None).unwrap();
        let svg = std::fs::read_to_string(path).unwrap();
        assert_eq!(svg.matches("class=\"pt\"").count(), 3 + 1 + 1);
        assert!(svg.contains("data-x=\"3\" data-y=\"3\""), "{svg}");
        std::fs::write(dir.path().join(LOG_FILE), "{\"step\":1}\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("loss"), "{e}");
    }
}
