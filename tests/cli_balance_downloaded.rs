//! Balancing after download, as MetaCLIP recommends: `crawl dedup` leaves
//! the pool (kept, matched images, one alt-text each), `crawl balance --pool
//! downloaded` caps the entries on it, and `train --select` reads only what
//! was kept.

use std::collections::BTreeSet;
use std::path::Path;

use arrow_array::cast::AsArray;

mod common;
use common::shards::ShardRow;
use common::{assert_success, read_parquet, s, witcurate};

/// One shard row: key, perceptual hash (`None`: a failed download), entry ids.
type Row = (&'static str, Option<u64>, &'static [u32]);

fn write_shard(run: &Path, shard: usize, rows: &[Row]) {
    let rows: Vec<ShardRow> = rows
        .iter()
        .map(|r| ShardRow {
            key: r.0,
            sha: r.1.map(|h| format!("sha-{h:x}")),
            phash: r.1,
            ids: Some(r.2),
        })
        .collect();
    common::shards::write_shard(run, shard, &rows);
}

const A: u64 = 0x0123_4567_89ab_cdef;
const B: u64 = 0xfedc_ba98_7654_3210;
const C: u64 = 0x0f0f_0f0f_f0f0_f0f0;
const D: u64 = 0x5555_aaaa_3333_cccc;
const E: u64 = 0x3c3c_a5a5_9696_6969;
const F: u64 = 0x9999_0000_ffff_1234;

/// Entry 0 is common, entry 1 rare. `k4` is a near duplicate of `k0`, `k3`
/// matches nothing, `k102` failed.
fn fixture(run: &Path) {
    write_shard(
        run,
        0,
        &[
            ("k0", Some(A), &[0]),
            ("k1", Some(B), &[0]),
            ("k2", Some(C), &[0, 1]),
            ("k3", Some(D), &[]),
            ("k4", Some(A ^ 1), &[0]),
        ],
    );
    write_shard(
        run,
        1,
        &[
            ("k100", Some(E), &[0]),
            ("k101", Some(F), &[1]),
            ("k102", None, &[1]),
        ],
    );
    common::complete_stage(run, "download");
}

fn crawl(run: &Path, args: &[&str]) -> String {
    let mut all = vec!["--quiet", "crawl"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", s(run)]);
    assert_success(&witcurate(&all))
}

fn keys_of(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let k = b.column_by_name("key").unwrap().as_string::<i32>();
                out.extend(k.iter().flatten().map(String::from));
            }
        }
    }
    out
}

fn files(run: &Path, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(run.join(n)).unwrap())
        .collect()
}

#[test]
fn the_pool_is_the_kept_matched_images_and_balancing_caps_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fixture(&run);

    // Balancing the pool before dedup has run is refused.
    let out = witcurate(&["crawl", "balance", "--pool", "downloaded", "--out", s(&run)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dedup"), "{err}");

    crawl(&run, &["dedup", "--max-distance", "2"]);
    assert_eq!(
        keys_of(&run.join("pool")),
        ["k0", "k1", "k2", "k100", "k101"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let pool_counts = pipeline::counts::read_counts(&run.join("pool_counts.parquet")).unwrap();
    assert_eq!(pool_counts, vec![4, 2]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("_stages/dedup/reduce.json")).unwrap())
            .unwrap();
    assert_eq!(record["counters"]["pool_images"], 5);
    assert_eq!(record["counters"]["skip_no_entry"], 1);

    // Hard cap at t = 2: entry 0 (4 images) keeps 2, the pair with the rare
    // entry first; entry 1 (2 images) keeps both.
    let out = crawl(
        &run,
        &[
            "balance",
            "--pool",
            "downloaded",
            "--t",
            "2",
            "--cap",
            "hard",
        ],
    );
    assert!(
        out.contains("balance_downloaded: t = 2, hard cap") && out.contains("5 images in, 3 kept"),
        "{out}"
    );
    let kept = keys_of(&run.join("balanced"));
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.contains("k2") && kept.contains("k101"), "{kept:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("balanced.json")).unwrap()).unwrap();
    assert_eq!(summary["max_count_after"], 2);
    assert_eq!(summary["entries_capped"], 1);
    // The tail share is measured on the pool: entry 1 (2 of 6 matches) is
    // below t = 3.
    crawl(
        &run,
        &[
            "balance",
            "--pool",
            "downloaded",
            "--tail-share",
            "0.3",
            "--force",
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("balanced.json")).unwrap()).unwrap();
    assert_eq!(summary["t"], 3, "{summary}");

    // The same bytes when the tasks run as two slices and a reduce.
    let sliced = dir.path().join("sliced");
    fixture(&sliced);
    crawl(&sliced, &["dedup", "--max-distance", "2"]);
    for i in ["0", "1"] {
        crawl(
            &sliced,
            &[
                "balance",
                "--pool",
                "downloaded",
                "--tail-share",
                "0.3",
                "--phase",
                "tasks",
                "--task-index",
                i,
                "--task-count",
                "2",
            ],
        );
    }
    crawl(
        &sliced,
        &[
            "balance",
            "--pool",
            "downloaded",
            "--tail-share",
            "0.3",
            "--phase",
            "reduce",
        ],
    );
    let names = [
        "balanced/part-00000.parquet",
        "balanced/part-00001.parquet",
        "balanced_counts.parquet",
        "pool/part-00000.parquet",
        "pool/part-00001.parquet",
        "pool_counts.parquet",
    ];
    assert_eq!(files(&sliced, &names), files(&run, &names));

    // The report counts the final dataset from balanced_counts.parquet, and
    // its funnel goes on past dedup: the pool, then the final images.
    assert_success(&witcurate(&["--quiet", "stats", s(&run)]));
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("stats/stats.json")).unwrap()).unwrap();
    let v = &stats["vocab"];
    assert!(
        v["after_from"]
            .as_str()
            .unwrap()
            .starts_with("balanced_counts.parquet"),
        "{v}"
    );
    assert_eq!(v["t"], 3);
    assert_eq!(
        v["total_matches_after"],
        summary["counters"]["matches_kept"]
    );
    let steps: Vec<(String, String, u64)> = stats["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["stage"].as_str().unwrap().to_string(),
                f["step"].as_str().unwrap().to_string(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let pool = steps
        .iter()
        .position(|s| s.1 == "dedup.pool")
        .expect("pool step");
    assert_eq!(steps[pool].2, 5);
    assert_eq!(steps[pool + 1].0, "balance_downloaded");
    assert_eq!(
        steps[pool + 1].2,
        summary["counters"]["pairs_kept"].as_u64().unwrap()
    );
}

#[test]
fn train_select_refuses_an_unfinished_or_unknown_selection() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fixture(&run);
    crawl(&run, &["dedup"]);
    // dedup is complete but balanced/ was never written.
    std::fs::create_dir_all(run.join("balanced")).unwrap();
    for (select, expect) in [
        (run.join("balanced"), "`balance_downloaded` stage"),
        (run.join("shards"), "not a selection of a crawl run"),
    ] {
        let out = witcurate(&[
            "train",
            "--shards",
            s(&run.join("shards")),
            "--select",
            s(&select),
            "--out",
            s(&dir.path().join("train")),
            "--steps",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
}
