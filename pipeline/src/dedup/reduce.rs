//! The dedup reduce with bounded memory: it streams the map outputs
//! (`dedup/_map/task-N.parquet`) several times instead of loading them.
//!
//! 1. One pass reads every image's hash and sha256: whether it is near a
//!    reference hash (1 byte), a 64-bit digest of its sha256 (8 bytes), and
//!    how many images each shard has.
//! 2. [`group_in_passes`] finds the groups in as many passes as keep one
//!    pass's band entries within the memory budget; the union-find's roots
//!    (4 bytes per image) are then flattened.
//! 3. The keep rule runs over the roots in image order (4 bytes per image for
//!    the kept image of each group, 1 for "has other members").
//! 4. One pass reads the keys of the kept images that other images point to
//!    (the `group` column), then every shard's decisions and pool are
//!    written, in parallel, each from its own map output.
//!
//! About 18 bytes per image in all (7 GB for 400 million images), plus the
//! band entries of one pass (`--reduce-memory`) and the keys of duplicate
//! groups' kept images.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::index::Reference;
use super::partitioned::{group_in_passes, passes_for, HashStream};
use crate::parts::{read_all, PartsError};
use crate::run_dir::RunDir;
use crate::schema::col;

/// Why an image is kept or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The first image of its group not contaminated.
    Kept,
    /// Same bytes as its group's kept image.
    ExactDuplicate,
    /// Within the distance of an image of its group, bytes differ.
    NearDuplicate,
    /// Within the distance of a reference hash.
    Contaminated,
}

impl Reason {
    /// The name written in the `reason` column.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Kept => "kept",
            Reason::ExactDuplicate => "exact_duplicate",
            Reason::NearDuplicate => "near_duplicate",
            Reason::Contaminated => "contaminated",
        }
    }
}

fn hash_columns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::SHA256, DataType::Utf8, true),
        Field::new(col::PHASH, DataType::UInt64, false),
    ]))
}

fn key_columns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
    ]))
}

/// The map outputs of `tasks`, in task order, as one stream of images.
struct MapStream<'a> {
    run: &'a RunDir,
    tasks: &'a [usize],
}

/// `f(task position, image index, phash, sha256)`.
type ScanFn<'f> = dyn FnMut(usize, u32, u64, Option<&str>) + 'f;

impl MapStream<'_> {
    /// Calls `f(task position, image index, phash, sha256)` for every image,
    /// in task order.
    fn scan(&self, f: &mut ScanFn<'_>) -> Result<(), PartsError> {
        let mut i = 0u32;
        for (ti, &t) in self.tasks.iter().enumerate() {
            for b in read_all(&self.run.dedup_map_task(t), &hash_columns(), "dedup map")? {
                let sha = b.column(0).as_string::<i32>();
                let hash = b.column(1).as_primitive::<UInt64Type>();
                for r in 0..b.num_rows() {
                    f(
                        ti,
                        i,
                        hash.value(r),
                        (!sha.is_null(r)).then(|| sha.value(r)),
                    );
                    i += 1;
                }
            }
        }
        Ok(())
    }
}

impl HashStream for MapStream<'_> {
    type Error = PartsError;
    fn for_each(&self, f: &mut dyn FnMut(u32, u64, Option<&str>)) -> Result<(), PartsError> {
        self.scan(&mut |_, i, h, sha| f(i, h, sha))
    }
}

/// The decisions of a run, per image in (shard, row) order.
pub struct Decisions {
    /// The tasks (shards), ascending.
    pub tasks: Vec<usize>,
    /// Index of each task's first image.
    pub offsets: Vec<usize>,
    /// Per image: the index of the image it is grouped under (itself when
    /// kept or contaminated).
    pub rep: Vec<u32>,
    /// Per image: why.
    pub reason: Vec<Reason>,
    /// Groups with two or more images.
    pub groups: u64,
    /// Passes the grouping took.
    pub passes: usize,
    /// Keys of the images other images are grouped under.
    pub rep_keys: HashMap<u32, String>,
}

/// Decides every image of `tasks`' map outputs.
pub fn decide(
    run: &RunDir,
    tasks: &[usize],
    k: u32,
    reference: &Reference,
    memory_budget: u64,
) -> Result<Decisions, PartsError> {
    let stream = MapStream { run, tasks };
    // 1. Contamination, sha256 digests, images per shard.
    let mut contaminated: Vec<bool> = Vec::new();
    let mut digest: Vec<u64> = Vec::new();
    let mut per_task = vec![0usize; tasks.len()];
    stream.scan(&mut |ti, _, h, sha| {
        per_task[ti] += 1;
        contaminated.push(!reference.is_empty() && reference.near(h));
        digest.push(sha.map_or(0, |s| xxhash_rust::xxh3::xxh3_64(s.as_bytes()) | 1));
    })?;
    let offsets: Vec<usize> = per_task
        .iter()
        .scan(0, |start, &c| {
            let first = *start;
            *start += c;
            Some(first)
        })
        .collect();
    let n = digest.len();
    // 2. Groups.
    let passes = passes_for(n as u64, k, memory_budget);
    let roots = group_in_passes(&stream, n, k, passes)?.into_roots();
    // 3. The keep rule: the first member not contaminated.
    let mut kept_of = vec![u32::MAX; n];
    let mut has_other = vec![false; n];
    for i in 0..n {
        let r = roots[i] as usize;
        if r != i {
            has_other[r] = true;
        }
        if !contaminated[i] && kept_of[r] == u32::MAX {
            kept_of[r] = i as u32;
        }
    }
    let mut rep = Vec::with_capacity(n);
    let mut reason = Vec::with_capacity(n);
    for i in 0..n {
        let (why, r) = if contaminated[i] {
            (Reason::Contaminated, i as u32)
        } else {
            let r = kept_of[roots[i] as usize];
            if r as usize == i {
                (Reason::Kept, r)
            } else if digest[i] != 0 && digest[i] == digest[r as usize] {
                (Reason::ExactDuplicate, r)
            } else {
                (Reason::NearDuplicate, r)
            }
        };
        reason.push(why);
        rep.push(r);
    }
    let groups = has_other.iter().filter(|&&h| h).count() as u64;
    drop((kept_of, has_other, roots, digest, contaminated));
    // 4. The keys of the images others are grouped under.
    let mut wanted = vec![false; n];
    for (i, &r) in rep.iter().enumerate() {
        if r as usize != i {
            wanted[r as usize] = true;
        }
    }
    let mut rep_keys = HashMap::new();
    for (ti, &t) in tasks.iter().enumerate() {
        if !wanted[offsets[ti]..offsets.get(ti + 1).copied().unwrap_or(n)]
            .iter()
            .any(|&w| w)
        {
            continue;
        }
        let mut i = offsets[ti];
        for b in read_all(&run.dedup_map_task(t), &key_columns(), "dedup map")? {
            let key = b.column(0).as_string::<i32>();
            for r in 0..b.num_rows() {
                if wanted.get(i).copied().unwrap_or(false) {
                    rep_keys.insert(i as u32, key.value(r).to_string());
                }
                i += 1;
            }
        }
    }
    Ok(Decisions {
        tasks: tasks.to_vec(),
        offsets,
        rep,
        reason,
        groups,
        passes,
        rep_keys,
    })
}

impl Decisions {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.reason.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.reason.is_empty()
    }

    /// The image range of the `ti`-th task.
    fn range(&self, ti: usize) -> std::ops::Range<usize> {
        self.offsets[ti]..self.offsets.get(ti + 1).copied().unwrap_or(self.len())
    }

    /// `dedup/part-N.parquet` of the `ti`-th task, and its kept flags.
    pub fn shard_batch(
        &self,
        run: &RunDir,
        ti: usize,
        schema: &SchemaRef,
    ) -> Result<(RecordBatch, Vec<bool>), PartsError> {
        let task = self.tasks[ti];
        let range = self.range(ti);
        let mut keys = Vec::with_capacity(range.len());
        let mut uids = Vec::with_capacity(range.len());
        for b in read_all(&run.dedup_map_task(task), &key_columns(), "dedup map")? {
            let key = b.column(0).as_string::<i32>();
            let uid = b.column(1).as_string::<i32>();
            keys.extend(key.iter().map(|k| k.unwrap_or_default().to_string()));
            uids.extend(uid.iter().map(|u| u.unwrap_or_default().to_string()));
        }
        if keys.len() != range.len() {
            return Err(PartsError::Schema {
                path: run.dedup_map_task(task),
                what: "dedup map",
                detail: format!("{} rows, {} when first read", keys.len(), range.len()),
            });
        }
        let start = range.start;
        let kept: Vec<bool> = range
            .clone()
            .map(|i| self.reason[i] == Reason::Kept)
            .collect();
        let group: Vec<&str> = range
            .clone()
            .map(|i| {
                let r = self.rep[i] as usize;
                if r == i {
                    keys[i - start].as_str()
                } else {
                    self.rep_keys[&(r as u32)].as_str()
                }
            })
            .collect();
        let out = run.dedup_part(task);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(keys.iter())) as ArrayRef,
                Arc::new(StringArray::from_iter_values(uids.iter())),
                Arc::new(BooleanArray::from(kept.clone())),
                Arc::new(StringArray::from_iter_values(
                    range.map(|i| self.reason[i].name()),
                )),
                Arc::new(StringArray::from(group)),
            ],
        )
        .map_err(|e| PartsError::arrow(&out, e))?;
        Ok((batch, kept))
    }

    /// Runs `f(ti)` for every task in parallel.
    pub fn par_tasks<T: Send, E: Send>(
        &self,
        f: impl Fn(usize) -> Result<T, E> + Sync + Send,
    ) -> Result<Vec<T>, E> {
        (0..self.tasks.len()).into_par_iter().map(f).collect()
    }
}
