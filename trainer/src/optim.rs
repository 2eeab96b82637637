//! AdamW with decoupled weight decay, the warmup + cosine schedule, and
//! global gradient-norm clipping. The state is a pair of tensors per variable
//! and the step count, saved exactly in checkpoints.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::config::TrainConfig;
use crate::model::Params;
use crate::{Error, Result};

/// Learning rate at `step` (0-based): linear warmup to `base` over `warmup`
/// steps, then a cosine decay to 0 at `total`.
pub fn lr_at(step: u64, base: f64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * base
}

/// AdamW (Loshchilov & Hutter): `θ ← θ − lr·(m̂/(√v̂+ε) + λθ)`, λ only for
/// variables marked `decay`.
#[derive(Debug)]
pub struct AdamW {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    /// Steps taken so far.
    pub t: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

/// What one optimizer step saw.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

impl AdamW {
    /// Zero state for `params`.
    pub fn new(params: &Params, cfg: &TrainConfig) -> Result<Self> {
        let zeros = |p: &crate::model::Param| p.var.as_tensor().zeros_like();
        Ok(AdamW {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            t: 0,
            m: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
            v: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
        })
    }

    /// One update with learning rate `lr`, clipping the global gradient norm
    /// to `clip` first (0 disables). Fails if a variable got no gradient.
    pub fn step(
        &mut self,
        params: &Params,
        grads: &GradStore,
        lr: f64,
        clip: f64,
    ) -> Result<StepInfo> {
        let gs: Vec<Tensor> = params
            .iter()
            .map(|p| {
                grads.get(p.var.as_tensor()).cloned().ok_or_else(|| {
                    Error::Config(format!("variable {} received no gradient", p.name))
                })
            })
            .collect::<Result<_>>()?;
        self.step_with(params, &gs, lr, clip)
    }

    /// As [`AdamW::step`], with one gradient per variable in `params` order.
    pub fn step_with(
        &mut self,
        params: &Params,
        gs: &[Tensor],
        lr: f64,
        clip: f64,
    ) -> Result<StepInfo> {
        if gs.len() != params.len() {
            return Err(Error::Config(format!(
                "{} gradients for {} variables",
                gs.len(),
                params.len()
            )));
        }
        let mut sq = 0f64;
        for g in gs {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        let norm = sq.sqrt();
        let scale = if clip > 0.0 && norm > clip {
            clip / (norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        for (i, (p, g)) in params.iter().zip(gs).enumerate() {
            // Detached: the optimizer's arithmetic must not extend the
            // autograd graph (the moments would otherwise keep every past
            // step's graph alive).
            let g = g.detach();
            let g = if scale != 1.0 { (g * scale)? } else { g };
            let m = ((&self.m[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?.detach();
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?.detach();
            let denom = ((&v / bc2)?.sqrt()? + self.eps)?;
            let update = ((&m / bc1)? / denom)?;
            let theta = p.var.as_tensor().detach();
            let decayed = if p.decay && self.weight_decay > 0.0 {
                (&theta * (1.0 - lr * self.weight_decay))?
            } else {
                theta
            };
            p.var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(StepInfo { grad_norm: norm })
    }

    /// The moment tensors by name (`exp_avg.NAME`, `exp_avg_sq.NAME`).
    pub fn state_map(&self, params: &Params) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, p) in params.iter().enumerate() {
            out.insert(format!("exp_avg.{}", p.name), self.m[i].clone());
            out.insert(format!("exp_avg_sq.{}", p.name), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state_map`] and the step count.
    pub fn load_state(
        &mut self,
        params: &Params,
        map: &HashMap<String, Tensor>,
        t: u64,
    ) -> Result<()> {
        for (i, p) in params.iter().enumerate() {
            for (prefix, slot) in [("exp_avg", &mut self.m[i]), ("exp_avg_sq", &mut self.v[i])] {
                let key = format!("{prefix}.{}", p.name);
                let s = map
                    .get(&key)
                    .ok_or_else(|| Error::Config(format!("optimizer state lacks {key:?}")))?;
                if s.dims() != p.var.dims() {
                    return Err(Error::Config(format!(
                        "optimizer state {key:?} has wrong shape"
                    )));
                }
                *slot = s.to_device(p.var.device())?;
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::Init;
    use candle_core::{Device, Tensor};

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((lr_at(0, 1.0, 10, 100) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 1.0, 10, 100) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 1.0, 10, 100) - 1.0).abs() < 1e-12);
        assert!((lr_at(55, 1.0, 10, 100) - 0.5).abs() < 1e-12);
        assert!(lr_at(100, 1.0, 10, 100).abs() < 1e-12);
        assert!(lr_at(60, 1.0, 10, 100) < lr_at(50, 1.0, 10, 100));
    }

    #[test]
    fn adamw_minimises_and_decays_only_marked_variables() {
        let mut p = Params::new(&Device::Cpu, 0);
        let a = p.add("a", &[3], Init::Const(2.0), true).unwrap();
        let b = p.add("b", &[3], Init::Const(2.0), false).unwrap();
        let cfg = TrainConfig {
            weight_decay: 0.5,
            ..TrainConfig::default()
        };
        let mut opt = AdamW::new(&p, &cfg).unwrap();
        // Same values, same gradients: only the decay separates a from b.
        let objective = |a: &Tensor, b: &Tensor| {
            ((a - 1.0).unwrap().sqr().unwrap().sum_all().unwrap()
                + (b - 1.0).unwrap().sqr().unwrap().sum_all().unwrap())
            .unwrap()
        };
        let g = objective(&a, &b).backward().unwrap();
        opt.step(&p, &g, 0.1, 0.0).unwrap();
        let av = a.to_vec1::<f32>().unwrap();
        let bv = b.to_vec1::<f32>().unwrap();
        // b: 2 - lr · m̂/(√v̂+ε) = 2 - 0.1; a additionally loses lr · λ · 2.
        assert!((bv[0] - 1.9).abs() < 1e-5, "{bv:?}");
        assert!((av[0] - (1.9 - 0.1 * 0.5 * 2.0)).abs() < 1e-5, "{av:?}");
        // Minimising (b - 1)² drives b to 1.
        for _ in 0..300 {
            let g = objective(&a, &b).backward().unwrap();
            opt.step(&p, &g, 0.05, 1.0).unwrap();
        }
        let bv = b.to_vec1::<f32>().unwrap();
        assert!(bv.iter().all(|x| (x - 1.0).abs() < 0.05), "{bv:?}");
    }

    #[test]
    fn optimizer_state_does_not_hold_the_autograd_graph() {
        let mut p = Params::new(&Device::Cpu, 0);
        let a = p.add("a", &[4], Init::Const(1.0), true).unwrap();
        let mut opt = AdamW::new(&p, &TrainConfig::default()).unwrap();
        for _ in 0..2 {
            let loss = (&a * &a).unwrap().exp().unwrap().sum_all().unwrap();
            opt.step(&p, &loss.backward().unwrap(), 0.01, 1.0).unwrap();
        }
        // Moments that tracked ops would keep each step's graph alive (a leak).
        for t in opt.m.iter().chain(&opt.v) {
            assert!(!t.track_op());
        }
    }

    #[test]
    fn clipping_bounds_the_update_norm() {
        let mut p = Params::new(&Device::Cpu, 0);
        let a = p.add("a", &[4], Init::Zeros, false).unwrap();
        let cfg = TrainConfig::default();
        let mut opt = AdamW::new(&p, &cfg).unwrap();
        let loss = (&a * 1000.0).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let info = opt.step(&p, &g, 0.1, 1.0).unwrap();
        assert!((info.grad_norm - 2000.0).abs() < 1e-3);
    }
}
