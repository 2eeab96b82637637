//! `--resume` continues a stopped run bit for bit.

mod common;

use trainer::checkpoint::{self, MODEL_FILE, OPTIMIZER_FILE};
use trainer::{Precision, TrainConfig};

#[test]
fn stopped_and_resumed_run_equals_uninterrupted_run() {
    resumes_bit_for_bit(8, 1, Precision::F32);
}

#[test]
fn accumulated_run_resumes_bit_for_bit() {
    resumes_bit_for_bit(4, 2, Precision::F32);
}

#[test]
fn bf16_run_resumes_bit_for_bit_with_f32_weights() {
    let dir = resumes_bit_for_bit(8, 1, Precision::Bf16);
    // The master weights and the optimizer's state stay f32.
    let ca = checkpoint::latest(&dir.path().join("a")).unwrap().unwrap();
    let w = candle_core::safetensors::load(ca.join(MODEL_FILE), &candle_core::Device::Cpu).unwrap();
    assert!(w.values().all(|t| t.dtype() == candle_core::DType::F32));
    let loss = |p: &std::path::Path| checkpoint::read_meta(p).unwrap().loss.unwrap();
    assert!(loss(&ca).is_finite());
}

fn resumes_bit_for_bit(
    batch_size: usize,
    accum_freq: usize,
    precision: Precision,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 60, 1);
    let cfg = TrainConfig {
        steps: 6,
        batch_size,
        accum_freq,
        warmup_steps: 2,
        checkpoint_every: 3,
        shuffle_buffer: 32,
        seed: 9,
        ..TrainConfig::default()
    };
    // The shuffle buffer and small shards make the run cross an epoch.
    let a = dir.path().join("a");
    let mut o = common::options(&shards, &a, cfg.clone());
    o.precision = precision;
    let full = trainer::train::train(&o).unwrap();
    assert_eq!(full.end_step, 6);

    let b = dir.path().join("b");
    let mut o = common::options(&shards, &b, cfg.clone());
    o.precision = precision;
    o.stop_at = Some(3);
    let first = trainer::train::train(&o).unwrap();
    assert_eq!(first.end_step, 3);
    // A second start without --resume refuses to overwrite the run.
    let err = trainer::train::train(&o).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    o.stop_at = None;
    o.resume = true;
    o.workers = 1; // thread count must not matter
    let second = trainer::train::train(&o).unwrap();
    assert_eq!((second.start_step, second.end_step), (3, 6));

    let ca = checkpoint::latest(&a).unwrap().unwrap();
    let cb = checkpoint::latest(&b).unwrap().unwrap();
    assert!(ca.ends_with("step-00000006") && cb.ends_with("step-00000006"));
    for f in [MODEL_FILE, OPTIMIZER_FILE] {
        let x = std::fs::read(ca.join(f)).unwrap();
        let y = std::fs::read(cb.join(f)).unwrap();
        assert!(
            x == y,
            "{f} differs between the uninterrupted and the resumed run"
        );
    }
    // The weights moved from their initial values.
    let ma = checkpoint::read_meta(&ca).unwrap();
    assert_eq!(ma.step, 6);
    assert_eq!(ma.train.accum_freq, accum_freq);
    assert!(ma.samples_consumed >= 48);
    // The log has one line per step, without duplicates from the resume.
    let log = std::fs::read_to_string(b.join("train_log.jsonl")).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<trainer::train::StepLog>(l)
                .unwrap()
                .step
        })
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6]);
    dir
}
