//! The causal text encoder.

use candle_core::{Device, Tensor};

use super::layers::{LayerNorm, Transformer, TransformerShape};
use super::params::{Init, Params};
use crate::config::ModelConfig;
use crate::Result;

/// Token and positional embeddings, a causal pre-norm transformer, a final
/// layer norm, the output at each caption's end-of-text token, projected into
/// the joint space.
#[derive(Debug, Clone)]
pub struct TextTransformer {
    width: usize,
    token_embedding: Tensor,
    positional_embedding: Tensor,
    transformer: Transformer,
    ln_final: LayerNorm,
    text_projection: Tensor,
}

/// `[T, T]` with 0 on and below the diagonal and `-inf` above.
pub fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    Ok(super::fused::causal_mask(t, device)?)
}

impl TextTransformer {
    /// Creates the encoder's variables (CLIP's names and initialisation).
    pub fn new(p: &mut Params, c: &ModelConfig) -> Result<Self> {
        let w = c.text_width;
        Ok(TextTransformer {
            width: w,
            token_embedding: p.add(
                "token_embedding.weight",
                &[c.vocab_size, w],
                Init::Normal(0.02),
                false,
            )?,
            positional_embedding: p.add(
                "positional_embedding",
                &[c.context_length, w],
                Init::Normal(0.01),
                false,
            )?,
            transformer: Transformer::new(
                p,
                "transformer",
                TransformerShape {
                    width: w,
                    layers: c.text_layers,
                    heads: c.text_heads,
                    act: c.activation,
                },
            )?,
            ln_final: LayerNorm::new(p, "ln_final", w)?,
            text_projection: p.add(
                "text_projection",
                &[w, c.embed_dim],
                Init::Normal((w as f64).powf(-0.5)),
                true,
            )?,
        })
    }

    /// `tokens: [B, T]` (u32) and `eot: [B]` (u32, the end-of-text position of
    /// each row) → `[B, embed_dim]` (not unit-norm).
    pub fn forward(&self, tokens: &Tensor, eot: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let x = self
            .token_embedding
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, t, self.width))?;
        let x = super::fused::add_rows(&x, &self.positional_embedding.narrow(0, 0, t)?)?;
        let x = self.transformer.forward(&x, true)?;
        let x = self.ln_final.forward(&x)?;
        // Row b's end-of-text output sits at flat index b * T + eot[b].
        let base = Tensor::arange_step(0u32, (b * t) as u32, t as u32, x.device())?;
        let idx = (base + eot)?;
        let pooled = x.reshape((b * t, self.width))?.index_select(&idx, 0)?;
        Ok(pooled.matmul(&self.text_projection)?)
    }
}
