//! Reading shard files: parquet (`shards/NNNNN.parquet`, a row group at a
//! time) and webdataset tars (`shards/NNNNN.tar`, streamed).

use std::collections::HashSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::select::{self, ShardFormat};
use super::tar::TarReader;
use super::webdataset::TarSamples;
use crate::error::io_err;
use crate::{Error, Result};
use storage::files;

/// One training pair.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The caption.
    pub caption: String,
    /// The encoded image (empty when read for captions only).
    pub jpg: Vec<u8>,
    /// Shard file index, row group and row within it (for a tar: 0 and the
    /// sample's index in the tar), for messages.
    pub origin: (u32, u32, u32),
}

/// A part of a shard file read as one: a parquet row group, or a whole tar
/// (streamed sample by sample, so only the sample being read is in memory).
#[derive(Debug, Clone, Copy)]
pub struct ShardPart {
    /// Index into [`ShardSet::files`].
    pub file: usize,
    /// Row group within the file (0 for a tar).
    pub group: usize,
    /// Rows of a row group (all statuses); `None` for a tar, whose samples
    /// are only known once read.
    pub rows: Option<usize>,
}

/// The shard files of a run and their parts.
#[derive(Debug, Clone)]
pub struct ShardSet {
    files: Vec<PathBuf>,
    formats: Vec<ShardFormat>,
    parts: Vec<ShardPart>,
    sources: Vec<PathBuf>,
    /// Selection directories (see [`ShardSet::with_selections`]).
    selections: Vec<PathBuf>,
}

/// The samples of one part, in file order.
pub struct PartSamples {
    inner: PartInner,
}

enum PartInner {
    Rows(std::vec::IntoIter<Sample>),
    Tar(Box<TarSamples<BufReader<files::RunRead>>>),
}

impl std::fmt::Debug for PartSamples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartSamples").finish_non_exhaustive()
    }
}

impl Iterator for PartSamples {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        match &mut self.inner {
            PartInner::Rows(it) => it.next().map(Ok),
            PartInner::Tar(t) => t.next_sample().transpose(),
        }
    }
}

/// `DIR/part-NNNNN.parquet` for shard `NNNNN.parquet`.
fn selection_part(dir: &Path, shard: &Path) -> Result<PathBuf> {
    let stem = shard.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let n: usize = stem
        .parse()
        .ok()
        .filter(|_| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::Config(format!(
                "{}: --select needs shards named by their number (NNNNN.parquet)",
                shard.display()
            ))
        })?;
    Ok(dir.join(format!("part-{n:05}.parquet")))
}

/// The selected keys of one selection part.
fn read_selection(path: &Path) -> Result<HashSet<String>> {
    let file = files::open(path).map_err(io_err(path))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(path, e))?;
    let has_kept = match b.schema().field_with_name("kept") {
        Ok(f) if f.data_type() == &DataType::Boolean => true,
        Ok(_) => return Err(parquet_err(path, "column `kept` is not boolean")),
        Err(_) => false,
    };
    match b.schema().field_with_name("key") {
        Ok(f) if is_string(f.data_type()) => {}
        _ => return Err(parquet_err(path, "no string column `key`")),
    }
    let mut cols = vec!["key"];
    if has_kept {
        cols.push("kept");
    }
    let mask = ProjectionMask::columns(b.parquet_schema(), cols);
    let reader = b
        .with_projection(mask)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let mut keys = HashSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(path, e))?;
        let key = batch.column_by_name("key").expect("projected");
        let kept = batch.column_by_name("kept").map(|c| c.as_boolean().clone());
        for i in 0..batch.num_rows() {
            if kept.as_ref().is_some_and(|k| k.is_null(i) || !k.value(i)) {
                continue;
            }
            if let Some(k) = str_at(key, i) {
                keys.insert(k.to_string());
            }
        }
    }
    Ok(keys)
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn str_at(col: &ArrayRef, i: usize) -> Option<&str> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(col.as_string_view().value(i)),
        _ => None,
    }
}

fn bytes_at(col: &ArrayRef, i: usize) -> Option<&[u8]> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Binary => Some(col.as_binary::<i32>().value(i)),
        DataType::LargeBinary => Some(col.as_binary::<i64>().value(i)),
        DataType::BinaryView => Some(col.as_binary_view().value(i)),
        _ => None,
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

impl ShardSet {
    /// The shard files named by `paths` (directories, files, glob and brace
    /// patterns: see [`select::resolve`]). Fails on a directory without shard
    /// files, a parquet file that lacks a `caption` or `jpg` column, or a tar
    /// file whose first header is not a tar header.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let files = select::resolve(paths)?;
        let mut formats = Vec::with_capacity(files.len());
        let mut parts = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            let format = ShardFormat::of(f);
            formats.push(format);
            if format == ShardFormat::Tar {
                let file = files::open(f).and_then(|f| f.reader()).map_err(io_err(f))?;
                TarReader::new(BufReader::new(file))
                    .next_member()
                    .map_err(io_err(f))?;
                parts.push(ShardPart {
                    file: fi,
                    group: 0,
                    rows: None,
                });
                continue;
            }
            let file = files::open(f).map_err(io_err(f))?;
            let b =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(f, e))?;
            let schema = b.schema();
            match schema.field_with_name("caption") {
                Ok(c) if is_string(c.data_type()) => {}
                _ => return Err(parquet_err(f, "no string column `caption`")),
            }
            match schema.field_with_name("jpg") {
                Ok(c) if is_binary(c.data_type()) => {}
                _ => return Err(parquet_err(f, "no binary column `jpg`")),
            }
            for (gi, g) in b.metadata().row_groups().iter().enumerate() {
                parts.push(ShardPart {
                    file: fi,
                    group: gi,
                    rows: Some(g.num_rows() as usize),
                });
            }
        }
        Ok(ShardSet {
            files,
            formats,
            parts,
            sources: paths.to_vec(),
            selections: Vec::new(),
        })
    }

    /// Uses only the rows that every directory of `dirs` selects: for shard
    /// `NNNNN.parquet` (or `NNNNN.tar`), `DIR/part-NNNNN.parquet` lists the
    /// `key`s of its selected rows (those with `kept = true` when it has a
    /// `kept` column: a crawl run's `dedup/`; every listed row otherwise:
    /// `balanced/`); a tar sample's key is its members' name before the
    /// extension. Fails on a parquet shard without a `key` column, a shard
    /// whose name is not a shard number, and a shard a directory has no part
    /// for.
    pub fn with_selections(mut self, dirs: &[PathBuf]) -> Result<Self> {
        if dirs.is_empty() {
            return Ok(self);
        }
        for (fi, f) in self.files.iter().enumerate() {
            if self.formats[fi] == ShardFormat::Parquet {
                let file = files::open(f).map_err(io_err(f))?;
                let b = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| parquet_err(f, e))?;
                if b.schema().field_with_name("key").is_err() {
                    return Err(parquet_err(f, "no column `key` to select rows by"));
                }
            }
            for d in dirs {
                let p = selection_part(d, f)?;
                if !files::exists(&p) {
                    return Err(Error::Config(format!(
                        "{}: no selection for shard {} (expected {})",
                        d.display(),
                        f.display(),
                        p.display()
                    )));
                }
            }
        }
        self.selections = dirs.to_vec();
        Ok(self)
    }

    /// The keys of shard `file` that every selection keeps; `None` without
    /// selections.
    fn selected_keys(&self, file: usize) -> Result<Option<HashSet<String>>> {
        let mut out: Option<HashSet<String>> = None;
        for d in &self.selections {
            let p = selection_part(d, &self.files[file])?;
            let keys = read_selection(&p)?;
            out = Some(match out {
                None => keys,
                Some(prev) => prev.intersection(&keys).cloned().collect(),
            });
        }
        Ok(out)
    }

    /// The shard files.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every part, in file order.
    pub fn parts(&self) -> &[ShardPart] {
        &self.parts
    }

    /// Rows of the parquet files (all statuses).
    pub fn parquet_rows(&self) -> usize {
        self.parts.iter().filter_map(|g| g.rows).sum()
    }

    /// Tar files in the set.
    pub fn tar_files(&self) -> usize {
        self.formats
            .iter()
            .filter(|&&f| f == ShardFormat::Tar)
            .count()
    }

    /// The `--shards` arguments the set was opened from, for messages.
    pub fn sources(&self) -> String {
        self.sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The usable samples of one part, streamed: parquet rows with
    /// `status == "success"` (when the column exists), tar samples with an
    /// image and a caption; either way a non-empty caption and image.
    pub fn samples(&self, g: &ShardPart) -> Result<PartSamples> {
        self.samples_of(g, true)
    }

    /// All usable samples of one part (see [`ShardSet::samples`]).
    pub fn read_part(&self, g: &ShardPart) -> Result<Vec<Sample>> {
        self.samples(g)?.collect()
    }

    /// The captions of the usable samples of one part (images are not read).
    pub fn read_captions(&self, g: &ShardPart) -> Result<Vec<String>> {
        self.samples_of(g, false)?
            .map(|s| s.map(|s| s.caption))
            .collect()
    }

    fn samples_of(&self, g: &ShardPart, images: bool) -> Result<PartSamples> {
        let inner = match self.formats[g.file] {
            ShardFormat::Parquet => PartInner::Rows(self.read(g, images)?.into_iter()),
            ShardFormat::Tar => {
                let path = &self.files[g.file];
                let file = files::open(path)
                    .and_then(|f| f.reader())
                    .map_err(io_err(path))?;
                let samples = TarSamples::new(
                    path.clone(),
                    BufReader::with_capacity(1 << 16, file),
                    g.file as u32,
                    images,
                );
                PartInner::Tar(Box::new(match self.selected_keys(g.file)? {
                    Some(keys) => samples.with_selection(keys),
                    None => samples,
                }))
            }
        };
        Ok(PartSamples { inner })
    }

    fn read(&self, g: &ShardPart, images: bool) -> Result<Vec<Sample>> {
        let path = &self.files[g.file];
        let file = files::open(path).map_err(io_err(path))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(path, e))?;
        let has_status = b.schema().field_with_name("status").is_ok();
        let selected = self.selected_keys(g.file)?;
        let mut cols = vec!["caption", "jpg"];
        if has_status {
            cols.push("status");
        }
        if selected.is_some() {
            cols.push("key");
        }
        let mask = ProjectionMask::columns(b.parquet_schema(), cols);
        let reader = b
            .with_projection(mask)
            .with_row_groups(vec![g.group])
            .with_batch_size(1024)
            .build()
            .map_err(|e| parquet_err(path, e))?;
        let mut out = Vec::new();
        let mut row = 0u32;
        for batch in reader {
            let batch =
                batch.map_err(|e| parquet_err(path, format!("row group {}: {e}", g.group)))?;
            let cap = batch.column_by_name("caption").expect("projected");
            let jpg = batch.column_by_name("jpg").expect("projected");
            let status = batch.column_by_name("status");
            let key = batch.column_by_name("key");
            for i in 0..batch.num_rows() {
                let r = row;
                row += 1;
                if let Some(s) = status {
                    if str_at(s, i) != Some("success") {
                        continue;
                    }
                }
                if let (Some(sel), Some(k)) = (&selected, key) {
                    if !str_at(k, i).is_some_and(|k| sel.contains(k)) {
                        continue;
                    }
                }
                let (Some(c), Some(j)) = (str_at(cap, i), bytes_at(jpg, i)) else {
                    continue;
                };
                if c.trim().is_empty() || j.is_empty() {
                    continue;
                }
                out.push(Sample {
                    caption: c.to_string(),
                    jpg: if images { j.to_vec() } else { Vec::new() },
                    origin: (g.file as u32, g.group as u32, r),
                });
            }
        }
        Ok(out)
    }

    /// Describes where a sample came from, for messages.
    pub fn describe(&self, origin: (u32, u32, u32)) -> String {
        let (f, g, r) = origin;
        let path = self.files[f as usize].display();
        match self.formats[f as usize] {
            ShardFormat::Parquet => format!("{path} row group {g} row {r}"),
            ShardFormat::Tar => format!("{path} sample {r}"),
        }
    }
}
