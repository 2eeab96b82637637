//! `witcurate crawl dedup` and `witcurate hash-images`: near-duplicate and
//! exact-duplicate images removed after download by a deterministic rule,
//! decontamination against an evaluation set, identical results whatever the
//! task split.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch, StringArray};

mod common;
use common::shards::ShardRow;
use common::{assert_success, read_parquet, s, witcurate, write_parquet};

/// One shard row: (key, sha256, phash); `None` phash is a failed download.
type Row = (&'static str, Option<&'static str>, Option<u64>);

fn write_shard(run: &Path, shard: usize, rows: &[Row]) {
    let rows: Vec<ShardRow> = rows
        .iter()
        .map(|r| ShardRow {
            key: r.0,
            sha: r.1.map(String::from),
            phash: r.2,
            ids: None,
        })
        .collect();
    common::shards::write_shard(run, shard, &rows);
}

const A: u64 = 0x0123_4567_89ab_cdef;
const B: u64 = 0xfedc_ba98_7654_3210;
const C: u64 = 0x0f0f_0f0f_f0f0_f0f0;
const D: u64 = 0x5555_aaaa_3333_cccc;
const E: u64 = 0x3c3c_a5a5_9696_6969;

/// Two shards: duplicates across and within them, a contaminated image, a
/// failed download.
fn fixture(run: &Path) {
    write_shard(
        run,
        0,
        &[
            ("000000", Some("s1"), Some(A)),
            ("000001", Some("s2"), Some(B)),
            ("000002", None, None),
            ("000003", Some("s3"), Some(A ^ 0b1011)), // 3 bits from A
            ("000004", Some("s4"), Some(D ^ 1)),      // near the evaluation image
        ],
    );
    write_shard(
        run,
        1,
        &[
            ("000100", Some("s1"), Some(C)), // same bytes as 000000
            ("000101", Some("s5"), Some(B ^ (0b11 << 60))),
            ("000102", Some("s6"), Some(E)),
        ],
    );
    // The fixture stands for a completed download stage.
    common::complete_stage(run, "download");
}

/// key → (kept, reason, group) of every decisions file.
fn decisions(run: &Path) -> BTreeMap<String, (bool, String, String)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(run.join("dedup")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let key = b.column_by_name("key").unwrap().as_string::<i32>().clone();
                let kept = b.column_by_name("kept").unwrap().as_boolean().clone();
                let reason = b
                    .column_by_name("reason")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                let group = b
                    .column_by_name("group")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                for i in 0..b.num_rows() {
                    out.insert(
                        key.value(i).to_string(),
                        (
                            kept.value(i),
                            reason.value(i).to_string(),
                            group.value(i).to_string(),
                        ),
                    );
                }
            }
        }
    }
    out
}

fn parts(run: &Path) -> Vec<Vec<u8>> {
    (0..2)
        .map(|t| std::fs::read(run.join(format!("dedup/part-{t:05}.parquet"))).unwrap())
        .collect()
}

#[test]
fn duplicates_and_contaminated_images_are_dropped_by_a_fixed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fixture(&run);
    let eval = dir.path().join("eval.txt");
    std::fs::write(&eval, format!("{D:016x}\n\n")).unwrap();
    let out = assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "dedup",
        "--out",
        s(&run),
        "--against",
        s(&eval),
    ]));
    assert!(
        out.contains("7 images: 3 kept, 1 exact and 2 near duplicates dropped")
            && out.contains("1 contaminated"),
        "{out}"
    );
    let d = decisions(&run);
    let row = |k: &str| d[k].clone();
    assert_eq!(row("000000"), (true, "kept".into(), "000000".into()));
    assert_eq!(row("000001"), (true, "kept".into(), "000001".into()));
    assert!(
        !d.contains_key("000002"),
        "a failed download has no decision"
    );
    assert_eq!(
        row("000003"),
        (false, "near_duplicate".into(), "000000".into())
    );
    assert_eq!(
        row("000004"),
        (false, "contaminated".into(), "000004".into())
    );
    assert_eq!(
        row("000100"),
        (false, "exact_duplicate".into(), "000000".into())
    );
    // Two bits from 000001: kept only at distance 1.
    assert_eq!(
        row("000101"),
        (false, "near_duplicate".into(), "000001".into())
    );
    assert_eq!(row("000102"), (true, "kept".into(), "000102".into()));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("_stages/dedup/reduce.json")).unwrap())
            .unwrap();
    assert_eq!(record["counters"]["skip_contaminated"], 1);
    assert_eq!(record["counters"]["duplicate_groups"], 2);

    // The same decisions, byte for byte, when the tasks run as two slices.
    let sliced = dir.path().join("sliced");
    fixture(&sliced);
    for i in ["0", "1"] {
        assert_success(&witcurate(&[
            "--quiet",
            "crawl",
            "dedup",
            "--out",
            s(&sliced),
            "--against",
            s(&eval),
            "--task-index",
            i,
            "--task-count",
            "2",
        ]));
    }
    assert_eq!(parts(&sliced), parts(&run));

    // And when the reduce groups in many passes over the hashes (a budget
    // of 200 bytes: one pass per few images).
    let passes = dir.path().join("passes");
    fixture(&passes);
    assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "dedup",
        "--out",
        s(&passes),
        "--against",
        s(&eval),
        "--reduce-memory",
        "200B",
    ]));
    assert_eq!(parts(&passes), parts(&run));

    // Another distance on the same run is refused; --force redoes it.
    let out = witcurate(&["crawl", "dedup", "--out", s(&run), "--max-distance", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_distance: 4 then, 1 now"), "{err}");
    assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "dedup",
        "--out",
        s(&run),
        "--max-distance",
        "1",
        "--force",
    ]));
    let d = decisions(&run);
    assert_eq!(d["000101"].1, "kept");
    assert_eq!(d["000004"].1, "kept");
}

#[test]
fn hash_images_hashes_an_evaluation_folder_for_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval/class");
    std::fs::create_dir_all(&eval).unwrap();
    let img = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
    });
    img.save(eval.join("a.png")).unwrap();
    std::fs::write(eval.join("broken.jpg"), b"not an image").unwrap();
    let table = dir.path().join("eval.parquet");
    let out = assert_success(&witcurate(&[
        "hash-images",
        "--images",
        s(&dir.path().join("eval")),
        "--out",
        s(&table),
    ]));
    assert!(out.contains("1 images"), "{out}");
    let hashes = read_parquet(&table);
    let h = hashes[0]
        .column_by_name("phash")
        .unwrap()
        .as_primitive::<arrow_array::types::UInt64Type>()
        .value(0);
    // A shard image with that very hash is contaminated.
    let run = dir.path().join("run");
    fixture(&run);
    write_shard(&run, 1, &[("000100", Some("z"), Some(h ^ 0b11))]);
    let out = assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "dedup",
        "--out",
        s(&run),
        "--against",
        s(&table),
    ]));
    assert!(
        out.contains("1 contaminated (against 1 reference hashes)"),
        "{out}"
    );
    assert_eq!(decisions(&run)["000100"].1, "contaminated");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fixture(&run);
    // A reference table with a line that is not a hash: named with its line.
    let bad = dir.path().join("eval.txt");
    std::fs::write(&bad, "0123456789abcdef\nnot-a-hash\n").unwrap();
    let out = witcurate(&["crawl", "dedup", "--out", s(&run), "--against", s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eval.txt:2") && err.contains("not-a-hash"),
        "{err}"
    );
    // A shard written before shards had perceptual hashes fails its task,
    // naming the file and the column; the other shard is read.
    let old = RecordBatch::try_from_iter(vec![(
        "key",
        Arc::new(StringArray::from(vec!["000100"])) as ArrayRef,
    )])
    .unwrap();
    write_parquet(&run.join("shards/00001.parquet"), &old);
    let out = witcurate(&["crawl", "dedup", "--out", s(&run)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("00001.parquet") && err.contains("1 of 2 tasks failed"),
        "{err}"
    );
    assert!(run.join("_stats/dedup/task-00000.json").exists());
    assert!(!run.join("_stages/dedup/complete.json").exists());
}
