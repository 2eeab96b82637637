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
use common::{assert_success, read_parquet, s, tiny_train_args, witcurate_env};

fn warc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/data/commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc",
    )
}

/// The tests of this file one at a time: each points the process's store
/// settings (the environment) at its own server, and the library builds a
/// bucket's store once, from the environment of that moment.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
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
    let _serial = one_at_a_time();
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

// ------------------------------------------------- the run directory on S3

/// A server with `bucket`, this test process's own store pointed at it (to
/// read runs back).
fn server_with_bucket(bucket: &str) -> S3Server {
    let server = S3Server::start();
    server.create_bucket(bucket);
    for (k, v) in S3Server::env(&server.endpoint) {
        std::env::set_var(k, v);
    }
    server
}

/// A web server of photos, a url+caption table of `n` of them and a
/// vocabulary matching some captions: a crawl that downloads without
/// leaving 127.0.0.1.
fn photo_crawl_inputs(dir: &Path, n: usize, delay: std::time::Duration) -> (PathBuf, PathBuf) {
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/photos");
    let names = ["rocket.jpg", "camera.png", "chelsea.png"];
    let mut files = std::collections::HashMap::new();
    let mut table = String::from("url\tcaption\n");
    let port = {
        for (i, name) in names.iter().cycle().take(n).enumerate() {
            let ext = name.rsplit('.').next().unwrap();
            files.insert(
                format!("/p{i}.{ext}"),
                std::fs::read(photos.join(name)).unwrap(),
            );
        }
        common::s3::slow_http(files.clone(), delay)
    };
    let words = ["dog", "cat", "photo of a dog", "a cat on a mat"];
    for path in files.keys().collect::<BTreeSet<_>>() {
        let i: usize = path[2..path.find('.').unwrap()].parse().unwrap();
        table.push_str(&format!(
            "http://127.0.0.1:{port}{path}\t{} number {i}\n",
            words[i % words.len()]
        ));
    }
    let table_path = dir.join("photos.tsv");
    std::fs::write(&table_path, table).unwrap();
    let vocab = dir.join("queries.txt");
    std::fs::write(&vocab, "dog\ncat\nphoto\nmat\nnumber\n").unwrap();
    (table_path, vocab)
}

/// Copies every object under `prefix` (an `s3://` URL) into `to`.
fn fetch_prefix(prefix: &str, to: &Path) {
    let url = pipeline::storage::ObjectUrl::parse(&format!("{prefix}/")).unwrap();
    let objects = pipeline::storage::store::list_prefix(&url).unwrap();
    assert!(!objects.is_empty(), "nothing under {prefix}");
    for o in objects {
        let rel = &o.key[url.key.len()..];
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let bytes = pipeline::storage::files::read(Path::new(&o.to_string())).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// Every file under `dir` by relative path: data files as they are, JSON
/// records without their timings and with the run's own location (`root`)
/// written `RUN` (and without what hashes it), so that two runs of the same
/// work in two places compare equal.
fn run_files(dir: &Path, root: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn strip(v: &mut serde_json::Value, root: &str) {
        match v {
            serde_json::Value::Object(m) => {
                // Timings, and rates computed from them.
                m.retain(|k, _| !k.ends_with("seconds") && !k.ends_with("_second"));
                m.values_mut().for_each(|v| strip(v, root));
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| strip(v, root)),
            serde_json::Value::String(s) if s.contains(root) => *s = s.replace(root, "RUN"),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let mut bytes = std::fs::read(&p).unwrap();
            if rel.ends_with(".json") {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                strip(&mut v, root);
                bytes = serde_json::to_vec_pretty(&v).unwrap();
            }
            out.insert(rel, bytes);
        }
    }
    out
}

fn assert_same_runs(local: &Path, remote_url: &str, fetched: &Path) {
    let want = run_files(local, s(local));
    let got = run_files(fetched, remote_url);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "the same files"
    );
    let differ: Vec<String> = want
        .iter()
        .filter(|(name, bytes)| got[*name] != **bytes)
        .map(|(name, bytes)| {
            format!(
                "{name}:\nlocal: {}\ns3:    {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]),
                String::from_utf8_lossy(&got[name][..got[name].len().min(2000)])
            )
        })
        .collect();
    assert!(differ.is_empty(), "files differ:\n{}", differ.join("\n"));
}

#[test]
fn a_crawl_with_its_run_on_s3_gives_the_files_of_the_local_run() {
    let _serial = one_at_a_time();
    let server = server_with_bucket("crawl-runs");
    let dir = tempfile::tempdir().unwrap();
    let (table, vocab) = photo_crawl_inputs(dir.path(), 18, std::time::Duration::ZERO);
    // Inputs and vocabulary on the server too (the same for both runs, so
    // that their recorded parameters are the same).
    upload(
        &server,
        "s3://crawl-runs/in/photos.tsv",
        std::fs::read(&table).unwrap(),
    );
    upload(
        &server,
        "s3://crawl-runs/vocab/queries.txt",
        std::fs::read(&vocab).unwrap(),
    );
    let (table, vocab) = ("s3://crawl-runs/in/photos.tsv", "s3://crawl-runs/vocab");
    let staging = dir.path().join("staging");
    let mut env = S3Server::env(&server.endpoint);
    env.push(("WITCURATE_STAGING_DIR", s(&staging).to_string()));
    let crawl = |out: &str| {
        let args = [
            "--quiet",
            "crawl",
            "--out",
            out,
            "--input",
            table,
            "--vocab",
            vocab,
            "--partitions",
            "3",
            "--t",
            "2",
            "--seed",
            "7",
            "--allow-private-addresses",
            "--shard-size",
            "4",
            "--image-size",
            "32",
        ];
        assert_success(&witcurate_env(&args, &env))
    };
    let local = dir.path().join("local");
    let url = "s3://crawl-runs/crawl";
    for run in [s(&local), url] {
        crawl(run);
        // The stages after download: dedup, then balancing its pool.
        for stage in [
            &["dedup"][..],
            &["balance", "--pool", "downloaded", "--t", "2"][..],
        ] {
            let mut args = vec!["--quiet", "crawl"];
            args.extend_from_slice(stage);
            args.extend_from_slice(&["--out", run]);
            assert_success(&witcurate_env(&args, &env));
        }
    }
    let fetched = dir.path().join("fetched");
    fetch_prefix(url, &fetched);
    assert!(fetched.join("shards/00000.parquet").exists());
    assert!(fetched
        .join("_stages/balance_downloaded/complete.json")
        .exists());
    assert_same_runs(&local, url, &fetched);
    // Nothing is left in the staging area.
    let left: Vec<_> = std::fs::read_dir(&staging).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    // A rerun finds every stage done and changes nothing.
    let out = crawl(url);
    assert!(out.contains("already done"), "{out}");
    let again = dir.path().join("again");
    fetch_prefix(url, &again);
    assert_same_runs(&local, url, &again);

    // `stats` reads the run on the server as on disk and writes its
    // reports there.
    for run in [s(&local), url] {
        assert_success(&witcurate_env(&["--quiet", "stats", run], &env));
    }
    let with_stats = dir.path().join("with-stats");
    fetch_prefix(url, &with_stats);
    let want = run_files(&local.join("stats"), s(&local));
    let got = run_files(&with_stats.join("stats"), url);
    // The same reports (the HTML and Markdown ones also show timings).
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    assert!(
        got["stats.json"] == want["stats.json"],
        "stats.json differs:\n{}\n{}",
        String::from_utf8_lossy(&want["stats.json"]),
        String::from_utf8_lossy(&got["stats.json"])
    );

    // Other parameters are refused by the guard, as on disk.
    let out = witcurate_env(
        &["--quiet", "crawl", "balance", "--out", url, "--t", "3"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other parameters") && err.contains("2 then, 3 now"),
        "{err}"
    );
    // `--force` starts the stage over there: its objects are removed first.
    let stale = Path::new("s3://crawl-runs/crawl/selected/part-00009.parquet");
    pipeline::storage::files::write(stale, b"left by another run").unwrap();
    assert_success(&witcurate_env(
        &[
            "--quiet", "crawl", "balance", "--out", url, "--t", "3", "--force",
        ],
        &env,
    ));
    assert!(!pipeline::storage::files::exists(stale));
    let params = pipeline::storage::files::read(Path::new(
        "s3://crawl-runs/crawl/_stages/balance/params.json",
    ))
    .unwrap();
    assert!(String::from_utf8_lossy(&params).contains("\"fixed\": 3"));

    // Vocabularies by language (`--lid --vocab-dir`) read from the server.
    upload(
        &server,
        "s3://crawl-runs/vocabs/de/queries.txt",
        b"Hund\n".to_vec(),
    );
    upload(
        &server,
        "s3://crawl-runs/vocabs/fr.txt",
        b"chien\nchat\n".to_vec(),
    );
    assert_success(&witcurate_env(
        &[
            "--quiet",
            "crawl",
            "match",
            "--out",
            url,
            "--lid",
            "--vocab-dir",
            "s3://crawl-runs/vocabs",
            "--vocab",
            vocab,
            "--force",
        ],
        &env,
    ));
    let summary: serde_json::Value = serde_json::from_slice(
        &pipeline::storage::files::read(Path::new("s3://crawl-runs/crawl/match.json")).unwrap(),
    )
    .unwrap();
    let langs: Vec<&str> = summary["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lang"].as_str().unwrap())
        .collect();
    assert_eq!(langs, ["de", "en", "fr"]);
}

#[test]
fn a_download_killed_with_its_run_on_s3_resumes_to_the_files_of_a_whole_run() {
    let _serial = one_at_a_time();
    let server = server_with_bucket("download-runs");
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = photo_crawl_inputs(dir.path(), 30, std::time::Duration::from_millis(100));
    // The table itself is read from the server too.
    upload(
        &server,
        "s3://download-runs/in/photos.tsv",
        std::fs::read(&table).unwrap(),
    );
    let env = S3Server::env(&server.endpoint);
    let args = |out: &str, input: &str| {
        [
            "--quiet",
            "crawl",
            "download",
            "--allow-private-addresses",
            "--out",
            out,
            "--input",
            input,
            "--shard-size",
            "3",
            "--concurrency",
            "2",
            "--image-size",
            "32",
        ]
        .map(String::from)
    };
    let local = dir.path().join("local");
    let a = args(s(&local), "s3://download-runs/in/photos.tsv");
    assert_success(&witcurate_env(
        &a.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        &env,
    ));

    let url = "s3://download-runs/dl";
    let a = args(url, "s3://download-runs/in/photos.tsv");
    let a: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_witcurate"))
        .args(&a)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first =
        pipeline::storage::ObjectUrl::parse("s3://download-runs/dl/shards/00001_stats.json")
            .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while pipeline::storage::store::head(&first).unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "no shard appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, mid-run
    child.wait().unwrap();
    let complete =
        pipeline::storage::ObjectUrl::parse("s3://download-runs/dl/_stages/download/complete.json")
            .unwrap();
    assert!(pipeline::storage::store::head(&complete).unwrap().is_none());

    // The rerun keeps the shards committed before the kill and redoes the rest.
    let out = assert_success(&witcurate_env(&a, &env));
    assert!(!out.contains("(0 already done"), "{out}");
    let fetched = dir.path().join("fetched");
    fetch_prefix(url, &fetched);
    assert_same_runs(&local, url, &fetched);
}

#[test]
fn a_download_of_loose_files_to_s3_gives_the_files_of_the_local_download() {
    let _serial = one_at_a_time();
    let server = server_with_bucket("file-runs");
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = photo_crawl_inputs(dir.path(), 14, std::time::Duration::ZERO);
    let env = S3Server::env(&server.endpoint);
    let download = |out: &str| {
        assert_success(&witcurate_env(
            &[
                "--quiet",
                "crawl",
                "download",
                "--allow-private-addresses",
                "--out",
                out,
                "--input",
                s(&table),
                "--output-format",
                "files",
                "--shard-size",
                "4",
                "--image-size",
                "32",
            ],
            &env,
        ))
    };
    let local = dir.path().join("local");
    download(s(&local));
    let url = "s3://file-runs/dl";
    // An object a killed attempt left in a shard's prefix is not kept.
    let stale = Path::new("s3://file-runs/dl/shards/00000/left-behind.jpg");
    pipeline::storage::files::write(stale, b"half").unwrap();
    download(url);
    let fetched = dir.path().join("fetched");
    fetch_prefix(url, &fetched);
    assert!(!fetched.join("shards/00000/left-behind.jpg").exists());
    let jpgs = std::fs::read_dir(fetched.join("shards/00000"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("jpg".as_ref()))
        .count();
    assert!(jpgs > 0, "no image went up");
    assert_same_runs(&local, url, &fetched);

    // A shard whose metadata (uploaded last) is missing is written again;
    // the others are kept.
    pipeline::storage::files::remove_file(Path::new("s3://file-runs/dl/shards/00001.parquet"))
        .unwrap();
    let out = download(url);
    assert!(out.contains("1 shards written, 3 skipped"), "{out}");
    let again = dir.path().join("again");
    fetch_prefix(url, &again);
    assert_same_runs(&local, url, &again);
}

#[test]
fn run_files_go_up_whole_in_parts_read_back_by_ranges_and_are_created_once() {
    use parquet::file::reader::{ChunkReader, Length};
    use pipeline::storage::files;
    use pipeline::task::TaskError;
    let _serial = one_at_a_time();
    let _server = server_with_bucket("files");
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("WITCURATE_STAGING_DIR", dir.path());

    // Larger than one PUT takes: a multipart upload, completed last.
    let big: Vec<u8> = (0..files::SINGLE_PUT_MAX as usize + (3 << 20))
        .map(|i| (i % 251) as u8)
        .collect();
    let path = Path::new("s3://files/run/shards/00000.parquet");
    let failed: Result<(), TaskError> = files::commit(path, |tmp| {
        std::fs::write(tmp, &big[..1000]).unwrap();
        Err(TaskError::io(tmp, std::io::Error::other("stop")))
    });
    assert!(failed.is_err());
    assert!(!files::exists(path), "a failed write leaves nothing");
    files::commit(path, |tmp| -> Result<(), TaskError> {
        std::fs::write(tmp, &big).unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(files::read(path).unwrap(), big);
    let f = files::open(path).unwrap();
    assert_eq!(f.len(), big.len() as u64);
    for (start, len) in [
        (0, 10),
        (5 << 20, 1 << 20),
        (big.len() as u64 - 8, 8),
        (7, 9 << 20),
    ] {
        let got = f.get_bytes(start, len).unwrap();
        assert_eq!(&got[..], &big[start as usize..start as usize + len]);
    }
    let mut tail = Vec::new();
    std::io::Read::read_to_end(
        &mut f.get_read(big.len() as u64 - 100_000).unwrap(),
        &mut tail,
    )
    .unwrap();
    assert_eq!(tail, &big[big.len() - 100_000..]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "staging emptied"
    );

    // Listing, removal.
    assert_eq!(
        files::list_files(Path::new("s3://files/run/shards")).unwrap(),
        vec![path.to_path_buf()]
    );
    assert_eq!(
        files::kind(Path::new("s3://files/run")).unwrap(),
        Some(files::Kind::Dir)
    );
    files::remove_all(Path::new("s3://files/run")).unwrap();
    assert!(!files::exists(path));

    // Of racing creators of one record, exactly one wins (a conditional PUT).
    let record = Path::new("s3://files/run/_stages/x/params.json");
    let won: Vec<bool> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| s.spawn(move || files::create_new(record, format!("{i}").as_bytes()).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|&&w| w).count(), 1, "{won:?}");
    let winner = won.iter().position(|&w| w).unwrap();
    assert_eq!(files::read(record).unwrap(), winner.to_string().as_bytes());
}

/// `shards` synthetic parquet shards of 40 small images in `dir/shards`.
fn tiny_shards(dir: &Path, shards: usize, seed: u64) -> PathBuf {
    let out = dir.join("shards");
    synthetic::shards::write_shards(
        &out,
        &synthetic::shards::ShardOptions {
            shards,
            rows_per_shard: 40,
            min_size: 24,
            max_size: 40,
            row_group_size: 16,
            seed,
        },
    )
    .unwrap();
    out
}

/// Trains the tiny model for 4 steps (`more`: further flags) on `shards`
/// into `out` with `env`; returns stdout.
fn train_tiny(shards: &str, out: &str, more: &[&str], env: &[(&str, String)]) -> String {
    let mut args = tiny_train_args(shards, out, "4", "16");
    args.extend_from_slice(more);
    assert_success(&witcurate_env(&args, env))
}

#[test]
fn training_reads_its_shards_from_s3_like_from_disk() {
    let _serial = one_at_a_time();
    let _server = server_with_bucket("shards");
    let dir = tempfile::tempdir().unwrap();
    let shards = tiny_shards(dir.path(), 2, 5);
    for e in std::fs::read_dir(&shards).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let url = Path::new("s3://shards/run/shards").join(&name);
        pipeline::storage::files::write(&url, &std::fs::read(&p).unwrap()).unwrap();
    }
    let env = S3Server::env(&std::env::var("AWS_ENDPOINT_URL").unwrap());
    let train = |shards: &str, out: &Path| {
        train_tiny(shards, s(out), &[], &env);
        std::fs::read(out.join("step-00000004/model.safetensors")).unwrap()
    };
    let local = train(s(&shards), &dir.path().join("local"));
    // A prefix and a glob on the server: the same model.
    for (name, spec) in [
        ("prefix", "s3://shards/run/shards/"),
        ("glob", "s3://shards/run/shards/*.parquet"),
    ] {
        let got = train(spec, &dir.path().join(name));
        assert!(got == local, "{name}: another model");
    }
}

#[test]
fn a_training_run_directory_on_s3_resumes_like_a_local_one() {
    let _serial = one_at_a_time();
    let server = server_with_bucket("train-runs");
    let dir = tempfile::tempdir().unwrap();
    let shards = tiny_shards(dir.path(), 1, 3);
    let mut env = S3Server::env(&std::env::var("AWS_ENDPOINT_URL").unwrap());
    env.push((
        "WITCURATE_STAGING_DIR",
        s(&dir.path().join("staging")).to_string(),
    ));
    let train = |out: &str, more: &[&str]| {
        let mut flags = vec!["--checkpoint-every", "1"];
        flags.extend_from_slice(more);
        train_tiny(s(&shards), out, &flags, &env)
    };
    let local = dir.path().join("local");
    let url = "s3://train-runs/run";
    for out in [s(&local), url] {
        train(out, &["--stop-at-step", "2"]);
        let resumed = train(out, &["--resume"]);
        assert!(resumed.contains("train: steps 2..4"), "{resumed}");
    }
    let read = |p: &str| pipeline::storage::files::read(Path::new(p)).unwrap();
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "checkpoint.json",
    ] {
        let want = std::fs::read(local.join("step-00000004").join(f)).unwrap();
        assert!(
            want == read(&format!("{url}/step-00000004/{f}")),
            "{f} differs"
        );
    }
    let lines = |b: Vec<u8>| String::from_utf8(b).unwrap().lines().count();
    assert_eq!(lines(read(&format!("{url}/train_log.jsonl"))), 4);
    assert!(pipeline::storage::files::exists(Path::new(&format!(
        "{url}/train_curves.svg"
    ))));
    // Every checkpoint is on the server; the local copy keeps the last.
    for step in 1..=4 {
        let meta = format!("{url}/step-{step:08}/checkpoint.json");
        assert!(pipeline::storage::files::exists(Path::new(&meta)), "{meta}");
    }
    let copy = dir.path().join("staging/train/train-runs/run");
    let kept: Vec<_> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert_eq!(kept, ["step-00000004"]);

    // `eval` reads a checkpoint there (the run's newest).
    let images = dir.path().join("images");
    let classes = synthetic::image_folder::write_seeded(&images, 2, 32, 1).unwrap();
    let eval = |checkpoint: &str, json: &Path| {
        let args = [
            "eval",
            "--quiet",
            "--checkpoint",
            checkpoint,
            "--images",
            s(&images),
            "--classes",
            s(&classes),
            "--json",
            s(json),
        ];
        assert_success(&witcurate_env(&args, &env));
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        let named = v["checkpoint"].take();
        (v, named)
    };
    let (want, _) = eval(s(&local), &dir.path().join("local.json"));
    let (got, named) = eval(url, &dir.path().join("s3.json"));
    assert_eq!(got, want);
    assert_eq!(named, format!("{url}/step-00000004"));
    // `export` reads it there too: the same open_clip files as from disk.
    for (from, to) in [(s(&local), "export-local"), (url, "export-s3")] {
        let out = dir.path().join(to);
        assert_success(&witcurate_env(
            &[
                "export",
                "--format",
                "open_clip",
                "--checkpoint",
                from,
                "--out",
                s(&out),
            ],
            &env,
        ));
    }
    let weights = "open_clip_model.safetensors";
    assert_eq!(
        std::fs::read(dir.path().join("export-local").join(weights)).unwrap(),
        std::fs::read(dir.path().join("export-s3").join(weights)).unwrap()
    );

    // The images, their class names and the linear probe's image sets on
    // the server give the report of the same files on disk.
    let probe_train = dir.path().join("probe-train");
    let probe_test = dir.path().join("probe-test");
    synthetic::image_folder::write_seeded(&probe_train, 5, 32, 2).unwrap();
    synthetic::image_folder::write_seeded(&probe_test, 1, 32, 3).unwrap();
    for (local_dir, prefix) in [
        (&images, "s3://train-runs/eval/images"),
        (&probe_train, "s3://train-runs/eval/probe-train"),
        (&probe_test, "s3://train-runs/eval/probe-test"),
    ] {
        for class in std::fs::read_dir(local_dir).unwrap() {
            let class = class.unwrap().path();
            if !class.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&class).unwrap() {
                let f = f.unwrap().path();
                let key = format!(
                    "{prefix}/{}/{}",
                    class.file_name().unwrap().to_string_lossy(),
                    f.file_name().unwrap().to_string_lossy()
                );
                upload(&server, &key, std::fs::read(&f).unwrap());
            }
        }
    }
    upload(
        &server,
        "s3://train-runs/eval/classes.tsv",
        std::fs::read(&classes).unwrap(),
    );
    let eval_all = |images: &str, classes: &str, train: &str, test: &str, json: &Path| {
        let args = [
            "eval",
            "--quiet",
            "--checkpoint",
            s(&local),
            "--images",
            images,
            "--classes",
            classes,
            "--probe-train",
            train,
            "--probe-test",
            test,
            "--json",
            s(json),
        ];
        assert_success(&witcurate_env(&args, &env));
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        v["checkpoint"].take();
        v
    };
    let want = eval_all(
        s(&images),
        s(&classes),
        s(&probe_train),
        s(&probe_test),
        &dir.path().join("local-all.json"),
    );
    let got = eval_all(
        "s3://train-runs/eval/images",
        "s3://train-runs/eval/classes.tsv",
        "s3://train-runs/eval/probe-train",
        "s3://train-runs/eval/probe-test",
        &dir.path().join("s3-all.json"),
    );
    assert_eq!(got, want);
    assert_eq!(got["zero_shot"]["images"], 36);
    assert_eq!(got["linear_probe"]["train"], 90);
    assert_eq!(
        lines(std::fs::read(local.join("train_log.jsonl")).unwrap()),
        4
    );
}

#[test]
fn a_vocabulary_built_onto_s3_equals_the_local_build_and_is_kept_on_rerun() {
    let _serial = one_at_a_time();
    let _server = server_with_bucket("vocabs");
    let dir = tempfile::tempdir().unwrap();
    let mut env = S3Server::env(&std::env::var("AWS_ENDPOINT_URL").unwrap());
    env.push((
        "WITCURATE_STAGING_DIR",
        s(&dir.path().join("staging")).to_string(),
    ));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let dump =
        root.join("wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    let pageviews = root.join("pageviews");
    let build = |out: &str| {
        let o = witcurate_env(
            &[
                "vocab",
                "build",
                "--quiet",
                "--out",
                out,
                "--wiki-dump",
                s(&dump),
                "--pageviews",
                s(&pageviews),
                "--unigram-min-count",
                "30",
            ],
            &env,
        );
        assert_success(&o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let local = dir.path().join("local");
    build(s(&local));
    let url = "s3://vocabs/en";
    let first = build(url);
    assert!(!first.contains("nothing to do"), "{first}");
    for f in ["queries.txt", "queries.parquet"] {
        let got = pipeline::storage::files::read(Path::new(&format!("{url}/{f}"))).unwrap();
        assert!(got == std::fs::read(local.join(f)).unwrap(), "{f} differs");
    }
    assert!(pipeline::storage::files::exists(Path::new(&format!(
        "{url}/vocab.json"
    ))));
    // A rerun of the same recipe finds it complete; the staging area is empty.
    assert!(build(url).contains("nothing to do"));
    let staged: Vec<_> = std::fs::read_dir(dir.path().join("staging/vocab"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(staged.is_empty(), "{staged:?}");
    // The vocabulary there is whole.
    let q = pipeline::storage::files::read(Path::new(&format!("{url}/queries.txt"))).unwrap();
    assert!(String::from_utf8(q).unwrap().lines().count() > 100);
}
