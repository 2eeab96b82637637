//! Linear probe, as the CLIP paper evaluates representations: multinomial
//! logistic regression with an L2 penalty, fit by L-BFGS on frozen image
//! features, its regularisation strength chosen on a validation split.
//!
//! The objective is scikit-learn's `LogisticRegression(C=c)`, scaled as it
//! scales it: `(1/n) Σᵢ CE(W xᵢ + b, yᵢ) + ‖W‖² / (2 c n)` (the intercept is
//! not penalised), so a probe here and one there reach the same minimum and
//! stop at the same gradient tolerance. The sweep over `c`
//! follows CLIP's: a coarse logarithmic grid over 10⁻⁶…10⁶, then a finer one
//! around the best value; the probe is refit on the whole training set with
//! the chosen `c` and scored on the test set.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::Serialize;

use crate::{Error, Result};

/// Labelled feature vectors (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Length of one vector.
    pub dim: usize,
    /// `len × dim` values.
    pub values: Vec<f32>,
    /// The class index of each vector.
    pub labels: Vec<usize>,
}

impl Features {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    fn subset(&self, rows: &[usize]) -> Features {
        Features {
            dim: self.dim,
            values: rows.iter().flat_map(|&i| self.row(i).to_vec()).collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Splits off a validation set: within each class, every fifth vector
    /// (in order) goes to validation, the rest stay for training.
    pub fn split_validation(&self) -> (Features, Features) {
        let mut seen = std::collections::HashMap::new();
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for (i, &l) in self.labels.iter().enumerate() {
            let n = seen.entry(l).or_insert(0usize);
            if *n % 5 == 4 {
                val.push(i);
            } else {
                train.push(i);
            }
            *n += 1;
        }
        (self.subset(&train), self.subset(&val))
    }
}

/// A fitted multinomial logistic regression.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    classes: usize,
    dim: usize,
    /// `classes × dim` weights, then `classes` intercepts.
    params: Vec<f64>,
}

/// Samples per block of the objective: blocks are computed in parallel and
/// summed in order, so the result does not depend on the thread count.
const BLOCK: usize = 256;

/// A point of the objective, its loss and its gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

struct Objective<'a> {
    data: &'a Features,
    classes: usize,
    c: f64,
    /// The last point evaluated, its loss and gradient: L-BFGS asks for the
    /// cost and the gradient of one point separately.
    last: std::sync::Mutex<Option<Evaluated>>,
}

impl<'a> Objective<'a> {
    fn new(data: &'a Features, classes: usize, c: f64) -> Self {
        Objective {
            data,
            classes,
            c,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The loss and its gradient, remembered for the next call.
    fn eval(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((q, l, g)) = last.as_ref() {
            if q.as_slice() == p {
                return (*l, g.clone());
            }
        }
        let (l, g) = self.compute(p);
        *last = Some((p.to_vec(), l, g.clone()));
        (l, g)
    }

    fn compute(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let (k, d) = (self.classes, self.data.dim);
        let blocks: Vec<(f64, Vec<f64>)> = (0..self.data.len().div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let mut grad = vec![0.0; k * d + k];
                let mut loss = 0.0;
                let mut z = vec![0.0; k];
                for i in b * BLOCK..((b + 1) * BLOCK).min(self.data.len()) {
                    let x = self.data.row(i);
                    for (j, zj) in z.iter_mut().enumerate() {
                        let w = &p[j * d..(j + 1) * d];
                        *zj =
                            p[k * d + j] + w.iter().zip(x).map(|(w, &x)| w * x as f64).sum::<f64>();
                    }
                    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                    let lse = max + sum.ln();
                    let y = self.data.labels[i];
                    loss += lse - z[y];
                    for j in 0..k {
                        let g = (z[j] - lse).exp() - if j == y { 1.0 } else { 0.0 };
                        for (gw, &x) in grad[j * d..(j + 1) * d].iter_mut().zip(x) {
                            *gw += g * x as f64;
                        }
                        grad[k * d + j] += g;
                    }
                }
                (loss, grad)
            })
            .collect();
        let mut loss = 0.0;
        let mut grad = vec![0.0; k * d + k];
        for (l, g) in blocks {
            loss += l;
            for (a, b) in grad.iter_mut().zip(g) {
                *a += b;
            }
        }
        let n = self.data.len() as f64;
        let penalty = 1.0 / (self.c * n);
        loss /= n;
        for g in grad.iter_mut() {
            *g /= n;
        }
        for (g, w) in grad[..k * d].iter_mut().zip(&p[..k * d]) {
            *g += penalty * w;
        }
        loss += 0.5 * penalty * p[..k * d].iter().map(|w| w * w).sum::<f64>();
        (loss, grad)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(p).1)
    }
}

/// Most L-BFGS iterations of one fit (scikit-learn's `max_iter` in CLIP's probe).
pub const MAX_ITERATIONS: u64 = 1000;

impl LogisticRegression {
    /// Fits `data` with inverse regularisation strength `c`, starting from
    /// `init` (a previous fit of the same shape, for a sweep) or zeros.
    pub fn fit(
        data: &Features,
        classes: usize,
        c: f64,
        init: Option<&LogisticRegression>,
    ) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::Config("linear probe: no training features".into()));
        }
        if let Some(&bad) = data.labels.iter().find(|&&l| l >= classes) {
            return Err(Error::Config(format!(
                "linear probe: label {bad} of {classes} classes"
            )));
        }
        let n = classes * data.dim + classes;
        let start = match init {
            Some(m) if m.params.len() == n => m.params.clone(),
            _ => vec![0.0; n],
        };
        let problem = Objective::new(data, classes, c);
        // scikit-learn stops at a largest gradient component of 1e-4 (its
        // `tol`); the norm is at least that.
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-4)
            .and_then(|s| s.with_tolerance_cost(1e-10))
            .map_err(|e| Error::Config(format!("linear probe: {e}")))?;
        let result = Executor::new(problem, solver)
            .configure(|s| s.param(start).max_iters(MAX_ITERATIONS))
            .run()
            .map_err(|e| Error::Config(format!("linear probe: L-BFGS failed: {e}")))?;
        let params = result
            .state()
            .get_best_param()
            .cloned()
            .ok_or_else(|| Error::Config("linear probe: L-BFGS returned no solution".into()))?;
        Ok(LogisticRegression {
            classes,
            dim: data.dim,
            params,
        })
    }

    /// The most likely class of each vector (the first of equal scores).
    pub fn predict(&self, data: &Features) -> Vec<usize> {
        let (k, d) = (self.classes, self.dim);
        (0..data.len())
            .map(|i| {
                let x = data.row(i);
                let mut best = (0, f64::NEG_INFINITY);
                for j in 0..k {
                    let w = &self.params[j * d..(j + 1) * d];
                    let z = self.params[k * d + j]
                        + w.iter().zip(x).map(|(w, &x)| w * x as f64).sum::<f64>();
                    if z > best.1 {
                        best = (j, z);
                    }
                }
                best.0
            })
            .collect()
    }

    /// Share of `data` classified right.
    pub fn accuracy(&self, data: &Features) -> f64 {
        if data.is_empty() {
            return 0.0;
        }
        let right = self
            .predict(data)
            .iter()
            .zip(&data.labels)
            .filter(|(p, l)| p == l)
            .count();
        right as f64 / data.len() as f64
    }

    /// Mean over the classes present in `data` of the share of their vectors
    /// classified right.
    pub fn mean_per_class_recall(&self, data: &Features) -> f64 {
        let mut per: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
        for (p, &l) in self.predict(data).iter().zip(&data.labels) {
            let e = per.entry(l).or_default();
            e.0 += usize::from(*p == l);
            e.1 += 1;
        }
        if per.is_empty() {
            return 0.0;
        }
        per.values().map(|&(r, n)| r as f64 / n as f64).sum::<f64>() / per.len() as f64
    }
}

/// One point of the regularisation sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Accuracy on the validation split.
    pub validation_accuracy: f64,
}

/// What the linear probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// Number of classes.
    pub classes: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Training vectors (validation split included).
    pub train: usize,
    /// Test vectors.
    pub test: usize,
    /// The chosen inverse regularisation strength.
    pub c: f64,
    /// Test accuracy of the probe refit on all training vectors with `c`.
    pub top1: f64,
    /// Mean per-class recall on the test set.
    pub mean_per_class_recall: f64,
    /// Every `c` tried, in order.
    pub sweep: Vec<SweepPoint>,
}

/// The coarse grid of the sweep: 10⁻⁶ … 10⁶, one point per decade.
pub fn coarse_grid() -> Vec<f64> {
    (-6..=6).map(|e| 10f64.powi(e)).collect()
}

/// The fine grid around the best coarse point `best`: eight points per
/// decade over the decade on each side.
pub fn fine_grid(best: f64) -> Vec<f64> {
    let l = best.log10();
    (-8..=8)
        .filter(|i| i % 8 != 0)
        .map(|i| 10f64.powf(l + i as f64 / 8.0))
        .filter(|c| (1e-6..=1e6).contains(c))
        .collect()
}

/// Runs the whole probe: the sweep on a validation split of `train`, the
/// refit with the best `c`, the test scores.
pub fn linear_probe(train: &Features, test: &Features, classes: usize) -> Result<ProbeReport> {
    if train.dim != test.dim {
        return Err(Error::Config(format!(
            "linear probe: training features have {} dimensions, test features {}",
            train.dim, test.dim
        )));
    }
    let (fit_part, val_part) = train.split_validation();
    if val_part.is_empty() || fit_part.is_empty() {
        return Err(Error::Config(
            "linear probe: too few training images for a validation split (5 per class at least)"
                .into(),
        ));
    }
    let mut sweep = Vec::new();
    let mut last: Option<LogisticRegression> = None;
    let mut try_c = |c: f64, sweep: &mut Vec<SweepPoint>| -> Result<()> {
        let m = LogisticRegression::fit(&fit_part, classes, c, last.as_ref())?;
        sweep.push(SweepPoint {
            c,
            validation_accuracy: m.accuracy(&val_part),
        });
        last = Some(m);
        Ok(())
    };
    for c in coarse_grid() {
        try_c(c, &mut sweep)?;
    }
    let best_of = |s: &[SweepPoint]| {
        // The highest validation accuracy; of equals, the strongest penalty.
        let mut sorted: Vec<&SweepPoint> = s.iter().collect();
        sorted.sort_by(|a, b| a.c.total_cmp(&b.c));
        sorted
            .iter()
            .fold(None::<&SweepPoint>, |best, p| match best {
                Some(b) if b.validation_accuracy >= p.validation_accuracy => Some(b),
                _ => Some(p),
            })
            .map(|p| p.c)
            .expect("a non-empty sweep")
    };
    let coarse_best = best_of(&sweep);
    let mut fine = fine_grid(coarse_best);
    fine.sort_by(f64::total_cmp);
    for c in fine {
        try_c(c, &mut sweep)?;
    }
    let c = best_of(&sweep);
    let model = LogisticRegression::fit(train, classes, c, None)?;
    Ok(ProbeReport {
        classes,
        dim: train.dim,
        train: train.len(),
        test: test.len(),
        c,
        top1: model.accuracy(test),
        mean_per_class_recall: model.mean_per_class_recall(test),
        sweep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Three Gaussian blobs in 4 dimensions.
    fn blobs(n: usize, seed: u64) -> Features {
        let mut r = Rng::new(seed);
        let centres = [
            [2.0, 0.0, 0.0, 1.0],
            [0.0, 2.0, 0.0, -1.0],
            [0.0, 0.0, 2.0, 0.0],
        ];
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let l = i % 3;
            for c in centres[l] {
                values.push((c + r.normal()) as f32);
            }
            labels.push(l);
        }
        Features {
            dim: 4,
            values,
            labels,
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let data = blobs(40, 1);
        let o = Objective::new(&data, 3, 0.7);
        let p: Vec<f64> = (0..15).map(|i| (i as f64 * 0.37).sin() * 0.3).collect();
        let (_, g) = o.eval(&p);
        for i in 0..p.len() {
            let h = 1e-6;
            let mut a = p.clone();
            a[i] += h;
            let mut b = p.clone();
            b[i] -= h;
            let num = (o.compute(&a).0 - o.compute(&b).0) / (2.0 * h);
            assert!(
                (num - g[i]).abs() < 1e-4 * (1.0 + num.abs()),
                "{i}: {num} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn separable_blobs_are_learned_and_the_sweep_is_deterministic() {
        let train = blobs(300, 2);
        let test = blobs(150, 3);
        let r = linear_probe(&train, &test, 3).unwrap();
        assert!(r.top1 > 0.8, "{r:?}");
        assert!(r.mean_per_class_recall > 0.8);
        assert!(r.sweep.len() > 13);
        let again = linear_probe(&train, &test, 3).unwrap();
        assert_eq!((r.c, r.top1), (again.c, again.top1));
        // A tiny c (strong penalty) shrinks the weights towards zero.
        let norm = |m: &LogisticRegression| m.params[..12].iter().map(|w| w * w).sum::<f64>();
        let flat = LogisticRegression::fit(&train, 3, 1e-6, None).unwrap();
        let free = LogisticRegression::fit(&train, 3, 1e3, None).unwrap();
        assert!(
            norm(&flat) < 1e-3 * norm(&free),
            "{} vs {}",
            norm(&flat),
            norm(&free)
        );
    }

    #[test]
    fn the_validation_split_takes_every_fifth_of_each_class() {
        let f = Features {
            dim: 1,
            values: (0..20).map(|i| i as f32).collect(),
            labels: (0..20).map(|i| i % 2).collect(),
        };
        let (t, v) = f.split_validation();
        assert_eq!((t.len(), v.len()), (16, 4));
        assert_eq!(v.values, [8.0, 9.0, 18.0, 19.0]);
    }
}
