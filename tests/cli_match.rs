//! End-to-end tests of `witcurate crawl match`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, StringArray};

mod common;
use common::{assert_success, read_parquet, witcurate, write_parquet};

fn write_vocab(dir: &Path, entries: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("queries.txt"), entries.join("\n") + "\n").unwrap();
    dir.to_path_buf()
}

/// Writes a pairs part with the pairs schema (uid, url, text, page_url, source).
fn write_pairs(path: &Path, texts: &[&str]) {
    let urls: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, _)| format!("http://img.example/{i}.jpg"))
        .collect();
    let uids: Vec<String> = urls
        .iter()
        .zip(texts)
        .map(|(u, t)| pipeline::schema::uid(u, t))
        .collect();
    let n = texts.len();
    let batch = RecordBatch::try_new(
        pipeline::schema::pairs_schema(),
        vec![
            Arc::new(StringArray::from(uids)) as ArrayRef,
            Arc::new(StringArray::from(urls)),
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(StringArray::from(vec![Some("http://page.example/"); n])),
            Arc::new(StringArray::from(vec!["warc"; n])),
        ],
    )
    .unwrap();
    write_parquet(path, &batch);
    // The fixture stands for a completed extract stage.
    common::complete_stage(path.parent().unwrap().parent().unwrap(), "extract");
}

/// (text, query_ids) of the rows of a matched part that matched something.
fn matched_rows(path: &Path) -> Vec<(String, Vec<u32>)> {
    let mut rows = all_rows(path);
    rows.retain(|(_, ids)| !ids.is_empty());
    rows
}

/// (text, query_ids) of every row of a matched part.
fn all_rows(path: &Path) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    for b in read_parquet(path) {
        let texts = b.column_by_name("text").unwrap().as_string::<i32>().clone();
        let ids = b
            .column_by_name("query_ids")
            .unwrap()
            .as_list::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            let v = ids.value(i);
            out.push((
                texts.value(i).to_string(),
                v.as_primitive::<UInt32Type>().values().to_vec(),
            ));
        }
    }
    out
}

/// Runs `witcurate crawl match --quiet --out RUN --vocab VOCAB EXTRA...`.
fn run_match(run: &Path, vocab: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "crawl",
        "match",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
        "--vocab",
        vocab.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    witcurate(&args)
}

fn counts(path: &Path) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for b in read_parquet(path) {
        let ids = b.column(0).as_primitive::<UInt32Type>().clone();
        let cs = b.column(1).as_primitive::<UInt64Type>().clone();
        out.extend(
            ids.values()
                .iter()
                .copied()
                .zip(cs.values().iter().copied()),
        );
    }
    out
}

const VOCAB: &[&str] = &["dog", "hot dog", "hot", "St. Louis", "café", "Dog"];

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let vocab = write_vocab(&dir.join("vocab"), VOCAB);
    let run = dir.join("run");
    write_pairs(
        &run.join("pairs/part-00000.parquet"),
        &[
            "a hot dog, in St. Louis",
            "no match here",
            "(dog) and dog's",
        ],
    );
    write_pairs(
        &run.join("pairs/part-00001.parquet"),
        &["Dog.", "café\tdog", "hotdog"],
    );
    (vocab, run)
}

#[test]
fn match_writes_matched_parts_counts_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, run) = setup(dir.path());
    let out = run_match(&run, &vocab, &[]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 of 2 tasks run"), "{stdout}");

    // Every pair, in order; those without a match have no ids.
    let row = |t: &str, ids: &[u32]| (t.to_string(), ids.to_vec());
    assert_eq!(
        all_rows(&run.join("matched/part-00000.parquet")),
        vec![
            row("a hot dog, in St. Louis", &[0, 1, 2]),
            row("no match here", &[]),
            row("(dog) and dog's", &[]),
        ]
    );
    assert_eq!(
        all_rows(&run.join("matched/part-00001.parquet")),
        vec![
            row("Dog.", &[5]),
            row("café\tdog", &[0, 4]),
            row("hotdog", &[])
        ]
    );
    assert_eq!(
        counts(&run.join("counts/part-00000.parquet")),
        vec![(0, 1), (1, 1), (2, 1)]
    );
    assert_eq!(
        counts(&run.join("counts.parquet")),
        vec![(0, 2), (1, 1), (2, 1), (4, 1), (5, 1)]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    assert_eq!(report["rule"], "metaclip");
    assert_eq!(report["entries_matched"], 5);
    assert_eq!(report["entries_unmatched"], 1);
    assert_eq!(report["counters"]["pairs_in"], 6);
    assert_eq!(report["counters"]["pairs_matched"], 3);
    assert_eq!(report["counters"]["matches"], 6);

    // A rerun skips every task and changes nothing.
    let before = fs::read(run.join("matched/part-00001.parquet")).unwrap();
    let again = run_match(&run, &vocab, &[]);
    assert_success(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 of 2 tasks run (2 already done)"));
    assert_eq!(
        before,
        fs::read(run.join("matched/part-00001.parquet")).unwrap()
    );

    // Another rule on the same outputs is refused rather than mixed in.
    let other = run_match(&run, &vocab, &["--rule", "word-boundary"]);
    assert_eq!(other.status.code(), Some(1));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("rule: \"metaclip\" then, \"word-boundary\" now"),
        "{err}"
    );
}

#[test]
fn task_slices_run_separately_and_reduce_when_all_done() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, run) = setup(dir.path());
    let args = |i: &str| {
        vec![
            "crawl".to_string(),
            "match".into(),
            "--quiet".into(),
            "--out".into(),
            run.to_str().unwrap().into(),
            "--vocab".into(),
            vocab.to_str().unwrap().into(),
            "--task-index".into(),
            i.into(),
            "--task-count".into(),
            "2".into(),
        ]
    };
    let a: Vec<String> = args("1");
    assert_success(&witcurate(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(run.join("matched/part-00001.parquet").exists());
    assert!(!run.join("matched/part-00000.parquet").exists());
    assert!(!run.join("counts.parquet").exists());
    let a: Vec<String> = args("0");
    assert_success(&witcurate(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(
        counts(&run.join("counts.parquet")),
        vec![(0, 2), (1, 1), (2, 1), (4, 1), (5, 1)]
    );
    // No temporary files are left behind.
    for d in ["matched", "counts"] {
        for e in fs::read_dir(run.join(d)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "{name}");
        }
    }
}

#[test]
fn word_boundary_rule_is_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, run) = setup(dir.path());
    assert_success(&run_match(&run, &vocab, &["--rule", "word-boundary"]));
    assert_eq!(
        matched_rows(&run.join("matched/part-00000.parquet")),
        vec![
            ("a hot dog, in St. Louis".to_string(), vec![0, 1, 2, 3]),
            ("(dog) and dog's".to_string(), vec![0]),
        ]
    );
}

fn expect_error(args: &[&str], needles: &[&str]) {
    let out = witcurate(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "missing `{n}` in: {stderr}");
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, run) = setup(dir.path());
    let run_s = run.to_str().unwrap();

    let empty = write_vocab(&dir.path().join("empty"), &[]);
    fs::write(empty.join("queries.txt"), "").unwrap();
    expect_error(
        &[
            "crawl",
            "match",
            "--out",
            run_s,
            "--vocab",
            empty.to_str().unwrap(),
        ],
        &["queries.txt", "vocabulary is empty"],
    );

    let crlf = dir.path().join("crlf");
    fs::create_dir_all(&crlf).unwrap();
    fs::write(crlf.join("queries.txt"), "dog\r\ncat\r\n").unwrap();
    expect_error(
        &[
            "crawl",
            "match",
            "--out",
            run_s,
            "--vocab",
            crlf.to_str().unwrap(),
        ],
        &["line 1", "carriage return"],
    );

    let blank = write_vocab(&dir.path().join("blank"), &["dog", "", "cat"]);
    expect_error(
        &[
            "crawl",
            "match",
            "--out",
            run_s,
            "--vocab",
            blank.to_str().unwrap(),
        ],
        &["line 2", "empty line"],
    );

    expect_error(
        &[
            "crawl",
            "match",
            "--out",
            run_s,
            "--vocab",
            vocab.to_str().unwrap(),
            "--max-vocab-memory",
            "1KiB",
        ],
        &["6 entries", "--max-vocab-memory"],
    );

    expect_error(
        &[
            "crawl",
            "match",
            "--out",
            dir.path().join("nowhere").to_str().unwrap(),
            "--vocab",
            vocab.to_str().unwrap(),
        ],
        &[
            "extract stage has not completed",
            "nowhere",
            "crawl extract",
        ],
    );

    // A parquet file of another schema among the pairs: its task fails with a
    // clear error, the other tasks complete.
    let batch = RecordBatch::try_from_iter(vec![(
        "caption",
        Arc::new(StringArray::from(vec!["a dog"])) as ArrayRef,
    )])
    .unwrap();
    let other = run.join("pairs/part-00002.parquet");
    write_parquet(&other, &batch);
    expect_error(
        &[
            "crawl",
            "match",
            "--quiet",
            "--out",
            run_s,
            "--vocab",
            vocab.to_str().unwrap(),
        ],
        &[
            "part-00002.parquet",
            "not a pairs file",
            "missing column `uid`",
            "caption",
        ],
    );
    assert!(run.join("matched/part-00000.parquet").exists());
    assert!(!run.join("counts.parquet").exists());

    // Not parquet at all.
    fs::write(&other, b"uid,url,text\n").unwrap();
    expect_error(
        &[
            "crawl",
            "match",
            "--quiet",
            "--out",
            run_s,
            "--vocab",
            vocab.to_str().unwrap(),
        ],
        &["part-00002.parquet"],
    );
}

#[test]
fn pairs_stored_otherwise_are_decoded_and_their_null_rows_skipped() {
    // pyarrow writes a column of only None values with type Null, and every
    // column nullable: such a part cannot be copied column by column, so
    // it is decoded; a row with a null in a required column is a counted
    // fault, the others are all written.
    let dir = tempfile::tempdir().unwrap();
    let vocab = write_vocab(&dir.path().join("vocab"), VOCAB);
    let run = dir.path().join("run");
    let texts = vec!["a dog", "nothing", "a dog"];
    let batch = RecordBatch::try_from_iter_with_nullable(vec![
        (
            "uid",
            Arc::new(StringArray::from(vec![Some("u1"), Some("u2"), None])) as ArrayRef,
            true,
        ),
        (
            "url",
            Arc::new(StringArray::from(vec![
                "http://a/1",
                "http://a/2",
                "http://a/3",
            ])),
            true,
        ),
        ("text", Arc::new(StringArray::from(texts)), true),
        ("page_url", Arc::new(arrow_array::NullArray::new(3)), true),
        (
            "source",
            Arc::new(StringArray::from(vec!["table", "table", "table"])),
            true,
        ),
    ])
    .unwrap();
    write_parquet(&run.join("pairs/part-00000.parquet"), &batch);
    common::complete_stage(&run, "extract");
    assert_success(&run_match(&run, &vocab, &[]));
    assert_eq!(
        all_rows(&run.join("matched/part-00000.parquet")),
        vec![
            ("a dog".to_string(), vec![0]),
            ("nothing".to_string(), vec![])
        ]
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    let c = &summary["counters"];
    assert_eq!(c["fault_null_field"], 1, "{c}");
    assert_eq!(c["pairs_in"], 3, "{c}");
    assert_eq!(c["pairs_matched"], 1, "{c}");
}

#[test]
fn outputs_are_byte_identical_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = write_vocab(&dir.path().join("vocab"), VOCAB);
    // Enough rows for several batches, so chunks are matched in parallel.
    let texts: Vec<String> = (0..20_000)
        .map(|i| match i % 4 {
            0 => format!("hot dog {i}"),
            1 => format!("café no {i}"),
            2 => format!("nothing {i}"),
            _ => format!("Dog, St. Louis {i}"),
        })
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Three parts, so that several tasks also run at once.
    let parts = ["part-00000", "part-00001", "part-00002"];
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let run = dir.path().join(format!("run{threads}"));
        for (part, slice) in parts
            .iter()
            .zip(texts.chunks(texts.len().div_ceil(parts.len())))
        {
            write_pairs(&run.join(format!("pairs/{part}.parquet")), slice);
        }
        assert_success(&run_match(&run, &vocab, &["--threads", threads]));
        let mut files: Vec<Vec<u8>> = parts
            .iter()
            .map(|p| fs::read(run.join(format!("matched/{p}.parquet"))).unwrap())
            .collect();
        files.push(fs::read(run.join("counts.parquet")).unwrap());
        outputs.push(files);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    let matched: usize = parts
        .iter()
        .map(|p| matched_rows(&dir.path().join(format!("run1/matched/{p}.parquet"))).len())
        .sum();
    assert_eq!(matched, 15_000);
    let all: usize = parts
        .iter()
        .map(|p| all_rows(&dir.path().join(format!("run1/matched/{p}.parquet"))).len())
        .sum();
    assert_eq!(all, 20_000);
}

/// `matched/` keeps `pairs/`'s row groups, and the pair columns' chunks
/// are the very bytes of `pairs/` (compressed pages and all): only `text`
/// is decoded, and nothing of a pair is re-encoded.
#[test]
fn pair_columns_are_copied_byte_for_byte() {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = tempfile::tempdir().unwrap();
    let vocab = write_vocab(&dir.path().join("vocab"), VOCAB);
    let run = dir.path().join("run");
    // Written as extract writes them (zstd), in row groups of 1,000 rows
    // that reading batches of 8,192 rows cross.
    let texts: Vec<String> = (0..10_500)
        .map(|i| match i % 3 {
            0 => format!("hot dog {i}"),
            1 => format!("nothing {i}"),
            _ => format!("Dog. café {i}"),
        })
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let plain = dir.path().join("plain.parquet");
    write_pairs(&plain, &texts);
    let batches = read_parquet(&plain);
    let pairs = run.join("pairs/part-00000.parquet");
    fs::create_dir_all(pairs.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_max_row_group_row_count(Some(1_000))
        .build();
    let mut w = ArrowWriter::try_new(
        fs::File::create(&pairs).unwrap(),
        pipeline::schema::pairs_schema(),
        Some(props),
    )
    .unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    common::complete_stage(&run, "extract");
    assert_success(&run_match(&run, &vocab, &[]));

    let matched = run.join("matched/part-00000.parquet");
    let (a, b) = (fs::read(&pairs).unwrap(), fs::read(&matched).unwrap());
    let ra = SerializedFileReader::new(fs::File::open(&pairs).unwrap()).unwrap();
    let rb = SerializedFileReader::new(fs::File::open(&matched).unwrap()).unwrap();
    assert_eq!(ra.metadata().num_row_groups(), 11);
    assert_eq!(rb.metadata().num_row_groups(), 11);
    let chunk = |bytes: &[u8], c: &parquet::file::metadata::ColumnChunkMetaData| {
        let (start, len) = c.byte_range();
        bytes[start as usize..(start + len) as usize].to_vec()
    };
    for (ga, gb) in ra
        .metadata()
        .row_groups()
        .iter()
        .zip(rb.metadata().row_groups())
    {
        assert_eq!(ga.num_rows(), gb.num_rows());
        for i in 0..5 {
            assert_eq!(ga.column(i).column_path(), gb.column(i).column_path());
            assert_eq!(gb.column(i).compression(), ga.column(i).compression());
            assert!(
                chunk(&a, ga.column(i)) == chunk(&b, gb.column(i)),
                "column {i}"
            );
        }
    }
    let rows = all_rows(&matched);
    assert_eq!(rows.len(), 10_500);
    for (i, (text, ids)) in rows.iter().enumerate() {
        assert_eq!(text, texts[i]);
        let want: &[u32] = match i % 3 {
            0 => &[0, 1, 2],
            1 => &[],
            _ => &[4, 5],
        };
        assert_eq!(ids, want, "row {i}: {text}");
    }
}

#[test]
fn a_killed_run_resumes_without_losing_or_duplicating_work() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, run) = setup(dir.path());
    assert_success(&run_match(&run, &vocab, &[]));
    let full = counts(&run.join("counts.parquet"));
    // As if killed after committing matched/part-00001 but before its counts,
    // with a half-written temporary left behind.
    fs::remove_file(run.join("counts/part-00001.parquet")).unwrap();
    fs::remove_file(run.join("counts.parquet")).unwrap();
    let temp = run.join("matched/.part-00001.parquet.tmp-99999");
    fs::write(&temp, b"half").unwrap();
    // Old enough to be stale (a fresh one could be another process's).
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = run_match(&run, &vocab, &[]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 2 tasks run (1 already done)"));
    assert_eq!(counts(&run.join("counts.parquet")), full);
    assert!(!run.join("matched/.part-00001.parquet.tmp-99999").exists());
    assert_eq!(
        matched_rows(&run.join("matched/part-00001.parquet")).len(),
        2
    );
}

/// `--lid` on real Japanese, Chinese, Thai, Korean, Russian and English
/// text: each text is matched against its language's vocabulary only, the
/// `lang` column says which, and texts of languages without a vocabulary
/// are counted.
#[test]
fn lid_matches_each_text_against_its_languages_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut texts: Vec<String> = Vec::new();
    for lang in ["jpn", "cmn_hans", "tha", "kor", "rus", "eng"] {
        texts.extend(common::udhr(lang).into_iter().take(6));
    }
    texts.push("12345 !!!".to_string());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    write_pairs(&run.join("pairs/part-00000.parquet"), &refs);
    let vocabs = dir.path().join("vocabs");
    // ja and th as directories (as `vocab build` writes them), ko as a file;
    // zh and ru have none. English comes from --vocab.
    write_vocab(&vocabs.join("ja"), &["権利", "すべて", "人間"]);
    write_vocab(&vocabs.join("th"), &["สิทธิ", "มนุษย์"]);
    fs::write(vocabs.join("ko.txt"), "권리\n인류\n").unwrap();
    let en = write_vocab(&dir.path().join("en"), &["rights", "human", "权利"]);
    for rule in ["metaclip2", "script-aware"] {
        let out = witcurate(&[
            "--quiet",
            "crawl",
            "match",
            "--out",
            run.to_str().unwrap(),
            "--lid",
            "--vocab-dir",
            vocabs.to_str().unwrap(),
            "--vocab",
            en.to_str().unwrap(),
            "--rule",
            rule,
            "--force",
        ]);
        assert_success(&out);
        let summary: serde_json::Value =
            serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
        // Code order: en (3 entries), ja (3), ko (2), th (2).
        let langs: Vec<(String, u64)> = summary["languages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["lang"].as_str().unwrap().to_string(),
                    l["first_id"].as_u64().unwrap(),
                )
            })
            .collect();
        let want = [("en", 0), ("ja", 3), ("ko", 6), ("th", 8)];
        assert_eq!(langs, want.map(|(l, i)| (l.to_string(), i)));
        let c = &summary["counters"];
        assert_eq!(c["pairs_in"], 37);
        assert_eq!(c["lang_ja"], 6);
        assert_eq!(c["lang_zh"], 6);
        assert_eq!(c["lang_ru"], 6);
        assert_eq!(c["lang_und"], 1);
        assert_eq!(c["skip_no_vocab"], 13, "zh, ru and und texts: {c}");
        let mut by_lang: std::collections::BTreeMap<String, Vec<Vec<u32>>> = Default::default();
        for b in read_parquet(&run.join("matched/part-00000.parquet")) {
            let lang = b.column_by_name("lang").unwrap().as_string::<i32>().clone();
            let ids = b
                .column_by_name("query_ids")
                .unwrap()
                .as_list::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                let v = ids.value(i).as_primitive::<UInt32Type>().values().to_vec();
                if v.is_empty() {
                    continue;
                }
                by_lang
                    .entry(lang.value(i).to_string())
                    .or_default()
                    .push(v);
            }
        }
        // The Chinese text holds 权利 of the English list, but is not matched.
        assert_eq!(
            by_lang.keys().map(String::as_str).collect::<Vec<_>>(),
            ["en", "ja", "ko", "th"],
            "{rule}"
        );
        let ranges = [("en", 0..3), ("ja", 3..6), ("ko", 6..8), ("th", 8..10)];
        for (lang, range) in ranges {
            assert!(
                by_lang[lang].iter().flatten().all(|id| range.contains(id)),
                "{rule} {lang}: {:?}",
                by_lang[lang]
            );
        }
        let ja: Vec<u32> = by_lang["ja"].iter().flatten().copied().collect();
        let ko: Vec<u32> = by_lang["ko"].iter().flatten().copied().collect();
        assert!(ja.contains(&3), "権利 (Han) matches under both rules");
        if rule == "metaclip2" {
            // MetaCLIP 2 pads Hiragana and Hangul entries: すべて and 권리
            // never match inside unspaced words.
            assert!(!ja.contains(&4) && !ko.contains(&6), "{ja:?} {ko:?}");
        } else {
            assert!(ja.contains(&4) && ko.contains(&6), "{ja:?} {ko:?}");
        }
    }
    // Without --rule, a multilingual run uses MetaCLIP 2's rule.
    let out = witcurate(&[
        "--quiet",
        "crawl",
        "match",
        "--out",
        run.to_str().unwrap(),
        "--lid",
        "--vocab-dir",
        vocabs.to_str().unwrap(),
        "--vocab",
        en.to_str().unwrap(),
        "--force",
    ]);
    assert_success(&out);
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    assert_eq!(summary["rule"], "metaclip2");
}

/// `--lid-fallback en`: short alt-texts that the identifier cannot place
/// reliably (real ones from the bundled Common Crawl sample) count as English.
#[test]
fn lid_fallback_gives_unreliable_texts_a_language() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_pairs(
        &run.join("pairs/part-00000.parquet"),
        &["photo No. 3", "Search"],
    );
    let en = write_vocab(&dir.path().join("en"), &["photo", "Search"]);
    let args = [
        "--quiet",
        "crawl",
        "match",
        "--out",
        run.to_str().unwrap(),
        "--lid",
    ];
    let en_args = ["--vocab", en.to_str().unwrap()];
    assert_success(&witcurate(&[&args[..], &en_args[..]].concat()));
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    assert!(
        summary["counters"]["skip_no_vocab"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let fallback = ["--lid-fallback", "en", "--force"];
    assert_success(&witcurate(
        &[&args[..], &en_args[..], &fallback[..]].concat(),
    ));
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    assert_eq!(summary["counters"]["lang_en"], 2, "{summary}");
    assert_eq!(summary["counters"]["pairs_matched"], 2, "{summary}");
    let out = witcurate(&[&args[..], &en_args[..], &["--lid-fallback", "English"][..]].concat());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a language code"));
}
