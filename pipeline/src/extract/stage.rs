//! Running the extract stage: tasks, resume, statistics, progress.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::pairs::{Pair, PairMaker, TextOptions};
use super::records::{from_warc_record, from_wat_record};
use super::shuffle::{reduce_partition, write_map_output};
use super::ExtractError;
use crate::sources::input::{self, Location};
use crate::sources::table::{self, TableFormat, TableOptions};
use crate::sources::warc::{self, Item};
use crate::sources::SourceError;
use crate::task::{self, Counters, TaskSlice};

/// How inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// From the file name: `.wat[.gz]`, `.warc[.gz]`, or a table extension.
    Auto,
    /// WARC files (HTML responses).
    Warc,
    /// WAT files (metadata JSON).
    Wat,
    /// url+caption tables (format from the extension).
    Table,
}

/// Which part of the stage to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The map tasks of the slice, then its reduce partitions once every map
    /// task (of every slice) is done.
    All,
    /// Only the map tasks.
    Map,
    /// Only the reduce partitions; fails unless every map task is done.
    Reduce,
}

/// Everything the stage needs.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// The run directory (`pairs/` is written under it).
    pub out: PathBuf,
    /// Input arguments (paths, directories, globs, URLs, path lists).
    pub inputs: Vec<String>,
    /// How inputs are read.
    pub format: InputFormat,
    /// Base of relative path-list entries.
    pub base_url: String,
    /// Table column names.
    pub table: TableOptions,
    /// Text rules.
    pub text: TextOptions,
    /// Number of output partitions (`pairs/part-NNNNN.parquet` files).
    pub partitions: usize,
    /// WARC/WAT records with a larger block are skipped (and counted).
    pub max_record_bytes: usize,
    /// Which tasks and partitions this process runs.
    pub slice: TaskSlice,
    /// Map, reduce or both.
    pub phase: Phase,
    /// Show progress bars.
    pub progress: bool,
}

impl ExtractConfig {
    /// A configuration with the defaults for everything but `out` and `inputs`.
    pub fn new(out: impl Into<PathBuf>, inputs: Vec<String>) -> Self {
        Self {
            out: out.into(),
            inputs,
            format: InputFormat::Auto,
            base_url: input::COMMONCRAWL_BASE_URL.to_string(),
            table: TableOptions::default(),
            text: TextOptions::default(),
            partitions: 16,
            max_record_bytes: 32 << 20,
            slice: TaskSlice::ALL,
            phase: Phase::All,
            progress: false,
        }
    }
}

/// What a run did (this process's share).
#[derive(Debug, Clone, Default)]
pub struct ExtractSummary {
    /// Input files of the whole stage.
    pub inputs: usize,
    /// Map tasks run by this process.
    pub tasks_run: usize,
    /// Map tasks of the slice skipped because their output exists.
    pub tasks_skipped: usize,
    /// Failed map tasks: `input: error`.
    pub failures: Vec<String>,
    /// Counters summed over the tasks run.
    pub counters: Counters,
    /// Partitions written by this process.
    pub partitions_written: usize,
    /// Partitions of the slice skipped because they exist.
    pub partitions_skipped: usize,
    /// When the reduce could not start: how many map tasks are missing.
    pub reduce_waiting: Option<usize>,
    /// Rows read by the reduces run.
    pub reduce_rows_in: u64,
    /// Unique pairs written by the reduces run.
    pub reduce_rows_out: u64,
    /// Wall time.
    pub seconds: f64,
}

impl ExtractSummary {
    /// An error when some map tasks failed.
    pub fn check(&self) -> Result<(), ExtractError> {
        match self.failures.first() {
            None => Ok(()),
            Some(first) => Err(ExtractError::TasksFailed {
                failed: self.failures.len(),
                total: self.tasks_run,
                first: first.clone(),
            }),
        }
    }

    /// The one-line summary printed at the end of a run.
    pub fn line(&self) -> String {
        let c = &self.counters;
        let mb = c.get("bytes_raw") as f64 / 1e6;
        let mut s = format!(
            "extract: {} inputs ({} run, {} already done, {} failed), {:.1} MB read, {} records, {} pairs",
            self.inputs,
            self.tasks_run,
            self.tasks_skipped,
            self.failures.len(),
            mb,
            c.get("records") + c.get("rows"),
            c.get("pairs"),
        );
        let faults: u64 =
            c.0.iter()
                .filter(|(k, _)| k.starts_with("fault_"))
                .map(|(_, v)| v)
                .sum();
        if faults > 0 {
            s.push_str(&format!(", {faults} bad records skipped"));
        }
        match self.reduce_waiting {
            Some(missing) if self.failures.is_empty() => s.push_str(&format!(
                "; reduce waits for {missing} map tasks of other slices"
            )),
            Some(missing) => s.push_str(&format!(
                "; reduce not run: {missing} map tasks are missing"
            )),
            None => s.push_str(&format!(
                "; {} partitions written ({} already done), {} unique pairs ({} duplicates dropped)",
                self.partitions_written,
                self.partitions_skipped,
                self.reduce_rows_out,
                self.reduce_rows_in - self.reduce_rows_out
            )),
        }
        s.push_str(&format!(" in {:.1}s", self.seconds));
        s
    }
}

/// How one input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Warc,
    Wat,
    Table(TableFormat),
}

impl Kind {
    fn source(self) -> &'static str {
        match self {
            Kind::Warc => "warc",
            Kind::Wat => "wat",
            Kind::Table(_) => "table",
        }
    }
}

fn kind_of(location: &Location, format: InputFormat) -> Result<Kind, ExtractError> {
    let name = location.file_name().to_ascii_lowercase();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let table = || {
        TableFormat::from_name(&name)
            .map(Kind::Table)
            .ok_or_else(|| {
                ExtractError::Config(format!(
                    "cannot tell the table format of {location} from its name \
                 (expected .parquet, .csv, .tsv or .jsonl, optionally .gz)"
                ))
            })
    };
    match format {
        InputFormat::Wat => Ok(Kind::Wat),
        InputFormat::Warc => Ok(Kind::Warc),
        InputFormat::Table => table(),
        InputFormat::Auto => {
            if stem.ends_with(".wat") {
                Ok(Kind::Wat)
            } else if stem.ends_with(".warc") {
                Ok(Kind::Warc)
            } else if stem.ends_with(".wet") {
                Err(ExtractError::Config(format!(
                    "{location}: WET files hold only page text, no images; give the WARC or WAT files"
                )))
            } else if TableFormat::from_name(&name).is_some() {
                table()
            } else {
                Err(ExtractError::Config(format!(
                    "cannot tell the format of {location} from its name; pass --format warc|wat|table"
                )))
            }
        }
    }
}

/// The options a run directory was started with; a resume must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    inputs: Vec<String>,
    partitions: usize,
    format: InputFormat,
    url_col: String,
    caption_col: String,
    include_title: bool,
    keep_empty_alt: bool,
    min_text_len: usize,
    max_text_len: usize,
    max_url_len: usize,
    max_record_bytes: usize,
}

fn check_manifest(
    cfg: &ExtractConfig,
    inputs: &[Location],
    map_dir: &Path,
) -> Result<(), ExtractError> {
    let manifest = Manifest {
        inputs: inputs.iter().map(|l| l.to_string()).collect(),
        partitions: cfg.partitions,
        format: cfg.format,
        url_col: cfg.table.url_col.clone(),
        caption_col: cfg.table.caption_col.clone(),
        include_title: cfg.text.include_title,
        keep_empty_alt: cfg.text.keep_empty_alt,
        min_text_len: cfg.text.min_text_len,
        max_text_len: cfg.text.max_text_len,
        max_url_len: cfg.text.max_url_len,
        max_record_bytes: cfg.max_record_bytes,
    };
    let path = map_dir.join("manifest.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let old: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| ExtractError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if old != manifest {
                return Err(ExtractError::Config(format!(
                    "{} was started with other inputs or options ({}); \
                     rerun with the same ones or use a new --out",
                    cfg.out.display(),
                    path.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
            task::write_atomically(&path, &json)?;
            Ok(())
        }
        Err(e) => Err(ExtractError::io(&path, e)),
    }
}

/// Statistics of one map task (`pairs/_stats/task-TTTTT.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskStats {
    task: usize,
    input: String,
    source: String,
    seconds: f64,
    counters: Counters,
}

/// Statistics of one reduce (`pairs/_stats/part-PPPPP.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartStats {
    partition: usize,
    partitions: usize,
    map_files: usize,
    rows_in: u64,
    rows_out: u64,
    duplicates: u64,
    seconds: f64,
}

/// Logs the first faults of a task in full, then only counts them.
struct FaultLog<'a> {
    input: &'a Location,
    logged: usize,
}

impl FaultLog<'_> {
    const MAX: usize = 20;

    fn warn(&mut self, counters: &mut Counters, class: &str, message: &str) {
        counters.incr(class);
        self.logged += 1;
        if self.logged <= Self::MAX {
            log::warn!("{}: {class}: {message}", self.input);
        } else if self.logged == Self::MAX + 1 {
            log::warn!(
                "{}: more faults; they are counted in the task's stats only",
                self.input
            );
        }
    }
}

fn read_error(location: &Location, e: std::io::Error) -> ExtractError {
    ExtractError::Source(SourceError::Read {
        input: location.to_string(),
        source: e,
    })
}

/// Reads one input into pairs.
fn extract_input(
    cfg: &ExtractConfig,
    location: &Location,
    kind: Kind,
    counters: &mut Counters,
) -> Result<Vec<Pair>, ExtractError> {
    let maker = PairMaker::new(&cfg.text);
    let mut pairs = Vec::new();
    let mut faults = FaultLog {
        input: location,
        logged: 0,
    };
    match kind {
        Kind::Table(format) => {
            table::read(location, format, &cfg.table, &mut |row| match row {
                Ok(row) => {
                    counters.incr("rows");
                    maker.table_row(&row.url, row.caption.as_deref(), counters, &mut pairs);
                }
                Err(e) => faults.warn(
                    counters,
                    "fault_table_bad_row",
                    &format!("row {}: {}", e.row, e.message),
                ),
            })?;
        }
        Kind::Warc | Kind::Wat => {
            let opened = input::open(location)?;
            let (raw, gz) = (opened.raw_bytes.clone(), opened.gz_faults.clone());
            let mut reader = warc::Reader::new(opened.reader, cfg.max_record_bytes);
            while let Some(item) = reader.next_item().map_err(|e| read_error(location, e))? {
                let record = match item {
                    Item::Fault(f) => {
                        faults.warn(
                            counters,
                            &format!("fault_{}", f.class),
                            &format!("{} (decoded offset {})", f.message, f.offset),
                        );
                        continue;
                    }
                    Item::Record(r) => r,
                };
                counters.incr("records");
                let outcome = catch_unwind(AssertUnwindSafe(|| match kind {
                    Kind::Wat => from_wat_record(&record, &maker, counters, &mut pairs),
                    _ => {
                        from_warc_record(
                            &record,
                            &maker,
                            cfg.max_record_bytes,
                            counters,
                            &mut pairs,
                        );
                        Ok(())
                    }
                }));
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(message)) => faults.warn(
                        counters,
                        "fault_wat_invalid_json",
                        &format!("{}: {message}", record.describe()),
                    ),
                    Err(_) => faults.warn(
                        counters,
                        "fault_internal_error",
                        &format!("{}: extraction panicked; record skipped", record.describe()),
                    ),
                }
                reader.recycle(record);
            }
            let (members, corrupt, skipped) = gz.snapshot();
            counters.add("bytes_decoded", reader.offset());
            counters.add("bytes_raw", raw.load(Ordering::Relaxed));
            if opened.gzip {
                counters.add("gzip_members", members);
                counters.add("fault_gzip_corrupt_member", corrupt);
                counters.add("gzip_skipped_bytes", skipped);
            }
        }
    }
    if let Kind::Table(_) = kind {
        if let Location::Path(p) = location {
            if let Ok(meta) = std::fs::metadata(p) {
                counters.add("bytes_raw", meta.len());
            }
        }
    }
    Ok(pairs)
}

fn map_path(map_dir: &Path, t: usize) -> PathBuf {
    map_dir.join(format!("task-{t:05}.parquet"))
}

fn run_map_task(
    cfg: &ExtractConfig,
    dirs: &Dirs,
    t: usize,
    location: &Location,
    kind: Kind,
) -> Result<Counters, ExtractError> {
    let start = Instant::now();
    let mut counters = Counters::default();
    let pairs = extract_input(cfg, location, kind, &mut counters)?;
    counters.add("pairs_extracted", pairs.len() as u64);
    let stats_path = dirs.stats.join(format!("task-{t:05}.json"));
    let out = map_path(&dirs.map, t);
    let source = kind.source();
    // The stats are committed just before the output, whose presence marks
    // the task done.
    write_map_output(&out, pairs, source, cfg.partitions, |written| {
        counters.add("pairs", written.rows);
        counters.add("duplicates_in_task", written.duplicates);
        let stats = TaskStats {
            task: t,
            input: location.to_string(),
            source: source.to_string(),
            seconds: start.elapsed().as_secs_f64(),
            counters: counters.clone(),
        };
        let json = serde_json::to_vec_pretty(&stats).expect("stats serialise");
        task::write_atomically(&stats_path, &json)?;
        Ok(())
    })?;
    Ok(counters)
}

struct Dirs {
    pairs: PathBuf,
    map: PathBuf,
    stats: PathBuf,
}

fn progress_bar(len: usize, what: &str, visible: bool) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if visible {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {{msg}}"
            ))
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// Runs the stage (this process's slice). Failed map tasks are reported in
/// the summary (see [`ExtractSummary::check`]); the others are committed.
pub fn run(cfg: &ExtractConfig) -> Result<ExtractSummary, ExtractError> {
    let start = Instant::now();
    if cfg.partitions == 0 {
        return Err(ExtractError::Config(
            "--partitions must be at least 1".into(),
        ));
    }
    if cfg.text.min_text_len > cfg.text.max_text_len {
        return Err(ExtractError::Config(
            "--min-text-len is larger than --max-text-len".into(),
        ));
    }
    let inputs = input::expand(&cfg.inputs, &cfg.base_url)?;
    if inputs.is_empty() {
        return Err(ExtractError::Config("no input files".into()));
    }
    let pairs_dir = cfg.out.join("pairs");
    let dirs = Dirs {
        map: pairs_dir.join("_map"),
        stats: pairs_dir.join("_stats"),
        pairs: pairs_dir,
    };
    for d in [&dirs.pairs, &dirs.map, &dirs.stats] {
        std::fs::create_dir_all(d).map_err(|e| ExtractError::io(d, e))?;
        if cfg.slice.count == 1 {
            // With several slices running at once, another process's
            // temporary files may be live: clean only when running alone.
            task::clean_stale_temps(d)?;
        }
    }
    check_manifest(cfg, &inputs, &dirs.map)?;
    let mut summary = ExtractSummary {
        inputs: inputs.len(),
        ..ExtractSummary::default()
    };

    if cfg.phase != Phase::Reduce {
        let mut pending = Vec::new();
        for (t, location) in inputs.iter().enumerate() {
            if !cfg.slice.includes(t) {
                continue;
            }
            let kind = kind_of(location, cfg.format)?;
            if task::is_done(&map_path(&dirs.map, t)) {
                summary.tasks_skipped += 1;
            } else {
                pending.push((t, location, kind));
            }
        }
        let bar = progress_bar(pending.len(), "extract", cfg.progress);
        let pairs_so_far = AtomicU64::new(0);
        let results: Vec<(usize, &Location, Result<Counters, ExtractError>)> = pending
            .par_iter()
            .map(|&(t, location, kind)| {
                let result = run_map_task(cfg, &dirs, t, location, kind);
                if let Ok(c) = &result {
                    let total =
                        pairs_so_far.fetch_add(c.get("pairs"), Ordering::Relaxed) + c.get("pairs");
                    bar.set_message(format!("{total} pairs"));
                }
                bar.inc(1);
                (t, location, result)
            })
            .collect();
        bar.finish_and_clear();
        summary.tasks_run = results.len();
        for (t, location, result) in results {
            match result {
                Ok(c) => summary.counters.merge(&c),
                Err(e) => {
                    log::error!("extract task {t} ({location}) failed: {e}");
                    summary.failures.push(format!("{location}: {e}"));
                }
            }
        }
    }

    if cfg.phase != Phase::Map {
        let missing: Vec<usize> = (0..inputs.len())
            .filter(|&t| !task::is_done(&map_path(&dirs.map, t)))
            .collect();
        if let Some(&first) = missing.first() {
            if cfg.phase == Phase::Reduce {
                return Err(ExtractError::MapIncomplete {
                    missing: missing.len(),
                    total: inputs.len(),
                    first: inputs[first].to_string(),
                });
            }
            if summary.failures.is_empty() {
                log::info!(
                    "extract: the reduce waits for {} map tasks of other slices; \
                     rerun with --phase reduce once they are done",
                    missing.len()
                );
            }
            summary.reduce_waiting = Some(missing.len());
        } else {
            reduce(cfg, &dirs, inputs.len(), &mut summary)?;
        }
    }
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

fn reduce(
    cfg: &ExtractConfig,
    dirs: &Dirs,
    tasks: usize,
    summary: &mut ExtractSummary,
) -> Result<(), ExtractError> {
    let map_files: Vec<PathBuf> = (0..tasks).map(|t| map_path(&dirs.map, t)).collect();
    let mut pending = Vec::new();
    for p in (0..cfg.partitions).filter(|&p| cfg.slice.includes(p)) {
        if task::is_done(&dirs.pairs.join(task::part_name(p, "parquet"))) {
            summary.partitions_skipped += 1;
        } else {
            pending.push(p);
        }
    }
    let bar = progress_bar(pending.len(), "dedup", cfg.progress);
    let results: Vec<Result<(u64, u64), ExtractError>> = pending
        .par_iter()
        .map(|&p| {
            let start = Instant::now();
            let out = dirs.pairs.join(task::part_name(p, "parquet"));
            let stats_path = dirs.stats.join(task::part_name(p, "json"));
            // The stats are committed just before the part, whose presence
            // marks the partition done.
            let r = reduce_partition(&map_files, p, cfg.partitions, &out, |r| {
                let stats = PartStats {
                    partition: p,
                    partitions: cfg.partitions,
                    map_files: map_files.len(),
                    rows_in: r.rows_in,
                    rows_out: r.rows_out,
                    duplicates: r.rows_in - r.rows_out,
                    seconds: start.elapsed().as_secs_f64(),
                };
                let json = serde_json::to_vec_pretty(&stats).expect("stats serialise");
                task::write_atomically(&stats_path, &json)?;
                Ok(())
            })?;
            bar.inc(1);
            Ok((r.rows_in, r.rows_out))
        })
        .collect();
    bar.finish_and_clear();
    for r in results {
        let (rows_in, rows_out) = r?;
        summary.partitions_written += 1;
        summary.reduce_rows_in += rows_in;
        summary.reduce_rows_out += rows_out;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        let k = |n: &str| kind_of(&Location::Path(n.into()), InputFormat::Auto);
        assert_eq!(k("x.warc.wat.gz").unwrap(), Kind::Wat);
        assert_eq!(k("x.warc.gz").unwrap(), Kind::Warc);
        assert_eq!(k("x.warc").unwrap(), Kind::Warc);
        assert_eq!(k("x.csv.gz").unwrap(), Kind::Table(TableFormat::Csv));
        assert!(k("x.warc.wet.gz").unwrap_err().to_string().contains("WET"));
        assert!(k("x.bin").is_err());
    }
}
