//! `--resume` continues a stopped run bit for bit.

mod common;

use trainer::checkpoint::{self, MODEL_FILE, OPTIMIZER_FILE};
use trainer::TrainConfig;

#[test]
fn stopped_and_resumed_run_equals_uninterrupted_run() {
    resumes_bit_for_bit(8, 1);
}

#[test]
fn accumulated_run_resumes_bit_for_bit() {
    resumes_bit_for_bit(4, 2);
}

fn resumes_bit_for_bit(batch_size: usize, accum_freq: usize) {
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
    let full = trainer::train::train(&common::options(&shards, &a, cfg.clone())).unwrap();
    assert_eq!(full.end_step, 6);

    let b = dir.path().join("b");
    let mut o = common::options(&shards, &b, cfg.clone());
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
}
