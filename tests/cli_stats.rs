//! End-to-end tests of `witcurate stats`: on small fixture runs written with
//! the documented schemas (`pipeline::schema`, the stage records of
//! `pipeline::stage::record`), and on a run of the real stages over the
//! bundled Common Crawl sample.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use pipeline::run_dir::RunDir;
use pipeline::schema::{self, uid};
use pipeline::stage::record;
use pipeline::stage::{Completion, ReduceRecord, TaskRecord};
use pipeline::task::Counters;
use serde_json::Value;

mod common;
use common::{assert_success, witcurate, write_parquet};

fn counters(c: &[(&str, u64)]) -> Counters {
    Counters(c.iter().map(|(k, v)| (k.to_string(), *v)).collect())
}

/// Writes the record of task `task` of `stage`, as the stage runner does.
fn task_record(run: &Path, stage: &str, task: usize, seconds: f64, c: &[(&str, u64)]) {
    let rec = TaskRecord {
        stage: stage.into(),
        task,
        seconds,
        upstream: None,
        counters: counters(c),
    };
    record::write(&RunDir::new(run).task_record(stage, task), &rec).unwrap();
}

/// Writes the reduce record and the completion record of `stage`.
fn reduce_and_complete(run: &Path, stage: &str, tasks: usize, c: &[(&str, u64)]) {
    let dir = RunDir::new(run);
    if !c.is_empty() {
        let rec = ReduceRecord {
            stage: stage.into(),
            seconds: 0.5,
            tasks,
            tasks_fingerprint: "fixture".into(),
            counters: counters(c),
        };
        record::write(&dir.reduce_record(stage), &rec).unwrap();
    }
    let done = Completion {
        stage: stage.into(),
        generation: format!("{stage}-fixture"),
        tasks,
    };
    record::write(&dir.completion(stage), &done).unwrap();
}

fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn id_lists(rows: &[&[u32]]) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt32,
        false,
    )));
    for r in rows {
        b.values().append_slice(r);
        b.append(true);
    }
    Arc::new(b.finish())
}

/// (url, text) rows of the fixture's pairs; two are exact duplicates.
const PAIRS: [(&str, &str); 10] = [
    ("http://www.a.com/1.jpg", "a dog"),
    ("http://a.com/2.jpg", "dog and cat"),
    ("http://b.org/3.jpg", "dog"),
    ("https://c.net:8080/4.jpg", "red car dog"),
    ("http://a.com/5.jpg", "cat"),
    ("http://b.org/6.jpg", "dog"),
    ("http://a.com/7.jpg", "sunset over the sea"),
    ("http://b.org/8.jpg", "logo"),
    ("http://www.a.com/1.jpg", "a dog"),
    ("http://b.org/3.jpg", "dog"),
];

fn pairs_batch(rows: &[(&str, &str)], ids: Option<&[&[u32]]>) -> RecordBatch {
    let uids: Vec<String> = rows.iter().map(|(u, t)| uid(u, t)).collect();
    let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
    let urls: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let page: ArrayRef = Arc::new(StringArray::from(vec![Some("http://p.com/"); rows.len()]));
    let mut cols = vec![
        strs(&uids),
        strs(&urls),
        strs(&texts),
        page,
        strs(&vec!["wat"; rows.len()]),
    ];
    let schema = match ids {
        Some(ids) => {
            cols.push(id_lists(ids));
            schema::matched_schema()
        }
        None => schema::pairs_schema(),
    };
    RecordBatch::try_new(schema, cols).unwrap()
}

/// A run with every stage: 10 pairs, 6 matched, 4 selected, 4 downloads (3
/// successes, 2 of them the same image), and the records of the stages that
/// made them.
fn fixture_run(run: &Path) {
    let vocab = run.join("vocab");
    fs::create_dir_all(&vocab).unwrap();
    let queries = ["0", "dog", "cat", "red car", "bird", "Paris"];
    let sources = ["number", "wordnet", "wordnet", "bigram", "unigram", "title"];
    fs::write(vocab.join("queries.txt"), queries.join("\n") + "\n").unwrap();
    let vschema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
    ]));
    write_parquet(
        &vocab.join("queries.parquet"),
        RecordBatch::try_new(
            vschema,
            vec![
                Arc::new(UInt32Array::from((0..6).collect::<Vec<u32>>())),
                strs(&queries),
                strs(&sources),
                Arc::new(Float64Array::from(vec![
                    None,
                    None,
                    None,
                    Some(31.0),
                    Some(120.0),
                    Some(80.0),
                ])),
            ],
        )
        .unwrap(),
    );
    fs::write(
        vocab.join("vocab.json"),
        r#"{"version": "0.1.0", "target_size": 6, "counts": {"wordnet": 2}}"#,
    )
    .unwrap();

    write_parquet(
        &run.join("pairs/part-00000.parquet"),
        pairs_batch(&PAIRS[..6], None),
    );
    write_parquet(
        &run.join("pairs/part-00001.parquet"),
        pairs_batch(&PAIRS[6..], None),
    );
    task_record(
        run,
        "extract",
        0,
        2.0,
        &[
            ("inputs_wat", 1),
            ("records", 7),
            ("pages", 5),
            ("images", 17),
            ("pairs_extracted", 13),
            ("pairs", 12),
            ("skip_duplicate_in_task", 1),
            ("skip_text_too_short", 3),
            ("fault_wat_invalid_json", 1),
        ],
    );
    reduce_and_complete(
        run,
        "extract",
        1,
        &[("rows_in", 12), ("unique_pairs", 10), ("skip_duplicate", 2)],
    );
    task_record(
        run,
        "match",
        0,
        1.0,
        &[
            ("pairs_in", 10),
            ("pairs_matched", 6),
            ("matches", 8),
            ("text_bytes", 80),
            ("fault_null_field", 1),
        ],
    );
    reduce_and_complete(
        run,
        "match",
        1,
        &[("entries_matched", 3), ("entries_unmatched", 3)],
    );
    task_record(
        run,
        "balance",
        0,
        1.0,
        &[
            ("pairs_in", 6),
            ("pairs_kept", 4),
            ("matches_in", 8),
            ("matches_kept", 6),
            ("fault_null_field", 0),
        ],
    );
    reduce_and_complete(
        run,
        "balance",
        1,
        &[
            ("t", 2),
            ("entries_matched", 3),
            ("entries_capped", 1),
            ("max_count_after", 3),
        ],
    );
    task_record(
        run,
        "download",
        0,
        4.0,
        &[
            ("samples", 4),
            ("images", 3),
            ("bytes_downloaded", 7000),
            ("bytes_written", 6516),
            ("fault_http_404", 1),
            ("skip_too_small", 0),
        ],
    );
    reduce_and_complete(run, "download", 1, &[]);

    let matched: [&[u32]; 6] = [&[1], &[1, 2], &[1], &[1, 3], &[2], &[1]];
    write_parquet(
        &run.join("matched/part-00000.parquet"),
        pairs_batch(&PAIRS[..6], Some(&matched)),
    );
    write_parquet(
        &run.join("counts.parquet"),
        RecordBatch::try_new(
            schema::counts_schema(),
            vec![
                Arc::new(UInt32Array::from(vec![1, 2, 3])),
                Arc::new(UInt64Array::from(vec![5u64, 2, 1])),
            ],
        )
        .unwrap(),
    );
    let selected_rows = [PAIRS[0], PAIRS[1], PAIRS[3], PAIRS[4]];
    let selected: [&[u32]; 4] = [&[1], &[1, 2], &[1, 3], &[2]];
    write_parquet(
        &run.join("selected/part-00000.parquet"),
        pairs_batch(&selected_rows, Some(&selected)),
    );

    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0u8; 3000][..]].concat();
    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 500][..]].concat();
    let n = 4;
    let keys = ["000000000", "000000001", "000000002", "000000003"];
    let urls: Vec<&str> = selected_rows.iter().map(|r| r.0).collect();
    let caps: Vec<&str> = selected_rows.iter().map(|r| r.1).collect();
    let uids: Vec<String> = selected_rows.iter().map(|(u, t)| uid(u, t)).collect();
    let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
    let int = |v: Vec<Option<i32>>| -> ArrayRef { Arc::new(Int32Array::from(v)) };
    let shard = RecordBatch::try_new(
        schema::shard_schema(),
        vec![
            strs(&keys),
            strs(&uids),
            strs(&urls),
            Arc::new(StringArray::from(
                caps.iter().map(|c| Some(*c)).collect::<Vec<_>>(),
            )),
            id_lists(&selected),
            strs(&["success", "success", "http_404", "success"]),
            Arc::new(StringArray::from(vec![
                None,
                None,
                Some("404 Not Found"),
                None,
            ])),
            int(vec![Some(256), Some(256), None, Some(256)]),
            int(vec![Some(256), Some(256), None, Some(256)]),
            int(vec![Some(800), Some(640), None, Some(300)]),
            int(vec![Some(600), Some(640), None, Some(900)]),
            Arc::new(StringArray::from(vec![
                Some("aa11"),
                Some("aa11"),
                None,
                Some("bb22"),
            ])),
            Arc::new(arrow_array::UInt64Array::from(vec![
                Some(0x0f0f_0f0f_0f0f_0f0f),
                Some(0x0f0f_0f0f_0f0f_0f0f),
                None,
                Some(0xf0f0_f0f0_f0f0_f0f0),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(jpeg.as_slice()),
                Some(jpeg.as_slice()),
                None,
                Some(png.as_slice()),
            ])),
        ],
    )
    .unwrap();
    assert_eq!(shard.num_rows(), n);
    write_parquet(&run.join("shards/00000.parquet"), shard);
}

fn run_stats(run: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--quiet", "stats", run.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = witcurate(&args);
    assert!(
        out.status.success(),
        "stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("report.html"),
        "summary names the report: {stdout}"
    );
    serde_json::from_str(&fs::read_to_string(run.join("stats/stats.json")).unwrap()).unwrap()
}

fn funnel(stats: &Value) -> Vec<(String, u64, Option<i64>)> {
    stats["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
                s["drop"].as_i64(),
            )
        })
        .collect()
}

#[test]
fn funnel_vocab_and_image_numbers_of_a_fixture_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    fixture_run(run);
    let s = run_stats(run, &[]);
    let f = funnel(&s);
    let expect = [
        ("extract.inputs", 1, None),
        ("extract.records", 7, None),
        ("extract.pairs_extracted", 13, None),
        ("extract.pairs", 12, Some(1)),
        ("extract.unique_pairs", 10, Some(2)),
        ("match.pairs_in", 10, Some(0)),
        ("match.pairs_matched", 6, Some(4)),
        ("balance.pairs_in", 6, Some(0)),
        ("balance.pairs_kept", 4, Some(2)),
        ("download.samples", 4, Some(0)),
        ("download.images", 3, Some(1)),
    ];
    let expect: Vec<(String, u64, Option<i64>)> = expect
        .iter()
        .map(|(a, b, c)| (a.to_string(), *b, *c))
        .collect();
    assert_eq!(f, expect);
    let steps = s["funnel"].as_array().unwrap();
    let reasons = |i: usize| -> Vec<(Option<&str>, &str, u64)> {
        steps[i]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["counter"].as_str(),
                    r["kind"].as_str().unwrap(),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // Why records gave no pair: the extract tasks' failures and filters.
    assert_eq!(
        reasons(2),
        [
            (Some("skip_text_too_short"), "skip", 3),
            (Some("fault_wat_invalid_json"), "fault", 1)
        ]
    );
    assert_eq!(reasons(3), [(Some("skip_duplicate_in_task"), "skip", 1)]);
    assert_eq!(reasons(4), [(Some("skip_duplicate"), "skip", 2)]);
    assert_eq!(
        steps[4]["label"],
        "unique pairs (de-duplicated over all inputs)"
    );
    assert_eq!(steps[4]["from"], "reduce");
    assert_eq!(steps[0]["counters"], serde_json::json!(["inputs_wat"]));
    assert!(reasons(5).is_empty());
    // The drop less the counted faults is what matching selects.
    assert_eq!(
        reasons(6),
        [
            (None, "selection", 3),
            (Some("fault_null_field"), "fault", 1)
        ]
    );
    assert_eq!(
        steps[6]["reasons"][0]["label"],
        "no vocabulary entry matched"
    );
    assert_eq!(reasons(8), [(None, "selection", 2)]);
    assert_eq!(reasons(10), [(Some("fault_http_404"), "fault", 1)]);
    assert_eq!(steps[10]["reasons"][0]["label"], "HTTP status 404");
    // Records and output files agree.
    for (i, rows) in [(4, 10), (6, 6), (8, 4), (9, 4), (10, 3)] {
        assert_eq!(steps[i]["output_rows"], rows, "{}", steps[i]["step"]);
    }
    assert!(steps[0]["output_rows"].is_null());
    assert_eq!(s["stages"]["without_records"], serde_json::json!([]));

    let r = &s["stage_records"];
    assert_eq!(
        (
            r["extract"]["failures"].as_u64(),
            r["extract"]["filtered"].as_u64()
        ),
        (Some(1), Some(6))
    );
    assert_eq!(r["match"]["failures"], 1);
    assert_eq!(r["download"]["failures"], 1);
    assert_eq!(r["download"]["filtered"], 0);
    assert_eq!(r["extract"]["complete_tasks"], 1);
    assert_eq!(r["extract"]["reduce_seconds"], 0.5);
    assert!(r["download"]["reduce"].is_null());
    assert_eq!(
        r["balance"]["reduce"][3],
        serde_json::json!({"name": "t", "kind": "measure", "label": "t (the balance cap)", "value": 2})
    );
    assert_eq!(
        r["download"]["tasks"][2],
        serde_json::json!({"name": "fault_http_404", "kind": "fault", "label": "HTTP status 404", "value": 1})
    );
    assert_eq!(s["stages"]["missing"], serde_json::json!([]));

    let v = &s["vocab"];
    assert_eq!(v["entries"], 6);
    assert_eq!(
        v["per_source"],
        serde_json::json!({"bigram": 1, "number": 1, "title": 1, "unigram": 1, "wordnet": 2})
    );
    assert_eq!(v["matched_per_source"]["wordnet"], 2);
    assert_eq!(v["matched_per_source"]["title"], 0);
    assert_eq!(v["matched_entries"], 3);
    assert_eq!(v["never_matched"], 3);
    // counts.parquet is preferred over matched/ for the curve before balancing.
    assert_eq!(v["counts_from"], "counts parquet");
    assert_eq!(v["total_matches_before"], 8);
    assert_eq!(v["total_matches_after"], 6);
    assert_eq!(v["t"], 2);
    assert_eq!(v["t_from"], "the balance stage's record");
    assert_eq!(v["capped_entries"], 1);
    assert_eq!(v["capped_matches"], 5);
    assert!((v["capped_share"].as_f64().unwrap() - 5.0 / 8.0).abs() < 1e-12);
    assert_eq!(v["over_t_after"], 1);
    assert_eq!(
        v["rank_frequency"]["before"],
        serde_json::json!([[1, 5], [2, 2], [3, 1]])
    );
    assert_eq!(
        v["rank_frequency"]["after"],
        serde_json::json!([[1, 3], [2, 2], [3, 1]])
    );
    assert_eq!(v["after_from"], "selected/ query_ids");
    // Counts 5, 2, 1: the top entry holds 5 of 8 matches.
    assert_eq!(v["cumulative"], serde_json::json!([[1, 5], [2, 7], [3, 8]]));
    let what_if = v["what_if"].as_array().unwrap();
    let at_t = what_if
        .iter()
        .find(|w| w["t"] == v["t"])
        .expect("the run's own t is a row");
    assert_eq!(at_t["capped_entries"], v["capped_entries"]);
    let top = &v["top_entries"][0];
    assert_eq!(
        (
            top["query"].as_str(),
            top["before"].as_u64(),
            top["after"].as_u64()
        ),
        (Some("dog"), Some(5), Some(3))
    );
    assert_eq!(top["source"], "wordnet");
    let mpt = &v["matches_per_text"]["matched"]["counts"];
    assert_eq!(
        &mpt.as_array().unwrap()[..3],
        &[Value::from(0), Value::from(4), Value::from(2)]
    );

    let c = &s["captions"]["pairs"];
    assert_eq!(c["texts"], 10);
    assert_eq!(
        c["top_texts"]["top"][0],
        serde_json::json!({"key": "dog", "count": 3})
    );
    assert_eq!(c["tokens"]["max"], 4.0);

    let i = &s["images"];
    assert_eq!(
        (i["rows"].as_u64(), i["successes"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(i["formats"], serde_json::json!({"jpeg": 2, "png": 1}));
    assert_eq!(i["duplicate_sha256"], 1);
    assert_eq!(i["bytes_total"], 3004 * 2 + 508);
    assert_eq!(i["width_before"]["max"], 800.0);
    assert_eq!(
        i["aspect_after"]["counts"][8], 3,
        "every resized image is square"
    );

    assert_eq!(
        s["domains"]["pairs"]["top"][0],
        serde_json::json!({"key": "a.com", "count": 5})
    );
    assert_eq!(
        s["domains"]["pairs"]["top"][2],
        serde_json::json!({"key": "c.net", "count": 1})
    );
    assert_eq!(s["vocab_build"]["values"]["version"], "0.1.0");
    assert_eq!(s["vocab_build"]["values"]["counts.wordnet"], "2");
    let tp = s["throughput"].as_array().unwrap();
    assert_eq!(tp.len(), 4);
    assert_eq!(tp[0]["stage"], "extract");
    assert_eq!(tp[0]["what"], "WARC/WAT records read");
    assert_eq!(tp[0]["per_task_second"], 3.5);
    assert_eq!(tp[3]["stage"], "download");
    assert_eq!(tp[3]["per_task_second"], 1.0);

    let md = fs::read_to_string(run.join("stats/report.md")).unwrap();
    assert!(md.contains("| extract | pairs extracted | 13 |"), "{md}");
    assert!(
        md.contains("| download | images downloaded | 3 | 1 | failure: HTTP status 404 1 |"),
        "{md}"
    );
    assert!(md.contains("| 1 | dog | wordnet | 5 | 3 |"), "{md}");
    assert!(
        md.contains("- t (the balance cap) = 2, from the balance stage's record"),
        "{md}"
    );
    assert!(
        md.contains("| reduce | t | measure | t (the balance cap) | 2 |"),
        "{md}"
    );
    assert!(!md.contains("⚠"), "records and files agree: {md}");
    let html = fs::read_to_string(run.join("stats/report.html")).unwrap();
    assert!(
        html.contains("t (the balance cap), from the balance stage&#39;s record"),
        "{html}"
    );
}

/// The numbers at a JSON pointer of stats.json, the way a chart names them.
fn numbers_at(stats: &Value, path: &str, field: Option<&str>) -> Vec<f64> {
    match stats
        .pointer(path)
        .unwrap_or_else(|| panic!("stats.json has no {path}"))
    {
        Value::Array(items) => items
            .iter()
            .map(|v| match field {
                Some(f) => v[f].as_f64().unwrap(),
                None => v.as_f64().unwrap(),
            })
            .collect(),
        Value::Object(map) => map.values().map(|v| v.as_f64().unwrap()).collect(),
        other => panic!("{path}: unexpected {other}"),
    }
}

fn attr(tag: &tl::HTMLTag, name: &str) -> Option<String> {
    tag.attributes()
        .get(name)
        .flatten()
        .map(|b| b.as_utf8_str().into_owned())
}

#[test]
fn html_parses_and_every_chart_agrees_with_stats_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    fixture_run(run);
    let stats = run_stats(run, &[]);
    let html = fs::read_to_string(run.join("stats/report.html")).unwrap();
    assert!(
        !html.contains("http://www.w3.org/1999/xlink")
            && !html.contains("<link")
            && !html.contains(" src=")
    );
    let dom = tl::parse(&html, tl::ParserOptions::default()).expect("HTML parses");
    let parser = dom.parser();
    let tags: Vec<&tl::HTMLTag> = dom.nodes().iter().filter_map(|n| n.as_tag()).collect();
    for name in ["html", "head", "body", "main"] {
        assert_eq!(
            tags.iter().filter(|t| t.name() == name).count(),
            1,
            "one <{name}>"
        );
    }
    let head = tags.iter().find(|t| t.name() == "head").unwrap();
    let head_tags: Vec<&tl::HTMLTag> = head
        .children()
        .all(parser)
        .iter()
        .filter_map(|n| n.as_tag())
        .collect();
    assert!(
        head_tags.iter().any(|t| t.name() == "title"),
        "the page has a title"
    );
    assert!(
        head_tags.iter().any(|t| t.name() == "style"),
        "the page carries its own CSS"
    );
    let figures: Vec<&&tl::HTMLTag> = tags
        .iter()
        .filter(|t| t.name() == "figure" && t.attributes().is_class_member("chart"))
        .collect();
    let ids: Vec<String> = figures.iter().map(|f| attr(f, "id").unwrap()).collect();
    for want in [
        "chart-funnel",
        "chart-vocab-sources",
        "chart-rank-frequency",
        "chart-matches-per-text",
        "chart-caption-chars",
        "chart-caption-tokens",
        "chart-image-status",
        "chart-image-formats",
        "chart-image-width",
        "chart-image-height",
        "chart-image-aspect",
        "chart-image-bytes",
        "chart-domains-pairs",
    ] {
        assert!(ids.iter().any(|i| i == want), "missing {want} in {ids:?}");
    }
    for fig in figures {
        let id = attr(fig, "id").unwrap();
        let inner: Vec<&tl::HTMLTag> = fig
            .children()
            .all(parser)
            .iter()
            .filter_map(|n| n.as_tag())
            .collect();
        let svg = inner
            .iter()
            .find(|t| t.name() == "svg")
            .unwrap_or_else(|| panic!("{id}: no svg"));
        // The SVG is well-formed XML.
        let svg_text = svg.outer_html(parser);
        let mut reader = quick_xml::Reader::from_str(&svg_text);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{id}: SVG is not well-formed: {e}"),
            }
        }
        let script = inner
            .iter()
            .find(|t| t.name() == "script" && t.attributes().is_class_member("chart-data"))
            .unwrap_or_else(|| panic!("{id}: no chart data"));
        let data: Value = serde_json::from_str(&script.inner_text(parser)).unwrap();
        for (si, series) in data["series"].as_array().unwrap().iter().enumerate() {
            let path = series["path"].as_str().unwrap();
            if data["kind"] == "loglog" {
                let points: Vec<[f64; 2]> =
                    serde_json::from_value(series["points"].clone()).unwrap();
                let want: Vec<[f64; 2]> =
                    serde_json::from_value(stats.pointer(path).unwrap().clone()).unwrap();
                assert_eq!(points, want, "{id} series {si}");
                let drawn: Vec<[f64; 2]> = inner
                    .iter()
                    .filter(|t| {
                        t.name() == "circle" && attr(t, "data-series") == Some(si.to_string())
                    })
                    .map(|t| {
                        [
                            attr(t, "data-x").unwrap().parse().unwrap(),
                            attr(t, "data-y").unwrap().parse().unwrap(),
                        ]
                    })
                    .collect();
                assert_eq!(drawn, want, "{id}: drawn points of series {si}");
            } else {
                let values: Vec<f64> = serde_json::from_value(series["values"].clone()).unwrap();
                let want = numbers_at(&stats, path, series["field"].as_str());
                assert_eq!(values, want, "{id} series {si} vs stats.json {path}");
                let drawn: Vec<f64> = inner
                    .iter()
                    .filter(|t| {
                        t.name() == "rect" && attr(t, "data-series") == Some(si.to_string())
                    })
                    .map(|t| attr(t, "data-value").unwrap().parse().unwrap())
                    .collect();
                assert_eq!(drawn, want, "{id}: drawn bars of series {si}");
            }
        }
        if data["kind"] == "loglog" && !data["marker"].is_null() {
            let marker = inner
                .iter()
                .find(|t| t.name() == "line" && t.attributes().is_class_member("marker"))
                .unwrap();
            assert_eq!(
                attr(marker, "data-y").unwrap(),
                stats["vocab"]["t"].to_string(),
                "t is marked"
            );
        }
    }
}

#[test]
fn a_run_without_stages_is_an_error_naming_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = witcurate(&["--quiet", "stats", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no stage outputs found")
            && err.contains("pairs/*.parquet")
            && err.contains("shards/*.parquet"),
        "{err}"
    );
    let out = witcurate(&[
        "--quiet",
        "stats",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a run directory"));
}

#[test]
fn missing_stages_and_bad_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    write_parquet(
        &run.join("pairs/part-00000.parquet"),
        pairs_batch(&PAIRS[..4], None),
    );
    fs::write(
        run.join("pairs/part-00001.parquet"),
        b"PAR1 this is not parquet",
    )
    .unwrap();
    fs::write(run.join("pairs/.part-00002.parquet.tmp-99"), b"partial").unwrap();
    fs::create_dir_all(run.join("vocab")).unwrap();
    fs::write(run.join("vocab/queries.parquet"), b"not parquet either").unwrap();
    let s = run_stats(run, &[]);
    assert_eq!(
        s["stages"]["present"],
        serde_json::json!(["vocab", "pairs"])
    );
    assert_eq!(
        s["stages"]["missing"],
        serde_json::json!(["matched", "counts", "selected", "shards"])
    );
    assert_eq!(
        s["stage_files"]["vocab"]["problems"]["unreadable_vocabulary"],
        1
    );
    assert_eq!(s["stage_files"]["pairs"]["rows"], 4);
    assert_eq!(s["stage_files"]["pairs"]["problems"]["unreadable_file"], 1);
    assert!(s["vocab"].is_null() && s["images"].is_null());
    // Outputs without the records of their stage are not in the funnel.
    assert!(funnel(&s).is_empty());
    assert_eq!(s["stages"]["without_records"], serde_json::json!(["pairs"]));
    let html = fs::read_to_string(run.join("stats/report.html")).unwrap();
    assert!(
        html.contains("id=\"missing-stages\"")
            && html.contains("matched, counts, selected, shards")
            && html.contains("id=\"without-records\"")
    );

    // Records that disagree with the files, and one that is not a record.
    task_record(
        run,
        "extract",
        0,
        1.0,
        &[
            ("inputs_warc", 1),
            ("records", 9),
            ("pairs_extracted", 5),
            ("pairs", 5),
        ],
    );
    reduce_and_complete(
        run,
        "extract",
        2,
        &[("rows_in", 5), ("unique_pairs", 5), ("skip_duplicate", 0)],
    );
    let bad = RunDir::new(run).task_record("extract", 1);
    fs::write(&bad, b"{\"stage\": ").unwrap();
    let s = run_stats(run, &[]);
    assert_eq!(s["stages"]["without_records"], serde_json::json!([]));
    let f = funnel(&s);
    assert_eq!(
        f.last().unwrap(),
        &("extract.unique_pairs".to_string(), 5, Some(0))
    );
    assert_eq!(s["funnel"][4]["output_rows"], 4);
    let problems = s["stage_records"]["extract"]["problems"]
        .as_array()
        .unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("_stats/extract/task-00001.json: not a task record"),
        "{problems:?}"
    );
    assert!(
        problems[1]
            .as_str()
            .unwrap()
            .contains("summarises 2 task records; 1 are present"),
        "{problems:?}"
    );
    let md = fs::read_to_string(run.join("stats/report.md")).unwrap();
    assert!(
        md.contains("⚠ the output files hold 4 rows, the records say 5"),
        "{md}"
    );
    assert!(md.contains("- problem: "), "{md}");
}

#[test]
fn output_is_byte_identical_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    fixture_run(run);
    let mut outputs = Vec::new();
    for threads in ["1", "3"] {
        let out_dir = run.join(format!("out{threads}"));
        let out = witcurate(&[
            "--quiet",
            "--threads",
            threads,
            "stats",
            run.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        outputs.push(
            ["stats.json", "report.md", "report.html"].map(|f| fs::read(out_dir.join(f)).unwrap()),
        );
    }
    assert!(outputs[0] == outputs[1]);
}

/// Sums of the counters of a stage's task records, and the reduce record's
/// counters, read straight from the files.
fn record_counters(run: &Path, stage: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut tasks: BTreeMap<String, u64> = BTreeMap::new();
    let dir = run.join("_stages").join(stage);
    let mut n = 0;
    for e in fs::read_dir(run.join("_stats").join(stage)).unwrap() {
        let rec: Value = serde_json::from_slice(&fs::read(e.unwrap().path()).unwrap()).unwrap();
        assert_eq!(rec["stage"], stage);
        for (k, v) in rec["counters"].as_object().unwrap() {
            *tasks.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
        n += 1;
    }
    assert!(n > 0, "{stage} has task records");
    let reduce: Value =
        serde_json::from_slice(&fs::read(dir.join("reduce.json")).unwrap()).unwrap();
    let reduce = reduce["counters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    (tasks, reduce)
}

#[test]
fn the_funnel_of_a_real_run_is_the_stages_counters() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/commoncrawl");
    let name = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc";
    let warc = data.join(name);
    // The WAT with bytes after its last record: a fault of the extract stage.
    let wat = dir.path().join("damaged.warc.wat");
    let mut bytes = fs::read(data.join(format!("{name}.wat"))).unwrap();
    bytes.extend_from_slice(b"not a WARC record\r\n\r\n");
    fs::write(&wat, bytes).unwrap();
    let vocab = dir.path().join("queries.txt");
    fs::write(&vocab, "photo\nNo\nthe\nlogo\nNews\n1\n2\n3\n").unwrap();
    let run = dir.path().join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    assert_success(&witcurate(&[
        "--quiet",
        "crawl",
        "--out",
        &s(&run),
        "--input",
        &s(&warc),
        "--input",
        &s(&wat),
        "--partitions",
        "3",
        "--vocab",
        &s(&vocab),
        "--t",
        "2",
        "--stop-after",
        "balance",
    ]));
    let stats = run_stats(&run, &[]);

    let (ext, ext_reduce) = record_counters(&run, "extract");
    let (mat, _) = record_counters(&run, "match");
    let (bal, bal_reduce) = record_counters(&run, "balance");
    let sum = |c: &BTreeMap<String, u64>, names: &[&str]| -> u64 {
        names.iter().map(|n| c.get(*n).copied().unwrap_or(0)).sum()
    };
    let expect: Vec<(String, u64)> = [
        ("extract.inputs", sum(&ext, &["inputs_warc", "inputs_wat"])),
        ("extract.records", ext["records"]),
        ("extract.pairs_extracted", ext["pairs_extracted"]),
        ("extract.pairs", ext["pairs"]),
        ("extract.unique_pairs", ext_reduce["unique_pairs"]),
        ("match.pairs_in", mat["pairs_in"]),
        ("match.pairs_matched", mat["pairs_matched"]),
        ("balance.pairs_in", bal["pairs_in"]),
        ("balance.pairs_kept", bal["pairs_kept"]),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    let got: Vec<(String, u64)> = funnel(&stats)
        .into_iter()
        .map(|(step, count, _)| (step, count))
        .collect();
    assert_eq!(got, expect, "every step of the stages run, and only those");
    assert_eq!(expect[0].1, 2);
    assert!(expect.iter().all(|(_, n)| *n > 0), "{expect:?}");

    let steps = stats["funnel"].as_array().unwrap();
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap();
    // Drops are the duplicates the stages counted, and what they selected.
    assert_eq!(
        step("extract.pairs")["drop"].as_u64(),
        Some(ext["skip_duplicate_in_task"])
    );
    assert_eq!(
        step("extract.unique_pairs")["drop"].as_u64(),
        Some(ext_reduce["skip_duplicate"])
    );
    assert_eq!(step("match.pairs_in")["drop"], 0);
    assert_eq!(step("balance.pairs_in")["drop"], 0);
    let kept = step("balance.pairs_kept");
    assert_eq!(
        kept["drop"].as_u64(),
        Some(bal["pairs_in"] - bal["pairs_kept"])
    );
    assert_eq!(kept["reasons"][0]["kind"], "selection");
    // The output files hold what the records say.
    for s in steps.iter().filter(|s| !s["output_rows"].is_null()) {
        assert_eq!(s["output_rows"], s["count"], "{}", s["step"]);
    }
    assert!(!step("balance.pairs_kept")["output_rows"].is_null());

    // The damaged WAT's fault is a failure, in the stage's total and as a
    // reason of the extract funnel.
    let faults: Vec<(&String, &u64)> = ext
        .iter()
        .filter(|(k, _)| k.starts_with("fault_"))
        .collect();
    let fault_total: u64 = faults.iter().map(|(_, v)| **v).sum();
    assert!(fault_total > 0, "{ext:?}");
    let records = &stats["stage_records"];
    assert_eq!(records["extract"]["failures"], fault_total);
    let skips: u64 = ext
        .iter()
        .chain(&ext_reduce)
        .filter(|(k, _)| k.starts_with("skip_"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(records["extract"]["filtered"], skips);
    for (name, n) in &faults {
        let found = step("extract.pairs_extracted")["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["counter"] == name.as_str() && r["kind"] == "fault" && r["count"] == **n);
        assert!(found || **n == 0, "{name} is a failure reason");
        let listed = records["extract"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name.as_str() && c["kind"] == "fault");
        assert!(listed, "{name} is listed as a fault");
    }
    for stage in ["match", "balance"] {
        let c = if stage == "match" { &mat } else { &bal };
        let f = sum(c, &["fault_null_field"]);
        assert_eq!(records[stage]["failures"], f);
        assert_eq!(records[stage]["complete_tasks"], 3);
    }
    assert_eq!(stats["vocab"]["t"], bal_reduce["t"]);
    assert_eq!(stats["vocab"]["t_from"], "the balance stage's record");
    assert_eq!(
        stats["stages"]["missing"],
        serde_json::json!(["vocab", "shards"])
    );
    let md = fs::read_to_string(run.join("stats/report.md")).unwrap();
    assert!(
        md.contains("| reduce | t | measure | t (the balance cap) | 2 |"),
        "{md}"
    );
}
