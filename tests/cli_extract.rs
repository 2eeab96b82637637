//! `witcurate crawl extract` end to end: the bundled Common Crawl sample,
//! tables, resume, task slices, determinism across thread counts.

use std::path::{Path, PathBuf};
use std::process::Output;

use pipeline::extract::shuffle::read_rows;

mod common;
use common::{assert_success, s, witcurate_in};

const WARC: &str =
    "tests/data/commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc";
const WAT: &str =
    "tests/data/commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn witcurate(args: &[&str]) -> Output {
    witcurate_in(&root(), args)
}

fn ok(args: &[&str]) -> String {
    assert_success(&witcurate(args))
}

fn parts(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(run.join("pairs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn sample_crawl_resumes_and_is_deterministic_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let line = ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--threads",
        "1",
        "--out",
        s(&one),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "4",
    ]);
    assert!(line.starts_with("extract: 2 inputs (2 run"), "{line}");
    assert!(line.contains("4 partitions written"), "{line}");
    let first = parts(&one);
    assert_eq!(first.len(), 4);
    let total: usize = (0..4)
        .map(|p| {
            read_rows(&one.join(format!("pairs/part-{p:05}.parquet")))
                .unwrap()
                .len()
        })
        .sum();
    // The WAT pairs all repeat WARC pairs: de-duplicated away.
    assert!(line.contains("4 duplicates dropped"), "{line}");
    assert!(total > 100);

    // Same output with two threads.
    let two = dir.path().join("two");
    ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--threads",
        "2",
        "--out",
        s(&two),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "4",
    ]);
    assert_eq!(parts(&two), first);

    // A rerun skips everything; a lost part and a lost map output are redone
    // identically.
    let again = ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&one),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "4",
    ]);
    assert!(again.contains("(0 run, 2 already done"), "{again}");
    assert!(
        again.contains("0 partitions written (4 already done)"),
        "{again}"
    );
    std::fs::remove_file(one.join("pairs/part-00002.parquet")).unwrap();
    std::fs::remove_file(one.join("pairs/_map/task-00001.parquet")).unwrap();
    ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&one),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "4",
    ]);
    assert_eq!(parts(&one), first);

    // Resuming with other options is refused.
    let out = witcurate(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&one),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other parameters") && err.contains("partitions: 4 then, 8 now"),
        "{err}"
    );
    // --force starts the stage over with the new options.
    let forced = ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&one),
        "--input",
        WARC,
        WAT,
        "--partitions",
        "8",
        "--force",
    ]);
    assert!(forced.contains("8 partitions written"), "{forced}");
    assert!(!one.join("pairs/part-00008.parquet").exists());
    assert!(one.join("pairs/part-00007.parquet").exists());
}

#[test]
fn task_slices_then_reduce_equal_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&single),
        "--input",
        WARC,
        WAT,
    ]);
    let sliced = dir.path().join("sliced");
    let first = ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&sliced),
        "--input",
        WARC,
        WAT,
        "--task-index",
        "0",
        "--task-count",
        "2",
    ]);
    assert!(first.contains("reduce waits for 1 map tasks"), "{first}");
    ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&sliced),
        "--input",
        WARC,
        WAT,
        "--task-index",
        "1",
        "--task-count",
        "2",
        "--phase",
        "map",
    ]);
    for i in ["0", "1"] {
        ok(&[
            "crawl",
            "extract",
            "--quiet",
            "--out",
            s(&sliced),
            "--input",
            WARC,
            WAT,
            "--task-index",
            i,
            "--task-count",
            "2",
            "--phase",
            "reduce",
        ]);
    }
    assert_eq!(parts(&sliced), parts(&single));
}

#[test]
fn tables_with_custom_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("list.csv");
    std::fs::write(
        &csv,
        "id,image_url,alt\n1,http://a.example/1.jpg,\"a red  car\"\n2,ftp://x/2.jpg,bad scheme\n\
         3,http://a.example/3.jpg,\n4,http://a.example/1.jpg,a red car\n",
    )
    .unwrap();
    let jsonl = dir.path().join("list.jsonl");
    std::fs::write(
        &jsonl,
        "{\"image_url\":\"https://b.example/x.png\",\"alt\":\"a cat\"}\n{broken\n",
    )
    .unwrap();
    let tsv = dir.path().join("list.tsv");
    std::fs::write(
        &tsv,
        "image_url\talt\nhttp://c.example/y.gif\tsay \"cheese\"\n",
    )
    .unwrap();
    let run = dir.path().join("run");
    let line = ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&run),
        "--input",
        s(&csv),
        s(&jsonl),
        s(&tsv),
        "--url-col",
        "image_url",
        "--caption-col",
        "alt",
        "--partitions",
        "1",
    ]);
    assert!(line.contains("1 bad records skipped"), "{line}");
    let rows = read_rows(&run.join("pairs/part-00000.parquet")).unwrap();
    let mut got: Vec<_> = rows
        .iter()
        .map(|r| (r.url.as_str(), r.text.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("http://a.example/1.jpg", "a red car"),
            ("http://c.example/y.gif", "say \"cheese\""),
            ("https://b.example/x.png", "a cat"),
        ]
    );
    assert!(rows
        .iter()
        .all(|r| &*r.source == "table" && r.page_url.is_none()));

    // A pairs part is itself a parquet table: read it back through --format table.
    let again = dir.path().join("again");
    ok(&[
        "crawl",
        "extract",
        "--quiet",
        "--out",
        s(&again),
        "--format",
        "table",
        "--input",
        s(&run.join("pairs/part-00000.parquet")),
        "--caption-col",
        "text",
        "--partitions",
        "1",
    ]);
    let back = read_rows(&again.join("pairs/part-00000.parquet")).unwrap();
    assert_eq!(back, rows);
}

#[test]
fn bad_usage_and_missing_inputs_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = witcurate(&[
        "crawl",
        "extract",
        "--out",
        s(dir.path()),
        "--input",
        WAT,
        "--format",
        "bogus",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = witcurate(&[
        "crawl",
        "extract",
        "--out",
        s(dir.path()),
        "--input",
        "no/such/file.wat",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.wat"));
    let wet = WAT.replace(".wat", ".wet");
    let out = witcurate(&["crawl", "extract", "--out", s(dir.path()), "--input", &wet]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WET"));
}

/// An independent reading of the real Common Crawl WARC (warcio for the
/// records, lxml's HTML parser for the pages, `tests/py/warc_reference.py`)
/// finds exactly the unique (image URL, alt-text) pairs that extract finds;
/// every difference is listed on failure.
#[test]
fn real_warc_pairs_match_an_independent_warcio_and_lxml_reading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-tools/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it installs warcio and lxml)",
        python.display()
    );
    let warc = root.join(
        "tests/data/commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc",
    );
    let reference = std::process::Command::new(&python)
        .arg(root.join("tests/py/warc_reference.py"))
        .arg(&warc)
        .output()
        .expect("python runs");
    assert!(
        reference.status.success(),
        "{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let want: std::collections::BTreeSet<(String, String)> = String::from_utf8(reference.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (u, t) = l.split_once('\t').unwrap();
            (u.to_string(), t.to_string())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_success(&witcurate_in(
        dir.path(),
        &[
            "--quiet",
            "crawl",
            "extract",
            "--out",
            s(&run),
            "--input",
            s(&warc),
        ],
    ));
    let mut got = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(run.join("pairs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for r in read_rows(&p).unwrap() {
                got.insert((r.url, r.text));
            }
        }
    }
    let only_ours: Vec<_> = got.difference(&want).collect();
    let only_theirs: Vec<_> = want.difference(&got).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{} pairs found by extract only: {only_ours:#?}\n{} found by the reference only: {only_theirs:#?}",
        only_ours.len(),
        only_theirs.len()
    );
    assert!(want.len() > 800, "{}", want.len());
}

/// The `fault_warc_record_too_large` counter of a one-task extract.
fn too_large(run: &Path) -> u64 {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("_stats/extract/task-00000.json")).unwrap())
            .unwrap();
    json["counters"]["fault_warc_record_too_large"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn the_record_size_limit_takes_units_and_the_older_mib_flag() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, limit: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "crawl",
            "extract",
            "--quiet",
            "--out",
            s(&out),
            "--input",
            WARC,
            "--partitions",
            "1",
        ];
        args.extend_from_slice(limit);
        (ok(&args), too_large(&out))
    };
    // The sample's largest record is a 222,942-byte page.
    let (default, none) = run("default", &[]);
    assert!(default.contains(" 860 pairs"), "{default}");
    assert_eq!(none, 0);
    let (small, skipped) = run("small", &["--max-record-size", "100KiB"]);
    assert_eq!(skipped, 1, "{small}");
    assert!(!small.contains(" 860 pairs"), "{small}");
    let (mib, none) = run("mib", &["--max-record-mb", "1"]);
    assert!(mib.contains(" 860 pairs"), "{mib}");
    assert_eq!(none, 0);
    let (_, all) = run("bytes", &["--max-record-size", "10"]);
    assert_eq!(all, 13, "all 13 records are over 10 bytes");

    // The stderr of a refused run with `limit`.
    let refused = |name: &str, limit: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["crawl", "extract", "--out", s(&out), "--input", WARC];
        args.extend_from_slice(limit);
        let o = witcurate(&args);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = refused(
        "both",
        &["--max-record-size", "1MiB", "--max-record-mb", "1"],
    );
    assert!(err.contains("--max-record-mb"), "{err}");
    let err = refused("bad", &["--max-record-size", "lots"]);
    assert!(err.contains("--max-record-size"), "{err}");
}
