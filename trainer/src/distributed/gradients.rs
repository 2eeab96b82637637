//! The gradient of one data-parallel step (see the [module docs](super)).

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};

use super::{buckets, Collective};
use crate::model::Clip;
use crate::step::{self, MicroBatch, StepGradients};
use crate::Result;

/// Rank `r`'s share of the global batch's contrastive loss: rows
/// `[from, from + n)` of `img` against every row of `txt`, and the same rows
/// of `txt` against every row of `img`, with the cross-entropies summed and
/// divided by twice the global batch size. The shares of ranks holding
/// disjoint rows that cover the batch sum to [`crate::model::clip_loss`].
pub fn local_loss(
    img: &Tensor,
    txt: &Tensor,
    logit_scale: &Tensor,
    from: usize,
    n: usize,
) -> Result<Tensor> {
    let global = img.dim(0)?;
    let scale = logit_scale.exp()?;
    let labels = Tensor::arange(from as u32, (from + n) as u32, img.device())?;
    let rows = |a: &Tensor, b: &Tensor| -> Result<Tensor> {
        let logits = a.narrow(0, from, n)?.matmul(&b.t()?)?;
        Ok(candle_nn::loss::cross_entropy(
            &logits.broadcast_mul(&scale)?,
            &labels,
        )?)
    };
    let l = (rows(img, txt)? + rows(txt, img)?)?;
    // cross_entropy averages over the n rows; the global loss averages over
    // all rows and both directions.
    Ok((l * (0.5 * n as f64 / global as f64))?)
}

/// The loss and the summed gradient of one data-parallel step: this rank's
/// micro-batches `micro` (its rows of each global micro-batch) among every
/// rank's. With one rank this is [`step::gradients`]. Every rank gets the
/// same loss (of the whole global batch) and the same gradients.
pub fn gradients(
    model: &Clip,
    micro: &[MicroBatch],
    comm: &dyn Collective,
    device: &Device,
) -> Result<StepGradients> {
    if comm.size() == 1 {
        return step::gradients(model, micro, device);
    }
    let sync = || device.synchronize();
    let t0 = Instant::now();
    let mut comm_secs = 0.0;
    // Runs a collective, adding its time to `comm_secs` (until the device
    // has run it: NCCL's are enqueued on the GPU's stream).
    let mut timed = |f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        f()?;
        sync()?;
        comm_secs += t.elapsed().as_secs_f64();
        Ok(())
    };
    // 1. This rank's embeddings: with their graphs when there is one
    //    micro-batch, else detached (each is embedded again in step 3).
    let keep_graph = micro.len() == 1;
    let (mut img, mut txt) = (Vec::new(), Vec::new());
    for m in micro {
        let (i, t) = (
            model.encode_image(&m.images)?,
            model.encode_text(&m.tokens, &m.eot)?,
        );
        img.push(if keep_graph { i } else { i.detach() });
        txt.push(if keep_graph { t } else { t.detach() });
    }
    let local_img = Tensor::cat(&img, 0)?.detach();
    let local_txt = Tensor::cat(&txt, 0)?.detach();
    let (rows, dim) = local_img.dims2()?;
    sync()?;
    let t1 = Instant::now();
    // 2. The global batch's embeddings, as leaves, and the gradient of this
    //    rank's share of the loss with respect to all of them.
    let (mut all_img, mut all_txt) = (None, None);
    timed(&mut || {
        all_img = Some(Var::from_tensor(&comm.all_gather_tensor(&local_img)?)?);
        all_txt = Some(Var::from_tensor(&comm.all_gather_tensor(&local_txt)?)?);
        Ok(())
    })?;
    let (all_img, all_txt) = (all_img.expect("gathered"), all_txt.expect("gathered"));
    let from = comm.rank() * rows;
    let loss = local_loss(
        all_img.as_tensor(),
        all_txt.as_tensor(),
        model.logit_scale(),
        from,
        rows,
    )?;
    let store = loss.backward()?;
    let grad_of = |v: &Var| {
        store
            .get(v.as_tensor())
            .cloned()
            .map_or_else(|| v.as_tensor().zeros_like(), Ok)
    };
    let (g_img, g_txt) = (grad_of(&all_img)?, grad_of(&all_txt)?);
    // Summed over the ranks, each keeping its rows: one reduce-scatter of
    // `[rank][image rows | text rows]` blocks.
    let n = comm.size();
    let blocks = Tensor::cat(
        &[
            g_img.reshape((n, rows * dim))?,
            g_txt.reshape((n, rows * dim))?,
        ],
        1,
    )?;
    let mut mine = None;
    timed(&mut || {
        mine = Some(comm.reduce_scatter_sum_tensor(&blocks)?.flatten_all()?);
        Ok(())
    })?;
    let mine = mine.expect("reduced");
    let g_img = mine.narrow(0, 0, rows * dim)?.reshape((rows, dim))?;
    let g_txt = mine
        .narrow(0, rows * dim, rows * dim)?
        .reshape((rows, dim))?;
    // The logit scale's gradient is complete here (its share of each rank's
    // loss is summed with the parameter gradients below).
    let mut acc = step::collect(model, &store);
    drop(store);
    let local_share = loss.to_scalar::<f32>()?;
    // 3. Through this rank's towers: the gradient of Σ ⟨embedding, its
    //    summed gradient⟩ with respect to the parameters is exactly the
    //    global loss's gradient through these rows.
    let mut at = 0;
    for (j, m) in micro.iter().enumerate() {
        let b = m.images.dim(0)?;
        let (i, t) = if keep_graph {
            (img[j].clone(), txt[j].clone())
        } else {
            (
                model.encode_image(&m.images)?,
                model.encode_text(&m.tokens, &m.eot)?,
            )
        };
        let gi = g_img.narrow(0, at, b)?.to_dtype(i.dtype())?;
        let gt = g_txt.narrow(0, at, b)?.to_dtype(t.dtype())?;
        let surrogate = ((i * gi)?.sum_all()?.to_dtype(DType::F32)?
            + (t * gt)?.sum_all()?.to_dtype(DType::F32)?)?;
        at += b;
        let store = surrogate.backward()?;
        step::accumulate(model, &mut acc, &store)?;
    }
    let grads = step::finish(model, acc)?;
    // 4. Sum the gradients and the loss shares over the ranks.
    sync()?;
    let mut summed = Vec::new();
    let mut total = [local_share];
    timed(&mut || {
        summed = buckets::all_reduce_sum(comm, &grads, buckets::DEFAULT_BUCKET_ELEMENTS)?;
        comm.all_reduce_sum_f32(&mut total)
    })?;
    sync()?;
    Ok(StepGradients {
        loss: total[0] as f64,
        grads: summed,
        forward_secs: (t1 - t0).as_secs_f64(),
        backward_secs: t1.elapsed().as_secs_f64() - comm_secs,
        comm_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::{rank_rows, threads};
    use crate::model::clip_loss;
    use crate::rng::Rng;
    use crate::step::fixtures::{batch, flat, slice, tiny};

    /// Largest |a - b| relative to the largest |b|.
    fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn local_losses_sum_to_the_batch_loss() {
        let mut r = Rng::new(4);
        let (g, e) = (6, 5);
        let mut m = |n| {
            let v: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
            crate::model::clip::l2_normalize(&Tensor::from_vec(v, (g, e), &Device::Cpu).unwrap())
                .unwrap()
        };
        let (img, txt) = (m(g * e), m(g * e));
        let s = Tensor::new(2.5f32, &Device::Cpu).unwrap();
        let whole = clip_loss(&img, &txt, &s)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let parts: f32 = (0..3)
            .map(|r| {
                let (lo, hi) = rank_rows(g, r, 3);
                local_loss(&img, &txt, &s, lo, hi - lo)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            })
            .sum();
        assert!((whole - parts).abs() < 1e-5, "{whole} vs {parts}");
    }

    /// `ranks` ranks, each with its rows of every one of `k` global
    /// micro-batches of `b` pairs, against one process with the `k·b` pairs.
    fn check_ranks_equal_one_process(ranks: usize, k: usize, b: usize) {
        let c = tiny();
        let dev = Device::Cpu;
        let global: Vec<MicroBatch> = (0..k).map(|j| batch(&c, b, 11 + j as u64)).collect();
        let one = Clip::new(&c, &dev, 3).unwrap();
        let expected = step::gradients(&one, &global, &dev).unwrap();
        let per_rank = threads::run(ranks, |comm| {
            let model = Clip::new(&c, &dev, 3).unwrap();
            let (lo, hi) = rank_rows(b, comm.rank(), ranks);
            let mine: Vec<MicroBatch> = global.iter().map(|m| slice(m, lo, hi - lo)).collect();
            let g = gradients(&model, &mine, comm.as_ref(), &dev).unwrap();
            (g.loss, g.grads.iter().map(flat).collect::<Vec<_>>())
        });
        for (rank, (loss, grads)) in per_rank.iter().enumerate() {
            assert!(
                (loss - expected.loss).abs() < 1e-5,
                "rank {rank}: loss {loss} vs {}",
                expected.loss
            );
            for ((p, got), want) in one.params.iter().zip(grads).zip(&expected.grads) {
                let d = rel_diff(got, &flat(want));
                assert!(
                    d < 1e-4,
                    "rank {rank}: gradient of {} differs by {d}",
                    p.name
                );
            }
            // Every rank holds the same sums, bit for bit.
            assert_eq!(grads, &per_rank[0].1);
        }
    }

    #[test]
    fn bf16_ranks_run_and_agree_with_one_process() {
        use crate::config::Precision;
        let c = tiny();
        let dev = Device::Cpu;
        let global = batch(&c, 8, 5);
        let one = Clip::with_precision(&c, &dev, 3, Precision::Bf16).unwrap();
        let expected = step::gradients(&one, std::slice::from_ref(&global), &dev).unwrap();
        let want: Vec<f32> = expected.grads.iter().flat_map(flat).collect();
        let per_rank = threads::run(2, |comm| {
            let model = Clip::with_precision(&c, &dev, 3, Precision::Bf16).unwrap();
            let (lo, hi) = rank_rows(8, comm.rank(), 2);
            let g = gradients(&model, &[slice(&global, lo, hi - lo)], comm.as_ref(), &dev).unwrap();
            assert!(g.grads.iter().all(|g| g.dtype() == DType::F32));
            (g.loss, g.grads.iter().flat_map(flat).collect::<Vec<f32>>())
        });
        for (loss, got) in per_rank {
            assert!((loss - expected.loss).abs() < 0.02 * expected.loss.abs());
            let dot: f64 = got.iter().zip(&want).map(|(a, b)| (a * b) as f64).sum();
            let n = |g: &[f32]| g.iter().map(|a| (a * a) as f64).sum::<f64>().sqrt();
            let cos = dot / (n(&got) * n(&want));
            assert!(cos > 0.99, "gradient cosine {cos}");
        }
    }

    #[test]
    fn two_ranks_give_the_one_process_gradient() {
        check_ranks_equal_one_process(2, 1, 8);
    }

    #[test]
    fn three_ranks_with_accumulation_give_the_one_process_gradient() {
        check_ranks_equal_one_process(3, 2, 6);
    }
}
