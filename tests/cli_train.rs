//! End-to-end tests of `witcurate train` and `witcurate eval`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{s, tiny_train_args, witcurate};

/// What a run that may hang did: exit code (`None` when killed at the
/// deadline), stdout, the first MiB of stderr and its full length.
struct Bounded {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    stderr_bytes: usize,
}

/// Runs `witcurate args`, killing it after `limit`; stderr is drained as it
/// comes (so a flood cannot block the child) and only its first MiB kept.
fn witcurate_bounded(args: &[&str], limit: Duration) -> Bounded {
    let mut child = Command::new(env!("CARGO_BIN_EXE_witcurate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("witcurate starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let (mut kept, mut total, mut buf) = (Vec::new(), 0usize, [0u8; 65536]);
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
                if kept.len() < 1 << 20 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            (String::from_utf8_lossy(&kept).into_owned(), total)
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, _) = out.join().unwrap();
    let (stderr, stderr_bytes) = err.join().unwrap();
    Bounded {
        code,
        stdout,
        stderr,
        stderr_bytes,
    }
}

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
    let images = dir.path().join("images");
    let classes = synthetic::image_folder::write_seeded(&images, 2, 32, 1).unwrap();
    let templates = dir.path().join("templates.txt");
    std::fs::write(&templates, "a photo of a {}.\n{} shape\n").unwrap();
    let out = dir.path().join("run");
    let mut args = tiny_train_args(s(&shards), s(&out), "4", "16");
    args.extend_from_slice(&[
        "--checkpoint-every",
        "2",
        "--eval-every",
        "3",
        "--eval-images",
        s(&images),
        "--eval-classes",
        s(&classes),
        "--eval-templates",
        s(&templates),
    ]);
    let o = witcurate(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("train: steps 0..4"), "{stdout}");
    assert!(
        stdout.contains("train zero-shot after step 4: top-1"),
        "{stdout}"
    );
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
    // Zero-shot accuracy beside the loss after step 3 (--eval-every) and
    // after the last step, only there.
    let evaluated: Vec<u64> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            let (t1, t5) = (&v["zero_shot_top1"], &v["zero_shot_top5"]);
            assert_eq!(t1.is_null(), t5.is_null(), "{v}");
            t1.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x))
        })
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert_eq!(evaluated, [3, 4]);

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

    // The linear probe, twice: the second reads the cached features.
    let probe_train = dir.path().join("probe-train");
    let probe_test = dir.path().join("probe-test");
    synthetic::image_folder::write_seeded(&probe_train, 5, 32, 2).unwrap();
    synthetic::image_folder::write_seeded(&probe_test, 2, 32, 3).unwrap();
    let cache = dir.path().join("features");
    let probe = |json: &std::path::Path| {
        let o = witcurate(&[
            "eval",
            "--checkpoint",
            s(&out),
            "--probe-train",
            s(&probe_train),
            "--probe-test",
            s(&probe_test),
            "--feature-cache",
            s(&cache),
            "--json",
            s(json),
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("eval linear probe: 18 classes, 90 training and 36 test images"),
            "{stdout}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        v["linear_probe"].clone()
    };
    let first = probe(&dir.path().join("probe1.json"));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    let second = probe(&dir.path().join("probe2.json"));
    assert_eq!(first, second);
    assert!((0.0..=1.0).contains(&first["top1"].as_f64().unwrap()));
    assert!(first["sweep"].as_array().unwrap().len() > 13);

    // Retrieval with every caption of each image, from a Karpathy-split JSON.
    let mut entries = Vec::new();
    for class in std::fs::read_dir(&images).unwrap() {
        let class = class.unwrap().path();
        if !class.is_dir() {
            continue;
        }
        let name = class
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('_', " ");
        for f in std::fs::read_dir(&class).unwrap() {
            let f = f.unwrap().path();
            entries.push(serde_json::json!({
                "filepath": class.file_name().unwrap().to_string_lossy(),
                "filename": f.file_name().unwrap().to_string_lossy(),
                "split": "test",
                "sentences": [{"raw": format!("a {name}")}, {"raw": format!("a photo of a {name}")}],
            }));
        }
    }
    // An image that is missing and one that does not decode: named, counted,
    // left out with their captions.
    std::fs::write(images.join("broken.jpg"), b"not an image").unwrap();
    for name in ["broken.jpg", "missing.jpg"] {
        entries.push(serde_json::json!({
            "filename": name,
            "split": "test",
            "sentences": [{"raw": "a broken picture"}],
        }));
    }
    let karpathy = dir.path().join("dataset_shapes.json");
    std::fs::write(
        &karpathy,
        serde_json::json!({"images": entries, "dataset": "shapes"}).to_string(),
    )
    .unwrap();
    let json = dir.path().join("captioned.json");
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&out),
        "--retrieval-json",
        s(&karpathy),
        "--retrieval-images",
        s(&images),
        "--json",
        s(&json),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("eval captioned retrieval: 36 images, 72 captions"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("broken.jpg: cannot decode image")
            && stderr.contains("missing.jpg: cannot read image"),
        "{stderr}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &v["captioned_retrieval"];
    assert_eq!(r["unreadable_images"], 2);
    for key in ["image_to_text", "text_to_image"] {
        let at: Vec<f64> = r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(
            at[0] <= at[1] && at[1] <= at[2] && at[2] <= 1.0,
            "{key}: {at:?}"
        );
    }

    // All of it as one suite, one table.
    let suite = dir.path().join("suite.json");
    std::fs::write(
        &suite,
        serde_json::json!({"tasks": [
            {"name": "shapes", "kind": "zero_shot", "images": "images", "classes": s(&classes), "templates": "templates.txt"},
            {"name": "shapes probe", "kind": "linear_probe", "train": "probe-train", "test": "probe-test"},
            {"name": "shapes captions", "kind": "retrieval", "json": "dataset_shapes.json", "images": "images"},
            {"name": "held-out rows", "kind": "shard_retrieval", "shards": [s(&shards)], "max_pairs": 50},
        ]})
        .to_string(),
    )
    .unwrap();
    let suite_out = dir.path().join("suite-out");
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&out),
        "--suite",
        s(&suite),
        "--suite-out",
        s(&suite_out),
        "--feature-cache",
        s(&cache),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("eval suite: 4 tasks, average"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite_out.join("suite.json")).unwrap())
            .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let mean = rows
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .sum::<f64>()
        / 4.0;
    assert!((v["average"].as_f64().unwrap() - mean).abs() < 1e-12);
    // The suite's zero-shot row is the plain eval's result.
    assert_eq!(rows[0]["score"], v_top1(&dir.path().join("eval.json")));
    assert_eq!(rows[1]["report"], first);
    let md = std::fs::read_to_string(suite_out.join("suite.md")).unwrap();
    assert!(
        md.contains("| shapes probe | linear_probe | top-1 |") && md.contains("**average**"),
        "{md}"
    );
    assert!(suite_out.join("suite.html").is_file());

    // One NaN weight: an error, not a perfect score.
    let poisoned = dir.path().join("poisoned");
    std::fs::create_dir(&poisoned).unwrap();
    for e in std::fs::read_dir(out.join("step-00000004")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), poisoned.join(e.file_name())).unwrap();
    }
    set_first_weight_nan(&poisoned.join("model.safetensors"));
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&poisoned),
        "--images",
        s(&images),
        "--classes",
        s(&classes),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("non-finite"), "{err}");
    // A classes.tsv naming every folder alike is refused, naming the line.
    let same = dir.path().join("same.tsv");
    let folders: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let text: String = folders.iter().map(|f| format!("{f}\tshape\n")).collect();
    std::fs::write(&same, text).unwrap();
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&out),
        "--images",
        s(&images),
        "--classes",
        s(&same),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("same.tsv:2") && err.contains("already names"),
        "{err}"
    );
}

/// The zero-shot top-1 of an `eval --json` report.
fn v_top1(path: &std::path::Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["zero_shot"]["top1"].clone()
}

/// Overwrites the first value of the first f32 tensor of a safetensors file
/// with NaN (the format: a little-endian u64 header length, a JSON header of
/// dtypes and byte ranges, the data).
fn set_first_weight_nan(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| *k != "__metadata__" && v["dtype"] == "F32")
        .map(|(_, v)| v["data_offsets"][0].as_u64().unwrap() as usize)
        .min()
        .unwrap();
    let at = 8 + n + start;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
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

#[test]
fn undecodable_images_stop_the_run_with_little_output() {
    use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let batch = RecordBatch::try_from_iter(vec![
        (
            "caption",
            Arc::new(StringArray::from(vec!["a red circle on grey"; 20])) as ArrayRef,
        ),
        (
            "status",
            Arc::new(StringArray::from(vec!["success"; 20])) as ArrayRef,
        ),
        (
            "jpg",
            Arc::new(BinaryArray::from(vec![&b"not an image"[..]; 20])) as ArrayRef,
        ),
    ])
    .unwrap();
    common::write_parquet(&shards.join("00000.parquet"), batch);
    let r = witcurate_bounded(
        &[
            "train",
            "--quiet",
            "--shards",
            s(&shards),
            "--out",
            s(&dir.path().join("run")),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--context-length",
            "16",
            "--vocab-size",
            "280",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(r.code, Some(1), "killed at the deadline? {}", r.stderr);
    assert!(
        r.stderr.contains("1000 samples in a row could not be used"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("00000.parquet row group 0 row"),
        "{}",
        r.stderr
    );
    // Ten per-sample warnings, a note that the rest are only counted, the error.
    assert!(
        r.stderr_bytes < 4096,
        "{} bytes:\n{}",
        r.stderr_bytes,
        r.stderr
    );
    assert!(r.stderr.contains("counted but not shown"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn an_empty_shard_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-shards");
    std::fs::create_dir(&empty).unwrap();
    let o = witcurate(&[
        "train",
        "--quiet",
        "--shards",
        s(&empty),
        "--out",
        s(&dir.path().join("run")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}: no shard files", empty.display())),
        "{err}"
    );
}

/// Writes `shards` webdataset shards of `rows` rows each with the download
/// stage's writer (a tar of successes and a metadata parquet of every row;
/// row 5 of each shard is a failure).
fn webdataset_shards(dir: &Path, shards: usize, rows: usize) {
    use pipeline::download::reader::Sample;
    use pipeline::download::writer::{write_shard, OutputFormat, Row, ShardFiles};
    use synthetic::shapes::{alt_text, draw, rng_for, COLOURS, SHAPES};
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = rng_for(11, &[]);
    for shard in 0..shards {
        let files = ShardFiles::new(dir, &format!("{shard:05}"), OutputFormat::Webdataset);
        let mut i = 0;
        let next = || {
            let (c, sh) = ((shard + 5 * i) % COLOURS.len(), (shard + i) % SHAPES.len());
            let key = format!("{shard:05}{i:04}");
            i += 1;
            let sample = Sample {
                uid: key.clone(),
                url: Some(format!("http://example.com/{key}.jpg")),
                caption: Some(alt_text(&mut rng, c, sh)),
                ..Sample::default()
            };
            if i == 6 {
                return Some(Row {
                    key,
                    sample,
                    status: "failed_to_download".into(),
                    ..Row::default()
                });
            }
            let mut jpg = Vec::new();
            image::DynamicImage::ImageRgb8(draw(&mut rng, c, sh, 40, 32).image)
                .write_to(
                    &mut std::io::Cursor::new(&mut jpg),
                    image::ImageFormat::Jpeg,
                )
                .unwrap();
            Some(Row {
                key,
                sample,
                status: "success".into(),
                size: Some((40, 32)),
                jpg: Some(jpg),
                ..Row::default()
            })
        };
        write_shard(
            &files,
            OutputFormat::Webdataset,
            shard,
            rows,
            next,
            Instant::now(),
        )
        .unwrap();
    }
}

#[test]
fn trains_on_the_download_stages_webdataset_output() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    webdataset_shards(&shards, 2, 20);
    for f in ["00000.tar", "00000.parquet", "00001.tar", "00001.parquet"] {
        assert!(shards.join(f).is_file(), "{f}");
    }
    let out = dir.path().join("run");
    let o = witcurate(&tiny_train_args(s(&shards), s(&out), "3", "16"));
    let stdout = common::assert_success(&o);
    assert!(stdout.contains("train: steps 0..3"), "{stdout}");
    assert!(stdout.contains("0 undecodable samples"), "{stdout}");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("step-00000003/checkpoint.json")).unwrap(),
    )
    .unwrap();
    // Three steps of eight pairs, drawn from the 38 successes of the tars.
    assert_eq!(meta["samples_consumed"], 24);
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3);
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["loss"].as_f64().unwrap().is_finite());
    }
    // The training curves are drawn beside the log, one point per step;
    // `plot-train` redraws them anywhere.
    let svg = std::fs::read_to_string(out.join("train_curves.svg")).unwrap();
    assert_eq!(svg.matches("class=\"pt\"").count(), 3, "{svg}");
    let elsewhere = out.join("curves/again.svg");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let o = witcurate(&["plot-train", s(&out), "--out", s(&elsewhere)]);
    common::assert_success(&o);
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), svg);
    // The tars are selected by a brace pattern as open_clip users write it.
    let pattern = format!("{}/{{00000..00001}}.tar", shards.display());
    let o = witcurate(&[
        "eval",
        "--checkpoint",
        s(&out),
        "--shards",
        &pattern,
        "--max-pairs",
        "100",
    ]);
    let stdout = common::assert_success(&o);
    assert!(stdout.contains("eval retrieval: 38 pairs"), "{stdout}");
}

/// A binary without the `mpi` feature, started as one of several processes
/// by an MPI launcher, refuses to train the same run directory N times.
#[cfg(not(feature = "mpi"))]
#[test]
fn several_processes_need_the_mpi_feature() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::witcurate_env(
        &[
            "train",
            "--quiet",
            "--shards",
            s(&dir.path().join("shards")),
            "--out",
            s(&dir.path().join("run")),
        ],
        &[("OMPI_COMM_WORLD_SIZE", "2".into())],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("started as one of 2 processes") && err.contains("--features mpi"),
        "{err}"
    );
}

/// torchrun's environment, or an `srun` step without an MPI plugin, does not
/// make ranks: each process would train the same run directory alone, so
/// every one of them refuses, saying how to start ranks (with or without
/// the `mpi` feature: none of these launchers starts MPI).
#[test]
fn launchers_that_start_no_mpi_ranks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let out = dir.path().join("run");
    for (env, needle) in [
        (
            vec![("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1")],
            "torchrun",
        ),
        (
            vec![("SLURM_STEP_ID", "0"), ("SLURM_STEP_NUM_TASKS", "4")],
            "--mpi=pmix",
        ),
    ] {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let o = common::witcurate_env(&tiny_train_args(s(&shards), s(&out), "2", "8"), &env);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("started as one of") && err.contains(needle),
            "{err}"
        );
        assert!(!out.exists(), "nothing is written");
    }
    // One task of a batch script's allocation is one process.
    let o = common::witcurate_env(
        &tiny_train_args(s(&shards), s(&out), "2", "8"),
        &[("SLURM_NTASKS", "4".into()), ("SLURM_JOB_ID", "7".into())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
