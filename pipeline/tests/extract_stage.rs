//! The extract stage through its library API: damaged input, gzip members,
//! http inputs and path lists, and WARC/WAT agreement on the real sample.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use pipeline::extract::shuffle::{read_rows, Row};
use pipeline::extract::{ExtractParams, ExtractStage};
use pipeline::run_dir::RunDir;
use pipeline::stage::{run_stage, RunOptions, StageError, StageOutcome};
use pipeline::task::Counters;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/commoncrawl")
        .join(name)
}

const WARC: &str = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc";
const WAT: &str = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat";

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn record(kind: &str, uri: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    synthetic::warc::record_bytes(&synthetic::warc::Record {
        warc_type: kind,
        record_id: synthetic::warc::record_id(1),
        date: synthetic::warc::DATE,
        target_uri: Some(uri),
        content_type,
        block,
    })
}

fn html_response(uri: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut http = format!("HTTP/1.1 200 OK\r\n{headers}\r\n\r\n").into_bytes();
    http.extend_from_slice(body);
    record("response", uri, "application/http; msgtype=response", &http)
}

/// Splits a plain WARC/WAT file into its records (at `WARC/1.0` lines).
fn split_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = vec![0];
    let needle = b"\r\n\r\nWARC/1.0\r\n";
    let mut i = 0;
    while let Some(k) = memchr::memmem::find(&bytes[i..], needle) {
        starts.push(i + k + 4);
        i += k + 4;
    }
    starts.push(bytes.len());
    starts
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

fn all_rows(run_dir: &Path) -> Vec<Row> {
    let mut files: Vec<_> = std::fs::read_dir(run_dir.join("pairs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files.iter().flat_map(|p| read_rows(p).unwrap()).collect()
}

fn task_counters(run_dir: &Path, task: usize) -> Counters {
    let path = RunDir::new(run_dir).task_record("extract", task);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    serde_json::from_value(v["counters"].clone()).unwrap()
}

struct Config {
    out: PathBuf,
    inputs: Vec<String>,
    base_url: String,
}

fn config(out: &Path, inputs: Vec<String>) -> Config {
    Config {
        out: out.to_path_buf(),
        inputs,
        base_url: pipeline::sources::input::COMMONCRAWL_BASE_URL.into(),
    }
}

/// Runs the extract stage with 3 partitions.
fn run(cfg: &Config) -> Result<StageOutcome, StageError> {
    let mut params = ExtractParams::new(&cfg.inputs, &cfg.base_url).unwrap();
    params.partitions = 3;
    let stage = ExtractStage::new(params).unwrap();
    run_stage(&RunDir::new(&cfg.out), &stage, &RunOptions::default())
}

#[test]
fn wat_and_warc_of_the_same_crawl_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (wat_run, warc_run) = (dir.path().join("wat"), dir.path().join("warc"));
    run(&config(&wat_run, vec![sample(WAT).display().to_string()])).unwrap();
    run(&config(&warc_run, vec![sample(WARC).display().to_string()])).unwrap();
    let key = |r: &Row| {
        let page = r.page_url.as_deref().unwrap().to_string();
        (page, r.url.clone(), r.text.clone())
    };
    let wat: BTreeSet<_> = all_rows(&wat_run).iter().map(key).collect();
    let warc: BTreeSet<_> = all_rows(&warc_run).iter().map(key).collect();
    let page = "http://0pointer.de/photos/?gallery=Australia&photo=496";
    let expected: BTreeSet<_> = [
        ("galleries/Australia/lq/img-496.jpg", "496"),
        ("galleries/Australia/thumbs/img-495.jpg", "Previous"),
        ("galleries/Australia/thumbs/img-497.jpg", "Next"),
    ]
    .iter()
    .map(|(u, t)| {
        (
            page.to_string(),
            format!("http://0pointer.de/photos/{u}"),
            t.to_string(),
        )
    })
    .chain(std::iter::once((
        page.to_string(),
        "http://creativecommons.org/images/public/somerights20.png".to_string(),
        "Creative Commons License".to_string(),
    )))
    .collect();
    assert_eq!(wat, expected);
    // The WAT sample stops after the first pages of the WARC: on the pages
    // both describe, the pairs are the same.
    let wat_pages: BTreeSet<_> = wat.iter().map(|k| k.0.clone()).collect();
    let warc_on_wat_pages: BTreeSet<_> = warc
        .iter()
        .filter(|k| wat_pages.contains(&k.0))
        .cloned()
        .collect();
    assert_eq!(warc_on_wat_pages, wat);
    // The WARC has two more HTML pages with many images; one declares
    // `Content-Encoding: gzip` over a payload stored decoded.
    assert!(warc.len() > 100, "{}", warc.len());
    let warc_pages: BTreeSet<_> = warc.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(warc_pages.len(), 3, "{warc_pages:?}");
    assert!(
        warc_pages.contains("http://0x20.be/Special:WhatLinksHere/Thread:Talk:Gentse_feesten/foo")
    );
    let rows = all_rows(&warc_run);
    assert!(rows.iter().all(|r| &*r.source == "warc"));
    assert!(rows.iter().all(|r| r.url.starts_with("http")));
}

#[test]
fn damaged_input_is_counted_and_the_good_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let good = |n: usize| {
        html_response(
            &format!("http://good{n}.example/page"),
            "Content-Type: text/html; charset=utf-8",
            format!("<img src=\"/img{n}.jpg\" alt=\"good {n}\">").as_bytes(),
        )
    };
    let mut warc = Vec::new();
    warc.extend(gz(&good(1)));
    // A truncated gzip member.
    let cut = gz(&good(99));
    warc.extend_from_slice(&cut[..cut.len() / 2]);
    warc.extend(gz(&good(2)));
    // A malformed WARC header.
    warc.extend(gz(
        b"WARC/1.0\r\nthis is not a header\r\n\r\n<img src=x alt=y>\r\n\r\n",
    ));
    warc.extend(gz(&good(3)));
    // A Content-Length that lies (too long), in a member of its own.
    let lying = String::from_utf8(good(98))
        .unwrap()
        .replace("Content-Length: ", "Content-Length: 9");
    warc.extend(gz(lying.as_bytes()));
    warc.extend(gz(&good(4)));
    // Non-UTF-8 HTML with a charset declaration (windows-1251 Cyrillic).
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("<img src=cat.jpg alt=\"кошка\">");
    warc.extend(gz(&html_response(
        "http://ru.example/",
        "Content-Type: text/html; charset=windows-1251",
        &cp1251,
    )));
    // A 50 MB record (over the 32 MiB default limit).
    let mut big = b"<html>".to_vec();
    big.resize(50 << 20, b' ');
    warc.extend(gz(&html_response(
        "http://big.example/",
        "Content-Type: text/html",
        &big,
    )));
    // An alt of 1 MB.
    let long_alt = format!("<img src=long.jpg alt=\"{}\">", "word ".repeat(200_000));
    warc.extend(gz(&html_response(
        "http://long.example/",
        "Content-Type: text/html",
        long_alt.as_bytes(),
    )));
    warc.extend(gz(&good(5)));
    std::fs::write(inputs.join("damaged.warc.gz"), &warc).unwrap();

    // A WAT with invalid JSON between two good records.
    let wat_json = |n: usize| {
        format!(
            r#"{{"Envelope":{{"Payload-Metadata":{{"HTTP-Response-Metadata":{{"HTML-Metadata":{{"Links":[{{"path":"IMG@/src","url":"w{n}.png","alt":"wat {n}"}}]}}}}}}}}}}"#
        )
    };
    let mut wat = Vec::new();
    wat.extend(gz(&record(
        "metadata",
        "http://w.example/",
        "application/json",
        wat_json(1).as_bytes(),
    )));
    wat.extend(gz(&record(
        "metadata",
        "http://w.example/",
        "application/json",
        b"{\"Envelope\": {\"Payload",
    )));
    wat.extend(gz(&record(
        "metadata",
        "http://w.example/b",
        "application/json",
        wat_json(2).as_bytes(),
    )));
    std::fs::write(inputs.join("damaged.warc.wat.gz"), &wat).unwrap();

    let out = dir.path().join("run");
    run(&config(&out, vec![inputs.display().to_string()])).unwrap();
    let texts: BTreeSet<String> = all_rows(&out).into_iter().map(|r| r.text).collect();
    let expected: BTreeSet<String> = [
        "good 1",
        "good 2",
        "good 3",
        "good 4",
        "good 5",
        "кошка",
        "wat 1",
        "wat 2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(texts, expected);

    // Task 0 is damaged.warc.gz, task 1 damaged.warc.wat.gz (sorted names).
    let c = task_counters(&out, 0);
    assert_eq!(c.get("fault_gzip_corrupt_member"), 1, "{c:?}");
    assert_eq!(c.get("fault_warc_malformed_header"), 1, "{c:?}");
    assert!(c.get("fault_warc_bad_content_length") >= 1, "{c:?}");
    assert_eq!(c.get("fault_warc_record_too_large"), 1, "{c:?}");
    assert_eq!(c.get("skip_text_too_long"), 1, "{c:?}");
    assert_eq!(c.get("html_non_utf8"), 1, "{c:?}");
    let w = task_counters(&out, 1);
    assert_eq!(w.get("fault_wat_invalid_json"), 1, "{w:?}");
}

/// Serves the files of `root` over http on 127.0.0.1 (until the test ends).
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                match std::fs::File::open(root.join(path)) {
                    Ok(mut f) => {
                        let mut body = Vec::new();
                        f.read_to_end(&mut body).unwrap();
                        // Files under `cut/` are announced longer than they
                        // are: the connection drops in the middle of the body.
                        let announced =
                            body.len() + if path.starts_with("cut/") { 1000 } else { 0 };
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(head.as_bytes());
                        // Send in pieces so the reader sees a real stream.
                        for chunk in body.chunks(4096) {
                            if stream.write_all(chunk).is_err() {
                                break;
                            }
                        }
                    }
                    Err(_) => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn gzip_members_over_http_via_a_path_list_match_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("www");
    std::fs::create_dir_all(served.join("crawl/wat")).unwrap();
    // Re-compress the sample WAT the way Common Crawl does: a member per record.
    let plain = std::fs::read(sample(WAT)).unwrap();
    let records = split_records(&plain);
    assert_eq!(records.len(), 9);
    let mut members = Vec::new();
    for r in &records {
        members.extend(gz(r));
    }
    std::fs::write(served.join("crawl/wat/sample.warc.wat.gz"), &members).unwrap();
    std::fs::write(
        served.join("wat.paths.gz"),
        gz(b"crawl/wat/sample.warc.wat.gz\n"),
    )
    .unwrap();
    let base = serve(served.clone());

    let remote = dir.path().join("remote");
    let mut cfg = config(&remote, vec![format!("{base}wat.paths.gz")]);
    cfg.base_url = base.clone();
    run(&cfg).unwrap();
    let local = dir.path().join("local");
    run(&config(&local, vec![sample(WAT).display().to_string()])).unwrap();
    for p in 0..3 {
        let name = format!("pairs/part-{p:05}.parquet");
        assert_eq!(
            std::fs::read(remote.join(&name)).unwrap(),
            std::fs::read(local.join(&name)).unwrap(),
            "{name}"
        );
    }
    let c = task_counters(&remote, 0);
    assert_eq!(c.get("gzip_members"), 9);
    assert_eq!(c.get("fault_gzip_corrupt_member"), 0);

    // A missing remote file fails its task, clearly, and nothing else.
    let bad = dir.path().join("bad");
    let err = run(&config(
        &bad,
        vec![
            format!("{base}missing.warc.gz"),
            sample(WAT).display().to_string(),
        ],
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("404") && err.contains("missing.warc.gz"),
        "{err}"
    );
    assert!(bad.join("pairs/_map/task-00001.parquet").exists());
    assert!(!bad.join("pairs/part-00000.parquet").exists());
    assert!(!RunDir::new(&bad).completion("extract").exists());

    // A download cut short fails its task instead of passing for a short file.
    std::fs::create_dir_all(served.join("cut")).unwrap();
    std::fs::write(served.join("cut/sample.warc.wat.gz"), &members).unwrap();
    let cut = dir.path().join("cut");
    let err = run(&config(&cut, vec![format!("{base}cut/sample.warc.wat.gz")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cut/sample.warc.wat.gz"), "{err}");
    assert!(!cut.join("pairs/_map/task-00000.parquet").exists());
}
