//! End-to-end tests of `witcurate crawl balance` (after `crawl match`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, StringArray};

mod common;
use common::{assert_success, read_parquet, witcurate, write_parquet};

fn write_pairs(path: &Path, rows: &[(String, String)]) {
    let urls: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let uids: Vec<String> = rows
        .iter()
        .map(|(u, t)| pipeline::schema::uid(u, t))
        .collect();
    let n = rows.len();
    let batch = RecordBatch::try_new(
        pipeline::schema::pairs_schema(),
        vec![
            Arc::new(StringArray::from(uids)) as ArrayRef,
            Arc::new(StringArray::from(urls)),
            Arc::new(StringArray::from(texts)),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(StringArray::from(vec!["table"; n])),
        ],
    )
    .unwrap();
    write_parquet(path, &batch);
}

/// Vocabulary: 0 "cat" (head), 1 "dog" (head), 2..=11 "rareK" (tail).
fn vocab(dir: &Path) -> PathBuf {
    let v = dir.join("vocab");
    fs::create_dir_all(&v).unwrap();
    let mut entries = vec!["cat".to_string(), "dog".to_string()];
    entries.extend((0..10).map(|k| format!("rare{k}")));
    fs::write(v.join("queries.txt"), entries.join("\n") + "\n").unwrap();
    v
}

/// 600 pairs: every one has "cat", every 3rd "dog", every 20th a rare entry.
fn pool() -> Vec<(String, String)> {
    (0..600)
        .map(|i| {
            let mut text = format!("a cat photo number {i}");
            if i % 3 == 0 {
                text.push_str(" with a dog");
            }
            if i % 20 == 0 {
                text.push_str(&format!(" and rare{}", (i / 20) % 10));
            }
            (format!("http://img.example/{i}.jpg"), text)
        })
        .collect()
}

/// Writes `rows` into `parts` pairs parts (rows dealt round-robin, each part
/// reversed) and runs match with `match_args`; returns the run directory.
fn matched_run_with(
    dir: &Path,
    name: &str,
    rows: &[(String, String)],
    parts: usize,
    match_args: &[&str],
) -> PathBuf {
    let run = dir.join(name);
    for p in 0..parts {
        let mut part: Vec<_> = rows.iter().skip(p).step_by(parts).cloned().collect();
        part.reverse();
        write_pairs(&run.join(format!("pairs/part-{p:05}.parquet")), &part);
    }
    common::complete_stage(&run, "extract");
    let mut args = vec!["crawl", "match", "--quiet", "--out", run.to_str().unwrap()];
    args.extend_from_slice(match_args);
    assert_success(&witcurate(&args));
    run
}

/// [`matched_run_with`] against the English test vocabulary.
fn matched_run(dir: &Path, name: &str, rows: &[(String, String)], parts: usize) -> PathBuf {
    let v = vocab(dir);
    matched_run_with(dir, name, rows, parts, &["--vocab", v.to_str().unwrap()])
}

/// uid → query_ids of every selected row (sorted by uid).
fn selected(run: &Path) -> BTreeMap<String, Vec<u32>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(run.join("selected")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let uids = b.column_by_name("uid").unwrap().as_string::<i32>().clone();
                let ids = b
                    .column_by_name("query_ids")
                    .unwrap()
                    .as_list::<i32>()
                    .clone();
                for i in 0..b.num_rows() {
                    let v = ids.value(i);
                    let prev = out.insert(
                        uids.value(i).to_string(),
                        v.as_primitive::<UInt32Type>().values().to_vec(),
                    );
                    assert!(prev.is_none(), "duplicate uid in selected/");
                }
            }
        }
    }
    out
}

/// id → (count_before, count_after) from balance_counts.parquet.
fn balance_counts(run: &Path) -> BTreeMap<u32, (u64, u64)> {
    let mut out = BTreeMap::new();
    for b in read_parquet(&run.join("balance_counts.parquet")) {
        let ids = b.column(0).as_primitive::<UInt32Type>().clone();
        let before = b.column(1).as_primitive::<UInt64Type>().clone();
        let after = b.column(2).as_primitive::<UInt64Type>().clone();
        for i in 0..b.num_rows() {
            out.insert(ids.value(i), (before.value(i), after.value(i)));
        }
    }
    out
}

fn balance(run: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "crawl",
        "balance",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    assert_success(&witcurate(&args))
}

#[test]
fn soft_cap_is_metaclips_and_reports_per_entry_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rows = pool();
    let run = matched_run(dir.path(), "run", &rows, 2);
    let out = balance(&run, &["--t", "100", "--seed", "3"]);
    assert!(out.contains("t = 100, soft cap"), "{out}");

    let sel = selected(&run);
    // Every pair with a tail entry (count <= t) is kept.
    assert!(sel.len() >= 30);
    let with_rare = sel
        .values()
        .filter(|ids| ids.iter().any(|&i| i >= 2))
        .count();
    assert_eq!(with_rare, 30);
    // cat: 600 matches, p = 1/6; with the pairs kept for dog (p = 1/2) and the
    // rare entries, about 204 pairs are kept.
    let counts = balance_counts(&run);
    assert_eq!(counts[&0].0, 600);
    assert_eq!(counts[&1].0, 200);
    assert!((150..260).contains(&counts[&0].1), "{:?}", counts[&0]);
    assert_eq!(counts[&2], (3, 3));

    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("balance.json")).unwrap()).unwrap();
    assert_eq!(report["cap"], "soft");
    assert_eq!(report["t"], 100);
    assert_eq!(report["entries_matched"], 12);
    assert_eq!(report["entries_capped"], 2);
    assert_eq!(report["counters"]["pairs_in"], 600);
    assert_eq!(report["counters"]["pairs_kept"], sel.len() as u64);

    // Another seed selects differently; the same seed again is skipped.
    let again = balance(&run, &["--t", "100", "--seed", "3"]);
    assert!(
        again.contains("0 of 2 tasks run (2 already done)"),
        "{again}"
    );
    let changed = witcurate(&[
        "crawl",
        "balance",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
        "--t",
        "100",
        "--seed",
        "4",
    ]);
    assert_eq!(changed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(err.contains("seed: 3 then, 4 now"), "{err}");
    assert!(!err.contains("threshold"), "{err}");
    // --force starts over with the new seed.
    let forced = balance(&run, &["--t", "100", "--seed", "4", "--force"]);
    assert!(
        forced.contains("2 of 2 tasks run (0 already done)"),
        "{forced}"
    );
}

#[test]
fn selection_is_independent_of_partitioning_order_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let rows = pool();
    for cap in ["soft", "hard"] {
        let one = matched_run(dir.path(), &format!("one-{cap}"), &rows, 1);
        let three = matched_run(dir.path(), &format!("three-{cap}"), &rows, 3);
        balance(&one, &["--t", "80", "--cap", cap, "--threads", "1"]);
        balance(&three, &["--t", "80", "--cap", cap, "--threads", "2"]);
        let (a, b) = (selected(&one), selected(&three));
        assert!(!a.is_empty() && a.len() < rows.len());
        assert_eq!(a, b, "{cap} cap differs between partitionings");
        assert_eq!(balance_counts(&one), balance_counts(&three));
    }
}

#[test]
fn hard_cap_never_exceeds_t() {
    let dir = tempfile::tempdir().unwrap();
    let rows = pool();
    let run = matched_run(dir.path(), "run", &rows, 2);
    let out = balance(&run, &["--t", "50", "--cap", "hard"]);
    assert!(out.contains("hard cap"), "{out}");
    let counts = balance_counts(&run);
    for (id, (before, after)) in &counts {
        assert!(*after <= 50, "entry {id}: {after}");
        assert!(after <= before);
    }
    // Pairs with a rare entry come first (30, 10 of them with dog), then pairs
    // whose rarest entry is dog, until cat is full at 50: dog gets 10 + 20.
    assert_eq!(counts[&0].1, 50);
    assert_eq!(counts[&1].1, 30);
    // Every pair with a rare entry is kept.
    assert!(counts
        .iter()
        .filter(|(&id, _)| id >= 2)
        .all(|(_, (b, a))| a == b));
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("balance.json")).unwrap()).unwrap();
    assert_eq!(report["entries_over_t_after"], 0);
    assert_eq!(report["max_count_after"], 50);
}

#[test]
fn tail_share_chooses_t() {
    let dir = tempfile::tempdir().unwrap();
    let run = matched_run(dir.path(), "run", &pool(), 1);
    // Matches: cat 600, dog 200, rare 30 (3 each) = 830. Tail share 0.2 needs
    // cat out and dog in: t = 201.
    let out = balance(&run, &["--tail-share", "0.2"]);
    assert!(out.contains("t = 201"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("balance.json")).unwrap()).unwrap();
    assert_eq!(report["tail_share_requested"], 0.2);
    assert!(report["tail_share"].as_f64().unwrap() >= 0.2);
}

#[test]
fn balance_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = witcurate(&["crawl", "balance", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("match stage has not completed") && stderr.contains("crawl match"),
        "{stderr}"
    );

    let run = matched_run(dir.path(), "run", &pool(), 1);
    let out = witcurate(&[
        "crawl",
        "balance",
        "--out",
        run.to_str().unwrap(),
        "--tail-share",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tail-share must be in (0, 1]"));

    let out = witcurate(&[
        "crawl",
        "balance",
        "--out",
        run.to_str().unwrap(),
        "--t",
        "5",
        "--tail-share",
        "0.1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "conflicting flags are a usage error"
    );
}

/// Columns the match stage adds beyond the standard ones (`lang` with
/// `--lid`) are carried into `selected/` with their rows.
#[test]
fn extra_matched_columns_pass_through_to_selected() {
    let dir = tempfile::tempdir().unwrap();
    let run = matched_run(dir.path(), "run", &pool(), 2);
    let lang_of = |uid: &str| {
        if uid.as_bytes()[0].is_multiple_of(2) {
            "en"
        } else {
            "de"
        }
    };
    for e in fs::read_dir(run.join("matched")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let batches = read_parquet(&p);
        assert_eq!(batches.len(), 1, "a small part is one batch");
        let b = &batches[0];
        let uids = b.column_by_name("uid").unwrap().as_string::<i32>().clone();
        let lang: ArrayRef = Arc::new(StringArray::from_iter_values(
            uids.iter().map(|u| lang_of(u.unwrap())),
        ));
        let mut cols: Vec<(String, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| (f.name().clone(), c.clone()))
            .collect();
        cols.push(("lang".into(), lang));
        write_parquet(&p, RecordBatch::try_from_iter(cols).unwrap());
    }
    balance(&run, &["--t", "50"]);
    let mut seen = 0;
    for e in fs::read_dir(run.join("selected")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let uids = b.column_by_name("uid").unwrap().as_string::<i32>().clone();
                let langs = b
                    .column_by_name("lang")
                    .expect("lang kept")
                    .as_string::<i32>()
                    .clone();
                for i in 0..b.num_rows() {
                    assert_eq!(langs.value(i), lang_of(uids.value(i)));
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 50, "{seen}");
}

/// A multilingual pool from real English, Japanese and Russian text (each
/// UDHR line reached through 12 image URLs), matched with `--lid` against
/// one vocabulary per language, in `parts` parts.
fn multilingual_run(dir: &Path, name: &str, parts: usize) -> PathBuf {
    let mut rows = Vec::new();
    for lang in ["eng", "jpn", "rus"] {
        for (l, line) in common::udhr(lang).into_iter().enumerate() {
            for k in 0..12 {
                rows.push((
                    format!("http://img.example/{lang}/{l}/{k}.jpg"),
                    line.clone(),
                ));
            }
        }
    }
    let vocabs = dir.join("vocabs");
    let lists: [(&str, &[&str]); 3] = [
        (
            "en",
            &[
                "the", "of", "and", "rights", "everyone", "freedom", "nations",
            ],
        ),
        ("ja", &["の", "権利", "自由", "人", "すべて", "国"]),
        ("ru", &["и", "права", "свободы", "человека", "каждый"]),
    ];
    for (lang, entries) in lists {
        fs::create_dir_all(vocabs.join(lang)).unwrap();
        fs::write(
            vocabs.join(lang).join("queries.txt"),
            entries.join("\n") + "\n",
        )
        .unwrap();
    }
    matched_run_with(
        dir,
        name,
        &rows,
        parts,
        &["--lid", "--vocab-dir", vocabs.to_str().unwrap()],
    )
}

/// After `crawl match --lid`, English gets `--t` and every other language the
/// t at which its tail share is nearest English's (MetaCLIP 2); the
/// selection does not depend on the partitioning, and `balance.json` reports
/// each language.
#[test]
fn multilingual_balance_gives_each_language_its_own_t() {
    use pipeline::balance::caps::{p_to_t, t_to_p};
    let dir = tempfile::tempdir().unwrap();
    let run = multilingual_run(dir.path(), "run", 2);
    balance(&run, &["--t", "100", "--seed", "5"]);
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("balance.json")).unwrap()).unwrap();
    let langs = report["languages"].as_array().unwrap();
    let names: Vec<&str> = langs.iter().map(|l| l["lang"].as_str().unwrap()).collect();
    assert_eq!(names, ["en", "ja", "ru"]);
    assert_eq!(report["t"], 100);
    assert_eq!(langs[0]["t"], 100);

    // Recompute every language's t from the per-entry counts.
    let counts = balance_counts(&run);
    let per_lang = |l: &serde_json::Value| -> Vec<u64> {
        let first = l["first_id"].as_u64().unwrap() as u32;
        let n = l["entries"].as_u64().unwrap() as u32;
        (first..first + n)
            .map(|id| counts.get(&id).map_or(0, |c| c.0))
            .collect()
    };
    let en = per_lang(&langs[0]);
    let p_en = t_to_p(&en, 100);
    assert!(
        p_en > 0.0 && p_en < 1.0,
        "English has head and tail: {en:?}"
    );
    // (JSON keeps floats to about 1e-16.)
    assert!((report["reference_tail_share"].as_f64().unwrap() - p_en).abs() < 1e-12);
    for l in &langs[1..] {
        let c = per_lang(l);
        let t = l["t"].as_u64().unwrap();
        assert_eq!(t, p_to_t(&c, p_en), "{l}");
        assert_ne!(t, 100, "{l}: its own t, not English's");
        assert!((l["tail_share"].as_f64().unwrap() - t_to_p(&c, t)).abs() < 1e-12);
        assert!(l["entries_capped"].as_u64().unwrap() > 0, "{l}");
        assert!(l["rows_kept"].as_u64() < l["rows_in"].as_u64(), "{l}");
    }
    // Every entry under its language's t keeps all its pairs.
    for l in langs {
        let t = l["t"].as_u64().unwrap();
        let first = l["first_id"].as_u64().unwrap() as u32;
        for id in first..first + l["entries"].as_u64().unwrap() as u32 {
            if let Some(&(b, a)) = counts.get(&id) {
                if b <= t {
                    assert_eq!(a, b, "entry {id} under t = {t}");
                }
            }
        }
    }
    // The reduce record holds each language's t too.
    let reduce: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("_stages/balance/reduce.json")).unwrap())
            .unwrap();
    for l in langs {
        let lang = l["lang"].as_str().unwrap();
        assert_eq!(reduce["counters"][format!("t_{lang}")], l["t"], "{reduce}");
    }
    let rows_in: u64 = langs.iter().map(|l| l["rows_in"].as_u64().unwrap()).sum();
    assert_eq!(rows_in, report["counters"]["pairs_in"].as_u64().unwrap());

    // The stats report shows each language's texts, counts, t and tail share.
    assert_success(&witcurate(&["stats", "--quiet", run.to_str().unwrap()]));
    let stats: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("stats/stats.json")).unwrap()).unwrap();
    let rows = stats["languages"]["rows"].as_array().unwrap();
    for l in langs {
        let row = rows.iter().find(|r| r["lang"] == l["lang"]).unwrap();
        assert_eq!(row["t"], l["t"]);
        assert_eq!(row["kept"], l["rows_kept"]);
        assert_eq!(row["matched"], l["rows_in"]);
        // (whatlang places 19 of the 20 Russian lines.)
        assert!(row["texts"].as_u64() >= row["matched"].as_u64(), "{row}");
    }
    // Top entries are looked up in their language's vocabulary.
    let top = stats["vocab"]["top_entries"].as_array().unwrap();
    assert!(!top.is_empty());
    for e in top {
        let lang = e["source"].as_str().unwrap();
        let l = langs.iter().find(|l| l["lang"] == lang).unwrap();
        let first = l["first_id"].as_u64().unwrap();
        let id = e["id"].as_u64().unwrap();
        let file = dir.path().join(format!("vocabs/{lang}/queries.txt"));
        let line = fs::read_to_string(file)
            .unwrap()
            .lines()
            .nth((id - first) as usize)
            .unwrap()
            .to_string();
        assert_eq!(e["query"].as_str().unwrap(), line, "{e}");
    }
    let md = fs::read_to_string(run.join("stats/report.md")).unwrap();
    assert!(md.contains("## Languages"), "{md}");
    let ja_t = langs[1]["t"].as_u64().unwrap();
    assert!(md.contains("| ja | 240 | 6 |"), "{md}");
    assert!(md.contains(&format!("| {ja_t} |")), "{md}");
    let html = fs::read_to_string(run.join("stats/report.html")).unwrap();
    assert!(html.contains("<section id=\"languages\">"));

    // Another partitioning selects the same pairs.
    let other = multilingual_run(dir.path(), "other", 3);
    balance(&other, &["--t", "100", "--seed", "5"]);
    assert_eq!(selected(&run), selected(&other));

    // The hard cap holds every entry to its own language's t.
    balance(
        &run,
        &["--t", "100", "--seed", "5", "--cap", "hard", "--force"],
    );
    let hard = balance_counts(&run);
    for l in langs {
        let t = l["t"].as_u64().unwrap();
        let first = l["first_id"].as_u64().unwrap() as u32;
        for id in first..first + l["entries"].as_u64().unwrap() as u32 {
            if let Some(&(b, a)) = hard.get(&id) {
                assert!(a <= t, "entry {id}: {a} kept, t = {t}");
                assert_eq!(b, counts[&id].0);
            }
        }
    }
}

/// `matched/` holds every pair, the unmatched ones with no ids: neither cap
/// selects them nor counts them as read.
#[test]
fn unmatched_pairs_are_never_selected() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = pool();
    rows.extend((0..100).map(|i| {
        (
            format!("http://img.example/none{i}.jpg"),
            format!("a bird photo {i}"),
        )
    }));
    let run = matched_run(dir.path(), "run", &rows, 2);
    let matched: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("match.json")).unwrap()).unwrap();
    assert_eq!(matched["counters"]["pairs_in"], 700);
    assert_eq!(matched["counters"]["pairs_matched"], 600);
    for (cap, t) in [("soft", "1000"), ("hard", "1000"), ("hard", "50")] {
        balance(&run, &["--t", t, "--cap", cap, "--force"]);
        let kept = selected(&run);
        assert!(kept.values().all(|ids| !ids.is_empty()), "{cap} {t}");
        if t == "1000" {
            assert_eq!(kept.len(), 600, "{cap}: every matched pair, no other");
        }
        let report: serde_json::Value =
            serde_json::from_slice(&fs::read(run.join("balance.json")).unwrap()).unwrap();
        assert_eq!(report["counters"]["pairs_in"], 600, "{cap} {t}: {report}");
    }
}
