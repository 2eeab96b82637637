//! Which tensor of open_clip's `CLIP` state dict holds each witcurate
//! variable, and how its values are laid out there.
//!
//! The two models share CLIP's names except in three places: witcurate
//! stores a linear layer's matrix `(in, out)` and applies it as `x W`, where
//! `nn.Linear` stores `(out, in)`; the attention's packed q/k/v projection is
//! a `Linear` called `attn.in_proj` here and the two tensors
//! `attn.in_proj_weight` / `attn.in_proj_bias` of `nn.MultiheadAttention`
//! there (the same `[q; k; v]` row order, heads contiguous); and the patch
//! embedding is a bias-free `Conv2d` there, whose `(width, 3, p, p)` weight
//! is the transposed `(3·p·p, width)` matrix here (patches are flattened in
//! channel, row, column order). `visual.proj` and `text_projection` are
//! applied as `x @ proj` by both, so they keep their `(width, embed_dim)`
//! layout.

use candle_core::Tensor;

use crate::Result;

/// How a witcurate variable's values sit in the open_clip tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same tensor.
    Same,
    /// A matrix stored `(in, out)` here and `(out, in)` there.
    Transposed,
    /// The patch embedding: `(3·p·p, width)` here, `(width, 3, p, p)` there.
    PatchConv {
        /// Patch side in pixels.
        patch: usize,
    },
}

impl Layout {
    /// The open_clip shape of a witcurate variable of shape `ours`.
    pub fn open_clip_shape(self, ours: &[usize]) -> Vec<usize> {
        match self {
            Layout::Same => ours.to_vec(),
            Layout::Transposed => ours.iter().rev().copied().collect(),
            Layout::PatchConv { patch } => vec![ours[1], 3, patch, patch],
        }
    }

    /// witcurate's values → open_clip's tensor.
    pub fn to_open_clip(self, t: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Layout::Same => t.clone(),
            Layout::Transposed => t.t()?.contiguous()?,
            Layout::PatchConv { patch } => {
                let width = t.dim(1)?;
                t.t()?.contiguous()?.reshape((width, 3, patch, patch))?
            }
        })
    }

    /// open_clip's tensor (already checked to have [`Layout::open_clip_shape`])
    /// → witcurate's values.
    pub fn from_open_clip(self, t: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Layout::Same => t.clone(),
            Layout::Transposed => t.t()?.contiguous()?,
            Layout::PatchConv { patch } => {
                let width = t.dim(0)?;
                t.reshape((width, 3 * patch * patch))?.t()?.contiguous()?
            }
        })
    }
}

/// Variables outside the transformer blocks: (witcurate name, open_clip name
/// relative to its tower, tower).
const TOP_LEVEL: &[(&str, &str, Tower)] = &[
    (
        "visual.class_embedding",
        "visual.class_embedding",
        Tower::None,
    ),
    (
        "visual.positional_embedding",
        "visual.positional_embedding",
        Tower::None,
    ),
    ("visual.ln_pre.weight", "visual.ln_pre.weight", Tower::None),
    ("visual.ln_pre.bias", "visual.ln_pre.bias", Tower::None),
    (
        "visual.ln_post.weight",
        "visual.ln_post.weight",
        Tower::None,
    ),
    ("visual.ln_post.bias", "visual.ln_post.bias", Tower::None),
    ("visual.proj", "visual.proj", Tower::None),
    (
        "token_embedding.weight",
        "token_embedding.weight",
        Tower::Text,
    ),
    ("positional_embedding", "positional_embedding", Tower::Text),
    ("ln_final.weight", "ln_final.weight", Tower::Text),
    ("ln_final.bias", "ln_final.bias", Tower::Text),
    ("text_projection", "text_projection", Tower::Text),
    ("logit_scale", "logit_scale", Tower::None),
];

/// Variables of one block: (witcurate suffix, open_clip suffix, layout).
const BLOCK: &[(&str, &str, Layout)] = &[
    ("ln_1.weight", "ln_1.weight", Layout::Same),
    ("ln_1.bias", "ln_1.bias", Layout::Same),
    (
        "attn.in_proj.weight",
        "attn.in_proj_weight",
        Layout::Transposed,
    ),
    ("attn.in_proj.bias", "attn.in_proj_bias", Layout::Same),
    (
        "attn.out_proj.weight",
        "attn.out_proj.weight",
        Layout::Transposed,
    ),
    ("attn.out_proj.bias", "attn.out_proj.bias", Layout::Same),
    ("ln_2.weight", "ln_2.weight", Layout::Same),
    ("ln_2.bias", "ln_2.bias", Layout::Same),
    ("mlp.c_fc.weight", "mlp.c_fc.weight", Layout::Transposed),
    ("mlp.c_fc.bias", "mlp.c_fc.bias", Layout::Same),
    ("mlp.c_proj.weight", "mlp.c_proj.weight", Layout::Transposed),
    ("mlp.c_proj.bias", "mlp.c_proj.bias", Layout::Same),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tower {
    /// Not part of the text tower.
    None,
    /// Part of the text tower (under `text.` in open_clip's `CustomTextCLIP`).
    Text,
}

/// Where open_clip keeps the text tower's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextPrefix {
    /// At the top level (`CLIP`, what [`crate::interop::open_clip::export`]
    /// writes).
    #[default]
    TopLevel,
    /// Under `text.` (`CustomTextCLIP`, `custom_text: true`).
    Text,
}

/// The open_clip name and layout of witcurate variable `name` (`patch`: the
/// model's patch size), or `None` when open_clip's ViT CLIP has no such
/// tensor.
pub fn open_clip_name(name: &str, patch: usize, text: TextPrefix) -> Option<(String, Layout)> {
    let text_name = |n: &str| match text {
        TextPrefix::TopLevel => n.to_string(),
        TextPrefix::Text => format!("text.{n}"),
    };
    if name == "visual.conv1.weight" {
        return Some((name.to_string(), Layout::PatchConv { patch }));
    }
    if let Some((_, oc, tower)) = TOP_LEVEL.iter().find(|(ours, _, _)| *ours == name) {
        let oc = match tower {
            Tower::None => oc.to_string(),
            Tower::Text => text_name(oc),
        };
        return Some((oc, Layout::Same));
    }
    for (prefix, tower) in [
        ("visual.transformer.resblocks.", Tower::None),
        ("transformer.resblocks.", Tower::Text),
    ] {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let (index, suffix) = rest.split_once('.')?;
        index.parse::<usize>().ok()?;
        let (_, oc_suffix, layout) = BLOCK.iter().find(|(ours, _, _)| *ours == suffix)?;
        let oc = format!("{prefix}{index}.{oc_suffix}");
        let oc = match tower {
            Tower::None => oc,
            Tower::Text => text_name(&oc),
        };
        return Some((oc, *layout));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Clip;
    use crate::ModelConfig;
    use candle_core::Device;

    #[test]
    fn every_variable_has_an_open_clip_name_and_the_layouts_invert() {
        let m = Clip::new(&ModelConfig::preset("tiny").unwrap(), &Device::Cpu, 0).unwrap();
        let mut seen = std::collections::HashSet::new();
        for p in m.params.iter() {
            let (oc, layout) = open_clip_name(&p.name, 8, TextPrefix::TopLevel)
                .unwrap_or_else(|| panic!("no open_clip name for {}", p.name));
            assert!(seen.insert(oc.clone()), "{oc} twice");
            let t = p.var.as_tensor();
            let there = layout.to_open_clip(t).unwrap();
            assert_eq!(there.dims(), layout.open_clip_shape(t.dims()), "{oc}");
            let back = layout.from_open_clip(&there).unwrap();
            let diff = (back - t).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{oc}");
        }
        let n = |s: &str| open_clip_name(s, 8, TextPrefix::TopLevel).unwrap().0;
        assert_eq!(
            n("visual.transformer.resblocks.1.attn.in_proj.weight"),
            "visual.transformer.resblocks.1.attn.in_proj_weight"
        );
        assert_eq!(
            n("transformer.resblocks.0.attn.in_proj.bias"),
            "transformer.resblocks.0.attn.in_proj_bias"
        );
        let custom = |s: &str| open_clip_name(s, 8, TextPrefix::Text).unwrap().0;
        assert_eq!(
            custom("transformer.resblocks.0.mlp.c_fc.weight"),
            "text.transformer.resblocks.0.mlp.c_fc.weight"
        );
        assert_eq!(
            custom("token_embedding.weight"),
            "text.token_embedding.weight"
        );
        assert_eq!(custom("visual.proj"), "visual.proj");
        assert!(open_clip_name("visual.attn_pool.query", 8, TextPrefix::TopLevel).is_none());
    }

    #[test]
    fn the_patch_matrix_is_the_convolution() {
        // A (3·p·p, width) matrix applied to a patch flattened (c, y, x)
        // equals the Conv2d weight (width, c, y, x) dotted with that patch.
        let (p, w) = (2usize, 3usize);
        let vals: Vec<f32> = (0..3 * p * p * w).map(|i| i as f32).collect();
        let ours = Tensor::from_vec(vals, (3 * p * p, w), &Device::Cpu).unwrap();
        let conv = Layout::PatchConv { patch: p }.to_open_clip(&ours).unwrap();
        assert_eq!(conv.dims(), [w, 3, p, p]);
        let c4 = conv.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let o = ours.to_vec2::<f32>().unwrap();
        for out in 0..w {
            for c in 0..3 {
                for y in 0..p {
                    for x in 0..p {
                        let there = c4[((out * 3 + c) * p + y) * p + x];
                        assert_eq!(there, o[(c * p + y) * p + x][out]);
                    }
                }
            }
        }
    }
}
