//! The writer: shard files. `NNNNN.parquet` (rows with images), or for
//! webdataset `NNNNN.tar` (`{key}.jpg`, `{key}.txt`, `{key}.json` per success),
//! or for files a directory `NNNNN/` of the same files, each
//! plus `NNNNN.parquet` holding every row's metadata without images, as
//! img2dataset does; then `NNNNN_stats.json`. Every file appears atomically,
//! the stats file last, so a shard is done when its stats file exists.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int32Builder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::Serialize;

use super::error::DownloadError;
use super::reader::Sample;
use crate::schema::{col, shard_schema};
use crate::task::commit_atomically;

/// Rows per parquet row group (bounds the writer's memory).
const ROW_GROUP_ROWS: usize = 512;

/// Shard file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// `NNNNN.parquet` with the images in the `jpg` column.
    #[default]
    Parquet,
    /// `NNNNN.tar` (webdataset) + `NNNNN.parquet` metadata without images.
    Webdataset,
    /// A directory `NNNNN/` with `{key}.jpg`, `{key}.txt` and `{key}.json`
    /// per success (img2dataset's `files`) + `NNNNN.parquet` metadata
    /// without images.
    Files,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "parquet" => Ok(OutputFormat::Parquet),
            "webdataset" => Ok(OutputFormat::Webdataset),
            "files" => Ok(OutputFormat::Files),
            other => Err(format!(
                "unknown output format {other:?} (expected parquet, webdataset or files)"
            )),
        }
    }
}

/// One output row: a sample and what became of it.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Shard-major, zero-padded key.
    pub key: String,
    /// The input sample.
    pub sample: Sample,
    /// `success` or the failure class.
    pub status: String,
    /// Failure detail.
    pub error_message: Option<String>,
    /// Final size.
    pub size: Option<(u32, u32)>,
    /// Size before resizing.
    pub original_size: Option<(u32, u32)>,
    /// sha256 (hex) of the downloaded bytes.
    pub sha256: Option<String>,
    /// The `--compute-hash` digest (hex) when it is not sha256 (its column
    /// is [`ShardColumns::hash_col`]).
    pub hash: Option<String>,
    /// 64-bit DCT pHash of the image (successes only).
    pub phash: Option<u64>,
    /// The encoded image.
    pub jpg: Option<Vec<u8>>,
    /// Bytes downloaded for this sample.
    pub bytes_downloaded: u64,
}

impl Row {
    /// Whether the sample became an image.
    pub fn is_success(&self) -> bool {
        self.jpg.is_some()
    }
}

/// The columns a shard has beyond the fixed ones of
/// [`crate::schema::shard_schema`], appended after them: the
/// `--compute-hash` column when it is not `sha256` (`md5`, `sha512`), then
/// the input's extra columns (text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardColumns {
    /// Name of the hash column ([`Row::hash`]).
    pub hash_col: Option<String>,
    /// The extra columns: index into [`Sample::extra`], and name.
    pub extra_cols: Vec<(usize, String)>,
}

impl ShardColumns {
    /// The shard schema with these columns.
    pub fn schema(&self) -> arrow_schema::SchemaRef {
        let base = shard_schema();
        if self.hash_col.is_none() && self.extra_cols.is_empty() {
            return base;
        }
        let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in self.names() {
            fields.push(Field::new(name, DataType::Utf8, true));
        }
        Arc::new(arrow_schema::Schema::new(fields))
    }

    /// The added column names, in order.
    fn names(&self) -> impl Iterator<Item = &String> {
        self.hash_col
            .iter()
            .chain(self.extra_cols.iter().map(|(_, n)| n))
    }

    /// The names that would clash with a fixed column or with each other.
    pub fn clashes(&self) -> Vec<String> {
        let base = shard_schema();
        let mut seen: Vec<&str> = base.fields().iter().map(|f| f.name().as_str()).collect();
        let mut out = Vec::new();
        for name in self.names() {
            if seen.contains(&name.as_str()) {
                out.push(name.clone());
            }
            seen.push(name);
        }
        out
    }
}

/// The files of one shard.
#[derive(Debug, Clone)]
pub struct ShardFiles {
    /// `NNNNN.parquet`, `NNNNN.tar` or the directory `NNNNN/`.
    pub data: PathBuf,
    /// `NNNNN.parquet` metadata next to a tar or a directory.
    pub meta: Option<PathBuf>,
    /// `NNNNN_stats.json`.
    pub stats: PathBuf,
}

impl ShardFiles {
    /// The files of shard `name` (e.g. `00042`) in `dir`.
    pub fn new(dir: &Path, name: &str, format: OutputFormat) -> Self {
        let parquet = dir.join(format!("{name}.parquet"));
        let (data, meta) = match format {
            OutputFormat::Parquet => (parquet, None),
            OutputFormat::Webdataset => (dir.join(format!("{name}.tar")), Some(parquet)),
            OutputFormat::Files => (dir.join(name), Some(parquet)),
        };
        Self {
            data,
            meta,
            stats: dir.join(format!("{name}_stats.json")),
        }
    }

    /// The files whose presence says the shard is complete: all of them,
    /// except a `files` shard's directory on object storage, a prefix of
    /// objects that cannot appear at once: there the metadata parquet,
    /// uploaded after every file of the directory, is the completion marker
    /// (and a shard without successes has no objects under the prefix).
    pub fn completion_files(&self) -> Vec<PathBuf> {
        let dir_on_object_store = self.meta.is_some()
            && crate::storage::files::is_object(&self.data)
            && self.data.extension().is_none();
        let mut out = vec![self.stats.clone()];
        if !dir_on_object_store {
            out.push(self.data.clone());
        }
        out.extend(self.meta.clone());
        out
    }

    /// Whether the shard was completed by an earlier run.
    pub fn is_done(&self) -> bool {
        self.completion_files()
            .iter()
            .all(|f| crate::storage::files::exists(f))
    }
}

/// `NNNNN_stats.json`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ShardStats {
    /// Shard number.
    pub shard: usize,
    /// Samples in the shard.
    pub count: u64,
    /// Samples that became images.
    pub successes: u64,
    /// Failed samples.
    pub failed: u64,
    /// Failures by class.
    pub failures: BTreeMap<String, u64>,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes of encoded images written.
    pub bytes_written: u64,
    /// Seconds from the shard's first request to its last row.
    pub duration_seconds: f64,
}

impl ShardStats {
    fn add(&mut self, row: &Row) {
        self.count += 1;
        self.bytes_downloaded += row.bytes_downloaded;
        match &row.jpg {
            Some(jpg) => {
                self.successes += 1;
                self.bytes_written += jpg.len() as u64;
            }
            None => {
                self.failed += 1;
                *self.failures.entry(row.status.clone()).or_insert(0) += 1;
            }
        }
    }
}

/// The shard writer's properties. The `jpg` column holds one image per data
/// page (a row-count limit of 1, reached because values are written one at
/// a time), so that with the offset index (page locations, which the writer
/// keeps) a reader fetches any single image by one ranged read: the
/// trainer's ranks read only the images they decode (see `docs/formats.md`).
fn writer_properties() -> WriterProperties {
    let jpg = ColumnPath::from(col::JPG);
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_column_compression(jpg.clone(), Compression::UNCOMPRESSED)
        .set_column_dictionary_enabled(jpg.clone(), false)
        .set_column_statistics_enabled(jpg.clone(), EnabledStatistics::None)
        .set_column_data_page_row_count_limit(jpg, 1)
        .set_write_batch_size(1)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Streams rows into a shard parquet file, a row group at a time.
pub struct ParquetShardWriter {
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: Vec<Row>,
    with_images: bool,
    columns: ShardColumns,
    schema: arrow_schema::SchemaRef,
}

impl ParquetShardWriter {
    /// Creates `path` with `columns` after the fixed ones. Without images
    /// the `jpg` column is all null.
    pub fn create(
        path: &Path,
        with_images: bool,
        columns: &ShardColumns,
    ) -> Result<Self, DownloadError> {
        let file = File::create(path).map_err(|e| DownloadError::write(path, e))?;
        let schema = columns.schema();
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema.clone(),
            Some(writer_properties()),
        )
        .map_err(|e| DownloadError::write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            rows: Vec::with_capacity(ROW_GROUP_ROWS),
            with_images,
            columns: columns.clone(),
            schema,
        })
    }

    /// Adds a row.
    pub fn push(&mut self, row: Row) -> Result<(), DownloadError> {
        self.rows.push(row);
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DownloadError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = rows_to_batch(&self.rows, self.with_images, &self.columns, &self.schema)
            .map_err(|e| DownloadError::write(&self.path, e))?;
        self.writer
            .write(&batch)
            .map_err(|e| DownloadError::write(&self.path, e))?;
        self.rows.clear();
        Ok(())
    }

    /// Writes the footer and closes the file.
    pub fn finish(mut self) -> Result<(), DownloadError> {
        self.flush()?;
        let path = self.path.clone();
        let mut inner = self
            .writer
            .into_inner()
            .map_err(|e| DownloadError::write(&path, e))?;
        inner.flush().map_err(|e| DownloadError::write(&path, e))
    }
}

fn rows_to_batch(
    rows: &[Row],
    with_images: bool,
    columns: &ShardColumns,
    schema: &arrow_schema::SchemaRef,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n = rows.len();
    let mut key = StringBuilder::with_capacity(n, n * 10);
    let mut uid = StringBuilder::with_capacity(n, n * 32);
    let mut url = StringBuilder::new();
    let mut caption = StringBuilder::new();
    let mut qids = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt32,
        false,
    )));
    let mut status = StringBuilder::new();
    let mut error = StringBuilder::new();
    let mut dims: [Int32Builder; 4] = std::array::from_fn(|_| Int32Builder::with_capacity(n));
    let mut sha = StringBuilder::new();
    let mut phash = UInt64Builder::with_capacity(n);
    let jpg_bytes: usize = if with_images {
        rows.iter()
            .filter_map(|r| r.jpg.as_ref().map(Vec::len))
            .sum()
    } else {
        0
    };
    let mut jpg = BinaryBuilder::with_capacity(n, jpg_bytes);
    for r in rows {
        key.append_value(&r.key);
        uid.append_value(&r.sample.uid);
        url.append_value(r.sample.url.as_deref().unwrap_or(""));
        caption.append_option(r.sample.caption.as_deref());
        match &r.sample.query_ids {
            Some(ids) => {
                qids.values().append_slice(ids);
                qids.append(true);
            }
            None => qids.append(false),
        }
        status.append_value(&r.status);
        error.append_option(r.error_message.as_deref());
        let to_i32 = |v: u32| i32::try_from(v).ok();
        dims[0].append_option(r.size.and_then(|s| to_i32(s.0)));
        dims[1].append_option(r.size.and_then(|s| to_i32(s.1)));
        dims[2].append_option(r.original_size.and_then(|s| to_i32(s.0)));
        dims[3].append_option(r.original_size.and_then(|s| to_i32(s.1)));
        sha.append_option(r.sha256.as_deref());
        phash.append_option(r.phash);
        match (&r.jpg, with_images) {
            (Some(b), true) => jpg.append_value(b),
            _ => jpg.append_null(),
        }
    }
    let [mut w, mut h, mut ow, mut oh] = dims;
    let mut extra: Vec<ArrayRef> = Vec::new();
    if columns.hash_col.is_some() {
        let mut b = StringBuilder::new();
        for r in rows {
            b.append_option(r.hash.as_deref());
        }
        extra.push(Arc::new(b.finish()));
    }
    for &(i, _) in &columns.extra_cols {
        let mut b = StringBuilder::new();
        for r in rows {
            b.append_option(r.sample.extra.get(i).and_then(|v| v.as_deref()));
        }
        extra.push(Arc::new(b.finish()));
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(key.finish()),
        Arc::new(uid.finish()),
        Arc::new(url.finish()),
        Arc::new(caption.finish()),
        Arc::new(qids.finish()),
        Arc::new(status.finish()),
        Arc::new(error.finish()),
        Arc::new(w.finish()),
        Arc::new(h.finish()),
        Arc::new(ow.finish()),
        Arc::new(oh.finish()),
        Arc::new(sha.finish()),
        Arc::new(phash.finish()),
        Arc::new(jpg.finish()),
    ];
    arrays.extend(extra);
    RecordBatch::try_new(schema.clone(), arrays)
}

/// The metadata of a row as written to `{key}.json` in webdataset shards.
pub fn row_json(row: &Row, columns: &ShardColumns) -> serde_json::Value {
    let mut value = serde_json::json!({
        col::KEY: row.key,
        col::UID: row.sample.uid,
        col::URL: row.sample.url,
        col::CAPTION: row.sample.caption,
        col::QUERY_IDS: row.sample.query_ids,
        col::STATUS: row.status,
        col::ERROR_MESSAGE: row.error_message,
        col::WIDTH: row.size.map(|s| s.0),
        col::HEIGHT: row.size.map(|s| s.1),
        col::ORIGINAL_WIDTH: row.original_size.map(|s| s.0),
        col::ORIGINAL_HEIGHT: row.original_size.map(|s| s.1),
        col::SHA256: row.sha256,
        col::PHASH: row.phash.map(|h| format!("{h:016x}")),
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(name) = &columns.hash_col {
            map.insert(name.clone(), row.hash.clone().into());
        }
        for (i, name) in &columns.extra_cols {
            let cell = row.sample.extra.get(*i).cloned().flatten();
            map.insert(name.clone(), cell.into());
        }
    }
    value
}

/// The file extension of encoded image bytes (`jpg`, `png`, `webp`, `gif`,
/// `bmp`), from their magic bytes.
pub fn image_extension(bytes: &[u8]) -> &'static str {
    match super::resize::sniff_format(bytes) {
        Some(image::ImageFormat::Png) => "png",
        Some(image::ImageFormat::WebP) => "webp",
        Some(image::ImageFormat::Gif) => "gif",
        Some(image::ImageFormat::Bmp) => "bmp",
        _ => "jpg",
    }
}

/// Streams successful samples into a webdataset tar: `{key}.jpg`,
/// `{key}.txt`, `{key}.json`, with fixed owners and times so the bytes
/// depend only on the data.
pub struct TarShardWriter {
    path: PathBuf,
    builder: tar::Builder<BufWriter<File>>,
    columns: ShardColumns,
}

impl TarShardWriter {
    /// Creates `path`; `columns` go into each `{key}.json`.
    pub fn create(path: &Path, columns: &ShardColumns) -> Result<Self, DownloadError> {
        let file = File::create(path).map_err(|e| DownloadError::write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            builder: tar::Builder::new(BufWriter::with_capacity(1 << 20, file)),
            columns: columns.clone(),
        })
    }

    fn entry(&mut self, name: &str, data: &[u8]) -> Result<(), DownloadError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder
            .append_data(&mut header, name, data)
            .map_err(|e| DownloadError::write(&self.path, e))
    }

    /// Adds a row's files (only successes have an image; failures are in the
    /// metadata parquet).
    pub fn push(&mut self, row: &Row) -> Result<(), DownloadError> {
        let Some(jpg) = &row.jpg else { return Ok(()) };
        self.entry(&format!("{}.{}", row.key, image_extension(jpg)), jpg)?;
        let caption = row.sample.caption.as_deref().unwrap_or("");
        self.entry(&format!("{}.txt", row.key), caption.as_bytes())?;
        let json = serde_json::to_vec(&row_json(row, &self.columns))
            .map_err(|e| DownloadError::write(&self.path, e))?;
        self.entry(&format!("{}.json", row.key), &json)
    }

    /// Writes the end-of-archive blocks and closes the file.
    pub fn finish(self) -> Result<(), DownloadError> {
        let path = self.path;
        let mut inner = self
            .builder
            .into_inner()
            .map_err(|e| DownloadError::write(&path, e))?;
        inner.flush().map_err(|e| DownloadError::write(&path, e))
    }
}

/// Writes successful samples into a directory as img2dataset's `files`
/// output does: `{key}.jpg` (or the image's own extension), `{key}.txt`,
/// `{key}.json`.
pub struct FilesShardWriter {
    dir: PathBuf,
    columns: ShardColumns,
}

impl FilesShardWriter {
    /// Creates the directory `dir`; `columns` go into each `{key}.json`.
    pub fn create(dir: &Path, columns: &ShardColumns) -> Result<Self, DownloadError> {
        std::fs::create_dir_all(dir).map_err(|e| DownloadError::write(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            columns: columns.clone(),
        })
    }

    fn file(&self, name: &str, data: &[u8]) -> Result<(), DownloadError> {
        let path = self.dir.join(name);
        std::fs::write(&path, data).map_err(|e| DownloadError::write(&path, e))
    }

    /// Adds a row's files (only successes have an image; failures are in
    /// the metadata parquet).
    pub fn push(&mut self, row: &Row) -> Result<(), DownloadError> {
        let Some(img) = &row.jpg else { return Ok(()) };
        self.file(&format!("{}.{}", row.key, image_extension(img)), img)?;
        let caption = row.sample.caption.as_deref().unwrap_or("");
        self.file(&format!("{}.txt", row.key), caption.as_bytes())?;
        let json = serde_json::to_vec(&row_json(row, &self.columns))
            .map_err(|e| DownloadError::write(&self.dir, e))?;
        self.file(&format!("{}.json", row.key), &json)
    }
}

/// Writes one shard from `n` rows pulled from `next_row` (`None` means the
/// job stopped: nothing is committed). Returns the shard's statistics.
///
/// The statistics file is committed first, the data files last: a shard whose
/// data files exist therefore always has its statistics, and a run killed in
/// between finds the shard incomplete and writes it again (statistics
/// included).
pub fn write_shard(
    files: &ShardFiles,
    format: OutputFormat,
    shard: usize,
    n: usize,
    next_row: impl FnMut() -> Option<Row>,
    started: std::time::Instant,
) -> Result<ShardStats, DownloadError> {
    let columns = ShardColumns::default();
    write_shard_with_columns(files, format, &columns, shard, n, next_row, started)
}

/// [`write_shard`] with `columns` beyond the fixed ones.
pub fn write_shard_with_columns(
    files: &ShardFiles,
    format: OutputFormat,
    columns: &ShardColumns,
    shard: usize,
    n: usize,
    mut next_row: impl FnMut() -> Option<Row>,
    started: std::time::Instant,
) -> Result<ShardStats, DownloadError> {
    let mut stats = ShardStats {
        shard,
        ..ShardStats::default()
    };
    let stopped = |p: &Path| DownloadError::write(p, "job stopped before the shard was complete");
    let commit_stats = |stats: &mut ShardStats| -> Result<(), DownloadError> {
        stats.duration_seconds = started.elapsed().as_secs_f64();
        let json =
            serde_json::to_vec_pretty(stats).map_err(|e| DownloadError::write(&files.stats, e))?;
        crate::task::write_atomically(&files.stats, &json)?;
        Ok(())
    };
    match format {
        OutputFormat::Parquet => commit_atomically(&files.data, |tmp| {
            let mut w = ParquetShardWriter::create(tmp, true, columns)?;
            for _ in 0..n {
                let row = next_row().ok_or_else(|| stopped(&files.data))?;
                stats.add(&row);
                w.push(row)?;
            }
            w.finish()?;
            commit_stats(&mut stats)
        })?,
        OutputFormat::Webdataset => {
            let meta = files
                .meta
                .as_ref()
                .expect("webdataset shards have a metadata file");
            commit_atomically(meta, |meta_tmp| {
                let mut pw = ParquetShardWriter::create(meta_tmp, false, columns)?;
                commit_atomically(&files.data, |tar_tmp| {
                    let mut tw = TarShardWriter::create(tar_tmp, columns)?;
                    for _ in 0..n {
                        let row = next_row().ok_or_else(|| stopped(&files.data))?;
                        stats.add(&row);
                        tw.push(&row)?;
                        pw.push(row)?;
                    }
                    tw.finish()?;
                    commit_stats(&mut stats)
                })?;
                pw.finish()
            })?
        }
        OutputFormat::Files => {
            let meta = files
                .meta
                .as_ref()
                .expect("files shards have a metadata file");
            commit_atomically(meta, |meta_tmp| {
                let mut pw = ParquetShardWriter::create(meta_tmp, false, columns)?;
                crate::task::commit_dir(&files.data, |dir_tmp| {
                    let mut fw = FilesShardWriter::create(dir_tmp, columns)?;
                    for _ in 0..n {
                        let row = next_row().ok_or_else(|| stopped(&files.data))?;
                        stats.add(&row);
                        fw.push(&row)?;
                        pw.push(row)?;
                    }
                    commit_stats(&mut stats)
                })?;
                pw.finish()
            })?
        }
    }
    Ok(stats)
}
