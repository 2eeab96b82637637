//! open_clip's model config (`model_cfg`: `embed_dim`, `quick_gelu`,
//! `vision_cfg`, `text_cfg`) and preprocessing config, from and to a
//! witcurate [`ModelConfig`].
//!
//! witcurate's model is OpenAI CLIP's ViT exactly: a patch embedding without
//! bias, a class token, learned positional embeddings, a layer norm before
//! and after the pre-norm blocks (4× MLP with QuickGELU, or exact GELU as
//! `quick_gelu: false` has it; layer norm ε 1e-5), the class token
//! projected by `x @ proj`, and a causal text transformer pooled at the
//! end-of-text token. Any open_clip ViT config whose settings all keep to
//! that reads in; a setting that departs from it (layer scale, attentional
//! pooling, a timm or Hugging Face tower, …) is refused by name.

use serde_json::{json, Map, Value};

use crate::data::augment::{MEAN, STD};
use crate::{Activation, ModelConfig};

/// How open_clip picks the text tower's output token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPool {
    /// At the highest token id of each row (`pool_type: "argmax"`, CLIP's
    /// default: the end-of-text token has the highest id).
    Argmax,
    /// At the first occurrence of this id (`pool_type: "eos"`).
    Eos(u32),
}

/// An open_clip config read as a witcurate model.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenClipShape {
    /// The witcurate model shape.
    pub model: ModelConfig,
    /// How open_clip pools the text tower.
    pub pool: TextPool,
    /// Whether the text tower sits under `text.` (`custom_text: true`).
    pub custom_text: bool,
}

/// open_clip's built-in configs that witcurate's architecture matches
/// (name with QuickGELU, name with exact GELU, and image size, patch,
/// vision width, vision layers, embed dim, text width, text heads, text
/// layers); all have a 77-token context, CLIP's 49408-token vocabulary and
/// 64-wide vision heads.
const BUILTINS: &[(&str, &str, [usize; 8])] = &[
    (
        "ViT-B-32-quickgelu",
        "ViT-B-32",
        [224, 32, 768, 12, 512, 512, 8, 12],
    ),
    (
        "ViT-B-16-quickgelu",
        "ViT-B-16",
        [224, 16, 768, 12, 512, 512, 8, 12],
    ),
    (
        "ViT-L-14-quickgelu",
        "ViT-L-14",
        [224, 14, 1024, 24, 768, 768, 12, 12],
    ),
];

/// The name of open_clip's built-in config with exactly this shape, if any
/// (the preset `vit-b-32` with CLIP's vocabulary is `ViT-B-32-quickgelu`).
pub fn builtin_name(c: &ModelConfig) -> Option<&'static str> {
    BUILTINS.iter().find_map(|(quick, exact, v)| {
        let name = match c.activation {
            Activation::QuickGelu => quick,
            Activation::Gelu => exact,
        };
        let same = [
            c.image_size,
            c.patch_size,
            c.vision_width,
            c.vision_layers,
            c.embed_dim,
            c.text_width,
            c.text_heads,
            c.text_layers,
        ] == *v
            && c.vision_width == 64 * c.vision_heads
            && c.context_length == 77
            && c.vocab_size == 49408;
        same.then_some(*name)
    })
}

/// open_clip's `model_cfg` for a witcurate model (`pad_id`: the tokenizer's
/// padding id; `tokenizer_dir`: where open_clip's `get_tokenizer` finds the
/// Hugging Face tokenizer files, if anywhere). Text pooling is `argmax`: the
/// export gives the end-of-text token the highest id.
pub fn model_cfg(c: &ModelConfig, pad_id: u32, tokenizer_dir: Option<&str>) -> Value {
    let mut cfg = json!({
        "embed_dim": c.embed_dim,
        "quick_gelu": c.activation == Activation::QuickGelu,
        "vision_cfg": {
            "image_size": c.image_size,
            "patch_size": c.patch_size,
            "width": c.vision_width,
            "layers": c.vision_layers,
            "head_width": c.vision_width / c.vision_heads,
            "mlp_ratio": 4.0,
        },
        "text_cfg": {
            "context_length": c.context_length,
            "vocab_size": c.vocab_size,
            "width": c.text_width,
            "heads": c.text_heads,
            "layers": c.text_layers,
            "mlp_ratio": 4.0,
            "pad_id": pad_id,
            "pool_type": "argmax",
        },
    });
    if let Some(dir) = tokenizer_dir {
        cfg["text_cfg"]["hf_tokenizer_name"] = json!(dir);
    }
    cfg
}

/// open_clip's preprocessing of witcurate's evaluation: CLIP's mean and
/// standard deviation, the centred square resized to the model's input
/// (open_clip resizes the shorter side, then crops the centre: the same
/// region; the resampling filters differ slightly).
pub fn preprocess_cfg(c: &ModelConfig) -> Value {
    json!({
        "size": c.image_size,
        "mode": "RGB",
        "mean": MEAN,
        "std": STD,
        "interpolation": "bilinear",
        "resize_mode": "shortest",
    })
}

/// The `open_clip_config.json` of an exported model (the layout open_clip's
/// `create_model("local-dir:DIR")` and `hf-hub:` models read); see
/// [`model_cfg`] for the arguments.
pub fn hub_config(c: &ModelConfig, pad_id: u32, tokenizer_dir: Option<&str>) -> Value {
    json!({
        "model_cfg": model_cfg(c, pad_id, tokenizer_dir),
        "preprocess_cfg": preprocess_cfg(c),
    })
}

/// What a setting may hold for witcurate to represent the model.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// Anything (training-only or tokenizer-only settings).
    Any,
    /// Absent, `null`, or this value.
    Default(&'static str),
    /// Absent, `null`, `false`, or the string "default".
    OffOrDefault,
}

fn allows(allowed: Allowed, v: &Value) -> bool {
    match allowed {
        Allowed::Any => true,
        Allowed::Default(d) => {
            let d: Value = serde_json::from_str(d).expect("valid literal");
            // 4 and 4.0 are the same setting.
            v.is_null() || *v == d || (v.is_number() && v.as_f64() == d.as_f64())
        }
        Allowed::OffOrDefault => v.is_null() || *v == json!(false) || *v == json!("default"),
    }
}

/// Shape settings (read separately) of the vision config.
const VISION_SHAPE: &[&str] = &["image_size", "patch_size", "width", "layers", "head_width"];
/// The vision config's other settings.
const VISION_OTHER: &[(&str, Allowed)] = &[
    ("mlp_ratio", Allowed::Default("4.0")),
    ("ls_init_value", Allowed::Default("null")),
    ("patch_dropout", Allowed::Any),
    ("attentional_pool", Allowed::Default("false")),
    ("attn_pooler_queries", Allowed::Any),
    ("attn_pooler_heads", Allowed::Any),
    ("no_ln_pre", Allowed::Default("false")),
    ("pos_embed_type", Allowed::Default("\"learnable\"")),
    ("final_ln_after_pool", Allowed::Default("false")),
    ("pool_type", Allowed::Default("\"tok\"")),
    ("output_tokens", Allowed::Any),
    ("act_kwargs", Allowed::Default("null")),
    ("norm_kwargs", Allowed::Default("null")),
    ("block_type", Allowed::OffOrDefault),
    ("qk_norm", Allowed::Default("false")),
    ("scaled_cosine_attn", Allowed::Default("false")),
    ("scale_heads", Allowed::Default("false")),
    ("scale_attn_inner", Allowed::Default("false")),
    ("scale_attn", Allowed::Default("false")),
    ("scale_fc", Allowed::Default("false")),
    ("input_patchnorm", Allowed::Default("false")),
    ("global_average_pool", Allowed::Default("false")),
    ("timm_model_name", Allowed::Default("null")),
    ("timm_model_pretrained", Allowed::Any),
    ("timm_pool", Allowed::Any),
    ("timm_proj", Allowed::Any),
    ("timm_proj_bias", Allowed::Any),
    ("timm_drop", Allowed::Any),
    ("timm_drop_path", Allowed::Any),
];
/// Shape settings of the text config.
const TEXT_SHAPE: &[&str] = &["context_length", "vocab_size", "width", "heads", "layers"];
/// The text config's other settings.
const TEXT_OTHER: &[(&str, Allowed)] = &[
    ("mlp_ratio", Allowed::Default("4.0")),
    ("hf_tokenizer_name", Allowed::Any),
    ("tokenizer_mode", Allowed::Any),
    ("tokenizer_kwargs", Allowed::Any),
    ("ls_init_value", Allowed::Default("null")),
    ("embed_cls", Allowed::Default("false")),
    ("pad_id", Allowed::Any),
    ("eos_id", Allowed::Any),
    ("pool_type", Allowed::Any),
    ("no_causal_mask", Allowed::Default("false")),
    ("final_ln_after_pool", Allowed::Default("false")),
    ("proj_bias", Allowed::Default("false")),
    ("proj_type", Allowed::Default("\"linear\"")),
    ("output_tokens", Allowed::Any),
    ("act_kwargs", Allowed::Default("null")),
    ("norm_kwargs", Allowed::Default("null")),
    ("block_type", Allowed::OffOrDefault),
    ("qk_norm", Allowed::Default("false")),
    ("scaled_cosine_attn", Allowed::Default("false")),
    ("scale_heads", Allowed::Default("false")),
    ("scale_attn_inner", Allowed::Default("false")),
    ("scale_attn", Allowed::Default("false")),
    ("scale_fc", Allowed::Default("false")),
    ("hf_model_name", Allowed::Default("null")),
    ("hf_model_pretrained", Allowed::Any),
    ("hf_proj_type", Allowed::Any),
    ("hf_pooler_type", Allowed::Any),
];
/// The top level's settings besides the towers.
const TOP_OTHER: &[(&str, Allowed)] = &[
    ("embed_dim", Allowed::Any),
    ("quick_gelu", Allowed::Any),
    ("vision_cfg", Allowed::Any),
    ("text_cfg", Allowed::Any),
    ("custom_text", Allowed::Any),
    ("init_logit_scale", Allowed::Any),
    ("init_logit_bias", Allowed::Default("null")),
    ("cast_dtype", Allowed::Any),
    ("multimodal_cfg", Allowed::Default("null")),
];

fn check_settings(
    section: &str,
    obj: &Map<String, Value>,
    shape: &[&str],
    other: &[(&str, Allowed)],
) -> Result<(), String> {
    for (k, v) in obj {
        if shape.contains(&k.as_str()) {
            continue;
        }
        match other.iter().find(|(name, _)| name == k) {
            Some((_, allowed)) if allows(*allowed, v) => {}
            Some(_) => {
                return Err(format!(
                    "{section}{k} = {v}: witcurate's CLIP has no such variant, so it cannot \
                     represent this model"
                ))
            }
            None => {
                return Err(format!(
                    "{section}{k} is a setting witcurate does not know, so it cannot tell \
                     whether its model represents this one"
                ))
            }
        }
    }
    Ok(())
}

fn section<'a>(top: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, String> {
    match top.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(format!("{key} is {other}, not an object")),
        None => Err(format!("{key} is missing")),
    }
}

fn size(
    obj: &Map<String, Value>,
    section: &str,
    key: &str,
    default: Option<usize>,
) -> Result<usize, String> {
    match obj.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| format!("{section}{key} is missing")),
        Some(v) => {
            if let Some(n) = v.as_u64() {
                return Ok(n as usize);
            }
            // image_size may be [h, w]; witcurate's images are square.
            if let Some([a, b]) = v.as_array().map(Vec::as_slice) {
                if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                    if a == b {
                        return Ok(a as usize);
                    }
                }
            }
            Err(format!(
                "{section}{key} = {v}: witcurate needs one positive whole number here \
                 (square images, a ViT with a single layer count)"
            ))
        }
    }
}

/// Reads an open_clip config (`open_clip_config.json` with its
/// `model_cfg`, or a bare model config as in open_clip's `model_configs/`)
/// as a witcurate model; the error names the setting witcurate cannot
/// represent. open_clip's defaults fill missing settings.
pub fn from_open_clip(v: &Value) -> Result<OpenClipShape, String> {
    let root = v.as_object().ok_or("the config is not a JSON object")?;
    if let Some(pre) = root.get("preprocess_cfg") {
        check_preprocess(pre)?;
    }
    let top = match root.get("model_cfg") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("model_cfg is not an object".into()),
        None => root,
    };
    check_settings("", top, &[], TOP_OTHER)?;
    // open_clip's default (absent or false) is the exact GELU.
    let activation = match top.get("quick_gelu") {
        Some(Value::Bool(true)) => Activation::QuickGelu,
        None | Some(Value::Null) | Some(Value::Bool(false)) => Activation::Gelu,
        Some(other) => return Err(format!("quick_gelu = {other}: not true or false")),
    };
    let custom_text = top.get("custom_text") == Some(&json!(true));
    let vision = section(top, "vision_cfg")?;
    check_settings("vision_cfg.", vision, VISION_SHAPE, VISION_OTHER)?;
    let text = section(top, "text_cfg")?;
    check_settings("text_cfg.", text, TEXT_SHAPE, TEXT_OTHER)?;
    let vs = |k: &str, d: Option<usize>| size(vision, "vision_cfg.", k, d);
    let ts = |k: &str, d: Option<usize>| size(text, "text_cfg.", k, d);
    let vision_width = vs("width", Some(768))?;
    let head_width = vs("head_width", Some(64))?;
    if head_width == 0 || !vision_width.is_multiple_of(head_width) {
        return Err(format!(
            "vision_cfg.head_width {head_width} does not divide vision_cfg.width {vision_width}"
        ));
    }
    let pool = match text
        .get("pool_type")
        .and_then(Value::as_str)
        .unwrap_or("argmax")
    {
        "argmax" => TextPool::Argmax,
        "eos" => TextPool::Eos(size(text, "text_cfg.", "eos_id", Some(2))? as u32),
        other => {
            return Err(format!(
                "text_cfg.pool_type = {other:?}: witcurate pools the text tower at the \
                 end-of-text token (open_clip's \"argmax\" or \"eos\")"
            ))
        }
    };
    let embed_dim = top
        .get("embed_dim")
        .and_then(Value::as_u64)
        .ok_or("embed_dim is missing or not a whole number")? as usize;
    let model = ModelConfig {
        image_size: vs("image_size", Some(224))?,
        patch_size: vs("patch_size", Some(16))?,
        vision_width,
        vision_layers: vs("layers", Some(12))?,
        vision_heads: vision_width / head_width,
        text_width: ts("width", Some(512))?,
        text_layers: ts("layers", Some(12))?,
        text_heads: ts("heads", Some(8))?,
        context_length: ts("context_length", Some(77))?,
        vocab_size: ts("vocab_size", Some(49408))?,
        embed_dim,
        activation,
    };
    model.validate().map_err(|e| e.to_string())?;
    Ok(OpenClipShape {
        model,
        pool,
        custom_text,
    })
}

/// witcurate's evaluation normalises with CLIP's mean and standard
/// deviation; a model trained with others is refused.
fn check_preprocess(pre: &Value) -> Result<(), String> {
    for (key, ours) in [("mean", MEAN), ("std", STD)] {
        let Some(v) = pre.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let theirs: Option<Vec<f64>> = v
            .as_array()
            .and_then(|a| a.iter().map(Value::as_f64).collect());
        let same = theirs.is_some_and(|t| {
            t.len() == 3 && t.iter().zip(ours).all(|(a, b)| (a - b as f64).abs() < 1e-6)
        });
        if !same {
            return Err(format!(
                "preprocess_cfg.{key} = {v}: witcurate normalises images with CLIP's \
                 {key} {ours:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_reads_back_from_its_export() {
        for name in crate::config::PRESETS {
            let c = ModelConfig::preset(name).unwrap();
            let shape = from_open_clip(&hub_config(&c, 0, Some("/tmp/x"))).unwrap();
            assert_eq!(shape.model, c, "{name}");
            assert_eq!(shape.pool, TextPool::Argmax);
            assert!(!shape.custom_text);
        }
        let b32 = ModelConfig::preset("vit-b-32").unwrap();
        assert_eq!(builtin_name(&b32), Some("ViT-B-32-quickgelu"));
        assert_eq!(builtin_name(&ModelConfig::preset("tiny").unwrap()), None);
    }

    /// open_clip's own `ViT-B-32-quickgelu.json`.
    const B32_QUICKGELU: &str = r#"{
        "embed_dim": 512,
        "quick_gelu": true,
        "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}
    }"#;

    #[test]
    fn reads_open_clips_builtin_config_and_refuses_what_it_cannot_represent() {
        let v: Value = serde_json::from_str(B32_QUICKGELU).unwrap();
        let shape = from_open_clip(&v).unwrap();
        assert_eq!(shape.model, ModelConfig::preset("vit-b-32").unwrap());
        let refuse = |edit: &dyn Fn(&mut Value), needle: &str| {
            let mut v: Value = serde_json::from_str(B32_QUICKGELU).unwrap();
            edit(&mut v);
            let e = from_open_clip(&v).unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        refuse(&|v| v["quick_gelu"] = json!("yes"), "quick_gelu");
        refuse(
            &|v| v["vision_cfg"]["ls_init_value"] = json!(0.1),
            "vision_cfg.ls_init_value",
        );
        refuse(
            &|v| v["vision_cfg"]["layers"] = json!([3, 4, 6, 3]),
            "vision_cfg.layers",
        );
        refuse(
            &|v| v["vision_cfg"]["timm_model_name"] = json!("vit_base"),
            "timm_model_name",
        );
        refuse(
            &|v| v["text_cfg"]["hf_model_name"] = json!("roberta-base"),
            "hf_model_name",
        );
        refuse(
            &|v| v["text_cfg"]["pool_type"] = json!("last"),
            "text_cfg.pool_type",
        );
        refuse(
            &|v| v["text_cfg"]["mlp_ratio"] = json!(2.0),
            "text_cfg.mlp_ratio",
        );
        refuse(
            &|v| v["text_cfg"]["whatever"] = json!(1),
            "text_cfg.whatever",
        );
        refuse(
            &|v| v["multimodal_cfg"] = json!({"width": 512}),
            "multimodal_cfg",
        );
        refuse(
            &|v| *v = json!({"model_cfg": v.clone(), "preprocess_cfg": {"mean": [0.5, 0.5, 0.5]}}),
            "preprocess_cfg.mean",
        );
        // Training-only settings and an "eos" pool read.
        let mut v: Value = serde_json::from_str(B32_QUICKGELU).unwrap();
        v["vision_cfg"]["patch_dropout"] = json!(0.5);
        v["text_cfg"]["pool_type"] = json!("eos");
        v["text_cfg"]["eos_id"] = json!(49407);
        assert_eq!(from_open_clip(&v).unwrap().pool, TextPool::Eos(49407));
        // Without quick_gelu (open_clip's ViT-B-32.json): exact GELU.
        let mut v: Value = serde_json::from_str(B32_QUICKGELU).unwrap();
        v.as_object_mut().unwrap().remove("quick_gelu");
        let shape = from_open_clip(&v).unwrap();
        assert_eq!(shape.model.activation, Activation::Gelu);
        assert_eq!(builtin_name(&shape.model), Some("ViT-B-32"));
        assert_eq!(model_cfg(&shape.model, 0, None)["quick_gelu"], json!(false));
    }
}
