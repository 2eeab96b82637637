//! Helpers shared by the CLI tests: running the `witcurate` binary, checking
//! that it succeeded, and reading and writing parquet files.

// Each test crate uses a subset of these.
#![allow(dead_code)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub mod s3;
pub mod shards;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

/// Runs the `witcurate` binary with `args` (stdin closed) and returns its
/// exit status and output.
pub fn witcurate(args: &[&str]) -> Output {
    command(args).output().expect("witcurate runs")
}

/// As [`witcurate`], in the working directory `dir`.
pub fn witcurate_in(dir: &Path, args: &[&str]) -> Output {
    command(args)
        .current_dir(dir)
        .output()
        .expect("witcurate runs")
}

/// As [`witcurate`], with extra environment variables.
pub fn witcurate_env(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("witcurate runs")
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_witcurate"));
    c.args(args).stdin(Stdio::null());
    c
}

/// Panics with the exit status, stdout and stderr unless `out` is a success;
/// returns stdout.
pub fn assert_success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "witcurate failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lines of a bundled UDHR translation (`tests/data/udhr/LANG.txt`, real
/// text: one paragraph per line).
pub fn udhr(lang: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/udhr/{lang}.txt"));
    std::fs::read_to_string(path)
        .expect("bundled UDHR text")
        .lines()
        .map(String::from)
        .collect()
}

/// A test path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `witcurate train` with the `tiny` preset at test size (batch 8, context
/// 16, a 300-token vocabulary, no output but errors): `steps` steps with a
/// shuffle buffer of `shuffle` samples, on `shards` into `out`. Append
/// further flags to the returned arguments.
pub fn tiny_train_args<'a>(
    shards: &'a str,
    out: &'a str,
    steps: &'a str,
    shuffle: &'a str,
) -> Vec<&'a str> {
    vec![
        "train",
        "--quiet",
        "--shards",
        shards,
        "--out",
        out,
        "--preset",
        "tiny",
        "--steps",
        steps,
        "--batch-size",
        "8",
        "--context-length",
        "16",
        "--vocab-size",
        "300",
        "--shuffle-buffer",
        shuffle,
    ]
}

/// Every row batch of a parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("parquet file opens"))
        .expect("parquet footer reads")
        .build()
        .expect("parquet reader builds")
        .map(|b| b.expect("row batch decodes"))
        .collect()
}

/// Writes `batch` as a parquet file (default writer properties), creating
/// its directory.
pub fn write_parquet(path: &Path, batch: impl std::borrow::Borrow<RecordBatch>) {
    let batch = batch.borrow();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("directory creates");
    }
    let mut w = ArrowWriter::try_new(
        File::create(path).expect("file creates"),
        batch.schema(),
        None,
    )
    .expect("parquet writer");
    w.write(batch).expect("batch writes");
    w.close().expect("parquet closes");
}

/// Declares hand-made outputs of `stage` in `run` complete, as the stage
/// runner does when the stage ends (`_stages/STAGE/complete.json`), so that
/// the next stage accepts a fixture written by the test.
pub fn complete_stage(run: &Path, stage: &str) {
    let dir = run.join("_stages").join(stage);
    std::fs::create_dir_all(&dir).expect("stage directory creates");
    let record = format!(
        "{{\"stage\": \"{stage}\", \"generation\": \"fixture-{}\", \"tasks\": 0}}",
        std::process::id()
    );
    std::fs::write(dir.join("complete.json"), record).expect("completion record writes");
}
