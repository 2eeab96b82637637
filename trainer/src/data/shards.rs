//! Reading shard files: parquet (`shards/NNNNN.parquet`, a row group at a
//! time) and webdataset tars (`shards/NNNNN.tar`, streamed).
//!
//! Which samples a part holds is decided from its metadata alone (statuses,
//! captions, keys; tar member headers), so the images can be read with the
//! part ([`Images::Read`]) or later, only those of the samples a rank decodes
//! ([`Images::Defer`], then [`ShardSet::load_images`]): the sample stream is
//! the same either way. Reads are counted ([`ShardSet::read_stats`]).

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelectionPolicy,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::PageIndexPolicy;
use rayon::prelude::*;

use super::counted::{Counted, CountedRead, ReadStats};
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
    /// The encoded image (empty when read for captions only, or while its
    /// reading is deferred: see [`Sample::deferred`]).
    pub jpg: Vec<u8>,
    /// Shard file index, row group and row within it (for a tar: 0 and the
    /// sample's index in the tar), for messages.
    pub origin: (u32, u32, u32),
    /// Where the image is, while it is not read yet ([`Images::Defer`]);
    /// [`ShardSet::load_images`] reads it into [`Sample::jpg`].
    pub deferred: Option<ImageAt>,
}

/// Where the image of a sample lies in its shard file, to be read later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAt {
    /// The `jpg` value of the parquet row [`Sample::origin`] names.
    Row,
    /// `len` bytes at byte `offset` of a tar (the image member's data).
    Range {
        /// Byte offset of the member's data in the tar.
        offset: u64,
        /// Its length.
        len: u64,
    },
}

/// What reading a part does with the samples' images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// Read them with the part (the whole image column of a row group, every
    /// image member of a tar).
    Read,
    /// Read only where each sample's image is ([`Sample::deferred`]), so that
    /// [`ShardSet::load_images`] fetches the images of the samples actually
    /// decoded: for a parquet file with an offset index (page locations) and
    /// a local tar; other files are read as with [`Images::Read`].
    Defer,
    /// Do not read them (captions only).
    Skip,
}

/// Parquet files whose metadata (with the page index) is kept, to read
/// their pages without fetching the footer again.
const OPEN_FILES: usize = 16;

/// A parquet file's metadata, loaded once for its row groups' reads.
struct ParquetFile {
    meta: ArrowReaderMetadata,
    /// Leaf column index of `jpg`.
    jpg: usize,
    /// Byte ranges of the `jpg` column chunks (to count image bytes).
    image_ranges: Arc<[Range<u64>]>,
    /// The open object (an object's open costs a request; a local file is
    /// opened for each read instead, so that reads in parallel do not share a
    /// file position).
    object: Option<Arc<files::RunFile>>,
}

/// The per-file state kept between reads, most recently used last.
#[derive(Default)]
struct OpenFiles(Vec<(usize, Arc<ParquetFile>)>);

impl std::fmt::Debug for OpenFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFiles")
            .field("files", &self.0.len())
            .finish()
    }
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
    /// Per file, whether its rows have keys to select them by (a parquet
    /// `key` column, a tar's member names), as its footer said when opened.
    keyed: Vec<bool>,
    parts: Vec<ShardPart>,
    sources: Vec<PathBuf>,
    /// Selection directories (see [`ShardSet::with_selections`]).
    selections: Vec<PathBuf>,
    open: Arc<Mutex<OpenFiles>>,
    stats: Arc<ReadStats>,
}

/// The samples of one part, in file order.
pub struct PartSamples {
    inner: PartInner,
}

enum PartInner {
    Rows(std::vec::IntoIter<Sample>),
    Tar(Box<TarSamples<BufReader<CountedRead>>>),
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
        let mut keyed = Vec::with_capacity(files.len());
        let mut parts = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            let format = ShardFormat::of(f);
            formats.push(format);
            if format == ShardFormat::Tar {
                let file = files::open(f).and_then(|f| f.reader()).map_err(io_err(f))?;
                TarReader::new(BufReader::new(file))
                    .next_member()
                    .map_err(io_err(f))?;
                keyed.push(true);
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
            keyed.push(schema.field_with_name("key").is_ok());
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
            keyed,
            parts,
            sources: paths.to_vec(),
            selections: Vec::new(),
            open: Arc::default(),
            stats: Arc::default(),
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
            if !self.keyed[fi] {
                return Err(parquet_err(f, "no column `key` to select rows by"));
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
    /// image member and a caption; either way a non-empty caption. Which
    /// samples a part has is decided without the image bytes (so that it
    /// does not depend on whether they are read now or later): an image that
    /// turns out empty or missing is an undecodable sample.
    pub fn samples(&self, g: &ShardPart) -> Result<PartSamples> {
        self.samples_with(g, Images::Read)
    }

    /// The usable samples of one part (see [`ShardSet::samples`]), their
    /// images read as `images` says.
    pub fn samples_with(&self, g: &ShardPart, images: Images) -> Result<PartSamples> {
        let inner = match self.formats[g.file] {
            ShardFormat::Parquet => PartInner::Rows(self.read(g, images)?.into_iter()),
            ShardFormat::Tar => {
                let path = &self.files[g.file];
                // A tar is deferred on local disks only: on object storage
                // the member headers are spread over the whole object, so
                // following them reads it all anyway.
                let images = match images {
                    Images::Defer if files::is_object(path) => Images::Read,
                    other => other,
                };
                let file = files::open(path).map_err(io_err(path))?;
                let reader = Counted::new(Arc::new(file), Arc::default(), self.stats.clone())
                    .reader()
                    .map_err(io_err(path))?;
                // Deferred: small reads, so that skipping an image skips
                // most of its bytes.
                let buffer = if images == Images::Defer {
                    4 << 10
                } else {
                    1 << 16
                };
                let samples = TarSamples::new(
                    path.clone(),
                    BufReader::with_capacity(buffer, reader),
                    g.file as u32,
                    images,
                )
                .counting(self.stats.clone());
                PartInner::Tar(Box::new(match self.selected_keys(g.file)? {
                    Some(keys) => samples.with_selection(keys),
                    None => samples,
                }))
            }
        };
        Ok(PartSamples { inner })
    }

    /// All usable samples of one part (see [`ShardSet::samples`]).
    pub fn read_part(&self, g: &ShardPart) -> Result<Vec<Sample>> {
        self.samples(g)?.collect()
    }

    /// The captions of the usable samples of one part (images are not read).
    pub fn read_captions(&self, g: &ShardPart) -> Result<Vec<String>> {
        self.samples_with(g, Images::Skip)?
            .map(|s| s.map(|s| s.caption))
            .collect()
    }

    /// What this set's readers have read so far.
    pub fn read_stats(&self) -> &ReadStats {
        &self.stats
    }

    /// The kept metadata of parquet file `file`, loaded (with its offset
    /// index, when it has one) on first use.
    fn parquet_file(&self, file: usize) -> Result<Arc<ParquetFile>> {
        {
            let mut open = self.open.lock().expect("open files lock");
            if let Some(i) = open.0.iter().position(|(f, _)| *f == file) {
                let e = open.0.remove(i);
                let out = e.1.clone();
                open.0.push(e);
                return Ok(out);
            }
        }
        let path = &self.files[file];
        let run_file = Arc::new(files::open(path).map_err(io_err(path))?);
        let counted = Counted::new(run_file.clone(), Arc::default(), self.stats.clone());
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let meta =
            ArrowReaderMetadata::load(&counted, options).map_err(|e| parquet_err(path, e))?;
        let jpg = meta
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().string() == "jpg")
            .ok_or_else(|| parquet_err(path, "no binary column `jpg`"))?;
        let image_ranges = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| {
                let (start, len) = g.column(jpg).byte_range();
                start..start + len
            })
            .collect();
        let entry = Arc::new(ParquetFile {
            meta,
            jpg,
            image_ranges,
            object: files::is_object(path).then_some(run_file),
        });
        let mut open = self.open.lock().expect("open files lock");
        if open.0.len() >= OPEN_FILES {
            open.0.remove(0);
        }
        open.0.push((file, entry.clone()));
        Ok(entry)
    }

    /// A counted reader of parquet file `file`: `exact` for scattered pages
    /// (no read-ahead on object storage), else for scans.
    fn parquet_input(&self, file: usize, pf: &ParquetFile, exact: bool) -> Result<Counted> {
        let path = &self.files[file];
        let run_file = match &pf.object {
            Some(o) if exact => Arc::new(o.exact().map_err(io_err(path))?),
            Some(o) => o.clone(),
            None => Arc::new(files::open(path).map_err(io_err(path))?),
        };
        Ok(Counted::new(
            run_file,
            pf.image_ranges.clone(),
            self.stats.clone(),
        ))
    }

    fn read(&self, g: &ShardPart, images: Images) -> Result<Vec<Sample>> {
        let path = &self.files[g.file];
        let pf = self.parquet_file(g.file)?;
        // Deferred only where the image column's pages can be found one by
        // one (the offset index) and read alone (no dictionary page, which
        // would hold the images and be read for any of them); else the
        // images are read with the part.
        let paged = |col: usize| {
            let meta = pf.meta.metadata();
            meta.row_group(g.group)
                .column(col)
                .dictionary_page_offset()
                .is_none()
                && meta
                    .page_index()
                    .and_then(|p| p.page_locations(g.group, col))
                    .is_some_and(|p| !p.is_empty())
        };
        let images = match images {
            Images::Defer if !paged(pf.jpg) => Images::Read,
            other => other,
        };
        // Without the images, the few small column chunks are read exactly:
        // a read-ahead past them would fetch the images on object storage.
        let input = self.parquet_input(g.file, &pf, images != Images::Read)?;
        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(input, pf.meta.clone());
        let has_status = b.schema().field_with_name("status").is_ok();
        let selected = self.selected_keys(g.file)?;
        let mut cols = vec!["caption"];
        if images == Images::Read {
            cols.push("jpg");
        }
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
            let jpg = batch.column_by_name("jpg");
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
                let Some(c) = str_at(cap, i) else {
                    continue;
                };
                if c.trim().is_empty() {
                    continue;
                }
                out.push(Sample {
                    caption: c.to_string(),
                    jpg: jpg
                        .and_then(|j| bytes_at(j, i))
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                    origin: (g.file as u32, g.group as u32, r),
                    deferred: (images == Images::Defer).then_some(ImageAt::Row),
                });
            }
        }
        Ok(out)
    }

    /// Reads the deferred images of `samples` (see [`Images::Defer`]) into
    /// their [`Sample::jpg`]: of a parquet row group, the pages that hold
    /// the wanted rows only (one read of the group's wanted rows); of a tar,
    /// each image member's bytes. Row groups are read in parallel (on the
    /// current rayon pool). The result says, sample by sample, whether its
    /// image could be read (a failure is the sample's, as an undecodable
    /// image is).
    pub fn load_images(&self, samples: &mut [&mut Sample]) -> Vec<std::result::Result<(), String>> {
        let mut out: Vec<std::result::Result<(), String>> = vec![Ok(()); samples.len()];
        // Parquet rows by (file, row group); tar ranges one by one.
        let mut groups: BTreeMap<(usize, usize), (Vec<usize>, Vec<u32>)> = BTreeMap::new();
        let mut ranges = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            let (file, group, row) = s.origin;
            match s.deferred {
                Some(ImageAt::Row) => {
                    let e = groups.entry((file as usize, group as usize)).or_default();
                    e.0.push(i);
                    e.1.push(row);
                }
                Some(ImageAt::Range { offset, len }) => {
                    ranges.push((i, file as usize, offset, len))
                }
                None => {}
            }
        }
        let groups: Vec<_> = groups.into_iter().collect();
        let read: Vec<_> = groups
            .par_iter()
            .map(|((file, group), (_, rows))| self.read_rows(*file, *group, rows))
            .collect();
        let tars: Vec<_> = ranges
            .par_iter()
            .map(|&(_, file, offset, len)| self.read_range(file, offset, len))
            .collect();
        let got = groups
            .iter()
            .zip(read)
            .flat_map(|((_, (idx, _)), r)| match r {
                Ok(images) => idx
                    .iter()
                    .copied()
                    .zip(images.into_iter().map(Ok))
                    .collect::<Vec<_>>(),
                Err(e) => idx.iter().map(|&i| (i, Err(e.to_string()))).collect(),
            })
            .chain(
                ranges
                    .iter()
                    .zip(tars)
                    .map(|(&(i, ..), r)| (i, r.map_err(|e| e.to_string()))),
            );
        for (i, r) in got {
            match r {
                Ok(jpg) => {
                    samples[i].jpg = jpg;
                    samples[i].deferred = None;
                }
                Err(e) => out[i] = Err(format!("image not read: {e}")),
            }
        }
        out
    }

    /// The `jpg` values of `rows` (in that order) of row group `group` of
    /// parquet file `file`, reading the pages that hold them only.
    fn read_rows(&self, file: usize, group: usize, rows: &[u32]) -> Result<Vec<Vec<u8>>> {
        let path = &self.files[file];
        let pf = self.parquet_file(file)?;
        let total = pf.meta.metadata().row_group(group).num_rows() as usize;
        let mut wanted: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut runs: Vec<Range<usize>> = Vec::new();
        for &r in &wanted {
            match runs.last_mut() {
                Some(last) if last.end == r => last.end = r + 1,
                _ => runs.push(r..r + 1),
            }
        }
        let selection = RowSelection::from_consecutive_ranges(runs.into_iter(), total);
        let input = self.parquet_input(file, &pf, true)?;
        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(input, pf.meta.clone());
        let mask = ProjectionMask::columns(b.parquet_schema(), ["jpg"]);
        let reader = b
            .with_projection(mask)
            .with_row_groups(vec![group])
            .with_row_selection(selection)
            .with_row_selection_policy(RowSelectionPolicy::Selectors)
            .with_batch_size(wanted.len().max(1))
            .build()
            .map_err(|e| parquet_err(path, e))?;
        let mut values = Vec::with_capacity(wanted.len());
        for batch in reader {
            let batch = batch.map_err(|e| parquet_err(path, format!("row group {group}: {e}")))?;
            let jpg = batch.column_by_name("jpg").expect("projected");
            for i in 0..batch.num_rows() {
                values.push(bytes_at(jpg, i).map(<[u8]>::to_vec).unwrap_or_default());
            }
        }
        if values.len() != wanted.len() {
            return Err(parquet_err(
                path,
                format!(
                    "row group {group}: {} of {} selected rows read",
                    values.len(),
                    wanted.len()
                ),
            ));
        }
        Ok(rows
            .iter()
            .map(|r| {
                let at = wanted.binary_search(&(*r as usize)).expect("wanted");
                values[at].clone()
            })
            .collect())
    }

    /// `len` bytes at `offset` of tar file `file`.
    fn read_range(&self, file: usize, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = &self.files[file];
        let run_file = files::open(path)
            .and_then(|f| f.exact())
            .map_err(io_err(path))?;
        Counted::new(Arc::new(run_file), Arc::default(), self.stats.clone())
            .read_image(offset, len)
            .map_err(io_err(path))
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
