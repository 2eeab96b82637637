//! `witcurate crawl --out RUN --vocab V --input ...`: the stages in one command
//! give the same files as the stages run one by one.

use std::path::Path;

mod common;
use common::{assert_success, witcurate};

fn parts(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn one_command_equals_the_stages_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/commoncrawl");
    let warc = data.join("CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc");
    let warc = warc.to_str().unwrap();
    let vocab = dir.path().join("queries.txt");
    std::fs::write(&vocab, "photo\nNo\nthe\nlogo\nNews\n1\n2\n3\n").unwrap();
    let vocab = vocab.to_str().unwrap();
    let one = dir.path().join("one");
    let many = dir.path().join("many");
    let (one_s, many_s) = (one.to_str().unwrap(), many.to_str().unwrap());

    let out = witcurate(&[
        "--quiet",
        "crawl",
        "--out",
        one_s,
        "--input",
        warc,
        "--partitions",
        "3",
        "--vocab",
        vocab,
        "--t",
        "2",
        "--seed",
        "7",
        "--stop-after",
        "balance",
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("crawl: 3 stage(s) done"));

    let q = "--quiet";
    assert_success(&witcurate(&[
        q,
        "crawl",
        "extract",
        "--out",
        many_s,
        "--input",
        warc,
        "--partitions",
        "3",
    ]));
    assert_success(&witcurate(&[
        q, "crawl", "match", "--out", many_s, "--vocab", vocab,
    ]));
    assert_success(&witcurate(&[
        q, "crawl", "balance", "--out", many_s, "--t", "2", "--seed", "7",
    ]));

    for sub in ["pairs", "matched", "selected"] {
        let a = parts(&one.join(sub));
        assert!(!a.is_empty(), "{sub} is empty");
        assert_eq!(a, parts(&many.join(sub)), "{sub} differs");
    }
    assert!(
        !one.join("shards").exists(),
        "--stop-after balance ran download"
    );
}

#[test]
fn crawl_without_a_stage_or_flags_is_a_clear_error() {
    let out = witcurate(&["crawl"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Usage") && err.contains("extract") && err.contains("--stop-after"),
        "{err}"
    );
    let out = witcurate(&["crawl", "--out", "/tmp/x", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--no-such-flag'"));
    // A whole run without --input says so.
    let out = witcurate(&["crawl", "--out", "/tmp/x", "--vocab", "/tmp/v"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input"));
}
