//! The gradient of one optimizer step, over one batch or over `K`
//! micro-batches with open_clip's gradient accumulation.
//!
//! The contrastive loss of a batch is not a sum over its samples: every pair
//! is contrasted with every other. Accumulating the gradients of `K`
//! independent micro-batch losses would therefore train with `B - 1`
//! negatives per pair, not `K·B - 1`. open_clip's scheme keeps the large
//! batch's loss at the memory cost of one micro-batch:
//!
//! 1. embed every micro-batch, keeping only the (detached) embeddings;
//! 2. for each micro-batch `j`, embed it again with the graph, put its
//!    embeddings in place of the cached ones, compute the loss over all
//!    `K·B` pairs and back-propagate: only micro-batch `j`'s activations
//!    receive gradient, and its gradient is exactly its share of the big
//!    batch's;
//! 3. sum the `K` gradients and take one optimizer step.
//!
//! The logit scale sits in every one of the `K` losses; open_clip lets it
//! collect `K` times its gradient. Here it takes part in the first pass only,
//! so the summed gradient equals the big batch's for every variable
//! (`tests::accumulated_step_equals_the_big_batch_step`).

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::model::{clip_loss, Clip};
use crate::{Error, Result};

/// One micro-batch on the device.
#[derive(Debug, Clone)]
pub struct MicroBatch {
    /// `[B, 3, S, S]` normalised pixels.
    pub images: Tensor,
    /// `[B, T]` token ids.
    pub tokens: Tensor,
    /// `[B]` end-of-text positions.
    pub eot: Tensor,
}

/// The gradient of a step and where its time went.
#[derive(Debug)]
pub struct StepGradients {
    /// The contrastive loss over all the step's pairs.
    pub loss: f64,
    /// One gradient per variable, in [`crate::model::Params`] order.
    pub grads: Vec<Tensor>,
    /// Seconds in forward passes (the caching pass included).
    pub forward_secs: f64,
    /// Seconds in backward passes.
    pub backward_secs: f64,
    /// Seconds in collective operations with other ranks (not part of the
    /// forward and backward seconds; 0 for one process).
    pub comm_secs: f64,
}

pub(crate) fn collect(
    model: &Clip,
    store: &candle_core::backprop::GradStore,
) -> Vec<Option<Tensor>> {
    model
        .params
        .iter()
        .map(|p| store.get(p.var.as_tensor()).cloned())
        .collect()
}

/// Adds the gradients in `store` to `acc` (one slot per parameter; a slot
/// without a gradient yet takes the new one).
pub(crate) fn accumulate(
    model: &Clip,
    acc: &mut [Option<Tensor>],
    store: &candle_core::backprop::GradStore,
) -> Result<()> {
    for (a, g) in acc.iter_mut().zip(collect(model, store)) {
        *a = match (a.take(), g) {
            (Some(a), Some(g)) => Some((a + g)?),
            (a, g) => a.or(g),
        };
    }
    Ok(())
}

pub(crate) fn finish(model: &Clip, acc: Vec<Option<Tensor>>) -> Result<Vec<Tensor>> {
    model
        .params
        .iter()
        .zip(acc)
        .map(|(p, g)| {
            g.ok_or_else(|| Error::Config(format!("variable {} received no gradient", p.name)))
        })
        .collect()
}

/// The loss and gradient of one step over `micro` (one micro-batch: the
/// plain step; more: accumulation as described in the module docs).
/// `device` is synchronised around the timed sections.
pub fn gradients(model: &Clip, micro: &[MicroBatch], device: &Device) -> Result<StepGradients> {
    let sync = || device.synchronize();
    let t0 = Instant::now();
    if let [m] = micro {
        let loss = model.loss(&m.images, &m.tokens, &m.eot)?;
        sync()?;
        let t1 = Instant::now();
        let store = loss.backward()?;
        let grads = finish(model, collect(model, &store))?;
        sync()?;
        return Ok(StepGradients {
            loss: loss.to_scalar::<f32>()? as f64,
            grads,
            forward_secs: (t1 - t0).as_secs_f64(),
            backward_secs: t1.elapsed().as_secs_f64(),
            comm_secs: 0.0,
        });
    }
    if micro.is_empty() {
        return Err(Error::Config(
            "a step needs at least one micro-batch".into(),
        ));
    }
    // 1. The embeddings of every micro-batch, without their graphs.
    let mut img = Vec::with_capacity(micro.len());
    let mut txt = Vec::with_capacity(micro.len());
    for m in micro {
        img.push(model.encode_image(&m.images)?.detach());
        txt.push(model.encode_text(&m.tokens, &m.eot)?.detach());
    }
    let (mut forward, mut backward) = (t0.elapsed().as_secs_f64(), 0.0);
    // 2. Each micro-batch again, with its graph, among the cached others.
    let mut acc: Vec<Option<Tensor>> = vec![None; model.params.len()];
    let mut loss0 = f64::NAN;
    for (j, m) in micro.iter().enumerate() {
        let t1 = Instant::now();
        let mut imgs = img.clone();
        let mut txts = txt.clone();
        imgs[j] = model.encode_image(&m.images)?;
        txts[j] = model.encode_text(&m.tokens, &m.eot)?;
        let scale = if j == 0 {
            model.logit_scale().clone()
        } else {
            model.logit_scale().detach()
        };
        let loss = clip_loss(&Tensor::cat(&imgs, 0)?, &Tensor::cat(&txts, 0)?, &scale)?;
        sync()?;
        let t2 = Instant::now();
        let store = loss.backward()?;
        accumulate(model, &mut acc, &store)?;
        drop(store);
        if j == 0 {
            loss0 = loss.to_scalar::<f32>()? as f64;
        }
        sync()?;
        forward += (t2 - t1).as_secs_f64();
        backward += t2.elapsed().as_secs_f64();
    }
    Ok(StepGradients {
        loss: loss0,
        grads: finish(model, acc)?,
        forward_secs: forward,
        backward_secs: backward,
        comm_secs: 0.0,
    })
}

/// A small model and random micro-batches, for the tests of the step and of
/// its distributed form.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::MicroBatch;
    use crate::config::ModelConfig;
    use crate::rng::Rng;
    use candle_core::{Device, Tensor};

    /// The tiny preset with one layer per tower and a 40-token vocabulary.
    pub(crate) fn tiny() -> ModelConfig {
        let mut c = ModelConfig::preset("tiny").unwrap();
        c.context_length = 10;
        c.vocab_size = 40;
        c.vision_layers = 1;
        c.text_layers = 1;
        c
    }

    /// `b` random images and token rows of lengths 3 to 7 (seeded).
    pub(crate) fn batch(c: &ModelConfig, b: usize, seed: u64) -> MicroBatch {
        let mut r = Rng::new(seed);
        let (s, t) = (c.image_size, c.context_length);
        let img: Vec<f32> = (0..b * 3 * s * s).map(|_| r.normal() as f32).collect();
        let mut tok = vec![0u32; b * t];
        let mut eot = vec![0u32; b];
        for i in 0..b {
            let len = 3 + i % 5;
            for j in 0..len {
                tok[i * t + j] = 3 + r.below(c.vocab_size - 3) as u32;
            }
            eot[i] = (len - 1) as u32;
        }
        let d = &Device::Cpu;
        MicroBatch {
            images: Tensor::from_vec(img, (b, 3, s, s), d).unwrap(),
            tokens: Tensor::from_vec(tok, (b, t), d).unwrap(),
            eot: Tensor::from_vec(eot, b, d).unwrap(),
        }
    }

    /// Rows `[from, from + n)` of a micro-batch.
    pub(crate) fn slice(m: &MicroBatch, from: usize, n: usize) -> MicroBatch {
        MicroBatch {
            images: m.images.narrow(0, from, n).unwrap(),
            tokens: m.tokens.narrow(0, from, n).unwrap(),
            eot: m.eot.narrow(0, from, n).unwrap(),
        }
    }

    /// A tensor's values, flattened.
    pub(crate) fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{batch, flat, slice, tiny};
    use super::*;
    use crate::config::TrainConfig;
    use crate::optim::AdamW;

    /// Largest |a - b| relative to the largest |b| of the tensor.
    fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let (a, b) = (flat(a), flat(b));
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        a.iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    #[test]
    fn accumulated_step_equals_the_big_batch_step() {
        let c = tiny();
        let (k, b) = (3, 4);
        let big = batch(&c, k * b, 7);
        let micro: Vec<MicroBatch> = (0..k).map(|j| slice(&big, j * b, b)).collect();
        let dev = Device::Cpu;

        let one = Clip::new(&c, &dev, 3).unwrap();
        let acc = Clip::new(&c, &dev, 3).unwrap();
        let g1 = gradients(&one, std::slice::from_ref(&big), &dev).unwrap();
        let gk = gradients(&acc, &micro, &dev).unwrap();
        assert!(
            (g1.loss - gk.loss).abs() < 1e-5,
            "{} vs {}",
            g1.loss,
            gk.loss
        );
        for ((p, a), b) in one.params.iter().zip(&gk.grads).zip(&g1.grads) {
            let d = rel_diff(a, b);
            assert!(d < 1e-4, "gradient of {} differs by {d} (relative)", p.name);
        }

        // The naive alternative (K separate losses of B pairs each) is a
        // different gradient: the test can tell them apart.
        let naive: Vec<Vec<Tensor>> = micro
            .iter()
            .map(|m| {
                gradients(&one, std::slice::from_ref(m), &dev)
                    .unwrap()
                    .grads
            })
            .collect();
        let proj = one
            .params
            .iter()
            .position(|p| p.name == "visual.proj")
            .unwrap();
        let sum = naive
            .iter()
            .map(|g| g[proj].clone())
            .reduce(|a, b| (a + b).unwrap())
            .unwrap();
        let third = (sum / k as f64).unwrap();
        assert!(rel_diff(&third, &g1.grads[proj]) > 0.05);

        // One AdamW step each: the same parameters.
        let cfg = TrainConfig::default();
        let mut o1 = AdamW::new(&one.params, &cfg).unwrap();
        let mut ok = AdamW::new(&acc.params, &cfg).unwrap();
        o1.step_with(&one.params, &g1.grads, 1e-3, 1.0).unwrap();
        ok.step_with(&acc.params, &gk.grads, 1e-3, 1.0).unwrap();
        let mut worst = 0f32;
        for (p, q) in one.params.iter().zip(acc.params.iter()) {
            let (x, y) = (flat(p.var.as_tensor()), flat(q.var.as_tensor()));
            for (x, y) in x.iter().zip(&y) {
                worst = worst.max((x - y).abs());
            }
        }
        // lr 1e-3: a wrong gradient would move parameters by up to 1e-3.
        assert!(worst < 2e-5, "parameters differ by up to {worst}");
    }
}
