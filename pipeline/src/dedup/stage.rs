//! [`DedupStage`]: the dedup stage on the stage runner.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::index::Reference;
use super::reduce::{decide, Reason};
use super::reference;
use crate::counts::write_counts;
use crate::parts::{query_ids_field, read_all, write_parquet_atomically, PartsError};
use crate::run_dir::RunDir;
use crate::schema::{col, query_ids_type};
use crate::stage::{run_each, BoxError, Stage, StageContext, StageOutcome, TaskRecord, TaskResult};
use crate::task::Counters;

/// Counter names of the dedup stage.
pub mod counter {
    /// Task: success rows of the shard (images with a hash).
    pub const IMAGES: &str = "images";
    /// Reduce: images kept.
    pub const KEPT: &str = "kept";
    /// Reduce: dropped, same bytes as a kept image.
    pub const EXACT_DUPLICATE: &str = "skip_exact_duplicate";
    /// Reduce: dropped, within the distance of a kept image.
    pub const NEAR_DUPLICATE: &str = "skip_near_duplicate";
    /// Reduce: dropped, within the distance of a reference (evaluation) image.
    pub const CONTAMINATED: &str = "skip_contaminated";
    /// Reduce: groups of two or more images.
    pub const GROUPS: &str = "duplicate_groups";
    /// Reduce: reference hashes decontaminated against.
    pub const REFERENCE_HASHES: &str = "reference_hashes";
    /// Reduce: kept images that match at least one entry (the pool of
    /// balancing after download).
    pub const POOL: &str = "pool_images";
    /// Reduce: kept images that match no entry (left out of the pool).
    pub const NO_ENTRY: &str = "skip_no_entry";
}

/// Settings of the dedup stage (all guarded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupParams {
    /// Images whose hashes differ in at most this many bits are duplicates.
    pub max_distance: u32,
    /// Reference sets (image folders or hash tables), absolute paths.
    pub against: Vec<PathBuf>,
    /// xxh3 of the reference hashes, so a changed evaluation set is noticed.
    pub against_fingerprint: String,
    /// Bytes the reduce's band entries may take in one pass over the hashes
    /// (not guarded: the decisions do not depend on it).
    #[serde(default = "default_reduce_memory")]
    pub reduce_memory: u64,
}

/// The default of [`DedupParams::reduce_memory`]: 1 GiB.
pub fn default_reduce_memory() -> u64 {
    1 << 30
}

/// The dedup stage.
pub struct DedupStage {
    params: DedupParams,
    reference: Reference,
    /// The run's shards, listed once (see [`list_shards`]).
    shards: OnceLock<BTreeMap<usize, PathBuf>>,
}

impl DedupStage {
    /// The stage for `max_distance` and the reference sets `against`
    /// (hashed or read now).
    pub fn new(max_distance: u32, against: &[PathBuf]) -> Result<Self, BoxError> {
        Self::with_reduce_memory(max_distance, against, default_reduce_memory())
    }

    /// [`DedupStage::new`] whose reduce keeps one pass's band entries within
    /// `reduce_memory` bytes.
    pub fn with_reduce_memory(
        max_distance: u32,
        against: &[PathBuf],
        reduce_memory: u64,
    ) -> Result<Self, BoxError> {
        if max_distance > 16 {
            return Err(format!(
                "--max-distance {max_distance} is too large: at 16 and above unrelated images match"
            )
            .into());
        }
        let mut hashes = Vec::new();
        for path in against {
            let h = reference::load(path)?;
            log::info!("{}: {} reference hashes", path.display(), h.len());
            hashes.extend(h);
        }
        let mut fp = xxhash_rust::xxh3::Xxh3::new();
        for h in &hashes {
            fp.update(&h.to_le_bytes());
        }
        Ok(Self {
            params: DedupParams {
                max_distance,
                against: against
                    .iter()
                    .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                    .collect(),
                against_fingerprint: format!("{:016x}", fp.digest()),
                reduce_memory,
            },
            reference: Reference::new(&hashes, max_distance),
            shards: OnceLock::new(),
        })
    }
}

/// What a map task keeps of a shard.
fn map_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
        Field::new(col::SHA256, DataType::Utf8, true),
        Field::new(col::PHASH, DataType::UInt64, false),
        Field::new(col::QUERY_IDS, query_ids_type(), false),
    ]))
}

/// `pool/part-N.parquet`: the kept images of shard N that match an entry,
/// with their entries; the pool of balancing after download.
pub fn pool_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
        Field::new(col::QUERY_IDS, query_ids_type(), false),
    ]))
}

/// The columns of a shard the map task reads.
fn shard_columns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
        Field::new(col::STATUS, DataType::Utf8, false),
        Field::new(col::SHA256, DataType::Utf8, true),
        Field::new(col::PHASH, DataType::UInt64, true),
        Field::new(col::QUERY_IDS, query_ids_type(), true),
    ]))
}

/// `dedup/part-N.parquet`: the decision for every image of shard N.
pub fn decisions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
        Field::new("kept", DataType::Boolean, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
    ]))
}

/// The shards of the run, `shards/NNNNN.parquet` by shard number.
fn list_shards(run: &RunDir) -> Result<BTreeMap<usize, PathBuf>, BoxError> {
    let dir = run.shards();
    let mut out = BTreeMap::new();
    let files =
        crate::storage::files::list_files(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(n) = name
            .strip_suffix(".parquet")
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        {
            out.insert(n.parse::<usize>()?, path);
        }
    }
    Ok(out)
}

/// One task: the hashed success rows of a shard.
fn map_shard(run: &RunDir, task: usize, input: &Path) -> Result<Counters, PartsError> {
    let mut keys = Vec::new();
    let mut uids = Vec::new();
    let mut shas: Vec<Option<String>> = Vec::new();
    let mut hashes = Vec::new();
    let mut ids = ListBuilder::new(UInt32Builder::new()).with_field(query_ids_field());
    for b in read_all(input, &shard_columns(), "shards")? {
        let key = b.column(0).as_string::<i32>();
        let uid = b.column(1).as_string::<i32>();
        let status = b.column(2).as_string::<i32>();
        let sha = b.column(3).as_string::<i32>();
        let phash = b.column(4).as_primitive::<UInt64Type>();
        let qids = b.column(5).as_list::<i32>();
        for i in 0..b.num_rows() {
            if status.value(i) != "success" || phash.is_null(i) {
                continue;
            }
            keys.push(key.value(i).to_string());
            uids.push(uid.value(i).to_string());
            shas.push((!sha.is_null(i)).then(|| sha.value(i).to_string()));
            hashes.push(phash.value(i));
            if !qids.is_null(i) {
                let v = qids.value(i);
                ids.values()
                    .append_slice(v.as_primitive::<UInt32Type>().values());
            }
            ids.append(true);
        }
    }
    let mut c = Counters::default();
    c.add(counter::IMAGES, keys.len() as u64);
    let out = run.dedup_map_task(task);
    let schema = map_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(keys)) as ArrayRef,
            Arc::new(StringArray::from(uids)),
            Arc::new(StringArray::from(shas)),
            Arc::new(UInt64Array::from(hashes)),
            Arc::new(ids.finish()),
        ],
    )
    .map_err(|e| PartsError::arrow(&out, e))?;
    write_parquet_atomically(&out, &schema, &[batch], None)?;
    Ok(c)
}

/// The pool rows of one shard: its kept images that match an entry, read
/// back from the map output (whose rows are the shard's images, in order),
/// and their matches added to `counts`.
fn pool_of_shard(
    run: &RunDir,
    task: usize,
    kept: &[bool],
    counts: &mut Vec<u64>,
) -> Result<(RecordBatch, u64), PartsError> {
    let input = run.dedup_map_task(task);
    let mut keys = Vec::new();
    let mut uids = Vec::new();
    let mut ids = ListBuilder::new(UInt32Builder::new()).with_field(query_ids_field());
    let mut row = 0usize;
    let mut no_entry = 0u64;
    for b in read_all(&input, &map_schema(), "dedup map")? {
        let key = b.column(0).as_string::<i32>();
        let uid = b.column(1).as_string::<i32>();
        let qids = b.column(4).as_list::<i32>();
        for i in 0..b.num_rows() {
            let r = row + i;
            if !kept.get(r).copied().unwrap_or(false) {
                continue;
            }
            let v = qids.value(i);
            let v = v.as_primitive::<UInt32Type>().values();
            if v.is_empty() {
                no_entry += 1;
                continue;
            }
            for &id in v.iter() {
                let id = id as usize;
                if id >= counts.len() {
                    counts.resize(id + 1, 0);
                }
                counts[id] += 1;
            }
            keys.push(key.value(i).to_string());
            uids.push(uid.value(i).to_string());
            ids.values().append_slice(v);
            ids.append(true);
        }
        row += b.num_rows();
    }
    if row != kept.len() {
        return Err(PartsError::Schema {
            path: input,
            what: "dedup map",
            detail: format!("{row} rows, the reduce read {}", kept.len()),
        });
    }
    let schema = pool_schema();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(keys)) as ArrayRef,
            Arc::new(StringArray::from(uids)),
            Arc::new(ids.finish()),
        ],
    )
    .map_err(|e| PartsError::arrow(&run.pool_part(task), e))?;
    Ok((batch, no_entry))
}

impl DedupStage {
    /// The run's shards (listed on first use).
    fn shards(&self, run: &RunDir) -> Result<&BTreeMap<usize, PathBuf>, BoxError> {
        if let Some(s) = self.shards.get() {
            return Ok(s);
        }
        let listed = list_shards(run)?;
        Ok(self.shards.get_or_init(|| listed))
    }
}

impl Stage for DedupStage {
    const NAME: &'static str = "dedup";
    type Params = DedupParams;

    fn params(&self) -> &DedupParams {
        &self.params
    }

    fn guarded(&self) -> serde_json::Value {
        serde_json::json!({
            "max_distance": self.params.max_distance,
            "against": self.params.against,
            "against_fingerprint": self.params.against_fingerprint,
        })
    }

    fn open(params: DedupParams) -> Result<Self, BoxError> {
        let stage =
            Self::with_reduce_memory(params.max_distance, &params.against, params.reduce_memory)?;
        if stage.params.against_fingerprint != params.against_fingerprint {
            return Err("the reference sets changed since the stage was started".into());
        }
        Ok(stage)
    }

    fn upstream(&self) -> Option<&'static str> {
        Some("download")
    }

    fn tasks(&self, run: &RunDir) -> Result<Vec<usize>, BoxError> {
        Ok(self.shards(run)?.keys().copied().collect())
    }

    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf> {
        vec![run.dedup_map_task(task)]
    }

    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![run.dedup(), run.dedup_map(), run.pool()]
    }

    fn run_tasks(
        &self,
        ctx: &StageContext<'_>,
        tasks: &[usize],
        done: &(dyn Fn(usize, TaskResult) + Sync),
    ) -> Result<(), BoxError> {
        let shards = self.shards(ctx.run)?;
        ctx.progress.set_length(tasks.len() as u64);
        tasks.par_iter().for_each(|&t| {
            run_each(&[t], done, |t| match shards.get(&t) {
                Some(path) => map_shard(ctx.run, t, path),
                None => Err(PartsError::Io {
                    path: ctx.run.shards(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("shard {t} is gone"),
                    ),
                }),
            });
            ctx.progress.inc(1);
        });
        Ok(())
    }

    fn has_reduce(&self) -> bool {
        true
    }

    fn reduce_outputs(&self, run: &RunDir) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .shards(run)
            .map(|s| {
                s.keys()
                    .flat_map(|&t| [run.dedup_part(t), run.pool_part(t)])
                    .collect()
            })
            .unwrap_or_default();
        out.push(run.pool_counts());
        out
    }

    fn reduce(&self, ctx: &StageContext<'_>, records: &[TaskRecord]) -> Result<Counters, BoxError> {
        let run = ctx.run;
        let mut tasks: Vec<usize> = records.iter().map(|r| r.task).collect();
        tasks.sort_unstable();
        let d = decide(
            run,
            &tasks,
            self.params.max_distance,
            &self.reference,
            self.params.reduce_memory,
        )?;
        log::info!(
            "dedup: {} images grouped in {} pass(es) over the hashes",
            d.len(),
            d.passes
        );
        let mut c = Counters::default();
        for r in &d.reason {
            c.incr(match r {
                Reason::Kept => counter::KEPT,
                Reason::Contaminated => counter::CONTAMINATED,
                Reason::ExactDuplicate => counter::EXACT_DUPLICATE,
                Reason::NearDuplicate => counter::NEAR_DUPLICATE,
            });
        }
        c.add(counter::GROUPS, d.groups);
        c.add(counter::REFERENCE_HASHES, self.reference.len() as u64);
        // One decisions file and one pool file per shard, in parallel.
        ctx.progress.set_length(tasks.len() as u64);
        let pools = d.par_tasks(|ti| {
            let t = d.tasks[ti];
            let (batch, kept) = d.shard_batch(run, ti, &decisions_schema())?;
            write_parquet_atomically(&run.dedup_part(t), &decisions_schema(), &[batch], None)?;
            let mut counts = Vec::new();
            let (pool, no_entry) = pool_of_shard(run, t, &kept, &mut counts)?;
            let pool_rows = pool.num_rows() as u64;
            write_parquet_atomically(&run.pool_part(t), &pool_schema(), &[pool], None)?;
            ctx.progress.inc(1);
            Ok::<_, PartsError>((counts, pool_rows, no_entry))
        })?;
        let mut pool_counts: Vec<u64> = Vec::new();
        for (counts, pool_rows, no_entry) in pools {
            if counts.len() > pool_counts.len() {
                pool_counts.resize(counts.len(), 0);
            }
            for (total, c) in pool_counts.iter_mut().zip(counts) {
                *total += c;
            }
            c.add(counter::POOL, pool_rows);
            c.add(counter::NO_ENTRY, no_entry);
        }
        write_counts(&run.pool_counts(), &pool_counts)?;
        Ok(c)
    }

    fn summary(&self, r: &StageOutcome) -> String {
        match &r.reduced {
            Some(red) => {
                let c = &red.counters;
                format!(
                    "dedup: {} of {} shards read ({} already done); {} images: {} kept, {} exact \
                     and {} near duplicates dropped (distance <= {}), {} contaminated (against {} \
                     reference hashes)",
                    r.tasks_run,
                    r.tasks_total,
                    r.tasks_skipped,
                    c.get(counter::KEPT)
                        + c.get(counter::EXACT_DUPLICATE)
                        + c.get(counter::NEAR_DUPLICATE)
                        + c.get(counter::CONTAMINATED),
                    c.get(counter::KEPT),
                    c.get(counter::EXACT_DUPLICATE),
                    c.get(counter::NEAR_DUPLICATE),
                    self.params.max_distance,
                    c.get(counter::CONTAMINATED),
                    c.get(counter::REFERENCE_HASHES),
                )
            }
            None => r.default_line(Self::NAME),
        }
    }
}
