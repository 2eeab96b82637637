//! Model presets and training hyper-parameters.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The arithmetic of the matrix products.
///
/// `Bf16` is mixed precision as PyTorch's autocast does it: the weights, the
/// optimizer's state and the residual stream stay f32; matrix products (and
/// what sits between two of them: biases, the activation, the attention
/// values) run in bfloat16; layer norm, softmax and the loss run in f32.
/// bfloat16 has f32's exponent range, so no loss scaling is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bfloat16 matrix products with f32 master weights.
    Bf16,
}

impl Precision {
    /// The dtype of the matrix products.
    pub fn dtype(self) -> candle_core::DType {
        match self {
            Precision::F32 => candle_core::DType::F32,
            Precision::Bf16 => candle_core::DType::BF16,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" | "fp32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::Config(format!(
                "unknown precision {s:?}; expected f32 or bf16"
            ))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// The activation between the two layers of each block's MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x · sigmoid(1.702 x)`: CLIP's, that of every preset.
    #[default]
    QuickGelu,
    /// The exact GELU, `x · Φ(x)` (PyTorch's `nn.GELU`): that of most
    /// open_clip models trained by LAION, for imported weights.
    Gelu,
}

/// The shape of a CLIP model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Side of the square input image, in pixels.
    pub image_size: usize,
    /// Side of a ViT patch, in pixels (divides `image_size`).
    pub patch_size: usize,
    /// Width of the image transformer.
    pub vision_width: usize,
    /// Blocks of the image transformer.
    pub vision_layers: usize,
    /// Attention heads of the image transformer.
    pub vision_heads: usize,
    /// Width of the text transformer.
    pub text_width: usize,
    /// Blocks of the text transformer.
    pub text_layers: usize,
    /// Attention heads of the text transformer.
    pub text_heads: usize,
    /// Tokens per caption, start and end tokens included.
    pub context_length: usize,
    /// Tokenizer vocabulary size (set from the trained tokenizer).
    pub vocab_size: usize,
    /// Size of the joint embedding.
    pub embed_dim: usize,
    /// The MLP activation (checkpoints without it use QuickGELU).
    #[serde(default)]
    pub activation: Activation,
}

/// Names of the built-in presets, smallest first.
pub const PRESETS: &[&str] = &["tiny", "small", "vit-b-32"];

impl ModelConfig {
    /// A named preset: `tiny` (trains on 2 CPU cores in minutes), `small`, or
    /// `vit-b-32` (the CLIP paper's ViT-B/32 with a 12-layer, 512-wide text
    /// transformer).
    pub fn preset(name: &str) -> Result<Self> {
        let c = match name {
            "tiny" => ModelConfig {
                image_size: 32,
                patch_size: 8,
                vision_width: 64,
                vision_layers: 2,
                vision_heads: 2,
                text_width: 64,
                text_layers: 2,
                text_heads: 2,
                context_length: 77,
                vocab_size: 1024,
                embed_dim: 64,
                activation: Activation::QuickGelu,
            },
            "small" => ModelConfig {
                image_size: 64,
                patch_size: 8,
                vision_width: 256,
                vision_layers: 6,
                vision_heads: 4,
                text_width: 256,
                text_layers: 6,
                text_heads: 4,
                context_length: 77,
                vocab_size: 8192,
                embed_dim: 256,
                activation: Activation::QuickGelu,
            },
            "vit-b-32" => ModelConfig {
                image_size: 224,
                patch_size: 32,
                vision_width: 768,
                vision_layers: 12,
                vision_heads: 12,
                text_width: 512,
                text_layers: 12,
                text_heads: 8,
                context_length: 77,
                vocab_size: 49408,
                embed_dim: 512,
                activation: Activation::QuickGelu,
            },
            other => {
                return Err(Error::Config(format!(
                    "unknown preset {other:?} (one of {})",
                    PRESETS.join(", ")
                )))
            }
        };
        Ok(c)
    }

    /// Checks the shape is buildable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return bad(format!(
                "image size {} is not a multiple of patch size {}",
                self.image_size, self.patch_size
            ));
        }
        if self.vision_heads == 0 || !self.vision_width.is_multiple_of(self.vision_heads) {
            return bad(format!(
                "vision width {} is not a multiple of {} heads",
                self.vision_width, self.vision_heads
            ));
        }
        if self.text_heads == 0 || !self.text_width.is_multiple_of(self.text_heads) {
            return bad(format!(
                "text width {} is not a multiple of {} heads",
                self.text_width, self.text_heads
            ));
        }
        if self.context_length < 3 {
            return bad("context length must be at least 3".into());
        }
        Ok(())
    }

    /// Patches per image side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// Optimisation and data hyper-parameters of a run (saved in checkpoints so
/// that `--resume` continues the same run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimizer steps in the whole run.
    pub steps: u64,
    /// Image-text pairs per forward pass (the micro-batch); a step contrasts
    /// `batch_size × accum_freq` pairs.
    pub batch_size: usize,
    /// Micro-batches per optimizer step, accumulated with the whole step's
    /// negatives (see [`crate::step`]).
    #[serde(default = "one")]
    pub accum_freq: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps before the cosine decay.
    pub warmup_steps: u64,
    /// AdamW decoupled weight decay (not applied to gains, biases,
    /// embeddings or the temperature).
    pub weight_decay: f64,
    /// AdamW β1.
    pub beta1: f64,
    /// AdamW β2.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// Clip the global gradient norm to this (0 disables).
    pub grad_clip: f64,
    /// Seed of initialisation, data order and augmentation.
    pub seed: u64,
    /// Samples held by the shuffle buffer.
    pub shuffle_buffer: usize,
    /// Smallest area fraction kept by the random resized crop.
    pub crop_scale_min: f64,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
}

fn one() -> usize {
    1
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 1000,
            batch_size: 64,
            accum_freq: 1,
            lr: 5e-4,
            warmup_steps: 100,
            weight_decay: 0.2,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            grad_clip: 1.0,
            seed: 0,
            shuffle_buffer: 4096,
            crop_scale_min: 0.9,
            checkpoint_every: 500,
        }
    }
}

impl TrainConfig {
    /// Pairs contrasted per optimizer step.
    pub fn global_batch(&self) -> usize {
        self.batch_size * self.accum_freq
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.steps == 0 {
            return bad("--steps must be at least 1");
        }
        if self.accum_freq == 0 {
            return bad("--accum-freq must be at least 1");
        }
        if self.batch_size == 0 || self.batch_size * self.accum_freq < 2 {
            return bad(
                "--batch-size × --accum-freq must be at least 2 (the loss contrasts pairs in a batch)",
            );
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return bad("--lr must be positive");
        }
        if self.shuffle_buffer == 0 {
            return bad("--shuffle-buffer must be at least 1");
        }
        if !(self.crop_scale_min > 0.0 && self.crop_scale_min <= 1.0) {
            return bad("--crop-scale-min must be in (0, 1]");
        }
        if self.checkpoint_every == 0 {
            return bad("--checkpoint-every must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for p in PRESETS {
            ModelConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(ModelConfig::preset("huge").is_err());
        let mut c = ModelConfig::preset("tiny").unwrap();
        c.patch_size = 5;
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_contrastive_batch_is_micro_batch_times_accumulation() {
        let t = |batch_size, accum_freq| TrainConfig {
            batch_size,
            accum_freq,
            ..TrainConfig::default()
        };
        assert_eq!(t(4, 3).global_batch(), 12);
        assert!(t(1, 2).validate().is_ok());
        assert!(t(1, 1).validate().is_err());
        assert!(t(4, 0).validate().is_err());
        // Checkpoints written before accumulation existed read as 1.
        let mut v = serde_json::to_value(t(4, 3)).unwrap();
        v.as_object_mut().unwrap().remove("accum_freq");
        let back: TrainConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back.accum_freq, 1);
    }

    #[test]
    fn model_configs_without_an_activation_read_as_quick_gelu() {
        let c = ModelConfig::preset("tiny").unwrap();
        let mut v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["activation"], "quick_gelu");
        v.as_object_mut().unwrap().remove("activation");
        let back: ModelConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }
}
