//! End-to-end tests of `witcurate crawl download` against a small HTTP server
//! on 127.0.0.1 started by each test.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use arrow_array::builder::{ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use image::{ImageBuffer, ImageFormat, Rgb};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

mod common;
use common::{assert_success, witcurate, write_parquet};

// ---------------------------------------------------------------- server

/// What the test server answers for a path.
#[derive(Clone)]
enum Reply {
    Ok {
        body: Vec<u8>,
        headers: Vec<(String, String)>,
        delay: Duration,
    },
    Status(u16, Vec<(String, String)>),
    /// Headers announcing a body, a few bytes, then silence.
    Stall,
    /// 429 with Retry-After: 1 for the first `n` requests, then the body.
    FlakyThen(usize, Vec<u8>),
}

struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
    /// Most requests handled at the same time.
    peak: Arc<AtomicUsize>,
}

impl Server {
    fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let route = Arc::new(route);
        let flaky = Arc::new(std::sync::Mutex::new(BTreeMap::<String, usize>::new()));
        let counters = (Arc::clone(&hits), Arc::clone(&active), Arc::clone(&peak));
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let route = Arc::clone(&route);
                let flaky = Arc::clone(&flaky);
                let counters = counters.clone();
                thread::spawn(move || serve(stream, &*route, &flaky, &counters));
            }
        });
        Server { port, hits, peak }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    route: &(dyn Fn(&str) -> Reply + Send + Sync),
    flaky: &std::sync::Mutex<BTreeMap<String, usize>>,
    (hits, active, peak): &(Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>),
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let reply = route(&path);
        let write = |out: &mut TcpStream, code: u16, headers: &[(String, String)], body: &[u8]| {
            let mut head = format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n", body.len());
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(body);
            let _ = out.flush();
        };
        match reply {
            Reply::Ok {
                body,
                headers,
                delay,
            } => {
                thread::sleep(delay);
                write(&mut out, 200, &headers, &body);
            }
            Reply::Status(code, headers) => write(&mut out, code, &headers, b"no"),
            Reply::Stall => {
                let _ =
                    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n\xff\xd8\xff");
                let _ = out.flush();
                thread::sleep(Duration::from_secs(20));
                return;
            }
            Reply::FlakyThen(n, body) => {
                let seen = {
                    let mut m = flaky.lock().unwrap();
                    let c = m.entry(path.clone()).or_insert(0);
                    *c += 1;
                    *c
                };
                if seen <= n {
                    write(
                        &mut out,
                        429,
                        &[("Retry-After".into(), "1".into())],
                        b"slow down",
                    );
                } else {
                    write(&mut out, 200, &[], &body);
                }
            }
        }
        active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn ok(body: Vec<u8>) -> Reply {
    Reply::Ok {
        body,
        headers: vec![],
        delay: Duration::ZERO,
    }
}

// ---------------------------------------------------------------- data

fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([(x as u8) ^ seed, (y as u8).wrapping_add(seed), 90])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([seed, x as u8, y as u8]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG header announcing 30000×30000 pixels (900 million), with a
/// valid-looking but tiny data stream: a decompression bomb's signature.
fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2_crc(kind, data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&std::mem::take(&mut crc).to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// CRC-32 (IEEE) of a PNG chunk's type and data.
fn flate2_crc(kind: &[u8], data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in kind.iter().chain(data) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Writes a url+caption parquet table.
fn write_table(path: &Path, rows: &[(String, String)]) {
    let mut url = StringBuilder::new();
    let mut caption = StringBuilder::new();
    for (u, c) in rows {
        url.append_value(u);
        caption.append_value(c);
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("url", Arc::new(url.finish()) as ArrayRef),
        ("caption", Arc::new(caption.finish()) as ArrayRef),
    ])
    .unwrap();
    write_parquet(path, &batch);
}

/// Writes `RUN/selected/part-00000.parquet` in the balance stage's schema.
fn write_selected(run: &Path, rows: &[(String, String, Vec<u32>)]) {
    write_stage_part(run, "selected", "balance", rows)
}

/// Writes `RUN/DIR/part-00000.parquet` in the schema of `matched/` and
/// `selected/`, as the completed output of `stage`.
fn write_stage_part(run: &Path, dir: &str, stage: &str, rows: &[(String, String, Vec<u32>)]) {
    let dir = run.join(dir);
    let schema = pipeline::schema::matched_schema();
    let (mut uid, mut url, mut text, mut page, mut source) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut qids = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt32,
        false,
    )));
    for (u, t, ids) in rows {
        uid.append_value(pipeline::schema::uid(u, t));
        url.append_value(u);
        text.append_value(t);
        page.append_null();
        source.append_value("table");
        qids.values().append_slice(ids);
        qids.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(uid.finish()),
        Arc::new(url.finish()),
        Arc::new(text.finish()),
        Arc::new(page.finish()),
        Arc::new(source.finish()),
        Arc::new(qids.finish()),
    ];
    let batch = RecordBatch::try_new(schema, cols).unwrap();
    write_parquet(&dir.join("part-00000.parquet"), &batch);
    // The fixture stands for a completed stage.
    common::complete_stage(run, stage);
}

// ---------------------------------------------------------------- running

/// One shard row as read back.
#[derive(Debug, Clone)]
struct ShardRow {
    key: String,
    uid: String,
    url: String,
    caption: Option<String>,
    query_ids: Option<Vec<u32>>,
    status: String,
    error: Option<String>,
    size: Option<(i32, i32)>,
    original: Option<(i32, i32)>,
    sha256: Option<String>,
    jpg: Option<Vec<u8>>,
}

/// Asserts the layout of the `jpg` column that lets a reader fetch one
/// image alone (docs/formats.md): no dictionary page, one value per data
/// page, page locations in the offset index.
fn assert_one_image_per_page(path: &Path) {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    use parquet::file::metadata::PageIndexPolicy;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let meta = ArrowReaderMetadata::load(&File::open(path).unwrap(), options).unwrap();
    let meta = meta.metadata();
    let jpg = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "jpg")
        .unwrap();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        assert!(rg.column(jpg).dictionary_page_offset().is_none());
        let pages = meta.page_index().unwrap().page_locations(g, jpg).unwrap();
        assert_eq!(pages.len() as i64, rg.num_rows(), "{}", path.display());
    }
}

fn read_shard(path: &Path) -> Vec<ShardRow> {
    assert_one_image_per_page(path);
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        let s = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
        let i = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<Int32Type>()
                .clone()
        };
        let (key, uid, url, caption, status, error, sha) = (
            s("key"),
            s("uid"),
            s("url"),
            s("caption"),
            s("status"),
            s("error_message"),
            s("sha256"),
        );
        let (w, h, ow, oh) = (
            i("width"),
            i("height"),
            i("original_width"),
            i("original_height"),
        );
        let qids = b
            .column_by_name("query_ids")
            .unwrap()
            .as_list::<i32>()
            .clone();
        let jpg = b.column_by_name("jpg").unwrap().as_binary::<i32>().clone();
        let opt =
            |a: &arrow_array::StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
        for r in 0..b.num_rows() {
            rows.push(ShardRow {
                key: key.value(r).into(),
                uid: uid.value(r).into(),
                url: url.value(r).into(),
                caption: opt(&caption, r),
                query_ids: qids
                    .is_valid(r)
                    .then(|| qids.value(r).as_primitive::<UInt32Type>().values().to_vec()),
                status: status.value(r).into(),
                error: opt(&error, r),
                size: w.is_valid(r).then(|| (w.value(r), h.value(r))),
                original: ow.is_valid(r).then(|| (ow.value(r), oh.value(r))),
                sha256: opt(&sha, r),
                jpg: jpg.is_valid(r).then(|| jpg.value(r).to_vec()),
            });
        }
    }
    rows
}

fn shard_files(run: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

fn all_rows(run: &Path) -> Vec<ShardRow> {
    shard_files(run, ".parquet")
        .iter()
        .flat_map(|p| read_shard(p))
        .collect()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

// ---------------------------------------------------------------- tests

/// The routes of the bad-input test, with the status each must end in.
fn bad_input_server() -> (Server, Vec<(String, &'static str)>) {
    let big_jpeg = jpeg(300, 200, 1);
    let server = Server::start(move |path| match path {
        "/a.jpg" => ok(jpeg(300, 200, 1)),
        "/b.png" => ok(png(120, 260, 2)),
        "/redirect" => Reply::Status(302, vec![("Location".into(), "/a.jpg".into())]),
        "/page.html" => ok(b"<!DOCTYPE html><html><body>not an image</body></html>".to_vec()),
        "/truncated.jpg" => ok(big_jpeg[..big_jpeg.len() / 2].to_vec()),
        "/tall.png" => ok(png(1, 100_000, 3)),
        "/bomb.png" => ok(png_bomb()),
        "/stall.jpg" => Reply::Stall,
        "/loop" => Reply::Status(302, vec![("Location".into(), "/loop".into())]),
        "/missing.jpg" => Reply::Status(404, vec![]),
        "/error.jpg" => Reply::Status(500, vec![]),
        "/busy.jpg" => Reply::Status(429, vec![("Retry-After".into(), "1".into())]),
        "/flaky.jpg" => Reply::FlakyThen(1, png(64, 64, 4)),
        "/optout.jpg" => Reply::Ok {
            body: jpeg(64, 64, 5),
            headers: vec![("X-Robots-Tag".into(), "nofollow, noai".into())],
            delay: Duration::ZERO,
        },
        "/otherbot.jpg" => Reply::Ok {
            body: jpeg(64, 64, 6),
            headers: vec![("X-Robots-Tag".into(), "otherbot: noindex".into())],
            delay: Duration::ZERO,
        },
        "/huge.bin" => ok(vec![0u8; 300_000]),
        _ => Reply::Status(404, vec![]),
    });
    let cases = vec![
        (server.url("/a.jpg"), "success"),
        (server.url("/b.png"), "success"),
        (server.url("/redirect"), "success"),
        (server.url("/flaky.jpg"), "success"),
        (server.url("/otherbot.jpg"), "success"),
        (server.url("/page.html"), "not_an_image"),
        (server.url("/truncated.jpg"), "decode_error"),
        (server.url("/tall.png"), "aspect_ratio"),
        (server.url("/bomb.png"), "too_large"),
        (server.url("/stall.jpg"), "timeout"),
        (server.url("/loop"), "redirect_loop"),
        (server.url("/missing.jpg"), "http_404"),
        (server.url("/error.jpg"), "http_500"),
        (server.url("/busy.jpg"), "http_429"),
        (server.url("/optout.jpg"), "robots_opt_out"),
        (server.url("/huge.bin"), "body_too_large"),
        ("http://exa mple.com/a.jpg".to_string(), "invalid_url"),
        ("www.example.com/a.jpg".to_string(), "invalid_url"),
        ("ftp://example.com/a.jpg".to_string(), "invalid_url"),
    ];
    (server, cases)
}

const FAST: &[&str] = &[
    "--quiet",
    "--allow-private-addresses",
    "--timeout",
    "1.5",
    "--retries",
    "1",
    "--max-retry-wait",
    "2",
    "--max-body-bytes",
    "200000",
    "--max-aspect-ratio",
    "10",
];

#[test]
fn every_bad_input_becomes_a_classified_row_and_the_job_goes_on() {
    let (_server, cases) = bad_input_server();
    let run = tempfile::tempdir().unwrap();
    let table = run.path().join("urls.parquet");
    let rows: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (u, _))| (u.clone(), format!("caption {i}")))
        .collect();
    write_table(&table, &rows);
    let mut args = vec!["crawl", "download", "--out", run.path().to_str().unwrap()];
    args.extend([
        "--input",
        table.to_str().unwrap(),
        "--shard-size",
        "8",
        "--image-size",
        "64",
    ]);
    args.extend(FAST);
    let out = witcurate(&args);
    assert_success(&out);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("5 images"), "{summary}");

    let got = all_rows(run.path());
    assert_eq!(got.len(), cases.len());
    assert_eq!(shard_files(run.path(), ".parquet").len(), 3);
    for (i, (row, (url, want))) in got.iter().zip(&cases).enumerate() {
        assert_eq!(
            row.key,
            format!("{:05}{}", i / 8, i % 8),
            "keys are shard-major"
        );
        assert_eq!(&row.url, url);
        assert_eq!(
            row.caption.as_deref(),
            Some(format!("caption {i}").as_str())
        );
        assert_eq!(row.uid, pipeline::schema::uid(url, &format!("caption {i}")));
        assert_eq!(row.status, *want, "{url}: {:?}", row.error);
        if *want == "success" {
            assert!(row.error.is_none());
            assert_eq!(row.size, Some((64, 64)));
            let img = image::load_from_memory(row.jpg.as_ref().unwrap()).unwrap();
            assert_eq!((img.width(), img.height()), (64, 64));
        } else {
            assert!(row.jpg.is_none());
            assert!(
                !row.error.as_deref().unwrap_or("").is_empty(),
                "{url} has no message"
            );
        }
    }
    assert_eq!(got[0].original, Some((300, 200)));
    assert_eq!(
        got[0].sha256.as_deref(),
        Some(sha_hex(&jpeg(300, 200, 1)).as_str())
    );
    assert_eq!(
        got[8].original,
        Some((30_000, 30_000)),
        "bomb size is read from the header"
    );
    assert_eq!(got[7].original, Some((1, 100_000)));

    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut count = 0;
    for p in shard_files(run.path(), "_stats.json") {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        count += v["count"].as_u64().unwrap();
        for (k, n) in v["failures"].as_object().unwrap() {
            *failures.entry(k.clone()).or_insert(0) += n.as_u64().unwrap();
        }
    }
    assert_eq!(count, cases.len() as u64);
    assert_eq!(failures["invalid_url"], 3);
    assert_eq!(failures["timeout"], 1);
    assert_eq!(failures.values().sum::<u64>(), cases.len() as u64 - 5);
}

#[test]
fn private_addresses_are_refused_by_default() {
    let server = Server::start(|_| ok(jpeg(32, 32, 7)));
    let run = tempfile::tempdir().unwrap();
    let table = run.path().join("urls.parquet");
    let urls = vec![
        (server.url("/x.jpg"), "loopback".to_string()),
        (
            format!("http://localhost:{}/x.jpg", server.port),
            "by name".to_string(),
        ),
        ("http://[::1]/x.jpg".to_string(), "v6 loopback".to_string()),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "metadata".to_string(),
        ),
        ("http://10.0.0.1/x.jpg".to_string(), "private".to_string()),
    ];
    write_table(&table, &urls);
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--out",
        run.path().to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--timeout",
        "2",
        "--retries",
        "0",
    ]);
    assert_success(&out);
    let rows = all_rows(run.path());
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        if i == 1 {
            // Resolved through the guarded resolver: refused after resolution
            // (or, where no resolver is configured at all, a DNS failure).
            assert!(
                row.status == "forbidden_address" || row.status == "dns_error",
                "{row:?}"
            );
        } else {
            assert_eq!(row.status, "forbidden_address", "{row:?}");
        }
    }
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        0,
        "no request reached the server"
    );
}

#[test]
fn selected_parts_keep_uid_and_query_ids_and_webdataset_is_readable() {
    let server = Server::start(|path| match path {
        "/gone.jpg" => Reply::Status(404, vec![]),
        p if p.ends_with(".png") => ok(png(100, 50, 8)),
        _ => ok(jpeg(50, 100, 9)),
    });
    let run = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, Vec<u32>)> = (0..7)
        .map(|i| {
            let path = if i == 3 {
                "/gone.jpg".to_string()
            } else if i % 2 == 0 {
                format!("/{i}.png")
            } else {
                format!("/{i}.jpg")
            };
            (server.url(&path), format!("a photo {i}"), vec![i, i + 10])
        })
        .collect();
    write_selected(run.path(), &rows);
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.path().to_str().unwrap(),
        "--shard-size",
        "4",
        "--output-format",
        "webdataset",
        "--resize-mode",
        "center_crop",
        "--image-size",
        "32",
    ]);
    assert_success(&out);
    let meta = all_rows(run.path());
    assert_eq!(meta.len(), 7);
    for (row, (url, text, ids)) in meta.iter().zip(&rows) {
        assert_eq!(row.uid, pipeline::schema::uid(url, text));
        assert_eq!(row.query_ids.as_ref(), Some(ids));
        assert!(
            row.jpg.is_none(),
            "webdataset metadata carries no image bytes"
        );
    }
    assert_eq!(meta[3].status, "http_404");

    let tars = shard_files(run.path(), ".tar");
    assert_eq!(tars.len(), 2);
    let mut names = Vec::new();
    for tar_path in &tars {
        let mut archive = tar::Archive::new(File::open(tar_path).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            if name.ends_with(".jpg") {
                let img = image::load_from_memory(&data).unwrap();
                assert_eq!((img.width(), img.height()), (32, 32));
            } else if name.ends_with(".json") {
                let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
                assert_eq!(v["status"], "success");
                assert_eq!(format!("{}.json", v["key"].as_str().unwrap()), name);
            } else {
                assert!(String::from_utf8(data).unwrap().starts_with("a photo "));
            }
            names.push(name);
        }
    }
    assert_eq!(names.len(), 6 * 3, "three files per successful sample");
    assert_eq!(&names[..3], ["000000.jpg", "000000.txt", "000000.json"]);
    assert!(
        !names.iter().any(|n| n.starts_with("000003")),
        "failures are not in the tar"
    );
}

#[test]
fn output_is_identical_whatever_the_thread_count_and_reruns_skip_done_shards() {
    let server = Server::start(|path| {
        let n: u8 = path
            .trim_start_matches("/i")
            .trim_end_matches(".jpg")
            .parse()
            .unwrap_or(0);
        if n % 5 == 4 {
            Reply::Status(404, vec![])
        } else {
            ok(jpeg(40 + u32::from(n), 30, n))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("urls.parquet");
    let rows: Vec<(String, String)> = (0..23)
        .map(|i| (server.url(&format!("/i{i}.jpg")), format!("c{i}")))
        .collect();
    write_table(&table, &rows);
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let run = dir.path().join(format!("run{threads}"));
        let out = witcurate(&[
            "crawl",
            "download",
            "--quiet",
            "--allow-private-addresses",
            "--threads",
            threads,
            "--out",
            run.to_str().unwrap(),
            "--input",
            table.to_str().unwrap(),
            "--shard-size",
            "10",
            "--concurrency",
            "7",
        ]);
        assert_success(&out);
        let bytes: Vec<Vec<u8>> = shard_files(&run, ".parquet")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(bytes.len(), 3);
        outputs.push((run, bytes));
    }
    assert_eq!(
        outputs[0].1, outputs[1].1,
        "shards are byte-identical for 1 and 2 threads"
    );

    let run = &outputs[0].0;
    let before = server.hits.load(Ordering::SeqCst);
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--shard-size",
        "10",
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 shards written, 3 skipped"));
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        before,
        "nothing downloaded again"
    );

    // A removed shard is the only one redone.
    std::fs::remove_file(run.join("shards/00001_stats.json")).unwrap();
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--shard-size",
        "10",
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 shards written, 2 skipped"));
    assert_eq!(server.hits.load(Ordering::SeqCst), before + 10);
}

#[test]
fn killed_mid_shard_then_rerun_gives_every_sample_exactly_once() {
    let server = Server::start(|path| Reply::Ok {
        body: jpeg(48, 48, path.len() as u8),
        headers: vec![],
        delay: Duration::from_millis(60),
    });
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("urls.parquet");
    let n = 40;
    let rows: Vec<(String, String)> = (0..n)
        .map(|i| (server.url(&format!("/k{i}.jpg")), format!("k{i}")))
        .collect();
    write_table(&table, &rows);
    let run = dir.path().join("run");
    let args = [
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--shard-size",
        "5",
        "--concurrency",
        "2",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_witcurate"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run.join("shards/00001_stats.json").exists() {
        assert!(Instant::now() < deadline, "first shards never appeared");
        thread::sleep(Duration::from_millis(10));
    }
    // Let the next shard get under way, then kill without warning.
    thread::sleep(Duration::from_millis(120));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = shard_files(&run, "_stats.json").len();
    assert!(partial < 8, "killed before the end ({partial} shards)");

    assert_success(&witcurate(&args));
    let rows_out = all_rows(&run);
    assert_eq!(rows_out.len(), n);
    let keys: HashSet<&str> = rows_out.iter().map(|r| r.key.as_str()).collect();
    let uids: HashSet<&str> = rows_out.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!((keys.len(), uids.len()), (n, n));
    assert!(rows_out.iter().all(|r| r.status == "success"));
    let leftovers: Vec<_> = std::fs::read_dir(run.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_usage_and_missing_input_are_errors() {
    let run = tempfile::tempdir().unwrap();
    let out = witcurate(&[
        "crawl",
        "download",
        "--out",
        run.path().to_str().unwrap(),
        "--resize-mode",
        "squash",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--out",
        run.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("balance stage has not completed"), "{err}");
    let table = run.path().join("t.parquet");
    write_table(&table, &[("http://example.com/a.jpg".into(), "a".into())]);
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--out",
        run.path().to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--url-col",
        "image_url",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.parquet") && err.contains("image_url"),
        "{err}"
    );
}

/// A real client reads a shard: pyarrow, from the venv `scripts/setup.sh`
/// makes at `.venv-tools/`. Fails (does not skip) when it is missing.
#[test]
fn pyarrow_reads_a_shard() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin/python");
    let check = Command::new(&python)
        .args(["-c", "import pyarrow"])
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{} cannot import pyarrow; run scripts/setup.sh (it installs pyarrow there): {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "{} does not run ({e}); run scripts/setup.sh (it makes that venv and installs pyarrow)",
            python.display()
        ),
    }
    let server = Server::start(|_| ok(png(90, 60, 1)));
    let run = tempfile::tempdir().unwrap();
    write_selected(
        run.path(),
        &(0..3)
            .map(|i| (server.url(&format!("/{i}.png")), format!("t{i}"), vec![i]))
            .collect::<Vec<_>>(),
    );
    assert_success(&witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.path().to_str().unwrap(),
    ]));
    let script = r#"
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(t.num_rows, ",".join(t.column_names), t.schema.field("query_ids").type,
      t.column("key")[2], t.column("status")[0], len(t.column("jpg")[0].as_py()) > 100)
"#;
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(run.path().join("shards/00000.parquet"))
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "3 key,uid,url,caption,query_ids,status,error_message,width,height,original_width,\
         original_height,sha256,phash,jpg list<item: uint32 not null> 000000002 success True"
    );
}

#[test]
fn per_host_concurrency_is_bounded() {
    let server = Server::start(|_| Reply::Ok {
        body: jpeg(16, 16, 1),
        headers: vec![],
        delay: Duration::from_millis(40),
    });
    let run = tempfile::tempdir().unwrap();
    let table = run.path().join("urls.parquet");
    let rows: Vec<(String, String)> = (0..24)
        .map(|i| (server.url(&format!("/{i}.jpg")), format!("c{i}")))
        .collect();
    write_table(&table, &rows);
    assert_success(&witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.path().to_str().unwrap(),
        "--input",
        table.to_str().unwrap(),
        "--concurrency",
        "16",
        "--per-host-concurrency",
        "3",
    ]));
    assert_eq!(
        all_rows(run.path())
            .iter()
            .filter(|r| r.status == "success")
            .count(),
        24
    );
    let peak = server.peak.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&peak),
        "peak concurrent requests to one host: {peak}"
    );
}

// ---------------------------------------------------------------- text tables

/// Runs `crawl download` over `inputs` with shards of 2 and `extra` flags.
fn download_tables(run: &Path, inputs: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec![
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--out",
        run.to_str().unwrap(),
        "--shard-size",
        "2",
        "--image-size",
        "16",
        "--input",
    ];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(extra);
    witcurate(&args)
}

fn numbered_jpeg_server() -> Server {
    Server::start(|path| {
        match path
            .strip_prefix("/i")
            .and_then(|p| p.strip_suffix(".jpg"))
            .and_then(|n| n.parse::<u8>().ok())
        {
            Some(n) => ok(jpeg(20 + u32::from(n), 20, n)),
            None => Reply::Status(404, vec![]),
        }
    })
}

#[test]
fn tsv_and_gzipped_jsonl_tables_download_in_input_order() {
    let server = numbered_jpeg_server();
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("a.tsv");
    std::fs::write(
        &tsv,
        format!(
            "caption\turl\nsay \"hi\"\t{}\nsecond\t{}\nthird\t{}\n",
            server.url("/i0.jpg"),
            server.url("/i1.jpg"),
            server.url("/missing.jpg"),
        ),
    )
    .unwrap();
    // jsonl without a `caption` field: the caption comes from `text`.
    let jsonl = dir.path().join("b.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writeln!(
        gz,
        "{}",
        serde_json::json!({"url": server.url("/i2.jpg"), "text": "from jsonl"})
    )
    .unwrap();
    writeln!(gz, "not json").unwrap();
    writeln!(
        gz,
        "{}",
        serde_json::json!({"url": server.url("/i3.jpg"), "text": null, "other": 1})
    )
    .unwrap();
    std::fs::write(&jsonl, gz.finish().unwrap()).unwrap();

    let run = dir.path().join("run");
    assert_success(&download_tables(&run, &[&tsv, &jsonl], &[]));
    let rows = all_rows(&run);
    let got: Vec<(&str, &str, Option<&str>, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.url.as_str(),
                r.caption.as_deref(),
                r.status.as_str(),
            )
        })
        .collect();
    let (i0, i1, i2, i3, missing) = (
        server.url("/i0.jpg"),
        server.url("/i1.jpg"),
        server.url("/i2.jpg"),
        server.url("/i3.jpg"),
        server.url("/missing.jpg"),
    );
    assert_eq!(
        got,
        vec![
            ("000000", i0.as_str(), Some("say \"hi\""), "success"),
            ("000001", i1.as_str(), Some("second"), "success"),
            ("000010", missing.as_str(), Some("third"), "http_404"),
            ("000011", i2.as_str(), Some("from jsonl"), "success"),
            ("000020", "", None, "invalid_url"),
            ("000021", i3.as_str(), None, "success"),
        ]
    );
    assert_eq!(shard_files(&run, ".parquet").len(), 3);
    for r in &rows[..4] {
        let caption = r.caption.as_deref().unwrap_or("");
        assert_eq!(r.uid, pipeline::schema::uid(&r.url, caption), "{r:?}");
    }
    assert_eq!(rows[5].uid, pipeline::schema::uid(&i3, ""));
    assert_eq!(rows[0].size, Some((16, 16)));
    assert!(rows.iter().all(|r| r.query_ids.is_none()));
}

#[test]
fn csv_table_with_custom_column_names() {
    let server = numbered_jpeg_server();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("list.csv");
    std::fs::write(
        &csv,
        format!(
            "id,image_link,alt\n1,{},\"a, quoted caption\"\n2,{},plain\n3,not a url,x\n",
            server.url("/i4.jpg"),
            server.url("/i5.jpg"),
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    assert_success(&download_tables(
        &run,
        &[&csv],
        &["--url-col", "image_link", "--caption-col", "alt"],
    ));
    let rows = all_rows(&run);
    let got: Vec<(&str, Option<&str>, &str)> = rows
        .iter()
        .map(|r| (r.url.as_str(), r.caption.as_deref(), r.status.as_str()))
        .collect();
    let (i4, i5) = (server.url("/i4.jpg"), server.url("/i5.jpg"));
    assert_eq!(
        got,
        vec![
            (i4.as_str(), Some("a, quoted caption"), "success"),
            (i5.as_str(), Some("plain"), "success"),
            ("not a url", Some("x"), "invalid_url"),
        ]
    );
    assert_eq!(rows[0].uid, pipeline::schema::uid(&i4, "a, quoted caption"));
    let jpg = rows[0].jpg.as_deref().unwrap();
    let img = image::load_from_memory(jpg).unwrap();
    assert_eq!((img.width(), img.height()), (16, 16));
}

#[test]
fn a_table_without_the_url_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("links.csv");
    std::fs::write(&csv, "link,caption\nhttp://127.0.0.1:9/a.jpg,a\n").unwrap();
    let run = dir.path().join("run");
    let out = download_tables(&run, &[&csv], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("links.csv")
            && err.contains("no column \"url\"")
            && err.contains("link, caption"),
        "{err}"
    );
    assert!(!run.join("shards").exists() || shard_files(&run, ".parquet").is_empty());

    let unknown = dir.path().join("links.xml");
    std::fs::write(&unknown, "url\nhttp://127.0.0.1:9/a.jpg\n").unwrap();
    let out = download_tables(&run, &[&unknown], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("links.xml") && err.contains("unknown table format"),
        "{err}"
    );
}

// ---------------------------------------------------------------- same images as img2dataset

/// The bundled real photos (`tests/data/photos`, see `tests/data/README.md`).
fn photos() -> Vec<(&'static str, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/photos");
    ["rocket.jpg", "chelsea.png", "camera.png"]
        .into_iter()
        .map(|n| (n, dir.join(n)))
        .collect()
}

/// The tools venv's python, with `modules` importable; fails (does not
/// skip) when they are missing.
fn tools_python(modules: &str) -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin/python");
    let check = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .env("NO_ALBUMENTATIONS_UPDATE", "1")
        .output();
    match check {
        Ok(o) if o.status.success() => python,
        Ok(o) => panic!(
            "{} cannot import {modules}; run scripts/setup.sh: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "{} does not run ({e}); run scripts/setup.sh",
            python.display()
        ),
    }
}

/// For each resize mode, size, `--resize-only-if-bigger` and interpolation
/// below, witcurate downloads the real photos from a local server, and
/// img2dataset's own resizer (its `resizer.py` from the pinned package, run
/// with OpenCV and albumentations in the tools venv) resizes the same files:
/// the sizes must be equal and the pixels agree (PNG output on both sides,
/// PSNR at least 45 dB; what remains are OpenCV's and our JPEG decoders'
/// rounding and OpenCV's edge handling). The same with bounding boxes
/// blurred (`--bbox-col`) against img2dataset's `BoundingBoxBlurrer`.
#[test]
fn same_images_as_img2dataset() {
    let python = tools_python("cv2, albumentations, pyarrow");
    let photos = photos();
    let bodies: BTreeMap<String, Vec<u8>> = photos
        .iter()
        .map(|(n, p)| (format!("/{n}"), std::fs::read(p).unwrap()))
        .collect();
    let server = Server::start(move |path| match bodies.get(path) {
        Some(b) => ok(b.clone()),
        None => Reply::Status(404, vec![]),
    });
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("urls.parquet");
    write_table(
        &table,
        &photos
            .iter()
            .map(|(n, _)| (server.url(&format!("/{n}")), n.to_string()))
            .collect::<Vec<_>>(),
    );
    // mode, size, only if bigger, downscale, upscale interpolation
    let runs: &[(&str, u32, bool, &str, &str)] = &[
        ("border", 256, false, "area", "lanczos"),
        ("keep_ratio", 256, false, "area", "lanczos"),
        ("keep_ratio_largest", 256, false, "area", "lanczos"),
        ("center_crop", 256, false, "area", "lanczos"),
        ("no", 256, false, "area", "lanczos"),
        ("border", 800, false, "area", "lanczos"),
        ("center_crop", 600, false, "area", "lanczos"),
        ("keep_ratio", 500, true, "area", "lanczos"),
        ("border", 500, true, "area", "lanczos"),
        ("keep_ratio_largest", 500, true, "area", "lanczos"),
        ("center_crop", 200, false, "linear", "cubic"),
        ("keep_ratio_largest", 700, false, "cubic", "linear"),
        ("border", 300, false, "nearest", "nearest"),
    ];
    let mut manifest = Vec::new();
    for (i, &(mode, size, bigger, down, up)) in runs.iter().enumerate() {
        let run = dir.path().join(format!("run{i}"));
        let size_s = size.to_string();
        let mut args = vec![
            "crawl",
            "download",
            "--quiet",
            "--allow-private-addresses",
            "--out",
            run.to_str().unwrap(),
            "--input",
            table.to_str().unwrap(),
            "--image-size",
            &size_s,
            "--resize-mode",
            mode,
            "--downscale-interpolation",
            down,
            "--upscale-interpolation",
            up,
            "--encode-format",
            "png",
            "--encode-quality",
            "1",
            // img2dataset ignores ICC profiles (rocket.jpg is Adobe RGB).
            "--ignore-icc-profile",
        ];
        if bigger {
            args.push("--resize-only-if-bigger");
        }
        assert_success(&witcurate(&args));
        manifest.push(serde_json::json!({
            "shard": run.join("shards/00000.parquet"),
            "photos": photos.iter().map(|(_, p)| p).collect::<Vec<_>>(),
            "resize_mode": mode,
            "image_size": size,
            "resize_only_if_bigger": bigger,
            "downscale_interpolation": down,
            "upscale_interpolation": up,
        }));
    }
    // Blurred boxes (img2dataset's --bbox_col), from a jsonl table.
    let bboxes = serde_json::json!([
        [[0.3, 0.2, 0.6, 0.7]],
        [[0.1, 0.1, 0.5, 0.5], [0.6, 0.5, 0.9, 0.95]],
        [],
    ]);
    let jsonl = dir.path().join("boxes.jsonl");
    let lines: Vec<String> = photos
        .iter()
        .zip(bboxes.as_array().unwrap())
        .map(|((n, _), b)| {
            serde_json::json!({"url": server.url(&format!("/{n}")), "caption": n, "faces": b})
                .to_string()
        })
        .collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    for (mode, size) in [("keep_ratio", 256), ("center_crop", 200), ("border", 300)] {
        let run = dir.path().join(format!("blur-{mode}"));
        let size_s = size.to_string();
        assert_success(&witcurate(&[
            "crawl",
            "download",
            "--quiet",
            "--allow-private-addresses",
            "--out",
            run.to_str().unwrap(),
            "--input",
            jsonl.to_str().unwrap(),
            "--image-size",
            &size_s,
            "--resize-mode",
            mode,
            "--bbox-col",
            "faces",
            "--encode-format",
            "png",
            "--encode-quality",
            "1",
            "--ignore-icc-profile",
        ]));
        manifest.push(serde_json::json!({
            "shard": run.join("shards/00000.parquet"),
            "photos": photos.iter().map(|(_, p)| p).collect::<Vec<_>>(),
            "resize_mode": mode,
            "image_size": size,
            "resize_only_if_bigger": false,
            "bboxes": bboxes,
        }));
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/img2dataset_compare.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&manifest_path)
        .env("NO_ALBUMENTATIONS_UPDATE", "1")
        .output()
        .unwrap();
    let text = assert_success(&out);
    println!("run photo width height PSNR\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), manifest.len() * photos.len(), "{text}");
    let mut bad = Vec::new();
    for line in &lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let run: usize = fields[0].parse().unwrap();
        let what = match runs.get(run) {
            Some(r) => format!("{r:?}"),
            None => format!("{}", manifest[run]["resize_mode"]),
        };
        let ok = fields.len() == 5
            && fields[4]
                .parse::<f64>()
                .is_ok_and(|psnr| psnr >= 45.0 || psnr.is_infinite());
        if !ok {
            bad.push(format!("{what}: {line}"));
        }
    }
    assert!(
        bad.is_empty(),
        "differences from img2dataset:\n{}",
        bad.join("\n")
    );
}

// ---------------------------------------------------------------- img2dataset's options and spellings

/// A text column of a shard, by name.
fn text_column(path: &Path, name: &str) -> Vec<Option<String>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        let a = b.column_by_name(name).unwrap().as_string::<i32>().clone();
        out.extend((0..b.num_rows()).map(|r| a.is_valid(r).then(|| a.value(r).to_string())));
    }
    out
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(bytes))
}

/// An img2dataset command line runs unchanged (its flag spellings, its
/// list and boolean syntax, its json input, flags it has and we ignore),
/// with --encode_format, --save_additional_columns, --compute_hash,
/// --verify_hash, --user_agent_token and --disallowed_header_directives
/// doing what they do there.
#[test]
fn img2dataset_command_lines_run_unchanged() {
    let photos = photos();
    let rocket = std::fs::read(&photos[0].1).unwrap();
    let chelsea = std::fs::read(&photos[1].1).unwrap();
    let (r, c) = (rocket.clone(), chelsea.clone());
    let server = Server::start(move |path| {
        let with_tag = |tag: &str| Reply::Ok {
            body: r.clone(),
            headers: vec![("X-Robots-Tag".into(), tag.into())],
            delay: Duration::ZERO,
        };
        match path {
            "/rocket.jpg" | "/bad.jpg" => ok(r.clone()),
            "/chelsea.png" => ok(c.clone()),
            "/mybot.jpg" => with_tag("mybot: noai"),
            "/noindex.jpg" => with_tag("noindex"),
            _ => Reply::Status(404, vec![]),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        ("/rocket.jpg", "cc0", md5_hex(&rocket)),
        ("/chelsea.png", "by", md5_hex(&chelsea)),
        ("/bad.jpg", "x", md5_hex(b"something else")),
        ("/mybot.jpg", "y", md5_hex(&rocket)),
        ("/noindex.jpg", "z", String::new()),
    ];
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|(p, license, md5)| {
            serde_json::json!({"url": server.url(p), "caption": p, "license": license, "md5": md5})
        })
        .collect();
    // img2dataset's `json` input: one JSON array (the name says .data, the flag says json).
    let list = dir.path().join("list.data");
    std::fs::write(&list, serde_json::to_vec(&json).unwrap()).unwrap();
    let run = dir.path().join("run");
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--url_list",
        list.to_str().unwrap(),
        "--input_format",
        "json",
        "--url_col",
        "url",
        "--caption_col",
        "caption",
        "--output_folder",
        run.to_str().unwrap(),
        "--output_format",
        "parquet",
        "--image_size",
        "64",
        "--resize_mode",
        "keep_ratio",
        "--resize_only_if_bigger",
        "False",
        "--encode_format",
        "webp",
        "--save_additional_columns",
        "[\"license\"]",
        "--compute_hash",
        "md5",
        "--verify_hash",
        "[\"md5\",\"md5\"]",
        "--user_agent_token",
        "mybot",
        "--disallowed_header_directives",
        "['noai']",
        "--number_sample_per_shard",
        "10",
        "--processes_count",
        "4",
        "--thread_count",
        "8",
        "--enable_wandb",
        "False",
        "--distributor",
        "multiprocessing",
        "--extract_exif",
        "False",
    ]);
    assert_success(&out);
    let shard = run.join("shards/00000.parquet");
    let got = read_shard(&shard);
    let status: Vec<&str> = got.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        status,
        [
            "success",
            "success",
            "hash_mismatch",
            "robots_opt_out",
            "success"
        ]
    );
    assert_eq!(got[0].size, Some((96, 64)));
    assert_eq!(got[1].size, Some((96, 64)));
    for r in got.iter().filter(|r| r.status == "success") {
        let img = r.jpg.as_deref().unwrap();
        assert_eq!(image::guess_format(img).unwrap(), ImageFormat::WebP);
    }
    let md5 = text_column(&shard, "md5");
    assert_eq!(md5[0].as_deref(), Some(md5_hex(&rocket).as_str()));
    assert_eq!(md5[1].as_deref(), Some(md5_hex(&chelsea).as_str()));
    let license = text_column(&shard, "license");
    assert_eq!(license[0].as_deref(), Some("cc0"));
    assert_eq!(license[4].as_deref(), Some("z"));
    assert!(got[2].error.as_deref().unwrap().contains("the input says"));

    // A txt list (from its name), re-encoding skipped where nothing changes,
    // the interpolation left to the default.
    let txt = dir.path().join("urls.txt");
    std::fs::write(
        &txt,
        format!(
            "{}\n\n{}\n",
            server.url("/rocket.jpg"),
            server.url("/chelsea.png")
        ),
    )
    .unwrap();
    let run2 = dir.path().join("run2");
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--url_list",
        txt.to_str().unwrap(),
        "--output_folder",
        run2.to_str().unwrap(),
        "--resize_mode",
        "no",
        "--skip_reencode",
        "True",
    ]);
    assert_success(&out);
    let got = read_shard(&run2.join("shards/00000.parquet"));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].caption, None);
    assert_eq!(
        got[0].jpg.as_deref(),
        Some(rocket.as_slice()),
        "a JPEG kept as downloaded"
    );
    // A PNG is re-encoded as the default jpg.
    let second = got[1].jpg.as_deref().unwrap();
    assert_eq!(image::guess_format(second).unwrap(), ImageFormat::Jpeg);
}

/// `--output_format files`: img2dataset's layout, a directory per shard with
/// `{key}.jpg`, `{key}.txt` and `{key}.json` per image, the metadata of every
/// row beside it.
#[test]
fn files_output_has_img2dataset_s_layout() {
    let photos = photos();
    let rocket = std::fs::read(&photos[0].1).unwrap();
    let server = Server::start(move |path| match path {
        "/rocket.jpg" => ok(rocket.clone()),
        _ => Reply::Status(404, vec![]),
    });
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("urls.csv");
    std::fs::write(
        &table,
        format!(
            "url,caption\n{},a rocket\n{},gone\n",
            server.url("/rocket.jpg"),
            server.url("/missing.jpg")
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = download_tables(&run, &[&table], &["--output_format", "files"]);
    assert_success(&out);
    let shard = run.join("shards/00000");
    let mut names: Vec<String> = std::fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["000000.jpg", "000000.json", "000000.txt"]);
    assert_eq!(
        std::fs::read_to_string(shard.join("000000.txt")).unwrap(),
        "a rocket"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shard.join("000000.json")).unwrap()).unwrap();
    assert_eq!(meta["width"], 16);
    let img = image::load_from_memory(&std::fs::read(shard.join("000000.jpg")).unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (16, 16));
    let rows = read_shard(&run.join("shards/00000.parquet"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].status, "http_404");
    assert!(rows.iter().all(|r| r.jpg.is_none()));
    // A rerun finds the shard done and leaves it as it was.
    let again = download_tables(&run, &[&table], &["--output_format", "files"]);
    assert_success(&again);
    assert_eq!(std::fs::read_dir(&shard).unwrap().count(), 3);
    assert_eq!(read_shard(&run.join("shards/00000.parquet")).len(), 2);
}

/// A 16-bit RGBA PNG of `side`² pixels, black but for a diagonal: a small
/// file that decodes to 8 bytes per pixel.
fn png16(side: u32) -> Vec<u8> {
    let img = ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(side, side, |x, y| {
        if x == y {
            image::Rgba([65535, 0, 0, 65535])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Runs `witcurate` with `args` and returns its peak resident memory
/// (VmHWM, read from /proc while it runs) in MiB, after checking success.
fn peak_rss_mib(args: &[&str]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_witcurate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("witcurate runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(v) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(v);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "{err}");
            return peak_kib / 1024;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Hostile images (large 16-bit PNGs that are small files) on four decode
/// threads: with a decode budget the process's peak memory stays near the
/// budget; without one it grows with the threads.
#[test]
fn decode_memory_is_bounded_under_hostile_images() {
    let big = png16(3000); // 72 MB of 16-bit RGBA pixels, about 126 MB at peak decode
    assert!(big.len() < 1_000_000, "{}", big.len());
    let server = Server::start(move |_| ok(big.clone()));
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("urls.parquet");
    let rows: Vec<(String, String)> = (0..8)
        .map(|i| (server.url(&format!("/big{i}.png")), format!("caption {i}")))
        .collect();
    write_table(&table, &rows);
    let run = |name: &str, budget: &str| {
        let out = dir.path().join(name);
        peak_rss_mib(&[
            "--quiet",
            "--threads",
            "4",
            "crawl",
            "download",
            "--out",
            out.to_str().unwrap(),
            "--input",
            table.to_str().unwrap(),
            "--allow-private-addresses",
            "--image-size",
            "64",
            "--decode-memory",
            budget,
        ])
    };
    let bounded = run("bounded", "150MiB");
    let unbounded = run("unbounded", "4GiB");
    eprintln!("peak RSS: {bounded} MiB bounded, {unbounded} MiB unbounded");
    // One decode at a time: the budget plus the process's own memory.
    assert!(
        bounded < 400,
        "peak {bounded} MiB with a 150 MiB decode budget"
    );
    assert!(
        unbounded > bounded + 150,
        "four decodes at once should take more: {unbounded} vs {bounded} MiB"
    );
}

/// `--from matched` reads `matched/`, which holds every pair of `pairs/`:
/// only those with a match are downloaded, keyed without gaps.
#[test]
fn download_from_matched_takes_the_matched_pairs_only() {
    let server = Server::start(|_| ok(jpeg(40, 30, 3)));
    let run = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, Vec<u32>)> = (0..9)
        .map(|i| {
            let ids = if i % 3 == 1 { vec![] } else { vec![i] };
            (
                server.url(&format!("/{i}.jpg")),
                format!("a photo {i}"),
                ids,
            )
        })
        .collect();
    write_stage_part(run.path(), "matched", "match", &rows);
    let out = witcurate(&[
        "crawl",
        "download",
        "--quiet",
        "--allow-private-addresses",
        "--from",
        "matched",
        "--out",
        run.path().to_str().unwrap(),
        "--shard-size",
        "4",
        "--image-size",
        "16",
    ]);
    assert_success(&out);
    let got = all_rows(run.path());
    let want: Vec<&(String, String, Vec<u32>)> =
        rows.iter().filter(|(_, _, ids)| !ids.is_empty()).collect();
    assert_eq!(got.len(), 6);
    assert!(got.windows(2).all(|w| w[0].key < w[1].key), "keys in order");
    for (row, (url, text, ids)) in got.iter().zip(want) {
        assert_eq!(&row.url, url);
        assert_eq!(row.caption.as_deref(), Some(text.as_str()));
        assert_eq!(row.query_ids.as_ref(), Some(ids));
        assert_eq!(row.status, "success");
    }
}
