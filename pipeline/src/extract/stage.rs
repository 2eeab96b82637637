//! Running the extract stage: tasks, resume, statistics, progress.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::pairs::{Pair, PairMaker, TextOptions};
use super::records::{from_warc_record, from_wat_record};
use super::shuffle::{reduce_partition, write_map_output};
use super::ExtractError;
use crate::run_dir::RunDir;
use crate::sources::input::{self, Location};
use crate::sources::table::{self, TableFormat, TableOptions};
use crate::sources::warc::{self, Item};
use crate::sources::SourceError;
use crate::stage::{
    record, BoxError, Stage, StageContext, StageOutcome, TaskDone, TaskRecord, TaskResult,
};
use crate::task::Counters;

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

/// Settings of the extract stage (all guarded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractParams {
    /// The input files, expanded (paths absolute, path lists read).
    pub inputs: Vec<Location>,
    /// How inputs are read.
    pub format: InputFormat,
    /// Table column names.
    pub table: TableOptions,
    /// Text rules.
    pub text: TextOptions,
    /// Number of output partitions (`pairs/part-NNNNN.parquet` files).
    pub partitions: usize,
    /// WARC/WAT records with a larger block are skipped (and counted).
    pub max_record_bytes: usize,
}

impl ExtractParams {
    /// Settings with the defaults for everything but `inputs`: expands the
    /// input arguments (paths, directories, globs, URLs, path lists; relative
    /// path-list entries are resolved against `base_url`).
    pub fn new(inputs: &[String], base_url: &str) -> Result<Self, ExtractError> {
        let inputs = input::expand(inputs, base_url)?
            .into_iter()
            .map(|l| match l {
                Location::Path(p) => Location::Path(std::path::absolute(&p).unwrap_or(p)),
                url => url,
            })
            .collect::<Vec<_>>();
        if inputs.is_empty() {
            return Err(ExtractError::Config("no input files".into()));
        }
        Ok(Self {
            inputs,
            format: InputFormat::Auto,
            table: TableOptions::default(),
            text: TextOptions::default(),
            partitions: 16,
            max_record_bytes: 32 << 20,
        })
    }
}

/// Counter names of the extract stage (the text rules' own are in [`super::pairs`]).
pub mod counter {
    /// Pairs found in an input (before de-duplication within the task).
    pub const PAIRS_EXTRACTED: &str = "pairs_extracted";
    /// Pairs written by a map task.
    pub const PAIRS: &str = "pairs";
    /// Duplicates dropped within one map task.
    pub const DUPLICATES_IN_TASK: &str = "skip_duplicate_in_task";
    /// Reduce: rows read from the map outputs.
    pub const REDUCE_ROWS_IN: &str = "rows_in";
    /// Reduce: unique pairs written.
    pub const UNIQUE_PAIRS: &str = "unique_pairs";
    /// Reduce: duplicates across tasks dropped.
    pub const DUPLICATES: &str = "skip_duplicate";
}

/// The extract stage.
pub struct ExtractStage {
    params: ExtractParams,
}

impl ExtractStage {
    /// The stage with `params` (checked).
    pub fn new(params: ExtractParams) -> Result<Self, ExtractError> {
        if params.partitions == 0 {
            return Err(ExtractError::Config(
                "--partitions must be at least 1".into(),
            ));
        }
        if params.text.min_text_len > params.text.max_text_len {
            return Err(ExtractError::Config(
                "--min-text-len is larger than --max-text-len".into(),
            ));
        }
        for location in &params.inputs {
            kind_of(location, params.format)?;
        }
        Ok(Self { params })
    }
}

impl Stage for ExtractStage {
    const NAME: &'static str = "extract";
    type Params = ExtractParams;

    fn params(&self) -> &ExtractParams {
        &self.params
    }

    fn open(params: ExtractParams) -> Result<Self, BoxError> {
        Ok(Self::new(params)?)
    }

    fn upstream(&self) -> Option<&'static str> {
        None
    }

    fn tasks(&self, _run: &RunDir) -> Result<Vec<usize>, BoxError> {
        Ok((0..self.params.inputs.len()).collect())
    }

    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf> {
        vec![run.pairs_map_task(task)]
    }

    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![
            run.pairs(),
            run.pairs_map(),
            run.extract_partition_records(),
        ]
    }

    fn progress_unit(&self) -> &'static str {
        "inputs"
    }

    fn run_tasks(
        &self,
        ctx: &StageContext<'_>,
        tasks: &[usize],
        done: &(dyn Fn(usize, TaskResult) + Sync),
    ) -> Result<(), BoxError> {
        ctx.progress.set_length(tasks.len() as u64);
        let pairs_so_far = AtomicU64::new(0);
        tasks.par_iter().for_each(|&t| {
            let location = &self.params.inputs[t];
            let start = Instant::now();
            let result = kind_of(location, self.params.format)
                .and_then(|kind| run_map_task(&self.params, ctx.run, t, location, kind));
            let result = match result {
                Ok(counters) => {
                    let total = pairs_so_far
                        .fetch_add(counters.get(counter::PAIRS), Ordering::Relaxed)
                        + counters.get(counter::PAIRS);
                    ctx.progress.set_message(format!("{total} pairs"));
                    Ok(TaskDone {
                        counters,
                        seconds: start.elapsed().as_secs_f64(),
                    })
                }
                Err(e) => {
                    // Most errors name their input already.
                    let (m, l) = (e.to_string(), location.to_string());
                    Err(if m.starts_with(&l) {
                        m
                    } else {
                        format!("{l}: {m}")
                    }
                    .into())
                }
            };
            ctx.progress.inc(1);
            done(t, result);
        });
        Ok(())
    }

    fn has_reduce(&self) -> bool {
        true
    }

    fn reduce_outputs(&self, run: &RunDir) -> Vec<PathBuf> {
        (0..self.params.partitions)
            .flat_map(|p| [run.pairs_part(p), partition_record(run, p)])
            .collect()
    }

    /// De-duplicates each partition over every map output, partitions in
    /// parallel; a partition done by an interrupted reduce over the same
    /// map outputs is kept.
    fn reduce(&self, ctx: &StageContext<'_>, records: &[TaskRecord]) -> Result<Counters, BoxError> {
        let run = ctx.run;
        let map_files: Vec<PathBuf> = records.iter().map(|r| run.pairs_map_task(r.task)).collect();
        let partitions = self.params.partitions;
        ctx.progress.set_length(partitions as u64);
        let results: Vec<Result<Counters, ExtractError>> = (0..partitions)
            .into_par_iter()
            .map(|p| {
                let out = run.pairs_part(p);
                let rec_path = partition_record(run, p);
                if crate::storage::files::exists(&out) {
                    if let Ok(Some(c)) = record::read::<Counters>(&rec_path) {
                        ctx.progress.inc(1);
                        return Ok(c);
                    }
                }
                let r = reduce_partition(&map_files, p, partitions, &out, |_| Ok(()))?;
                let mut c = Counters::default();
                c.add(counter::REDUCE_ROWS_IN, r.rows_in);
                c.add(counter::UNIQUE_PAIRS, r.rows_out);
                c.add(counter::DUPLICATES, r.rows_in - r.rows_out);
                record::write(&rec_path, &c).map_err(|e| ExtractError::Config(e.to_string()))?;
                ctx.progress.inc(1);
                Ok(c)
            })
            .collect();
        let mut total = Counters::default();
        for r in results {
            total.merge(&r?);
        }
        Ok(total)
    }

    fn summary(&self, r: &StageOutcome) -> String {
        let c = &r.counters;
        let mut s = format!(
            "extract: {} inputs ({} run, {} already done, {} failed), {:.1} MB read, {} records, {} pairs",
            r.tasks_total,
            r.tasks_run,
            r.tasks_skipped,
            r.failures.len(),
            c.get("bytes_raw") as f64 / 1e6,
            c.get("records") + c.get("rows"),
            c.get(counter::PAIRS),
        );
        let faults: u64 =
            c.0.iter()
                .filter(|(k, _)| k.starts_with("fault_"))
                .map(|(_, v)| v)
                .sum();
        if faults > 0 {
            s.push_str(&format!(", {faults} bad records skipped"));
        }
        match (&r.reduced, r.reduce_waiting) {
            (_, Some(missing)) => s.push_str(&format!(
                "; reduce waits for {missing} map tasks of other slices"
            )),
            (Some(red), None) => s.push_str(&format!(
                "; {} partitions written, {} unique pairs ({} duplicates dropped)",
                self.params.partitions,
                red.counters.get(counter::UNIQUE_PAIRS),
                red.counters.get(counter::DUPLICATES)
            )),
            (None, None) if r.complete => s.push_str(&format!(
                "; 0 partitions written ({} already done)",
                self.params.partitions
            )),
            (None, None) => {}
        }
        s.push_str(&format!(" in {:.1}s", r.task_seconds));
        s
    }
}

/// `_stages/extract/partitions/part-P.json`: a reduce partition's counters.
fn partition_record(run: &RunDir, partition: usize) -> PathBuf {
    run.extract_partition_records()
        .join(crate::run_dir::part_name(partition, "json"))
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
    cfg: &ExtractParams,
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
            let resumes = opened.resumes.clone();
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
            let resumed = resumes.load(Ordering::Relaxed);
            if resumed > 0 {
                counters.add("connection_resumes", resumed);
            }
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

fn run_map_task(
    cfg: &ExtractParams,
    run: &RunDir,
    t: usize,
    location: &Location,
    kind: Kind,
) -> Result<Counters, ExtractError> {
    let mut counters = Counters::default();
    counters.add(&format!("inputs_{}", kind.source()), 1);
    let pairs = extract_input(cfg, location, kind, &mut counters)?;
    counters.add(counter::PAIRS_EXTRACTED, pairs.len() as u64);
    let written = write_map_output(
        &run.pairs_map_task(t),
        pairs,
        kind.source(),
        cfg.partitions,
        |_| Ok(()),
    )?;
    counters.add(counter::PAIRS, written.rows);
    counters.add(counter::DUPLICATES_IN_TASK, written.duplicates);
    Ok(counters)
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
