//! Transformer building blocks, all with a backward pass.

use candle_core::{DType, Tensor};

use super::fused;
use super::params::{Init, Params};
use crate::{Activation, Result};

/// `y = x W + b` over the last dimension; `W` is stored `(in, out)`.
#[derive(Debug, Clone)]
pub struct Linear {
    w: Tensor,
    b: Option<Tensor>,
    out: usize,
    compute: DType,
}

impl Linear {
    /// A layer with weights drawn from N(0, std²) and zero bias.
    pub fn new(
        p: &mut Params,
        name: &str,
        inp: usize,
        out: usize,
        std: f64,
        bias: bool,
    ) -> Result<Self> {
        let w = p.add(
            &format!("{name}.weight"),
            &[inp, out],
            Init::Normal(std),
            true,
        )?;
        let b = if bias {
            Some(p.add(&format!("{name}.bias"), &[out], Init::Zeros, false)?)
        } else {
            None
        };
        Ok(Linear {
            w,
            b,
            out,
            compute: p.compute_dtype(),
        })
    }

    /// Applies the layer to `[..., in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inp = *dims.last().expect("rank >= 1");
        let rows = x.elem_count() / inp;
        let c = self.compute;
        let mut y = x
            .reshape((rows, inp))?
            .to_dtype(c)?
            .matmul(&self.w.to_dtype(c)?)?;
        if let Some(b) = &self.b {
            y = fused::add_rows(&y, &b.to_dtype(c)?)?;
        }
        let mut shape = dims;
        *shape.last_mut().expect("rank >= 1") = self.out;
        Ok(y.reshape(shape)?)
    }
}

/// Layer normalisation with a backward pass ([`fused::layer_norm`]: one
/// kernel each way on the CPU; candle's own fused layer norm has no
/// backward pass).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    w: Tensor,
    b: Tensor,
}

impl LayerNorm {
    /// Gain 1, bias 0.
    pub fn new(p: &mut Params, name: &str, dim: usize) -> Result<Self> {
        Ok(LayerNorm {
            w: p.add(&format!("{name}.weight"), &[dim], Init::Ones, false)?,
            b: p.add(&format!("{name}.bias"), &[dim], Init::Zeros, false)?,
        })
    }

    /// Normalises the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(fused::layer_norm(
            &x.to_dtype(DType::F32)?,
            &self.w,
            &self.b,
            1e-5,
        )?)
    }
}

/// `x * sigmoid(1.702 x)`, CLIP's activation (cheaper than exact GELU).
pub fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    Ok(fused::quick_gelu(x)?)
}

/// Applies `act` (QuickGELU by the fused kernel, exact GELU by candle's
/// `gelu_erf`, which has a backward pass).
pub fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    match act {
        Activation::QuickGelu => quick_gelu(x),
        Activation::Gelu => Ok(x.gelu_erf()?),
    }
}

/// Multi-head self-attention.
#[derive(Debug, Clone)]
pub struct Attention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl Attention {
    /// CLIP's initialisation: `in_proj` std `width^-1/2`, `out_proj` std `proj_std`.
    pub fn new(
        p: &mut Params,
        name: &str,
        width: usize,
        heads: usize,
        proj_std: f64,
    ) -> Result<Self> {
        let attn_std = (width as f64).powf(-0.5);
        Ok(Attention {
            in_proj: Linear::new(
                p,
                &format!("{name}.in_proj"),
                width,
                3 * width,
                attn_std,
                true,
            )?,
            out_proj: Linear::new(p, &format!("{name}.out_proj"), width, width, proj_std, true)?,
            heads,
        })
    }

    /// `x: [B, T, W]`; with `causal`, position `i` attends to positions `≤ i`.
    pub fn forward(&self, x: &Tensor, causal: bool) -> Result<Tensor> {
        let (b, t, w) = x.dims3()?;
        let hd = w / self.heads;
        let qkv = self
            .in_proj
            .forward(x)?
            .reshape((b, t, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        // Scale and mask are folded into the softmax kernel.
        let att = q.matmul(&k.t()?)?;
        let att =
            fused::attention_softmax(&att.to_dtype(DType::F32)?, (hd as f64).powf(-0.5), causal)?
                .to_dtype(self.in_proj.compute)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, w))?;
        self.out_proj.forward(&y)
    }
}

/// Pre-norm residual block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Debug, Clone)]
pub struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
    act: Activation,
}

/// The size of a stack of blocks.
#[derive(Debug, Clone, Copy)]
pub struct TransformerShape {
    /// Width of the residual stream.
    pub width: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// The MLP activation.
    pub act: Activation,
}

impl Block {
    fn new(p: &mut Params, name: &str, shape: TransformerShape) -> Result<Self> {
        let TransformerShape {
            width,
            layers,
            heads,
            act,
        } = shape;
        let w = width as f64;
        let proj_std = w.powf(-0.5) * (2.0 * layers as f64).powf(-0.5);
        let fc_std = (2.0 * w).powf(-0.5);
        Ok(Block {
            ln_1: LayerNorm::new(p, &format!("{name}.ln_1"), width)?,
            attn: Attention::new(p, &format!("{name}.attn"), width, heads, proj_std)?,
            ln_2: LayerNorm::new(p, &format!("{name}.ln_2"), width)?,
            c_fc: Linear::new(
                p,
                &format!("{name}.mlp.c_fc"),
                width,
                4 * width,
                fc_std,
                true,
            )?,
            c_proj: Linear::new(
                p,
                &format!("{name}.mlp.c_proj"),
                4 * width,
                width,
                proj_std,
                true,
            )?,
            act,
        })
    }

    fn forward(&self, x: &Tensor, causal: bool) -> Result<Tensor> {
        // The residual stream keeps its dtype (f32); the branches may compute
        // in another one.
        let dtype = x.dtype();
        let a = self.attn.forward(&self.ln_1.forward(x)?, causal)?;
        let x = (x + a.to_dtype(dtype)?)?;
        let h = activate(self.act, &self.c_fc.forward(&self.ln_2.forward(&x)?)?)?;
        Ok((&x + self.c_proj.forward(&h)?.to_dtype(dtype)?)?)
    }
}

/// A stack of pre-norm blocks.
#[derive(Debug, Clone)]
pub struct Transformer {
    blocks: Vec<Block>,
}

impl Transformer {
    /// `shape.layers` blocks named `{name}.resblocks.{i}`.
    pub fn new(p: &mut Params, name: &str, shape: TransformerShape) -> Result<Self> {
        let blocks = (0..shape.layers)
            .map(|i| Block::new(p, &format!("{name}.resblocks.{i}"), shape))
            .collect::<Result<_>>()?;
        Ok(Transformer { blocks })
    }

    /// Applies every block (`causal`: see [`Attention::forward`]).
    pub fn forward(&self, x: &Tensor, causal: bool) -> Result<Tensor> {
        let mut x = x.clone();
        for b in &self.blocks {
            x = b.forward(&x, causal)?;
        }
        Ok(x)
    }
}
