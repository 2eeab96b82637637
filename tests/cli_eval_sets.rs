//! `witcurate eval` on labelled images in every form they come in: an
//! ImageFolder tree, a parquet table of image bytes (as Hugging Face
//! datasets store them), a CSV of paths and the bundled real digits, which
//! must all give the same zero-shot report; and the linear probe on the
//! bundled digits, scored well above chance.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, StructArray};

mod common;
use common::{assert_success, s, tiny_train_args, witcurate};

fn train_tiny(dir: &Path) -> std::path::PathBuf {
    let shards = dir.join("shards");
    synthetic::shards::write_shards(
        &shards,
        &synthetic::shards::ShardOptions {
            shards: 1,
            rows_per_shard: 40,
            min_size: 24,
            max_size: 40,
            row_group_size: 20,
            seed: 11,
        },
    )
    .unwrap();
    let out = dir.join("run");
    assert_success(&witcurate(&tiny_train_args(s(&shards), s(&out), "3", "16")));
    out
}

/// The bundled digits' test split written out as an ImageFolder tree, a
/// parquet table with a `{bytes, path}` image column and a CSV of paths.
fn write_digits(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let set = trainer::labelled::LabelledImages::open(
        Path::new("bundled:digits/test"),
        &Default::default(),
        None,
    )
    .unwrap();
    let folder = dir.join("digits");
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut csv = String::from("file,digit\n");
    set.for_each_chunk(64, |chunk| {
        for img in chunk {
            let class = set.class_ids()[img.label].clone();
            let name = format!("{:04}.png", images.len());
            std::fs::create_dir_all(folder.join(&class)).unwrap();
            std::fs::write(folder.join(&class).join(&name), &img.bytes).unwrap();
            csv.push_str(&format!("digits/{class}/{name},{class}\n"));
            labels.push(img.label as i64);
            images.push(img.bytes);
        }
        Ok(())
    })
    .unwrap();
    let csv_path = dir.join("digits.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let bytes = BinaryArray::from(
        images
            .iter()
            .map(|b| Some(b.as_slice()))
            .collect::<Vec<_>>(),
    );
    let paths = StringArray::from(vec![None::<&str>; images.len()]);
    let image = StructArray::from(vec![
        (
            Arc::new(arrow_schema::Field::new(
                "bytes",
                arrow_schema::DataType::Binary,
                true,
            )),
            Arc::new(bytes) as ArrayRef,
        ),
        (
            Arc::new(arrow_schema::Field::new(
                "path",
                arrow_schema::DataType::Utf8,
                true,
            )),
            Arc::new(paths) as ArrayRef,
        ),
    ]);
    let batch = RecordBatch::try_from_iter(vec![
        ("image", Arc::new(image) as ArrayRef),
        ("label", Arc::new(Int64Array::from(labels)) as ArrayRef),
    ])
    .unwrap();
    let table = dir.join("test-00000-of-00001.parquet");
    common::write_parquet(&table, batch);
    (folder, table, csv_path)
}

fn zero_shot(checkpoint: &Path, images: &str, extra: &[&str], json: &Path) -> serde_json::Value {
    let mut args = vec![
        "eval",
        "--checkpoint",
        s(checkpoint),
        "--images",
        images,
        "--dataset",
        "mnist",
        "--json",
        s(json),
    ];
    args.extend_from_slice(extra);
    let out = assert_success(&witcurate(&args));
    assert!(out.contains("599 images"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    v["zero_shot"].clone()
}

#[test]
fn folders_tables_and_the_bundled_digits_give_the_same_zero_shot_report() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = train_tiny(dir.path());
    let (folder, table, csv) = write_digits(dir.path());
    let json = dir.path().join("eval.json");
    let want = zero_shot(&checkpoint, s(&folder), &[], &json);
    assert_eq!(want["classes"], 10);
    assert_eq!(want["per_class"][3]["name"], "3");
    assert_eq!(want["per_class"][3]["images"], 61);
    for (images, extra) in [
        (s(&table), &[][..]),
        ("bundled:digits/test", &[][..]),
        (
            s(&csv),
            &["--image-col", "file", "--label-col", "digit"][..],
        ),
    ] {
        let got = zero_shot(&checkpoint, images, extra, &json);
        assert_eq!(got, want, "{images}");
    }

    // A CSV without the columns it is told to use is named in the error.
    let out = witcurate(&[
        "eval",
        "--checkpoint",
        s(&checkpoint),
        "--images",
        s(&csv),
        "--image-col",
        "picture",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("digits.csv") && err.contains("no image column \"picture\""),
        "{err}"
    );
}

#[test]
fn the_linear_probe_on_the_bundled_digits_is_far_above_chance() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = train_tiny(dir.path());
    let json = dir.path().join("probe.json");
    let out = assert_success(&witcurate(&[
        "eval",
        "--checkpoint",
        s(&checkpoint),
        "--probe-train",
        "bundled:digits/train",
        "--probe-test",
        "bundled:digits/test",
        "--json",
        s(&json),
    ]));
    assert!(
        out.contains("10 classes, 1198 training and 599 test images"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let top1 = v["linear_probe"]["top1"].as_f64().unwrap();
    // Chance is 10 %; labels out of step with the images would give that.
    assert!(top1 > 0.5, "top-1 {top1}");
}

#[test]
fn a_suite_on_the_bundled_digits_goes_into_the_dataset_report() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = train_tiny(dir.path());
    let suite = dir.path().join("suite.json");
    std::fs::write(
        &suite,
        serde_json::json!({"tasks": [
            {"name": "digits", "kind": "zero_shot", "images": "bundled:digits/test", "dataset": "mnist"},
            {"name": "digits probe", "kind": "linear_probe", "train": "bundled:digits/train", "test": "bundled:digits/test"},
        ]})
        .to_string(),
    )
    .unwrap();
    let suite_out = dir.path().join("suite-out");
    let out = assert_success(&witcurate(&[
        "eval",
        "--checkpoint",
        s(&checkpoint),
        "--suite",
        s(&suite),
        "--suite-out",
        s(&suite_out),
    ]));
    assert!(out.contains("eval suite: 2 tasks, average"), "{out}");

    // The training shards are the run's `shards/`: the report of that data
    // shows the model's scores.
    assert_success(&witcurate(&[
        "--quiet",
        "stats",
        s(dir.path()),
        "--eval-suite",
        s(&suite_out),
    ]));
    let stats: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("stats/stats.json")).unwrap(),
    )
    .unwrap();
    let suite_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite_out.join("suite.json")).unwrap())
            .unwrap();
    let e = &stats["evaluations"][0];
    assert_eq!(e["average"], suite_json["average"]);
    assert_eq!(e["rows"][1]["name"], "digits probe");
    assert_eq!(e["rows"][1]["score"], suite_json["rows"][1]["score"]);
    let md = std::fs::read_to_string(dir.path().join("stats/report.md")).unwrap();
    assert!(md.contains("## Models trained on this data"), "{md}");
    assert!(
        md.contains("| digits probe | linear_probe | top-1 |"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("stats/report.html")).unwrap();
    assert!(html.contains("<section id=\"evaluations\">"));

    // A file that is not a suite is named before any scanning.
    let bad = dir.path().join("not-a-suite.json");
    std::fs::write(&bad, "[]").unwrap();
    let o = witcurate(&["--quiet", "stats", s(dir.path()), "--eval-suite", s(&bad)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not-a-suite.json"), "{err}");
}
