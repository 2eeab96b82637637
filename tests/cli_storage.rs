//! Object storage: inputs read from a real S3-compatible server (moto's, on
//! 127.0.0.1) give the same pairs as the same files on disk, and a
//! connection cut in the middle of a WARC is resumed with a Range request.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use arrow_array::cast::AsArray;

mod common;
use common::s3::{cutting_proxy, S3Server};
use common::{assert_success, read_parquet, s, witcurate_env};

fn warc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/data/commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc",
    )
}

/// Uploads with a plain signed PUT through the library's own store.
fn upload(server: &S3Server, url: &str, bytes: Vec<u8>) {
    // The library reads the store's settings from the environment; the
    // test process points it at this server once.
    for (k, v) in S3Server::env(&server.endpoint) {
        std::env::set_var(k, v);
    }
    let url = pipeline::storage::ObjectUrl::parse(url).unwrap();
    pipeline::storage::store::put(&url, bytes).unwrap();
}

/// (url, text) of every pair of a run.
fn pairs(run: &Path) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(run.join("pairs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            for b in read_parquet(&p) {
                let url = b.column_by_name("url").unwrap().as_string::<i32>();
                let text = b.column_by_name("text").unwrap().as_string::<i32>();
                for i in 0..b.num_rows() {
                    out.insert((url.value(i).to_string(), text.value(i).to_string()));
                }
            }
        }
    }
    out
}

fn task_counters(run: &Path) -> serde_json::Value {
    let mut total = serde_json::Map::new();
    for e in std::fs::read_dir(run.join("_stats/extract")).unwrap() {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        for (k, v) in r["counters"].as_object().unwrap() {
            let sum = total.get(k).and_then(|x| x.as_u64()).unwrap_or(0) + v.as_u64().unwrap();
            total.insert(k.clone(), sum.into());
        }
    }
    total.into()
}

#[test]
fn extract_reads_s3_like_local_files_and_resumes_a_cut_connection() {
    let server = S3Server::start();
    server.create_bucket("crawl");
    let bytes = std::fs::read(warc()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    upload(&server, "s3://crawl/cc/a.warc", bytes.clone());
    upload(&server, "s3://crawl/cc/b.warc.gz", gz.clone());
    upload(&server, "s3://crawl/other/c.warc", bytes.clone());
    // A Common Crawl path list whose entries are relative to an s3:// base.
    upload(
        &server,
        "s3://crawl/warc.paths",
        b"cc/a.warc\ncc/b.warc.gz\n".to_vec(),
    );

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("a.warc"), &bytes).unwrap();
    std::fs::write(local.join("b.warc.gz"), &gz).unwrap();
    let env = S3Server::env(&server.endpoint);
    let extract = |run: &Path, inputs: &[&str], env: &[(&str, String)]| {
        let mut args = vec!["--quiet", "crawl", "extract", "--out", s(run), "--input"];
        args.extend_from_slice(inputs);
        assert_success(&witcurate_env(&args, env))
    };
    let on_disk = dir.path().join("on-disk");
    extract(&on_disk, &[s(&local)], &[]);
    let want = pairs(&on_disk);
    assert!(want.len() > 100, "{}", want.len());

    // A prefix, a glob, and a path list on the server: the same pairs.
    for (name, input) in [
        ("prefix", "s3://crawl/cc/"),
        ("glob", "s3://crawl/cc/*.warc*"),
        ("paths", "s3://crawl/warc.paths"),
    ] {
        let run = dir.path().join(name);
        let mut args = vec![input];
        if name == "paths" {
            args.extend_from_slice(&["--base-url", "s3://crawl/"]);
        }
        extract(&run, &args, &env);
        assert_eq!(pairs(&run), want, "{name}");
        assert_eq!(task_counters(&run)["inputs_warc"], 2, "{name}");
    }

    // A proxy that cuts the first three long responses after 60 kB: the
    // reads ask for the rest with Range requests and decode to the same
    // pairs. (The object store client resumes an object GET itself, pinned
    // to the ETag; http(s) inputs are resumed by witcurate's reader.)
    let (proxy, log) = cutting_proxy(server.port(), 60_000, 3);
    let run = dir.path().join("cut");
    extract(&run, &["s3://crawl/cc/"], &S3Server::env(&proxy));
    assert!(log.cut.load(Ordering::SeqCst) >= 1);
    assert!(log.ranged.load(Ordering::SeqCst) >= 1);
    assert_eq!(pairs(&run), want);

    let web = common::s3::static_http(
        [
            ("/cc/a.warc".to_string(), bytes.clone()),
            ("/cc/b.warc.gz".to_string(), gz.clone()),
        ]
        .into(),
    );
    let (proxy, log) = cutting_proxy(web, 60_000, 2);
    let run = dir.path().join("cut-http");
    let a = format!("{proxy}/cc/a.warc");
    let b = format!("{proxy}/cc/b.warc.gz");
    extract(&run, &[&a, &b], &[]);
    assert_eq!(log.cut.load(Ordering::SeqCst), 2);
    assert!(log.ranged.load(Ordering::SeqCst) >= 2);
    assert_eq!(pairs(&run), want);
    let c = task_counters(&run);
    assert_eq!(c["connection_resumes"], 2, "{c}");

    // A missing object is a clear error naming it.
    let out = witcurate_env(
        &[
            "crawl",
            "extract",
            "--out",
            s(&dir.path().join("missing")),
            "--input",
            "s3://crawl/nothing/",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3://crawl/nothing/"), "{err}");
}
