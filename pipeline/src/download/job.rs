//! Runs a download job: the reader thread plans shards, a tokio runtime keeps
//! up to `concurrency` samples in flight (network on tokio, pixels on the
//! rayon pool), completed samples are put back in input order within a
//! bounded window, and one writer thread streams them into shard files.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::blur;
use super::budget::MemoryBudget;
use super::error::DownloadError;
use super::fetch::{FetchConfig, Fetcher};
use super::hash::{HashAlgo, VerifyHash};
use super::reader::{count_rows, list_inputs, InputSpec, Sample, SampleReader};
use super::resize::{self, ImageConfig};
use super::status::{Failure, FailureClass};
use super::writer::{
    write_shard_with_columns, OutputFormat, Row, ShardColumns, ShardFiles, ShardStats,
};

/// Everything a download job needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadConfig {
    /// Where samples come from.
    pub input: InputSpec,
    /// Samples per shard.
    pub shard_size: usize,
    /// Shard format.
    pub output_format: OutputFormat,
    /// Image checks and resizing.
    pub image: ImageConfig,
    /// Network settings.
    pub fetch: FetchConfig,
    /// Samples in flight at most.
    pub concurrency: usize,
    /// Threads of the network runtime.
    pub io_threads: usize,
    /// Hash of the downloaded bytes to store: `sha256` is always in its
    /// column; `md5` or `sha512` add a column of that name.
    #[serde(default)]
    pub compute_hash: HashAlgo,
    /// Check each download against the hash in an input column (which
    /// must be one of the input's extra columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_hash: Option<VerifyHash>,
    /// The input column of bounding boxes to blur (img2dataset's
    /// `bbox_col`; one of the input's extra columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox_col: Option<String>,
}

impl DownloadConfig {
    /// Defaults for reading `selected/` of the run directory `run`.
    pub fn new(run: impl Into<PathBuf>) -> Self {
        Self {
            input: InputSpec::Selected(run.into()),
            shard_size: 10_000,
            output_format: OutputFormat::Parquet,
            image: ImageConfig::default(),
            fetch: FetchConfig::default(),
            concurrency: 256,
            io_threads: 2,
            compute_hash: HashAlgo::Sha256,
            verify_hash: None,
            bbox_col: None,
        }
    }

    /// The shard columns beyond the fixed ones. An input column named as
    /// the `--compute-hash` column (`sha256`, `md5`...: usually the
    /// `--verify-hash` column) is not repeated: the hash column holds the
    /// hash of the downloaded bytes, as in img2dataset.
    pub fn shard_columns(&self) -> ShardColumns {
        let computed = self.compute_hash.column();
        ShardColumns {
            hash_col: match self.compute_hash {
                HashAlgo::Md5 | HashAlgo::Sha512 => computed.map(String::from),
                HashAlgo::None | HashAlgo::Sha256 => None,
            },
            extra_cols: self
                .input
                .extra_cols()
                .iter()
                .enumerate()
                .filter(|(_, name)| Some(name.as_str()) != computed)
                .map(|(i, name)| (i, name.clone()))
                .collect(),
        }
    }
}

/// The hashes each download computes (from [`DownloadConfig`]).
#[derive(Debug, Clone, Copy)]
struct Hashing {
    /// `--compute-hash` when it has its own column.
    extra: Option<HashAlgo>,
    /// The index of the expected hash among the sample's extra cells, and its hash.
    verify: Option<(usize, HashAlgo)>,
    /// The index of the bounding boxes among the sample's extra cells.
    bbox: Option<usize>,
}

/// What a job did.
#[derive(Debug, Clone, Default)]
pub struct DownloadSummary {
    /// Shards written by this run.
    pub shards_written: usize,
    /// Shards skipped (done earlier, or another slice's).
    pub shards_skipped: usize,
    /// Samples processed by this run.
    pub samples: u64,
    /// Samples that became images.
    pub successes: u64,
    /// Failures by class.
    pub failures: BTreeMap<String, u64>,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes of images written.
    pub bytes_written: u64,
    /// Wall time.
    pub duration: Duration,
}

impl DownloadSummary {
    fn add(&mut self, s: &ShardStats) {
        self.shards_written += 1;
        self.samples += s.count;
        self.successes += s.successes;
        self.bytes_downloaded += s.bytes_downloaded;
        self.bytes_written += s.bytes_written;
        for (k, v) in &s.failures {
            *self.failures.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Samples per second of wall time.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for DownloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failures: Vec<String> = self
            .failures
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "download: {} shards written, {} skipped; {} samples, {} images ({:.1}%), {:.1} MB in, \
             {:.1} MB out, {:.1}s, {:.0} samples/s; failures: {}",
            self.shards_written,
            self.shards_skipped,
            self.samples,
            self.successes,
            100.0 * self.successes as f64 / (self.samples.max(1) as f64),
            self.bytes_downloaded as f64 / 1e6,
            self.bytes_written as f64 / 1e6,
            self.duration.as_secs_f64(),
            self.samples_per_second(),
            if failures.is_empty() { "none".to_string() } else { failures.join(" ") }
        )
    }
}

/// Decimal digits needed to print `n`.
fn digits(n: u64) -> usize {
    n.to_string().len()
}

/// Key and file-name widths: at least 5 digits of shard, and enough digits
/// for the largest index in a shard (4 for 10,000 samples per shard).
#[derive(Debug, Clone, Copy)]
pub struct KeyFormat {
    shard_width: usize,
    index_width: usize,
}

impl KeyFormat {
    /// The format for `total` samples in shards of `shard_size`.
    pub fn new(total: u64, shard_size: usize) -> Self {
        let shards = total.div_ceil(shard_size as u64).max(1);
        Self {
            shard_width: digits(shards - 1).max(5),
            index_width: digits(shard_size as u64 - 1),
        }
    }

    /// The shard's file stem, e.g. `00042`.
    pub fn shard_name(&self, shard: usize) -> String {
        format!("{shard:0w$}", w = self.shard_width)
    }

    /// A sample's key, e.g. `000420017`.
    pub fn key(&self, shard: usize, index: usize) -> String {
        format!(
            "{shard:0sw$}{index:0iw$}",
            sw = self.shard_width,
            iw = self.index_width
        )
    }
}

/// Messages from the reader thread, in input order.
enum Planned {
    Shard { id: usize, samples: Vec<Sample> },
    Skipped { samples: usize },
    Failed(DownloadError),
}

/// Events in input order, consumed by the collector.
enum Event {
    Start { id: usize, n: usize },
    Row(Box<Row>),
    Skipped { samples: usize },
    Failed(DownloadError),
}

/// Messages to the writer thread.
enum ToWriter {
    Start { id: usize, n: usize },
    Row(Box<Row>),
}

/// Checks the settings.
pub fn check(cfg: &DownloadConfig) -> Result<(), DownloadError> {
    if cfg.shard_size == 0 {
        return Err(DownloadError::Config(
            "--shard-size must be at least 1".into(),
        ));
    }
    if cfg.concurrency == 0 {
        return Err(DownloadError::Config(
            "--concurrency must be at least 1".into(),
        ));
    }
    if cfg.image.image_size == 0 {
        return Err(DownloadError::Config(
            "--image-size must be at least 1".into(),
        ));
    }
    cfg.image
        .encode_format
        .check_quality(cfg.image.encode_quality)
        .map_err(DownloadError::Config)?;
    let clashes = cfg.shard_columns().clashes();
    if !clashes.is_empty() {
        return Err(DownloadError::Config(format!(
            "additional column(s) {} clash with the shard's own columns (or repeat)",
            clashes.join(", ")
        )));
    }
    if let Some(c) = &cfg.bbox_col {
        if !cfg.input.extra_cols().contains(c) {
            return Err(DownloadError::Config(format!(
                "--bbox-col column {c:?} is not read from the input (pass --input TABLE)"
            )));
        }
    }
    if let Some(v) = &cfg.verify_hash {
        if !cfg.input.extra_cols().contains(&v.column) {
            return Err(DownloadError::Config(format!(
                "--verify-hash column {:?} is not read from the input (pass --input TABLE)",
                v.column
            )));
        }
    }
    Ok(())
}

/// The number of samples and shards of the input.
pub fn plan(cfg: &DownloadConfig) -> Result<(u64, usize), DownloadError> {
    let files = list_inputs(&cfg.input)?;
    let total = count_rows(&cfg.input, &files)?;
    Ok((total, total.div_ceil(cfg.shard_size as u64) as usize))
}

/// The files of shard `shard` in `shards_dir`.
pub fn shard_files(
    cfg: &DownloadConfig,
    shards_dir: &std::path::Path,
    total: u64,
    shard: usize,
) -> ShardFiles {
    let keys = KeyFormat::new(total, cfg.shard_size);
    ShardFiles::new(shards_dir, &keys.shard_name(shard), cfg.output_format)
}

/// Downloads the shards in `todo` into `shards_dir` (the others are read
/// past); `on_shard` gets each shard's statistics right after its files are
/// committed, on the writer thread. Returns the job's summary.
pub fn run_shards(
    cfg: &DownloadConfig,
    shards_dir: &std::path::Path,
    todo: &BTreeSet<usize>,
    progress: &ProgressBar,
    on_shard: &(dyn Fn(&ShardStats) + Sync),
) -> Result<DownloadSummary, DownloadError> {
    let started = Instant::now();
    check(cfg)?;
    let files = list_inputs(&cfg.input)?;
    let total = count_rows(&cfg.input, &files)?;
    crate::storage::files::create_dir_all(shards_dir)
        .map_err(|e| DownloadError::write(shards_dir, e))?;
    let keys = KeyFormat::new(total, cfg.shard_size);
    progress.set_length(total);

    let (plan_tx, plan_rx) = mpsc::channel::<Planned>(2);
    let (write_tx, mut write_rx) = mpsc::channel::<ToWriter>(1024);
    let format = cfg.output_format;
    let columns = cfg.shard_columns();
    let mut summary = DownloadSummary::default();
    let (collected, written) = std::thread::scope(|scope| {
        // Reader thread: plans shards in order.
        let spec = cfg.input.clone();
        let size = cfg.shard_size;
        let reader = std::thread::Builder::new()
            .name("download-reader".into())
            .spawn_scoped(scope, move || {
                let mut samples = SampleReader::new(spec, files);
                for id in 0.. {
                    let msg = match samples.next_shard(size) {
                        Ok(s) if s.is_empty() => break,
                        Ok(s) if !todo.contains(&id) => Planned::Skipped { samples: s.len() },
                        Ok(s) => Planned::Shard { id, samples: s },
                        Err(e) => Planned::Failed(e),
                    };
                    let stop = matches!(msg, Planned::Failed(_));
                    if plan_tx.blocking_send(msg).is_err() || stop {
                        break;
                    }
                }
            });
        // Writer thread: streams rows into shard files.
        let columns = &columns;
        let writer = std::thread::Builder::new()
            .name("download-writer".into())
            .spawn_scoped(scope, move || -> Result<Vec<ShardStats>, DownloadError> {
                let mut all = Vec::new();
                while let Some(msg) = write_rx.blocking_recv() {
                    let ToWriter::Start { id, n } = msg else {
                        return Err(DownloadError::Config(
                            "writer got a row outside a shard".into(),
                        ));
                    };
                    let files = ShardFiles::new(shards_dir, &keys.shard_name(id), format);
                    let t0 = Instant::now();
                    let stats = write_shard_with_columns(
                        &files,
                        format,
                        columns,
                        id,
                        n,
                        || match write_rx.blocking_recv() {
                            Some(ToWriter::Row(r)) => Some(*r),
                            _ => None,
                        },
                        t0,
                    )?;
                    log::debug!(
                        "shard {id}: {} of {} samples are images",
                        stats.successes,
                        stats.count
                    );
                    on_shard(&stats);
                    all.push(stats);
                }
                Ok(all)
            });
        let (reader, writer) = match (reader, writer) {
            (Ok(r), Ok(w)) => (r, w),
            _ => {
                return (
                    Err(DownloadError::Config(
                        "cannot start the download threads".into(),
                    )),
                    Ok(Vec::new()),
                )
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.io_threads.max(1))
            .thread_name("download-io")
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                return (
                    Err(DownloadError::Config(format!(
                        "cannot start the network runtime: {e}"
                    ))),
                    Ok(Vec::new()),
                )
            }
        };
        let collected = runtime.block_on(collect(
            cfg,
            keys,
            plan_rx,
            write_tx,
            progress,
            &mut summary,
        ));
        // Dropping the runtime drops the plan receiver, so the reader stops.
        drop(runtime);
        let _ = reader.join();
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(DownloadError::Config("the writer thread panicked".into())));
        (collected, written)
    });
    collected?;
    for stats in written? {
        summary.add(&stats);
    }
    summary.duration = started.elapsed();
    Ok(summary)
}

/// Pulls planned shards, runs samples with bounded concurrency and hands
/// completed rows to the writer in input order.
async fn collect(
    cfg: &DownloadConfig,
    keys: KeyFormat,
    mut plan_rx: mpsc::Receiver<Planned>,
    write_tx: mpsc::Sender<ToWriter>,
    progress: &ProgressBar,
    summary: &mut DownloadSummary,
) -> Result<(), DownloadError> {
    let fetcher = Arc::new(
        Fetcher::new(cfg.fetch.clone())
            .map_err(|e| DownloadError::Config(format!("cannot build the HTTP client: {e}")))?,
    );
    let image_cfg = Arc::new(cfg.image.clone());
    let budget = Arc::new(MemoryBudget::new(cfg.image.decode_memory));
    let hashing = Hashing {
        extra: cfg.shard_columns().hash_col.map(|_| cfg.compute_hash),
        verify: cfg.verify_hash.as_ref().and_then(|v| {
            let i = cfg.input.extra_cols().iter().position(|c| *c == v.column)?;
            Some((i, v.algo))
        }),
        bbox: cfg
            .bbox_col
            .as_ref()
            .and_then(|c| cfg.input.extra_cols().iter().position(|x| x == c)),
    };
    // Out-of-order completions are held back at most this far ahead of the
    // oldest unfinished sample, which bounds memory while one slow server
    // does not stall the others.
    let window = cfg.concurrency.saturating_mul(4).max(64);
    let mut queue: VecDeque<BoxFuture<'static, Event>> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut done: BTreeMap<u64, Event> = BTreeMap::new();
    let (mut next_seq, mut next_emit) = (0u64, 0u64);
    let mut input_open = true;
    loop {
        // Admit work while there is room in flight and in the window.
        while in_flight.len() < cfg.concurrency && next_seq < next_emit + window as u64 {
            if queue.is_empty() && input_open {
                // Wait for the reader only when nothing else can progress.
                let planned = if in_flight.is_empty() {
                    plan_rx.recv().await
                } else {
                    match plan_rx.try_recv() {
                        Ok(p) => Some(p),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                    }
                };
                match planned {
                    Some(p) => queue.extend(plan_events(
                        p,
                        keys,
                        &fetcher,
                        (&image_cfg, &budget),
                        hashing,
                    )),
                    None => input_open = false,
                }
            }
            let Some(fut) = queue.pop_front() else { break };
            let seq = next_seq;
            next_seq += 1;
            in_flight.push(fut.map(move |ev| (seq, ev)));
        }
        let Some((seq, ev)) = in_flight.next().await else {
            if queue.is_empty() && !input_open {
                break;
            }
            continue;
        };
        done.insert(seq, ev);
        while let Some(ev) = done.remove(&next_emit) {
            next_emit += 1;
            let msg = match ev {
                Event::Start { id, n } => ToWriter::Start { id, n },
                Event::Row(row) => {
                    progress.inc(1);
                    ToWriter::Row(row)
                }
                Event::Skipped { samples } => {
                    progress.inc(samples as u64);
                    summary.shards_skipped += 1;
                    continue;
                }
                Event::Failed(e) => return Err(e),
            };
            if write_tx.send(msg).await.is_err() {
                // The writer stopped on an error; run() reports it.
                return Ok(());
            }
        }
    }
    Ok(())
}

fn plan_events(
    planned: Planned,
    keys: KeyFormat,
    fetcher: &Arc<Fetcher>,
    (image_cfg, budget): (&Arc<ImageConfig>, &Arc<MemoryBudget>),
    hashing: Hashing,
) -> Vec<BoxFuture<'static, Event>> {
    match planned {
        Planned::Skipped { samples } => vec![async move { Event::Skipped { samples } }.boxed()],
        Planned::Failed(e) => vec![async move { Event::Failed(e) }.boxed()],
        Planned::Shard { id, samples } => {
            let n = samples.len();
            let mut out = Vec::with_capacity(n + 1);
            out.push(async move { Event::Start { id, n } }.boxed());
            for (i, sample) in samples.into_iter().enumerate() {
                let key = keys.key(id, i);
                let fetcher = Arc::clone(fetcher);
                let image_cfg = Arc::clone(image_cfg);
                let budget = Arc::clone(budget);
                out.push(
                    async move {
                        Event::Row(Box::new(
                            download_one(&fetcher, (image_cfg, budget), hashing, key, sample).await,
                        ))
                    }
                    .boxed(),
                );
            }
            out
        }
    }
}

/// Downloads and processes one sample; never fails, failures are rows.
async fn download_one(
    fetcher: &Fetcher,
    (image_cfg, budget): (Arc<ImageConfig>, Arc<MemoryBudget>),
    hashing: Hashing,
    key: String,
    sample: Sample,
) -> Row {
    let mut row = Row {
        key,
        ..Row::default()
    };
    let result = match sample.url.as_deref() {
        None => Err(Failure::new(FailureClass::InvalidUrl, "the URL is null")),
        Some(url) => fetcher.fetch(url).await,
    };
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(f) => {
            log::debug!("{}: {f}", sample.url.as_deref().unwrap_or(""));
            row.status = f.class.to_string();
            row.error_message = Some(f.message);
            row.sample = sample;
            return row;
        }
    };
    // The expected hash, when the input has one for this sample.
    let expected = hashing.verify.and_then(|(i, algo)| {
        let want = sample.extra.get(i).cloned().flatten()?;
        let want = want.trim().to_ascii_lowercase();
        (!want.is_empty()).then_some((want, algo))
    });
    let boxes = match hashing
        .bbox
        .and_then(|i| sample.extra.get(i).cloned().flatten())
    {
        None => Vec::new(),
        Some(text) => match blur::parse_boxes(&text) {
            Ok(b) => b,
            Err(message) => {
                row.status = FailureClass::InvalidBbox.to_string();
                row.error_message = Some(message);
                row.sample = sample;
                row.bytes_downloaded = bytes.len() as u64;
                return row;
            }
        },
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let sha = hex::encode(Sha256::digest(&bytes));
        let extra_hash = hashing.extra.and_then(|algo| algo.hex(&bytes));
        let mismatch = expected.and_then(|(want, algo)| {
            let got = algo.hex(&bytes)?;
            (got != want).then(|| resize::ImageFailure {
                failure: Failure::new(
                    FailureClass::HashMismatch,
                    format!("{algo:?} of the downloaded bytes is {got}, the input says {want}"),
                ),
                original: None,
            })
        });
        let result = match mismatch {
            Some(f) => Ok(Err(f)),
            // A decoder panic on hostile bytes must not take the job down.
            None => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                resize::process_within(&bytes, &image_cfg, &budget, &boxes)
            })),
        };
        if let Ok(result) = result {
            let _ = tx.send((sha, extra_hash, result, bytes.len() as u64));
        }
    });
    row.sample = sample;
    match rx.await {
        Ok((sha, extra_hash, result, n)) => {
            row.sha256 = Some(sha);
            row.hash = extra_hash;
            row.bytes_downloaded = n;
            match result {
                Ok(p) => {
                    row.status = "success".into();
                    row.size = Some((p.width, p.height));
                    row.original_size = Some((p.original_width, p.original_height));
                    row.phash = Some(p.phash);
                    row.jpg = Some(p.jpg);
                }
                Err(e) => {
                    log::debug!("{}: {}", row.sample.url.as_deref().unwrap_or(""), e.failure);
                    row.status = e.failure.class.to_string();
                    row.error_message = Some(e.failure.message);
                    row.original_size = e.original;
                }
            }
        }
        Err(_) => {
            row.status = FailureClass::DecodeError.to_string();
            row.error_message = Some("the image decoder panicked on these bytes".into());
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shard_major_and_padded() {
        let k = KeyFormat::new(123_456, 10_000);
        assert_eq!(k.key(5, 1), "000050001");
        assert_eq!(k.shard_name(12), "00012");
        let small = KeyFormat::new(30, 5);
        assert_eq!(small.key(3, 4), "000034");
        let many = KeyFormat::new(10_000_000, 10);
        assert_eq!(many.shard_name(7), "000007");
        assert_eq!(many.key(999_999, 9), "9999999");
    }
}
