//! The CLIP model, written with candle's differentiable tensor ops.
//!
//! - [`params`]: the named trainable variables, their initialisation and
//!   which of them take weight decay;
//! - [`layers`]: linear, layer norm (differentiable), attention, MLP with
//!   QuickGELU, pre-norm residual blocks;
//! - [`fused`]: one-pass CPU kernels with backward passes for layer norm,
//!   the attention softmax (scale and causal mask folded in) and QuickGELU,
//!   falling back to tensor ops on other devices;
//! - [`vision`]: the ViT image encoder;
//! - [`text`]: the causal text encoder pooled at the end-of-text token;
//! - [`clip`]: both towers, the learnable temperature and the symmetric
//!   InfoNCE loss.
//!
//! candle's fused layer norm and fast softmax have no backward pass; this
//! module uses only operations that do (its own fused kernels among them),
//! and `clip::tests` checks that every variable receives a gradient.

pub mod clip;
pub mod fused;
pub mod layers;
pub mod params;
pub mod text;
pub mod vision;

pub use clip::{clip_loss, Clip};
pub use params::{Param, Params};
