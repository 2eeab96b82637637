//! `witcurate export --format open_clip` loaded by open_clip itself, and
//! `witcurate import --format open_clip` of the state dict open_clip holds.
//!
//! The round trip needs Python with `open_clip_torch` (CPU torch): the venv
//! `scripts/setup_torch.sh` makes (default `~/.cache/witcurate/venv-torch`,
//! or `$TORCH_VENV`). Without it the test fails, unless
//! `WITCURATE_SKIP_PY=1`, which skips it with a message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use trainer::data::augment;
use trainer::model::Clip;
use trainer::tokenizer::TextTokenizer;

mod common;
use common::{s, tiny_train_args, witcurate};

fn ok(o: &std::process::Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The torch venv's python with open_clip importable, or `None` when the
/// environment says to skip.
fn open_clip_python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("TORCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/witcurate/venv-torch")
        });
    let python = venv.join("bin/python");
    let check = Command::new(&python)
        .args(["-c", "import open_clip, safetensors, PIL, transformers"])
        .output();
    match check {
        Ok(o) if o.status.success() => Some(python),
        _ if std::env::var("WITCURATE_SKIP_PY").as_deref() == Ok("1") => {
            eprintln!(
                "\n*** SKIPPED: {test}: {} cannot import open_clip (WITCURATE_SKIP_PY=1); \
                 run scripts/setup_torch.sh to make that venv ***\n",
                python.display()
            );
            None
        }
        other => panic!(
            "{} cannot import open_clip ({:?}): run scripts/setup_torch.sh (it makes that venv), \
             or set WITCURATE_SKIP_PY=1 to skip this test",
            python.display(),
            other.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        ),
    }
}

/// A tiny model trained for two steps on synthetic shards, and an image
/// folder (32-pixel images of two classes) with its classes file.
fn trained_run(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let shards = dir.join("shards");
    synthetic::shards::write_shards(
        &shards,
        &synthetic::shards::ShardOptions {
            shards: 1,
            rows_per_shard: 40,
            min_size: 24,
            max_size: 40,
            row_group_size: 20,
            seed: 3,
        },
    )
    .unwrap();
    let images = dir.join("images");
    let classes = synthetic::image_folder::write_seeded(&images, 2, 32, 1).unwrap();
    let run = dir.join("run");
    ok(&witcurate(&tiny_train_args(s(&shards), s(&run), "2", "8")));
    (run, images, classes)
}

fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .collect();
    files.sort();
    files
}

/// witcurate's evaluation preprocessing of `files` as `[B, 3, S, S]`.
fn pixels(files: &[PathBuf], size: u32) -> Tensor {
    let plane = (3 * size * size) as usize;
    let mut buf = vec![0f32; files.len() * plane];
    for (f, out) in files.iter().zip(buf.chunks_mut(plane)) {
        let img = augment::decode_rgb(&std::fs::read(f).unwrap()).unwrap();
        augment::normalize_into(&augment::center_square(&img, size), out);
    }
    let s = size as usize;
    Tensor::from_vec(buf, (files.len(), 3, s, s), &Device::Cpu).unwrap()
}

const TEXTS: &[&str] = &[
    "a photo of a red circle",
    "a blue square on a white background",
    "green",
    "a very long caption that goes on and on and on past the context length of sixteen tokens",
];

/// Token ids `[B, T]` and end-of-text positions `[B]` of [`TEXTS`].
fn tokens(tok: &TextTokenizer) -> (Tensor, Tensor, Vec<Vec<u32>>) {
    let enc: Vec<_> = TEXTS.iter().map(|t| tok.encode(t).unwrap()).collect();
    let ids: Vec<Vec<u32>> = enc.iter().map(|e| e.ids.clone()).collect();
    let t = ids[0].len();
    let flat: Vec<u32> = ids.concat();
    let eot: Vec<u32> = enc.iter().map(|e| e.eot).collect();
    (
        Tensor::from_vec(flat, (TEXTS.len(), t), &Device::Cpu).unwrap(),
        Tensor::from_vec(eot, TEXTS.len(), &Device::Cpu).unwrap(),
        ids,
    )
}

fn embeddings(model: &Clip, tok: &TextTokenizer, px: &Tensor) -> (Tensor, Tensor) {
    let (ids, eot, _) = tokens(tok);
    (
        model.encode_image(px).unwrap(),
        model.encode_text(&ids, &eot).unwrap(),
    )
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    rows(a)
        .iter()
        .flatten()
        .zip(rows(b).iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Per-row cosine of two sets of unit-norm embeddings.
fn cosines(a: &Tensor, b: &Tensor) -> Vec<f32> {
    rows(a)
        .iter()
        .zip(rows(b))
        .map(|(x, y)| {
            let dot: f32 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
            let n = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
            dot / (n(x) * n(&y))
        })
        .collect()
}

fn zero_shot_json(
    checkpoint: &Path,
    images: &Path,
    classes: &Path,
    out: &Path,
) -> serde_json::Value {
    ok(&witcurate(&[
        "eval",
        "--quiet",
        "--checkpoint",
        s(checkpoint),
        "--images",
        s(images),
        "--classes",
        s(classes),
        "--json",
        s(out),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    // The checkpoint's path and step differ, by design.
    assert!(v["zero_shot"]["top1"].is_number(), "{v}");
    v["zero_shot"].clone()
}

fn export(checkpoint: &Path, out: &Path) -> String {
    ok(&witcurate(&[
        "export",
        "--format",
        "open_clip",
        "--checkpoint",
        s(checkpoint),
        "--out",
        s(out),
    ]))
}

fn import(weights: &Path, config: &Path, tokenizer: &Path, out: &Path) -> String {
    ok(&witcurate(&[
        "import",
        "--format",
        "open_clip",
        "--weights",
        s(weights),
        "--config",
        s(config),
        "--tokenizer",
        s(tokenizer),
        "--out",
        s(out),
    ]))
}

/// The embeddings of the same inputs in witcurate and in open_clip.
struct Compared {
    /// witcurate's image and text embeddings.
    ours: (Tensor, Tensor),
    /// The state dict open_clip holds after loading the export.
    state_dict: PathBuf,
}

/// Loads the export `export` of `checkpoint` with open_clip
/// (`tests/py/open_clip_check.py`), feeds both models the same pixels (of
/// `files`) and token ids, and asserts cosine ≥ 0.999 per row; also that
/// open_clip preprocesses `png` (at the model's size) to witcurate's pixels.
fn compare_with_open_clip(
    python: &Path,
    work: &Path,
    checkpoint: &Path,
    export: &Path,
    files: &[PathBuf],
    png: &Path,
) -> Compared {
    std::fs::create_dir_all(work).unwrap();
    let loaded = trainer::checkpoint::load(checkpoint, &Device::Cpu).unwrap();
    let m = &loaded.meta.model;
    let exported_tok =
        TextTokenizer::load(&export.join("tokenizer.json"), m.context_length).unwrap();
    // The exported ids put the end-of-text token at the top of the table,
    // where open_clip's argmax pooling looks for it.
    let v = m.vocab_size as u32;
    assert_eq!(exported_tok.eot_id(), v - 1);
    let (_, _, ours_ids) = tokens(&loaded.tokenizer);
    let (exp_ids, _, exp_rows) = tokens(&exported_tok);
    for (a, b) in ours_ids.iter().zip(&exp_rows) {
        let eot_at = a
            .iter()
            .position(|&i| i == loaded.tokenizer.eot_id())
            .unwrap();
        assert_eq!(b[eot_at], v - 1);
        let argmax = (0..b.len())
            .max_by_key(|&i| (b[i], std::cmp::Reverse(i)))
            .unwrap();
        assert_eq!(argmax, eot_at, "argmax pooling finds the end of text");
    }

    let size = m.image_size as u32;
    let px = pixels(files, size);
    let (img, txt) = embeddings(&loaded.model, &loaded.tokenizer, &px);
    let inputs = work.join("inputs.safetensors");
    let mut map = HashMap::new();
    map.insert("pixels".to_string(), px);
    map.insert("tokens".to_string(), exp_ids.to_dtype(DType::I64).unwrap());
    candle_core::safetensors::save(&map, &inputs).unwrap();
    let outputs = work.join("open_clip_out.safetensors");
    let state_dict = work.join("state_dict.safetensors");
    let texts = work.join("texts.json");
    std::fs::write(&texts, serde_json::to_string(TEXTS).unwrap()).unwrap();
    let o = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/open_clip_check.py"))
        .args([export, &inputs, png, &outputs, &state_dict, &texts])
        .env("CUDA_VISIBLE_DEVICES", "")
        .output()
        .unwrap();
    eprintln!("{}", ok(&o));
    let theirs = candle_core::safetensors::load(&outputs, &Device::Cpu).unwrap();
    for (what, ours) in [("image", &img), ("text", &txt)] {
        let cos = cosines(ours, &theirs[what]);
        assert_eq!(cos.len(), ours.dim(0).unwrap());
        let worst = cos.iter().copied().fold(f32::INFINITY, f32::min);
        eprintln!(
            "{:?} {what}: {} rows, lowest cosine with open_clip {worst}",
            m.activation,
            cos.len()
        );
        assert!(
            cos.iter().all(|&c| c >= 0.999),
            "{what} embeddings differ from open_clip's: cosines {cos:?}"
        );
    }
    // open_clip's preprocessing of an image already at the model's size is
    // witcurate's: the same mean and standard deviation (for larger images
    // the resampling filters differ slightly, so the comparison above feeds
    // both models the same pixels).
    let d = max_abs_diff(
        &pixels(&[png.to_path_buf()], size).flatten_from(1).unwrap(),
        &theirs["pixels"].flatten_from(1).unwrap(),
    );
    assert!(d < 1e-5, "preprocessed pixels differ by {d}");
    Compared {
        ours: (img, txt),
        state_dict,
    }
}

#[test]
fn open_clip_loads_the_export_and_its_state_dict_imports_back() {
    let Some(python) =
        open_clip_python("open_clip_loads_the_export_and_its_state_dict_imports_back")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (run, images, classes) = trained_run(dir.path());
    let exported = dir.path().join("export");
    let out = export(&run, &exported);
    assert!(out.contains("custom open_clip ViT config"), "{out}");
    for f in [
        "open_clip_model.safetensors",
        "open_clip_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(exported.join(f).is_file(), "{f}");
    }
    let files = image_files(&images);
    // A lossless copy of the first image (JPEG decoders differ by a level
    // or two), for comparing the two tools' preprocessing.
    let png = dir.path().join("first.png");
    augment::decode_rgb(&std::fs::read(&files[0]).unwrap())
        .unwrap()
        .save(&png)
        .unwrap();
    let quick = compare_with_open_clip(
        &python,
        &dir.path().join("quick"),
        &run,
        &exported,
        &files,
        &png,
    );

    // Back: what open_clip holds imports to the same model.
    let config = exported.join("open_clip_config.json");
    let tokenizer = exported.join("tokenizer.json");
    let imported = dir.path().join("imported");
    let out = import(&quick.state_dict, &config, &tokenizer, &imported);
    assert!(out.contains("import:"), "{out}");
    let original = trainer::checkpoint::load(&run, &Device::Cpu).unwrap();
    let back = trainer::checkpoint::load(&imported, &Device::Cpu).unwrap();
    assert_eq!(back.meta.model, original.meta.model);
    let px = pixels(&files, original.meta.model.image_size as u32);
    let (img2, txt2) = embeddings(&back.model, &back.tokenizer, &px);
    assert_eq!(max_abs_diff(&quick.ours.0, &img2), 0.0);
    assert_eq!(max_abs_diff(&quick.ours.1, &txt2), 0.0);
    let a = zero_shot_json(&run, &images, &classes, &dir.path().join("a.json"));
    let b = zero_shot_json(&imported, &images, &classes, &dir.path().join("b.json"));
    assert_eq!(a, b);

    // The same weights read as an exact-GELU model (`quick_gelu: false`,
    // as most LAION-trained open_clip models are): imported, exported
    // again, and compared with open_clip once more.
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    cfg["model_cfg"]["quick_gelu"] = serde_json::json!(false);
    let gelu_config = dir.path().join("gelu_config.json");
    std::fs::write(&gelu_config, cfg.to_string()).unwrap();
    let gelu = dir.path().join("gelu");
    import(
        &exported.join("open_clip_model.safetensors"),
        &gelu_config,
        &tokenizer,
        &gelu,
    );
    let gelu_export = dir.path().join("gelu_export");
    export(&gelu, &gelu_export);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(gelu_export.join("open_clip_config.json")).unwrap())
            .unwrap();
    assert_eq!(written["model_cfg"]["quick_gelu"], false);
    let exact = compare_with_open_clip(
        &python,
        &dir.path().join("exact"),
        &gelu,
        &gelu_export,
        &files,
        &png,
    );
    assert!(
        max_abs_diff(&quick.ours.0, &exact.ours.0) > 1e-4,
        "the activation changed nothing"
    );
}

#[test]
fn import_names_the_file_and_key_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _, _) = trained_run(dir.path());
    let export = dir.path().join("export");
    ok(&witcurate(&[
        "export",
        "--format",
        "open_clip",
        "--checkpoint",
        s(&run),
        "--out",
        s(&export),
    ]));
    let weights = export.join("open_clip_model.safetensors");
    let config = export.join("open_clip_config.json");
    let tokenizer = export.join("tokenizer.json");
    let try_import = |weights: &Path, config: &Path| {
        witcurate(&[
            "import",
            "--format",
            "open_clip",
            "--weights",
            s(weights),
            "--config",
            s(config),
            "--tokenizer",
            s(&tokenizer),
            "--out",
            s(&dir.path().join("imported")),
        ])
    };
    let err = |o: std::process::Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // The export itself imports; its tokenizer.json sits beside the weights.
    ok(&witcurate(&[
        "import",
        "--format",
        "open_clip",
        "--weights",
        s(&weights),
        "--config",
        s(&config),
        "--out",
        s(&dir.path().join("imported")),
    ]));

    let mut state = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    state.remove("visual.proj");
    let missing = dir.path().join("missing.safetensors");
    candle_core::safetensors::save(&state, &missing).unwrap();
    let e = err(try_import(&missing, &config));
    assert!(
        e.contains("missing.safetensors") && e.contains("visual.proj"),
        "{e}"
    );

    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    cfg["model_cfg"]["vision_cfg"]["ls_init_value"] = serde_json::json!(0.1);
    let scaled = dir.path().join("layer_scale.json");
    std::fs::write(&scaled, cfg.to_string()).unwrap();
    let e = err(try_import(&weights, &scaled));
    assert!(
        e.contains("layer_scale.json") && e.contains("vision_cfg.ls_init_value"),
        "{e}"
    );

    cfg["model_cfg"]["vision_cfg"]["ls_init_value"] = serde_json::Value::Null;
    cfg["model_cfg"]["vision_cfg"]["width"] = serde_json::json!(128);
    let wide = dir.path().join("wide.json");
    std::fs::write(&wide, cfg.to_string()).unwrap();
    let e = err(try_import(&weights, &wide));
    assert!(
        e.contains("open_clip_model.safetensors") && e.contains("shape"),
        "{e}"
    );

    // An --out holding something else is not replaced.
    let e = err(witcurate(&[
        "export",
        "--format",
        "open_clip",
        "--checkpoint",
        s(&run),
        "--out",
        s(&run),
    ]));
    assert!(e.contains("not an earlier output"), "{e}");
}

#[test]
fn clips_own_tokenizer_in_the_hugging_face_format_encodes_as_open_clip_does() {
    let Some(python) = open_clip_python(
        "clips_own_tokenizer_in_the_hugging_face_format_encodes_as_open_clip_does",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tok_path = dir.path().join("tokenizer.json");
    let expected_path = dir.path().join("expected.json");
    let texts = [
        "a photo of a dog.",
        "A  Photo OF the   Golden Gate Bridge, at night!",
        "it's 3 o'clock; we'll see 12 cats",
        "a café in Zürich",
        &"word ".repeat(100),
    ];
    let o = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/clip_tokenizer_json.py"))
        .args([&tok_path, &expected_path])
        .args(texts)
        .output()
        .unwrap();
    ok(&o);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expected_path).unwrap()).unwrap();
    let tok = TextTokenizer::load(&tok_path, 77).unwrap();
    assert_eq!(tok.sot_id(), expected["sot"].as_u64().unwrap() as u32);
    assert_eq!(tok.eot_id(), expected["eot"].as_u64().unwrap() as u32);
    assert_eq!(
        tok.eot_id(),
        tok.max_id(),
        "argmax pooling finds CLIP's end of text"
    );
    assert_eq!(tok.pad_id(), 0);
    for (text, want) in texts.iter().zip(expected["ids"].as_array().unwrap()) {
        let want: Vec<u32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text).unwrap().ids, want, "{text:?}");
    }
}

/// OpenAI's ViT-B/32 as open_clip builds it (random weights: no download in
/// tests) imports with open_clip's own `ViT-B-32-quickgelu.json` and CLIP's
/// tokenizer, and witcurate computes open_clip's embeddings from it.
#[test]
fn open_clips_vit_b_32_imports_with_its_builtin_config() {
    let Some(python) = open_clip_python("open_clips_vit_b_32_imports_with_its_builtin_config")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py");
    let tokenizer = dir.path().join("tokenizer.json");
    ok(&Command::new(&python)
        .arg(py.join("clip_tokenizer_json.py"))
        .args([&tokenizer, &dir.path().join("unused.json")])
        .output()
        .unwrap());
    ok(&Command::new(&python)
        .arg(py.join("open_clip_random_model.py"))
        .arg("ViT-B-32-quickgelu")
        .arg(dir.path())
        .args(TEXTS)
        .env("CUDA_VISIBLE_DEVICES", "")
        .output()
        .unwrap());
    let imported = dir.path().join("imported");
    import(
        &dir.path().join("weights.safetensors"),
        &dir.path().join("config.json"),
        &tokenizer,
        &imported,
    );
    let reference =
        candle_core::safetensors::load(dir.path().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let loaded = trainer::checkpoint::load(&imported, &Device::Cpu).unwrap();
    assert_eq!(
        loaded.meta.model,
        trainer::ModelConfig::preset("vit-b-32").unwrap()
    );
    // witcurate's tokenizer gives open_clip's ids, and pools where open_clip does.
    let (ids, eot, rows) = tokens(&loaded.tokenizer);
    let want = reference["tokens"].to_dtype(DType::U32).unwrap();
    assert_eq!(rows, want.to_vec2::<u32>().unwrap());
    let img = loaded.model.encode_image(&reference["pixels"]).unwrap();
    let txt = loaded.model.encode_text(&ids, &eot).unwrap();
    for (what, ours) in [("image", &img), ("text", &txt)] {
        let cos = cosines(ours, &reference[what]);
        assert!(cos.iter().all(|&c| c >= 0.999), "{what}: cosines {cos:?}");
    }
}
