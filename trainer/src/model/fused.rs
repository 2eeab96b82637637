//! Fused CPU kernels, with their backward passes, for the row-wise
//! operations that dominate a CPU step: layer norm, the attention softmax
//! (scale and causal mask folded in), QuickGELU, and the broadcast add of a
//! bias or positional embedding (whose gradient candle sums slowly).
//!
//! Written as plain tensor ops, each is a chain of 5–10 operations forward
//! and about twice that backward, every one a pass over memory and an
//! allocation (candle's own fused layer norm and softmax have no backward
//! pass). Here each is one pass forward and one pass backward, through
//! candle's custom-op API (`CustomOp1/2/3` with `bwd`).
//!
//! The kernels exist for f32 tensors on the CPU; anywhere else (a CUDA
//! device, another dtype) the functions fall back to the equivalent tensor
//! ops, so the model runs unchanged on every device. The tests compare both
//! paths, values and gradients.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

type CResult<T> = candle_core::Result<T>;

/// Whether `xs` can take the fused CPU kernels.
fn fusable(xs: &[&Tensor]) -> bool {
    xs.iter()
        .all(|x| x.device().is_cpu() && x.dtype() == DType::F32)
}

/// The f32 data of a contiguous CPU tensor.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> CResult<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: input must be contiguous"),
    }
}

/// Floats per parallel task.
const TASK: usize = 16_384;

/// Rows of `n` per parallel task: about [`TASK`] floats.
fn rows_per_task(n: usize) -> usize {
    (TASK / n.max(1)).max(1)
}

#[cfg(test)]
thread_local! {
    /// Tests force the sequential or the parallel path.
    static FORCE_PARALLEL: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether a kernel over `len` floats runs on several threads: when candle's
/// matrix products do (`candle_core::utils::get_num_threads`) and the
/// tensor is worth splitting.
fn parallel(len: usize) -> bool {
    #[cfg(test)]
    if let Some(p) = FORCE_PARALLEL.with(|c| c.get()) {
        return p;
    }
    len > 2 * TASK && candle_core::utils::get_num_threads() > 1
}

/// Runs `f(row_index, dst_row)` over the rows (of `n`) of `dst`, in
/// parallel on the current rayon pool if [`parallel`] says so.
fn for_rows<F>(n: usize, dst: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    if parallel(dst.len()) {
        let per = rows_per_task(n);
        dst.par_chunks_mut(per * n)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (i, row) in chunk.chunks_mut(n).enumerate() {
                    f(c * per + i, row);
                }
            });
    } else {
        for (i, row) in dst.chunks_mut(n).enumerate() {
            f(i, row);
        }
    }
}

// ---------------------------------------------------------------- layer norm

/// `(x - mean) / sqrt(var + eps) * w + b` over the last dimension.
struct LayerNormOp {
    eps: f32,
}

fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, (var + eps).sqrt().recip())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let b = slice(s3, l3, self.name())?;
        let n = w.len();
        let mut y = vec![0f32; x.len()];
        for_rows(n, &mut y, |r, y| {
            let x = &x[r * n..(r + 1) * n];
            let (mean, rstd) = row_stats(x, self.eps);
            for j in 0..n {
                y[j] = (x[j] - mean) * rstd * w[j] + b[j];
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = w.elem_count();
        let rows = x.elem_count() / n;
        let packed = x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormGradOp { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = packed.get(rows)?;
        let db = packed.get(rows + 1)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// The gradients of [`LayerNormOp`] from `(x, w, dy)`, packed as
/// `[rows + 2, n]`: `dx` rows, then `dw`, then `db`.
struct LayerNormGradOp {
    eps: f32,
}

/// One row's share of the layer-norm gradients; adds into `dw`, `db`.
fn layer_norm_grad_row(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    eps: f32,
    dx: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let n = x.len();
    let (mean, rstd) = row_stats(x, eps);
    let (mut c1, mut c2) = (0f32, 0f32);
    for j in 0..n {
        let xh = (x[j] - mean) * rstd;
        let gw = g[j] * w[j];
        c1 += gw;
        c2 += gw * xh;
        dw[j] += g[j] * xh;
        db[j] += g[j];
    }
    let (c1, c2) = (c1 / n as f32, c2 / n as f32);
    for j in 0..n {
        let xh = (x[j] - mean) * rstd;
        dx[j] = rstd * (g[j] * w[j] - c1 - xh * c2);
    }
}

impl CustomOp3 for LayerNormGradOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let g = slice(s3, l3, self.name())?;
        let n = w.len();
        let rows = x.len() / n;
        let mut out = vec![0f32; (rows + 2) * n];
        let (dx, dwb) = out.split_at_mut(rows * n);
        let (dw, db) = dwb.split_at_mut(n);
        // Tasks of a fixed number of rows, each summing its own dw, db, the
        // sums then added in task order: the same result on any number of
        // threads.
        let per = rows_per_task(n);
        let task = |(c, chunk): (usize, &mut [f32])| {
            let (mut pw, mut pb) = (vec![0f32; n], vec![0f32; n]);
            for (i, dxr) in chunk.chunks_mut(n).enumerate() {
                let r = c * per + i;
                let (xr, gr) = (&x[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
                layer_norm_grad_row(xr, w, gr, self.eps, dxr, &mut pw, &mut pb);
            }
            (pw, pb)
        };
        let partial: Vec<(Vec<f32>, Vec<f32>)> = if parallel(x.len()) {
            dx.par_chunks_mut(per * n).enumerate().map(task).collect()
        } else {
            dx.chunks_mut(per * n).enumerate().map(task).collect()
        };
        for (pw, pb) in partial {
            for j in 0..n {
                dw[j] += pw[j];
                db[j] += pb[j];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, n))))
    }
}

/// Layer norm over the last dimension with gain `w` and bias `b`; fused on
/// the CPU, plain tensor ops elsewhere.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> CResult<Tensor> {
    if !fusable(&[x, w, b]) {
        return candle_nn::ops::layer_norm_slow(x, w, b, eps);
    }
    let x = x.contiguous()?;
    x.apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNormOp { eps })
}

// ------------------------------------------------------------------ softmax

/// `softmax(scale · x)` over the last dimension; with `causal`, row `i` of
/// each trailing `[T, T]` matrix sees only columns `0..=i` (the others get
/// probability 0), as adding a `-inf` upper-triangular mask would.
struct SoftmaxOp {
    scale: f32,
    causal: bool,
}

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let n = *l.dims().last().unwrap_or(&1);
        let mut y = vec![0f32; x.len()];
        for_rows(n, &mut y, |r, y| {
            let x = &x[r * n..(r + 1) * n];
            let valid = if self.causal { r % n + 1 } else { n };
            let max = x[..valid].iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0f32;
            for j in 0..valid {
                let e = ((x[j] - max) * self.scale).exp();
                y[j] = e;
                sum += e;
            }
            let inv = sum.recip();
            for v in &mut y[..valid] {
                *v *= inv;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> CResult<Option<Tensor>> {
        let dx = y.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxGradOp { scale: self.scale })?;
        Ok(Some(dx))
    }
}

/// `scale · y · (g − Σ y·g)` row by row, from `(y, g)`.
struct SoftmaxGradOp {
    scale: f32,
}

impl CustomOp2 for SoftmaxGradOp {
    fn name(&self) -> &'static str {
        "fused-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let y = slice(s1, l1, self.name())?;
        let g = slice(s2, l2, self.name())?;
        let n = *l1.dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; y.len()];
        for_rows(n, &mut dx, |r, dx| {
            let (y, g) = (&y[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
            let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            for j in 0..n {
                dx[j] = self.scale * y[j] * (g[j] - dot);
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// `[T, T]` with 0 on and below the diagonal and `-inf` above: added to
/// attention scores, it hides the future.
pub fn causal_mask(t: usize, device: &candle_core::Device) -> CResult<Tensor> {
    let m: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t > i / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(m, (t, t), device)
}

/// The attention probabilities `softmax(scale · x)` over the last
/// dimension, causal (row `i` attends to columns `≤ i` of each trailing
/// square matrix) if asked; fused on the CPU, plain tensor ops elsewhere.
pub fn attention_softmax(x: &Tensor, scale: f64, causal: bool) -> CResult<Tensor> {
    if scale <= 0.0 {
        candle_core::bail!("attention_softmax: the scale must be positive, got {scale}");
    }
    if causal {
        let (t, n) = (x.dim(D::Minus2)?, x.dim(D::Minus1)?);
        if t != n {
            candle_core::bail!(
                "causal softmax needs square [.., T, T] scores, got {:?}",
                x.shape()
            );
        }
    }
    if !fusable(&[x]) {
        let mut s = (x * scale)?;
        if causal {
            let t = x.dim(D::Minus1)?;
            s = s.broadcast_add(&causal_mask(t, x.device())?.to_dtype(x.dtype())?)?;
        }
        return candle_nn::ops::softmax(&s, D::Minus1);
    }
    x.contiguous()?.apply_op1(SoftmaxOp {
        scale: scale as f32,
        causal,
    })
}

// ------------------------------------------------------------ broadcast add

/// `x + b` where `b`'s shape is a suffix of `x`'s: `x` read as `[R, K]` rows
/// with `K = b.elem_count()`, `b` added to every row.
struct AddRowsOp;

impl CustomOp2 for AddRowsOp {
    fn name(&self) -> &'static str {
        "fused-add-rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let b = slice(s2, l2, self.name())?;
        let k = b.len();
        let mut y = vec![0f32; x.len()];
        for_rows(k, &mut y, |r, y| {
            for ((d, &v), &c) in y.iter_mut().zip(&x[r * k..(r + 1) * k]).zip(b) {
                *d = v + c;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let db = g
            .contiguous()?
            .apply_op1_no_bwd(&SumRowsOp { k: b.elem_count() })?;
        Ok((Some(g.clone()), Some(db.reshape(b.shape())?)))
    }
}

/// The sum of the `[R, K]` rows of a tensor: `[K]`. (candle sums over a
/// leading dimension with a strided walk per output element, the largest
/// single cost of the backward pass before this kernel.)
struct SumRowsOp {
    k: usize,
}

impl CustomOp1 for SumRowsOp {
    fn name(&self) -> &'static str {
        "fused-sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let g = slice(s, l, self.name())?;
        let k = self.k;
        let per = rows_per_task(k);
        // Fixed tasks summed in order: the same result on any thread count.
        let task = |rows: &[f32]| {
            let mut acc = vec![0f32; k];
            for row in rows.chunks(k) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        };
        let partial: Vec<Vec<f32>> = if parallel(g.len()) {
            g.par_chunks(per * k).map(task).collect()
        } else {
            g.chunks(per * k).map(task).collect()
        };
        let mut out = vec![0f32; k];
        for p in partial {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(k)))
    }
}

/// `x + b` broadcast over `x`'s leading dimensions (`b`'s shape is a suffix
/// of `x`'s: a bias, a positional embedding); fused on the CPU, with a
/// backward pass that sums `b`'s gradient row by row.
pub fn add_rows(x: &Tensor, b: &Tensor) -> CResult<Tensor> {
    let (xd, bd) = (x.dims(), b.dims());
    if bd.len() > xd.len() || xd[xd.len() - bd.len()..] != *bd {
        candle_core::bail!(
            "add_rows: {:?} is not a suffix of {:?}",
            b.shape(),
            x.shape()
        );
    }
    if !fusable(&[x, b]) || b.elem_count() == 0 {
        return x.broadcast_add(b);
    }
    x.contiguous()?.apply_op2(&b.contiguous()?, AddRowsOp)
}

// ---------------------------------------------------------------- QuickGELU

const GELU_A: f32 = 1.702;

fn sigmoid(v: f32) -> f32 {
    (1.0 + (-v).exp()).recip()
}

/// `x · σ(1.702 x)`.
struct QuickGeluOp;

impl CustomOp1 for QuickGeluOp {
    fn name(&self) -> &'static str {
        "fused-quick-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        let n = *l.dims().last().unwrap_or(&1);
        for_rows(n, &mut y, |r, y| {
            for (d, &v) in y.iter_mut().zip(&x[r * n..(r + 1) * n]) {
                *d = v * sigmoid(GELU_A * v);
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> CResult<Option<Tensor>> {
        Ok(Some(
            x.apply_op2_no_bwd(&g.contiguous()?, &QuickGeluGradOp)?,
        ))
    }
}

/// `g · (σ(a x) + a x σ(a x)(1 − σ(a x)))` from `(x, g)`.
struct QuickGeluGradOp;

impl CustomOp2 for QuickGeluGradOp {
    fn name(&self) -> &'static str {
        "fused-quick-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let g = slice(s2, l2, self.name())?;
        let n = *l1.dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; x.len()];
        for_rows(n, &mut dx, |r, dx| {
            let (x, g) = (&x[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
            for j in 0..n {
                let s = sigmoid(GELU_A * x[j]);
                dx[j] = g[j] * (s + GELU_A * x[j] * s * (1.0 - s));
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// CLIP's activation `x · σ(1.702 x)`; fused on the CPU, plain tensor ops
/// elsewhere.
pub fn quick_gelu(x: &Tensor) -> CResult<Tensor> {
    if !fusable(&[x]) {
        return x * candle_nn::ops::sigmoid(&(x * GELU_A as f64)?)?;
    }
    x.contiguous()?.apply_op1(QuickGeluOp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn randn(shape: &[usize], seed: u64) -> Var {
        let mut r = crate::rng::Rng::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    /// Checks `fused` against `reference`: values, and the gradients of a
    /// weighted sum of the output (random weights, so every output element
    /// matters) with respect to every input.
    fn check(
        inputs: &[&Var],
        fused: impl Fn() -> Tensor,
        reference: impl Fn() -> Tensor,
        tol: f32,
    ) {
        let (yf, yr) = (fused(), reference());
        assert!(
            max_diff(&yf, &yr) < tol,
            "values differ by {}",
            max_diff(&yf, &yr)
        );
        let weights = randn(yf.dims(), 99);
        let loss = |y: &Tensor| (y * weights.as_tensor()).unwrap().sum_all().unwrap();
        let (gf, gr) = (loss(&yf).backward().unwrap(), loss(&yr).backward().unwrap());
        for (i, v) in inputs.iter().enumerate() {
            let (a, b) = (
                gf.get(v.as_tensor()).unwrap(),
                gr.get(v.as_tensor()).unwrap(),
            );
            let d = max_diff(a, b);
            assert!(d < tol, "gradient of input {i} differs by {d}");
        }
    }

    /// Runs `f` with the kernels forced sequential, then forced parallel.
    fn both_paths(f: impl Fn()) {
        for p in [false, true] {
            FORCE_PARALLEL.with(|c| c.set(Some(p)));
            f();
        }
        FORCE_PARALLEL.with(|c| c.set(None));
    }

    #[test]
    fn fused_layer_norm_matches_the_tensor_ops() {
        // 700 rows: several parallel tasks, each with its own dw, db sums.
        let x = randn(&[350, 2, 48], 1);
        let w = randn(&[48], 2);
        let b = randn(&[48], 3);
        both_paths(|| {
            check(
                &[&x, &w, &b],
                || layer_norm(&x, &w, &b, 1e-5).unwrap(),
                || candle_nn::ops::layer_norm_slow(&x, &w, &b, 1e-5).unwrap(),
                2e-4,
            )
        });
    }

    #[test]
    fn fused_softmax_matches_scale_mask_and_softmax() {
        let x = randn(&[3, 2, 7, 7], 4);
        for causal in [false, true] {
            both_paths(|| {
                check(
                    &[&x],
                    || attention_softmax(&x, 0.35, causal).unwrap(),
                    || {
                        let mut s = (x.as_tensor() * 0.35).unwrap();
                        if causal {
                            let m = causal_mask(7, &Device::Cpu).unwrap();
                            s = s.broadcast_add(&m).unwrap();
                        }
                        candle_nn::ops::softmax(&s, D::Minus1).unwrap()
                    },
                    1e-5,
                )
            });
        }
        // Rows sum to one; masked entries are exactly zero.
        let y = attention_softmax(&x, 1.0, true).unwrap();
        let row2: Vec<f32> = y
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .get(2)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((row2.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row2[3..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn fused_add_rows_matches_broadcast_add() {
        let x = randn(&[40, 30, 32], 6);
        let b = randn(&[30, 32], 7);
        both_paths(|| {
            check(
                &[&x, &b],
                || add_rows(&x, &b).unwrap(),
                || x.broadcast_add(&b).unwrap(),
                1e-4,
            )
        });
        assert!(add_rows(&x, &randn(&[32, 30], 8)).is_err());
    }

    #[test]
    fn other_dtypes_take_the_tensor_op_path_with_the_same_results() {
        // f64 is not fusable: the fallback branch (the one CUDA takes) runs.
        let x = randn(&[2, 2, 6, 6], 9);
        let (w, b) = (randn(&[6], 10), randn(&[6], 11));
        let f64s = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        let back = |t: Tensor| t.to_dtype(DType::F32).unwrap();
        let pairs = [
            (
                layer_norm(&x, &w, &b, 1e-5).unwrap(),
                back(layer_norm(&f64s(&x), &f64s(&w), &f64s(&b), 1e-5).unwrap()),
            ),
            (
                attention_softmax(&x, 0.5, true).unwrap(),
                back(attention_softmax(&f64s(&x), 0.5, true).unwrap()),
            ),
            (
                quick_gelu(&x).unwrap(),
                back(quick_gelu(&f64s(&x)).unwrap()),
            ),
            (
                add_rows(&x, &b).unwrap(),
                back(add_rows(&f64s(&x), &f64s(&b)).unwrap()),
            ),
        ];
        for (i, (fused, plain)) in pairs.iter().enumerate() {
            assert!(max_diff(fused, plain) < 1e-5, "function {i}");
        }
    }

    #[test]
    fn fused_quick_gelu_matches_the_tensor_ops() {
        let x = randn(&[5, 33], 5);
        both_paths(|| {
            check(
                &[&x],
                || quick_gelu(&x).unwrap(),
                || {
                    let s = candle_nn::ops::sigmoid(&(x.as_tensor() * 1.702).unwrap()).unwrap();
                    (x.as_tensor() * s).unwrap()
                },
                1e-5,
            )
        });
    }
}
