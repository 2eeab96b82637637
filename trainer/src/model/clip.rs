//! Both towers, the learnable temperature and the contrastive loss.

use candle_core::{Device, Tensor, D};

use super::params::{Init, Params};
use super::text::TextTransformer;
use super::vision::VisionTransformer;
use crate::config::{ModelConfig, Precision};
use crate::Result;

/// Name of the temperature variable (stored as `ln(1/τ)`).
pub const LOGIT_SCALE: &str = "logit_scale";
/// Upper bound of `exp(logit_scale)` (CLIP clamps the logit scale at 100).
pub const MAX_LOGIT_SCALE: f64 = 100.0;

/// The CLIP model and its variables.
#[derive(Debug)]
pub struct Clip {
    /// Shape of the model.
    pub config: ModelConfig,
    /// Every trainable variable.
    pub params: Params,
    visual: VisionTransformer,
    text: TextTransformer,
    logit_scale: Tensor,
}

/// Unit-normalises the rows of `x`.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?)
}

impl Clip {
    /// A freshly initialised model (initial values derive from `seed`).
    pub fn new(config: &ModelConfig, device: &Device, seed: u64) -> Result<Self> {
        Self::with_precision(config, device, seed, Precision::F32)
    }

    /// A freshly initialised model whose matrix products run in `precision`
    /// (its variables are f32 whatever the precision).
    pub fn with_precision(
        config: &ModelConfig,
        device: &Device,
        seed: u64,
        precision: Precision,
    ) -> Result<Self> {
        config.validate()?;
        let mut params = Params::new(device, seed).with_compute_dtype(precision.dtype());
        let visual = VisionTransformer::new(&mut params, config)?;
        let text = TextTransformer::new(&mut params, config)?;
        let logit_scale = params.add(LOGIT_SCALE, &[], Init::Const((1.0f64 / 0.07).ln()), false)?;
        Ok(Clip {
            config: config.clone(),
            params,
            visual,
            text,
            logit_scale,
        })
    }

    /// Image embeddings, unit-norm: `[B, 3, S, S]` → `[B, E]`.
    pub fn encode_image(&self, images: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.visual.forward(images)?)
    }

    /// Text embeddings, unit-norm: tokens `[B, T]`, end-of-text positions `[B]` → `[B, E]`.
    pub fn encode_text(&self, tokens: &Tensor, eot: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.text.forward(tokens, eot)?)
    }

    /// The temperature variable, `ln(1/τ)` (a scalar).
    pub fn logit_scale(&self) -> &Tensor {
        &self.logit_scale
    }

    /// The symmetric InfoNCE loss of a batch of matching pairs.
    pub fn loss(&self, images: &Tensor, tokens: &Tensor, eot: &Tensor) -> Result<Tensor> {
        let img = self.encode_image(images)?;
        let txt = self.encode_text(tokens, eot)?;
        clip_loss(&img, &txt, &self.logit_scale)
    }
}

/// Symmetric cross-entropy over `exp(logit_scale) · img · txtᵀ`, where row i
/// of both matrices is a matching pair.
pub fn clip_loss(img: &Tensor, txt: &Tensor, logit_scale: &Tensor) -> Result<Tensor> {
    let n = img.dim(0)?;
    let logits = img.matmul(&txt.t()?)?.broadcast_mul(&logit_scale.exp()?)?;
    let labels = Tensor::arange(0u32, n as u32, img.device())?;
    let l_i = candle_nn::loss::cross_entropy(&logits, &labels)?;
    let l_t = candle_nn::loss::cross_entropy(&logits.t()?.contiguous()?, &labels)?;
    Ok(((l_i + l_t)? * 0.5)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn toy_batch(c: &ModelConfig, b: usize) -> (Tensor, Tensor, Tensor) {
        let mut r = Rng::new(1);
        let s = c.image_size;
        let img: Vec<f32> = (0..b * 3 * s * s).map(|_| r.normal() as f32).collect();
        let t = c.context_length;
        let mut tok = vec![0u32; b * t];
        let mut eot = vec![0u32; b];
        for i in 0..b {
            let len = 3 + i % 4;
            for j in 0..len {
                tok[i * t + j] = 3 + r.below(c.vocab_size - 3) as u32;
            }
            eot[i] = (len - 1) as u32;
        }
        (
            Tensor::from_vec(img, (b, 3, s, s), &Device::Cpu).unwrap(),
            Tensor::from_vec(tok, (b, t), &Device::Cpu).unwrap(),
            Tensor::from_vec(eot, b, &Device::Cpu).unwrap(),
        )
    }

    fn tiny() -> ModelConfig {
        let mut c = ModelConfig::preset("tiny").unwrap();
        c.context_length = 12;
        c.vocab_size = 50;
        c
    }

    #[test]
    fn every_variable_receives_a_gradient() {
        let c = tiny();
        let m = Clip::new(&c, &Device::Cpu, 0).unwrap();
        let (img, tok, eot) = toy_batch(&c, 4);
        let loss = m.loss(&img, &tok, &eot).unwrap();
        let grads = loss.backward().unwrap();
        for p in m.params.iter() {
            let g = grads
                .get(p.var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {}", p.name));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm.is_finite(), "non-finite gradient for {}", p.name);
            // The token table only gets gradient on used rows, but never all zero.
            assert!(norm > 0.0, "zero gradient for {}", p.name);
        }
    }

    #[test]
    fn loss_starts_near_log_batch_and_is_symmetric() {
        let c = tiny();
        let m = Clip::new(&c, &Device::Cpu, 0).unwrap();
        let (img, tok, eot) = toy_batch(&c, 8);
        let loss = m
            .loss(&img, &tok, &eot)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // Random embeddings give a loss of the order of ln(8) = 2.08.
        assert!(loss > 0.5 && loss < 10.0, "loss {loss}");
        // Perfectly matched embeddings with a large scale give a small loss.
        let e =
            l2_normalize(&Tensor::eye(8, candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
        let ls = Tensor::new(100f32.ln(), &Device::Cpu).unwrap();
        let l = clip_loss(&e, &e, &ls).unwrap().to_scalar::<f32>().unwrap();
        assert!(l < 1e-3, "{l}");
    }

    #[test]
    fn bf16_matches_f32_within_bf16_rounding() {
        let c = tiny();
        let (img, tok, eot) = toy_batch(&c, 8);
        let run = |p: Precision| {
            let m = Clip::with_precision(&c, &Device::Cpu, 3, p).unwrap();
            let loss = m.loss(&img, &tok, &eot).unwrap();
            let grads = loss.backward().unwrap();
            let flat: Vec<f32> = m
                .params
                .iter()
                .flat_map(|p| {
                    let g = grads.get(p.var.as_tensor()).unwrap();
                    assert_eq!(g.dtype(), candle_core::DType::F32, "{}", p.name);
                    g.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                })
                .collect();
            (loss.to_scalar::<f32>().unwrap(), flat)
        };
        let (l32, g32) = run(Precision::F32);
        let (l16, g16) = run(Precision::Bf16);
        assert!((l32 - l16).abs() < 0.02 * l32, "loss {l32} vs {l16}");
        let dot: f64 = g32.iter().zip(&g16).map(|(a, b)| (a * b) as f64).sum();
        let n = |g: &[f32]| g.iter().map(|a| (a * a) as f64).sum::<f64>().sqrt();
        let cos = dot / (n(&g32) * n(&g16));
        assert!(cos > 0.99, "gradient cosine {cos}");
        // Not the same arithmetic: bf16 really ran.
        assert_ne!(l32, l16);
    }

    #[test]
    fn exact_gelu_models_compute_and_train() {
        let quick = tiny();
        let exact = ModelConfig {
            activation: crate::Activation::Gelu,
            ..quick.clone()
        };
        let (img, tok, eot) = toy_batch(&quick, 4);
        let embed = |c: &ModelConfig| {
            let m = Clip::new(c, &Device::Cpu, 2).unwrap();
            let loss = m.loss(&img, &tok, &eot).unwrap();
            let grads = loss.backward().unwrap();
            for p in m.params.iter() {
                assert!(grads.get(p.var.as_tensor()).is_some(), "{}", p.name);
            }
            m.encode_image(&img)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        // The same weights, another activation: other (finite) embeddings.
        let (a, b) = (embed(&quick), embed(&exact));
        assert!(b.iter().all(|x| x.is_finite()));
        assert_ne!(a, b);
    }

    #[test]
    fn initialisation_is_seeded() {
        let c = tiny();
        let a = Clip::new(&c, &Device::Cpu, 5).unwrap();
        let b = Clip::new(&c, &Device::Cpu, 5).unwrap();
        let d = Clip::new(&c, &Device::Cpu, 6).unwrap();
        let w = |m: &Clip| {
            m.params
                .get("visual.proj")
                .unwrap()
                .var
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&d));
    }
}
