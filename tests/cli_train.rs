//! End-to-end tests of `witcurate train` and `witcurate eval`.

use std::path::Path;

mod common;
use common::{s, witcurate};

fn synthetic_shards(dir: &Path) -> std::path::PathBuf {
    let shards = dir.join("shards");
    synthetic::shards::write_shards(
        &shards,
        &synthetic::shards::ShardOptions {
            shards: 2,
            rows_per_shard: 80,
            min_size: 24,
            max_size: 40,
            row_group_size: 32,
            seed: 5,
        },
    )
    .unwrap();
    shards
}

#[test]
fn train_then_eval_writes_checkpoint_log_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let out = dir.path().join("run");
    let o = witcurate(&[
        "train",
        "--quiet",
        "--shards",
        s(&shards),
        "--out",
        s(&out),
        "--preset",
        "tiny",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--context-length",
        "16",
        "--vocab-size",
        "300",
        "--checkpoint-every",
        "2",
        "--shuffle-buffer",
        "16",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("train: steps 0..4"), "{stdout}");
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "tokenizer.json",
        "checkpoint.json",
    ] {
        assert!(out.join("step-00000002").join(f).is_file(), "{f}");
        assert!(out.join("step-00000004").join(f).is_file(), "{f}");
    }
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4);
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for k in [
        "loss",
        "temperature",
        "lr",
        "samples_per_sec",
        "data_wait_ms",
        "forward_ms",
    ] {
        assert!(first[k].as_f64().is_some(), "log lacks {k}: {first}");
    }
    assert!((first["temperature"].as_f64().unwrap() - 0.07).abs() < 0.01);

    // Rerunning without --resume refuses; with it, a finished run does nothing more.
    let o = witcurate(&[
        "train",
        "--quiet",
        "--shards",
        s(&shards),
        "--out",
        s(&out),
        "--steps",
        "4",
        "--batch-size",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    let o = witcurate(&[
        "train",
        "--quiet",
        "--shards",
        s(&shards),
        "--out",
        s(&out),
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--resume",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("train: steps 4..4"));

    let images = dir.path().join("images");
    let classes = synthetic::image_folder::write_seeded(&images, 2, 32, 1).unwrap();
    let templates = dir.path().join("templates.txt");
    std::fs::write(&templates, "a photo of a {}.\n{} shape\n").unwrap();
    let json = dir.path().join("eval.json");
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&out),
        "--images",
        s(&images),
        "--classes",
        s(&classes),
        "--templates",
        s(&templates),
        "--shards",
        s(&shards),
        "--max-pairs",
        "50",
        "--json",
        s(&json),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("top-1"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["step"], 4);
    assert_eq!(v["zero_shot"]["classes"], 18);
    assert_eq!(v["zero_shot"]["images"], 36);
    assert_eq!(v["zero_shot"]["templates"], 2);
    assert_eq!(v["retrieval"]["pairs"], 50);
    let top1 = v["zero_shot"]["top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Not parquet.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("00000.parquet"), b"nope").unwrap();
    let o = witcurate(&[
        "train",
        "--quiet",
        "--shards",
        s(&bad),
        "--out",
        s(&dir.path().join("o")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("00000.parquet"), "{err}");
    // Unknown preset.
    let o = witcurate(&[
        "train",
        "--shards",
        s(&bad),
        "--out",
        s(&dir.path().join("o")),
        "--preset",
        "huge",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown preset"));
    // Eval of something that is not a checkpoint.
    let o = witcurate(&["eval", "--checkpoint", s(&bad), "--images", s(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("checkpoint"));
}
