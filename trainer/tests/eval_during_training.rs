//! Zero-shot evaluation during training: logged beside the loss, and
//! without effect on the weights.

mod common;

use trainer::checkpoint::MODEL_FILE;
use trainer::eval::ZeroShotTask;
use trainer::train::{EvalDuringTraining, StepLog};
use trainer::TrainConfig;

#[test]
fn evaluations_are_logged_and_change_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 1, 40, 4);
    let images = dir.path().join("held_out");
    let classes = synthetic::image_folder::write_seeded(&images, 1, 32, 2).unwrap();
    let cfg = TrainConfig {
        steps: 3,
        batch_size: 8,
        warmup_steps: 1,
        checkpoint_every: 10,
        shuffle_buffer: 16,
        ..TrainConfig::default()
    };
    let plain = dir.path().join("plain");
    trainer::train::train(&common::options(&shards, &plain, cfg.clone())).unwrap();
    let with = dir.path().join("with");
    let mut o = common::options(&shards, &with, cfg);
    o.eval = Some(EvalDuringTraining {
        every: 2,
        task: ZeroShotTask::load(&images, Some(&classes), None, None).unwrap(),
        batch_size: 16,
    });
    let s = trainer::train::train(&o).unwrap();
    let z = s.zero_shot.unwrap();
    assert_eq!((z.classes, z.images), (18, 18));

    let log: Vec<StepLog> = std::fs::read_to_string(with.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let evaluated: Vec<(u64, bool)> = log
        .iter()
        .map(|l| {
            (
                l.step,
                l.zero_shot_top1.is_some() && l.zero_shot_top5.is_some(),
            )
        })
        .collect();
    assert_eq!(evaluated, [(1, false), (2, true), (3, true)]);
    assert_eq!(log[2].zero_shot_top1, Some(z.top1));

    let weights =
        |run: &std::path::Path| std::fs::read(run.join("step-00000003").join(MODEL_FILE)).unwrap();
    assert!(
        weights(&plain) == weights(&with),
        "evaluations changed the weights"
    );
}
