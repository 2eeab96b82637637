//! The stage runner seen from the command line: a stage never trusts
//! unfinished upstream output, a rerun redoes what depends on changed
//! upstream output, reruns with other parameters are refused (atomically,
//! even when two processes race) unless `--force` starts over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;

mod common;
use common::{assert_success, read_parquet, s, witcurate};

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/commoncrawl")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn warc() -> String {
    sample("CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc")
}

fn wat() -> String {
    sample("CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat")
}

fn vocab(dir: &Path, entries: &str) -> PathBuf {
    let v = dir.join(format!("vocab-{}", entries.len()));
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("queries.txt"), entries).unwrap();
    v
}

const ENTRIES: &str = "photo\nNo\nthe\nlogo\nNews\n1\n2\n3\nImage\nHome\n";

fn extract(run: &Path, extra: &[&str]) -> std::process::Output {
    let (warc, wat) = (warc(), wat());
    let mut args = vec![
        "--quiet",
        "crawl",
        "extract",
        "--out",
        s(run),
        "--input",
        &warc,
        &wat,
        "--partitions",
        "3",
    ];
    args.extend_from_slice(extra);
    witcurate(&args)
}

fn match_(run: &Path, vocab: &Path) -> std::process::Output {
    witcurate(&[
        "--quiet",
        "crawl",
        "match",
        "--out",
        s(run),
        "--vocab",
        s(vocab),
    ])
}

/// (entry id → count) of `counts.parquet`.
fn counts(run: &Path) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for b in read_parquet(&run.join("counts.parquet")) {
        let ids = b.column(0).as_primitive::<arrow_array::types::UInt32Type>();
        let c = b.column(1).as_primitive::<arrow_array::types::UInt64Type>();
        for i in 0..b.num_rows() {
            out.insert(ids.value(i), c.value(i));
        }
    }
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn match_refuses_an_unfinished_extract_and_redoes_its_reduce_when_extract_changes() {
    let dir = tempfile::tempdir().unwrap();
    let v = vocab(dir.path(), ENTRIES);

    // The reference: extract and match run to the end.
    let reference = dir.path().join("reference");
    assert_success(&extract(&reference, &[]));
    assert_success(&match_(&reference, &v));
    let expected = counts(&reference);
    assert!(expected.values().sum::<u64>() > 0);

    // Extract "killed midway": one of its two map tasks done, no reduce.
    let run = dir.path().join("run");
    assert_success(&extract(
        &run,
        &["--task-index", "0", "--task-count", "2", "--phase", "tasks"],
    ));
    let out = match_(&run, &v);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the extract stage has not completed")
            && err.contains("1 of its tasks have finished")
            && err.contains("crawl extract"),
        "{err}"
    );
    assert!(!run.join("counts.parquet").exists());
    assert!(!run.join("matched").exists());

    // Extract finishes: match now sees every partition.
    assert_success(&extract(&run, &[]));
    assert_success(&match_(&run, &v));
    assert_eq!(counts(&run), expected);

    // Extract started over with other options: the next match redoes its
    // tasks and its reduce instead of keeping counts of the old pairs.
    assert_success(&extract(&run, &["--min-text-len", "12", "--force"]));
    let out = assert_success(&match_(&run, &v));
    assert!(out.contains("3 of 3 tasks run (0 already done)"), "{out}");
    let longer = dir.path().join("longer");
    assert_success(&extract(&longer, &["--min-text-len", "12"]));
    assert_success(&match_(&longer, &v));
    assert_eq!(counts(&run), counts(&longer));
    assert_ne!(counts(&run), expected);
}

/// Every `uid` of the shards of `run`, with its number of rows.
fn shard_uids(run: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(run.join("shards")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let uids = b.column_by_name("uid").unwrap().as_string::<i32>().clone();
                for i in 0..b.num_rows() {
                    *out.entry(uids.value(i).to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

fn selected_uids(run: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(run.join("selected")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let uids = b.column_by_name("uid").unwrap().as_string::<i32>().clone();
                for i in 0..b.num_rows() {
                    *out.entry(uids.value(i).to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

fn download(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--quiet",
        "crawl",
        "download",
        "--out",
        s(run),
        "--allow-private-addresses",
        "--timeout",
        "2",
        "--retries",
        "0",
    ];
    args.extend_from_slice(extra);
    witcurate(&args)
}

#[test]
fn download_refuses_a_partial_balance_and_a_rerun_with_other_image_options() {
    let dir = tempfile::tempdir().unwrap();
    let v = vocab(dir.path(), ENTRIES);
    let run = dir.path().join("run");
    // A url+caption table whose images are on a closed local port: every
    // sample becomes a failure row, which shards record like images.
    let table = dir.path().join("links.csv");
    let mut csv = String::from("url,caption\n");
    for i in 0..60 {
        csv.push_str(&format!(
            "http://127.0.0.1:9/{i}.jpg,the photo {i} of a logo\n"
        ));
    }
    std::fs::write(&table, csv).unwrap();
    assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "extract",
        "--out",
        s(&run),
        "--input",
        s(&table),
        "--partitions",
        "3",
    ]));
    assert_success(&match_(&run, &v));
    let balance = |index: &str| {
        witcurate(&[
            "--quiet",
            "crawl",
            "balance",
            "--out",
            s(&run),
            "--t",
            "20",
            "--task-index",
            index,
            "--task-count",
            "2",
        ])
    };
    // One of two balance slices: download must not start.
    assert_success(&balance("0"));
    let small = ["--image-size", "64", "--shard-size", "4"];
    let out = download(&run, &small);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the balance stage has not completed") && err.contains("crawl balance"),
        "{err}"
    );
    assert!(!run.join("shards").exists());

    // Both slices: every selected sample is downloaded exactly once.
    assert_success(&balance("1"));
    let out = assert_success(&download(&run, &small));
    assert!(
        out.contains("0 already done") || out.contains("shards written"),
        "{out}"
    );
    let selected = selected_uids(&run);
    assert!(selected.len() > 8, "{}", selected.len());
    assert_eq!(shard_uids(&run), selected);

    // Other image options on the same run are refused, naming each value.
    let out = download(&run, &["--image-size", "128", "--shard-size", "10"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("image.image_size: 64 then, 128 now")
            && err.contains("shard_size: 4 then, 10 now")
            && err.contains("--force"),
        "{err}"
    );
    // --force starts the download over with them.
    let out = assert_success(&download(
        &run,
        &["--image-size", "128", "--shard-size", "10", "--force"],
    ));
    assert!(out.contains("0 skipped"), "{out}");
    assert_eq!(shard_uids(&run), selected);
    let shards: Vec<_> = std::fs::read_dir(run.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(shards.len(), selected.len().div_ceil(10), "{shards:?}");

    // Balance started over with a smaller t: the next download redoes every
    // shard, and shards beyond the smaller selection are gone.
    assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "balance",
        "--out",
        s(&run),
        "--t",
        "3",
        "--force",
    ]));
    let fewer = selected_uids(&run);
    assert!(fewer.len() < selected.len() && !fewer.is_empty());
    let out = assert_success(&download(
        &run,
        &["--image-size", "128", "--shard-size", "10"],
    ));
    assert!(out.contains("0 skipped"), "{out}");
    assert_eq!(shard_uids(&run), fewer);
}

#[test]
fn concurrent_matches_with_different_vocabularies_cannot_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_success(&extract(&run, &[]));
    let a = vocab(dir.path(), ENTRIES);
    let b = vocab(dir.path(), "photo\nthe\n");
    for round in 0..3 {
        if round > 0 {
            for d in ["_stages/match", "matched", "counts"] {
                let _ = std::fs::remove_dir_all(run.join(d));
            }
            let _ = std::fs::remove_file(run.join("counts.parquet"));
            let _ = std::fs::remove_file(run.join("match.json"));
        }
        let spawn = |v: &Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_witcurate"))
                .args([
                    "--quiet",
                    "crawl",
                    "match",
                    "--out",
                    s(&run),
                    "--vocab",
                    s(v),
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        let ok: Vec<bool> = [&oa, &ob].iter().map(|o| o.status.success()).collect();
        assert_eq!(
            ok.iter().filter(|&&x| x).count(),
            1,
            "round {round}: {ok:?}"
        );
        let loser = if ok[0] { &ob } else { &oa };
        assert!(
            stderr(loser).contains("vocab_fingerprint"),
            "{}",
            stderr(loser)
        );
        // What is on disk is the winner's alone.
        let winner_entries = if ok[0] { 10 } else { 2 };
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("match.json")).unwrap()).unwrap();
        assert_eq!(summary["vocab_entries"], winner_entries);
        let max_id = counts(&run).keys().max().copied().unwrap_or(0);
        assert!(
            max_id < winner_entries,
            "entry {max_id} of the other vocabulary"
        );
    }
}

#[test]
fn plan_records_the_stage_and_run_task_runs_it_from_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = assert_success(&extract(&run, &["--executor", "plan"]));
    assert!(out.contains("crawl run-task --stage extract"), "{out}");
    assert!(run.join("_stages/extract/job.json").exists());
    assert!(
        !run.join("pairs/part-00000.parquet").exists(),
        "plan ran a task"
    );
    // Two workers, then the reduce, as another scheduler would run them.
    for i in ["0", "1"] {
        assert_success(&witcurate(&[
            "crawl",
            "run-task",
            "--stage",
            "extract",
            "--out",
            s(&run),
            "--phase",
            "tasks",
            "--task-index",
            i,
            "--task-count",
            "2",
        ]));
    }
    assert!(!run.join("_stages/extract/complete.json").exists());
    assert_success(&witcurate(&[
        "crawl",
        "run-task",
        "--stage",
        "extract",
        "--out",
        s(&run),
        "--phase",
        "reduce",
    ]));
    assert!(run.join("_stages/extract/complete.json").exists());
    let reference = dir.path().join("reference");
    assert_success(&extract(&reference, &[]));
    for p in 0..3 {
        let name = format!("pairs/part-{p:05}.parquet");
        assert_eq!(
            std::fs::read(run.join(&name)).unwrap(),
            std::fs::read(reference.join(&name)).unwrap(),
            "{name}"
        );
    }
    // A stage never started in the run directory cannot be run from it.
    let out = witcurate(&["crawl", "run-task", "--stage", "match", "--out", s(&run)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("never started"), "{}", stderr(&out));
}

#[test]
fn temporaries_of_killed_reduces_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let v = vocab(dir.path(), ENTRIES);
    let run = dir.path().join("run");
    assert_success(&extract(&run, &[]));
    assert_success(&match_(&run, &v));
    // What a reduce killed mid-write leaves: a temporary of a partition
    // record, and one of `counts.parquet` at the top of the run directory
    // (from another machine, an hour old: stale by any rule).
    let left = [
        run.join("_stages/extract/partitions/.part-00001.json.tmp-otherhost-7"),
        run.join(".counts.parquet.tmp-otherhost-7"),
    ];
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for p in &left {
        std::fs::write(p, b"half").unwrap();
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    // A fresh file of another process is left alone.
    let live = run.join(".balance.json.tmp-otherhost-8");
    std::fs::write(&live, b"being written").unwrap();
    assert_success(&extract(&run, &[]));
    assert_success(&match_(&run, &v));
    for p in &left {
        assert!(!p.exists(), "{} is left", p.display());
    }
    assert!(live.exists());
}
