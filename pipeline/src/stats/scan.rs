//! Streaming one parquet file of a stage into a mergeable summary.
//!
//! Only the columns a summary needs are decoded (column projection), in
//! batches of rows, so memory stays bounded whatever the file size. Missing
//! optional columns are tolerated (that part of the summary stays empty);
//! unreadable files and columns of an unexpected type are counted by class
//! and logged, and the run goes on.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::model::StageFiles;
use super::sketch::{domain_of, Distinct, HeavyHitters, Histogram};
use crate::schema::col;

/// The kind of file being summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `pairs/part-*.parquet`.
    Pairs,
    /// `matched/part-*.parquet`.
    Matched,
    /// `counts.parquet` or `counts/part-*.parquet`.
    Counts,
    /// `selected/part-*.parquet`.
    Selected,
    /// `shards/*.parquet`.
    Shards,
}

impl Kind {
    /// The stage directory name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pairs => "pairs",
            Kind::Matched => "matched",
            Kind::Counts => "counts",
            Kind::Selected => "selected",
            Kind::Shards => "shards",
        }
    }
}

/// Sizes of the bounded summaries.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Keys kept by each heavy-hitters summary (texts, domains).
    pub heavy_capacity: usize,
    /// Distinct values counted exactly before switching to HyperLogLog.
    pub exact_distinct: usize,
    /// Rows per decoded batch (shards use a quarter of it: they carry images).
    pub batch_rows: usize,
    /// Texts longer than this (bytes) are cut before being counted as keys.
    pub text_key_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            heavy_capacity: 10_000,
            exact_distinct: 1 << 20,
            batch_rows: 8192,
            text_key_bytes: 200,
        }
    }
}

/// Caption length bins: characters.
pub fn chars_histogram() -> Histogram {
    Histogram::linear(0.0, 10.0, 31)
}

/// Caption length bins: tokens.
pub fn tokens_histogram() -> Histogram {
    Histogram::linear(0.0, 2.0, 41)
}

/// Matches-per-text bins: 0, 1, ..., 19, 20+.
pub fn matches_histogram() -> Histogram {
    Histogram::linear(0.0, 1.0, 21)
}

/// Image side bins (pixels).
pub fn side_histogram() -> Histogram {
    Histogram::with_edges(vec![
        0.0, 64.0, 128.0, 192.0, 256.0, 320.0, 384.0, 512.0, 640.0, 768.0, 1024.0, 1280.0, 1600.0,
        2048.0, 3072.0, 4096.0,
    ])
}

/// Aspect ratio (width / height) bins.
pub fn aspect_histogram() -> Histogram {
    Histogram::with_edges(vec![
        0.0, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98, 1.02, 1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.5,
        4.0,
    ])
}

/// Image size bins (bytes): 0, 1 KiB, 2 KiB, ..., 8 MiB.
pub fn bytes_histogram() -> Histogram {
    let mut edges = vec![0.0];
    edges.extend((10..=23).map(|e| (1u64 << e) as f64));
    Histogram::with_edges(edges)
}

/// Caption statistics being accumulated.
#[derive(Debug, Clone)]
pub struct CaptionAcc {
    /// Length in characters.
    pub chars: Histogram,
    /// Length in whitespace-separated tokens.
    pub tokens: Histogram,
    /// Most common texts.
    pub texts: HeavyHitters,
}

/// Image statistics being accumulated (shards).
#[derive(Debug, Clone)]
pub struct ImageAcc {
    /// Rows per status.
    pub status: BTreeMap<String, u64>,
    /// Sizes before resizing.
    pub width_before: Histogram,
    /// Sizes before resizing.
    pub height_before: Histogram,
    /// Aspect before resizing.
    pub aspect_before: Histogram,
    /// Sizes after resizing.
    pub width_after: Histogram,
    /// Sizes after resizing.
    pub height_after: Histogram,
    /// Aspect after resizing.
    pub aspect_after: Histogram,
    /// Stored formats.
    pub formats: BTreeMap<String, u64>,
    /// Stored bytes.
    pub bytes: Histogram,
    /// Successes with a sha256.
    pub sha_rows: u64,
    /// Distinct sha256 values.
    pub sha: Distinct,
}

/// The summary of one or more files of a stage.
#[derive(Debug, Clone)]
pub struct Acc {
    /// What kind of files.
    pub kind: Kind,
    /// Files, rows and problems.
    pub files: StageFiles,
    /// Captions (successes only for shards).
    pub captions: CaptionAcc,
    /// Image domains.
    pub domains: HeavyHitters,
    /// Matches per entry id (from `query_ids`, or `counts` files).
    pub per_entry: Vec<u64>,
    /// Whether a `query_ids` (or counts) column was seen.
    pub has_entries: bool,
    /// Entries per text.
    pub matches_per_text: Histogram,
    /// Shards only.
    pub images: Option<ImageAcc>,
}

impl Acc {
    /// An empty summary.
    pub fn new(kind: Kind, limits: &Limits) -> Self {
        Self {
            kind,
            files: StageFiles::default(),
            captions: CaptionAcc {
                chars: chars_histogram(),
                tokens: tokens_histogram(),
                texts: HeavyHitters::new(limits.heavy_capacity),
            },
            domains: HeavyHitters::new(limits.heavy_capacity),
            per_entry: Vec::new(),
            has_entries: false,
            matches_per_text: matches_histogram(),
            images: (kind == Kind::Shards).then(|| ImageAcc {
                status: BTreeMap::new(),
                width_before: side_histogram(),
                height_before: side_histogram(),
                aspect_before: aspect_histogram(),
                width_after: side_histogram(),
                height_after: side_histogram(),
                aspect_after: aspect_histogram(),
                formats: BTreeMap::new(),
                bytes: bytes_histogram(),
                sha_rows: 0,
                sha: Distinct::new(limits.exact_distinct),
            }),
        }
    }

    /// Adds `other` (a later file of the same stage) into `self`.
    pub fn merge(&mut self, other: &Acc) {
        let f = &mut self.files;
        f.files += other.files.files;
        f.rows += other.files.rows;
        f.file_bytes += other.files.file_bytes;
        add_map(&mut f.problems, &other.files.problems);
        add_map(&mut f.sources, &other.files.sources);
        self.captions.chars.merge(&other.captions.chars);
        self.captions.tokens.merge(&other.captions.tokens);
        self.captions.texts.merge(&other.captions.texts);
        self.domains.merge(&other.domains);
        if self.per_entry.len() < other.per_entry.len() {
            self.per_entry.resize(other.per_entry.len(), 0);
        }
        for (a, b) in self.per_entry.iter_mut().zip(&other.per_entry) {
            *a += b;
        }
        self.has_entries |= other.has_entries;
        self.matches_per_text.merge(&other.matches_per_text);
        if let (Some(a), Some(b)) = (self.images.as_mut(), other.images.as_ref()) {
            add_map(&mut a.status, &b.status);
            a.width_before.merge(&b.width_before);
            a.height_before.merge(&b.height_before);
            a.aspect_before.merge(&b.aspect_before);
            a.width_after.merge(&b.width_after);
            a.height_after.merge(&b.height_after);
            a.aspect_after.merge(&b.aspect_after);
            add_map(&mut a.formats, &b.formats);
            a.bytes.merge(&b.bytes);
            a.sha_rows += b.sha_rows;
            a.sha.merge(&b.sha);
        }
    }

    fn problem(&mut self, path: &Path, class: &str, detail: impl std::fmt::Display) {
        log::warn!("{}: {class}: {detail}", path.display());
        *self.files.problems.entry(class.to_string()).or_insert(0) += 1;
    }
}

fn add_map(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

/// Entry ids are vocabulary line numbers; anything above this is treated as
/// a corrupt value rather than grown into a dense table.
const MAX_ENTRY_ID: u32 = 50_000_000;

/// Summarises one file. Never fails: problems are counted in the summary.
pub fn scan_file(path: &Path, kind: Kind, limits: &Limits) -> Acc {
    let mut acc = Acc::new(kind, limits);
    if let Err(e) = scan_into(path, &mut acc, limits) {
        acc.problem(path, "unreadable_file", e);
    }
    acc
}

fn wanted_columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pairs | Kind::Matched | Kind::Selected => {
            &[col::URL, col::TEXT, col::SOURCE, col::QUERY_IDS]
        }
        Kind::Counts => &[col::ID, col::COUNT],
        Kind::Shards => &[
            col::URL,
            col::CAPTION,
            col::STATUS,
            col::WIDTH,
            col::HEIGHT,
            col::ORIGINAL_WIDTH,
            col::ORIGINAL_HEIGHT,
            col::SHA256,
            col::JPG,
            "format",
        ],
    }
}

fn scan_into(path: &Path, acc: &mut Acc, limits: &Limits) -> Result<(), String> {
    let file = crate::storage::files::open(path).map_err(|e| e.to_string())?;
    acc.files.file_bytes = parquet::file::reader::Length::len(&file);
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let schema = builder.schema().clone();
    let indices: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted_columns(acc.kind).contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let batch_rows = match acc.kind {
        Kind::Shards => (limits.batch_rows / 4).max(1),
        _ => limits.batch_rows.max(1),
    };
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| e.to_string())?;
    acc.files.files = 1;
    let mut warned = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("after {} rows: {e}", acc.files.rows))?;
        // `matched/` holds every pair; the matched ones are those with ids.
        let batch = match acc.kind {
            Kind::Matched => matched_rows(&batch).map_err(|e| e.to_string())?,
            _ => batch,
        };
        acc.files.rows += batch.num_rows() as u64;
        match acc.kind {
            Kind::Counts => scan_counts(&batch, acc, path, &mut warned),
            Kind::Shards => scan_shards(&batch, acc, limits, path, &mut warned),
            _ => scan_pairs(&batch, acc, limits, path, &mut warned),
        }
    }
    Ok(())
}

/// The rows of a `matched/` batch but those that matched nothing (all of
/// them when it has no `query_ids` list column).
fn matched_rows(batch: &RecordBatch) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let Some(ids) = batch
        .column_by_name(col::QUERY_IDS)
        .and_then(|a| a.as_list_opt::<i32>())
    else {
        return Ok(batch.clone());
    };
    let keep: arrow_array::BooleanArray = (0..ids.len())
        .map(|i| Some(!crate::parts::matched_nothing(ids, i)))
        .collect();
    arrow_select::filter::filter_record_batch(batch, &keep)
}

/// Looks up a column, recording a problem once per file when it exists with
/// a type the reader cannot use.
fn column<'b, T>(
    batch: &'b RecordBatch,
    name: &str,
    view: impl Fn(&'b ArrayRef) -> Option<T>,
    acc: &mut Acc,
    path: &Path,
    warned: &mut Vec<String>,
) -> Option<T> {
    let array = batch.column_by_name(name)?;
    let v = view(array);
    if v.is_none() && !warned.iter().any(|w| w == name) {
        warned.push(name.to_string());
        acc.problem(
            path,
            &format!("column_{name}_type"),
            format!(
                "column {name} has type {}, which is not supported",
                array.data_type()
            ),
        );
    }
    v
}

/// A text column of any of Arrow's string layouts.
enum Strs<'a> {
    Small(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl<'a> Strs<'a> {
    fn of(a: &'a ArrayRef) -> Option<Self> {
        match a.data_type() {
            DataType::Utf8 => Some(Strs::Small(a.as_string::<i32>())),
            DataType::LargeUtf8 => Some(Strs::Large(a.as_string::<i64>())),
            DataType::Utf8View => Some(Strs::View(a.as_string_view())),
            _ => None,
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strs::Small(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A binary column of any of Arrow's binary layouts.
enum Bins<'a> {
    Small(&'a arrow_array::BinaryArray),
    Large(&'a arrow_array::LargeBinaryArray),
    View(&'a arrow_array::BinaryViewArray),
}

impl<'a> Bins<'a> {
    fn of(a: &'a ArrayRef) -> Option<Self> {
        match a.data_type() {
            DataType::Binary => Some(Bins::Small(a.as_binary::<i32>())),
            DataType::LargeBinary => Some(Bins::Large(a.as_binary::<i64>())),
            DataType::BinaryView => Some(Bins::View(a.as_binary_view())),
            _ => None,
        }
    }

    fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self {
            Bins::Small(a) => a.is_valid(i).then(|| a.value(i)),
            Bins::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Bins::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// An integer column of any width, as `Option<i64>` per row.
fn ints(a: &ArrayRef) -> Option<Vec<Option<i64>>> {
    fn collect<T: arrow_array::ArrowPrimitiveType>(a: &ArrayRef) -> Vec<Option<i64>>
    where
        T::Native: TryInto<i64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.and_then(|x| x.try_into().ok()))
            .collect()
    }
    Some(match a.data_type() {
        DataType::Int16 => collect::<Int16Type>(a),
        DataType::Int32 => collect::<Int32Type>(a),
        DataType::Int64 => collect::<Int64Type>(a),
        DataType::UInt16 => collect::<UInt16Type>(a),
        DataType::UInt32 => collect::<UInt32Type>(a),
        DataType::UInt64 => collect::<UInt64Type>(a),
        _ => return None,
    })
}

/// A `list<uint32>` column: the ids of row `i`.
struct IdLists<'a> {
    offsets: Vec<usize>,
    valid: Vec<bool>,
    values: &'a [u32],
}

impl<'a> IdLists<'a> {
    fn of(a: &'a ArrayRef) -> Option<Self> {
        let (offsets, valid, values): (Vec<usize>, Vec<bool>, &ArrayRef) = match a.data_type() {
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                (
                    l.value_offsets().iter().map(|o| *o as usize).collect(),
                    (0..l.len()).map(|i| l.is_valid(i)).collect(),
                    l.values(),
                )
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                (
                    l.value_offsets().iter().map(|o| *o as usize).collect(),
                    (0..l.len()).map(|i| l.is_valid(i)).collect(),
                    l.values(),
                )
            }
            _ => return None,
        };
        let values = values.as_primitive_opt::<UInt32Type>()?.values();
        Some(Self {
            offsets,
            valid,
            values,
        })
    }

    fn get(&self, i: usize) -> Option<&'a [u32]> {
        self.valid[i].then(|| &self.values[self.offsets[i]..self.offsets[i + 1]])
    }
}

fn cut_key(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn add_caption(acc: &mut Acc, text: &str, limits: &Limits) {
    let c = &mut acc.captions;
    c.chars.add(text.chars().count() as f64);
    c.tokens.add(text.split_whitespace().count() as f64);
    c.texts.add(cut_key(text, limits.text_key_bytes), 1);
}

fn add_entries(acc: &mut Acc, ids: &[u32]) {
    acc.matches_per_text.add(ids.len() as f64);
    for &id in ids {
        if id > MAX_ENTRY_ID {
            *acc.files
                .problems
                .entry("entry_id_out_of_range".into())
                .or_insert(0) += 1;
            continue;
        }
        let id = id as usize;
        if id >= acc.per_entry.len() {
            acc.per_entry.resize(id + 1, 0);
        }
        acc.per_entry[id] += 1;
    }
}

fn scan_pairs(
    batch: &RecordBatch,
    acc: &mut Acc,
    limits: &Limits,
    path: &Path,
    warned: &mut Vec<String>,
) {
    let url = column(batch, col::URL, Strs::of, acc, path, warned);
    let text = column(batch, col::TEXT, Strs::of, acc, path, warned);
    let source = column(batch, col::SOURCE, Strs::of, acc, path, warned);
    let ids = column(batch, col::QUERY_IDS, IdLists::of, acc, path, warned);
    if ids.is_some() {
        acc.has_entries = true;
    }
    for i in 0..batch.num_rows() {
        if let Some(u) = url.as_ref().and_then(|c| c.get(i)) {
            if let Some(d) = domain_of(u) {
                acc.domains.add(&d, 1);
            }
        }
        if let Some(t) = text.as_ref().and_then(|c| c.get(i)) {
            add_caption(acc, t, limits);
        }
        if let Some(s) = source.as_ref().and_then(|c| c.get(i)) {
            let sources = &mut acc.files.sources;
            if sources.contains_key(s) || sources.len() < 64 {
                *sources.entry(s.to_string()).or_insert(0) += 1;
            } else {
                *sources.entry("(other)".into()).or_insert(0) += 1;
            }
        }
        if let Some(l) = ids.as_ref().and_then(|c| c.get(i)) {
            add_entries(acc, l);
        }
    }
}

fn scan_counts(batch: &RecordBatch, acc: &mut Acc, path: &Path, warned: &mut Vec<String>) {
    let ids = column(batch, col::ID, ints, acc, path, warned);
    let counts = column(batch, col::COUNT, ints, acc, path, warned);
    let (Some(ids), Some(counts)) = (ids, counts) else {
        if !warned.iter().any(|w| w == "counts") {
            warned.push("counts".into());
            acc.problem(
                path,
                "missing_columns",
                "counts files need columns id and count",
            );
        }
        return;
    };
    acc.has_entries = true;
    for (id, count) in ids.into_iter().zip(counts) {
        let (Some(id), Some(count)) = (id, count) else {
            continue;
        };
        if id < 0 || id > MAX_ENTRY_ID as i64 || count < 0 {
            *acc.files
                .problems
                .entry("bad_count_row".into())
                .or_insert(0) += 1;
            continue;
        }
        let id = id as usize;
        if id >= acc.per_entry.len() {
            acc.per_entry.resize(id + 1, 0);
        }
        acc.per_entry[id] += count as u64;
    }
}

/// The image format from the first bytes of the file.
pub fn sniff_format(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "jpeg",
        [0x89, b'P', b'N', b'G', ..] => "png",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'B', b'M', ..] => "bmp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f', ..] => "avif",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "heif",
        _ => "other",
    }
}

fn aspect(w: Option<i64>, h: Option<i64>) -> Option<f64> {
    match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some(w as f64 / h as f64),
        _ => None,
    }
}

fn scan_shards(
    batch: &RecordBatch,
    acc: &mut Acc,
    limits: &Limits,
    path: &Path,
    warned: &mut Vec<String>,
) {
    let n = batch.num_rows();
    let url = column(batch, col::URL, Strs::of, acc, path, warned);
    let caption = column(batch, col::CAPTION, Strs::of, acc, path, warned);
    let status = column(batch, col::STATUS, Strs::of, acc, path, warned);
    let sha = column(batch, col::SHA256, Strs::of, acc, path, warned);
    let jpg = column(batch, col::JPG, Bins::of, acc, path, warned);
    let format = column(batch, "format", Strs::of, acc, path, warned);
    let none = || vec![None; n];
    let w = column(batch, col::WIDTH, ints, acc, path, warned).unwrap_or_else(none);
    let h = column(batch, col::HEIGHT, ints, acc, path, warned).unwrap_or_else(none);
    let ow = column(batch, col::ORIGINAL_WIDTH, ints, acc, path, warned).unwrap_or_else(none);
    let oh = column(batch, col::ORIGINAL_HEIGHT, ints, acc, path, warned).unwrap_or_else(none);
    for i in 0..n {
        let st = match status.as_ref() {
            Some(c) => c.get(i).unwrap_or("(null)"),
            None => "(no status column)",
        };
        let images = acc.images.as_mut().expect("shard summary has images");
        *images.status.entry(st.to_string()).or_insert(0) += 1;
        if st != "success" {
            continue;
        }
        for (hist, v) in [
            (&mut images.width_before, ow[i]),
            (&mut images.height_before, oh[i]),
            (&mut images.width_after, w[i]),
            (&mut images.height_after, h[i]),
        ] {
            if let Some(v) = v {
                hist.add(v as f64);
            }
        }
        if let Some(a) = aspect(ow[i], oh[i]) {
            images.aspect_before.add(a);
        }
        if let Some(a) = aspect(w[i], h[i]) {
            images.aspect_after.add(a);
        }
        let bytes = jpg.as_ref().and_then(|c| c.get(i));
        if let Some(b) = bytes {
            images.bytes.add(b.len() as f64);
        }
        let fmt = match (format.as_ref().and_then(|c| c.get(i)), bytes) {
            (Some(f), _) => f.to_ascii_lowercase(),
            (None, Some(b)) => sniff_format(b).to_string(),
            (None, None) => "(no image)".to_string(),
        };
        *images.formats.entry(fmt).or_insert(0) += 1;
        if let Some(s) = sha.as_ref().and_then(|c| c.get(i)) {
            images.sha_rows += 1;
            images.sha.add(s.as_bytes());
        }
        if let Some(u) = url.as_ref().and_then(|c| c.get(i)) {
            if let Some(d) = domain_of(u) {
                acc.domains.add(&d, 1);
            }
        }
        if let Some(t) = caption.as_ref().and_then(|c| c.get(i)) {
            add_caption(acc, t, limits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_format(&[0xFF, 0xD8, 0xFF, 0xE0]), "jpeg");
        assert_eq!(sniff_format(b"\x89PNG\r\n"), "png");
        assert_eq!(sniff_format(b"RIFF\0\0\0\0WEBPVP8 "), "webp");
        assert_eq!(sniff_format(b"GIF89a"), "gif");
        assert_eq!(sniff_format(b"xx"), "other");
    }

    #[test]
    fn cuts_keys_on_char_boundaries() {
        assert_eq!(cut_key("héllo", 2), "h");
        assert_eq!(cut_key("héllo", 3), "hé");
        assert_eq!(cut_key("abc", 10), "abc");
    }

    #[test]
    fn unreadable_file_is_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("part-00000.parquet");
        std::fs::write(&p, b"PAR1 garbage").unwrap();
        let acc = scan_file(&p, Kind::Pairs, &Limits::default());
        assert_eq!(acc.files.problems["unreadable_file"], 1);
        assert_eq!(acc.files.files, 0);
    }
}
