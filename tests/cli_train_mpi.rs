//! `witcurate train` as an MPI job (`mpirun -n 2`): the same training as one
//! process with the whole batch, each rank reading the images it decodes
//! only (from disk and from S3), rank 0 alone writing the run directory, a
//! killed rank failing the job, and `--resume` with another number of ranks.
//!
//! Needs the `mpi` feature and Open MPI's `mpirun`, and moto's S3 server
//! from the venv (scripts/setup.sh installs both; scripts/test.sh runs these
//! tests).
#![cfg(feature = "mpi")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{assert_success, s};

fn synthetic_shards(dir: &Path) -> PathBuf {
    let shards = dir.join("shards");
    synthetic::shards::write_shards(
        &shards,
        &synthetic::shards::ShardOptions {
            shards: 2,
            rows_per_shard: 60,
            min_size: 24,
            max_size: 40,
            row_group_size: 16,
            seed: 5,
        },
    )
    .unwrap();
    shards
}

const STEPS: &str = "24";

/// The flags of every run: a tiny model, 24 steps at a learning rate that
/// moves it, a global batch of 8 pairs, 120 samples (so epochs end mid-batch).
fn train_args(shards: &Path, out: &Path, checkpoint_every: &str) -> Vec<String> {
    [
        "train",
        "--quiet",
        "--shards",
        s(shards),
        "--out",
        s(out),
        "--preset",
        "tiny",
        "--steps",
        STEPS,
        "--batch-size",
        "8",
        "--lr",
        "2e-3",
        "--warmup-steps",
        "3",
        "--context-length",
        "16",
        "--vocab-size",
        "300",
        "--checkpoint-every",
        checkpoint_every,
        "--shuffle-buffer",
        "16",
        "--workers",
        "1",
        "--prefetch",
        "2",
        "--compute-threads",
        "1",
        "--seed",
        "3",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// `witcurate ARGS` in one process, without a launcher.
fn one_process(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_witcurate"));
    c.args(args)
        .stdin(Stdio::null())
        .env("RAYON_NUM_THREADS", "1");
    c
}

/// `mpirun -n RANKS witcurate ARGS` (as root too; more ranks than cores).
fn mpirun(ranks: usize, args: &[String]) -> Command {
    let mut c = Command::new("mpirun");
    c.args([
        "--oversubscribe",
        "--bind-to",
        "none",
        "-n",
        &ranks.to_string(),
    ])
    .arg(env!("CARGO_BIN_EXE_witcurate"))
    .args(args)
    .stdin(Stdio::null())
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env("RAYON_NUM_THREADS", "1");
    c
}

fn output(mut c: Command) -> Output {
    c.output()
        .expect("the command starts (mpirun: install openmpi-bin, see scripts/setup.sh)")
}

/// The loss of every step in `train_log.jsonl`.
fn losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["loss"].as_f64().unwrap()
        })
        .collect()
}

/// The shard bytes and image bytes each rank read, from the `train data:`
/// line of a run's output.
fn bytes_read(stdout: &str) -> (Vec<u64>, Vec<u64>) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("train data: "))
        .unwrap_or_else(|| panic!("no `train data:` line in {stdout}"));
    let lists: Vec<Vec<u64>> = line
        .split('[')
        .skip(1)
        .map(|l| {
            l[..l.find(']').unwrap()]
                .split(", ")
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .collect();
    (lists[0].clone(), lists[1].clone())
}

/// Every f32 tensor of a safetensors file, by name.
fn tensors(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| *k != "__metadata__" && v["dtype"] == "F32")
        .map(|(k, v)| {
            let (a, b) = (
                v["data_offsets"][0].as_u64().unwrap() as usize,
                v["data_offsets"][1].as_u64().unwrap() as usize,
            );
            let vals = data[a..b]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (k.clone(), vals)
        })
        .collect()
}

fn final_weights(run: &Path) -> BTreeMap<String, Vec<f32>> {
    tensors(
        &run.join(format!("step-000000{STEPS}"))
            .join("model.safetensors"),
    )
}

/// The largest |a − b| over every weight, and how far the weights moved
/// from `init` (to show that the tolerance is small against the training).
fn max_diff(a: &BTreeMap<String, Vec<f32>>, b: &BTreeMap<String, Vec<f32>>) -> f32 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter()
        .flat_map(|(k, x)| x.iter().zip(&b[k]).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max)
}

/// The files and directories directly in a run directory.
fn entries(run: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts two runs trained alike: the same loss at every step and the same
/// final weights, within float rounding (the sums run in another order).
fn assert_same_training(a: &Path, b: &Path, what: &str) {
    let (la, lb) = (losses(a), losses(b));
    assert_eq!(la.len(), lb.len(), "{what}: steps logged");
    let worst = la
        .iter()
        .zip(&lb)
        .map(|(x, y)| (x - y).abs())
        .fold(0f64, f64::max);
    let d = max_diff(&final_weights(a), &final_weights(b));
    println!("{what}: losses differ by up to {worst:e}, final weights by up to {d:e}");
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        assert!(
            (x - y).abs() <= 2e-5 * x.abs().max(1.0),
            "{what}: loss of step {} differs: {x} vs {y}",
            i + 1
        );
    }
    assert!(d < 1e-4, "{what}: final weights differ by up to {d}");
}

#[test]
fn two_ranks_train_as_one_process_with_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let (one, two, again) = (
        dir.path().join("one"),
        dir.path().join("two"),
        dir.path().join("again"),
    );
    let one_out = assert_success(&output(one_process(&train_args(&shards, &one, "8"))));
    let o = output(mpirun(2, &train_args(&shards, &two, "8")));
    let stdout = assert_success(&o);
    // Rank 0 alone reports.
    assert_eq!(stdout.matches("train: steps 0..24").count(), 1, "{stdout}");
    // Each rank read the images it decoded only: about half of what one
    // process reads (every image of the row groups it streams).
    let (_, whole) = bytes_read(&one_out);
    let (all, images) = bytes_read(&stdout);
    println!(
        "shard bytes read: one process {whole:?} of images; ranks {all:?}, {images:?} of images"
    );
    assert_eq!(images.len(), 2);
    for (r, &b) in images.iter().enumerate() {
        let share = b as f64 / whole[0] as f64;
        assert!(
            (0.25..=0.6).contains(&share),
            "rank {r} read {b} image bytes of {whole:?}"
        );
    }

    let l = losses(&one);
    assert_eq!(l.len(), 24);
    // The run learns: the tolerance below is small against the change.
    let (first, last) = (l[0], l[l.len() - 1]);
    assert!(last < first - 0.1, "loss went from {first} to {last}");
    println!("losses of one process: {l:?}");
    assert_same_training(&one, &two, "1 rank × 8 vs 2 ranks × 4");
    let init = tensors(&one.join("step-00000008").join("model.safetensors"));
    assert!(max_diff(&init, &final_weights(&one)) > 1e-2);
    // The time in collectives is logged, for ranks only.
    let first = |run: &Path| -> serde_json::Value {
        let log = std::fs::read_to_string(run.join("train_log.jsonl")).unwrap();
        serde_json::from_str(log.lines().next().unwrap()).unwrap()
    };
    assert!(first(&two)["comm_ms"].as_f64().is_some());
    assert!(first(&one).get("comm_ms").is_none());
    assert!(stdout.contains(" ms, collectives "), "{stdout}");
    // Rank 0 alone wrote the run directory: the same files as one process.
    assert_eq!(entries(&one), entries(&two));

    // Determinism: the same job again gives the same bytes.
    assert_success(&output(mpirun(2, &train_args(&shards, &again, "8"))));
    assert_eq!(losses(&two), losses(&again));
    for f in ["model.safetensors", "optimizer.safetensors"] {
        let p = |r: &Path| r.join(format!("step-000000{STEPS}")).join(f);
        assert!(
            std::fs::read(p(&two)).unwrap() == std::fs::read(p(&again)).unwrap(),
            "{f} differs between two identical jobs"
        );
    }
}

/// The rank processes `mpirun` (`launcher`) started: its children with
/// `OMPI_COMM_WORLD_RANK` in their environment, by rank.
fn ranks_of(launcher: u32) -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid != launcher {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        for var in env.split(|b| *b == 0) {
            if let Some(r) = var.strip_prefix(b"OMPI_COMM_WORLD_RANK=") {
                out.insert(String::from_utf8_lossy(r).parse().unwrap(), pid);
            }
        }
    }
    out
}

/// Waits until `path` exists, or panics once `child` has ended without it.
fn wait_for(path: &Path, child: &mut Child) {
    while !path.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the job ended ({st}) before {} appeared", path.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_killed_rank_fails_the_job_and_resume_with_one_or_two_ranks_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    assert_success(&output(one_process(&train_args(&shards, &whole, "4"))));

    let mut job = mpirun(2, &train_args(&shards, &killed, "4"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mpirun starts (install openmpi-bin, see scripts/setup.sh)");
    wait_for(
        &killed.join("step-00000004").join("checkpoint.json"),
        &mut job,
    );
    let ranks = ranks_of(job.id());
    let Some(&victim) = ranks.get(&1) else {
        panic!("no rank 1 among mpirun's children: {ranks:?}")
    };
    Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    let st = job.wait().unwrap();
    assert!(!st.success(), "the job survived a killed rank");
    println!("the job ended with {st}; left {:?}", entries(&killed));
    // What the job left: complete checkpoints only, short of the end.
    let done: Vec<String> = entries(&killed)
        .into_iter()
        .filter(|e| e.starts_with("step-"))
        .collect();
    assert!(
        !done.is_empty() && !done.contains(&format!("step-000000{STEPS}")),
        "{done:?}"
    );
    for d in &done {
        for f in [
            "model.safetensors",
            "optimizer.safetensors",
            "tokenizer.json",
            "checkpoint.json",
        ] {
            assert!(killed.join(d).join(f).is_file(), "{d}/{f} missing");
        }
    }

    // Resumed by one process, and (from a copy) by two ranks: both reach
    // the uninterrupted run's weights.
    let copy = dir.path().join("killed-copy");
    let cp = Command::new("cp")
        .args(["-r", s(&killed), s(&copy)])
        .status()
        .unwrap();
    assert!(cp.success());
    let mut resume = train_args(&shards, &killed, "4");
    resume.push("--resume".into());
    assert_success(&output(one_process(&resume)));
    assert_same_training(&whole, &killed, "resumed by 1 process");
    let mut resume = train_args(&shards, &copy, "4");
    resume.push("--resume".into());
    assert_success(&output(mpirun(2, &resume)));
    assert_same_training(&whole, &copy, "resumed by 2 ranks");
}

#[test]
fn a_batch_that_does_not_split_over_the_ranks_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let mut args = train_args(&shards, &dir.path().join("run"), "8");
    let at = args.iter().position(|a| a == "--batch-size").unwrap();
    args[at + 1] = "9".into();
    let o = output(mpirun(2, &args));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--batch-size 9 (the global batch) does not split evenly over 2 ranks"),
        "{err}"
    );
}

#[test]
fn two_ranks_with_accumulation_train_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    // Steps of 2 micro-batches of 4 pairs: 2 per rank and micro-batch.
    let args = |out: &Path| {
        let mut a = train_args(&shards, out, "8");
        let at = a.iter().position(|x| x == "--batch-size").unwrap();
        a[at + 1] = "4".into();
        a.extend(["--accum-freq".to_string(), "2".to_string()]);
        a
    };
    assert_success(&output(one_process(&args(&one))));
    assert_success(&output(mpirun(2, &args(&two))));
    assert_same_training(&one, &two, "accumulation, 1 rank × 4 vs 2 ranks × 2");
}

#[test]
fn two_ranks_read_their_images_from_s3_and_train_as_from_disk() {
    use common::s3::S3Server;
    let server = S3Server::start();
    server.create_bucket("shards");
    let env = S3Server::env(&server.endpoint);
    // This process's store, to upload (the library reads the environment).
    for (k, v) in &env {
        std::env::set_var(k, v);
    }
    let dir = tempfile::tempdir().unwrap();
    let shards = synthetic_shards(dir.path());
    for e in std::fs::read_dir(&shards).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let url = Path::new("s3://shards/run/shards").join(&name);
        pipeline::storage::files::write(&url, &std::fs::read(&p).unwrap()).unwrap();
    }
    let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
    assert_success(&output(mpirun(2, &train_args(&shards, &local, "8"))));
    let mut job = mpirun(
        2,
        &train_args(Path::new("s3://shards/run/shards/"), &remote, "8"),
    );
    job.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let stdout = assert_success(&output(job));
    assert_same_training(&local, &remote, "2 ranks, shards on disk vs on S3");
    let (_, images) = bytes_read(&stdout);
    println!("image bytes read from S3 by rank: {images:?}");
    assert!(images.iter().all(|&b| b > 0), "{images:?}");
}
