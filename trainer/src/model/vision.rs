//! The ViT image encoder.

use candle_core::{DType, IndexOp, Tensor};

use super::fused;
use super::layers::{LayerNorm, Linear, Transformer, TransformerShape};
use super::params::{Init, Params};
use crate::config::ModelConfig;
use crate::Result;

/// Patch embedding, class token, positional embedding, pre-norm transformer,
/// layer norm on the class token and a projection into the joint space.
#[derive(Debug, Clone)]
pub struct VisionTransformer {
    patch: usize,
    grid: usize,
    width: usize,
    conv1: Linear,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: LayerNorm,
    transformer: Transformer,
    ln_post: LayerNorm,
    proj: Tensor,
}

impl VisionTransformer {
    /// Creates the encoder's variables under `visual.`.
    pub fn new(p: &mut Params, c: &ModelConfig) -> Result<Self> {
        let w = c.vision_width;
        let scale = (w as f64).powf(-0.5);
        let patch_in = 3 * c.patch_size * c.patch_size;
        let grid = c.grid();
        Ok(VisionTransformer {
            patch: c.patch_size,
            grid,
            width: w,
            conv1: Linear::new(
                p,
                "visual.conv1",
                patch_in,
                w,
                (patch_in as f64).powf(-0.5),
                false,
            )?,
            class_embedding: p.add("visual.class_embedding", &[w], Init::Normal(scale), false)?,
            positional_embedding: p.add(
                "visual.positional_embedding",
                &[grid * grid + 1, w],
                Init::Normal(scale),
                false,
            )?,
            ln_pre: LayerNorm::new(p, "visual.ln_pre", w)?,
            transformer: Transformer::new(
                p,
                "visual.transformer",
                TransformerShape {
                    width: w,
                    layers: c.vision_layers,
                    heads: c.vision_heads,
                    act: c.activation,
                },
            )?,
            ln_post: LayerNorm::new(p, "visual.ln_post", w)?,
            proj: p.add("visual.proj", &[w, c.embed_dim], Init::Normal(scale), true)?,
        })
    }

    /// `images: [B, 3, S, S]` (normalised) → `[B, embed_dim]` (not unit-norm).
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let b = images.dim(0)?;
        let (g, p) = (self.grid, self.patch);
        // Non-overlapping patches as a matrix product (the stride-p convolution).
        let patches = images
            .reshape((b, 3, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, g * g, 3 * p * p))?;
        // The patch embedding may compute in bf16; the residual stream is f32.
        let x = self.conv1.forward(&patches)?.to_dtype(DType::F32)?;
        let cls = self
            .class_embedding
            .reshape((1, 1, self.width))?
            .broadcast_as((b, 1, self.width))?
            .contiguous()?;
        let x = fused::add_rows(&Tensor::cat(&[&cls, &x], 1)?, &self.positional_embedding)?;
        let x = self.ln_pre.forward(&x)?;
        let x = self.transformer.forward(&x, false)?;
        let cls_out = self.ln_post.forward(&x.i((.., 0, ..))?.contiguous()?)?;
        Ok(cls_out.matmul(&self.proj)?)
    }
}
